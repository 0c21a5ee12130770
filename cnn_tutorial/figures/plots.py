"""Bokeh figures of training runs.

Only builders live here: each returns a Bokeh object, and the caller decides where it is shown
(a notebook, the book's HTML, a file).
"""

from __future__ import annotations

import math

import numpy as np
from bokeh.models import ColumnDataSource, HoverTool, LinearAxis, Range1d
from bokeh.plotting import figure

from ..history import History
from ..params import Integer, Rule, validate_params

# Renderer, axis and range names, so that callers and tests can find the parts of the figure.
ACCURACY_RANGE = "accuracy"
LOSS_COLOR = "#1f77b4"
ACCURACY_COLOR = "#d95f02"
VALIDATION_LOSS_COLOR = "#08306b"
VALIDATION_ACCURACY_COLOR = "#7f2704"

# The loss axis is logarithmic: a factor of room above the largest loss, so the first steps (about
# ln 10 = 2.3) are not clipped, and below the smallest, so the last steps' losses and the validation
# squares stay apart instead of lying on the floor. Room right of the last step keeps the last
# epoch's marker whole.
_LOSS_HEADROOM = 1.3
_LOSS_FOOTROOM = 1.5
_STEP_MARGIN = 0.02


@validate_params(window=Integer(minimum=1))
def trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of each value and the ``window - 1`` values before it (fewer at the start).

    Parameters
    ----------
    values : ndarray of shape (N,)
    window : int
        At least 1; 1 returns the values unchanged.

    Returns
    -------
    ndarray of float64, shape (N,)
        Starts at ``values[0]``, so the smoothed line covers every step. A mean whose window holds
        a NaN or an infinity is NaN (a gap in the line); the windows after it are not affected.
    """
    values = np.asarray(values, dtype=np.float64)
    # Running sums, with the non-finite values counted apart: in the sum itself one NaN or inf
    # would spoil every later difference of sums.
    finite = np.isfinite(values)
    cumulative = np.concatenate(
        [[0.0], np.cumsum(np.where(finite, values, 0.0))]
    )
    non_finite = np.concatenate([[0], np.cumsum(~finite)])
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    means = (cumulative[ends] - cumulative[starts]) / (ends - starts)
    return np.where(non_finite[ends] > non_finite[starts], np.nan, means)


def _plottable(name, history: History) -> History:
    """``history``, a :class:`~cnn_tutorial.History` with steps to plot."""
    if not isinstance(history, History):
        raise TypeError(
            f"history must be a cnn_tutorial.History, got {type(history).__name__}"
        )
    if not history.step_loss:
        raise ValueError(
            "history has no training steps to plot (step_loss is empty)"
        )
    if len(history.step_accuracy) != len(history.step_loss):
        raise ValueError(
            f"history has {len(history.step_loss)} step losses "
            f"but {len(history.step_accuracy)} step accuracies"
        )
    if len(history.epoch_validation_loss) != len(
        history.epoch_validation_accuracy
    ):
        raise ValueError(
            f"history has {len(history.epoch_validation_loss)} validation losses but "
            f"{len(history.epoch_validation_accuracy)} validation accuracies"
        )
    if history.epoch_validation_loss and history.steps_per_epoch < 1:
        raise ValueError(
            "history has validation results per epoch but "
            f"steps_per_epoch = {history.steps_per_epoch}; it must be >= 1"
        )
    if not any(math.isfinite(loss) for loss in history.step_loss):
        raise ValueError("history has no finite step loss to plot")
    return history


def accuracy_range(
    smoothed_accuracy: np.ndarray,
    validation_accuracy: np.ndarray,
    steps_per_epoch: int,
    margin: float = 2.0,
) -> tuple[float, float]:
    """The right axis's range, in %: from a little below where training ended up, to 100.

    A 0-100 axis squeezes 98 and 99 % into a few pixels at its top, yet the last percent is where
    runs differ. So the axis starts ``margin`` points below the lowest of the validation accuracies
    and the smoothed batch accuracy over the last epoch, rounded down to a whole percent; the
    first steps, far below, leave the frame at the bottom (the loss on the left axis shows them).

    Parameters
    ----------
    smoothed_accuracy : ndarray of shape (steps,)
        Trailing mean of the batch accuracy, in %.
    validation_accuracy : ndarray of shape (epochs,)
        In %; may be empty.
    steps_per_epoch : int
        How many of the last steps make up the last epoch.
    margin : float
        Points below the lowest settled value.

    Returns
    -------
    (float, float)
        ``(start, 100.0)`` with ``0 <= start <= 99``.
    """
    last_epoch = smoothed_accuracy[-steps_per_epoch:]
    settled = np.concatenate(
        [last_epoch[np.isfinite(last_epoch)], validation_accuracy]
    )
    if settled.size == 0:
        return 0.0, 100.0
    start = math.floor(float(settled.min()) - margin)
    return float(min(max(start, 0), 99)), 100.0


def loss_range(
    step_loss: np.ndarray, validation_loss: np.ndarray
) -> tuple[float, float]:
    """The loss axis' range: every finite positive loss, with a margin of a factor each side.

    Parameters
    ----------
    step_loss : ndarray of shape (steps,)
        The loss of every training step (non-finite values are left out).
    validation_loss : ndarray of shape (epochs,)
        The validation loss after each epoch; may be empty.

    Returns
    -------
    (low, high) : tuple of float
        ``min / 1.5`` and ``max * 1.3`` of the finite positive losses, for a logarithmic axis.
    """
    values = np.concatenate(
        [np.asarray(step_loss, float), np.asarray(validation_loss, float)]
    )
    values = values[np.isfinite(values) & (values > 0)]
    if values.size == 0:
        return 0.01, 10.0
    return float(values.min() / _LOSS_FOOTROOM), float(
        values.max() * _LOSS_HEADROOM
    )


@validate_params(
    history=Rule(
        _plottable,
        bad=[(object(), TypeError), (History("numpy"), ValueError)],
        example=History("numpy", step_loss=[1.0], step_accuracy=[0.5]),
    ),
    smooth=Integer(minimum=1),
    width=Integer(minimum=200),
    height=Integer(minimum=150),
)
def plot_history(
    history: History, smooth: int = 50, width: int = 660, height: int = 460
):
    """Training loss (left axis, logarithmic) and accuracy in % (right) against the training step.

    Drawn: per-step loss (a light line), the trailing means of the loss and of the batch accuracy
    over ``smooth`` steps (bold lines), and the validation loss and accuracy after each epoch
    (markers at the epoch's last step): a validation loss that rises while the training loss falls
    is over-fitting. The per-step batch accuracy is there too, hidden until its legend entry is
    clicked. A hover tool reads out the values at a step; clicking a legend entry hides or shows
    its line.

    Parameters
    ----------
    history : History
        From :func:`~cnn_tutorial.pytorch.training.train_torch` or the numpy trainer; needs at least one step.
    smooth : int
        Window of the trailing mean, in steps; at least 1.
    width, height : int
        Size in pixels, legend included; the default width fits the book's text column (about
        690 pixels in a window 1280 pixels wide), right-hand axis label included.

    Returns
    -------
    bokeh.plotting.figure
        Named parts: renderers ``"step_loss"``, ``"smoothed_loss"``, ``"step_accuracy"``,
        ``"smoothed_accuracy"``, ``"validation_loss"``, ``"validation_accuracy"``; axes ``"loss_axis"``
        (left, logarithmic, from the data: :func:`loss_range`) and
        ``"accuracy_axis"`` (right, on the extra y-range ``"accuracy"``, from
        :func:`accuracy_range` to 100, so that the last percent is readable).
    """
    steps_per_epoch = (
        history.steps_per_epoch
        if history.steps_per_epoch > 0
        else len(history.step_loss)
    )
    steps, validation = _history_sources(history, smooth, steps_per_epoch)
    fig = _loss_figure(history.framework, steps, validation, width, height)
    _add_accuracy_axis(fig, steps, validation, steps_per_epoch)
    smoothed_loss = _draw_curves(fig, steps, smooth)
    validation_markers = _draw_validation_markers(fig, validation)
    _add_hover_tools(fig, smoothed_loss, validation_markers)
    _legend_below(fig)
    return fig


def _history_sources(
    history: History, smooth: int, steps_per_epoch: int
) -> tuple[ColumnDataSource, ColumnDataSource]:
    """One row per training step (losses, accuracies in %, their trailing means), one per epoch's
    validation.
    """
    loss = np.asarray(history.step_loss, dtype=np.float64)
    accuracy = 100 * np.asarray(history.step_accuracy, dtype=np.float64)
    steps = np.arange(1, len(loss) + 1)
    source = ColumnDataSource(
        {
            "step": steps,
            "epoch": (steps - 1) // steps_per_epoch + 1,
            "loss": loss,
            "smoothed_loss": trailing_mean(loss, smooth),
            "accuracy": accuracy,
            "smoothed_accuracy": trailing_mean(accuracy, smooth),
        }
    )
    epochs = np.arange(1, len(history.epoch_validation_loss) + 1)
    validation_source = ColumnDataSource(
        {
            "step": epochs * steps_per_epoch,
            "epoch": epochs,
            "validation_loss": np.asarray(
                history.epoch_validation_loss, dtype=np.float64
            ),
            "validation_accuracy": 100
            * np.asarray(
                history.epoch_validation_accuracy, dtype=np.float64
            ),
        }
    )
    return source, validation_source


def _loss_figure(
    framework: str,
    source: ColumnDataSource,
    validation_source: ColumnDataSource,
    width: int,
    height: int,
):
    """The figure, its step axis and its left, logarithmic loss axis (:func:`loss_range`)."""
    loss = source.data["loss"]
    low_loss, high_loss = loss_range(
        loss, validation_source.data["validation_loss"]
    )
    fig = figure(
        width=width,
        height=height,
        title=f"Training the {framework} CNN: loss and accuracy",
        x_axis_label="training step",
        x_range=Range1d(0, (1 + _STEP_MARGIN) * len(loss) + 1),
        y_range=Range1d(low_loss, high_loss),
        y_axis_type="log",
        tools="pan,box_zoom,wheel_zoom,reset,save",
        toolbar_location="above",
    )
    loss_axis = fig.yaxis[0]
    loss_axis.name = "loss_axis"
    loss_axis.axis_label = "loss (cross-entropy)"
    loss_axis.axis_label_text_color = LOSS_COLOR
    return fig


def _add_accuracy_axis(
    fig,
    source: ColumnDataSource,
    validation_source: ColumnDataSource,
    steps_per_epoch: int,
) -> None:
    """The right axis, accuracy in %, on its own range from :func:`accuracy_range` to 100."""
    smoothed_accuracy = source.data["smoothed_accuracy"]
    low, high = accuracy_range(
        smoothed_accuracy,
        validation_source.data["validation_accuracy"],
        steps_per_epoch,
    )
    fig.extra_y_ranges = {ACCURACY_RANGE: Range1d(low, high)}
    accuracy_axis = LinearAxis(
        y_range_name=ACCURACY_RANGE,
        axis_label="accuracy (%)"
        if low == 0
        else f"accuracy (%), from {low:.0f}",
        axis_label_text_color=ACCURACY_COLOR,
        name="accuracy_axis",
    )
    fig.add_layout(accuracy_axis, "right")


def _draw_curves(fig, source: ColumnDataSource, smooth: int):
    """The per-step loss and batch accuracy and their trailing means; returns the smoothed loss's line."""
    fig.line(
        "step",
        "loss",
        source=source,
        color=LOSS_COLOR,
        alpha=0.25,
        legend_label="loss",
        name="step_loss",
    )
    smoothed_loss = fig.line(
        "step",
        "smoothed_loss",
        source=source,
        color=LOSS_COLOR,
        line_width=2.5,
        legend_label=f"loss, mean of {smooth} steps",
        name="smoothed_loss",
    )
    fig.line(
        "step",
        "accuracy",
        source=source,
        color=ACCURACY_COLOR,
        alpha=0.25,
        y_range_name=ACCURACY_RANGE,
        legend_label="batch accuracy (click to show)",
        name="step_accuracy",
        # Hidden at first: a batch of 32 moves in steps of 3 points, which on the zoomed axis
        # would hide the mean behind a band of spikes. Its legend entry shows it.
        visible=False,
    )
    fig.line(
        "step",
        "smoothed_accuracy",
        source=source,
        color=ACCURACY_COLOR,
        line_width=2.5,
        y_range_name=ACCURACY_RANGE,
        legend_label=f"batch accuracy, mean of {smooth} steps",
        name="smoothed_accuracy",
    )
    return smoothed_loss


