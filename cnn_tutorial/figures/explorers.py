"""Figures a reader can drive in the static book: Bokeh widgets and hover tools that need no kernel.

Every number is computed here, in numpy, by the package's own functions (:func:`cnn_tutorial.ops.im2col`,
:func:`~cnn_tutorial.ops.conv2d`, :func:`~cnn_tutorial.ops.maxpool2d`,
:func:`~cnn_tutorial.ops.maxpool2d_backward`, :func:`cnn_tutorial.loops.pool_winner`), once, and shipped
to the browser in the figure's data sources (``ColumnDataSource``). The small ``CustomJS`` callbacks only
pick the entries of the current position out of those sources, or blank the entries after it: they do
no arithmetic on the numbers, so what the reader sees cannot disagree with the package the tests check.

Show the figures with :func:`cnn_tutorial.figures.display.show`; they are at most 700 pixels wide (the book's
text column), and their colours read on a white and on a near-black page alike (the book's dark
theme restyles a figure's frame, never its data): backgrounds are transparent, text outside the
cells is mid-grey, text inside a cell is black or white depending on the cell's colour, and
outlines are drawn twice (a wide black line under a narrow amber one).
"""

from __future__ import annotations

import html

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import CustomJS, ColumnDataSource, Div, HoverTool, LinearColorMapper, Range1d, Slider, TapTool
from bokeh.palettes import Greys256, RdBu11
from bokeh.plotting import figure

from .. import loops, ops
from ..checks import as_float_array, check_int, check_ndim, check_no_empty_axes, check_window_fits, output_size
from .pictures import MAX_WIDTH  # one limit for every figure of the book

__all__ = ["convolution_explorer", "maxpool_explorer"]

# ----------------------------------------------------------------------------- look

#: Text outside the cells (headings, titles, axes, slider, readout): mid-grey, 4.3:1 contrast or more on
#: white and on near-black, so it reads in both themes (Divs are not restyled by the page's theme).
TEXT_COLOR = "#7a7a7a"
_TEXT_STYLE = {"color": TEXT_COLOR}
#: Outlines of the current window, cell and column: amber over a wider black line, visible on any cell.
HIGHLIGHT_COLOR = "#ffb000"
HALO_COLOR = "#000000"
#: Hatching behind the cells that are not computed yet (their values are NaN, drawn transparent).
BLANK_HATCH_COLOR = "#9a9a9a"
#: The largest image side :func:`convolution_explorer` takes, and the largest input side of
#: :func:`maxpool_explorer` (which prints every value in its cell).
MAX_CONV_SIDE = 64
MAX_POOL_SIDE = 16

_INK = tuple(reversed(Greys256))  # white for the smallest value, black for the largest, like ink
_SIGNED = RdBu11  # blue negative, white zero, red positive (Bokeh lists it blue first)
_TRANSPARENT = "rgba(0, 0, 0, 0)"
_BORDER = 5  # pixels around each plot's frame
_GAP = 6  # pixels between plots side by side
_TEXT_WIDTH = 480  # pixels, at least, for a line of text under a small figure
_WIDGET_MARGIN = 5  # Bokeh's default margin on each side of a widget (Slider, Div)


# ----------------------------------------------------------------------------- browser side

# Slider moved: show the window, cell and column of position p = slider.value, and blank every output
# cell and every column after p. The sources hold, per position, where each outline goes (`positions`),
# and per cell, its position index (`order`); nothing is computed here but "is it after p?".
_CONVOLUTION_JS = """
const p = slider.value;
const at = (column) => [positions.data[column][p]];
window_outline.data = {x: at("window_x"), y: at("window_y")};
cell_outline.data = {x: at("cell_x"), y: at("cell_y")};
column_outline.data = {x: at("column_x"), y: at("column_y")};
for (const source of [output, columns]) {
  const values = source.data.values[0];
  const order = source.data.order[0];
  const shown = new values.constructor(values, values.shape);  // a copy, same shape and dtype
  for (let q = 0; q < shown.length; q++) {
    if (order[q] > p) shown[q] = NaN;
  }
  source.data = Object.assign({}, source.data, {image: [shown]});
}
readout.text = positions.data.text[p];
"""

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


