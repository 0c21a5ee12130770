"""cnn_tutorial: convolutional neural networks from the ground up, in numpy and PyTorch.

The top level re-exports the public API. The PyTorch side lives in its own modules, imported from
there, so that the numpy path works without torch installed: :mod:`cnn_tutorial.pytorch.model` (the
ConvNet), :mod:`~cnn_tutorial.pytorch.data` (MNIST as tensors), :mod:`~cnn_tutorial.pytorch.training`
(training and evaluation), :mod:`~cnn_tutorial.pytorch.checkpoints` (saving and loading) and
:mod:`~cnn_tutorial.pytorch.distributed` (training on several processes under ``torchrun``).
"""

from .data import load_mnist, minibatches, normalize
from .gradcheck import gradcheck, numerical_gradient, relative_error
from .history import History
from .loops import (
    categorical_cross_entropy,
    convolution,
    convolution_backward,
    maxpool,
    maxpool_backward,
)
from .ops import (
    conv2d,
    conv2d_backward,
    cross_entropy,
    cross_entropy_backward,
    log_softmax,
    maxpool2d,
    maxpool2d_backward,
    relu,
    relu_backward,
    softmax,
)

__version__ = "0.1.0"

__all__ = [
    "History",
    "categorical_cross_entropy",
    "conv2d",
    "conv2d_backward",
    "convolution",
    "convolution_backward",
    "cross_entropy",
    "cross_entropy_backward",
    "gradcheck",
    "load_mnist",
    "log_softmax",
    "maxpool",
    "maxpool2d",
    "maxpool2d_backward",
    "maxpool_backward",
    "minibatches",
    "normalize",
    "numerical_gradient",
    "relative_error",
    "relu",
    "relu_backward",
    "softmax",
]
