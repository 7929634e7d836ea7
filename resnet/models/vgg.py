"""VGG-11/13/16/19 with BN for CIFAR, as in bearpaw/pytorch-classification (from kuangliu/pytorch-cifar).

Five conv stages with max-pooling take 32x32 to 1x1; one linear layer classifies the 512 features.
The 3x3 convs keep their bias even before BN: the reference does, and its parameter counts include it.
"""

from __future__ import annotations

import torch.nn as nn

from resnet.models.layers import init_weights, norm2d

STAGES = {  # convs per stage
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}


class VGG(nn.Module):
    def __init__(self, depth: int, num_classes: int = 10, norm: str = "batch"):
        super().__init__()
        if depth not in STAGES:
            raise ValueError(f"depth must be one of {sorted(STAGES)}, got {depth}")
        layers, cin = [], 3
        for convs, width in zip(STAGES[depth], (64, 128, 256, 512, 512), strict=True):
            for _ in range(convs):
                layers += [nn.Conv2d(cin, width, 3, padding=1), norm2d(norm, width), nn.ReLU(inplace=True)]
                cin = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(512, num_classes))
        init_weights(self, norm)

    def forward(self, x):
        return self.head(self.features(x))
