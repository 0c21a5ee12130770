"""Forward + backward time per image of the numpy ops: loop versions, batched numpy, PyTorch CPU.

    python benchmarks/bench_ops.py [--threads N] [--rounds R] [--repeats K]

Two workloads, each timed as forward and backward together:

(a) the classic numpy CNN's conv stack: batch 32 of 1x28x28 -> conv 8@5x5 -> ReLU -> conv 8@5x5
    -> ReLU -> maxpool 2 (no gradient for the images, as in training);
(b) the PyTorch chapter's second layer: batch 100 of 32x14x14 -> conv 64@5x5, padding 2
    (with the input gradient, as for any layer but the first).

numpy's BLAS and torch run with the same number of threads, set before numpy is imported. The
loop versions are timed on a few images only (they take ~0.1 s per image); every figure is per image.
"numpy batched" is what training uses (``method="auto"``: the fast route with fewer multiply-adds
for each layer, see :mod:`cnn_tutorial.fast.conv` and the chapter "Making numpy fast"); "numpy
im2col" forces the wide-row im2col route everywhere, for comparison. All arrays are
float32, like PyTorch's default. The ratio to PyTorch is taken round by round (both timed in the
same round) and reported as its min / median / max over the rounds. As in training, the numpy
steps run with freed memory kept for reuse (``cnn_tutorial.fast.memory.reuse_freed_memory``) and reuse
the forward pass's work in the backward pass.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count(), help="threads for numpy's BLAS and torch"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds; each times every version in turn"
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs of each batched version per round"
    )
    parser.add_argument(
        "--loop-images", type=int, default=2, help="images timed with the loop versions"
    )
    return parser.parse_args()


ARGS = parse_args()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread count is fixed)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from cnn_tutorial import loops, ops  # noqa: E402
from cnn_tutorial.fast.memory import reuse_freed_memory  # noqa: E402

torch.set_num_threads(ARGS.threads)


def round_times(steps: dict, rounds: int) -> dict:
    """Fastest run of each ``step()`` in every round, in seconds: ``steps`` maps a name to
    ``(step, runs per round)``; the result maps it to one time per round.

    Every step runs twice to warm up. Then each round times every step in turn, so that all of
    them see the same phases of a machine whose speed drifts (shared virtual CPUs, turbo): the
    ratio of two steps' times in one round compares them under the same conditions.
    """
    for step, _ in steps.values():
        step()
        step()
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, (step, runs) in steps.items():
            best = float("inf")
            for _ in range(runs):
                start = time.perf_counter()
                step()
                best = min(best, time.perf_counter() - start)
            times[name].append(best)
    return times


# ----------------------------------------------------------------------------- (a) classic stack


def classic_stack_workload(rng):
    x = rng.standard_normal((32, 1, 28, 28)).astype(np.float32)
    f1 = (rng.standard_normal((8, 1, 5, 5)) / np.sqrt(200)).astype(np.float32)
    f2 = (rng.standard_normal((8, 8, 5, 5)) / np.sqrt(1600)).astype(np.float32)
    b1, b2 = np.zeros(8, np.float32), np.zeros(8, np.float32)
    dpool = rng.standard_normal((32, 8, 10, 10)).astype(np.float32)
    return x, f1, b1, f2, b2, dpool


def classic_loops(x, f1, b1, f2, b2, dpool, n_images):
    def step():
        for i in range(n_images):
            c1 = loops.convolution(x[i], f1, b1)
            r1 = ops.relu(c1)
            c2 = loops.convolution(r1, f2, b2)
            r2 = ops.relu(c2)
            loops.maxpool(r2)
            dr2 = loops.maxpool_backward(dpool[i], r2)
            dr1, _, _ = loops.convolution_backward(ops.relu_backward(dr2, c2), r1, f2)
            loops.convolution_backward(ops.relu_backward(dr1, c1), x[i], f1)

    return step


def classic_batched(x, f1, b1, f2, b2, dpool, method):
    def step():  # as NumpyCNN trains: each backward pass reuses its forward pass's work (saved)
        saved1, saved2 = {}, {}
        c1 = ops.conv2d(x, f1, b1, method=method, saved=saved1)
        r1 = ops.relu(c1)
        c2 = ops.conv2d(r1, f2, b2, method=method, saved=saved2)
        r2 = ops.relu(c2)
        ops.maxpool2d(r2)
        dr2 = ops.maxpool2d_backward(dpool, r2)
        dr1, _, _ = ops.conv2d_backward(
            ops.relu_backward(dr2, c2), r1, f2, method=method, saved=saved2
        )
        ops.conv2d_backward(
            ops.relu_backward(dr1, c1), x, f1, need_dx=False, method=method, saved=saved1
        )

    return step


def classic_torch(x, f1, b1, f2, b2, dpool):
    xt = torch.from_numpy(x)
    params = [torch.from_numpy(a.copy()).requires_grad_() for a in (f1, b1, f2, b2)]
    dpool_t = torch.from_numpy(dpool)

    def step():
        w1, c1, w2, c2 = params
        out = F.max_pool2d(F.relu(F.conv2d(F.relu(F.conv2d(xt, w1, c1)), w2, c2)), 2)
        out.backward(dpool_t)

    return step


# ----------------------------------------------------------------------------- (b) chapter layer 2


def layer2_workload(rng):
    x = rng.standard_normal((100, 32, 14, 14)).astype(np.float32)
    w = (rng.standard_normal((64, 32, 5, 5)) / np.sqrt(800)).astype(np.float32)
    b = np.zeros(64, np.float32)
    dout = rng.standard_normal((100, 64, 14, 14)).astype(np.float32)
    return x, w, b, dout


def layer2_loops(x, w, b, dout, n_images):
    def step():
        for i in range(n_images):
            padded = np.pad(
                x[i], ((0, 0), (2, 2), (2, 2))
            )  # the loop version has no padding argument
            loops.convolution(padded, w, b)
            loops.convolution_backward(dout[i], padded, w)

    return step


def layer2_batched(x, w, b, dout, method):
    def step():
        saved = {}
        ops.conv2d(x, w, b, padding=2, method=method, saved=saved)
        ops.conv2d_backward(dout, x, w, padding=2, method=method, saved=saved)

    return step


def layer2_torch(x, w, b, dout):
    xt = torch.from_numpy(x).requires_grad_()
    wt, bt = (
        torch.from_numpy(w.copy()).requires_grad_(),
        torch.from_numpy(b.copy()).requires_grad_(),
    )
    dout_t = torch.from_numpy(dout)

    def step():
        F.conv2d(xt, wt, bt, padding=2).backward(dout_t)

    return step


def report(
    name: str, batch: int, loop_step, loop_images: int, batched_step, torch_step, target: float
) -> dict:
    """Time every version of one workload; ``batched_step(method)`` makes the numpy step."""
    times = round_times(
        {
            "loops": (loop_step, 1),
            "numpy batched": (batched_step("auto"), ARGS.repeats),
            "numpy im2col": (batched_step("im2col"), ARGS.repeats),
            "torch CPU": (torch_step, ARGS.repeats),
        },
        ARGS.rounds,
    )
    per_image = {
        version: min(t) / (loop_images if version == "loops" else batch)
        for version, t in times.items()
    }
    ratios = [ours / theirs for ours, theirs in zip(times["numpy batched"], times["torch CPU"])]
    print(f"\n{name}")
    for version, t in per_image.items():
        print(f"  {version:14s} {t * 1e3:10.4f} ms per image (fastest of {ARGS.rounds} rounds)")
    print(
        "  loops / numpy batched   = "
        f"{per_image['loops'] / per_image['numpy batched']:8.0f}x  (target >= 300x)"
    )
    print(
        f"  numpy batched / torch   = min {min(ratios):.2f}x, median {statistics.median(ratios):.2f}x, "
        f"max {max(ratios):.2f}x over the rounds  (target <= {target}x at two threads)"
    )
    print(
        f"  im2col / numpy batched  = {per_image['numpy im2col'] / per_image['numpy batched']:8.2f}x  "
        "(what method='auto' gains over im2col alone)"
    )
    return per_image


def main() -> int:
    reuse_freed_memory()  # as numpy_net.fit does: freed memory kept for reuse, no page faults
    print(
        f"threads: {ARGS.threads} (numpy BLAS and torch); numpy {np.__version__}, torch {torch.__version__}; "
        f"python {sys.version.split()[0]}"
    )
    rng = np.random.default_rng(0)
    a = classic_stack_workload(rng)
    report(
        "(a) classic conv stack, batch 32, 1x28x28 -> conv 8@5x5 -> ReLU -> conv 8@5x5 -> ReLU -> maxpool 2",
        32,
        classic_loops(*a, ARGS.loop_images),
        ARGS.loop_images,
        lambda method: classic_batched(*a, method),
        classic_torch(*a),
        target=1.5,
    )
    b = layer2_workload(rng)
    report(
        "(b) PyTorch chapter layer 2, batch 100, 32x14x14 -> conv 64@5x5, padding 2",
        100,
        layer2_loops(*b, ARGS.loop_images),
        ARGS.loop_images,
        lambda method: layer2_batched(*b, method),
        layer2_torch(*b),
        target=2,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
