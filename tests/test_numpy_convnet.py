"""The PyTorch ConvNet's weights, run through the numpy ops, give PyTorch's logits."""

import numpy as np
import pytest
import torch

from cnn_tutorial.pytorch.model import ConvNet
from cnn_tutorial.pytorch.numpy_convnet import convnet_logits, params_from_state_dict


@pytest.mark.parametrize("relu_between_fc", [False, True])
def test_numpy_forward_matches_the_torch_model_in_eval_mode(relu_between_fc):
    torch.manual_seed(0)
    model = ConvNet(relu_between_fc=relu_between_fc).eval()
    x = np.random.default_rng(0).standard_normal((6, 1, 28, 28)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    params = params_from_state_dict(model.state_dict())
    logits = convnet_logits(params, x, relu_between_fc)
    assert logits.dtype == np.float32 and logits.shape == (6, 10)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5)


def test_bad_state_dict_and_input():
    state = ConvNet().state_dict()
    with pytest.raises(ValueError, match="fc2.bias"):
        params_from_state_dict({k: v for k, v in state.items() if k != "fc2.bias"})
    state["fc1.weight"] = torch.zeros(1000, 3164)  # the classic text's miscount
    with pytest.raises(ValueError, match=r"fc1.weight.*\(1000, 3136\).*\(1000, 3164\)"):
        params_from_state_dict(state)
    params = params_from_state_dict(ConvNet().state_dict())
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        convnet_logits(params, np.zeros((2, 28, 28)))
