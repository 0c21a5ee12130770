"""Tests for cnn_tutorial.mnist_files (idx parsing, validation, finding, downloading) and
cnn_tutorial.data (splitting, normalising, batching)."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import subprocess
import sys
import tracemalloc
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from cnn_tutorial import data, mnist_files
from cnn_tutorial.data import (
    DATA_ENV_VAR,
    MNIST_FILES,
    MNIST_MEAN,
    MNIST_STD,
    MNISTNotFoundError,
    load_mnist,
    load_mnist_splits,
    minibatches,
    normalize,
    num_batches,
    pixel_statistics,
    read_idx,
    resolve_root,
    split_validation,
)

ALL_NAMES = [name for names in MNIST_FILES.values() for name in names]


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an idx file: magic 0x0800 | ndim, big-endian dims, data."""
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def synthetic_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    return images, labels


SYNTHETIC = {"train": synthetic_split(7, 0), "test": synthetic_split(3, 1)}


def synthetic_files() -> dict[str, bytes]:
    """File name -> uncompressed idx bytes for a tiny four-file MNIST."""
    files = {}
    for split, (image_name, label_name) in MNIST_FILES.items():
        images, labels = SYNTHETIC[split]
        files[image_name] = idx_bytes(images)
        files[label_name] = idx_bytes(labels)
    return files


def write_dataset(root: Path, gz: bool = False, files: dict[str, bytes] | None = None) -> Path:
    raw_dir = root / "MNIST" / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    for name, content in (files or synthetic_files()).items():
        if gz:
            (raw_dir / f"{name}.gz").write_bytes(gzip.compress(content))
        else:
            (raw_dir / name).write_bytes(content)
    return raw_dir


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder)) if folder.exists() else []


# --- read_idx --------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize(
    "shape", [(5,), (4, 28, 28), (3, 2, 6)], ids=["labels", "images", "rectangular"]
)
def test_read_idx_round_trip(tmp_path, gz, shape):
    array = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    content = idx_bytes(array)
    path = tmp_path / ("file.gz" if gz else "file")
    path.write_bytes(gzip.compress(content) if gz else content)
    result = read_idx(path)
    assert result.dtype == np.uint8
    assert result.shape == shape
    np.testing.assert_array_equal(result, array)
    assert result.flags.writeable


def test_read_idx_decides_by_content_not_suffix(tmp_path):
    array = np.arange(6, dtype=np.uint8)
    misnamed = tmp_path / "labels.gz"
    misnamed.write_bytes(idx_bytes(array))
    np.testing.assert_array_equal(read_idx(misnamed), array)
    gzipped = tmp_path / "labels"
    gzipped.write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(gzipped), array)


def test_read_idx_empty_dimension(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(idx_bytes(np.zeros((0, 28, 28), dtype=np.uint8)))
    assert read_idx(path).shape == (0, 28, 28)


GOOD_LABELS = idx_bytes(np.arange(10, dtype=np.uint8))
CORRUPT = {
    "wrong magic": (struct.pack(">I", 0x0802) + GOOD_LABELS[4:], "magic number 0x00000802"),
    "float magic": (struct.pack(">I", 0x0D01) + GOOD_LABELS[4:], "magic number"),
    "truncated data": (GOOD_LABELS[:-3], "truncated"),
    "extra bytes": (GOOD_LABELS + b"\x00\x01", "2 extra bytes"),
    "truncated header": (idx_bytes(np.zeros((2, 2, 2), dtype=np.uint8))[:10], "truncated header"),
    "empty": (b"", "too short"),
}


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("case", list(CORRUPT))
def test_read_idx_corrupt_raises_value_error_naming_file(tmp_path, case, gz):
    content, expected = CORRUPT[case]
    path = tmp_path / "corrupt-file"
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(ValueError) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_read_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(GOOD_LABELS)[:-8])
    with pytest.raises(ValueError, match="corrupt gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


# --- load_mnist on synthetic files ------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_load_mnist_synthetic(tmp_path, gz, split):
    write_dataset(tmp_path, gz=gz)
    images, labels = load_mnist(split, root=tmp_path, download=False)
    expected_images, expected_labels = SYNTHETIC[split]
    assert images.dtype == np.uint8 and images.shape == expected_images.shape
    assert labels.dtype == np.int64 and labels.shape == expected_labels.shape
    np.testing.assert_array_equal(images, expected_images)
    np.testing.assert_array_equal(labels, expected_labels)


def test_load_mnist_reads_root_from_env(tmp_path, monkeypatch):
    write_dataset(tmp_path)
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path))
    images, _ = load_mnist("test", download=False)
    assert len(images) == 3


