"""Wide ResNets WRN-d-k (Zagoruyko & Komodakis 2016), as in bearpaw/pytorch-classification (from xternalz).

Pre-activation basic blocks on 16k/32k/64k channels, n = (d-4)/6 per stage, dropout between the two
convs. Where the width changes, the 1x1 shortcut conv sees the pre-activated input, as in the reference.
"""

from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F

from resnet.models.layers import Classifier, conv, init_weights, make_stages, norm2d


class WideBlock(nn.Module):
    branch_end = "conv2"

    def __init__(self, cin: int, cout: int, stride: int, dropout: float, norm: str):
        super().__init__()
        self.out_channels = cout
        self.bn1, self.conv1 = norm2d(norm, cin), conv(cin, cout, 3, stride, norm)
        self.bn2, self.conv2 = norm2d(norm, cout), conv(cout, cout, 3, 1, norm)
        self.dropout = dropout
        self.shortcut = None if cin == cout else conv(cin, cout, 1, stride, norm)

    def forward(self, x):
        pre = F.relu(self.bn1(x))
        out = F.relu(self.bn2(self.conv1(pre)))
        out = self.conv2(F.dropout(out, self.dropout, self.training))
        return out + (x if self.shortcut is None else self.shortcut(pre))


class WideResNet(nn.Module):
    def __init__(
        self, depth: int, widen: int, num_classes: int = 10, norm: str = "batch", dropout: float = 0.0
    ):
        super().__init__()
        n, rest = divmod(depth - 4, 6)
        if rest or n < 1:
            raise ValueError(f"depth must be 6n+4, got {depth}")
        self.stem = conv(3, 16, 3, 1, norm)
        self.stages, cin = make_stages(
            (16 * widen, 32 * widen, 64 * widen),
            (n, n, n),
            16,
            lambda cin, width, stride: WideBlock(cin, width, stride, dropout, norm),
        )
        self.final = nn.Sequential(norm2d(norm, cin), nn.ReLU(inplace=True))
        self.head = Classifier(cin, num_classes)
        init_weights(self, norm)

    def forward(self, x):
        return self.head(self.final(self.stages(self.stem(x))))