def _draw_validation_markers(
    fig, validation_source: ColumnDataSource
) -> list:
    """A square for the validation loss and a circle for the validation accuracy after each epoch."""
    return [
        fig.scatter(
            "step",
            "validation_loss",
            source=validation_source,
            marker="square",
            fill_color=VALIDATION_LOSS_COLOR,
            line_color="white",
            size=10,
            legend_label="validation loss after each epoch",
            name="validation_loss",
        ),
        fig.scatter(
            "step",
            "validation_accuracy",
            source=validation_source,
            fill_color=VALIDATION_ACCURACY_COLOR,
            line_color="white",
            size=10,
            y_range_name=ACCURACY_RANGE,
            legend_label="validation accuracy after each epoch",
            name="validation_accuracy",
        ),
    ]


def _add_hover_tools(fig, smoothed_loss, validation_markers: list) -> None:
    """A read-out of the step under the cursor, and one of the epoch's validation marker."""
    # One tooltip per step, read from the shared source, instead of one per line under the cursor.
    fig.add_tools(
        HoverTool(
            renderers=[smoothed_loss],
            mode="vline",
            tooltips=[
                ("step", "@step (epoch @epoch)"),
                ("loss", "@loss{0.000} (mean @smoothed_loss{0.000})"),
                (
                    "batch accuracy",
                    "@accuracy{0.0} % (mean @smoothed_accuracy{0.0} %)",
                ),
            ],
        ),
        HoverTool(
            renderers=validation_markers,
            tooltips=[
                ("epoch", "@epoch"),
                ("validation loss", "@validation_loss{0.0000}"),
                ("validation accuracy", "@validation_accuracy{0.00} %"),
            ],
        ),
    )


def _legend_below(fig) -> None:
    """The legend below the frame, in two columns (inside it, it hid the curves it names)."""
    legend = fig.legend[0]
    legend.click_policy = "hide"
    legend.ncols = 2
    fig.add_layout(legend, "below")
