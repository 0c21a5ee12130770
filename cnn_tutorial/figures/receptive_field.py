"""A figure to tap a unit of a feature map and see its receptive field, the input pixels it
depends on, in every map down to the input.

The fields come from the rule in :mod:`~cnn_tutorial.figures.field_rule`
(:func:`~cnn_tutorial.figures.field_rule.receptive_fields`; it, ``BOOK_LAYERS`` and ``Field``
import from here too): :func:`receptive_field_explorer` computes them for every unit of the book's
network, once, and ships them to the browser, which only picks the ones of the unit the reader
taps.
"""

from __future__ import annotations

import numbers

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, CustomJS, TapTool

from ..params import Optional, Rule, validate_params
from .explorer_parts import (
    BORDER,
    GAP,
    HALO_COLOR,
    HIGHLIGHT_COLOR,
    TITLE,
    Matrix,
    draw_image,
    ink_mapper,
    panel,
    panel_width,
    readout_div,
    title_div,
    widen,
)
from .field_rule import BOOK_LAYERS, LAYERS, fields_in, map_sizes

# The chapters import the rule from here, beside the figure that draws it.
from .field_rule import Field as Field
from .field_rule import receptive_fields as receptive_fields
from .pictures import MAX_WIDTH

__all__ = ["receptive_field_explorer"]

#: The largest image side :func:`receptive_field_explorer` takes (each pixel is a cell).
MAX_INPUT_SIDE = 64

_CELL_FILL = "#e6e6e6"  # the maps' units: light grey cells
_CELL_LINE = "#b3b3b3"
_MAX_CELL = 14  # pixels a cell, at most


# ----------------------------------------------------------------------------- figure

# A unit tapped (clicked or touched) in one map: outline its field in every map up to the input,
# from the columns its source holds per map; clear the other maps' selections so that tapping one
# of their units again counts as a change. Nothing is computed here.
_TAP_JS = """
const q = units.selected.indices[0];
if (q === undefined) return;
for (const other of others) {
  if (other.selected.indices.length) other.selected.indices = [];
}
const at = (column) => units.data[column] === undefined ? [] : [units.data[column][q]];
for (let m = 0; m < names.length; m++) {
  const name = names[m];
  fields[m].data = {x: at(name + "_x"), y: at(name + "_y"),
                    width: at(name + "_width"), height: at(name + "_height")};
}
readout.text = units.data.text[q];
"""


def _readout_text(names, level: int, q: int, columns: dict) -> str:
    """``pool unit (3, 4) sees input rows 6–15, columns 8–17: 10 × 10 pixels, through ...``."""

    def at(m, key):
        return columns[f"{names[m]}_{key}"][q]

    text = (
        f"{names[level]} unit ({at(level, 'first_row')}, {at(level, 'first_col')}) sees input "
        f"rows {at(0, 'first_row')}\u2013{at(0, 'last_row')}, "
        f"columns {at(0, 'first_col')}\u2013{at(0, 'last_col')}: "
        f"{at(0, 'height')} \u00d7 {at(0, 'width')} pixels"
    )
    # From the unit down: "through 2 x 2 units of conv2 and 6 x 6 units of conv1".
    between = [
        f"{at(m, 'height')} \u00d7 {at(m, 'width')} units of {names[m]}"
        for m in range(level - 1, 0, -1)
    ]
    if between:
        last = between.pop()
        text += ", through " + "".join(f"{part}, " for part in between[:-1])
        text += f"{between[-1]} and {last}" if between else last
    return text


def _unit_sources(layers, row_sizes, col_sizes) -> list[ColumnDataSource]:
    """Per map (not the input), one row per unit: where it is, its text, and its field in every
    map up to the input as ``<map>_first_row`` ... ``<map>_last_col`` and as a rectangle
    ``<map>_x``, ``_y``, ``_width``, ``_height`` (in that map's cells)."""
    names = ["input"] + [name for name, _, _ in layers]
    sources = []
    for level in range(1, len(names)):
        i, j = np.divmod(
            np.arange(row_sizes[level] * col_sizes[level]), col_sizes[level]
        )
        columns = dict(row=i, col=j, x=j + 0.5, y=i + 0.5)
        for m in range(level + 1):
            span = fields_in(layers, row_sizes, col_sizes, m, level)
            width = span["last_col"] - span["first_col"] + 1
            height = span["last_row"] - span["first_row"] + 1
            span.update(
                width=width,
                height=height,
                x=span["first_col"] + width / 2,
                y=span["first_row"] + height / 2,
            )
            columns.update(
                {f"{names[m]}_{key}": value for key, value in span.items()}
            )
        columns["text"] = [
            _readout_text(names, level, q, columns) for q in range(i.size)
        ]
        sources.append(
            ColumnDataSource(columns, name=f"rf_{names[level]}_units")
        )
    return sources


