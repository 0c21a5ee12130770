"""The shift experiment of "Why convolutions": moving images by whole pixels, the small CNN's
gradients, convolution's equivariance, accuracy by shift and its figure."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_tutorial import ops
from cnn_tutorial.data import normalize
from cnn_tutorial.shifts import (
    DIRECTIONS,
    SmallCNN,
    accuracy_by_shift,
    plot_accuracy_by_shift,
    shift_images,
    shift_randomly,
)


def test_shift_images_moves_pixels_and_fills_zeros():
    image = np.arange(1, 13).reshape(3, 4)
    assert np.array_equal(shift_images(image, 0, 1), [[0, 1, 2, 3], [0, 5, 6, 7], [0, 9, 10, 11]])
    assert np.array_equal(shift_images(image, -1, 0), [[5, 6, 7, 8], [9, 10, 11, 12], [0, 0, 0, 0]])
    assert np.array_equal(shift_images(image, 1, -2), [[0, 0, 0, 0], [3, 4, 0, 0], [7, 8, 0, 0]])
    assert np.array_equal(shift_images(image, 0, 0), image)
    assert not shift_images(image, 3, 0).any() and not shift_images(image, 0, -4).any()
    batch = np.stack([image, 2 * image])[:, None]  # (2, 1, 3, 4): every leading axis kept
    assert np.array_equal(shift_images(batch, 1, 1)[1, 0], shift_images(2 * image, 1, 1))
    assert shift_images(image.astype(np.uint8), 1, 1).dtype == np.uint8


def test_shift_randomly_moves_each_image_one_way_seeded():
    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, (40, 8, 8)).astype(np.uint8)
    assert np.array_equal(shift_randomly(images, 0), images)
    moved = shift_randomly(images, 2, seed=3)
    assert np.array_equal(moved, shift_randomly(images, 2, seed=3))
    used = set()
    for image, result in zip(images, moved):
        matches = [
            d
            for d, (rows, columns) in enumerate(DIRECTIONS)
            if np.array_equal(result, shift_images(image, 2 * rows, 2 * columns))
        ]
        assert len(matches) == 1
        used.add(matches[0])
    assert used == set(range(4))
    with pytest.raises(ValueError, match="distance must be >= 0"):
        shift_randomly(images, -1)


def test_convolution_is_equivariant_away_from_the_border():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 1, 16, 16))
    k, b = rng.standard_normal((3, 1, 5, 5)), rng.standard_normal(3)
    for rows, columns in [(0, 2), (-1, 0), (3, -2)]:
        left = ops.conv2d(shift_images(x, rows, columns), k, b)
        right = shift_images(ops.conv2d(x, k, b), rows, columns)
        # Compare where neither side saw the filled border: drop |shift| + 4 rows/columns.
        inner = (
            slice(None),
            slice(None),
            slice(abs(rows) + 4, -abs(rows) - 4 or None),
            slice(abs(columns) + 4, -abs(columns) - 4 or None),
        )
        np.testing.assert_allclose(left[inner], right[inner], rtol=1e-12, atol=1e-12)


def test_small_cnn_gradients_match_pytorch_autograd():
    net = SmallCNN(filters=3, seed=2)
    net.params = {name: value.astype(np.float64) for name, value in net.params.items()}
    assert net.params["A2"].shape == (10, 3 * 12 * 12)
    rng = np.random.default_rng(4)
    x, labels = rng.standard_normal((5, 1, 28, 28)), rng.integers(0, 10, 5)
    loss, grads = net.loss_and_gradients(x, labels)
    params = {name: torch.tensor(value, requires_grad=True) for name, value in net.params.items()}
    h = F.max_pool2d(F.relu(F.conv2d(torch.tensor(x), params["K1"], params["b1"])), 2).flatten(1)
    torch_loss = F.cross_entropy(F.linear(h, params["A2"], params["b2"]), torch.tensor(labels))
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
    for name, value in params.items():
        np.testing.assert_allclose(grads[name], value.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert net.predict(x, batch_size=2).shape == (5,)


class _Oracle:
    """Knows the label of each unshifted image; calls anything else a 0."""

    def __init__(self, images, labels):
        self.known = {
            normalize(image[None])[0].tobytes(): label for image, label in zip(images, labels)
        }

    def predict(self, x):
        return np.array([self.known.get(image.tobytes(), 0) for image in x])


def test_accuracy_by_shift_tests_shifted_then_normalised_images():
    rng = np.random.default_rng(0)
    images = rng.integers(1, 256, (20, 28, 28)).astype(np.uint8)
    labels = np.arange(20) % 9 + 1  # never 0
    accuracies = accuracy_by_shift(_Oracle(images, labels), images, labels, distances=[0, 1, 3])
    assert accuracies.shape == (3,) and accuracies.dtype == np.float64
    assert np.array_equal(accuracies, [1.0, 0.0, 0.0])


def test_accuracy_figure_draws_the_percentages():
    distances = [0, 1, 2]
    accuracies = {"MLP": np.array([0.9, 0.5, 0.2]), "CNN": np.array([0.95, 0.8, 0.5])}
    fig = plot_accuracy_by_shift(distances, accuracies)
    for name, values in accuracies.items():
        drawn = fig.select_one({"name": name}).data_source.data
        assert list(drawn["x"]) == distances
        np.testing.assert_array_equal(drawn["y"], 100 * values)
    assert (fig.y_range.start, fig.y_range.end) == (0, 100)
    assert [item.label.value for item in fig.legend[0].items] == ["MLP", "CNN"]
