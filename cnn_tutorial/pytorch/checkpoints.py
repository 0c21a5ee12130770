"""Saving and loading the PyTorch ConvNet: weights, the model's configuration and the run's record.

Checkpoints are written into a directory that is created when missing, atomically, with the file
name joined by a path separator (the classic code concatenated directory and name as strings).

A run's training state (:func:`save_training_state`) holds everything it needs to go on after an
epoch; :func:`save_run` and :func:`resume_run` save it and load it back in every process of a run.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ..files import CHECKPOINT_NAME, TRAINING_STATE_NAME, atomic_write
from ..history import History
from ..params import Instance, Optional, Rule, validate_params
from .distributed import Placement, barrier, gather_from_ranks
from .model import ConvNet

# The layout of a checkpoint file (a dict), so that a future change of it can be recognised.
CHECKPOINT_FORMAT = "cnn_tutorial.ConvNet checkpoint 1"

# The rule for a ``model`` argument: the package's ConvNet.
_CONVNET = Instance(ConvNet, what="cnn_tutorial ConvNet")


def _plain_file_name(name, value):
    """A file name without a directory part."""
    if (
        not isinstance(value, str)
        or not value
        or Path(value).name != value
        or value in (".", "..")
    ):
        raise ValueError(
            f"{name} must be a plain file name without a directory part, got {value!r}"
        )
    return value


# The rule for a file name inside a directory given on its own.
_PLAIN_FILE_NAME = Rule(
    _plain_file_name,
    bad=[
        (f"sub/{CHECKPOINT_NAME}", ValueError),
        ("..", ValueError),
        (3, ValueError),
    ],
    example=CHECKPOINT_NAME,
)


def _bool_or_none(name, value):
    """None, True or False."""
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool or None, got {value!r}")
    return value


@validate_params(
    name=_PLAIN_FILE_NAME,
    history=Optional(
        Instance(History, what="cnn_tutorial.History or None")
    ),
    model=_CONVNET,
)
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


# What opening a path that is not a file raises.
_NO_FILE = (FileNotFoundError, IsADirectoryError, NotADirectoryError)


def _read_checkpoint(
    path: Path, map_location
) -> tuple[dict, dict | None, dict | None]:
    """``(state_dict, model configuration, training record)``; both records None in a bare state_dict."""
    # weights_only: a checkpoint is only tensors and plain values, and
    # unpickling anything else could run code.
    try:
        content = torch.load(
            path, map_location=map_location, weights_only=True
        )
    except _NO_FILE:
        raise FileNotFoundError(f"no checkpoint file at {path}") from None
    except Exception as err:  # torch raises several types for a file that is not a checkpoint
        raise ValueError(
            f"{path} is not a readable checkpoint: {err}"
        ) from None
    if isinstance(content, dict) and "format" in content:
        if content["format"] != CHECKPOINT_FORMAT:
            raise ValueError(
                f"{path} has checkpoint format {content['format']!r}; "
                f"this package reads {CHECKPOINT_FORMAT!r}"
            )
        return content["state_dict"], content["model"], content["training"]
    return (
        content,
        None,
        None,
    )  # a bare state_dict, as the classic code saves it


def checkpoint_record(path: str | os.PathLike) -> dict:
    """What a checkpoint file says about its model and its training, without building the model.

    Returns
    -------
    dict
        ``{"model": {"relu_between_fc": bool} or None, "training": dict or None}``. ``"training"``
        holds the run's settings (``epochs``, ``batch_size``, ``lr``, ``seed``, ``train_limit``, ...)
        and its results, ``epoch_validation_accuracy`` and ``test_accuracy``. Both are None for a
        bare ``state_dict`` (the classic code's
        checkpoints), and ``"training"`` is None when it was saved without a history.
    """
    _, model_config, training = _read_checkpoint(Path(path), "cpu")
    return {"model": model_config, "training": training}


@validate_params(
    relu_between_fc=Rule(
        _bool_or_none, bad=[("yes", TypeError), (1, TypeError)]
    )
)
def load_checkpoint(
    path: str | os.PathLike,
    relu_between_fc: bool | None = None,
    map_location: str | torch.device = "cpu",
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


# Training state: what an interrupted run needs to go on exactly where it stopped.

TRAINING_STATE_FORMAT = "cnn_tutorial training state 1"

# Settings that must be the same to go on with a run (the number of epochs may grow).
_RESUME_SETTINGS = (
    "batch_size",
    "lr",
    "optimizer",
    "seed",
    "relu_between_fc",
    "train_limit",
    "validation_size",
    "processes",
    "mixed_precision",
)


@validate_params(model=_CONVNET)
def save_training_state(
    directory: str | os.PathLike,
    model: ConvNet,
    optimizer: torch.optim.Optimizer,
    history: History,
    random_states: list[dict],
    scaler=None,
) -> Path:
    """Save everything a run needs to continue after its last finished epoch, atomically.

    The file ``directory / TRAINING_STATE_NAME`` is a dict of tensors and plain values (it loads
    with ``weights_only=True``): ``"format"``, ``"epoch"`` (epochs finished), ``"model"``,
    ``"state_dict"``, ``"optimizer"`` (Adam's moments and step counts), ``"scaler"`` (the gradient
    scaler's state, or None), ``"history"`` (the run so far, as :meth:`History.save` writes it)
    and ``"random_states"`` (one dict per process, in rank order: the generators of the dropout
    masks and of the shuffling). It replaces the previous one only once it is complete.

    Returns
    -------
    Path
        The file written.
    """
    state = {
        "format": TRAINING_STATE_FORMAT,
        "epoch": len(history.epoch_validation_accuracy),
        "model": {"relu_between_fc": model.relu_between_fc},
        "state_dict": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": None if scaler is None else scaler.state_dict(),
        # Through JSON: plain values only (see save_checkpoint).
        "history": json.loads(json.dumps(asdict(history))),
        "random_states": random_states,
    }
    path = Path(directory) / TRAINING_STATE_NAME
    with atomic_write(path, "wb") as handle:
        torch.save(state, handle)
    return path


def load_training_state(
    path: str | os.PathLike,
    config: dict,
    map_location: str | torch.device = "cpu",
) -> dict:
    """Read a file of :func:`save_training_state` and check that the run ``config`` can go on from it.

    Parameters
    ----------
    path : str or PathLike
    config : dict
        The new run's settings (``History.config``); those that shape the run (batch size,
        learning rate, seed, model, data, number of processes, mixed precision) must equal the
        saved run's, and its ``"epochs"`` must be at least the epochs already finished.
    map_location : str or torch.device

    Returns
    -------
    dict
        The file's content, with ``"history"`` as a :class:`History`.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not a complete training state, or it belongs to another run; the message names
        the file and the setting.
    """
    path = Path(path)
    try:
        state = torch.load(
            path, map_location=map_location, weights_only=True
        )
    except _NO_FILE:
        raise FileNotFoundError(f"no training state at {path}") from None
    except (
        Exception
    ) as err:  # torch raises several types for a damaged or foreign file
        raise ValueError(
            f"{path} is not a readable training state: {err}"
        ) from None
    if (
        not isinstance(state, dict)
        or state.get("format") != TRAINING_STATE_FORMAT
    ):
        raise ValueError(
            f"{path} is not a training state of this package ({TRAINING_STATE_FORMAT!r})"
        )
    saved = state["history"]["config"]
    for name in _RESUME_SETTINGS:
        if saved.get(name) != config.get(name):
            raise ValueError(
                f"{path} was written by a run with {name}={saved.get(name)!r}; this run has "
                f"{name}={config.get(name)!r}: resume with the same settings, or use another --out"
            )
    if state["epoch"] > config["epochs"]:
        raise ValueError(
            f"{path} has {state['epoch']} epochs done, more than the {config['epochs']} asked for"
        )
    state["history"] = History(**state["history"])
    return state


def remove_partial_training_states(
    directory: str | os.PathLike,
) -> list[Path]:
    """Delete what a killed save left behind: temporary files never renamed onto the training state.

    Only :func:`~cnn_tutorial.files.atomic_write`'s own temporary names are touched; the complete
    file, if any, stays. Returns the paths removed.
    """
    removed = []
    for partial in Path(directory).glob(f".{TRAINING_STATE_NAME}.*.part"):
        partial.unlink(missing_ok=True)
        removed.append(partial)
    return removed


def save_run(
    directory: str | os.PathLike,
    model: ConvNet,
    optimizer: torch.optim.Optimizer,
    history: History,
    train_loader: DataLoader,
    placement: Placement,
    device: torch.device,
    scaler=None,
) -> None:
    """Save a run's training state after an epoch: every rank's generators, written by rank 0.

    Every rank of a group must call it: each hands rank 0 the generators of its dropout masks (on
    the CPU, and on CUDA) and of its shuffling, and rank 0 writes them with the model, the
    optimiser, the gradient scaler and the history (:func:`save_training_state`).

    Parameters
    ----------
    directory : str or PathLike
    model, optimizer, history, scaler
        As in :func:`save_training_state`.
    train_loader : DataLoader
        The run's training loader; its ``generator`` (None in a group, whose sampler shuffles
        by seed and epoch) is saved.
    placement : Placement
        This process's place in its group.
    device : torch.device
        The model's device.
    """
    random_states = gather_from_ranks(_random_state(train_loader, device))
    if placement.is_main:
        save_training_state(
            directory, model, optimizer, history, random_states, scaler
        )


def resume_run(
    directory: str | os.PathLike,
    model: ConvNet,
    optimizer: torch.optim.Optimizer,
    history: History,
    train_loader: DataLoader,
    placement: Placement,
    device: torch.device,
    scaler=None,
) -> History:
    """Load the training state in ``directory`` into a new run, if there is one (see :func:`save_run`).

    Rank 0 first removes what a killed save left behind (:func:`remove_partial_training_states`).
    With a state, the model, the optimiser, the scaler and this rank's generators are set to it,
    so that the run goes on after its last finished epoch exactly as if it had not stopped. Every
    rank of a group must call it.

    Parameters
    ----------
    directory : str or PathLike
    model, optimizer, train_loader, placement, device, scaler
        As in :func:`save_run`, of the new run.
    history : History
        The new run's empty history: its ``config`` must match the saved run's
        (:func:`load_training_state`).

    Returns
    -------
    History
        The saved run's history with the new run's ``config`` (its ``epochs``), or ``history``
        itself when there is no training state.
    """
    path = Path(directory) / TRAINING_STATE_NAME
    if placement.is_main:
        remove_partial_training_states(directory)
    barrier()  # no rank looks before rank 0 has tidied up
    if not path.is_file():
        return history
    state = load_training_state(path, history.config, device)
    model.load_state_dict(state["state_dict"])
    optimizer.load_state_dict(state["optimizer"])
    if scaler is not None:
        scaler.load_state_dict(state["scaler"])
    random = state["random_states"][placement.rank]
    torch.set_rng_state(random["torch"].cpu())
    if device.type == "cuda":
        torch.cuda.set_rng_state(random["cuda"].cpu(), device)
    if train_loader.generator is not None:
        train_loader.generator.set_state(random["shuffle"].cpu())
    resumed = state["history"]
    resumed.config = history.config  # the new run's settings (its epochs)
    return resumed


def _random_state(train_loader, device: torch.device) -> dict:
    """This process's generators: dropout masks (CPU, and CUDA) and shuffling (one process)."""
    generator = train_loader.generator
    return {
        "torch": torch.get_rng_state(),
        "cuda": (
            torch.cuda.get_rng_state(device)
            if device.type == "cuda"
            else None
        ),
        "shuffle": None if generator is None else generator.get_state(),
    }
