"""Property tests (hypothesis): the batched ops against PyTorch, the loop versions against the
batched ones, and the idx reader against random corruptions of the real MNIST files.

Shapes, strides, paddings, dtypes and corruptions are drawn by hypothesis; array values come from a
numpy generator seeded by a drawn integer (drawing thousands of floats one by one through hypothesis
would be slow and shrinks no better). Every test is derandomized and keeps no example database, so
a run tests the same examples everywhere.

Tolerances. PyTorch, in float64, is the reference for both dtypes. A sum of products computed in
another order differs from it by at most about ``terms * eps * sum(|products|)``, so results are
compared with an absolute tolerance scaled by the largest such "magnitude of the sum" (the same op
applied to absolute values): ``TOL[float64] = 1e-9`` (eps 2.2e-16, sums of at most a few thousand
terms: 1e-9 leaves orders of magnitude to spare, yet catches any wrong term) and
``TOL[float32] = 1e-4`` (eps 1.2e-7 times a few hundred terms in the worst case).
"""

from __future__ import annotations

import gzip
import math
import struct
import tempfile
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import event, given, settings
from hypothesis import strategies as st

from cnn_tutorial import data, loops, mnist_files, ops
from tests.conv_cases import as_torch  # float64: the reference precision for both dtypes

DTYPES = [np.float32, np.float64]
TOL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-9}

# Deterministic everywhere (CI included); no example database, so no run depends on an earlier one.
COMMON = dict(deadline=None, derandomize=True, database=None)

seeds = st.integers(0, 2**32 - 1)


def assert_close_scaled(actual, expected, magnitude, dtype, what):
    """``|actual - expected| <= TOL * max(magnitude)``; magnitude is the op applied to |inputs|
    (the scale of the rounding error of a sum, see the module docstring). Dtype must be kept."""
    actual = np.asarray(actual)
    assert actual.dtype == np.dtype(dtype), (
        f"{what}: dtype {actual.dtype}, expected {np.dtype(dtype)}"
    )
    assert actual.shape == expected.shape, (
        f"{what}: shape {actual.shape}, expected {expected.shape}"
    )
    tol = TOL[np.dtype(dtype)]
    scale = float(np.max(magnitude, initial=0.0))
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale + 1e-300, err_msg=what)


def integer_valued(rng, shape, dtype, low=-1000, high=1000):
    """Random integer-valued floats: every sum of a few of them is exact in float32 and float64,
    so gradients that add up over overlapping windows can be compared exactly."""
    return rng.integers(low, high + 1, size=shape).astype(dtype)


# ------------------------------------------------------------------------------------ convolution


@st.composite
def conv_geometries(draw, max_stride=3):
    """(n, c, h, w, f, kh, kw, stride, padding) with the kernel fitting the padded input."""
    n, c, f = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
    h, w = draw(st.integers(1, 14)), draw(st.integers(1, 14))
    stride, padding = draw(st.integers(1, max_stride)), draw(st.integers(0, 3))
    kh, kw = draw(st.integers(1, h + 2 * padding)), draw(st.integers(1, w + 2 * padding))
    return n, c, h, w, f, kh, kw, stride, padding


def torch_conv(x, weight, bias, dout, stride, padding):
    """(out, dx, dw, db) of F.conv2d in float64, and the same for |x|, |w|, |b|, |dout| (the magnitudes)."""
    results = []
    for values in (
        (x, weight, bias, dout),
        tuple(None if a is None else np.abs(a) for a in (x, weight, bias, dout)),
    ):
        xt, wt = as_torch(values[0], True), as_torch(values[1], True)
        bt = None if values[2] is None else as_torch(values[2], True)
        out = F.conv2d(xt, wt, bt, stride=stride, padding=padding)
        out.backward(as_torch(values[3]))
        db = as_torch(values[3]).sum(dim=(0, 2, 3)) if bt is None else bt.grad
        results.append(tuple(t.detach().numpy() for t in (out, xt.grad, wt.grad, db)))
    return results


