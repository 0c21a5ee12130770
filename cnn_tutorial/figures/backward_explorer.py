"""A figure to drive in the static book: where one pixel of a convolution's output gradient goes.

Single channel, stride 1, no padding, as the backprop chapter derives it. The output was
``y[i, j] = sum(w * x[i:i+kh, j:j+kw])``, so one pixel ``dy[i, j]`` of the gradient arriving at
the output sends ``dy[i, j] * w`` to the input's window (into ``dx``) and
``dy[i, j] * x[i:i+kh, j:j+kw]`` to the filter (into ``dw``); the full gradients are these
contributions summed over every pixel.

Every contribution is computed here, in numpy, once for every pixel, and the full gradients by
the package's own :func:`cnn_tutorial.ops.conv2d_backward`; all are shipped in the figure's data
sources.
The small ``CustomJS`` callback only picks the tapped pixel's arrays out of them: it does no
arithmetic, so what the reader sees cannot disagree with the package the tests check. The look
(colours, outlines, grey text, widths) is the explorers' own, from
:mod:`cnn_tutorial.figures.explorer_parts`.
"""

from __future__ import annotations

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    LinearColorMapper,
    TapTool,
)

from .. import ops
from ..checks import check_int, check_window_fits
from ..params import Rule, validate_params
from .explorer_parts import (
    BORDER,
    GAP,
    TEXT_COLOR,
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
)
from .pictures import MAX_WIDTH

__all__ = ["conv_backward_explorer", "MAX_BACKWARD_SIDE"]

#: The largest side of the input ``x`` :func:`conv_backward_explorer` takes: the figure ships one
#: ``dx``-sized array per pixel of ``dy``, and two input-sized panels share a row of the text
#: column.
MAX_BACKWARD_SIDE = 16

# The panels' titles (the small panels' set the width they need across).
_SMALL_TITLES = ("filter w", "added to dw", "dw, all pixels")

# A pixel of dy tapped: show its cell, its window, its two contributions and its line of text. The
# source `pixels` holds one row per pixel p of dy (row-major), with everything already computed.
_PICK_JS = """
const hit = pixels.selected.indices;
if (hit.length == 0) return;  // a tap beside the cells keeps the pixel picked
const p = hit[hit.length - 1];
const at = (column) => [pixels.data[column][p]];
cell.data = {x: at("x"), y: at("y")};
window_outline.data = {x: at("window_x"), y: at("window_y")};
dx_part.data = {image: at("dx_part")};
dw_part.data = {image: at("dw_part")};
dw_text.data = Object.assign({}, dw_text.data,
                             {label: pixels.data.dw_label[p], ink: pixels.data.dw_ink[p]});
readout.text = pixels.data.text[p];
"""


# ----------------------------------------------------------------------------- rules


def _pixel(name, position):
    """``position`` as a pair ``(i, j)`` of integers ``>= 0``."""
    if not isinstance(position, (tuple, list)) or len(position) != 2:
        raise TypeError(
            f"{name} must be a pair (i, j) of integers, got {position!r}"
        )
    return (
        check_int(f"{name}[0]", position[0], 0),
        check_int(f"{name}[1]", position[1], 0),
    )


def _shapes_fit(x, w, dy, position):
    """``w`` fits ``x``, ``dy`` has the output's shape, ``position`` indexes ``dy``; one dtype."""
    check_window_fits("filter w", w.shape, x.shape, "input x")
    ho, wo = (a - b + 1 for a, b in zip(x.shape, w.shape))  # stride 1
    if dy.shape != (ho, wo):
        raise ValueError(
            f"dy must have the output's shape {(ho, wo)} (x {x.shape}, w {w.shape}, stride 1, "
            f"no padding), got {dy.shape}"
        )
    if position[0] >= ho or position[1] >= wo:
        raise ValueError(
            f"position must index dy, of shape {(ho, wo)}: 0 <= i < {ho}, 0 <= j < {wo}; "
            f"got {position}"
        )
    dtype = np.result_type(x, w, dy)
    x, w, dy = (a.astype(dtype, copy=False) for a in (x, w, dy))
    return dict(x=x, w=w, dy=dy)


