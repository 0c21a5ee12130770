"""What the trained network sees: ranking images by a channel, and the two figures that draw it."""

import numpy as np
import pytest
from bokeh.core.validation import check_integrity
from bokeh.embed import json_item
from bokeh.layouts import GridPlot
from bokeh.models import Div, LinearColorMapper, Plot

from cnn_tutorial.figures.pictures import MAX_WIDTH
from cnn_tutorial.figures.what_it_sees import (
    feature_maps_figure,
    strongest_images,
    strongest_images_figure,
)
from cnn_tutorial.numpy_net import NumpyCNN


def relu_maps(shape, seed=0):
    """Maps as after a ReLU: about half of the values exactly 0, float32."""
    return np.maximum(np.random.default_rng(seed).standard_normal(shape), 0).astype(np.float32)


def plain_ranking(activations, channel, k):
    """The k strongest images by a plain loop: scan the images, keep a list sorted by score."""
    ranked = []  # (score, index), best first; an equal score goes after those already there
    for i in range(len(activations)):
        score = max(
            activations[i, channel, r, c]
            for r in range(activations.shape[2])
            for c in range(activations.shape[3])
        )
        place = 0
        while place < len(ranked) and ranked[place][0] >= score:
            place += 1
        ranked.insert(place, (score, i))
    return [i for _, i in ranked[:k]], [s for s, _ in ranked[:k]]


# ----------------------------------------------------------------------------- strongest_images


@pytest.mark.parametrize("channel, k", [(0, 1), (2, 5), (4, 12)])
def test_strongest_images_match_a_plain_loop_and_argsort(channel, k):
    activations = relu_maps((12, 5, 4, 3), seed=channel)
    indices, scores = strongest_images(activations, channel, k)
    expected_indices, expected_scores = plain_ranking(activations, channel, k)
    assert indices.dtype == np.int64 and indices.shape == (k,)
    assert indices.tolist() == expected_indices
    assert scores.dtype == np.float32
    np.testing.assert_array_equal(scores, expected_scores)
    np.testing.assert_array_equal(scores, activations[indices, channel].max(axis=(1, 2)))
    maxima = activations[:, channel].reshape(12, -1).max(axis=1)
    assert indices.tolist() == np.argsort(-maxima, kind="stable")[:k].tolist()


def test_ties_go_to_the_lower_index_and_the_score_is_the_maximum_not_the_sum():
    activations = np.zeros((6, 2, 3, 3))
    activations[[4, 1, 5], 1, 0, 0] = 2.0  # three images tie at 2
    activations[3, 1] = 1.5  # the largest sum (13.5), but a smaller maximum
    activations[0, 0] = 9.0  # another channel: ignored
    indices, scores = strongest_images(activations, channel=1, k=6)
    assert indices.tolist() == [1, 4, 5, 3, 0, 2]  # images 0 and 2 tie at 0 too
    assert scores.tolist() == [2.0, 2.0, 2.0, 1.5, 0.0, 0.0]
    assert plain_ranking(activations, 1, 6)[0] == indices.tolist()


def test_all_equal_scores_keep_image_order_and_lists_are_accepted():
    indices, scores = strongest_images([[[[0.0]]], [[[0.0]]], [[[0.0]]]], 0, k=3)
    assert indices.tolist() == [0, 1, 2] and scores.dtype == np.float64


@pytest.mark.parametrize(
    "activations, channel, k, error, match",
    [
        (
            np.zeros((4, 3, 5)),
            0,
            1,
            ValueError,
            r"activations must be a 4-D array of shape \(N, C, H, W\)",
        ),
        (
            np.zeros((0, 3, 5, 5)),
            0,
            1,
            ValueError,
            "activations must have at least 1 entry along N",
        ),
        (np.zeros((4, 3, 5, 5)), 3, 1, ValueError, "channel must be < 3, the number of channels"),
        (np.zeros((4, 3, 5, 5)), -1, 1, ValueError, "channel must be >= 0"),
        (np.zeros((4, 3, 5, 5)), 1.0, 1, TypeError, "channel must be an integer"),
        (np.zeros((4, 3, 5, 5)), 0, 5, ValueError, "k must be <= 4, the number of images"),
        (np.zeros((4, 3, 5, 5)), 0, 0, ValueError, "k must be >= 1"),
        (np.array([[[["a"]]]]), 0, 1, TypeError, "activations must be a real numeric array"),
    ],
)
def test_strongest_images_bad_input(activations, channel, k, error, match):
    with pytest.raises(error, match=match):
        strongest_images(activations, channel, k)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_strongest_images_refuse_non_finite_maps_of_the_channel(bad):
    activations = np.zeros((4, 3, 5, 5))
    activations[2, 1, 3, 3] = bad
    with pytest.raises(ValueError, match=r"activations\[:, 1\] must be finite"):
        strongest_images(activations, 1, 2)
    assert strongest_images(activations, 0, 2)[0].tolist() == [0, 1]  # other channels are fine


