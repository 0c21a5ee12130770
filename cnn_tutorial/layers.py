"""The dense (fully connected) layer and ReLU, batched, forward and backward.

The two operations of a CNN that do not look at the image's layout: :func:`dense` treats each
image as one flat vector, :func:`relu` acts on each number alone. Like every batched operation
they give the same numbers as PyTorch (``torch.nn.functional.linear`` and ``relu`` and their
autograd gradients) and are importable from :mod:`cnn_tutorial.ops` too.

float32 and float64 inputs keep their dtype; integer inputs are promoted to float64.
"""

from __future__ import annotations

import numpy as np

from .checks import check_bias
from .params import AnyArray, Array, validate_params

__all__ = ["dense", "dense_backward", "relu", "relu_backward"]


# --------------------------------------------------------------------------- dense (fully connected)


def _features_match(x, w):
    """``x`` has the features ``w`` expects."""
    if x.shape[1] != w.shape[1]:
        raise ValueError(
            f"x has {x.shape[1]} features (shape {x.shape}) but w expects {w.shape[1]} (shape {w.shape})"
        )


def _dout_fits(dout, x, w):
    """``dout`` has the shape of :func:`dense`'s output."""
    if dout.shape != (x.shape[0], w.shape[0]):
        raise ValueError(
            f"dout must have shape {(x.shape[0], w.shape[0])} "
            f"for x {x.shape} and w {w.shape}, got {dout.shape}"
        )


def bias_fits(b, w):
    """``b``: None, or one bias per row of ``w`` (``(F,)`` or ``(F, 1)``), flattened to ``(F,)``."""
    return {"b": None if b is None else check_bias(b, w.shape[0], "b")}


#: The rules of :func:`dense` and :func:`dense_backward` for ``x`` and ``w``.
DENSE_RULES = dict(
    x=Array("(N, in_features)"),
    w=Array("(out_features, in_features)"),
)


@validate_params(**DENSE_RULES, also=[_features_match, bias_fits])
def dense(x, w, b=None) -> np.ndarray:
    """Fully connected layer ``x @ w.T + b`` (``torch.nn.functional.linear``).

    Parameters
    ----------
    x : ndarray of shape (N, in_features)
    w : ndarray of shape (out_features, in_features)
    b : ndarray of shape (out_features,) or (out_features, 1), optional

    Returns
    -------
    ndarray of shape (N, out_features)
    """
    out = x @ w.T
    if b is not None:
        out += b.astype(out.dtype)
    return out


@validate_params(
    **DENSE_RULES, dout=AnyArray(), also=[_features_match, _dout_fits]
)
def dense_backward(dout, x, w):
    """Gradients of :func:`dense`.

    Parameters
    ----------
    dout : ndarray of shape (N, out_features)
    x : ndarray of shape (N, in_features)
        The input the forward pass saw.
    w : ndarray of shape (out_features, in_features)

    Returns
    -------
    dx : ndarray of shape (N, in_features)
        ``dout @ w``
    dw : ndarray of shape (out_features, in_features)
        ``dout.T @ x``
    db : ndarray of shape (out_features,)
        ``dout`` summed over the batch.
    """
    return dout @ w, dout.T @ x, dout.sum(axis=0)


# --------------------------------------------------------------------------- ReLU


@validate_params(x=AnyArray())
def relu(x) -> np.ndarray:
    """Rectified linear unit, ``max(x, 0)`` element-wise. Any shape; dtype kept."""
    return np.maximum(x, 0, dtype=x.dtype)


def _same_shape(dout, x):
    """``dout`` has the shape of ``x``."""
    if dout.shape != x.shape:
        raise ValueError(
            f"dout shape {dout.shape} must equal x shape {x.shape}"
        )


@validate_params(x=AnyArray(), dout=AnyArray(), also=[_same_shape])
def relu_backward(dout, x) -> np.ndarray:
    """Gradient of :func:`relu`: 0 where ``x <= 0``, else ``dout`` (as in PyTorch: 0 at ``x == 0``,
    and a NaN input passes ``dout`` on, since ``NaN <= 0`` is false).

    Parameters
    ----------
    dout : ndarray, same shape as ``x``
    x : ndarray
        The input the forward pass saw.

    Returns
    -------
    ndarray, same shape as ``x``
        Computed as ``dout * ~(x <= 0)``, branch-free (several times faster than ``np.where`` on a
        random mask). A non-finite ``dout`` therefore stays non-finite even where ``x <= 0`` (PyTorch
        gives 0 there), so an upstream overflow is never hidden.
    """
    return dout * ~(x <= 0)
