import argparse
import json

import pytest
from pydantic import ValidationError

from resnet.cli.config_flags import add_config_arguments, config_overrides
from resnet.config import TrainConfig
from resnet.errors import ConfigError


def test_defaults_are_the_baseline():
    c = TrainConfig()
    assert (c.model, c.dataset, c.epochs, c.batch_size, c.lr, c.momentum, c.weight_decay) == (
        "resnet18",
        "cifar10",
        200,
        128,
        0.1,
        0.9,
        5e-4,
    )
    assert (c.lr_schedule, c.milestones, c.gamma, c.norm, c.val_size) == (
        "multistep",
        (0.5, 0.75),
        0.1,
        "batch",
        0,
    )
    assert (c.amp, c.compile) == (None, False)
    assert c.num_classes == 10


def test_num_classes_is_computed_from_the_dataset():
    assert TrainConfig(dataset="cifar100").num_classes == 100
    assert TrainConfig().with_overrides(dataset="cifar100").num_classes == 100
    assert (
        TrainConfig.from_dict({"dataset": "cifar100", "num_classes": 100}).num_classes == 100
    )  # recorded configs
    with pytest.raises(ConfigError, match="num_classes is 100 for cifar100, got 10"):
        TrainConfig.from_dict({"dataset": "cifar100", "num_classes": 10})
    with pytest.raises(ConfigError, match="dataset: Input should be 'cifar10', 'cifar100' or 'synthetic'"):
        TrainConfig.from_dict({"dataset": {}, "num_classes": 10})  # an edited record: unhashable


def test_json_round_trip_is_exact_and_hash_is_stable():
    c = TrainConfig(
        model="resnet56", lr_schedule="cosine", milestones=["81/164", "122/164"], seed=7, cutout=16
    )
    again = TrainConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c and again.short_hash() == c.short_hash() and len(c.short_hash()) == 8
    assert c.milestones == (81 / 164, 122 / 164)
    assert TrainConfig.from_dict(c.compact()) == c


def test_amp_auto_as_printed_is_the_default():
    """Tables and --list print amp's default as 'auto': a suite or --grid that writes it back gets it."""
    assert TrainConfig.from_dict({"amp": "auto"}) == TrainConfig() and TrainConfig(amp="AUTO").amp is None
    assert TrainConfig.from_dict({"amp": "false"}).amp is False


def test_a_data_dir_under_home_is_the_home_directorys(tmp_path, monkeypatch):
    """`data_dir = "~/datasets"` in a suite file: no shell expands it, and a literal ~ directory in the
    project would receive the 170 MB download."""
    monkeypatch.setenv("HOME", str(tmp_path))
    assert TrainConfig(data_dir="~/datasets").data_dir == str(tmp_path / "datasets")
    assert TrainConfig(data_dir="data/~x").data_dir == "data/~x"  # a ~ inside a name is a name


def test_identity_is_what_differs_from_the_defaults():
    c = TrainConfig(lr=0.05, epochs=10, data_dir="/elsewhere", seed=3)
    assert c.identity() == {"lr": 0.05, "epochs": 10, "seed": 3}
    assert c.compact() == {"lr": 0.05, "epochs": 10, "seed": 3, "data_dir": "/elsewhere"}
    assert c.short_hash() != TrainConfig(lr=0.05, epochs=10, seed=4).short_hash()
    assert (
        c.arm_hash() == TrainConfig(lr=0.05, epochs=10, seed=4).arm_hash()
    )  # an arm is a config without its seed
    assert (
        c.short_hash() == c.with_overrides(data_dir="data").short_hash()
    )  # where the data lives is not identity
    assert (
        TrainConfig(lr=0.1).short_hash() == TrainConfig().short_hash()
    )  # a default spelled out changes nothing