def test_load_mnist_bad_split(tmp_path):
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_mnist("validation", root=tmp_path, download=False)


def test_load_mnist_count_mismatch_names_both_files(tmp_path):
    files = synthetic_files()
    files["train-labels-idx1-ubyte"] = idx_bytes(SYNTHETIC["train"][1][:-1])
    raw_dir = write_dataset(tmp_path, files=files)
    with pytest.raises(ValueError) as info:
        load_mnist("train", root=tmp_path, download=False)
    message = str(info.value)
    assert str(raw_dir / "train-images-idx3-ubyte") in message
    assert str(raw_dir / "train-labels-idx1-ubyte") in message
    assert "7 images" in message and "6 labels" in message


def test_load_mnist_label_out_of_range_names_file(tmp_path):
    files = synthetic_files()
    labels = SYNTHETIC["train"][1].copy()
    labels[4] = 10
    files["train-labels-idx1-ubyte"] = idx_bytes(labels)
    raw_dir = write_dataset(tmp_path, files=files)
    with pytest.raises(ValueError, match="0..9, found 10 at index 4") as info:
        load_mnist("train", root=tmp_path, download=False)
    assert str(raw_dir / "train-labels-idx1-ubyte") in str(info.value)


def test_load_mnist_wrong_image_size_names_file(tmp_path):
    files = synthetic_files()
    files["t10k-images-idx3-ubyte"] = idx_bytes(np.zeros((3, 28, 27), dtype=np.uint8))
    raw_dir = write_dataset(tmp_path, files=files)
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)") as info:
        load_mnist("test", root=tmp_path, download=False)
    assert str(raw_dir / "t10k-images-idx3-ubyte") in str(info.value)


def test_load_mnist_swapped_files_names_file(tmp_path):
    files = synthetic_files()
    files["t10k-labels-idx1-ubyte"] = files["t10k-images-idx3-ubyte"]
    raw_dir = write_dataset(tmp_path, files=files)
    with pytest.raises(ValueError, match=r"shape \(N,\)") as info:
        load_mnist("test", root=tmp_path, download=False)
    assert str(raw_dir / "t10k-labels-idx1-ubyte") in str(info.value)


def test_load_mnist_corrupt_file_names_file(tmp_path):
    files = synthetic_files()
    files["train-images-idx3-ubyte"] = files["train-images-idx3-ubyte"][:-1]
    raw_dir = write_dataset(tmp_path, gz=True, files=files)
    with pytest.raises(ValueError, match="truncated") as info:
        load_mnist("train", root=tmp_path, download=False)
    assert str(raw_dir / "train-images-idx3-ubyte.gz") in str(info.value)


def _damaged(**replaced: bytes) -> dict[str, bytes]:
    """The synthetic files with some replaced (keyword: file name with ``-`` written as ``_``)."""
    return synthetic_files() | {
        name.replace("_", "-"): content for name, content in replaced.items()
    }


_NO_IMAGES, _NO_LABELS = idx_bytes(np.zeros((0, 28, 28))), idx_bytes(np.zeros(0))

# Damaged splits and the message each gets, on both trainers' data path (the message names the file).
DAMAGED_SPLITS = {
    "label 12": (
        _damaged(train_labels_idx1_ubyte=idx_bytes(np.array([3, 12, 0, 1, 2, 3, 4]))),
        "train-labels-idx1-ubyte: labels must be digits 0..9, found 12 at index 1",
    ),
    "count mismatch": (
        _damaged(train_labels_idx1_ubyte=idx_bytes(np.arange(6))),
        "holds 7 images but",
    ),
    "truncated": (
        _damaged(train_images_idx3_ubyte=synthetic_files()["train-images-idx3-ubyte"][:-100]),
        "train-images-idx3-ubyte: truncated",
    ),
    # Before: 0 training images trained nothing, saved an untrained model, then hit ZeroDivisionError;
    # an empty test set failed with "need at least one array to concatenate" after the whole training.
    "no training images": (
        _damaged(train_images_idx3_ubyte=_NO_IMAGES, train_labels_idx1_ubyte=_NO_LABELS),
        "train-images-idx3-ubyte holds no images",
    ),
    "no test images": (
        _damaged(t10k_images_idx3_ubyte=_NO_IMAGES, t10k_labels_idx1_ubyte=_NO_LABELS),
        "t10k-images-idx3-ubyte holds no images",
    ),
}


