"""The max-pool explorer: max pooling forward and backward; hover an output cell to trace it.

Every number is computed here, in numpy, by the package's own functions
(:func:`~cnn_tutorial.pooling.maxpool2d`, :func:`~cnn_tutorial.pooling.maxpool2d_backward`,
:func:`cnn_tutorial.loops.pool_winner`), once, and shipped to the browser in the figure's data
sources (``ColumnDataSource``). The small ``CustomJS`` callback only picks the entries of the cell
under the mouse out of those sources: it does no arithmetic on the numbers, so what the reader sees
cannot disagree with the package the tests check. The look is the explorers'
(:mod:`cnn_tutorial.figures.explorer_parts`); the chapters import the figure from
:mod:`cnn_tutorial.figures.explorers`.
"""

from __future__ import annotations

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    HoverTool,
    LinearColorMapper,
    TapTool,
)

from .. import loops, ops
from ..checks import check_window_fits, output_size
from ..params import Integer, Optional, validate_params
from .explorer_parts import (
    BORDER,
    GAP,
    TEXT_COLOR,
    TITLE,
    TRANSPARENT,
    Matrix,
    draw_outline,
    ink_mapper,
    ink_on,
    label_font_size,
    mapped_colors,
    panel,
    panel_width,
    readout_div,
    shape_text,
    signed_mapper,
    title_div,
    widen,
)
from .pictures import MAX_WIDTH  # one limit for every figure of the book

__all__ = ["maxpool_explorer"]

#: The largest input side :func:`maxpool_explorer` takes (it prints every value in its cell).
MAX_POOL_SIDE = 16


# ----------------------------------------------------------------------------- browser side

# Mouse over an output cell (or its upstream-gradient cell): show that cell's window, winner and text.
_MAXPOOL_JS = """
// A hover (mouse) gives the cells under the pointer; a tap (touch or click) selects one.
const hit = cb_data.index ? cb_data.index.indices : cb_data.source.selected.indices;
if (hit.length == 0 || cell_outline.data.index[0] == hit[0]) return;
const q = hit[0];
const at = (column) => [cells.data[column][q]];
cell_outline.data = {index: [q], x: at("x"), y: at("y")};
window_outline.data = {x: at("window_x"), y: at("window_y")};
winner_outline.data = {x: at("winner_x"), y: at("winner_y")};
readout.text = cells.data.text[q];
"""


# ----------------------------------------------------------------------------- rules


def _window_fits(x, size, stride, upstream):
    """The window fits ``x``; ``upstream`` (default all ones) has the pooled output's shape."""
    check_window_fits("pool window", (size, size), x.shape, "input x")
    ho, wo = (
        output_size(x.shape[0], size, stride),
        output_size(x.shape[1], size, stride),
    )
    if upstream is None:
        return {"upstream": np.ones((ho, wo), dtype=x.dtype)}
    if upstream.shape != (ho, wo):
        raise ValueError(
            f"upstream must have the pooled output's shape {(ho, wo)} (x {x.shape}, size {size}, "
            f"stride {stride}), got {upstream.shape}"
        )
    return None


# ----------------------------------------------------------------------------- max-pool explorer


def _tap_tool(cells, callback: CustomJS) -> TapTool:
    """A tap (touch, or a click) on ``cells`` runs ``callback``; a tapped cell looks like the others."""
    cells.selection_glyph = cells.glyph.clone()
    cells.nonselection_glyph = cells.glyph.clone()
    return TapTool(renderers=[cells], callback=callback)


