"""The checks that the rules of :mod:`cnn_tutorial.params` are made of.

Functions declare their arguments' rules above themselves instead of calling these; only
:func:`check_allocation`, for sizes a function computes, is called from bodies. Every check
raises ``TypeError`` or ``ValueError`` with a message that names the argument and shows the shape
or value it got. They are ordinary ``if``/``raise`` statements, not ``assert`` (which ``python
-O`` removes).
"""

from __future__ import annotations

import math
import numbers
import os
import sys

import numpy as np


def as_float_array(name: str, value) -> np.ndarray:
    """Return ``value`` as an ndarray of floats.

    float32 and float64 arrays pass through unchanged (same dtype, no copy); integer and boolean
    arrays become float64. Anything else (strings, objects, complex) raises ``TypeError``.
    """
    array = np.asarray(value)
    if array.dtype.kind == "f":
        return array
    if array.dtype.kind in "biu":
        return array.astype(np.float64)
    raise TypeError(
        f"{name} must be a real numeric array, got dtype {array.dtype}"
    )


def check_ndim(
    name: str, array: np.ndarray, ndim: int, layout: str
) -> None:
    """Raise ``ValueError`` unless ``array`` has ``ndim`` dimensions; ``layout`` names them, e.g.
    ``"(N, C, H, W)"``.
    """
    if array.ndim != ndim:
        raise ValueError(
            f"{name} must be a {ndim}-D array of shape {layout}, got shape {array.shape}"
        )


def check_no_empty_axes(
    name: str, array: np.ndarray, layout: str, axes: tuple[int, ...]
) -> None:
    """Raise ``ValueError`` if ``array`` has length 0 along any of ``axes``.

    ``layout`` names the axes, e.g. ``"(F, C, kh, kw)"``: a filter bank with no filters, no channels
    or a 0x0 window computes nothing and would only fail later with a less clear error.
    """
    names = layout.strip("()").split(", ")
    empty = [names[axis] for axis in axes if array.shape[axis] == 0]
    if empty:
        raise ValueError(
            f"{name} must have at least 1 entry along {', '.join(empty)}; got shape {array.shape} {layout}"
        )


#: The largest array (4 GiB) an operation allocates from sizes it was given (padding, a file's
#: header, ...). Above it, the sizes are far more likely a mistake than a wish, and the reader
#: gets a message instead of minutes of swapping or a crash. Raise it if you really need more.
MAX_ARRAY_BYTES = 4 << 30


def check_allocation(what: str, shape: tuple[int, ...], dtype) -> None:
    """Raise ``ValueError`` if an array of ``shape`` and ``dtype`` would hold more than
    :data:`MAX_ARRAY_BYTES`.

    Called before allocating; ``what`` says which array, e.g. ``"conv2d's padded input"``.
    """
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    if nbytes > MAX_ARRAY_BYTES:
        raise ValueError(
            f"{what} would need an array of shape {tuple(shape)}, {_readable_bytes(nbytes)}, more than the "
            f"ceiling of {_readable_bytes(MAX_ARRAY_BYTES)} "
            "(cnn_tutorial.checks.MAX_ARRAY_BYTES); check the sizes"
        )


def _readable_bytes(nbytes: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} bytes"


def check_int(name: str, value, minimum: int) -> int:
    """Return ``value`` as ``int`` if it is an integer ``>= minimum``, else raise
    ``TypeError``/``ValueError``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{name} must be an integer, got {value!r} of type {type(value).__name__}"
        )
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_real(name: str, value) -> float:
    """Return ``value`` as ``float`` if it is a real number (not a bool), else raise ``TypeError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a number, got {value!r} of type {type(value).__name__}"
        )
    return float(value)


def check_positive_float(name: str, value) -> float:
    """Return ``value`` as ``float`` if it is a real number, positive and finite, else raise
    ``TypeError``/``ValueError``.
    """
    value = check_real(name, value)
    if not 0 < value < float("inf"):
        raise ValueError(
            f"{name} must be a positive finite number, got {value}"
        )
    return value


def check_window_fits(
    name: str, window: tuple[int, int], spatial: tuple[int, int], what: str
) -> None:
    """Raise ``ValueError`` if a ``window`` (height, width) is larger than the ``spatial`` (height,
    width) it slides over.
    """
    if window[0] > spatial[0] or window[1] > spatial[1]:
        raise ValueError(
            f"{name} {window[0]}x{window[1]} is larger than the {what} {spatial[0]}x{spatial[1]}"
        )


def output_size(
    size: int, window: int, stride: int, padding: int = 0
) -> int:
    """Number of window positions along one axis: ``(size + 2 * padding - window) // stride + 1``.

    Windows that would run past the (padded) edge are dropped, as in PyTorch.
    """
    return (size + 2 * padding - window) // stride + 1


def check_bias(bias, n_filters: int, name: str = "bias") -> np.ndarray:
    """Return ``bias`` flattened to shape ``(F,)``; accepts ``(F,)`` or ``(F, 1)``."""
    bias = as_float_array(name, bias)
    if bias.shape not in ((n_filters,), (n_filters, 1)):
        raise ValueError(
            f"{name} must have shape ({n_filters},) or ({n_filters}, 1) to match {n_filters} filters, "
            f"got shape {bias.shape}"
        )
    return bias.reshape(n_filters)


PROGRESS_ENV_VAR = "CNN_TUTORIAL_PROGRESS"


def check_progress(progress, name: str = "progress") -> bool:
    """Whether to show a progress bar: ``progress`` itself; when it is None, ``$CNN_TUTORIAL_PROGRESS``
    (``"0"`` or ``"1"``) when set, else whether someone is likely watching: stderr is a terminal,
    or the code runs in a Jupyter kernel (a live notebook). The scripts that execute the chapters
    to store or test their outputs set the variable to ``"0"``."""
    if progress is None:
        setting = os.environ.get(PROGRESS_ENV_VAR, "")
        if setting in ("0", "1"):
            return setting == "1"
        return (
            sys.stderr is not None and sys.stderr.isatty()
        ) or "ipykernel" in sys.modules
    if not isinstance(progress, bool):
        raise TypeError(
            f"{name} must be None, True or False, got {progress!r}"
        )
    return progress
