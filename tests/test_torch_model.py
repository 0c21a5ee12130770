"""Tests for cnn_tutorial.pytorch.model: the classic ConvNet and the choice of device."""

from __future__ import annotations

import pytest
import torch

from cnn_tutorial.pytorch.model import ConvNet, choose_device
from tests.torch_cases import fixed_batch


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
        torch.testing.assert_close(
            head(linear, a + b), head(linear, a) + head(linear, b) - head(linear, zero)
        )
        nonlinear_gap = head(with_relu, a + b) - (
            head(with_relu, a) + head(with_relu, b) - head(with_relu, zero)
        )
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


@pytest.mark.parametrize(
    "device, error", [("tpu", ValueError), ("meta", ValueError), (0, TypeError)]
)
def test_choose_device_rejects(device, error):
    with pytest.raises(error, match="device"):
        choose_device(device)
