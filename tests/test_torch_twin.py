"""Tests for cnn_tutorial.pytorch.twin: the numpy CNN in PyTorch, and both trained side by side."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from cnn_tutorial.data import minibatches
from cnn_tutorial.numpy_net import PARAM_SHAPES, Adam, NumpyCNN, learning_rate
from cnn_tutorial.pytorch.twin import TORCH_NAMES, NumpyCNNTwin, train_side_by_side
from cnn_tutorial.seeds import run_streams


def trained_like_params(dtype, seed: int = 0) -> dict:
    """Weights with He-scaled filters and dense layers, so the logits are of order 1 (not 0.01 as at
    initialisation) and every layer's error shows; biases non-zero."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in PARAM_SHAPES.items():
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        scale = np.sqrt(2.0 / fan_in) if len(shape) > 1 else 0.1
        params[name] = (rng.standard_normal(shape) * scale).astype(dtype)
    return params


def numpy_net_with(params: dict) -> NumpyCNN:
    """A NumpyCNN holding ``params`` in their own dtype (NumpyCNN itself stores float32)."""
    net = NumpyCNN(params)
    net.params = {name: np.array(value) for name, value in params.items()}
    return net


def batch(n: int = 16, seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, n)


def twin_logits(twin: NumpyCNNTwin, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return twin(torch.from_numpy(x).to(twin.fc1.weight.dtype)).numpy()


def test_parameter_names_and_shapes_match_the_numpy_network():
    shapes = {name: tuple(p.shape) for name, p in NumpyCNNTwin().named_parameters()}
    assert shapes == {TORCH_NAMES[name]: shape for name, shape in PARAM_SHAPES.items()}


@pytest.mark.parametrize(
    "dtype, rtol, atol", [(np.float64, 1e-12, 1e-13), (np.float32, 1e-5, 1e-5)]
)
def test_same_logits_as_numpy_forward(dtype, rtol, atol):
    params = trained_like_params(dtype)
    x, _ = batch()
    expected, _ = numpy_net_with(params).forward(x)
    assert expected.dtype == dtype
    logits = twin_logits(NumpyCNNTwin.from_numpy_params(params, dtype), x)
    assert logits.dtype == dtype
    assert np.abs(expected).max() > 1  # the comparison is not of near-zero numbers
    np.testing.assert_allclose(logits, expected, rtol=rtol, atol=atol)


def test_same_logits_as_numpy_at_the_classic_initialisation():
    net = NumpyCNN.initialize(seed=0)
    x, _ = batch()
    np.testing.assert_allclose(
        twin_logits(NumpyCNNTwin.from_numpy_params(net.params), x),
        net.forward(x)[0],
        rtol=1e-5,
        atol=1e-7,
    )


@pytest.mark.parametrize(
    "dtype, rtol, atol", [(np.float64, 1e-10, 1e-14), (np.float32, 2e-3, 1e-6)]
)
def test_same_gradients_as_numpy_backward(dtype, rtol, atol):
    params = trained_like_params(dtype)
    x, labels = batch()
    loss, _, grads = numpy_net_with(params).loss_and_gradients(x, labels)
    twin = NumpyCNNTwin.from_numpy_params(params, dtype)
    torch_loss = F.cross_entropy(
        twin(torch.from_numpy(x).to(twin.fc1.weight.dtype)), torch.from_numpy(labels)
    )
    torch_loss.backward()
    assert torch_loss.item() == pytest.approx(loss, rel=rtol)
    tensors = dict(twin.named_parameters())
    for name, grad in grads.items():
        torch_grad = tensors[TORCH_NAMES[name]].grad.numpy()
        scale = np.abs(grad).max()
        assert scale > 0, name
        np.testing.assert_allclose(torch_grad, grad, rtol=rtol, atol=atol * scale, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parameters_round_trip_exactly(dtype):
    params = trained_like_params(dtype)
    back = NumpyCNNTwin.from_numpy_params(params, dtype).to_numpy_params()
    assert back.keys() == params.keys()
    for name, value in params.items():
        assert back[name].dtype == dtype
        np.testing.assert_array_equal(back[name], value)


def test_copies_are_independent_and_classic_column_biases_are_accepted():
    params = trained_like_params(np.float32)
    params["b1"] = params["b1"].reshape(8, 1)  # the classic (F, 1) layout
    twin = NumpyCNNTwin.from_numpy_params(params)
    np.testing.assert_array_equal(twin.conv1.bias.detach().numpy(), params["b1"].ravel())
    params["f1"][...] = 0
    assert twin.conv1.weight.abs().sum() > 0
    back = twin.to_numpy_params()
    back["w3"][...] = 0
    assert twin.fc1.weight.abs().sum() > 0


def test_float32_weights_are_exact_in_a_float64_twin():
    params = trained_like_params(np.float32)
    back = NumpyCNNTwin.from_numpy_params(params, np.float64).to_numpy_params()
    for name, value in params.items():
        np.testing.assert_array_equal(back[name], value.astype(np.float64))


@pytest.mark.parametrize(
    "change, error, message",
    [
        (lambda p: p.pop("w3"), ValueError, r"missing \['w3'\]"),
        (
            lambda p: p.update(f2=np.zeros((8, 8, 3, 3))),
            ValueError,
            r"params\['f2'\] must have shape \(8, 8, 5, 5\)",
        ),
        (
            lambda p: p.update(b4=np.zeros(10, dtype=np.int64)),
            TypeError,
            r"params\['b4'\] must hold floats",
        ),
    ],
)
def test_from_numpy_params_rejects_bad_params(change, error, message):
    params = trained_like_params(np.float32)
    change(params)
    with pytest.raises(error, match=message):
        NumpyCNNTwin.from_numpy_params(params)


@pytest.mark.parametrize(
    "dtype, error",
    [
        (np.float16, ValueError),
        ("int32", ValueError),
        (None, TypeError),
        (torch.float32, TypeError),
    ],
)
def test_from_numpy_params_rejects_other_dtypes(dtype, error):
    with pytest.raises(error, match="dtype must be numpy.float32 or numpy.float64"):
        NumpyCNNTwin.from_numpy_params(trained_like_params(np.float32), dtype)


def test_from_numpy_params_needs_a_dict():
    with pytest.raises(TypeError, match="params must be a dict"):
        NumpyCNNTwin.from_numpy_params([np.zeros(3)])


@pytest.fixture(scope="module")
def mnist_images(mnist_train):
    images, labels = mnist_train
    return images[:3200], labels[:3200]


# Measured over the chapter's run (55,000 images, batch 32, seed 0), with 1 and 2 threads and conv2
# by the simple im2col route or the Fourier route, OpenBLAS 0.3 and PyTorch 2.x on x86: in float32
# the losses differ by <= 4e-6 over the first 20 steps, <= 9e-3 over 100, and the weights by
# <= 2e-2 after 100 steps (a few weights that Adam moves a full step apart on a gradient that is
# mostly rounding); in float64 by <= 1e-14 and <= 2e-13. The bounds leave a margin of 5x or more.
@pytest.mark.parametrize(
    "dtype, first_20_tolerance, loss_tolerance, weight_tolerance",
    [
        (np.float64, 1e-12, 1e-12, 1e-11),
        (np.float32, 1e-4, 5e-2, 1e-1),
    ],
)
def test_side_by_side_training_agrees(
    mnist_images, dtype, first_20_tolerance, loss_tolerance, weight_tolerance
):
    images, labels = mnist_images
    steps = 100
    run = train_side_by_side(images, labels, steps, dtype=dtype, compare_every=25)
    assert run.numpy_losses.shape == run.torch_losses.shape == (steps,)
    np.testing.assert_array_equal(run.checked_steps, [25, 50, 75, 100])
    assert run.loss_difference[:20].max() < first_20_tolerance
    assert run.loss_difference.max() < loss_tolerance
    assert run.max_weight_difference.max() < weight_tolerance
    assert run.numpy_losses[-20:].mean() < 0.7 * run.numpy_losses[0]  # it learned something
    for name, value in run.twin.to_numpy_params().items():
        assert value.dtype == dtype
        np.testing.assert_allclose(
            value, run.net.params[name], rtol=0, atol=weight_tolerance, err_msg=name
        )


def test_side_by_side_follows_fits_recipe(mnist_images):
    """The numpy half is numpy_net.fit's loop: weights from NumpyCNN.initialize(seed), batches from
    the seed's shuffling stream (a new order each epoch), the learning rate of each step from
    learning_rate(), planned for ``epochs`` epochs. Written out here so that this test does not
    depend on fit's signature."""
    images, labels = mnist_images
    images, labels = images[:320], labels[:320]  # 10 batches an epoch, so 25 steps span 3 epochs
    steps, lr = 25, 2e-3
    run = train_side_by_side(images, labels, steps, lr=lr, epochs=3, seed=4, compare_every=5)

    net = NumpyCNN.initialize(seed=4)
    adam = Adam(net.params, lr=lr)
    shuffling = np.random.default_rng(run_streams(4)[1])
    losses = []
    for _ in range(3):
        for x, y in minibatches(images, labels, 32, seed=shuffling):
            if len(losses) == steps:
                break
            adam.lr = learning_rate(lr, "cosine", len(losses), 30, 10)
            loss, _, grads = net.loss_and_gradients(x, y)
            adam.step(grads)
            losses.append(loss)
    np.testing.assert_array_equal(run.numpy_losses, losses)
    for name, value in net.params.items():
        np.testing.assert_array_equal(run.net.params[name], value)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(steps=0), ValueError, "steps must be >= 1"),
        (dict(steps=2.0), TypeError, "steps must be an integer"),
        (
            dict(steps=5, epochs=1, batch_size=64),
            ValueError,
            r"steps must be <= 1 \(1 epochs of 1 batches\)",
        ),
        (dict(batch_size=0), ValueError, "batch_size must be >= 1"),
        (dict(lr=-1.0), ValueError, "lr must be a positive finite number"),
        (dict(schedule="linear"), ValueError, "schedule must be one of"),
        (dict(epochs=0), ValueError, "epochs must be >= 1"),
        (dict(seed=-1), ValueError, "seed must be >= 0"),
        (dict(compare_every=0), ValueError, "compare_every must be >= 1"),
        (dict(dtype=np.int32), ValueError, "dtype must be numpy.float32 or numpy.float64"),
        (dict(images=np.zeros((4, 28, 28), np.float32)), ValueError, r"images must be a 4-D array"),
        (
            dict(images=np.zeros((4, 1, 32, 32), np.float32)),
            ValueError,
            r"images must have shape \(N, 1, 28, 28\)",
        ),
        (dict(images=np.zeros((4, 1, 28, 28), np.uint8)), TypeError, "images must be float32"),
        (dict(images=np.zeros((4, 1, 28, 28), np.float64)), TypeError, "images must be float32"),
        (dict(labels=np.zeros(3, np.int64)), ValueError, r"labels must have shape \(4,\)"),
        (dict(labels=np.zeros(4)), TypeError, "labels must be integer class indices"),
        (
            dict(images=np.zeros((0, 1, 28, 28), np.float32), labels=np.zeros(0, np.int64)),
            ValueError,
            "images is empty",
        ),
    ],
)
def test_side_by_side_rejects_bad_arguments(kwargs, error, message):
    arguments = dict(
        images=np.zeros((4, 1, 28, 28), np.float32), labels=np.zeros(4, np.int64), steps=1
    )
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        train_side_by_side(**arguments)
