"""Split MNIST into training, validation and test sets, normalise it, and cut it into mini-batches.

The files themselves (where they live, the idx format, downloading, :func:`load_mnist`) are
:mod:`cnn_tutorial.mnist_files`; its public names are importable from here too, so
``from cnn_tutorial.data import load_mnist`` works as before.

Nothing here imports torch: the numpy path of the package works without it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from .checks import check_int
from .mnist_files import (
    DATA_ENV_VAR,
    DEFAULT_ROOT,
    MIRROR_ENV_VAR,
    MNIST_CONTENT_MD5,
    MNIST_FILES,
    MNIST_MD5,
    MNIST_MIRRORS,
    MNIST_URL,
    MNISTDownloadError,
    MNISTNotFoundError,
    download_mnist,
    load_mnist,
    mirrors,
    read_idx,
    resolve_root,
)
from .params import Integer, Optional, Rule, validate_params

__all__ = [
    "DATA_ENV_VAR",
    "DEFAULT_ROOT",
    "MIRROR_ENV_VAR",
    "MNIST_CONTENT_MD5",
    "MNIST_FILES",
    "MNIST_MD5",
    "MNIST_MEAN",
    "MNIST_MIRRORS",
    "MNIST_STD",
    "MNIST_URL",
    "SPLIT_SEED",
    "VALIDATION_SIZE",
    "MNISTDownloadError",
    "MNISTNotFoundError",
    "download_mnist",
    "load_mnist",
    "load_mnist_splits",
    "minibatches",
    "mirrors",
    "normalize",
    "num_batches",
    "pixel_statistics",
    "read_idx",
    "resolve_root",
    "split_validation",
]

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

VALIDATION_SIZE = 5_000
#: Seed of the validation split. Fixed, not the run's seed: every run, of either trainer and with
#: any seed, holds out the same images, so that their validation results compare like with like.
SPLIT_SEED = 0


def _validation_size(name, size):
    """At least 1 image held out; the message names it as the trainers do."""
    return check_int("validation_size", size, 1)


def _split_fits(images, labels, size):
    """One label per image, and fewer held out than there are images."""
    if len(images) != len(labels):
        raise ValueError(
            f"images ({len(images)}) and labels ({len(labels)}) differ in length"
        )
    if size >= len(images):
        raise ValueError(
            f"validation_size must be less than the {len(images)} training images, got {size}"
        )


@validate_params(
    size=Rule(
        _validation_size,
        bad=[(2.5, TypeError), (0, ValueError)],
        example=1,
    ),
    also=[_split_fits],
)
def split_validation(
    images: np.ndarray,
    labels: np.ndarray,
    size: int = VALIDATION_SIZE,
    seed: int = SPLIT_SEED,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Hold out ``size`` images, drawn at random (seeded), as a validation set.

    Parameters
    ----------
    images : ndarray of shape (N, ...)
    labels : ndarray of shape (N,)
    size : int, default 5,000
        Images held out, at least 1 and fewer than N.
    seed : int, default :data:`SPLIT_SEED`
        Seeds the draw (``np.random.default_rng(seed).permutation``).

    Returns
    -------
    (train_images, train_labels), (validation_images, validation_labels)
        N - size and size images. Both keep the original order of the images they hold, so the
        same ``size`` and ``seed`` always give the same two sets.
    """
    held_out = np.zeros(len(images), dtype=bool)
    order = np.random.default_rng(seed).permutation(len(images))
    held_out[order[:size]] = True
    return (
        (images[~held_out], labels[~held_out]),
        (images[held_out], labels[held_out]),
    )


@validate_params(
    train_limit=Optional(Integer(minimum=1)),
    validation_size=Integer(minimum=1),
)
def load_mnist_splits(
    root: str | os.PathLike | None = None,
    download: bool = True,
    train_limit: int | None = None,
    validation_size: int = VALIDATION_SIZE,
) -> tuple[
    tuple[np.ndarray, np.ndarray],
    tuple[np.ndarray, np.ndarray],
    tuple[np.ndarray, np.ndarray],
]:
    """Training, validation and test sets: what both trainers train, choose and test on.

    The 60,000 training images are split by :func:`split_validation` into 55,000 to train on and
    5,000 to validate on (every run the same 5,000); the 10,000 test images stay apart until the
    end. Both files are read, and so checked by :func:`load_mnist`, before any training starts, so a
    damaged test file is reported at once, not after minutes of training.

    Parameters
    ----------
    root, download
        As in :func:`load_mnist`.
    train_limit : int or None
        Keep only the first ``train_limit`` images of the training part (quick runs, tests).
    validation_size : int, default 5,000
        Training images held out for validation.

    Returns
    -------
    (train_images, train_labels), (validation_images, validation_labels), (test_images, test_labels)
        uint8 images of shape (N, 28, 28) and int64 labels of shape (N,), as :func:`load_mnist`
        returns them.
    """
    images, labels = load_mnist("train", root, download)
    test = load_mnist("test", root, download)
    (train_images, train_labels), validation = split_validation(
        images, labels, validation_size
    )
    if train_limit is not None:
        if train_limit > len(train_images):
            raise ValueError(
                f"train_limit must be at most {len(train_images)}, the training images left after holding "
                f"out {validation_size} for validation, got {train_limit}"
            )
        train_images, train_labels = (
            train_images[:train_limit],
            train_labels[:train_limit],
        )
    return (train_images, train_labels), validation, test