# ----------------------------------------------------------------------------- checks

def _finite_matrix(name: str, value, layout: str) -> np.ndarray:
    """``value`` as a 2-D float array with no empty axis and only finite entries, or a clear error."""
    array = as_float_array(name, value)
    check_ndim(name, array, 2, layout)
    check_no_empty_axes(name, array, layout, (0, 1))
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise ValueError(
            f"{name} must hold only finite numbers; {bad} of its {array.size} entries are NaN or infinite"
        )
    return array


def _check_side(name: str, array: np.ndarray, largest: int, unit: str, why: str) -> None:
    if max(array.shape) > largest:
        raise ValueError(
            f"{name} is {array.shape[0]}x{array.shape[1]}, but this figure takes at most {largest} {unit} "
            f"a side ({why}); crop it, e.g. {name}[:{largest}, :{largest}]"
        )


def _check_title(title) -> None:
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None, got {type(title).__name__}")


def _check_convolution(image, kernel, position, title):
    image = _finite_matrix("image", image, "(H, W)")
    kernel = _finite_matrix("kernel", kernel, "(kh, kw)")
    _check_side("image", image, MAX_CONV_SIDE, "pixels", "the im2col matrix gets one column per window")
    check_window_fits("kernel", kernel.shape, image.shape, "image")
    ho, wo = (output_size(n, k, 1) for n, k in zip(image.shape, kernel.shape))
    if ho * wo < 2:
        raise ValueError(
            f"kernel {kernel.shape[0]}x{kernel.shape[1]} has the size of the image {image.shape[0]}x"
            f"{image.shape[1]}: it fits in one position only, so there is nothing to slide"
        )
    position = check_int("position", position, 0)
    if position >= ho * wo:
        raise ValueError(f"position must be < {ho * wo} (the {ho}x{wo} output positions), got {position}")
    _check_title(title)
    return image, kernel, position


def _check_maxpool(x, size, stride, upstream, title):
    x = _finite_matrix("x", x, "(H, W)")
    _check_side("x", x, MAX_POOL_SIDE, "cells", "every value is printed in its cell")
    size = check_int("size", size, 1)
    stride = check_int("stride", stride, 1)
    check_window_fits("pool window", (size, size), x.shape, "input x")
    ho, wo = output_size(x.shape[0], size, stride), output_size(x.shape[1], size, stride)
    if upstream is None:
        upstream = np.ones((ho, wo), dtype=x.dtype)
    else:
        upstream = _finite_matrix("upstream", upstream, "(Ho, Wo)")
        if upstream.shape != (ho, wo):
            raise ValueError(
                f"upstream must have the pooled output's shape {(ho, wo)} (x {x.shape}, size {size}, "
                f"stride {stride}), got {upstream.shape}"
            )
    _check_title(title)
    return x, size, stride, upstream


# ----------------------------------------------------------------------------- building blocks

def _tap_tool(cells, callback: CustomJS) -> TapTool:
    """A tap (touch, or a click) on ``cells`` runs ``callback``; a tapped cell looks like the others."""
    cells.selection_glyph = cells.glyph.clone()
    cells.nonselection_glyph = cells.glyph.clone()
    return TapTool(renderers=[cells], callback=callback)


def _hex_luminance(color: str) -> float:
    """Relative luminance (WCAG) of a ``#rrggbb`` colour, 0 for black to 1 for white."""
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _mapped(values: np.ndarray, mapper: LinearColorMapper) -> list[str]:
    """The palette colour ``mapper`` gives each value (as BokehJS computes it), flattened row-major."""
    palette = mapper.palette
    span = mapper.high - mapper.low
    scaled = (np.ravel(values) - mapper.low) / span * len(palette)
    index = np.clip(np.floor(scaled).astype(int), 0, len(palette) - 1)
    return [palette[k] for k in index]


def _ink_on(fills: list[str]) -> list[str]:
    """Black text on light cells, white text on dark ones (contrast at least 4.5:1 either way)."""
    return ["#000000" if _hex_luminance(fill) > 0.18 else "#ffffff" for fill in fills]


