"""DenseNet-BC (Huang et al. 2017) for CIFAR, as in bearpaw/pytorch-classification.

Three dense blocks of (depth-4)/6 bottleneck layers (BN-ReLU-1x1 conv to 4k, BN-ReLU-3x3 conv to k,
concatenated), transitions that halve the channels (rounded down) and the resolution.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from resnet.models.layers import Classifier, conv, init_weights, norm2d


class DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int, dropout: float, norm: str):
        super().__init__()
        self.bn1, self.conv1 = norm2d(norm, cin), conv(cin, 4 * growth, 1, 1, norm)
        self.bn2, self.conv2 = norm2d(norm, 4 * growth), conv(4 * growth, growth, 3, 1, norm)
        self.dropout = dropout

    def forward(self, x):
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return torch.cat([x, F.dropout(out, self.dropout, self.training)], 1)


class Transition(nn.Sequential):
    def __init__(self, cin: int, cout: int, norm: str):
        super().__init__(
            norm2d(norm, cin), nn.ReLU(inplace=True), conv(cin, cout, 1, 1, norm), nn.AvgPool2d(2)
        )


class DenseNetBC(nn.Module):
    def __init__(
        self, depth: int, growth: int, num_classes: int = 10, norm: str = "batch", dropout: float = 0.0
    ):
        super().__init__()
        n, rest = divmod(depth - 4, 6)
        if rest or n < 1:
            raise ValueError(f"depth must be 6n+4, got {depth}")
        channels = 2 * growth
        layers: list[nn.Module] = [conv(3, channels, 3, 1, norm)]
        for stage in range(3):
            for _ in range(n):
                layers.append(DenseLayer(channels, growth, dropout, norm))
                channels += growth
            if stage < 2:
                layers.append(Transition(channels, channels // 2, norm))
                channels //= 2
        layers += [norm2d(norm, channels), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.head = Classifier(channels, num_classes)
        init_weights(self, norm)

    def forward(self, x):
        return self.head(self.features(x))
