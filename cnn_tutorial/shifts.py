"""The shift experiment of the chapter "Why convolutions": a dense network and a small CNN, both
trained on MNIST as it comes (every digit centred), tested on digits moved by whole pixels.

* :func:`shift_images` moves images by whole pixels, filling the uncovered border with zeros (the
  background of a raw MNIST image);
* :class:`SmallCNN` is the smallest CNN worth the name: one convolution, ReLU, max pooling and a
  dense layer, built from :mod:`cnn_tutorial.ops`;
* :func:`accuracy_by_shift` tests a network on digits shifted by 0, 1, 2, ... pixels, each in a
  random direction, and :func:`plot_accuracy_by_shift` draws the result.
"""

from __future__ import annotations

import numpy as np
from bokeh.models import HoverTool, Range1d
from bokeh.plotting import figure

from . import ops
from .data import normalize
from .dense import Classifier
from .params import Integer, validate_params
from .seeds import run_streams

__all__ = [
    "DIRECTIONS",
    "shift_images",
    "shift_randomly",
    "SmallCNN",
    "accuracy_by_shift",
    "plot_accuracy_by_shift",
    "SHIFT_COLORS",
]

# One pixel right, left, down, up, as (rows, columns).
DIRECTIONS = ((0, 1), (0, -1), (1, 0), (-1, 0))

SHIFT_COLORS = ("#1f77b4", "#d95f02", "#1b9e77", "#7570b3")


def _span(step: int, size: int) -> tuple[slice, slice]:
    """Where the pixels of one axis come from and go to when they move by ``step``."""
    if step >= 0:
        return slice(0, size - step), slice(step, size)
    return slice(-step, size), slice(0, size + step)


def shift_images(images: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Move every image ``rows`` pixels down and ``columns`` pixels right (negative: up, left).

    Pixels moved past the border are lost; the uncovered ones are 0.

    Parameters
    ----------
    images : ndarray of shape (..., H, W)
    rows, columns : int

    Returns
    -------
    ndarray, same shape and dtype as ``images``
    """
    height, width = images.shape[-2:]
    out = np.zeros_like(images)
    if abs(rows) >= height or abs(columns) >= width:
        return out
    (rows_from, rows_to), (columns_from, columns_to) = (
        _span(rows, height),
        _span(columns, width),
    )
    out[..., rows_to, columns_to] = images[..., rows_from, columns_from]
    return out


@validate_params(distance=Integer(minimum=0))
def shift_randomly(
    images: np.ndarray, distance: int, seed: int = 0
) -> np.ndarray:
    """Move each image of ``images`` (N, H, W) by ``distance`` pixels right, left, down or up, the
    direction drawn at random for each image (seeded). Shape and dtype kept."""
    direction = np.random.default_rng(seed).integers(
        len(DIRECTIONS), size=len(images)
    )  # (N,)
    out = np.empty_like(images)
    for d, (rows, columns) in enumerate(DIRECTIONS):
        chosen = direction == d
        out[chosen] = shift_images(
            images[chosen], rows * distance, columns * distance
        )
    return out


class SmallCNN(Classifier):
    """One convolution layer and one dense layer: the smallest CNN worth the name.

    ====================  =====================  ===================
    layer                 parameters             output shape
    ====================  =====================  ===================
    input                                        (N, 1, 28, 28)
    conv 8@5x5 + ReLU     K1 (8, 1, 5, 5), b1    (N, 8, 24, 24)
    maxpool 2x2                                  (N, 8, 12, 12)
    flatten                                      (N, 1152)
    dense                 A2 (10, 1152), b2      (N, 10) logits
    ====================  =====================  ===================

    Parameters
    ----------
    filters : int, default 8
    seed : int, default 0
        Seeds the initial weights, as :class:`cnn_tutorial.dense.MLP` does.
    """

    @validate_params(filters=Integer(minimum=1))
    def __init__(self, filters: int = 8, seed: int = 0):
        rng = np.random.default_rng(run_streams(seed)[0])
        features = filters * 12 * 12
        self.params = {
            "K1": rng.normal(0, np.sqrt(2 / 25), (filters, 1, 5, 5)).astype(
                np.float32
            ),
            "b1": np.zeros(filters, np.float32),
            "A2": rng.normal(
                0, np.sqrt(1 / features), (10, features)
            ).astype(np.float32),
            "b2": np.zeros(10, np.float32),
        }

    def forward(self, x: np.ndarray):
        """Logits of a batch ``x`` of shape (N, 1, 28, 28), and what :meth:`backward` needs."""
        p = self.params
        c1 = ops.conv2d(x, p["K1"], p["b1"])  # (N, 8, 24, 24)
        r1 = ops.relu(c1)
        pooled = ops.maxpool2d(r1, 2, 2)  # (N, 8, 12, 12)
        flat = pooled.reshape(len(x), -1)  # (N, 1152)
        logits = ops.dense(flat, p["A2"], p["b2"])  # (N, 10)
        return logits, (x, c1, r1, flat)

    def backward(self, dlogits: np.ndarray, cache) -> dict:
        """Gradient of the loss for every parameter, from ``dlogits`` of shape (N, 10)."""
        p = self.params
        x, c1, r1, flat = cache
        grads = {}
        dflat, grads["A2"], grads["b2"] = ops.dense_backward(
            dlogits, flat, p["A2"]
        )
        dr1 = ops.maxpool2d_backward(
            dflat.reshape(len(x), -1, 12, 12), r1, 2, 2
        )
        dc1 = ops.relu_backward(dr1, c1)
        _, grads["K1"], grads["b1"] = ops.conv2d_backward(
            dc1, x, p["K1"], need_dx=False
        )
        return grads


def accuracy_by_shift(
    net,
    images: np.ndarray,
    labels: np.ndarray,
    distances=range(5),
    seed: int = 0,
) -> np.ndarray:
    """Accuracy of ``net`` on raw ``images`` (N, 28, 28), uint8, each shifted by each of ``distances``
    pixels in a random direction (:func:`shift_randomly`, seeded), then normalised.

    Returns
    -------
    ndarray of float64, shape (len(distances),)
        Fractions between 0 and 1.
    """
    return np.array(
        [
            np.mean(
                net.predict(normalize(shift_randomly(images, d, seed)))
                == labels
            )
            for d in distances
        ]
    )


def plot_accuracy_by_shift(
    distances, accuracies: dict, width: int = 600, height: int = 380
):
    """Test accuracy (%) against the shift in pixels, one line per network.

    Parameters
    ----------
    distances : sequence of int
    accuracies : dict of str to ndarray
        For each network's name, its accuracies (fractions) at ``distances``.
    """
    fig = figure(
        width=width,
        height=height,
        title="Test accuracy on shifted digits",
        x_axis_label="shift (pixels)",
        y_axis_label="test accuracy (%)",
        y_range=Range1d(0, 100),
        tools="pan,box_zoom,reset,save",
        toolbar_location="above",
    )
    for (name, values), color in zip(accuracies.items(), SHIFT_COLORS):
        percent = 100 * np.asarray(values, dtype=np.float64)
        fig.line(
            list(distances),
            percent,
            color=color,
            line_width=2.5,
            legend_label=name,
            name=name,
        )
        fig.scatter(
            list(distances), percent, color=color, size=8, legend_label=name
        )
    fig.xaxis.ticker = list(distances)
    fig.legend.location = "bottom_left"
    fig.add_tools(
        HoverTool(tooltips=[("shift", "@x px"), ("accuracy", "@y{0.0} %")])
    )
    return fig
