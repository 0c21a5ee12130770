"""The numpy CNN: gradients against PyTorch autograd, Adam against torch.optim.Adam, training, saving."""

import io
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_tutorial import numpy_net, ops, optimizer
from cnn_tutorial.numpy_net import PARAM_SHAPES, NumpyCNN, evaluate, fit
from cnn_tutorial.optimizer import Adam, learning_rate


def test_numpy_net_still_exports_the_optimizer():
    """Adam and the schedules live in optimizer; numpy_net re-exports the same objects."""
    for name in optimizer.__all__:
        assert getattr(numpy_net, name) is getattr(optimizer, name), name
        assert name in numpy_net.__all__, name


def _torch_loss(params, x, labels):
    """The same network written with torch.nn.functional, for autograd to differentiate."""
    h = F.relu(F.conv2d(x, params["f1"], params["b1"]))
    h = F.relu(F.conv2d(h, params["f2"], params["b2"]))
    h = F.max_pool2d(h, 2).flatten(1)
    h = F.relu(F.linear(h, params["w3"], params["b3"]))
    logits = F.linear(h, params["w4"], params["b4"])
    return F.cross_entropy(logits, labels), logits


def _random_batch(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, n)


def test_shapes_and_classic_initialisation():
    net = NumpyCNN.initialize(seed=1)
    assert {k: v.shape for k, v in net.params.items()} == PARAM_SHAPES
    assert all(v.dtype == np.float32 for v in net.params.values())
    assert net.params["f1"].std() == pytest.approx(1 / np.sqrt(8 * 1 * 5 * 5), rel=0.15)
    assert net.params["f2"].std() == pytest.approx(1 / np.sqrt(8 * 8 * 5 * 5), rel=0.1)
    assert net.params["w3"].std() == pytest.approx(0.01, rel=0.05)
    assert not net.params["b3"].any()
    x, _ = _random_batch()
    logits, _ = net.forward(x)
    assert logits.shape == (8, 10)


def test_gradients_match_pytorch_autograd():
    net = NumpyCNN.initialize(seed=2)
    for name in ("b1", "b2", "b3", "b4"):  # non-zero biases so their gradients are exercised fully
        net.params[name] += (
            np.random.default_rng(3).standard_normal(PARAM_SHAPES[name]).astype(np.float32) * 0.1
        )
    x, labels = _random_batch(seed=4)
    loss, logits, grads = net.loss_and_gradients(x, labels)
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in net.params.items()}
    loss_t, logits_t = _torch_loss(tparams, torch.tensor(x), torch.tensor(labels))
    loss_t.backward()
    assert loss == pytest.approx(loss_t.item(), rel=1e-5)
    np.testing.assert_allclose(logits, logits_t.detach().numpy(), rtol=1e-4, atol=1e-5)
    for name, grad in grads.items():
        expected = tparams[name].grad.numpy()
        np.testing.assert_allclose(
            grad, expected, rtol=1e-3, atol=1e-6 * np.abs(expected).max(), err_msg=name
        )


def test_adam_gives_the_same_updates_as_torch_adam():
    rng = np.random.default_rng(5)
    params = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal(5)}
    tparams = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    ours = Adam(params, lr=1e-2)
    theirs = torch.optim.Adam(tparams.values(), lr=1e-2)
    for step in range(25):
        grads = {k: rng.standard_normal(v.shape) * (step + 1) for k, v in params.items()}
        ours.step(grads)
        for k, t in tparams.items():
            t.grad = torch.tensor(grads[k])
        theirs.step()
        for k in params:
            np.testing.assert_allclose(
                params[k], tparams[k].detach().numpy(), rtol=1e-12, atol=1e-14
            )


def test_adam_keeps_its_moments_unlike_the_classic_code():
    params = {"p": np.zeros(1)}
    adam = Adam(params, lr=0.1)
    adam.step({"p": np.array([1.0])})
    adam.step({"p": np.array([-1.0])})
    # Real Adam remembers the first gradient, so the second step is smaller than lr; the classic
    # (moments reset every batch) would have moved +0.316 back, i.e. sign-SGD.
    assert 0 < params["p"][0] + 0.1 < 0.1


