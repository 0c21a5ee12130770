"""Finite-difference gradient checking.

A backward pass is easy to get subtly wrong and hard to debug by reading. The check here needs no
calculus: nudge one input entry by ``+eps`` and ``-eps``, see how a scalar loss moves, and compare
that slope with the analytic gradient,

``dL/dx_i  ~=  (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)``,

whose error shrinks like ``eps**2``. In float64 with ``eps = 1e-6`` a correct gradient typically
agrees to about 1e-9 relative error; a wrong one is off by order 1.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .checks import as_float_array
from .params import (
    AnyArray,
    Integer,
    Optional,
    Positive,
    Rule,
    validate_params,
)

__all__ = ["numerical_gradient", "relative_error", "gradcheck"]


def _float64(name: str, x) -> np.ndarray:
    """``x`` as an array, which must already be float64 (no copy: it is perturbed in place)."""
    x = np.asarray(x)
    if x.dtype != np.float64:
        raise TypeError(
            f"{name} must be float64 for a finite-difference check (float32 rounding swamps the "
            f"difference quotient), got dtype {x.dtype}"
        )
    return x


#: The point of a finite-difference check: float64, nothing coarser.
FLOAT64 = Rule(
    _float64,
    bad=[(np.zeros(2, dtype=np.float32), TypeError)],
    example=np.zeros(2),
)


def _perturbable(x):
    """``x`` can be perturbed in place, so ``f`` sees each nudge."""
    if not (x.flags.c_contiguous and x.flags.writeable):
        raise ValueError(
            "x must be a writeable C-contiguous array: it is perturbed in place"
        )


@validate_params(x=FLOAT64, eps=Positive(), also=[_perturbable])
def numerical_gradient(
    f: Callable[[np.ndarray], float], x, eps: float = 1e-6, indices=None
) -> np.ndarray:
    """Central-difference estimate of the gradient of a scalar function.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``; it is called with ``x`` modified in place, so it must read ``x`` afresh
        each call (not cache it).
    x : ndarray of float64, any shape
        The point at which to differentiate. Restored exactly on return.
    eps : float, default 1e-6
        Step size.
    indices : sequence of int, optional
        Flat indices of the entries to estimate (all entries when omitted); the others stay 0.

    Returns
    -------
    grad : ndarray, same shape as ``x``
    """
    grad = np.zeros_like(x)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    for i in range(x.size) if indices is None else indices:
        original = flat_x[i]
        flat_x[i] = original + eps
        f_plus = float(f(x))
        flat_x[i] = original - eps
        f_minus = float(f(x))
        flat_x[i] = original
        flat_grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def _as_float64(name, value) -> np.ndarray:
    """A real array as float64."""
    return as_float_array(name, value).astype(np.float64, copy=False)


def _shapes_match(analytic, numeric):
    """The two gradients have one shape."""
    if analytic.shape != numeric.shape:
        raise ValueError(
            f"analytic gradient shape {analytic.shape} differs from numeric shape {numeric.shape}"
        )


GRADIENT = Rule(
    _as_float64,
    bad=[(np.array(["a"] * 2), TypeError)],
    example=np.zeros(2),
)


@validate_params(analytic=GRADIENT, numeric=GRADIENT, also=[_shapes_match])
def relative_error(analytic, numeric) -> float:
    """``||a - n|| / max(||a|| + ||n||, tiny)``: 0 for identical gradients, about 1 for unrelated ones.

    A norm-based ratio rather than an element-wise one, so entries that are both nearly zero do not
    blow the error up.
    """
    denominator = max(
        np.linalg.norm(analytic) + np.linalg.norm(numeric),
        np.finfo(np.float64).tiny,
    )
    return float(np.linalg.norm(analytic - numeric) / denominator)


def _analytic_fits(x, analytic):
    """The analytic gradient has the shape of ``x``."""
    if analytic.shape != x.shape:
        raise ValueError(
            f"analytic gradient shape {analytic.shape} differs from x shape {x.shape}"
        )


@validate_params(
    x=FLOAT64,
    analytic=AnyArray(),
    samples=Optional(Integer(minimum=1)),
    also=[_analytic_fits],
)
def gradcheck(
    f: Callable[[np.ndarray], float],
    x,
    analytic,
    eps: float = 1e-6,
    samples: int | None = None,
    seed: int = 0,
) -> float:
    """Compare an analytic gradient with finite differences; return the relative error.

    Parameters
    ----------
    f : callable
        Scalar function ``f(x) -> float`` whose gradient at ``x`` is claimed to be ``analytic``.
    x : ndarray of float64
    analytic : ndarray, same shape as ``x``
        The gradient computed by a backward pass.
    eps : float, default 1e-6
    samples : int, optional
        Check only this many randomly chosen entries (useful for large arrays); all when omitted.
    seed : int, default 0
        Seed for choosing the sampled entries.

    Returns
    -------
    float
        :func:`relative_error` over the checked entries. Below about 1e-7 means the gradient is right.
    """
    if samples is None or samples >= x.size:
        indices = np.arange(x.size)
    else:
        indices = np.random.default_rng(seed).choice(
            x.size, size=samples, replace=False
        )
    numeric = numerical_gradient(f, x, eps, indices)
    return relative_error(
        analytic.reshape(-1)[indices], numeric.reshape(-1)[indices]
    )
