"""Readable single-image CNN operations, written with explicit loops.

These are the versions the book explains line by line: one image ``(C, H, W)`` at a time, one
window at a time. They follow the classic numpy CNN (``convolution``, ``maxpool``,
``convolutionBackward``, ``maxpoolBackward``, ``softmax``, ``categoricalCrossEntropy``) with its
defects fixed:

* a bias of shape ``(F, 1)`` made ``out[f, y, x] = ... + bias[f]`` assign a length-1 array to a
  scalar slot, which NumPy 2 rejects ("setting an array element with a sequence"); the bias is
  flattened to ``(F,)`` first;
* images may be rectangular (the classic code assumed ``H == W``);
* max-pool backward assigned (``=``) each window's gradient, so overlapping windows overwrote each
  other's; here they add up, and the winner of a window is the position PyTorch picks
  (:func:`pool_winner`), NaN included;
* softmax overflowed for large logits and cross-entropy returned ``inf`` for a zero probability.

Argument names are the classic code's on purpose (``filt``, ``s`` for the stride, ``f`` for the
pool window, ``dconv_prev``, ``conv_in``, ``orig``), so that the two can be read side by side; the
batched :mod:`cnn_tutorial.ops` uses PyTorch's vocabulary (``x``, ``w``, ``stride``, ``size``).

They are slow (a Python loop per output pixel) and import nothing but the argument checks
(declared above each function, :mod:`cnn_tutorial.params`): the module stands on its own.
:mod:`cnn_tutorial.ops` holds the batched versions used for training, and the tests check that
both give the same numbers.
"""

from __future__ import annotations

import numpy as np

from .checks import (
    as_float_array,
    check_bias,
    check_int,
    check_ndim,
    check_window_fits,
    output_size,
)
from .params import AnyArray, Array, Integer, Rule, validate_params

__all__ = [
    "convolution",
    "maxpool",
    "convolution_backward",
    "maxpool_backward",
    "pool_winner",
    "softmax",
    "categorical_cross_entropy",
]


def _filters_fit(image, filt):
    """The filters read the image's channels and fit inside it."""
    if filt.shape[1] != image.shape[0]:
        raise ValueError(
            f"channel mismatch: image has {image.shape[0]} channels (shape {image.shape}) but filt "
            f"expects {filt.shape[1]} (shape {filt.shape})"
        )
    check_window_fits("filter", filt.shape[2:], image.shape[1:], "image")


def _bias_fits(bias, filt):
    """One bias per filter, ``(F,)`` or ``(F, 1)``; flattened to ``(F,)``."""
    return {"bias": check_bias(bias, filt.shape[0])}


def _upstream_fits(dconv_prev, conv_in, filt, s):
    """The filters fit the image, and the upstream gradient has the output's shape."""
    _filters_fit(conv_in, filt)
    n_f, _, kh, kw = filt.shape
    _, h, w = conv_in.shape
    out_h, out_w = output_size(h, kh, s), output_size(w, kw, s)
    if dconv_prev.shape != (n_f, out_h, out_w):
        raise ValueError(
            f"dconv_prev must have shape {(n_f, out_h, out_w)} for conv_in "
            f"{conv_in.shape} and filt {filt.shape}, got {dconv_prev.shape}"
        )


def _pool_fits(image, f):
    """The pooling window fits the image."""
    check_window_fits("pool window", (f, f), image.shape[1:], "image")


def _dpool_fits(dpool, orig, f, s):
    """The window fits the image, and the upstream gradient has the output's shape."""
    _pool_fits(orig, f)
    c, h, w = orig.shape
    out_h, out_w = output_size(h, f, s), output_size(w, f, s)
    if dpool.shape != (c, out_h, out_w):
        raise ValueError(
            f"dpool must have shape {(c, out_h, out_w)} for "
            f"orig {orig.shape}, got {dpool.shape}"
        )


#: One image, and a bank of filters (the ``(F, C, k, k)`` of the classic code).
IMAGE = Array("(C, H, W)", nonempty="C, H, W")
FILTERS = Array("(F, C, k, k)", nonempty="F, C, k")


