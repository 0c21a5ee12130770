"""The MNIST files: where they live, their idx format, downloading them, and loading one split.

Where the data lives
--------------------
Every function that takes ``root`` resolves it with :func:`resolve_root`:

1. the ``root`` argument, when given;
2. else the environment variable ``CNN_TUTORIAL_DATA``, when set and not empty;
3. else the default, ``$XDG_CACHE_HOME/cnn_tutorial`` (when ``XDG_CACHE_HOME`` is set to an absolute
   path), otherwise ``~/.cache/cnn_tutorial``.

The four idx files sit in ``<root>/MNIST/raw/``, named as torchvision names them
(``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``), each either uncompressed or gzipped with ``.gz`` appended. This is
torchvision's layout, so ``torchvision.datasets.MNIST(root=resolve_root())`` reads the same copy.

What happens to the images once loaded (the validation split, normalising, mini-batches) is in
:mod:`cnn_tutorial.data`, which re-exports this module's public names. Nothing here imports torch:
the numpy path of the package works without it.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from .checks import check_allocation
from .files import atomic_write
from .params import Rule, validate_params

__all__ = [
    "DATA_ENV_VAR",
    "DEFAULT_ROOT",
    "MIRROR_ENV_VAR",
    "MNIST_CONTENT_MD5",
    "MNIST_FILES",
    "MNIST_MD5",
    "MNIST_MIRRORS",
    "MNIST_URL",
    "MNISTDownloadError",
    "MNISTNotFoundError",
    "download_mnist",
    "load_mnist",
    "mirrors",
    "read_idx",
    "resolve_root",
]

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# Where MNIST is downloaded from: torchvision's live mirror. (Its second one, yann.lecun.com, has
# answered 404 since 2024, and torchvision dropped it.) MIRROR_ENV_VAR replaces it with another
# folder of the four .gz files, an institutional mirror or a local copy (a file:// URL).
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
MIRROR_ENV_VAR = "CNN_TUTORIAL_MNIST_URL"
MNIST_MIRRORS = (MNIST_URL,)
# A download is accepted when its .gz file has torchvision's MD5 or its content (uncompressed) has
# the MD5 of the MNIST files: a mirror that compressed the same files differently is fine too.
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_CONTENT_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

DATA_ENV_VAR = "CNN_TUTORIAL_DATA"


def _default_root() -> Path:
    # XDG Base Directory rule: an unset, empty or relative XDG_CACHE_HOME means ~/.cache.
    cache = os.environ.get("XDG_CACHE_HOME", "")
    base = (
        Path(cache)
        if cache and os.path.isabs(cache)
        else Path.home() / ".cache"
    )
    return base / "cnn_tutorial"


DEFAULT_ROOT = _default_root()

_IDX_MAGIC = {0x0801: "labels", 0x0803: "images"}
_GZIP_MAGIC = b"\x1f\x8b"


class MNISTNotFoundError(FileNotFoundError):
    """The MNIST files are not where the package looked, and downloading them failed or was off."""


class MNISTDownloadError(OSError):
    """No mirror delivered a file whose MD5 matched."""


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root``, else ``$CNN_TUTORIAL_DATA``, else :data:`DEFAULT_ROOT`.

    Parameters
    ----------
    root : str, PathLike or None
        Explicit root; ``~`` is expanded.

    Returns
    -------
    Path
        The folder that holds (or will hold) ``MNIST/raw/``.
    """
    if root is not None:
        return Path(root).expanduser()
    from_env = os.environ.get(DATA_ENV_VAR, "")
    if from_env:
        return Path(from_env).expanduser()
    return DEFAULT_ROOT


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an MNIST idx file, uncompressed or gzipped (recognised by its first bytes).

    The header is read and checked first, and only the number of bytes it declares is read (or
    inflated) after it: a damaged or hostile file, such as gigabytes of zeros gzipped into a few
    megabytes, is refused after a few bytes instead of being inflated into memory.

    Parameters
    ----------
    path : str or PathLike
        An idx1 (labels) or idx3 (images) file of unsigned bytes.

    Returns
    -------
    ndarray of uint8, shape (N,) for labels or (N, H, W) for images
        A writable array that owns its memory.

    Raises
    ------
    ValueError
        The file is not valid gzip, has a magic number other than 0x00000801 / 0x00000803, declares
        an array larger than :data:`cnn_tutorial.checks.MAX_ARRAY_BYTES`, or holds fewer or more
        data bytes than its header declares. The message names the file.
    """
    path = Path(path)
    with open(path, "rb") as raw:
        # An uncompressed idx file starts with two zero bytes, so the gzip magic cannot be mistaken.
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not compressed:
            return _read_idx_stream(raw, path)
        try:
            with gzip.GzipFile(fileobj=raw) as inflated:
                return _read_idx_stream(inflated, path)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"{path}: corrupt gzip data ({err})") from None


# How far past the declared data read_idx looks to count extra bytes for its message.
_EXTRA_BYTES_COUNTED = 1 << 20


def _read_idx_stream(stream, path: Path) -> np.ndarray:
    """:func:`read_idx` on an open binary stream positioned at the start of the idx data."""
    head = stream.read(4)
    if len(head) < 4:
        raise ValueError(
            f"{path}: {len(head)} bytes is too short for an idx header"
        )
    magic = int.from_bytes(head, "big")
    if magic not in _IDX_MAGIC:
        raise ValueError(
            f"{path}: magic number 0x{magic:08x} is not an MNIST idx file "
            "(expected 0x00000801 for labels or 0x00000803 for images)"
        )
    ndim = magic & 0xFF
    dims = stream.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(
            f"{path}: truncated header ({4 + len(dims)} bytes, {4 + 4 * ndim} needed for {ndim} dimensions)"
        )
    shape = tuple(int(d) for d in np.frombuffer(dims, dtype=">u4"))
    check_allocation(
        f"{path}: the data its header declares", shape, np.uint8
    )
    # Read straight into the array (no second copy of tens of megabytes); readinto may stop short.
    array = np.empty(shape, dtype=np.uint8)
    buffer, filled = memoryview(array.reshape(-1)), 0
    while filled < array.size:
        count = stream.readinto(buffer[filled:])
        if not count:
            break
        filled += count
    if filled < array.size:
        raise ValueError(
            f"{path}: truncated: header declares shape {shape} "
            f"= {array.size} bytes of data, file holds {filled}"
        )
    extra = len(stream.read(_EXTRA_BYTES_COUNTED))
    if extra:
        more = " or more" if extra == _EXTRA_BYTES_COUNTED else ""
        raise ValueError(
            f"{path}: {extra}{more} extra bytes after the data: "
            f"header declares shape {shape} = {array.size} bytes"
        )
    return array


def _find(raw_dir: Path, name: str) -> Path | None:
    for candidate in (raw_dir / name, raw_dir / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _fetch(url: str, timeout: float) -> bytes:
    """Return the body of ``url`` (the one place that touches the network; tests replace it)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def mirrors() -> tuple[str, ...]:
    """The URLs MNIST is downloaded from, in order: ``$CNN_TUTORIAL_MNIST_URL`` alone when it is
    set (with a trailing ``/`` added if missing), else :data:`MNIST_MIRRORS`."""
    override = os.environ.get(MIRROR_ENV_VAR, "")
    if override:
        return (override if override.endswith("/") else override + "/",)
    return MNIST_MIRRORS


