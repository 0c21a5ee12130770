"""Max pooling of a batch, forward and backward, as PyTorch computes it.

``x`` is a whole mini-batch of shape ``(N, C, H, W)``. The loops run over the few offsets inside a
window (not over pixels), comparing and routing whole-batch strided views. The results equal
``torch.nn.functional.max_pool2d`` and its autograd gradient, NaN included. float32 and float64
inputs keep their dtype; integer inputs are promoted to float64.

Part of the batched operations: :mod:`cnn_tutorial.ops` re-exports both functions.
"""

from __future__ import annotations

import numpy as np

from .checks import check_window_fits, output_size
from .params import AnyArray, Array, Integer, validate_params

__all__ = ["maxpool2d", "maxpool2d_backward"]


def _window_fits(x, size):
    """The pooling window fits the input."""
    check_window_fits("pool window", (size, size), x.shape[2:], "input")


def _dout_fits(dout, x, size, stride):
    """``dout`` has the shape of :func:`maxpool2d`'s output."""
    n, c, h, w = x.shape
    ho, wo = output_size(h, size, stride), output_size(w, size, stride)
    if dout.shape != (n, c, ho, wo):
        raise ValueError(
            f"dout must have shape {(n, c, ho, wo)} for x {x.shape}, got {dout.shape}"
        )


#: The rules of :func:`maxpool2d` and :func:`maxpool2d_backward`.
POOL_RULES = dict(
    x=Array("(N, C, H, W)", nonempty="C, H, W"),
    size=Integer(minimum=1),
    stride=Integer(minimum=1),
)


def _window_offsets(x: np.ndarray, size: int, stride: int):
    """For each offset ``(u, v)`` inside a window, in row-major order, the strided view of ``x`` that
    holds element ``(u, v)`` of every window: ``(offset index, slices)`` with views of shape
    ``(N, C, Ho, Wo)``. Looping over the ``size**2`` offsets (not over pixels) keeps every step a
    whole-batch array operation."""
    ho, wo = (
        output_size(x.shape[2], size, stride),
        output_size(x.shape[3], size, stride),
    )
    for u in range(size):
        for v in range(size):
            yield (
                u * size + v,
                (
                    slice(None),
                    slice(None),
                    slice(u, u + stride * (ho - 1) + 1, stride),
                    slice(v, v + stride * (wo - 1) + 1, stride),
                ),
            )


@validate_params(**POOL_RULES, also=[_window_fits])
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
    out = None
    for _, window_element in _window_offsets(x, size, stride):
        out = (
            x[window_element].copy()
            if out is None
            else np.maximum(out, x[window_element], out=out)
        )
    return out


def _winner_offset(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    """Index ``u * size + v`` of every window's winner, as PyTorch picks it: int8 or int32 array
    ``(N, C, Ho, Wo)``.

    The winner is the first maximum in row-major order, or, when the window holds NaN, its last NaN
    (PyTorch's kernel moves on when an entry is larger or is NaN; see ``loops.pool_winner``).
    """
    best, index = None, None
    for k, window_element in _window_offsets(x, size, stride):
        candidate = x[window_element]
        if best is None:
            best = candidate.copy()
            index = np.zeros(
                best.shape, dtype=np.int8 if size * size < 128 else np.int32
            )
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


@validate_params(
    **POOL_RULES, dout=AnyArray(), also=[_window_fits, _dout_fits]
)
def maxpool2d_backward(
    dout, x, size: int = 2, stride: int = 2
) -> np.ndarray:
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
    winner = _winner_offset(x, size, stride)
    dx = np.zeros(x.shape, dtype=np.result_type(x, dout))
    for k, window_element in _window_offsets(x, size, stride):
        # Within one offset the windows touch distinct pixels, so += never collides; across
        # offsets (overlapping windows) it adds up, as the chain rule requires.
        # np.where, not dout * (winner == k): an infinite gradient times False would be NaN.
        dx[window_element] += np.where(winner == k, dout, 0.0)
    return dx