# ----------------------------------------------------------------------------- numbers


def _backward_data(x: np.ndarray, w: np.ndarray, dy: np.ndarray) -> dict:
    """What the explorer shows: every pixel's contributions, the full gradients, each pixel's text.

    ``dx_parts[p]`` (H, W) is ``dy[i, j] * w`` stamped at the window of pixel ``p = i * Wo + j``
    (zero elsewhere), ``dw_parts[p]`` (kh, kw) is ``dy[i, j] * x[i:i+kh, j:j+kw]``; ``dx`` and
    ``dw`` come from :func:`cnn_tutorial.ops.conv2d_backward` (the simple route the chapters
    teach).
    """
    (h, wd), (kh, kw) = x.shape, w.shape
    ho, wo = dy.shape
    dx_parts = np.zeros((ho * wo, h, wd), dtype=dy.dtype)
    dw_parts = np.empty((ho * wo, kh, kw), dtype=dy.dtype)
    text = []
    for p in range(ho * wo):
        i, j = divmod(p, wo)
        g = dy[i, j]
        dx_parts[p, i : i + kh, j : j + kw] = g * w
        dw_parts[p] = g * x[i : i + kh, j : j + kw]
        window = f"[{i}:{i + kh}, {j}:{j + kw}]"
        text.append(
            f"dy[{i}, {j}] = {g:.2f}: adds {g:.2f} \u00d7 w to dx{window} "
            f"and {g:.2f} \u00d7 x{window} to dw"
        )
    dx, dw, _ = ops.conv2d_backward(
        dy[None, None], x[None, None], w[None, None], method="simple"
    )
    return dict(
        dx_parts=dx_parts,
        dw_parts=dw_parts,
        dx=dx[0, 0],
        dw=dw[0, 0],
        text=text,
    )


# ----------------------------------------------------------------------------- drawing


def _sizes(x_shape, w_shape) -> tuple[float, float]:
    """Pixels a cell of the input-sized panels (x, dy, dx) and of the filter-sized ones (w, dw), so
    that the bottom row (two input-sized and two filter-sized panels) fits :data:`MAX_WIDTH`."""
    (h, wd), (kh, kw) = x_shape, w_shape
    small_cell = min(32, 100 / max(kh, kw))
    small = max(
        round(small_cell * kw) + 2 * BORDER, *map(title_room, _SMALL_TITLES)
    )
    frames = (
        MAX_WIDTH - 4 - 3 * GAP - 2 * small - 2 * 2 * BORDER
    )  # what the two dx panels share
    return min(frames / (2 * wd), 300 / h, 36), small_cell


def _short(value: float) -> str:
    """A value in at most 5 characters or so, to fit a small cell: 0.41, -4.98, 13.7, 142."""
    size = abs(value)
    digits = 2 if size < 9.995 else 1 if size < 99.95 else 0
    return f"{value:.{digits}f}"


