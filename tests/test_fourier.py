"""The Fourier route of the convolution: its transforms against numpy's FFT, the convolution and its
gradients against PyTorch, finite differences and the im2col route, and the choice between them."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_tutorial import gradcheck, ops
from cnn_tutorial.fast import conv as fast_conv
from cnn_tutorial.fast import fourier
from tests.conv_cases import CONV_CASES, as_torch, ids

STRIDE_1 = [case for case in CONV_CASES if case[7] == 1]


@pytest.mark.parametrize(
    "shape, size, offset",
    [
        ((5, 7), (9, 11), (2, 1)),
        ((4, 4), (4, 4), (0, 0)),
        ((3, 6), (8, 7), (5, 1)),
        ((1, 1), (1, 1), (0, 0)),
    ],
)
def test_dft2_is_numpys_fft_of_the_zero_padded_images(shape, size, offset):
    rng = np.random.default_rng(sum(size))
    a = rng.standard_normal((3, *shape))
    grid = np.zeros((3, *size))
    grid[:, offset[0] : offset[0] + shape[0], offset[1] : offset[1] + shape[1]] = a
    expected = np.fft.rfft2(grid).transpose(1, 2, 0)  # (S, T//2+1, B)
    np.testing.assert_allclose(fourier.dft2(a, size, offset), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "size, start, count",
    [
        ((9, 11), (2, 1), (5, 7)),
        ((8, 8), (0, 0), (8, 8)),
        ((7, 10), (6, 9), (1, 1)),
        ((6, 5), (1, 0), (4, 5)),
    ],
)
def test_idft2_is_a_window_of_numpys_inverse_fft(size, start, count):
    rng = np.random.default_rng(sum(size))
    images = rng.standard_normal((4, *size))
    spectrum = np.fft.rfft2(images).transpose(1, 2, 0)
    window = fourier.idft2(spectrum, size, start, count)
    expected = images[:, start[0] : start[0] + count[0], start[1] : start[1] + count[1]]
    np.testing.assert_allclose(window, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", STRIDE_1, ids=ids(STRIDE_1))
def test_fourier_route_matches_torch(case):
    n, c, h, w, f, kh, kw, _, padding = case
    rng = np.random.default_rng(sum(case) + 10)
    x, weight, bias = (
        rng.standard_normal((n, c, h, w)),
        rng.standard_normal((f, c, kh, kw)),
        rng.standard_normal(f),
    )
    xt, wt, bt = as_torch(x, True), as_torch(weight, True), as_torch(bias, True)
    out_t = F.conv2d(xt, wt, bt, padding=padding)
    out = ops.conv2d(x, weight, bias, padding=padding, method="fourier")
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-10, atol=1e-10)

    dout = rng.standard_normal(out.shape)
    out_t.backward(torch.tensor(dout))
    dx, dw, db = ops.conv2d_backward(dout, x, weight, padding=padding, method="fourier")
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(db, bt.grad.numpy(), rtol=1e-10, atol=1e-10)
    dx_none, dw_alone, _ = ops.conv2d_backward(
        dout, x, weight, padding=padding, need_dx=False, method="fourier"
    )
    assert dx_none is None
    np.testing.assert_allclose(dw_alone, dw, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", STRIDE_1[:6], ids=ids(STRIDE_1[:6]))
def test_fourier_route_gradients_match_finite_differences(case):
    n, c, h, w, f, kh, kw, _, padding = case
    rng = np.random.default_rng(sum(case) + 11)
    x, weight = rng.standard_normal((n, c, h, w)), rng.standard_normal((f, c, kh, kw))
    probe = rng.standard_normal(ops.conv2d(x, weight, padding=padding).shape)
    dx, dw, _ = ops.conv2d_backward(probe, x, weight, padding=padding, method="fourier")

    def loss(x_, w_):
        return float(np.sum(ops.conv2d(x_, w_, padding=padding, method="fourier") * probe))

    assert gradcheck(lambda v: loss(v, weight), x, dx) < 1e-8
    assert gradcheck(lambda v: loss(x, v), weight, dw) < 1e-8


def test_fourier_route_in_chunks_of_one_image_matches_the_whole_batch(monkeypatch):
    rng = np.random.default_rng(12)
    x, weight = rng.standard_normal((3, 4, 9, 8)), rng.standard_normal((5, 4, 3, 4))
    dout = rng.standard_normal((3, 5, 9, 7))
    whole = [
        ops.conv2d(x, weight, padding=1, method="fourier"),
        *ops.conv2d_backward(dout, x, weight, padding=1, method="fourier")[:2],
    ]
    monkeypatch.setattr(fourier, "_CHUNK_BYTES", 1)
    assert len(fourier._chunks(3, 5, (11, 10), 8)) == 3
    chunked = [
        ops.conv2d(x, weight, padding=1, method="fourier"),
        *ops.conv2d_backward(dout, x, weight, padding=1, method="fourier")[:2],
    ]
    for a, b in zip(chunked, whole):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "dtype, tolerance",
    [(np.float16, 2e-3), (np.float32, 1e-5), (np.float64, 1e-12), (np.longdouble, 1e-12)],
)
def test_fourier_route_keeps_the_dtype_and_is_accurate(dtype, tolerance):
    """Every float dtype works (float16 is computed in float32); errors are the dtype's rounding."""
    rng = np.random.default_rng(13)
    x, weight = (
        rng.standard_normal((4, 32, 14, 14)),
        rng.standard_normal((64, 32, 5, 5)) / np.sqrt(800),
    )
    dout = rng.standard_normal((4, 64, 14, 14))
    x_, w_, d_ = (a.astype(dtype) for a in (x, weight, dout))
    exact_inputs = [a.astype(np.float64) for a in (x_, w_, d_)]  # the same numbers, in float64
    exact = [
        ops.conv2d(*exact_inputs[:2], padding=2, method="im2col"),
        *ops.conv2d_backward(exact_inputs[2], *exact_inputs[:2], padding=2, method="im2col")[:2],
    ]
    results = [
        ops.conv2d(x_, w_, padding=2, method="fourier"),
        *ops.conv2d_backward(d_, x_, w_, padding=2, method="fourier")[:2],
    ]
    for result, reference in zip(results, exact):
        assert result.dtype == dtype
        assert (
            np.abs(result.astype(np.float64) - reference).max()
            <= tolerance * np.abs(reference).max()
        )


