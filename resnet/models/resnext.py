"""ResNeXt-29 (Xie et al. 2017) for CIFAR, as in bearpaw/pytorch-classification (from prlz77).

Three stages of (depth-2)/9 bottlenecks with 256/512/1024 output channels; the grouped 3x3 conv has
`cardinality` groups of `base_width` channels in the first stage, doubling per stage (8x64d, 16x64d).
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from resnet.models.layers import Classifier, conv, init_weights, make_stages, norm2d


class ResNeXtBlock(nn.Module):
    branch_end = "conv3"

    def __init__(self, cin: int, cout: int, inner: int, cardinality: int, stride: int, norm: str):
        super().__init__()
        self.out_channels = cout
        self.conv1, self.bn1 = conv(cin, inner, 1, 1, norm), norm2d(norm, inner)
        self.conv2, self.bn2 = conv(inner, inner, 3, stride, norm, groups=cardinality), norm2d(norm, inner)
        self.conv3, self.bn3 = conv(inner, cout, 1, 1, norm), norm2d(norm, cout)
        self.shortcut = (
            nn.Identity()
            if cin == cout
            else nn.Sequential(conv(cin, cout, 1, stride, norm), norm2d(norm, cout))
        )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class ResNeXt(nn.Module):
    def __init__(
        self, depth: int, cardinality: int, base_width: int, num_classes: int = 10, norm: str = "batch"
    ):
        super().__init__()
        n, rest = divmod(depth - 2, 9)
        if rest or n < 1:
            raise ValueError(f"depth must be 9n+2, got {depth}")
        self.stem = nn.Sequential(conv(3, 64, 3, 1, norm), norm2d(norm, 64), nn.ReLU(inplace=True))
        # The grouped conv is `cardinality` groups of base_width channels, doubling with the output width.
        self.stages, cin = make_stages(
            (256, 512, 1024),
            (n, n, n),
            64,
            lambda cin, cout, stride: ResNeXtBlock(
                cin, cout, cardinality * base_width * cout // 256, cardinality, stride, norm
            ),
        )
        self.head = Classifier(cin, num_classes)
        init_weights(self, norm)

    def forward(self, x):
        return self.head(self.stages(self.stem(x)))