def _panel_titles(layers, row_sizes, col_sizes) -> list[str]:
    titles = [f"input {row_sizes[0]}\u00d7{col_sizes[0]}"]
    for (name, kernel, stride), h, w in zip(
        layers, row_sizes[1:], col_sizes[1:]
    ):
        titles.append(
            f"{name} {h}\u00d7{w} ({kernel}\u00d7{kernel}, stride {stride})"
        )
    return titles


def _cell_size(titles, row_sizes, col_sizes) -> float:
    """Pixels a cell, the same in every map, so that two columns of maps (input, conv1 on top, the
    next two under them, ...), each as wide as its widest panel, fit :data:`MAX_WIDTH`."""

    def width(
        m, cell
    ):  # a panel's width, as explorer_parts.panel makes it: its frame and borders, or its title
        return max(
            round(col_sizes[m] * cell) + 2 * BORDER, 7 * len(titles[m]) + 4
        )

    def total(cell):
        left = max(width(m, cell) for m in range(0, len(titles), 2))
        right = max(width(m, cell) for m in range(1, len(titles), 2))
        return left + GAP + right

    cell = min(_MAX_CELL, 340 / max(row_sizes))
    while cell > 1 and total(cell) > MAX_WIDTH:
        cell -= 0.25
    return cell


def _field_outline(fig, source: ColumnDataSource, name: str) -> None:
    """The field's rectangles of ``source``: shaded amber, outlined amber over a black halo."""
    fig.rect(
        x="x",
        y="y",
        width="width",
        height="height",
        source=source,
        fill_color=HIGHLIGHT_COLOR,
        fill_alpha=0.3,
        line_color=None,
        name=f"{name}_shade",
    )
    for color, line_width, part in (
        (HALO_COLOR, 4, "halo"),
        (HIGHLIGHT_COLOR, 2, "line"),
    ):
        fig.rect(
            x="x",
            y="y",
            width="width",
            height="height",
            source=source,
            fill_color=None,
            line_color=color,
            line_width=line_width,
            name=f"{name}_{part}",
        )


def _unit_cells(fig, source: ColumnDataSource):
    """Each unit of a map as a light grey cell, looking the same whether selected or not."""
    look = dict(
        fill_color=_CELL_FILL,
        fill_alpha=1.0,
        line_color=_CELL_LINE,
        line_alpha=1.0,
        line_width=0.5,
    )
    return fig.rect(
        x="x",
        y="y",
        width=1,
        height=1,
        source=source,
        name=f"{fig.name}_cells",
        **look,
        **{
            f"{state}_{key}": value
            for state in ("selection", "nonselection")
            for key, value in look.items()
        },
    )


def _explorer_plots(image, layers, layer: str, unit) -> dict:
    """The panels (input, then each map), in rows of two; the fields' and the units' sources;
    the ``level`` of ``layer`` (1 for the first) and the ``start`` index of ``unit`` in its map."""
    row_sizes = map_sizes(layers, image.shape[0], "image height")
    col_sizes = map_sizes(layers, image.shape[1], "image width")
    names = ["input"] + [name for name, _, _ in layers]
    level = names.index(layer)
    unit_index = unit[0] * col_sizes[level] + unit[1]
    titles = _panel_titles(layers, row_sizes, col_sizes)
    cell = _cell_size(titles, row_sizes, col_sizes)
    units = _unit_sources(layers, row_sizes, col_sizes)
    start = units[level - 1].data
    panels, fields = [], []
    for m, name in enumerate(names):
        fig = panel(
            f"rf_{name}", titles[m], (row_sizes[m], col_sizes[m]), cell
        )
        if m == 0:
            draw_image(
                fig,
                ColumnDataSource(dict(image=[image])),
                image.shape,
                ink_mapper(image),
            )
        else:
            fig.add_tools(
                TapTool(renderers=[_unit_cells(fig, units[m - 1])])
            )
        shown = (
            m <= level
        )  # the starting unit's field in this map, if it has one
        keys = ("x", "y", "width", "height")
        field = {
            key: [start[f"{name}_{key}"][unit_index]] if shown else []
            for key in keys
        }
        fields.append(ColumnDataSource(field, name=f"rf_{name}_field"))
        _field_outline(fig, fields[-1], f"rf_{name}_field")
        panels.append(fig)
    rows = [panels[first : first + 2] for first in range(0, len(panels), 2)]
    for column_panels in (
        panels[0::2],
        panels[1::2],
    ):  # line the maps up in two columns
        widest = max(map(panel_width, column_panels), default=0)
        for fig in column_panels:
            widen(fig, widest)
    width = max(
        sum(map(panel_width, pair)) + GAP * (len(pair) - 1) for pair in rows
    )
    return dict(
        rows=rows,
        width=width,
        fields=fields,
        units=units,
        names=names,
        level=level,
        start=unit_index,
    )


