"""Designs and plans: factorial, zip and one-at-a-time arms; tuning; run dirs; the command a run gets."""

import json

import pytest

from resnet.config import TrainConfig
from resnet.designs import parse_design, parse_grid
from resnet.errors import PresetError
from resnet.files import write_json
from resnet.plan import Selection, make_plan
from resnet.presets import load_suite
from resnet.tuning import Tune, parse_tune, parse_tune_flag
from tests.conftest import sweep_main

BASE = """
description = "designs"
[base]
model = "resnet8"
dataset = "synthetic"
batch_size = 64
epochs = 1
val_size = 128
[presets.base]
description = "the base"
"""


def suite_with(tmp_path, extra=""):
    path = tmp_path / "des.toml"
    path.write_text(BASE + extra)
    return load_suite(path)


def names(design, start=None):
    start = start or TrainConfig(model="resnet8", dataset="synthetic")
    return [arm.name for arm in design.arms(start, "here")]


def test_factorial_zip_and_one_at_a_time_arms():
    factorial = parse_design(
        {
            "factors": {"lr_schedule": ["multistep", "cosine"], "norm": ["batch", "none"]},
            "exclude": [{"norm": "none", "lr_schedule": "cosine"}],
        },
        "here",
    )
    assert names(factorial) == [
        "lr_schedule=multistep,norm=batch",
        "lr_schedule=multistep,norm=none",
        "lr_schedule=cosine,norm=batch",
    ]
    zipped = parse_design(
        {"kind": "zip", "factors": {"batch_size": [64, 128, 256], "lr": [0.05, 0.1, 0.2]}}, "here"
    )
    assert names(zipped) == ["batch_size=64,lr=0.05", "batch_size=128,lr=0.1", "batch_size=256,lr=0.2"]
    arms = zipped.arms(TrainConfig(), "here")
    assert [(a.config.batch_size, a.config.lr) for a in arms] == [(64, 0.05), (128, 0.1), (256, 0.2)]
    one = parse_design({"kind": "one_at_a_time", "factors": {"lr": [0.1, 0.05], "norm": ["none"]}}, "here")
    assert names(one) == [
        "base",
        "lr=0.05",
        "norm=none",
    ]  # lr=0.1 is the start's own value: no arm of its own
    start = parse_design({"kind": "one_at_a_time", "factors": {"lr": [0.05]}, "from": "cosine"}, "here")
    assert names(start) == ["cosine", "lr=0.05"]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"factors": {"lrr": [0.1]}}, "unknown factor 'lrr' (did you mean lr?)"),
        ({"factors": {"seed": [0, 1]}}, "seed is not a factor: every arm runs the sweep's --seeds"),
        (
            {"kind": "latin", "factors": {"lr": [0.1]}},
            "design kind must be one of factorial, zip, one_at_a_time",
        ),
        (
            {"kind": "zip", "factors": {"lr": [0.1, 0.2], "norm": ["none"]}},
            "same number of values for every factor (lr: 2, norm: 1)",
        ),
        ({"factors": {"lr": []}}, "factor 'lr' needs a non-empty list of values"),
        (
            {"factors": {"lr": [0.1]}, "exclude": [{"norm": "none"}]},
            "exclude names 'norm', which is not a factor",
        ),
        ({"factors": {"lr": [0.1]}, "levels": 3}, "unknown keys ['levels'] in [design]"),
        (
            {"factors": {"lr": [0.1]}, "from": ["a"]},
            "[design] from must be a preset name in quotes, got ['a']",
        ),
        (5, "[design] must be a table with kind and factors"),
        ({"kind": "factorial"}, "[design] needs factors = { field = [values], ... }"),
        ({"factors": {"lr": [0.1]}, "exclude": {"lr": 0.1}}, "exclude must be a list of tables like"),
        ({"factors": {"lr": [0.1]}, "exclude": [{}]}, "exclude must be a list of tables like"),
    ],
)
def test_bad_designs_are_one_line(data, message):
    with pytest.raises(PresetError) as err:
        parse_design(data, "suite.toml")
    assert message in str(err.value) and str(err.value).startswith("suite.toml: ")


def test_an_exclude_list_that_removes_every_arm_is_one_line():
    design = parse_design({"factors": {"lr": [0.05, 0.1]}, "exclude": [{"lr": 0.05}, {"lr": 0.1}]}, "s")
    with pytest.raises(PresetError, match="^here: the design's exclude list removes every arm$"):
        names(design)


