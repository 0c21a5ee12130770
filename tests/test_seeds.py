"""One seed, two independent streams: initial weights and shuffling never share random numbers."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_tutorial import numpy_net
from cnn_tutorial.numpy_net import NumpyCNN, fit
from cnn_tutorial.seeds import run_streams, torch_seed


def test_run_streams_repeat_for_a_seed_and_differ_between_streams_and_seeds():
    draw = lambda stream: np.random.default_rng(stream).random(4)  # noqa: E731
    init0, shuffle0 = run_streams(0)
    assert np.array_equal(draw(init0), draw(run_streams(0)[0]))
    assert not np.array_equal(draw(init0), draw(shuffle0))
    assert not np.array_equal(draw(shuffle0), draw(run_streams(1)[1]))
    assert torch_seed(init0) != torch_seed(shuffle0)
    assert 0 <= torch_seed(init0) < 2**64
    with pytest.raises(ValueError, match="seed"):
        run_streams(-1)


REAL_MINIBATCHES = numpy_net.minibatches


def _epoch_orders(monkeypatch, seed: int, epochs: int = 2) -> list[list[int]]:
    """The order in which ``fit`` visits 20 images in each epoch (image i has first pixel i)."""
    images = np.zeros((20, 1, 28, 28), dtype=np.float32)
    images[:, 0, 0, 0] = np.arange(20)
    labels = np.arange(20) % 10
    orders = []

    def spy(*args, **kwargs):
        batches = list(REAL_MINIBATCHES(*args, **kwargs))
        orders.append([int(i) for x, _ in batches for i in x[:, 0, 0, 0]])
        return iter(batches)

    monkeypatch.setattr(numpy_net, "minibatches", spy)
    fit(
        NumpyCNN.initialize(seed),
        images,
        labels,
        images[:2],
        labels[:2],
        epochs=epochs,
        batch_size=20,
        seed=seed,
        progress=False,
    )
    return orders


def test_no_epoch_of_one_run_shuffles_like_an_epoch_of_another(monkeypatch):
    """With seed + epoch, run 0's second epoch shuffled exactly like run 1's first."""
    run0, run1 = _epoch_orders(monkeypatch, 0), _epoch_orders(monkeypatch, 1)
    assert sorted(run0[0]) == sorted(run0[1]) == list(range(20))
    assert run0[1] != run1[0]
    assert run0[0] != run0[1]
    assert _epoch_orders(monkeypatch, 0) == run0  # and a seed still repeats its run


def test_numpy_weights_come_from_the_initialisation_stream_only():
    init, shuffle = run_streams(3)
    expected = np.random.default_rng(init).normal(
        0.0, 1.0 / np.sqrt(8 * 1 * 5 * 5), size=(8, 1, 5, 5)
    )
    np.testing.assert_array_equal(NumpyCNN.initialize(3).params["f1"], expected.astype(np.float32))


def test_torch_weights_and_shuffling_use_the_two_streams(monkeypatch, tmp_path):
    torch = pytest.importorskip("torch")
    from cnn_tutorial.history import Evaluation
    from cnn_tutorial.pytorch import training as torch_training
    from cnn_tutorial.pytorch.model import ConvNet
    from tests.test_data import write_dataset

    write_dataset(tmp_path)
    seen = {}

    def first_epoch_only(model, optimizer, batches, device, bar=None, scaler=None):
        seen["fc2"] = model.fc2.weight.detach().clone()
        seen["shuffle seed"] = batches.generator.initial_seed()
        return [2.3], [0.1]

    monkeypatch.setattr(torch_training, "train_epoch", first_epoch_only)
    monkeypatch.setattr(
        torch_training, "evaluate", lambda model, loader: Evaluation(loss=0.3, accuracy=0.5)
    )
    torch_training.train_torch(
        epochs=1,
        seed=7,
        root=tmp_path,
        download=False,
        device="cpu",
        progress=False,
        validation_size=2,
    )
    init, shuffle = run_streams(7)
    torch.manual_seed(torch_seed(init))
    assert torch.equal(seen["fc2"], ConvNet().fc2.weight)
    assert seen["shuffle seed"] == torch_seed(shuffle)