def _ink_mapper(values: np.ndarray) -> LinearColorMapper:
    low, high = float(values.min()), float(values.max())
    high = high if high > low else low + 1.0  # a constant array: any one colour
    return LinearColorMapper(palette=_INK, low=low, high=high, nan_color=_TRANSPARENT)


def _signed_mapper(*arrays: np.ndarray) -> LinearColorMapper:
    bound = max(float(np.abs(a).max()) for a in arrays) or 1.0
    return LinearColorMapper(palette=_SIGNED, low=-bound, high=bound, nan_color=_TRANSPARENT)


def _panel(name: str, title: str, shape: tuple[int, int], cell: float, x_axis: str | None = None,
           frame: tuple[int, int] | None = None):
    """An empty plot for a ``shape`` (rows, columns) array, row 0 at the top: ``cell`` pixels a cell, or a
    frame of ``frame`` (width, height) pixels. At least as wide as its title."""
    rows, cols = shape
    frame_width, frame_height = frame or (round(cols * cell), max(round(rows * cell), 1))
    fig = figure(
        name=name, title=title, frame_width=frame_width, frame_height=frame_height,
        x_range=Range1d(0, cols), y_range=Range1d(rows, 0), tools="", toolbar_location=None,
        x_axis_location="below" if x_axis else None, y_axis_location=None,
        background_fill_color=None, border_fill_color=None, outline_line_color=TEXT_COLOR,
        min_border=_BORDER,
    )
    fig.title.text_color = TEXT_COLOR
    fig.title.text_font_size = "12px"
    fig.grid.visible = False
    _widen(fig, _title_room(title))
    if x_axis:
        axis = fig.xaxis[0]
        axis.axis_label = x_axis
        for part in ("axis_label_text_color", "major_label_text_color"):
            setattr(axis, part, TEXT_COLOR)
        for part in ("axis_line_color", "major_tick_line_color", "minor_tick_line_color"):
            setattr(axis, part, TEXT_COLOR)
        axis.axis_label_text_font_style = "normal"
    return fig


def _title_room(title: str) -> int:
    """Pixels a plot's title needs across (12-pixel bold text: about 7 pixels a character)."""
    return 7 * len(title) + 4


def _panel_width(fig) -> int:
    """Pixels a plot from :func:`_panel` takes across: its frame and its borders."""
    return fig.frame_width + fig.min_border_left + fig.min_border_right


def _widen(fig, width: int) -> None:
    """Make a plot at least ``width`` pixels across by widening its right border; cells keep their size."""
    fig.min_border_left = fig.min_border_right = _BORDER
    fig.min_border_right += max(0, width - _panel_width(fig))


def _outline(fig, source: ColumnDataSource, width: float, height: float, name: str) -> None:
    """A ``width x height`` rectangle around each ``(x, y)`` of ``source``: amber over a black halo."""
    for color, line_width, part in ((HALO_COLOR, 5, "halo"), (HIGHLIGHT_COLOR, 2.5, "line")):
        fig.rect(
            x="x", y="y", width=width, height=height, source=source, fill_color=None,
            line_color=color, line_width=line_width, name=f"{fig.name}_{name}_{part}",
        )


def _hatch_behind(fig, shape: tuple[int, int]) -> None:
    """Grey hatching under an image: it shows through the NaN (transparent) cells not computed yet."""
    rows, cols = shape
    fig.rect(
        x=cols / 2, y=rows / 2, width=cols, height=rows, fill_color=None, line_color=None,
        hatch_pattern="/", hatch_color=BLANK_HATCH_COLOR, hatch_alpha=0.6, hatch_scale=8,
    )


def _image(fig, source: ColumnDataSource, shape: tuple[int, int], mapper: LinearColorMapper):
    rows, cols = shape
    return fig.image(
        image="image", x=0, y=0, dw=cols, dh=rows, source=source, color_mapper=mapper,
        name=f"{fig.name}_pixels",
    )


