"""The interactive figures of ``cnn_tutorial.figures.explorers``: their numbers are the package's,
and they move.

Unit tests read the data the figures ship to the browser and compare it with ``cnn_tutorial.ops`` and
``cnn_tutorial.loops``. Browser tests (``-m browser``) open each figure in headless Chromium, as a
live notebook shows it (``cnn_tutorial.figures.display.figure_html``, BokehJS from the "CDN", played by the
installed bokeh package), move the slider or the mouse, and read back what the figure draws.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from bokeh.core.validation import check_integrity
from bokeh.embed import json_item
from bokeh.models import Div, Slider

from cnn_tutorial import data, loops, ops
from cnn_tutorial.figures import explorer_parts
from cnn_tutorial.figures import explorers as interactive
from cnn_tutorial.figures.explorers import convolution_explorer, maxpool_explorer
from cnn_tutorial.figures.pictures import MAX_WIDTH
from tests.test_book_browser import (  # browser fixture: conftest.py
    RENDER_TIMEOUT_MS,
    open_notebook_page,
)


def made_up_digit(seed: int = 0, size: int = 28) -> np.ndarray:
    """A normalised stroke picture that looks like an MNIST digit: float32 (size, size), background -0.42."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size, 0:size]
    ink = np.zeros((size, size))
    points = rng.uniform(size * 0.2, size * 0.8, size=(4, 2))
    for (r0, c0), (r1, c1) in zip(points[:-1], points[1:]):
        for t in np.linspace(0, 1, 40):
            distance = np.hypot(rows - (r0 + t * (r1 - r0)), cols - (c0 + t * (c1 - c0)))
            ink = np.maximum(ink, np.clip(1.6 - distance, 0, 1))
    pixels = np.round(255 * ink).astype(np.uint8)
    return data.normalize(pixels[None])[0, 0]


SOBEL = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float32)


def model(layout, name):
    found = list(layout.select({"name": name}))
    assert len(found) == 1, f"{len(found)} models named {name!r}"
    return found[0]


def source_data(layout, name):
    return model(layout, name).data


def assert_valid(layout):
    issues = check_integrity([layout])
    assert issues.error == [] and issues.warning == []
    json_item(layout)  # serialises, as display.show embeds it


# ----------------------------------------------------------------------------- convolution explorer: numbers


