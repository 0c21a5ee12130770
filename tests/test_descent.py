"""The toy problem of the gradient-descent section: its gradient, its two methods and its figure."""

import numpy as np
import pytest

from cnn_tutorial import descent
from cnn_tutorial.gradcheck import gradcheck


@pytest.fixture(scope="module")
def points():
    return descent.toy_data(size=50, seed=3)


def test_gradient_matches_finite_differences(points):
    x, y = points
    for theta in ([-1.0, 2.5], [0.3, -0.7], [1.0, 0.5]):
        theta = np.array(theta)
        err = gradcheck(lambda t: descent.loss(t, x, y), theta, descent.gradient(theta, x, y))
        assert err < 1e-8


def test_gradient_is_zero_at_the_best_fit(points):
    x, y = points
    assert np.allclose(descent.gradient(descent.best_fit(x, y), x, y), 0, atol=1e-12)


def test_gradient_descent_converges_and_records_every_step(points):
    x, y = points
    path = descent.gradient_descent([-1.0, 2.5], x, y, lr=0.2, steps=300)
    assert path.shape == (301, 2)
    assert np.array_equal(path[0], [-1.0, 2.5])
    assert np.allclose(path[-1], descent.best_fit(x, y), atol=1e-4)
    # every step is theta - lr * gradient
    assert np.allclose(path[1], path[0] - 0.2 * descent.gradient(path[0], x, y))


def test_sgd_with_the_whole_set_as_batch_is_gradient_descent(points):
    x, y = points
    full = descent.gradient_descent([0.0, 0.0], x, y, lr=0.1, steps=20)
    batched = descent.sgd([0.0, 0.0], x, y, lr=0.1, steps=20, batch_size=len(x))
    assert np.allclose(full, batched, rtol=1e-12, atol=1e-12)


def test_sgd_is_seeded_and_noisy(points):
    x, y = points
    a = descent.sgd([-1.0, 2.5], x, y, lr=0.1, steps=40, batch_size=5, seed=1)
    b = descent.sgd([-1.0, 2.5], x, y, lr=0.1, steps=40, batch_size=5, seed=1)
    full = descent.gradient_descent([-1.0, 2.5], x, y, lr=0.1, steps=40)
    assert a.shape == (41, 2)
    assert np.array_equal(a, b)
    assert not np.allclose(a, full)


def test_loss_grid_matches_loss(points):
    x, y = points
    theta0, theta1 = np.linspace(-1, 2, 4), np.linspace(0, 1, 3)
    grid = descent.loss_grid(x, y, theta0, theta1)
    assert grid.shape == (3, 4)
    assert np.isclose(grid[2, 1], descent.loss([theta0[1], theta1[2]], x, y))


def test_figure_draws_exactly_the_paths(points):
    x, y = points
    paths = {
        "gradient descent": descent.gradient_descent([-1.0, 2.5], x, y, lr=0.2, steps=10),
        "mini-batch SGD": descent.sgd([-1.0, 2.5], x, y, lr=0.2, steps=10, batch_size=5),
    }
    fig = descent.descent_figure(x, y, paths, np.linspace(-2, 2.5, 30), np.linspace(-0.5, 3, 25))
    for name, path in paths.items():
        data = fig.select_one({"name": name}).data_source.data
        assert np.array_equal(data["theta0"], path[:, 0])
        assert np.array_equal(data["theta1"], path[:, 1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"theta": [1.0, 2.0, 3.0]}, "theta must have shape"),
        ({"lr": 0.0}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 51}, "batch_size must be <= 50"),
    ],
)
def test_sgd_rejects_bad_arguments(points, kwargs, message):
    x, y = points
    arguments = {
        "theta": [0.0, 0.0],
        "x": x,
        "y": y,
        "lr": 0.1,
        "steps": 3,
        "batch_size": 5,
    } | kwargs
    with pytest.raises(ValueError, match=message):
        descent.sgd(**arguments)


def test_figure_and_grid_refuse_bad_arguments_naming_them(points):
    x, y = points
    grid = np.linspace(-1, 1, 5)
    path = np.zeros((3, 2))
    with pytest.raises(ValueError, match="paths must hold 1 to 3 paths, got 0"):
        descent.descent_figure(x, y, {}, grid, grid)
    with pytest.raises(TypeError, match="paths must be a dict"):
        descent.descent_figure(x, y, [path], grid, grid)
    with pytest.raises(ValueError, match="theta1 must be a 1-D array"):
        descent.loss_grid(x, y, grid, np.zeros((2, 2)))
    # theta is checked and made float64 before the body sees it
    assert descent.gradient(np.array([1, 2]), x, y).dtype == np.float64
