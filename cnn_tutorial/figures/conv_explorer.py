"""The convolution explorer: a slider that moves a filter over an image, filling in the output.

Every number is computed here, in numpy, by the package's own functions
(:func:`cnn_tutorial.ops.im2col`, :func:`~cnn_tutorial.ops.conv2d`), once, and shipped to the
browser in the figure's data sources (``ColumnDataSource``). The small ``CustomJS`` callback only
picks the entries of the slider's position out of those sources and blanks the entries after it:
it does no arithmetic on the numbers, so what the reader sees cannot disagree with the package the
tests check. The look is the explorers' (:mod:`cnn_tutorial.figures.explorer_parts`); the chapters
import the figure from :mod:`cnn_tutorial.figures.explorers`.
"""

from __future__ import annotations

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    LinearColorMapper,
    Slider,
)

from .. import ops
from ..checks import check_window_fits, output_size
from ..params import Integer, validate_params
from .explorer_parts import (
    BORDER,
    GAP,
    TEXT_STYLE,
    TITLE,
    Matrix,
    draw_image,
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
    title_room,
    widget_width,
)
from .pictures import MAX_WIDTH  # one limit for every figure of the book

__all__ = ["convolution_explorer"]

#: The largest image side :func:`convolution_explorer` takes.
MAX_CONV_SIDE = 64
#: Hatching behind the cells that are not computed yet (their values are NaN, drawn transparent).
BLANK_HATCH_COLOR = "#9a9a9a"


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


# ----------------------------------------------------------------------------- rules


def _kernel_slides(image, kernel):
    """The kernel fits the image, in at least two positions."""
    check_window_fits("kernel", kernel.shape, image.shape, "image")
    if image.shape == kernel.shape:
        raise ValueError(
            f"kernel {kernel.shape[0]}x{kernel.shape[1]} has the size of the image {image.shape[0]}x"
            f"{image.shape[1]}: it fits in one position only, so there is nothing to slide"
        )


def _position_fits(image, kernel, position):
    """``position`` numbers one of the output's cells."""
    ho, wo = (
        output_size(n, k, 1) for n, k in zip(image.shape, kernel.shape)
    )
    if position >= ho * wo:
        raise ValueError(
            f"position must be < {ho * wo} (the {ho}x{wo} output positions), got {position}"
        )


# ----------------------------------------------------------------------------- convolution explorer


def _hatch_behind(fig, shape: tuple[int, int]) -> None:
    """Grey hatching under an image: it shows through the NaN (transparent) cells not computed yet."""
    rows, cols = shape
    fig.rect(
        x=cols / 2,
        y=rows / 2,
        width=cols,
        height=rows,
        fill_color=None,
        line_color=None,
        hatch_pattern="/",
        hatch_color=BLANK_HATCH_COLOR,
        hatch_alpha=0.6,
        hatch_scale=8,
    )


def _convolution_data(image: np.ndarray, kernel: np.ndarray) -> dict:
    """Everything :func:`convolution_explorer` shows, computed by the package: output and im2col columns."""
    (h, w), (kh, kw) = image.shape, kernel.shape
    ho, wo = h - kh + 1, w - kw + 1
    x = image[None, None]  # (1, 1, H, W): the package's batch layout
    output = ops.conv2d(x, kernel[None, None], method="simple")[
        0, 0
    ]  # (Ho, Wo)
    columns = ops.im2col(x, kh, kw)[
        0
    ]  # (kh*kw, Ho*Wo): column p is the window of position p
    p = np.arange(ho * wo)
    i, j = np.divmod(
        p, wo
    )  # position p is output cell (i, j), row-major, like the columns
    text = [
        f"position p = {q} = ({a}, {b}): output[{a}, {b}] = sum of window \u00d7 kernel = {value:.3f}"
        for q, a, b, value in zip(p, i, j, output.ravel())
    ]
    positions = dict(
        p=p,
        i=i,
        j=j,
        value=output.ravel(),
        text=text,
        window_x=j + kw / 2,
        window_y=i + kh / 2,  # centre of the window in the image
        cell_x=j + 0.5,
        cell_y=i + 0.5,  # centre of the output cell
        column_x=p + 0.5,
        column_y=np.full(
            ho * wo, kh * kw / 2
        ),  # centre of the column in the matrix
    )
    return dict(
        output=output,
        columns=columns,
        positions=positions,
        output_order=p.reshape(ho, wo).astype(
            np.int32
        ),  # cell (i, j) is filled once p >= i * Wo + j
        columns_order=np.broadcast_to(p, columns.shape).astype(
            np.int32
        ),  # every entry of column p: p
    )


def _masked(
    values: np.ndarray, order: np.ndarray, position: int
) -> np.ndarray:
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
    kernel_width = max(
        round(kernel_cell * kw) + 2 * BORDER,
        title_room(f"kernel {kh}x{kw}"),
    )
    frames = (
        MAX_WIDTH - 2 * 2 * BORDER - 2 * GAP - kernel_width - 4
    )  # what the image and output share
    cell = min(frames / (w + wo), 300 / h, 40)
    output_cell = cell
    if max(ho, wo) * cell < 80:
        output_cell = 80 / max(ho, wo)
        cell = min((frames - wo * output_cell) / w, 300 / h, 40)
    return dict(
        cell=cell,
        output_cell=output_cell,
        kernel_cell=kernel_cell,
        columns_height=max(20, min(10 * kh * kw, 160)),
    )


