"""Training on several processes: where a process stands in its group, the group, the shards, the sums.

``torchrun`` starts one process per device (``--nproc_per_node``) on every machine (``--nnodes``)
and tells each one, in environment variables, where it stands:

* ``WORLD_SIZE``: how many processes train together;
* ``RANK``: this process's number, 0 to ``WORLD_SIZE - 1``; rank 0 alone prints and writes files;
* ``LOCAL_RANK``: its number on this machine, which picks its GPU;
* ``MASTER_ADDR`` and ``MASTER_PORT``: where the group meets (read by ``init_process_group``);
* ``TORCHELASTIC_RESTART_COUNT``: how many times the group was restarted after a failure.

Every process holds a whole copy of the model and trains on its own share of each batch.
``DistributedDataParallel`` averages their gradients with an all-reduce during the backward pass,
so every copy takes the same step. The process group runs over gloo on CPUs and over NCCL on
CUDA GPUs; :func:`backend_for` picks one. A process started without torchrun is a group of one,
and none of this changes what it does.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import torch
from torch import distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from ..params import Rule, validate_params
from ..seeds import run_streams, torch_seed
from .data import mnist_datasets
from .model import choose_device

# How long a collective may wait for the other processes before it fails (a lost process is
# noticed by torchrun well before this).
COLLECTIVE_TIMEOUT_S = 300


@dataclass(frozen=True)
class Placement:
    """Where this process stands in its group, as torchrun describes it.

    Attributes
    ----------
    rank : int
        0 to ``world_size - 1``.
    local_rank : int
        The process's number on its own machine: which GPU it uses.
    world_size : int
        How many processes train together; 1 without torchrun.
    restart_count : int
        How many times torchrun restarted the group after a failure.
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    restart_count: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that prints and writes."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        """More than one process: a group to join, gradients to average."""
        return self.world_size > 1


def placement_from_environment(
    environ: Mapping[str, str] | None = None,
) -> Placement:
    """This process's :class:`Placement`, read from torchrun's variables (``os.environ`` by default).

    Without ``WORLD_SIZE``, or with ``WORLD_SIZE=1``, it is the single process, ``Placement()``.

    Raises
    ------
    ValueError
        A variable is not an integer, or they contradict each other (a rank outside the group);
        the message names the variable.
    """
    environ = os.environ if environ is None else environ

    def read(name: str, default: int, minimum: int) -> int:
        text = environ.get(name)
        if text is None or text == "":
            return default
        try:
            value = int(text)
        except ValueError:
            raise ValueError(
                f"environment variable {name} must be an integer, got {text!r}"
            ) from None
        if value < minimum:
            raise ValueError(
                f"environment variable {name} must be >= {minimum}, got {value}"
            )
        return value

    world_size = read("WORLD_SIZE", 1, 1)
    rank = read("RANK", 0, 0)
    local_rank = read("LOCAL_RANK", rank, 0)
    restart_count = read("TORCHELASTIC_RESTART_COUNT", 0, 0)
    if rank >= world_size:
        raise ValueError(
            f"environment variable RANK={rank} is outside WORLD_SIZE={world_size}"
        )
    return Placement(rank, local_rank, world_size, restart_count)


def _equal_shares(batch_size, placement):
    """``batch_size`` divides equally over the group's processes."""
    if batch_size % placement.world_size:
        raise ValueError(
            f"batch_size {batch_size} must be a multiple of the number of processes, "
            f"{placement.world_size}: each process takes an equal share of every batch"
        )


@validate_params(also=[_equal_shares])
def share_of_batch(batch_size: int, placement: Placement) -> int:
    """Images of each batch that one process takes: ``batch_size`` split equally over the group.

    Raises
    ------
    ValueError
        ``batch_size`` is not a multiple of the number of processes: the shares would differ,
        and the average of their gradients would not be the batch's mean gradient.
    """
    return batch_size // placement.world_size


def backend_for(device: torch.device) -> str:
    """The process group's backend: NCCL between CUDA GPUs, gloo between CPUs."""
    return "nccl" if torch.device(device).type == "cuda" else "gloo"


def device_for(
    placement: Placement, device: str | torch.device | None = None
) -> torch.device:
    """The device of this process: with CUDA, GPU number ``local_rank``; else the CPU.

    Parameters
    ----------
    placement : Placement
    device : {None, "cpu", "cuda"} or torch.device
        As in :func:`~cnn_tutorial.pytorch.model.choose_device`. In a group of several processes,
        ``"cuda"`` (or ``None`` with CUDA available) means this process's own GPU,
        ``cuda:<local_rank>``.

    Raises
    ------
    RuntimeError
        CUDA was asked for but is missing, or this machine has fewer GPUs than processes.
    """
    chosen = choose_device(device)
    if chosen.type != "cuda" or not placement.is_distributed:
        return chosen
    if placement.local_rank >= torch.cuda.device_count():
        raise RuntimeError(
            f"process with LOCAL_RANK={placement.local_rank} needs its own GPU, but this machine "
            f"has {torch.cuda.device_count()}: start at most that many processes per machine "
            "(--nproc_per_node)"
        )
    return torch.device("cuda", placement.local_rank)