def _verified(gz_name: str, payload: bytes) -> str | None:
    """None when ``payload`` is the right file, else what is wrong with it."""
    digest = hashlib.md5(payload).hexdigest()
    if digest == MNIST_MD5[gz_name]:
        return None
    try:
        content_digest = hashlib.md5(gzip.decompress(payload)).hexdigest()
    except (OSError, EOFError, zlib.error) as err:
        return f"not a gzip file ({err})"
    if content_digest == MNIST_CONTENT_MD5.get(gz_name[: -len(".gz")]):
        return None
    return f"MD5 {digest} does not match the expected {MNIST_MD5[gz_name]} (nor does its content's)"


def _download_verified(gz_name: str, timeout: float) -> bytes:
    failures = []
    for mirror in mirrors():
        url = mirror + gz_name
        try:
            payload = _fetch(url, timeout)
        except (
            OSError,
            http.client.HTTPException,
            ValueError,
        ) as err:  # ValueError: a malformed URL
            failures.append(f"{url}: {err}")
            continue
        problem = _verified(gz_name, payload)
        if problem is None:
            return payload
        failures.append(f"{url}: {problem}")
    raise MNISTDownloadError(
        f"could not download {gz_name}:\n  " + "\n  ".join(failures)
    )


def download_mnist(
    root: str | os.PathLike | None = None, timeout: float = 30
) -> Path:
    """Download the MNIST files that are missing from ``<root>/MNIST/raw/``.

    Each ``.gz`` file is fetched from torchvision's mirror (or ``$CNN_TUTORIAL_MNIST_URL``, see
    :func:`mirrors`), checked against torchvision's MD5 (or its content against the MNIST files'),
    and written with its uncompressed copy, both through
    :func:`~cnn_tutorial.files.atomic_write`: an interrupted or failed download leaves no file behind.
    Files whose uncompressed copy already exists are skipped.

    Parameters
    ----------
    root : str, PathLike or None
        Data root, resolved by :func:`resolve_root`.
    timeout : float
        Seconds to wait on each network operation.

    Returns
    -------
    Path
        The folder holding the files, ``<root>/MNIST/raw``.

    Raises
    ------
    MNISTDownloadError
        No mirror delivered a file with the right MD5; the message lists what each mirror did.
    """
    raw_dir = resolve_root(root) / "MNIST" / "raw"
    for names in MNIST_FILES.values():
        for name in names:
            if (raw_dir / name).is_file():
                continue
            payload = _download_verified(f"{name}.gz", timeout)
            with atomic_write(raw_dir / f"{name}.gz") as handle:
                handle.write(payload)
            # The uncompressed copy is what torchvision.datasets.MNIST(download=False) looks for.
            with atomic_write(raw_dir / name) as handle:
                handle.write(gzip.decompress(payload))
    return raw_dir


