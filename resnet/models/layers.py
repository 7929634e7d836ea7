"""Building blocks shared by every family: conv and norm that follow `norm`, and the init."""

from __future__ import annotations

import torch.nn as nn


def norm2d(norm: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if norm == "batch" else nn.Identity()


def conv(
    cin: int, cout: int, kernel: int = 3, stride: int = 1, norm: str = "batch", groups: int = 1
) -> nn.Conv2d:
    """'Same'-padded conv. A bias is redundant next to BatchNorm, so it exists only when norm is 'none'."""
    return nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, groups=groups, bias=norm == "none")


def init_weights(model: nn.Module, norm: str) -> nn.Module:
    """Kaiming (fan-out) convs, BN weight 1 / bias 0; without BN, every residual branch starts at zero.

    Blocks name the last layer of their residual branch in `branch_end`. Zeroing it makes each block
    the identity at init (Fixup, Zhang et al. 2019), which keeps an un-normalised deep ResNet trainable.
    """
    if any(p.is_meta for p in model.parameters()):
        return model  # meta tensors hold no values (shape and FLOP counting): nothing to initialise
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if norm == "none":
        for m in model.modules():
            branch_end = getattr(m, "branch_end", None)
            if isinstance(branch_end, str):
                last = getattr(m, branch_end)
                nn.init.zeros_(last.weight)
                if last.bias is not None:
                    nn.init.zeros_(last.bias)
    return model


def make_stages(widths, blocks_per_stage, cin: int, make_block) -> tuple[nn.Sequential, int]:
    """Stages of blocks, one stage per width; the first block of every stage but the first halves the
    resolution. `make_block(cin, width, stride)` returns a block that knows its `out_channels`."""
    stages = []
    for i, (width, count) in enumerate(zip(widths, blocks_per_stage, strict=True)):
        blocks = []
        for j in range(count):
            blocks.append(make_block(cin, width, 2 if i > 0 and j == 0 else 1))
            cin = blocks[-1].out_channels
        stages.append(nn.Sequential(*blocks))
    return nn.Sequential(*stages), cin


class Classifier(nn.Sequential):
    """Global average pooling and a linear layer: the head of every family but VGG."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))
