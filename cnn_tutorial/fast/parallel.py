"""Data parallelism for the numpy CNN: the gradient of a batch computed by several processes at once.

A training step is a chain of a few dozen numpy calls on arrays of 0.1 to 2 MB. Python threads
cannot spread it over the cores: every call takes Python's global interpreter lock (GIL) to start
and to return, so two threads hand the lock back and forth a few hundred times per step and gain
little (measured in the chapter "Making numpy fast"). Processes have one lock each.

:class:`GradientWorkers` splits every batch into ``workers`` parts. The training process computes
the first part's gradient itself; each other part goes to a helper process started with the same
Python. All of them read the parameters from one block of shared memory (the network's
``params`` become views into it, so the optimiser's in-place updates reach every process), and
each helper writes its gradient, logits and loss into shared memory too. The batch's gradient is
the average of the parts' gradients, weighted by their sizes: exactly what the whole batch would
give, up to float rounding. Each process runs numpy's BLAS on one thread.

This is what ``torch.nn.parallel.DistributedDataParallel`` does across processes and machines,
with a shared-memory copy in place of its all-reduce.
"""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..params import Integer, Rule, validate_params

__all__ = [
    "GradientWorkers",
    "blas_threads",
    "default_workers",
    "network_description",
    "split_sizes",
    "serve",
]

IMAGES_PER_WORKER = 16
"""Below about this many images per part, a helper's fixed cost per step (waking it, a few dozen
short numpy calls) outweighs what it takes off the training process."""


def blas_threads() -> int:
    """Threads numpy's BLAS would use now (from threadpoolctl; 1 when it reports no BLAS)."""
    from threadpoolctl import threadpool_info

    counts = [
        entry["num_threads"]
        for entry in threadpool_info()
        if entry.get("user_api") == "blas"
    ]
    return max(1, min(counts)) if counts else 1


