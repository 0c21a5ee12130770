"""Tests for the command line, ``python -m cnn_tutorial``."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from cnn_tutorial.cli import main
from cnn_tutorial.data import DATA_ENV_VAR
from cnn_tutorial.history import Evaluation, History

LAST_LINE = re.compile(r"test accuracy: \d{1,3}\.\d\d %")


def test_train_torch_end_to_end(tmp_path, mnist_root):
    root = mnist_root
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "cnn_tutorial",
        "train",
        "--framework",
        "torch",
        "--epochs",
        "1",
    ]
    command += ["--limit", "500", "--device", "cpu", "--out", str(out), "--no-download"]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, DATA_ENV_VAR: str(root)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert LAST_LINE.fullmatch(lines[-1]), lines[-1]
    assert "epoch 1" in result.stdout
    # The model, its history, and the training state to go on from (Adam's moments, the epoch).
    assert sorted(p.name for p in out.iterdir()) == [
        "conv_net_model.ckpt",
        "history.json",
        "training_state.pt",
    ]
    history = History.load(out / "history.json")
    assert (
        history.framework == "torch"
        and history.steps_per_epoch == 5
        and len(history.step_loss) == 5
    )
    assert history.config["train_limit"] == 500 and history.config["device"] == "cpu"
    assert lines[-1] == f"test accuracy: {100 * history.test_accuracy:.2f} %"
    # The trained model is better than chance after five steps.
    assert history.test_accuracy > 0.2
    # The checkpoint loads, and records the run that trained it.
    from cnn_tutorial.pytorch.checkpoints import checkpoint_record, load_checkpoint

    # The model the PyTorch chapter chose on validation: the ConvNet with a ReLU between fc1 and fc2.
    assert load_checkpoint(out / "conv_net_model.ckpt").relu_between_fc
    record = checkpoint_record(out / "conv_net_model.ckpt")["training"]
    assert record["train_limit"] == 500 and record["test_accuracy"] == history.test_accuracy
    assert record["epoch_validation_accuracy"] == history.epoch_validation_accuracy
    # Validation results per epoch (5,000 held-out images), the test set once at the end.
    assert history.config["validation_size"] == 5000 and len(history.epoch_validation_accuracy) == 1
    assert (
        f"validation accuracy {100 * history.epoch_validation_accuracy[0]:.2f} %" in result.stdout
    )

    # --resume goes on from the state the run left, here for a second epoch.
    command[command.index("--epochs") + 1] = "2"
    result = subprocess.run(
        command + ["--resume"],
        capture_output=True,
        text=True,
        env={**os.environ, DATA_ENV_VAR: str(root)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert f"resuming from {out / 'training_state.pt'}" in result.stdout
    resumed = History.load(out / "history.json")
    assert resumed.step_loss[:5] == history.step_loss and len(resumed.step_loss) == 10
    assert resumed.epoch_validation_accuracy[0] == history.epoch_validation_accuracy[0]


def test_train_numpy_passes_its_defaults_and_writes_its_files(tmp_path, capsys, monkeypatch):
    from cnn_tutorial import numpy_net

    calls = []

    def fake_train_numpy(**kwargs):
        calls.append(kwargs)
        history = History(framework="numpy", steps_per_epoch=2, seconds=1.0)
        for losses, accuracies, validation in [
            ([2.3, 1.0], [0.1, 0.5], (0.3, 0.9)),
            ([0.5, 0.25], [0.75, 1.0], (0.04321, 0.98765)),
        ]:
            for loss, accuracy in zip(losses, accuracies):
                history.record_step(loss, accuracy)
            history.record_validation(Evaluation(*validation))  # as the trainers do after an epoch
            print("(training)")
        history.test_accuracy = 0.9912
        return numpy_net.NumpyCNN.initialize(0), history

    monkeypatch.setattr(numpy_net, "train_numpy", fake_train_numpy)
    out = tmp_path / "numpy_run"
    assert main(["train", "--framework", "numpy", "--out", str(out), "--limit", "64"]) == 0
    assert calls == [
        {
            "epochs": 3,
            "batch_size": 32,
            "lr": 2e-3,
            "schedule": "cosine",
            "seed": 0,
            "root": None,
            "train_limit": 64,
            "download": True,
            "progress": None,
            "workers": None,
        }
    ]
    assert sorted(p.name for p in out.iterdir()) == ["history.json", "numpy_cnn.npz"]
    assert History.load(out / "history.json").epoch_validation_accuracy == [0.9, 0.98765]
    lines = capsys.readouterr().out.strip().splitlines()
    # Each epoch's line as the epoch ends, not after training: a log file shows progress.
    assert lines[1:5] == [  # after the line on what is trained
        "epoch 1: mean training loss 1.6500, validation loss 0.3000, validation accuracy 90.00 %",
        "(training)",
        "epoch 2: mean training loss 0.3750, validation loss 0.0432, validation accuracy 98.77 %",
        "(training)",
    ]
    assert lines[-1] == "test accuracy: 99.12 %"
    # Outside the command line the epochs are not logged (a notebook prints nothing extra).
    History(framework="numpy", steps_per_epoch=1).record_validation(Evaluation(0.1, 0.9))
    assert capsys.readouterr().out == ""


def test_missing_data_is_one_error_line_and_exit_1(tmp_path, capsys):
    status = main(
        ["train", "--framework", "torch", "--epochs", "1", "--out", str(tmp_path / "out")]
        + ["--data-root", str(tmp_path / "empty"), "--no-download", "--device", "cpu"]
    )
    assert status == 1
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert len(err_lines) == 1
    assert err_lines[0].startswith("error: MNIST not found")
    assert str(tmp_path / "empty") in err_lines[0] and DATA_ENV_VAR in err_lines[0]


def test_numpy_missing_data_without_download_is_one_error_line_and_exit_1(tmp_path, capsys):
    status = main(
        ["train", "--framework", "numpy", "--out", str(tmp_path / "out")]
        + ["--data-root", str(tmp_path / "empty"), "--no-download"]
    )
    assert status == 1
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert len(err_lines) == 1 and err_lines[0].startswith("error: MNIST not found")


def test_unusable_out_dir_is_one_error_line_and_exit_1(tmp_path, capsys):
    occupied = tmp_path / "file"
    occupied.write_text("not a folder")
    assert main(["train", "--framework", "torch", "--out", str(occupied), "--no-download"]) == 1
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert err_lines == [f"error: --out {occupied} exists and is not a folder"]


def test_missing_cuda_is_one_error_line_and_exit_1(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["train", "--framework", "torch", "--device", "cuda", "--out", str(tmp_path)]) == 1
    expected = "error: device 'cuda' was asked for, but CUDA is not available here; use 'cpu'"
    assert capsys.readouterr().err.strip() == expected


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--framework", "jax", "--out", "x"], "invalid choice: 'jax'"),
        (["train", "--out", "x"], "--framework"),
        (["train", "--framework", "torch"], "--out"),
        (["train", "--framework", "torch", "--out", "x", "--epochs", "0"], "--epochs"),
        (["train", "--framework", "torch", "--out", "x", "--lr", "-1"], "--lr"),
        (["train", "--framework", "torch", "--out", "x", "--limit", "many"], "--limit"),
        (["train", "--framework", "torch", "--out", "x", "--device", "tpu"], "--device"),
        (["train", "--framework", "numpy", "--out", "x", "--device", "cpu"], "torch only"),
        (["train", "--framework", "torch", "--out", "x", "--schedule", "step"], "numpy only"),
        (
            ["train", "--framework", "torch", "--out", "x", "--workers", "2"],
            "--workers applies to --framework numpy only",
        ),
        (
            ["train", "--framework", "numpy", "--out", "x", "--resume"],
            "--resume applies to --framework torch only",
        ),
        (
            ["train", "--framework", "numpy", "--out", "x", "--mixed-precision"],
            "--mixed-precision applies to",
        ),
        (["train", "--framework", "numpy", "--out", "x", "--workers", "0"], "--workers"),
        (
            ["train", "--framework", "numpy", "--out", "x", "--schedule", "linear"],
            "invalid choice: 'linear'",
        ),
        (["fly"], "invalid choice: 'fly'"),
        ([], "COMMAND"),
    ],
)
def test_bad_arguments_exit_2_with_usage(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage:") and message in err


def test_bad_framework_exits_2_from_the_command_line():
    result = subprocess.run(
        [sys.executable, "-m", "cnn_tutorial", "train", "--framework", "jax", "--out", "x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "invalid choice: 'jax'" in result.stderr and "Traceback" not in result.stderr


def test_schedule_option_reaches_the_numpy_trainer(tmp_path, monkeypatch):
    from cnn_tutorial import numpy_net

    calls = []

    def fake_train_numpy(**kwargs):
        calls.append(kwargs)
        history = History(
            framework="numpy",
            step_loss=[1.0],
            step_accuracy=[0.5],
            epoch_validation_loss=[1.0],
            epoch_validation_accuracy=[0.5],
            test_accuracy=0.5,
            steps_per_epoch=1,
            seconds=0.1,
        )
        return numpy_net.NumpyCNN.initialize(0), history

    monkeypatch.setattr(numpy_net, "train_numpy", fake_train_numpy)
    assert (
        main(["train", "--framework", "numpy", "--out", str(tmp_path), "--schedule", "step"]) == 0
    )
    assert calls[0]["schedule"] == "step" and calls[0]["workers"] is None
    assert (
        main(["train", "--framework", "numpy", "--out", str(tmp_path / "w"), "--workers", "2"]) == 0
    )
    assert calls[1]["workers"] == 2


@pytest.mark.parametrize("framework", ["numpy", "torch"])
@pytest.mark.parametrize("damage", ["label 12", "no training images", "no test images"])
def test_bad_data_is_one_error_line_before_training_and_leaves_nothing_behind(
    tmp_path, capsys, monkeypatch, framework, damage
):
    """Both trainers read the data through load_mnist, so both report it the same way, before training."""
    from cnn_tutorial import numpy_net
    from cnn_tutorial.pytorch import training as torch_training
    from tests.test_data import DAMAGED_SPLITS, write_dataset

    files, message = DAMAGED_SPLITS[damage]
    write_dataset(tmp_path / "data", files=files)

    def no_training(*args, **kwargs):
        raise AssertionError("training started on bad data")

    monkeypatch.setattr(numpy_net, "fit", no_training)
    monkeypatch.setattr(torch_training, "train_epoch", no_training)
    out = tmp_path / "runs" / "first"
    argv = [
        "train",
        "--framework",
        framework,
        "--out",
        str(out),
        "--data-root",
        str(tmp_path / "data"),
        "--no-download",
    ]
    assert main(argv + (["--device", "cpu"] if framework == "torch" else [])) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert not (tmp_path / "runs").exists()  # the folders it made are gone again


def test_out_with_a_tilde_is_expanded_and_an_interrupted_run_removes_what_it_created(
    tmp_path, capsys, monkeypatch
):
    from cnn_tutorial import numpy_net

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()

    def interrupted(**kwargs):
        assert (
            tmp_path / "home" / "runs" / "a"
        ).is_dir()  # made before training, under the real home
        raise KeyboardInterrupt

    monkeypatch.setattr(numpy_net, "train_numpy", interrupted)
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--framework", "numpy", "--out", "~/runs/a"]) == 130
    assert capsys.readouterr().err == "error: interrupted\n"
    assert sorted(os.listdir(tmp_path)) == ["home"]  # no folder named '~'
    assert os.listdir(tmp_path / "home") == []  # and nothing left in the home folder


def test_a_failure_after_the_model_is_saved_removes_the_model_too(tmp_path, capsys, monkeypatch):
    from cnn_tutorial import numpy_net

    def trained(**kwargs):
        return numpy_net.NumpyCNN.initialize(0), History(framework="numpy", steps_per_epoch=1)

    def full_disk(self, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(numpy_net, "train_numpy", trained)
    monkeypatch.setattr(History, "save", full_disk)
    existing = tmp_path / "existing"
    existing.mkdir()
    assert main(["train", "--framework", "numpy", "--out", str(existing)]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert existing.is_dir() and os.listdir(existing) == []  # a folder it did not create stays


def test_the_defaults_are_the_trainers_own():
    """The command line reads its defaults from the trainers' signatures (their one home)."""
    import inspect

    from cnn_tutorial import cli
    from cnn_tutorial.numpy_net import train_numpy
    from cnn_tutorial.pytorch.training import train_torch

    for framework, trainer in (("numpy", train_numpy), ("torch", train_torch)):
        signature = inspect.signature(trainer).parameters
        assert cli.DEFAULTS[framework] == {
            name: signature[name].default for name in cli.DEFAULTS[framework]
        }
    assert set(cli.DEFAULTS["torch"]) == {"epochs", "batch_size", "lr"}
    assert cli.DEFAULTS["numpy"]["schedule"] == "cosine"
