"""Every network of the zoo can learn at every image size the package uses: its logits depend on
its input (a stage that instance-normalises 1x1 features makes them constant)."""

import pytest
import torch
from torch import nn

from distilled_datasets.training.common.model_zoo import build_model, list_models

SIZES = [(1, 28), (3, 32)]  # MNIST / Fashion-MNIST, CIFAR-10


@pytest.mark.parametrize("channels,size", SIZES)
@pytest.mark.parametrize("name", list_models())
def test_logits_depend_on_the_input(name, channels, size):
    torch.manual_seed(0)
    model = build_model(name, channels, 10, size).eval()
    with torch.no_grad():
        logits = model(torch.randn(4, channels, size, size))
    assert logits.shape == (4, 10)
    assert logits.std(dim=0).max() > 1e-3, f"{name} at {size} px gives the same logits for every input"


@pytest.mark.parametrize("channels,size", SIZES)
def test_vgg11_normalises_at_least_2x2_features(channels, size):
    model = build_model("vgg11", channels, 10, size)
    shapes = []
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.append(o.shape[-2:]))
             for m in model.modules() if isinstance(m, nn.GroupNorm)]
    model(torch.randn(2, channels, size, size))
    for hook in hooks:
        hook.remove()
    assert min(h * w for h, w in shapes) >= 4
