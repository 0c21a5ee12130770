"""What a run of :func:`~cnn_tutorial.pytorch.training.train_torch` trains: its loaders and its model.

:func:`prepare_run` is the one place that tells one process from a group of them started by
``torchrun`` (:mod:`cnn_tutorial.pytorch.distributed`), as nanoGPT does in one ``if ddp:`` block:
in a group, each rank loads its share of every batch, draws its own dropout masks and trains the
model inside ``DistributedDataParallel``. The epoch loop then reads the same in both cases.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from ..history import History
from ..seeds import run_streams, torch_seed
from .data import mnist_loaders
from .distributed import Placement, distributed_mnist_loaders
from .model import ConvNet


@dataclass
class Run:
    """The model of a run and its three loaders.

    Attributes
    ----------
    model : ConvNet
        What is evaluated, saved and returned.
    trained : nn.Module
        What the training steps call: ``model`` itself, or in a group of processes
        ``DistributedDataParallel`` around it, which averages the gradients over the ranks.
    train_loader, validation_loader, test_loader : DataLoader
        In a group, this rank's share of every training batch and its shards of the other sets.
    """

    model: ConvNet
    trained: nn.Module
    train_loader: DataLoader
    validation_loader: DataLoader
    test_loader: DataLoader

    def batches_of_epoch(self, epoch: int) -> DataLoader:
        """The training loader, shuffled in ``epoch``'s order."""
        if isinstance(self.train_loader.sampler, DistributedSampler):
            # A new order every epoch: it shuffles by seed + epoch.
            self.train_loader.sampler.set_epoch(epoch)
        return self.train_loader


def prepare_run(
    placement: Placement,
    device: torch.device,
    batch_size: int,
    seed: int,
    root: str | os.PathLike | None,
    relu_between_fc: bool,
    train_limit: int | None,
    validation_size: int,
    download: bool,
) -> Run:
    """The loaders and the seeded model of a run, on one process or in a group.

    Parameters
    ----------
    placement : Placement
        This process's place in its group
        (:func:`~cnn_tutorial.pytorch.distributed.placement_from_environment`); in a group, the
        process group must be set up (:func:`~cnn_tutorial.pytorch.distributed.process_group`).
    device : torch.device
        Where the model goes; on CUDA the loaders pin their memory.
    batch_size, seed, root, relu_between_fc, train_limit, validation_size, download
        As in :func:`~cnn_tutorial.pytorch.training.train_torch`.

    Returns
    -------
    Run
        The weights and the dropout masks come from the initialisation stream of ``seed``
        (:func:`cnn_tutorial.seeds.run_streams`; in a group, every rank its own dropout masks from
        a stream of its own), the shuffling from the other stream.
    """
    train_loader, validation_loader, test_loader = (
        distributed_mnist_loaders(
            batch_size,
            root,
            seed,
            train_limit,
            download,
            validation_size,
            placement,
            device.type == "cuda",
        )
        if placement.is_distributed
        else mnist_loaders(
            batch_size,
            root,
            seed,
            train_limit,
            download,
            validation_size,
            device.type == "cuda",
        )
    )

    # the loaders shuffle with the other stream
    initialization, _ = run_streams(seed)
    # the weights and dropout masks
    torch.manual_seed(torch_seed(initialization))
    model = ConvNet(relu_between_fc).to(device)
    trained = model
    if placement.is_distributed:
        # Every process its own dropout masks, from its own stream.
        streams = initialization.spawn(placement.world_size)
        torch.manual_seed(torch_seed(streams[placement.rank]))
        trained = DistributedDataParallel(
            model, device_ids=None if device.type == "cpu" else [device]
        )
    return Run(model, trained, train_loader, validation_loader, test_loader)


def new_history(
    run,
    optimizer,
    placement,
    device,
    *,
    epochs,
    batch_size,
    lr,
    seed,
    relu_between_fc,
    train_limit,
    validation_size,
    batch_per_process,
    mixed_precision,
) -> History:
    """An empty :class:`~cnn_tutorial.history.History` of the run, with its settings."""
    config = {
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "optimizer": "Adam",
        "seed": seed,
        "device": str(device),
        "relu_between_fc": relu_between_fc,
        "train_limit": train_limit,
        "train_size": len(run.train_loader.dataset),
        "validation_size": validation_size,
        "processes": placement.world_size,
        "batch_per_process": batch_per_process,
        "mixed_precision": mixed_precision,
        "fused_adam": optimizer.defaults.get("fused") is True,
        "torch_version": torch.__version__,
    }
    return History(
        framework="torch",
        steps_per_epoch=len(run.train_loader),
        config=config,
    )


def gradient_scaler(device: torch.device) -> torch.amp.GradScaler:
    """A gradient scaler for the mixed precision of
    :func:`~cnn_tutorial.pytorch.training.train_step` on ``device``.

    Raises
    ------
    RuntimeError
        torch before 2.3, whose only scaler is ``torch.cuda.amp.GradScaler``, and the device is
        not CUDA.
    """
    device = torch.device(device)
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler(device.type)
    if device.type == "cuda":  # torch 2.2
        return torch.cuda.amp.GradScaler()
    raise RuntimeError(
        f"mixed precision on {device.type} needs torch 2.3 or newer, not {torch.__version__}"
    )
