"""One seed, independent random streams: one for the initial weights, one for the shuffling.

Both trainers turn the user's ``seed`` into two child streams with
``np.random.SeedSequence(seed).spawn(2)``: child 0 draws the initial weights (and, in PyTorch, the
dropout masks), child 1 the order of the training images, a fresh order every epoch from the same
stream. So

* changing how the data is shuffled never changes the initial weights, and the other way round;
* no epoch of one run repeats an epoch of another run (with ``seed + epoch``, run 0's second epoch
  would shuffle exactly like run 1's first);
* the same ``seed`` still gives the same run.
"""

from __future__ import annotations

import numpy as np

from .params import Integer, validate_params


@validate_params(seed=Integer(minimum=0))
def run_streams(
    seed: int,
) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """The two independent streams of a training run with this ``seed``.

    Parameters
    ----------
    seed : int
        At least 0.

    Returns
    -------
    initialization, shuffling : np.random.SeedSequence
        Give either to ``np.random.default_rng``, or to :func:`torch_seed` for a torch generator.
    """
    initialization, shuffling = np.random.SeedSequence(seed).spawn(2)
    return initialization, shuffling


def torch_seed(stream: np.random.SeedSequence) -> int:
    """A 64-bit integer from ``stream`` for ``torch.manual_seed`` or ``torch.Generator().manual_seed``."""
    return int(stream.generate_state(1, dtype=np.uint64)[0])
