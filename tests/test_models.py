import pytest
import torch
import torch.nn as nn

from resnet.models import MODELS, count_parameters, create_model, list_models
from resnet.models.table import MODEL_STATS, measure_model

# Parameter counts (10 classes) of the reference implementations the published tables were made with:
# akamaster/pytorch_resnet_cifar10 prints 269722 ... 19421274 for option-A ResNets; bearpaw's README
# lists ResNet-110 1.70M (its depth-110 code built 18 bottlenecks per stage = resnet164 here),
# PreResNet-110 1.70M (= preresnet164), WRN-28-10 36.48M, ResNeXt-29 8x64d 34.43M / 16x64d 68.16M,
# DenseNet-BC 0.77M / 25.62M, VGG19-BN 20.04M; kuangliu's ResNet-18/34/50/101 the usual 11.17M ... 42.51M.
REFERENCE_PARAMS = {
    "resnet18": 11_173_962,
    "resnet34": 21_282_122,
    "resnet50": 23_520_842,
    "resnet101": 42_512_970,
    "resnet20": 269_722,
    "resnet32": 464_154,
    "resnet44": 658_586,
    "resnet56": 853_018,
    "resnet110": 1_727_962,
    "resnet1202": 19_421_274,
    "resnet20_b": 272_474,
    "resnet56_b": 855_770,
    "resnet110_b": 1_730_714,
    "resnet164": 1_704_154,
    "resnet1001": 10_328_602,
    "preresnet110": 1_730_522,
    "preresnet164": 1_703_258,
    "preresnet1001": 10_327_706,
    "wrn16_4": 2_748_890,
    "wrn16_8": 10_961_370,
    "wrn28_10": 36_479_194,
    "wrn40_2": 2_243_546,
    "wrn40_4": 8_949_210,
    "resnext29_8x64d": 34_426_698,
    "resnext29_16x64d": 68_155_210,
    "densenet_bc_100_12": 769_162,
    "densenet_bc_190_40": 25_624_430,
    "vgg11_bn": 9_231_114,
    "vgg13_bn": 9_416_010,
    "vgg16_bn": 14_728_266,
    "vgg19_bn": 20_040_522,
}
PUBLISHED_MILLIONS = {
    "resnet164": 1.70,
    "preresnet164": 1.70,
    "wrn28_10": 36.48,
    "resnext29_8x64d": 34.43,
    "resnext29_16x64d": 68.16,
    "densenet_bc_100_12": 0.77,
    "densenet_bc_190_40": 25.62,
    "vgg19_bn": 20.04,
    "resnet20": 0.27,
    "resnet56": 0.85,
    "resnet1202": 19.4,
}
# A real forward for the families' small members (the meta-device test covers every model's shapes).
SMALL = [
    "resnet8",
    "resnet20",
    "resnet20_b",
    "resnet56",
    "resnet164",
    "preresnet110",
    "wrn16_4",
    "densenet_bc_100_12",
    "vgg11_bn",
    "resnet18",
    "resnext29_8x64d",
]


def meta_model(name, **kwargs):
    with torch.device("meta"):
        return create_model(name, **kwargs)


@pytest.mark.parametrize("name", list(MODELS))
def test_the_model_table_is_exact(name):
    """--list-models and cost estimates read MODEL_STATS; it must equal the real models, FLOPs included."""
    assert measure_model(name) == MODEL_STATS[name]
    if name in REFERENCE_PARAMS:
        assert MODEL_STATS[name][0] == REFERENCE_PARAMS[name]


def test_counts_round_to_the_published_tables():
    for name, millions in PUBLISHED_MILLIONS.items():
        digits = 1 if name == "resnet1202" else 2
        assert round(REFERENCE_PARAMS[name] / 1e6, digits) == millions, name