@pytest.mark.parametrize("method", ["simple", "im2col", "auto", "fourier"])
@settings(max_examples=300, **COMMON)
@given(geometry=st.data(), dtype=st.sampled_from(DTYPES), with_bias=st.booleans(), seed=seeds)
def test_conv2d_and_backward_match_torch(method, geometry, dtype, with_bias, seed):
    """conv2d and conv2d_backward equal F.conv2d and its autograd gradients (float64 reference) for
    random geometries.
    """
    n, c, h, w, f, kh, kw, stride, padding = geometry.draw(
        conv_geometries(max_stride=1 if method == "fourier" else 3),
        label="n, c, h, w, f, kh, kw, stride, padding",
    )
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    weight = rng.standard_normal((f, c, kh, kw)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype) if with_bias else None

    out = ops.conv2d(x, weight, bias, stride=stride, padding=padding, method=method)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = ops.conv2d_backward(dout, x, weight, stride=stride, padding=padding, method=method)

    reference, magnitude = torch_conv(x, weight, bias, dout, stride, padding)
    for name, mine, theirs, scale in zip(
        ("out", "dx", "dw", "db"), (out, dx, dw, db), reference, magnitude
    ):
        assert_close_scaled(mine, theirs, scale, dtype, name)


def assert_same_non_finite(actual, expected, magnitude, dtype, what):
    """Same NaN, +inf and -inf positions; the finite entries close as in :func:`assert_close_scaled`."""
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(
            test(actual), test(expected), err_msg=f"{what}: {test.__name__} differs"
        )
    finite = np.isfinite(expected)
    assert_close_scaled(
        actual[finite],
        expected[finite],
        np.where(np.isfinite(magnitude), magnitude, 0.0),
        dtype,
        what,
    )


@pytest.mark.parametrize("method", ["simple", "im2col", "auto"])
@settings(max_examples=150, **COMMON)
@given(
    geometry=conv_geometries(),
    dtype=st.sampled_from(DTYPES),
    bad=st.sampled_from([np.inf, -np.inf, np.nan]),
    count=st.integers(1, 3),
    seed=seeds,
)
def test_conv2d_with_non_finite_input_matches_torch(method, geometry, dtype, bad, count, seed):
    """A few inf/NaN pixels in x give conv2d and conv2d_backward the same NaN/inf entries as
    PyTorch, and the same finite ones.
    """
    n, c, h, w, f, kh, kw, stride, padding = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    x.reshape(-1)[rng.integers(0, x.size, count)] = bad
    weight = rng.standard_normal((f, c, kh, kw)).astype(dtype)
    bias = rng.standard_normal(f).astype(dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        out = ops.conv2d(x, weight, bias, stride=stride, padding=padding, method=method)
        dout = rng.standard_normal(out.shape).astype(dtype)
        grads = ops.conv2d_backward(dout, x, weight, stride=stride, padding=padding, method=method)
    # Magnitudes of the finite contributions: the non-finite pixels left out.
    reference, _ = torch_conv(x, weight, bias, dout, stride, padding)
    _, magnitude = torch_conv(np.where(np.isfinite(x), x, 0), weight, bias, dout, stride, padding)
    for name, mine, theirs, scale in zip(
        ("out", "dx", "dw", "db"), (out, *grads), reference, magnitude
    ):
        assert_same_non_finite(mine, theirs, scale, dtype, name)


# ------------------------------------------------------------------------------------ max pooling


@st.composite
def pool_geometries(draw, max_batch=4, max_side=14):
    """(n, c, h, w, size, stride) with the window fitting the input; stride may exceed the window."""
    n, c = draw(st.integers(1, max_batch)), draw(st.integers(1, 4))
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    size = draw(st.integers(1, min(h, w)))
    stride = draw(st.integers(1, 4))
    return n, c, h, w, size, stride


def pool_inputs(rng, shape, dtype, levels):
    """Integer values in [0, levels) (ties common; levels=1: every window tied), or, for
    levels=None, distinct continuous values."""
    if levels is None:
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(0, levels, size=shape).astype(dtype)


def assert_pool_equals_torch(x, size, stride, rng):
    """maxpool2d and its backward on ``x`` equal PyTorch's exactly (NaN == NaN); returns ``(out,
    dout, dx)``.
    """
    out = ops.maxpool2d(x, size, stride)
    # Integer-valued gradients: overlapping windows add up exactly in either order, so any
    # difference is a gradient sent to the wrong position.
    dout = integer_valued(rng, out.shape, x.dtype)
    dx = ops.maxpool2d_backward(dout, x, size, stride)
    xt = as_torch(x, True)
    out_t = F.max_pool2d(xt, size, stride)
    out_t.backward(as_torch(dout))
    np.testing.assert_array_equal(out, out_t.detach().numpy())
    np.testing.assert_array_equal(dx, xt.grad.numpy())
    return out, dout, dx


@settings(max_examples=400, **COMMON)
@given(
    geometry=pool_geometries(),
    dtype=st.sampled_from(DTYPES),
    levels=st.sampled_from([None, 1, 2, 3, 5]),
    seed=seeds,
)
def test_maxpool2d_and_backward_equal_torch_exactly(geometry, dtype, levels, seed):
    """maxpool2d and maxpool2d_backward equal F.max_pool2d and its gradient exactly, ties included
    (one winner per window).
    """
    n, c, h, w, size, stride = geometry
    rng = np.random.default_rng(seed)
    x = pool_inputs(rng, (n, c, h, w), dtype, levels)
    out, dout, dx = assert_pool_equals_torch(x, size, stride, rng)
    assert out.dtype == dtype and dx.dtype == dtype


@settings(max_examples=300, **COMMON)
@given(
    geometry=pool_geometries(),
    dtype=st.sampled_from(DTYPES),
    nan_fraction=st.sampled_from([0.05, 0.3, 1.0]),
    seed=seeds,
)
def test_maxpool2d_with_nan_equals_torch_exactly(geometry, dtype, nan_fraction, seed):
    """With NaN in the input, maxpool2d / maxpool2d_backward still equal PyTorch exactly (NaN
    propagates, its gradient goes where torch's goes).
    """
    n, c, h, w, size, stride = geometry
    rng = np.random.default_rng(seed)
    x = pool_inputs(rng, (n, c, h, w), dtype, 3)
    x[rng.random(x.shape) < nan_fraction] = np.nan
    out, dout, dx = assert_pool_equals_torch(x, size, stride, rng)
    # The loop versions claim the same NaN rule (checked on the first image: they are slow).
    np.testing.assert_array_equal(loops.maxpool(x[0], size, stride), out[0])
    np.testing.assert_array_equal(loops.maxpool_backward(dout[0], x[0], size, stride), dx[0])


# ------------------------------------------------------------------------------------ ReLU, cross-entropy

array_shapes = st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple)