@contextlib.contextmanager
def process_group(
    placement: Placement, device: torch.device
) -> Iterator[None]:
    """Join the group for the duration of the block (nothing to join for a single process).

    The backend follows ``device`` (:func:`backend_for`); torchrun's ``MASTER_ADDR`` and
    ``MASTER_PORT`` say where to meet. The group is left on the way out, error or not.
    """
    if not placement.is_distributed or dist.is_initialized():
        yield
        return

    if device.type == "cuda":
        torch.cuda.set_device(device)
    else:
        own_cores(placement)
    timeout = timedelta(seconds=COLLECTIVE_TIMEOUT_S)
    dist.init_process_group(
        backend_for(device),
        store=_meeting_point(placement, timeout),
        rank=placement.rank,
        world_size=placement.world_size,
        timeout=timeout,
    )
    try:
        yield
    finally:
        dist.destroy_process_group()


def own_cores(
    placement: Placement, environ: Mapping[str, str] | None = None
) -> set[int] | None:
    """On CPUs, bind this process to its own share of the machine's cores, before it starts threads.

    torchrun says how many processes run on this machine (``LOCAL_WORLD_SIZE``). When the cores
    this process may use divide among them, process ``local_rank`` keeps the ``local_rank``-th
    equal part, and the threads it starts later (PyTorch's, gloo's) inherit it. Unbound, the
    operating system moves busy processes from core to core, and each move costs the caches the
    process had filled. Measured here (two cores, two processes of one thread): an epoch of the
    ConvNet took 45 s bound, against 51 s unbound.

    Returns
    -------
    set of int or None
        The cores kept; None where nothing was bound (one process per machine, fewer cores
        than processes, or a system without ``os.sched_setaffinity``).
    """
    environ = os.environ if environ is None else environ
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        local_processes = int(environ.get("LOCAL_WORLD_SIZE", "1"))
    except ValueError:
        return None
    cores = sorted(os.sched_getaffinity(0))
    per_process = len(cores) // max(local_processes, 1)
    if (
        local_processes < 2
        or per_process < 1
        or placement.local_rank >= local_processes
    ):
        return None
    start = placement.local_rank * per_process
    mine = set(cores[start : start + per_process])
    os.sched_setaffinity(0, mine)
    return mine


def _meeting_point(placement: Placement, timeout) -> dist.Store:
    """The key-value store where the processes exchange their addresses, one namespace per restart.

    torchrun's agent serves the store at ``MASTER_ADDR:MASTER_PORT`` (without torchrun, rank 0
    serves it) and keeps it across restarts of the group. Each process's address is saved under
    the same keys every time, so a process of a restarted group could read the address of a
    process that died with the old one, and fail to connect ("Connection refused"; seen here in
    one of the first four restarts). A namespace per restart leaves only the new addresses.
    """
    address = _launcher_variable("MASTER_ADDR")
    port = int(_launcher_variable("MASTER_PORT"))
    agent_serves = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    store = dist.TCPStore(
        address,
        port,
        placement.world_size,
        is_master=placement.is_main and not agent_serves,
        timeout=timeout,
    )
    return dist.PrefixStore(
        f"cnn_tutorial/restart_{placement.restart_count}", store
    )


def _launcher_variable(name: str) -> str:
    """The value of torchrun's environment variable ``name``; an error that says to use torchrun
    when it is not set."""
    value = os.environ.get(name)
    if not value:
        raise ValueError(
            f"environment variable {name} is not set: start the processes with torchrun"
        )
    return value


def in_group() -> bool:
    """Whether this process is in a process group of more than one."""
    return (
        dist.is_available()
        and dist.is_initialized()
        and dist.get_world_size() > 1
    )


def shard(dataset: Dataset, placement: Placement) -> Dataset:
    """This rank's share of an evaluation set: items ``rank``, ``rank + world_size``, ...

    Unlike ``DistributedSampler``, which repeats items so that every rank gets as many, the shards
    do not overlap: added over the ranks, the counts are those of the whole set, once each.
    """
    if not placement.is_distributed:
        return dataset
    return Subset(
        dataset, range(placement.rank, len(dataset), placement.world_size)
    )


