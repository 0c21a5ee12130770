"""Batched, vectorised CNN operations (forward and backward) for training.

Every function takes a whole mini-batch ``x`` of shape ``(N, C, H, W)`` and gives the same numbers as
the matching PyTorch function (``torch.nn.functional.conv2d``, ``max_pool2d``, ``relu``,
``softmax``, ``cross_entropy`` and their autograd gradients). There is no Python loop over images
or pixels.

Convolution has one simple route and two fast ones, all behind :func:`conv2d` and
:func:`conv2d_backward`:

* the **simple** route (``method="simple"``), the one the chapters teach: :func:`im2col` copies
  every window into a column, one matrix product with the flattened filters does the rest; the
  backward pass is two more matrix products and :func:`col2im`, which adds each column gradient
  back where the column was copied from;
* the **fast** routes live in :mod:`cnn_tutorial.fast.conv` (wide-row im2col in cache-sized chunks,
  ``method="im2col"``) and :mod:`cnn_tutorial.fast.fourier` (products of Fourier transforms, stride 1,
  ``method="fourier"``). They give the same numbers up to float rounding.

The default, ``method="auto"``, takes the fast route with fewer multiply-adds; the choice is made
and explained in :func:`cnn_tutorial.fast.conv.choose_route`, and measured in the optional chapter
"Making numpy fast".

Max pooling (:mod:`cnn_tutorial.pooling`), the dense layer and ReLU (:mod:`cnn_tutorial.layers`)
and softmax with cross-entropy (:mod:`cnn_tutorial.losses`) have modules of their own; their
functions are importable from here too, so ``ops.maxpool2d``, ``ops.dense`` or
``ops.cross_entropy`` reach every batched operation from one place.

float32 and float64 inputs keep their dtype; integer inputs are promoted to float64.
"""

from __future__ import annotations

import numpy as np

from .checks import (
    check_allocation,
    check_window_fits,
    output_size,
)
from .fast import conv as fast_conv
from .fast import fourier
from .layers import (
    bias_fits,
    dense,
    dense_backward,
    relu,
    relu_backward,
)
from .losses import (
    cross_entropy,
    cross_entropy_backward,
    log_softmax,
    softmax,
)
from .params import (
    Array,
    Flag,
    Instance,
    Integer,
    OneOf,
    Optional,
    validate_params,
)
from .pooling import maxpool2d, maxpool2d_backward

__all__ = [
    "col2im",
    "conv2d",
    "conv2d_backward",
    "cross_entropy",
    "cross_entropy_backward",
    "dense",
    "dense_backward",
    "im2col",
    "log_softmax",
    "maxpool2d",
    "maxpool2d_backward",
    "relu",
    "relu_backward",
    "softmax",
]


# --------------------------------------------------------------------------- convolution