def _widget_width(width: int, text: bool = True) -> int:
    """Width to give a widget under plots ``width`` pixels across, so that it spans their frames exactly
    (its margins take the place of the plots' borders); a text at least :data:`_TEXT_WIDTH` wide."""
    return (max(width, _TEXT_WIDTH) if text else width) - 2 * _WIDGET_MARGIN


def _title_div(title: str | None, default: str, width: int, name: str) -> list[Div]:
    """The figure's heading, in bold, in :data:`TEXT_COLOR`; none when ``title`` is ``""``."""
    text = default if title is None else title
    if not text:
        return []
    heading = f"<b>{html.escape(text)}</b>"
    return [Div(text=heading, width=_widget_width(width), name=name, styles=_TEXT_STYLE)]


def _readout(text: str, width: int, name: str) -> Div:
    """The line of text under a figure, shown as text (not HTML), in :data:`TEXT_COLOR`."""
    return Div(text=text, render_as_text=True, width=_widget_width(width), name=name, styles=_TEXT_STYLE)


# ----------------------------------------------------------------------------- convolution explorer

def _convolution_data(image: np.ndarray, kernel: np.ndarray) -> dict:
    """Everything :func:`convolution_explorer` shows, computed by the package: output and im2col columns."""
    (h, w), (kh, kw) = image.shape, kernel.shape
    ho, wo = h - kh + 1, w - kw + 1
    x = image[None, None]  # (1, 1, H, W): the package's batch layout
    output = ops.conv2d(x, kernel[None, None], method="simple")[0, 0]  # (Ho, Wo)
    columns = ops.im2col(x, kh, kw)[0]  # (kh*kw, Ho*Wo): column p is the window of position p
    p = np.arange(ho * wo)
    i, j = np.divmod(p, wo)  # position p is output cell (i, j), row-major, like the columns
    text = [
        f"position p = {q} = ({a}, {b}): output[{a}, {b}] = sum of window \u00d7 kernel = {value:.3f}"
        for q, a, b, value in zip(p, i, j, output.ravel())
    ]
    positions = dict(
        p=p, i=i, j=j, value=output.ravel(), text=text,
        window_x=j + kw / 2, window_y=i + kh / 2,  # centre of the window in the image
        cell_x=j + 0.5, cell_y=i + 0.5,  # centre of the output cell
        column_x=p + 0.5, column_y=np.full(ho * wo, kh * kw / 2),  # centre of the column in the matrix
    )
    return dict(
        output=output, columns=columns, positions=positions,
        output_order=p.reshape(ho, wo).astype(np.int32),  # cell (i, j) is filled once p >= i * Wo + j
        columns_order=np.broadcast_to(p, columns.shape).astype(np.int32),  # every entry of column p: p
    )


def _masked(values: np.ndarray, order: np.ndarray, position: int) -> np.ndarray:
    """``values`` with the entries after ``position`` set to NaN: what the browser shows at ``position``."""
    return np.where(order <= position, values, np.nan).astype(values.dtype)


def _layout_sizes(image_shape, kernel_shape) -> dict:
    """Pixel sizes of the convolution explorer's parts, so that its top row (image, kernel, output) is at most
    :data:`MAX_WIDTH` wide and none of its plots is too small to see or to hold its title.

    Returns the pixels a cell of the image (``cell``), of the output (``output_cell``: the image's, unless
    the output would be less than 80 pixels across) and of the kernel (``kernel_cell``), and the height of
    the im2col matrix (``columns_height``: 10 pixels a row, at most 160 in all).
    """
    (h, w), (kh, kw) = image_shape, kernel_shape
    ho, wo = h - kh + 1, w - kw + 1
    kernel_cell = min(36, 110 / max(kh, kw))
    kernel_width = max(round(kernel_cell * kw) + 2 * _BORDER, _title_room(f"kernel {kh}x{kw}"))
    frames = MAX_WIDTH - 2 * 2 * _BORDER - 2 * _GAP - kernel_width - 4  # what the image and output share
    cell = min(frames / (w + wo), 300 / h, 40)
    output_cell = cell
    if max(ho, wo) * cell < 80:
        output_cell = 80 / max(ho, wo)
        cell = min((frames - wo * output_cell) / w, 300 / h, 40)
    return dict(
        cell=cell, output_cell=output_cell, kernel_cell=kernel_cell,
        columns_height=max(20, min(10 * kh * kw, 160)),
    )


