"""Adam and the learning-rate schedules: how the numpy CNN's parameters move at each step.

:class:`Adam` updates the parameters from their gradients; :func:`learning_rate` says how large
its step is at each point of a run. :func:`cnn_tutorial.numpy_net.fit` uses both (and
:mod:`cnn_tutorial.numpy_net` re-exports them); the chapter "Backpropagation and training in
numpy" derives Adam and shows :meth:`Adam.step`.
"""

from __future__ import annotations

import math

import numpy as np

from .checks import check_real
from .params import Integer, OneOf, Positive, Rule, validate_params

__all__ = ["SCHEDULES", "Adam", "learning_rate"]


def _beta(name: str, value):
    """A decay rate of Adam's running means: a real number in [0, 1)."""
    if not 0 <= check_real(name, value) < 1:
        raise ValueError(f"{name} must lie in [0, 1), got {value}")
    return value


BETA = Rule(
    _beta,
    bad=[("0.9", TypeError), (-0.1, ValueError), (1.0, ValueError)],
    example=0.9,
)


def _same_keys(self, grads: dict) -> None:
    """One gradient for every parameter, no more, no fewer."""
    if grads.keys() != self.params.keys():
        raise ValueError(
            f"grads has keys {sorted(grads)}, expected {sorted(self.params)}"
        )


class Adam:
    """Adam (Kingma and Ba, 2015) with moments kept across steps and bias correction.

    For each parameter ``p`` with gradient ``g`` at step ``t = 1, 2, ...``::

        m = beta1 * m + (1 - beta1) * g      # running mean of gradients
        v = beta2 * v + (1 - beta2) * g**2   # ... of squared gradients
        p -= lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)

    The classic numpy CNN re-created ``m`` and ``v`` as zeros at every batch, skipped the bias
    correction and used ``lr=0.01``, ``beta1=0.95``, ``beta2=0.99`` with ``sqrt(v + 1e-7)``. Then
    ``m = 0.05 g`` and ``v = 0.01 g**2`` at every step, so each update is
    ``lr * 0.05 g / sqrt(0.01 g**2 + 1e-7)``, about ``0.5 lr * sign(g)`` for ``|g| >> 3e-3``:
    sign-SGD with a fixed step, not Adam. This class gives the same updates as
    ``torch.optim.Adam`` (tested).

    Parameters
    ----------
    params : dict of str to ndarray
        Updated in place by :meth:`step`.
    lr : float, default 1e-3
    beta1, beta2 : float, default 0.9, 0.999
    eps : float, default 1e-8
    """

    @validate_params(lr=Positive(), eps=Positive(), beta1=BETA, beta2=BETA)
    def __init__(
        self,
        params: dict,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
    ):
        self.params = params
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.t = 0
        self.m = {
            name: np.zeros_like(value) for name, value in params.items()
        }
        self.v = {
            name: np.zeros_like(value) for name, value in params.items()
        }

    @validate_params(also=[_same_keys])
    def step(self, grads: dict) -> None:
        """Apply one update from ``grads`` (same keys and shapes as the parameters)."""
        self.t += 1
        correction1 = 1 - self.beta1**self.t
        correction2 = 1 - self.beta2**self.t
        for name, p in self.params.items():
            g = grads[name]
            m, v = self.m[name], self.v[name]
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            p -= (
                (self.lr / correction1)
                * m
                / (np.sqrt(v / correction2) + self.eps)
            )


SCHEDULES = ("cosine", "step", "constant")


@validate_params(
    lr=Positive(),
    schedule=OneOf(*SCHEDULES),
    step=Integer(minimum=0),
    total_steps=Integer(minimum=1),
    steps_per_epoch=Integer(minimum=1),
)
def learning_rate(
    lr: float,
    schedule: str,
    step: int,
    total_steps: int,
    steps_per_epoch: int,
) -> float:
    """The learning rate of training step ``step`` (counting from 0) of ``total_steps``.

    * ``"cosine"``: ``lr * (1 + cos(pi * step / total_steps)) / 2``, a smooth fall from ``lr``
      towards 0 over the whole run: large steps while the network is far from a solution, ever
      smaller ones as it settles;
    * ``"step"``: ``lr`` halved after every epoch, ``lr * 0.5**epoch``;
    * ``"constant"``: ``lr`` throughout.

    Past the last step the cosine stays at its end, 0, instead of rising again.
    """
    if (
        schedule == "cosine"
    ):  # math.cos: a Python float keeps Adam's update in float32
        return (
            lr
            * (
                1.0
                + math.cos(math.pi * min(step, total_steps) / total_steps)
            )
            / 2.0
        )
    if schedule == "step":
        return lr * 0.5 ** (step // steps_per_epoch)
    return lr  # "constant"