def _maxpool_data(
    x: np.ndarray, size: int, stride: int, upstream: np.ndarray
) -> dict:
    """Forward and backward pass of max pooling by the package, and each output cell's winner and text."""
    h, w = x.shape
    ho, wo = upstream.shape
    output = ops.maxpool2d(x[None, None], size, stride)[0, 0]  # (Ho, Wo)
    gradient = ops.maxpool2d_backward(
        upstream[None, None], x[None, None], size, stride
    )[0, 0]  # (H, W)
    winners = np.empty(
        (ho * wo, 2), dtype=int
    )  # (row, column) in x of each output cell's winner
    windows = []
    for q in range(ho * wo):
        i, j = divmod(q, wo)
        window = x[
            i * stride : i * stride + size, j * stride : j * stride + size
        ]
        a, b = loops.pool_winner(
            window
        )  # the first maximum in row-major order, as PyTorch picks it
        winners[q] = i * stride + a, j * stride + b
        windows.append(window)
    wins = np.zeros(
        (h, w), dtype=int
    )  # how many windows each input cell wins
    np.add.at(wins, (winners[:, 0], winners[:, 1]), 1)

    text = []
    for q, window in enumerate(windows):
        i, j = divmod(q, wo)
        r, c = winners[q]
        top, left = i * stride, j * stride
        ties = int(np.count_nonzero(window == window.max()))
        line = (
            f"out[{i}, {j}] = max of x[{top}:{top + size}, {left}:{left + size}] = {output[i, j]:.2f}, "
            f"at x[{r}, {c}]"
        )
        if ties > 1:
            line += f" (a tie of {ties} cells: the first in row-major order wins, as in PyTorch)"
        line += f". Backward: the upstream gradient dout[{i}, {j}] = {upstream[i, j]:.2f}"
        line += f" goes to dx[{r}, {c}]"
        line += (
            f" alone; the other {size * size - 1} cells of the window get 0 from it."
            if size > 1
            else "."
        )
        if wins[r, c] > 1:
            line += f" dx[{r}, {c}] = {gradient[r, c]:.2f} adds up the {wins[r, c]} windows it wins."
        text.append(line)
    return dict(
        output=output, gradient=gradient, winners=winners, text=text
    )


def _grid(
    fig,
    values: np.ndarray,
    mapper: LinearColorMapper,
    cell: float,
    name: str,
    blank_zeros: bool = False,
    extra: dict | None = None,
):
    """``values`` (rows, columns) as coloured cells, each value printed in it; returns the renderer.

    With ``blank_zeros`` the cells that are exactly 0 are left transparent, their "0" in mid-grey.
    ``extra`` adds columns (one entry per cell, row-major) to the cells' source.
    """
    rows, cols = values.shape
    i, j = np.divmod(np.arange(values.size), cols)
    flat = values.ravel()
    fills = mapped_colors(values, mapper)
    inks = ink_on(fills)
    labels = [f"{v:.2f}" for v in flat]
    if blank_zeros:
        zero = flat == 0
        fills = [TRANSPARENT if z else f for z, f in zip(zero, fills)]
        inks = [TEXT_COLOR if z else k for z, k in zip(zero, inks)]
        labels = ["0" if z else label for z, label in zip(zero, labels)]
    source = ColumnDataSource(
        dict(
            x=j + 0.5,
            y=i + 0.5,
            row=i,
            col=j,
            value=flat,
            label=labels,
            fill=fills,
            ink=inks,
            **(extra or {}),
        ),
        name=f"{name}_source",
    )
    cells = fig.rect(
        x="x",
        y="y",
        width=1,
        height=1,
        source=source,
        fill_color="fill",
        line_color=TEXT_COLOR,
        line_alpha=0.5,
        name=f"{name}_cells",
    )
    fig.text(
        x="x",
        y="y",
        text="label",
        text_color="ink",
        source=source,
        text_align="center",
        text_baseline="middle",
        text_font_size=label_font_size(cell),
    )
    return cells


def _pool_cell(x_shape, out_shape) -> float:
    """Pixels a cell, so that two grids side by side (input and output) fit :data:`MAX_WIDTH`."""
    (h, w), (_, wo) = x_shape, out_shape
    frames = MAX_WIDTH - 2 * 2 * BORDER - GAP - 4
    return min(frames / (w + wo), 320 / h, 44)


