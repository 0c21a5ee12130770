"""Convolution geometries and helpers shared by the tests of both convolution routes."""

import numpy as np
import torch

# Random conv geometries: batch 1 and more, stride 1-3, padding 0-2, rectangular inputs and kernels,
# several channel counts, windows that do not tile the input.
_rng = np.random.default_rng(2024)
CONV_CASES = []
while len(CONV_CASES) < 40:
    n, c, f = int(_rng.integers(1, 4)), int(_rng.integers(1, 5)), int(_rng.integers(1, 6))
    kh, kw = int(_rng.integers(1, 6)), int(_rng.integers(1, 6))
    stride, padding = int(_rng.integers(1, 4)), int(_rng.integers(0, 3))
    h, w = int(_rng.integers(3, 13)), int(_rng.integers(3, 13))
    if kh <= h + 2 * padding and kw <= w + 2 * padding:
        CONV_CASES.append((n, c, h, w, f, kh, kw, stride, padding))
CONV_CASES += [
    (32, 1, 28, 28, 8, 5, 5, 1, 0),  # the classic network's first layer
    (2, 32, 14, 14, 64, 5, 5, 1, 2),  # the PyTorch chapter's second layer
]


def ids(cases):
    return ["-".join(map(str, case)) for case in cases]


def as_torch(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)