@pytest.mark.parametrize(
    "image, kernel",
    [
        (made_up_digit(0), SOBEL),
        (made_up_digit(1), np.random.default_rng(1).normal(size=(5, 5)).astype(np.float32)),
        (
            np.random.default_rng(2).normal(size=(9, 13)),
            np.random.default_rng(3).normal(size=(2, 4)),
        ),
    ],
    ids=["digit-sobel", "digit-random-5x5", "rectangular-float64"],
)
def test_convolution_explorer_ships_the_packages_numbers(image, kernel):
    layout = convolution_explorer(image, kernel)
    (h, w), (kh, kw) = image.shape, kernel.shape
    ho, wo = h - kh + 1, w - kw + 1
    batch, filters = image[None, None], kernel[None, None]

    output = source_data(layout, "conv_output_source")
    expected = ops.conv2d(batch, filters, method="simple")[0, 0]
    assert output["values"][0].dtype == expected.dtype  # float32 stays float32
    np.testing.assert_array_equal(output["values"][0], expected)
    np.testing.assert_allclose(
        output["values"][0], loops.convolution(image[None], filters, [0])[0], atol=1e-5
    )
    np.testing.assert_allclose(output["values"][0], ops.conv2d(batch, filters)[0, 0], atol=1e-5)

    columns = source_data(layout, "conv_columns_source")
    np.testing.assert_array_equal(columns["values"][0], ops.im2col(batch, kh, kw)[0])
    assert columns["values"][0].shape == (kh * kw, ho * wo)

    positions = source_data(layout, "conv_positions")
    np.testing.assert_array_equal(positions["p"], np.arange(ho * wo))
    for p in (0, 1, wo - 1, wo, ho * wo // 2, ho * wo - 1):
        i, j = divmod(p, wo)  # row-major, like im2col's columns
        assert (positions["i"][p], positions["j"][p]) == (i, j)
        window = image[i : i + kh, j : j + kw]
        np.testing.assert_array_equal(columns["values"][0][:, p], window.ravel())
        assert positions["value"][p] == expected[i, j]
        np.testing.assert_allclose(
            positions["value"][p], np.sum(window * kernel), rtol=1e-5, atol=1e-5
        )
        # the outlines: the window's centre in the image, the cell's in the output, the column's in im2col
        assert (positions["window_x"][p], positions["window_y"][p]) == (j + kw / 2, i + kh / 2)
        assert (positions["cell_x"][p], positions["cell_y"][p]) == (j + 0.5, i + 0.5)
        assert positions["column_x"][p] == p + 0.5
        assert positions["text"][p] == (
            f"position p = {p} = ({i}, {j}): output[{i}, {j}] = "
            f"sum of window \u00d7 kernel = {expected[i, j]:.3f}"
        )
    assert_valid(layout)


def shown_count(source) -> int:
    return int(np.count_nonzero(~np.isnan(source["image"][0])))


@pytest.mark.parametrize("position", [0, 17, 26 * 26 - 1])
def test_convolution_explorer_starts_at_the_given_position(position):
    layout = convolution_explorer(made_up_digit(), SOBEL, position=position)
    i, j = divmod(position, 26)
    output = source_data(layout, "conv_output_source")
    columns = source_data(layout, "conv_columns_source")
    assert shown_count(output) == position + 1
    assert shown_count(columns) == 9 * (position + 1)
    assert np.isnan(output["image"][0].ravel()[position + 1 :]).all()
    np.testing.assert_array_equal(
        output["image"][0].ravel()[: position + 1], output["values"][0].ravel()[: position + 1]
    )
    np.testing.assert_array_equal(output["order"][0], np.arange(26 * 26).reshape(26, 26))
    np.testing.assert_array_equal(
        columns["order"][0], np.broadcast_to(np.arange(26 * 26), (9, 26 * 26))
    )
    assert source_data(layout, "conv_window") == {"x": [j + 1.5], "y": [i + 1.5]}
    assert source_data(layout, "conv_cell") == {"x": [j + 0.5], "y": [i + 0.5]}
    slider = model(layout, "conv_position")
    assert isinstance(slider, Slider)
    assert (slider.start, slider.end, slider.value, slider.step) == (0, 26 * 26 - 1, position, 1)
    assert model(layout, "conv_readout").text.startswith(f"position p = {position} = ({i}, {j}): ")


def test_convolution_explorer_on_ties_and_a_flat_image():
    """A constant image: every window is the same, every output equal, nothing to break ties wrongly."""
    image = np.full((6, 6), 0.5)
    layout = convolution_explorer(image, np.ones((3, 3)))
    values = source_data(layout, "conv_output_source")["values"][0]
    np.testing.assert_array_equal(values, np.full((4, 4), 4.5))
    np.testing.assert_array_equal(
        values, ops.conv2d(image[None, None], np.ones((1, 1, 3, 3)), method="simple")[0, 0]
    )
    assert_valid(layout)


# ----------------------------------------------------------------------------- max-pool explorer: numbers


def feature_map(seed: int = 0, size: int = 8) -> np.ndarray:
    """A ReLU feature map crop: many exact zeros (ties), some positive values."""
    digit = made_up_digit(seed)
    fmap = np.maximum(0, ops.conv2d(digit[None, None], SOBEL[None, None], method="simple")[0, 0])
    return fmap[6 : 6 + size, 6 : 6 + size]


def assert_pool_matches_the_package(x, size, stride, upstream=None):
    layout = maxpool_explorer(x, size, stride, upstream)
    ho, wo = (x.shape[0] - size) // stride + 1, (x.shape[1] - size) // stride + 1
    dout = np.ones((ho, wo)) if upstream is None else np.asarray(upstream)
    batch = np.asarray(x)[None, None]

    output = source_data(layout, "pool_output_source")
    np.testing.assert_array_equal(
        np.reshape(output["value"], (ho, wo)), ops.maxpool2d(batch, size, stride)[0, 0]
    )
    np.testing.assert_array_equal(
        np.reshape(output["value"], (ho, wo)), loops.maxpool(batch[0], size, stride)[0]
    )
    gradient = source_data(layout, "pool_gradient_source")
    expected_dx = ops.maxpool2d_backward(dout[None, None], batch, size, stride)[0, 0]
    np.testing.assert_array_equal(np.reshape(gradient["value"], x.shape), expected_dx)
    np.testing.assert_array_equal(
        np.reshape(gradient["value"], x.shape),
        loops.maxpool_backward(dout[None], batch[0], size, stride)[0],
    )
    np.testing.assert_array_equal(
        np.reshape(source_data(layout, "pool_upstream_source")["value"], (ho, wo)), dout
    )
    np.testing.assert_array_equal(
        np.reshape(source_data(layout, "pool_input_source")["value"], x.shape), x
    )

    for q in range(ho * wo):
        i, j = divmod(q, wo)
        # The package's backward pass, fed one output cell's gradient: it lands on that cell's winner only.
        one_hot = np.zeros((1, 1, ho, wo))
        one_hot[0, 0, i, j] = 1.0
        routed = ops.maxpool2d_backward(one_hot, batch, size, stride)[0, 0]
        r, c = output["winner_row"][q], output["winner_col"][q]
        assert routed[r, c] == 1.0 and np.count_nonzero(routed) == 1, (q, r, c)
        window = np.asarray(x)[i * stride : i * stride + size, j * stride : j * stride + size]
        assert (r - i * stride, c - j * stride) == loops.pool_winner(window)
        assert (output["winner_x"][q], output["winner_y"][q]) == (c + 0.5, r + 0.5)
        assert (output["window_x"][q], output["window_y"][q]) == (
            j * stride + size / 2,
            i * stride + size / 2,
        )
        assert output["text"][q].startswith(
            f"out[{i}, {j}] = max of x[{i * stride}:{i * stride + size}, "
        )
        assert f"goes to dx[{r}, {c}]" in output["text"][q]
    assert_valid(layout)
    return layout


def test_maxpool_explorer_on_a_random_input():
    assert_pool_matches_the_package(np.random.default_rng(0).normal(size=(12, 12)), 2, 2)


def test_maxpool_explorer_on_a_feature_map_full_of_ties():
    x = feature_map()
    assert np.count_nonzero(x == 0) > 20  # the point of this case
    layout = assert_pool_matches_the_package(x, 2, 2)
    output = source_data(layout, "pool_output_source")
    flat_windows = [q for q, text in enumerate(output["text"]) if "a tie of 4 cells" in text]
    assert flat_windows, "expected all-zero windows"
    for q in flat_windows:  # an all-zero window: its first cell, top left, wins
        i, j = divmod(q, 4)
        assert (output["winner_row"][q], output["winner_col"][q]) == (2 * i, 2 * j)


def test_maxpool_explorer_ties_go_to_the_first_maximum():
    x = np.array([[1.0, 3.0, 0.0, 0.0], [3.0, 2.0, 0.0, 5.0]])
    layout = assert_pool_matches_the_package(x, 2, 2)
    output = source_data(layout, "pool_output_source")
    assert list(zip(output["winner_row"], output["winner_col"])) == [(0, 1), (1, 3)]
    assert "a tie of 2 cells" in output["text"][0]
    assert "tie" not in output["text"][1]


@pytest.mark.parametrize("size, stride", [(3, 1), (2, 1), (3, 2), (1, 1), (4, 3)])
def test_maxpool_explorer_with_overlapping_or_gapped_windows(size, stride):
    x = np.round(np.random.default_rng(size * 10 + stride).normal(size=(9, 8)), 1)  # rounded: ties
    assert_pool_matches_the_package(x, size, stride)


def test_maxpool_explorer_adds_up_the_windows_a_cell_wins():
    x = np.zeros((5, 5))
    x[2, 2] = 9.0  # in all nine 3x3 windows (stride 1), and their maximum
    layout = assert_pool_matches_the_package(x, 3, 1)
    output = source_data(layout, "pool_output_source")
    assert set(zip(output["winner_row"], output["winner_col"])) == {(2, 2)}
    assert np.reshape(source_data(layout, "pool_gradient_source")["value"], (5, 5))[2, 2] == 9.0
    assert all("dx[2, 2] = 9.00 adds up the 9 windows it wins" in text for text in output["text"])


def test_maxpool_explorer_routes_a_given_upstream_gradient():
    x = feature_map(seed=3)
    upstream = np.random.default_rng(4).normal(size=(4, 4))
    assert_pool_matches_the_package(x, 2, 2, upstream)
    assert_pool_matches_the_package(x.astype(np.float32), 2, 2, upstream.astype(np.float32))


def test_maxpool_explorer_starts_tracing_output_cell_0():
    layout = maxpool_explorer(feature_map())
    output = source_data(layout, "pool_output_source")
    assert source_data(layout, "pool_cell") == {"index": [0], "x": [0.5], "y": [0.5]}
    assert source_data(layout, "pool_window") == {"index": [0], "x": [1.0], "y": [1.0]}
    assert source_data(layout, "pool_winner") == {
        "index": [0],
        "x": [output["winner_x"][0]],
        "y": [output["winner_y"][0]],
    }
    readout = model(layout, "pool_readout")
    assert readout.text == output["text"][0] and readout.render_as_text


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "args, kwargs, error, words",
    [
        (("not a number", SOBEL), {}, TypeError, "image"),
        ((np.zeros(28), SOBEL), {}, ValueError, "image must be a 2-D array"),
        ((np.zeros((1, 28, 28)), SOBEL), {}, ValueError, "image must be a 2-D array"),
        ((np.zeros((0, 28)), SOBEL), {}, ValueError, "image must have at least 1 entry"),
        ((np.zeros((28, 28)), np.zeros(3)), {}, ValueError, "kernel must be a 2-D array"),
        ((np.zeros((28, 28)), np.array([["a"]])), {}, TypeError, "kernel"),
        ((np.full((8, 8), np.nan), SOBEL), {}, ValueError, "image must hold only finite numbers"),
        (
            (np.zeros((8, 8)), np.array([[np.inf]])),
            {},
            ValueError,
            "kernel must hold only finite numbers",
        ),
        (
            (np.zeros((8, 8)), np.zeros((9, 3))),
            {},
            ValueError,
            "kernel 9x3 is larger than the image 8x8",
        ),
        ((np.zeros((8, 8)), np.zeros((8, 8))), {}, ValueError, "nothing to slide"),
        ((np.zeros((65, 28)), SOBEL), {}, ValueError, "at most 64 pixels"),
        ((np.zeros((8, 8)), SOBEL), {"position": 36}, ValueError, "position must be < 36"),
        ((np.zeros((8, 8)), SOBEL), {"position": -1}, ValueError, "position must be >= 0"),
        ((np.zeros((8, 8)), SOBEL), {"position": 1.0}, TypeError, "position must be an integer"),
        ((np.zeros((8, 8)), SOBEL), {"position": True}, TypeError, "position must be an integer"),
        ((np.zeros((8, 8)), SOBEL), {"title": 3}, TypeError, "title must be a string"),
    ],
)
def test_convolution_explorer_rejects_bad_arguments(args, kwargs, error, words):
    with pytest.raises(error, match=words):
        convolution_explorer(*args, **kwargs)