def test_an_invalid_combination_is_named_before_anything_runs():
    design = parse_grid(["model=resnet18,wrn16_4", "dropout=0,0.3"])
    with pytest.raises(
        PresetError,
        match=r"design arm 'model=resnet18,dropout=0.3': invalid config: .*resnet18 has no dropout",
    ):
        design.arms(TrainConfig(), "--grid")
    design = parse_grid(["milestones=0.5+0.75,1/2+1/0"])  # named as typed: not '1+2+1+0', a list of four
    with pytest.raises(PresetError, match=r"design arm 'milestones=1/2\+1/0': invalid config: milestones"):
        design.arms(TrainConfig(), "--grid")
    design = parse_grid(["lr=0.1,0.10"])
    with pytest.raises(PresetError, match="design arms 'lr=0.1' and 'lr=0.1' are the same config"):
        design.arms(TrainConfig(), "--grid")
    with pytest.raises(PresetError, match="--grid takes FIELD=VALUE,VALUE...; got 'lr'"):
        parse_grid(["lr"])
    with pytest.raises(PresetError, match="--grid takes FIELD=VALUE,VALUE...; got '=1,2'"):
        parse_grid(["=1,2"])
    with pytest.raises(PresetError, match="factor 'lr' given twice; list its values once"):
        parse_grid(["lr=0.1", "norm=none", "lr=0.2"])
    for item in ("lr=0.1,", "lr=,0.1", "lr=0.1,,0.2"):  # not one value, silently
        with pytest.raises(PresetError, match=f"--grid: '{item}' has an empty value; list values as lr=V1"):
            parse_grid([item])


def test_a_design_too_large_to_be_meant_is_refused_before_it_is_expanded():
    """Ten factors of ten values: 10^10 arms, which hung the dry run as it expanded them."""
    fields = ["lr", "momentum", "weight_decay", "epochs", "batch_size", "gamma", "label_smoothing"]
    grid = parse_grid([f"{name}={','.join(str(v) for v in range(2, 12))}" for name in fields])
    message = "--grid: a factorial design of 10 x 10 x 10 x 10 x 10 x 10 x 10 = 10,000,000 arms is more "
    with pytest.raises(PresetError) as err:
        grid.arms(TrainConfig(), "--grid")
    assert str(err.value).startswith(message) and "than 10,000; use fewer values" in str(err.value)


def test_a_design_from_a_preset_that_is_not_there_fails_when_the_suite_loads(tmp_path):
    design = '[design]\nfactors = { lr = [0.05, 0.2] }\nfrom = "{}"\n'
    with pytest.raises(
        PresetError, match=r"des.toml \[design\]: from = 'basee' is none of its presets \(base\)"
    ):
        suite_with(tmp_path, design.replace("{}", "basee"))
    assert suite_with(tmp_path, design.replace("{}", "base")).design.start == "base"


def test_grid_values_are_converted_by_the_config():
    design = parse_grid(["nesterov=false,true", "weight_decay=5e-4,1e-3"])
    arms = design.arms(TrainConfig(), "--grid")
    assert [a.name for a in arms][-1] == "nesterov=true,weight_decay=0.001"
    assert arms[-1].config.nesterov is True and arms[-1].config.weight_decay == 1e-3


def test_a_list_valued_factor_joins_its_items_with_plus_on_the_command_line():
    arms = parse_grid(["milestones=0.5+0.75,1/3+2/3,0.5"]).arms(TrainConfig(), "--grid")
    assert [a.config.milestones for a in arms] == [(0.5, 0.75), (1 / 3, 2 / 3), (0.5,)]
    assert [a.name for a in arms][0] == "milestones=0.5+0.75"  # the name reads back as the same value


def test_a_long_arm_name_is_cut_with_a_digest_that_keeps_it_unique():
    many = "+".join(f"0.{i:02d}" for i in range(10, 60))
    arms = parse_grid([f"milestones={many},{many[:-4]}0.99"]).arms(TrainConfig(), "--grid")
    names = [a.name for a in arms]
    assert all(len(n) == 100 for n in names) and names[0][:91] == names[1][:91] and names[0] != names[1]


def test_tune_spec():
    tune = parse_tune({"lr": [0.05, 0.1, 0.2], "seeds": [0]}, "here")
    assert (tune.param, tune.values, tune.seeds) == ("lr", (0.05, 0.1, 0.2), (0,))
    with pytest.raises(PresetError, match="tune takes exactly one parameter and seeds, got"):
        parse_tune({"lr": [0.1, 0.2], "momentum": [0.8, 0.9]}, "here")
    with pytest.raises(PresetError, match="needs a list of at least two values"):
        parse_tune({"lr": [0.1]}, "here")
    with pytest.raises(PresetError, match=r"here: tune must be a table like \{ lr = \[0.05, 0.1, 0.2\]"):
        parse_tune([0.1, 0.2], "here")
    with pytest.raises(PresetError, match=r"here: tune seeds list a seed twice \(\[0, 0\]\); list each once"):
        parse_tune({"lr": [0.1, 0.2], "seeds": [0, 0]}, "here")
    with pytest.raises(PresetError, match="tune seeds must be a list of seeds like"):
        parse_tune({"lr": [0.1, 0.2], "seeds": [True]}, "here")  # TOML's true is no seed
    for field in ("val_size", "val_split_seed", "dataset"):  # selection would compare different images
        with pytest.raises(PresetError, match=f"here: tune cannot vary {field}: it changes the images"):
            parse_tune({field: [0, 128]}, "here")


