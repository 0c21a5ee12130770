"""Command line: ``python -m cnn_tutorial train --framework numpy|torch --out DIR [options]``.

Trains one of the two networks on MNIST (55,000 training images; 5,000 held out for validation),
writes the model and its :class:`~cnn_tutorial.History` into ``DIR``, prints progress and the
validation loss and accuracy of every epoch, and prints as its last line the accuracy on the 10,000
test images, measured once after training: ``test accuracy: NN.NN %``.

Under ``torchrun`` (``torchrun --standalone --nproc_per_node=2 -m cnn_tutorial train --framework
torch ...``), the processes train the ConvNet together (:mod:`cnn_tutorial.pytorch.distributed`):
``--batch-size`` is the global batch, shared equally; rank 0 alone prints and writes. After every
epoch the PyTorch run saves its training state in ``DIR`` (``training_state.pt``); ``--resume``
goes on from it, and so does a group that torchrun restarted after losing a process. A failed run
keeps that state and says so.

Exit status: 0 on success; 2 for bad arguments (argparse's usage error); 1 for an expected failure
(missing data, a device that is not there, an unwritable ``DIR``), reported as one ``error:`` line
on stderr without a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
from pathlib import Path

from .cli_arguments import DEFAULTS, build_parser
from .files import HISTORY_NAME, NUMPY_MODEL_NAME, TRAINING_STATE_NAME
from .history import LOG as TRAINING_LOG


def _settings(args: argparse.Namespace) -> dict:
    defaults = DEFAULTS[args.framework]
    return {
        "epochs": args.epochs
        if args.epochs is not None
        else defaults["epochs"],
        "batch_size": args.batch_size
        if args.batch_size is not None
        else defaults["batch_size"],
        "lr": args.lr if args.lr is not None else defaults["lr"],
        "seed": args.seed,
        "root": args.data_root,
        "train_limit": args.limit,
        "download": not args.no_download,
        "progress": None,  # bars on a terminal only: a log file gets one line per epoch
    }


def _train_torch(args: argparse.Namespace, settings: dict, out: Path):
    try:
        from .pytorch.checkpoints import save_checkpoint
        from .pytorch.distributed import (
            device_for,
            placement_from_environment,
        )
        from .pytorch.model import choose_device
        from .pytorch.training import train_torch
    except ModuleNotFoundError as err:
        raise RuntimeError(
            f"--framework torch needs PyTorch and torchvision ({err})"
        ) from None
    placement = placement_from_environment()
    # Checked before the data is read, so a missing GPU is reported at once.
    device = device_for(
        placement,
        choose_device(
            None if args.device in (None, "auto") else args.device
        ),
    )
    say = print if placement.is_main else _quiet
    where = f"{device.type}" if placement.is_distributed else f"{device}"
    say(
        f"training the PyTorch ConvNet on {where}: {_describe(settings)}",
        flush=True,
    )
    if placement.is_distributed:
        ranks, batch = placement.world_size, settings["batch_size"]
        say(
            f"{ranks} processes (torchrun), {batch // ranks} images each per step: global batch {batch}, "
            f"learning rate {settings['lr']:g}",
            flush=True,
        )
    # A group that torchrun restarted after a failure goes on from where it stopped.
    resume = args.resume or placement.restart_count > 0
    state = out / TRAINING_STATE_NAME
    if resume and state.is_file():
        restart = (
            f" (restart {placement.restart_count} of the group)"
            if placement.restart_count
            else ""
        )
        say(f"resuming from {state}{restart}", flush=True)
    model, history = train_torch(
        device=device,
        checkpoint_dir=out,
        resume=resume,
        mixed_precision=args.mixed_precision,
        **settings,
    )
    if not placement.is_main:
        return None, history
    return save_checkpoint(model, out, history=history), history


def _quiet(*args, **kwargs) -> None:
    """What ``print`` does on every process but rank 0: nothing."""


def _train_numpy(args: argparse.Namespace, settings: dict, out: Path):
    from .numpy_net import train_numpy

    schedule = args.schedule or DEFAULTS["numpy"]["schedule"]
    print(
        f"training the numpy CNN: {_describe(settings)}, {schedule} learning-rate schedule",
        flush=True,
    )
    model, history = train_numpy(
        schedule=schedule, workers=args.workers, **settings
    )
    return model.save(out / NUMPY_MODEL_NAME), history


def _describe(settings: dict) -> str:
    limit = settings["train_limit"]
    images = (
        "all training images"
        if limit is None
        else f"the first {limit} training images"
    )
    epochs = f"{settings['epochs']} epoch" + (
        "" if settings["epochs"] == 1 else "s"
    )
    batch, lr, seed = (
        settings["batch_size"],
        settings["lr"],
        settings["seed"],
    )
    return f"{epochs}, batch {batch}, lr {lr:g}, seed {seed}, {images}"


def _make_folder(out: Path) -> list[Path]:
    """Create ``out`` with its missing parents; return the folders created, outermost first."""
    missing, folder = [], out
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK):
        raise PermissionError(f"--out {out} is not writable")
    return missing[::-1]


def _train(args: argparse.Namespace) -> None:
    out = args.out.expanduser()  # a quoted '~/runs' reaches us unexpanded
    # Made first, so an unusable folder is reported before minutes of training, not after.
    created = _make_folder(out)
    written = []
    try:
        settings = _settings(args)
        trainer = (
            _train_torch if args.framework == "torch" else _train_numpy
        )
        model_path, history = trainer(args, settings, out)
        if (
            model_path is None
        ):  # another process of a group than rank 0: rank 0 reports
            return
        written.append(model_path)
        history_path = history.save(out / HISTORY_NAME)
    except BaseException:
        # A failed or interrupted run leaves nothing behind: no model without its history, and no
        # folder it created; only the training state of its last finished epoch, to resume from.
        for path in written:
            path.unlink(missing_ok=True)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    print(
        f"trained in {history.seconds:.1f} s"
    )  # each epoch's line was printed as it ended
    print(f"saved model: {model_path}")
    print(f"saved history: {history_path}")
    print(f"test accuracy: {100 * history.test_accuracy:.2f} %")


class StoppedByLauncher(RuntimeError):
    """torchrun stopped this process (SIGTERM): another process of the group failed, or it was asked
    to stop.
    """


def _stop_on_sigterm(signum, frame):
    signal.signal(
        signal.SIGTERM, signal.SIG_IGN
    )  # once: the reporting is not to be cut short
    raise StoppedByLauncher(
        "stopped by torchrun: another process of the group failed, or the launch was stopped "
        "(torchrun restarts the group if --max-restarts allows)"
    )


def _rank() -> tuple[int, int]:
    """``(rank, world_size)`` from torchrun's variables, without importing torch; (0, 1) if unreadable."""
    try:
        return int(os.environ.get("RANK", "0")), int(
            os.environ.get("WORLD_SIZE", "1")
        )
    except ValueError:
        return 0, 1


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : list of str or None
        Arguments without the program name; ``None`` reads ``sys.argv[1:]``.

    Returns
    -------
    int
        Exit status: 0 success, 1 expected failure (one ``error:`` line on stderr). Bad arguments
        exit with status 2 through argparse.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.device is not None and args.framework != "torch":
        args.command_parser.error(
            f"--device applies to --framework torch only, not {args.framework}"
        )
    for option, value in (
        ("--schedule", args.schedule),
        ("--workers", args.workers),
    ):
        if value is not None and args.framework != "numpy":
            args.command_parser.error(
                f"{option} applies to --framework numpy only, not {args.framework}"
            )
    for option, value in (
        ("--resume", args.resume),
        ("--mixed-precision", args.mixed_precision),
    ):
        if value and args.framework != "torch":
            args.command_parser.error(
                f"{option} applies to --framework torch only, not {args.framework}"
            )
    rank, world_size = _rank()
    printer, level = _EpochLines(), TRAINING_LOG.level
    if rank == 0:  # rank 0 alone prints
        TRAINING_LOG.addHandler(printer)
        TRAINING_LOG.setLevel(logging.INFO)
    try:
        return _run(args, rank, world_size)
    finally:
        TRAINING_LOG.removeHandler(printer)
        TRAINING_LOG.setLevel(level)


