"""Image grids for digits, filters and feature maps."""

import numpy as np
import pytest
from bokeh.models import GridPlot, LinearColorMapper

from cnn_tutorial.figures.pictures import MAX_WIDTH, grid_columns, image_grid, shown_images


def _mappers(grid):
    return {id(m): m for m in grid.select({"type": LinearColorMapper})}.values()


def test_grid_has_one_panel_per_image_sharing_one_colour_scale():
    images = np.arange(5 * 4 * 6, dtype=float).reshape(5, 4, 6)
    grid = image_grid(images, titles=[f"#{k}" for k in range(5)], ncols=3)
    assert isinstance(grid, GridPlot)
    panels = [child[0] for child in grid.children]
    assert len(panels) == 5
    assert [p.title.text for p in panels] == ["#0", "#1", "#2", "#3", "#4"]
    (mapper,) = _mappers(grid)
    assert (mapper.low, mapper.high) == (0.0, 119.0)
    # Array row 0 is drawn at the top: the y axis runs from H (bottom) to 0 (top).
    assert (panels[0].y_range.start, panels[0].y_range.end) == (4, 0)
    assert panels[0].width == 110 and panels[0].height == round(110 * 4 / 6) + 22  # image + caption


def test_diverging_scale_is_centred_on_zero():
    grid = image_grid(np.array([[[-0.5, 2.0], [0.1, 0.0]]]), diverging=True)
    (mapper,) = _mappers(grid)
    assert (mapper.low, mapper.high) == (-2.0, 2.0)
    # Negative is blue, positive red, as the chapters say: the lowest colour is mostly blue.
    low_rgb, high_rgb = (bytes.fromhex(mapper.palette[i][1:]) for i in (0, -1))
    assert low_rgb[2] > low_rgb[0] and high_rgb[0] > high_rgb[2]


def test_single_image_and_constant_image_are_accepted():
    grid = image_grid(np.zeros((28, 28)), title="blank")
    (mapper,) = _mappers(grid)
    assert mapper.high > mapper.low
    assert grid.children[0][0].title.text == "blank"
    assert (
        image_grid(np.zeros((28, 28))).children[0][0].height == 110
    )  # no caption, no room for one


@pytest.mark.parametrize(
    "images, titles, match",
    [
        (np.zeros((2, 3, 4, 5)), None, r"\(K, H, W\).*\(2, 3, 4, 5\)"),
        (np.zeros((0, 3, 3)), None, r"K >= 1"),
        (np.zeros((2, 3, 3)), ["one"], "1 entries for 2 images"),
    ],
)
def test_bad_input(images, titles, match):
    with pytest.raises(ValueError, match=match):
        image_grid(images, titles=titles)


def test_shown_images_reads_back_exactly_what_was_drawn_in_panel_order():
    images = np.random.default_rng(0).standard_normal((7, 5, 3)).astype(np.float32)
    shown = shown_images(image_grid(images, ncols=3))
    assert shown.shape == (7, 5, 3) and np.array_equal(shown, images)
    assert np.array_equal(shown_images(image_grid(images[0])), images[:1])


@pytest.mark.parametrize(
    "count, ncols, panel_size, expected",
    [
        (16, 8, 80, 8),  # 640 px: fits
        (16, 8, 90, 6),  # 720 px does not fit 700; 7 fit, so 3 rows: 6, 6, 4
        (5, 3, 110, 3),  # fits: unchanged, even if rows are uneven
        (3, 8, 300, 2),  # 2 fit: 2 + 1
        (4, 4, 800, 1),  # not even one fits: one per row
    ],
)
def test_grid_columns_wrap_to_the_width(count, ncols, panel_size, expected):
    assert grid_columns(count, ncols, panel_size) == expected


def test_grid_rows_fit_the_text_column():
    grid = image_grid(np.zeros((16, 28, 28)), ncols=8, panel_size=90)
    columns = {col for _, _, col in grid.children}
    assert len(columns) * 90 <= MAX_WIDTH
    assert shown_images(grid).shape == (16, 28, 28)
    with pytest.raises(ValueError, match="max_width"):
        image_grid(np.zeros((2, 3, 3)), panel_size=100, max_width=50)


def test_max_width_must_hold_one_panel_and_names_the_panel_size():
    with pytest.raises(ValueError, match="max_width must be >= 100, got 50"):
        image_grid(np.zeros((2, 3, 3)), panel_size=100, max_width=50)
    grid = image_grid(np.zeros((2, 3, 3)), panel_size=np.int64(100), max_width=np.int64(100))
    assert {col for _, _, col in grid.children} == {0}