def test_tune_from_the_command_line_replaces_the_suites(tmp_path):
    suite = suite_with(tmp_path, "[tune]\nlr = [0.05, 0.1]\n")
    tune = parse_tune_flag("milestones=0.5+0.75,1/3+2/3", [0, 1])  # list values joined by '+', as in --grid
    assert tune == Tune("milestones", (["0.5", "0.75"], ["1/3", "2/3"]), (0, 1))
    args = ("--suite-file", suite.path, "--config", "base", "--runs-dir", tmp_path / "runs", "--dry-run")
    code, out, err = sweep_main(*args, "--tune", "momentum=0.8,0.95", "--tune-seeds", "1")
    assert code == 0, err
    assert "des/base/tune-momentum=0.8/seed1" in out and "des/base/tune-momentum=0.95/seed1" in out
    assert "tune-lr" not in out  # the suite's [tune] is replaced, not added to
    code, out, _ = sweep_main(*args[:-1], "--list", "--tune", "momentum=0.8,0.95")
    assert code == 0 and "tune: momentum in 0.8, 0.95 per arm on seed 0," in out
    code, out, err = sweep_main(*args, "--no-tune", "--lr", "0.3")  # the suite's [tune] skipped
    assert code == 0 and "tune-" not in out and '"lr":0.3' in out and "des/base/seed0" in out, err
    code, out, _ = sweep_main(*args[:-1], "--list", "--no-tune")
    assert code == 0 and "tune:" not in out
    for bad, message in (
        (("--tune", "lr"), "--tune takes FIELD=VALUE,VALUE,...; got 'lr'"),
        (("--tune", "lr=0.1,"), "--tune: 'lr=0.1,' has an empty value"),
        (("--tune-seeds", "1"), "--tune-seeds goes with --tune"),
        (("--tune", "lr=0.1,0.10"), "lr lists the same value twice"),
        (("--lr", "0.3"), "both set lr; tuning wins in every arm, so drop --lr (or add --no-tune)"),
        (("--tune", "lr=0.1,0.2", "--no-tune"), "give --tune or --no-tune, not both"),
    ):
        code, _, err = sweep_main(*args, *bad)
        assert code == 2 and message in err and err.count("\n") == 1, err


def test_grid_flags_without_a_grid_are_one_line_not_ignored(tmp_path):
    suite = suite_with(tmp_path, "")
    args = ("--suite-file", suite.path, "--all", "--runs-dir", tmp_path / "runs", "--dry-run")
    for flags, message in (
        (("--grid-kind", "zip"), "error: --grid-kind zip goes with --grid FIELD=V1,V2 ...\n"),
        (("--from", "base"), "error: --from PRESET goes with --grid\n"),
    ):
        code, _, err = sweep_main(*args, *flags)
        assert code == 2 and err == message


def test_an_override_of_a_factor_is_refused_as_the_table_would_claim_it(tmp_path):
    """The grid's values win, so no design arm trains at lr 0.3, while the table's header would say that
    the runs override lr=0.3."""
    suite = suite_with(tmp_path, "")
    args = ("--suite-file", suite.path, "--runs-dir", tmp_path / "runs", "--dry-run")
    code, _, err = sweep_main(*args, "--grid", "lr=0.1,0.2", "norm=batch,none", "--lr", "0.3")
    assert code == 2 and err == (
        "error: --lr 0.3 and the design's factor both set lr; the design's factor wins in every arm, so drop "
        "--lr (or vary another parameter)\n"
    )
    code, _, err = sweep_main(*args, "--grid", "norm=batch,none", "--no-batchnorm")
    assert code == 2 and "error: --norm none and the design's factor both set norm;" in err
    code, out, err = sweep_main(*args, "--grid", "lr=0.1,0.2", "--epochs", "2")  # another field: fine
    assert code == 0 and out.count("train_cifar.py") == 2, err


def test_plan_merges_a_design_arm_equal_to_a_preset_and_names_run_dirs(tmp_path):
    suite = suite_with(tmp_path, '[design]\nfactors = { lr_schedule = ["multistep", "cosine"] }\n')
    plan = make_plan(suite, Selection(None, suite.design, (), (0, 1)), tmp_path / "runs")
    assert [a.name for a in plan.arms] == ["base", "lr_schedule=cosine"]
    assert plan.arms[0].factors == (
        ("lr_schedule", "multistep"),
    )  # the preset is also the design's first cell
    assert plan.baseline == "base"  # the suite names none: a design compares with its first arm
    assert [s.run_dir.relative_to(tmp_path) for s in plan.specs][
        -1
    ].as_posix() == "runs/des/lr_schedule=cosine/seed1"