@settings(max_examples=300, **COMMON)
@given(
    shape=array_shapes,
    dtype=st.sampled_from(DTYPES),
    zero_fraction=st.sampled_from([0.0, 0.3]),
    scale=st.sampled_from([1e-30, 1.0, 1e30]),
    seed=seeds,
)
def test_relu_and_backward_equal_torch_exactly(shape, dtype, zero_fraction, scale, seed):
    """relu and relu_backward equal F.relu and its gradient exactly, zeros (gradient 0) included."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    x[rng.random(shape) < zero_fraction] = 0.0
    dout = rng.standard_normal(shape).astype(dtype)
    xt = as_torch(x, True)
    out_t = F.relu(xt)
    out_t.backward(as_torch(dout))
    out, dx = ops.relu(x), ops.relu_backward(dout, x)
    assert out.dtype == dtype and dx.dtype == dtype
    np.testing.assert_array_equal(out, out_t.detach().numpy())
    np.testing.assert_array_equal(dx, xt.grad.numpy())


@settings(max_examples=100, **COMMON)
@given(shape=array_shapes, dtype=st.sampled_from(DTYPES), seed=seeds)
def test_relu_with_nan_and_inf_equals_torch_exactly(shape, dtype, seed):
    """With NaN and +-inf inputs (finite upstream gradient), relu and relu_backward still equal
    PyTorch exactly.
    """
    rng = np.random.default_rng(seed)
    x = rng.choice(np.array([np.nan, np.inf, -np.inf, -1.0, 0.0, 1.0]), size=shape).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    xt = as_torch(x, True)
    out_t = F.relu(xt)
    out_t.backward(as_torch(dout))
    np.testing.assert_array_equal(ops.relu(x), out_t.detach().numpy())
    np.testing.assert_array_equal(ops.relu_backward(dout, x), xt.grad.numpy())


@settings(max_examples=500, **COMMON)
@given(
    n=st.integers(1, 64),
    classes=st.integers(1, 20),
    dtype=st.sampled_from(DTYPES),
    scale=st.sampled_from([1e-3, 1.0, 30.0, 1e2, 1e3]),
    spread=st.sampled_from(["normal", "uniform", "one-hot"]),
    seed=seeds,
)
def test_cross_entropy_and_backward_match_torch(n, classes, dtype, scale, spread, seed):
    """cross_entropy (mean) and cross_entropy_backward match F.cross_entropy and its gradient,
    finite for logits up to 1e3.
    """
    rng = np.random.default_rng(seed)
    if spread == "normal":
        logits = rng.standard_normal((n, classes)) * scale
    elif spread == "uniform":
        logits = rng.uniform(-scale, scale, (n, classes))
    else:  # one huge logit per row, often not the labelled one: probabilities underflow to 0
        logits = np.zeros((n, classes))
        logits[np.arange(n), rng.integers(0, classes, n)] = scale
    logits = logits.astype(dtype)
    labels = rng.integers(0, classes, n)

    loss = ops.cross_entropy(logits, labels)
    grad = ops.cross_entropy_backward(logits, labels)
    lt = as_torch(logits, True)
    loss_t = F.cross_entropy(lt, torch.tensor(labels), reduction="mean")
    loss_t.backward()

    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    tol = TOL[np.dtype(dtype)]
    # The loss is -(logit_y - max - log(sum exp(shifted))): its rounding error is eps times the
    # size of the logits, hence an absolute tolerance proportional to max |logit| (at least 1).
    size = max(1.0, float(np.max(np.abs(logits))))
    assert loss == pytest.approx(loss_t.item(), rel=tol, abs=tol * size)
    # Softmax probabilities carry a relative error of eps * max |logit| (exp of a rounded exponent),
    # divided by N like the gradient itself.
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad, lt.grad.numpy(), rtol=tol, atol=tol * size / n)


# ------------------------------------------------------------------------------------ loops vs batched


@st.composite
def small_conv_geometries(draw):
    """(c, h, w, f, kh, kw, stride): one small image, no padding (the loop versions have none)."""
    c, f = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    kh, kw = draw(st.integers(1, h)), draw(st.integers(1, w))
    return c, h, w, f, kh, kw, draw(st.integers(1, 3))


@settings(max_examples=250, **COMMON)
@given(
    geometry=small_conv_geometries(),
    dtype=st.sampled_from(DTYPES),
    bias_column=st.booleans(),
    seed=seeds,
)
def test_loop_convolution_and_backward_equal_batched(geometry, dtype, bias_column, seed):
    """loops.convolution / convolution_backward on one image equal ops.conv2d / conv2d_backward on a
    batch of one.
    """
    c, h, w, f, kh, kw, stride = geometry
    rng = np.random.default_rng(seed)
    image = rng.standard_normal((c, h, w)).astype(dtype)
    filt = rng.standard_normal((f, c, kh, kw)).astype(dtype)
    bias = rng.standard_normal((f, 1) if bias_column else f).astype(dtype)

    batched = ops.conv2d(image[None], filt, bias, stride=stride)[0]
    looped = loops.convolution(image, filt, bias, stride)
    # Magnitude of the sums: the same convolution of absolute values.
    magnitude = ops.conv2d(np.abs(image[None]), np.abs(filt), np.abs(bias), stride=stride)[0]
    assert_close_scaled(looped, batched, magnitude, dtype, "out")

    dout = rng.standard_normal(batched.shape).astype(dtype)
    dx, dw, db = ops.conv2d_backward(dout[None], image[None], filt, stride=stride)
    mags = ops.conv2d_backward(np.abs(dout[None]), np.abs(image[None]), np.abs(filt), stride=stride)
    for name, mine, theirs, scale in zip(
        ("dx", "dw", "db"),
        loops.convolution_backward(dout, image, filt, stride),
        (dx[0], dw, db),
        (mags[0][0], *mags[1:]),
    ):
        assert_close_scaled(mine, theirs, scale, dtype, name)


@settings(max_examples=300, **COMMON)
@given(
    geometry=pool_geometries(max_batch=1, max_side=9),
    dtype=st.sampled_from(DTYPES),
    levels=st.sampled_from([None, 1, 2, 3]),
    seed=seeds,
)
def test_loop_maxpool_and_backward_equal_batched(geometry, dtype, levels, seed):
    """loops.maxpool / maxpool_backward on one image equal ops.maxpool2d / maxpool2d_backward
    exactly, ties included.
    """
    _, c, h, w, size, stride = geometry
    rng = np.random.default_rng(seed)
    image = pool_inputs(rng, (c, h, w), dtype, levels)
    out = ops.maxpool2d(image[None], size, stride)[0]
    np.testing.assert_array_equal(loops.maxpool(image, size, stride), out)
    dout = integer_valued(rng, out.shape, dtype)  # exact sums over overlapping windows
    np.testing.assert_array_equal(
        loops.maxpool_backward(dout, image, size, stride),
        ops.maxpool2d_backward(dout[None], image[None], size, stride)[0],
    )


# ------------------------------------------------------------------------------------ idx reader

IMAGE_COUNT = 50  # small but valid idx files cut from the real ones, so each example is fast


def _real_bytes(root: Path, name: str) -> bytes:
    path = mnist_files._find(root / "MNIST" / "raw", name)
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


@cache
def small_idx(root: Path, name: str, count: int = IMAGE_COUNT) -> bytes:
    """The first ``count`` items of a real idx file, its header's count rewritten to match."""
    raw = _real_bytes(root, name)
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    assert dims[0] >= count
    item = math.prod(dims[1:])
    header = raw[:4] + struct.pack(f">{ndim}I", count, *dims[1:])
    return header + raw[4 + 4 * ndim : 4 + 4 * ndim + count * item]


