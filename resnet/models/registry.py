"""The model registry: every name, the family file that builds it and its arguments.

Kept free of torch so that configs and the sweep CLI can check model names instantly;
`create_model` imports the family module only when a model is built.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    family: str  # module in resnet.models
    builder: str  # class or function in that module
    kwargs: dict[str, Any] = field(default_factory=dict)
    reference: str = ""  # whose parameter count this reproduces
    dropout: bool = False  # whether the family takes a dropout rate


AKAMASTER = "akamaster/pytorch_resnet_cifar10 (option A)"
BEARPAW = "bearpaw/pytorch-classification"
KUANGLIU = "kuangliu/pytorch-cifar"


def _he_resnets() -> dict[str, ModelSpec]:
    """He et al.'s 3-stage CIFAR ResNets: 6n+2 with basic blocks (option A or B), 9n+2 bottleneck."""
    specs = {}
    specs["resnet8"] = ModelSpec(
        "resnet", "cifar_resnet", {"depth": 8, "shortcut": "A"}, "He et al. 6n+2 with n=1"
    )
    specs["resnet14"] = ModelSpec(
        "resnet", "cifar_resnet", {"depth": 14, "shortcut": "A"}, "He et al. 6n+2 with n=2"
    )
    specs["resnet11"] = ModelSpec(
        "resnet", "cifar_resnet", {"depth": 11, "bottleneck": True}, "He et al. 9n+2 bottleneck with n=1"
    )
    for depth in (20, 32, 44, 56, 110, 1202):
        specs[f"resnet{depth}"] = ModelSpec(
            "resnet", "cifar_resnet", {"depth": depth, "shortcut": "A"}, AKAMASTER
        )
        specs[f"resnet{depth}_b"] = ModelSpec(
            "resnet", "cifar_resnet", {"depth": depth, "shortcut": "B"}, f"{BEARPAW} (BasicBlock)"
        )
    for depth in (164, 1001):
        specs[f"resnet{depth}"] = ModelSpec(
            "resnet", "cifar_resnet", {"depth": depth, "bottleneck": True}, f"{BEARPAW} (Bottleneck)"
        )
    return specs


MODELS: dict[str, ModelSpec] = {
    # 4-stage ImageNet ResNets with the CIFAR stem (3x3 conv, stride 1, no max-pool).
    "resnet18": ModelSpec("resnet", "ResNet", {"block": "basic", "layers": (2, 2, 2, 2)}, KUANGLIU),
    "resnet34": ModelSpec("resnet", "ResNet", {"block": "basic", "layers": (3, 4, 6, 3)}, KUANGLIU),
    "resnet50": ModelSpec("resnet", "ResNet", {"block": "bottleneck", "layers": (3, 4, 6, 3)}, KUANGLIU),
    "resnet101": ModelSpec("resnet", "ResNet", {"block": "bottleneck", "layers": (3, 4, 23, 3)}, KUANGLIU),
    **_he_resnets(),
    "preresnet110": ModelSpec("preresnet", "PreResNet", {"depth": 110}, f"{BEARPAW} (BasicBlock)"),
    "preresnet164": ModelSpec(
        "preresnet", "PreResNet", {"depth": 164, "bottleneck": True}, f"{BEARPAW} (Bottleneck)"
    ),
    "preresnet1001": ModelSpec(
        "preresnet", "PreResNet", {"depth": 1001, "bottleneck": True}, f"{BEARPAW} (Bottleneck)"
    ),
    **{
        f"wrn{d}_{k}": ModelSpec("wrn", "WideResNet", {"depth": d, "widen": k}, BEARPAW, dropout=True)
        for d, k in ((16, 4), (16, 8), (28, 10), (40, 2), (40, 4))
    },
    "resnext29_8x64d": ModelSpec(
        "resnext", "ResNeXt", {"depth": 29, "cardinality": 8, "base_width": 64}, BEARPAW
    ),
    "resnext29_16x64d": ModelSpec(
        "resnext", "ResNeXt", {"depth": 29, "cardinality": 16, "base_width": 64}, BEARPAW
    ),
    "densenet_bc_100_12": ModelSpec(
        "densenet", "DenseNetBC", {"depth": 100, "growth": 12}, BEARPAW, dropout=True
    ),
    "densenet_bc_190_40": ModelSpec(
        "densenet", "DenseNetBC", {"depth": 190, "growth": 40}, BEARPAW, dropout=True
    ),
    **{f"vgg{d}_bn": ModelSpec("vgg", "VGG", {"depth": d}, BEARPAW) for d in (11, 13, 16, 19)},
}


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def list_models() -> list[str]:
    return list(MODELS)


def unknown_name_message(kind: str, name: str, valid, where: str = "") -> str:
    """'unknown model 'resnt18' (did you mean resnet18?); valid: ...' — shared by every name lookup."""
    valid = list(valid)
    lowered = {v.lower(): v for v in valid}  # COSINE, ResNet-18: the case and the dashes differ
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1)
    hint = f" (did you mean {lowered[close[0]]}?)" if close else ""
    return f"unknown {kind} '{name}'{where}{hint}; valid: {', '.join(valid)}"


def create_model(name: str, num_classes: int = 10, norm: str = "batch", dropout: float = 0.0):
    """Build a registered model: create_model("resnet56", num_classes=100, norm="none")."""
    if name not in MODELS:
        raise ValueError(unknown_name_message("model", name, MODELS))
    if norm not in ("batch", "none"):
        raise ValueError(f"norm must be 'batch' or 'none', got {norm!r}")
    spec = MODELS[name]
    builder = getattr(importlib.import_module(f"resnet.models.{spec.family}"), spec.builder)
    extra = {"dropout": dropout} if spec.dropout else {}
    if dropout and not spec.dropout:
        raise ValueError(f"{name} has no dropout")
    return builder(**spec.kwargs, num_classes=num_classes, norm=norm, **extra)
