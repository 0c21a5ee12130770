"""Gradient descent and mini-batch SGD on a two-parameter toy problem, and their picture.

The toy problem is a straight line fitted to points ``(x_n, y_n)`` by least squares: the model
``theta[0] + theta[1] * x`` and, over a batch of ``N`` points, the loss

    L(theta) = sum over the batch of (theta[0] + theta[1] * x_n - y_n)**2 / (2 N).

With two parameters the whole loss surface fits in one picture, so the path of each method can be
drawn on its contours. The inputs ``x`` lie in [0, 4], away from 0, so the two parameters pull
against each other and the contours are long, narrow ellipses: the shape that makes plain gradient
descent zigzag. See the chapter "Backpropagation and training in numpy".
"""

from __future__ import annotations

import numpy as np
from bokeh.models import ColumnDataSource
from bokeh.plotting import figure

from .checks import as_float_array
from .params import Array, Integer, Positive, Rule, validate_params

__all__ = [
    "toy_data",
    "loss",
    "gradient",
    "best_fit",
    "gradient_descent",
    "sgd",
    "loss_grid",
    "descent_figure",
]

# One colour per path; each path's line is named after it, so tests can find it.
PATH_COLORS = ("#d95f02", "#1b9e77", "#7570b3")
#: The least-squares minimum: a magenta cross, readable on a light and a dark page.
MINIMUM_COLOR = "#e7298a"


def _theta(name: str, value) -> np.ndarray:
    """The two parameters, intercept and slope, as a float64 array of shape (2,)."""
    theta = as_float_array(name, value).astype(np.float64)
    if theta.shape != (2,):
        raise ValueError(f"{name} must have shape (2,), got {theta.shape}")
    return theta


THETA = Rule(
    _theta,
    bad=[([1.0, 2.0, 3.0], ValueError), (["a", "b"], TypeError)],
    example=np.zeros(2),
)


def _batch_fits(x, batch_size: int) -> None:
    """At least ``batch_size`` points to draw a batch from."""
    if batch_size > len(x):
        raise ValueError(
            f"batch_size must be <= {len(x)} (the number of points), got {batch_size}"
        )


def _paths(name: str, value) -> dict:
    """One to three named paths, one per colour of :data:`PATH_COLORS`."""
    if not isinstance(value, dict):
        raise TypeError(
            f"{name} must be a dict of str to path, got {type(value).__name__}"
        )
    if not 1 <= len(value) <= len(PATH_COLORS):
        raise ValueError(
            f"{name} must hold 1 to {len(PATH_COLORS)} paths, got {len(value)}"
        )
    return value


@validate_params(size=Integer(minimum=2))
def toy_data(
    size: int = 200, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``size`` points near the line ``y = 1 + 0.5 x``, with ``x`` uniform in [0, 4].

    Returns
    -------
    x, y : ndarray of float64, shape (size,)
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 4.0, size)
    y = 1.0 + 0.5 * x + 0.3 * rng.standard_normal(size)
    return x, y


@validate_params(theta=THETA)
def loss(theta, x, y) -> float:
    """Mean squared error over the points, halved: ``mean((theta[0] + theta[1] x - y)**2) / 2``."""
    residual = theta[0] + theta[1] * x - y  # (N,)
    return float(np.mean(residual**2) / 2)


@validate_params(theta=THETA)
def gradient(theta, x, y) -> np.ndarray:
    """The gradient of :func:`loss` with respect to ``theta``: shape (2,).

    ``dL/dtheta[0] = mean(r)`` and ``dL/dtheta[1] = mean(r * x)`` for the residuals
    ``r = theta[0] + theta[1] x - y``.
    """
    residual = theta[0] + theta[1] * x - y  # (N,)
    return np.array([np.mean(residual), np.mean(residual * x)])


def best_fit(x, y) -> np.ndarray:
    """The minimum of :func:`loss`, by least squares: shape (2,)."""
    design = np.stack([np.ones_like(x), x], axis=1)  # (N, 2)
    return np.linalg.lstsq(design, y, rcond=None)[0]