def test_presets_an_override_makes_one_config_are_one_arm_and_the_user_is_told(tmp_path):
    suite = suite_with(tmp_path, '[presets.deep]\ndescription = "deeper"\nmodel = "resnet14"\n')
    plan = make_plan(suite, Selection(None, None, (("model", "resnet8"),), (0,)), tmp_path / "runs")
    assert [a.name for a in plan.arms] == ["base"] and plan.merged == {"deep": "base"}
    assert make_plan(suite, Selection(), tmp_path / "runs").merged == {}
    args = ("--suite-file", suite.path, "--runs-dir", tmp_path / "runs", "--model", "resnet8")
    code, out, err = sweep_main(*args, "--all", "--dry-run")
    assert code == 0 and out.count("train_cifar.py") == 1
    assert "deep is the same config as base under model=resnet8: one arm, trained and reported once" in err
    code, out, _ = sweep_main(*args, "--list")  # --list shows the presets as the overrides make them
    row = next(line for line in out.splitlines() if line.startswith("│ deep")).split("│")
    assert code == 0 and row[3].strip() == "resnet8" and "same config as base" in row[5]
    assert "overrides: model=resnet8" in out and "1 arm x 1 seed = 1 run" in out


def test_an_exclude_rule_that_matches_no_arm_is_reported(tmp_path, caplog):
    """A typo in an exclude value would silently run the arm it meant to remove."""
    design = '[design]\nfactors = { lr = [0.1, 0.2], norm = ["batch", "none"] }\n'
    suite = suite_with(tmp_path, design + 'exclude = [{ lr = 0.2, norm = "none" }, { lr = 0.3 }]\n')
    assert [r.getMessage() for r in caplog.records] == [
        f"{suite.path} [design]: exclude {{ lr = 0.3 }} matches no arm; it removes nothing"
    ]
    assert len(suite.design.arms(suite.base_config(), "here")) == 3  # the first rule removed one arm


def test_a_grid_cell_equal_to_an_unselected_preset_reuses_its_name_and_run_dir(tmp_path):
    suite = suite_with(tmp_path, '[presets.fast]\ndescription = "lr 0.2"\nlr = 0.2\n')
    grid = parse_grid(["lr=0.1,0.2,0.4"])
    plan = make_plan(suite, Selection((), grid, (), (0,)), tmp_path / "runs")
    assert [a.name for a in plan.arms] == ["base", "fast", "lr=0.4"]  # finished preset runs are not retrained
    assert [a.factors for a in plan.arms] == [(("lr", 0.1),), (("lr", 0.2),), (("lr", 0.4),)]
    assert plan.arms[1].description == "lr 0.2"
    under_overrides = make_plan(suite, Selection((), grid, (("epochs", 2),), (0,)), tmp_path / "runs")
    assert [a.name for a in under_overrides.arms] == ["base", "fast", "lr=0.4"]  # the same overrides: equal


def test_a_design_compares_with_the_suites_baseline_when_it_is_an_arm(tmp_path):
    path = tmp_path / "b.toml"
    path.write_text('baseline = "base"\n' + BASE)
    suite = load_suite(path)
    plan = make_plan(suite, Selection((), parse_grid(["lr=0.2,0.1"]), (), (0,)), tmp_path / "runs")
    assert [a.name for a in plan.arms] == ["lr=0.2", "base"] and plan.baseline == "base"
    plan = make_plan(suite, Selection((), parse_grid(["lr=0.2,0.3"]), (), (0,)), tmp_path / "runs")
    assert plan.baseline == "lr=0.2"  # the suite's baseline is no arm here: the design's first


def test_a_run_gets_its_resolved_config_never_a_name_to_re_resolve(tmp_path):
    suite = suite_with(tmp_path)
    spec = make_plan(suite, Selection(("base",), None, (("epochs", 3),), (7,)), tmp_path / "runs").specs[0]
    arguments = spec.arguments()
    sent = json.loads(arguments[arguments.index("--config-json") + 1])
    assert TrainConfig.from_dict(sent) == spec.config and spec.config.epochs == 3 and spec.config.seed == 7
    assert arguments[arguments.index("--expect-hash") + 1] == spec.config.short_hash()
    assert not any("des.toml" in a or ":base" in a for a in arguments)


