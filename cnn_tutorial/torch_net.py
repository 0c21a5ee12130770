"""The classic PyTorch MNIST ConvNet: model, data loaders, training, evaluation, checkpoints.

The model, the data pipeline and the training loop follow the classic tutorial line by line (same
layers, same transforms, Adam at 1e-3, batch 100, 6 epochs), with these changes:

- the flattened feature vector has 7 * 7 * 64 = 3136 entries (the classic text says 3164);
- checkpoints are written into a directory that is created when missing, atomically, with the file
  name joined by a path separator (the classic code concatenates directory and name as strings);
- every run is seeded: weights, dropout and the shuffling order repeat exactly (on the CPU);
- ``ToTensor`` and ``Normalize`` run once over the whole data set instead of on every image each
  time it is drawn: the tensors are the same, bit for bit, and the batches too, but redoing the
  per-image work cost about a quarter of the training time on a two-core CPU.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Iterable

import torch
import torchvision
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset
from torchvision import transforms
from tqdm import tqdm

from .checks import check_int, check_positive_float, check_progress
from .data import (
    DATA_ENV_VAR,
    MNIST_FILES,
    MNIST_MEAN,
    MNIST_STD,
    MNISTDownloadError,
    MNISTNotFoundError,
    download_mnist,
    resolve_root,
)
from .files import atomic_write
from .history import History

CHECKPOINT_NAME = "conv_net_model.ckpt"
MNIST_TRAIN_SIZE = 60_000

# How often the progress bar shows the current loss: reading a loss waits for the device to finish.
_POSTFIX_EVERY = 50


class ConvNet(nn.Module):
    """The classic two-convolution MNIST network.

    ``Conv(1->32, 5x5, pad 2) -> ReLU -> MaxPool 2 -> Conv(32->64, 5x5, pad 2) -> ReLU -> MaxPool 2
    -> flatten (3136) -> Dropout(0.5) -> Linear(3136->1000) -> Linear(1000->10)``.

    Parameters
    ----------
    relu_between_fc : bool
        Put a ReLU between the two linear layers. The classic model has none, so its two linear
        layers compose to a single linear map (3136 -> 10, factored through rank <= 1000); the
        default keeps that for fidelity. The ReLU has no parameters, so both variants share the
        same ``state_dict`` keys.

    Notes
    -----
    Attribute names (``layer1``, ``layer2``, ``drop_out``, ``fc1``, ``fc2``) are the classic ones,
    so checkpoints of the classic code load into this class.
    """

    def __init__(self, relu_between_fc: bool = False) -> None:
        super().__init__()
        if not isinstance(relu_between_fc, bool):
            raise TypeError(f"relu_between_fc must be a bool, got {relu_between_fc!r}")
        self.relu_between_fc = relu_between_fc
        self.layer1 = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=5, stride=1, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.layer2 = nn.Sequential(
            nn.Conv2d(32, 64, kernel_size=5, stride=1, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.drop_out = nn.Dropout(p=0.5)
        self.fc1 = nn.Linear(7 * 7 * 64, 1000)
        self.fc_activation = nn.ReLU() if relu_between_fc else nn.Identity()
        self.fc2 = nn.Linear(1000, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores.

        Parameters
        ----------
        x : Tensor of shape (N, 1, 28, 28)
            Normalised images.

        Returns
        -------
        Tensor of shape (N, 10)
            Unnormalised log-probabilities (logits), one row per image.
        """
        out = self.layer1(x)  # (N, 32, 14, 14)
        out = self.layer2(out)  # (N, 64, 7, 7)
        out = out.flatten(start_dim=1)  # (N, 3136)
        out = self.drop_out(out)
        out = self.fc_activation(self.fc1(out))  # (N, 1000)
        return self.fc2(out)


