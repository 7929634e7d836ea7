"""ResNets (He et al. 2015) for 32x32 inputs.

Two layouts share the same post-activation blocks:
- `ResNet`: the 4-stage ImageNet design (64..512 channels) with a CIFAR stem — 3x3 conv, stride 1,
  no max-pool — as in kuangliu/pytorch-cifar (resnet18/34/50/101).
- `cifar_resnet`: the paper's 3-stage CIFAR design (16/32/64 channels), depth 6n+2 with basic blocks and
  shortcut option A (zero-pad identity, akamaster) or B (1x1 projection), or depth 9n+2 with bottlenecks.
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from resnet.models.layers import Classifier, conv, init_weights, make_stages, norm2d


class PadShortcut(nn.Module):
    """Option A: subsample by the stride and zero-pad the new channels; no parameters."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))


def shortcut(cin: int, cout: int, stride: int, option: str, norm: str) -> nn.Module:
    if stride == 1 and cin == cout:
        return nn.Identity()
    if option == "A":
        return PadShortcut(cin, cout, stride)
    return nn.Sequential(conv(cin, cout, 1, stride, norm), norm2d(norm, cout))


class BasicBlock(nn.Module):
    expansion = 1
    branch_end = "conv2"

    def __init__(self, cin: int, planes: int, stride: int, option: str, norm: str):
        super().__init__()
        self.out_channels = planes
        self.conv1, self.bn1 = conv(cin, planes, 3, stride, norm), norm2d(norm, planes)
        self.conv2, self.bn2 = conv(planes, planes, 3, 1, norm), norm2d(norm, planes)
        self.shortcut = shortcut(cin, planes, stride, option, norm)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4
    branch_end = "conv3"

    def __init__(self, cin: int, planes: int, stride: int, option: str, norm: str):
        super().__init__()
        self.out_channels = cout = planes * self.expansion
        self.conv1, self.bn1 = conv(cin, planes, 1, 1, norm), norm2d(norm, planes)
        self.conv2, self.bn2 = conv(planes, planes, 3, stride, norm), norm2d(norm, planes)
        self.conv3, self.bn3 = conv(planes, cout, 1, 1, norm), norm2d(norm, cout)
        self.shortcut = shortcut(cin, cout, stride, option, norm)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(nn.Module):
    """A stem conv, one stage of blocks per width, global pooling and a linear head."""

    def __init__(
        self,
        block: str,
        layers,
        widths=(64, 128, 256, 512),
        shortcut: str = "B",
        num_classes: int = 10,
        norm: str = "batch",
    ):
        super().__init__()
        self.stem = nn.Sequential(
            conv(3, widths[0], 3, 1, norm), norm2d(norm, widths[0]), nn.ReLU(inplace=True)
        )
        self.stages, cin = make_stages(
            widths,
            layers,
            widths[0],
            lambda cin, width, stride: BLOCKS[block](cin, width, stride, shortcut, norm),
        )
        self.head = Classifier(cin, num_classes)
        init_weights(self, norm)

    def forward(self, x):
        return self.head(self.stages(self.stem(x)))


def cifar_resnet(
    depth: int, shortcut: str = "A", bottleneck: bool = False, num_classes: int = 10, norm: str = "batch"
) -> ResNet:
    """He et al.'s CIFAR ResNet: 3 stages of n blocks on 16/32/64 channels."""
    layers_per_block = 3 if bottleneck else 2
    n, rest = divmod(depth - 2, 3 * layers_per_block)
    if rest or n < 1:
        raise ValueError(
            f"depth must be {3 * layers_per_block}n+2 for {'bottleneck' if bottleneck else 'basic'} "
            f"blocks, got {depth}"
        )
    return ResNet(
        "bottleneck" if bottleneck else "basic",
        (n, n, n),
        (16, 32, 64),
        "B" if bottleneck else shortcut,
        num_classes,
        norm,
    )