def finish_tuning_run(spec, val_acc):
    """A finished run as train() would leave it, with the given best validation accuracy."""
    from resnet.summary import summarize

    spec.run_dir.mkdir(parents=True)
    history = [
        {
            "epoch": 1,
            "train_loss": 1.0,
            "train_acc": 50.0,
            "val_loss": 1.0,
            "val_acc": val_acc,
            "test_loss": 1.0,
            "test_acc": val_acc - 1,
            "lr": 0.1,
            "epoch_seconds": 1.0,
            "train_seconds": 1.0,
            "images_per_sec": 100.0,
        }
    ]
    write_json(
        spec.run_dir / "config.json",
        {"config": spec.config.to_dict(), "config_hash": spec.config.short_hash()},
    )
    (spec.run_dir / "metrics.jsonl").write_text(json.dumps(history[0]) + "\n")
    write_json(
        spec.run_dir / "summary.json",
        summarize(spec.config, history, status="completed", runtime={}, params=1),
    )


def test_a_grid_reordered_or_extended_counts_the_runs_it_has_and_trains_only_new_ones(tmp_path):
    """Arm names follow the grid's factor order, so a reordered grid (or one with a factor added at its
    default) plans new run dirs for configs that already finished: those count where they are."""
    from resnet.pending import adopt_finished_elsewhere, to_run

    suite, runs = suite_with(tmp_path), tmp_path / "runs"
    first = make_plan(suite, Selection((), parse_grid(["lr=0.05,0.2", "cutout=0,8"]), (), (0, 1)), runs)
    for spec in first.specs:
        finish_tuning_run(spec, 50.0)
    reordered = make_plan(suite, Selection((), parse_grid(["cutout=0,8", "lr=0.05,0.2"]), (), (0, 1)), runs)
    assert {a.name for a in reordered.arms}.isdisjoint(a.name for a in first.arms)  # other dirs
    assert len(adopt_finished_elsewhere(reordered)) == 8 and to_run(reordered.specs, False) == []
    assert {spec.run_dir for spec in reordered.specs} == {spec.run_dir for spec in first.specs}
    extended = make_plan(
        suite, Selection((), parse_grid(["lr=0.05,0.2", "cutout=0,8", "flip=true,false"]), (), (0, 1)), runs
    )
    adopt_finished_elsewhere(extended)
    assert len(extended.specs) == 16 and len(to_run(extended.specs, False)) == 8  # flip=false only
    assert all("flip=false" in str(spec.run_dir) for spec in to_run(extended.specs, False))


def test_tuning_picks_per_arm_the_value_with_the_best_mean_validation_accuracy(tmp_path):
    suite = suite_with(
        tmp_path, '[presets.cosine]\nlr_schedule = "cosine"\n[tune]\nlr = [0.05, 0.1, 0.2]\nseeds = [0, 1]\n'
    )
    runs = tmp_path / "runs"
    plan = make_plan(suite, Selection(None, None, (), (0, 1, 2), suite.tune), runs)
    assert plan.awaiting == {"base": "tuning runs not finished", "cosine": "tuning runs not finished"}
    assert len(plan.specs) == 2 * 3 * 2  # only tuning runs until they finished
    scores = {
        ("base", 0.05): (70, 74),
        ("base", 0.1): (80, 78),
        ("base", 0.2): (90, 60),  # means 72, 79, 75
        ("cosine", 0.05): (80.02, 60.0),  # 4,001 and 3,000 of 5,000 validation images
        ("cosine", 0.1): (80.04, 59.98),  # 4,002 and 2,999: the same count, though fmean gives 70.01 against
        ("cosine", 0.2): (10, 20),  # 70.00999999999999 for 0.05
    }  # 70.01, 70.01 (tie), 15
    for spec in plan.specs:
        arm = spec.arm
        finish_tuning_run(spec, scores[(arm.parent, arm.tuning[1])][spec.seed])
    plan = make_plan(suite, Selection(None, None, (), (0, 1, 2), suite.tune), runs)
    assert plan.awaiting == {}
    tuned = {a.name: a.tuned for a in plan.arms}
    assert tuned == {"base": ("lr", 0.1), "cosine": ("lr", 0.05)}  # a tie goes to the value listed first
    finals = [plan.spec(arm, seed) for arm in plan.arms for seed in (0, 1, 2)]
    assert [s.config.lr for s in finals] == [0.1] * 3 + [0.05] * 3
    # The final runs at the tuning seeds are the tuning runs themselves: trained once, counted in both tables.
    assert finals[0].run_dir == runs / "des" / "base" / "tune-lr=0.1" / "seed0"
    assert finals[2].run_dir == runs / "des" / "base" / "seed2"
    # and listed once: the 12 tuning runs, then only the final runs off the tuning seeds
    assert len(plan.specs) == 12 + 2 and len({s.run_dir for s in plan.specs}) == 14
    assert [s.label for s in plan.specs[12:]] == ["des/base/seed2", "des/cosine/seed2"]