@validate_params(theta=THETA, lr=Positive(), steps=Integer(minimum=0))
def gradient_descent(theta, x, y, lr: float, steps: int) -> np.ndarray:
    """Plain gradient descent, every step on all points: the path, shape (steps + 1, 2)."""
    path = [theta]
    for _ in range(steps):
        theta = theta - lr * gradient(theta, x, y)  # downhill
        path.append(theta)
    return np.array(path)  # (steps + 1, 2)


@validate_params(
    theta=THETA,
    lr=Positive(),
    steps=Integer(minimum=0),
    batch_size=Integer(minimum=1),
    also=[_batch_fits],
)
def sgd(
    theta, x, y, lr: float, steps: int, batch_size: int, seed: int = 0
) -> np.ndarray:
    """Mini-batch SGD: each step on ``batch_size`` points drawn without replacement.

    The points are shuffled once per pass over the data (an epoch) and cut into batches; a last
    batch smaller than ``batch_size`` is skipped. Returns the path, shape (steps + 1, 2).
    """
    rng = np.random.default_rng(seed)
    path = [theta]
    while len(path) <= steps:
        order = rng.permutation(len(x))  # a new order every epoch
        for start in range(0, len(x) - batch_size + 1, batch_size):
            if len(path) > steps:
                break
            batch = order[start : start + batch_size]  # one mini-batch
            theta = theta - lr * gradient(theta, x[batch], y[batch])
            path.append(theta)
    return np.array(path)  # (steps + 1, 2)


@validate_params(theta0=Array("(G0,)"), theta1=Array("(G1,)"))
def loss_grid(x, y, theta0: np.ndarray, theta1: np.ndarray) -> np.ndarray:
    """:func:`loss` at every pair of the grid: shape (len(theta1), len(theta0)), rows along ``theta1``."""
    # residuals of every grid point and data point: (len(theta1), len(theta0), N)
    residual = theta0[None, :, None] + theta1[:, None, None] * x - y
    return np.mean(residual**2, axis=-1) / 2


@validate_params(
    paths=Rule(_paths, bad=[({}, ValueError), ([], TypeError)])
)
def descent_figure(
    x, y, paths: dict, theta0: np.ndarray, theta1: np.ndarray
):
    """The contours of :func:`loss` over the grid ``theta0`` x ``theta1``, and each path on them.

    Parameters
    ----------
    x, y : ndarray of shape (N,)
        The points.
    paths : dict of str to ndarray of shape (steps + 1, 2)
        Name (the legend entry and the line's ``name``) and path of each method, at most three.
    theta0, theta1 : ndarray of shape (G0,), (G1,)
        The grid of the contours.

    Returns
    -------
    bokeh.plotting.figure
    """
    surface = loss_grid(x, y, theta0, theta1)  # (G1, G0)
    lowest = loss(best_fit(x, y), x, y)
    # Levels that double their height above the minimum, so the narrow valley shows.
    levels = lowest + 0.01 * 2.0 ** np.arange(12)
    fig = figure(
        width=560,
        height=440,
        x_axis_label="θ₀ (intercept)",
        y_axis_label="θ₁ (slope)",
        x_range=(theta0[0], theta0[-1]),
        y_range=(theta1[0], theta1[-1]),
        title="Loss contours and the paths of two methods",
    )
    fig.contour(
        theta0, theta1, surface, levels, line_color="#999999", line_width=1
    )
    for (name, path), color in zip(paths.items(), PATH_COLORS):
        source = ColumnDataSource(
            {"theta0": path[:, 0], "theta1": path[:, 1]}
        )
        fig.line(
            "theta0",
            "theta1",
            source=source,
            color=color,
            line_width=2,
            legend_label=name,
            name=name,
        )
        fig.scatter(
            "theta0",
            "theta1",
            source=source,
            color=color,
            size=4,
            legend_label=name,
        )
    minimum = best_fit(x, y)
    fig.scatter(
        [minimum[0]],
        [minimum[1]],
        marker="x",
        size=14,
        line_width=3,
        color=MINIMUM_COLOR,
        legend_label="minimum",
    )
    fig.legend.location = "top_right"
    return fig
