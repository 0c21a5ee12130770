"""Batched, vectorised CNN operations (forward and backward) for training.

Every function takes a whole mini-batch ``x`` of shape ``(N, C, H, W)`` and gives the same numbers as
the matching PyTorch function (``torch.nn.functional.conv2d``, ``max_pool2d``, ``relu``,
``softmax``, ``cross_entropy`` and their autograd gradients). There is no Python loop over images
or pixels:

* convolution is *im2col* -- every receptive field copied out of a strided view of the input into
  one matrix -- followed by one BLAS matrix product for the whole batch;
* its backward pass is two more matrix products (filters and columns) and *col2im*, which adds each
  column gradient back where the column was copied from;
* for stride 1, when it needs fewer multiply-adds (wide layers with many channels), the convolution
  and its gradients are instead computed through the Fourier transform
  (:mod:`cnn_tutorial.fourier`): a product per frequency in place of a sum over every window;
* max pooling loops over the few offsets inside a window (not over pixels), comparing and
  routing whole-batch strided views.

float32 and float64 inputs keep their dtype; integer inputs are promoted to float64.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import fourier
from .batching import batch_slices
from .checks import (
    as_float_array,
    check_allocation,
    check_bias,
    check_int,
    check_ndim,
    check_no_empty_axes,
    check_window_fits,
    output_size,
)

__all__ = [
    "conv2d",
    "conv2d_backward",
    "maxpool2d",
    "maxpool2d_backward",
    "dense",
    "dense_backward",
    "relu",
    "relu_backward",
    "softmax",
    "log_softmax",
    "cross_entropy",
    "cross_entropy_backward",
]


# --------------------------------------------------------------------------- convolution

class _Geometry(NamedTuple):
    """Sizes of one convolution: the output is ``ho x wo``; the padded batch that :func:`_im2col`
    reads has ``rows`` rows of ``pitch`` numbers per channel (see :func:`_pad`)."""

    ho: int
    wo: int
    rows: int
    pitch: int


def _geometry(x_shape, kh: int, kw: int, stride: int, padding: int) -> _Geometry:
    """The :class:`_Geometry` of a ``kh x kw`` convolution of a batch of shape ``x_shape`` (N, C, H, W)."""
    h, w = x_shape[2], x_shape[3]
    ho, wo = output_size(h, kh, stride, padding), output_size(w, kw, stride, padding)
    pitch = max(w + padding, wo)  # wo is larger only when padding > kw - 1
    # The last entry of the last column of cols (garbage included) must lie inside the buffer.
    last = stride * (ho * pitch - 1) + (kh - 1) * pitch + kw - 1
    rows = max(h + 2 * padding, last // pitch + 1)
    return _Geometry(ho, wo, rows, pitch)


def _pad(x: np.ndarray, padding: int, geometry: _Geometry) -> np.ndarray:
    """Zero-pad a batch ``(N, C, H, W)`` into a buffer of shape ``(N, C, rows, pitch)``.

    Image row ``r`` goes to buffer row ``padding + r``, columns ``padding`` to ``padding + W - 1``.
    Neighbouring rows *share* their horizontal padding: the ``padding`` zeros at the start of the
    next buffer row are the zeros right of this row, so a row needs ``pitch = W + padding`` numbers,
    not ``W + 2 * padding`` (more only in the odd case of a window narrower than the padding, whose
    output is wider than that). Below the image come ``padding`` zero rows and, if needed, a few more
    so that the garbage columns of :func:`_im2col` stay inside the buffer.
    """
    n, c, h, w = x.shape
    if geometry.pitch == w and geometry.rows == h:
        return x  # nothing to add
    xp = np.zeros((n, c, geometry.rows, geometry.pitch), dtype=x.dtype)
    xp[:, :, padding : padding + h, padding : padding + w] = x
    return xp


def _im2col(xp: np.ndarray, kh: int, kw: int, stride: int, ho: int) -> np.ndarray:
    """Copy every receptive field of a padded batch into the columns of one matrix ("wide" im2col).

    The trick: flatten each channel of the padded buffer (:func:`_pad`) to one row of memory. With
    ``P`` numbers per buffer row (its pitch), window element ``(u, v)`` of output position ``(i, j)``
    sits at flat index ``u * P + v + stride * (i * P + j)``, so for a fixed ``(u, v)`` all output
    positions form a single evenly strided run of memory. Letting ``j`` run over all ``P`` columns
    (not only the ``Wo`` valid ones) makes that run one slice, and the copy becomes
    ``C * kh * kw * N`` long contiguous moves instead of millions of tiny ones. The ``P - Wo`` extra
    columns per row are garbage that the caller crops (forward) or multiplies by zero (backward).

    Parameters
    ----------
    xp : ndarray of shape (N, C, rows, P)
        Zero-padded batch from :func:`_pad`.
    kh, kw : int
        Window height and width.
    stride : int
    ho : int
        Output height.

    Returns
    -------
    cols : ndarray of shape (C * kh * kw, N * ho * P)
        Column ``(n, i, j)`` holds the window of image ``n`` at output position ``(i, j)`` for every
        valid ``j < Wo``; row ``(c, u, v)`` holds its element ``(c, u, v)``. All images share one
        matrix so that each product below is a single large BLAS call.
    """
    n, c, _, pitch = xp.shape
    flat = xp.reshape(n, c, -1)
    item = flat.strides[2]
    view = as_strided(
        flat,
        shape=(c, kh, kw, n, ho * pitch),
        strides=(flat.strides[1], pitch * item, item, flat.strides[0], stride * item),
        writeable=False,
    )
    return np.ascontiguousarray(view).reshape(c * kh * kw, n * ho * pitch)


def _col2im_add(dcols: np.ndarray, dxp: np.ndarray, kh: int, kw: int, stride: int, ho: int) -> None:
    """Adjoint of :func:`_im2col`: add every column entry back onto the padded input position it was copied from.

    Parameters
    ----------
    dcols : ndarray of shape (C * kh * kw, N * ho * P)
        Gradient with respect to ``cols``; entries of the garbage columns must be zero.
    dxp : ndarray of shape (N, C, rows, P), C-contiguous
        Gradient buffer of the padded batch (layout of :func:`_pad`), updated in place.
    """
    n, c, _, pitch = dxp.shape
    dcols = dcols.reshape(c, kh, kw, n, ho * pitch)
    flat = dxp.reshape(n, c, -1)  # a view: dxp is contiguous
    span = stride * (ho * pitch - 1) + 1
    # A loop over the kh * kw window offsets (not over images or pixels): each step adds one
    # strided slab covering the whole chunk of images.
    for u in range(kh):
        for v in range(kw):
            start = u * pitch + v
            flat[:, :, start : start + span : stride] += dcols[:, u, v].transpose(1, 0, 2)


# The batch is processed a few images at a time, so that each chunk's column matrix stays in a
# core's cache while it is copied, multiplied and scattered; whole-batch matrices are tens of
# megabytes and made every step several times slower. The best chunk size was measured: small for
# the forward pass and the filter gradient alone (a handful of large numpy calls per chunk), larger
# when col2im runs, because its k*k strided additions per chunk cost a fixed overhead each.
_CHUNK_BYTES = 512 << 10
_COL2IM_CHUNK_BYTES = 4 << 20


def _cache_sized_chunks(n: int, c: int, kh: int, kw: int, geometry: _Geometry, itemsize: int, budget: int):
    """Slices of the batch axis whose im2col matrices hold about ``budget`` bytes each (at least one image)."""
    per_image = c * kh * kw * geometry.ho * geometry.pitch * itemsize
    return batch_slices(n, max(1, budget // per_image))


METHODS = ("auto", "im2col", "fourier")


def _validate_conv(x, w, stride, padding, method):
    x = as_float_array("x", x)
    w = as_float_array("w", w)
    check_ndim("x", x, 4, "(N, C, H, W)")
    check_ndim("w", w, 4, "(F, C, kh, kw)")
    check_no_empty_axes("x", x, "(N, C, H, W)", (1, 2, 3))
    check_no_empty_axes("w", w, "(F, C, kh, kw)", (0, 1, 2, 3))
    if w.shape[1] != x.shape[1]:
        raise ValueError(
            f"channel mismatch: x has {x.shape[1]} channels (shape {x.shape}) but w expects "
            f"{w.shape[1]} (shape {w.shape})"
        )
    stride = check_int("stride", stride, 1)
    padding = check_int("padding", padding, 0)
    padded = (x.shape[2] + 2 * padding, x.shape[3] + 2 * padding)
    check_window_fits("kernel", w.shape[2:], padded, f"padded input (padding={padding})")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "fourier" and stride != 1:
        raise ValueError(f"method='fourier' needs stride 1, got stride={stride}")
    # Before anything is allocated: a large padding or a large batch asks for huge arrays.
    (n, c), (f, _, kh, kw) = x.shape[:2], w.shape
    geo = _geometry(x.shape, kh, kw, stride, padding)
    dtype = np.result_type(x, w)
    check_allocation(f"conv2d's padded input (padding={padding})", (n, c, geo.rows, geo.pitch), dtype)
    check_allocation("conv2d's output", (n, f, geo.ho, geo.wo), dtype)
    check_allocation("conv2d's columns of one image", (c * kh * kw, geo.ho * geo.pitch), dtype)
    return x, w, stride, padding


def _multiply_adds(x_shape, w_shape, stride: int, padding: int) -> dict:
    """Real multiply-adds of one forward pass by each route that can take it: ``{"im2col": ...}``
    plus, for stride 1, ``"fourier"`` (:func:`cnn_tutorial.fourier.multiply_adds`). A strided
    output would waste most of the Fourier route's work, so it is offered for stride 1 only."""
    (n, c), (f, _, kh, kw) = x_shape[:2], w_shape
    geo = _geometry(x_shape, kh, kw, stride, padding)
    counts = {"im2col": n * f * c * kh * kw * geo.ho * geo.pitch}  # wide columns included
    if stride == 1:
        counts["fourier"] = fourier.multiply_adds(x_shape, w_shape, padding)
    return counts