class _EpochLines(logging.Handler):
    """Prints each finished epoch's line (:meth:`History.epoch_summary`) to stdout as it comes: a
    log file gets one line per epoch, where a progress bar would write hundreds of redraws."""

    def emit(self, record: logging.LogRecord) -> None:
        print(record.getMessage(), flush=True)


def _run(args: argparse.Namespace, rank: int, world_size: int) -> int:
    if world_size > 1:
        # torchrun stops the other processes of a group with SIGTERM when one fails: say so, and
        # where the training state is, instead of vanishing.
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        _train(args)
    except (OSError, ValueError, RuntimeError) as err:
        if world_size > 1:
            signal.signal(
                signal.SIGTERM, signal.SIG_IGN
            )  # one report, not cut short by a stop
        # One line, whatever the message's layout: the data loader explains itself over several.
        message = " ".join(
            line.strip() for line in str(err).splitlines() if line.strip()
        )
        message = message or type(err).__name__
        if type(err).__name__ in (
            "DistBackendError",
            "DistNetworkError",
            "DistError",
        ):
            message = f"lost another process of the group (it crashed or was stopped): {message}"
        state = args.out.expanduser() / TRAINING_STATE_NAME
        if args.framework == "torch" and state.is_file():
            message += (
                f"; the training state of the last finished epoch is kept in {state}: "
                "run the same command with --resume to go on from it"
            )
        prefix = f"rank {rank}: " if world_size > 1 else ""
        print(f"{prefix}error: {message}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0
