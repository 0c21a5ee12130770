"""Training and evaluating the PyTorch ConvNet: one step, one epoch, the whole run, loss and accuracy.

:func:`plain_train_epoch` is the plain loop a reader reads; :func:`train_epoch` takes the same
steps with what GPUs and several processes need around them. The loop is the classic tutorial's
(Adam at 1e-3, batch 100, 6 epochs, cross-entropy on the logits), with a validation set held out
and every run seeded: on the CPU the same seed repeats the weights, the dropout masks and the
shuffling order exactly.

:func:`train_torch` is that loop over the epochs, with what else a run needs wrapped around it:
started by ``torchrun``, the same loop trains on several processes
(:func:`~cnn_tutorial.pytorch.run.prepare_run` builds the loaders and the model for one process or a
group, :mod:`cnn_tutorial.pytorch.distributed`), a run saves its training state after every epoch
and resumes from it (:func:`~cnn_tutorial.pytorch.checkpoints.save_run`,
:func:`~cnn_tutorial.pytorch.checkpoints.resume_run`), and mixed precision is a gradient scaler
handed to every step (:func:`gradient_scaler`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

import torch
from torch import distributed as dist
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from ..data import VALIDATION_SIZE
from ..history import Evaluation, History
from ..params import Instance, Integer, Positive, Progress, validate_params
from .checkpoints import resume_run, save_run
from .distributed import (
    device_for,
    in_group,
    placement_from_environment,
    process_group,
    share_of_batch,
    sum_over_ranks,
)
from .model import ConvNet, choose_device
from .run import gradient_scaler, new_history, prepare_run

# How often the progress bar shows the current loss: reading a loss waits for the device to finish.
_POSTFIX_EVERY = 50


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    scaler: torch.amp.GradScaler | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step on one mini-batch: forward, cross-entropy, backward, update.

    Parameters
    ----------
    model : nn.Module
        In training mode (dropout on), on the same device as the batch.
    optimizer : torch.optim.Optimizer
        Over ``model``'s parameters.
    images : Tensor of shape (B, 1, 28, 28)
    labels : Tensor of shape (B,), int64
    scaler : torch.amp.GradScaler or None
        Mixed precision (:func:`gradient_scaler`): the forward pass runs in float16 where that is
        safe, and the loss is scaled up before the backward pass so that small gradients do not
        round to zero in float16; the scaler divides them back before the update, and skips a
        step whose gradients overflowed. None: everything in float32.

    Returns
    -------
    loss : Tensor of shape ()
        The batch's mean cross-entropy before the update, detached.
    correct : Tensor of shape (), int64
        How many images of the batch the model (with dropout on, as in the classic loop) got right.
        Both stay on the device, so the caller decides when to wait for them.
    """
    with torch.autocast(
        images.device.type, torch.float16, enabled=scaler is not None
    ):
        outputs = model(images)
        loss = F.cross_entropy(outputs, labels)
    optimizer.zero_grad()
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    correct = (outputs.detach().argmax(dim=1) == labels).sum()
    return loss.detach(), correct


def plain_train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[list[float], list[float]]:
    """One pass over ``loader``: the plain PyTorch training loop, one step per mini-batch.

    The steps of :func:`train_epoch`, and in one process on the CPU its numbers bit for bit,
    without what that adds for GPUs and several processes (:mod:`cnn_tutorial.pytorch.distributed`):
    the chapter "The ConvNet in PyTorch" reads it.

    Parameters
    ----------
    model : nn.Module
        Maps Tensor of shape (N, 1, 28, 28) to scores of shape (N, 10); put in training mode here.
    optimizer : torch.optim.Optimizer
        Over ``model``'s parameters.
    loader : iterable of (Tensor of shape (N, 1, 28, 28), Tensor of shape (N,))
        On ``model``'s device.

    Returns
    -------
    losses : list of float
        Mean cross-entropy of each batch, before its update.
    accuracies : list of float
        Fraction of each batch classified correctly (dropout on), in [0, 1].
    """
    model.train()  # dropout on
    losses, accuracies = [], []
    for images, labels in loader:
        optimizer.zero_grad()  # forget the previous step's gradients
        scores = model(images)  # (N, 10)
        loss = F.cross_entropy(scores, labels)
        loss.backward()  # dL/dtheta into every parameter's .grad
        optimizer.step()  # update every parameter from its .grad
        losses.append(loss.item())
        correct = (scores.argmax(dim=1) == labels).sum().item()
        accuracies.append(correct / len(labels))
    return losses, accuracies


