"""MNIST as PyTorch tensors, built from the same validated arrays the numpy path reads.

:func:`cnn_tutorial.data.load_mnist_splits` reads and checks the idx files (and names the file
when one is damaged); :func:`~cnn_tutorial.data.normalize` scales them. The classic tutorial instead
read MNIST through ``torchvision.datasets.MNIST`` with ``ToTensor`` and ``Normalize`` on every image
each time it is drawn; :func:`mnist_transform` keeps that per-image preprocessing for comparison:
its tensors are the same, bit for bit, but redoing it every epoch cost about a quarter of the
training time on a two-core CPU, and torchvision's reader does not check the labels and reports a
damaged file without naming it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader, TensorDataset

if TYPE_CHECKING:
    from torchvision import transforms

from ..data import (
    MNIST_MEAN,
    MNIST_STD,
    VALIDATION_SIZE,
    load_mnist_splits,
    normalize,
)
from ..params import Integer, validate_params
from ..seeds import run_streams, torch_seed


def mnist_transform() -> transforms.Compose:
    """The classic per-image preprocessing: pixels to [0, 1] (``ToTensor``), then standardise.

    Maps a PIL image or a uint8 array of 28x28 pixels to a Tensor of shape (1, 28, 28), the same
    numbers as :func:`cnn_tutorial.data.normalize` gives.
    """
    # Imported here, not above: nothing else needs torchvision, and
    # every training process would load it.
    from torchvision import transforms

    return transforms.Compose(
        [
            transforms.ToTensor(),
            transforms.Normalize((MNIST_MEAN,), (MNIST_STD,)),
        ]
    )


def mnist_datasets(
    root: str | os.PathLike | None = None,
    download: bool = True,
    train_limit: int | None = None,
    validation_size: int = VALIDATION_SIZE,
) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
    """Training, validation and test sets as tensors, from :func:`~cnn_tutorial.data.load_mnist_splits`.

    Parameters
    ----------
    root, download, train_limit, validation_size
        As in :func:`~cnn_tutorial.data.load_mnist_splits`.

    Returns
    -------
    train_set, validation_set, test_set : TensorDataset
        Items ``(image, label)``: Tensor of shape (1, 28, 28), float32, normalised; Tensor of
        shape (), int64. The images share memory with the normalised numpy arrays.
    """
    splits = load_mnist_splits(root, download, train_limit, validation_size)
    return tuple(
        TensorDataset(
            torch.from_numpy(normalize(images)), torch.from_numpy(labels)
        )
        for images, labels in splits
    )


@validate_params(batch_size=Integer(minimum=1))
def mnist_loaders(
    batch_size: int = 100,
    root: str | os.PathLike | None = None,
    seed: int = 0,
    train_limit: int | None = None,
    download: bool = True,
    validation_size: int = VALIDATION_SIZE,
    pin_memory: bool = False,
) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Training, validation and test loaders over :func:`mnist_datasets`, batched as in the classic tutorial.

    Parameters
    ----------
    batch_size : int
        Images per batch, at least 1 (the classic 100).
    root : str, PathLike or None
        Data root, resolved by :func:`cnn_tutorial.mnist_files.resolve_root` (so ``CNN_TUTORIAL_DATA``
        works); the files are in ``<root>/MNIST/raw/``.
    seed : int
        The run's seed: the training set is shuffled by its shuffling stream
        (:func:`cnn_tutorial.seeds.run_streams`), a new order every epoch.
    train_limit : int or None
        Use only the first ``train_limit`` training images (for tests and quick runs).
    download : bool
        Download missing files.
    validation_size : int
        Training images held out for validation (the same ones in every run).
    pin_memory : bool
        Hand out batches in page-locked memory, which a GPU copies from without an extra copy
        (and asynchronously, with ``.to(device, non_blocking=True)``); for CUDA only.

    Returns
    -------
    train_loader : DataLoader
        Shuffled batches ``(images, labels)``: Tensor of shape (B, 1, 28, 28), float32,
        normalised; Tensor of shape (B,), int64.
    validation_loader, test_loader : DataLoader
        The validation and the test images in order, same batch size.

    Raises
    ------
    MNISTNotFoundError
        Files missing and ``download`` is False, or the download failed.
    ValueError
        A damaged file, labels outside 0..9, an empty split (the message names the file), or a
        ``train_limit`` larger than what is left of the training set after the validation split.
    """
    _, shuffling = run_streams(seed)
    train_set, validation_set, test_set = mnist_datasets(
        root, download, train_limit, validation_size
    )
    shuffle_generator = torch.Generator().manual_seed(torch_seed(shuffling))
    train_loader = DataLoader(
        train_set,
        batch_size=batch_size,
        shuffle=True,
        generator=shuffle_generator,
        pin_memory=pin_memory,
    )
    return (
        train_loader,
        DataLoader(
            validation_set, batch_size=batch_size, pin_memory=pin_memory
        ),
        DataLoader(test_set, batch_size=batch_size, pin_memory=pin_memory),
    )
