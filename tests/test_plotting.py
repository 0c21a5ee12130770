"""Tests for cnn_tutorial.figures.plots: the dual-axis training figure."""

from __future__ import annotations

import math

import numpy as np
import pytest
from bokeh.core.validation import check_integrity
from bokeh.embed import json_item
from bokeh.models import HoverTool, LinearAxis, LogAxis, LogScale

from cnn_tutorial.figures.plots import accuracy_range, loss_range, plot_history, trailing_mean
from cnn_tutorial.history import History


def made_up_history(
    framework: str = "torch", epochs: int = 3, steps_per_epoch: int = 40
) -> History:
    """A run that looks like the real one: loss from about 2.3 down, accuracy up; seeded noise."""
    rng = np.random.default_rng(0)
    n = epochs * steps_per_epoch
    decay = np.exp(-np.arange(n) / 15)
    loss = 2.3 * decay + 0.05 + 0.05 * rng.random(n)
    accuracy = np.clip(1 - 0.9 * decay - 0.02 * rng.random(n), 0, 1)
    return History(
        framework=framework,
        step_loss=loss.tolist(),
        step_accuracy=accuracy.tolist(),
        epoch_validation_loss=[0.12, 0.07, 0.05][:epochs],
        epoch_validation_accuracy=[0.95, 0.975, 0.9908][:epochs],
        test_accuracy=0.99,
        steps_per_epoch=steps_per_epoch,
        seconds=12.5,
    )


def one(fig, name: str):
    found = fig.select(name=name)
    assert len(found) == 1, f"expected one part named {name!r}, found {len(found)}"
    return found[0]


def test_two_y_axes_with_labels_and_ranges_that_fit_the_data():
    history = made_up_history()
    fig = plot_history(history)
    loss_axis, accuracy_axis = one(fig, "loss_axis"), one(fig, "accuracy_axis")
    assert fig.left == [loss_axis] and fig.right == [accuracy_axis]
    assert "loss" in loss_axis.axis_label
    assert accuracy_axis.y_range_name == "accuracy"
    # Zoomed: 2 points below the lowest settled accuracy (validation 95 %), rounded down.
    right = fig.extra_y_ranges["accuracy"]
    assert (right.start, right.end) == (93, 100)
    assert (
        isinstance(accuracy_axis, LinearAxis)
        and accuracy_axis.axis_label == "accuracy (%), from 93"
    )
    # The whole loss curve is visible, starting near 2.3 (the classic plot clipped it at 1), on a
    # logarithmic axis whose floor is below the smallest loss, so the late losses stay apart.
    max_loss, min_loss = (
        max(history.step_loss),
        min(history.step_loss + history.epoch_validation_loss),
    )
    assert max_loss > 2
    assert isinstance(fig.y_scale, LogScale) and isinstance(loss_axis, LogAxis)
    assert max_loss < fig.y_range.end <= 1.5 * max_loss
    assert min_loss / 2 <= fig.y_range.start < min_loss
    assert fig.x_range.start <= 1 and fig.x_range.end >= len(history.step_loss)


def test_series_are_drawn_on_their_axes_with_the_data():
    history = made_up_history()
    fig = plot_history(history, smooth=10)
    n = len(history.step_loss)
    for name, column, range_name in [
        ("step_loss", "loss", "default"),
        ("smoothed_loss", "smoothed_loss", "default"),
        ("step_accuracy", "accuracy", "accuracy"),
        ("smoothed_accuracy", "smoothed_accuracy", "accuracy"),
    ]:
        renderer = one(fig, name)
        assert renderer.y_range_name == range_name
        assert renderer.glyph.y == column
        assert len(renderer.data_source.data[column]) == n
    data = one(fig, "step_loss").data_source.data
    np.testing.assert_allclose(data["loss"], history.step_loss)
    np.testing.assert_allclose(data["accuracy"], 100 * np.asarray(history.step_accuracy))
    np.testing.assert_allclose(data["step"], np.arange(1, n + 1))
    np.testing.assert_allclose(
        data["smoothed_loss"][9:], np.convolve(history.step_loss, np.ones(10) / 10, "valid")
    )
    # The light per-step lines under bold smoothed ones.
    assert one(fig, "step_loss").glyph.line_alpha < one(fig, "smoothed_loss").glyph.line_alpha
    assert one(fig, "step_loss").glyph.line_width < one(fig, "smoothed_loss").glyph.line_width
    # The per-batch accuracy (steps of 3 points for 32 images) waits behind its legend entry.
    assert [
        name
        for name in ("step_loss", "smoothed_loss", "step_accuracy", "smoothed_accuracy")
        if not one(fig, name).visible
    ] == ["step_accuracy"]

    # Validation results per epoch, at the epoch's last step: loss on the left axis, accuracy on the right.
    loss_markers, accuracy_markers = one(fig, "validation_loss"), one(fig, "validation_accuracy")
    assert loss_markers.y_range_name == "default" and accuracy_markers.y_range_name == "accuracy"
    assert (
        loss_markers.glyph.y == "validation_loss"
        and accuracy_markers.glyph.y == "validation_accuracy"
    )
    data = accuracy_markers.data_source.data
    np.testing.assert_allclose(data["step"], [40, 80, 120])
    np.testing.assert_allclose(data["validation_accuracy"], [95.0, 97.5, 99.08])
    np.testing.assert_allclose(data["validation_loss"], [0.12, 0.07, 0.05])
    # The test set is not drawn: it is looked at once, after training.
    assert not fig.select(name="test_accuracy")


