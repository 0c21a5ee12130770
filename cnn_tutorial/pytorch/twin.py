"""The numpy CNN rebuilt in PyTorch, and both trained side by side: the bridge from numpy to PyTorch.

:class:`NumpyCNNTwin` has exactly the layers of :class:`cnn_tutorial.numpy_net.NumpyCNN` (the
table in :mod:`cnn_tutorial.numpy_net`) and the same parameter layouts, so the numpy network's
weights copy over unchanged:

============  =====================  ====================
numpy name    PyTorch name           shape
============  =====================  ====================
f1, b1        conv1.weight, .bias    (8, 1, 5, 5), (8,)
f2, b2        conv2.weight, .bias    (8, 8, 5, 5), (8,)
w3, b3        fc1.weight, .bias      (128, 800), (128,)
w4, b4        fc2.weight, .bias      (10, 128), (10,)
============  =====================  ====================

Dense weights are ``(out, in)`` in both (``x @ w.T + b``), and both flatten ``(N, 8, 10, 10)``
channel by channel, row by row (C order), so one copy gives the same logits.

:func:`train_side_by_side` then trains the two copies on the same mini-batches, in the same order,
with the same optimiser and learning-rate schedule, and records both losses step by step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..checks import check_ndim
from ..data import minibatches, num_batches
from ..numpy_net import (
    PARAM_SHAPES,
    SCHEDULES,
    Adam,
    NumpyCNN,
    learning_rate,
)
from ..params import Arrays, Integer, OneOf, Positive, Rule, validate_params
from ..seeds import run_streams

__all__ = [
    "TORCH_NAMES",
    "NumpyCNNTwin",
    "SideBySide",
    "train_side_by_side",
]

#: The PyTorch name of each of the numpy network's parameters.
TORCH_NAMES = {
    "f1": "conv1.weight",
    "b1": "conv1.bias",
    "f2": "conv2.weight",
    "b2": "conv2.bias",
    "w3": "fc1.weight",
    "b3": "fc1.bias",
    "w4": "fc2.weight",
    "b4": "fc2.bias",
}

_DTYPES = {
    np.dtype(np.float32): torch.float32,
    np.dtype(np.float64): torch.float64,
}


def _float_dtype(name, value):
    """numpy.float32 or numpy.float64 (or their names), unchanged."""
    if value is None:  # np.dtype(None) would silently mean float64
        raise TypeError(
            f"{name} must be numpy.float32 or numpy.float64, got None"
        )
    try:
        key = np.dtype(value)
    except TypeError:
        raise TypeError(
            f"{name} must be numpy.float32 or numpy.float64, got {value!r}"
        ) from None
    if key not in _DTYPES:
        raise ValueError(
            f"{name} must be numpy.float32 or numpy.float64, got {value!r}"
        )
    return value


# The rule for a ``dtype`` argument: the precision of both networks.
_FLOAT_DTYPE = Rule(
    _float_dtype,
    bad=[
        (None, TypeError),
        ("int32", ValueError),
        (torch.float32, TypeError),
    ],
    example=np.float32,
)


# The numpy network's parameters, as floats; a bias may be the classic (F, 1).
_NUMPY_PARAMS = Arrays(PARAM_SHAPES, floats=True, column_biases=True)


def _training_images(name, value) -> np.ndarray:
    """Normalised MNIST images, ``(N, 1, 28, 28)`` of float32, at least one."""
    images = np.asarray(value)
    check_ndim(name, images, 4, "(N, 1, 28, 28)")
    if images.shape[1:] != (1, 28, 28):
        raise ValueError(
            f"{name} must have shape (N, 1, 28, 28), got {images.shape}"
        )
    if images.dtype != np.float32:
        # NumpyCNN.forward reads its input as float32; the twin must see the very same numbers.
        raise TypeError(
            f"{name} must be float32, as cnn_tutorial.data.normalize returns them, got dtype {images.dtype}"
        )
    if len(images) == 0:
        raise ValueError(f"{name} is empty: there is nothing to train on")
    return images


def _class_indices(name, value) -> np.ndarray:
    """Labels as an integer array."""
    labels = np.asarray(value)
    if labels.dtype.kind not in "iu":
        raise TypeError(
            f"{name} must be integer class indices, got dtype {labels.dtype}"
        )
    return labels


# The rules for the training set of train_side_by_side.
_TRAINING_IMAGES = Rule(
    _training_images,
    bad=[
        (np.zeros((2, 28, 28), np.float32), ValueError),
        (np.zeros((2, 1, 28, 28), np.float64), TypeError),
        (np.zeros((0, 1, 28, 28), np.float32), ValueError),
    ],
    example=np.zeros((1, 1, 28, 28), np.float32),
)
_CLASS_INDICES = Rule(
    _class_indices,
    bad=[(np.zeros(1), TypeError)],
    example=np.zeros(1, np.int64),
)


def _one_label_per_image(images, labels):
    """One label for each image."""
    if labels.shape != (len(images),):
        raise ValueError(
            f"labels must have shape ({len(images)},) to match images {images.shape}, got {labels.shape}"
        )


def _steps_fit(images, steps, batch_size, epochs):
    """At most the steps of ``epochs`` passes over the images."""
    steps_per_epoch = num_batches(len(images), batch_size)
    if steps > epochs * steps_per_epoch:
        raise ValueError(
            f"steps must be <= {epochs * steps_per_epoch} ({epochs} epochs "
            f"of {steps_per_epoch} batches), got {steps}"
        )


class NumpyCNNTwin(nn.Module):
    """The numpy CNN's architecture in PyTorch, layer for layer.

    ``Conv(1->8, 5x5) -> ReLU -> Conv(8->8, 5x5) -> ReLU -> MaxPool 2 -> flatten (800)
    -> Linear(800->128) -> ReLU -> Linear(128->10)``; no padding, no dropout.

    A new twin has PyTorch's default initial weights; :meth:`from_numpy_params` gives it a numpy
    network's weights instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=5)
        self.conv2 = nn.Conv2d(8, 8, kernel_size=5)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.fc1 = nn.Linear(8 * 10 * 10, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores.

        Parameters
        ----------
        x : Tensor of shape (N, 1, 28, 28)
            Normalised images, in the twin's dtype.

        Returns
        -------
        Tensor of shape (N, 10)
            Logits, one row per image.
        """
        out = F.relu(self.conv1(x))  # (N, 8, 24, 24)
        out = F.relu(self.conv2(out))  # (N, 8, 20, 20)
        out = self.pool(out)  # (N, 8, 10, 10)
        # (N, 800), C order like numpy's reshape
        out = out.flatten(start_dim=1)
        out = F.relu(self.fc1(out))  # (N, 128)
        return self.fc2(out)  # (N, 10)

    @classmethod
    @validate_params(dtype=_FLOAT_DTYPE, params=_NUMPY_PARAMS)
    def from_numpy_params(
        cls, params: dict, dtype=np.float32
    ) -> NumpyCNNTwin:
        """A twin holding copies of a numpy network's parameters.

        Parameters
        ----------
        params : dict of str to ndarray
            :attr:`NumpyCNN.params <cnn_tutorial.numpy_net.NumpyCNN>`: the names and shapes of
            :data:`cnn_tutorial.numpy_net.PARAM_SHAPES`. Biases may also be ``(F, 1)``.
        dtype : {numpy.float32, numpy.float64}, default float32
            The twin's dtype. The values are converted, so float32 weights keep their exact values
            in a float64 twin.

        Returns
        -------
        NumpyCNNTwin
            On the CPU; changing it does not change ``params`` (nor the other way round).
        """
        twin = cls().to(_torch_dtype(dtype))
        tensors = dict(twin.named_parameters())
        with torch.no_grad():
            for name, value in params.items():
                tensors[TORCH_NAMES[name]].copy_(
                    torch.from_numpy(np.ascontiguousarray(value))
                )
        return twin

    def to_numpy_params(self) -> dict:
        """The twin's parameters under the numpy network's names, as new arrays.

        Returns
        -------
        dict of str to ndarray
            Names and shapes of :data:`cnn_tutorial.numpy_net.PARAM_SHAPES`, in the twin's dtype;
            ``NumpyCNN(twin.to_numpy_params())`` is the twin back in numpy (as float32).
        """
        tensors = dict(self.named_parameters())
        return {
            name: tensors[torch_name].detach().cpu().numpy().copy()
            for name, torch_name in TORCH_NAMES.items()
        }


@dataclass
class SideBySide:
    """What :func:`train_side_by_side` recorded.

    Attributes
    ----------
    numpy_losses, torch_losses : ndarray of float64, shape (steps,)
        Each network's mean cross-entropy on the batch of each step, before that step's update.
    checked_steps : ndarray of int64, shape (K,)
        The steps after which the weights were compared (every ``compare_every``-th).
    max_weight_difference : ndarray of float64, shape (K,)
        Largest ``|numpy weight - PyTorch weight|`` over all parameters after each checked step.
    net : NumpyCNN
        The trained numpy network (its parameters in the run's dtype).
    twin : NumpyCNNTwin
        The trained PyTorch network.
    """

    numpy_losses: np.ndarray
    torch_losses: np.ndarray
    checked_steps: np.ndarray
    max_weight_difference: np.ndarray
    net: NumpyCNN
    twin: NumpyCNNTwin

    @property
    def loss_difference(self) -> np.ndarray:
        """``|numpy loss - PyTorch loss|`` at every step, shape (steps,)."""
        return np.abs(self.numpy_losses - self.torch_losses)


@validate_params(
    images=_TRAINING_IMAGES,
    labels=_CLASS_INDICES,
    steps=Integer(minimum=1),
    batch_size=Integer(minimum=1),
    lr=Positive(),
    schedule=OneOf(*SCHEDULES),
    epochs=Integer(minimum=1),
    compare_every=Integer(minimum=1),
    dtype=_FLOAT_DTYPE,
    also=[_one_label_per_image, _steps_fit],
)
def train_side_by_side(
    images: np.ndarray,
    labels: np.ndarray,
    steps: int,
    *,
    batch_size: int = 32,
    lr: float = 2e-3,
    schedule: str = "cosine",
    epochs: int = 3,
    seed: int = 0,
    dtype=np.float32,
    compare_every: int = 10,
) -> SideBySide:
    """Train the numpy CNN and its PyTorch twin from the same weights on the same batches.

    Everything that :func:`cnn_tutorial.numpy_net.fit` does is done twice, once per framework:

    * initial weights: ``NumpyCNN.initialize(seed)``, copied into the twin;
    * batches: the shuffling stream of ``seed`` (:func:`cnn_tutorial.seeds.run_streams`) drives
      :func:`cnn_tutorial.data.minibatches`, a new order every epoch; each batch goes to both;
    * learning rate: :func:`cnn_tutorial.optimizer.learning_rate` of the step, planned for
      ``epochs`` epochs as in ``fit``, set on both optimisers before every step;
    * optimiser: the package's :class:`~cnn_tutorial.optimizer.Adam` against ``torch.optim.Adam``
      with the same ``lr``, betas (0.9, 0.999) and eps (1e-8). Their formulas are the same:
      ``m = beta1 m + (1 - beta1) g``, ``v = beta2 v + (1 - beta2) g**2``,
      ``p -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)``, bias-corrected in
      both and with eps added outside the square root in both (``torch.optim.Adam``'s
      single-tensor code on the CPU, ``foreach=False``). Only the order of the roundings differs:
      numpy takes ``sqrt(v / (1 - beta2**t))``, PyTorch ``sqrt(v) / sqrt(1 - beta2**t)``, and
      PyTorch updates ``m`` with ``lerp``.

    ``fit``'s evaluation after each epoch is left out: it does not change the weights.

    The two runs are then equal up to rounding: numpy's BLAS and PyTorch's kernels add the terms
    of each sum in different orders, so every step differs in the last bits, and training
    amplifies the differences (a ReLU or max-pool decision that flips, Adam's full-size step on a
    gradient that is mostly rounding). Measured with the chapter's settings (55,000 images,
    batch 32, seed 0): in float32 the losses agree to about 1e-6 for 20 steps, 3e-4 for 50 and
    1e-2 for 100, and after about 200 steps single weights differ by 0.1; in float64 the losses
    stay within 1e-13 and the weights within 2e-12 for 1,000 steps.

    Parameters
    ----------
    images : ndarray of float32, shape (N, 1, 28, 28)
        Normalised training images (:func:`cnn_tutorial.data.normalize`).
    labels : ndarray of int, shape (N,)
    steps : int
        Training steps (mini-batches) to run, at least 1 and at most ``epochs`` epochs' worth.
    batch_size : int, default 32
    lr : float, default 2e-3
        Peak learning rate.
    schedule : {"cosine", "step", "constant"}, default "cosine"
    epochs : int, default 3
        The length of the run the schedule is planned for (``fit``'s ``epochs``):
        ``total_steps = epochs * ceil(N / batch_size)``.
    seed : int, default 0
        Initial weights and shuffling, as in :func:`cnn_tutorial.numpy_net.train_numpy`.
    dtype : {numpy.float32, numpy.float64}, default float32
        Precision of both networks. float32 is what both trainers use; float64 shows that the
        drift comes from rounding.
    compare_every : int, default 10
        Compare all weights after every ``compare_every``-th step.

    Returns
    -------
    SideBySide
        Both loss curves, the weight differences, and both trained networks.
    """
    torch_dtype = _torch_dtype(dtype)
    steps_per_epoch = num_batches(len(images), batch_size)
    total_steps = epochs * steps_per_epoch

    net = NumpyCNN.initialize(seed)
    # NumpyCNN stores float32; for a float64 run its weights are widened
    # (exactly) in place.
    net.params = {
        name: value.astype(np.dtype(dtype))
        for name, value in net.params.items()
    }
    twin = NumpyCNNTwin.from_numpy_params(net.params, dtype)
    numpy_adam = Adam(net.params, lr=lr)
    # The constants from the numpy optimiser itself, so the two can never be
    # set apart.
    torch_adam = torch.optim.Adam(
        twin.parameters(),
        lr=lr,
        betas=(numpy_adam.beta1, numpy_adam.beta2),
        eps=numpy_adam.eps,
        foreach=False,
    )
    torch_params = dict(twin.named_parameters())

    _, shuffle_stream = run_streams(seed)
    shuffling = np.random.default_rng(shuffle_stream)
    numpy_losses, torch_losses, checked, differences = [], [], [], []
    step = 0
    while step < steps:
        for x, y in minibatches(images, labels, batch_size, seed=shuffling):
            rate = learning_rate(
                lr, schedule, step, total_steps, steps_per_epoch
            )
            numpy_adam.lr = rate
            torch_adam.param_groups[0]["lr"] = rate

            loss, _, grads = net.loss_and_gradients(x, y)
            numpy_adam.step(grads)

            torch_loss = F.cross_entropy(
                twin(torch.from_numpy(x).to(torch_dtype)),
                torch.from_numpy(y).long(),
            )
            torch_adam.zero_grad()
            torch_loss.backward()
            torch_adam.step()

            numpy_losses.append(loss)
            torch_losses.append(torch_loss.item())
            step += 1
            if step % compare_every == 0:
                checked.append(step)
                differences.append(
                    _max_difference(net.params, torch_params)
                )
            if step == steps:
                break
    return SideBySide(
        numpy_losses=np.array(numpy_losses, dtype=np.float64),
        torch_losses=np.array(torch_losses, dtype=np.float64),
        checked_steps=np.array(checked, dtype=np.int64),
        max_weight_difference=np.array(differences, dtype=np.float64),
        net=net,
        twin=twin,
    )


def _max_difference(numpy_params: dict, torch_params: dict) -> float:
    """Largest absolute difference between any numpy parameter and its PyTorch counterpart."""
    return max(
        float(
            np.max(
                np.abs(
                    numpy_params[name]
                    - torch_params[TORCH_NAMES[name]].detach().numpy()
                )
            )
        )
        for name in PARAM_SHAPES
    )


def _torch_dtype(dtype) -> torch.dtype:
    """The torch dtype for ``dtype``, numpy.float32 or numpy.float64 (or their names), which the
    callers' declarations check."""
    return _DTYPES[np.dtype(dtype)]