def test_a_new_field_whose_default_keeps_behaviour_leaves_every_hash_unchanged():
    from pydantic import Field, create_model

    import resnet.config as config_module

    before = {
        name: TrainConfig(**kw).short_hash()
        for name, kw in {
            "default": {},
            "cosine": {"lr_schedule": "cosine"},
            "seeded": {"seed": 5, "epochs": 3},
        }.items()
    }
    grown = create_model("GrownConfig", __base__=TrainConfig, mixup_alpha=(float, Field(0.0, ge=0)))
    original_defaults = config_module.default_values
    config_module.default_values = lambda: grown().to_dict()  # the defaults of the grown schema
    try:
        after = {
            name: grown(**kw).short_hash()
            for name, kw in {
                "default": {},
                "cosine": {"lr_schedule": "cosine"},
                "seeded": {"seed": 5, "epochs": 3},
            }.items()
        }
        assert grown(mixup_alpha=0.2).short_hash() != after["default"]  # the new field counts once it is used
    finally:
        config_module.default_values = original_defaults
    assert after == before


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"lr": -1}, "lr: Input should be greater than 0 (got -1)"),
        ({"lr": float("nan")}, "lr: Input should be a finite number (got nan)"),
        ({"weight_decay": float("inf")}, "weight_decay: Input should be a finite number (got inf)"),
        ({"batch_size": 0}, "batch_size: Input should be greater than or equal to 2 (got 0)"),
        ({"epochs": 0}, "epochs: Input should be greater than or equal to 1 (got 0)"),
        (
            {"milestones": [0.5, 1.0]},
            "each milestone must be a fraction of the run in (0, 1), got [0.5, 1.0]",
        ),
        ({"milestones": ["81/0"]}, "milestones must be numbers or fractions like 81/164, got ['81/0']"),
        (  # one string in a TOML file (a design's factor value, say): pydantic says only "a valid tuple"
            {"milestones": "0.5/0.75"},
            'milestones must be a list of fractions of the run, e.g. [0.5, 0.75] or ["81/164", '
            "\"122/164\"], got '0.5/0.75'",
        ),
        ({"milestones": [0.75, 0.5]}, "milestones must be strictly increasing"),
        ({"momentum": 1.0}, "momentum: Input should be less than 1"),
        ({"warmup_epochs": 10, "epochs": 10}, "warmup_epochs must be below epochs (10)"),
        ({"nesterov": True, "momentum": 0}, "nesterov needs momentum > 0"),
        ({"dropout": 0.3}, "resnet18 has no dropout; dropout works with: densenet_bc_100_12"),
        (
            {"model": "resnet19"},
            "unknown model 'resnet19' (did you mean resnet18?); valid: resnet18, resnet34",
        ),
        (
            {"dataset": "imagenet"},
            "dataset: Input should be 'cifar10', 'cifar100' or 'synthetic' (got 'imagenet')",
        ),
        (
            {"dataset": "synthetic", "batch_size": 2048},
            "batch_size 2048 is larger than the 1024 training images of synthetic",
        ),
        (
            {"dataset": "synthetic", "val_size": 1000, "batch_size": 64},
            "batch_size 64 is larger than the 24 training images",
        ),
        ({"val_size": 50_000}, "val_size must be below the 50000 training images of cifar10"),
        ({"epochs": True}, "epochs: must be a number, got true"),  # pydantic alone trains 1 epoch
        ({"lr": False}, "lr: must be a number, got false"),
        ({"data_dir": "d" * 256}, "data_dir: a name in the path is 256 bytes (dddd"),  # ENAMETOOLONG later
        ({"amp": "fast"}, "amp: must be true, false or auto, got 'fast'"),
    ],
)
def test_invalid_configs_name_the_field_and_the_constraint(overrides, message):
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict(overrides)
    text = str(err.value)
    assert message in text and "\n" not in text and text.startswith("invalid config: ")


def test_unknown_fields_list_the_known_ones_once():
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict({"learning_rate": 0.1, "descripton": "x"})
    text = str(err.value)
    assert "unknown fields 'learning_rate', 'descripton' (known fields: model, dataset" in text
    assert text.count("(known fields:") == 1


def test_config_is_immutable():
    with pytest.raises(ValidationError, match="frozen"):
        TrainConfig().lr = 0.5


def test_flags_mirror_the_fields_and_only_defined_flags_count():
    parser = argparse.ArgumentParser()
    dests = add_config_arguments(parser)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(
        [
            "--lr",
            "0.01",
            "--no-batchnorm",
            "--milestones",
            "81/164",
            "0.9",
            "--no-flip",
            "--amp",
            "--epochs",
            "3",
            "--lr-schedule",
            "cosine",
            "--model",
            "resnet20",
            "--val-size",
            "5000",
            "--resume",
        ]
    )
    args.seed_typo = 3  # a Namespace key that happens not to be a flag is never a config field
    overrides = config_overrides(args, dests)
    assert overrides == {
        "lr": 0.01,
        "norm": "none",
        "milestones": ["81/164", "0.9"],
        "flip": False,
        "amp": True,
        "epochs": 3,
        "lr_schedule": "cosine",
        "model": "resnet20",
        "val_size": 5000,
    }
    assert config_overrides(parser.parse_args([]), dests) == {}  # absent flags leave the preset alone
    assert "num_classes" not in dests  # derived, not a flag