def adam(
    model: nn.Module, lr: float, fused: bool = False
) -> torch.optim.Adam:
    """Adam over ``model``'s parameters; ``fused``: in one kernel per step, where torch has it.

    Every process of a group repeats the whole update on every weight, on its share of the
    cores. The fused kernel reads and writes each weight once instead of once per operation of
    the update: on one CPU thread, 3.6 ms a step for the ConvNet's 3.2 million weights instead
    of 22. Its sums round differently, so a single process keeps the usual kernels, with which
    the book's results were computed. torch before 2.4 has no fused Adam on CPUs; there,
    ``fused`` is ignored.
    """
    if fused:
        try:
            return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
        except RuntimeError:  # no fused kernel for this device here
            pass
    return torch.optim.Adam(model.parameters(), lr=lr)


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    bar: tqdm | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> tuple[list[float], list[float]]:
    """One pass over ``batches`` with :func:`train_step`, in training mode.

    Parameters
    ----------
    model : nn.Module
        On ``device``; put in training mode here.
    optimizer : torch.optim.Optimizer
    batches : iterable of (Tensor of shape (B, 1, 28, 28), Tensor of shape (B,))
        A training loader, or any sequence of batches.
    device : torch.device
        Where the batches are moved to.
    bar : tqdm or None
        Advanced by one per step.
    scaler : torch.amp.GradScaler or None
        Mixed precision (see :func:`train_step`).

    Returns
    -------
    losses : list of float
        Mean cross-entropy of each batch; in a group of processes, of the whole batch, all
        processes' shares together.
    accuracies : list of float
        Fraction of each batch classified correctly, in [0, 1].
    """
    model.train()
    # Each step's loss and count stay on the device, read once per epoch:
    # reading each step would make a GPU wait for every step to finish
    # before queueing the next. They are written into one buffer, not kept
    # as hundreds of tiny tensors: on the CPU those would sit between the
    # steps' large freed blocks and keep glibc from reusing them (measured:
    # 1 GB more memory per epoch).
    buffer = _StepBuffer(device)
    for step, (images, labels) in enumerate(batches):
        # non_blocking: from pinned memory, the copy to a GPU overlaps the
        # work queued before it (on the CPU it is no copy at all).
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        loss, correct = train_step(model, optimizer, images, labels, scaler)
        buffer.add(loss, correct, labels.shape[0])
        if bar is not None:
            bar.update()
            if step % _POSTFIX_EVERY == 0:
                bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
    return buffer.read()


class _StepBuffer:
    """Per-step losses and correct counts, kept on ``device`` in tensors that grow by doubling."""

    def __init__(self, device):
        self.losses = torch.empty(64, device=device)
        self.corrects = torch.empty(64, dtype=torch.int64, device=device)
        self.sizes: list[int] = []

    def add(
        self, loss: torch.Tensor, correct: torch.Tensor, size: int
    ) -> None:
        step = len(self.sizes)
        if step == len(self.losses):
            self.losses = torch.cat(
                [self.losses, torch.empty_like(self.losses)]
            )
            self.corrects = torch.cat(
                [self.corrects, torch.empty_like(self.corrects)]
            )
        self.losses[step] = loss
        self.corrects[step] = correct
        self.sizes.append(size)

    def read(self) -> tuple[list[float], list[float]]:
        """The losses and the accuracies (correct / size), as Python floats.

        In a group of processes, each step's whole batch: the losses are averaged over the ranks
        (their shares are equally large) and the counts added up.
        """
        n = len(self.sizes)
        losses, corrects = self.losses[:n], self.corrects[:n]
        sizes = self.sizes
        if in_group():
            ranks = dist.get_world_size()
            losses = sum_over_ranks(losses) / ranks
            corrects = sum_over_ranks(corrects)
            sizes = [size * ranks for size in sizes]
        return losses.tolist(), [
            correct / size
            for correct, size in zip(corrects.tolist(), sizes)
        ]