def _print_values(fig, values: np.ndarray, mapper: LinearColorMapper, cell: float) -> None:
    """Each value of a small array as text in its cell, in black or white against the cell's colour."""
    rows, cols = values.shape
    i, j = np.divmod(np.arange(values.size), cols)
    source = ColumnDataSource(dict(
        x=j + 0.5, y=i + 0.5, label=[f"{v:.2f}" for v in values.ravel()],
        color=_ink_on(_mapped(values, mapper)),
    ))
    fig.text(
        x="x", y="y", text="label", text_color="color", source=source, text_align="center",
        text_baseline="middle", text_font_size=f"{max(7, min(13, round(cell * 0.3)))}px",
    )


def _times(shape: tuple[int, int]) -> str:
    return f"{shape[0]}\u00d7{shape[1]}"


def _convolution_plots(image: np.ndarray, kernel: np.ndarray, data: dict, position: int) -> dict:
    """The convolution explorer's plots as they look at ``position``, and the sources its slider changes.

    Returns ``top`` (the image, kernel and output plots), ``matrix`` (the im2col plot), ``width`` (of the
    top row, in pixels) and ``sources``: ``"output"``, ``"columns"``, ``"positions"``, ``"window"``,
    ``"cell"``, ``"column"`` (see :func:`convolution_explorer`).
    """
    shape, k_shape = image.shape, kernel.shape
    out_shape, col_shape = data["output"].shape, data["columns"].shape
    sizes = _layout_sizes(shape, k_shape)
    ink = _ink_mapper(image)  # the image, and its copies in the columns
    weights, signed = _signed_mapper(kernel), _signed_mapper(data["output"])

    digit = _panel("conv_image", f"image {_times(shape)}", shape, sizes["cell"])
    _image(digit, ColumnDataSource(dict(image=[image])), shape, ink)
    filt = _panel("conv_kernel", f"kernel {_times(k_shape)}", k_shape, sizes["kernel_cell"])
    _image(filt, ColumnDataSource(dict(image=[kernel])), k_shape, weights)
    if max(k_shape) <= 5:
        _print_values(filt, kernel, weights, sizes["kernel_cell"])
    output = _panel("conv_output", f"output {_times(out_shape)}", out_shape, sizes["output_cell"])
    top = [digit, filt, output]
    width = sum(map(_panel_width, top)) + 2 * _GAP
    matrix = _panel(
        "conv_columns",
        f"im2col: {col_shape[0]} rows (the window, flattened) \u00d7 {col_shape[1]} columns "
        "(one per position p)",
        col_shape, 1, x_axis="column = output position p",
        frame=(width - 2 * _BORDER, sizes["columns_height"]),
    )

    sources = {}
    for fig, key, mapper in ((output, "output", signed), (matrix, "columns", ink)):
        values, order = data[key], data[f"{key}_order"]
        shown = _masked(values, order, position)
        sources[key] = ColumnDataSource(
            dict(image=[shown], values=[values], order=[order]), name=f"conv_{key}_source"
        )
        _hatch_behind(fig, values.shape)
        _image(fig, sources[key], values.shape, mapper)
    positions = sources["positions"] = ColumnDataSource(data["positions"], name="conv_positions")
    for fig, key, (w, h) in ((digit, "window", k_shape[::-1]), (output, "cell", (1, 1)),
                             (matrix, "column", (1, col_shape[0]))):
        x, y = positions.data[f"{key}_x"][position], positions.data[f"{key}_y"][position]
        sources[key] = ColumnDataSource(dict(x=[x], y=[y]), name=f"conv_{key}")
        _outline(fig, sources[key], w, h, f"conv_{key}")
    return dict(top=top, matrix=matrix, width=width, sources=sources)