def _cell_columns(data: dict, size: int, stride: int) -> dict:
    """Per output cell (row-major): its window's centre, its winner's centre and its line of text."""
    winners = data["winners"]
    ho, wo = data["output"].shape
    i, j = np.divmod(np.arange(ho * wo), wo)
    return dict(
        window_x=j * stride + size / 2,
        window_y=i * stride + size / 2,
        winner_x=winners[:, 1] + 0.5,
        winner_y=winners[:, 0] + 0.5,
        winner_row=winners[:, 0],
        winner_col=winners[:, 1],
        text=data["text"],
    )


def _outlines(plots: dict, per_cell: ColumnDataSource, size: int) -> dict:
    """Output cell 0 outlined in out and dout, its window and its winner in x and dx; the
    outlines' sources (``"cell"``, ``"window"``, ``"winner"``)."""
    sources = {}
    for key, (x_column, y_column), side, names in (
        ("cell", ("x", "y"), 1, ("pool_output", "pool_upstream")),
        (
            "window",
            ("window_x", "window_y"),
            size,
            ("pool_input", "pool_gradient"),
        ),
        (
            "winner",
            ("winner_x", "winner_y"),
            0.78,
            ("pool_input", "pool_gradient"),
        ),
    ):
        start = dict(
            index=[0],
            x=[per_cell.data[x_column][0]],
            y=[per_cell.data[y_column][0]],
        )
        sources[key] = ColumnDataSource(start, name=f"pool_{key}")
        for name in names:
            draw_outline(
                plots[name], sources[key], side, side, f"pool_{key}"
            )
    return sources


def _maxpool_plots(
    x: np.ndarray, upstream: np.ndarray, data: dict, size: int, stride: int
) -> dict:
    """The max-pool explorer's four grids, tracing output cell 0, and the sources its hover tools change.

    Returns ``forward`` (the plots of ``x`` and ``out``), ``backward`` (of ``dx`` and ``dout``, under
    them), ``hovered`` (``(plot, cells renderer)`` of ``out`` and ``dout``), ``width`` (of a row, in
    pixels) and ``sources``: ``"cells"`` (the output's cells), ``"cell"``, ``"window"``, ``"winner"``.
    """
    out, dx = data["output"], data["gradient"]
    cell = _pool_cell(x.shape, out.shape)
    ink, signed = ink_mapper(x), signed_mapper(dx, upstream)
    plots, cells = {}, {}
    for name, title, values, mapper, extra in (
        ("pool_input", f"x (input) {shape_text(x.shape)}", x, ink, None),
        (
            "pool_output",
            f"out = maxpool(x) {shape_text(out.shape)}",
            out,
            ink,
            _cell_columns(data, size, stride),
        ),
        (
            "pool_gradient",
            f"dx (to the input) {shape_text(x.shape)}",
            dx,
            signed,
            None,
        ),
        (
            "pool_upstream",
            f"dout (upstream) {shape_text(out.shape)}",
            upstream,
            signed,
            None,
        ),
    ):
        plots[name] = panel(name, title, values.shape, cell)
        blank_zeros = name == "pool_gradient"  # where no gradient goes
        cells[name] = _grid(
            plots[name],
            values,
            mapper,
            cell,
            name,
            blank_zeros=blank_zeros,
            extra=extra,
        )
    for above, below in (
        ("pool_input", "pool_gradient"),
        ("pool_output", "pool_upstream"),
    ):
        widest = max(panel_width(plots[above]), panel_width(plots[below]))
        for name in (above, below):  # so that the grids line up in columns
            widen(plots[name], widest)

    per_cell = cells["pool_output"].data_source
    sources = {"cells": per_cell, **_outlines(plots, per_cell, size)}
    forward = [plots["pool_input"], plots["pool_output"]]
    return dict(
        forward=forward,
        backward=[plots["pool_gradient"], plots["pool_upstream"]],
        hovered=[
            (plots[name], cells[name])
            for name in ("pool_output", "pool_upstream")
        ],
        width=sum(map(panel_width, forward)) + GAP,
        sources=sources,
    )


