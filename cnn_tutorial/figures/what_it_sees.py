"""What a trained network sees: its feature maps, and the images a channel answers to most.

The functions take arrays, not a network, so that both networks of the book can use them: the
numpy CNN's ``cache["r1"]`` and ``cache["r2"]`` (:meth:`cnn_tutorial.numpy_net.NumpyCNN.forward`)
and the ConvNet's maps after each ReLU (:func:`cnn_tutorial.pytorch.numpy_convnet.convnet_logits`, layer by
layer). :func:`strongest_images` ranks images by one channel's response; :func:`feature_maps_figure`
and :func:`strongest_images_figure` draw the arrays they are given, unchanged, one ``image`` glyph
per panel, so a check can read them back from the figure's ``ColumnDataSource``\\ s (each panel's
plot is named, see the figure functions).

Feature maps after a ReLU are ``>= 0``; they are drawn like ink, white for 0 and black for the
largest value of their scale. Digits are drawn like ink too, white for their smallest value.
"""

from __future__ import annotations

import html
import numbers

import numpy as np
from bokeh.layouts import column, gridplot, row
from bokeh.models import (
    ColumnDataSource,
    Div,
    HoverTool,
    LinearColorMapper,
    Range1d,
)
from bokeh.plotting import figure

from ..checks import as_float_array, check_int
from ..params import Array, Integer, Rule, validate_params
from .explorer_parts import INK, TEXT_COLOR, WIDGET_MARGIN
from .pictures import MAX_WIDTH

__all__ = [
    "strongest_images",
    "feature_maps_figure",
    "strongest_images_figure",
]

_FRAME = 60  # pixels, each side of a panel's image
_BORDER = 2  # pixels around each panel's frame
_TITLE_FONT = "11px"
_CHAR_WIDTH = (
    6.5  # pixels a character of an 11-pixel bold title takes across, about
)
_GAP = 8  # pixels between the groups of columns (digit, conv 1, conv 2)
_HEADING_HEIGHT = 22  # pixels of a group's heading line


# ----------------------------------------------------------------------------- ranking


def _channel_and_k_fit(activations, channel, k):
    """``channel`` and ``k`` are in range; the channel's maps are finite."""
    if channel >= activations.shape[1]:
        raise ValueError(
            f"channel must be < {activations.shape[1]}, the number of "
            f"channels of activations, got {channel}"
        )
    if k > len(activations):
        raise ValueError(
            f"k must be <= {len(activations)}, the number of images in "
            f"activations, got {k}"
        )
    if not np.isfinite(activations[:, channel]).all():
        raise ValueError(
            f"activations[:, {channel}] must be finite; it holds NaN or inf"
        )


@validate_params(
    activations=Array("(N, C, H, W)", nonempty="N, C, H, W"),
    channel=Integer(minimum=0),
    k=Integer(minimum=1),
    also=[_channel_and_k_fit],
)
def strongest_images(activations, channel: int, k: int = 8):
    """The ``k`` images whose channel ``channel`` responds most.

    An image's score is the largest value of the channel's map for it:
    the strongest response anywhere in the image, wherever the pattern
    the channel detects appears. Images are ranked by score, largest
    first; equal scores keep the order of the images (lower index first).

    Parameters
    ----------
    activations : array_like of shape (N, C, H, W)
        One layer's maps for N images, e.g. after a ReLU.
    channel : int
        Which channel, ``0 <= channel < C``.
    k : int, default 8
        How many images, ``1 <= k <= N``.

    Returns
    -------
    indices : ndarray of int64, shape (k,)
        The images, strongest first.
    scores : ndarray, shape (k,)
        Their scores, ``activations[indices, channel].max(axis=(1, 2))``,
        in the dtype of ``activations``.

    Raises
    ------
    ValueError
        If ``activations`` is not 4-D or empty, ``channel`` or ``k`` is out
        of range, or the channel's maps hold NaN or infinity.
    """
    scores = activations[:, channel].max(axis=(1, 2))  # (N,)
    # A stable sort keeps equal scores in image order.
    indices = np.argsort(-scores, kind="stable")[:k]  # (k,)
    return indices.astype(np.int64), scores[indices]


# ----------------------------------------------------------------------------- rules


