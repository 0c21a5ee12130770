"""Each chapter's peak memory and time as a Binder session would run it: one CPU thread, a fresh kernel.

    python -m scripts.chapter_resources                 # every chapter, in _toc.yml order
    python -m scripts.chapter_resources backprop        # some

mybinder.org gives a session about 2 GB of memory and one CPU, and counts every process in it
together. Each chapter runs top to bottom in a fresh kernel of this environment with every thread
count at one (numpy's BLAS, PyTorch's OpenMP), as ``scripts/refresh_notebooks.py`` runs it but
without writing anything. While it runs, a thread sums the resident memory of the kernel and every
process it started (gradient workers, torchrun and its workers, ...) every ``--interval`` seconds
and after every cell. Printed per chapter: the peak of that sum, the kernel's own peak (Linux's
``VmHWM``, exact but the kernel alone), the time, every cell that took longer than ``--slow``
seconds, and the three cells that raised the summed peak most, each with the first line of its
code.

Two sums are printed: of resident memory (RSS, as ``ps`` counts it: a shared library's pages count
once per process that maps them) and of proportional memory (PSS, from ``/proc/PID/smaps_rollup``:
a page shared by n processes counts 1/n in each, so the sum counts it once, as a container's memory
limit does). Several processes that each import PyTorch share most of its libraries, so the PSS sum
is the one to hold against Binder's limit. The sums are sampled, so a child that lives for less than
an interval can be missed (the printed RSS peak is never below the kernel's own ``VmHWM``, though).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from scripts.refresh_notebooks import SEEDED_ENV, CurrentEnvKernelManager, chapter_paths

try:
    import psutil
except ImportError:  # fall back to reading /proc
    psutil = None

ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _proc_tree(pid: int) -> list[int]:
    """``pid`` and its live descendants, read from /proc (Linux only)."""
    tree, pending = [], [pid]
    while pending:
        current = pending.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        tree.append(current)
        pending += [int(child) for child in children]
    return tree


def _status_mb(pid: int, field: str) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    return next(
        (
            int(line.split()[1]) / 1024
            for line in status.splitlines()
            if line.startswith(field + ":")
        ),
        0.0,
    )


def tree_resident_mb(pid: int) -> float:
    """Resident memory of process ``pid`` and all its live descendants, summed, in MB."""
    if psutil is not None:
        try:
            root = psutil.Process(pid)
            processes = [root] + root.children(recursive=True)
        except psutil.Error:
            return 0.0
        total = 0
        for process in processes:
            try:
                total += process.memory_info().rss
            except psutil.Error:  # ended between listing and reading
                pass
        return total / 2**20
    return sum(_status_mb(current, "VmRSS") for current in _proc_tree(pid))


def tree_proportional_mb(pid: int) -> float:
    """Proportional memory (PSS) of process ``pid`` and all its live descendants, summed, in MB
    (Linux only).
    """
    total_kb = 0
    for current in _proc_tree(pid):
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
        except OSError:  # ended between listing and reading
            continue
        total_kb += next(
            (int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")), 0
        )
    return total_kb / 1024


def peak_resident_mb(pid: int) -> float:
    """Peak resident memory (``VmHWM``) of process ``pid`` alone, in MB (Linux only)."""
    return _status_mb(pid, "VmHWM") or float("nan")


class TreeMemorySampler(threading.Thread):
    """Samples :func:`tree_resident_mb` of ``pid`` every ``interval`` seconds; keeps the largest sum."""

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_mb = 0.0
        self.peak_pss_mb = 0.0
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def sample(self) -> float:
        total, proportional = tree_resident_mb(self.pid), tree_proportional_mb(self.pid)
        with self._lock:
            self.peak_pss_mb = max(self.peak_pss_mb, proportional)
            self.peak_mb = max(self.peak_mb, total)
            return self.peak_mb

    def run(self):
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def stop(self) -> float:
        self._stop_event.set()
        if self.is_alive():
            self.join()
        return self.peak_mb


class TimedClient(NotebookClient):
    """Records each code cell's wall time, and the peak memory of the kernel and its children after it."""

    def __init__(self, *args, interval: float = 0.05, **kwargs):
        super().__init__(*args, **kwargs)
        self.interval = interval
        self.sampler: TreeMemorySampler | None = None
        self.cell_seconds: list[tuple[float, str]] = []
        self.peak_raised: list[
            tuple[float, str]
        ] = []  # (MB the summed peak rose by, the cell's first line)
        self.peak_mb = 0.0  # the kernel and every process it started, summed
        self.kernel_peak_mb = 0.0  # the kernel alone (VmHWM)

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
        if self.sampler is None:  # the kernel is alive from the first cell on
            self.sampler = TreeMemorySampler(self.km.provisioner.process.pid, self.interval)
            self.sampler.start()
        start = time.perf_counter()
        result = await super().async_execute_cell(cell, cell_index, *args, **kwargs)
        if cell.cell_type == "code":
            first_line = cell.source.splitlines()[0] if cell.source else ""
            self.cell_seconds.append((time.perf_counter() - start, first_line))
            self.kernel_peak_mb = max(
                self.kernel_peak_mb, peak_resident_mb(self.km.provisioner.process.pid)
            )
            peak = max(
                self.sampler.sample(), self.kernel_peak_mb
            )  # both fall short of the true peak at most
            if peak > self.peak_mb:
                self.peak_raised.append((peak - self.peak_mb, first_line))
                self.peak_mb = peak
        return result

    def stop_sampling(self):
        if self.sampler is not None:
            self.peak_mb = max(self.peak_mb, self.sampler.stop())


