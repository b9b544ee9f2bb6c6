"""Model zoo for matching and evaluation: ConvNet3, ResNet10, ResNet18, AlexNet, VGG11, LeNet,
AlexCifarNet.

Every model is a ``StagedNet``: a sequence of named stages followed by a head. ``forward``
returns logits; ``forward_features(x, layer)`` returns (logits, output of the named stage) from
the same single pass, so the local (intermediate-feature) loss needs no second forward function.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from torch import nn

from distilled_datasets.errors import UsageError

_MODELS: Dict[str, Callable[..., "StagedNet"]] = {}


def register_model(name: str) -> Callable:
    def wrap(builder: Callable[..., "StagedNet"]) -> Callable[..., "StagedNet"]:
        if name in _MODELS:
            raise UsageError(f"model {name!r} is already registered")
        _MODELS[name] = builder
        return builder

    return wrap


def list_models() -> List[str]:
    return sorted(_MODELS)


def build_model(name: str, channels: int, num_classes: int, image_size: int) -> "StagedNet":
    if name not in _MODELS:
        raise UsageError(f"unknown model {name!r}; valid values: {list_models()}")
    return _MODELS[name](channels=channels, num_classes=num_classes, image_size=image_size)


class StagedNet(nn.Module):
    """``stages`` (named, in order) then ``head``. ``default_feature_layer`` names the stage the
    local loss reads unless the config names another."""

    default_feature_layer: str = ""

    def __init__(self, stages: Sequence[Tuple[str, nn.Module]], head: nn.Module):
        super().__init__()
        self.stages = nn.Sequential(OrderedDict(stages))
        self.head = head

    @property
    def feature_layers(self) -> List[str]:
        return list(self.stages._modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(x))

    def forward_features(self, x: torch.Tensor, layer: str) -> Tuple[torch.Tensor, torch.Tensor]:
        """(logits [B, classes], features of stage ``layer`` [B, ...]) from one pass."""
        if layer not in self.stages._modules:
            raise UsageError(f"layer {layer!r} is not a stage of {type(self).__name__}; valid values: "
                             f"{self.feature_layers}")
        features = None
        for name, stage in self.stages.named_children():
            x = stage(x)
            if name == layer:
                features = x
        return self.head(x), features

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate representation (input of the last linear layer) [B, D]."""
        return self.head[:-1](self.stages(x)) if isinstance(self.head, nn.Sequential) else self.stages(x).flatten(1)

    def features(self, x: torch.Tensor, layers) -> List[torch.Tensor]:
        """Flattened outputs [B, D_i] of the named stages, and of "embed" (the penultimate
        representation), in the order of ``layers``, from one pass."""
        unknown = [name for name in layers if name != "embed" and name not in self.stages._modules]
        if unknown:
            raise UsageError(f"layers {unknown} are not stages of {type(self).__name__}; valid values: "
                             f"{self.feature_layers + ['embed']}")
        found = {}
        for name, stage in self.stages.named_children():
            x = stage(x)
            if name in layers:
                found[name] = x.flatten(1)
        if "embed" in layers:
            found["embed"] = self.head[:-1](x) if isinstance(self.head, nn.Sequential) else x.flatten(1)
        return [found[name] for name in layers]


def _instance_norm(width: int) -> nn.Module:
    # Instance norm with affine parameters, written as GroupNorm with one channel per group.
    return nn.GroupNorm(width, width, affine=True)


@register_model("convnet3")
class ConvNet(StagedNet):
    """Conv(3x3) -> instance norm -> ReLU -> 2x2 avg pool, ``depth`` times; linear head."""

    default_feature_layer = "block2"

    def __init__(self, channels: int, num_classes: int, image_size: int, width: int = 128, depth: int = 3):
        stages, size, c_in = [], image_size, channels
        for i in range(depth):
            stages.append((f"block{i + 1}", nn.Sequential(
                nn.Conv2d(c_in, width, 3, padding=1), _instance_norm(width), nn.ReLU(inplace=True),
                nn.AvgPool2d(2))))
            c_in, size = width, size // 2
        super().__init__(stages, nn.Sequential(nn.Flatten(), nn.Linear(width * size * size, num_classes)))


class _BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNet(StagedNet):
    """CIFAR-style ResNet (3x3 stem, no stem pooling): stages stem, layer1..layer4."""

    default_feature_layer = "layer2"  # the second residual stage, as in the paper

    def __init__(self, channels: int, num_classes: int, image_size: int, blocks: Sequence[int]):
        stages = [("stem", nn.Sequential(nn.Conv2d(channels, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64),
                                         nn.ReLU(inplace=True)))]
        c_in = 64
        for i, (width, n) in enumerate(zip((64, 128, 256, 512), blocks)):
            layer = [_BasicBlock(c_in if j == 0 else width, width, (1 if i == 0 else 2) if j == 0 else 1)
                     for j in range(n)]
            stages.append((f"layer{i + 1}", nn.Sequential(*layer)))
            c_in = width
        super().__init__(stages, nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)))