def test_strongest_images_of_a_numpy_cnn_forward_pass():
    net = NumpyCNN.initialize(seed=0)
    x = np.random.default_rng(1).standard_normal((20, 1, 28, 28)).astype(np.float32)
    _, cache = net.forward(x)
    for layer, channels in (("r1", 8), ("r2", 8)):
        maps = cache[layer]
        assert maps.shape[:2] == (20, channels) and maps.min() >= 0
        for channel in (0, channels - 1):
            indices, scores = strongest_images(maps, channel, k=5)
            expected_indices, expected_scores = plain_ranking(maps, channel, 5)
            assert indices.tolist() == expected_indices
            np.testing.assert_array_equal(scores, expected_scores)
            # Every image left out scores no higher than the weakest one shown.
            rest = np.setdiff1d(np.arange(20), indices)
            assert maps[rest, channel].max() <= scores[-1]


# ----------------------------------------------------------------------------- reading figures back


def plot(layout, name):
    found = list(layout.select({"name": name}))
    assert len(found) == 1, f"{len(found)} models named {name!r}"
    return found[0]


def drawn(layout, name):
    """The array the plot ``name`` draws, read from its ColumnDataSource, and its colour scale."""
    fig = plot(layout, name)
    (renderer,) = fig.renderers
    source = plot(layout, f"{name}_source")
    assert renderer.data_source is source
    return source.data["image"][0], renderer.glyph.color_mapper


def layout_width(item) -> int:
    """Pixels across, from the models' sizes: plots with their borders, grids, rows and columns."""
    if getattr(item, "frame_width", None) is not None:
        return item.frame_width + item.min_border_left + item.min_border_right
    if isinstance(item, GridPlot):
        columns = {}
        for child, _, col in item.children:
            columns[col] = max(columns.get(col, 0), layout_width(child))
        return sum(columns.values()) + item.spacing * (len(columns) - 1)
    if isinstance(item, Div):
        return item.width + 10  # its margins
    if type(item).__name__ == "Row":
        return sum(map(layout_width, item.children)) + item.spacing * (len(item.children) - 1)
    return max(map(layout_width, item.children))


def assert_valid(layout):
    assert layout_width(layout) <= MAX_WIDTH
    issues = check_integrity([layout])
    assert issues.error == [] and issues.warning == []
    json_item(layout)  # serialises, as display.show embeds it


# ----------------------------------------------------------------------------- feature_maps_figure


def test_feature_maps_figure_draws_exactly_the_maps_it_is_given():
    images = np.random.default_rng(2).standard_normal((3, 1, 28, 28)).astype(np.float32)
    maps1, maps2 = relu_maps((3, 32, 28, 28), 3), relu_maps((3, 64, 14, 14), 4)
    channels1, channels2 = (0, 5, 17, 31), (63, 2, 40, 9)
    layout = feature_maps_figure(
        images, maps1, maps2, channels1, channels2, titles=["label 7", "label 2", "label 1"]
    )
    for d in range(3):
        digit, ink = drawn(layout, f"digit-{d}")
        assert digit.dtype == np.float32
        np.testing.assert_array_equal(digit, images[d, 0])
        assert (ink.low, ink.high) == (float(images.min()), float(images.max()))
        assert plot(layout, f"digit-{d}").title.text == ["label 7", "label 2", "label 1"][d]
        for layer, maps, channels in (("conv1", maps1, channels1), ("conv2", maps2, channels2)):
            for c in channels:
                shown, scale = drawn(layout, f"{layer}-{d}-{c}")
                np.testing.assert_array_equal(shown, maps[d, c])
                # one ink scale per column: white for 0, black for the column's largest value
                assert (scale.low, scale.high) == (0.0, float(maps[:, c].max()))
                assert scale.palette[0] == "#ffffff" and scale.palette[-1] == "#000000"
                assert plot(layout, f"{layer}-{d}-{c}").title.text == f"channel {c}"
    headings = [group.children[0].text for group in layout.children]  # select() has no order
    assert headings == ["<b>digit</b>", "<b>conv 1</b>", "<b>conv 2</b>"]
    # Every row: the digit, then the conv-1 maps, then the conv-2 maps, in the order asked for.
    grids = [group.children[1] for group in layout.children]
    assert [sorted((r, c) for _, r, c in grid.children)[-1] for grid in grids] == [
        (2, 0),
        (2, 3),
        (2, 3),
    ]
    conv2 = {(r, c): fig.name for fig, r, c in grids[2].children}
    assert [conv2[(1, col)] for col in range(4)] == [
        "conv2-1-63",
        "conv2-1-2",
        "conv2-1-40",
        "conv2-1-9",
    ]
    assert_valid(layout)


