"""Receptive fields (``cnn_tutorial.figures.receptive_field``): the rule, checked by an independent
method, and the
explorer that ships its numbers.

The independent method is the gradient route: with all-positive weights and an all-positive input, the
gradient of a unit with respect to the input is positive exactly at the input pixels the unit depends on
(every path from such a pixel to the unit multiplies positive numbers), and zero elsewhere. Pooling layers
are played by average pooling: max pooling sends a unit's gradient to its window's winner only, while the
unit depends on the whole window, which average pooling's gradient reaches.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from bokeh.core.validation import check_integrity
from bokeh.embed import json_item
from bokeh.models import Div, Plot

from cnn_tutorial.figures import explorer_parts, field_rule, receptive_field
from cnn_tutorial.figures.pictures import MAX_WIDTH
from cnn_tutorial.figures.receptive_field import (
    BOOK_LAYERS,
    Field,
    receptive_field_explorer,
    receptive_fields,
)

OTHER_STACKS = [
    # (layers, input (H, W)): strides 2 and kernels 3, a non-square input, a deeper mix, a lone pool
    ((("a", 3, 2), ("b", 3, 2)), (15, 17)),
    ((("c", 3, 1), ("pool1", 2, 2), ("d", 3, 2), ("e", 3, 3)), (40, 37)),
    ((("pool", 3, 3),), (9, 10)),
    ((("conv", 4, 3), ("pool", 3, 1), ("conv2", 2, 2)), (30, 30)),
]
STACKS = [(BOOK_LAYERS, (28, 28)), *OTHER_STACKS]


def digit(seed: int = 0, shape=(28, 28)) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


# ----------------------------------------------------------------------------- the gradient route


def dependency_masks(layers, shape, seed: int = 0) -> list[np.ndarray]:
    """Per layer, a bool array (h, w, H, W): which input pixels each unit's gradient reaches (torch)."""
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    generator = torch.Generator().manual_seed(seed)
    weights = [
        0.1
        + torch.rand(2, 2 if depth else 1, kernel, kernel, generator=generator, dtype=torch.float64)
        for depth, (_, kernel, _) in enumerate(layers)
    ]

    def maps(x):
        out, found = x[None, None], []
        for (name, kernel, stride), w in zip(layers, weights):
            if name.startswith(
                "pool"
            ):  # the window a max pool picks from; see the module docstring
                out = functional.avg_pool2d(out, kernel, stride)
            else:
                out = functional.conv2d(
                    out, w if out.shape[1] == w.shape[1] else w[:, :1], stride=stride
                )
            found.append(out[0].sum(0))  # (h, w): every channel, summed: the same field
        return found

    x = 0.1 + torch.rand(*shape, generator=generator, dtype=torch.float64)
    masks = []
    for depth in range(len(layers)):
        jacobian = torch.autograd.functional.jacobian(lambda x, depth=depth: maps(x)[depth], x)
        assert bool((jacobian >= 0).all())  # positive paths only: no cancellation hides a pixel
        masks.append(jacobian.numpy() > 0)
    return masks


def rule_spans(field: Field) -> tuple[np.ndarray, np.ndarray]:
    """First and last input pixel of each unit's field, from the rule's size, jump and centre."""
    first = field.centre - (field.size - 1) / 2 + field.jump * np.arange(field.units)
    assert np.all(first == np.round(first))  # whole pixels
    return first.astype(int), first.astype(int) + field.size - 1


def bounding_boxes(mask: np.ndarray) -> np.ndarray:
    """(h, w, 4): first row, last row, first column, last column of each unit's nonzero gradient."""
    rows, cols = mask.any(axis=3), mask.any(axis=2)  # (h, w, H), (h, w, W)
    first_row, last_row = rows.argmax(-1), rows.shape[-1] - 1 - rows[..., ::-1].argmax(-1)
    first_col, last_col = cols.argmax(-1), cols.shape[-1] - 1 - cols[..., ::-1].argmax(-1)
    return np.stack([first_row, last_row, first_col, last_col], axis=-1)


@pytest.mark.parametrize(
    ("layers", "shape"), STACKS, ids=["book", "strides-2", "deeper", "lone-pool", "mixed"]
)
def test_the_rule_finds_the_pixels_the_gradient_reaches(layers, shape):
    masks = dependency_masks(layers, shape)
    row_fields, col_fields = receptive_fields(layers, shape[0]), receptive_fields(layers, shape[1])
    for mask, row_field, col_field, (name, _, _) in zip(masks, row_fields, col_fields, layers):
        assert mask.shape[:2] == (row_field.units, col_field.units), name
        assert mask.any(axis=(2, 3)).all(), name  # every unit sees something
        (first_row, last_row), (first_col, last_col) = rule_spans(row_field), rule_spans(col_field)
        expected = np.zeros(mask.shape, dtype=bool)
        for i in range(row_field.units):
            for j in range(col_field.units):
                expected[i, j, first_row[i] : last_row[i] + 1, first_col[j] : last_col[j] + 1] = (
                    True
                )
        # Every kernel here covers its stride, so each field is a full rectangle, holes nowhere.
        np.testing.assert_array_equal(mask, expected, err_msg=name)


