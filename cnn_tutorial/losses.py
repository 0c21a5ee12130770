"""From logits to probabilities and the loss: softmax, log-softmax and cross-entropy, batched.

The same numbers as ``torch.nn.functional.softmax``, ``log_softmax`` and ``cross_entropy`` (and its
autograd gradient), computed stably: every exponent is taken after subtracting the maximum.
float32 and float64 inputs keep their dtype; integer inputs are promoted to float64.

Part of the batched operations: :mod:`cnn_tutorial.ops` re-exports these functions.
"""

from __future__ import annotations

import numpy as np

from .checks import as_float_array, check_ndim

__all__ = [
    "cross_entropy",
    "cross_entropy_backward",
    "log_softmax",
    "softmax",
]


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
    x = as_float_array("x", x)
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis: int = -1) -> np.ndarray:
    """``log(softmax(x))`` computed stably as ``x - max - log(sum(exp(x - max)))``; never ``-inf``
    for finite x.
    """
    x = as_float_array("x", x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _validate_logits(logits, labels):
    logits = as_float_array("logits", logits)
    check_ndim("logits", logits, 2, "(N, classes)")
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(
            f"labels must be integer class indices, got dtype {labels.dtype}"
        )
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
    return logits, labels


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
    logits, labels = _validate_logits(logits, labels)
    log_probs = log_softmax(logits, axis=1)
    return float(-log_probs[np.arange(len(labels)), labels].mean())


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
    logits, labels = _validate_logits(logits, labels)
    grad = softmax(logits, axis=1)
    grad[np.arange(len(labels)), labels] -= 1
    grad /= len(labels)
    return grad