def convolution_explorer(image, kernel, *, position: int = 0,
                         title: str | None = None):
    """A slider that moves a filter over an image, filling in the output.

    Stride 1, no padding, as in the chapters: the ``kh x kw`` window
    takes ``Ho * Wo`` positions, ``Ho = H - kh + 1`` and ``Wo = W - kw +
    1``, numbered ``p = i * Wo + j`` row by row. For the slider's
    position ``p = (i, j)`` the reader sees

    * the image (white is small, black large) with the window outlined;
    * the filter, each weight printed in its cell (blue negative, red
      positive);
    * the output ``conv2d(image, kernel)``, filled in for the positions
      ``0 ... p`` (hatched after ``p``), cell ``(i, j)`` outlined;
    * the im2col matrix of :func:`cnn_tutorial.ops.im2col`: one column
      per position (the window, flattened row by row), columns ``0 ...
      p`` filled in, column ``p`` outlined; the output is the kernel
      flattened times this matrix;
    * a line of text: ``position p = 17 = (0, 17): output[0, 17] = sum
      of window x kernel = 1.234``.

    Every value is computed here, in numpy; the browser only shows the
    part of it that belongs to ``p``, so the figure needs no kernel.

    Parameters
    ----------
    image : array_like of shape (H, W)
        E.g. one normalised MNIST digit, 28 x 28. Finite; at most
        :data:`MAX_CONV_SIDE` pixels a side.
    kernel : array_like of shape (kh, kw)
        Smaller than ``image`` along at least one axis, so the window
        can move. Finite.
    position : int, default 0
        The slider's starting position ``p``, ``0 <= p < Ho * Wo``.
    title : str, optional
        Heading above the figure; the default names the sizes, and
        ``""`` leaves it out.

    Returns
    -------
    bokeh.models.Column
        Show it with :func:`cnn_tutorial.figures.display.show`; at most
        :data:`MAX_WIDTH` pixels wide. Named parts: the ``Slider``
        ``"conv_position"``, the ``Div`` ``"conv_readout"``; the plots
        ``"conv_image"``, ``"conv_kernel"``, ``"conv_output"``,
        ``"conv_columns"``; their sources ``"conv_output_source"`` and
        ``"conv_columns_source"`` (columns ``values``: all of the output
        ``(Ho, Wo)`` or of the columns ``(kh * kw, Ho * Wo)``; ``image``:
        what is shown; ``order``: each entry's position ``p``),
        ``"conv_positions"`` (one row per ``p``: ``i``, ``j``, ``value``,
        ``text`` and the outlines' centres) and the outlines' sources
        ``"conv_window"``, ``"conv_cell"``, ``"conv_column"``.
    """
    image, kernel, position = _check_convolution(
        image, kernel, position, title)
    # Every number, once, by the package: the output, the columns, and
    # for each position p its window, cell, column and line of text.
    data = _convolution_data(image, kernel)
    parts = _convolution_plots(image, kernel, data, position)
    src, width = parts["sources"], parts["width"]

    slider = Slider(start=0, end=data["columns"].shape[1] - 1,
                    value=position, step=1, title="output position p",
                    width=_widget_width(width, text=False),
                    styles=_TEXT_STYLE, name="conv_position")
    readout = _readout(data["positions"]["text"][position], width,
                       "conv_readout")
    # In the browser: pick position p's entries, blank those after p.
    slider.js_on_change("value", CustomJS(
        args=dict(slider=slider, readout=readout,
                  positions=src["positions"], output=src["output"],
                  columns=src["columns"], window_outline=src["window"],
                  cell_outline=src["cell"],
                  column_outline=src["column"]),
        code=_CONVOLUTION_JS))

    sizes = f"{_times(kernel.shape)} kernel over a {_times(image.shape)}"
    heading = _title_div(title, f"Sliding a {sizes} image", width,
                         "conv_title")
    return column(*heading, row(*parts["top"], spacing=_GAP),
                  parts["matrix"], slider, readout)


# ----------------------------------------------------------------------------- max-pool explorer