def test_a_stride_over_its_kernel_leaves_holes_the_rectangle_bounds():
    layers, shape = (("skip", 1, 2), ("conv", 3, 1)), (12, 11)
    mask = dependency_masks(layers, shape)[-1]
    row_field, col_field = (
        receptive_fields(layers, shape[0])[-1],
        receptive_fields(layers, shape[1])[-1],
    )
    assert (row_field.size, row_field.jump) == (5, 2)  # rows 2i, 2i + 2, 2i + 4 of the input
    boxes = bounding_boxes(mask)
    (first_row, last_row), (first_col, last_col) = rule_spans(row_field), rule_spans(col_field)
    np.testing.assert_array_equal(
        boxes[..., 0], np.broadcast_to(first_row[:, None], boxes.shape[:2])
    )
    np.testing.assert_array_equal(
        boxes[..., 1], np.broadcast_to(last_row[:, None], boxes.shape[:2])
    )
    np.testing.assert_array_equal(boxes[..., 2], np.broadcast_to(first_col[None], boxes.shape[:2]))
    np.testing.assert_array_equal(boxes[..., 3], np.broadcast_to(last_col[None], boxes.shape[:2]))
    assert mask[0, 0].sum() == 9  # 3 x 3 pixels of the 5 x 5 rectangle


def test_the_books_fields():
    assert receptive_fields(BOOK_LAYERS, 28) == (
        Field("conv1", 24, 5, 1, 2.0),
        Field("conv2", 20, 9, 1, 4.0),
        Field("pool", 10, 10, 2, 4.5),
    )
    # A plain tuple per layer and a list of them work alike; the rule does not depend on the input's size.
    fields = receptive_fields([("conv1", 5, 1), ("conv2", 5, 1), ("pool", 2, 2)], 100)
    assert [(f.size, f.jump, f.centre) for f in fields] == [(5, 1, 2.0), (9, 1, 4.0), (10, 2, 4.5)]
    assert [f.units for f in fields] == [96, 92, 46]


# ----------------------------------------------------------------------------- the explorer's numbers


def model(layout, name):
    found = list(layout.select({"name": name}))
    assert len(found) == 1, f"{len(found)} models named {name!r}"
    return found[0]


def map_sizes(layers, size):
    return [size] + [field.units for field in receptive_fields(layers, size)]


@pytest.mark.parametrize(
    ("layers", "shape"), STACKS, ids=["book", "strides-2", "deeper", "lone-pool", "mixed"]
)
def test_the_explorer_ships_the_rules_fields_for_every_unit(layers, shape):
    layout = receptive_field_explorer(digit(shape=shape), layers=layers, layer=layers[-1][0])
    names = ["input"] + [name for name, _, _ in layers]
    rows, cols = map_sizes(layers, shape[0]), map_sizes(layers, shape[1])
    for level in range(1, len(names)):
        data = model(layout, f"rf_{names[level]}_units").data
        i, j = np.divmod(np.arange(rows[level] * cols[level]), cols[level])
        np.testing.assert_array_equal(data["row"], i)
        np.testing.assert_array_equal(data["col"], j)
        for m in range(
            level
        ):  # the field in map m: the rule on the layers between, map m their input
            row_span = rule_spans(receptive_fields(layers[m:level], rows[m])[-1])
            col_span = rule_spans(receptive_fields(layers[m:level], cols[m])[-1])
            for key, expected in (
                ("first_row", row_span[0][i]),
                ("last_row", row_span[1][i]),
                ("first_col", col_span[0][j]),
                ("last_col", col_span[1][j]),
            ):
                np.testing.assert_array_equal(
                    data[f"{names[m]}_{key}"], expected, err_msg=f"{level} {m} {key}"
                )
            # The rectangle drawn is the span: centre and size in the map's cells.
            np.testing.assert_array_equal(
                data[f"{names[m]}_width"], col_span[1][j] - col_span[0][j] + 1
            )
            np.testing.assert_array_equal(
                data[f"{names[m]}_x"], (col_span[0][j] + col_span[1][j] + 1) / 2
            )
            np.testing.assert_array_equal(
                data[f"{names[m]}_y"], (row_span[0][i] + row_span[1][i] + 1) / 2
            )
        np.testing.assert_array_equal(data[f"{names[level]}_first_row"], i)  # the unit itself
        np.testing.assert_array_equal(data[f"{names[level]}_width"], np.ones(i.size))


