"""Keeping freed memory for reuse: the allocator setting behind the numpy CNN's speed."""

import resource
import sys

import numpy as np
import pytest

from cnn_tutorial.fast import memory

glibc_only = pytest.mark.skipif(memory._glibc() is None, reason="glibc's mallopt is what is tested")


@glibc_only
def test_freed_blocks_are_reused_without_page_faults():
    assert memory.reuse_freed_memory()
    assert memory.reuse_freed_memory()  # a second call changes nothing and still succeeds
    np.ones(1 << 18, dtype=np.float32)  # 1 MiB: the first one may fault its pages in
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        np.ones(1 << 18, dtype=np.float32)  # allocated, every page written, freed
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    # With glibc's defaults each array is a fresh mmap: 50 * 256 pages = 12,800 faults.
    assert faults < 256, faults


def test_other_allocators_are_left_alone(monkeypatch):
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    assert memory.reuse_freed_memory() is False


def test_glibc_detection_is_linux_only(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert memory._glibc() is None
