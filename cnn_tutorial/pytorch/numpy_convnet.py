"""The PyTorch chapter's ConvNet, evaluated with the package's numpy ops.

Given the trained weights of :class:`cnn_tutorial.pytorch.model.ConvNet` (its ``state_dict``), these
functions compute the same logits with :mod:`cnn_tutorial.ops` only, padding included:

==========================  ==========================  ==================
layer                       parameters (state_dict key)  output shape
==========================  ==========================  ==================
input                                                    (N, 1, 28, 28)
conv 32@5x5, pad 2 + ReLU   layer1.0.weight / .bias      (N, 32, 28, 28)
maxpool 2                                                (N, 32, 14, 14)
conv 64@5x5, pad 2 + ReLU   layer2.0.weight / .bias      (N, 64, 14, 14)
maxpool 2                                                (N, 64, 7, 7)
flatten                                                  (N, 3136)
dropout (identity at test)                               (N, 3136)
dense 3136 -> 1000          fc1.weight / .bias           (N, 1000)
(ReLU if relu_between_fc)                                (N, 1000)
dense 1000 -> 10            fc2.weight / .bias           (N, 10)
==========================  ==========================  ==================
"""

from __future__ import annotations

import numpy as np

from .. import ops
from ..params import Images, validate_params

__all__ = ["CONVNET_SHAPES", "params_from_state_dict", "convnet_logits"]

CONVNET_SHAPES = {
    "layer1.0.weight": (32, 1, 5, 5),
    "layer1.0.bias": (32,),
    "layer2.0.weight": (64, 32, 5, 5),
    "layer2.0.bias": (64,),
    "fc1.weight": (1000, 3136),
    "fc1.bias": (1000,),
    "fc2.weight": (10, 1000),
    "fc2.bias": (10,),
}


def params_from_state_dict(state_dict) -> dict:
    """numpy copies (float32) of a ConvNet ``state_dict``'s tensors, keyed as in :data:`CONVNET_SHAPES`.

    Accepts tensors on any device (they are moved to the CPU) or arrays; extra keys are ignored,
    missing keys or wrong shapes raise ``ValueError``.
    """
    params = {}
    for name, shape in CONVNET_SHAPES.items():
        if name not in state_dict:
            raise ValueError(
                f"state_dict has no {name!r}; expected the keys "
                f"{sorted(CONVNET_SHAPES)}"
            )
        value = state_dict[name]
        # a torch tensor; avoids importing torch here
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        value = np.asarray(value, dtype=np.float32)
        if value.shape != shape:
            raise ValueError(
                f"{name} must have shape {shape}, got {value.shape}"
            )
        params[name] = value
    return params


@validate_params(x=Images())
def convnet_logits(
    params: dict, x, relu_between_fc: bool = False
) -> np.ndarray:
    """Logits of the ConvNet for a batch, in eval mode (dropout is the identity).

    Parameters
    ----------
    params : dict
        From :func:`params_from_state_dict`.
    x : ndarray of shape (N, 1, 28, 28)
        Normalised images (:func:`cnn_tutorial.data.normalize`).
    relu_between_fc : bool, default False
        Must match the model the weights came from.

    Returns
    -------
    ndarray of float32, shape (N, 10)
    """
    p = params
    h = ops.maxpool2d(
        ops.relu(
            ops.conv2d(
                x, p["layer1.0.weight"], p["layer1.0.bias"], padding=2
            )
        )
    )  # (N, 32, 14, 14)
    h = ops.maxpool2d(
        ops.relu(
            ops.conv2d(
                h, p["layer2.0.weight"], p["layer2.0.bias"], padding=2
            )
        )
    )  # (N, 64, 7, 7)
    h = ops.dense(
        h.reshape(len(x), -1), p["fc1.weight"], p["fc1.bias"]
    )  # (N, 1000)
    if relu_between_fc:
        h = ops.relu(h)
    return ops.dense(h, p["fc2.weight"], p["fc2.bias"])  # (N, 10)
