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

import torch
from torch.utils.data import DataLoader, TensorDataset
from torchvision import transforms

from .checks import check_int
from .data import MNIST_MEAN, MNIST_STD, load_mnist_splits, normalize
from .seeds import run_streams, torch_seed


def mnist_transform() -> transforms.Compose:
    """The classic per-image preprocessing: pixels to [0, 1] (``ToTensor``), then standardise.

    Maps a PIL image or a uint8 array of 28x28 pixels to a Tensor of shape (1, 28, 28), the same
    numbers as :func:`cnn_tutorial.data.normalize` gives.
    """
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])


def mnist_datasets(
    root: str | os.PathLike | None = None, download: bool = True, train_limit: int | None = None
) -> tuple[TensorDataset, TensorDataset]:
    """The training and test sets as tensors, read and checked by :func:`~cnn_tutorial.data.load_mnist_splits`.

    Parameters
    ----------
    root, download, train_limit
        As in :func:`~cnn_tutorial.data.load_mnist_splits`.

    Returns
    -------
    train_set, test_set : TensorDataset
        Items ``(image, label)``: Tensor of shape (1, 28, 28), float32, normalised; Tensor of
        shape (), int64. The images share memory with the normalised numpy arrays.
    """
    (train_images, train_labels), (test_images, test_labels) = load_mnist_splits(root, download, train_limit)
    return (
        TensorDataset(torch.from_numpy(normalize(train_images)), torch.from_numpy(train_labels)),
        TensorDataset(torch.from_numpy(normalize(test_images)), torch.from_numpy(test_labels)),
    )


def mnist_loaders(
    batch_size: int = 100,
    root: str | os.PathLike | None = None,
    seed: int = 0,
    train_limit: int | None = None,
    download: bool = True,
) -> tuple[DataLoader, DataLoader]:
    """Training and test loaders over :func:`mnist_datasets`, batched as in the classic tutorial.

    Parameters
    ----------
    batch_size : int
        Images per batch, at least 1 (the classic 100).
    root : str, PathLike or None
        Data root, resolved by :func:`cnn_tutorial.data.resolve_root` (so ``CNN_TUTORIAL_DATA``
        works); the files are in ``<root>/MNIST/raw/``.
    seed : int
        The run's seed: the training set is shuffled by its shuffling stream
        (:func:`cnn_tutorial.seeds.run_streams`), a new order every epoch.
    train_limit : int or None
        Use only the first ``train_limit`` training images (for tests and quick runs).
    download : bool
        Download missing files.

    Returns
    -------
    train_loader : DataLoader
        Shuffled batches ``(images, labels)``: Tensor of shape (B, 1, 28, 28), float32,
        normalised; Tensor of shape (B,), int64.
    test_loader : DataLoader
        The test images in order, same batch size.

    Raises
    ------
    MNISTNotFoundError
        Files missing and ``download`` is False, or the download failed.
    ValueError
        A damaged file, labels outside 0..9, an empty split (the message names the file), or a
        ``train_limit`` larger than the training set.
    """
    batch_size = check_int("batch_size", batch_size, 1)
    _, shuffling = run_streams(seed)
    train_set, test_set = mnist_datasets(root, download, train_limit)
    shuffle_generator = torch.Generator().manual_seed(torch_seed(shuffling))
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=shuffle_generator)
    test_loader = DataLoader(test_set, batch_size=batch_size, shuffle=False)
    return train_loader, test_loader