def sum_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """``values`` added up over every rank of the group (an all-reduce); unchanged for one process.

    Every rank of the group must call it, with a tensor of the same shape on its own device.
    """
    if in_group():
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def gather_from_ranks(value) -> list:
    """Every rank's ``value`` (any picklable object), in rank order, on every rank: ``[value]`` alone."""
    if not in_group():
        return [value]
    values = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return values


def barrier() -> None:
    """Wait until every rank of the group gets here (nothing to wait for alone)."""
    if in_group():
        dist.barrier()


def distributed_mnist_loaders(
    batch_size: int,
    root: str | os.PathLike | None,
    seed: int,
    train_limit: int | None,
    download: bool,
    validation_size: int,
    placement: Placement,
    pin_memory: bool = False,
) -> tuple[DataLoader, DataLoader, DataLoader]:
    """This process's loaders: its share of every training batch, its shard of validation and test.

    Parameters
    ----------
    batch_size : int
        The global batch: each of the ``world_size`` processes takes ``batch_size // world_size``
        images of it (a multiple, checked by the caller).
    root, seed, train_limit, download, validation_size, pin_memory
        As in :func:`~cnn_tutorial.pytorch.data.mnist_loaders`.
    placement : Placement

    Returns
    -------
    train_loader : DataLoader
        Batches of ``batch_size // world_size`` images from a ``DistributedSampler``: each epoch
        it shuffles all the training images with the same seed on every rank, plus the epoch
        (``set_epoch``), and gives rank ``r`` every ``world_size``-th one from ``r`` on.
    validation_loader, test_loader : DataLoader
        In order, over :func:`shard` of each set.
    """
    # The first process of each machine reads (and if need be
    # downloads) the files first, so that the others do not download
    # them at the same time.
    if placement.local_rank != 0:
        barrier()
    train_set, validation_set, test_set = mnist_datasets(
        root, download, train_limit, validation_size
    )
    if placement.local_rank == 0:
        barrier()
    _, shuffling = run_streams(seed)
    per_process = share_of_batch(batch_size, placement)
    sampler = DistributedSampler(
        train_set,
        num_replicas=placement.world_size,
        rank=placement.rank,
        shuffle=True,
        seed=torch_seed(shuffling) % 2**62,
    )
    return (
        DataLoader(
            train_set,
            batch_size=per_process,
            sampler=sampler,
            pin_memory=pin_memory,
        ),
        DataLoader(
            shard(validation_set, placement),
            batch_size=per_process,
            pin_memory=pin_memory,
        ),
        DataLoader(
            shard(test_set, placement),
            batch_size=per_process,
            pin_memory=pin_memory,
        ),
    )


def _count(minimum: int) -> Rule:
    """An integer (not a bool) ``>= minimum``; anything else is a ``ValueError``, whose message
    names the argument."""

    def check(name, value):
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or value < minimum
        ):
            raise ValueError(
                f"{name} must be an integer >= {minimum}, got {value!r}"
            )
        return value

    bad = [(True, ValueError), (1.5, ValueError), (minimum - 1, ValueError)]
    return Rule(check, bad=bad, example=minimum)


@validate_params(processes=_count(1), max_restarts=_count(0))
def torchrun_command(
    module: str,
    arguments: Sequence[str] = (),
    processes: int = 2,
    max_restarts: int = 0,
) -> list[str]:
    """The command that starts ``python -m module arguments...`` on ``processes`` processes of this machine.

    ``torchrun`` is ``python -m torch.distributed.run``; calling it through this interpreter runs
    the workers in the same environment as the caller (a notebook's kernel, say).
    """
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={processes}",
        f"--max-restarts={max_restarts}",
        "-m",
        module,
        *map(str, arguments),
    ]


@validate_params(threads=_count(1))
def torchrun(
    module: str,
    arguments: Sequence[str] = (),
    processes: int = 2,
    threads: int = 1,
    max_restarts: int = 0,
    timeout: float | None = None,
) -> str:
    """Run ``python -m module arguments...`` under torchrun, on this machine, and wait for it.

    Parameters
    ----------
    module : str
        E.g. ``"cnn_tutorial"`` for the command line.
    arguments : sequence of str
    processes : int
        Processes to start (``--nproc_per_node``).
    threads : int
        Threads of each process (``OMP_NUM_THREADS``); torchrun would set 1 and warn.
    max_restarts : int
        How often torchrun may restart the group after a process fails.
    timeout : float or None
        Seconds to wait before giving up.

    Returns
    -------
    str
        What the processes printed (stdout; rank 0 alone prints in this package).

    Raises
    ------
    RuntimeError
        The launch failed; the message holds the end of what it printed on stderr.
    """
    command = torchrun_command(module, arguments, processes, max_restarts)
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    result = subprocess.run(
        command,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise RuntimeError(
            f"torchrun exited with status {result.returncode}:\n{tail}"
        )
    return result.stdout