def run_chapter(path: Path, interval: float = 0.05) -> tuple[TimedClient, float, str]:
    """Execute the notebook at ``path`` in a fresh kernel.

    Returns the client (with its peaks), the seconds, and the last line of the error of the cell
    that raised, if one did ("" if none); the peaks then hold up to that cell.
    """
    notebook = nbformat.read(path, as_version=4)
    kernel = CurrentEnvKernelManager()
    client = TimedClient(
        notebook,
        km=kernel,
        timeout=3600,
        interval=interval,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start, error = time.perf_counter(), ""
    try:
        client.execute()
    except CellExecutionError as raised:
        error = str(raised).strip().splitlines()[-1]
    finally:
        client.stop_sampling()
        if kernel.has_kernel:
            kernel.shutdown_kernel(now=True)
    return client, time.perf_counter() - start, error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "chapters", nargs="*", help="chapter names or notebook paths (default: all)"
    )
    parser.add_argument(
        "--slow", type=float, default=20.0, help="report cells slower than this (seconds)"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=0.05,
        help="seconds between samples of the summed memory (default 0.05)",
    )
    args = parser.parse_args(argv)
    os.environ.update(SEEDED_ENV)
    os.environ.update(ONE_THREAD)  # inherited by the kernels started below
    status = 0
    print(
        f"{'chapter':28s} {'peak PSS, all':>14s} {'peak RSS, all':>14s} {'kernel alone':>13s} {'time':>8s}"
        "   (one thread; all: the kernel and every process it starts)"
    )
    for path in chapter_paths(args.chapters):
        client, seconds, error = run_chapter(path, args.interval)
        status = status or bool(error)
        failed = f"   FAILED: {error[:60]}" if error else ""
        pss = client.sampler.peak_pss_mb if client.sampler is not None else float("nan")
        print(
            f"{path.name:28s} {pss:11.0f} MB {client.peak_mb:11.0f} MB {client.kernel_peak_mb:10.0f} MB "
            f"{seconds:7.0f} s{failed}",
            flush=True,
        )
        for cell_time, first_line in client.cell_seconds:
            if cell_time > args.slow:
                print(f"    {cell_time:6.0f} s  {first_line[:70]}", flush=True)
        for rise, first_line in sorted(client.peak_raised, reverse=True)[:3]:
            print(f"    +{rise:5.0f} MB  {first_line[:70]}", flush=True)
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