def _all_finite(*arrays: np.ndarray) -> bool:
    """True when no array holds inf or NaN. One sum per array, without a temporary: a NaN or inf
    makes the sum non-finite (and a sum that merely overflows errs on the safe side)."""
    return all(np.isfinite(array.sum()) for array in arrays)


def _route(method: str, x_shape, w_shape, stride: int, padding: int, inputs: tuple = ()) -> str:
    """``"im2col"`` or ``"fourier"``: the route ``method`` names or, for ``"auto"``, the one with
    fewer multiply-adds (im2col on a tie).

    Two exceptions. Measured: the Fourier route is only offered when the batch has more spectra,
    ``N (C + F)``, than the filters, ``C F``. With a batch that is small against the channels, its
    per-frequency products ``(N, C) @ (C, F)`` are too thin for BLAS to run at speed, and moving
    the ``C F`` filter spectra costs more than the multiply-adds it saves. And when one of the
    ``inputs`` (the arrays the route would transform) holds inf or NaN: every frequency depends on
    every pixel, so it would spread NaN over a whole image, where im2col (and PyTorch) keep it to
    the windows that contain it.
    """
    if method != "auto":
        return method
    counts = _multiply_adds(x_shape, w_shape, stride, padding)
    (n, c), f = x_shape[:2], w_shape[0]
    if n * (c + f) <= c * f:
        counts.pop("fourier", None)
    route = min(counts, key=counts.get)
    if route == "fourier" and not _all_finite(*inputs):
        return "im2col"
    return route