def choose_device(device: str | torch.device | None = None) -> torch.device:
    """The device to train on: CUDA when available, else the CPU; or the one asked for.

    Parameters
    ----------
    device : {None, "cpu", "cuda", "cuda:N"} or torch.device
        ``None`` chooses automatically.

    Returns
    -------
    torch.device

    Raises
    ------
    TypeError
        ``device`` is not a string, a ``torch.device`` or None.
    ValueError
        ``device`` names something other than the CPU or a CUDA device.
    RuntimeError
        CUDA was asked for but is not available.
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be None, a string or a torch.device, got {device!r}")
    try:
        chosen = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
    if chosen.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} was asked for, but CUDA is not available here; use 'cpu'")
    return chosen


def mnist_transform() -> transforms.Compose:
    """The classic per-image preprocessing: pixels to [0, 1] (``ToTensor``), then standardise.

    Maps a PIL image of 28x28 pixels to a Tensor of shape (1, 28, 28). :func:`transform_all` does
    the same to a whole stack of images at once.
    """
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])


def transform_all(images: torch.Tensor) -> torch.Tensor:
    """:func:`mnist_transform` applied to every image at once, with the same operations.

    ``ToTensor`` turns bytes into float32 and divides by 255; ``Normalize`` subtracts the mean and
    divides by the standard deviation. Each is an element-wise operation, so doing them on the
    stack gives the same numbers, bit for bit, as doing them image by image.

    Parameters
    ----------
    images : Tensor of uint8, shape (N, 28, 28)
        Raw pixels, as ``torchvision.datasets.MNIST(...).data`` holds them.

    Returns
    -------
    Tensor of float32, shape (N, 1, 28, 28)
    """
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.dtype != torch.uint8 or images.ndim != 3:
        raise ValueError(
            f"images must be uint8 of shape (N, H, W), got {images.dtype} of shape {tuple(images.shape)}"
        )
    scaled = images.unsqueeze(1).to(torch.float32).div(255)  # ToTensor on a uint8 image
    return transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))(scaled)


def _ensure_torchvision_files(root: Path, download: bool) -> None:
    """Make sure the uncompressed idx files that ``torchvision.datasets.MNIST`` reads are present."""
    raw_dir = root / "MNIST" / "raw"
    names = [name for split_names in MNIST_FILES.values() for name in split_names]
    missing = [name for name in names if not (raw_dir / name).is_file()]
    if not missing:
        return
    # torchvision's own downloader would work too, but the package's is tested, verified and atomic.
    problem = "downloading was off"
    if download:
        try:
            download_mnist(root)
            return
        except MNISTDownloadError as err:
            problem = f"downloading failed ({' '.join(str(err).split())})"
    raise MNISTNotFoundError(
        f"MNIST not found in {raw_dir} (missing uncompressed: {', '.join(missing)}); {problem}. "
        f"Set {DATA_ENV_VAR} to the folder that contains MNIST/raw/, or pass root=..."
    )


def _transformed_split(root: Path, train: bool, limit: int | None) -> TensorDataset:
    mnist = torchvision.datasets.MNIST(root=str(root), train=train, download=False)
    return TensorDataset(transform_all(mnist.data[:limit]), mnist.targets[:limit])


def mnist_loaders(
    batch_size: int = 100,
    root: str | os.PathLike | None = None,
    seed: int = 0,
    train_limit: int | None = None,
    download: bool = True,
) -> tuple[DataLoader, DataLoader]:
    """Training and test loaders over ``torchvision.datasets.MNIST``, as in the classic tutorial.

    The images go through :func:`transform_all` once, when the loaders are made (about half a
    second): the same tensors as the classic per-image ``ToTensor`` + ``Normalize``, in the same
    shuffled batches, without redoing that work every epoch.

    Parameters
    ----------
    batch_size : int
        Images per batch, at least 1 (the classic 100).
    root : str, PathLike or None
        Data root, resolved by :func:`cnn_tutorial.data.resolve_root` (so ``CNN_TUTORIAL_DATA``
        works); the files are in ``<root>/MNIST/raw/``.
    seed : int
        Seeds the generator that shuffles the training set; each epoch draws a new order from it.
    train_limit : int or None
        Use only the first ``train_limit`` training images (for tests and quick runs).
    download : bool
        Download missing files.

    Returns
    -------
    train_loader : DataLoader
        Shuffled batches ``(images, labels)``: Tensor of shape (B, 1, 28, 28), float32,
        normalised; Tensor of shape (B,), int64.
    test_loader : DataLoader
        The 10,000 test images in order, same batch size.

    Raises
    ------
    MNISTNotFoundError
        Files missing and ``download`` is False, or the download failed.
    """
    batch_size = check_int("batch_size", batch_size, 1)
    seed = check_int("seed", seed, 0)
    if train_limit is not None:
        train_limit = check_int("train_limit", train_limit, 1)
        if train_limit > MNIST_TRAIN_SIZE:
            raise ValueError(f"train_limit must be at most {MNIST_TRAIN_SIZE}, got {train_limit}")
    root = resolve_root(root)
    _ensure_torchvision_files(root, download)
    train_set = _transformed_split(root, train=True, limit=train_limit)
    test_set = _transformed_split(root, train=False, limit=None)
    shuffle_generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=shuffle_generator)
    test_loader = DataLoader(test_set, batch_size=batch_size, shuffle=False)
    return train_loader, test_loader


def train_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, images: torch.Tensor, labels: torch.Tensor
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
    losses, corrects, sizes = [], [], []
    for step, (images, labels) in enumerate(batches):
        images = images.to(device)
        labels = labels.to(device)
        loss, correct = train_step(model, optimizer, images, labels)
        # Kept as device tensors and read once per epoch: reading each step would make a GPU
        # wait for every step to finish before queueing the next.
        losses.append(loss)
        corrects.append(correct)
        sizes.append(labels.shape[0])
        if bar is not None:
            bar.update()
            if step % _POSTFIX_EVERY == 0:
                bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
    if not losses:
        return [], []
    accuracies = [correct / size for correct, size in zip(torch.stack(corrects).tolist(), sizes)]
    return torch.stack(losses).tolist(), accuracies


def evaluate(model: nn.Module, loader: Iterable, device: str | torch.device | None = None) -> float:
    """Accuracy of ``model`` over ``loader``, in eval mode (dropout off) and without gradients.

    Parameters
    ----------
    model : nn.Module
        Maps Tensor of shape (B, 1, 28, 28) to scores of shape (B, 10).
    loader : iterable of (Tensor of shape (B, 1, 28, 28), Tensor of shape (B,))
        E.g. the test loader of :func:`mnist_loaders`.
    device : {None, "cpu", "cuda", "cuda:N"} or torch.device
        Where the batches are sent: the model's device. ``None`` means where its parameters are.

    Returns
    -------
    float
        Fraction of images classified correctly, in [0, 1]. The model's train/eval mode is restored
        afterwards.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    device = next(model.parameters()).device if device is None else choose_device(device)
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    total = 0
    try:
        with torch.no_grad():
            for images, labels in loader:
                images, labels = images.to(device), labels.to(device)
                correct += (model(images).argmax(dim=1) == labels).sum()
                total += labels.shape[0]
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("loader yielded no images to evaluate")
    return correct.item() / total