def _unit_pair(name, unit):
    """``unit`` as a ``(row, column)`` pair of ints."""
    if (
        isinstance(unit, (str, bytes))
        or not hasattr(unit, "__len__")
        or len(unit) != 2
        or not all(
            isinstance(k, numbers.Integral) and not isinstance(k, bool)
            for k in unit
        )
    ):
        raise TypeError(
            f"{name} must be a (row, column) pair of integers or None, got {unit!r}"
        )
    return int(unit[0]), int(unit[1])


def _unit_in(image, layers, layer, unit):
    """``layer`` (default: the last) is one of ``layers``, its map fits the image, and ``unit``
    (default: the map's centre) is one of the map's units."""
    names = [name for name, _, _ in layers]
    layer = names[-1] if layer is None else layer
    if layer not in names:
        raise ValueError(f"layer must be one of {names}, got {layer!r}")
    level = names.index(layer) + 1
    h = map_sizes(layers, image.shape[0], "image height")[level]
    w = map_sizes(layers, image.shape[1], "image width")[level]
    unit = (h // 2, w // 2) if unit is None else unit
    if not (0 <= unit[0] < h and 0 <= unit[1] < w):
        raise ValueError(
            f"unit must lie in {layer}'s {h}x{w} map, 0 <= row < {h} and 0 <= column "
            f"< {w}, got {tuple(unit)}"
        )
    return {"layer": layer, "unit": unit}


@validate_params(
    image=Matrix(
        "(H, W)",
        MAX_INPUT_SIDE,
        "pixels",
        "each pixel is a cell of the figure",
    ),
    layers=LAYERS,
    unit=Optional(
        Rule(_unit_pair, bad=[(3, TypeError), ((1.5, 2), TypeError)])
    ),
    title=TITLE,
    also=[_unit_in],
)
def receptive_field_explorer(
    image,
    *,
    layers=BOOK_LAYERS,
    layer: str | None = None,
    unit=None,
    title: str | None = None,
):
    """Tap a unit of a feature map; see the input pixels it depends on.

    Panels, two a row: the input ``image`` (white small, black large),
    then each layer's map as a grid of light grey units (for the book:
    conv1 24 x 24, conv2 20 x 20, pool 10 x 10). Tapping a unit (mouse
    or touch) shades and outlines its receptive field in every map
    before it, down to the input: a pool unit's 2 x 2 window in conv2,
    the 6 x 6 units of conv1 under them, 10 x 10 pixels of the input.
    A line of text reads ``pool unit (3, 4) sees input rows 6–15,
    columns 8–17: 10 × 10 pixels, through 2 × 2 units of conv2 and
    6 × 6 units of conv1``.

    The fields of every unit are computed here, once, by
    :func:`~.field_rule.receptive_fields`; the browser only picks the
    tapped one's.

    Parameters
    ----------
    image : array_like of shape (H, W)
        E.g. one MNIST digit, 28 x 28. Finite; at most
        :data:`MAX_INPUT_SIDE` pixels a side.
    layers : sequence of (str, int, int), default BOOK_LAYERS
        ``(name, kernel, stride)`` per layer, no padding.
    layer : str, optional
        The map of the unit traced before any tap; default the last
        (for the book, ``"pool"``).
    unit : (int, int), optional
        That unit's (row, column); default the map's middle unit.
    title : str, optional
        Heading above the figure; ``""`` leaves it out.

    Returns
    -------
    bokeh.models.Column
        At most :data:`MAX_WIDTH` pixels wide. Named parts: the plots
        ``"rf_input"`` and ``"rf_<layer>"``; per map the units' source
        ``"rf_<layer>_units"`` (per unit, row-major: ``row``, ``col``,
        ``text``, and its field in each map ``m`` up to the input,
        ``<m>_first_row``, ``<m>_last_row``, ``<m>_first_col``,
        ``<m>_last_col``); per panel the field's source
        ``"rf_<m>_field"``; the ``Div`` ``"rf_readout"``.
    """
    # Every unit's field in every map before it, once, by the rule.
    parts = _explorer_plots(image, layers, layer, unit)
    units, width = parts["units"], parts["width"]
    level, start = parts["level"], parts["start"]

    text = units[level - 1].data["text"][start]
    readout = readout_div(text, width, "rf_readout")
    units[level - 1].selected.indices = [start]
    # In the browser: a tap selects a unit; show that unit's fields.
    for source in units:
        others = [other for other in units if other is not source]
        source.selected.js_on_change(
            "indices",
            CustomJS(
                args=dict(
                    units=source,
                    others=others,
                    readout=readout,
                    names=parts["names"],
                    fields=parts["fields"],
                ),
                code=_TAP_JS,
            ),
        )

    default = "Receptive fields: tap a unit of a map"
    heading = title_div(title, default, width, "rf_title")
    grid = [row(*pair, spacing=GAP) for pair in parts["rows"]]
    return column(*heading, *grid, readout)
