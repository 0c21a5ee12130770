"""The finite-difference checker itself must catch wrong gradients, not only accept right ones."""

import numpy as np
import pytest

from cnn_tutorial import gradcheck, numerical_gradient, relative_error


def test_numerical_gradient_of_a_known_function():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    grad = numerical_gradient(lambda v: float(np.sum(v**3)), x)
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-8)
    np.testing.assert_array_equal(x, [[1.0, -2.0], [0.5, 3.0]])  # restored


def test_gradcheck_accepts_a_right_gradient_and_rejects_a_wrong_one():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5))
    a = rng.standard_normal((5, 3))
    f = lambda v: float(np.sum(np.tanh(v @ a)))  # noqa: E731
    right = (1 - np.tanh(x @ a) ** 2) @ a.T
    assert gradcheck(f, x, right) < 1e-8
    assert gradcheck(f, x, right * 1.01) > 1e-3
    assert gradcheck(f, x, right.T.reshape(x.shape)) > 1e-2


def test_sampled_gradcheck_checks_a_subset():
    x = np.linspace(-1, 1, 200)
    calls = []

    def f(v):
        calls.append(1)
        return float(np.sum(v**2))

    assert gradcheck(f, x, 2 * x, samples=10) < 1e-8
    assert len(calls) == 20


def test_relative_error_is_zero_for_equal_and_about_one_for_opposite():
    a = np.array([1.0, 2.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(a, -a) == pytest.approx(1.0)
    assert relative_error(np.zeros(2), np.zeros(2)) == 0.0


def test_gradcheck_refuses_float32_and_mismatched_shapes():
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda v: 0.0, np.zeros(3, dtype=np.float32), np.zeros(3))
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        gradcheck(lambda v: 0.0, np.zeros(3), np.zeros(2))
