"""The readable single-image versions: the classic code's defects, fixed."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_tutorial import loops


def test_bias_of_shape_f_by_1_works_like_a_flat_bias():
    # The classic code stored biases as (F, 1); under NumPy 2 assigning bias[f] (a length-1 array)
    # into one output pixel raised "setting an array element with a sequence".
    rng = np.random.default_rng(0)
    image, filt, bias = (
        rng.standard_normal((2, 6, 5)),
        rng.standard_normal((3, 2, 3, 3)),
        rng.standard_normal((3, 1)),
    )
    np.testing.assert_array_equal(
        loops.convolution(image, filt, bias), loops.convolution(image, filt, bias[:, 0])
    )


def test_convolution_on_a_rectangular_image_matches_torch():
    rng = np.random.default_rng(1)
    image, filt, bias = (
        rng.standard_normal((3, 7, 12)),
        rng.standard_normal((4, 3, 3, 3)),
        rng.standard_normal(4),
    )
    out = loops.convolution(image, filt, bias, s=2)
    expected = F.conv2d(
        torch.tensor(image[None]), torch.tensor(filt), torch.tensor(bias), stride=2
    )[0].numpy()
    assert out.shape == (4, 3, 5)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_convolution_backward_matches_autograd():
    rng = np.random.default_rng(2)
    image, filt = rng.standard_normal((2, 9, 8)), rng.standard_normal((3, 2, 4, 4))
    dconv = rng.standard_normal((3, 3, 3))
    it, ft = torch.tensor(image[None], requires_grad=True), torch.tensor(filt, requires_grad=True)
    bt = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    F.conv2d(it, ft, bt, stride=2).backward(torch.tensor(dconv[None]))
    dout, dfilt, dbias = loops.convolution_backward(dconv, image, filt, s=2)
    np.testing.assert_allclose(dout, it.grad[0].numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dfilt, ft.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dbias, bt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_maxpool_and_its_backward_match_torch_with_windows_that_do_not_tile():
    rng = np.random.default_rng(3)
    image = rng.standard_normal((2, 7, 9))
    it = torch.tensor(image[None], requires_grad=True)
    out_t = F.max_pool2d(it, 3, 2)
    np.testing.assert_array_equal(loops.maxpool(image, 3, 2), out_t[0].detach().numpy())
    dpool = rng.standard_normal(out_t.shape[1:])
    out_t.backward(torch.tensor(dpool[None]))
    np.testing.assert_allclose(
        loops.maxpool_backward(dpool, image, 3, 2), it.grad[0].numpy(), rtol=1e-12, atol=1e-12
    )


def test_maxpool_backward_with_tied_maxima_picks_one_position_like_torch():
    image = np.ones((1, 4, 4))  # every window is a four-way tie
    dpool = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    dout = loops.maxpool_backward(dpool, image)
    it = torch.tensor(image[None], requires_grad=True)
    F.max_pool2d(it, 2).backward(torch.tensor(dpool[None]))
    np.testing.assert_array_equal(dout, it.grad[0].numpy())
    assert np.count_nonzero(dout) == 4 and dout.sum() == 10.0


def test_pool_winner_is_the_first_maximum_or_the_last_nan():
    assert loops.pool_winner(np.array([[1.0, 3.0], [3.0, 1.0]])) == (0, 1)
    assert loops.pool_winner(np.array([[np.nan, 3.0], [3.0, 1.0]])) == (0, 0)
    assert loops.pool_winner(np.array([[np.nan, 3.0], [np.nan, 1.0]])) == (1, 0)
    assert loops.pool_winner(np.full((2, 2), -np.inf)) == (0, 0)


def test_maxpool_backward_sends_the_gradient_to_the_nan_that_the_forward_pass_outputs_like_torch():
    # The classic helper skipped NaN (np.nanargmax), so the gradient went to a number the output
    # never came from.
    nan = np.nan
    image = np.array(
        [[[1.0, nan, 5.0, 2.0], [nan, 2.0, 1.0, nan], [7.0, 7.0, nan, 0.0], [1.0, 3.0, 4.0, nan]]]
    )
    dpool = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    it = torch.tensor(image[None], requires_grad=True)
    out = F.max_pool2d(it, 2)
    out.backward(torch.tensor(dpool[None]))
    np.testing.assert_array_equal(loops.maxpool(image), out[0].detach().numpy())
    np.testing.assert_array_equal(loops.maxpool_backward(dpool, image), it.grad[0].numpy())


def test_loops_softmax_matches_torch_along_any_axis():
    x = np.random.default_rng(0).standard_normal((4, 3)) * 50
    for axis in (0, 1, -1):
        np.testing.assert_allclose(
            loops.softmax(x, axis), torch.softmax(torch.tensor(x), axis).numpy(), rtol=1e-12
        )


def test_softmax_of_a_column_vector_is_stable():
    logits = np.array([[1000.0], [999.0], [0.0]])
    probs = loops.softmax(logits, axis=0)
    assert np.all(np.isfinite(probs)) and probs.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(
        probs[:, 0], torch.softmax(torch.tensor(logits[:, 0]), 0).numpy(), rtol=1e-12
    )


@pytest.mark.parametrize("label", [2, np.eye(3)[2], np.eye(3)[2].reshape(3, 1)])
def test_categorical_cross_entropy_accepts_index_or_one_hot(label):
    probs = np.array([0.2, 0.3, 0.5])
    assert loops.categorical_cross_entropy(probs, label) == pytest.approx(-np.log(0.5))
    assert loops.categorical_cross_entropy(probs.reshape(3, 1), label) == pytest.approx(
        -np.log(0.5)
    )


def test_categorical_cross_entropy_is_finite_for_a_zero_probability():
    with np.errstate(divide="ignore"):
        assert np.isinf(
            -np.sum(np.eye(3)[0] * np.log(np.array([0.0, 0.5, 0.5])))
        )  # the classic defect
    loss = loops.categorical_cross_entropy(np.array([0.0, 0.5, 0.5]), 0)
    assert np.isfinite(loss) and loss > 700
