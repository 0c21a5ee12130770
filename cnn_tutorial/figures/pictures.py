"""Bokeh pictures of arrays: digits, filters and feature maps, as a grid of small images.

Hovering over a pixel shows its row, column and value, which helps when the text talks about
"the window at row 3, column 5".
"""

from __future__ import annotations

import numpy as np
from bokeh.layouts import gridplot
from bokeh.models import ColumnDataSource, HoverTool, LinearColorMapper
from bokeh.palettes import Greys256, RdBu11
from bokeh.plotting import figure

from ..checks import as_float_array, check_int
from ..params import Integer, Rule, validate_params

__all__ = ["image_grid", "shown_images", "grid_columns"]

# Pixels a panel's caption takes above the image; added to the height so images keep their aspect.
_TITLE_HEIGHT = 22


def _color_mapper(images: np.ndarray, diverging: bool) -> LinearColorMapper:
    """One colour scale for the whole grid, so that panels can be compared.

    Diverging scales are centred on zero (blue negative, red positive), which is what matters for
    filters and gradients; otherwise white is the smallest value and black the largest, like ink.
    """
    finite = images[np.isfinite(images)]
    low, high = (
        (float(finite.min()), float(finite.max()))
        if finite.size
        else (0.0, 1.0)
    )
    if diverging:
        bound = max(abs(low), abs(high)) or 1.0
        return LinearColorMapper(
            palette=RdBu11, low=-bound, high=bound
        )  # RdBu11 runs blue to red
    if high == low:
        high = low + 1.0
    return LinearColorMapper(
        palette=tuple(reversed(Greys256)), low=low, high=high
    )


#: Widest a figure may be, in pixels: a cell's output area in the book is 688 pixels wide at a
#: 1280-pixel window (measured in Chromium; the text column is 752).
MAX_WIDTH = 680


def grid_columns(
    count: int, ncols: int, panel_size: int, max_width: int = MAX_WIDTH
) -> int:
    """Images per row: at most ``ncols``, and few enough that a row fits ``max_width`` pixels.

    When ``ncols`` panels do not fit, the grid wraps onto more rows, and the rows are balanced
    (16 images of which 7 fit in a row are drawn as 6, 6 and 4, not 7, 7 and 2).
    """
    fit = max(1, max_width // panel_size)
    if ncols <= fit:
        return ncols
    rows = -(
        -count // fit
    )  # ceil: as few rows as the width allows, then as even as they can be
    return -(-count // rows)


def _image_stack(name, images) -> np.ndarray:
    """``images`` as a float array of shape (K, H, W), K >= 1; one (H, W) image is K = 1."""
    images = as_float_array(name, images)
    if images.ndim == 2:
        images = images[None]
    if images.ndim != 3 or images.shape[0] == 0:
        raise ValueError(
            f"{name} must have shape (K, H, W) or (H, W) with K >= 1, got {images.shape}"
        )
    return images


def _grid_fits(images, titles, panel_size, max_width):
    """A row holds a panel; one title per image."""
    max_width = check_int("max_width", max_width, panel_size)
    if titles is not None and len(titles) != len(images):
        raise ValueError(
            f"titles has {len(titles)} entries for {len(images)} images"
        )
    return {"max_width": max_width}


@validate_params(
    images=Rule(
        _image_stack,
        bad=[
            (np.array(["a"]), TypeError),
            (np.zeros((2, 3, 4, 5)), ValueError),
            (np.zeros((0, 3, 3)), ValueError),
        ],
        example=np.ones((1, 2, 2)),
    ),
    ncols=Integer(minimum=1),
    panel_size=Integer(minimum=20),
    also=[_grid_fits],
)
def image_grid(
    images,
    titles=None,
    ncols: int = 8,
    panel_size: int = 110,
    diverging: bool = False,
    title: str | None = None,
    max_width: int = MAX_WIDTH,
):
    """Draw a stack of 2-D arrays as a grid of images sharing one colour scale.

    Parameters
    ----------
    images : array_like of shape (K, H, W) or (H, W)
        The pictures: K digits, K filters of one input channel, K feature maps, ...
    titles : sequence of str, optional
        One caption per image.
    ncols : int, default 8
        Images per row, at most; fewer when ``ncols`` panels would be wider than ``max_width``.
    panel_size : int, default 110
        Width in pixels of each panel (height follows the aspect ratio).
    diverging : bool, default False
        Use a blue-white-red scale centred on zero (for filters and signed maps) instead of
        white-to-black.
    title : str, optional
        Title above the first panel.
    max_width : int, default 680
        Widest a row may be, in pixels (a cell's output in the book): the grid wraps onto more rows
        rather than overflow it (see :func:`grid_columns`).

    Returns
    -------
    bokeh.models.GridPlot
        Show it with :func:`cnn_tutorial.figures.display.show`.
    """
    mapper = _color_mapper(images, diverging)
    _, h, w = images.shape
    panels = []
    captions = list(titles) if titles is not None else [None] * len(images)
    if title is not None:
        captions[0] = (
            title if captions[0] is None else f"{title}: {captions[0]}"
        )
    for k, (image, caption) in enumerate(zip(images, captions)):
        panel = figure(
            width=panel_size,
            height=max(20, round(panel_size * h / w))
            + (_TITLE_HEIGHT if caption else 0),
            x_range=(0, w),
            y_range=(h, 0),
            tools="",
            toolbar_location=None,
            title=caption,
            match_aspect=True,
            name=f"image-{k}",
        )
        # Bokeh draws array row 0 at the smallest y; with the y-range flipped (h -> 0) that is the top,
        # as in an array printout, and hover reports array row/column indices.
        source = ColumnDataSource(
            dict(image=[image], x=[0], y=[0], dw=[w], dh=[h])
        )
        panel.image(
            image="image",
            x="x",
            y="y",
            dw="dw",
            dh="dh",
            color_mapper=mapper,
            source=source,
        )
        panel.add_tools(
            HoverTool(
                tooltips=[
                    ("row, col", "$y{0}, $x{0}"),
                    ("value", "@image{0.000}"),
                ]
            )
        )
        panel.axis.visible = False
        panel.grid.visible = False
        panel.min_border = 2
        panels.append(panel)
    ncols = grid_columns(len(panels), ncols, panel_size, max_width)
    return gridplot(panels, ncols=ncols, toolbar_location=None)


def shown_images(grid) -> np.ndarray:
    """The arrays a grid from :func:`image_grid` shows, in panel order: its inverse.

    Parameters
    ----------
    grid : bokeh.models.GridPlot
        Made by :func:`image_grid`.

    Returns
    -------
    ndarray of float64, shape (K, H, W)
        Exactly the pictures that were drawn, so that a check can compare them with the arrays
        they should be.
    """
    panels = sorted(
        grid.children, key=lambda child: (child[1], child[2])
    )  # (figure, row, column)
    return np.stack(
        [
            panel.renderers[0].data_source.data["image"][0]
            for panel, _, _ in panels
        ]
    )
