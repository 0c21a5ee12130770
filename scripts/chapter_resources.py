"""Each chapter's peak memory and time as a Binder session would run it: one CPU thread, a fresh kernel.

    python scripts/chapter_resources.py                 # every chapter, in _toc.yml order
    python scripts/chapter_resources.py backprop        # some

mybinder.org gives a session about 2 GB of memory and one CPU. Each chapter runs top to bottom in
a fresh kernel of this environment with every thread count at one (numpy's BLAS, PyTorch's
OpenMP), as ``scripts/refresh_notebooks.py`` runs it but without writing anything. Printed per
chapter: the kernel's peak resident memory (Linux's ``VmHWM``, read after every cell; the largest of
the kernel and any process it started that is still alive), the time, every cell that took longer
than ``--slow`` seconds, and the three cells that raised the peak most, each with the first line
of its code.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from refresh_notebooks import SEEDED_ENV, CurrentEnvKernelManager, chapter_paths

ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def peak_resident_mb(pid: int) -> float:
    """Peak resident memory of process ``pid`` and its live descendants, in MB (Linux only)."""
    peaks = []
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        peaks += [int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")]
        pending += [int(child) for child in children]
    return max(peaks, default=float("nan"))


class TimedClient(NotebookClient):
    """Records each code cell's wall time and the kernel's peak memory after it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cell_seconds: list[tuple[float, str]] = []
        self.peak_raised: list[tuple[float, str]] = []  # (MB the peak rose by, the cell's first line)
        self.peak_mb = 0.0

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
        start = time.perf_counter()
        result = await super().async_execute_cell(cell, cell_index, *args, **kwargs)
        if cell.cell_type == "code":
            first_line = cell.source.splitlines()[0] if cell.source else ""
            self.cell_seconds.append((time.perf_counter() - start, first_line))
            peak = peak_resident_mb(self.km.provisioner.process.pid)  # the kernel is alive here
            if peak > self.peak_mb:
                self.peak_raised.append((peak - self.peak_mb, first_line))
                self.peak_mb = peak
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapter names or notebook paths (default: all)")
    parser.add_argument("--slow", type=float, default=20.0, help="report cells slower than this (seconds)")
    args = parser.parse_args(argv)
    os.environ.update(SEEDED_ENV)
    os.environ.update(ONE_THREAD)  # inherited by the kernels started below
    print(f"{'chapter':28s} {'peak memory':>12s} {'time':>8s}   (one thread)")
    for path in chapter_paths(args.chapters):
        notebook = nbformat.read(path, as_version=4)
        kernel = CurrentEnvKernelManager()
        client = TimedClient(notebook, km=kernel, timeout=3600, resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        try:
            client.execute()
        finally:
            if kernel.has_kernel:
                kernel.shutdown_kernel(now=True)
        seconds = time.perf_counter() - start
        print(f"{path.name:28s} {client.peak_mb:9.0f} MB {seconds:7.0f} s", flush=True)
        for cell_time, first_line in client.cell_seconds:
            if cell_time > args.slow:
                print(f"    {cell_time:6.0f} s  {first_line[:70]}", flush=True)
        for rise, first_line in sorted(client.peak_raised, reverse=True)[:3]:
            print(f"    +{rise:5.0f} MB  {first_line[:70]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
