"""The numpy CNN: the classic network and its training loop.

Architecture (the classic numpy CNN), for a batch of ``N`` images:

====================  =====================  ===================
layer                 parameters             output shape
====================  =====================  ===================
input                                        (N, 1, 28, 28)
conv 8@5x5 + ReLU     f1 (8, 1, 5, 5), b1    (N, 8, 24, 24)
conv 8@5x5 + ReLU     f2 (8, 8, 5, 5), b2    (N, 8, 20, 20)
maxpool 2x2                                  (N, 8, 10, 10)
flatten                                      (N, 800)
dense + ReLU          w3 (128, 800), b3      (N, 128)
dense                 w4 (10, 128), b4       (N, 10) logits
softmax                                      (N, 10) probabilities
====================  =====================  ===================

Everything is built from the batched operations in :mod:`cnn_tutorial.ops`. The optimiser,
:class:`~cnn_tutorial.optimizer.Adam`, and the learning-rate schedules
(:func:`~cnn_tutorial.optimizer.learning_rate`) live in :mod:`cnn_tutorial.optimizer`; they are
importable from here too.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import ops
from .batching import batch_slices
from .data import (
    VALIDATION_SIZE,
    load_mnist_splits,
    minibatches,
    normalize,
    num_batches,
)
from .fast.memory import reuse_freed_memory
from .fast.parallel import GradientWorkers, default_workers
from .files import atomic_write
from .history import Evaluation, History
from .optimizer import SCHEDULES, Adam, learning_rate
from .params import (
    Arrays,
    Images,
    Integer,
    OneOf,
    Optional,
    Progress,
    validate_params,
)
from .seeds import run_streams

__all__ = [
    "PARAM_SHAPES",
    "SCHEDULES",
    "NumpyCNN",
    "Adam",
    "learning_rate",
    "evaluate",
    "fit",
    "train_numpy",
]

PARAM_SHAPES = {
    "f1": (8, 1, 5, 5),
    "b1": (8,),
    "f2": (8, 8, 5, 5),
    "b2": (8,),
    "w3": (128, 800),
    "b3": (128,),
    "w4": (10, 128),
    "b4": (10,),
}


class NumpyCNN:
    """The classic two-conv-layer network on numpy arrays.

    Parameters
    ----------
    params : dict of str to ndarray
        Arrays with the names and shapes of :data:`PARAM_SHAPES`; stored as float32.
    """

    IMAGE_SHAPE = (1, 28, 28)  #: one input image: (C, H, W)
    CLASSES = 10  #: scores per image

    @validate_params(params=Arrays(PARAM_SHAPES, dtype=np.float32))
    def __init__(self, params: dict):
        self.params = params

    @classmethod
    def initialize(cls, seed: int = 0) -> NumpyCNN:
        """The classic initialisation, seeded.

        Filters are normal with standard deviation ``1 / sqrt(number of filter entries)``
        (``F * C * k * k``, as the classic ``initializeFilter`` computes it); dense weights are
        normal with standard deviation 0.01; biases start at zero.

        Parameters
        ----------
        seed : int
            The run's seed; the weights come from its initialisation stream
            (:func:`cnn_tutorial.seeds.run_streams`), so :func:`fit` with the same seed shuffles
            from an independent stream.
        """
        initialization, _ = run_streams(seed)
        rng = np.random.default_rng(initialization)
        params = {}
        for name, shape in PARAM_SHAPES.items():
            if name.startswith("f"):
                params[name] = rng.normal(
                    0.0, 1.0 / np.sqrt(np.prod(shape)), size=shape
                )
            elif name.startswith("w"):
                params[name] = rng.standard_normal(shape) * 0.01
            else:
                params[name] = np.zeros(shape)
        return cls(params)

    @validate_params(x=Images())
    def forward(self, x: np.ndarray):
        """Run the network and keep what the backward pass needs.

        Parameters
        ----------
        x : ndarray of shape (N, 1, 28, 28)
            Normalised images (see :func:`cnn_tutorial.data.normalize`).

        Returns
        -------
        logits : ndarray of shape (N, 10)
        cache : dict
            Intermediate activations, for :meth:`backward`.
        """
        p = self.params
        # The conv routes put here the work on their input that the backward
        # pass would repeat.
        saved1, saved2 = {}, {}
        c1 = ops.conv2d(x, p["f1"], p["b1"], saved=saved1)  # (N, 8, 24, 24)
        r1 = ops.relu(c1)
        c2 = ops.conv2d(
            r1, p["f2"], p["b2"], saved=saved2
        )  # (N, 8, 20, 20)
        r2 = ops.relu(c2)
        pooled = ops.maxpool2d(r2, 2, 2)  # (N, 8, 10, 10)
        flat = pooled.reshape(len(x), -1)  # (N, 800)
        z3 = ops.dense(flat, p["w3"], p["b3"])  # (N, 128)
        a3 = ops.relu(z3)
        logits = ops.dense(a3, p["w4"], p["b4"])  # (N, 10)
        cache = dict(
            x=x,
            c1=c1,
            r1=r1,
            c2=c2,
            r2=r2,
            pooled=pooled,
            flat=flat,
            z3=z3,
            a3=a3,
            saved1=saved1,
            saved2=saved2,
        )
        return logits, cache

    def backward(self, dlogits: np.ndarray, cache: dict) -> dict:
        """Gradients of the loss with respect to every parameter, layer by layer in reverse.

        Parameters
        ----------
        dlogits : ndarray of shape (N, 10)
            Gradient of the loss with respect to the logits.
        cache : dict
            From :meth:`forward`.

        Returns
        -------
        dict of str to ndarray
            One gradient per parameter, with the parameter's name and shape.
        """
        p, c = self.params, cache
        grads = {}
        da3, grads["w4"], grads["b4"] = ops.dense_backward(
            dlogits, c["a3"], p["w4"]
        )
        dz3 = ops.relu_backward(da3, c["z3"])
        dflat, grads["w3"], grads["b3"] = ops.dense_backward(
            dz3, c["flat"], p["w3"]
        )
        dr2 = ops.maxpool2d_backward(
            dflat.reshape(c["pooled"].shape), c["r2"], 2, 2
        )
        dc2 = ops.relu_backward(dr2, c["c2"])
        dr1, grads["f2"], grads["b2"] = ops.conv2d_backward(
            dc2, c["r1"], p["f2"], saved=c["saved2"]
        )
        dc1 = ops.relu_backward(dr1, c["c1"])
        # The image needs no gradient, so the first layer skips its input
        # gradient.
        _, grads["f1"], grads["b1"] = ops.conv2d_backward(
            dc1, c["x"], p["f1"], need_dx=False, saved=c["saved1"]
        )
        return grads

    def loss_and_gradients(self, x: np.ndarray, labels: np.ndarray):
        """Mean cross-entropy of a batch, its logits and the gradient of every parameter.

        Parameters
        ----------
        x : ndarray of shape (N, 1, 28, 28)
        labels : ndarray of int, shape (N,)

        Returns
        -------
        loss : float
        logits : ndarray of shape (N, 10)
        grads : dict of str to ndarray
        """
        logits, cache = self.forward(x)
        loss = ops.cross_entropy(logits, labels)
        grads = self.backward(
            ops.cross_entropy_backward(logits, labels), cache
        )
        return loss, logits, grads

    @validate_params(batch_size=Integer(minimum=1))
    def logits(self, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Logits for any number of images, computed ``batch_size`` at a time. Shape (N, 10)."""
        return np.concatenate(
            [
                self.forward(x[batch])[0]
                for batch in batch_slices(len(x), batch_size)
            ]
        )

    def predict(self, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Predicted class of each image: ``int64`` array of shape (N,)."""
        return self.logits(x, batch_size).argmax(axis=1)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the parameters to a ``.npz`` file, atomically. Returns the path."""
        path = Path(path)
        with atomic_write(path) as handle:
            np.savez(handle, **self.params)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> NumpyCNN:
        """Read parameters written by :meth:`save`."""
        with np.load(path) as archive:
            return cls({name: archive[name] for name in archive.files})


def _labelled(images, labels) -> None:
    """One label per image, and at least one image."""
    if len(images) != len(labels):
        raise ValueError(
            f"images ({len(images)}) and labels ({len(labels)}) differ in length"
        )
    if len(images) == 0:
        raise ValueError(
            "no images to evaluate: images and labels are empty"
        )


@validate_params(also=[_labelled])
def evaluate(
    net: NumpyCNN,
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int = 500,
) -> Evaluation:
    """Mean cross-entropy and accuracy of ``net`` on ``images``, ``batch_size`` images at a time.

    Parameters
    ----------
    net : NumpyCNN
    images : ndarray of float32, shape (N, 1, 28, 28)
        Normalised images.
    labels : ndarray of int, shape (N,)
    batch_size : int, default 500

    Returns
    -------
    Evaluation
        ``loss`` (mean cross-entropy over the N images) and ``accuracy`` (fraction classified
        correctly, in [0, 1]).
    """
    logits = net.logits(images, batch_size)  # (N, 10)
    return Evaluation(
        loss=ops.cross_entropy(logits, labels),
        accuracy=float(np.mean(logits.argmax(axis=1) == labels)),
    )


def _something_to_learn(train_images, validation_images) -> None:
    """Images to train on and images to validate on."""
    if min(len(train_images), len(validation_images)) == 0:
        name = "validation_images" if len(train_images) else "train_images"
        raise ValueError(
            f"{name} is empty: there is nothing to train on or to validate on"
        )


@validate_params(
    epochs=Integer(minimum=1),
    batch_size=Integer(minimum=1),
    schedule=OneOf(*SCHEDULES),
    progress=Progress(),
    workers=Optional(Integer(minimum=1)),
    also=[_something_to_learn],
)
def fit(
    net: NumpyCNN,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    validation_images: np.ndarray,
    validation_labels: np.ndarray,
    epochs: int = 3,
    batch_size: int = 32,
    lr: float = 2e-3,
    schedule: str = "cosine",
    seed: int = 0,
    progress: bool | None = None,
    workers: int | None = None,
) -> History:
    """Train ``net`` in place with Adam on given arrays; evaluate on the validation arrays after each epoch.

    Parameters
    ----------
    net : NumpyCNN
    train_images : ndarray of float32, shape (N, 1, 28, 28)
        Normalised training images.
    train_labels : ndarray of int, shape (N,)
    validation_images : ndarray of float32, shape (M, 1, 28, 28)
        Normalised images held out from training, to watch the run and choose settings on.
    validation_labels : ndarray of int, shape (M,)
    epochs : int, default 3
    batch_size : int, default 32
    lr : float, default 2e-3
        Peak learning rate.
    schedule : {"cosine", "step", "constant"}, default "cosine"
        How the learning rate changes from step to step (see :func:`~cnn_tutorial.optimizer.learning_rate`).
    seed : int, default 0
        The run's seed: every epoch draws a new order of the mini-batches from its shuffling
        stream (:func:`cnn_tutorial.seeds.run_streams`), independent of the weights'.
    progress : bool or None
        Show a tqdm progress bar; None: when someone is likely watching (a terminal or a live
        notebook; see :func:`~cnn_tutorial.checks.check_progress`).
    workers : int, optional
        Processes that share each batch's gradient (:class:`cnn_tutorial.fast.parallel.GradientWorkers`);
        by default as many as numpy's BLAS would use threads, at most one per 16 images of a batch
        (:func:`cnn_tutorial.fast.parallel.default_workers`). Different counts give the same training up
        to float rounding.

    Returns
    -------
    History
        Per-step loss and batch accuracy, per-epoch validation loss and accuracy, wall time
        (``test_accuracy`` stays None: the test set is not fit's business).
    """
    if workers is None:
        workers = default_workers(batch_size)
    # see cnn_tutorial.fast.memory: half of a step's time went to page faults
    reuse_freed_memory()
    optimizer = Adam(net.params, lr=lr)
    history = History(
        framework="numpy",
        steps_per_epoch=num_batches(len(train_images), batch_size),
        config=dict(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            schedule=schedule,
            seed=seed,
            train_size=len(train_images),
            validation_size=len(validation_images),
            workers=workers,
        ),
    )
    _, shuffle_stream = run_streams(seed)
    shuffling = np.random.default_rng(shuffle_stream)
    total_steps = epochs * history.steps_per_epoch
    step = 0
    start = time.perf_counter()
    with GradientWorkers(net, workers, batch_size) as parallel:
        for epoch in range(epochs):
            with tqdm(
                total=history.steps_per_epoch,
                desc=f"epoch {epoch + 1}/{epochs}",
                unit="batch",
                leave=False,
                disable=not progress,
            ) as bar:
                for x, y in minibatches(
                    train_images, train_labels, batch_size, seed=shuffling
                ):
                    optimizer.lr = learning_rate(
                        lr,
                        schedule,
                        step,
                        total_steps,
                        history.steps_per_epoch,
                    )
                    loss, logits, grads = parallel.loss_and_gradients(x, y)
                    optimizer.step(grads)
                    step += 1
                    history.record_step(
                        loss, np.mean(logits.argmax(axis=1) == y)
                    )
                    bar.update()
                    bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
            history.record_validation(
                evaluate(net, validation_images, validation_labels)
            )
    history.seconds = time.perf_counter() - start
    return history


def train_numpy(
    epochs: int = 3,
    batch_size: int = 32,
    lr: float = 2e-3,
    schedule: str = "cosine",
    seed: int = 0,
    root=None,
    train_limit: int | None = None,
    validation_size: int = VALIDATION_SIZE,
    progress: bool | None = None,
    download: bool = True,
    workers: int | None = None,
):
    """Train the numpy CNN on MNIST from scratch; validate after every epoch, test once at the end.

    It trains on 55,000 training images, validates on the 5,000 held out
    (:func:`cnn_tutorial.data.load_mnist_splits`) and, after the last epoch, tests on the 10,000
    test images.

    Parameters
    ----------
    epochs, batch_size, lr, schedule, progress, workers
        As in :func:`fit`. The defaults (3 epochs, batch 32, Adam at 2e-3 with a cosine schedule)
        reach about 99.1 % test accuracy (the schedule was chosen on the validation set).
    seed : int, default 0
        The weights come from one stream of this seed, the shuffling order from another
        (:func:`cnn_tutorial.seeds.run_streams`).
    root : str or PathLike, optional
        Data root (see :func:`cnn_tutorial.mnist_files.resolve_root`).
    train_limit : int, optional
        Train on only the first ``train_limit`` training images (quick runs, tests).
    validation_size : int, default 5,000
        Training images held out for validation.
    download : bool, default True
        Download MNIST when it is missing (see :func:`cnn_tutorial.mnist_files.load_mnist`).

    Returns
    -------
    net : NumpyCNN
    history : History
        With ``test_accuracy`` set.
    """
    (
        (train_images, train_labels),
        (validation_images, validation_labels),
        (test_images, test_labels),
    ) = load_mnist_splits(root, download, train_limit, validation_size)
    net = NumpyCNN.initialize(seed)
    history = fit(
        net,
        normalize(train_images),
        train_labels,
        normalize(validation_images),
        validation_labels,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        schedule=schedule,
        seed=seed,
        progress=progress,
        workers=workers,
    )
    history.test_accuracy = evaluate(
        net, normalize(test_images), test_labels
    ).accuracy
    return net, history
