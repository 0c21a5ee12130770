"""Tests for cnn_tutorial.pytorch.training: one step, evaluation, and a whole seeded run."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from cnn_tutorial.history import Evaluation, History
from cnn_tutorial.pytorch import training as torch_training
from cnn_tutorial.pytorch.data import mnist_loaders
from cnn_tutorial.pytorch.distributed import Placement
from cnn_tutorial.pytorch.model import ConvNet
from cnn_tutorial.pytorch.run import Run, prepare_run
from cnn_tutorial.pytorch.training import (
    evaluate,
    plain_train_epoch,
    train_epoch,
    train_step,
    train_torch,
)
from cnn_tutorial.seeds import run_streams, torch_seed
from tests.torch_cases import fixed_batch


def test_the_plain_loop_takes_train_epochs_steps_bit_for_bit():
    images, labels = fixed_batch(60)
    batches = [(images[i : i + 20], labels[i : i + 20]) for i in range(0, 60, 20)]
    runs = []
    for epoch in (plain_train_epoch, lambda *args: train_epoch(*args, torch.device("cpu"))):
        torch.manual_seed(0)  # the same weights and dropout masks
        model = ConvNet(relu_between_fc=True)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.eval()  # both switch training mode (dropout) on themselves
        runs.append((epoch(model, optimizer, batches), model.state_dict()))
    (plain, plain_weights), (fast, fast_weights) = runs
    assert plain == fast
    assert len(plain[0]) == 3 and all(a * 20 == round(a * 20) for a in plain[1])
    assert all(torch.equal(plain_weights[name], fast_weights[name]) for name in plain_weights)


def test_train_torch_on_one_process_is_the_plain_loop(mnist_root, monkeypatch):
    # Only the training steps are compared: skip the validation and test passes.
    monkeypatch.setattr(
        torch_training, "evaluate", lambda model, loader: Evaluation(loss=0.5, accuracy=0.5)
    )
    _, history = train_torch(
        epochs=2, train_limit=300, root=mnist_root, device="cpu", seed=3, progress=False
    )
    train_loader, _, _ = mnist_loaders(100, mnist_root, seed=3, train_limit=300)
    initialization, _ = run_streams(3)  # as train_torch seeds the weights and dropout
    torch.manual_seed(torch_seed(initialization))
    model = ConvNet(relu_between_fc=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses, accuracies = [], []
    for _ in range(2):
        epoch_losses, epoch_accuracies = plain_train_epoch(model, optimizer, train_loader)
        losses += epoch_losses
        accuracies += epoch_accuracies
    assert losses == history.step_loss and accuracies == history.step_accuracy


def test_a_run_on_one_process_is_the_seeded_model_and_the_plain_loaders(mnist_root):
    run = prepare_run(
        Placement(),
        torch.device("cpu"),
        batch_size=100,
        seed=3,
        root=mnist_root,
        relu_between_fc=False,
        train_limit=300,
        validation_size=5000,
        download=False,
    )
    assert run.trained is run.model and not run.model.relu_between_fc
    initialization, _ = run_streams(3)
    torch.manual_seed(torch_seed(initialization))
    weights = ConvNet(relu_between_fc=False).state_dict()
    assert all(torch.equal(value, run.model.state_dict()[name]) for name, value in weights.items())
    train_loader, _, _ = mnist_loaders(100, mnist_root, seed=3, train_limit=300)
    assert [
        len(loader.dataset) for loader in (run.train_loader, run.validation_loader, run.test_loader)
    ] == [300, 5000, 10000]
    assert run.batches_of_epoch(0) is run.train_loader
    assert all(
        torch.equal(ours[1], theirs[1]) for ours, theirs in zip(run.train_loader, train_loader)
    )


def test_each_epoch_of_a_group_is_shuffled_in_its_own_order():
    dataset = TensorDataset(*fixed_batch(40))
    sampler = DistributedSampler(dataset, num_replicas=2, rank=0, shuffle=True, seed=5)
    loader = DataLoader(dataset, batch_size=10, sampler=sampler)
    run = Run(ConvNet(), ConvNet(), loader, loader, loader)
    orders = [[labels for _, labels in run.batches_of_epoch(epoch)] for epoch in (0, 1, 0)]
    assert sampler.epoch == 0
    assert not all(torch.equal(a, b) for a, b in zip(orders[0], orders[1]))
    assert all(torch.equal(a, b) for a, b in zip(orders[0], orders[2]))


def test_one_optimiser_step_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = ConvNet()
    # Small enough that one step cannot overshoot on random data; it still must go downhill.
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    images, labels = fixed_batch()

    def eval_loss() -> float:
        model.eval()
        with torch.no_grad():
            return F.cross_entropy(model(images), labels).item()

    before = eval_loss()
    model.train()
    step_loss, correct = train_step(model, optimizer, images, labels)
    after = eval_loss()
    assert after < before - 0.01
    assert step_loss.shape == () and not step_loss.requires_grad
    assert correct.dtype == torch.int64 and 0 <= correct.item() <= len(labels)


def test_evaluate_counts_correct_predictions_and_restores_mode():
    torch.manual_seed(0)
    model = ConvNet()
    images, _ = fixed_batch(30)
    model.eval()
    with torch.no_grad():
        scores = model(images)
    labels = scores.argmax(dim=1)
    labels[:10] = (labels[:10] + 1) % 10  # make exactly 10 of 30 wrong
    # Batches of 7: the last holds 2 images, and the loss is still the mean over all 30.
    loader = DataLoader(TensorDataset(images, labels), batch_size=7)
    model.train()
    loss, accuracy = evaluate(model, loader)
    assert accuracy == pytest.approx(20 / 30)
    assert loss == pytest.approx(F.cross_entropy(scores, labels).item(), rel=1e-6)
    assert model.training
    model.eval()
    assert evaluate(model, loader, device="cpu") == (loss, accuracy)
    assert not model.training


def test_evaluate_rejects_empty_loader_and_non_models():
    empty = DataLoader(
        TensorDataset(torch.zeros(0, 1, 28, 28), torch.zeros(0, dtype=torch.int64)), batch_size=4
    )
    with pytest.raises(ValueError, match="no images"):
        evaluate(ConvNet(), empty)
    with pytest.raises(TypeError, match="model"):
        evaluate("model", empty)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"epochs": 0}, ValueError),
        ({"lr": 0.0}, ValueError),
        ({"lr": float("nan")}, ValueError),
        ({"lr": "fast"}, TypeError),
        ({"progress": "yes"}, TypeError),
        ({"device": "tpu"}, ValueError),
    ],
)
def test_train_torch_validates_before_reading_data(tmp_path, kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        train_torch(root=tmp_path, download=False, **kwargs)


def test_train_torch_records_a_seeded_history_that_saves(mnist_root, tmp_path, capsys, monkeypatch):
    def run(seed: int, progress: bool) -> tuple[ConvNet, History]:
        return train_torch(
            epochs=1, train_limit=200, root=mnist_root, device="cpu", seed=seed, progress=progress
        )

    model, history = run(0, progress=False)
    assert capsys.readouterr().err == ""  # quiet
    assert not model.training
    assert history.framework == "torch"
    assert history.steps_per_epoch == 2
    assert len(history.step_loss) == len(history.step_accuracy) == 2
    assert history.step_loss[0] == pytest.approx(2.3, abs=0.15)  # about ln 10 at the start
    # whole images of 100 (0.07 * 100 is 7.000000000000001 in floats: compare with a tolerance)
    assert all(abs(a * 100 - round(a * 100)) < 1e-9 for a in history.step_accuracy)
    assert len(history.epoch_validation_accuracy) == len(history.epoch_validation_loss) == 1
    assert 0 <= history.epoch_validation_accuracy[0] <= 1 and 0 <= history.test_accuracy <= 1
    assert 0 < history.epoch_validation_loss[0] < 2.4
    assert history.config["train_size"] == 200 and history.config["validation_size"] == 5000
    assert history.seconds > 0
    assert history.config["device"] == "cpu" and history.config["lr"] == 1e-3
    assert (
        history.config["relu_between_fc"] is True and model.relu_between_fc
    )  # the validated default
    loaded = History.load(history.save(tmp_path / "history.json"))
    assert loaded == history

    # The reruns only compare training steps: skip the validation and test passes, the slow part.
    evaluated = []

    def fake_evaluate(model, loader):
        evaluated.append(len(loader.dataset))
        return Evaluation(loss=0.25, accuracy=0.5)

    monkeypatch.setattr(torch_training, "evaluate", fake_evaluate)
    assert run(0, progress=True)[1].step_loss == history.step_loss  # same seed, same run
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "validation_accuracy=50.00 %" in err
    assert run(1, progress=False)[1].step_loss != history.step_loss
    # Per run: validation after the epoch, then the test set once.
    assert evaluated == [5000, 10000, 5000, 10000]
