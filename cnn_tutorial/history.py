"""What a training run records. Both trainers (numpy and PyTorch) return a :class:`History`."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

from .files import atomic_write

#: Each epoch's line (:meth:`History.epoch_summary`) goes to this logger at INFO as the epoch ends;
#: silent unless the caller asks (the command line does), so notebooks print nothing extra.
LOG = logging.getLogger("cnn_tutorial.training")


class Evaluation(NamedTuple):
    """A model's results on a set of images: mean cross-entropy and fraction classified correctly."""

    loss: float
    accuracy: float


@dataclass
class History:
    """The record of one training run.

    Attributes
    ----------
    framework : str
        ``"numpy"`` or ``"torch"``.
    step_loss : list of float
        Mean cross-entropy of each training mini-batch, in order (length = number of steps).
    step_accuracy : list of float
        Fraction of each training mini-batch classified correctly, in [0, 1].
    epoch_validation_loss : list of float
        Mean cross-entropy on the validation set after each epoch.
    epoch_validation_accuracy : list of float
        Validation accuracy after each epoch, in [0, 1]. Every choice (schedule, epochs, model) is
        made on these.
    test_accuracy : float or None
        Test-set accuracy of the final model, in [0, 1], measured once after training; None until
        then.
    steps_per_epoch : int
        Mini-batches per epoch, so step ``i`` belongs to epoch ``i // steps_per_epoch``.
    seconds : float
        Wall time spent training, evaluation included.
    config : dict
        The settings of the run (learning rate, batch size, seed, ...), for the record.
    """

    framework: str
    step_loss: list[float] = field(default_factory=list)
    step_accuracy: list[float] = field(default_factory=list)
    epoch_validation_loss: list[float] = field(default_factory=list)
    epoch_validation_accuracy: list[float] = field(default_factory=list)
    test_accuracy: float | None = None
    steps_per_epoch: int = 0
    seconds: float = 0.0
    config: dict = field(default_factory=dict)

    def record_step(self, loss: float, accuracy: float) -> None:
        """Append one mini-batch's loss and accuracy (both as plain floats)."""
        self.step_loss.append(float(loss))
        self.step_accuracy.append(float(accuracy))

    def record_validation(self, result: Evaluation) -> None:
        """Append the validation loss and accuracy measured after an epoch, and log the epoch."""
        self.epoch_validation_loss.append(float(result.loss))
        self.epoch_validation_accuracy.append(float(result.accuracy))
        LOG.info(self.epoch_summary(len(self.epoch_validation_loss)))

    def epoch_summary(self, epoch: int) -> str:
        """One line on epoch ``epoch`` (from 1), e.g. ``"epoch 2: mean training loss 0.3750,
        validation loss 0.0432, validation accuracy 98.77 %"``."""
        per_epoch = self.steps_per_epoch or len(self.step_loss)
        losses = self.step_loss[(epoch - 1) * per_epoch : epoch * per_epoch]
        mean = sum(losses) / len(losses) if losses else float("nan")
        return (
            f"epoch {epoch}: mean training loss {mean:.4f}, "
            f"validation loss {self.epoch_validation_loss[epoch - 1]:.4f}, "
            f"validation accuracy {100 * self.epoch_validation_accuracy[epoch - 1]:.2f} %"
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the history as JSON, atomically. Returns the path written."""
        path = Path(path)
        with atomic_write(path, "w") as handle:
            json.dump(asdict(self), handle, indent=1)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        """Read a history written by :meth:`save`."""
        with open(path) as handle:
            data = json.load(handle)
        try:
            return cls(**data)
        except TypeError as err:
            raise ValueError(
                f"{path} is not a saved History: {err}"
            ) from None
