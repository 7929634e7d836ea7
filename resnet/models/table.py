"""The zoo at a glance: parameters and forward FLOPs of every model, without building any.

`MODEL_STATS` is measured (`measure_model`) and checked against the real models by a test, so
`train_cifar.py --list-models` and the sweep's cost estimates answer instantly and stay exact.
FLOPs are those of torch.utils.flop_counter.FlopCounterMode for one 32x32 image, 10 classes, with BN:
convs and matmuls only, a multiply-add counts 2.
"""

from __future__ import annotations

import sys
from typing import TextIO

from resnet.models.registry import MODELS

# name: (parameters, forward FLOPs per image), 10 classes, norm="batch"
MODEL_STATS: dict[str, tuple[int, int]] = {
    "resnet18": (11_173_962, 1_110_845_440),
    "resnet34": (21_282_122, 2_318_804_992),
    "resnet50": (23_520_842, 2_595_659_776),
    "resnet101": (42_512_970, 5_019_967_488),
    "resnet8": (75_290, 24_478_976),
    "resnet14": (172_506, 52_790_528),
    "resnet11": (127_642, 40_735_744),
    "resnet20": (269_722, 81_102_080),
    "resnet20_b": (272_474, 81_626_368),
    "resnet32": (464_154, 137_725_184),
    "resnet32_b": (466_906, 138_249_472),
    "resnet44": (658_586, 194_348_288),
    "resnet44_b": (661_338, 194_872_576),
    "resnet56": (853_018, 250_971_392),
    "resnet56_b": (855_770, 251_495_680),
    "resnet110": (1_727_962, 505_775_360),
    "resnet110_b": (1_730_714, 506_299_648),
    "resnet1202": (19_421_274, 5_658_477_824),
    "resnet1202_b": (19_424_026, 5_659_002_112),
    "resnet164": (1_704_154, 495_293_440),
    "resnet1001": (10_328_602, 2_981_991_424),
    "preresnet110": (1_730_522, 506_299_648),
    "preresnet164": (1_703_258, 495_293_440),
    "preresnet1001": (10_327_706, 2_981_991_424),
    "wrn16_4": (2_748_890, 785_224_704),
    "wrn16_8": (10_961_370, 3_096_291_328),
    "wrn28_10": (36_479_194, 10_486_657_536),
    "wrn40_2": (2_243_546, 655_198_720),
    "wrn40_4": (8_949_210, 2_597_164_032),
    "resnext29_8x64d": (34_426_698, 10_774_532_096),
    "resnext29_16x64d": (68_155_210, 21_377_732_608),
    "densenet_bc_100_12": (769_162, 575_859_384),
    "densenet_bc_190_40": (25_624_430, 18_603_891_480),
    "vgg11_bn": (9_231_114, 305_539_072),
    "vgg13_bn": (9_416_010, 456_534_016),
    "vgg16_bn": (14_728_266, 626_403_328),
    "vgg19_bn": (20_040_522, 796_272_640),
}


def measure_model(name: str, num_classes: int = 10, norm: str = "batch") -> tuple[int, int]:
    """(parameters, forward FLOPs for one 32x32 image) of the real model. It is built on the meta device and
    materialised uninitialised on the CPU: counting needs the shapes, not the values."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from resnet.models.registry import count_parameters, create_model

    with torch.device("meta"):
        model = create_model(name, num_classes=num_classes, norm=norm).eval()
    model = model.to_empty(device="cpu")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, 32, 32))
    return count_parameters(model), counter.get_total_flops()


def print_model_table(file: TextIO | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="CIFAR models (10 classes; MFLOPs: forward, one 32x32 image, multiply-add = 2)")
    for column, justify in (("model", "left"), ("params", "right"), ("MFLOPs", "right"), ("matches", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for name, spec in MODELS.items():
        params, flops = MODEL_STATS[name]
        table.add_row(name, f"{params:,}", f"{flops / 1e6:,.1f}", spec.reference)
    Console(file=file or sys.stdout, width=120).print(table)