def test_fourier_route_accepts_non_contiguous_views():
    rng = np.random.default_rng(14)
    x = rng.standard_normal((3, 4, 11, 10))[:, :, 1:-1, ::2]  # (3, 4, 9, 5): a strided view
    weight = rng.standard_normal((6, 4, 5, 3))[:, :, :, ::-1]  # a reversed view
    assert not (x.flags.c_contiguous or weight.flags.c_contiguous)
    dout = rng.standard_normal((3, 6, 7, 5))
    by_fourier = [
        ops.conv2d(x, weight, padding=1, method="fourier"),
        *ops.conv2d_backward(dout, x, weight, padding=1, method="fourier")[:2],
    ]
    by_im2col = [
        ops.conv2d(x, weight, padding=1, method="im2col"),
        *ops.conv2d_backward(dout, x, weight, padding=1, method="im2col")[:2],
    ]
    for a, b in zip(by_fourier, by_im2col):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "x_shape, w_shape, stride, padding, route",
    [
        ((32, 1, 28, 28), (8, 1, 5, 5), 1, 0, "im2col"),  # classic layer 1: one input channel
        ((32, 8, 24, 24), (8, 8, 5, 5), 1, 0, "fourier"),  # classic layer 2
        ((100, 1, 28, 28), (32, 1, 5, 5), 1, 2, "im2col"),  # PyTorch chapter, layer 1
        ((100, 32, 14, 14), (64, 32, 5, 5), 1, 2, "fourier"),  # PyTorch chapter, layer 2
        ((100, 32, 14, 14), (64, 32, 5, 5), 2, 2, "im2col"),  # strided: only im2col
        ((8, 64, 16, 16), (64, 64, 1, 1), 1, 0, "im2col"),  # 1x1 filters: nothing to save
        ((64, 32, 28, 28), (32, 32, 7, 7), 1, 3, "fourier"),  # large filters
        (
            (8, 128, 8, 8),
            (128, 128, 3, 3),
            1,
            1,
            "im2col",
        ),  # fewer multiply-adds, but a small batch
    ],
)
def test_auto_takes_the_cheaper_route(x_shape, w_shape, stride, padding, route):
    assert fast_conv.choose_route("auto", x_shape, w_shape, stride, padding) == route
    assert fast_conv.choose_route(route, x_shape, w_shape, stride, padding) == route


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"method": "fft"}, ["method", "'fft'", "'fourier'"]),
        ({"method": "fourier", "stride": 2}, ["fourier", "stride=2"]),
    ],
)
def test_a_bad_method_raises_a_clear_error(kwargs, words):
    x, w = np.zeros((2, 3, 8, 8)), np.zeros((4, 3, 3, 3))
    for call in (
        lambda: ops.conv2d(x, w, **kwargs),
        lambda: ops.conv2d_backward(np.zeros((2, 4, 6, 6)), x, w, **kwargs),
    ):
        with pytest.raises(ValueError) as info:
            call()
        for word in words:
            assert word in str(info.value)