@validate_params(
    image=IMAGE,
    filt=FILTERS,
    s=Integer(minimum=1),
    also=[_filters_fit, _bias_fits],
)
def convolution(image, filt, bias, s: int = 1) -> np.ndarray:
    """Convolve one image with a bank of filters, one output pixel at a time.

    Parameters
    ----------
    image : ndarray of shape (C, H, W)
    filt : ndarray of shape (F, C, kh, kw)
    bias : ndarray of shape (F,) or (F, 1)
    s : int, default 1
        Stride: how far the window moves between output pixels.

    Returns
    -------
    out : ndarray of shape (F, Ho, Wo)
        ``Ho = (H - kh) // s + 1``, ``Wo = (W - kw) // s + 1``;
        ``out[f, y, x] = sum(filt[f] * image[:, y*s : y*s + kh, x*s : x*s + kw]) + bias[f]``.
    """
    n_f, _, kh, kw = filt.shape
    _, h, w = image.shape
    out_h, out_w = output_size(h, kh, s), output_size(w, kw, s)
    out = np.zeros(
        (n_f, out_h, out_w), dtype=np.result_type(image, filt, bias)
    )
    for f in range(n_f):
        for y in range(out_h):
            for x in range(out_w):
                window = image[:, y * s : y * s + kh, x * s : x * s + kw]
                out[f, y, x] = np.sum(filt[f] * window) + bias[f]
    return out


@validate_params(
    conv_in=IMAGE,
    filt=FILTERS,
    s=Integer(minimum=1),
    dconv_prev=AnyArray(),
    also=[_upstream_fits],
)
def convolution_backward(dconv_prev, conv_in, filt, s: int = 1):
    """Backpropagate through :func:`convolution`.

    Every output pixel ``out[f, y, x]`` was ``sum(filt[f] * window) + bias[f]``, so its gradient
    ``g = dconv_prev[f, y, x]`` flows to the filter as ``g * window``, to the window of the input
    as ``g * filt[f]``, and to the bias as ``g``.

    Parameters
    ----------
    dconv_prev : ndarray of shape (F, Ho, Wo)
        Gradient of the loss with respect to the convolution's output.
    conv_in : ndarray of shape (C, H, W)
        The image the forward pass saw.
    filt : ndarray of shape (F, C, kh, kw)
    s : int, default 1

    Returns
    -------
    dout : ndarray of shape (C, H, W)
        Gradient with respect to ``conv_in``.
    dfilt : ndarray of shape (F, C, kh, kw)
    dbias : ndarray of shape (F,)
    """
    n_f, _, kh, kw = filt.shape
    _, h, w = conv_in.shape
    out_h, out_w = output_size(h, kh, s), output_size(w, kw, s)
    dtype = np.result_type(dconv_prev, conv_in, filt)
    dout = np.zeros(conv_in.shape, dtype=dtype)
    dfilt = np.zeros(filt.shape, dtype=dtype)
    dbias = np.zeros(n_f, dtype=dtype)
    for f in range(n_f):
        for y in range(out_h):
            for x in range(out_w):
                g = dconv_prev[f, y, x]
                window = (
                    slice(None),
                    slice(y * s, y * s + kh),
                    slice(x * s, x * s + kw),
                )
                dfilt[f] += g * conv_in[window]
                dout[window] += g * filt[f]
        dbias[f] = np.sum(dconv_prev[f])
    return dout, dfilt, dbias


@validate_params(
    image=IMAGE,
    f=Integer(minimum=1),
    s=Integer(minimum=1),
    also=[_pool_fits],
)
def maxpool(image, f: int = 2, s: int = 2) -> np.ndarray:
    """Max pooling of one image: the largest value of each ``f x f`` window, windows ``s`` apart.

    Parameters
    ----------
    image : ndarray of shape (C, H, W)
    f : int, default 2
        Window size.
    s : int, default 2
        Stride.

    Returns
    -------
    out : ndarray of shape (C, Ho, Wo)
        ``Ho = (H - f) // s + 1``: rows and columns that no full window covers are dropped.
    """
    c, h, w = image.shape
    out_h, out_w = output_size(h, f, s), output_size(w, f, s)
    out = np.zeros((c, out_h, out_w), dtype=image.dtype)
    for ch in range(c):
        for y in range(out_h):
            for x in range(out_w):
                out[ch, y, x] = np.max(
                    image[ch, y * s : y * s + f, x * s : x * s + f]
                )
    return out


def pool_winner(window) -> tuple[int, int]:
    """The position in a pooling window that receives the window's gradient, as PyTorch chooses it.

    PyTorch walks the window in row-major order and moves to an entry when it is larger than the
    best so far, or when it is NaN. So with tied maxima the first one wins (one position, never
    several), and a NaN, which :func:`maxpool` passes on as the window's output, wins over every
    number (the last NaN, when there are several).

    Parameters
    ----------
    window : ndarray of shape (f, f)

    Returns
    -------
    (row, column) : tuple of int
    """
    best = (0, 0)
    for row in range(window.shape[0]):
        for column in range(window.shape[1]):
            value = window[row, column]
            if value > window[best] or np.isnan(value):
                best = (row, column)
    return best