def test_adam_rejects_bad_settings_and_gradients():
    with pytest.raises(ValueError, match="lr"):
        Adam({"p": np.zeros(1)}, lr=0)
    with pytest.raises(ValueError, match="beta1"):
        Adam({"p": np.zeros(1)}, beta1=1.0)
    with pytest.raises(ValueError, match="keys"):
        Adam({"p": np.zeros(1)}).step({"q": np.zeros(1)})


@pytest.mark.parametrize(
    "setting, value, error",
    [
        ("lr", float("inf"), ValueError),
        ("lr", float("nan"), ValueError),
        ("lr", -1e-3, ValueError),
        ("lr", "abc", TypeError),
        ("eps", 0.0, ValueError),
        ("beta2", "0.9", TypeError),
        ("beta1", -0.1, ValueError),
    ],
)
def test_adam_names_the_bad_setting_before_touching_the_parameters(setting, value, error):
    params = {"p": np.ones(3)}
    with pytest.raises(error, match=setting):
        Adam(params, **{setting: value})
    np.testing.assert_array_equal(params["p"], np.ones(3))


def test_schedules_reject_sizes_that_would_divide_by_zero_and_the_cosine_stays_at_its_end():
    with pytest.raises(ValueError, match="total_steps must be >= 1"):
        learning_rate(2e-3, "cosine", 0, 0, 10)
    with pytest.raises(ValueError, match="steps_per_epoch must be >= 1"):
        learning_rate(2e-3, "step", 0, 30, 0)
    with pytest.raises(ValueError, match="lr"):
        learning_rate(float("inf"), "constant", 0, 30, 10)
    with pytest.raises(ValueError, match="step must be >= 0"):
        learning_rate(2e-3, "cosine", -1, 30, 10)
    assert learning_rate(2e-3, "cosine", 30, 30, 10) == 0.0
    assert learning_rate(2e-3, "cosine", 45, 30, 10) == 0.0  # not rising again past the end


def test_bad_parameters_and_input_are_rejected():
    with pytest.raises(ValueError, match="missing"):
        NumpyCNN({"f1": np.zeros((8, 1, 5, 5))})
    params = NumpyCNN.initialize().params | {"w3": np.zeros((128, 801))}
    with pytest.raises(ValueError, match=r"w3.*\(128, 800\).*\(128, 801\)"):
        NumpyCNN(params)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\).*\(2, 1, 27, 28\)"):
        NumpyCNN.initialize().forward(np.zeros((2, 1, 27, 28)))


def test_save_load_round_trip_gives_identical_predictions(tmp_path):
    net = NumpyCNN.initialize(seed=6)
    x, _ = _random_batch(16, seed=7)
    path = net.save(tmp_path / "deep" / "net.npz")
    assert [p.name for p in path.parent.iterdir()] == ["net.npz"]  # no temporary file left behind
    loaded = NumpyCNN.load(path)
    np.testing.assert_array_equal(loaded.logits(x), net.logits(x))