@cache
def gzipped(content: bytes) -> bytes:
    return gzip.compress(content, mtime=0)


def honest_decode(raw: bytes) -> np.ndarray | None:
    """What a file declares, decoded independently of read_idx; None when it is not a valid idx
    file of unsigned bytes (invalid gzip, wrong magic, size disagreeing with the header)."""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)  # the standard library decides what valid gzip is
        except Exception:
            return None
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08" or raw[3] not in (1, 3):
        return None
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        return None
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    if math.prod(dims) != len(raw) - header:
        return None
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def corruptions(max_len: int = 40):
    """One random corruption, as (kind, arguments); applied by :func:`corrupt`."""
    position = st.integers(0, 2**31)  # taken modulo the length of what it applies to
    return st.one_of(
        st.tuples(st.just("truncate"), position),
        st.tuples(st.just("append"), st.binary(min_size=1, max_size=max_len)),
        # Bytes of the idx header (magic and dimensions), before any gzip.
        st.tuples(
            st.just("header"),
            st.lists(st.tuples(st.integers(0, 15), st.integers(0, 255)), min_size=1, max_size=4),
        ),
        # XOR bytes of the file as stored (the gzip stream when gzipped): anywhere, near the start
        # (gzip header / idx header) or near the end (gzip CRC and length).
        st.tuples(
            st.just("flip"),
            st.lists(
                st.tuples(st.sampled_from(["any", "start", "end"]), position, st.integers(1, 255)),
                min_size=1,
                max_size=4,
            ),
        ),
        st.tuples(
            st.just("replace"),
            st.tuples(
                st.sampled_from(
                    [
                        b"",
                        b"\x00\x00\x08\x01",
                        b"\x00\x00\x08\x03",
                        b"\x1f\x8b",
                        b"\x1f\x8b\x08\x00",
                    ]
                ),
                st.binary(max_size=max_len),
            ),
        ),
    )


