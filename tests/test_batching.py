"""Tests for cnn_tutorial.batching."""

import numpy as np

from cnn_tutorial.batching import batch_slices


def test_batch_slices_cover_every_sample_once_in_order():
    assert batch_slices(7, 3) == [slice(0, 3), slice(3, 6), slice(6, 9)]
    assert batch_slices(6, 3) == [slice(0, 3), slice(3, 6)]
    assert batch_slices(0, 3) == []
    data = np.arange(10)
    assert np.array_equal(np.concatenate([data[s] for s in batch_slices(10, 4)]), data)