def test_failed_save_leaves_no_file(tmp_path, monkeypatch):
    def broken_savez(handle, **arrays):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(numpy_net.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        NumpyCNN.initialize().save(tmp_path / "net.npz")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def mnist_subset(mnist_train):
    images, labels = mnist_train
    return images[:2400], labels[:2400], images[-1000:], labels[-1000:]


def test_short_training_run_lowers_the_loss_and_is_reproducible(mnist_subset):
    train_x, train_y, validation_x, validation_y = mnist_subset
    histories = []
    for _ in range(2):
        net = NumpyCNN.initialize(seed=0)
        histories.append(
            fit(
                net,
                train_x,
                train_y,
                validation_x,
                validation_y,
                epochs=1,
                batch_size=32,
                progress=False,
            )
        )
    history = histories[0]
    assert history.steps_per_epoch == 75 and len(history.step_loss) == 75
    assert np.mean(history.step_loss[:5]) > 2.0
    assert np.mean(history.step_loss[-10:]) < 0.8
    assert history.epoch_validation_accuracy[0] > 0.8
    assert history.test_accuracy is None  # fit never looks at a test set
    loss, accuracy = evaluate(net, validation_x, validation_y)
    assert history.epoch_validation_accuracy == [accuracy] and history.epoch_validation_loss == [
        loss
    ]
    assert loss == pytest.approx(ops.cross_entropy(net.logits(validation_x), validation_y))
    assert history.config["validation_size"] == 1000
    assert histories[1].step_loss == history.step_loss  # seeded: bit-for-bit the same run
    assert history.framework == "numpy" and history.config["lr"] == 2e-3


def test_cosine_schedule_falls_smoothly_from_the_peak_towards_zero():
    total, per_epoch = 30, 10
    rates = [learning_rate(2e-3, "cosine", step, total, per_epoch) for step in range(total)]
    assert rates[0] == 2e-3
    assert rates[15] == pytest.approx(1e-3)  # halfway: half the peak
    assert all(a > b for a, b in zip(rates, rates[1:]))
    assert 0 < rates[-1] < 1e-5


def test_step_schedule_halves_the_rate_every_epoch_and_constant_keeps_it():
    rates = [learning_rate(2e-3, "step", step, 30, 10) for step in (0, 9, 10, 19, 20, 29)]
    assert rates == [2e-3, 2e-3, 1e-3, 1e-3, 5e-4, 5e-4]
    assert learning_rate(2e-3, "constant", 29, 30, 10) == 2e-3


def test_unknown_schedule_is_rejected_before_training(mnist_subset):
    train_x, train_y, test_x, test_y = mnist_subset
    with pytest.raises(ValueError, match="schedule must be one of"):
        fit(
            NumpyCNN.initialize(0),
            train_x,
            train_y,
            test_x,
            test_y,
            schedule="linear",
            progress=False,
        )
    with pytest.raises(ValueError, match="schedule must be one of"):
        learning_rate(2e-3, "warmup", 0, 30, 10)
    with pytest.raises(TypeError, match="progress must be None, True or False"):
        fit(NumpyCNN.initialize(0), train_x, train_y, test_x, test_y, progress="yes")


def test_fit_refuses_empty_data_before_training():
    """Before: 0 training images trained nothing and then hit ZeroDivisionError; an empty evaluation set
    failed with 'need at least one array to concatenate' only after the whole training."""
    net = NumpyCNN.initialize(0)
    some = np.zeros((4, 1, 28, 28), dtype=np.float32)
    labels = np.arange(4)
    with pytest.raises(ValueError, match="train_images is empty"):
        fit(net, some[:0], labels[:0], some, labels, progress=False)
    with pytest.raises(ValueError, match="validation_images is empty"):
        fit(net, some, labels, some[:0], labels[:0], progress=False)
    with pytest.raises(ValueError, match="no images to evaluate"):
        evaluate(net, some[:0], labels[:0])


def test_progress_bars_show_where_someone_watches(monkeypatch):
    from cnn_tutorial.checks import PROGRESS_ENV_VAR, check_progress

    assert check_progress(True) is True and check_progress(False) is False
    monkeypatch.setenv(PROGRESS_ENV_VAR, "1")
    assert check_progress(None) is True
    monkeypatch.setenv(PROGRESS_ENV_VAR, "0")
    assert check_progress(None) is False
    monkeypatch.delenv(PROGRESS_ENV_VAR)
    monkeypatch.setitem(sys.modules, "ipykernel", sys)  # as in a Jupyter kernel
    assert check_progress(None) is True
    monkeypatch.delitem(sys.modules, "ipykernel")
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal, not Jupyter: a log file
    assert check_progress(None) is False


def test_evaluate_and_logits_refuse_bad_arguments_before_any_forward_pass():
    net = NumpyCNN.initialize(0)
    images = np.zeros((4, 1, 28, 28), dtype=np.float32)
    with pytest.raises(ValueError, match=r"images \(4\) and labels \(3\) differ in length"):
        evaluate(net, images, np.arange(3))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        net.logits(images, batch_size=0)
    with pytest.raises(ValueError, match=r"x must be a 4-D array of shape \(N, 1, 28, 28\)"):
        net.forward(images[:, 0])
    assert net.forward(images.astype(np.float64))[1]["x"].dtype == np.float32


def test_fit_refuses_bad_settings_before_training():
    net = NumpyCNN.initialize(0)
    images, labels = np.zeros((4, 1, 28, 28), dtype=np.float32), np.arange(4)
    before = {name: value.copy() for name, value in net.params.items()}
    for setting, value, error in [
        ("epochs", 0, ValueError),
        ("batch_size", 1.5, TypeError),
        ("workers", 0, ValueError),
        ("progress", 1, TypeError),
    ]:
        with pytest.raises(error, match=setting):
            fit(net, images, labels, images, labels, **{setting: value})
    for name, value in net.params.items():
        np.testing.assert_array_equal(value, before[name])