def test_the_tuning_section_says_when_final_seeds_are_tuning_seeds():
    from resnet.report.appendix import shared_seeds_note

    assert shared_seeds_note((100,), (0, 1, 2)) == ""  # disjoint: no final run was a tuning run
    assert shared_seeds_note((0, 1), (1, 2, 0)).startswith(" Final seeds 1, 0 also tuned:")
    assert shared_seeds_note((0,), (0, 7)).endswith("(e.g. --tune-seeds 107).")


def test_the_run_count_of_a_tuned_plan_counts_each_training_once(tmp_path):
    from resnet.cli.listing import cost_lines

    suite = suite_with(tmp_path, "[tune]\nlr = [0.05, 0.1]\nseeds = [0]\n")
    runs = tmp_path / "runs"
    selection = Selection(None, None, (), (0, 1, 2), suite.tune)
    count = (
        "1 arm x 3 seeds = 3 runs + 2 tuning runs (the selected lr's run of seed 0 is also the final one): "
        "4 trainings;"
    )
    plan = make_plan(suite, selection, runs)
    assert cost_lines(plan, runs, "cpu")[0].startswith(count)  # before tuning: 2 final runs still to come
    for spec in plan.specs:
        finish_tuning_run(spec, 80 + spec.config.lr)
    plan = make_plan(suite, selection, runs)
    assert plan.arms[0].tuned == ("lr", 0.1) and len(plan.specs) == 4
    assert cost_lines(plan, runs, "cpu")[0].startswith(count)  # after: the same count


def test_tuning_refuses_a_value_listed_twice(tmp_path):
    suite = suite_with(tmp_path, "val_size = 128\n[tune]\nlr = [0.1, 0.05, 0.10]\n")
    with pytest.raises(
        PresetError, match=r"des: tuned lr lists the same value twice \(0.1\); list each once"
    ):
        make_plan(suite, Selection(None, None, (), (0,), suite.tune), tmp_path / "runs")


def test_tuning_a_factor_of_the_design_is_refused(tmp_path):
    suite = suite_with(tmp_path, "val_size = 128\n[tune]\nlr = [0.1, 0.3]\n")
    grid = parse_grid(["lr=0.05,0.2", "norm=batch,none"])
    with pytest.raises(PresetError, match="des: tuned lr is also a factor of the design"):
        make_plan(suite, Selection((), grid, (), (0,), suite.tune), tmp_path / "runs")


def test_tuning_two_arms_that_differ_only_in_the_tuned_value_is_refused(tmp_path):
    suite = suite_with(
        tmp_path, "val_size = 128\n[presets.slow]\nval_size = 128\nlr = 0.05\n[tune]\nlr = [0.1, 0.3]\n"
    )
    with pytest.raises(PresetError, match="arms 'base' and 'slow' differ only in lr, which tuning selects"):
        make_plan(suite, Selection(None, None, (), (0,), suite.tune), tmp_path / "runs")


def test_tuning_needs_a_validation_split(tmp_path):
    suite = suite_with(tmp_path, "[tune]\nlr = [0.05, 0.1]\n")
    with pytest.raises(
        PresetError, match="tune selects lr on the validation split, but arm 'base' has val_size = 0"
    ):
        make_plan(suite, Selection(None, None, (("val_size", 0),), (0,), suite.tune), tmp_path / "runs")


def test_cost_of_a_plan_from_the_model_table_and_earlier_runs(tmp_path):
    from resnet.cost import estimate_seconds, recorded_speeds, run_flops

    config = TrainConfig(model="resnet8", dataset="synthetic", val_size=128, batch_size=64, epochs=2)
    forward = 24_478_976  # resnet8, one image (the model table)
    assert run_flops(config) == forward * 2 * (3 * (1024 - 128) + 128 + 256)  # train x3, val and test forward
    run_dir = tmp_path / "runs" / "x" / "seed0"
    run_dir.mkdir(parents=True)
    earlier = config.with_overrides(epochs=4)  # 4 epochs of 896 images took 7.168 s: 2 ms per training image
    write_json(run_dir / "config.json", {"config": earlier.to_dict()})
    write_json(
        run_dir / "summary.json",
        {"epochs_completed": 4, "total_seconds": 7.168, "runtime": {"device_name": "Test CPU"}},
    )
    small = tmp_path / "runs" / "small" / "seed0"  # batch 16: 8 ms per training image after the first step
    small.mkdir(parents=True)
    write_json(small / "config.json", {"config": earlier.with_overrides(batch_size=16).to_dict()})
    write_json(
        small / "summary.json",
        {
            "epochs_completed": 1,
            "total_seconds": 7.168 + 3.5,
            "first_step_seconds": 3.5,  # start-up and autotuning: paid once per run, not per image
            "runtime": {"device_name": "Test CPU"},
        },
    )
    paused = tmp_path / "runs" / "paused" / "seed0"  # stopped with Ctrl-Z for an hour: no measurement
    paused.mkdir(parents=True)
    write_json(paused / "config.json", {"config": earlier.to_dict()})
    write_json(
        paused / "summary.json",
        {
            "epochs_completed": 4,
            "total_seconds": 3607.2,
            "stopped_epochs": 1,
            "runtime": {"device_name": "Test CPU"},
        },
    )
    speeds = recorded_speeds(tmp_path / "runs", "Test CPU")
    assert sorted(speeds["resnet8"]) == [pytest.approx(0.002), pytest.approx(0.008)]
    assert estimate_seconds(config, speeds) == pytest.approx(0.002 * 896 * 2)  # the same batch size
    assert estimate_seconds(config.with_overrides(batch_size=16), speeds) == pytest.approx(0.008 * 896 * 2)
    # a batch size never run here: the model's median over every batch size
    assert estimate_seconds(config.with_overrides(batch_size=32), speeds) == pytest.approx(0.005 * 896 * 2)
    assert recorded_speeds(tmp_path / "runs", "Another CPU") == {}
    assert estimate_seconds(config.with_overrides(model="resnet20"), speeds) is None