@validate_params(model=Instance(nn.Module, what="torch.nn.Module"))
def evaluate(
    model: nn.Module,
    loader: Iterable,
    device: str | torch.device | None = None,
) -> Evaluation:
    """Mean cross-entropy and accuracy of ``model`` over ``loader``, in eval mode (dropout off),
    without gradients.

    Parameters
    ----------
    model : nn.Module
        Maps Tensor of shape (B, 1, 28, 28) to scores of shape (B, 10).
    loader : iterable of (Tensor of shape (B, 1, 28, 28), Tensor of shape (B,))
        E.g. the validation loader of :func:`~cnn_tutorial.pytorch.data.mnist_loaders`.
    device : {None, "cpu", "cuda", "cuda:N"} or torch.device
        Where the batches are sent: the model's device. ``None`` means where its parameters are.

    Returns
    -------
    Evaluation
        ``loss``, the mean cross-entropy over all images (not a mean of batch means, which would
        weigh a short last batch more), and ``accuracy``, the fraction classified correctly, in
        [0, 1]. The model's train/eval mode is restored afterwards. In a group of processes,
        each evaluates its own shard (:func:`cnn_tutorial.pytorch.distributed.shard`) and the sums are
        added up over the ranks, so every rank gets the result for all the shards together;
        every rank must call it.
    """
    device = (
        next(model.parameters()).device
        if device is None
        else choose_device(device)
    )
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    total = 0
    try:
        with torch.no_grad():
            for images, labels in loader:
                images, labels = images.to(device), labels.to(device)
                scores = model(images)
                loss_sum += F.cross_entropy(scores, labels, reduction="sum")
                correct += (scores.argmax(dim=1) == labels).sum()
                total += labels.shape[0]
    finally:
        model.train(was_training)
    if in_group():
        # Each rank evaluated its own shard: add the sums up.
        count = torch.tensor(total, dtype=torch.float64, device=device)
        sums = sum_over_ranks(
            torch.stack([loss_sum, correct.double(), count])
        )
        loss_sum, correct = sums[0], sums[1].long()
        total = int(sums[2].item())
    if total == 0:
        raise ValueError("loader yielded no images to evaluate")
    return Evaluation(
        loss=loss_sum.item() / total, accuracy=correct.item() / total
    )


def _resume_from_somewhere(resume, checkpoint_dir):
    """Resuming needs a directory to resume from."""
    if resume and checkpoint_dir is None:
        raise ValueError(
            "resume=True needs the checkpoint_dir to resume from"
        )