def conv2d(x, w, b=None, stride: int = 1, padding: int = 0, *, method: str = "auto") -> np.ndarray:
    """2-D convolution (cross-correlation, as in every deep-learning library) of a batch.

    ``out[n, f, i, j] = b[f] + sum_{c, u, v} w[f, c, u, v] * xp[n, c, i*stride + u, j*stride + v]``
    where ``xp`` is ``x`` zero-padded by ``padding`` on each side.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
        Input batch. Rectangular images are fine.
    w : ndarray of shape (F, C, kh, kw)
        Filters.
    b : ndarray of shape (F,) or (F, 1), optional
        One bias per filter.
    stride : int, default 1
    padding : int, default 0
        Zeros added on every side of both spatial axes.
    method : {"auto", "im2col", "fourier"}, default "auto"
        How to compute it: one matrix product over copied windows (:func:`_im2col_conv2d`), or
        products of Fourier transforms (:func:`cnn_tutorial.fourier.correlate`, stride 1 only).
        ``"auto"`` takes the route with fewer multiply-adds. Both give the same numbers up to rounding.

    Returns
    -------
    out : ndarray of shape (N, F, Ho, Wo)
        ``Ho = (H + 2*padding - kh) // stride + 1`` and likewise ``Wo``. Matches
        ``torch.nn.functional.conv2d(x, w, b, stride, padding)``.
    """
    x, w, stride, padding = _validate_conv(x, w, stride, padding, method)
    dtype = np.result_type(x, w)
    bias = None if b is None else check_bias(b, w.shape[0], "b").astype(dtype)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    if _route(method, x.shape, w.shape, stride, padding, (x, w)) == "fourier":
        out = fourier.correlate(x, w, padding)
    else:
        out = _im2col_conv2d(x, w, stride, padding)
    if bias is not None:
        out += bias[:, None, None]
    return out


