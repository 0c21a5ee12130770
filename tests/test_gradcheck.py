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


def test_numerical_gradient_refuses_what_it_cannot_perturb_in_place():
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match="writeable C-contiguous"):
        numerical_gradient(lambda v: 0.0, x.T)
    with pytest.raises(ValueError, match="eps must be a positive finite number"):
        numerical_gradient(lambda v: 0.0, x, eps=0.0)


def test_relative_error_refuses_mismatched_shapes_and_keeps_its_numbers():
    with pytest.raises(ValueError, match=r"\(2,\) differs from numeric shape \(3,\)"):
        relative_error(np.zeros(2), np.zeros(3))
    assert relative_error([1, 2], [1, 2]) == 0.0
    assert relative_error(np.ones(2), -np.ones(2)) == 1.0


def test_gradcheck_checks_samples_even_when_they_cover_every_entry():
    x = np.zeros(3)
    with pytest.raises(TypeError, match="samples must be an integer"):
        gradcheck(lambda v: 0.0, x, np.zeros(3), samples=5.0)
    assert gradcheck(lambda v: 0.0, x, np.zeros(3), samples=5) == 0.0