@pytest.mark.parametrize(
    "args, kwargs, error, words",
    [
        ((None,), {}, TypeError, "x must be a real numeric array"),
        ((np.zeros(8),), {}, ValueError, "x must be a 2-D array"),
        ((np.zeros((8, 0)),), {}, ValueError, "x must have at least 1 entry"),
        (
            (np.array([[1.0, np.nan], [0.0, 0.0]]),),
            {},
            ValueError,
            "x must hold only finite numbers; 1 of its 4",
        ),
        ((np.zeros((17, 4)),), {}, ValueError, "at most 16 cells a side"),
        ((np.zeros((8, 8)), 0), {}, ValueError, "size must be >= 1"),
        ((np.zeros((8, 8)), 2.0), {}, TypeError, "size must be an integer"),
        ((np.zeros((8, 8)), 2, "2"), {}, TypeError, "stride must be an integer"),
        ((np.zeros((8, 8)), 2, 0), {}, ValueError, "stride must be >= 1"),
        ((np.zeros((8, 3)), 4), {}, ValueError, "pool window 4x4 is larger than the input x 8x3"),
        (
            (np.zeros((8, 8)), 2, 2, np.ones((3, 4))),
            {},
            ValueError,
            r"upstream must have the pooled output's shape \(4, 4\)",
        ),
        ((np.zeros((8, 8)), 2, 2, np.ones(16)), {}, ValueError, "upstream must be a 2-D array"),
        (
            (np.zeros((8, 8)), 2, 2, np.full((4, 4), np.inf)),
            {},
            ValueError,
            "upstream must hold only finite",
        ),
        ((np.zeros((8, 8)),), {"title": b"bytes"}, TypeError, "title must be a string"),
    ],
)
def test_maxpool_explorer_rejects_bad_arguments(args, kwargs, error, words):
    with pytest.raises(error, match=words):
        maxpool_explorer(*args, **kwargs)


