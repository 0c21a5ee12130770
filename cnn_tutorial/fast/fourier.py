"""Convolution through the discrete Fourier transform: one of the fast routes of
:func:`cnn_tutorial.ops.conv2d` (``method="fourier"``), taken by default for wide stride-1 layers.

The convolution theorem turns a convolution into a product: transform the padded image and the
filter, multiply the spectra frequency by frequency, transform back. A deep-learning "convolution"
is a cross-correlation, ``y[i] = sum_u w[u] xp[i + u]``, and for it the theorem reads
``Y = X * conj(W)`` (``X``, ``W``, ``Y`` the transforms of ``xp``, ``w``, ``y``).

The transforms are *circular*: an index that runs past the end wraps to the start. With stride 1
and a transform of exactly the padded size ``Hp x Wp``, every valid output position reads
``i + u <= Hp - 1``, so nothing wraps and the circular result *is* the convolution.

For the small images of a CNN (14 x 14, 28 x 28) the transforms are done as matrix products with
precomputed DFT matrices, not with an FFT: two BLAS calls transform a whole batch, and the padding
and the cropping are folded into the matrices. In the frequency domain the sum over input channels
becomes, for each frequency, one small complex matrix product ``(N, C) @ (C, F)``.

The functions here trust their inputs; :func:`cnn_tutorial.ops.conv2d` and
:func:`cnn_tutorial.ops.conv2d_backward` validate them, and
:func:`cnn_tutorial.fast.conv.choose_route` chooses this route when it needs fewer multiplications
(:func:`multiply_adds`). The optional chapter "Making numpy fast" derives and measures it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..batching import batch_slices
from ..checks import check_allocation

__all__ = [
    "dft2",
    "idft2",
    "correlate",
    "correlate_backward",
    "multiply_adds",
]


def _half(size: int) -> int:
    """Frequencies kept along the last axis: a real signal's spectrum repeats itself (conjugated)
    above ``size // 2``."""
    return size // 2 + 1


def _frozen(matrix: np.ndarray) -> np.ndarray:
    """Make a cached matrix read-only, so that no caller can change it for the next one."""
    matrix.flags.writeable = False
    return matrix


@lru_cache(maxsize=128)
def _row_dft(
    length: int, size: int, offset: int, dtype: np.dtype
) -> np.ndarray:
    """Real matrix of shape (length, 2 * half): ``a @ M`` is the spectrum of real rows ``a`` of
    ``length`` numbers placed at ``offset`` in rows of ``size``, as (real, imaginary) pairs."""
    angle = (
        2
        * np.pi
        * np.outer(np.arange(length) + offset, np.arange(_half(size)))
        / size
    )
    matrix = np.stack(
        [np.cos(angle), -np.sin(angle)], axis=-1
    )  # e^{-i angle}
    return _frozen(matrix.reshape(length, -1).astype(dtype))


@lru_cache(maxsize=128)
def _column_dft(
    length: int, size: int, offset: int, dtype: np.dtype
) -> np.ndarray:
    """Complex matrix of shape (size, length): ``M @ a`` transforms columns of ``length`` numbers
    placed at ``offset`` in columns of ``size``."""
    return _frozen(
        np.exp(
            -2j
            * np.pi
            * np.outer(np.arange(size), np.arange(length) + offset)
            / size
        ).astype(dtype)
    )


@lru_cache(maxsize=128)
def _column_idft(
    count: int, size: int, start: int, dtype: np.dtype
) -> np.ndarray:
    """Complex matrix of shape (count, size): inverse transform along columns, keeping only
    positions ``start .. start + count - 1``."""
    return _frozen(
        np.exp(
            2j
            * np.pi
            * np.outer(np.arange(start, start + count), np.arange(size))
            / size
        ).astype(dtype)
    )


