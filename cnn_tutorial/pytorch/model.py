"""The classic PyTorch MNIST ConvNet, and the choice of the device it runs on.

The model follows the classic tutorial layer by layer (same layers, same sizes), with one
correction: the flattened feature vector has 7 * 7 * 64 = 3136 entries (the classic text says 3164).
"""

from __future__ import annotations

import torch
from torch import nn


class ConvNet(nn.Module):
    """The classic two-convolution MNIST network.

    ``Conv(1->32, 5x5, pad 2) -> ReLU -> MaxPool 2 -> Conv(32->64, 5x5, pad 2) -> ReLU -> MaxPool 2
    -> flatten (3136) -> Dropout(0.5) -> Linear(3136->1000) -> Linear(1000->10)``.

    Parameters
    ----------
    relu_between_fc : bool
        Put a ReLU between the two linear layers. The classic model has none, so its two linear
        layers compose to a single linear map (3136 -> 10, factored through rank <= 1000); the
        default keeps that, so that the class is the classic model (and the classic code's
        checkpoints mean what they meant there). :func:`~cnn_tutorial.pytorch.training.train_torch`
        trains with the ReLU by default, the choice the PyTorch chapter makes on validation. The
        ReLU has no parameters, so both variants share the same ``state_dict`` keys.

    Notes
    -----
    Attribute names (``layer1``, ``layer2``, ``drop_out``, ``fc1``, ``fc2``) are the classic ones,
    so checkpoints of the classic code load into this class.
    """

    def __init__(self, relu_between_fc: bool = False) -> None:
        super().__init__()
        if not isinstance(relu_between_fc, bool):
            raise TypeError(
                f"relu_between_fc must be a bool, got {relu_between_fc!r}"
            )
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
        raise TypeError(
            f"device must be None, a string or a torch.device, got {device!r}"
        )
    try:
        chosen = torch.device(device)
    except RuntimeError:
        raise ValueError(
            f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        ) from None
    if chosen.type not in ("cpu", "cuda"):
        raise ValueError(
            f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        )
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device {device!r} was asked for, but CUDA is not available here; use 'cpu'"
        )
    return chosen