@pytest.mark.parametrize("case", ["no training images", "no test images"])
def test_load_mnist_refuses_a_split_without_images(tmp_path, case):
    files, message = DAMAGED_SPLITS[case]
    raw_dir = write_dataset(tmp_path, files=files)
    split = "train" if case == "no training images" else "test"
    with pytest.raises(ValueError, match=message) as info:
        load_mnist(split, root=tmp_path, download=False)
    assert str(raw_dir) in str(info.value)


@pytest.mark.parametrize(
    "header, words",
    [
        (b"", ["magic number 0x00000000"]),  # a file of zeros named like the training images
        (
            struct.pack(">4I", 0x0803, 100_000, 1000, 1000),
            ["declares", "(100000, 1000, 1000)", "93.1 GiB", "MAX_ARRAY_BYTES"],
        ),
    ],
    ids=["zeros", "huge header"],
)
def test_read_idx_refuses_a_gzip_bomb_without_inflating_it(tmp_path, header, words):
    """64 MiB of zeros gzipped into 64 KiB: refused after its header, with a few KiB of memory."""
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(header + bytes(64 << 20), compresslevel=1))
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20, f"peak {peak} bytes: the file was inflated"
    for word in [str(path), *words]:
        assert word in str(info.value)


# --- missing data and downloading -------------------------------------------------------------------


def assert_clear_not_found(error: MNISTNotFoundError, root: Path) -> None:
    message = str(error)
    assert isinstance(error, FileNotFoundError)
    assert str(root / "MNIST" / "raw") in message
    for name in ALL_NAMES:
        assert name in message
    assert DATA_ENV_VAR in message


def no_network(url, timeout):
    raise AssertionError(f"tests must not touch the network ({url})")


def test_missing_without_download(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_files, "_fetch", no_network)
    with pytest.raises(MNISTNotFoundError) as info:
        load_mnist("train", root=tmp_path, download=False)
    assert_clear_not_found(info.value, tmp_path)
    assert "download=False" in str(info.value)


def test_partial_temp_file_is_not_trusted(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_files, "_fetch", no_network)
    raw_dir = write_dataset(tmp_path)
    (raw_dir / "train-images-idx3-ubyte").rename(raw_dir / ".train-images-idx3-ubyte.x1y2.part")
    with pytest.raises(MNISTNotFoundError):
        load_mnist("train", root=tmp_path, download=False)


def test_present_files_are_not_downloaded(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_files, "_fetch", no_network)
    write_dataset(tmp_path)
    images, _ = load_mnist("train", root=tmp_path, download=True)
    assert len(images) == 7


def test_failed_download_raises_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    tried = []

    def offline(url, timeout):
        tried.append(url)
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(mnist_files, "_fetch", offline)
    with pytest.raises(MNISTNotFoundError) as info:
        load_mnist("train", root=tmp_path, download=True)
    assert_clear_not_found(info.value, tmp_path)
    assert "no route to host" in str(info.value)
    assert tried == [mirror + "train-images-idx3-ubyte.gz" for mirror in data.MNIST_MIRRORS]
    assert listing(tmp_path / "MNIST" / "raw") == []


def serve(files: dict[str, bytes], monkeypatch, failing_mirrors: tuple[str, ...] = ()) -> list[str]:
    """Serve gzipped ``files`` through a fake ``_fetch``; patch their MD5s into the expected table."""
    payloads = {f"{name}.gz": gzip.compress(content) for name, content in files.items()}
    for gz_name, payload in payloads.items():
        monkeypatch.setitem(data.MNIST_MD5, gz_name, hashlib.md5(payload).hexdigest())
    fetched = []

    def fake_fetch(url, timeout):
        fetched.append(url)
        if url.startswith(failing_mirrors):
            raise TimeoutError("timed out")
        return payloads[url.rsplit("/", 1)[1]]

    monkeypatch.setattr(mnist_files, "_fetch", fake_fetch)
    return fetched


def test_successful_download_lands_files_and_loads(tmp_path, monkeypatch):
    fetched = serve(synthetic_files(), monkeypatch)
    images, labels = load_mnist("test", root=tmp_path, download=True)
    np.testing.assert_array_equal(images, SYNTHETIC["test"][0])
    np.testing.assert_array_equal(labels, SYNTHETIC["test"][1])
    assert len(fetched) == 4
    # Both forms, as torchvision leaves them, and no temporary files.
    expected = sorted(ALL_NAMES + [f"{name}.gz" for name in ALL_NAMES])
    assert listing(tmp_path / "MNIST" / "raw") == expected
    monkeypatch.setattr(mnist_files, "_fetch", no_network)
    images, _ = load_mnist("train", root=tmp_path, download=False)
    np.testing.assert_array_equal(images, SYNTHETIC["train"][0])