# ----------------------------------------------------------------------------- layout


def top_level_width(layout) -> int:
    """Pixels across, from the models' sizes: the widest row (plots, borders and gaps) or widget."""

    def width(item):
        if hasattr(item, "frame_width") and item.frame_width is not None:
            return item.frame_width + item.min_border_left + item.min_border_right
        if hasattr(item, "children") and type(item).__name__ == "Row":
            return sum(map(width, item.children)) + item.spacing * (len(item.children) - 1)
        if hasattr(item, "children"):
            return max(map(width, item.children))
        return item.width + 2 * explorer_parts.WIDGET_MARGIN  # a Slider or a Div, with its margins

    return width(layout)


@pytest.mark.parametrize(
    "make",
    [
        lambda: convolution_explorer(made_up_digit(), SOBEL),
        lambda: convolution_explorer(made_up_digit(), np.ones((5, 5))),
        lambda: convolution_explorer(np.zeros((64, 64)), np.ones((2, 2))),
        lambda: convolution_explorer(np.zeros((5, 64)), np.ones((3, 3))),
        lambda: convolution_explorer(np.zeros((4, 4)), np.ones((1, 1))),
        lambda: convolution_explorer(np.zeros((5, 64)), np.ones((1, 1))),
        lambda: convolution_explorer(made_up_digit(), np.ones((25, 25))),
        lambda: convolution_explorer(np.zeros((64, 64)), np.ones((60, 60))),
        lambda: convolution_explorer(np.zeros((28, 28)), np.ones((25, 1))),
        lambda: convolution_explorer(np.zeros((28, 28)), np.ones((1, 28))),
        lambda: maxpool_explorer(np.zeros((8, 8))),
        lambda: maxpool_explorer(np.zeros((16, 16)), 2, 1),
        lambda: maxpool_explorer(np.zeros((2, 16)), 1, 1),
        lambda: maxpool_explorer(np.zeros((3, 3)), 3, 3),
        lambda: maxpool_explorer(np.zeros((2, 2))),
        lambda: maxpool_explorer(np.zeros((16, 16)), 16),
        lambda: maxpool_explorer(np.zeros((16, 1)), 1),
    ],
)
def test_figures_fit_the_text_column_and_pass_bokehs_checks(make):
    layout = make()
    assert layout.sizing_mode in (None, "fixed")
    assert explorer_parts.TEXT_WIDTH <= top_level_width(layout) <= MAX_WIDTH
    assert_valid(layout)