def test_an_interrupted_run_times_a_plan_by_its_steady_unpaused_epochs(tmp_path):
    """A long sweep stopped part-way is what one plans the rest of by: its complete epochs count, but not
    the first (start-up), a paused one, or any when a session of it ran on another device."""
    from resnet.cost import recorded_speeds

    config = TrainConfig(model="resnet8", dataset="synthetic", val_size=128, batch_size=64, epochs=10)

    def interrupted(name: str, devices: list[str]) -> None:
        run_dir = tmp_path / name / "x" / "seed0"
        run_dir.mkdir(parents=True)
        sessions = [{"runtime": {"device_name": device}} for device in devices]
        write_json(run_dir / "config.json", {"config": config.to_dict(), "sessions": sessions})
        epochs = [(1, 60.0, 0), (2, 3.584, 0), (3, 3600.0, 1), (4, 3.584, 0)]  # 4 ms per image: 2 and 4
        lines = [json.dumps({"epoch": e, "epoch_seconds": t, "stops": s}) for e, t, s in epochs]
        (run_dir / "metrics.jsonl").write_text("\n".join(lines) + "\n")

    interrupted("here", ["Test CPU", "Test CPU"])
    assert recorded_speeds(tmp_path / "here", "Test CPU")["resnet8"] == [pytest.approx(0.004)]
    interrupted("moved", ["Test CPU", "Test GPU"])  # which epochs ran where, nothing says
    assert recorded_speeds(tmp_path / "moved", "Test CPU") == {}
    assert recorded_speeds(tmp_path / "here", "Another CPU") == {}


def test_the_sweeps_time_left_hands_queued_runs_to_the_slot_that_frees_first(tmp_path, monkeypatch):
    """Two slots: one run 10 s from its end, one in its first steps (a quarter done, its model 4 s a run
    here); two queued runs of 4 s each go to whichever slot frees first, so the last ends at 11 s. A run
    of a model never timed here makes it a lower bound, said so (unless it rounds to nothing)."""
    import io
    from types import SimpleNamespace

    from resnet.cost import TimeLeft
    from resnet.display import SweepDisplay
    from resnet.states import RunState

    monkeypatch.setattr("resnet.cost.device_name", lambda device: "Test CPU")
    config = TrainConfig(model="resnet8", dataset="synthetic", batch_size=64, epochs=4)  # 1,024 images
    untimed = config.with_overrides(model="resnet20")

    def row(state, config, **info):
        return SimpleNamespace(state=state, spec=SimpleNamespace(config=config)), info

    time_left = TimeLeft(tmp_path / "runs", "cpu", slots=2)  # no earlier runs: nothing timed
    running = [row(RunState.RUNNING, config, eta=10.0), row(RunState.RUNNING, config, epochs=1.0)]
    queued = [row(RunState.QUEUED, config), row(RunState.QUEUED, config)]
    assert time_left.words(running[1:] + queued) == ""  # nothing to go by: nothing said
    time_left.speeds = {("resnet8", 64): [1 / 1024]}  # 1 s an epoch: 4 s a run
    assert time_left.words(running + queued) == "about 0m11s left"  # slots free at 10 and 3: 3+4+4 = 11
    assert time_left.words(running + queued + [row(RunState.QUEUED, untimed)]) == (
        "at least 0m11s left (1 of 5 runs not timed yet)"
    )
    ending = [row(RunState.RUNNING, config, eta=0.2), row(RunState.QUEUED, untimed)]
    assert time_left.words(ending) == "1 of 2 runs not timed yet"  # a bound of 0 s says nothing
    run_dir = tmp_path / "runs" / "x" / "seed0"  # a run ends: 4 epochs of 1,024 images in 8 s
    run_dir.mkdir(parents=True)
    write_json(run_dir / "config.json", {"config": config.to_dict()})
    summary = {"epochs_completed": 4, "total_seconds": 8.0, "runtime": {"device_name": "Test CPU"}}
    write_json(run_dir / "summary.json", summary)
    assert time_left.words([row(RunState.COMPLETED, config)] + queued) == "about 0m08s left"  # one a slot
    assert time_left.speeds == {"resnet8": [1 / 512], ("resnet8", 64): [1 / 512]}

    # without a terminal: a line when the sweep starts and when a run ends, not one every tick
    display = SweepDisplay(live=False, stream=io.StringIO(), time_left=TimeLeft(tmp_path / "runs", "cpu", 1))
    waiting = SimpleNamespace(state=RunState.QUEUED, spec=SimpleNamespace(label="a", config=config), note="")
    display.update([waiting])
    display.update([waiting])
    assert display.stream.getvalue().count("sweep: about 0m08s left") == 1
    spec = SimpleNamespace(label="b", config=config)
    ended = SimpleNamespace(state=RunState.COMPLETED, spec=spec, note="", slot=None, progress=dict)
    display.update([ended, waiting])  # a run ended, but the time left is what was said: no news
    assert display.stream.getvalue().count("sweep: about 0m08s left") == 1