def _maxpool_data(x: np.ndarray, size: int, stride: int, upstream: np.ndarray) -> dict:
    """Forward and backward pass of max pooling by the package, and each output cell's winner and text."""
    h, w = x.shape
    ho, wo = upstream.shape
    output = ops.maxpool2d(x[None, None], size, stride)[0, 0]  # (Ho, Wo)
    gradient = ops.maxpool2d_backward(upstream[None, None], x[None, None], size, stride)[0, 0]  # (H, W)
    winners = np.empty((ho * wo, 2), dtype=int)  # (row, column) in x of each output cell's winner
    windows = []
    for q in range(ho * wo):
        i, j = divmod(q, wo)
        window = x[i * stride : i * stride + size, j * stride : j * stride + size]
        a, b = loops.pool_winner(window)  # the first maximum in row-major order, as PyTorch picks it
        winners[q] = i * stride + a, j * stride + b
        windows.append(window)
    wins = np.zeros((h, w), dtype=int)  # how many windows each input cell wins
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
        line += f" alone; the other {size * size - 1} cells of the window get 0 from it." if size > 1 else "."
        if wins[r, c] > 1:
            line += f" dx[{r}, {c}] = {gradient[r, c]:.2f} adds up the {wins[r, c]} windows it wins."
        text.append(line)
    return dict(output=output, gradient=gradient, winners=winners, text=text)


def _grid(fig, values: np.ndarray, mapper: LinearColorMapper, cell: float, name: str,
          blank_zeros: bool = False, extra: dict | None = None):
    """``values`` (rows, columns) as coloured cells, each value printed in it; returns the renderer.

    With ``blank_zeros`` the cells that are exactly 0 are left transparent, their "0" in mid-grey.
    ``extra`` adds columns (one entry per cell, row-major) to the cells' source.
    """
    rows, cols = values.shape
    i, j = np.divmod(np.arange(values.size), cols)
    flat = values.ravel()
    fills = _mapped(values, mapper)
    inks = _ink_on(fills)
    labels = [f"{v:.2f}" for v in flat]
    if blank_zeros:
        zero = flat == 0
        fills = [_TRANSPARENT if z else f for z, f in zip(zero, fills)]
        inks = [TEXT_COLOR if z else k for z, k in zip(zero, inks)]
        labels = ["0" if z else label for z, label in zip(zero, labels)]
    source = ColumnDataSource(
        dict(x=j + 0.5, y=i + 0.5, row=i, col=j, value=flat, label=labels, fill=fills, ink=inks,
             **(extra or {})),
        name=f"{name}_source",
    )
    cells = fig.rect(
        x="x", y="y", width=1, height=1, source=source, fill_color="fill", line_color=TEXT_COLOR,
        line_alpha=0.5, name=f"{name}_cells",
    )
    fig.text(
        x="x", y="y", text="label", text_color="ink", source=source, text_align="center",
        text_baseline="middle", text_font_size=f"{max(7, min(13, round(cell * 0.3)))}px",
    )
    return cells


def _pool_cell(x_shape, out_shape) -> float:
    """Pixels a cell, so that two grids side by side (input and output) fit :data:`MAX_WIDTH`."""
    (h, w), (_, wo) = x_shape, out_shape
    frames = MAX_WIDTH - 2 * 2 * _BORDER - _GAP - 4
    return min(frames / (w + wo), 320 / h, 44)


def _cell_columns(data: dict, size: int, stride: int) -> dict:
    """Per output cell (row-major): its window's centre, its winner's centre and its line of text."""
    winners = data["winners"]
    ho, wo = data["output"].shape
    i, j = np.divmod(np.arange(ho * wo), wo)
    return dict(
        window_x=j * stride + size / 2, window_y=i * stride + size / 2,
        winner_x=winners[:, 1] + 0.5, winner_y=winners[:, 0] + 0.5,
        winner_row=winners[:, 0], winner_col=winners[:, 1],
        text=data["text"],
    )


