"""The fast routes of the batched convolution, and the choice between them.

The main chapters teach the simple route of :mod:`cnn_tutorial.ops` (``method="simple"``): plain
:func:`~cnn_tutorial.ops.im2col`, one matrix product, plain :func:`~cnn_tutorial.ops.col2im`. This
module holds what the optional chapter "Making numpy fast" adds on top of it, one measured step at
a time; every route gives the same numbers as the simple one, up to float rounding:

* **wide-row im2col** (``method="im2col"``, :func:`wide_conv2d`): the padded batch is seen as one
  long run of memory per channel, so that all output positions of one window offset form a single
  evenly strided slice; the columns then include ``R - Wo`` garbage columns per output row (``R``
  the row pitch of the padded buffer), which the forward pass crops and the backward pass gives
  zero gradient;
* **cache-sized chunks**: the batch goes through a few images at a time so that each chunk's column
  matrix stays in a core's cache (:func:`cache_sized_chunks`);
* **the Fourier route** (``method="fourier"``, :mod:`cnn_tutorial.fast.fourier`): for stride 1, products
  of discrete Fourier transforms in place of the sum over every window;
* **the route choice** (:func:`choose_route`): what ``method="auto"``, the default of
  :func:`~cnn_tutorial.ops.conv2d` and :func:`~cnn_tutorial.ops.conv2d_backward`, takes.

The functions here trust their inputs; :mod:`cnn_tutorial.ops` validates them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..batching import batch_slices
from ..checks import output_size
from . import fourier

__all__ = [
    "Geometry",
    "geometry",
    "pad",
    "wide_im2col",
    "col2im_add",
    "cache_sized_chunks",
    "wide_conv2d",
    "wide_conv2d_backward",
    "multiply_adds",
    "choose_route",
]


class Geometry(NamedTuple):
    """Sizes of one convolution: the output is ``ho x wo``; the padded batch that :func:`wide_im2col`
    reads has ``rows`` rows of ``pitch`` numbers per channel (see :func:`pad`)."""

    ho: int
    wo: int
    rows: int
    pitch: int


def geometry(
    x_shape, kh: int, kw: int, stride: int, padding: int
) -> Geometry:
    """The :class:`Geometry` of a ``kh x kw`` convolution of a batch of shape ``x_shape`` (N, C, H, W)."""
    h, w = x_shape[2], x_shape[3]
    ho, wo = (
        output_size(h, kh, stride, padding),
        output_size(w, kw, stride, padding),
    )
    pitch = max(w + padding, wo)  # wo is larger only when padding > kw - 1
    # The last entry of the last column of cols (garbage included) must lie inside the buffer.
    last = stride * (ho * pitch - 1) + (kh - 1) * pitch + kw - 1
    rows = max(h + 2 * padding, last // pitch + 1)
    return Geometry(ho, wo, rows, pitch)


def pad(x: np.ndarray, padding: int, geo: Geometry) -> np.ndarray:
    """Zero-pad a batch ``(N, C, H, W)`` into a buffer of shape ``(N, C, rows, pitch)``.

    Image row ``r`` goes to buffer row ``padding + r``, columns ``padding`` to ``padding + W - 1``.
    Neighbouring rows *share* their horizontal padding: the ``padding`` zeros at the start of the
    next buffer row are the zeros right of this row, so a row needs ``pitch = W + padding`` numbers,
    not ``W + 2 * padding`` (more only in the odd case of a window narrower than the padding, whose
    output is wider than that). Below the image come ``padding`` zero rows and, if needed, a few more
    so that the garbage columns of :func:`wide_im2col` stay inside the buffer.
    """
    n, c, h, w = x.shape
    if geo.pitch == w and geo.rows == h:
        return x  # nothing to add
    xp = np.zeros((n, c, geo.rows, geo.pitch), dtype=x.dtype)
    xp[:, :, padding : padding + h, padding : padding + w] = x
    return xp


def wide_im2col(
    xp: np.ndarray, kh: int, kw: int, stride: int, ho: int
) -> np.ndarray:
    """Copy every receptive field of a padded batch into the columns of one matrix ("wide-row" im2col).

    The trick: flatten each channel of the padded buffer (:func:`pad`) to one row of memory. With
    ``R`` numbers per buffer row (its pitch), window element ``(u, v)`` of output position ``(i, j)``
    sits at flat index ``u * R + v + stride * (i * R + j)``, so for a fixed ``(u, v)`` all output
    positions form a single evenly strided run of memory. Letting ``j`` run over all ``R`` columns
    (not only the ``Wo`` valid ones) makes that run one slice, and the copy becomes
    ``C * kh * kw * N`` long contiguous moves instead of many short ones. The ``R - Wo`` extra
    columns per row are garbage that the caller crops (forward) or multiplies by zero (backward).

    Parameters
    ----------
    xp : ndarray of shape (N, C, rows, R)
        Zero-padded batch from :func:`pad`.
    kh, kw : int
        Window height and width.
    stride : int
    ho : int
        Output height.

    Returns
    -------
    cols : ndarray of shape (C * kh * kw, N * ho * R)
        Column ``(n, i, j)`` holds the window of image ``n`` at output position ``(i, j)`` for every
        valid ``j < Wo``; row ``(c, u, v)`` holds its element ``(c, u, v)``. All images share one
        matrix so that each product is a single large BLAS call.
    """
    n, c, _, pitch = xp.shape
    flat = xp.reshape(n, c, -1)
    item = flat.strides[2]
    view = as_strided(
        flat,
        shape=(c, kh, kw, n, ho * pitch),
        strides=(
            flat.strides[1],
            pitch * item,
            item,
            flat.strides[0],
            stride * item,
        ),
        writeable=False,
    )
    return np.ascontiguousarray(view).reshape(c * kh * kw, n * ho * pitch)


def col2im_add(
    dcols: np.ndarray,
    dxp: np.ndarray,
    kh: int,
    kw: int,
    stride: int,
    ho: int,
) -> None:
    """Adjoint of :func:`wide_im2col`: add every column entry back onto the padded input position it
    was copied from.

    Parameters
    ----------
    dcols : ndarray of shape (C * kh * kw, N * ho * R)
        Gradient with respect to ``cols``; entries of the garbage columns must be zero.
    dxp : ndarray of shape (N, C, rows, R), C-contiguous
        Gradient buffer of the padded batch (layout of :func:`pad`), updated in place.
    """
    n, c, _, pitch = dxp.shape
    dcols = dcols.reshape(c, kh, kw, n, ho * pitch)
    flat = dxp.reshape(n, c, -1)  # a view: dxp is contiguous
    span = stride * (ho * pitch - 1) + 1
    # A loop over the kh * kw window offsets (not over images or pixels):
    # each step adds one strided slab covering the whole chunk of images.
    for u in range(kh):
        for v in range(kw):
            start = u * pitch + v
            flat[:, :, start : start + span : stride] += dcols[
                :, u, v
            ].transpose(1, 0, 2)


# The batch is processed a few images at a time, so that each chunk's column matrix stays in a
# core's cache while it is copied, multiplied and scattered; whole-batch matrices are tens of
# megabytes and made every step several times slower. The best chunk size was measured: small for
# the forward pass and the filter gradient alone (a handful of large numpy calls per chunk), larger
# when col2im runs, because its k*k strided additions per chunk cost a fixed overhead each.
CHUNK_BYTES = 512 << 10
COL2IM_CHUNK_BYTES = 4 << 20


def cache_sized_chunks(
    n: int,
    c: int,
    kh: int,
    kw: int,
    geo: Geometry,
    itemsize: int,
    budget: int,
):
    """Slices of the batch axis whose wide im2col matrices hold about ``budget`` bytes each (at
    least one image).
    """
    per_image = c * kh * kw * geo.ho * geo.pitch * itemsize
    return batch_slices(n, max(1, budget // per_image))


def wide_conv2d(
    x: np.ndarray,
    w: np.ndarray,
    stride: int,
    padding: int,
    saved: list | None = None,
) -> np.ndarray:
    """Convolution without bias, as one matrix product per chunk of images: filters ``(F, K)``
    times columns ``(K, n * Ho * R)`` (:func:`wide_im2col`). ``x`` and ``w`` share a dtype.
    When ``saved`` is a list, each chunk's columns are appended to it for the backward pass."""
    f, c, kh, kw = w.shape
    n = x.shape[0]
    geo = geometry(x.shape, kh, kw, stride, padding)
    # once for the whole batch; chunks are views of it
    xp = pad(x, padding, geo)
    out = np.empty((n, f, geo.ho, geo.wo), dtype=x.dtype)
    w2d = w.reshape(f, -1)
    for batch in cache_sized_chunks(
        n, c, kh, kw, geo, x.dtype.itemsize, CHUNK_BYTES
    ):
        cols = wide_im2col(xp[batch], kh, kw, stride, geo.ho)
        if saved is not None:
            saved.append(cols)
        # One matmul per chunk: (F, K) @ (K, n*Ho*R) -> (F, n, Ho, R);
        # crop and reorder to NCHW.
        wide = (w2d @ cols).reshape(f, -1, geo.ho, geo.pitch)
        out[batch] = wide[:, :, :, : geo.wo].transpose(1, 0, 2, 3)
    return out