@validate_params(
    x=Matrix(
        "(H, W)",
        MAX_POOL_SIDE,
        "cells",
        "every value is printed in its cell",
    ),
    size=Integer(minimum=1),
    stride=Integer(minimum=1),
    upstream=Optional(Matrix("(Ho, Wo)")),
    title=TITLE,
    also=[_window_fits],
)
def maxpool_explorer(
    x,
    size: int = 2,
    stride: int = 2,
    upstream=None,
    *,
    title: str | None = None,
):
    """Max pooling forward and backward; hover an output cell to trace it.

    Four grids, every value printed in its cell. Top, the forward pass:
    the input ``x`` and its max pooling ``out`` (white small, black
    large, one scale for both). Under them, the backward pass: under
    ``out`` the upstream gradient ``dout`` (one per output cell), under
    ``x`` the gradient ``dx`` it gives the input (blue negative, red
    positive, transparent where it is exactly 0).

    With the mouse over a cell of ``out`` (or ``dout``) the reader sees
    that cell outlined, its window outlined in ``x`` and ``dx``, and the
    window's winner, the input cell whose value ``out`` took, outlined
    in both; a line of text says where the gradient goes: all of
    ``dout[i, j]`` to the winner, nothing to the other cells. Ties go to
    the first maximum in row-major order, as in PyTorch
    (:func:`cnn_tutorial.loops.pool_winner`); with overlapping windows
    (``stride < size``) a cell that wins several windows adds up their
    gradients. Before any hover, output cell ``(0, 0)`` is traced.

    Winners and gradients are computed here, by the package
    (:func:`~cnn_tutorial.pooling.maxpool2d_backward`); the browser only
    shows the ones of the cell under the mouse.

    Parameters
    ----------
    x : array_like of shape (H, W)
        E.g. an 8 x 8 crop of a feature map. Finite; at most
        :data:`MAX_POOL_SIDE` cells a side.
    size : int, default 2
        Side of the square window; at most ``min(H, W)``.
    stride : int, default 2
        How far the window moves; ``Ho = (H - size) // stride + 1``.
    upstream : array_like of shape (Ho, Wo), optional
        The gradient arriving at the output, ``dout``; default all ones.
    title : str, optional
        Heading above the figure; the default names window and stride,
        and ``""`` leaves it out.

    Returns
    -------
    bokeh.models.Column
        Show it with :func:`cnn_tutorial.figures.display.show`; at most
        :data:`MAX_WIDTH` pixels wide. Named parts: the plots
        ``"pool_input"``, ``"pool_output"``, ``"pool_upstream"``,
        ``"pool_gradient"``, their cells' renderers ``"<plot>_cells"``
        and sources ``"<plot>_source"`` (columns ``x``, ``y``,
        ``row``, ``col``, ``value``, ...; the output's also has, per
        cell, ``winner_row``, ``winner_col`` and ``text``); the outlines'
        sources ``"pool_cell"``, ``"pool_window"``, ``"pool_winner"``;
        the ``Div`` ``"pool_readout"``.
    """
    # Every number, once, by the package: out, dx, and for each output
    # cell its window, its winner and a line of text.
    data = _maxpool_data(x, size, stride, upstream)
    parts = _maxpool_plots(x, upstream, data, size, stride)
    src, width = parts["sources"], parts["width"]

    readout = readout_div(data["text"][0], width, "pool_readout")
    # In the browser: show the outlines and text of the cell hovered.
    trace = CustomJS(
        args=dict(
            cells=src["cells"],
            cell_outline=src["cell"],
            window_outline=src["window"],
            winner_outline=src["winner"],
            readout=readout,
        ),
        code=_MAXPOOL_JS,
    )
    for plot, cells in parts["hovered"]:
        plot.add_tools(
            HoverTool(renderers=[cells], tooltips=None, callback=trace),
            _tap_tool(cells, trace),
        )

    default = (
        f"Max pooling, {size}\u00d7{size} windows, stride "
        f"{stride}: hover over or tap out or dout"
    )
    heading = title_div(title, default, width, "pool_title")
    return column(
        *heading,
        row(*parts["forward"], spacing=GAP),
        row(*parts["backward"], spacing=GAP),
        readout,
    )
