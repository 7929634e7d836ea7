import argparse
import json

import pytest
from pydantic import ValidationError

from resnet.config import ConfigError, TrainConfig, add_config_arguments, config_flags, config_overrides


def test_defaults_are_the_baseline():
    c = TrainConfig()
    assert (c.model, c.dataset, c.epochs, c.batch_size, c.lr, c.momentum) == ("resnet18", "cifar10", 200, 128, 0.1, 0.9)
    assert (c.nesterov, c.weight_decay, c.lr_schedule, c.milestones, c.gamma) == (False, 5e-4, "multistep", (0.5, 0.75), 0.1)
    assert (c.warmup_epochs, c.label_smoothing, c.norm, c.crop, c.flip, c.cutout, c.random_erasing) == (0, 0, "batch", True, True, 0, 0)
    assert (c.amp, c.compile) == (None, False)  # amp: auto (bf16 on CUDA); compile: opt-in
    assert c.num_classes == 10


def test_num_classes_follows_the_dataset():
    assert TrainConfig(dataset="cifar100").num_classes == 100
    assert TrainConfig().with_overrides(dataset="cifar100").num_classes == 100
    with pytest.raises(ConfigError, match="num_classes is 100 for cifar100, got 10"):
        TrainConfig.from_dict({"dataset": "cifar100", "num_classes": 10})


def test_json_round_trip_is_exact_and_hash_is_stable():
    c = TrainConfig(model="resnet56", lr_schedule="cosine", milestones=["81/164", "122/164"], seed=7, cutout=16)
    again = TrainConfig.from_dict(json.loads(c.to_json()))
    assert again == c
    assert again.to_json() == c.to_json()
    assert again.short_hash() == c.short_hash() and len(c.short_hash()) == 8
    assert c.milestones == (81 / 164, 122 / 164)


def test_hash_changes_with_what_is_trained_not_where_data_lives():
    c = TrainConfig()
    assert c.with_overrides(lr=0.05).short_hash() != c.short_hash()
    assert c.with_overrides(seed=1).short_hash() != c.short_hash()
    assert c.with_overrides(data_dir="/elsewhere").short_hash() == c.short_hash()


@pytest.mark.parametrize("overrides, message", [
    ({"lr": -1}, "lr: Input should be greater than 0 (got -1)"),
    ({"batch_size": 0}, "batch_size: Input should be greater than or equal to 2 (got 0)"),
    ({"epochs": 0}, "epochs: Input should be greater than or equal to 1 (got 0)"),
    ({"milestones": [0.5, 1.0]}, "each milestone must be a fraction of the run in (0, 1), got [0.5, 1.0]"),
    ({"milestones": [0.75, 0.5]}, "milestones must be strictly increasing"),
    ({"momentum": 1.0}, "momentum: Input should be less than 1"),
    ({"warmup_epochs": 10, "epochs": 10}, "warmup_epochs must be below epochs (10)"),
    ({"nesterov": True, "momentum": 0}, "nesterov needs momentum > 0"),
    ({"dropout": 0.3}, "resnet18 has no dropout; dropout works with: densenet_bc_100_12"),
    ({"model": "resnet19"}, "unknown model 'resnet19' (did you mean resnet18?); valid: resnet18, resnet34"),
    ({"dataset": "imagenet"}, "dataset: Input should be 'cifar10', 'cifar100' or 'synthetic' (got 'imagenet')"),
    ({"learning_rate": 0.1}, "unknown field 'learning_rate' (known fields: model, dataset"),
])
def test_invalid_configs_name_the_field_and_the_constraint(overrides, message):
    with pytest.raises(ConfigError) as err:
        TrainConfig.from_dict(overrides)
    text = str(err.value)
    assert message in text
    assert "\n" not in text and text.startswith("invalid config: ")


def test_config_is_immutable():
    with pytest.raises(ValidationError, match="frozen"):
        TrainConfig().lr = 0.5


def test_flags_mirror_the_fields_and_round_trip():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    args = parser.parse_args("--lr 0.01 --no-batchnorm --milestones 81/164 0.9 --no-flip --amp --epochs 3 "
                             "--lr-schedule cosine --model resnet20".split())
    overrides = config_overrides(args)
    assert overrides == {"lr": 0.01, "norm": "none", "milestones": ["81/164", "0.9"], "flip": False, "amp": True,
                         "epochs": 3, "lr_schedule": "cosine", "model": "resnet20"}
    again = config_overrides(parser.parse_args(config_flags(overrides)))
    assert TrainConfig.from_dict(again) == TrainConfig.from_dict(overrides)
    assert config_overrides(parser.parse_args([])) == {}  # absent flags leave the preset alone
