"""The command line's arguments: ``python -m cnn_tutorial train ...`` (see :mod:`cnn_tutorial.cli`).

Each framework's defaults are its trainer's own, read from the trainer's signature in its source
(:func:`trainer_defaults`), so they have one home and ``--help`` needs no torch.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
from pathlib import Path

from .files import TRAINING_STATE_NAME
from .numpy_net import SCHEDULES

__all__ = ["DEFAULTS", "TRAINERS", "build_parser", "trainer_defaults"]

TRAINERS = {
    "torch": ("cnn_tutorial.pytorch.training", "train_torch"),
    "numpy": ("cnn_tutorial.numpy_net", "train_numpy"),
}


def trainer_defaults(framework: str) -> dict:
    """The default arguments of ``framework``'s trainer, read from its source: the trainer's
    signature is their one home, and reading the source needs no torch for ``--help``."""
    module, name = TRAINERS[framework]
    source = Path(importlib.util.find_spec(module).origin).read_text()
    (function,) = [
        node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef) and node.name == name
    ]
    arguments = function.args
    named = [a.arg for a in arguments.args][-len(arguments.defaults) :]
    defaults = dict(zip(named, arguments.defaults))
    return {
        key: ast.literal_eval(value)
        for key, value in defaults.items()
        if key in ("epochs", "batch_size", "lr", "schedule")
    }


# Each framework's own defaults: the classic PyTorch settings, and what the numpy network needs.
DEFAULTS = {
    framework: trainer_defaults(framework) for framework in TRAINERS
}


def _int_at_least(minimum: int, kind: str):
    """An argparse ``type`` accepting integers ``>= minimum``; ``kind`` names them in the error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a {kind} integer, got {text!r}"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(
                f"expected a {kind} integer, got {value}"
            )
        return value

    return parse


_positive_int = _int_at_least(1, "positive")
_non_negative_int = _int_at_least(0, "non-negative")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive number, got {text!r}"
        ) from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(
            f"expected a positive finite number, got {text}"
        )
    return value


def _both(setting: str) -> str:
    """Both trainers' defaults of ``setting``, e.g. ``"torch: 6, numpy: 3"``."""
    return ", ".join(
        f"{framework}: {DEFAULTS[framework][setting]:g}"
        for framework in TRAINERS
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m cnn_tutorial``."""
    parser = argparse.ArgumentParser(
        prog="python -m cnn_tutorial",
        description="Train the tutorial's CNNs on MNIST.",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND"
    )
    train = commands.add_parser(
        "train",
        help="train a network and save it",
        description="Train a network on MNIST; save the model and its history into --out.",
    )
    _add_run_options(train)
    _add_training_options(train)
    _add_framework_options(train)
    # Lets main() report a misuse of `train` with that subcommand's usage line.
    train.set_defaults(command_parser=train)
    return parser


def _add_run_options(train: argparse.ArgumentParser) -> None:
    """Which network, where its files go, where the data is."""
    train.add_argument(
        "--framework",
        required=True,
        choices=sorted(DEFAULTS),
        help="which network to train",
    )
    train.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="folder for the model and history.json (created if missing)",
    )
    train.add_argument(
        "--limit",
        type=_positive_int,
        metavar="N",
        help="train on the first N images only (quick runs)",
    )
    train.add_argument(
        "--data-root",
        type=Path,
        metavar="DIR",
        help="folder holding MNIST/raw/ (default: $CNN_TUTORIAL_DATA, else the cache)",
    )
    train.add_argument(
        "--no-download",
        action="store_true",
        help="fail instead of downloading missing data",
    )


def _add_training_options(train: argparse.ArgumentParser) -> None:
    """The settings both trainers take; their defaults are the trainers' own."""
    train.add_argument(
        "--epochs",
        type=_positive_int,
        help=f"passes over the training set ({_both('epochs')})",
    )
    train.add_argument(
        "--batch-size",
        type=_positive_int,
        help=(
            f"images per step ({_both('batch_size')}); under "
            "torchrun the global batch, shared by the processes"
        ),
    )
    train.add_argument(
        "--lr", type=_positive_float, help=f"learning rate ({_both('lr')})"
    )
    train.add_argument(
        "--seed",
        type=_non_negative_int,
        default=0,
        help="random seed (default: 0)",
    )


def _add_framework_options(train: argparse.ArgumentParser) -> None:
    """Options of one framework only (``main`` refuses them for the other)."""
    train.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        help="torch only: where to train (default: auto, CUDA if available)",
    )
    train.add_argument(
        "--resume",
        action="store_true",
        help=f"torch only: go on from the training state that the last run left in --out "
        f"({TRAINING_STATE_NAME}, written after every epoch); under torchrun, a restarted group "
        "resumes by itself",
    )
    train.add_argument(
        "--mixed-precision",
        action="store_true",
        help="torch only: float16 forward pass with a gradient scaler (for GPUs)",
    )
    train.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help="numpy only: learning-rate schedule (default: cosine, from --lr towards 0)",
    )
    train.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="numpy only: processes that share each batch (default: as many as numpy's BLAS threads, "
        "at most one per 16 images)",
    )