def test_the_explorers_input_fields_are_the_gradients():
    """The book's network: the rectangles shipped for the input are where each unit's gradient is."""
    layout = receptive_field_explorer(digit())
    for (name, _, _), mask in zip(BOOK_LAYERS, dependency_masks(BOOK_LAYERS, (28, 28))):
        data = model(layout, f"rf_{name}_units").data
        boxes = bounding_boxes(mask).reshape(-1, 4)
        shipped = np.stack(
            [data[f"input_{key}"] for key in ("first_row", "last_row", "first_col", "last_col")], 1
        )
        np.testing.assert_array_equal(shipped, boxes)


def test_the_input_panel_shows_the_image():
    image = digit(3)
    layout = receptive_field_explorer(image)
    shown = [
        r.data_source.data["image"][0]
        for r in model(layout, "rf_input").renderers
        if "image" in r.data_source.data
    ]
    assert len(shown) == 1
    np.testing.assert_array_equal(shown[0], image)


def test_readout_and_starting_unit():
    layout = receptive_field_explorer(digit(), layer="pool", unit=(3, 4))
    text = (
        "pool unit (3, 4) sees input rows 6\u201315, columns 8\u201317: 10 \u00d7 10 pixels, "
        "through 2 \u00d7 2 units of conv2 and 6 \u00d7 6 units of conv1"
    )
    assert model(layout, "rf_readout").text == text
    assert model(layout, "rf_pool_units").data["text"][34] == text
    assert model(layout, "rf_pool_units").selected.indices == [34]
    expected = {
        "input": (13.0, 11.0, 10, 10),
        "conv1": (11.0, 9.0, 6, 6),
        "conv2": (9.0, 7.0, 2, 2),
        "pool": (4.5, 3.5, 1, 1),
    }
    for name, (x, y, width, height) in expected.items():
        assert model(layout, f"rf_{name}_field").data == {
            "x": [x],
            "y": [y],
            "width": [width],
            "height": [height],
        }

    layout = receptive_field_explorer(digit(), layer="conv1", unit=(0, 23))
    assert (
        model(layout, "rf_readout").text
        == "conv1 unit (0, 23) sees input rows 0\u20134, columns 23\u201327: 5 \u00d7 5 pixels"
    )
    assert model(layout, "rf_input_field").data == {
        "x": [25.5],
        "y": [2.5],
        "width": [5],
        "height": [5],
    }
    for deeper in ("conv2", "pool"):  # maps after the unit's: nothing outlined
        assert model(layout, f"rf_{deeper}_field").data == {
            "x": [],
            "y": [],
            "width": [],
            "height": [],
        }

    default = receptive_field_explorer(digit(), layer="conv2")  # the middle unit
    assert model(default, "rf_conv2_units").selected.indices == [10 * 20 + 10]
    assert model(default, "rf_readout").text.startswith(
        "conv2 unit (10, 10) sees input rows 10\u201318"
    )