@lru_cache(maxsize=128)
def _row_idft(
    count: int, size: int, start: int, scale: float, dtype: np.dtype
) -> np.ndarray:
    """Real matrix of shape (2 * half, count): from (real, imaginary) pairs of a half spectrum to
    positions ``start .. start + count - 1`` of real rows, times ``scale``.

    Frequency ``l`` stands for itself and for its mirror ``size - l``, whose coefficient is the
    conjugate, so it counts twice; ``l = 0`` and, for even sizes, ``l = size / 2`` are their own mirror.
    """
    freq = np.arange(_half(size))
    weight = np.where((freq == 0) | (2 * freq == size), 1.0, 2.0) * scale
    angle = (
        2 * np.pi * np.outer(freq, np.arange(start, start + count)) / size
    )
    # Re(z e^{i angle}) = Re(z) cos(angle) - Im(z) sin(angle)
    matrix = (
        np.stack([np.cos(angle), -np.sin(angle)], axis=1)
        * weight[:, None, None]
    )
    return _frozen(matrix.reshape(-1, count).astype(dtype))


def dft2(
    a: np.ndarray, size: tuple[int, int], offset: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """2-D discrete Fourier transform of a stack of real images, each placed in a zero grid.

    ``A[k, l] = sum_{r, s} a[r, s] exp(-2 pi i (k (r + offset_h) / S + l (s + offset_w) / T))``

    Parameters
    ----------
    a : ndarray of shape (B, h, w), real
        Images; each sits at ``offset`` in a zero grid of ``size = (S, T)``. float16 is
        transformed in float32.
    size : (S, T)
        Transform size.
    offset : (int, int)
        Where the images' top-left corner sits in the grid (the zero padding before it).

    Returns
    -------
    spectrum : ndarray of shape (S, T // 2 + 1, B), complex
        Frequency-major, so that each frequency's values for the whole batch are one matrix.
        Frequencies ``l > T // 2`` are left out: for real images they are conjugates of kept ones.
    """
    b, h, w = a.shape
    # complex64 for float16 and float32
    complex_type = np.result_type(a.dtype, np.complex64)
    a = a.astype(np.finfo(complex_type).dtype, copy=False)
    # Rows first (a real matrix product); pairs (re, im) viewed as complex
    # numbers: (B, h, half).
    rows = (
        a.reshape(b * h, w) @ _row_dft(w, size[1], offset[1], a.dtype)
    ).view(complex_type)
    rows = np.ascontiguousarray(
        rows.reshape(b, h, -1).transpose(1, 2, 0)
    )  # (h, half, B)
    # Then columns: one complex product for every image and frequency at
    # once.
    spectrum = _column_dft(
        h, size[0], offset[0], complex_type
    ) @ rows.reshape(h, -1)
    return spectrum.reshape(size[0], -1, b)


def idft2(
    spectrum: np.ndarray,
    size: tuple[int, int],
    start: tuple[int, int],
    count: tuple[int, int],
) -> np.ndarray:
    """Window of the inverse 2-D transform: the real images whose :func:`dft2` is ``spectrum``, but
    only rows ``start[0] ..`` and columns ``start[1] ..`` (``count`` of each).

    Parameters
    ----------
    spectrum : ndarray of shape (S, T // 2 + 1, B), complex
        Half spectra, as :func:`dft2` returns them (or products of them).
    size : (S, T)
        Transform size.
    start, count : (int, int)
        The window to compute. Positions outside it are never computed: this is the crop.

    Returns
    -------
    images : ndarray of shape (B, count[0], count[1]), real
    """
    s, half, b = spectrum.shape
    real_type = np.finfo(spectrum.dtype).dtype  # float32 for complex64
    # Columns first (a complex product), only the rows of the window: (count_h, half * B).
    cols = _column_idft(
        count[0], size[0], start[0], spectrum.dtype
    ) @ spectrum.reshape(s, -1)
    cols = np.ascontiguousarray(
        cols.reshape(count[0], half, b).transpose(2, 0, 1)
    )  # (B, count_h, half)
    # Then rows: (re, im) pairs times a real matrix that keeps only the window's columns.
    rows = _row_idft(
        count[1], size[1], start[1], 1.0 / (size[0] * size[1]), real_type
    )
    return (
        cols.view(real_type).reshape(b * count[0], 2 * half) @ rows
    ).reshape(b, count[0], count[1])


def _sizes(x_shape, w_shape, padding: int):
    """Transform size (the padded input) and output size of a stride-1 convolution."""
    (h, w), (kh, kw) = x_shape[2:], w_shape[2:]
    size = (h + 2 * padding, w + 2 * padding)
    return size, (size[0] - kh + 1, size[1] - kw + 1)


def _check_spectra_fit(
    size: tuple[int, int], w_shape, dtype: np.dtype
) -> None:
    """Refuse sizes whose filter spectra, the largest array this route keeps, would pass the
    package's allocation ceiling (:data:`cnn_tutorial.checks.MAX_ARRAY_BYTES`)."""
    f, c = w_shape[:2]
    complex_type = np.result_type(dtype, np.complex64)
    check_allocation(
        "the Fourier route's filter spectra",
        (size[0] * _half(size[1]), c, f),
        complex_type,
    )


# Images are transformed a chunk at a time so that memory stays bounded for any batch size. The
# largest spectrum of a chunk holds about this many bytes; measured: larger chunks stop paying off
# once the spectra no longer fit the cache.
_CHUNK_BYTES = 16 << 20


def _chunks(n: int, channels: int, size: tuple[int, int], itemsize: int):
    """Slices of the batch axis whose spectra of ``channels`` channels hold about ``_CHUNK_BYTES`` each."""
    per_image = channels * size[0] * _half(size[1]) * 2 * itemsize
    return batch_slices(n, max(1, _CHUNK_BYTES // per_image))


def _block_spectra(
    a: np.ndarray, size: tuple[int, int], offset: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """Spectra of a stack ``(N, C, h, w)`` as one ``(N, C)`` block per frequency: shape (S * half, N, C)."""
    n, c = a.shape[:2]
    return dft2(a.reshape(n * c, *a.shape[2:]), size, offset).reshape(
        -1, n, c
    )


def _block_images(
    blocks: np.ndarray,
    size: tuple[int, int],
    start: tuple[int, int],
    count: tuple[int, int],
):
    """Inverse of :func:`_block_spectra`, windowed as in :func:`idft2`: (S * half, N, C) -> (N, C, *count)."""
    _, n, c = blocks.shape
    return idft2(
        blocks.reshape(size[0], -1, n * c), size, start, count
    ).reshape(n, c, *count)


def correlate(
    x: np.ndarray, w: np.ndarray, padding: int, saved: list | None = None
) -> np.ndarray:
    """Stride-1 convolution (cross-correlation) of a batch, without bias, through the DFT.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
    w : ndarray of shape (F, C, kh, kw), same dtype as ``x``
    padding : int
    saved : list, optional
        When given, the spectra of ``x``, one array per chunk of images, are appended to it for
        :func:`correlate_backward`, which needs them again.

    Returns
    -------
    out : ndarray of shape (N, F, Ho, Wo)
        ``Ho = H + 2 * padding - kh + 1``; equal to :func:`cnn_tutorial.ops.conv2d` up to rounding.
    """
    (n, c), f = x.shape[:2], w.shape[0]
    size, out_size = _sizes(x.shape, w.shape, padding)
    _check_spectra_fit(size, w.shape, x.dtype)
    # (freqs, C, F): the filters
    ws = _block_spectra(w.transpose(1, 0, 2, 3), size).conj()
    out = np.empty((n, f, *out_size), dtype=x.dtype)
    for batch in _chunks(n, max(c, f), size, x.dtype.itemsize):
        # (freqs, n, C): the padded input
        xs = _block_spectra(x[batch], size, (padding, padding))
        if saved is not None:
            saved.append(xs)
        # Y = X conj(W), summed over input channels: one (n, C) @ (C, F)
        # product per frequency.
        out[batch] = _block_images(xs @ ws, size, (0, 0), out_size)
    return out


def correlate_backward(
    dout: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    padding: int,
    need_dx: bool = True,
    saved: list | None = None,
):
    """Input and filter gradients of :func:`correlate`, through the DFT.

    With ``D`` the transform of ``dout`` (placed at the top-left of the padded grid):

    * ``dxp[a] = sum_i dout[i] w[a - i]`` is a convolution, so its transform is ``D W``, summed over
      filters; ``dx`` is its window ``padding .. padding + H - 1``;
    * ``dw[u] = sum_n sum_i dout[i] xp[i + u]`` is a correlation, so its transform is
      ``conj(D) X``, summed over images; ``dw`` is its window ``0 .. kh - 1``.

    Parameters
    ----------
    dout : ndarray of shape (N, F, Ho, Wo)
    x : ndarray of shape (N, C, H, W)
    w : ndarray of shape (F, C, kh, kw)
    padding : int
    need_dx : bool, default True
    saved : list, optional
        The spectra of ``x`` that :func:`correlate` saved: not computed again.

    Returns
    -------
    dx : ndarray of shape (N, C, H, W), or None when ``need_dx`` is False
    dw : ndarray of shape (F, C, kh, kw)
    """
    (n, c, h, wd), (f, _, kh, kw) = x.shape, w.shape
    size, _ = _sizes(x.shape, w.shape, padding)
    _check_spectra_fit(size, w.shape, x.dtype)
    ws = _block_spectra(w, size)  # (freqs, F, C)
    dx = np.empty(x.shape, dtype=x.dtype) if need_dx else None
    # conj of the (C, F) blocks of dw's transform
    dws = np.zeros((ws.shape[0], c, f), dtype=ws.dtype)
    for i, batch in enumerate(
        _chunks(n, max(c, f), size, x.dtype.itemsize)
    ):
        # The forward pass's spectra of x, or the same computed again:
        # (freqs, n, C).
        xs = (
            saved[i]
            if saved
            else _block_spectra(x[batch], size, (padding, padding))
        )
        ds = _block_spectra(dout[batch], size)  # (freqs, n, F)
        if need_dx:
            dx[batch] = _block_images(
                ds @ ws, size, (padding, padding), (h, wd)
            )
        # conj(X)^T D = conj(conj(D)^T X)^T
        dws += xs.conj().transpose(0, 2, 1) @ ds
    dw = _block_images(dws.conj(), size, (0, 0), (kh, kw))  # (C, F, kh, kw)
    return dx, np.ascontiguousarray(dw.transpose(1, 0, 2, 3), dtype=x.dtype)


def multiply_adds(x_shape, w_shape, padding: int) -> int:
    """Real multiply-adds of one :func:`correlate` call, to compare with the direct route's.

    Parameters
    ----------
    x_shape : (N, C, H, W)
    w_shape : (F, C, kh, kw)
    padding : int

    Returns
    -------
    int
        Transforms of the ``N C`` input channels and the ``C F`` filters, the products (a complex
        multiply-add counts as four real ones) and the inverse transform of the ``N F`` outputs.
    """
    (n, c, h, w), (f, _, kh, kw) = x_shape, w_shape
    (s, t), (ho, wo) = _sizes(x_shape, w_shape, padding)
    half = _half(t)

    def forward(
        images, rows, cols
    ):  # rows as a real product, then columns as a complex one
        return images * rows * (cols * 2 * half + 4 * s * half)

    def inverse(images, rows, cols):
        return images * rows * (4 * s * half + 2 * half * cols)

    return (
        forward(n * c, h, w)
        + forward(c * f, kh, kw)
        + 4 * s * half * n * c * f
        + inverse(n * f, ho, wo)
    )
