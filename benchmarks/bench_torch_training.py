"""How much the package's training loop costs over bare forward/backward/step.

Times batches of real MNIST four ways:

bare
    ``loss = cross_entropy(model(x), y); zero_grad(); backward(); step()`` over batches already in
    memory: the floor.
loop, preloaded
    :func:`cnn_tutorial.pytorch.training.train_epoch` over the same in-memory batches: the loop's own
    bookkeeping (device moves, recording loss and accuracy).
loop, DataLoader + bar
    :func:`~cnn_tutorial.pytorch.training.train_epoch` over the package's training loader with a progress
    bar, as :func:`~cnn_tutorial.pytorch.training.train_torch` runs it: adds drawing the batches and the bar.
loop, classic per-image loader
    The same over the classic tutorial's loader, which runs ``ToTensor`` + ``Normalize`` on every
    image each time it is drawn (the same tensors as ``data.normalize`` gives): why the package does
    that work once instead.

The four, and each loader alone (no training), take turns in short rounds (``--chunk`` batches
each, a different one first in each round), so a change in the load of a shared machine hits all
alike. Reported per step: the minimum and the median wall time over the rounds (on a busy machine
the minimum is the better estimate, as other processes only ever add time); the median over the
rounds of each variant's time divided by the bare time of the same round (paired, so the load of
that moment cancels); and the median CPU time of this process (all threads).

The target: at most 10 % overhead for the loop as ``train_torch`` runs it. The script also
extrapolates one epoch (600 steps + a pass over the 10,000 test images) and six.

Run: ``CNN_TUTORIAL_DATA=/path python benchmarks/bench_torch_training.py [--rounds 30] [--chunk 5]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torchvision
from torch.nn import functional as F
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from cnn_tutorial.data import resolve_root
from cnn_tutorial.pytorch.data import mnist_loaders, mnist_transform
from cnn_tutorial.pytorch.model import ConvNet
from cnn_tutorial.pytorch.training import evaluate, train_epoch

TARGET_OVERHEAD = 0.10
STEPS_PER_EPOCH = 600  # 60,000 training images in batches of 100
BARE = "bare forward/backward/step"
PRELOADED = "loop, preloaded batches"
FULL = "loop, DataLoader + bar (train_torch)"
CLASSIC = "loop, classic per-image loader"
LOADER = "package loader alone"
CLASSIC_LOADER = "classic per-image loader alone"
TRAINING = (BARE, PRELOADED, FULL, CLASSIC)


def bare_steps(model, optimizer, batches) -> None:
    model.train()
    for images, labels in batches:
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def read_batches(batches) -> None:
    for _ in batches:
        pass


def classic_loader(root, n_images: int, batch_size: int) -> DataLoader:
    """The classic tutorial's training loader: transforms applied per image, on every draw."""
    dataset = torchvision.datasets.MNIST(
        root=str(resolve_root(root)), train=True, transform=mnist_transform()
    )
    return DataLoader(
        Subset(dataset, range(n_images)),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rounds", type=int, default=30, help="turns each variant takes (default 30)"
    )
    parser.add_argument("--chunk", type=int, default=5, help="batches per turn (default 5)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    # One turn over a loader is one (small) epoch of it: the same number of batches, of the same
    # images, as the preloaded ones.
    n_images = args.chunk * args.batch_size
    train_loader, _, test_loader = mnist_loaders(
        args.batch_size, root=args.data_root, seed=0, train_limit=n_images, download=False
    )
    per_image_loader = classic_loader(args.data_root, n_images, args.batch_size)
    preloaded = list(train_loader)

    def setup():
        torch.manual_seed(0)
        model = ConvNet().to(device)
        return model, torch.optim.Adam(model.parameters(), lr=1e-3)

    with open(os.devnull, "w") as devnull:

        def loop_with_bar(loader):
            def run(model, optimizer):
                with tqdm(total=len(loader), file=devnull) as bar:
                    train_epoch(model, optimizer, loader, device, bar)

            return run

        variants = {
            BARE: lambda model, optimizer: bare_steps(model, optimizer, preloaded),
            PRELOADED: lambda model, optimizer: train_epoch(model, optimizer, preloaded, device),
            FULL: loop_with_bar(train_loader),
            CLASSIC: loop_with_bar(per_image_loader),
            LOADER: lambda model, optimizer: read_batches(train_loader),
            CLASSIC_LOADER: lambda model, optimizer: read_batches(per_image_loader),
        }
        models = {name: setup() for name in variants}
        seconds = {name: [] for name in variants}
        cpu_seconds = {name: [] for name in variants}
        # One untimed turn each: the first calls set up oneDNN kernels and allocator pools.
        for name, run in variants.items():
            run(*models[name])
        names = list(variants)
        for round_number in range(args.rounds):
            # Each round starts with the next variant, so none always runs right after another.
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                start, cpu_start = time.perf_counter(), time.process_time()
                variants[name](*models[name])
                seconds[name].append((time.perf_counter() - start) / args.chunk)
                cpu_seconds[name].append((time.process_time() - cpu_start) / args.chunk)

    start = time.perf_counter()
    evaluate(models[BARE][0], test_loader)
    test_pass = time.perf_counter() - start

    best = {name: min(times) for name, times in seconds.items()}
    typical = {name: statistics.median(times) for name, times in seconds.items()}
    cpu = {name: statistics.median(times) for name, times in cpu_seconds.items()}
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
        f"{args.rounds} rounds of {args.chunk} batches per variant; load average now {os.getloadavg()[0]:.2f}"
    )
    paired = {
        name: statistics.median(t / bare for t, bare in zip(seconds[name], seconds[BARE])) - 1
        for name in TRAINING
    }
    header = [
        "min ms/step",
        "median",
        "overhead (min)",
        "(median)",
        "(paired)",
        "CPU ms/step",
        "CPU overhead",
    ]
    print(f"  {'':38s} " + " ".join(f"{h:>14s}" for h in header))
    for name in TRAINING:
        columns = [
            f"{1000 * best[name]:.1f}",
            f"{1000 * typical[name]:.1f}",
            f"{100 * (best[name] / best[BARE] - 1):+.1f} %",
            f"{100 * (typical[name] / typical[BARE] - 1):+.1f} %",
            f"{100 * paired[name]:+.1f} %",
            f"{1000 * cpu[name]:.1f}",
            f"{100 * (cpu[name] / cpu[BARE] - 1):+.1f} %",
        ]
        print(f"  {name:38s} " + " ".join(f"{c:>14s}" for c in columns))
    for name in (LOADER, CLASSIC_LOADER):
        print(f"  {name:38s} {1000 * best[name]:14.2f} {1000 * typical[name]:14.2f} ms/batch")
    estimates = {"min": best[FULL] / best[BARE] - 1, "paired": paired[FULL]}
    for label, overhead in estimates.items():
        verdict = "meets" if overhead <= TARGET_OVERHEAD else "MISSES"
        print(
            f"loop overhead as train_torch runs it ({label}): {100 * overhead:.1f} % "
            f"({verdict} the {100 * TARGET_OVERHEAD:.0f} % target)"
        )
    epoch = STEPS_PER_EPOCH * best[FULL] + test_pass
    print(f"test pass (10,000 images): {test_pass:.1f} s")
    print(
        f"extrapolated from the fastest rounds: {epoch:.0f} "
        f"s per epoch ({STEPS_PER_EPOCH} steps + test pass), "
        f"{6 * epoch / 60:.1f} min for 6 epochs"
    )


if __name__ == "__main__":
    main()