def test_every_registered_model_is_listed_and_covered():
    assert list_models() == list(MODELS) and set(MODEL_STATS) == set(MODELS)
    assert set(REFERENCE_PARAMS) | {
        "resnet8",
        "resnet11",
        "resnet14",
        "resnet32_b",
        "resnet44_b",
        "resnet1202_b",
    } == set(MODELS)


@pytest.mark.parametrize(
    "name",
    [
        "resnet8",
        "resnet11",
        "resnet18",
        "resnet50",
        "preresnet164",
        "wrn16_4",
        "resnext29_8x64d",
        "densenet_bc_100_12",
        "vgg11_bn",
    ],
)
def test_every_family_maps_images_to_logits_with_and_without_bn(name):
    for norm in ("batch", "none"):
        with torch.device("meta"):
            model = create_model(name, num_classes=100, norm=norm).eval()
            assert model(torch.empty(2, 3, 32, 32)).shape == (2, 100)
        has_bn = any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        assert has_bn == (norm == "batch")


@pytest.mark.parametrize("name", SMALL)
def test_real_forward_is_finite_with_and_without_bn(name):
    torch.manual_seed(0)
    for norm in ("batch", "none"):
        model = create_model(name, num_classes=100, norm=norm).eval()
        with torch.no_grad():
            out = model(torch.randn(2, 3, 32, 32))
        assert out.shape == (2, 100) and torch.isfinite(out).all()


def test_conv_bias_only_where_no_bn_follows():
    with_bn = create_model("resnet20")
    assert all(m.bias is None for m in with_bn.modules() if isinstance(m, nn.Conv2d))
    without = create_model("resnet20", norm="none")
    assert all(m.bias is not None for m in without.modules() if isinstance(m, nn.Conv2d))
    bn = [m for m in with_bn.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.all(m.weight == 1) and torch.all(m.bias == 0) for m in bn)


def test_without_bn_every_residual_block_starts_as_identity():
    model = create_model("resnet20", norm="none").eval()
    block = model.stages[0][1]  # identity shortcut: out = relu(x + branch(x)) = relu(x) at init
    x = torch.randn(2, 16, 32, 32)
    assert torch.equal(block(x), torch.relu(x))
    for name in ("resnet18", "preresnet164", "wrn16_4", "resnext29_8x64d"):
        ends = [
            getattr(m, m.branch_end)
            for m in meta_model(name, norm="none").modules()
            if getattr(m, "branch_end", None)
        ]
        assert ends
    ends = [
        getattr(m, m.branch_end)
        for m in create_model("wrn16_4", norm="none").modules()
        if getattr(m, "branch_end", None)
    ]
    assert all(torch.all(e.weight == 0) for e in ends)


def test_option_a_shortcut_has_no_parameters_and_option_b_projects():
    a, b = create_model("resnet20"), create_model("resnet20_b")
    # B adds a 1x1 conv + BN where the width doubles: 16->32 and 32->64.
    assert count_parameters(b) - count_parameters(a) == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)
    assert not list(a.stages[1][0].shortcut.parameters())


def test_flops_are_measured_not_guessed():
    # resnet8 by hand: stem 3->16, three stages of one basic block (16, 32, 64 channels), linear 64->10.
    macs = (
        3 * 16 * 9 * 32 * 32
        + 2 * 16 * 16 * 9 * 32 * 32
        + (16 * 32 * 9 + 32 * 32 * 9) * 16 * 16
        + (32 * 64 * 9 + 64 * 64 * 9) * 8 * 8
        + 64 * 10
    )
    params, flops = measure_model("resnet8")
    assert flops == 2 * macs
    assert params == count_parameters(create_model("resnet8"))


def test_unknown_model_and_bad_depth_are_clear():
    with pytest.raises(ValueError, match="unknown model 'resnet21' .*valid: resnet18"):
        create_model("resnet21")
    from resnet.models.resnet import cifar_resnet

    with pytest.raises(ValueError, match="depth must be 6n\\+2 for basic blocks, got 21"):
        cifar_resnet(21)
