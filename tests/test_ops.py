"""Batched ops against PyTorch (forward and autograd), finite differences and the loop versions."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_tutorial import checks, gradcheck, layers, loops, ops
from cnn_tutorial.fast import conv as fast_conv
from cnn_tutorial.fast import fourier
from tests.conv_cases import CONV_CASES, as_torch, ids

POOL_CASES = [
    (n, c, h, w, size, stride)
    for (n, c, h, w, size, stride) in [
        (1, 1, 4, 4, 2, 2),
        (2, 3, 7, 5, 2, 2),
        (3, 2, 9, 11, 3, 2),
        (2, 2, 6, 8, 3, 3),
        (1, 4, 8, 6, 2, 1),
        (2, 1, 5, 5, 3, 1),
        (4, 8, 20, 20, 2, 2),
        (1, 2, 13, 7, 4, 3),
    ]
]


@pytest.mark.parametrize("method", ["simple", "im2col", "auto"])
@pytest.mark.parametrize("case", CONV_CASES, ids=ids(CONV_CASES))
def test_conv2d_forward_and_backward_match_torch(case, method):
    n, c, h, w, f, kh, kw, stride, padding = case
    rng = np.random.default_rng(sum(case))
    x = rng.standard_normal((n, c, h, w))
    weight = rng.standard_normal((f, c, kh, kw))
    bias = rng.standard_normal(f)

    out = ops.conv2d(x, weight, bias, stride=stride, padding=padding, method=method)
    xt, wt, bt = as_torch(x, True), as_torch(weight, True), as_torch(bias, True)
    out_t = F.conv2d(xt, wt, bt, stride=stride, padding=padding)
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-10, atol=1e-10)

    dout = rng.standard_normal(out.shape)
    out_t.backward(torch.tensor(dout))
    dx, dw, db = ops.conv2d_backward(dout, x, weight, stride=stride, padding=padding, method=method)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(db, bt.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("chunk_bytes", [1, 15000])  # one image per chunk; chunks of 2, 2, 1
def test_conv2d_split_into_cache_sized_chunks_matches_torch(monkeypatch, chunk_bytes):
    """Batches are processed a few images at a time; one image per chunk and an uneven last chunk
    must give the same numbers as the whole batch."""
    monkeypatch.setattr(fast_conv, "CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(fast_conv, "COL2IM_CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(7)
    x, weight = rng.standard_normal((5, 3, 9, 7)), rng.standard_normal((4, 3, 3, 2))
    assert (
        len(
            fast_conv.cache_sized_chunks(
                5, 3, 3, 2, fast_conv.geometry(x.shape, 3, 2, 2, 1), 8, chunk_bytes
            )
        )
        > 1
    )
    xt, wt = as_torch(x, True), as_torch(weight, True)
    out_t = F.conv2d(xt, wt, stride=2, padding=1)
    dout = rng.standard_normal(out_t.shape)
    out_t.backward(torch.tensor(dout))
    np.testing.assert_allclose(
        ops.conv2d(x, weight, stride=2, padding=1), out_t.detach().numpy(), rtol=1e-10, atol=1e-10
    )
    dx, dw, _ = ops.conv2d_backward(dout, x, weight, stride=2, padding=1)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("method", ["simple", "im2col"])
@pytest.mark.parametrize("case", CONV_CASES[:12], ids=ids(CONV_CASES[:12]))
def test_conv2d_backward_matches_finite_differences(case, method):
    n, c, h, w, f, kh, kw, stride, padding = case
    rng = np.random.default_rng(sum(case) + 1)
    x = rng.standard_normal((n, c, h, w))
    weight = rng.standard_normal((f, c, kh, kw))
    bias = rng.standard_normal(f)
    probe = rng.standard_normal(ops.conv2d(x, weight, bias, stride, padding).shape)
    dx, dw, db = ops.conv2d_backward(probe, x, weight, stride, padding, method=method)

    def loss(x_, w_, b_):
        return float(np.sum(ops.conv2d(x_, w_, b_, stride, padding, method=method) * probe))

    assert gradcheck(lambda v: loss(v, weight, bias), x, dx) < 1e-8
    assert gradcheck(lambda v: loss(x, v, bias), weight, dw) < 1e-8
    assert gradcheck(lambda v: loss(x, weight, v), bias, db) < 1e-8


@pytest.mark.parametrize("method", ["simple", "auto"])
def test_conv2d_backward_without_input_gradient(method):
    rng = np.random.default_rng(0)
    x, weight = rng.standard_normal((2, 3, 9, 7)), rng.standard_normal((4, 3, 3, 3))
    dout = rng.standard_normal((2, 4, 7, 5))
    dx_full, dw_full, db_full = ops.conv2d_backward(dout, x, weight, method=method)
    dx, dw, db = ops.conv2d_backward(dout, x, weight, need_dx=False, method=method)
    assert dx is None
    np.testing.assert_array_equal(dw, dw_full)
    np.testing.assert_array_equal(db, db_full)


@pytest.mark.parametrize("case", POOL_CASES, ids=ids(POOL_CASES))
def test_maxpool2d_forward_and_backward_match_torch(case):
    n, c, h, w, size, stride = case
    rng = np.random.default_rng(sum(case))
    x = rng.standard_normal((n, c, h, w))
    out = ops.maxpool2d(x, size, stride)
    xt = as_torch(x, True)
    out_t = F.max_pool2d(xt, size, stride)
    np.testing.assert_array_equal(out, out_t.detach().numpy())
    dout = rng.standard_normal(out.shape)
    out_t.backward(torch.tensor(dout))
    np.testing.assert_allclose(
        ops.maxpool2d_backward(dout, x, size, stride), xt.grad.numpy(), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("size, stride", [(2, 2), (3, 1), (2, 1), (3, 2)])
def test_maxpool2d_backward_with_ties_sends_gradient_to_one_position_like_torch(size, stride):
    # Integer-valued inputs with few distinct values: almost every window has tied maxima.
    rng = np.random.default_rng(size * 10 + stride)
    x = rng.integers(0, 3, size=(2, 3, 8, 7)).astype(np.float64)
    x[0, 0] = 1.0  # a whole plane of ties
    out_shape = ops.maxpool2d(x, size, stride).shape
    dout = rng.standard_normal(out_shape)
    xt = as_torch(x, True)
    F.max_pool2d(xt, size, stride).backward(torch.tensor(dout))
    dx = ops.maxpool2d_backward(dout, x, size, stride)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    if size == stride:
        # Non-overlapping windows: exactly one non-zero per window, carrying the whole gradient.
        assert np.count_nonzero(dx) == np.count_nonzero(dout)
        np.testing.assert_allclose(dx.sum(), dout.sum())


@pytest.mark.parametrize("size, stride", [(2, 2), (3, 2)])
def test_maxpool2d_backward_passes_an_infinite_gradient_only_to_the_winner_like_torch(size, stride):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 6, 6))
    dout = rng.standard_normal(ops.maxpool2d(x, size, stride).shape)
    dout[0, 0, 1, 1], dout[0, 1, 0, 0] = np.inf, -np.inf
    xt = as_torch(x, True)
    F.max_pool2d(xt, size, stride).backward(torch.tensor(dout))
    dx = ops.maxpool2d_backward(dout, x, size, stride)
    assert not np.isnan(dx).any()
    np.testing.assert_array_equal(np.isinf(dx), np.isinf(xt.grad.numpy()))
    finite = np.isfinite(dx)
    np.testing.assert_allclose(dx[finite], xt.grad.numpy()[finite], rtol=1e-12, atol=1e-12)


def test_maxpool2d_windows_that_do_not_tile_the_input_give_zero_gradient_to_the_remainder():
    x = np.arange(2 * 1 * 5 * 7, dtype=np.float64).reshape(2, 1, 5, 7)
    out = ops.maxpool2d(x, 2, 2)
    assert out.shape == (2, 1, 2, 3)
    dx = ops.maxpool2d_backward(np.ones_like(out), x, 2, 2)
    assert np.all(dx[:, :, 4, :] == 0) and np.all(dx[:, :, :, 6] == 0)


def test_maxpool2d_backward_matches_finite_differences():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 7, 6))  # distinct values: the max is differentiable
    probe = rng.standard_normal(ops.maxpool2d(x, 3, 2).shape)
    dx = ops.maxpool2d_backward(probe, x, 3, 2)
    assert gradcheck(lambda v: float(np.sum(ops.maxpool2d(v, 3, 2) * probe)), x, dx) < 1e-8


def test_ops_still_exports_the_dense_layer_and_relu():
    """dense and relu live in layers; ops re-exports the same functions."""
    for name in layers.__all__:
        assert getattr(ops, name) is getattr(layers, name), name
        assert name in ops.__all__, name


def test_dense_forward_and_backward_match_torch():
    rng = np.random.default_rng(7)
    x, weight, bias = (
        rng.standard_normal((6, 20)),
        rng.standard_normal((4, 20)),
        rng.standard_normal(4),
    )
    xt, wt, bt = as_torch(x, True), as_torch(weight, True), as_torch(bias, True)
    out_t = F.linear(xt, wt, bt)
    np.testing.assert_allclose(
        ops.dense(x, weight, bias.reshape(4, 1)), out_t.detach().numpy(), rtol=1e-12, atol=1e-12
    )
    dout = rng.standard_normal((6, 4))
    out_t.backward(torch.tensor(dout))
    for mine, theirs in zip(ops.dense_backward(dout, x, weight), (xt.grad, wt.grad, bt.grad)):
        np.testing.assert_allclose(mine, theirs.numpy(), rtol=1e-12, atol=1e-12)


def test_relu_forward_and_backward_match_torch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 5, 6))
    x[0, 0, 0, :3] = 0.0  # PyTorch's gradient at exactly 0 is 0
    xt = as_torch(x, True)
    out_t = F.relu(xt)
    np.testing.assert_array_equal(ops.relu(x), out_t.detach().numpy())
    dout = rng.standard_normal(x.shape)
    out_t.backward(torch.tensor(dout))
    np.testing.assert_array_equal(ops.relu_backward(dout, x), xt.grad.numpy())


@pytest.mark.parametrize("shape, axis", [((5, 10), 1), ((5, 10), -1), ((3, 4, 6), 0), ((7,), 0)])
def test_softmax_and_log_softmax_match_torch(shape, axis):
    x = np.random.default_rng(2).standard_normal(shape) * 5
    np.testing.assert_allclose(
        ops.softmax(x, axis), torch.softmax(as_torch(x), axis).numpy(), rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(
        ops.log_softmax(x, axis), torch.log_softmax(as_torch(x), axis).numpy(), rtol=1e-12
    )


def test_softmax_does_not_overflow_where_the_classic_formula_gives_nan():
    logits = np.array([800.0, 799.0, -800.0])
    with np.errstate(over="ignore", invalid="ignore"):
        classic = np.exp(logits) / np.sum(np.exp(logits))
    assert np.isnan(classic).any()  # the defect being fixed
    probs = ops.softmax(logits)
    assert np.all(np.isfinite(probs))
    np.testing.assert_allclose(probs, torch.softmax(as_torch(logits), 0).numpy(), rtol=1e-12)
    assert np.isfinite(ops.log_softmax(logits)).all()


def test_cross_entropy_and_its_gradient_match_torch():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((16, 10)) * 3
    labels = rng.integers(0, 10, 16)
    lt = as_torch(logits, True)
    loss_t = F.cross_entropy(lt, torch.tensor(labels))
    loss_t.backward()
    assert ops.cross_entropy(logits, labels) == pytest.approx(loss_t.item(), rel=1e-12)
    np.testing.assert_allclose(
        ops.cross_entropy_backward(logits, labels), lt.grad.numpy(), rtol=1e-12, atol=1e-15
    )
    dlogits = ops.cross_entropy_backward(logits, labels)
    assert gradcheck(lambda v: ops.cross_entropy(v, labels), logits.copy(), dlogits) < 1e-8


def test_cross_entropy_is_finite_when_the_correct_class_has_probability_zero():
    logits = np.array([[1000.0, 0.0, -1000.0]])
    loss = ops.cross_entropy(logits, np.array([2]))
    assert np.isfinite(loss) and loss == pytest.approx(2000.0)


@pytest.mark.parametrize("method", ["simple", "auto"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype, method):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 8, 8)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    out = ops.conv2d(x, w, b, stride=2, padding=1, method=method)
    dx, dw, db = ops.conv2d_backward(np.ones_like(out), x, w, stride=2, padding=1, method=method)
    pooled = ops.maxpool2d(x)
    results = [
        out,
        dx,
        dw,
        db,
        pooled,
        ops.maxpool2d_backward(np.ones_like(pooled), x),
        ops.relu(x),
        ops.relu_backward(x, x),
        ops.softmax(x),
        ops.log_softmax(x),
        ops.cross_entropy_backward(x.reshape(2, -1), np.array([0, 1])),
    ]
    assert all(r.dtype == dtype for r in results)


def test_float32_conv_agrees_with_float64():
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((4, 8, 24, 24)), rng.standard_normal((8, 8, 5, 5))
    np.testing.assert_allclose(
        ops.conv2d(x.astype(np.float32), w.astype(np.float32)),
        ops.conv2d(x, w),
        rtol=1e-4,
        atol=1e-4,
    )


@pytest.mark.parametrize("method", ["simple", "auto"])
def test_integer_input_is_promoted_to_float64(method):
    x = np.arange(16).reshape(1, 1, 4, 4)
    w = np.ones((1, 1, 2, 2), dtype=np.int64)
    out = ops.conv2d(x, w, np.zeros(1, dtype=np.int64), method=method)
    assert out.dtype == np.float64 and out[0, 0, 0, 0] == 0 + 1 + 4 + 5


@pytest.mark.parametrize("case", CONV_CASES[:10], ids=ids(CONV_CASES[:10]))
def test_loop_versions_equal_batched_versions(case):
    n, c, h, w, f, kh, kw, stride, _ = case  # the loop versions have no padding
    if kh > h or kw > w:
        pytest.skip("kernel only fits the padded input")
    rng = np.random.default_rng(sum(case) + 2)
    x = rng.standard_normal((n, c, h, w))
    weight = rng.standard_normal((f, c, kh, kw))
    bias = rng.standard_normal((f, 1))
    batched = ops.conv2d(x, weight, bias, stride=stride)
    dout = rng.standard_normal(batched.shape)
    dx, dw, db = ops.conv2d_backward(dout, x, weight, stride=stride)
    sum_dw, sum_db = np.zeros_like(dw), np.zeros_like(db)
    for i in range(n):
        np.testing.assert_allclose(
            loops.convolution(x[i], weight, bias, s=stride), batched[i], rtol=1e-10, atol=1e-12
        )
        dx_i, dw_i, db_i = loops.convolution_backward(dout[i], x[i], weight, s=stride)
        np.testing.assert_allclose(dx_i, dx[i], rtol=1e-10, atol=1e-12)
        sum_dw += dw_i
        sum_db += db_i
    np.testing.assert_allclose(sum_dw, dw, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sum_db, db, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", POOL_CASES, ids=ids(POOL_CASES))
def test_loop_maxpool_equals_batched(case):
    n, c, h, w, size, stride = case
    rng = np.random.default_rng(sum(case) + 3)
    x = rng.integers(0, 4, size=(n, c, h, w)).astype(np.float64)  # ties included
    out = ops.maxpool2d(x, size, stride)
    dout = rng.standard_normal(out.shape)
    dx = ops.maxpool2d_backward(dout, x, size, stride)
    for i in range(n):
        np.testing.assert_array_equal(loops.maxpool(x[i], size, stride), out[i])
        np.testing.assert_allclose(
            loops.maxpool_backward(dout[i], x[i], size, stride), dx[i], rtol=1e-12, atol=1e-12
        )


def test_im2col_columns_are_the_windows():
    """Column (i, j) of image n is the window at (i, j), flattened like a filter, padding included."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 7, 6))
    kh, kw, stride, padding = 3, 2, 2, 1
    cols = ops.im2col(x, kh, kw, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ho, wo = 4, 4
    assert cols.shape == (2, 3 * kh * kw, ho * wo)
    for n in range(2):
        for i in range(ho):
            for j in range(wo):
                window = xp[n, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
                np.testing.assert_array_equal(cols[n, :, i * wo + j], window.reshape(-1))


def test_col2im_is_the_adjoint_of_im2col():
    """<im2col(x), g> == <x, col2im(g)> for any x and g: col2im is im2col's transpose."""
    rng = np.random.default_rng(9)
    for kh, kw, stride, padding in [(3, 3, 1, 0), (2, 3, 2, 1), (5, 5, 3, 2), (1, 1, 1, 0)]:
        x = rng.standard_normal((2, 3, 8, 7))
        cols = ops.im2col(x, kh, kw, stride, padding)
        g = rng.standard_normal(cols.shape)
        back = ops.col2im(g, x.shape, kh, kw, stride, padding)
        assert back.shape == x.shape
        assert np.isclose(np.sum(cols * g), np.sum(x * back), rtol=1e-12)


@pytest.mark.parametrize("method", ["im2col", "fourier"])
def test_fast_routes_give_the_simple_routes_numbers(method):
    rng = np.random.default_rng(10)
    x, weight = rng.standard_normal((6, 8, 24, 24)), rng.standard_normal((8, 8, 5, 5))
    dout = rng.standard_normal((6, 8, 20, 20))
    simple = [
        ops.conv2d(x, weight, method="simple"),
        *ops.conv2d_backward(dout, x, weight, method="simple"),
    ]
    fast = [
        ops.conv2d(x, weight, method=method),
        *ops.conv2d_backward(dout, x, weight, method=method),
    ]
    for a, b in zip(simple, fast):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------- bad input

X = np.zeros((2, 3, 8, 8))
W = np.zeros((4, 3, 3, 3))


@pytest.mark.parametrize(
    "call, error, words",
    [
        (
            lambda: ops.conv2d(np.zeros((3, 8, 8)), W),
            ValueError,
            ["x", "(N, C, H, W)", "(3, 8, 8)"],
        ),
        (lambda: ops.conv2d(X, np.zeros((4, 3, 3))), ValueError, ["w", "(4, 3, 3)"]),
        (
            lambda: ops.conv2d(X, np.zeros((4, 2, 3, 3))),
            ValueError,
            ["channel", "3", "2", "(4, 2, 3, 3)"],
        ),
        (
            lambda: ops.conv2d(X, np.zeros((4, 3, 11, 3)), padding=1),
            ValueError,
            ["kernel 11x3", "10x10"],
        ),
        (lambda: ops.conv2d(X, W, stride=0), ValueError, ["stride", "0"]),
        (lambda: ops.conv2d(X, W, method="fast"), ValueError, ["method", "simple", "'fast'"]),
        (lambda: ops.conv2d(X, W, stride=0, method="simple"), ValueError, ["stride", "0"]),
        (
            lambda: ops.conv2d(X, np.zeros((4, 2, 3, 3)), method="simple"),
            ValueError,
            ["channel", "(4, 2, 3, 3)"],
        ),
        (
            lambda: ops.conv2d_backward(np.zeros((2, 4, 5, 5)), X, W, method="simple"),
            ValueError,
            ["dout", "(2, 4, 6, 6)"],
        ),
        (lambda: ops.conv2d(X, W, stride=1.5), TypeError, ["stride", "1.5"]),
        (lambda: ops.conv2d(X, W, padding=-1), ValueError, ["padding", "-1"]),
        (lambda: ops.conv2d(X, W, np.zeros(3)), ValueError, ["b", "(4,)", "(3,)"]),
        (lambda: ops.conv2d(X.astype(complex), W), TypeError, ["x", "complex"]),
        (lambda: ops.conv2d(np.array([["a"]]), W), TypeError, ["x"]),
        (
            lambda: ops.conv2d_backward(np.zeros((2, 4, 5, 5)), X, W),
            ValueError,
            ["dout", "(2, 4, 6, 6)", "(2, 4, 5, 5)"],
        ),
        (lambda: ops.maxpool2d(X, size=0), ValueError, ["size", "0"]),
        (lambda: ops.maxpool2d(X, stride=0), ValueError, ["stride", "0"]),
        (lambda: ops.maxpool2d(X, size=9), ValueError, ["pool window 9x9", "8x8"]),
        (lambda: ops.maxpool2d(np.zeros((8, 8))), ValueError, ["x", "(8, 8)"]),
        (
            lambda: ops.maxpool2d_backward(np.zeros((2, 3, 3, 3)), X),
            ValueError,
            ["dout", "(2, 3, 4, 4)"],
        ),
        (
            lambda: ops.dense(np.zeros((2, 5)), np.zeros((3, 4))),
            ValueError,
            ["5 features", "(3, 4)"],
        ),
        (
            lambda: ops.dense_backward(np.zeros((2, 2)), np.zeros((2, 4)), np.zeros((3, 4))),
            ValueError,
            ["dout", "(2, 3)"],
        ),
        (lambda: ops.relu_backward(np.zeros(3), np.zeros(4)), ValueError, ["dout", "(3,)", "(4,)"]),
        (
            lambda: ops.cross_entropy(np.zeros((2, 3)), np.array([0, 3])),
            ValueError,
            ["labels", "[0, 2]"],
        ),
        (
            lambda: ops.cross_entropy(np.zeros((2, 3)), np.array([0])),
            ValueError,
            ["labels", "(2,)", "(1,)"],
        ),
        (
            lambda: ops.cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0])),
            TypeError,
            ["labels", "float64"],
        ),
        (lambda: ops.cross_entropy(np.zeros(3), np.array([0])), ValueError, ["logits", "(3,)"]),
        (
            lambda: loops.convolution(np.zeros((1, 8, 8)), np.zeros((2, 3, 3, 3)), np.zeros(2)),
            ValueError,
            ["channel", "(1, 8, 8)"],
        ),
        (
            lambda: loops.convolution(np.zeros((1, 4, 9)), np.zeros((2, 1, 5, 5)), np.zeros(2)),
            ValueError,
            ["filter 5x5", "4x9"],
        ),
        (
            lambda: loops.convolution(
                np.zeros((1, 8, 8)), np.zeros((2, 1, 3, 3)), np.zeros((3, 1))
            ),
            ValueError,
            ["bias", "(2,)", "(3, 1)"],
        ),
        (
            lambda: loops.convolution(np.zeros((8, 8)), np.zeros((2, 1, 3, 3)), np.zeros(2)),
            ValueError,
            ["image", "(8, 8)"],
        ),
        (
            lambda: loops.convolution(
                np.zeros((1, 8, 8)), np.zeros((2, 1, 3, 3)), np.zeros(2), s=0
            ),
            ValueError,
            ["s", "0"],
        ),
        (lambda: loops.maxpool(np.zeros((1, 8, 8)), f=0), ValueError, ["f", "0"]),
        (lambda: loops.maxpool(np.zeros((1, 3, 8)), f=4), ValueError, ["pool window 4x4", "3x8"]),
        (
            lambda: loops.maxpool_backward(np.zeros((1, 2, 2)), np.zeros((1, 6, 6))),
            ValueError,
            ["dpool", "(1, 3, 3)"],
        ),
        # Degenerate shapes: nothing to compute, and before they failed with ZeroDivisionError or
        # a reshape error.
        (
            lambda: ops.conv2d(np.zeros((2, 0, 8, 8)), np.zeros((4, 0, 3, 3))),
            ValueError,
            ["x", "C", "(2, 0, 8, 8)"],
        ),
        (
            lambda: ops.conv2d(X, np.zeros((4, 3, 0, 0))),
            ValueError,
            ["w", "kh, kw", "(4, 3, 0, 0)"],
        ),
        (lambda: ops.conv2d(X, np.zeros((0, 3, 3, 3))), ValueError, ["w", "F", "(0, 3, 3, 3)"]),
        (
            lambda: ops.conv2d_backward(np.zeros((2, 0, 6, 6)), X, np.zeros((0, 3, 3, 3))),
            ValueError,
            ["w", "F"],
        ),
        (lambda: ops.maxpool2d(np.zeros((2, 0, 8, 8))), ValueError, ["x", "C", "(2, 0, 8, 8)"]),
        (
            lambda: loops.convolution(np.zeros((0, 8, 8)), np.zeros((2, 0, 3, 3)), np.zeros(2)),
            ValueError,
            ["image", "C"],
        ),
        (
            lambda: loops.convolution(np.zeros((1, 8, 8)), np.zeros((2, 1, 0, 0)), np.zeros(2)),
            ValueError,
            ["filt", "k, k"],
        ),
        (
            lambda: loops.convolution(np.zeros((1, 8, 8)), np.zeros((0, 1, 3, 3)), np.zeros(0)),
            ValueError,
            ["filt", "F"],
        ),
        (lambda: loops.maxpool(np.zeros((0, 8, 8))), ValueError, ["image", "C"]),
        # Sizes that would exhaust memory are refused before anything is allocated.
        (
            lambda: ops.conv2d(np.zeros((1, 1, 28, 28)), np.zeros((1, 1, 3, 3)), padding=30000),
            ValueError,
            ["padded input", "padding=30000", "GiB", "MAX_ARRAY_BYTES"],
        ),
        (
            lambda: ops.conv2d_backward(
                np.zeros((1, 1, 1, 1)),
                np.zeros((1, 1, 28, 28)),
                np.zeros((1, 1, 3, 3)),
                padding=30000,
            ),
            ValueError,
            ["padded input", "GiB"],
        ),
        (lambda: loops.categorical_cross_entropy(np.full(3, 1 / 3), 3), ValueError, ["label", "3"]),
        (
            lambda: loops.categorical_cross_entropy(np.full(3, 1 / 3), np.zeros(4)),
            ValueError,
            ["label", "(4,)"],
        ),
    ],
)
def test_bad_input_raises_a_clear_error(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value), f"{word!r} not in {info.value!s}"


