"""Saving and loading the PyTorch ConvNet: weights, the model's configuration and the run's record.

Checkpoints are written into a directory that is created when missing, atomically, with the file
name joined by a path separator (the classic code concatenated directory and name as strings).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from .files import atomic_write
from .history import History
from .torch_model import ConvNet

CHECKPOINT_NAME = "conv_net_model.ckpt"

# The layout of a checkpoint file (a dict), so that a future change of it can be recognised.
CHECKPOINT_FORMAT = "cnn_tutorial.ConvNet checkpoint 1"


def save_checkpoint(
    model: ConvNet,
    directory: str | os.PathLike,
    name: str = CHECKPOINT_NAME,
    history: History | None = None,
) -> Path:
    """Save a :class:`ConvNet`'s weights, its configuration and how it was trained, atomically.

    The file is a dict: ``"format"`` (``CHECKPOINT_FORMAT``), ``"model"`` (the constructor's
    arguments, ``{"relu_between_fc": ...}``), ``"training"`` (``history.config`` plus
    ``"epoch_validation_accuracy"`` and ``"test_accuracy"``, or None without a history) and
    ``"state_dict"``. Only plain values and tensors, so it loads with
    ``torch.load(..., weights_only=True)``.

    Parameters
    ----------
    model : ConvNet
    directory : str or PathLike
        Created (with its parents) when missing.
    name : str
        A plain file name (no directory part).
    history : History or None
        The run that trained ``model``; recorded so that a reader of the file can tell which run it
        was (see :func:`checkpoint_record`).

    Returns
    -------
    Path
        The file written. An interrupted save leaves any earlier checkpoint intact.
    """
    if not isinstance(model, ConvNet):
        raise TypeError(f"model must be a cnn_tutorial ConvNet, got {type(model).__name__}")
    if history is not None and not isinstance(history, History):
        raise TypeError(f"history must be a cnn_tutorial.History or None, got {type(history).__name__}")
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"name must be a plain file name without a directory part, got {name!r}")
    training = None
    if history is not None:
        # Through JSON, as History.save writes it: plain values only
        # (torch.__version__, say, is a str subclass that
        # torch.load(..., weights_only=True) refuses).
        results = {
            "epoch_validation_accuracy": history.epoch_validation_accuracy,
            "test_accuracy": history.test_accuracy,
        }
        training = json.loads(json.dumps({**history.config, **results}))
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "model": {"relu_between_fc": model.relu_between_fc},
        "training": training,
        "state_dict": model.state_dict(),
    }
    path = Path(directory) / name
    with atomic_write(path, "wb") as handle:
        torch.save(checkpoint, handle)
    return path


def _read_checkpoint(path: Path, map_location) -> tuple[dict, dict | None, dict | None]:
    """``(state_dict, model configuration, training record)``; both records None in a bare state_dict."""
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    # weights_only: a checkpoint is only tensors and plain values, and unpickling anything else could run code.
    try:
        content = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for a file that is not a checkpoint
        raise ValueError(f"{path} is not a readable checkpoint: {err}") from None
    if isinstance(content, dict) and "format" in content:
        if content["format"] != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} has checkpoint format {content['format']!r}; this package reads {CHECKPOINT_FORMAT!r}")
        return content["state_dict"], content["model"], content["training"]
    return content, None, None  # a bare state_dict, as the classic code saves it


def checkpoint_record(path: str | os.PathLike) -> dict:
    """What a checkpoint file says about its model and its training, without building the model.

    Returns
    -------
    dict
        ``{"model": {"relu_between_fc": bool} or None, "training": dict or None}``. ``"training"``
        holds the run's settings (``epochs``, ``batch_size``, ``lr``, ``seed``, ``train_limit``, ...)
        and its results, ``epoch_validation_accuracy`` and ``test_accuracy``. Both are None for a bare ``state_dict`` (the classic code's
        checkpoints), and ``"training"`` is None when it was saved without a history.
    """
    _, model_config, training = _read_checkpoint(Path(path), "cpu")
    return {"model": model_config, "training": training}


def load_checkpoint(
    path: str | os.PathLike, relu_between_fc: bool | None = None, map_location: str | torch.device = "cpu"
) -> ConvNet:
    """Load a :class:`ConvNet` from a file written by :func:`save_checkpoint` (or a bare ``state_dict``).

    Parameters
    ----------
    path : str or PathLike
        The checkpoint file.
    relu_between_fc : bool or None
        The model asked for. ``None`` takes what the file records. A bare ``state_dict`` records
        nothing (the ReLU has no weights, so the tensors cannot tell); there ``None`` means False,
        the classic model.
    map_location : str or torch.device
        Where to put the weights.

    Returns
    -------
    ConvNet
        In eval mode, ready for predictions.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not a checkpoint, or records another model than the one asked for.
    RuntimeError
        The file holds weights of another architecture.
    """
    path = Path(path)
    if relu_between_fc is not None and not isinstance(relu_between_fc, bool):
        raise TypeError(f"relu_between_fc must be a bool or None, got {relu_between_fc!r}")
    state, model_config, _ = _read_checkpoint(path, map_location)
    if model_config is not None:
        recorded = model_config["relu_between_fc"]
        if relu_between_fc is not None and relu_between_fc != recorded:
            raise ValueError(
                f"{path} holds a ConvNet with relu_between_fc={recorded}, "
                f"but relu_between_fc={relu_between_fc} was asked for"
            )
        relu_between_fc = recorded
    model = ConvNet(bool(relu_between_fc))
    model.load_state_dict(state)
    return model.to(map_location).eval()
