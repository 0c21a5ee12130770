"""Training and evaluating the PyTorch ConvNet: one step, one epoch, the whole run, loss and accuracy.

The loop is the classic tutorial's (Adam at 1e-3, batch 100, 6 epochs, cross-entropy on the
logits), with a validation set held out and every run seeded: on the CPU the same seed repeats the weights, the dropout masks and
the shuffling order exactly.
"""

from __future__ import annotations

import os
import time
from typing import Iterable

import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from .checks import check_int, check_positive_float, check_progress
from .data import VALIDATION_SIZE
from .history import Evaluation, History
from .seeds import run_streams, torch_seed
from .torch_data import mnist_loaders
from .torch_model import ConvNet, choose_device

# How often the progress bar shows the current loss: reading a loss waits for the device to finish.
_POSTFIX_EVERY = 50


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
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

    Returns
    -------
    loss : Tensor of shape ()
        The batch's mean cross-entropy before the update, detached.
    correct : Tensor of shape (), int64
        How many images of the batch the model (with dropout on, as in the classic loop) got right.
        Both stay on the device, so the caller decides when to wait for them.
    """
    outputs = model(images)
    loss = F.cross_entropy(outputs, labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    correct = (outputs.detach().argmax(dim=1) == labels).sum()
    return loss.detach(), correct


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    bar: tqdm | None = None,
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

    Returns
    -------
    losses : list of float
        Mean cross-entropy of each batch.
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
        images = images.to(device)
        labels = labels.to(device)
        loss, correct = train_step(model, optimizer, images, labels)
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

    def add(self, loss: torch.Tensor, correct: torch.Tensor, size: int) -> None:
        step = len(self.sizes)
        if step == len(self.losses):
            self.losses = torch.cat([self.losses, torch.empty_like(self.losses)])
            self.corrects = torch.cat([self.corrects, torch.empty_like(self.corrects)])
        self.losses[step] = loss
        self.corrects[step] = correct
        self.sizes.append(size)

    def read(self) -> tuple[list[float], list[float]]:
        """The losses and the accuracies (correct / size), as Python floats."""
        n = len(self.sizes)
        corrects = self.corrects[:n].tolist()
        return self.losses[:n].tolist(), [correct / size for correct, size in zip(corrects, self.sizes)]


def evaluate(
    model: nn.Module,
    loader: Iterable,
    device: str | torch.device | None = None,
) -> Evaluation:
    """Mean cross-entropy and accuracy of ``model`` over ``loader``, in eval mode (dropout off), without gradients.

    Parameters
    ----------
    model : nn.Module
        Maps Tensor of shape (B, 1, 28, 28) to scores of shape (B, 10).
    loader : iterable of (Tensor of shape (B, 1, 28, 28), Tensor of shape (B,))
        E.g. the validation loader of :func:`~cnn_tutorial.torch_data.mnist_loaders`.
    device : {None, "cpu", "cuda", "cuda:N"} or torch.device
        Where the batches are sent: the model's device. ``None`` means where its parameters are.

    Returns
    -------
    Evaluation
        ``loss``, the mean cross-entropy over all images (not a mean of batch means, which would
        weigh a short last batch more), and ``accuracy``, the fraction classified correctly, in
        [0, 1]. The model's train/eval mode is restored afterwards.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    device = (
        next(model.parameters()).device if device is None
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
    if total == 0:
        raise ValueError("loader yielded no images to evaluate")
    return Evaluation(
        loss=loss_sum.item() / total, accuracy=correct.item() / total
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
) -> tuple[ConvNet, History]:
    """Train the classic ConvNet on MNIST with Adam; validate after every epoch, test once at the end.

    It trains on 55,000 training images, validates on the 5,000 held out
    (:func:`cnn_tutorial.data.load_mnist_splits`) and, after the last epoch, tests on the 10,000
    test images.

    Parameters
    ----------
    epochs : int
        Passes over the training set, at least 1.
    batch_size : int
        Images per step, at least 1.
    lr : float
        Adam's learning rate.
    seed : int
        Seeds the weights and dropout from one stream and the shuffling order from another
        (:mod:`cnn_tutorial.seeds`); on the CPU the same seed gives the same run (on CUDA, cuDNN may
        choose kernels whose sums round differently from run to run).
    device : {None, "cpu", "cuda", "cuda:N"} or torch.device
        See :func:`~cnn_tutorial.torch_model.choose_device`; ``None`` takes CUDA when available.
    root : str, PathLike or None
        Data root (see :func:`~cnn_tutorial.torch_data.mnist_loaders`).
    relu_between_fc : bool
        Train :class:`~cnn_tutorial.torch_model.ConvNet` with a ReLU between its linear layers
        (the default: the PyTorch chapter chose it on the validation set, where it did better
        than the classic model with two seeds), or without, as the classic code trains it.
    train_limit : int or None
        Train on the first ``train_limit`` images only; validation and testing always use all of
        their images.
    validation_size : int
        Training images held out for validation.
    progress : bool or None
        Show a progress bar per epoch on stderr; ``None``: when someone is likely watching (a
        terminal or a live notebook; see :func:`~cnn_tutorial.checks.check_progress`).
    download : bool
        Download MNIST when missing.

    Returns
    -------
    model : ConvNet
        The trained model, on ``device``, in eval mode.
    history : History
        ``framework="torch"``; per-step loss and batch accuracy, per-epoch validation loss and
        accuracy, the final test accuracy, ``steps_per_epoch``, wall time and the settings.
    """
    epochs = check_int("epochs", epochs, 1)
    lr = check_positive_float("lr", lr)
    seed = check_int("seed", seed, 0)
    show_progress = check_progress(progress)
    device = choose_device(device)
    train_loader, validation_loader, test_loader = mnist_loaders(
        batch_size, root, seed, train_limit, download, validation_size
    )

    # the loaders shuffle with the other stream
    initialization, _ = run_streams(seed)
    # the weights and dropout masks
    torch.manual_seed(torch_seed(initialization))
    model = ConvNet(relu_between_fc).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = History(
        framework="torch",
        steps_per_epoch=len(train_loader),
        config={
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "optimizer": "Adam",
            "seed": seed,
            "device": str(device),
            "relu_between_fc": relu_between_fc,
            "train_limit": train_limit,
            "train_size": len(train_loader.dataset),
            "validation_size": len(validation_loader.dataset),
            "torch_version": torch.__version__,
        },
    )
    start = time.perf_counter()
    for epoch in range(epochs):
        with tqdm(
            total=len(train_loader),
            desc=f"epoch {epoch + 1}/{epochs}",
            unit="step",
            disable=not show_progress,
        ) as bar:
            losses, accuracies = train_epoch(
                model, optimizer, train_loader, device, bar
            )
            for loss, accuracy in zip(losses, accuracies):
                history.record_step(loss, accuracy)
            validation = evaluate(model, validation_loader)
            history.record_validation(validation)
            bar.set_postfix(
                loss=f"{losses[-1]:.4f}",
                validation_accuracy=f"{100 * validation.accuracy:.2f} %",
            )
    history.test_accuracy = evaluate(model, test_loader).accuracy
    history.seconds = time.perf_counter() - start
    model.eval()
    return model, history
