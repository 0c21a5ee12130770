"""The look the book's explorers share, and the rules of their arguments.

:mod:`~cnn_tutorial.figures.explorers` (convolution and max pooling),
:mod:`~cnn_tutorial.figures.backward_explorer` and :mod:`~cnn_tutorial.figures.receptive_field`
build their figures from these parts, so the four look alike. They are at most 700 pixels wide (the
book's text column), and their colours read on a white and on a near-black page alike (the book's
dark theme restyles a figure's frame, never its data): backgrounds are transparent, text outside the
cells is mid-grey (:data:`TEXT_COLOR`), text inside a cell is black or white depending on the cell's
colour (:func:`ink_on`), and outlines are drawn twice, a wide black line under a narrow amber one
(:func:`draw_outline`).
"""

from __future__ import annotations

import html

import numpy as np
from bokeh.models import ColumnDataSource, Div, LinearColorMapper, Range1d
from bokeh.palettes import Greys256, RdBu11
from bokeh.plotting import figure

from ..params import Array, Instance, Optional, Rule

# ----------------------------------------------------------------------------- look

#: Text outside the cells (headings, titles, axes, slider, readout): mid-grey, 4.3:1 contrast or more on
#: white and on near-black, so it reads in both themes (Divs are not restyled by the page's theme).
TEXT_COLOR = "#7a7a7a"
TEXT_STYLE = {"color": TEXT_COLOR}
#: Outlines of the current window, cell and column: amber over a wider black line, visible on any cell.
HIGHLIGHT_COLOR = "#ffb000"
HALO_COLOR = "#000000"
INK = tuple(
    reversed(Greys256)
)  # white for the smallest value, black for the largest, like ink
SIGNED = RdBu11  # blue negative, white zero, red positive (Bokeh lists it blue first)
TRANSPARENT = "rgba(0, 0, 0, 0)"
BORDER = 5  # pixels around each plot's frame
GAP = 6  # pixels between plots side by side
TEXT_WIDTH = (
    480  # pixels, at least, for a line of text under a small figure
)
WIDGET_MARGIN = (
    5  # Bokeh's default margin on each side of a widget (Slider, Div)
)


# ----------------------------------------------------------------------------- rules

#: The ``title`` of every explorer: a heading, or None for the default one.
TITLE = Optional(Instance(str, what="string or None"))


class Matrix(Rule):
    """A 2-D array of finite numbers, no axis empty, e.g. ``Matrix("(H, W)")``; returned as float.

    With ``largest``: at most that many cells a side, or an error that says ``why`` (the figure
    draws each of them) and how to crop; ``unit`` names the cells (``"pixels"``).
    """

    def __init__(
        self, layout: str, largest=None, unit: str = "cells", why: str = ""
    ):
        self.array = Array(layout, nonempty=layout.strip("()"))
        self.largest, self.unit, self.why = largest, unit, why

    def check(self, name, value):
        array = self.array.check(name, value)
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise ValueError(
                f"{name} must hold only finite numbers; {bad} of its {array.size} entries are NaN or infinite"
            )
        if self.largest is not None and max(array.shape) > self.largest:
            raise ValueError(
                f"{name} is {array.shape[0]}x{array.shape[1]}, but this figure takes at most "
                f"{self.largest} {self.unit} a side ({self.why}); crop it, e.g. "
                f"{name}[:{self.largest}, :{self.largest}]"
            )
        return array

    def bad_values(self):
        bad = [
            *self.array.bad_values(),
            (np.full((2, 2), np.nan), ValueError),
        ]
        if self.largest is not None:
            bad.append((np.zeros((self.largest + 1, 1)), ValueError))
        return bad

    def example(self):
        return np.ones((2, 2))


# ----------------------------------------------------------------------------- building blocks


def _hex_luminance(color: str) -> float:
    """Relative luminance (WCAG) of a ``#rrggbb`` colour, 0 for black to 1 for white."""
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [
        c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
        for c in channels
    ]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def mapped_colors(
    values: np.ndarray, mapper: LinearColorMapper
) -> list[str]:
    """The palette colour ``mapper`` gives each value (as BokehJS computes it), flattened row-major."""
    palette = mapper.palette
    span = mapper.high - mapper.low
    scaled = (np.ravel(values) - mapper.low) / span * len(palette)
    index = np.clip(np.floor(scaled).astype(int), 0, len(palette) - 1)
    return [palette[k] for k in index]


def ink_on(fills: list[str]) -> list[str]:
    """Black text on light cells, white text on dark ones (contrast at least 4.5:1 either way)."""
    return [
        "#000000" if _hex_luminance(fill) > 0.18 else "#ffffff"
        for fill in fills
    ]


def ink_mapper(values: np.ndarray) -> LinearColorMapper:
    """White for the smallest of ``values``, black for the largest; NaN transparent."""
    low, high = float(values.min()), float(values.max())
    high = (
        high if high > low else low + 1.0
    )  # a constant array: any one colour
    return LinearColorMapper(
        palette=INK, low=low, high=high, nan_color=TRANSPARENT
    )