def test_titles():
    image = made_up_digit()
    default = model(convolution_explorer(image, SOBEL), "conv_title")
    assert isinstance(default, Div) and "3\u00d73 kernel over a 28\u00d728 image" in default.text
    custom = model(convolution_explorer(image, SOBEL, title="<A> & B"), "conv_title")
    assert custom.text == "<b>&lt;A&gt; &amp; B</b>"  # escaped: a title is text, not HTML
    assert not list(convolution_explorer(image, SOBEL, title="").select({"name": "conv_title"}))
    assert (
        "2\u00d72 windows, stride 2" in model(maxpool_explorer(np.zeros((8, 8))), "pool_title").text
    )
    assert not list(maxpool_explorer(np.zeros((8, 8)), title="").select({"name": "pool_title"}))


@pytest.mark.parametrize(
    "layout",
    [convolution_explorer(made_up_digit(), SOBEL), maxpool_explorer(feature_map())],
    ids=["convolution", "maxpool"],
)
def test_text_reads_in_light_and_dark_themes(layout):
    """Mid-grey text outside the cells, readable on a white and a near-black page (the page's theme
    does not restyle Divs and sliders); transparent plots, so the page shows around the cells."""
    from bokeh.models import Plot

    widgets = list(layout.select({"type": Div})) + list(layout.select({"type": Slider}))
    assert len(widgets) >= 2
    for widget in widgets:
        assert widget.styles == {"color": explorer_parts.TEXT_COLOR}, widget.name
    for plot in layout.select({"type": Plot}):
        assert plot.background_fill_color is None and plot.border_fill_color is None
        assert plot.title.text_color == explorer_parts.TEXT_COLOR