def test_both_routes_check_their_arrays_against_the_allocation_ceiling(monkeypatch):
    """Lowered below an array a route would allocate, the ceiling stops it with the size it needs."""
    x, w = np.zeros((4, 3, 16, 16)), np.zeros((5, 3, 3, 3))
    monkeypatch.setattr(checks, "MAX_ARRAY_BYTES", x.nbytes - 1)
    with pytest.raises(
        ValueError,
        match=r"padded input \(padding=1\) would need an array of shape \(4, 3, 19, 17\), 30.3 KiB",
    ):
        ops.conv2d(x, w, padding=1)
    # The Fourier route's largest array: 16 x 9 frequencies of 3 x 5 complex filter spectra.
    monkeypatch.setattr(checks, "MAX_ARRAY_BYTES", 16 * 9 * 3 * 5 * 16 - 1)
    with pytest.raises(
        ValueError,
        match=r"Fourier route's filter spectra would need an array of shape \(144, 3, 5\)",
    ):
        fourier.correlate(x, w, padding=0)


def test_maxpool2d_sends_the_gradient_to_the_nan_like_torch():
    """NaN is a window's output, so its gradient goes there; with two NaNs, to the last one, as
    PyTorch does.
    """
    nan = np.nan
    x = np.array(
        [[[[1.0, nan, 5.0, 2.0], [nan, 2.0, 1.0, nan], [7.0, 7.0, nan, 0.0], [1.0, 3.0, 4.0, nan]]]]
    )
    dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    xt = as_torch(x, True)
    out_t = F.max_pool2d(xt, 2, 2)
    out_t.backward(torch.tensor(dout))
    np.testing.assert_array_equal(ops.maxpool2d(x), out_t.detach().numpy())
    np.testing.assert_array_equal(ops.maxpool2d_backward(dout, x), xt.grad.numpy())
    assert ops.maxpool2d_backward(dout, x)[0, 0, 1, 0] == 1.0  # the second of two NaNs


