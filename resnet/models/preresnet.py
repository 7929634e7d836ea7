"""Pre-activation ResNets (He et al. 2016, "Identity Mappings") for CIFAR, as in
bearpaw/pytorch-classification.

BN and ReLU come before each conv; the shortcut is the raw input, or a 1x1 conv (no BN) when the
shape changes. Depth 6n+2 with basic blocks (preresnet110), 9n+2 with bottlenecks (preresnet164/1001).
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from resnet.models.layers import Classifier, conv, init_weights, make_stages, norm2d


def projection(cin: int, cout: int, stride: int, norm: str) -> nn.Module:
    return nn.Identity() if stride == 1 and cin == cout else conv(cin, cout, 1, stride, norm)


class PreActBlock(nn.Module):
    expansion = 1
    branch_end = "conv2"

    def __init__(self, cin: int, planes: int, stride: int, norm: str):
        super().__init__()
        self.out_channels = planes
        self.bn1, self.conv1 = norm2d(norm, cin), conv(cin, planes, 3, stride, norm)
        self.bn2, self.conv2 = norm2d(norm, planes), conv(planes, planes, 3, 1, norm)
        self.shortcut = projection(cin, planes, stride, norm)

    def forward(self, x):
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return out + self.shortcut(x)


class PreActBottleneck(nn.Module):
    expansion = 4
    branch_end = "conv3"

    def __init__(self, cin: int, planes: int, stride: int, norm: str):
        super().__init__()
        self.out_channels = planes * 4
        self.bn1, self.conv1 = norm2d(norm, cin), conv(cin, planes, 1, 1, norm)
        self.bn2, self.conv2 = norm2d(norm, planes), conv(planes, planes, 3, stride, norm)
        self.bn3, self.conv3 = norm2d(norm, planes), conv(planes, planes * 4, 1, 1, norm)
        self.shortcut = projection(cin, planes * 4, stride, norm)

    def forward(self, x):
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        return out + self.shortcut(x)


class PreResNet(nn.Module):
    def __init__(self, depth: int, bottleneck: bool = False, num_classes: int = 10, norm: str = "batch"):
        super().__init__()
        block = PreActBottleneck if bottleneck else PreActBlock
        layers_per_block = 3 if bottleneck else 2
        n, rest = divmod(depth - 2, 3 * layers_per_block)
        if rest or n < 1:
            raise ValueError(f"depth must be {3 * layers_per_block}n+2, got {depth}")
        self.stem = conv(3, 16, 3, 1, norm)
        self.stages, cin = make_stages(
            (16, 32, 64), (n, n, n), 16, lambda cin, width, stride: block(cin, width, stride, norm)
        )
        self.final = nn.Sequential(norm2d(norm, cin), nn.ReLU(inplace=True))
        self.head = Classifier(cin, num_classes)
        init_weights(self, norm)

    def forward(self, x):
        return self.head(self.final(self.stages(self.stem(x))))