def _not_found_message(
    raw_dir: Path, missing: list[str], download_problem: str
) -> str:
    all_names = [name for names in MNIST_FILES.values() for name in names]
    return "\n".join(
        [
            f"MNIST not found in {raw_dir} (missing: {', '.join(missing)}).",
            "That folder should hold these four files, each uncompressed or gzipped with .gz appended:",
            *(f"  {name}" for name in all_names),
            download_problem,
            f"Offline, download the four files (with .gz appended) from {MNIST_URL} elsewhere and put them",
            "in that folder. To use a copy you already have, set the environment variable",
            f"{DATA_ENV_VAR} to the folder that contains MNIST/raw/ (or pass root=... to load_mnist), e.g.",
            f"  export {DATA_ENV_VAR}=/path/to/data",
        ]
    )


def _split(name, split):
    """One of MNIST's two splits."""
    if split not in MNIST_FILES:
        raise ValueError(f"{name} must be 'train' or 'test', got {split!r}")
    return split


@validate_params(
    split=Rule(_split, bad=[("validation", ValueError)], example="train")
)
def load_mnist(
    split: str = "train",
    root: str | os.PathLike | None = None,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of MNIST from ``<root>/MNIST/raw/``, downloading it when missing.

    Parameters
    ----------
    split : {"train", "test"}
        ``"train"`` (60,000 images) or ``"test"`` (10,000 images).
    root : str, PathLike or None
        Data root, resolved by :func:`resolve_root`.
    download : bool
        Download missing files with :func:`download_mnist`.

    Returns
    -------
    images : ndarray of uint8, shape (N, 28, 28)
        Pixel intensities, 0 (background) to 255 (ink).
    labels : ndarray of int64, shape (N,)
        Digits 0 to 9.

    Raises
    ------
    MNISTNotFoundError
        Files missing and ``download`` is False or the download failed. The message names the folder
        searched, the four file names, and the ``CNN_TUTORIAL_DATA`` environment variable.
    ValueError
        Unknown split, or a corrupt file (see :func:`read_idx`), images that are not 28x28, image and
        label counts that differ, no images at all, or labels outside 0..9. The message names the
        file(s).
    """
    raw_dir = resolve_root(root) / "MNIST" / "raw"
    names = MNIST_FILES[split]
    paths = [_find(raw_dir, name) for name in names]
    if None in paths:
        missing = [name for name, path in zip(names, paths) if path is None]
        if not download:
            raise MNISTNotFoundError(
                _not_found_message(
                    raw_dir,
                    missing,
                    "Downloading was off (download=False).",
                )
            )
        try:
            download_mnist(root)
        except MNISTDownloadError as err:
            raise MNISTNotFoundError(
                _not_found_message(
                    raw_dir, missing, f"Downloading failed: {err}"
                )
            ) from err
        paths = [_find(raw_dir, name) for name in names]
    image_path, label_path = paths

    images = read_idx(image_path)
    labels = read_idx(label_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"{image_path}: expected images of shape (N, 28, 28), got {images.shape}"
        )
    if labels.ndim != 1:
        raise ValueError(
            f"{label_path}: expected labels of shape (N,), got {labels.shape}"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{image_path} holds {len(images)} images but {label_path} holds {len(labels)} labels"
        )
    if len(images) == 0:
        raise ValueError(
            f"{image_path} holds no images (its header declares shape {images.shape})"
        )
    if labels.max() > 9:
        bad = int(np.argmax(labels > 9))
        raise ValueError(
            f"{label_path}: labels must be digits 0..9, found {labels[bad]} at index {bad}"
        )
    return images, labels.astype(np.int64)
