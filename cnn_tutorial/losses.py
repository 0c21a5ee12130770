"""From logits to probabilities and the loss: softmax, log-softmax and cross-entropy, batched.

The same numbers as ``torch.nn.functional.softmax``, ``log_softmax`` and ``cross_entropy`` (and its
autograd gradient), computed stably: every exponent is taken after subtracting the maximum.
float32 and float64 inputs keep their dtype; integer inputs are promoted to float64.

Part of the batched operations: :mod:`cnn_tutorial.ops` re-exports these functions.
"""

from __future__ import annotations

import numpy as np

from .params import AnyArray, Array, Rule, validate_params

__all__ = [
    "cross_entropy",
    "cross_entropy_backward",
    "log_softmax",
    "softmax",
]


@validate_params(x=AnyArray())
def softmax(x, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax along ``axis``.

    Subtracting the maximum first leaves the result unchanged (softmax is shift invariant) but keeps
    every exponent <= 0, so ``exp`` cannot overflow: the classic ``exp(x) / sum(exp(x))`` returns
    ``nan`` for logits like 800.

    Parameters
    ----------
    x : ndarray of any shape
    axis : int, default -1

    Returns
    -------
    ndarray, same shape and dtype as ``x``; entries along ``axis`` are >= 0 and sum to 1.
    """
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


@validate_params(x=AnyArray())
def log_softmax(x, axis: int = -1) -> np.ndarray:
    """``log(softmax(x))`` computed stably as ``x - max - log(sum(exp(x - max)))``; never ``-inf``
    for finite x.
    """
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _class_indices(name, labels):
    """``labels`` as an integer array."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(
            f"{name} must be integer class indices, got dtype {labels.dtype}"
        )
    return labels


def _labels_fit(logits, labels):
    """One label per row of ``logits``, each a valid class."""
    if labels.shape != (logits.shape[0],):
        raise ValueError(
            f"labels must have shape ({logits.shape[0]},) to match logits {logits.shape}, got {labels.shape}"
        )
    if labels.size and (
        labels.min() < 0 or labels.max() >= logits.shape[1]
    ):
        raise ValueError(
            f"labels must lie in [0, {logits.shape[1] - 1}], got values from {labels.min()} to {labels.max()}"
        )


#: The rules of :func:`cross_entropy` and :func:`cross_entropy_backward`.
LOSS_RULES = dict(
    logits=Array("(N, classes)"),
    labels=Rule(
        _class_indices,
        bad=[(np.array([0.0, 1.0]), TypeError)],
        example=np.array([0, 1]),
    ),
)


@validate_params(**LOSS_RULES, also=[_labels_fit])
def cross_entropy(logits, labels) -> float:
    """Mean cross-entropy of a batch, computed from logits (like ``torch.nn.functional.cross_entropy``).

    ``loss = -mean_n log softmax(logits[n])[labels[n]]``, through :func:`log_softmax`, so it stays
    finite even when a probability underflows to 0.

    Parameters
    ----------
    logits : ndarray of shape (N, classes)
        Unnormalised scores.
    labels : ndarray of int, shape (N,)
        Correct class of each example.

    Returns
    -------
    float
    """
    log_probs = log_softmax(logits, axis=1)
    return float(-log_probs[np.arange(len(labels)), labels].mean())


@validate_params(**LOSS_RULES, also=[_labels_fit])
def cross_entropy_backward(logits, labels) -> np.ndarray:
    """Gradient of :func:`cross_entropy` with respect to the logits: ``(softmax(logits) -
    onehot(labels)) / N``.

    Parameters
    ----------
    logits : ndarray of shape (N, classes)
    labels : ndarray of int, shape (N,)

    Returns
    -------
    dlogits : ndarray of shape (N, classes), dtype of ``logits``
    """
    grad = softmax(logits, axis=1)
    grad[np.arange(len(labels)), labels] -= 1
    grad /= len(labels)
    return grad
