"""Tests for cnn_tutorial.torch_net: the classic ConvNet, its data, training, evaluation and checkpoints."""

from __future__ import annotations


import pytest
import torch
import torchvision
from PIL import Image
from torch.nn import functional as F
from torch.utils.data import DataLoader, Subset, TensorDataset

from cnn_tutorial import torch_net
from cnn_tutorial.data import DATA_ENV_VAR, MNISTNotFoundError
from cnn_tutorial.history import History
from cnn_tutorial.torch_net import (
    ConvNet,
    checkpoint_record,
    choose_device,
    evaluate,
    load_checkpoint,
    mnist_loaders,
    mnist_transform,
    save_checkpoint,
    train_step,
    train_torch,
    transform_all,
)


def fixed_batch(n: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 1, 28, 28, generator=generator)
    labels = torch.randint(0, 10, (n,), generator=generator)
    return images, labels


# ---------------------------------------------------------------- model


@pytest.mark.parametrize("relu_between_fc", [False, True])
def test_output_shape(relu_between_fc):
    model = ConvNet(relu_between_fc)
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)
    assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


def test_layer_shapes_follow_the_classic_model():
    model = ConvNet()
    x = torch.zeros(2, 1, 28, 28)
    assert model.layer1(x).shape == (2, 32, 14, 14)
    assert model.layer2(model.layer1(x)).shape == (2, 64, 7, 7)
    assert model.fc1.in_features == 7 * 7 * 64 == 3136
    assert (model.fc1.out_features, model.fc2.out_features) == (1000, 10)
    assert model.drop_out.p == 0.5
    shapes = {name: tuple(p.shape) for name, p in model.state_dict().items()}
    assert shapes == {
        "layer1.0.weight": (32, 1, 5, 5),
        "layer1.0.bias": (32,),
        "layer2.0.weight": (64, 32, 5, 5),
        "layer2.0.bias": (64,),
        "fc1.weight": (1000, 3136),
        "fc1.bias": (1000,),
        "fc2.weight": (10, 1000),
        "fc2.bias": (10,),
    }


def head(model: ConvNet, features: torch.Tensor) -> torch.Tensor:
    return model.fc2(model.fc_activation(model.fc1(features)))


def test_classic_head_is_one_linear_map_and_relu_option_breaks_it():
    torch.manual_seed(0)
    linear, with_relu = ConvNet(), ConvNet(relu_between_fc=True)
    with_relu.load_state_dict(linear.state_dict())  # same weights: only the ReLU differs
    a, b = torch.randn(4, 3136), torch.randn(4, 3136)
    zero = torch.zeros(1, 3136)
    with torch.no_grad():
        # Affine: f(a + b) = f(a) + f(b) - f(0).
        torch.testing.assert_close(head(linear, a + b), head(linear, a) + head(linear, b) - head(linear, zero))
        nonlinear_gap = head(with_relu, a + b) - (head(with_relu, a) + head(with_relu, b) - head(with_relu, zero))
    assert nonlinear_gap.abs().max() > 1e-3


def test_relu_between_fc_must_be_bool():
    with pytest.raises(TypeError, match="relu_between_fc"):
        ConvNet(relu_between_fc="yes")


def test_eval_mode_is_deterministic_and_train_mode_uses_dropout():
    torch.manual_seed(0)
    model = ConvNet()
    images, _ = fixed_batch(8)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(images), model(images), rtol=0, atol=0)
        model.train()
        assert not torch.equal(model(images), model(images))


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


# ---------------------------------------------------------------- device