@validate_params(
    epochs=Integer(minimum=1),
    batch_size=Integer(minimum=1),
    lr=Positive(),
    seed=Integer(minimum=0),
    progress=Progress(),
    also=[_resume_from_somewhere],
)
def train_torch(
    epochs: int = 6,
    batch_size: int = 100,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device | None = None,
    root: str | os.PathLike | None = None,
    relu_between_fc: bool = True,
    train_limit: int | None = None,
    validation_size: int = VALIDATION_SIZE,
    progress: bool | None = None,
    download: bool = True,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    mixed_precision: bool = False,
) -> tuple[ConvNet, History]:
    """Train the classic ConvNet on MNIST with Adam; validate after every epoch, test once at the end.

    It trains on 55,000 training images, validates on the 5,000 held out
    (:func:`cnn_tutorial.data.load_mnist_splits`) and, after the last epoch, tests on the 10,000
    test images.

    Started by ``torchrun`` with ``WORLD_SIZE`` > 1, each process trains a copy of the model inside
    ``DistributedDataParallel`` on its share of every batch, evaluates its shard of the
    validation and test sets, and the results are added up over the processes
    (:mod:`cnn_tutorial.pytorch.distributed`). Every process returns the same model and history.

    Parameters
    ----------
    epochs : int
        Passes over the training set, at least 1.
    batch_size : int
        Images per step, at least 1: the global batch, which a group of processes shares equally
        (it must be a multiple of their number).
    lr : float
        Adam's learning rate.
    seed : int
        Seeds the weights and dropout from one stream and the shuffling order from another
        (:mod:`cnn_tutorial.seeds`); on the CPU the same seed gives the same run (on CUDA, cuDNN may
        choose kernels whose sums round differently from run to run).
    device : {None, "cpu", "cuda", "cuda:N"} or torch.device
        See :func:`~cnn_tutorial.pytorch.model.choose_device`; ``None`` takes CUDA when available.
        In a group, each process takes GPU number ``LOCAL_RANK``.
    root : str, PathLike or None
        Data root (see :func:`~cnn_tutorial.pytorch.data.mnist_loaders`).
    relu_between_fc : bool
        Train :class:`~cnn_tutorial.pytorch.model.ConvNet` with a ReLU between its linear layers
        (the default: the PyTorch chapter chose it on the validation set, where it did better
        than the classic model with two seeds), or without, as the classic code trains it.
    train_limit : int or None
        Train on the first ``train_limit`` images only; validation and testing always use all of
        their images.
    validation_size : int
        Training images held out for validation.
    progress : bool or None
        Show a progress bar per epoch on stderr (rank 0 only); ``None``: when someone is likely
        watching (a terminal or a live notebook; see :func:`~cnn_tutorial.checks.check_progress`).
    download : bool
        Download MNIST when missing.
    checkpoint_dir : str, PathLike or None
        Where rank 0 writes the training state after every epoch
        (:func:`~cnn_tutorial.pytorch.checkpoints.save_training_state`), atomically.
    resume : bool
        Go on from the training state in ``checkpoint_dir`` when there is one (after its last
        finished epoch, exactly as if the run had not stopped); start afresh when there is none.
    mixed_precision : bool
        Compute the forward pass in float16 with a gradient scaler (see :func:`train_step`):
        meant for GPUs, whose float16 units are several times faster; on a CPU it is slower.

    Returns
    -------
    model : ConvNet
        The trained model, on ``device``, in eval mode.
    history : History
        ``framework="torch"``; per-step loss and batch accuracy, per-epoch validation loss and
        accuracy, the final test accuracy, ``steps_per_epoch``, wall time and the settings.
    """
    placement = placement_from_environment()
    share = share_of_batch(batch_size, placement)  # images per process
    bars = progress and placement.is_main  # progress bars?
    device = device_for(placement, device)
    with process_group(placement, device):
        run = prepare_run(
            placement,
            device,
            batch_size,
            seed,
            root,
            relu_between_fc,
            train_limit,
            validation_size,
            download,
        )
        model = run.model
        optimizer = adam(model, lr, fused=placement.is_distributed)
        scaler = gradient_scaler(device) if mixed_precision else None
        history = new_history(
            run,
            optimizer,
            placement,
            device,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            relu_between_fc=relu_between_fc,
            train_limit=train_limit,
            validation_size=validation_size,
            batch_per_process=share,
            mixed_precision=mixed_precision,
        )
        if resume:
            history = resume_run(
                checkpoint_dir,
                model,
                optimizer,
                history,
                run.train_loader,
                placement,
                device,
                scaler,
            )
        start = time.perf_counter() - history.seconds
        for epoch in range(len(history.epoch_validation_accuracy), epochs):
            _train_one_epoch(
                run, optimizer, history, epoch, epochs, device, scaler, bars
            )
            history.seconds = time.perf_counter() - start
            if checkpoint_dir is not None:  # the state to go on from
                save_run(
                    checkpoint_dir,
                    model,
                    optimizer,
                    history,
                    run.train_loader,
                    placement,
                    device,
                    scaler,
                )
        history.test_accuracy = evaluate(model, run.test_loader).accuracy
        history.seconds = time.perf_counter() - start
    model.eval()
    return model, history


def _train_one_epoch(
    run, optimizer, history, epoch, epochs, device, scaler, bars
):
    """Train ``epoch`` (from 0), record its steps and its validation result."""
    batches = run.batches_of_epoch(epoch)
    with tqdm(
        total=len(batches),
        desc=f"epoch {epoch + 1}/{epochs}",
        unit="step",
        disable=not bars,
    ) as bar:
        losses, accuracies = train_epoch(
            run.trained, optimizer, batches, device, bar, scaler
        )
        for loss, accuracy in zip(losses, accuracies):
            history.record_step(loss, accuracy)
        validation = evaluate(run.model, run.validation_loader)
        history.record_validation(validation)
        bar.set_postfix(
            loss=f"{losses[-1]:.4f}",
            validation_accuracy=f"{100 * validation.accuracy:.2f} %",
        )
