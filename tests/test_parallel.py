"""Data parallelism of the numpy CNN over processes: the same gradients, shared parameters, clean failure."""

import ast
import glob
import inspect

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from cnn_tutorial.fast import parallel
from cnn_tutorial.fast.parallel import GradientWorkers, default_workers, split_sizes
from cnn_tutorial.numpy_net import Adam, NumpyCNN, fit


def _batch(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, n)


def _shared_files():
    return set(glob.glob("/dev/shm/cnn_tutorial_*"))


@pytest.mark.parametrize("n, parts", [(32, 2), (7, 2), (10, 3), (1, 2), (0, 4), (5, 5)])
def test_split_sizes_cover_the_batch_evenly_larger_first(n, parts):
    sizes = split_sizes(n, parts)
    assert len(sizes) == parts and sum(sizes) == n
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_default_workers_follow_blas_threads_and_batch_size():
    with threadpool_limits(1, user_api="blas"):
        assert default_workers(32) == 1
    with threadpool_limits(2, user_api="blas"):
        if parallel.blas_threads() == 2:  # a BLAS built for one thread ignores the limit
            assert default_workers(32) == 2
            assert default_workers(31) == 1  # fewer than 16 images per worker
            assert default_workers(1) == 1


@pytest.mark.parametrize("workers, n", [(2, 32), (2, 7), (3, 10), (2, 1)])
def test_gradients_equal_those_of_the_whole_batch(workers, n):
    net = NumpyCNN.initialize(seed=3)
    x, y = _batch(n)
    loss, logits, grads = net.loss_and_gradients(x, y)
    files = _shared_files()
    with GradientWorkers(net, workers, max_batch=32) as gw:
        p_loss, p_logits, p_grads = gw.loss_and_gradients(x, y)
        assert all(
            isinstance(value, np.memmap) or value.base is not None for value in net.params.values()
        )
    assert p_loss == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(p_logits, logits, rtol=1e-5, atol=1e-7)
    for name in grads:
        np.testing.assert_allclose(p_grads[name], grads[name], rtol=1e-4, atol=1e-7, err_msg=name)
    assert _shared_files() == files  # nothing left behind
    assert all(type(value) is np.ndarray and value.base is None for value in net.params.values())


def test_optimiser_updates_reach_the_helpers_and_survive_the_exit():
    net = NumpyCNN.initialize(seed=4)
    x, y = _batch(32, seed=1)
    with GradientWorkers(net, 2, max_batch=32) as gw:
        adam = Adam(net.params, lr=1e-2)
        for _ in range(3):
            adam.step(gw.loss_and_gradients(x, y)[2])
        _, _, p_grads = gw.loss_and_gradients(x, y)
        trained = {name: value.copy() for name, value in net.params.items()}
    for name, value in trained.items():
        np.testing.assert_array_equal(net.params[name], value)
    _, _, grads = net.loss_and_gradients(x, y)  # at the updated weights, in this process
    for name in grads:
        np.testing.assert_allclose(p_grads[name], grads[name], rtol=1e-4, atol=1e-7, err_msg=name)


def test_one_worker_starts_nothing():
    net = NumpyCNN.initialize(seed=0)
    x, y = _batch(4)
    with GradientWorkers(net, 1, max_batch=4) as gw:
        assert gw.helpers == []
        loss, _, _ = gw.loss_and_gradients(x, y)
    assert loss == net.loss_and_gradients(x, y)[0]


def test_bad_arguments_are_refused_before_any_process_starts():
    net = NumpyCNN.initialize(seed=0)
    with pytest.raises(ValueError, match="workers"):
        GradientWorkers(net, 0, max_batch=32)
    with pytest.raises(TypeError, match="workers"):
        GradientWorkers(net, 1.5, max_batch=32)
    with pytest.raises(ValueError, match="max_batch"):
        GradientWorkers(net, 2, max_batch=0)
    x, y = _batch(9)
    with GradientWorkers(net, 2, max_batch=8) as gw, pytest.raises(ValueError, match="max_batch=8"):
        gw.loss_and_gradients(x, y)


def test_a_helper_that_dies_is_reported_and_cleaned_up():
    net = NumpyCNN.initialize(seed=0)
    before = {name: value.copy() for name, value in net.params.items()}
    x, y = _batch(32)
    files = _shared_files()
    with pytest.raises(RuntimeError, match="gradient worker 1 stopped"):
        with GradientWorkers(net, 2, max_batch=32) as gw:
            gw.helpers[0].kill()
            gw.helpers[0].wait()
            gw.loss_and_gradients(x, y)
    assert _shared_files() == files
    for name, value in before.items():
        np.testing.assert_array_equal(net.params[name], value)
        assert type(net.params[name]) is np.ndarray


def test_fit_with_two_workers_trains_like_one(mnist_train):
    x, labels = mnist_train
    runs = {}
    for workers in (1, 2):
        net = NumpyCNN.initialize(seed=0)
        history = fit(
            net,
            x[:960],
            labels[:960],
            x[960:1024],
            labels[960:1024],
            epochs=1,
            workers=workers,
            progress=False,
        )
        runs[workers] = (history, net)
        assert history.config["workers"] == workers
    (h1, net1), (h2, net2) = runs[1], runs[2]
    # Same batches, same start; the two differ only by the rounding of the split gradient.
    np.testing.assert_allclose(h2.step_loss[:5], h1.step_loss[:5], rtol=1e-4)
    np.testing.assert_allclose(net2.params["f1"], net1.params["f1"], atol=5e-3)
    assert abs(h2.epoch_validation_accuracy[-1] - h1.epoch_validation_accuracy[-1]) <= 0.05


def test_fit_refuses_a_bad_worker_count():
    x, y = _batch(4)
    with pytest.raises(ValueError, match="workers"):
        fit(NumpyCNN.initialize(0), x, y, x, y, workers=0, progress=False)


def test_a_helper_that_fails_at_start_reports_its_error():
    net = NumpyCNN.initialize(seed=0)
    net.params = {
        "f1": np.zeros((3, 3), dtype=np.float32)
    }  # the helpers cannot build a NumpyCNN from it
    files = _shared_files()
    with pytest.raises(
        RuntimeError,
        match=r"gradient worker 1 stopped \(exit code 1\): ValueError: params is missing",
    ):
        with GradientWorkers(net, 2, max_batch=32):
            pass
    assert _shared_files() == files
    assert type(net.params["f1"]) is np.ndarray and net.params["f1"].shape == (3, 3)


def test_the_helpers_rebuild_the_network_from_its_description():
    """The worker code names no network: it imports the class the description names."""
    description = parallel.network_description(NumpyCNN.initialize(seed=0))
    assert description == {
        "module": "cnn_tutorial.numpy_net",
        "name": "NumpyCNN",
        "image_shape": [1, 28, 28],
        "classes": 10,
    }
    assert parallel._network_class(description) is NumpyCNN
    imported = {
        node.module
        for node in ast.walk(ast.parse(inspect.getsource(parallel)))
        if isinstance(node, ast.ImportFrom)
    }
    assert "numpy_net" not in imported  # no import cycle: numpy_net imports parallel


def test_a_network_without_the_interface_is_refused():
    with pytest.raises(
        TypeError, match="net must be a network with IMAGE_SHAPE, CLASSES, loss_and_gradients"
    ):
        GradientWorkers(object(), 2, max_batch=32).__enter__()