def signed_mapper(*arrays: np.ndarray) -> LinearColorMapper:
    """Blue negative, white 0, red positive, symmetric around 0 and wide enough for every array."""
    bound = max(float(np.abs(a).max()) for a in arrays) or 1.0
    return LinearColorMapper(
        palette=SIGNED, low=-bound, high=bound, nan_color=TRANSPARENT
    )


def panel(
    name: str,
    title: str,
    shape: tuple[int, int],
    cell: float,
    x_axis: str | None = None,
    frame: tuple[int, int] | None = None,
):
    """An empty plot for a ``shape`` (rows, columns) array, row 0 at the top: ``cell`` pixels a cell, or a
    frame of ``frame`` (width, height) pixels. At least as wide as its title."""
    rows, cols = shape
    frame_width, frame_height = frame or (
        round(cols * cell),
        max(round(rows * cell), 1),
    )
    fig = figure(
        name=name,
        title=title,
        frame_width=frame_width,
        frame_height=frame_height,
        x_range=Range1d(0, cols),
        y_range=Range1d(rows, 0),
        tools="",
        toolbar_location=None,
        x_axis_location="below" if x_axis else None,
        y_axis_location=None,
        background_fill_color=None,
        border_fill_color=None,
        outline_line_color=TEXT_COLOR,
        min_border=BORDER,
    )
    fig.title.text_color = TEXT_COLOR
    fig.title.text_font_size = "12px"
    fig.grid.visible = False
    widen(fig, title_room(title))
    if x_axis:
        axis = fig.xaxis[0]
        axis.axis_label = x_axis
        for part in ("axis_label_text_color", "major_label_text_color"):
            setattr(axis, part, TEXT_COLOR)
        for part in (
            "axis_line_color",
            "major_tick_line_color",
            "minor_tick_line_color",
        ):
            setattr(axis, part, TEXT_COLOR)
        axis.axis_label_text_font_style = "normal"
    return fig


def title_room(title: str) -> int:
    """Pixels a plot's title needs across (12-pixel bold text: about 7 pixels a character)."""
    return 7 * len(title) + 4


def panel_width(fig) -> int:
    """Pixels a plot from :func:`panel` takes across: its frame and its borders."""
    return fig.frame_width + fig.min_border_left + fig.min_border_right


def widen(fig, width: int) -> None:
    """Make a plot at least ``width`` pixels across by widening its right border; cells keep their size."""
    fig.min_border_left = fig.min_border_right = BORDER
    fig.min_border_right += max(0, width - panel_width(fig))


def draw_outline(
    fig, source: ColumnDataSource, width: float, height: float, name: str
) -> None:
    """A ``width x height`` rectangle around each ``(x, y)`` of ``source``: amber over a black halo."""
    for color, line_width, part in (
        (HALO_COLOR, 5, "halo"),
        (HIGHLIGHT_COLOR, 2.5, "line"),
    ):
        fig.rect(
            x="x",
            y="y",
            width=width,
            height=height,
            source=source,
            fill_color=None,
            line_color=color,
            line_width=line_width,
            name=f"{fig.name}_{name}_{part}",
        )


def draw_image(
    fig,
    source: ColumnDataSource,
    shape: tuple[int, int],
    mapper: LinearColorMapper,
):
    """The ``"image"`` of ``source``, a ``shape`` (rows, columns) array, one cell per entry, row 0
    at the top.
    """
    rows, cols = shape
    return fig.image(
        image="image",
        x=0,
        y=0,
        dw=cols,
        dh=rows,
        source=source,
        color_mapper=mapper,
        name=f"{fig.name}_pixels",
    )


def widget_width(width: int, text: bool = True) -> int:
    """Width to give a widget under plots ``width`` pixels across, so that it spans their frames exactly
    (its margins take the place of the plots' borders); a text at least :data:`TEXT_WIDTH` wide."""
    return (max(width, TEXT_WIDTH) if text else width) - 2 * WIDGET_MARGIN


def title_div(
    title: str | None, default: str, width: int, name: str
) -> list[Div]:
    """The figure's heading, in bold, in :data:`TEXT_COLOR`; none when ``title`` is ``""``."""
    text = default if title is None else title
    if not text:
        return []
    heading = f"<b>{html.escape(text)}</b>"
    return [
        Div(
            text=heading,
            width=widget_width(width),
            name=name,
            styles=TEXT_STYLE,
        )
    ]


def readout_div(text: str, width: int, name: str) -> Div:
    """The line of text under a figure, shown as text (not HTML), in :data:`TEXT_COLOR`."""
    return Div(
        text=text,
        render_as_text=True,
        width=widget_width(width),
        name=name,
        styles=TEXT_STYLE,
    )


def label_font_size(cell: float) -> str:
    """Font size of a value printed in a cell ``cell`` pixels across: about a third of it, 7 to 13 pixels."""
    return f"{max(7, min(13, round(cell * 0.3)))}px"


def shape_text(shape: tuple[int, int]) -> str:
    """``(28, 28)`` as ``"28\u00d728"``, for titles."""
    return f"{shape[0]}\u00d7{shape[1]}"