@pytest.mark.parametrize(
    "method, need_dx", [("fourier", True), ("fourier", False), ("im2col", False), ("im2col", True)]
)
def test_conv2d_backward_reuses_the_forward_work_without_changing_a_bit(method, need_dx):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 3, 12, 11)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    saved = {}
    out = ops.conv2d(x, w, method=method, padding=1, saved=saved)
    assert saved["route"] == method and saved["work"]
    np.testing.assert_array_equal(out, ops.conv2d(x, w, method=method, padding=1))
    dout = rng.standard_normal(out.shape).astype(np.float32)
    fresh = ops.conv2d_backward(dout, x, w, padding=1, method=method, need_dx=need_dx)
    reused = ops.conv2d_backward(dout, x, w, padding=1, method=method, need_dx=need_dx, saved=saved)
    for a, b in zip(fresh, reused):
        if a is None:
            assert b is None
        else:
            np.testing.assert_array_equal(a, b)


def test_saved_work_of_another_input_is_ignored():
    rng = np.random.default_rng(6)
    x, other = rng.standard_normal((2, 4, 3, 10, 10)).astype(np.float32)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)
    saved = {}
    ops.conv2d(x, w, method="fourier", saved=saved)
    dout = rng.standard_normal((4, 5, 8, 8)).astype(np.float32)
    for args, kwargs in (
        ((dout, other, w), {}),
        ((dout, x, w.copy()), {}),
        ((dout, x, w), {"method": "im2col"}),
    ):
        expected = ops.conv2d_backward(*args, **kwargs)
        got = ops.conv2d_backward(*args, saved=saved, **kwargs)
        for a, b in zip(expected, got):
            np.testing.assert_array_equal(a, b)