def _digits(name, images) -> np.ndarray:
    """``images`` as a finite (D, H, W) array; (D, 1, H, W) loses its channel axis."""
    images = as_float_array(name, images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3 or 0 in images.shape:
        raise ValueError(
            f"{name} must have shape (D, H, W) or (D, 1, H, W) with no empty axis, "
            f"got shape {np.shape(images)}"
        )
    if not np.isfinite(images).all():
        raise ValueError(f"{name} must be finite; it holds NaN or inf")
    return images


_MAP_ARRAY = Array("(D, C, H, W)", nonempty="D, C, H, W")


def _maps(name: str, maps) -> np.ndarray:
    """``maps`` as a finite, non-negative (D, C, H, W) array (feature maps after a ReLU)."""
    maps = _MAP_ARRAY.check(name, maps)
    if not np.isfinite(maps).all():
        raise ValueError(f"{name} must be finite; it holds NaN or inf")
    if maps.min() < 0:
        raise ValueError(
            f"{name} must be >= 0 (feature maps after a ReLU), "
            f"got a minimum of {maps.min()}"
        )
    return maps


def _channel_list(name, channels) -> list[int]:
    """``channels`` as a non-empty list of distinct channel numbers."""
    listed = (
        not isinstance(channels, (str, numbers.Number))
        and len(np.shape(channels)) == 1
    )
    if not listed or not len(channels):
        raise TypeError(
            f"{name} must be a non-empty sequence of channel numbers, got {channels!r}"
        )
    picked = [check_int(name, channel, 0) for channel in channels]
    if len(set(picked)) < len(picked):
        raise ValueError(
            f"{name} must not name a channel twice, got {list(picked)}"
        )
    return picked


def _layer_name(name, layer) -> str:
    if not isinstance(layer, str):
        raise TypeError(f"{name} must be a str, got {layer!r}")
    return layer


DIGITS = Rule(
    _digits,
    bad=[
        (np.array(["a"]), TypeError),
        (np.zeros((2, 2, 2, 2)), ValueError),
        (np.full((1, 2, 2), np.nan), ValueError),
    ],
    example=np.ones((2, 2, 2)),
)
MAPS = Rule(
    _maps,
    bad=[
        (np.zeros((2, 2, 2)), ValueError),
        (np.zeros((0, 2, 2, 2)), ValueError),
        (np.full((1, 1, 2, 2), np.inf), ValueError),
        (-np.ones((1, 1, 2, 2)), ValueError),
    ],
    example=np.ones((2, 2, 2, 2)),
)
CHANNELS = Rule(
    _channel_list,
    bad=[
        (3, TypeError),
        ((), TypeError),
        ((-1,), ValueError),
        ((1, 1), ValueError),
    ],
    example=(0,),
)


def _one_image_each(images, activations):
    """One image per map of ``activations``."""
    if len(images) != len(activations):
        raise ValueError(
            f"images has {len(images)} images; the maps are of {len(activations)}"
        )


def _maps_fit(images, maps1, maps2, channels1, channels2):
    """The maps are of the same images, and the channels are among theirs."""
    if len(maps2) != len(maps1):
        raise ValueError(
            f"maps2 has {len(maps2)} images, maps1 {len(maps1)}"
        )
    _one_image_each(images, maps1)
    for name, channels, maps_name, maps in (
        ("channels1", channels1, "maps1", maps1),
        ("channels2", channels2, "maps2", maps2),
    ):
        if max(channels) >= maps.shape[1]:
            raise ValueError(
                f"{name} must be < {maps.shape[1]}, the number of channels of {maps_name}, "
                f"got {max(channels)}"
            )


def _titles(titles, count: int) -> list[str]:
    if titles is None:
        return [f"image {i}" for i in range(count)]
    titles = [str(title) for title in titles]
    if len(titles) != count:
        raise ValueError(
            f"titles has {len(titles)} entries for {count} images"
        )
    return titles


# ----------------------------------------------------------------------------- drawing


def _ink(values: np.ndarray, low: float | None = None) -> LinearColorMapper:
    """White for ``low`` (default: the smallest of ``values``), black for the largest value."""
    low = float(values.min()) if low is None else low
    high = float(values.max())
    return LinearColorMapper(
        palette=INK, low=low, high=high if high > low else low + 1.0
    )


def _title_room(title: str) -> int:
    return round(_CHAR_WIDTH * len(title)) + 4


def _panel(
    name: str, title: str, image: np.ndarray, mapper: LinearColorMapper
):
    """A plot of one 2-D array, row 0 at the top, in a ``_FRAME``-pixel square, titled ``title``."""
    rows, cols = image.shape
    fig = figure(
        name=name,
        title=title,
        frame_width=_FRAME,
        frame_height=_FRAME,
        x_range=Range1d(0, cols),
        y_range=Range1d(rows, 0),
        tools="",
        toolbar_location=None,
        x_axis_location=None,
        y_axis_location=None,
        background_fill_color=None,
        border_fill_color=None,
        outline_line_color=TEXT_COLOR,
        min_border=_BORDER,
    )
    fig.min_border_left = fig.min_border_right = _BORDER
    fig.min_border_right += max(
        0, _title_room(title) - _FRAME - 2 * _BORDER
    )
    fig.title.text_color = TEXT_COLOR
    fig.title.text_font_size = _TITLE_FONT
    fig.grid.visible = False
    source = ColumnDataSource(dict(image=[image]), name=f"{name}_source")
    fig.image(
        image="image",
        x=0,
        y=0,
        dw=cols,
        dh=rows,
        source=source,
        color_mapper=mapper,
    )
    fig.add_tools(HoverTool(tooltips=[("value", "@image{0.000}")]))
    return fig


def _width(fig) -> int:
    return fig.frame_width + fig.min_border_left + fig.min_border_right


def _even_widths(panels: list) -> None:
    """Widen the narrower panels so that every one is as wide as the widest (columns line up)."""
    widest = max(map(_width, panels))
    for fig in panels:
        fig.min_border_right += widest - _width(fig)


def _heading(text: str, width: int) -> Div:
    return Div(
        text=f"<b>{html.escape(text)}</b>",
        width=max(width - 2 * WIDGET_MARGIN, 10),
        height=_HEADING_HEIGHT,
        styles={"color": TEXT_COLOR, "font-size": "12px"},
    )


def _group(heading: str, panels: list, ncols: int):
    """``panels`` in a grid of ``ncols`` columns under a one-line heading."""
    _even_widths(panels)
    width = ncols * _width(panels[0])
    return column(
        _heading(heading, width),
        gridplot(panels, ncols=ncols, toolbar_location=None),
        spacing=0,
    )


def _check_fits(groups: list, what: str) -> None:
    """Raise ``ValueError`` naming ``what`` if the groups side by side are too wide."""
    width = sum(_group_width(group) for group in groups) + _GAP * (
        len(groups) - 1
    )
    if width > MAX_WIDTH:
        raise ValueError(
            f"{what} name too many channels: the figure would be {width} pixels wide, "
            f"more than {MAX_WIDTH}"
        )


# ----------------------------------------------------------------------------- figures


@validate_params(
    maps1=MAPS,
    maps2=MAPS,
    images=DIGITS,
    channels1=CHANNELS,
    channels2=CHANNELS,
    also=[_maps_fit],
)
def feature_maps_figure(
    images,
    maps1,
    maps2,
    channels1=(0, 1, 2, 3),
    channels2=(0, 1, 2, 3),
    titles=None,
):
    """A few digits, each beside some of its conv-1 and conv-2 maps.

    One row per digit: the digit, then the maps of ``channels1`` of the
    first convolution layer, then those of ``channels2`` of the second,
    under the headings "digit", "conv 1" and "conv 2" with one title per
    panel ("channel 5"). Digits share one ink scale (white smallest,
    black largest). The maps, after a ReLU, are ``>= 0``; each column has
    its own ink scale from white for 0 to black for the column's largest
    value, so that the digits can be compared within a column. Hovering
    shows a pixel's value.

    Parameters
    ----------
    images : array_like of shape (D, H, W) or (D, 1, H, W)
        The digits, one per row.
    maps1, maps2 : array_like of shape (D, C, H', W'), values >= 0
        Their maps after the first and second convolution and ReLU.
    channels1, channels2 : sequence of int, default (0, 1, 2, 3)
        The channels to show of each layer.
    titles : sequence of str, optional
        One per digit, e.g. its label; default "image 0", "image 1", ...

    Returns
    -------
    bokeh.models.Row
        At most 680 pixels wide. The plots are named ``"digit-{d}"``,
        ``"conv1-{d}-{c}"`` and ``"conv2-{d}-{c}"`` (row ``d``, channel
        ``c``); each draws its array from the source ``name + "_source"``.
    """
    titles = _titles(titles, len(images))
    groups = [
        _digit_group(images, titles),
        _map_group("conv 1", maps1, channels1),
        _map_group("conv 2", maps2, channels2),
    ]
    _check_fits(groups, "channels1 and channels2")
    return row(groups, spacing=_GAP)


def _digit_group(images: np.ndarray, titles: list[str]):
    ink = _ink(images)
    panels = [
        _panel(f"digit-{d}", title, image, ink)
        for d, (image, title) in enumerate(zip(images, titles))
    ]
    return _group("digit", panels, 1)


def _map_group(layer: str, maps: np.ndarray, channels: list[int]):
    """Row by row (one row per image), one panel per channel; one ink scale per channel from 0."""
    scales = {c: _ink(maps[:, c], low=0.0) for c in channels}
    prefix = layer.replace(" ", "")
    panels = [
        _panel(f"{prefix}-{d}-{c}", f"channel {c}", maps[d, c], scales[c])
        for d in range(len(maps))
        for c in channels
    ]
    return _group(layer, panels, len(channels))


def _group_width(group) -> int:
    grid = group.children[1]
    ncols = 1 + max(col for _, _, col in grid.children)
    return ncols * _width(grid.children[0][0])


@validate_params(
    activations=MAPS,
    images=DIGITS,
    layer=Rule(_layer_name, bad=[(2, TypeError)]),
    also=[_one_image_each],
)
def strongest_images_figure(
    images, activations, channel: int, k: int = 8, layer: str = "conv 2"
):
    """The ``k`` images a channel responds to most, each over its map.

    The images come from :func:`strongest_images` (score: the largest
    value of the channel's map), strongest first, left to right; under
    each digit its map of that channel, titled with the score. Digits
    share one ink scale (white smallest, black largest); the maps, after
    a ReLU, are ``>= 0`` and share one ink scale from white for 0 to black
    for the top score. Rows wrap to stay within 680 pixels.

    Parameters
    ----------
    images : array_like of shape (N, H, W) or (N, 1, H, W)
        The digits the activations were computed from.
    activations : array_like of shape (N, C, H', W'), values >= 0
        One layer's maps after its ReLU.
    channel : int
        The channel to rank by.
    k : int, default 8
        How many images to show.
    layer : str, default "conv 2"
        The layer's name, for the heading.

    Returns
    -------
    bokeh.models.Column
        A heading, then the grid. The plots are named ``"digit-{i}"`` and
        ``"map-{i}"`` for image ``i`` of ``images``; each draws its array
        from the source ``name + "_source"``.
    """
    indices, scores = strongest_images(activations, channel, k)
    ink = _ink(images[indices])  # white smallest, black largest
    scale = _ink(activations[indices, channel], low=0.0)  # black: top score
    digits = [
        _panel(f"digit-{i}", f"image {i}", images[i], ink) for i in indices
    ]
    maps = [
        _panel(f"map-{i}", f"max {s:.3g}", activations[i, channel], scale)
        for i, s in zip(indices, scores)
    ]
    heading = (
        f"{layer}, channel {channel}: the {k} images it responds to most"
    )
    return column(
        _heading(heading, MAX_WIDTH), _pairs_grid(digits, maps), spacing=0
    )


def _pairs_grid(digits: list, maps: list):
    """Digits in a row with their maps in the row under them, as many pairs a row as fit."""
    _even_widths(digits + maps)
    per_row = max(1, MAX_WIDTH // _width(digits[0]))
    rows = []
    for start in range(0, len(digits), per_row):
        rows += [
            digits[start : start + per_row],
            maps[start : start + per_row],
        ]
    return gridplot(rows, toolbar_location=None)