def corrupt(content: bytes, gz: bool, changes) -> bytes:
    """Apply ``changes`` to an idx file's ``content``, gzipping it first when ``gz``."""
    for kind, args in changes:  # header changes act on the idx bytes, before compression
        if kind == "header":
            content = bytearray(content)
            for index, value in args:
                if index < len(content):
                    content[index] = value
            content = bytes(content)
    stored = gzipped(content) if gz else content
    for kind, args in changes:
        if kind == "truncate":
            stored = stored[: args % (len(stored) + 1)]
        elif kind == "append":
            stored = stored + args
        elif kind == "flip" and stored:
            stored = bytearray(stored)
            for where, position, mask in args:
                span = min(len(stored), 20)
                index = {
                    "any": position % len(stored),
                    "start": position % span,
                    "end": len(stored) - 1 - position % span,
                }[where]
                stored[index] ^= mask
            stored = bytes(stored)
        elif kind == "replace":
            stored = args[0] + args[1]
    return stored


def check_read_idx(path: Path) -> None:
    """read_idx(path) returns exactly what the file honestly declares, or raises ValueError naming it."""
    expected = honest_decode(path.read_bytes())
    try:
        result = data.read_idx(path)
    except ValueError as err:
        event("ValueError")
        assert expected is None, f"read_idx rejected a valid file: {err}"
        assert str(path) in str(err), f"the message does not name {path}: {err}"
        return
    event("valid file, read")
    assert expected is not None, f"read_idx accepted an invalid file, giving shape {result.shape}"
    assert result.dtype == np.uint8 and result.shape == expected.shape
    np.testing.assert_array_equal(result, expected)