def test_feature_maps_figure_of_a_numpy_cnn_with_default_titles():
    net = NumpyCNN.initialize(seed=0)
    x = np.random.default_rng(5).standard_normal((3, 1, 28, 28)).astype(np.float32)
    _, cache = net.forward(x)
    layout = feature_maps_figure(x[:, 0], cache["r1"], cache["r2"], channels1=[1, 3], channels2=[7])
    np.testing.assert_array_equal(drawn(layout, "conv1-2-3")[0], cache["r1"][2, 3])
    np.testing.assert_array_equal(drawn(layout, "conv2-0-7")[0], cache["r2"][0, 7])
    assert [plot(layout, f"digit-{d}").title.text for d in range(3)] == [
        "image 0",
        "image 1",
        "image 2",
    ]
    assert len(list(layout.select({"type": LinearColorMapper}))) == 1 + 2 + 1
    assert_valid(layout)


def test_feature_maps_figure_rows_line_up():
    layout = feature_maps_figure(
        np.zeros((2, 28, 28)),
        relu_maps((2, 32, 28, 28)),
        relu_maps((2, 64, 14, 14)),
        titles=["a much longer title", "b"],
    )
    heights = set()
    for fig in layout.select({"type": Plot}):
        heights.add(
            (fig.frame_height, fig.title.text_font_size, fig.min_border_top, fig.min_border_bottom)
        )
    assert len(heights) == 1  # every panel the same height: the rows of the three groups line up
    digit_widths = {layout_width(plot(layout, f"digit-{d}")) for d in range(2)}
    assert len(digit_widths) == 1  # the long title widened the whole column
    assert_valid(layout)


def test_an_all_zero_channel_and_constant_digits_still_get_a_scale():
    maps = np.zeros((2, 4, 6, 6))
    layout = feature_maps_figure(np.ones((2, 8, 8)), maps, maps, [0], [3])
    for name in ("digit-0", "conv1-1-0", "conv2-0-3"):
        scale = drawn(layout, name)[1]
        assert scale.high > scale.low
    assert_valid(layout)


GOOD = dict(
    images=np.zeros((2, 28, 28)), maps1=np.ones((2, 8, 24, 24)), maps2=np.ones((2, 8, 20, 20))
)


@pytest.mark.parametrize(
    "change, error, match",
    [
        (dict(images=np.zeros((2, 2, 28, 28))), ValueError, r"images must have shape \(D, H, W\)"),
        (dict(images=np.zeros((3, 28, 28))), ValueError, "images has 3 images; the maps are of 2"),
        (dict(images=np.full((2, 28, 28), np.nan)), ValueError, "images must be finite"),
        (
            dict(maps1=np.ones((2, 24, 24))),
            ValueError,
            r"maps1 must be a 4-D array of shape \(D, C, H, W\)",
        ),
        (dict(maps2=np.ones((3, 8, 20, 20))), ValueError, "maps2 has 3 images, maps1 2"),
        (
            dict(maps2=-np.ones((2, 8, 20, 20))),
            ValueError,
            r"maps2 must be >= 0 \(feature maps after a ReLU\)",
        ),
        (dict(maps1=np.full((2, 8, 24, 24), np.inf)), ValueError, "maps1 must be finite"),
        (
            dict(channels1=(0, 8)),
            ValueError,
            "channels1 must be < 8, the number of channels of maps1",
        ),
        (dict(channels2=(-1,)), ValueError, "channels2 must be >= 0"),
        (
            dict(channels2=(1, 2, 1)),
            ValueError,
            r"channels2 must not name a channel twice, got \[1, 2, 1\]",
        ),
        (dict(channels1=np.array([[0, 1]])), TypeError, "channels1 must be a non-empty sequence"),
        (dict(channels2=3), TypeError, "channels2 must be a non-empty sequence"),
        (dict(channels1=()), TypeError, "channels1 must be a non-empty sequence"),
        (
            dict(channels1=range(8), channels2=range(8)),
            ValueError,
            "channels1 and channels2 name too many channels: .* 680",
        ),
        (dict(titles=["one"]), ValueError, "titles has 1 entries for 2 images"),
    ],
)
def test_feature_maps_figure_bad_input(change, error, match):
    with pytest.raises(error, match=match):
        feature_maps_figure(**{**GOOD, **change})


