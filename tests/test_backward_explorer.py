"""The convolution-backward explorer (``cnn_tutorial.figures.backward_explorer``): its numbers are
the package's.

Unit tests read the arrays the figure ships to the browser and compare them with
``cnn_tutorial.ops.conv2d_backward``, ``cnn_tutorial.loops.convolution_backward`` and, when it is
installed, PyTorch's autograd. Browser tests (``-m browser``) tap pixels of dy in headless Chromium, by
mouse click and by touch, and read back what the figure shows.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from bokeh.core.validation import check_integrity
from bokeh.embed import json_item
from bokeh.models import Div, Plot, TapTool

from cnn_tutorial import loops, ops
from cnn_tutorial.figures import backward_explorer, explorer_parts
from cnn_tutorial.figures.backward_explorer import MAX_BACKWARD_SIDE, conv_backward_explorer
from cnn_tutorial.figures.pictures import MAX_WIDTH


def model(layout, name):
    found = list(layout.select({"name": name}))
    assert len(found) == 1, f"{len(found)} models named {name!r}"
    return found[0]


def source_data(layout, name):
    return model(layout, name).data


def example(seed=0, x_shape=(8, 8), w_shape=(3, 3), dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=x_shape).astype(dtype)
    w = rng.normal(size=w_shape).astype(dtype)
    dy = rng.normal(size=(x_shape[0] - w_shape[0] + 1, x_shape[1] - w_shape[1] + 1)).astype(dtype)
    return x, w, dy


CASES = [
    example(0),
    example(1, (16, 16), (3, 3), np.float32),
    example(2, (5, 9), (2, 4)),
    example(3, (6, 6), (1, 1)),
    example(4, (7, 7), (7, 7)),
]
IDS = ["8x8-3x3", "16x16-float32", "rectangular", "1x1-filter", "filter-as-big-as-x"]


# ----------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("x, w, dy", CASES, ids=IDS)
def test_contributions_sum_to_the_packages_gradients(x, w, dy):
    layout = conv_backward_explorer(x, w, dy)
    pixels = source_data(layout, "bwd_pixels")
    dx_parts, dw_parts = np.array(pixels["dx_part"]), np.array(pixels["dw_part"])
    assert dx_parts.shape == (dy.size, *x.shape) and dw_parts.shape == (dy.size, *w.shape)
    assert dx_parts.dtype == dw_parts.dtype == x.dtype

    dx, dw, _ = ops.conv2d_backward(dy[None, None], x[None, None], w[None, None], method="simple")
    shown_dx, shown_dw = (
        source_data(layout, "bwd_dx_source")["image"][0],
        source_data(layout, "bwd_dw_source")["image"][0],
    )
    np.testing.assert_array_equal(shown_dx, dx[0, 0])  # the full gradients drawn are the package's
    np.testing.assert_array_equal(shown_dw, dw[0, 0])
    tol = dict(rtol=1e-5, atol=1e-5) if x.dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx_parts.sum(axis=0), dx[0, 0], **tol)  # the parts add up to them
    np.testing.assert_allclose(dw_parts.sum(axis=0), dw[0, 0], **tol)
    dout, dfilt, _ = loops.convolution_backward(dy[None], x[None], w[None, None])
    np.testing.assert_allclose(dx_parts.sum(axis=0), dout[0], **tol)
    np.testing.assert_allclose(dw_parts.sum(axis=0), dfilt[0, 0], **tol)


@pytest.mark.parametrize("x, w, dy", CASES[:3], ids=IDS[:3])
def test_contributions_sum_to_pytorchs_autograd(x, w, dy):
    torch = pytest.importorskip("torch")
    layout = conv_backward_explorer(x, w, dy)
    pixels = source_data(layout, "bwd_pixels")
    tx = torch.tensor(x[None, None].astype(np.float64), requires_grad=True)
    tw = torch.tensor(w[None, None].astype(np.float64), requires_grad=True)
    torch.nn.functional.conv2d(tx, tw).backward(torch.tensor(dy[None, None].astype(np.float64)))
    tol = dict(rtol=1e-5, atol=1e-5) if x.dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        np.array(pixels["dx_part"]).sum(axis=0), tx.grad.numpy()[0, 0], **tol
    )
    np.testing.assert_allclose(
        np.array(pixels["dw_part"]).sum(axis=0), tw.grad.numpy()[0, 0], **tol
    )


@pytest.mark.parametrize("x, w, dy", CASES, ids=IDS)
def test_each_pixel_ships_exactly_its_contribution(x, w, dy):
    """Row p of the pixels' source is pixel (i, j) = divmod(p, Wo): its place (where a tap lands), its
    window, dy[i, j] * w stamped at the window (zero elsewhere), dy[i, j] * the window of x, its text."""
    layout = conv_backward_explorer(x, w, dy)
    pixels = source_data(layout, "bwd_pixels")
    (kh, kw), (ho, wo) = w.shape, dy.shape
    assert len(pixels["p"]) == ho * wo
    for p in range(ho * wo):
        i, j = divmod(p, wo)
        assert (pixels["p"][p], pixels["i"][p], pixels["j"][p]) == (p, i, j)
        assert (pixels["x"][p], pixels["y"][p]) == (
            j + 0.5,
            i + 0.5,
        )  # the centre of dy's cell (i, j)
        assert (pixels["window_x"][p], pixels["window_y"][p]) == (j + kw / 2, i + kh / 2)
        assert pixels["value"][p] == dy[i, j]
        stamped = np.zeros_like(x)
        stamped[i : i + kh, j : j + kw] = dy[i, j] * w
        np.testing.assert_array_equal(pixels["dx_part"][p], stamped)
        np.testing.assert_array_equal(pixels["dw_part"][p], dy[i, j] * x[i : i + kh, j : j + kw])
        labels = [
            backward_explorer._short(v) for v in (dy[i, j] * x[i : i + kh, j : j + kw]).ravel()
        ]
        assert pixels["dw_label"][p] == (
            labels if max(kh, kw) <= 4 else []
        )  # printed in small cells
        g = f"{dy[i, j]:.2f}"
        window = f"[{i}:{i + kh}, {j}:{j + kw}]"
        assert (
            pixels["text"][p]
            == f"dy[{i}, {j}] = {g}: adds {g} \u00d7 w to dx{window} and {g} \u00d7 x{window} to dw"
        )


@pytest.mark.parametrize("position", [(0, 0), (2, 3), (5, 5), (4, 0)])
def test_starts_with_the_given_pixel_picked(position):
    x, w, dy = example(5)
    layout = conv_backward_explorer(x, w, dy, position=position)
    i, j = position
    p = i * 6 + j
    pixels = source_data(layout, "bwd_pixels")
    assert model(layout, "bwd_pixels").selected.indices == [p]
    assert source_data(layout, "bwd_cell") == {"x": [j + 0.5], "y": [i + 0.5]}
    assert source_data(layout, "bwd_window") == {"x": [j + 1.5], "y": [i + 1.5]}
    np.testing.assert_array_equal(
        source_data(layout, "bwd_dx_part_source")["image"][0], pixels["dx_part"][p]
    )
    np.testing.assert_array_equal(
        source_data(layout, "bwd_dw_part_source")["image"][0], pixels["dw_part"][p]
    )
    assert source_data(layout, "bwd_dw_part_text")["label"] == pixels["dw_label"][p]
    readout = model(layout, "bwd_readout")
    assert isinstance(readout, Div) and readout.render_as_text and readout.text == pixels["text"][p]
    np.testing.assert_array_equal(source_data(layout, "bwd_x_source")["image"][0], x)
    np.testing.assert_array_equal(source_data(layout, "bwd_w_source")["image"][0], w)


def test_the_tap_tool_picks_from_dys_cells_and_the_callback_only_selects():
    x, w, dy = example(6)
    layout = conv_backward_explorer(x, w, dy)
    taps = list(model(layout, "bwd_dy").select({"type": TapTool}))
    assert len(taps) == 1 and taps[0].renderers == [model(layout, "bwd_dy_cells")]
    cells = model(layout, "bwd_dy_cells")
    assert cells.data_source is model(layout, "bwd_pixels")  # tapped index = pixel p
    callbacks = model(layout, "bwd_pixels").selected.js_property_callbacks["change:indices"]
    assert len(callbacks) == 1
    code = "\n".join(line.split("//")[0] for line in callbacks[0].code.splitlines())  # no comments
    for arithmetic in ("+", "*", "/", "Math."):  # it only picks pixel p's arrays
        assert arithmetic not in code, arithmetic


def test_labels_fit_a_small_cell():
    short = backward_explorer._short
    assert [short(v) for v in (0.414, -4.984, 9.994, 9.996, -13.68, 99.94, 142.4, -1234.5)] == [
        "0.41",
        "-4.98",
        "9.99",
        "10.0",
        "-13.7",
        "99.9",
        "142",
        "-1234",
    ]


def test_integer_input_and_a_dy_of_zeros():
    x = np.arange(25).reshape(5, 5)
    layout = conv_backward_explorer(x, np.ones((2, 2), dtype=int), np.zeros((4, 4)))
    pixels = source_data(layout, "bwd_pixels")
    assert np.array(pixels["dx_part"]).dtype == np.float64
    assert not np.array(pixels["dx_part"]).any() and not np.array(pixels["dw_part"]).any()
    assert not source_data(layout, "bwd_dx_source")["image"][0].any()


def test_colour_scales():
    """Diverging, symmetric around 0 with white at 0, for dy, w, dx and dw; ink for an input >= 0."""
    x, w, dy = example(7)
    for values, expect_signed in ((np.abs(x), False), (x, True)):
        layout = conv_backward_explorer(values, w, dy)
        mapper = model(layout, "bwd_x_pixels").glyph.color_mapper
        assert (mapper.low < 0) == expect_signed
        if expect_signed:
            assert mapper.low == -mapper.high
    for name in ("bwd_w", "bwd_dx_part", "bwd_dw_part", "bwd_dx", "bwd_dw"):
        mapper = model(layout, f"{name}_pixels").glyph.color_mapper
        assert (
            mapper.low == -mapper.high
            and mapper.high > 0
            and list(mapper.palette) == list(explorer_parts.SIGNED)
        )
    # dy's cells: their fill is the diverging scale's colour of each value
    pixels = source_data(layout, "bwd_pixels")
    bound = np.abs(dy).max()
    index = np.clip(np.floor((dy.ravel() + bound) / (2 * bound) * 11).astype(int), 0, 10)
    assert pixels["fill"] == [explorer_parts.SIGNED[k] for k in index]


# ----------------------------------------------------------------------------- validation


X, W, DY = example(8)


@pytest.mark.parametrize(
    "args, kwargs, error, words",
    [
        (("no", W, DY), {}, TypeError, "x must be a real numeric array"),
        ((X[None], W, DY), {}, ValueError, "x must be a 2-D array"),
        ((X, W.ravel(), DY), {}, ValueError, "w must be a 2-D array"),
        ((X, W, DY.ravel()), {}, ValueError, "dy must be a 2-D array"),
        ((np.zeros((0, 8)), W, DY), {}, ValueError, "x must have at least 1 entry"),
        ((X, W, np.ones((5, 6))), {}, ValueError, r"dy must have the output's shape \(6, 6\)"),
        ((X, np.ones((3, 2)), DY), {}, ValueError, r"dy must have the output's shape \(6, 7\)"),
        ((np.where(X > 1, np.nan, X), W, DY), {}, ValueError, "x must hold only finite numbers"),
        ((X, W * np.inf, DY), {}, ValueError, "w must hold only finite numbers"),
        ((X, W, np.full_like(DY, np.inf)), {}, ValueError, "dy must hold only finite numbers"),
        ((X, np.ones((9, 3)), DY), {}, ValueError, "filter w 9x3 is larger than the input x 8x8"),
        (
            (np.zeros((17, 8)), W, np.zeros((15, 6))),
            {},
            ValueError,
            "x is 17x8, but this figure takes at most 16",
        ),
        (
            (X, W, DY),
            {"position": (6, 0)},
            ValueError,
            r"position must index dy, of shape \(6, 6\)",
        ),
        ((X, W, DY), {"position": (0, 6)}, ValueError, "position must index dy"),
        ((X, W, DY), {"position": (-1, 0)}, ValueError, r"position\[0\] must be >= 0"),
        ((X, W, DY), {"position": (0, 1.0)}, TypeError, r"position\[1\] must be an integer"),
        ((X, W, DY), {"position": 3}, TypeError, r"position must be a pair \(i, j\)"),
        ((X, W, DY), {"position": (1, 2, 3)}, TypeError, "position must be a pair"),
        ((X, W, DY), {"title": 3}, TypeError, "title must be a string"),
    ],
)
def test_rejects_bad_arguments(args, kwargs, error, words):
    with pytest.raises(error, match=words):
        conv_backward_explorer(*args, **kwargs)


# ----------------------------------------------------------------------------- layout


def row_widths(layout) -> list[int]:
    rows = [child for child in layout.children if hasattr(child, "children")]
    return [
        sum(p.frame_width + p.min_border_left + p.min_border_right for p in r.children)
        + (len(r.children) - 1) * (r.spacing or 0)
        for r in rows
    ]


@pytest.mark.parametrize(
    "x_shape, w_shape",
    [
        ((8, 8), (3, 3)),
        ((16, 16), (1, 1)),
        ((16, 16), (3, 3)),
        ((16, 16), (5, 5)),
        ((16, 16), (16, 16)),
        ((1, 16), (1, 1)),
        ((16, 1), (1, 1)),
        ((1, 1), (1, 1)),
        ((3, 16), (2, 7)),
    ],
)
def test_fits_the_text_column_and_passes_bokehs_checks(x_shape, w_shape):
    layout = conv_backward_explorer(*example(9, x_shape, w_shape))
    assert layout.sizing_mode in (None, "fixed")
    widths = row_widths(layout)
    assert len(widths) == 2 and max(widths) <= MAX_WIDTH
    assert model(layout, "bwd_readout").width + 10 <= MAX_WIDTH
    # x above the dx panels: cells of one size, so the window lines up
    assert model(layout, "bwd_x").frame_width == model(layout, "bwd_dx_part").frame_width
    issues = check_integrity([layout])
    assert issues.error == [] and issues.warning == []
    json_item(layout)


def test_look_and_title():
    x, w, dy = example(10)
    layout = conv_backward_explorer(x, w, dy)
    assert "3\u00d73 filter over a 8\u00d78 input" in model(layout, "bwd_title").text
    assert (
        model(conv_backward_explorer(x, w, dy, title="<A>"), "bwd_title").text == "<b>&lt;A&gt;</b>"
    )
    assert not list(conv_backward_explorer(x, w, dy, title="").select({"name": "bwd_title"}))
    for plot in layout.select({"type": Plot}):
        assert plot.background_fill_color is None and plot.border_fill_color is None
        assert plot.title.text_color == explorer_parts.TEXT_COLOR
    for div in layout.select({"type": Div}):
        assert div.styles == {"color": explorer_parts.TEXT_COLOR}


def test_public_function_fits_the_books_code_column():
    for name in ("conv_backward_explorer",):
        source = inspect.getsource(getattr(backward_explorer, name))
        long = [line for line in source.splitlines() if len(line) > 76]
        assert long == [], long
    assert MAX_BACKWARD_SIDE == 16


# ----------------------------------------------------------------------------- in the browser

STATE_JS = """() => {
  const doc = Bokeh.documents[0];
  const data = (name) => doc.get_model_by_name(name).data;
  return {
    cell: [data("bwd_cell").x[0], data("bwd_cell").y[0]],
    window: [data("bwd_window").x[0], data("bwd_window").y[0]],
    dx_part: Array.from(data("bwd_dx_part_source").image[0]),
    dw_part: Array.from(data("bwd_dw_part_source").image[0]),
    dw_label: Array.from(data("bwd_dw_part_text").label),
    readout: doc.get_model_by_name("bwd_readout").text,
  };
}"""

# Screen position (page pixels) of the centre of cell (row, col) of a plot.
CELL_CENTRE_JS = """([plot, row, col]) => {
  const view = Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name(plot));
  const canvas = view.canvas_view.el.getBoundingClientRect();
  return [canvas.left + view.frame.x_scale.compute(col + 0.5),
          canvas.top + view.frame.y_scale.compute(row + 0.5)];
}"""


class _TouchScreen:
    """Opens pages in a new browser context with a touch screen (``page.touchscreen.tap`` works)."""

    def __init__(self, browser, viewport):
        self.context = browser.new_context(has_touch=True, viewport=viewport)

    def new_page(self, viewport=None):
        page = self.context.new_page()
        page.on("close", lambda _: self.context.close())
        return page


def open_figure(browser, layout, has_touch=False, width=1280):
    from cnn_tutorial.figures.display import figure_html
    from tests.test_book_browser import RENDER_TIMEOUT_MS, open_notebook_page

    viewport = {"width": width, "height": 1000}
    opener = _TouchScreen(browser, viewport) if has_touch else browser
    page, errors, _ = open_notebook_page(opener, figure_html(layout), viewport)
    page.wait_for_function(
        """() => {
          if (!window.Bokeh || Bokeh.documents.length != 1 || [...Bokeh.index].length == 0) return false;
          const plots = [...Bokeh.index.all_views()].filter((view) => view.frame != null);
          return plots.length > 0 && plots.every((view) => view.frame.bbox.width > 0);
        }""",
        timeout=RENDER_TIMEOUT_MS,
    )
    return page, errors


@pytest.mark.browser
@pytest.mark.parametrize("touch", [False, True], ids=["mouse", "touch"])
def test_tapping_a_pixel_of_dy_shows_its_contributions(browser, touch):
    x, w, dy = example(11)
    layout = conv_backward_explorer(x, w, dy)
    pixels = source_data(layout, "bwd_pixels")
    page, errors = open_figure(browser, layout, has_touch=touch)
    try:
        assert page.evaluate(STATE_JS)["readout"] == pixels["text"][0]
        for i, j in [(2, 3), (5, 0), (0, 5)]:
            p = i * 6 + j
            sx, sy = page.evaluate(CELL_CENTRE_JS, ["bwd_dy", i, j])
            page.wait_for_timeout(
                400
            )  # two taps in quick succession are a double tap, not two picks
            if touch:
                page.touchscreen.tap(sx, sy)
            else:
                page.mouse.click(sx, sy)
            page.wait_for_function(
                f"() => Bokeh.documents[0].get_model_by_name('bwd_readout').text == {pixels['text'][p]!r}",
                timeout=10_000,
            )
            state = page.evaluate(STATE_JS)
            assert state["cell"] == [j + 0.5, i + 0.5]
            assert state["window"] == [j + 1.5, i + 1.5]
            np.testing.assert_array_equal(state["dx_part"], pixels["dx_part"][p].ravel())
            np.testing.assert_array_equal(state["dw_part"], pixels["dw_part"][p].ravel())
            assert state["dw_label"] == pixels["dw_label"][p]
        # a tap beside the cells keeps the pick
        sx, sy = page.evaluate(CELL_CENTRE_JS, ["bwd_x", 0, 0])
        page.mouse.click(sx, sy) if not touch else page.touchscreen.tap(sx, sy)
        page.wait_for_timeout(200)
        assert page.evaluate(STATE_JS)["readout"] == pixels["text"][5]
        assert (
            page.evaluate("() => [...Bokeh.index][0].el.getBoundingClientRect().width") <= MAX_WIDTH
        )
        assert errors == []
    finally:
        page.close()


@pytest.mark.browser
def test_tapping_with_a_filter_too_large_to_print(browser):
    """5x5 filter over 16x16: no values printed in the filter-sized panels, taps still work."""
    layout = conv_backward_explorer(*example(12, (16, 16), (5, 5)))
    pixels = source_data(layout, "bwd_pixels")
    assert source_data(layout, "bwd_dw_part_text")["label"] == [] and pixels["dw_label"][0] == []
    page, errors = open_figure(browser, layout)
    try:
        sx, sy = page.evaluate(CELL_CENTRE_JS, ["bwd_dy", 11, 4])
        page.mouse.click(sx, sy)
        p = 11 * 12 + 4
        page.wait_for_function(
            f"() => Bokeh.documents[0].get_model_by_name('bwd_readout').text == {pixels['text'][p]!r}",
            timeout=10_000,
        )
        state = page.evaluate(STATE_JS)
        np.testing.assert_array_equal(state["dw_part"], pixels["dw_part"][p].ravel())
        assert state["window"] == [4 + 2.5, 11 + 2.5]
        assert errors == []
    finally:
        page.close()