def _im2col_conv2d(x: np.ndarray, w: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """:func:`conv2d` without bias, as one matrix product per chunk of images: filters ``(F, K)``
    times columns ``(K, n * Ho * P)`` (:func:`_im2col`). ``x`` and ``w`` share a dtype."""
    f, c, kh, kw = w.shape
    n = x.shape[0]
    geo = _geometry(x.shape, kh, kw, stride, padding)
    xp = _pad(x, padding, geo)  # once for the whole batch; chunks are views of it
    out = np.empty((n, f, geo.ho, geo.wo), dtype=x.dtype)
    w2d = w.reshape(f, -1)
    for batch in _cache_sized_chunks(n, c, kh, kw, geo, x.dtype.itemsize, _CHUNK_BYTES):
        cols = _im2col(xp[batch], kh, kw, stride, geo.ho)
        # One matmul per chunk: (F, K) @ (K, n*Ho*P) -> (F, n, Ho, P); crop and reorder to NCHW.
        wide = (w2d @ cols).reshape(f, -1, geo.ho, geo.pitch)
        out[batch] = wide[:, :, :, : geo.wo].transpose(1, 0, 2, 3)
    return out


def conv2d_backward(dout, x, w, stride: int = 1, padding: int = 0, *, need_dx: bool = True, method: str = "auto"):
    """Gradients of :func:`conv2d` with respect to its input, filters and bias.

    Parameters
    ----------
    dout : ndarray of shape (N, F, Ho, Wo)
        Gradient of the loss with respect to the convolution's output.
    x : ndarray of shape (N, C, H, W)
        The input the forward pass saw.
    w : ndarray of shape (F, C, kh, kw)
        The filters the forward pass used.
    stride, padding : int
        As in the forward pass.
    need_dx : bool, default True
        Set False when nothing upstream needs the input gradient (the network's first layer, whose
        input is the image): ``dx`` is then returned as ``None`` and its cost is saved.
    method : {"auto", "im2col", "fourier"}, default "auto"
        As in :func:`conv2d`.

    Returns
    -------
    dx : ndarray of shape (N, C, H, W), or None when ``need_dx`` is False
    dw : ndarray of shape (F, C, kh, kw)
        ``dw[f] = sum over n and output positions of dout[n, f, i, j] * (window of x at i, j)``.
    db : ndarray of shape (F,)
        ``dout`` summed over the batch and both spatial axes.
    """
    x, w, stride, padding = _validate_conv(x, w, stride, padding, method)
    dout = as_float_array("dout", dout)
    f, _, kh, kw = w.shape
    n = x.shape[0]
    geo = _geometry(x.shape, kh, kw, stride, padding)
    if dout.shape != (n, f, geo.ho, geo.wo):
        raise ValueError(
            f"dout must have shape {(n, f, geo.ho, geo.wo)} for x {x.shape} and w {w.shape}, got {dout.shape}"
        )
    dtype = np.result_type(dout, x, w)
    dout, x, w = (a.astype(dtype, copy=False) for a in (dout, x, w))
    if _route(method, x.shape, w.shape, stride, padding, (dout, x, w)) == "fourier":
        dx, dw = fourier.correlate_backward(dout, x, w, padding, need_dx)
    else:
        dx, dw = _im2col_conv2d_backward(dout, x, w, stride, padding, need_dx)
    return dx, dw, dout.sum(axis=(0, 2, 3))


def _im2col_conv2d_backward(dout, x, w, stride: int, padding: int, need_dx: bool):
    """``(dx or None, dw)`` of :func:`_im2col_conv2d`: two matrix products per chunk and
    :func:`_col2im_add`. All arrays share a dtype."""
    f, c, kh, kw = w.shape
    n, _, h, wd = x.shape
    geo = _geometry(x.shape, kh, kw, stride, padding)
    xp = _pad(x, padding, geo)
    w2d = w.reshape(f, -1)
    dw = np.zeros((f, c * kh * kw), dtype=x.dtype)
    dxp = np.zeros(xp.shape, dtype=x.dtype) if need_dx else None
    budget = _COL2IM_CHUNK_BYTES if need_dx else _CHUNK_BYTES
    for batch in _cache_sized_chunks(n, c, kh, kw, geo, x.dtype.itemsize, budget):
        cols = _im2col(xp[batch], kh, kw, stride, geo.ho)
        if geo.pitch > geo.wo:
            # The garbage columns hold real pixels; zeroed, an inf among them cannot turn their zero
            # gradient into NaN (0 * inf) in dw.
            cols.reshape(cols.shape[0], -1, geo.pitch)[:, :, geo.wo :] = 0
        # Spread dout over the wide (F, n, Ho, P) layout of the columns; garbage columns get zero gradient.
        g = np.zeros((f, cols.shape[1] // (geo.ho * geo.pitch), geo.ho, geo.pitch), dtype=x.dtype)
        g[:, :, :, : geo.wo] = dout[batch].transpose(1, 0, 2, 3)
        g = g.reshape(f, -1)
        # dw[f, k] = sum over images and positions p of g[f, p] * cols[k, p]
        dw += (cols @ g.T).T  # this operand order is the faster BLAS call here
        if need_dx:
            # dcols[k, p] = sum_f w[f, k] g[f, p]; then each column entry goes back where it came from.
            _col2im_add(w2d.T @ g, dxp[batch], kh, kw, stride, geo.ho)
    dx = np.ascontiguousarray(dxp[:, :, padding : padding + h, padding : padding + wd]) if need_dx else None
    return dx, dw.reshape(w.shape)


# --------------------------------------------------------------------------- max pooling

def _validate_pool(x, size, stride):
    x = as_float_array("x", x)
    check_ndim("x", x, 4, "(N, C, H, W)")
    check_no_empty_axes("x", x, "(N, C, H, W)", (1, 2, 3))
    size = check_int("size", size, 1)
    stride = check_int("stride", stride, 1)
    check_window_fits("pool window", (size, size), x.shape[2:], "input")
    return x, size, stride


def _window_offsets(x: np.ndarray, size: int, stride: int):
    """For each offset ``(u, v)`` inside a window, in row-major order, the strided view of ``x`` that
    holds element ``(u, v)`` of every window: ``(offset index, slices)`` with views of shape
    ``(N, C, Ho, Wo)``. Looping over the ``size**2`` offsets (not over pixels) keeps every step a
    whole-batch array operation."""
    ho, wo = output_size(x.shape[2], size, stride), output_size(x.shape[3], size, stride)
    for u in range(size):
        for v in range(size):
            yield u * size + v, (slice(None), slice(None), slice(u, u + stride * (ho - 1) + 1, stride),
                                 slice(v, v + stride * (wo - 1) + 1, stride))


def maxpool2d(x, size: int = 2, stride: int = 2) -> np.ndarray:
    """Max pooling over ``size x size`` windows moved by ``stride``.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
    size : int, default 2
    stride : int, default 2

    Returns
    -------
    out : ndarray of shape (N, C, Ho, Wo)
        ``Ho = (H - size) // stride + 1``; rows/columns a window cannot reach are dropped, as in
        ``torch.nn.functional.max_pool2d``. NaN propagates, as in PyTorch.
    """
    x, size, stride = _validate_pool(x, size, stride)
    out = None
    for _, window_element in _window_offsets(x, size, stride):
        out = x[window_element].copy() if out is None else np.maximum(out, x[window_element], out=out)
    return out


def _winner_offset(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    """Index ``u * size + v`` of every window's winner, as PyTorch picks it: int8 or int32 array ``(N, C, Ho, Wo)``.

    The winner is the first maximum in row-major order, or, when the window holds NaN, its last NaN
    (PyTorch's kernel moves on when an entry is larger or is NaN; see ``loops.pool_winner``).
    """
    best, index = None, None
    for k, window_element in _window_offsets(x, size, stride):
        candidate = x[window_element]
        if best is None:
            best = candidate.copy()
            index = np.zeros(best.shape, dtype=np.int8 if size * size < 128 else np.int32)
            continue
        # Strictly greater: on ties the earlier offset keeps the gradient, as in PyTorch. A NaN
        # beats any number and any earlier NaN (it is the window's "maximum", which the forward
        # pass outputs).
        better = (candidate > best) | np.isnan(candidate)
        # Arithmetic instead of masked assignment: the mask is random, and branch-free code is
        # several times faster on it.
        index += better * (k - index).astype(index.dtype)
        np.maximum(best, candidate, out=best)
    return index


def maxpool2d_backward(dout, x, size: int = 2, stride: int = 2) -> np.ndarray:
    """Gradient of :func:`maxpool2d` with respect to its input.

    Each window sends its upstream gradient to exactly one input position, the one PyTorch picks:
    the first maximum in row-major order, or a NaN when the window holds one (the last NaN). Ties
    therefore do not split or duplicate the gradient. With overlapping windows (``stride < size``)
    a pixel that is the maximum of several windows collects the sum of their gradients.

    Parameters
    ----------
    dout : ndarray of shape (N, C, Ho, Wo)
        Gradient of the loss with respect to the pooled output.
    x : ndarray of shape (N, C, H, W)
        The input the forward pass saw.
    size, stride : int
        As in the forward pass.

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
    """
    x, size, stride = _validate_pool(x, size, stride)
    dout = as_float_array("dout", dout)
    n, c, h, w = x.shape
    ho, wo = output_size(h, size, stride), output_size(w, size, stride)
    if dout.shape != (n, c, ho, wo):
        raise ValueError(f"dout must have shape {(n, c, ho, wo)} for x {x.shape}, got {dout.shape}")

    winner = _winner_offset(x, size, stride)
    dx = np.zeros(x.shape, dtype=np.result_type(x, dout))
    for k, window_element in _window_offsets(x, size, stride):
        # Within one offset the windows touch distinct pixels, so += never collides; across
        # offsets (overlapping windows) it adds up, as the chain rule requires.
        # np.where, not dout * (winner == k): an infinite gradient times False would be NaN.
        dx[window_element] += np.where(winner == k, dout, 0.0)
    return dx


# --------------------------------------------------------------------------- dense (fully connected)

def _validate_dense(x, w):
    x = as_float_array("x", x)
    w = as_float_array("w", w)
    check_ndim("x", x, 2, "(N, in_features)")
    check_ndim("w", w, 2, "(out_features, in_features)")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x has {x.shape[1]} features (shape {x.shape}) but w expects {w.shape[1]} (shape {w.shape})")
    return x, w


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
    x, w = _validate_dense(x, w)
    out = x @ w.T
    if b is not None:
        out += check_bias(b, w.shape[0], "b").astype(out.dtype)
    return out


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
    x, w = _validate_dense(x, w)
    dout = as_float_array("dout", dout)
    if dout.shape != (x.shape[0], w.shape[0]):
        raise ValueError(f"dout must have shape {(x.shape[0], w.shape[0])} for x {x.shape} and w {w.shape}, got {dout.shape}")
    return dout @ w, dout.T @ x, dout.sum(axis=0)


# --------------------------------------------------------------------------- ReLU

def relu(x) -> np.ndarray:
    """Rectified linear unit, ``max(x, 0)`` element-wise. Any shape; dtype kept."""
    x = as_float_array("x", x)
    return np.maximum(x, 0, dtype=x.dtype)


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
    x = as_float_array("x", x)
    dout = as_float_array("dout", dout)
    if dout.shape != x.shape:
        raise ValueError(f"dout shape {dout.shape} must equal x shape {x.shape}")
    return dout * ~(x <= 0)


# --------------------------------------------------------------------------- softmax and cross-entropy

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
    """``log(softmax(x))`` computed stably as ``x - max - log(sum(exp(x - max)))``; never ``-inf`` for finite x."""
    x = as_float_array("x", x)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _validate_logits(logits, labels):
    logits = as_float_array("logits", logits)
    check_ndim("logits", logits, 2, "(N, classes)")
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if labels.shape != (logits.shape[0],):
        raise ValueError(f"labels must have shape ({logits.shape[0]},) to match logits {logits.shape}, got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(f"labels must lie in [0, {logits.shape[1] - 1}], got values from {labels.min()} to {labels.max()}")
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
    """Gradient of :func:`cross_entropy` with respect to the logits: ``(softmax(logits) - onehot(labels)) / N``.

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