# ----------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "words"),
    [
        ((np.zeros((1, 28, 28)),), {}, ValueError, "image must be a 2-D array"),
        ((np.full((28, 28), np.nan),), {}, ValueError, "image must hold only finite numbers"),
        ((np.array([["a"]]),), {}, TypeError, "image must be a real numeric array"),
        ((np.zeros((65, 65)),), {}, ValueError, "at most 64 pixels"),
        (
            (np.zeros((9, 28)),),
            {},
            ValueError,
            "layers: pool's kernel 2 is larger than the 1 units",
        ),
        ((np.zeros((8, 28)),), {}, ValueError, "(image height 8, 4 after conv1)"),
        ((digit(),), {"layers": "conv"}, TypeError, "layers must be a sequence"),
        (
            (digit(),),
            {"layers": [("a", 3)]},
            TypeError,
            "layers[0] must be a (name, kernel, stride)",
        ),
        ((digit(),), {"layers": [("a", 0, 1)]}, ValueError, "layers[0]'s kernel must be >= 1"),
        (
            (digit(),),
            {"layers": [("a", 3, 1.0)]},
            TypeError,
            "layers[0]'s stride must be an integer",
        ),
        (
            (digit(),),
            {"layers": [("a", 3, 1), ("a", 3, 1)]},
            ValueError,
            "layers must have distinct names",
        ),
        ((digit(),), {"layers": [("input", 3, 1)]}, ValueError, "other than 'input'"),
        ((digit(),), {"layers": []}, ValueError, "layers must hold at least one"),
        (
            (digit(),),
            {"layer": "conv3"},
            ValueError,
            "layer must be one of ['conv1', 'conv2', 'pool']",
        ),
        ((digit(),), {"unit": (10, 0)}, ValueError, "unit must lie in pool's 10x10 map"),
        ((digit(),), {"unit": (0, -1)}, ValueError, "unit must lie in pool's 10x10 map"),
        (
            (digit(),),
            {"unit": (1.5, 2)},
            TypeError,
            "unit must be a (row, column) pair of integers",
        ),
        ((digit(),), {"unit": 3}, TypeError, "unit must be a (row, column) pair"),
        ((digit(),), {"title": 3}, TypeError, "title must be a string or None"),
    ],
)
def test_the_explorer_rejects_bad_arguments(args, kwargs, error, words):
    with pytest.raises(error) as caught:
        receptive_field_explorer(*args, **kwargs)
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("args", "error", "words"),
    [
        ((BOOK_LAYERS, 0), ValueError, "input_size must be >= 1"),
        ((BOOK_LAYERS, 12.0), TypeError, "input_size must be an integer"),
        (
            (BOOK_LAYERS, 8),
            ValueError,
            "layers: conv2's kernel 5 is larger than the 4 units its input has along an axis "
            "(input_size 8, 4 after conv1)",
        ),
        (([("a", 3, 0)], 9), ValueError, "layers[0]'s stride must be >= 1"),
        ((None, 9), TypeError, "layers must be a sequence"),
    ],
)
def test_the_rule_rejects_bad_arguments(args, error, words):
    with pytest.raises(error) as caught:
        receptive_fields(*args)
    assert words in str(caught.value)


# ----------------------------------------------------------------------------- layout and look


def top_level_width(layout) -> int:
    """Pixels across, from the models' sizes: the widest row (plots, borders and gaps) or widget."""

    def width(item):
        if hasattr(item, "frame_width") and item.frame_width is not None:
            return item.frame_width + item.min_border_left + item.min_border_right
        if type(item).__name__ == "Row":
            return sum(map(width, item.children)) + item.spacing * (len(item.children) - 1)
        if hasattr(item, "children"):
            return max(map(width, item.children))
        return item.width + 2 * explorer_parts.WIDGET_MARGIN  # a Div, with its margins

    return width(layout)


@pytest.mark.parametrize(
    "make",
    [
        lambda: receptive_field_explorer(digit()),
        lambda: receptive_field_explorer(digit(), layer="conv1", unit=(0, 0), title=""),
        lambda: receptive_field_explorer(digit(shape=(64, 64))),
        lambda: receptive_field_explorer(digit(shape=(64, 13))),
        lambda: receptive_field_explorer(digit(shape=(13, 64))),
        lambda: receptive_field_explorer(digit(shape=(12, 12)), layers=[("c", 3, 1)]),
        lambda: receptive_field_explorer(
            digit(shape=(2, 2)), layers=[("a-rather-long-layer-name", 2, 1)]
        ),
        # the widest panel of each column in a different row: the columns line up and still fit
        lambda: receptive_field_explorer(
            digit(shape=(12, 64)), layers=[("a", 1, 1), ("b", 1, 1), ("c", 1, 1)]
        ),
        lambda: receptive_field_explorer(
            digit(shape=(64, 64)), layers=[("a", 1, 1), ("b", 2, 2), ("c", 1, 1)]
        ),
        *[
            lambda layers=layers, shape=shape: receptive_field_explorer(
                digit(shape=shape), layers=layers
            )
            for layers, shape in OTHER_STACKS
        ],
    ],
)
def test_figures_fit_the_text_column_and_pass_bokehs_checks(make):
    layout = make()
    assert layout.sizing_mode in (None, "fixed")
    assert top_level_width(layout) <= MAX_WIDTH
    issues = check_integrity([layout])
    assert issues.error == [] and issues.warning == []
    json_item(layout)  # serialises, as display.show embeds it


def test_text_reads_in_light_and_dark_themes():
    layout = receptive_field_explorer(digit(), title="<A> & B")
    assert model(layout, "rf_title").text == "<b>&lt;A&gt; &amp; B</b>"  # escaped
    for widget in layout.select({"type": Div}):
        assert widget.styles == {"color": explorer_parts.TEXT_COLOR}, widget.name
    for plot in layout.select({"type": Plot}):
        assert plot.background_fill_color is None and plot.border_fill_color is None
        assert plot.title.text_color == explorer_parts.TEXT_COLOR


