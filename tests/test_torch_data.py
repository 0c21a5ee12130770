"""Tests for cnn_tutorial.pytorch.data: MNIST tensors from the validated arrays of the numpy path."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader, Subset

from cnn_tutorial.data import (
    DATA_ENV_VAR,
    MNISTNotFoundError,
    load_mnist_splits,
    normalize,
    split_validation,
)
from cnn_tutorial.pytorch.data import mnist_datasets, mnist_loaders, mnist_transform
from cnn_tutorial.seeds import run_streams, torch_seed
from tests.test_data import DAMAGED_SPLITS, write_dataset


def test_normalize_is_the_classic_per_image_transform_bit_for_bit():
    """The tensors come from data.normalize; they equal ToTensor + Normalize on every byte value."""
    # Every byte value 0..255 appears (7 and 256 are coprime).
    images = (np.arange(3 * 28 * 28).reshape(3, 28, 28) * 7 % 256).astype(np.uint8)
    assert len(np.unique(images)) == 256
    together = torch.from_numpy(normalize(images))
    classic = mnist_transform()
    for image, transformed in zip(images, together):
        assert torch.equal(classic(Image.fromarray(image)), transformed)


def test_loader_batches_equal_the_classic_per_image_loader(mnist_root_for_torchvision):
    train_loader, _, _ = mnist_loaders(root=mnist_root_for_torchvision, seed=5, train_limit=300)
    per_image = torchvision.datasets.MNIST(
        root=str(mnist_root_for_torchvision), train=True, transform=mnist_transform()
    )
    # The indices of the first 300 images left for training after the validation split.
    (train_indices, _), _ = split_validation(np.arange(len(per_image)), np.arange(len(per_image)))
    classic = DataLoader(
        Subset(per_image, train_indices[:300].tolist()),
        batch_size=100,
        shuffle=True,
        generator=torch.Generator().manual_seed(torch_seed(run_streams(5)[1])),
    )
    for (images, labels), (classic_images, classic_labels) in zip(
        train_loader, classic, strict=True
    ):
        assert torch.equal(images, classic_images) and torch.equal(labels, classic_labels)


def test_mnist_loaders_shapes_normalisation_and_seeded_order(mnist_root):
    train_loader, validation_loader, test_loader = mnist_loaders(
        batch_size=100, root=mnist_root, seed=3, train_limit=250
    )
    assert len(train_loader) == 3 and len(validation_loader) == 50 and len(test_loader) == 100
    batches = list(train_loader)
    images, labels = batches[0]
    assert images.shape == (100, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (100,) and labels.dtype == torch.int64
    assert [len(b[1]) for b in batches] == [100, 100, 50]
    # Normalize((0.1307,), (0.3081,)): a background pixel (0) maps to -0.1307 / 0.3081.
    assert images.min().item() == pytest.approx(-0.1307 / 0.3081, abs=1e-6)
    assert images.max().item() == pytest.approx((1 - 0.1307) / 0.3081, abs=1e-6)
    all_labels = torch.cat([b[1] for b in batches])
    again = torch.cat([b[1] for b in mnist_loaders(root=mnist_root, seed=3, train_limit=250)[0]])
    other_seed = torch.cat(
        [b[1] for b in mnist_loaders(root=mnist_root, seed=4, train_limit=250)[0]]
    )
    assert torch.equal(all_labels, again)
    assert not torch.equal(all_labels, other_seed)
    assert torch.equal(all_labels.sort().values, other_seed.sort().values)  # same 250 images
    assert not torch.equal(
        all_labels, torch.cat([b[1] for b in train_loader])
    )  # a new order each epoch


def test_mnist_loaders_reads_root_from_env(mnist_root, monkeypatch):
    monkeypatch.setenv(DATA_ENV_VAR, str(mnist_root))
    train_loader, _, _ = mnist_loaders(train_limit=10)
    assert len(train_loader.dataset) == 10


def test_mnist_loaders_missing_data_raises_clear_error(tmp_path):
    with pytest.raises(MNISTNotFoundError, match="CNN_TUTORIAL_DATA") as info:
        mnist_loaders(root=tmp_path, download=False)
    assert str(tmp_path / "MNIST" / "raw") in str(info.value)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"batch_size": 0}, ValueError),
        ({"train_limit": 0}, ValueError),
        ({"validation_size": 0}, ValueError),
        ({"seed": -1}, ValueError),
        ({"seed": 1.5}, TypeError),
    ],
)
def test_mnist_loaders_validates(tmp_path, kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        mnist_loaders(root=tmp_path, download=False, **kwargs)


# Damaged data reads the same on the PyTorch path as on the numpy path: one ValueError naming the
# file, before any training. Before, torchvision read the files: a label 12 killed training with
# "IndexError: Target 12 is out of bounds", a count mismatch gave an AssertionError traceback, and a
# truncated file "shape '[60, 28, 28]' is invalid for input of size 46940", naming no file.
@pytest.mark.parametrize("case", DAMAGED_SPLITS)
def test_damaged_data_gets_the_numpy_paths_error_naming_the_file(tmp_path, case):
    files, message = DAMAGED_SPLITS[case]
    write_dataset(tmp_path, files=files)
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        mnist_loaders(root=tmp_path, download=False)
    with pytest.raises(ValueError, match=re.escape(message)):
        load_mnist_splits(root=tmp_path, download=False)
    assert str(tmp_path / "MNIST" / "raw") in str(info.value)


def test_a_train_limit_beyond_the_training_set_is_refused(tmp_path):
    write_dataset(tmp_path)  # 7 training images: 5 to train on, 2 held out
    with pytest.raises(
        ValueError,
        match="train_limit must be at most 5, the training images left after holding "
        "out 2 for validation, got 6",
    ):
        mnist_loaders(root=tmp_path, download=False, train_limit=6, validation_size=2)
    assert (
        len(
            mnist_loaders(root=tmp_path, download=False, train_limit=5, validation_size=2)[
                0
            ].dataset
        )
        == 5
    )
    with pytest.raises(
        ValueError, match="validation_size must be less than the 7 training images, got 7"
    ):
        mnist_loaders(root=tmp_path, download=False, validation_size=7)


def test_the_tensors_are_the_numpy_paths_arrays(tmp_path):
    write_dataset(tmp_path)
    tensor_sets = mnist_datasets(root=tmp_path, download=False, validation_size=2)
    array_splits = load_mnist_splits(root=tmp_path, download=False, validation_size=2)
    assert [len(dataset) for dataset in tensor_sets] == [5, 2, 3]
    for dataset, (images, labels) in zip(tensor_sets, array_splits, strict=True):
        assert torch.equal(dataset.tensors[0], torch.from_numpy(normalize(images)))
        assert torch.equal(dataset.tensors[1], torch.from_numpy(labels))