def wide_conv2d_backward(
    dout,
    x,
    w,
    stride: int,
    padding: int,
    need_dx: bool,
    saved: list | None = None,
):
    """``(dx or None, dw)`` of :func:`wide_conv2d`: two matrix products per chunk and
    :func:`col2im_add`. All arrays share a dtype. Without ``dx`` the chunks are those of the
    forward pass, whose columns ``saved`` (its list) are then reused instead of copied again."""
    f, c, kh, kw = w.shape
    n, _, h, wd = x.shape
    geo = geometry(x.shape, kh, kw, stride, padding)
    # with dx the chunks are larger than the forward's
    reuse = saved if saved and not need_dx else None
    xp = None if reuse else pad(x, padding, geo)
    w2d = w.reshape(f, -1)
    dw = np.zeros((f, c * kh * kw), dtype=x.dtype)
    dxp = (
        np.zeros((n, c, geo.rows, geo.pitch), dtype=x.dtype)
        if need_dx
        else None
    )
    budget = COL2IM_CHUNK_BYTES if need_dx else CHUNK_BYTES
    for i, batch in enumerate(
        cache_sized_chunks(n, c, kh, kw, geo, x.dtype.itemsize, budget)
    ):
        cols = (
            reuse[i]
            if reuse
            else wide_im2col(xp[batch], kh, kw, stride, geo.ho)
        )
        if geo.pitch > geo.wo:
            # The garbage columns hold real pixels; zeroed, an inf among
            # them cannot turn their zero gradient into NaN (0 * inf) in dw.
            cols.reshape(cols.shape[0], -1, geo.pitch)[:, :, geo.wo :] = 0
        # Spread dout over the wide (F, n, Ho, R) layout of the columns;
        # garbage columns get zero gradient.
        g = np.zeros(
            (f, cols.shape[1] // (geo.ho * geo.pitch), geo.ho, geo.pitch),
            dtype=x.dtype,
        )
        g[:, :, :, : geo.wo] = dout[batch].transpose(1, 0, 2, 3)
        g = g.reshape(f, -1)
        # dw[f, k] = sum over images and positions p of g[f, p] * cols[k, p]
        # (this operand order is the faster BLAS call here)
        dw += (cols @ g.T).T
        if need_dx:
            # dcols[k, p] = sum_f w[f, k] g[f, p]; then each column entry
            # goes back where it came from.
            col2im_add(w2d.T @ g, dxp[batch], kh, kw, stride, geo.ho)
    dx = (
        np.ascontiguousarray(
            dxp[:, :, padding : padding + h, padding : padding + wd]
        )
        if need_dx
        else None
    )
    return dx, dw.reshape(w.shape)


def multiply_adds(x_shape, w_shape, stride: int, padding: int) -> dict:
    """Real multiply-adds of one forward pass by each fast route that can take it: ``{"im2col": ...}``
    plus, for stride 1, ``"fourier"`` (:func:`cnn_tutorial.fast.fourier.multiply_adds`). A strided
    output would waste most of the Fourier route's work, so it is offered for stride 1 only."""
    (n, c), (f, _, kh, kw) = x_shape[:2], w_shape
    geo = geometry(x_shape, kh, kw, stride, padding)
    # wide columns included
    counts = {"im2col": n * f * c * kh * kw * geo.ho * geo.pitch}
    if stride == 1:
        counts["fourier"] = fourier.multiply_adds(x_shape, w_shape, padding)
    return counts


def _all_finite(*arrays: np.ndarray) -> bool:
    """True when no array holds inf or NaN. One sum per array, without a temporary: a NaN or inf
    makes the sum non-finite (and a sum that merely overflows errs on the safe side)."""
    return all(np.isfinite(array.sum()) for array in arrays)


def choose_route(
    method: str,
    x_shape,
    w_shape,
    stride: int,
    padding: int,
    inputs: tuple = (),
) -> str:
    """The route ``method`` names or, for ``"auto"``, ``"im2col"`` or ``"fourier"``: the one with
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
    counts = multiply_adds(x_shape, w_shape, stride, padding)
    (n, c), f = x_shape[:2], w_shape[0]
    if n * (c + f) <= c * f:
        counts.pop("fourier", None)
    route = min(counts, key=counts.get)
    if route == "fourier" and not _all_finite(*inputs):
        return "im2col"
    return route