def _maxpool_plots(x: np.ndarray, upstream: np.ndarray, data: dict, size: int, stride: int) -> dict:
    """The max-pool explorer's four grids, tracing output cell 0, and the sources its hover tools change.

    Returns ``forward`` (the plots of ``x`` and ``out``), ``backward`` (of ``dx`` and ``dout``, under
    them), ``hovered`` (``(plot, cells renderer)`` of ``out`` and ``dout``), ``width`` (of a row, in
    pixels) and ``sources``: ``"cells"`` (the output's cells), ``"cell"``, ``"window"``, ``"winner"``.
    """
    out, dx = data["output"], data["gradient"]
    cell = _pool_cell(x.shape, out.shape)
    ink, signed = _ink_mapper(x), _signed_mapper(dx, upstream)
    plots, cells = {}, {}
    for name, title, values, mapper, extra in (
        ("pool_input", f"x (input) {_times(x.shape)}", x, ink, None),
        ("pool_output", f"out = maxpool(x) {_times(out.shape)}", out, ink, _cell_columns(data, size, stride)),
        ("pool_gradient", f"dx (to the input) {_times(x.shape)}", dx, signed, None),
        ("pool_upstream", f"dout (upstream) {_times(out.shape)}", upstream, signed, None),
    ):
        plots[name] = _panel(name, title, values.shape, cell)
        blank_zeros = name == "pool_gradient"  # where no gradient goes
        cells[name] = _grid(plots[name], values, mapper, cell, name, blank_zeros=blank_zeros, extra=extra)
    for above, below in (("pool_input", "pool_gradient"), ("pool_output", "pool_upstream")):
        widest = max(_panel_width(plots[above]), _panel_width(plots[below]))
        for name in (above, below):  # so that the grids line up in columns
            _widen(plots[name], widest)

    per_cell = cells["pool_output"].data_source
    sources = {"cells": per_cell}
    for key, (x_column, y_column), side, names in (
        ("cell", ("x", "y"), 1, ("pool_output", "pool_upstream")),
        ("window", ("window_x", "window_y"), size, ("pool_input", "pool_gradient")),
        ("winner", ("winner_x", "winner_y"), 0.78, ("pool_input", "pool_gradient")),
    ):
        start = dict(index=[0], x=[per_cell.data[x_column][0]], y=[per_cell.data[y_column][0]])
        sources[key] = ColumnDataSource(start, name=f"pool_{key}")
        for name in names:
            _outline(plots[name], sources[key], side, side, f"pool_{key}")
    forward = [plots["pool_input"], plots["pool_output"]]
    return dict(
        forward=forward, backward=[plots["pool_gradient"], plots["pool_upstream"]],
        hovered=[(plots[name], cells[name]) for name in ("pool_output", "pool_upstream")],
        width=sum(map(_panel_width, forward)) + _GAP, sources=sources,
    )


def maxpool_explorer(x, size: int = 2, stride: int = 2, upstream=None,
                     *, title: str | None = None):
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
    (:func:`~cnn_tutorial.ops.maxpool2d_backward`); the browser only
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
    x, size, stride, upstream = _check_maxpool(
        x, size, stride, upstream, title)
    # Every number, once, by the package: out, dx, and for each output
    # cell its window, its winner and a line of text.
    data = _maxpool_data(x, size, stride, upstream)
    parts = _maxpool_plots(x, upstream, data, size, stride)
    src, width = parts["sources"], parts["width"]

    readout = _readout(data["text"][0], width, "pool_readout")
    # In the browser: show the outlines and text of the cell hovered.
    trace = CustomJS(
        args=dict(cells=src["cells"], cell_outline=src["cell"],
                  window_outline=src["window"],
                  winner_outline=src["winner"], readout=readout),
        code=_MAXPOOL_JS)
    for plot, cells in parts["hovered"]:
        plot.add_tools(HoverTool(renderers=[cells], tooltips=None,
                                 callback=trace),
                       _tap_tool(cells, trace))

    default = (f"Max pooling, {size}\u00d7{size} windows, stride "
               f"{stride}: hover over or tap out or dout")
    heading = _title_div(title, default, width, "pool_title")
    return column(*heading, row(*parts["forward"], spacing=_GAP),
                  row(*parts["backward"], spacing=_GAP), readout)