def _print_values(
    fig, values: np.ndarray, mapper: LinearColorMapper, cell: float
) -> None:
    """Each value of a small array as text in its cell, in black or white against the cell's colour."""
    rows, cols = values.shape
    i, j = np.divmod(np.arange(values.size), cols)
    source = ColumnDataSource(
        dict(
            x=j + 0.5,
            y=i + 0.5,
            label=[f"{v:.2f}" for v in values.ravel()],
            color=ink_on(mapped_colors(values, mapper)),
        )
    )
    fig.text(
        x="x",
        y="y",
        text="label",
        text_color="color",
        source=source,
        text_align="center",
        text_baseline="middle",
        text_font_size=label_font_size(cell),
    )


def _convolution_plots(
    image: np.ndarray, kernel: np.ndarray, data: dict, position: int
) -> dict:
    """The convolution explorer's plots as they look at ``position``, and the sources its slider changes.

    Returns ``top`` (the image, kernel and output plots), ``matrix`` (the im2col plot), ``width`` (of the
    top row, in pixels) and ``sources``: ``"output"``, ``"columns"``, ``"positions"``, ``"window"``,
    ``"cell"``, ``"column"`` (see :func:`convolution_explorer`).
    """
    shape, k_shape = image.shape, kernel.shape
    out_shape, col_shape = data["output"].shape, data["columns"].shape
    sizes = _layout_sizes(shape, k_shape)
    ink = ink_mapper(image)  # the image, and its copies in the columns
    weights, signed = signed_mapper(kernel), signed_mapper(data["output"])

    digit = panel(
        "conv_image", f"image {shape_text(shape)}", shape, sizes["cell"]
    )
    draw_image(digit, ColumnDataSource(dict(image=[image])), shape, ink)
    filt = panel(
        "conv_kernel",
        f"kernel {shape_text(k_shape)}",
        k_shape,
        sizes["kernel_cell"],
    )
    draw_image(
        filt, ColumnDataSource(dict(image=[kernel])), k_shape, weights
    )
    if max(k_shape) <= 5:
        _print_values(filt, kernel, weights, sizes["kernel_cell"])
    output = panel(
        "conv_output",
        f"output {shape_text(out_shape)}",
        out_shape,
        sizes["output_cell"],
    )
    top = [digit, filt, output]
    width = sum(map(panel_width, top)) + 2 * GAP
    matrix = panel(
        "conv_columns",
        f"im2col: {col_shape[0]} rows (the window, flattened) \u00d7 {col_shape[1]} columns "
        "(one per position p)",
        col_shape,
        1,
        x_axis="column = output position p",
        frame=(width - 2 * BORDER, sizes["columns_height"]),
    )

    sources = {}
    for fig, key, mapper in (
        (output, "output", signed),
        (matrix, "columns", ink),
    ):
        values, order = data[key], data[f"{key}_order"]
        shown = _masked(values, order, position)
        sources[key] = ColumnDataSource(
            dict(image=[shown], values=[values], order=[order]),
            name=f"conv_{key}_source",
        )
        _hatch_behind(fig, values.shape)
        draw_image(fig, sources[key], values.shape, mapper)
    positions = sources["positions"] = ColumnDataSource(
        data["positions"], name="conv_positions"
    )
    for fig, key, (w, h) in (
        (digit, "window", k_shape[::-1]),
        (output, "cell", (1, 1)),
        (matrix, "column", (1, col_shape[0])),
    ):
        x, y = (
            positions.data[f"{key}_x"][position],
            positions.data[f"{key}_y"][position],
        )
        sources[key] = ColumnDataSource(
            dict(x=[x], y=[y]), name=f"conv_{key}"
        )
        draw_outline(fig, sources[key], w, h, f"conv_{key}")
    return dict(top=top, matrix=matrix, width=width, sources=sources)


@validate_params(
    image=Matrix(
        "(H, W)",
        MAX_CONV_SIDE,
        "pixels",
        "the im2col matrix gets one column per window",
    ),
    kernel=Matrix("(kh, kw)"),
    position=Integer(minimum=0),
    title=TITLE,
    also=[_kernel_slides, _position_fits],
)
def convolution_explorer(
    image, kernel, *, position: int = 0, title: str | None = None
):
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
    # Every number, once, by the package: the output, the columns, and
    # for each position p its window, cell, column and line of text.
    data = _convolution_data(image, kernel)
    parts = _convolution_plots(image, kernel, data, position)
    src, width = parts["sources"], parts["width"]

    slider = Slider(
        start=0,
        end=data["columns"].shape[1] - 1,
        value=position,
        step=1,
        title="output position p",
        width=widget_width(width, text=False),
        styles=TEXT_STYLE,
        name="conv_position",
    )
    readout = readout_div(
        data["positions"]["text"][position], width, "conv_readout"
    )
    # In the browser: pick position p's entries, blank those after p.
    slider.js_on_change(
        "value",
        CustomJS(
            args=dict(
                slider=slider,
                readout=readout,
                positions=src["positions"],
                output=src["output"],
                columns=src["columns"],
                window_outline=src["window"],
                cell_outline=src["cell"],
                column_outline=src["column"],
            ),
            code=_CONVOLUTION_JS,
        ),
    )

    sizes = (
        f"{shape_text(kernel.shape)} kernel over a "
        f"{shape_text(image.shape)}"
    )
    heading = title_div(
        title, f"Sliding a {sizes} image", width, "conv_title"
    )
    return column(
        *heading,
        row(*parts["top"], spacing=GAP),
        parts["matrix"],
        slider,
        readout,
    )