def im2col(
    x: np.ndarray, kh: int, kw: int, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Copy every ``kh x kw`` window of a batch into the columns of a matrix, one matrix per image.

    ``cols[n, (c, u, v), (i, j)] = xp[n, c, i*stride + u, j*stride + v]``, where ``xp`` is ``x``
    zero-padded by ``padding`` on each side: column ``(i, j)`` is the window of output position
    ``(i, j)``, flattened in the order of a filter ``w[f]`` of shape ``(C, kh, kw)``.

    The loop runs over the ``kh * kw`` offsets ``(u, v)`` inside a window, not over pixels: for a
    fixed offset, element ``(u, v)`` of every window is one strided slice of the padded batch.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
    kh, kw : int
        Window height and width.
    stride : int, default 1
    padding : int, default 0

    Returns
    -------
    cols : ndarray of shape (N, C * kh * kw, Ho * Wo)
        ``Ho = (H + 2*padding - kh) // stride + 1`` and likewise ``Wo``.
    """
    n, c, h, w = x.shape
    ho, wo = (
        output_size(h, kh, stride, padding),
        output_size(w, kw, stride, padding),
    )
    xp = np.pad(
        x, ((0, 0), (0, 0), (padding, padding), (padding, padding))
    )  # (N, C, H+2P, W+2P)
    cols = np.empty((n, c, kh, kw, ho, wo), dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            # Element (u, v) of every window: rows u, u + stride, ...,
            # columns v, v + stride, ...
            cols[:, :, u, v] = xp[
                :,
                :,
                u : u + stride * ho : stride,
                v : v + stride * wo : stride,
            ]
    return cols.reshape(n, c * kh * kw, ho * wo)


def col2im(
    cols: np.ndarray,
    x_shape,
    kh: int,
    kw: int,
    stride: int = 1,
    padding: int = 0,
) -> np.ndarray:
    """Adjoint of :func:`im2col`: add every column entry back onto the input pixel it was copied from.

    A pixel that lies in several windows was copied into several columns, so it collects the sum of
    their entries (the backward pass of "copy" is "add"). Entries that were copied from the padding
    are dropped.

    Parameters
    ----------
    cols : ndarray of shape (N, C * kh * kw, Ho * Wo)
        Gradient with respect to the columns of :func:`im2col`.
    x_shape : (N, C, H, W)
        Shape of the batch the columns were copied from.
    kh, kw, stride, padding : int
        As in :func:`im2col`.

    Returns
    -------
    x : ndarray of shape (N, C, H, W)
    """
    n, c, h, w = x_shape
    ho, wo = (
        output_size(h, kh, stride, padding),
        output_size(w, kw, stride, padding),
    )
    cols = cols.reshape(n, c, kh, kw, ho, wo)
    xp = np.zeros(
        (n, c, h + 2 * padding, w + 2 * padding), dtype=cols.dtype
    )
    for u in range(kh):
        for v in range(kw):
            xp[
                :,
                :,
                u : u + stride * ho : stride,
                v : v + stride * wo : stride,
            ] += cols[:, :, u, v]
    # drop the padding
    return xp[:, :, padding : padding + h, padding : padding + w].copy()


def _simple_conv2d(
    x: np.ndarray, w: np.ndarray, stride: int, padding: int
) -> np.ndarray:
    """:func:`conv2d` without bias by the simple route: :func:`im2col`, then one matrix product.
    ``x`` and ``w`` share a dtype."""
    f, _, kh, kw = w.shape
    n, _, h, wd = x.shape
    ho, wo = (
        output_size(h, kh, stride, padding),
        output_size(wd, kw, stride, padding),
    )
    # (N, K, Ho*Wo) with K = C*kh*kw
    cols = im2col(x, kh, kw, stride, padding)
    out = w.reshape(f, -1) @ cols  # (F, K) @ (N, K, Ho*Wo) -> (N, F, Ho*Wo)
    return out.reshape(n, f, ho, wo)


def _simple_conv2d_backward(
    dout, x, w, stride: int, padding: int, need_dx: bool
):
    """``(dx or None, dw)`` of :func:`_simple_conv2d`: two matrix products and :func:`col2im`.
    All arrays share a dtype."""
    n, f = dout.shape[:2]
    _, _, kh, kw = w.shape
    cols = im2col(x, kh, kw, stride, padding)  # (N, K, L), L = Ho*Wo
    g = dout.reshape(n, f, -1)  # (N, F, L)
    # dw[f, k] = sum over images n and positions l of
    # g[n, f, l] * cols[n, k, l]: (N, F, K) summed over N -> (F, K)
    dw = (g @ cols.transpose(0, 2, 1)).sum(axis=0)
    dx = None
    if need_dx:
        dcols = w.reshape(f, -1).T @ g  # (K, F) @ (N, F, L) -> (N, K, L)
        dx = col2im(dcols, x.shape, kh, kw, stride, padding)  # (N, C, H, W)
    return dx, dw.reshape(w.shape)


METHODS = ("auto", "simple", "im2col", "fourier")


def _conv_fits(x, w, stride, padding, method):
    """The rules that join :func:`conv2d`'s arguments, before anything is allocated."""
    if w.shape[1] != x.shape[1]:
        raise ValueError(
            f"channel mismatch: x has {x.shape[1]} channels (shape {x.shape}) but w expects "
            f"{w.shape[1]} (shape {w.shape})"
        )
    padded = (x.shape[2] + 2 * padding, x.shape[3] + 2 * padding)
    check_window_fits(
        "kernel", w.shape[2:], padded, f"padded input (padding={padding})"
    )
    if method == "fourier" and stride != 1:
        raise ValueError(
            f"method='fourier' needs stride 1, got stride={stride}"
        )
    # A large padding or a large batch asks for huge arrays. The wide-row buffer of the fast
    # route is at least as large as the simple route's padded input.
    (n, c), (f, _, kh, kw) = x.shape[:2], w.shape
    geo = fast_conv.geometry(x.shape, kh, kw, stride, padding)
    dtype = np.result_type(x, w)
    check_allocation(
        f"conv2d's padded input (padding={padding})",
        (n, c, geo.rows, geo.pitch),
        dtype,
    )
    check_allocation("conv2d's output", (n, f, geo.ho, geo.wo), dtype)
    check_allocation(
        "conv2d's columns of one image",
        (c * kh * kw, geo.ho * geo.pitch),
        dtype,
    )
    if method == "simple":
        check_allocation(
            "conv2d's columns", (n, c * kh * kw, geo.ho * geo.wo), dtype
        )


def _dout_fits(dout, x, w, stride, padding):
    """``dout`` has the shape of :func:`conv2d`'s output."""
    f, _, kh, kw = w.shape
    n, _, h, wd = x.shape
    ho, wo = (
        output_size(h, kh, stride, padding),
        output_size(wd, kw, stride, padding),
    )
    if dout.shape != (n, f, ho, wo):
        raise ValueError(
            f"dout must have shape {(n, f, ho, wo)} for x {x.shape} and w {w.shape}, got {dout.shape}"
        )


#: The rules of :func:`conv2d` and :func:`conv2d_backward`.
CONV_RULES = dict(
    saved=Optional(Instance(dict, what="dict (or None)")),
    x=Array("(N, C, H, W)", nonempty="C, H, W"),
    w=Array("(F, C, kh, kw)", nonempty="F, C, kh, kw"),
    stride=Integer(minimum=1),
    padding=Integer(minimum=0),
    method=OneOf(*METHODS),
)


@validate_params(**CONV_RULES, also=[_conv_fits, bias_fits])
def conv2d(
    x,
    w,
    b=None,
    stride: int = 1,
    padding: int = 0,
    *,
    method: str = "auto",
    saved: dict | None = None,
) -> np.ndarray:
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
    method : {"auto", "simple", "im2col", "fourier"}, default "auto"
        How to compute it. ``"simple"``: :func:`im2col` and one matrix product, the route the
        chapters teach. The fast routes of :mod:`cnn_tutorial.fast.conv`: ``"im2col"``, wide-row
        columns in cache-sized chunks, and ``"fourier"``, products of Fourier transforms (stride 1
        only). ``"auto"`` takes the fast route with fewer multiply-adds
        (:func:`cnn_tutorial.fast.conv.choose_route`). All give the same numbers up to rounding.
    saved : dict, optional
        An empty dict to pass on to :func:`conv2d_backward`: the fast routes put in it the work on
        ``x`` that the backward pass would otherwise repeat (the spectra of the Fourier route, the
        columns of the im2col route). ``x`` and ``w`` must not change in between.

    Returns
    -------
    out : ndarray of shape (N, F, Ho, Wo)
        ``Ho = (H + 2*padding - kh) // stride + 1`` and likewise ``Wo``. Matches
        ``torch.nn.functional.conv2d(x, w, b, stride, padding)``.
    """
    dtype = np.result_type(x, w)
    bias = None if b is None else b.astype(dtype)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    route = fast_conv.choose_route(
        method, x.shape, w.shape, stride, padding, (x, w)
    )
    work = None if saved is None or route == "simple" else []
    if route == "simple":
        out = _simple_conv2d(x, w, stride, padding)
    elif route == "fourier":
        out = fourier.correlate(x, w, padding, saved=work)
    else:
        out = fast_conv.wide_conv2d(x, w, stride, padding, saved=work)
    if work is not None:
        saved.clear()
        saved.update(
            route=route, x=x, w=w, stride=stride, padding=padding, work=work
        )
    if bias is not None:
        out += bias[:, None, None]
    return out


def _saved_work(saved, route, x, w, stride, padding):
    """The forward pass's reusable work from ``saved``, or None when it was made for another call."""
    if not saved:
        return None
    same = saved["route"] == route and saved["x"] is x and saved["w"] is w
    return (
        saved["work"]
        if (
            same
            and (saved["stride"], saved["padding"]) == (stride, padding)
        )
        else None
    )


@validate_params(
    **CONV_RULES,
    dout=Array("(N, F, Ho, Wo)"),
    need_dx=Flag(),
    also=[_conv_fits, _dout_fits],
)
def conv2d_backward(
    dout,
    x,
    w,
    stride: int = 1,
    padding: int = 0,
    *,
    need_dx: bool = True,
    method: str = "auto",
    saved: dict | None = None,
):
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
    method : {"auto", "simple", "im2col", "fourier"}, default "auto"
        As in :func:`conv2d`.
    saved : dict, optional
        The ``saved`` dict of the forward call: its work is reused when the backward pass takes the
        same route on the same ``x`` and ``w`` (the same array objects); otherwise it is ignored.

    Returns
    -------
    dx : ndarray of shape (N, C, H, W), or None when ``need_dx`` is False
    dw : ndarray of shape (F, C, kh, kw)
        ``dw[f] = sum over n and output positions of dout[n, f, i, j] * (window of x at i, j)``.
    db : ndarray of shape (F,)
        ``dout`` summed over the batch and both spatial axes.
    """
    dtype = np.result_type(dout, x, w)
    dout, x, w = (a.astype(dtype, copy=False) for a in (dout, x, w))
    route = fast_conv.choose_route(
        method, x.shape, w.shape, stride, padding, (dout, x, w)
    )
    work = _saved_work(saved, route, x, w, stride, padding)
    if route == "simple":
        dx, dw = _simple_conv2d_backward(
            dout, x, w, stride, padding, need_dx
        )
    elif route == "fourier":
        dx, dw = fourier.correlate_backward(
            dout, x, w, padding, need_dx, saved=work
        )
    else:
        dx, dw = fast_conv.wide_conv2d_backward(
            dout, x, w, stride, padding, need_dx, saved=work
        )
    return dx, dw, dout.sum(axis=(0, 2, 3))