def test_hover_legend_title_and_width():
    fig = plot_history(made_up_history())
    hovers = fig.select(type=HoverTool)
    assert hovers and any(one(fig, "smoothed_loss") in hover.renderers for hover in hovers)
    assert len(fig.legend) == 1 and fig.legend[0].click_policy == "hide"
    # Outside the frame, below it, where it cannot cover a curve.
    assert fig.legend[0] in fig.below and fig.legend[0] not in fig.center
    assert len(fig.legend[0].items) == 6
    assert "torch" in fig.title.text
    assert 600 <= fig.width <= 680  # fits the text column, right-hand axis label included
    assert check_integrity([fig]).error == []
    json_item(fig)  # serialises, as the book embeds it


def test_accepts_the_numpy_history_and_a_saved_one(tmp_path):
    history = made_up_history("numpy", epochs=2, steps_per_epoch=25)
    loaded = History.load(history.save(tmp_path / "history.json"))
    fig = plot_history(loaded)
    assert "numpy" in fig.title.text
    assert len(one(fig, "step_loss").data_source.data["loss"]) == 50
    np.testing.assert_allclose(one(fig, "validation_accuracy").data_source.data["step"], [25, 50])


def test_partial_run_without_validation_results():
    history = History(framework="torch", step_loss=[2.3, 2.0], step_accuracy=[0.1, 0.2])
    fig = plot_history(history)
    assert len(one(fig, "validation_accuracy").data_source.data["step"]) == 0
    assert len(one(fig, "validation_loss").data_source.data["step"]) == 0


def test_non_finite_losses_do_not_break_the_range():
    history = History(
        framework="torch", step_loss=[2.3, math.nan, 1.0], step_accuracy=[0.1, 0.2, 0.3]
    )
    fig = plot_history(history)
    assert math.isfinite(fig.y_range.end) and fig.y_range.end > 2.3
    assert 0 < fig.y_range.start < 1.0


@pytest.mark.parametrize(
    "steps, validation, expected",
    [
        ([2.3, 0.1], [0.05], (0.05 / 1.5, 2.3 * 1.3)),
        ([2.3, math.inf, 0.0, 0.2], [], (0.2 / 1.5, 2.3 * 1.3)),  # zero and inf cannot be drawn
        ([math.nan], [], (0.01, 10.0)),
    ],
)
def test_loss_range_spans_every_drawable_loss(steps, validation, expected):
    assert loss_range(np.array(steps), np.array(validation)) == pytest.approx(expected)


@pytest.mark.parametrize(
    "history, error, match",
    [
        ("not a history", TypeError, "History"),
        (History(framework="torch"), ValueError, "no training steps"),
        (
            History(framework="torch", step_loss=[1.0, 0.5], step_accuracy=[0.5]),
            ValueError,
            "2 step losses",
        ),
        (
            History(framework="torch", step_loss=[math.nan], step_accuracy=[0.5]),
            ValueError,
            "finite",
        ),
        (
            History(
                framework="torch",
                step_loss=[1.0],
                step_accuracy=[0.5],
                epoch_validation_loss=[0.3],
                epoch_validation_accuracy=[0.5],
            ),
            ValueError,
            "steps_per_epoch",
        ),
        (
            History(
                framework="torch",
                step_loss=[1.0],
                step_accuracy=[0.5],
                steps_per_epoch=1,
                epoch_validation_loss=[0.3],
                epoch_validation_accuracy=[],
            ),
            ValueError,
            "1 validation losses but 0",
        ),
    ],
)
def test_rejects_bad_histories(history, error, match):
    with pytest.raises(error, match=match):
        plot_history(history)


@pytest.mark.parametrize("kwargs", [{"smooth": 0}, {"width": 50}, {"smooth": 2.5}])
def test_rejects_bad_options(kwargs):
    with pytest.raises((ValueError, TypeError), match=next(iter(kwargs))):
        plot_history(made_up_history(), **kwargs)


def test_trailing_mean():
    np.testing.assert_allclose(
        trailing_mean(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1.0, 2.0, 4.0, 6.0]
    )
    np.testing.assert_allclose(trailing_mean(np.array([1.0, 3.0, 5.0]), 1), [1.0, 3.0, 5.0])
    np.testing.assert_allclose(trailing_mean(np.array([1.0, 3.0, 5.0]), 10), [1.0, 2.0, 3.0])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_trailing_mean_leaves_a_gap_only_where_the_window_holds_a_non_finite_value(bad):
    values = np.array([1.0, 3.0, bad, 5.0, 7.0, 9.0])
    np.testing.assert_array_equal(trailing_mean(values, 2), [1.0, 2.0, np.nan, np.nan, 6.0, 8.0])
    np.testing.assert_array_equal(trailing_mean(values, 1)[3:], [5.0, 7.0, 9.0])


@pytest.mark.parametrize(
    "smoothed, validation, expected",
    [
        (
            [10, 50, 98.6, 99.2],
            [98.1, 99.0],
            (96, 100),
        ),  # validation's 98.1 is the lowest settled value
        ([10, 50, 97.0, 99.5], [], (95, 100)),  # no validation: the last epoch's batches
        ([5, 8, 11, 12], [12.0], (9, 100)),  # a bad run keeps its curve in view
        ([99.9, 100, 100, 100], [100.0], (98, 100)),
        ([1, 1, 1, 1], [0.5], (0, 100)),  # never below 0
        ([np.nan, np.nan], [], (0, 100)),  # nothing settled: the whole axis
    ],
)
def test_accuracy_range_shows_the_last_percents(smoothed, validation, expected):
    assert accuracy_range(np.array(smoothed, float), np.array(validation, float), 2) == expected