def default_workers(batch_size: int) -> int:
    """Processes for a batch: as many as numpy's BLAS would use threads (so that
    ``OPENBLAS_NUM_THREADS`` or ``threadpoolctl`` set both), at most one per
    :data:`IMAGES_PER_WORKER` images of the batch, at least one."""
    return max(1, min(blas_threads(), batch_size // IMAGES_PER_WORKER))


def split_sizes(n: int, parts: int) -> list[int]:
    """Sizes of ``parts`` consecutive pieces of ``n`` images, as equal as possible, larger first."""
    base, extra = divmod(n, parts)
    return [base + (k < extra) for k in range(parts)]


class _Layout:
    """Where everything lives in the shared file: the parameters, then one region per helper
    (its images, labels, gradient, logits and loss). Both sides compute it from the same sizes."""

    def __init__(
        self,
        shapes: dict,
        helpers: int,
        max_part: int,
        image_shape: tuple,
        classes: int,
    ):
        self.shapes = shapes
        self.size = sum(
            math.prod(shape) for shape in shapes.values()
        )  # parameter count
        self.max_part = max_part
        self.image_shape, self.classes = tuple(image_shape), classes
        per_helper = (
            max_part * math.prod(self.image_shape) * 4
            + max_part * 8  # images, labels
            + self.size * 4
            + max_part * classes * 4
            + 8
        )  # gradient, logits, loss
        self.helper_bytes = (
            -(-per_helper // 64) * 64
        )  # each region starts on a cache line
        self.param_bytes = -(-self.size * 4 // 64) * 64
        self.total = self.param_bytes + helpers * self.helper_bytes

    def params(self, buffer) -> dict:
        """The parameters as views into ``buffer``, with their shapes."""
        flat = np.ndarray((self.size,), np.float32, buffer, 0)
        return _split(flat, self.shapes)

    def region(self, buffer, k: int):
        """Helper ``k``'s arrays: images (max_part, *image_shape), labels, gradient dict, logits, loss."""
        offset = self.param_bytes + k * self.helper_bytes
        m = self.max_part
        images = np.ndarray(
            (m, *self.image_shape), np.float32, buffer, offset
        )
        offset += images.nbytes
        labels = np.ndarray((m,), np.int64, buffer, offset)
        offset += labels.nbytes
        gradient = np.ndarray((self.size,), np.float32, buffer, offset)
        offset += gradient.nbytes
        logits = np.ndarray((m, self.classes), np.float32, buffer, offset)
        offset += logits.nbytes
        loss = np.ndarray((1,), np.float64, buffer, offset)
        return images, labels, _split(gradient, self.shapes), logits, loss


def _split(flat: np.ndarray, shapes: dict) -> dict:
    """Consecutive views of ``flat`` with the given shapes."""
    views, start = {}, 0
    for name, shape in shapes.items():
        size = math.prod(shape)
        views[name] = flat[start : start + size].reshape(shape)
        start += size
    return views


class GradientWorkers:
    """``loss_and_gradients`` of a network, spread over processes.

    Use it as a context manager; inside it, ``net.params`` are views into shared memory, and on
    leaving they become ordinary arrays again with the trained values. With ``workers=1`` it
    starts nothing and calls the network directly.

    Each helper process rebuilds the network from a description (:func:`network_description`):
    its class, found by module and name, called with the parameter dict. Any class with that
    constructor, a ``params`` dict of float32 arrays, ``loss_and_gradients(x, labels)`` and the
    class attributes ``IMAGE_SHAPE`` (one image's shape) and ``CLASSES`` can be served, e.g.
    :class:`~cnn_tutorial.numpy_net.NumpyCNN`.

    Parameters
    ----------
    net : NumpyCNN or a network with the same interface
    workers : int
        Processes, the training process included.
    max_batch : int
        The largest batch that :meth:`loss_and_gradients` will get.
    """

    @validate_params(
        workers=Integer(minimum=1), max_batch=Integer(minimum=1)
    )
    def __init__(self, net, workers: int, max_batch: int):
        self.net = net
        self.workers, self.max_batch = workers, max_batch
        self.helpers = []
        self._file = None
        self._path = None
        self._limit = None

    def __enter__(self) -> GradientWorkers:
        if self.workers == 1:
            return self
        from threadpoolctl import threadpool_limits

        network = network_description(self.net)
        shapes = {
            name: value.shape for name, value in self.net.params.items()
        }
        layout = _Layout(
            shapes,
            self.workers - 1,
            -(-self.max_batch // self.workers),
            network["image_shape"],
            network["classes"],
        )
        directory = (
            "/dev/shm" if os.path.isdir("/dev/shm") else None
        )  # memory, not disk, where there is one
        handle, path = tempfile.mkstemp(
            prefix="cnn_tutorial_", dir=directory
        )
        self._path = path
        try:
            os.ftruncate(handle, layout.total)
            os.close(handle)
            self._file = np.memmap(
                path, dtype=np.uint8, mode="r+", shape=(layout.total,)
            )
            shared = layout.params(self._file)
            for name, view in shared.items():
                view[...] = self.net.params[name]
                self.net.params[name] = view
            self.regions = [
                layout.region(self._file, k)
                for k in range(self.workers - 1)
            ]
            spec = dict(
                path=path,
                shapes={k: list(v) for k, v in shapes.items()},
                helpers=self.workers - 1,
                max_part=layout.max_part,
                network=network,
            )
            for k in range(self.workers - 1):
                self.helpers.append(_start_helper(dict(spec, index=k)))
            for k, helper in enumerate(self.helpers):
                _expect(helper, b"R", k)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        finally:
            if os.name == "posix":
                self._remove_file()  # every process has it mapped; the memory goes when the last one ends
        self._limit = threadpool_limits(1, user_api="blas")
        return self

    def __exit__(self, *exc) -> None:
        if self._limit is not None:
            self._limit.restore_original_limits()
            self._limit = None
        for helper in self.helpers:
            try:
                helper.stdin.write(struct.pack("<i", 0))  # 0 images: stop
                helper.stdin.flush()
            except OSError:
                pass  # already stopped
        for helper in self.helpers:
            try:
                helper.wait(timeout=10)
            except subprocess.TimeoutExpired:
                helper.kill()
                helper.wait()
            for stream in (helper.stdin, helper.stdout, helper.error_log):
                try:
                    stream.close()
                except OSError:  # unsent bytes to a helper that has stopped
                    pass
        self.helpers = []
        if self._file is not None:
            for name, view in list(self.net.params.items()):
                self.net.params[name] = np.array(
                    view
                )  # private copies: the shared memory goes away
            self._file = self.regions = None
        self._remove_file()

    def _remove_file(self) -> None:
        if self._path is not None and os.path.exists(self._path):
            try:
                os.unlink(self._path)
            except OSError:  # Windows: still mapped; the temporary folder's cleanup takes it
                return
        self._path = None

    def loss_and_gradients(self, x: np.ndarray, labels: np.ndarray):
        """Mean cross-entropy, logits and gradients of a batch, as
        :meth:`NumpyCNN.loss_and_gradients <cnn_tutorial.numpy_net.NumpyCNN.loss_and_gradients>`
        returns them.

        Parameters
        ----------
        x : ndarray of shape (N, 1, 28, 28), N <= max_batch
        labels : ndarray of int, shape (N,)
        """
        n = len(x)
        if n > self.max_batch:
            raise ValueError(
                f"x holds {n} images, more than max_batch={self.max_batch}"
            )
        if self.workers == 1 or not self.helpers:
            return self.net.loss_and_gradients(x, labels)
        sizes = split_sizes(n, self.workers)
        starts = np.cumsum([0, *sizes])
        # hand out parts 1, 2, ...
        for k, helper in enumerate(self.helpers, start=1):
            if sizes[k]:
                images, part_labels, _, _, _ = self.regions[k - 1]
                images[: sizes[k]] = x[starts[k] : starts[k + 1]]
                part_labels[: sizes[k]] = labels[starts[k] : starts[k + 1]]
                _send(helper, sizes[k], k - 1)
        loss, logits, grads = self.net.loss_and_gradients(
            x[: sizes[0]], labels[: sizes[0]]
        )  # part 0 here
        weight = sizes[0] / n
        loss = loss * weight
        grads = {name: g * np.float32(weight) for name, g in grads.items()}
        all_logits = [logits]
        for k, helper in enumerate(self.helpers, start=1):
            if not sizes[k]:
                continue
            _expect(helper, b"D", k - 1)
            _, _, part_grads, part_logits, part_loss = self.regions[k - 1]
            weight = sizes[k] / n
            loss += float(part_loss[0]) * weight
            for name, g in part_grads.items():
                grads[name] += np.float32(weight) * g
            all_logits.append(part_logits[: sizes[k]].copy())
        return float(loss), np.concatenate(all_logits), grads


def _network(name, net):
    """A network the helper processes can rebuild: it has these attributes, like NumpyCNN."""
    needed = ("IMAGE_SHAPE", "CLASSES", "loss_and_gradients", "params")
    missing = [
        attribute for attribute in needed if not hasattr(net, attribute)
    ]
    if missing:
        raise TypeError(
            f"{name} must be a network with {', '.join(missing)} (like NumpyCNN), "
            f"got {type(net).__name__}"
        )
    return net


@validate_params(net=Rule(_network, bad=[(object(), TypeError)]))
def network_description(net) -> dict:
    """What a helper process needs to rebuild ``net``: its class and the shapes of its data.

    Returns
    -------
    dict
        ``{"module": ..., "name": ..., "image_shape": [C, H, W], "classes": K}``, JSON-ready.
    """
    cls = type(net)
    return {
        "module": cls.__module__,
        "name": cls.__qualname__,
        "image_shape": [int(n) for n in cls.IMAGE_SHAPE],
        "classes": int(cls.CLASSES),
    }


def _network_class(description: dict):
    """The class that :func:`network_description` describes."""
    import importlib

    cls = importlib.import_module(description["module"])
    for part in description["name"].split("."):
        cls = getattr(cls, part)
    return cls


def _start_helper(spec: dict) -> subprocess.Popen:
    """Start one helper process (:func:`serve`) with single-threaded BLAS."""
    env = dict(
        os.environ,
        OPENBLAS_NUM_THREADS="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    package_parent = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(
        [package_parent, *filter(None, [env.get("PYTHONPATH")])]
    )
    code = "import sys, json; from cnn_tutorial.fast.parallel import serve; serve(json.loads(sys.argv[1]))"
    # Its error output goes to a file, not a pipe: a pipe that nobody reads could fill up (with
    # warnings, say) and stop the helper mid-step.
    error_log = tempfile.TemporaryFile()
    helper = subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(spec)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=error_log,
    )
    helper.error_log = error_log
    return helper


def _send(helper: subprocess.Popen, n: int, k: int) -> None:
    """Tell helper ``k`` to compute a part of ``n`` images (0: stop)."""
    try:
        helper.stdin.write(struct.pack("<i", n))
        helper.stdin.flush()
    except OSError:  # it has stopped: report why
        _stopped(helper, k)


def _expect(helper: subprocess.Popen, reply: bytes, k: int) -> None:
    """Wait for ``reply`` from helper ``k``."""
    if helper.stdout.read(1) != reply:
        _stopped(helper, k)


def _stopped(helper: subprocess.Popen, k: int):
    """Raise ``RuntimeError`` for a helper that stopped, with the last line of its error output."""
    helper.kill()
    code = helper.wait()
    helper.error_log.seek(0)
    error = (
        helper.error_log.read()
        .decode(errors="replace")
        .strip()
        .splitlines()
    )
    raise RuntimeError(
        f"gradient worker {k + 1} stopped (exit code {code}): "
        + (error[-1] if error else "no message")
    )


def serve(spec: dict) -> None:
    """The helper process's loop: read a part size from stdin, compute that part's loss, logits and
    gradients from the shared parameters into the shared region, answer ``D``; 0 ends it."""
    from .memory import reuse_freed_memory

    reuse_freed_memory()
    network = spec["network"]
    shapes = {name: tuple(shape) for name, shape in spec["shapes"].items()}
    layout = _Layout(
        shapes,
        spec["helpers"],
        spec["max_part"],
        network["image_shape"],
        network["classes"],
    )
    shared = np.memmap(
        spec["path"], dtype=np.uint8, mode="r+", shape=(layout.total,)
    )
    net = _network_class(network)(layout.params(shared))
    net.params = layout.params(
        shared
    )  # views, not the constructor's copies: they follow every update
    images, labels, gradient, logits, loss = layout.region(
        shared, spec["index"]
    )
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    stdout.write(b"R")
    stdout.flush()
    while True:
        header = stdin.read(4)
        n = struct.unpack("<i", header)[0] if len(header) == 4 else 0
        if n == 0:
            return
        part_loss, part_logits, grads = net.loss_and_gradients(
            images[:n], labels[:n]
        )
        for name, g in grads.items():
            gradient[name][...] = g
        logits[:n] = part_logits
        loss[0] = part_loss
        stdout.write(b"D")
        stdout.flush()