def train_torch(
    epochs: int = 6,
    batch_size: int = 100,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device | None = None,
    root: str | os.PathLike | None = None,
    relu_between_fc: bool = False,
    train_limit: int | None = None,
    progress: bool | None = None,
    download: bool = True,
) -> tuple[ConvNet, History]:
    """Train the classic ConvNet on MNIST with Adam; test after every epoch.

    Parameters
    ----------
    epochs : int
        Passes over the training set, at least 1.
    batch_size : int
        Images per step, at least 1.
    lr : float
        Adam's learning rate.
    seed : int
        Seeds the weights, dropout and the shuffling order; on the CPU the same seed gives the same
        run (on CUDA, cuDNN may choose kernels whose sums round differently from run to run).
    device : {None, "cpu", "cuda", "cuda:N"} or torch.device
        See :func:`choose_device`; ``None`` takes CUDA when available.
    root : str, PathLike or None
        Data root (see :func:`mnist_loaders`).
    relu_between_fc : bool
        See :class:`ConvNet`.
    train_limit : int or None
        Train on the first ``train_limit`` images only; testing always uses all 10,000.
    progress : bool or None
        Show a progress bar per epoch on stderr: ``None`` only when stderr is a terminal.
    download : bool
        Download MNIST when missing.

    Returns
    -------
    model : ConvNet
        The trained model, on ``device``, in eval mode.
    history : History
        ``framework="torch"``; per-step loss and batch accuracy, per-epoch test accuracy,
        ``steps_per_epoch``, wall time and the settings.
    """
    epochs = check_int("epochs", epochs, 1)
    lr = check_positive_float("lr", lr)
    seed = check_int("seed", seed, 0)
    show_progress = check_progress(progress)
    device = choose_device(device)
    train_loader, test_loader = mnist_loaders(batch_size, root, seed, train_limit, download)

    torch.manual_seed(seed)  # the weights and dropout masks
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
            "torch_version": torch.__version__,
        },
    )
    start = time.perf_counter()
    for epoch in range(epochs):
        with tqdm(
            total=len(train_loader), desc=f"epoch {epoch + 1}/{epochs}", unit="step", disable=not show_progress
        ) as bar:
            losses, accuracies = train_epoch(model, optimizer, train_loader, device, bar)
            for loss, accuracy in zip(losses, accuracies):
                history.record_step(loss, accuracy)
            test_accuracy = evaluate(model, test_loader)
            history.epoch_test_accuracy.append(test_accuracy)
            bar.set_postfix(loss=f"{losses[-1]:.4f}", test_accuracy=f"{100 * test_accuracy:.2f} %")
    history.seconds = time.perf_counter() - start
    model.eval()
    return model, history


# The layout of a checkpoint file (a dict), so that a future change of it can be recognised.
CHECKPOINT_FORMAT = "cnn_tutorial.ConvNet checkpoint 1"