def test_public_functions_fit_the_books_code_column():
    """The chapters show these functions' source (show_source) in a 77-character column."""
    for function in interactive.__all__:
        source = inspect.getsource(getattr(interactive, function))
        long = [line for line in source.splitlines() if len(line) > 76]
        assert long == [], f"{function}: {long}"


# ----------------------------------------------------------------------------- in the browser


def open_figure(browser, layout, width=1280):
    """A page holding ``layout`` as ``display.show`` writes it, BokehJS served by the installed package.

    Returns ``(page, errors)``; ``errors`` collects console errors and uncaught exceptions.
    """
    from cnn_tutorial.figures.display import figure_html

    page, errors, _ = open_notebook_page(
        browser, figure_html(layout), {"width": width, "height": 1000}
    )
    # Drawn: the root view exists and every plot has laid out its frame.
    page.wait_for_function(
        """() => {
          if (!window.Bokeh || Bokeh.documents.length != 1 || [...Bokeh.index].length == 0) return false;
          const plots = [...Bokeh.index.all_views()].filter((view) => view.frame != null);
          return plots.length > 0 && plots.every((view) => view.frame.bbox.width > 0);
        }""",
        timeout=RENDER_TIMEOUT_MS,
    )
    return page, errors


# What the convolution explorer draws now, read from the models BokehJS renders.
CONVOLUTION_STATE_JS = """() => {
  const doc = Bokeh.documents[0];
  const data = (name) => doc.get_model_by_name(name).data;
  const shown = (name) => Array.from(data(name).image[0]).filter((v) => !Number.isNaN(v)).length;
  return {
    value: doc.get_model_by_name("conv_position").value,
    window: [data("conv_window").x[0], data("conv_window").y[0]],
    cell: [data("conv_cell").x[0], data("conv_cell").y[0]],
    column: data("conv_column").x[0],
    output_shown: shown("conv_output_source"),
    columns_shown: shown("conv_columns_source"),
    first_output: Array.from(data("conv_output_source").image[0]).slice(0, 200),
    readout: doc.get_model_by_name("conv_readout").text,
  };
}"""

