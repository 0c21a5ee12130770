"""Training on several processes: placement, shards, the sampler, resuming, and runs under torchrun.

The runs under torchrun start real process groups (gloo, on this machine's CPUs): the equivalence of
two processes of 50 images with one of 100, and a worker killed mid-epoch that the group survives.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from torch.utils.data import DistributedSampler, TensorDataset

from cnn_tutorial.history import Evaluation
from cnn_tutorial.pytorch import distributed
from cnn_tutorial.pytorch import training as torch_training
from cnn_tutorial.pytorch.checkpoints import (
    TRAINING_STATE_NAME,
    load_training_state,
    remove_partial_training_states,
)
from cnn_tutorial.pytorch.distributed import Placement, placement_from_environment, shard
from cnn_tutorial.pytorch.first_steps import first_steps
from cnn_tutorial.pytorch.model import ConvNet
from cnn_tutorial.pytorch.training import adam, gradient_scaler, train_step, train_torch

REPO = Path(__file__).resolve().parents[1]


def test_placement_comes_from_torchruns_variables():
    assert placement_from_environment({}) == Placement(0, 0, 1, 0)
    placement = placement_from_environment(
        {"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "TORCHELASTIC_RESTART_COUNT": "2"}
    )
    assert placement == Placement(rank=3, local_rank=1, world_size=4, restart_count=2)
    assert placement.is_distributed and not placement.is_main
    assert placement_from_environment({"WORLD_SIZE": "1"}).is_main


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE must be an integer, got 'two'"),
        ({"WORLD_SIZE": "0"}, "WORLD_SIZE must be >= 1"),
        ({"WORLD_SIZE": "2", "RANK": "2"}, "RANK=2 is outside WORLD_SIZE=2"),
        ({"WORLD_SIZE": "2", "RANK": "-1"}, "RANK must be >= 0"),
    ],
)
def test_contradictory_variables_are_named(environ, message):
    with pytest.raises(ValueError, match=message):
        placement_from_environment(environ)


def test_each_process_takes_an_equal_share_of_the_batch(monkeypatch):
    assert distributed.share_of_batch(100, Placement(0, 0, 2)) == 50
    assert distributed.share_of_batch(100, Placement()) == 100
    with pytest.raises(
        ValueError, match="batch_size 100 must be a multiple of the number of processes, 3"
    ):
        distributed.share_of_batch(100, Placement(0, 0, 3))
    # Under a launcher of 3 processes, both trainers refuse before joining a group or reading data.
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    for trainer in (train_torch, first_steps):
        with pytest.raises(
            ValueError, match="batch_size 100 must be a multiple of the number of processes, 3"
        ):
            trainer(batch_size=100)


def test_a_group_without_a_meeting_point_is_told_to_use_torchrun(monkeypatch):
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(
        ValueError, match="MASTER_ADDR is not set: start the processes with torchrun"
    ):
        with distributed.process_group(Placement(0, 0, 2), torch.device("cpu")):
            pass
    assert not distributed.in_group()
    assert distributed.sum_over_ranks(torch.ones(3)).tolist() == [1, 1, 1]  # alone: unchanged
    assert distributed.gather_from_ranks("x") == ["x"]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this system")
def test_each_process_of_a_machine_gets_its_own_cores(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4})
    monkeypatch.setattr(os, "sched_setaffinity", lambda pid, cores: calls.append(cores))
    own = distributed.own_cores
    assert own(Placement(1, 1, 2), {"LOCAL_WORLD_SIZE": "2"}) == {2, 3}
    assert own(Placement(0, 0, 2), {"LOCAL_WORLD_SIZE": "2"}) == {0, 1}
    assert own(Placement(5, 1, 6), {"LOCAL_WORLD_SIZE": "3"}) == {1}
    assert calls == [{2, 3}, {0, 1}, {1}]
    # Nothing to bind: one process per machine, more processes than cores, or a rank outside.
    assert own(Placement(), {}) is None
    assert own(Placement(0, 0, 8), {"LOCAL_WORLD_SIZE": "8"}) is None
    assert own(Placement(2, 2, 4), {"LOCAL_WORLD_SIZE": "2"}) is None
    assert own(Placement(0, 0, 2), {"LOCAL_WORLD_SIZE": "two"}) is None
    assert len(calls) == 3


def test_backend_follows_the_device():
    assert distributed.backend_for(torch.device("cpu")) == "gloo"
    assert distributed.backend_for(torch.device("cuda", 1)) == "nccl"


def test_a_group_wanting_more_gpus_than_the_machine_has_is_told_so(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert distributed.device_for(Placement(2, 1, 4), "cuda") == torch.device("cuda", 1)
    assert distributed.device_for(Placement(), "cuda") == torch.device("cuda")
    with pytest.raises(
        RuntimeError, match="LOCAL_RANK=2 needs its own GPU, but this machine has 2"
    ):
        distributed.device_for(Placement(2, 2, 4), "cuda")
    assert distributed.device_for(Placement(2, 2, 4), "cpu") == torch.device("cpu")


@pytest.mark.parametrize("size, ranks", [(10, 3), (7, 2), (5000, 2), (3, 4)])
def test_evaluation_shards_cover_the_set_once(size, ranks):
    dataset = TensorDataset(torch.arange(size))
    items = [
        int(item[0])
        for rank in range(ranks)
        for item in shard(dataset, Placement(rank, rank, ranks))
    ]
    assert sorted(items) == list(range(size))
    assert shard(dataset, Placement()) is dataset


def test_the_sampler_needs_set_epoch_for_a_new_order():
    """Each rank draws every world_size-th item of one shuffled order; the order changes with the epoch."""
    dataset = TensorDataset(torch.arange(12))

    def order(epoch: int | None) -> list[list[int]]:
        ranks = []
        for rank in range(2):
            sampler = DistributedSampler(dataset, num_replicas=2, rank=rank, seed=7)
            if epoch is not None:
                sampler.set_epoch(epoch)
            ranks.append(list(sampler))
        return ranks

    first, second = order(0), order(1)
    assert sorted(first[0] + first[1]) == list(range(12))  # disjoint, complete
    assert sorted(second[0] + second[1]) == list(range(12))
    assert first != second
    assert order(None) == first  # without set_epoch, every epoch repeats epoch 0


def test_torchrun_command_and_its_checks():
    command = distributed.torchrun_command(
        "cnn_tutorial", ["train", "--epochs", 1], processes=3, max_restarts=1
    )
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--nproc_per_node=3" in command and "--max-restarts=1" in command
    assert command[-4:] == ["cnn_tutorial", "train", "--epochs", "1"]
    for bad in (dict(processes=0), dict(processes=True), dict(max_restarts=-1)):
        with pytest.raises(ValueError):
            distributed.torchrun_command("m", **bad)
    with pytest.raises(ValueError, match="threads must be an integer >= 1"):
        distributed.torchrun("m", threads=0)


@pytest.mark.torchrun
def test_a_failed_launch_raises_with_what_it_printed():
    with pytest.raises(RuntimeError, match="torchrun exited with status 1"):
        distributed.torchrun("cnn_tutorial.no_such_module", processes=1, timeout=120)


def test_fused_adam_takes_the_same_steps_to_float_precision():
    torch.manual_seed(0)
    models = [ConvNet(True), ConvNet(True)]
    models[1].load_state_dict(models[0].state_dict())
    images, labels = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    for model, fused in zip(models, (False, True)):
        model.drop_out.p = 0.0
        optimizer = adam(model, 1e-3, fused)
        for _ in range(3):
            train_step(model, optimizer, images, labels)
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_mixed_precision_steps_scale_the_loss_and_still_learn():
    torch.manual_seed(0)
    model = ConvNet(True)
    model.drop_out.p = 0.0
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = gradient_scaler(torch.device("cpu"))
    images, labels = torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,))
    losses = [train_step(model, optimizer, images, labels, scaler)[0].item() for _ in range(4)]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]
    assert scaler.get_scale() > 1  # the loss was scaled up before the backward pass
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay float32


def test_mixed_precision_before_torch_2_3_is_cuda_only(monkeypatch):
    monkeypatch.delattr(torch.amp, "GradScaler")
    with pytest.raises(RuntimeError, match="mixed precision on cpu needs torch 2.3 or newer"):
        gradient_scaler(torch.device("cpu"))


# --- Resuming, on one process ------------------------------------------------------------------


def _quick(mnist_root, **kwargs):
    return train_torch(train_limit=300, root=mnist_root, device="cpu", progress=False, **kwargs)


@pytest.fixture
def fast_evaluation(monkeypatch):
    """Evaluation replaced by a constant: these tests compare training steps, not results."""
    monkeypatch.setattr(torch_training, "evaluate", lambda model, loader: Evaluation(0.25, 0.5))


def test_a_resumed_run_is_the_run_that_did_not_stop(mnist_root, tmp_path, fast_evaluation):
    model, whole = _quick(mnist_root, epochs=3)
    _quick(mnist_root, epochs=1, checkpoint_dir=tmp_path)
    assert load_training_state(tmp_path / TRAINING_STATE_NAME, whole.config)["epoch"] == 1
    resumed_model, resumed = _quick(mnist_root, epochs=3, checkpoint_dir=tmp_path, resume=True)
    assert resumed.step_loss == whole.step_loss  # exactly: weights, Adam, dropout and shuffling
    assert resumed.config["epochs"] == 3 and len(resumed.epoch_validation_accuracy) == 3
    for a, b in zip(model.parameters(), resumed_model.parameters()):
        assert torch.equal(a, b)
    assert load_training_state(tmp_path / TRAINING_STATE_NAME, whole.config)["epoch"] == 3


def test_resume_without_a_state_starts_afresh_and_ignores_half_written_ones(
    mnist_root, tmp_path, fast_evaluation
):
    partial = tmp_path / f".{TRAINING_STATE_NAME}.0123456789ab.part"
    partial.write_bytes(b"half a checkpoint")  # a save killed before its rename
    _, fresh = _quick(mnist_root, epochs=1)
    _, resumed = _quick(mnist_root, epochs=1, checkpoint_dir=tmp_path, resume=True)
    assert resumed.step_loss == fresh.step_loss
    assert not partial.exists() and (tmp_path / TRAINING_STATE_NAME).is_file()
    assert remove_partial_training_states(tmp_path) == []


def test_a_training_state_of_another_run_or_a_damaged_one_is_refused(
    mnist_root, tmp_path, fast_evaluation
):
    _, history = _quick(mnist_root, epochs=2, checkpoint_dir=tmp_path)
    path = tmp_path / TRAINING_STATE_NAME
    with pytest.raises(ValueError, match="lr=0.001; this run has lr=0.002"):
        load_training_state(path, {**history.config, "lr": 0.002})
    with pytest.raises(ValueError, match="2 epochs done, more than the 1 asked for"):
        load_training_state(path, {**history.config, "epochs": 1})
    with pytest.raises(ValueError, match="processes=1; this run has processes=2"):
        load_training_state(path, {**history.config, "processes": 2})
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="is not a readable training state"):
        load_training_state(path, history.config)
    with pytest.raises(FileNotFoundError):
        load_training_state(tmp_path / "missing.pt", history.config)
    with pytest.raises(ValueError, match="resume=True needs the checkpoint_dir"):
        train_torch(resume=True)


# --- Process groups under torchrun -------------------------------------------------------------


@pytest.mark.torchrun
def test_two_processes_of_50_take_the_steps_of_one_process_of_100(
    mnist_root, tmp_path, monkeypatch
):
    monkeypatch.setenv("CNN_TUTORIAL_DATA", str(mnist_root))
    out = tmp_path / "two.pt"
    printed = distributed.torchrun(
        "cnn_tutorial.pytorch.first_steps", ["--steps", 4, "--out", out], processes=2, timeout=300
    )
    assert printed.strip().splitlines()[-1] == f"saved the weights after 4 steps: {out}"
    two = torch.load(out, weights_only=True)
    one = first_steps(4, root=mnist_root)
    torch.manual_seed(0)
    start = first_steps(1, lr=1e-12, root=mnist_root)  # (almost) the initial weights
    for name, weight in one.items():
        moved = (weight - start[name]).norm()
        assert moved > 0
        # Adam moves every weight by about lr a step; the two runs differ by rounding only.
        assert (two[name] - weight).norm() < 1e-4 * moved, name
        assert (two[name] - weight).abs().max() < 1e-4, name


def _workers(launcher: subprocess.Popen) -> dict[int, int]:
    """``{rank: pid}`` of the processes that torchrun started (its children, with RANK set)."""
    workers = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if parent == launcher.pid:
            for variable in environ:
                if variable.startswith(b"RANK="):
                    workers[int(variable[5:])] = int(entry.name)
    return workers


def _train_under_torchrun(out: Path, max_restarts: int, kill_rank: int | None, mnist_root: Path):
    """Train 3 epochs on 2 processes; with ``kill_rank``, SIGKILL that worker early in epoch 2."""
    command = distributed.torchrun_command(
        "cnn_tutorial",
        [
            "train",
            "--framework",
            "torch",
            "--epochs",
            3,
            "--limit",
            2000,
            "--out",
            out,
            "--no-download",
        ],
        processes=2,
        max_restarts=max_restarts,
    )
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "CNN_TUTORIAL_DATA": str(mnist_root)}
    launcher = subprocess.Popen(
        command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    output = {}
    readers = [
        threading.Thread(
            target=lambda name=name, stream=stream: output.__setitem__(name, stream.read())
        )
        for name, stream in (("stdout", launcher.stdout), ("stderr", launcher.stderr))
    ]
    for reader in readers:
        reader.start()
    killed = None
    if kill_rank is not None:
        state = out / TRAINING_STATE_NAME
        deadline = time.monotonic() + 300
        while not state.exists() and launcher.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # until epoch 1 is saved
        assert state.exists(), "epoch 1 was never saved"
        time.sleep(0.5)  # into epoch 2 (it takes a few seconds)
        killed = _workers(launcher)[kill_rank]
        os.kill(killed, signal.SIGKILL)
    launcher.wait(timeout=600)
    for reader in readers:
        reader.join()
    return launcher.returncode, output["stdout"], output["stderr"], killed


def _test_accuracy(stdout: str) -> float:
    last = stdout.strip().splitlines()[-1]
    assert last.startswith("test accuracy: ") and last.endswith(" %"), last
    return float(last.removeprefix("test accuracy: ").removesuffix(" %"))


@pytest.mark.torchrun
def test_a_worker_killed_mid_epoch_restarts_the_group_which_resumes_and_finishes(
    mnist_root, tmp_path
):
    code, stdout, stderr, _ = _train_under_torchrun(tmp_path / "whole", 0, None, mnist_root)
    assert code == 0, stderr[-3000:]
    whole = _test_accuracy(stdout)
    assert "2 processes (torchrun), 50 images each per step: global batch 100" in stdout
    assert stdout.count("test accuracy:") == 1  # rank 0 alone prints

    out = tmp_path / "killed"
    code, stdout, stderr, killed = _train_under_torchrun(out, 1, 1, mnist_root)
    assert code == 0, stderr[-3000:]
    assert f"resuming from {out / TRAINING_STATE_NAME} (restart 1 of the group)" in stdout
    assert abs(_test_accuracy(stdout) - whole) <= 0.2
    assert stdout.count("test accuracy:") == 1
    assert not list(out.glob("*.part")) and not list(out.glob(".*.part"))
    assert {path.name for path in out.iterdir()} == {
        "conv_net_model.ckpt",
        "history.json",
        TRAINING_STATE_NAME,
    }


@pytest.mark.torchrun
def test_without_restarts_left_the_launch_fails_clearly_and_keeps_the_last_state(
    mnist_root, tmp_path
):
    out = tmp_path / "run"
    code, stdout, stderr, _ = _train_under_torchrun(out, 0, 0, mnist_root)
    assert code != 0
    assert "test accuracy" not in stdout
    # The survivor says what happened and where the state is; torchrun names the lost worker.
    assert (
        f"the training state of the last finished epoch is kept in {out / TRAINING_STATE_NAME}"
        in stderr
    )
    assert "--resume" in stderr
    assert "Signal 9 (SIGKILL)" in stderr
    state = torch.load(out / TRAINING_STATE_NAME, weights_only=True)
    assert state["epoch"] >= 1
    assert not (out / "conv_net_model.ckpt").exists() and not (out / "history.json").exists()


def test_a_meeting_point_without_a_port_is_told_to_use_torchrun(monkeypatch):
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.delenv("MASTER_PORT", raising=False)
    with pytest.raises(
        ValueError, match="MASTER_PORT is not set: start the processes with torchrun"
    ):
        distributed._meeting_point(Placement(0, 0, 2), None)