def save_checkpoint(
    model: ConvNet, directory: str | os.PathLike, name: str = CHECKPOINT_NAME, history: History | None = None
) -> Path:
    """Save a :class:`ConvNet`'s weights, its configuration and how it was trained, atomically.

    The file is a dict: ``"format"`` (``CHECKPOINT_FORMAT``), ``"model"`` (the constructor's
    arguments, ``{"relu_between_fc": ...}``), ``"training"`` (``history.config`` plus
    ``"epoch_test_accuracy"``, or None without a history) and ``"state_dict"``. Only plain values
    and tensors, so it loads with ``torch.load(..., weights_only=True)``.

    Parameters
    ----------
    model : ConvNet
    directory : str or PathLike
        Created (with its parents) when missing.
    name : str
        A plain file name (no directory part).
    history : History or None
        The run that trained ``model``; recorded so that a reader of the file can tell which run it
        was (see :func:`checkpoint_record`).

    Returns
    -------
    Path
        The file written. An interrupted save leaves any earlier checkpoint intact.
    """
    if not isinstance(model, ConvNet):
        raise TypeError(f"model must be a cnn_tutorial ConvNet, got {type(model).__name__}")
    if history is not None and not isinstance(history, History):
        raise TypeError(f"history must be a cnn_tutorial.History or None, got {type(history).__name__}")
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"name must be a plain file name without a directory part, got {name!r}")
    training = None
    if history is not None:
        # Through JSON, as History.save writes it: plain values only (torch.__version__, say, is a
        # str subclass that torch.load(..., weights_only=True) refuses).
        training = json.loads(json.dumps({**history.config, "epoch_test_accuracy": history.epoch_test_accuracy}))
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "model": {"relu_between_fc": model.relu_between_fc},
        "training": training,
        "state_dict": model.state_dict(),
    }
    path = Path(directory) / name
    with atomic_write(path, "wb") as handle:
        torch.save(checkpoint, handle)
    return path


def _read_checkpoint(path: Path, map_location) -> tuple[dict, dict | None, dict | None]:
    """``(state_dict, model configuration, training record)``; both records None in a bare state_dict."""
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    # weights_only: a checkpoint is only tensors and plain values, and unpickling anything else could run code.
    try:
        content = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for a file that is not a checkpoint
        raise ValueError(f"{path} is not a readable checkpoint: {err}") from None
    if isinstance(content, dict) and "format" in content:
        if content["format"] != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} has checkpoint format {content['format']!r}; this package reads {CHECKPOINT_FORMAT!r}")
        return content["state_dict"], content["model"], content["training"]
    return content, None, None  # a bare state_dict, as the classic code saves it


def checkpoint_record(path: str | os.PathLike) -> dict:
    """What a checkpoint file says about its model and its training, without building the model.

    Returns
    -------
    dict
        ``{"model": {"relu_between_fc": bool} or None, "training": dict or None}``. ``"training"``
        holds the run's settings (``epochs``, ``batch_size``, ``lr``, ``seed``, ``train_limit``, ...)
        and its ``epoch_test_accuracy``. Both are None for a bare ``state_dict`` (the classic code's
        checkpoints), and ``"training"`` is None when it was saved without a history.
    """
    _, model_config, training = _read_checkpoint(Path(path), "cpu")
    return {"model": model_config, "training": training}


def load_checkpoint(
    path: str | os.PathLike, relu_between_fc: bool | None = None, map_location: str | torch.device = "cpu"
) -> ConvNet:
    """Load a :class:`ConvNet` from a file written by :func:`save_checkpoint` (or a bare ``state_dict``).

    Parameters
    ----------
    path : str or PathLike
        The checkpoint file.
    relu_between_fc : bool or None
        The model asked for. ``None`` takes what the file records. A bare ``state_dict`` records
        nothing (the ReLU has no weights, so the tensors cannot tell); there ``None`` means False,
        the classic model.
    map_location : str or torch.device
        Where to put the weights.

    Returns
    -------
    ConvNet
        In eval mode, ready for predictions.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not a checkpoint, or records another model than the one asked for.
    RuntimeError
        The file holds weights of another architecture.
    """
    path = Path(path)
    if relu_between_fc is not None and not isinstance(relu_between_fc, bool):
        raise TypeError(f"relu_between_fc must be a bool or None, got {relu_between_fc!r}")
    state, model_config, _ = _read_checkpoint(path, map_location)
    if model_config is not None:
        recorded = model_config["relu_between_fc"]
        if relu_between_fc is not None and relu_between_fc != recorded:
            raise ValueError(
                f"{path} holds a ConvNet with relu_between_fc={recorded}, "
                f"but relu_between_fc={relu_between_fc} was asked for"
            )
        relu_between_fc = recorded
    model = ConvNet(bool(relu_between_fc))
    model.load_state_dict(state)
    return model.to(map_location).eval()