SET_SLIDER_JS = "(p) => { Bokeh.documents[0].get_model_by_name('conv_position').value = p; }"


# Pixels across the figure as drawn: its root view (the layout's column).
FIGURE_WIDTH_JS = "() => [...Bokeh.index][0].el.getBoundingClientRect().width"


@pytest.mark.browser
def test_slider_moves_the_window_and_fills_the_output(browser):
    image = made_up_digit()
    layout = convolution_explorer(image, SOBEL)
    positions = source_data(layout, "conv_positions")
    expected = ops.conv2d(image[None, None], SOBEL[None, None], method="simple")[0, 0].ravel()
    page, errors = open_figure(browser, layout)
    try:
        start = page.evaluate(CONVOLUTION_STATE_JS)
        assert (start["value"], start["output_shown"], start["columns_shown"]) == (0, 1, 9)
        for p in (17, 26 * 26 - 1, 3, 300):
            page.evaluate(SET_SLIDER_JS, p)
            state = page.evaluate(CONVOLUTION_STATE_JS)
            i, j = divmod(p, 26)
            assert state["window"] == [j + 1.5, i + 1.5]
            assert state["cell"] == [j + 0.5, i + 0.5]
            assert state["column"] == p + 0.5
            assert state["output_shown"] == p + 1  # positions 0 ... p filled, the rest blank
            assert state["columns_shown"] == 9 * (p + 1)
            shown = np.array(state["first_output"], dtype=float)[: min(p + 1, 200)]
            np.testing.assert_allclose(shown, expected[: len(shown)], rtol=1e-6)
            assert state["readout"] == positions["text"][p]
        assert page.evaluate(FIGURE_WIDTH_JS) <= MAX_WIDTH
        assert errors == []
    finally:
        page.close()


@pytest.mark.browser
def test_slider_handle_drives_the_figure(browser):
    """The slider itself (not only its model) drives the figure: press the right arrow key on its handle."""
    layout = convolution_explorer(made_up_digit(), SOBEL, position=5)
    page, errors = open_figure(browser, layout)
    try:
        handle = page.locator(
            ".noUi-handle"
        ).first  # Bokeh's slider (noUiSlider), inside a shadow root
        handle.focus()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "() => Bokeh.documents[0].get_model_by_name('conv_position').value == 7"
        )
        state = page.evaluate(CONVOLUTION_STATE_JS)
        assert state["output_shown"] == 8
        assert state["window"] == [7 + 1.5, 0 + 1.5]
        assert errors == []
    finally:
        page.close()


# Screen position (page pixels) of the centre of cell (row, col) of a plot of the max-pool explorer.
CELL_CENTRE_JS = """([plot, row, col]) => {
  const view = Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name(plot));
  const canvas = view.canvas_view.el.getBoundingClientRect();
  return [canvas.left + view.frame.x_scale.compute(col + 0.5),
          canvas.top + view.frame.y_scale.compute(row + 0.5)];
}"""

POOL_STATE_JS = """() => {
  const doc = Bokeh.documents[0];
  const xy = (name) => [doc.get_model_by_name(name).data.x[0], doc.get_model_by_name(name).data.y[0]];
  return {
    cell: xy("pool_cell"), window: xy("pool_window"), winner: xy("pool_winner"),
    index: doc.get_model_by_name("pool_cell").data.index[0],
    readout: doc.get_model_by_name("pool_readout").text,
  };
}"""