def test_public_functions_fit_the_books_code_column():
    for name in ("receptive_fields", "receptive_field_explorer"):
        source = inspect.getsource(getattr(receptive_field, name))
        assert [line for line in source.splitlines() if len(line) > 76] == [], name


# ----------------------------------------------------------------------------- in the browser

UNIT_CENTRE_JS = """([plot, row, col]) => {
  const view = Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name(plot));
  const canvas = view.canvas_view.el.getBoundingClientRect();
  return [canvas.left + view.frame.x_scale.compute(col + 0.5),
          canvas.top + view.frame.y_scale.compute(row + 0.5)];
}"""

# BokehJS reads two taps on one plot within 300 ms as a double tap, which a TapTool ignores (a
# "doubletap" TapTool cannot be made active from Python): the test waits 400 ms before tapping a plot
# again, and taps different plots at once.

STATE_JS = """() => {
  const doc = Bokeh.documents[0];
  const field = (name) => {
    const data = doc.get_model_by_name("rf_" + name + "_field").data;
    return [...data.x, ...data.y, ...data.width, ...data.height].map(Number);
  };
  return {readout: doc.get_model_by_name("rf_readout").text,
          input: field("input"), conv1: field("conv1"), conv2: field("conv2"), pool: field("pool")};
}"""


def expected_state(layout, name, q):
    data = model(layout, f"rf_{name}_units").data
    names = ["input", "conv1", "conv2", "pool"]
    level = names.index(name)
    state = {"readout": data["text"][q]}
    for m, other in enumerate(names):
        keys = ("x", "y", "width", "height")
        state[other] = [float(data[f"{other}_{key}"][q]) for key in keys] if m <= level else []
    return state


@pytest.mark.browser
def test_click_and_touch_trace_a_unit(browser):
    from tests.test_interactive import open_figure

    layout = receptive_field_explorer(digit())
    page, errors = open_figure(browser, layout)
    try:
        assert page.evaluate(STATE_JS) == expected_state(layout, "pool", 55)
        for name, (i, j), width, wait in (
            ("pool", (3, 4), 10, 0),
            ("conv1", (0, 23), 24, 0),
            ("conv2", (19, 2), 20, 400),
            ("pool", (3, 4), 10, 400),  # the same unit again, after another map's
        ):
            page.wait_for_timeout(wait)
            page.mouse.click(*page.evaluate(UNIT_CENTRE_JS, [f"rf_{name}", i, j]))
            expected = expected_state(layout, name, i * width + j)
            page.wait_for_function(
                f"() => Bokeh.documents[0].get_model_by_name('rf_readout').text == "
                f"{expected['readout']!r}",
                timeout=20_000,
            )
            assert page.evaluate(STATE_JS) == expected
        assert errors == []
    finally:
        page.close()

    # The same figure by touch: a page with a touch screen, tapped.
    class TouchScreen:  # what open_figure needs of a browser: new pages, here with touch
        def new_page(self, viewport):
            return browser.new_page(viewport=viewport, has_touch=True)

    page, errors = open_figure(TouchScreen(), layout)
    try:
        for name, (i, j), width, wait in (
            ("conv1", (5, 6), 24, 400),
            ("pool", (9, 0), 10, 0),
            ("conv2", (0, 0), 20, 400),
        ):
            page.wait_for_timeout(wait)
            page.touchscreen.tap(*page.evaluate(UNIT_CENTRE_JS, [f"rf_{name}", i, j]))
            expected = expected_state(layout, name, i * width + j)
            page.wait_for_function(
                f"() => Bokeh.documents[0].get_model_by_name('rf_readout').text == "
                f"{expected['readout']!r}",
                timeout=20_000,
            )
            assert page.evaluate(STATE_JS) == expected
        assert errors == []
    finally:
        page.close()


def test_the_chapters_import_the_rule_from_the_explorers_module():
    for name in field_rule.__all__:
        assert getattr(receptive_field, name) is getattr(field_rule, name)


def test_the_layers_rule_gives_a_tuple_of_plain_tuples():
    checked = field_rule.LAYERS.check("layers", [["conv", np.int64(3), 1]])
    assert checked == (("conv", 3, 1),) and type(checked[0][1]) is int
    assert receptive_fields([("conv", np.int64(3), np.int32(1))], np.int64(5))[0].units == 3


def test_the_explorer_checks_the_layer_before_the_unit():
    with pytest.raises(ValueError, match="layer must be one of"):
        receptive_field_explorer(digit(), layer="conv9", unit=(99, 99))