# ----------------------------------------------------------------------------- strongest_images_figure


def test_strongest_images_figure_draws_the_strongest_digits_over_their_maps():
    images = np.random.default_rng(6).standard_normal((20, 1, 28, 28))
    activations = relu_maps((20, 8, 20, 20), 7)
    activations[[11, 3], 5, 4, 7] = 10.0  # a tie for the top: image 3 comes first
    indices, scores = strongest_images(activations, 5, k=8)
    layout = strongest_images_figure(images, activations, channel=5, k=8)
    assert indices[:2].tolist() == [3, 11] and scores[0] == scores[1] == 10
    grid = next(iter(layout.select({"type": GridPlot})))
    position = {fig.name: (r, c) for fig, r, c in grid.children}
    for place, (i, score) in enumerate(zip(indices, scores)):
        digit, ink = drawn(layout, f"digit-{i}")
        shown, scale = drawn(layout, f"map-{i}")
        np.testing.assert_array_equal(digit, images[i, 0])
        np.testing.assert_array_equal(shown, activations[i, 5])
        assert shown.max() == score
        assert plot(layout, f"map-{i}").title.text == f"max {score:.3g}"
        assert plot(layout, f"digit-{i}").title.text == f"image {i}"
        assert (ink.low, ink.high) == (images[indices].min(), images[indices].max())
        assert (scale.low, scale.high) == (
            0.0,
            float(scores[0]),
        )  # one scale, black = the top score
        assert position[f"digit-{i}"] == (0, place) and position[f"map-{i}"] == (1, place)
    assert len(grid.children) == 16
    (heading,) = layout.select({"type": Div})
    assert heading.text == "<b>conv 2, channel 5: the 8 images it responds to most</b>"
    assert_valid(layout)


def test_strongest_images_figure_wraps_many_images_into_pairs_of_rows():
    activations = relu_maps((30, 2, 6, 6), 8)
    layout = strongest_images_figure(np.zeros((30, 28, 28)), activations, 1, k=20, layer="conv 1")
    indices, _ = strongest_images(activations, 1, k=20)
    grid = next(iter(layout.select({"type": GridPlot})))
    position = {fig.name: (r, c) for fig, r, c in grid.children}
    per_row = 1 + max(c for _, _, c in grid.children)
    assert per_row < 20
    for place, i in enumerate(indices):
        r, c = divmod(place, per_row)
        assert position[f"digit-{i}"] == (2 * r, c) and position[f"map-{i}"] == (2 * r + 1, c)
    assert "conv 1, channel 1" in next(iter(layout.select({"type": Div}))).text
    assert_valid(layout)


@pytest.mark.parametrize(
    "args, error, match",
    [
        ((np.zeros((5, 28, 28)), np.ones((5, 4, 6, 6)), 4), ValueError, "channel must be < 4"),
        ((np.zeros((5, 28, 28)), np.ones((5, 4, 6, 6)), 0, 6), ValueError, "k must be <= 5"),
        (
            (np.zeros((4, 28, 28)), np.ones((5, 4, 6, 6)), 0),
            ValueError,
            "images has 4 images; the maps are of 5",
        ),
        (
            (np.zeros((5, 28, 28)), np.ones((5, 6, 6)), 0),
            ValueError,
            "activations must be a 4-D array",
        ),
        (
            (np.zeros((5, 28, 28)), np.full((5, 4, 6, 6), np.nan), 0),
            ValueError,
            "activations must be finite",
        ),
        (
            (np.zeros((5, 28, 28)), -np.ones((5, 4, 6, 6)), 0),
            ValueError,
            "activations must be >= 0",
        ),
        ((np.zeros((5, 28, 28)), np.ones((5, 4, 6, 6)), 0, 2, 2), TypeError, "layer must be a str"),
    ],
)
def test_strongest_images_figure_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        strongest_images_figure(*args)