@pytest.mark.browser
def test_hover_traces_an_output_cell_to_its_winner(browser):
    x = feature_map(seed=5)
    x[2:4, 4:6] = 7.0  # a tie of four maxima in window (1, 2): the top-left one wins
    layout = maxpool_explorer(x)
    output = source_data(layout, "pool_output_source")
    page, errors = open_figure(browser, layout)
    try:
        assert page.evaluate(POOL_STATE_JS)["index"] == 0
        for plot, (i, j) in [
            ("pool_output", (1, 2)),
            ("pool_output", (3, 1)),
            ("pool_upstream", (2, 3)),
        ]:
            q = i * 4 + j
            sx, sy = page.evaluate(CELL_CENTRE_JS, [plot, i, j])
            page.mouse.move(sx, sy)
            page.wait_for_function(
                f"() => Bokeh.documents[0].get_model_by_name('pool_cell').data.index[0] == {q}",
                timeout=10_000,
            )
            state = page.evaluate(POOL_STATE_JS)
            r, c = output["winner_row"][q], output["winner_col"][q]
            assert state["cell"] == [j + 0.5, i + 0.5]
            assert state["window"] == [2 * j + 1.0, 2 * i + 1.0]
            assert state["winner"] == [c + 0.5, r + 0.5]
            assert state["readout"] == output["text"][q]
            if (i, j) == (1, 2):
                assert (r, c) == (2, 4)
                assert "a tie of 4 cells" in state["readout"]
        # Off the grids, the last traced cell stays.
        page.mouse.move(1, 1)
        page.wait_for_timeout(200)
        assert page.evaluate(POOL_STATE_JS)["index"] == 2 * 4 + 3
        assert page.evaluate(FIGURE_WIDTH_JS) <= MAX_WIDTH
        assert errors == []
    finally:
        page.close()


@pytest.mark.browser
@pytest.mark.parametrize(
    "make",
    [
        lambda: convolution_explorer(np.zeros((5, 64)), np.ones((1, 1))),
        lambda: convolution_explorer(made_up_digit(), np.ones((25, 25))),
        lambda: maxpool_explorer(np.zeros((16, 16)), 3, 1),
        lambda: maxpool_explorer(np.zeros((3, 3)), 3, 3),
    ],
    ids=["wide-image", "large-kernel", "largest-pool", "one-window"],
)
def test_figures_fit_the_text_column_as_drawn(browser, make):
    layout = make()
    page, errors = open_figure(browser, layout)
    try:
        assert explorer_parts.TEXT_WIDTH <= page.evaluate(FIGURE_WIDTH_JS) <= MAX_WIDTH
        assert page.evaluate(FIGURE_WIDTH_JS) == top_level_width(
            layout
        )  # the models' sizes are the truth
        assert errors == []
    finally:
        page.close()


# ----------------------------------------------------------------------------- declared rules


def test_the_matrix_rule_checks_a_finite_matrix_and_its_side_naming_the_argument():
    rule = explorer_parts.Matrix("(H, W)", 4, "pixels", "a reason")
    checked = rule.check("image", np.ones((4, 3), dtype=np.int64))
    assert checked.dtype == np.float64 and checked.shape == (4, 3)
    with pytest.raises(ValueError, match=r"image is 5x1, .* at most 4 pixels a side \(a reason\)"):
        rule.check("image", np.zeros((5, 1)))
    with pytest.raises(ValueError, match="kernel must hold only finite numbers; 2 of its 4"):
        explorer_parts.Matrix("(kh, kw)").check("kernel", [[np.nan, 1], [np.inf, 0]])
    assert explorer_parts.Matrix("(kh, kw)").check("kernel", np.ones((99, 99))).shape == (99, 99)


def test_the_explorers_declare_their_checks():
    for explorer in (convolution_explorer, maxpool_explorer):
        rules = explorer.__declaration__.rules
        assert rules["title"] is explorer_parts.TITLE and isinstance(
            rules["x" if explorer is maxpool_explorer else "image"], explorer_parts.Matrix
        )


def test_the_maxpool_explorer_takes_numpy_integers_and_integer_maps():
    layout = maxpool_explorer(np.arange(16).reshape(4, 4), np.int64(2), np.int32(2))
    assert list(source_data(layout, "pool_output_source")["value"]) == [5.0, 7.0, 13.0, 15.0]
