"""Atomic file writing: a failed or interrupted write never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .params import Rule, validate_params


def _create_temporary(directory: Path, name: str) -> tuple[int, str]:
    """Create a new, empty file next to the destination: ``(descriptor, path)``.

    ``os.open`` with mode 0o666 lets the process's umask decide the permissions, exactly as for an
    ordinary ``open()``, without reading or changing the umask (which is process-wide, so changing
    it races with other threads). ``O_EXCL`` makes sure the file is new.
    """
    while True:
        tmp_name = str(directory / f".{name}.{secrets.token_hex(6)}.part")
        try:
            return os.open(
                tmp_name,
                os.O_WRONLY
                | os.O_CREAT
                | os.O_EXCL
                | getattr(os, "O_BINARY", 0),
                0o666,
            ), tmp_name
        except FileExistsError:
            continue


def _sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (POSIX); elsewhere there is no directory to sync."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mode(name, mode):
    """Binary or text writing."""
    if mode not in ("wb", "w"):
        raise ValueError(f"{name} must be 'wb' or 'w', got {mode!r}")
    return mode


@contextlib.contextmanager
@validate_params(mode=Rule(_mode, bad=[("a", ValueError)], example="wb"))
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file next to ``path``; move it onto ``path`` only if the block succeeds.

    The parent directory is created when missing. The temporary file lives in the same directory,
    so the final ``os.replace`` is atomic on POSIX and Windows: readers see either the old file or
    the complete new one, never a partial one. The data is flushed to disk before the rename and
    the directory after it, so a power cut cannot leave an empty file under the final name either.

    Parameters
    ----------
    path : str or PathLike
        Final destination.
    mode : {"wb", "w"}
        Binary or text mode for the temporary file.

    Yields
    ------
    file object
        Write to it inside the ``with`` block.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = _create_temporary(path.parent, path.name)
    try:
        try:
            handle = os.fdopen(fd, mode)
        except BaseException:
            os.close(fd)  # fdopen failed, so nothing else will close it
            raise
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    _sync_directory(path.parent)


# The files a training run writes into its folder (the command line's --out): named once, here,
# where the numpy path can read them without importing torch.
HISTORY_NAME = (
    "history.json"  #: the run's :class:`~cnn_tutorial.history.History`
)
NUMPY_MODEL_NAME = "numpy_cnn.npz"  #: the numpy CNN's parameters
CHECKPOINT_NAME = "conv_net_model.ckpt"  #: the PyTorch ConvNet's weights, the classic file name
TRAINING_STATE_NAME = (
    "training_state.pt"  #: a PyTorch run's state after its last epoch
)