def test_saved_must_be_a_dict():
    x, w = np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2))
    with pytest.raises(TypeError, match="saved must be a dict"):
        ops.conv2d(x, w, saved=[])
    with pytest.raises(TypeError, match="saved must be a dict"):
        ops.conv2d_backward(np.ones((1, 1, 3, 3)), x, w, saved="spectra")


def test_categorical_cross_entropy_takes_an_index_or_a_one_hot_vector_and_a_column():
    """The declared checks turn an index into the one-hot vector; a (K, 1) column is flattened."""
    probs = np.array([0.2, 0.5, 0.3])
    expected = -np.log(0.5)
    assert loops.categorical_cross_entropy(probs, 1) == pytest.approx(expected)
    assert loops.categorical_cross_entropy(probs, np.int64(1)) == pytest.approx(expected)
    assert loops.categorical_cross_entropy(probs[:, None], np.eye(3)[1][:, None]) == (
        pytest.approx(expected)
    )
    with pytest.raises(ValueError, match=r"probs must be a 1-D array of shape \(K,\) or \(K, 1\)"):
        loops.categorical_cross_entropy(np.ones((3, 2)), 0)
    with pytest.raises(TypeError, match="label must be an integer"):
        loops.categorical_cross_entropy(probs, 1.0)


def test_loops_filters_must_not_be_empty_along_either_window_axis():
    with pytest.raises(ValueError, match=r"filt must have at least 1 entry along k;"):
        loops.convolution(np.zeros((1, 8, 8)), np.zeros((2, 1, 3, 0)), np.zeros(2))
