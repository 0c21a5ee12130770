"""The rows of :func:`~cnn_tutorial.figures.diagrams.network_diagram`: a network's layers,
measured by running it on one image, with their output shapes and parameter counts.

* :func:`numpy_cnn_layers`: the numpy CNN, measured by running its forward pass;
* :func:`torch_convnet_layers`: a PyTorch ``ConvNet``, measured with forward hooks.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import ops
from ..numpy_net import NumpyCNN
from ..params import Instance, Optional, validate_params

__all__ = ["Layer", "numpy_cnn_layers", "torch_convnet_layers"]


class Layer(NamedTuple):
    """One row of :func:`network_diagram`."""

    name: str  #: the layer's name, e.g. ``"conv 8@5×5 + ReLU"``
    shape: tuple  #: its output for one image, without the batch axis
    tensors: tuple = ()  #: its parameter arrays: (name, shape) pairs
    params: int = 0  #: number of parameters: the tensors' sizes summed


@validate_params(net=Optional(Instance(NumpyCNN, what="NumpyCNN")))
def numpy_cnn_layers(net: NumpyCNN | None = None) -> list[Layer]:
    """The numpy CNN's layers, measured on one image.

    Parameters
    ----------
    net : NumpyCNN, optional
        Default: ``NumpyCNN.initialize(seed=0)`` (the counts and shapes do
        not depend on the weights).

    Returns
    -------
    list of Layer
        The input, then one row per layer of the table in
        :mod:`cnn_tutorial.numpy_net`; shapes from its forward pass.
    """
    net = NumpyCNN.initialize(seed=0) if net is None else net
    logits, out = net.forward(np.zeros((1, 1, 28, 28), np.float32))
    out.update(logits=logits, probs=ops.softmax(logits))
    rows = [
        ("input x", "x", ()),
        (_conv_name(net.params["f1"]), "r1", ("f1", "b1")),
        (_conv_name(net.params["f2"]), "r2", ("f2", "b2")),
        ("maxpool 2×2", "pooled", ()),
        ("flatten", "flat", ()),
        ("dense + ReLU", "a3", ("w3", "b3")),
        ("dense", "logits", ("w4", "b4")),
        ("softmax", "probs", ()),
    ]
    return [
        _layer(
            name, out[key].shape[1:], [(n, net.params[n]) for n in names]
        )
        for name, key, names in rows
    ]


def torch_convnet_layers(model=None) -> list[Layer]:
    """A PyTorch model's layers, measured with forward hooks on one image.

    Parameters
    ----------
    model : torch.nn.Module, optional
        Takes ``(N, 1, 28, 28)``; default: a new
        :class:`~cnn_tutorial.pytorch.model.ConvNet`.

    Returns
    -------
    list of Layer
        The input, then every module without submodules in the order the
        forward pass calls them, named by their attribute path
        (``layer1.0``); a reshape done in ``forward`` itself (the
        ConvNet's flatten) gets a row of its own.
    """
    import torch

    from ..pytorch.model import ConvNet

    model = ConvNet() if model is None else model
    if not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )
    calls = _hooked_forward(model)
    layers = [Layer("input x", (1, 28, 28))]
    for name, module, shape_in, shape_out in calls:
        if shape_in != layers[-1].shape:
            layers.append(Layer("flatten (in forward)", shape_in))
        tensors = module.named_parameters(recurse=False)
        layers.append(
            _layer(
                f"{name}: {type(module).__name__}", shape_out, list(tensors)
            )
        )
    return layers


def _conv_name(filters: np.ndarray) -> str:
    count, _, height, width = filters.shape
    return f"conv {count}@{height}×{width} + ReLU"


def _layer(name: str, shape, tensors) -> Layer:
    """A Layer from output shape ``shape`` (no batch axis) and ``(name, array)`` pairs."""
    shapes = tuple((key, tuple(value.shape)) for key, value in tensors)
    count = sum(math.prod(array_shape) for _, array_shape in shapes)
    return Layer(name, tuple(int(size) for size in shape), shapes, count)


def _hooked_forward(model) -> list[tuple]:
    """Run ``model`` on a zero image; per call of a leaf module: name, module, input and output
    shapes (without the batch axis)."""
    import torch

    calls, handles = [], []
    for name, module in model.named_modules():
        if name and not any(module.children()):

            def record(module, inputs, output, name=name):
                calls.append(
                    (
                        name,
                        module,
                        tuple(inputs[0].shape[1:]),
                        tuple(output.shape[1:]),
                    )
                )

            handles.append(module.register_forward_hook(record))
    first = next(model.parameters(), None)
    device = first.device if first is not None else "cpu"
    dtype = first.dtype if first is not None else torch.float32
    training = model.training
    model.eval()  # dropout would draw from torch's random generator
    try:
        with torch.no_grad():
            model(torch.zeros((1, 1, 28, 28), device=device, dtype=dtype))
    finally:
        model.train(training)
        for handle in handles:
            handle.remove()
    return calls