def test_the_mirror_can_be_replaced_by_an_environment_variable(tmp_path, monkeypatch):
    fetched = serve(synthetic_files(), monkeypatch)
    monkeypatch.setenv(data.MIRROR_ENV_VAR, "https://mirror.example.org/mnist")  # no trailing slash
    raw_dir = data.download_mnist(tmp_path, timeout=1)
    assert len(fetched) == 4
    assert all(url.startswith("https://mirror.example.org/mnist/") for url in fetched)
    np.testing.assert_array_equal(
        read_idx(raw_dir / "t10k-labels-idx1-ubyte"), SYNTHETIC["test"][1]
    )


def test_only_the_live_mirror_is_tried():
    assert data.MNIST_MIRRORS == (data.MNIST_URL,) and data.MNIST_URL.startswith("https://")
    assert not any("lecun.com" in url for url in data.mirrors())


def test_a_differently_compressed_copy_passes_by_its_content(tmp_path, monkeypatch):
    files = synthetic_files()
    serve(files, monkeypatch)
    for name, content in files.items():  # the .gz MD5s no longer match; the content MD5s do
        monkeypatch.setitem(data.MNIST_MD5, f"{name}.gz", "0" * 32)
        monkeypatch.setitem(data.MNIST_CONTENT_MD5, name, hashlib.md5(content).hexdigest())
    data.download_mnist(tmp_path)
    np.testing.assert_array_equal(
        read_idx(tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte"), SYNTHETIC["train"][1]
    )


def test_a_local_mirror_of_the_real_files_is_accepted(
    tmp_path, monkeypatch, mnist_root_for_torchvision
):
    """A file:// mirror holding gzipped copies of the real files (compressed here, so their .gz MD5s
    differ from torchvision's): the real files' content MD5s accept them."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in ALL_NAMES:
        (mirror / f"{name}.gz").write_bytes(
            gzip.compress((mnist_root_for_torchvision / "MNIST" / "raw" / name).read_bytes())
        )
    monkeypatch.setenv(data.MIRROR_ENV_VAR, mirror.as_uri())
    raw_dir = data.download_mnist(tmp_path / "root")
    for name in ALL_NAMES:
        assert (raw_dir / name).read_bytes() == (
            mnist_root_for_torchvision / "MNIST" / "raw" / name
        ).read_bytes()


def test_download_skips_present_files(tmp_path, monkeypatch):
    files = synthetic_files()
    write_dataset(tmp_path, files={name: files[name] for name in MNIST_FILES["train"]})
    fetched = serve(files, monkeypatch)
    data.download_mnist(tmp_path)
    assert [url.rsplit("/", 1)[1] for url in fetched] == [
        f"{name}.gz" for name in MNIST_FILES["test"]
    ]


def test_md5_mismatch_raises_and_leaves_nothing(tmp_path, monkeypatch):
    serve(synthetic_files(), monkeypatch)
    for gz_name in data.MNIST_MD5:
        monkeypatch.setitem(data.MNIST_MD5, gz_name, "0" * 32)
    with pytest.raises(data.MNISTDownloadError, match="MD5"):
        data.download_mnist(tmp_path)
    assert listing(tmp_path / "MNIST" / "raw") == []
    with pytest.raises(MNISTNotFoundError, match="MD5") as info:
        load_mnist("train", root=tmp_path)
    assert_clear_not_found(info.value, tmp_path)
    assert listing(tmp_path / "MNIST" / "raw") == []


def test_data_module_does_not_import_torch():
    code = "import sys, cnn_tutorial.data; assert 'torch' not in sys.modules"
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1]
    )


# --- resolve_root -----------------------------------------------------------------------------------


def test_resolve_root_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "from-env"))
    assert resolve_root(tmp_path / "argument") == tmp_path / "argument"
    assert resolve_root() == tmp_path / "from-env"
    monkeypatch.delenv(DATA_ENV_VAR)
    assert resolve_root() == data.DEFAULT_ROOT
    monkeypatch.setenv(DATA_ENV_VAR, "")
    assert resolve_root() == data.DEFAULT_ROOT


def test_resolve_root_expands_user(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_root("~/mnist") == tmp_path / "mnist"


def test_default_root_rule(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert mnist_files._default_root() == tmp_path / "cache" / "cnn_tutorial"
    monkeypatch.setenv("HOME", str(tmp_path))
    for unusable in ("", "relative/cache"):
        monkeypatch.setenv("XDG_CACHE_HOME", unusable)
        assert mnist_files._default_root() == tmp_path / ".cache" / "cnn_tutorial"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert mnist_files._default_root() == tmp_path / ".cache" / "cnn_tutorial"


# --- the real data ----------------------------------------------------------------------------------

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def real_train(mnist_root):
    return load_mnist("train", root=mnist_root, download=False)


@pytest.mark.parametrize(
    "split, n, counts", [("train", 60000, TRAIN_COUNTS), ("test", 10000, TEST_COUNTS)]
)
def test_real_mnist(split, n, counts, mnist_root):
    images, labels = load_mnist(split, root=mnist_root, download=False)
    assert images.shape == (n, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.int64
    assert np.bincount(labels, minlength=10).tolist() == counts


def test_real_mnist_normalized_statistics(real_train):
    x = normalize(real_train[0])
    assert x.shape == (60000, 1, 28, 28) and x.dtype == np.float32
    assert abs(x.mean(dtype=np.float64)) < 1e-3
    assert abs(x.std(dtype=np.float64) - 1) < 1e-3


def test_real_splits_hold_out_the_same_5000_training_images_in_every_run(real_train, mnist_root):
    train, validation, test = load_mnist_splits(root=mnist_root, download=False)
    assert [len(images) for images, _ in (train, validation, test)] == [55_000, 5_000, 10_000]
    again = load_mnist_splits(root=mnist_root, download=False, train_limit=100)
    assert np.array_equal(
        again[1][0], validation[0]
    )  # a train_limit does not move the validation set
    assert np.array_equal(again[0][0], train[0][:100])
    # Every digit is held out in about its share (10 %, +-2 points, of 5,000 images).
    assert np.all(
        np.abs(np.bincount(validation[1], minlength=10) / 5_000 - np.array(TRAIN_COUNTS) / 60_000)
        < 0.02
    )


# --- the validation split ---------------------------------------------------------------------------


def test_split_validation_is_a_seeded_partition_in_the_original_order():
    images = np.arange(100) * 10
    labels = np.arange(100) % 10
    (train_x, train_y), (val_x, val_y) = split_validation(images, labels, size=20)
    assert len(train_x) == 80 and len(val_x) == 20
    assert np.array_equal(np.sort(np.concatenate([train_x, val_x])), images)  # every image once
    assert np.all(np.diff(train_x) > 0) and np.all(np.diff(val_x) > 0)  # original order kept
    assert np.array_equal(train_y, (train_x // 10) % 10) and np.array_equal(
        val_y, (val_x // 10) % 10
    )
    (_, _), (same, _) = split_validation(images, labels, size=20)
    (_, _), (other, _) = split_validation(images, labels, size=20, seed=1)
    assert np.array_equal(same, val_x) and not np.array_equal(other, val_x)
    assert not np.array_equal(val_x, images[:20])  # drawn at random, not the first 20


@pytest.mark.parametrize(
    "size, error, match",
    [
        (0, ValueError, "validation_size must be >= 1"),
        (10, ValueError, "less than the 10 training images"),
        (2.5, TypeError, "validation_size"),
    ],
)
def test_split_validation_rejects_bad_sizes(size, error, match):
    with pytest.raises(error, match=match):
        split_validation(np.zeros(10), np.zeros(10), size=size)


def test_split_validation_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="differ in length"):
        split_validation(np.zeros(10), np.zeros(9), size=2)


# --- pixel_statistics -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, chunk", [((7, 5, 3), 1), ((7, 5, 3), 3), ((7, 5, 3), 100), ((1, 1), 1)]
)
def test_pixel_statistics_equal_numpys_mean_and_std(shape, chunk):
    images = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    mean, std = pixel_statistics(images, chunk=chunk)
    assert isinstance(mean, float) and isinstance(std, float)
    np.testing.assert_allclose(mean, images.mean() / 255, rtol=1e-13)
    np.testing.assert_allclose(std, images.std() / 255, rtol=1e-12, atol=1e-15)


def test_real_mnist_pixel_statistics_are_the_normalisation_constants(real_train):
    mean, std = pixel_statistics(real_train[0])
    assert round(mean, 4) == MNIST_MEAN and round(std, 4) == MNIST_STD


@pytest.mark.parametrize(
    "images, chunk, error, match",
    [
        (np.zeros((2, 3), dtype=np.float32), 1000, TypeError, "uint8"),
        (np.zeros((0, 3), dtype=np.uint8), 1000, ValueError, "N >= 1"),
        (np.uint8(3), 1000, ValueError, "shape"),
        (np.zeros((2, 3), dtype=np.uint8), 0, ValueError, "chunk"),
    ],
)
def test_pixel_statistics_refuse_bad_input(images, chunk, error, match):
    with pytest.raises(error, match=match):
        pixel_statistics(images, chunk=chunk)


# --- normalize --------------------------------------------------------------------------------------


def test_normalize_values_and_channel_axis():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    expected = ((images / 255 - data.MNIST_MEAN) / data.MNIST_STD)[:, None]
    x = normalize(images)
    assert x.shape == (1, 1, 2, 2) and x.dtype == np.float32
    np.testing.assert_allclose(x, expected, rtol=1e-6)
    np.testing.assert_array_equal(normalize(images[:, None]), x)


@pytest.mark.parametrize(
    "images, error",
    [
        (np.zeros((2, 28, 28), dtype=np.float32), TypeError),
        (np.zeros((28, 28), dtype=np.uint8), ValueError),
        (np.zeros((2, 3, 28, 28), dtype=np.uint8), ValueError),
    ],
    ids=["float", "2-D", "3 channels"],
)
def test_normalize_rejects_bad_input(images, error):
    with pytest.raises(error):
        normalize(images)


# --- minibatches ------------------------------------------------------------------------------------


def epoch_indices(n: int, **kwargs) -> list[np.ndarray]:
    images = np.arange(n)
    labels = np.arange(n) * 10
    batches = list(minibatches(images, labels, **kwargs))
    for x, y in batches:
        np.testing.assert_array_equal(y, x * 10)
    return [x for x, _ in batches]


def test_minibatches_cover_every_index_once():
    batches = epoch_indices(103, batch_size=10, seed=0)
    assert [len(b) for b in batches] == [10] * 10 + [3]
    assert sorted(np.concatenate(batches).tolist()) == list(range(103))
    assert len(batches) == num_batches(103, 10)


def test_minibatches_seed_controls_order():
    same = [epoch_indices(100, batch_size=16, seed=7) for _ in range(2)]
    np.testing.assert_array_equal(np.concatenate(same[0]), np.concatenate(same[1]))
    other = np.concatenate(epoch_indices(100, batch_size=16, seed=8))
    assert not np.array_equal(np.concatenate(same[0]), other)
    assert not np.array_equal(np.concatenate(same[0]), np.arange(100))


def test_minibatches_without_shuffle_in_order():
    batches = epoch_indices(7, batch_size=3, shuffle=False)
    assert [b.tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]


def test_minibatches_drop_last():
    batches = epoch_indices(103, batch_size=10, seed=0, drop_last=True)
    assert [len(b) for b in batches] == [10] * 10
    assert len(np.unique(np.concatenate(batches))) == 100
    assert len(batches) == num_batches(103, 10, drop_last=True)
    assert epoch_indices(5, batch_size=10, drop_last=True) == []


def test_minibatches_multidimensional_samples():
    images, labels = SYNTHETIC["train"]
    x, y = next(minibatches(normalize(images), labels, batch_size=4, seed=0))
    assert x.shape == (4, 1, 28, 28) and y.shape == (4,)


@pytest.mark.parametrize("batch_size, error", [(0, ValueError), (-1, ValueError), (2.5, TypeError)])
def test_minibatches_bad_batch_size(batch_size, error):
    with pytest.raises(error):
        minibatches(np.arange(5), np.arange(5), batch_size=batch_size)


def test_minibatches_length_mismatch():
    with pytest.raises(ValueError, match="5 vs 4"):
        minibatches(np.arange(5), np.arange(4), batch_size=2)


@pytest.mark.parametrize(
    "n, batch_size, drop_last, expected",
    [
        (0, 4, False, 0),
        (8, 4, False, 2),
        (9, 4, False, 3),
        (9, 4, True, 2),
        (3, 4, True, 0),
        (60000, 32, False, 1875),
    ],
)
def test_num_batches(n, batch_size, drop_last, expected):
    assert num_batches(n, batch_size, drop_last) == expected


def test_num_batches_bad_arguments():
    with pytest.raises(ValueError):
        num_batches(10, 0)
    with pytest.raises(ValueError):
        num_batches(-1, 4)