register_model("resnet10")(functools.partial(ResNet, blocks=(1, 1, 1, 1)))
register_model("resnet18")(functools.partial(ResNet, blocks=(2, 2, 2, 2)))


@register_model("alexnet")
class AlexNet(StagedNet):
    """AlexNet sized for 28/32-pixel images (as in the dataset-distillation literature)."""

    default_feature_layer = "conv2"

    def __init__(self, channels: int, num_classes: int, image_size: int):
        # The first conv pads 28-pixel inputs to act on 32, so both sizes end at 4x4 (then 2x2).
        pad = 4 if image_size == 28 else 2
        relu = lambda: nn.ReLU(inplace=True)  # noqa: E731
        stages = [
            ("conv1", nn.Sequential(nn.Conv2d(channels, 128, 5, 1, pad), relu(), nn.MaxPool2d(2))),
            ("conv2", nn.Sequential(nn.Conv2d(128, 192, 5, 1, 2), relu(), nn.MaxPool2d(2))),
            ("conv3", nn.Sequential(nn.Conv2d(192, 256, 3, 1, 1), relu())),
            ("conv4", nn.Sequential(nn.Conv2d(256, 192, 3, 1, 1), relu())),
            ("conv5", nn.Sequential(nn.Conv2d(192, 192, 3, 1, 1), relu(), nn.MaxPool2d(2))),
        ]
        size = (image_size + 2 * pad - 4) // 8
        super().__init__(stages, nn.Sequential(nn.Flatten(), nn.Linear(192 * size * size, num_classes)))


@register_model("vgg11")
class VGG11(StagedNet):
    """VGG11 with instance norm; four poolings then global average. The first conv pads 28-pixel
    inputs to 32 (as DC's VGG11 does), so the last stage runs at 2x2: at 1x1 instance norm would
    map every feature to its bias and the network could not learn."""

    default_feature_layer = "stage2"

    def __init__(self, channels: int, num_classes: int, image_size: int):
        plan = [(64,), (128,), (256, 256), (512, 512), (512, 512)]
        stages, c_in = [], channels
        pad = 3 if image_size == 28 else 1  # the first conv's; every later conv pads 1
        for i, widths in enumerate(plan):
            layers: List[nn.Module] = []
            for w in widths:
                layers += [nn.Conv2d(c_in, w, 3, padding=pad), _instance_norm(w), nn.ReLU(inplace=True)]
                c_in, pad = w, 1
            if i < 4:
                layers.append(nn.MaxPool2d(2))
            stages.append((f"stage{i + 1}", nn.Sequential(*layers)))
        super().__init__(stages, nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, num_classes)))


@register_model("lenet")
class LeNet(StagedNet):
    """LeNet-5 as used by Wang et al. 2018 for MNIST (28-pixel inputs are padded to 32)."""

    default_feature_layer = "conv2"

    def __init__(self, channels: int, num_classes: int, image_size: int):
        pad = 2 if image_size == 28 else 0
        size = ((image_size + 2 * pad - 4) // 2 - 4) // 2
        stages = [
            ("conv1", nn.Sequential(nn.Conv2d(channels, 6, 5, padding=pad), nn.ReLU(), nn.MaxPool2d(2))),
            ("conv2", nn.Sequential(nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())),
            ("fc1", nn.Sequential(nn.Linear(16 * size * size, 120), nn.ReLU())),
            ("fc2", nn.Sequential(nn.Linear(120, 84), nn.ReLU())),
        ]
        super().__init__(stages, nn.Sequential(nn.Linear(84, num_classes)))


@register_model("alexcifarnet")
class AlexCifarNet(StagedNet):
    """The small AlexNet of Wang et al. 2018 for CIFAR-10 (two 5x5 convs with LRN, three FCs)."""

    default_feature_layer = "conv2"

    def __init__(self, channels: int, num_classes: int, image_size: int):
        size = -(-(-(-image_size // 2)) // 2)  # two stride-2 poolings with padding: ceil twice
        stages = [
            ("conv1", nn.Sequential(nn.Conv2d(channels, 64, 5, padding=2), nn.ReLU(),
                                    nn.MaxPool2d(3, 2, padding=1), nn.LocalResponseNorm(4, 0.001 / 9.0, 0.75, 1))),
            ("conv2", nn.Sequential(nn.Conv2d(64, 64, 5, padding=2), nn.ReLU(),
                                    nn.LocalResponseNorm(4, 0.001 / 9.0, 0.75, 1), nn.MaxPool2d(3, 2, padding=1),
                                    nn.Flatten())),
            ("fc1", nn.Sequential(nn.Linear(64 * size * size, 384), nn.ReLU())),
            ("fc2", nn.Sequential(nn.Linear(384, 192), nn.ReLU())),
        ]
        super().__init__(stages, nn.Sequential(nn.Linear(192, num_classes)))