def test_choose_device_automatic(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_device() == torch.device("cuda")


def test_choose_device_explicit(monkeypatch):
    assert choose_device("cpu") == torch.device("cpu")
    assert choose_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        choose_device("cuda")


@pytest.mark.parametrize("device, error", [("tpu", ValueError), ("meta", ValueError), (0, TypeError)])
def test_choose_device_rejects(device, error):
    with pytest.raises(error, match="device"):
        choose_device(device)


# ---------------------------------------------------------------- evaluation


def test_evaluate_counts_correct_predictions_and_restores_mode():
    torch.manual_seed(0)
    model = ConvNet()
    images, _ = fixed_batch(30)
    model.eval()
    with torch.no_grad():
        predicted = model(images).argmax(dim=1)
    labels = predicted.clone()
    labels[:10] = (labels[:10] + 1) % 10  # make exactly 10 of 30 wrong
    loader = DataLoader(TensorDataset(images, labels), batch_size=7)
    model.train()
    assert evaluate(model, loader) == pytest.approx(20 / 30)
    assert model.training
    model.eval()
    assert evaluate(model, loader, device="cpu") == pytest.approx(20 / 30)
    assert not model.training


def test_evaluate_rejects_empty_loader_and_non_models():
    empty = DataLoader(TensorDataset(torch.zeros(0, 1, 28, 28), torch.zeros(0, dtype=torch.int64)), batch_size=4)
    with pytest.raises(ValueError, match="no images"):
        evaluate(ConvNet(), empty)
    with pytest.raises(TypeError, match="model"):
        evaluate("model", empty)


# ---------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip_gives_identical_predictions(tmp_path):
    torch.manual_seed(0)
    model = ConvNet().eval()
    directory = tmp_path / "not" / "yet" / "there"
    path = save_checkpoint(model, directory)
    assert path == directory / "conv_net_model.ckpt"
    assert sorted(p.name for p in directory.iterdir()) == ["conv_net_model.ckpt"]  # no temporary left
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
    history = History(framework="torch", epoch_test_accuracy=[0.98, 0.99],
                      config={"epochs": 2, "seed": 0, "train_limit": None, "torch_version": torch.__version__})
    path = save_checkpoint(ConvNet(relu_between_fc=True), tmp_path, history=history)
    record = checkpoint_record(path)
    assert record["model"] == {"relu_between_fc": True}
    assert record["training"] == {"epochs": 2, "seed": 0, "train_limit": None, "torch_version": str(torch.__version__),
                                  "epoch_test_accuracy": [0.98, 0.99]}
    assert isinstance(load_checkpoint(path).fc_activation, torch.nn.ReLU)  # None: what the file records
    assert checkpoint_record(save_checkpoint(ConvNet(), tmp_path, name="bare.ckpt"))["training"] is None


def test_a_checkpoint_of_another_model_is_refused_by_name(tmp_path):
    path = save_checkpoint(ConvNet(relu_between_fc=True), tmp_path)
    with pytest.raises(ValueError, match=r"conv_net_model.ckpt holds a ConvNet with relu_between_fc=True"):
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


# ---------------------------------------------------------------- data and training


def test_transform_all_is_the_classic_per_image_transform_bit_for_bit():
    # Every byte value 0..255 appears (7 and 256 are coprime).
    images = (torch.arange(3 * 28 * 28).reshape(3, 28, 28) * 7 % 256).to(torch.uint8)
    assert len(images.unique()) == 256
    together = transform_all(images)
    assert together.shape == (3, 1, 28, 28) and together.dtype == torch.float32
    classic = mnist_transform()
    for image, transformed in zip(images, together):
        assert torch.equal(classic(Image.fromarray(image.numpy())), transformed)


@pytest.mark.parametrize(
    "images, error",
    [
        (torch.zeros(2, 28, 28), ValueError),
        (torch.zeros(2, 1, 28, 28, dtype=torch.uint8), ValueError),
        ([[0, 1]], TypeError),
    ],
)
def test_transform_all_rejects(images, error):
    with pytest.raises(error, match="images"):
        transform_all(images)


def test_loader_batches_equal_the_classic_per_image_loader(mnist_root_for_torchvision):
    train_loader, _ = mnist_loaders(root=mnist_root_for_torchvision, seed=5, train_limit=300)
    per_image = torchvision.datasets.MNIST(root=str(mnist_root_for_torchvision), train=True, transform=mnist_transform())
    classic = DataLoader(
        Subset(per_image, range(300)), batch_size=100, shuffle=True, generator=torch.Generator().manual_seed(5)
    )
    for (images, labels), (classic_images, classic_labels) in zip(train_loader, classic, strict=True):
        assert torch.equal(images, classic_images) and torch.equal(labels, classic_labels)



def test_mnist_loaders_shapes_normalisation_and_seeded_order(mnist_root_for_torchvision):
    train_loader, test_loader = mnist_loaders(batch_size=100, root=mnist_root_for_torchvision, seed=3, train_limit=250)
    assert len(train_loader) == 3 and len(test_loader) == 100
    batches = list(train_loader)
    images, labels = batches[0]
    assert images.shape == (100, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (100,) and labels.dtype == torch.int64
    assert [len(b[1]) for b in batches] == [100, 100, 50]
    # Normalize((0.1307,), (0.3081,)): a background pixel (0) maps to -0.1307 / 0.3081.
    assert images.min().item() == pytest.approx(-0.1307 / 0.3081, abs=1e-6)
    assert images.max().item() == pytest.approx((1 - 0.1307) / 0.3081, abs=1e-6)
    all_labels = torch.cat([b[1] for b in batches])
    again = torch.cat([b[1] for b in mnist_loaders(root=mnist_root_for_torchvision, seed=3, train_limit=250)[0]])
    other_seed = torch.cat([b[1] for b in mnist_loaders(root=mnist_root_for_torchvision, seed=4, train_limit=250)[0]])
    assert torch.equal(all_labels, again)
    assert not torch.equal(all_labels, other_seed)
    assert torch.equal(all_labels.sort().values, other_seed.sort().values)  # same 250 images
    assert not torch.equal(all_labels, torch.cat([b[1] for b in train_loader]))  # a new order each epoch


def test_mnist_loaders_reads_root_from_env(mnist_root_for_torchvision, monkeypatch):
    monkeypatch.setenv(DATA_ENV_VAR, str(mnist_root_for_torchvision))
    train_loader, _ = mnist_loaders(train_limit=10)
    assert len(train_loader.dataset) == 10


def test_mnist_loaders_missing_data_raises_clear_error(tmp_path):
    with pytest.raises(MNISTNotFoundError, match="CNN_TUTORIAL_DATA") as info:
        mnist_loaders(root=tmp_path, download=False)
    assert str(tmp_path / "MNIST" / "raw") in str(info.value)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"batch_size": 0}, ValueError),
        ({"train_limit": 0}, ValueError),
        ({"train_limit": 60_001}, ValueError),
        ({"seed": 1.5}, TypeError),
    ],
)
def test_mnist_loaders_validates(tmp_path, kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        mnist_loaders(root=tmp_path, download=False, **kwargs)


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


def test_train_torch_records_a_seeded_history_that_saves(mnist_root_for_torchvision, tmp_path, capsys, monkeypatch):
    def run(seed: int, progress: bool) -> tuple[ConvNet, History]:
        return train_torch(epochs=1, train_limit=200, root=mnist_root_for_torchvision, device="cpu", seed=seed, progress=progress)

    model, history = run(0, progress=False)
    assert capsys.readouterr().err == ""  # quiet
    assert not model.training
    assert history.framework == "torch"
    assert history.steps_per_epoch == 2
    assert len(history.step_loss) == len(history.step_accuracy) == 2
    assert history.step_loss[0] == pytest.approx(2.3, abs=0.15)  # about ln 10 at the start
    assert all(a * 100 == int(a * 100) for a in history.step_accuracy)  # whole images of 100
    assert len(history.epoch_test_accuracy) == 1 and 0 <= history.test_accuracy <= 1
    assert history.seconds > 0
    assert history.config["device"] == "cpu" and history.config["lr"] == 1e-3
    loaded = History.load(history.save(tmp_path / "history.json"))
    assert loaded == history

    # The reruns only compare training steps: skip the 10,000-image test pass, the slow part.
    evaluated = []
    monkeypatch.setattr(torch_net, "evaluate", lambda model, loader: evaluated.append(len(loader)) or 0.5)
    assert run(0, progress=True)[1].step_loss == history.step_loss  # same seed, same run
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "test_accuracy=50.00 %" in err
    assert run(1, progress=False)[1].step_loss != history.step_loss
    assert evaluated == [100, 100]  # once per epoch, on the test loader
