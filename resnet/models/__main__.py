"""`python -m resnet.models`: every registered model with its parameters and forward MFLOPs per image."""
from __future__ import annotations

import sys

import torch
from torch.utils.flop_counter import FlopCounterMode

from resnet.models.registry import MODELS, count_parameters, create_model


def describe_model(name: str, num_classes: int = 10) -> dict:
    """Parameters and forward FLOPs for one 32x32 image, measured on the meta device (no compute).

    FlopCounterMode counts a multiply-add as 2 FLOPs and only convs/matmuls (not BN, ReLU, pooling).
    """
    with torch.device("meta"):
        model = create_model(name, num_classes=num_classes).eval()
        with FlopCounterMode(display=False) as counter:
            model(torch.empty(1, 3, 32, 32))
    return {"model": name, "params": count_parameters(model), "mflops": counter.get_total_flops() / 1e6,
            "reference": MODELS[name].reference}


def print_model_table(file=None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="CIFAR models (10 classes; MFLOPs: forward, one 32x32 image, multiply-add = 2)")
    for column, justify in (("model", "left"), ("params", "right"), ("MFLOPs", "right"), ("matches", "left")):
        table.add_column(column, justify=justify)
    for name in MODELS:
        row = describe_model(name)
        table.add_row(name, f"{row['params']:,}", f"{row['mflops']:,.1f}", row["reference"])
    Console(file=file or sys.stdout, width=120).print(table)


if __name__ == "__main__":
    print_model_table()
