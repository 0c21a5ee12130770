"""What a training run records. Both trainers (numpy and PyTorch) return a :class:`History`."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .files import atomic_write


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
    epoch_test_accuracy : list of float
        Test-set accuracy after each epoch, in [0, 1].
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
    epoch_test_accuracy: list[float] = field(default_factory=list)
    steps_per_epoch: int = 0
    seconds: float = 0.0
    config: dict = field(default_factory=dict)

    @property
    def test_accuracy(self) -> float:
        """Test accuracy after the last epoch, in [0, 1] (``nan`` before any epoch ended)."""
        return self.epoch_test_accuracy[-1] if self.epoch_test_accuracy else float("nan")

    def record_step(self, loss: float, accuracy: float) -> None:
        """Append one mini-batch's loss and accuracy (both as plain floats)."""
        self.step_loss.append(float(loss))
        self.step_accuracy.append(float(accuracy))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the history as JSON, atomically. Returns the path written."""
        path = Path(path)
        with atomic_write(path, "w") as handle:
            json.dump(asdict(self), handle, indent=1)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "History":
        """Read a history written by :meth:`save`."""
        with open(path) as handle:
            data = json.load(handle)
        try:
            return cls(**data)
        except TypeError as err:
            raise ValueError(f"{path} is not a saved History: {err}") from None