def _pixels(name, images):
    """``images`` as an array of uint8 pixels."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(
            f"{name} must be uint8 pixels (0..255), got dtype {images.dtype}"
        )
    return images


#: Raw pixels, as MNIST stores them.
PIXELS = Rule(
    _pixels,
    bad=[(np.zeros((2, 3, 3), dtype=np.float32), TypeError)],
    example=np.zeros((1, 2, 2), dtype=np.uint8),
)


def _some_pixels(images):
    """At least one image with at least one pixel."""
    if images.ndim == 0 or images.size == 0:
        raise ValueError(
            f"images must be an array of shape (N, ...) with N >= 1 pixels, got shape {images.shape}"
        )


@validate_params(
    images=PIXELS, chunk=Integer(minimum=1), also=[_some_pixels]
)
def pixel_statistics(
    images: np.ndarray, chunk: int = 1000
) -> tuple[float, float]:
    """Mean and standard deviation of all pixels divided by 255, without a float copy of them.

    A uint8 pixel takes one of 256 values, so the statistics only need how often each value occurs:
    the counts are taken ``chunk`` images at a time, then the mean and the (population) standard
    deviation are sums over 256 numbers in float64. ``images.std()`` gives the same numbers but
    first makes a float64 copy of every pixel: 376 MB for MNIST's training set.

    Parameters
    ----------
    images : ndarray of uint8, shape (N, ...)
        Raw pixels, e.g. MNIST's (60000, 28, 28).
    chunk : int
        Images counted at a time (memory: ``chunk`` times one image, as int64).

    Returns
    -------
    (float, float)
        The mean and the standard deviation of ``images / 255``; MNIST's training set gives
        0.1307 and 0.3081 (``MNIST_MEAN``, ``MNIST_STD``).
    """
    counts = np.zeros(256, dtype=np.int64)
    for start in range(0, len(images), chunk):
        counts += np.bincount(
            images[start : start + chunk].ravel(), minlength=256
        )
    value = np.arange(256) / 255  # float64 (256,)
    mean = (counts * value).sum() / images.size
    variance = (counts * (value - mean) ** 2).sum() / images.size
    return float(mean), float(np.sqrt(variance))


def _one_channel(images):
    """Images of shape ``(N, H, W)`` or ``(N, 1, H, W)``, given the channel axis."""
    if images.ndim == 3:
        return {"images": images[:, None]}
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(
            f"images must have shape (N, H, W) or (N, 1, H, W), got {images.shape}"
        )
    return None


@validate_params(images=PIXELS, also=[_one_channel])
def normalize(images: np.ndarray) -> np.ndarray:
    """Scale pixels to [0, 1], then standardise with MNIST's mean and std; add the channel axis.

    Computes ``(images / 255 - MNIST_MEAN) / MNIST_STD``.

    Parameters
    ----------
    images : ndarray of uint8, shape (N, H, W) or (N, 1, H, W)
        Raw pixels; MNIST's are (N, 28, 28).

    Returns
    -------
    ndarray of float32, shape (N, 1, H, W)
        Over the training set: mean about 0, standard deviation about 1.
    """
    # In place on one float32 copy: the training set is 188 MB as float32, so temporaries cost time.
    x = images.astype(np.float32)
    x /= 255
    x -= np.float32(MNIST_MEAN)
    x /= np.float32(MNIST_STD)
    return x


@validate_params(n=Integer(minimum=0), batch_size=Integer(minimum=1))
def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Number of mini-batches :func:`minibatches` yields for ``n`` samples.

    Parameters
    ----------
    n : int
        Number of samples, at least 0.
    batch_size : int
        Samples per batch, at least 1.
    drop_last : bool
        Count only full batches.

    Returns
    -------
    int
        ``n // batch_size`` with ``drop_last``, else ``ceil(n / batch_size)``.
    """
    return n // batch_size if drop_last else -(-n // batch_size)


def _same_length(images, labels):
    """One label per sample."""
    if len(images) != len(labels):
        raise ValueError(
            f"images and labels differ in length: {len(images)} vs {len(labels)}"
        )


@validate_params(batch_size=Integer(minimum=1), also=[_same_length])
def minibatches(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    seed: int | np.random.Generator | None = None,
    shuffle: bool = True,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of mini-batches: every sample exactly once (or all but the last partial batch).

    Arguments are checked when called, not when iteration starts.

    Parameters
    ----------
    images : ndarray of shape (N, ...)
        Samples along the first axis.
    labels : ndarray of shape (N, ...)
        One label per sample.
    batch_size : int
        Samples per batch, at least 1. The last batch is smaller when ``N`` is not a multiple.
    seed : int, Generator or None
        Seed for ``np.random.default_rng``; the same seed gives the same order.
    shuffle : bool
        Visit samples in a random order; otherwise in order.
    drop_last : bool
        Skip the last batch when it is smaller than ``batch_size``.

    Returns
    -------
    iterator of (x_batch, y_batch)
        ``x_batch`` of shape (B, ...) and ``y_batch`` of shape (B, ...), ``B <= batch_size``;
        :func:`num_batches` of them.
    """
    n = len(images)
    order = (
        np.random.default_rng(seed).permutation(n)
        if shuffle
        else np.arange(n)
    )
    stop = num_batches(n, batch_size, drop_last) * batch_size

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, stop, batch_size):
            index = order[start : start + batch_size]
            yield images[index], labels[index]

    return batches()