def _labels(
    fig,
    values: np.ndarray,
    mapper: LinearColorMapper,
    cell: float,
    name: str,
) -> ColumnDataSource:
    """Each value of a small array printed in its cell, black or white against the cell's colour."""
    rows, cols = values.shape
    i, j = np.divmod(np.arange(values.size), cols)
    source = ColumnDataSource(
        dict(
            x=j + 0.5,
            y=i + 0.5,
            label=[_short(v) for v in values.ravel()],
            ink=ink_on(mapped_colors(values, mapper)),
        ),
        name=name,
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
    return source


def _pixel_columns(
    data: dict,
    dy: np.ndarray,
    w_shape,
    dy_mapper,
    dw_mapper,
    print_dy: bool,
    print_dw: bool,
) -> dict:
    """One row per pixel ``p`` of dy (row-major): place, colour, contributions, labels, text."""
    ho, wo = dy.shape
    kh, kw = w_shape
    i, j = np.divmod(np.arange(ho * wo), wo)
    fills, parts = mapped_colors(dy, dy_mapper), data["dw_parts"]
    return dict(
        p=np.arange(ho * wo),
        i=i,
        j=j,
        value=dy.ravel(),
        x=j + 0.5,
        y=i + 0.5,
        window_x=j + kw / 2,
        window_y=i + kh / 2,
        fill=fills,
        ink=ink_on(fills),
        label=[_short(v) if print_dy else "" for v in dy.ravel()],
        dx_part=list(data["dx_parts"]),
        dw_part=list(data["dw_parts"]),
        # what the callback prints in the "added to dw" panel (nothing where w is too large)
        dw_label=[
            [_short(v) for v in part.ravel()] if print_dw else []
            for part in parts
        ],
        dw_ink=[
            ink_on(mapped_colors(part, dw_mapper)) if print_dw else []
            for part in parts
        ],
        text=data["text"],
    )


def _dy_panel(dy: np.ndarray, cell: float, pixels: ColumnDataSource):
    """dy as cells a reader can tap: one glyph per pixel, from ``pixels`` (row p = pixel p)."""
    fig = panel("bwd_dy", "dy: tap a pixel", dy.shape, cell)
    cells = fig.rect(
        x="x",
        y="y",
        width=1,
        height=1,
        source=pixels,
        fill_color="fill",
        line_color=TEXT_COLOR,
        line_alpha=0.5,
        name="bwd_dy_cells",
    )
    words = fig.text(
        x="x",
        y="y",
        text="label",
        text_color="ink",
        source=pixels,
        text_align="center",
        text_baseline="middle",
        text_font_size=label_font_size(cell),
    )
    # A picked pixel looks like the others; its outline marks it.
    for renderer in (cells, words):
        renderer.selection_glyph = renderer.glyph.clone()
        renderer.nonselection_glyph = renderer.glyph.clone()
    fig.add_tools(TapTool(renderers=[cells], mode="replace"))
    return fig


def _image_panels(specs: dict, small_cell: float, print_small: bool):
    """One panel per ``name: (title, values, cell, mapper)``, small arrays' values printed; the
    plots, and the sources the callback changes (``"dx_part"``, ``"dw_part"``, ``"dw_text"``)."""
    plots, sources = {}, {}
    for name, (title, values, size, mapper) in specs.items():
        plots[name] = panel(name, title, values.shape, size)
        source = ColumnDataSource(
            dict(image=[values]), name=f"{name}_source"
        )
        draw_image(plots[name], source, values.shape, mapper)
        if name in ("bwd_dx_part", "bwd_dw_part"):
            sources[name[4:]] = source
        if name in ("bwd_w", "bwd_dw_part", "bwd_dw") and print_small:
            text = _labels(
                plots[name], values, mapper, small_cell, f"{name}_text"
            )
            if name == "bwd_dw_part":
                sources["dw_text"] = text
    return plots, sources


def _outlines(plots: dict, pixels: ColumnDataSource, p: int, w_shape):
    """Pixel ``p`` outlined in dy, its window in x, the dx part and dx; the outlines' sources."""
    at = dict(
        (key, pixels.data[key][p])
        for key in ("x", "y", "window_x", "window_y")
    )
    cell = ColumnDataSource(dict(x=[at["x"]], y=[at["y"]]), name="bwd_cell")
    window = ColumnDataSource(
        dict(x=[at["window_x"]], y=[at["window_y"]]), name="bwd_window"
    )
    draw_outline(plots["bwd_dy"], cell, 1, 1, "bwd_cell")
    for name in ("bwd_x", "bwd_dx_part", "bwd_dx"):
        draw_outline(
            plots[name], window, w_shape[1], w_shape[0], "bwd_window"
        )
    return {"cell": cell, "window": window}


def _backward_plots(
    x, w, dy, data: dict, position: tuple[int, int]
) -> dict:
    """The explorer's seven panels with pixel ``position`` picked, and the sources its callback
    changes.

    Returns ``top`` (x, w, dy), ``bottom`` (the two contributions, then dx and dw), ``width`` (of
    the wider row, in pixels) and ``sources``: ``"pixels"``, ``"cell"``, ``"window"``,
    ``"dx_part"``, ``"dw_part"``, ``"dw_text"`` (see :func:`conv_backward_explorer`).
    """
    cell, small_cell = _sizes(x.shape, w.shape)
    print_small, print_dy = small_cell >= 25, cell >= 22  # room for "-0.41"
    p = position[0] * dy.shape[1] + position[1]
    x_mapper = signed_mapper(x) if x.min() < 0 else ink_mapper(x)
    dx_parts, dw_parts, dx, dw = (
        data[key] for key in ("dx_parts", "dw_parts", "dx", "dw")
    )
    # The two "added" panels: one scale over all pixels' contributions, so that picks compare.
    dx_part_mapper, dw_part_mapper = map(
        signed_mapper, (dx_parts, dw_parts)
    )
    small = small_cell
    specs = {  # name: title, values, pixels a cell, colour scale
        "bwd_x": ("input x", x, cell, x_mapper),
        "bwd_w": ("filter w", w, small, signed_mapper(w)),
        "bwd_dx_part": ("added to dx", dx_parts[p], cell, dx_part_mapper),
        "bwd_dw_part": ("added to dw", dw_parts[p], small, dw_part_mapper),
        "bwd_dx": ("dx, all pixels", dx, cell, signed_mapper(dx)),
        "bwd_dw": ("dw, all pixels", dw, small, signed_mapper(dw)),
    }
    columns = _pixel_columns(
        data,
        dy,
        w.shape,
        signed_mapper(dy),
        dw_part_mapper,
        print_dy,
        print_small,
    )
    pixels = ColumnDataSource(columns, name="bwd_pixels")
    pixels.selected.indices = [p]
    plots, sources = _image_panels(specs, small_cell, print_small)
    plots["bwd_dy"] = _dy_panel(dy, cell, pixels)
    sources.update(pixels=pixels, **_outlines(plots, pixels, p, w.shape))
    # Filters too large to print: an empty source for the callback.
    if "dw_text" not in sources:
        sources["dw_text"] = ColumnDataSource(
            dict(x=[], y=[], label=[], ink=[]), name="bwd_dw_part_text"
        )

    top = [plots[name] for name in ("bwd_x", "bwd_w", "bwd_dy")]
    bottom = [
        plots[name]
        for name in ("bwd_dx_part", "bwd_dw_part", "bwd_dx", "bwd_dw")
    ]
    width = max(
        sum(map(panel_width, panels)) + (len(panels) - 1) * GAP
        for panels in (top, bottom)
    )
    return dict(top=top, bottom=bottom, width=width, sources=sources)


# ----------------------------------------------------------------------------- the figure


@validate_params(
    x=Matrix(
        "(H, W)",
        MAX_BACKWARD_SIDE,
        "pixels",
        "the figure ships one dx per pixel of dy",
    ),
    w=Matrix("(kh, kw)"),
    dy=Matrix("(Ho, Wo)"),
    position=Rule(
        _pixel,
        bad=[(3, TypeError), ((1, 2, 3), TypeError), ((0, -1), ValueError)],
        example=(0, 0),
    ),
    title=TITLE,
    also=[_shapes_fit],
)
def conv_backward_explorer(x, w, dy, *, position=(0, 0), title=None):
    """Where one pixel of a convolution's output gradient goes; tap dy.

    Single channel, stride 1, no padding. The forward pass was
    ``y[i, j] = sum(w * x[i:i+kh, j:j+kw])``, so the pixel ``dy[i, j]``
    of the gradient arriving at ``y`` adds ``dy[i, j] * w`` to ``dx``
    at its window and ``dy[i, j] * x[i:i+kh, j:j+kw]`` to ``dw``. The
    reader taps (or clicks) a pixel of ``dy`` and sees, in two rows:

    * the input ``x`` (white small, black large; blue-white-red if it
      has negative values) with the pixel's window outlined, the filter
      ``w``, and ``dy`` with the pixel outlined;
    * what that pixel adds to ``dx`` (``w`` scaled and stamped at the
      window, outlined) and to ``dw`` (the window of ``x``, scaled);
      then the full ``dx`` and ``dw``: these contributions summed over
      every pixel of ``dy``;
    * a line of text: ``dy[2, 3] = 0.41: adds 0.41 x w to dx[2:5, 3:6]
      and 0.41 x x[2:5, 3:6] to dw``.

    Gradients and filters are blue negative, white zero, red positive;
    each panel has its own scale, symmetric around 0 (the two "added"
    panels one scale over all pixels, so that picks compare). Small
    filters (at most 4 a side) have each value printed in its cell,
    and so has dy when its cells are large enough.

    Every contribution is computed here, for every pixel, and the full
    gradients by :func:`cnn_tutorial.ops.conv2d_backward`; the browser
    only shows the tapped pixel's, so the figure needs no kernel.

    Parameters
    ----------
    x : array_like of shape (H, W)
        The input of the forward pass, e.g. an 8 x 8 crop of a digit.
        Finite; at most :data:`MAX_BACKWARD_SIDE` pixels a side.
    w : array_like of shape (kh, kw)
        The filter, at most the size of ``x``. Finite.
    dy : array_like of shape (H - kh + 1, W - kw + 1)
        The gradient arriving at the output. Finite.
    position : (int, int), default (0, 0)
        The pixel ``(i, j)`` of ``dy`` picked before any tap.
    title : str, optional
        Heading above the figure; the default names the sizes, and
        ``""`` leaves it out.

    Returns
    -------
    bokeh.models.Column
        Show it with :func:`cnn_tutorial.figures.display.show`; at most
        :data:`MAX_WIDTH` pixels wide. Named parts: the plots
        ``"bwd_x"``, ``"bwd_w"``, ``"bwd_dy"`` (its tappable cells
        ``"bwd_dy_cells"``), ``"bwd_dx_part"``, ``"bwd_dw_part"``,
        ``"bwd_dx"``, ``"bwd_dw"`` (each image's source
        ``"<plot>_source"``); ``"bwd_pixels"``, one row per pixel
        ``p = i * Wo + j`` (``i``, ``j``, ``value``, ``dx_part``,
        ``dw_part``, ``text``, ...); the outlines' sources
        ``"bwd_cell"`` and ``"bwd_window"``; the ``Div``
        ``"bwd_readout"``.
    """
    # Every number, once: each pixel's two contributions and text,
    # and the full gradients from the package's conv2d_backward.
    data = _backward_data(x, w, dy)
    parts = _backward_plots(x, w, dy, data, position)
    src, width = parts["sources"], parts["width"]

    p = position[0] * dy.shape[1] + position[1]
    readout = readout_div(data["text"][p], width, "bwd_readout")
    # In the browser: show the arrays of the pixel tapped.
    src["pixels"].selected.js_on_change(
        "indices",
        CustomJS(
            args=dict(
                pixels=src["pixels"],
                cell=src["cell"],
                window_outline=src["window"],
                dx_part=src["dx_part"],
                dw_part=src["dw_part"],
                dw_text=src["dw_text"],
                readout=readout,
            ),
            code=_PICK_JS,
        ),
    )

    default = (
        f"Backward pass of a {shape_text(w.shape)} filter over a "
        f"{shape_text(x.shape)} input"
    )
    heading = title_div(title, default, width, "bwd_title")
    return column(
        *heading,
        row(*parts["top"], spacing=GAP),
        row(*parts["bottom"], spacing=GAP),
        readout,
    )