@settings(max_examples=500, **COMMON)
@given(
    name=st.sampled_from(["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
    gz=st.booleans(),
    changes=st.lists(corruptions(), min_size=0, max_size=3),
)
def test_read_idx_on_corrupted_real_files(mnist_root, name, gz, changes):
    """read_idx of a (possibly gzipped) real idx file after random corruptions returns what the file
    declares or raises ValueError naming it.
    """
    content = corrupt(small_idx(mnist_root, name), gz, changes)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / (name + (".gz" if gz else ""))
        path.write_bytes(content)
        check_read_idx(path)


@settings(max_examples=300, **COMMON)
@given(
    split=st.sampled_from(["train", "test"]),
    gz=st.tuples(st.booleans(), st.booleans()),
    target=st.sampled_from(["images", "labels", "both"]),
    changes=st.tuples(st.lists(corruptions(), max_size=2), st.lists(corruptions(), max_size=2)),
)
def test_load_mnist_on_corrupted_real_files(mnist_root, split, gz, target, changes):
    """load_mnist on a split whose files are randomly corrupted returns the honest (images, labels)
    or raises ValueError naming a file.
    """
    sources = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    corrupted = {"images": (True, False), "labels": (False, True), "both": (True, True)}[target]
    with tempfile.TemporaryDirectory() as folder:
        raw_dir = Path(folder) / "MNIST" / "raw"
        raw_dir.mkdir(parents=True)
        paths, expected = [], []
        for source, name, zipped, hit, change in zip(
            sources, data.MNIST_FILES[split], gz, corrupted, changes
        ):
            path = raw_dir / (name + (".gz" if zipped else ""))
            path.write_bytes(corrupt(small_idx(mnist_root, source), zipped, change if hit else []))
            paths.append(path)
            expected.append(honest_decode(path.read_bytes()))
        images, labels = expected
        valid = (
            images is not None
            and labels is not None
            and images.ndim == 3
            and images.shape[1:] == (28, 28)
            and labels.ndim == 1
            and len(images) == len(labels)
            and (labels.size == 0 or labels.max() <= 9)
        )
        try:
            got_images, got_labels = data.load_mnist(split, root=folder, download=False)
        except ValueError as err:
            event("ValueError")
            assert not valid, f"load_mnist rejected a valid split: {err}"
            assert any(str(p) in str(err) for p in paths), f"the message names neither file: {err}"
            return
        event("valid split, loaded")
        assert valid, "load_mnist accepted an invalid split"
        np.testing.assert_array_equal(got_images, images)
        assert got_labels.dtype == np.int64
        np.testing.assert_array_equal(got_labels, labels)


def test_small_idx_files_are_valid(mnist_root):
    """The uncorrupted small files built from the real ones read back as 50 images of 28x28 and 50 digits."""
    with tempfile.TemporaryDirectory() as folder:
        for name, shape in (
            ("t10k-images-idx3-ubyte", (IMAGE_COUNT, 28, 28)),
            ("t10k-labels-idx1-ubyte", (IMAGE_COUNT,)),
        ):
            for gz in (False, True):
                path = Path(folder) / (name + (".gz" if gz else ""))
                path.write_bytes(corrupt(small_idx(mnist_root, name), gz, []))
                assert data.read_idx(path).shape == shape
