"""Train the numpy CNN on MNIST and compare its speed with the same network in PyTorch on the CPU.

    python benchmarks/bench_numpy_training.py [--epochs 3] [--threads N]

In one run, with the same thread count for numpy's BLAS and torch:

1. the numpy CNN (``cnn_tutorial.numpy_net.fit``: batch 32, Adam from 2e-3 with the cosine
   schedule) trains for ``--epochs`` epochs on the 55,000 training images left after the
   validation split; validation accuracy after every epoch, test accuracy at the end
   (``--schedule step`` runs the older schedule, 2e-3 halved after every epoch);
2. the same architecture, initialisation scale, batch size and optimiser in PyTorch trains one
   epoch on the same normalised arrays (already in memory, no DataLoader);
3. evaluation speed (forward only, batches of 500) for both, and the loop versions' training
   speed on a few images, for scale.

Needs MNIST (``CNN_TUTORIAL_DATA``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--schedule", default="cosine", help="learning-rate schedule of the numpy CNN")
    return parser.parse_args()


ARGS = parse_args()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread count is fixed)
import torch  # noqa: E402
from torch import nn  # noqa: E402

from cnn_tutorial import loops, ops  # noqa: E402
from cnn_tutorial.data import load_mnist_splits, minibatches, normalize  # noqa: E402
from cnn_tutorial.numpy_net import NumpyCNN, evaluate, fit  # noqa: E402
from cnn_tutorial.torch_twin import NumpyCNNTwin  # noqa: E402

torch.set_num_threads(ARGS.threads)
BATCH = 32


def torch_epoch(train_x, train_y, test_x, test_y):
    torch.manual_seed(ARGS.seed)
    model = NumpyCNNTwin()  # PyTorch's default initialisation
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for x, y in minibatches(train_x, train_y, BATCH, seed=ARGS.seed):
        optimizer.zero_grad()
        loss = loss_fn(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        optimizer.step()
    train_seconds = time.perf_counter() - start
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        predictions = torch.cat([model(torch.from_numpy(test_x[i : i + 500])).argmax(1) for i in range(0, len(test_x), 500)])
    eval_seconds = time.perf_counter() - start
    accuracy = float((predictions.numpy() == test_y).mean())
    return train_seconds, eval_seconds, accuracy


def loop_training_seconds_per_image(net: NumpyCNN, images, n: int = 2) -> float:
    """Forward + backward of the conv layers with the single-image loop versions (the dense layers are negligible)."""
    p = net.params
    start = time.perf_counter()
    for image in images[:n]:
        c1 = loops.convolution(image, p["f1"], p["b1"])
        r1 = ops.relu(c1)
        c2 = loops.convolution(r1, p["f2"], p["b2"])
        r2 = ops.relu(c2)
        pooled = loops.maxpool(r2)
        dr2 = loops.maxpool_backward(np.ones_like(pooled), r2)
        dr1, _, _ = loops.convolution_backward(ops.relu_backward(dr2, c2), r1, p["f2"])
        loops.convolution_backward(ops.relu_backward(dr1, c1), image, p["f1"])
    return (time.perf_counter() - start) / n


def main() -> int:
    print(f"threads: {ARGS.threads} (numpy BLAS and torch); numpy {np.__version__}, torch {torch.__version__}")
    (train_images, train_y), (validation_images, validation_y), (test_images, test_y) = load_mnist_splits()
    train_x, validation_x, test_x = normalize(train_images), normalize(validation_images), normalize(test_images)

    net = NumpyCNN.initialize(ARGS.seed)
    history = fit(net, train_x, train_y, validation_x, validation_y, epochs=ARGS.epochs, batch_size=BATCH,
                  schedule=ARGS.schedule, seed=ARGS.seed, progress=False)
    start = time.perf_counter()
    evaluate(net, validation_x, validation_y)
    validation_seconds = time.perf_counter() - start
    numpy_epoch = (history.seconds - ARGS.epochs * validation_seconds) / ARGS.epochs  # fit() also validated each epoch
    start = time.perf_counter()
    test_accuracy = evaluate(net, test_x, test_y).accuracy
    numpy_eval = time.perf_counter() - start

    torch_train, torch_eval, torch_accuracy = torch_epoch(train_x, train_y, test_x, test_y)
    loop_seconds = loop_training_seconds_per_image(net, train_x)

    n_train, n_test = len(train_x), len(test_x)
    print(f"\naccuracy of the numpy CNN (Adam from 2e-3, {ARGS.schedule} schedule):")
    for epoch, accuracy in enumerate(history.epoch_validation_accuracy, start=1):
        print(f"  on the 5,000 validation images after epoch {epoch}: {accuracy * 100:.2f} %")
    print(f"  on the 10,000 test images at the end: {test_accuracy * 100:.2f} %")
    print(f"  PyTorch twin after 1 epoch, on the test images: {torch_accuracy * 100:.2f} %")
    print("\nspeed (batch 32):")
    print(f"  numpy   training: {numpy_epoch:7.2f} s per epoch = {n_train / numpy_epoch:8.0f} images/s")
    print(f"  PyTorch training: {torch_train:7.2f} s per epoch = {n_train / torch_train:8.0f} images/s")
    print(f"  numpy / PyTorch : {numpy_epoch / torch_train:7.2f}x  (target <= 3x)")
    print(f"  numpy   evaluation: {n_test / numpy_eval:8.0f} images/s")
    print(f"  PyTorch evaluation: {n_test / torch_eval:8.0f} images/s")
    print(f"  loop versions training: {1 / loop_seconds:8.1f} images/s "
          f"({loop_seconds * 60000 / 3600:.1f} h per epoch; batched numpy is {loop_seconds * n_train / numpy_epoch:.0f}x faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
