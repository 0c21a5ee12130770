"""The first steps of training, on one process or shared by several: the same weights either way.

``DistributedDataParallel`` averages the gradients of the processes with an all-reduce. Each
process's gradient is the mean over its share of the batch, and the shares are equally large, so
their average is the mean over the whole batch: two processes of 50 images take exactly the step
that one process of 100 takes, up to the rounding of the sums. Dropout would draw other masks on
each process; with it off, the weights after ``k`` steps agree to float precision.

    python -m cnn_tutorial.pytorch.first_steps --steps 5 --out one.pt
    torchrun --standalone --nproc_per_node=2 -m cnn_tutorial.pytorch.first_steps --steps 5 --out two.pt
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel

from ..data import load_mnist_splits, normalize
from ..files import atomic_write
from ..params import Integer, Positive, validate_params
from ..seeds import run_streams, torch_seed
from .distributed import (
    barrier,
    device_for,
    placement_from_environment,
    process_group,
    share_of_batch,
)
from .model import ConvNet
from .training import adam, train_step


@validate_params(
    steps=Integer(minimum=1),
    batch_size=Integer(minimum=1),
    lr=Positive(),
)
def first_steps(
    steps: int = 5,
    batch_size: int = 100,
    lr: float = 1e-3,
    seed: int = 0,
    root: str | os.PathLike | None = None,
    download: bool = True,
    fused: bool | None = None,
) -> dict[str, torch.Tensor]:
    """Train the ConvNet (dropout off) for ``steps`` steps on the first training images, in order.

    Step ``i`` takes images ``i * batch_size`` to ``(i + 1) * batch_size``. Started by torchrun,
    process ``r`` of ``W`` takes the ``r``-th of ``W`` equal, consecutive parts of each batch, in a
    ``DistributedDataParallel`` model; alone, a process takes the whole batch.

    Parameters
    ----------
    steps : int
        Optimisation steps, at least 1.
    batch_size : int
        The global batch, a multiple of the number of processes.
    lr : float
        Adam's learning rate.
    seed : int
        Seeds the initial weights, as in :func:`~cnn_tutorial.pytorch.training.train_torch`.
    root, download
        Where MNIST is (see :func:`~cnn_tutorial.data.load_mnist_splits`).
    fused : bool or None
        Adam's fused kernel (:func:`~cnn_tutorial.pytorch.training.adam`); None: as
        ``train_torch`` chooses, fused in a group of processes only.

    Returns
    -------
    dict of str to Tensor
        The model's ``state_dict`` after the last step, on the CPU.
    """
    placement = placement_from_environment()
    share = share_of_batch(batch_size, placement)  # images per process
    device = device_for(placement, "cpu")
    with process_group(placement, device):
        (images, labels), _, _ = load_mnist_splits(
            root, download, train_limit=steps * batch_size
        )
        images = torch.from_numpy(normalize(images))  # (steps*B, 1, 28, 28)
        labels = torch.from_numpy(labels)  # (steps*B,)
        initialization, _ = run_streams(seed)
        torch.manual_seed(torch_seed(initialization))
        model = ConvNet(relu_between_fc=True)
        model.drop_out.p = 0.0  # the same network on every process
        trained = model
        if placement.is_distributed:
            trained = DistributedDataParallel(model)
        if fused is None:  # as train_torch: fused in a group only
            fused = placement.is_distributed
        optimizer = adam(model, lr, fused)
        for step in range(steps):
            # this process's share of the step's batch
            mine = slice(
                step * batch_size + placement.rank * share,
                step * batch_size + (placement.rank + 1) * share,
            )
            train_step(trained, optimizer, images[mine], labels[mine])
        barrier()
    weights = model.state_dict()
    return {name: w.detach().clone() for name, w in weights.items()}


def main(argv: list[str] | None = None) -> int:
    """``python -m cnn_tutorial.pytorch.first_steps --steps K --out FILE``: rank 0 saves the weights."""
    parser = argparse.ArgumentParser(
        prog="python -m cnn_tutorial.pytorch.first_steps",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--out", type=Path, required=True, metavar="FILE")
    args = parser.parse_args(argv)
    try:
        weights = first_steps(args.steps, args.batch_size)
    except (OSError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if placement_from_environment().is_main:
        with atomic_write(args.out, "wb") as handle:
            torch.save(weights, handle)
        print(f"saved the weights after {args.steps} steps: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