def test_before_any_run_ends_a_running_run_times_the_queued_runs_of_its_model(tmp_path):
    """A sweep's first runs on a new machine: nothing recorded, so the queued runs were all 'not timed yet'
    until a whole run ended (an H100's main job said 'at least 0m03s left (6 of 7 runs not timed yet)').
    A running run's speed now times the queued runs of its model: 4 epochs of 1,024 images at 1,024 img/s
    with a tenth more for evaluation is 4.4 s. A recorded run's speed, a whole run measured, wins."""
    from types import SimpleNamespace

    from resnet.cost import TimeLeft
    from resnet.states import RunState

    config = TrainConfig(model="resnet8", dataset="synthetic", batch_size=64, epochs=4)  # 1,024 images

    def row(state, config, **info):
        return SimpleNamespace(state=state, spec=SimpleNamespace(config=config)), info

    time_left = TimeLeft(tmp_path / "runs", "cpu", slots=1)  # nothing recorded
    running = row(RunState.RUNNING, config, eta=10.0, ips=1024.0)
    queued = [row(RunState.QUEUED, config), row(RunState.QUEUED, config.with_overrides(batch_size=128))]
    assert time_left.words([running, *queued]) == "about 0m19s left"  # 10 + 4.4 + 4.4 (by model alone)
    other_model = row(RunState.QUEUED, config.with_overrides(model="resnet20"))
    assert time_left.words([running, other_model]) == "at least 0m10s left (1 of 2 runs not timed yet)"
    not_yet = row(RunState.RUNNING, config, eta=None, ips=None)  # in its first step: nothing to go by
    assert time_left.words([not_yet, queued[0]]) == ""
    time_left.speeds = {("resnet8", 64): [1 / 512]}  # recorded: 8 s a run
    assert time_left.words([running, queued[0]]) == "about 0m18s left"


def test_durations_are_rounded_and_a_positive_one_never_reads_as_zero():
    from resnet.words import format_seconds

    cases = {0: "0m00s", 0.2: "0m01s", 7.5: "0m08s", 59.6: "1m00s", 750: "12m30s", 11_100: "3h05m"}
    assert {s: format_seconds(s) for s in cases} == cases and format_seconds(None) == ""


def test_a_dry_run_times_the_sweep_on_its_slots(tmp_path, suite_file, monkeypatch):
    """Six 512-image one-epoch runs of 2 s each (timed by an earlier run here): 12 s on one slot, 6 s on
    two, as the sweep hands them out, each to the slot that frees first."""
    from resnet.cost import makespan

    monkeypatch.setattr("resnet.machine.cpu_model", lambda: "Test CPU")
    earlier = tmp_path / "runs" / "tiny" / "base" / "seed9"
    earlier.mkdir(parents=True)
    config = load_suite(suite_file).config("base", seed=9)
    write_json(earlier / "config.json", {"config": config.to_dict()})
    summary = {"epochs_completed": 1, "total_seconds": 2.0, "runtime": {"device_name": "Test CPU"}}
    write_json(earlier / "summary.json", summary)
    args = ("--suite-file", suite_file, "--runs-dir", tmp_path / "runs", "--config", "base", "cosine")
    code, out, _ = sweep_main(*args, "--seeds", "0", "1", "2", "--dry-run", "--jobs", "2")
    assert code == 0
    assert "# about 0m12s of training on Test CPU (one slot, 0m06s on 2 slots), from earlier runs" in out
    assert makespan([2.0, 2.0, 2.0], 2) == 4.0 and makespan([1.0], 2, busy=[5.0, 3.0]) == 5.0
