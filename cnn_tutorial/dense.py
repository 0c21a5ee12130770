"""A small dense network (a multi-layer perceptron, MLP) on MNIST pixels, and a plain training loop.

The chapter "Why convolutions" derives and trains it. The dense layer itself, ``Y = X A^T + b``, is
:func:`cnn_tutorial.layers.dense` (with :func:`~cnn_tutorial.layers.dense_backward`), the same layer
the CNNs of the later chapters end with:

====================  =====================  ===================
layer                 parameters             output shape
====================  =====================  ===================
input, flattened                             (N, 784)
dense + ReLU          A1 (100, 784), b1      (N, 100)
dense                 A2 (10, 100), b2       (N, 10) logits
====================  =====================  ===================

:func:`train` is plain mini-batch stochastic gradient descent, for this network and any other with
the same two methods (``params`` and ``loss_and_gradients``).
"""

from __future__ import annotations

import numpy as np

from . import ops
from .batching import batch_slices
from .params import Array, Integer, Positive, validate_params
from .seeds import run_streams

__all__ = ["Classifier", "MLP", "train", "accuracy", "train_with_best_rate"]


class Classifier:
    """What every network of the Why convolutions chapter shares: the loss, its gradients and the
    predictions follow from ``forward(x) -> (logits, cache)`` and ``backward(dlogits, cache)``.
    """

    def loss_and_gradients(self, x: np.ndarray, labels: np.ndarray):
        """Mean cross-entropy of a batch and the gradient of every parameter."""
        logits, cache = self.forward(x)
        loss = ops.cross_entropy(logits, labels)
        grads = self.backward(
            ops.cross_entropy_backward(logits, labels), cache
        )
        return loss, grads

    def predict(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Predicted digit of each image of ``x`` (N, 1, 28, 28): int64 array of shape (N,)."""
        return np.concatenate(
            [
                self.forward(x[batch])[0].argmax(axis=1)
                for batch in batch_slices(len(x), batch_size)
            ]
        )


class MLP(Classifier):
    """Two dense layers with a ReLU between them: ``784 -> hidden -> 10``.

    Parameters
    ----------
    hidden : int, default 100
        Units of the hidden layer.
    seed : int, default 0
        Seeds the initial weights (the initialisation stream of :func:`cnn_tutorial.seeds.run_streams`).
    """

    @validate_params(hidden=Integer(minimum=1))
    def __init__(self, hidden: int = 100, seed: int = 0):
        rng = np.random.default_rng(run_streams(seed)[0])
        # He initialisation for the layer before the ReLU, 1/sqrt(fan-in) for the logits: both
        # keep the outputs' scale about that of the inputs.
        self.params = {
            "A1": rng.normal(0, np.sqrt(2 / 784), (hidden, 784)).astype(
                np.float32
            ),
            "b1": np.zeros(hidden, np.float32),
            "A2": rng.normal(0, np.sqrt(1 / hidden), (10, hidden)).astype(
                np.float32
            ),
            "b2": np.zeros(10, np.float32),
        }

    def forward(self, x: np.ndarray):
        """Logits of a batch ``x`` of shape (N, 1, 28, 28), and what :meth:`backward` needs."""
        p = self.params
        flat = x.reshape(len(x), -1)  # (N, 784)
        z1 = ops.dense(flat, p["A1"], p["b1"])  # (N, 100)
        h1 = ops.relu(z1)  # (N, 100)
        logits = ops.dense(h1, p["A2"], p["b2"])  # (N, 10)
        return logits, (flat, z1, h1)

    def backward(self, dlogits: np.ndarray, cache) -> dict:
        """Gradient of the loss for every parameter, from ``dlogits`` of shape (N, 10)."""
        p = self.params
        flat, z1, h1 = cache
        grads = {}
        dh1, grads["A2"], grads["b2"] = ops.dense_backward(
            dlogits, h1, p["A2"]
        )  # dh1: (N, 100)
        dz1 = ops.relu_backward(dh1, z1)  # (N, 100)
        # The pixels need no gradient: drop the first output.
        _, grads["A1"], grads["b1"] = ops.dense_backward(dz1, flat, p["A1"])
        return grads


@validate_params(
    x=Array("(N, 1, 28, 28)"),
    epochs=Integer(minimum=1),
    batch_size=Integer(minimum=1),
    lr=Positive(),
)
def train(
    net,
    x: np.ndarray,
    labels: np.ndarray,
    epochs: int = 1,
    batch_size: int = 64,
    lr: float = 0.05,
    seed: int = 0,
) -> np.ndarray:
    """Plain mini-batch stochastic gradient descent: ``theta -= lr * gradient``, batch after batch.

    Parameters
    ----------
    net
        Has ``params`` (a dict of arrays, updated in place) and ``loss_and_gradients(x, labels)``.
    x : ndarray of shape (N, 1, 28, 28)
        Normalised images.
    labels : ndarray of int, shape (N,)
    epochs, batch_size : int
    lr : float
        The learning rate.
    seed : int
        Seeds the order of the images (the shuffling stream of :func:`cnn_tutorial.seeds.run_streams`).

    Returns
    -------
    ndarray of shape (steps,)
        The loss of every batch.
    """
    shuffle = np.random.default_rng(run_streams(seed)[1])
    losses = []
    for _ in range(epochs):
        order = shuffle.permutation(len(x))  # a new order every epoch
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]  # (batch_size,)
            loss, grads = net.loss_and_gradients(x[batch], labels[batch])
            for name, theta in net.params.items():
                theta -= lr * grads[name]  # a step downhill
            losses.append(loss)
    return np.array(losses)


def accuracy(net, x: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of the images of ``x`` (N, 1, 28, 28) that ``net.predict`` labels correctly."""
    return float(np.mean(net.predict(x) == labels))


def train_with_best_rate(
    make_net,
    x: np.ndarray,
    labels: np.ndarray,
    x_validation: np.ndarray,
    validation_labels: np.ndarray,
    learning_rates,
    seed: int = 0,
    **options,
):
    """Train a fresh network with each learning rate; keep the one most accurate on the validation set.

    Parameters
    ----------
    make_net : callable
        ``make_net(seed=seed)`` returns a fresh, untrained network, e.g. :class:`MLP`.
    x, labels
        Training images (N, 1, 28, 28) and labels, as for :func:`train`.
    x_validation, validation_labels
        Held-out images and labels, the only ones the choice looks at.
    learning_rates : sequence of float
    seed : int
        The same for every rate, so the runs differ only in the rate.
    **options
        Passed on to :func:`train` (``epochs``, ``batch_size``).

    Returns
    -------
    net
        The trained network of the best rate (the first of equals).
    best_rate : float
    validation_accuracy : dict of float to float
        Every rate's validation accuracy.
    """
    best_net, best_rate, validation_accuracy = None, None, {}
    for lr in learning_rates:
        net = make_net(seed=seed)
        train(net, x, labels, lr=lr, seed=seed, **options)
        validation_accuracy[lr] = accuracy(
            net, x_validation, validation_labels
        )
        if (
            best_net is None
            or validation_accuracy[lr] > validation_accuracy[best_rate]
        ):
            best_net, best_rate = net, lr
    return best_net, best_rate, validation_accuracy