@validate_params(
    orig=IMAGE,
    f=Integer(minimum=1),
    s=Integer(minimum=1),
    dpool=AnyArray(),
    also=[_dpool_fits],
)
def maxpool_backward(dpool, orig, f: int = 2, s: int = 2) -> np.ndarray:
    """Backpropagate through :func:`maxpool`.

    Only the window's maximum influenced the output, so the whole gradient of each output pixel
    goes to that one input position (:func:`pool_winner`: the first maximum when values tie, a NaN
    when the window holds one, as in PyTorch); every other position gets zero. Overlapping windows
    (``s < f``) add up.

    Parameters
    ----------
    dpool : ndarray of shape (C, Ho, Wo)
        Gradient of the loss with respect to the pooled output.
    orig : ndarray of shape (C, H, W)
        The image the forward pass saw.
    f, s : int
        Window size and stride of the forward pass.

    Returns
    -------
    dout : ndarray of shape (C, H, W)
    """
    c, h, w = orig.shape
    out_h, out_w = output_size(h, f, s), output_size(w, f, s)
    dout = np.zeros(orig.shape, dtype=np.result_type(dpool, orig))
    for ch in range(c):
        for y in range(out_h):
            for x in range(out_w):
                window = orig[ch, y * s : y * s + f, x * s : x * s + f]
                a, b = pool_winner(window)
                dout[ch, y * s + a, x * s + b] += dpool[ch, y, x]
    return dout


@validate_params(x=AnyArray())
def softmax(x, axis: int = -1) -> np.ndarray:
    """Class probabilities from scores: ``exp(x) / sum(exp(x))`` along ``axis``, computed stably.

    Subtracting the largest score first changes nothing (the common factor ``exp(-max)`` cancels)
    but keeps every exponent <= 0, so ``exp`` cannot overflow; the classic formula gives ``nan``
    for a score like 800.

    Parameters
    ----------
    x : ndarray of shape (K,) or (K, 1)
        Scores, e.g. the classic network's ``(10, 1)`` output; any shape works.
    axis : int, default -1
        The axis that holds the classes (for ``(K, 1)``, pass ``axis=0``).

    Returns
    -------
    ndarray, same shape as ``x``: entries >= 0 that sum to 1 along ``axis``.
    """
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _probabilities(name, probs):
    """``probs`` as a float vector ``(K,)``; a column ``(K, 1)`` is flattened."""
    probs = as_float_array(name, probs)
    if probs.ndim == 2 and probs.shape[1] == 1:
        probs = probs[:, 0]
    check_ndim(name, probs, 1, "(K,) or (K, 1)")
    return probs


def _one_hot(probs, label):
    """``label``, a class index or a one-hot vector, as a one-hot vector like ``probs``."""
    k = probs.shape[0]
    label_array = np.asarray(label)
    if label_array.ndim == 0:
        index = check_int(
            "label",
            label_array.item() if label_array.dtype.kind in "iu" else label,
            0,
        )
        if index >= k:
            raise ValueError(
                f"label {index} is out of range for {k} classes"
            )
        onehot = np.zeros(k, dtype=probs.dtype)
        onehot[index] = 1
    else:
        onehot = as_float_array("label", label_array).reshape(-1)
        if onehot.shape != (k,):
            raise ValueError(
                f"label must be a class index or have {k} entries like "
                f"probs {probs.shape}, got shape {label_array.shape}"
            )
    return {"label": onehot}


@validate_params(
    probs=Rule(
        _probabilities,
        bad=[
            (np.array(["a"] * 2), TypeError),
            (np.ones((2, 2)), ValueError),
        ],
        example=np.full(2, 0.5),
    ),
    also=[_one_hot],
)
def categorical_cross_entropy(probs, label) -> float:
    """Cross-entropy ``-sum(onehot * log(probs))`` of one prediction.

    Parameters
    ----------
    probs : ndarray of shape (K,) or (K, 1)
        Predicted class probabilities (the output of :func:`softmax`).
    label : int or ndarray of shape (K,) or (K, 1)
        The correct class, as an index or as a one-hot vector (the classic code's form); the
        declared checks turn an index into the one-hot vector the body multiplies by.

    Returns
    -------
    float
        Finite even when the correct class has probability 0: probabilities are clipped to the
        smallest positive normal number of their dtype (the classic code returned ``inf``).
    """
    tiny = np.finfo(probs.dtype).tiny
    return float(-np.sum(label * np.log(np.clip(probs, tiny, None))))
