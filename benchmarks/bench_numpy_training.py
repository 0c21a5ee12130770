"""The numpy CNN's training epoch against the same network in PyTorch on the CPU, side by side.

    python benchmarks/bench_numpy_training.py [--threads 1 2] [--repeats 5]

For each thread count, in one process: ``--repeats`` rounds, each training one epoch of the numpy
CNN (``cnn_tutorial.numpy_net.fit``: batch 32, Adam from 2e-3, cosine schedule, the default
number of gradient workers, which follows the thread count) and then one epoch of the same
network in PyTorch (``cnn_tutorial.pytorch.twin.NumpyCNNTwin``, the same batches from the
same arrays, ``torch.optim.Adam``, no DataLoader), both from the same initial weights, each
followed by one evaluation of the 5,000 validation images. A round's ratio is numpy's epoch time
over PyTorch's; the report gives the min / median / max over the rounds, so that a machine whose
speed drifts shows as a spread instead of a wrong single figure.

numpy's BLAS (threadpoolctl) and torch get the same thread count. To see OpenBLAS's native kernel
for this CPU instead of the one these machines force, run the command under
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE``; the report names the kernel that ran.

Needs MNIST (``CNN_TUTORIAL_DATA``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch
from threadpoolctl import threadpool_info, threadpool_limits
from torch import nn

from cnn_tutorial.data import load_mnist_splits, minibatches, normalize
from cnn_tutorial.fast.memory import reuse_freed_memory
from cnn_tutorial.fast.parallel import default_workers
from cnn_tutorial.numpy_net import NumpyCNN, fit
from cnn_tutorial.pytorch.twin import NumpyCNNTwin

BATCH = 32


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def numpy_epoch(train, validation, seed: int) -> tuple[float, float]:
    """Seconds of one training epoch and validation accuracy of the numpy CNN."""
    net = NumpyCNN.initialize(seed)
    start = time.perf_counter()
    history = fit(net, *train, *validation, epochs=1, batch_size=BATCH, seed=seed, progress=False)
    return time.perf_counter() - start, history.epoch_validation_accuracy[-1]


def torch_epoch(train, validation, seed: int) -> tuple[float, float]:
    """The same for the same network in PyTorch: same initial weights, same batches."""
    model = NumpyCNNTwin.from_numpy_params(NumpyCNN.initialize(seed).params)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps = -(-len(train[0]) // BATCH)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    shuffling = np.random.default_rng(seed)
    for x, y in minibatches(*train, BATCH, seed=shuffling):
        optimizer.zero_grad()
        loss = loss_fn(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        optimizer.step()
        schedule.step()
    model.eval()
    with torch.no_grad():
        logits = torch.cat(
            [
                model(torch.from_numpy(validation[0][i : i + 500]))
                for i in range(0, len(validation[0]), 500)
            ]
        )
    accuracy = float((logits.argmax(1).numpy() == validation[1]).mean())
    return time.perf_counter() - start, accuracy


def blas_kernel() -> str:
    """OpenBLAS's kernel ("architecture") as threadpoolctl reports it."""
    names = {
        entry.get("architecture") or entry.get("internal_api")
        for entry in threadpool_info()
        if entry.get("user_api") == "blas"
    }
    return ", ".join(sorted(filter(None, names))) or "unknown"


def main() -> int:
    args = parse_args()
    reuse_freed_memory()  # fit does it too; here it is set before the first timing of either side
    (train_images, train_y), (validation_images, validation_y), _ = load_mnist_splits()
    train = (normalize(train_images), train_y)
    validation = (normalize(validation_images), validation_y)
    print(
        f"numpy {np.__version__} (OpenBLAS kernel: {blas_kernel()}), torch {torch.__version__}; "
        f"{len(train_y):,} training images, batch {BATCH}, {args.repeats} rounds per thread count"
    )
    for threads in args.threads:
        torch.set_num_threads(threads)
        with threadpool_limits(threads, user_api="blas"):
            workers = default_workers(BATCH)
            ratios, numpy_times, torch_times = [], [], []
            for round_ in range(args.repeats):
                numpy_seconds, numpy_accuracy = numpy_epoch(train, validation, args.seed)
                torch_seconds, torch_accuracy = torch_epoch(train, validation, args.seed)
                numpy_times.append(numpy_seconds)
                torch_times.append(torch_seconds)
                ratios.append(numpy_seconds / torch_seconds)
                print(
                    f"  {threads} thread(s), round {round_ + 1}: numpy {numpy_seconds:5.2f} s "
                    f"({numpy_accuracy * 100:.2f} % validation), PyTorch {torch_seconds:5.2f} s "
                    f"({torch_accuracy * 100:.2f} %), ratio {ratios[-1]:.2f}",
                    flush=True,
                )
        print(
            f"{threads} thread(s), numpy with {workers} gradient worker(s): epoch numpy / PyTorch "
            f"min {min(ratios):.2f}, median {statistics.median(ratios):.2f}, max {max(ratios):.2f} "
            f"(numpy median {statistics.median(numpy_times):.2f} s, "
            f"PyTorch median {statistics.median(torch_times):.2f} s; target <= 1.0)\n",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
