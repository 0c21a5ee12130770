"""Tests for cnn_tutorial.pytorch.checkpoints: saving, recording and loading the ConvNet, and a
run's training state.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from cnn_tutorial.history import Evaluation, History
from cnn_tutorial.pytorch.checkpoints import (
    TRAINING_STATE_NAME,
    checkpoint_record,
    load_checkpoint,
    load_training_state,
    resume_run,
    save_checkpoint,
    save_run,
)
from cnn_tutorial.pytorch.distributed import Placement
from cnn_tutorial.pytorch.model import ConvNet
from tests.torch_cases import fixed_batch


def test_checkpoint_round_trip_gives_identical_predictions(tmp_path):
    torch.manual_seed(0)
    model = ConvNet().eval()
    directory = tmp_path / "not" / "yet" / "there"
    path = save_checkpoint(model, directory)
    assert path == directory / "conv_net_model.ckpt"
    assert sorted(p.name for p in directory.iterdir()) == [
        "conv_net_model.ckpt"
    ]  # no temporary left
    loaded = load_checkpoint(path)
    assert not loaded.training
    images, _ = fixed_batch(16)
    with torch.no_grad():
        assert torch.equal(model(images), loaded(images))


def test_checkpoint_overwrites_and_keeps_relu_choice(tmp_path):
    torch.manual_seed(1)
    first, second = ConvNet(relu_between_fc=True), ConvNet(relu_between_fc=True)
    save_checkpoint(first, tmp_path, name="model.ckpt")
    path = save_checkpoint(second, tmp_path, name="model.ckpt")
    loaded = load_checkpoint(path, relu_between_fc=True)
    assert isinstance(loaded.fc_activation, torch.nn.ReLU)
    assert torch.equal(loaded.fc1.weight, second.fc1.weight)


@pytest.mark.parametrize("name", ["sub/model.ckpt", "", "..", 3])
def test_save_checkpoint_rejects_names_with_directories(tmp_path, name):
    with pytest.raises(ValueError, match="name"):
        save_checkpoint(ConvNet(), tmp_path, name=name)


def test_checkpoint_records_the_model_and_its_training(tmp_path):
    history = History(
        framework="torch",
        epoch_validation_accuracy=[0.98, 0.99],
        test_accuracy=0.985,
        config={"epochs": 2, "seed": 0, "train_limit": None, "torch_version": torch.__version__},
    )
    path = save_checkpoint(ConvNet(relu_between_fc=True), tmp_path, history=history)
    record = checkpoint_record(path)
    assert record["model"] == {"relu_between_fc": True}
    assert record["training"] == {
        "epochs": 2,
        "seed": 0,
        "train_limit": None,
        "torch_version": str(torch.__version__),
        "epoch_validation_accuracy": [0.98, 0.99],
        "test_accuracy": 0.985,
    }
    assert isinstance(
        load_checkpoint(path).fc_activation, torch.nn.ReLU
    )  # None: what the file records
    assert (
        checkpoint_record(save_checkpoint(ConvNet(), tmp_path, name="bare.ckpt"))["training"]
        is None
    )


def test_a_checkpoint_of_another_model_is_refused_by_name(tmp_path):
    path = save_checkpoint(ConvNet(relu_between_fc=True), tmp_path)
    with pytest.raises(
        ValueError, match=r"conv_net_model.ckpt holds a ConvNet with relu_between_fc=True"
    ):
        load_checkpoint(path, relu_between_fc=False)


def test_a_classic_bare_state_dict_still_loads(tmp_path):
    torch.manual_seed(2)
    model = ConvNet()
    path = tmp_path / "classic.ckpt"
    torch.save(model.state_dict(), path)  # what the classic tutorial writes
    assert checkpoint_record(path) == {"model": None, "training": None}
    assert torch.equal(load_checkpoint(path).fc2.weight, model.fc2.weight)


def test_load_checkpoint_errors(tmp_path):
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="garbage.ckpt is not a readable checkpoint"):
        load_checkpoint(garbage)
    truncated = save_checkpoint(ConvNet(), tmp_path, name="truncated.ckpt")
    truncated.write_bytes(truncated.read_bytes()[:100_000])  # a copy cut short
    with pytest.raises(ValueError, match="truncated.ckpt is not a readable checkpoint"):
        load_checkpoint(truncated)
    future = tmp_path / "future.ckpt"
    torch.save({"format": "cnn_tutorial.ConvNet checkpoint 99", "state_dict": {}}, future)
    with pytest.raises(ValueError, match="future.ckpt has checkpoint format"):
        checkpoint_record(future)
    with pytest.raises(TypeError, match="model"):
        save_checkpoint(torch.nn.Linear(2, 2), tmp_path)
    with pytest.raises(TypeError, match="relu_between_fc"):
        load_checkpoint(future, relu_between_fc="yes")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.ckpt")
    path = tmp_path / "other.ckpt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    with pytest.raises(RuntimeError, match="state_dict"):
        load_checkpoint(path)


def _small_run(seed: int):
    """A model, Adam and a shuffling loader over 40 fixed images, seeded by ``seed``."""
    torch.manual_seed(seed)
    model = ConvNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images, labels = fixed_batch(40)
    loader = DataLoader(
        TensorDataset(images, labels),
        batch_size=10,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    config = {"epochs": 3, "batch_size": 10, "lr": 1e-3, "seed": seed}
    return model, optimizer, loader, History(framework="torch", steps_per_epoch=4, config=config)


def _orders(loader, epochs: int = 2) -> list[torch.Tensor]:
    return [labels for _ in range(epochs) for _, labels in loader]


def test_a_resumed_run_goes_on_with_the_saved_weights_optimiser_and_generators(tmp_path):
    model, optimizer, loader, history = _small_run(seed=0)
    for images, labels in loader:  # one epoch
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    history.record_validation(Evaluation(loss=1.0, accuracy=0.25))
    save_run(tmp_path, model, optimizer, history, loader, Placement(), torch.device("cpu"))
    dropout_after, order_after = torch.rand(5), _orders(loader)  # what the run would draw next

    new_model, new_optimizer, new_loader, new_history = _small_run(seed=0)
    new_history.config["epochs"] = 5  # a longer run goes on from the saved one
    partial = tmp_path / f".{TRAINING_STATE_NAME}.1234.part"  # left by a killed save
    partial.write_bytes(b"half")
    resumed = resume_run(
        tmp_path,
        new_model,
        new_optimizer,
        new_history,
        new_loader,
        Placement(),
        torch.device("cpu"),
    )
    assert not partial.exists()
    assert resumed.epoch_validation_accuracy == [0.25] and resumed.config["epochs"] == 5
    assert all(
        torch.equal(value, new_model.state_dict()[name])
        for name, value in model.state_dict().items()
    )
    assert (
        new_optimizer.state_dict()["state"][0]["step"]
        == optimizer.state_dict()["state"][0]["step"]
        == 4
    )
    assert torch.equal(torch.rand(5), dropout_after)
    assert all(torch.equal(a, b) for a, b in zip(_orders(new_loader), order_after))


def test_resume_run_without_a_state_keeps_the_new_run(tmp_path):
    model, optimizer, loader, history = _small_run(seed=1)
    weights = {name: value.clone() for name, value in model.state_dict().items()}
    assert (
        resume_run(tmp_path, model, optimizer, history, loader, Placement(), torch.device("cpu"))
        is history
    )
    assert all(torch.equal(value, model.state_dict()[name]) for name, value in weights.items())


def test_a_path_that_is_not_a_file_is_no_checkpoint(tmp_path):
    """Found by opening the file, as it is read: a directory or a path through a file is missing."""
    with pytest.raises(FileNotFoundError, match="no checkpoint file at"):
        load_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="no checkpoint file at"):
        checkpoint_record(save_checkpoint(ConvNet(), tmp_path) / "inside")
    with pytest.raises(FileNotFoundError, match="no training state at"):
        load_training_state(tmp_path, {})


def test_save_checkpoint_checks_the_history():
    with pytest.raises(TypeError, match="history must be a cnn_tutorial.History or None, got dict"):
        save_checkpoint(ConvNet(), "unused", history={})
