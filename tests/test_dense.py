"""The dense network of "Why convolutions": gradients against PyTorch autograd and finite
differences, the plain training loop, and the choice of learning rate on validation data."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_tutorial import ops
from cnn_tutorial.dense import MLP, accuracy, train, train_with_best_rate
from cnn_tutorial.gradcheck import gradcheck


def _batch(n=6, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 28, 28)).astype(dtype), rng.integers(0, 10, n)


def _float64(net):
    net.params = {name: value.astype(np.float64) for name, value in net.params.items()}
    return net


def test_shapes_and_initialisation():
    net = MLP(hidden=100, seed=3)
    assert {name: value.shape for name, value in net.params.items()} == {
        "A1": (100, 784),
        "b1": (100,),
        "A2": (10, 100),
        "b2": (10,),
    }
    assert all(value.dtype == np.float32 for value in net.params.values())
    assert net.params["A1"].std() == pytest.approx(np.sqrt(2 / 784), rel=0.05)
    assert net.params["A2"].std() == pytest.approx(np.sqrt(1 / 100), rel=0.1)
    assert not net.params["b1"].any() and not net.params["b2"].any()
    assert sum(value.size for value in net.params.values()) == 784 * 100 + 100 + 100 * 10 + 10
    x, _ = _batch(dtype=np.float32)
    logits, _ = net.forward(x)
    assert logits.shape == (6, 10) and logits.dtype == np.float32
    assert np.array_equal(MLP(seed=3).params["A1"], net.params["A1"])
    assert not np.array_equal(MLP(seed=4).params["A1"], net.params["A1"])


def test_gradients_match_pytorch_autograd():
    net = _float64(MLP(hidden=20, seed=1))
    x, labels = _batch()
    loss, grads = net.loss_and_gradients(x, labels)
    params = {name: torch.tensor(value, requires_grad=True) for name, value in net.params.items()}
    hidden = F.relu(F.linear(torch.tensor(x).flatten(1), params["A1"], params["b1"]))
    torch_loss = F.cross_entropy(F.linear(hidden, params["A2"], params["b2"]), torch.tensor(labels))
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
    for name, value in params.items():
        np.testing.assert_allclose(grads[name], value.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["A1", "b1", "A2", "b2"])
def test_gradients_match_finite_differences(name):
    net = _float64(MLP(hidden=12, seed=2))
    x, labels = _batch(n=4, seed=5)
    _, grads = net.loss_and_gradients(x, labels)

    def loss(_):
        return ops.cross_entropy(net.forward(x)[0], labels)

    assert gradcheck(loss, net.params[name], grads[name]) < 1e-6


def test_dense_backward_formulas_with_shapes():
    """The chapter's formulas: dX = dY A, dA = dY^T X, db = dY summed over the batch."""
    rng = np.random.default_rng(0)
    x, a, b = rng.standard_normal((5, 7)), rng.standard_normal((3, 7)), rng.standard_normal(3)
    g = rng.standard_normal((5, 3))
    np.testing.assert_allclose(ops.dense(x, a, b), x @ a.T + b)
    dx, da, db = ops.dense_backward(g, x, a)
    assert (dx.shape, da.shape, db.shape) == (x.shape, a.shape, b.shape)
    assert gradcheck(lambda _: np.sum(g * ops.dense(x, a, b)), x, dx) < 1e-8
    assert gradcheck(lambda _: np.sum(g * ops.dense(x, a, b)), a, da) < 1e-8
    assert gradcheck(lambda _: np.sum(g * ops.dense(x, a, b)), b, db) < 1e-8


def test_train_lowers_the_loss_and_repeats_with_its_seed():
    x, labels = _batch(n=64, seed=1, dtype=np.float32)
    runs = []
    for _ in range(2):
        net = MLP(hidden=16, seed=0)
        losses = train(net, x, labels, epochs=20, batch_size=16, lr=0.05, seed=7)
        runs.append((losses, net.params["A1"].copy()))
    losses, weights = runs[0]
    assert losses.shape == (20 * 4,)
    assert losses[-4:].mean() < 0.5 * losses[:4].mean()
    assert np.array_equal(losses, runs[1][0]) and np.array_equal(weights, runs[1][1])
    assert accuracy(net, x, labels) > 0.9  # memorises 64 random images


def test_train_rejects_bad_arguments():
    net = MLP(hidden=4)
    x, labels = _batch(n=4, dtype=np.float32)
    with pytest.raises(ValueError, match="x must be a 4-D array"):
        train(net, x[:, 0], labels)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        train(net, x, labels, epochs=0)
    with pytest.raises(ValueError, match="lr"):
        train(net, x, labels, lr=-1.0)
    with pytest.raises(ValueError, match="hidden must be >= 1"):
        MLP(hidden=0)


def test_train_with_best_rate_keeps_the_most_accurate_on_validation():
    x, labels = _batch(n=64, seed=1, dtype=np.float32)
    rates = [1e-6, 0.05]
    net, rate, validation = train_with_best_rate(
        lambda seed: MLP(hidden=16, seed=seed),
        x,
        labels,
        x,
        labels,
        rates,
        seed=0,
        epochs=10,
        batch_size=16,
    )
    assert list(validation) == rates
    assert rate == 0.05 and validation[0.05] > validation[1e-6]
    assert accuracy(net, x, labels) == validation[0.05]
    again = MLP(hidden=16, seed=0)
    train(again, x, labels, epochs=10, batch_size=16, lr=0.05, seed=0)
    assert np.array_equal(again.params["A2"], net.params["A2"])
