"""Cutting a long axis into consecutive pieces, for working through a large array a piece at a time.

A utility beside :mod:`cnn_tutorial.checks`: the math kernels (:mod:`~cnn_tutorial.ops`,
:mod:`~cnn_tutorial.fast.fourier`) and the networks use it without importing the data module.
"""

from __future__ import annotations


def batch_slices(n: int, batch_size: int) -> list[slice]:
    """Slices ``0:batch_size``, ``batch_size:2*batch_size``, ... covering ``n`` samples in order.

    Parameters
    ----------
    n : int
        Length of the axis, at least 0.
    batch_size : int
        Length of each piece, at least 1; the last piece may be shorter.

    Returns
    -------
    list of slice
        ``ceil(n / batch_size)`` slices; empty for ``n == 0``.
    """
    return [
        slice(start, start + batch_size)
        for start in range(0, n, batch_size)
    ]
