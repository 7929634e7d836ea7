import json
import os
from pathlib import Path

import pytest

from resnet.config import TrainConfig
from resnet.errors import PresetError
from resnet.presets import find_suite, load_suite, suite_files
from resnet.resolve import resolve_config
from tests.conftest import TOO_DEEP, sweep_main, train_main


def test_the_shipped_suites_load_and_say_what_each_preset_changes():
    assert {"ablations", "ablations_val", "depth", "classic", "quick"} <= set(suite_files())
    ablations = find_suite("ablations")
    assert list(ablations.presets) == [
        "baseline",
        "cosine",
        "no_schedule",
        "no_batchnorm",
        "small_batch",
        "resnet34",
        "resnet50",
    ]
    assert all(p.config.epochs == 100 and p.description for p in ablations.presets.values())
    assert ablations.changes("baseline") == {}
    assert ablations.changes("cosine") == {"lr_schedule": "cosine"}
    assert ablations.changes("no_batchnorm") == {"norm": "none", "lr": 0.01}
    assert ablations.preset("cosine_schedule").name == "cosine"
    assert (
        ablations.presets["cosine"].reference.best == 94.1
        and ablations.presets["cosine"].reference.final == 94.0
    )
    assert ablations.presets["baseline"].reference.final == 87.6
    held_out = find_suite("ablations_val")  # extends ablations with a validation split
    assert list(held_out.presets) == list(ablations.presets)
    assert {p.config.val_size for p in held_out.presets.values()} == {5000}
    depth = find_suite("depth")
    assert [p.config.model for p in depth.presets.values()] == [
        "resnet20",
        "resnet32",
        "resnet44",
        "resnet56",
        "resnet110",
        "resnet1202",
    ]
    assert {p.config.weight_decay for p in depth.presets.values()} == {1e-4}
    assert [p.reference.final for p in depth.presets.values()] == [91.25, 92.49, 92.83, 93.03, 93.39, 92.07]
    classic = find_suite("classic")
    wrn = classic.presets["wrn28_10"].config
    assert (wrn.epochs, wrn.milestones, wrn.gamma, wrn.dropout) == (200, (0.3, 0.6, 0.8), 0.2, 0.3)
    assert classic.preset("bearpaw_resnet110").config.model == "resnet164"
    quick = find_suite("quick")
    assert len(quick.presets) == 7 and all(
        p.config.dataset == "synthetic" and p.config.val_size for p in quick.presets.values()
    )


def test_resolve_config_accepts_every_reference_form(tmp_path, finished_run):
    assert resolve_config("cosine").label == "ablations:cosine"
    config, label, _ = resolve_config("depth:resnet56", epochs=10, seed=3)
    assert (label, config.model, config.epochs, config.seed) == ("depth:resnet56", "resnet56", 10, 3)
    run_dir, _ = finished_run
    recorded = resolve_config(str(run_dir / "config.json"))
    assert (
        recorded.config.short_hash() == (run_dir / "config.json").read_text().split('"config_hash": "')[1][:8]
    )
    assert recorded.recorded_threads and recorded.recorded_threads >= 1  # a rerun restores the thread count
    on_gpu = json.loads((run_dir / "config.json").read_text())
    on_gpu["runtime"].update(device="cuda:0", threads=16)
    (tmp_path / "gpu.json").write_text(json.dumps(on_gpu))
    assert resolve_config(str(tmp_path / "gpu.json")).recorded_threads is None  # threads: the CPU's own
    toml = tmp_path / "one.toml"
    toml.write_text('model = "resnet56"\nepochs = 3\n')
    assert resolve_config(str(toml)).config.model == "resnet56"


def write(tmp_path, text, name="mine.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "[presets.a]\nlr = 0.1\n[presets.a]\nlr = 0.2\n",
            "malformed TOML (Cannot declare ('presets', 'a') twice",
        ),
        (
            "[presets.a]\nlr = 0.1\nlr = 0.2\n",
            "Cannot overwrite a value (at line 3, column 9)); a table or key",
        ),
        ("[presets.a]\nlr = \n", "malformed TOML"),
        pytest.param(
            "[presets.a]\nmilestones = " + "[" * TOO_DEEP + "]" * TOO_DEEP + "\n",
            "malformed TOML (arrays or tables nested too deeply)",
            id="nested-too-deeply",
        ),
        ("[base]\nseed = 3\n[presets.a]\n", "[base]: seed is not a suite setting: remove it (a sweep runs"),
        ("[presets.a]\nseed = 3\n", "[presets.a]: seed is not a suite setting: remove it"),
        ("[presets.a]\n[presets.b]\naliases = ['a']\n", "'a' is defined twice (by presets 'a' and 'b')"),
        ("[presets.Base]\n[presets.base]\n", "presets 'Base' and 'base' differ only in case; rename one"),
        ("[presets.a]\nlr = -1\n", "[presets.a]: invalid config: lr: Input should be greater than 0"),
        ("[presets.a]\nlearning_rate = 0.1\n", "[presets.a]: invalid config: unknown field 'learning_rate'"),
        (
            "[base]\nmodel = 'resnet7'\n[presets.a]\n",
            "[base]: invalid config: model: unknown model 'resnet7'",
        ),
        ("baseline = 'b'\n[presets.a]\n", "baseline 'b' is not one of its presets (a)"),
        ("descripton = 'typo'\n[presets.a]\n", "unknown top-level keys ['descripton']"),
        ("description = 'empty'\n", "defines no presets and no design"),
        ("[presets.'../../../escaped']\n", "preset name '../../../escaped' is not a simple name"),
        ("[presets.'a/b']\n", "preset name 'a/b' is not a simple name"),
        (
            f"[presets.{'a' * 300}]\n",
            f"[presets.{'a' * 20}...]: preset name {'a' * 20}... has 300 characters",
        ),
        ("[presets.a]\naliases = ['..']\n", "alias name '..' is not a simple name"),
        (
            "[presets.'-rf']\n",
            "preset name '-rf' is not a simple name; use ASCII letters, digits, '_', '-' and '.' (no path "
            "separators, not starting with '.' or '-')",
        ),
        (
            "[presets.'sweep.json']\n",
            "preset name 'sweep.json' is the sweep's own record file; choose another",
        ),
        ("[presets.lr]\nlr = nan\n", "lr: Input should be a finite number (got nan)"),
        ("[presets.a]\nreference = { final = 94 }\n", "reference needs source"),
        (
            "[presets.a]\nreference = { final = 140, source = 's', protocol = 'p' }\n",
            "reference final must be a test accuracy",
        ),
        (
            "[presets.a]\nreference = { source = 's', protocol = 'p' }\n",
            "reference needs best = ACCURACY or final",
        ),
        (  # the short form's message names the key the file has
            "[presets.a]\nreference = { value = '94', source = 's', protocol = 'p' }\n",
            "reference value must be a test accuracy in % (0-100), got '94'",
        ),
        (  # not one of them silently dropped
            "[presets.a]\nreference = { value = 94, final = 93, source = 's', protocol = 'p' }\n",
            "reference gives both value and final (the same number); keep one",
        ),
        (
            "[presets.a]\nreference = { finale = 1, source = 's', protocol = 'p' }\n",
            "unknown reference keys ['finale']",
        ),
        (
            "[presets.a]\nreference = { best = 90, best_selected_on = 'train', source = 's', "
            "protocol = 'p' }\n",
            'reference best_selected_on must be "test" or "val", got \'train\'',
        ),
        ("extends = 'mine'\n[presets.a]\n", "extends mine"),
        ("extends = 'nosuch'\n[presets.a]\n", "extends unknown suite 'nosuch'; valid: mine; a file beside"),
        ("description = 5\n[presets.a]\n", "description must be text in quotes, got 5"),  # rich crashed
        ("extends = 5\n[presets.a]\n", "extends (a suite name or a .toml path) must be text in quotes"),
        ("[presets]\na = 5\n", "[presets.a]: a preset must be a table, got 5"),
        ("[presets.a]\ndescription = 5\n", "[presets.a]: description must be text in quotes, got 5"),
        ("[presets.a]\naliases = 'ab'\n", "[presets.a]: aliases must be a list, got 'ab'"),
        (  # it would reach the Markdown verbatim: `cat results/x.md` would clear the screen
            '[presets.a]\ndescription = "x \\u001b[2J"\n',
            "[presets.a]: description holds a control character ('\\x1b'); remove it",
        ),
        (
            "[presets.a]\nreference = { best = 90, source = \"s\\u0007\", protocol = 'p' }\n",
            "reference source holds a control character ('\\x07'); remove it",
        ),
    ],
)
def test_bad_suites_fail_in_one_line_naming_the_file(tmp_path, text, message, monkeypatch):
    import resnet.presets as presets

    monkeypatch.setattr(presets, "CONFIGS_DIR", tmp_path)
    path = write(tmp_path, text)
    with pytest.raises(PresetError) as err:
        load_suite(path)
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_a_suite_cannot_be_named_after_train_cifar_pys_own_runs_dir(tmp_path):
    path = write(tmp_path, "[presets.a]\n", "train.toml")
    with pytest.raises(PresetError, match=r"train.toml: a suite cannot be named 'train': runs/train/ holds"):
        load_suite(path)


def test_an_unquoted_dotted_preset_name_is_named_as_such(tmp_path):
    """TOML reads [presets.lr0.05] as a table '05' inside preset 'lr0': say how to quote the name."""
    path = write(tmp_path, "[presets.base]\n[presets.lr0.05]\nlr = 0.05\n", "dots.toml")
    with pytest.raises(PresetError) as err:
        load_suite(path)
    assert str(err.value) == (
        f"{path} [presets.lr0]: [presets.lr0.05] is a table inside preset 'lr0', not a preset; to name a "
        'preset with a dot, quote its name: [presets."lr0.05"]'
    )
    path.write_text('[presets.base]\n[presets."lr0.05"]\nlr = 0.05\n')
    assert load_suite(path).preset("lr0.05").config.lr == 0.05


@pytest.mark.parametrize("table", ["base", "presets"])
def test_a_suite_that_extends_another_checks_its_tables_before_merging(tmp_path, table):
    write(tmp_path, "[base]\nepochs = 2\n[presets.a]\n", "parent.toml")
    child = write(tmp_path, f"extends = 'parent.toml'\n{table} = 5\n", "child.toml")
    with pytest.raises(PresetError, match=rf"child.toml: {table} must be a table.*got 5$"):
        load_suite(child)


def test_a_byte_order_mark_is_no_error_and_only_a_repeat_gets_the_repeat_hint(tmp_path):
    suite = load_suite(write(tmp_path, "\ufeffdescription = 'saved by Notepad'\n[presets.a]\n"))
    assert suite.description == "saved by Notepad" and list(suite.presets) == ["a"]
    with pytest.raises(PresetError) as err:
        load_suite(write(tmp_path, "[presets.a\n"))
    assert "malformed TOML (Expected ']'" in str(err.value) and "only once" not in str(err.value)


def test_references_accept_the_short_form(tmp_path):
    suite = load_suite(
        write(tmp_path, "[presets.a]\nreference = { value = 94.1, source = 's', protocol = 'p' }\n")
    )
    assert suite.presets["a"].reference.final == 94.1 and suite.presets["a"].reference.best is None


def test_suite_files_that_are_not_text_or_not_files(tmp_path):
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[presets.a]\x00")
    with pytest.raises(
        PresetError, match=r"binary.toml: not UTF-8 text \(byte 0\); a suite file is a TOML text file"
    ):
        load_suite(binary)
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    with pytest.raises(PresetError, match="suite file .*folder.toml is a directory; pass a .toml file"):
        load_suite(folder)
    with pytest.raises(PresetError, match="suite file .*nothing.toml does not exist"):
        load_suite(tmp_path / "nothing.toml")
    huge = tmp_path / "huge.toml"
    huge.write_bytes(b"# " + b"x" * 2**20)
    with pytest.raises(PresetError, match="huge.toml is over 1 MiB; a suite file is a small TOML"):
        load_suite(huge)
    pipe = tmp_path / "pipe.toml"  # as <(cat x.toml) gives: its name, '63', would name the runs dir
    os.mkfifo(pipe)
    with pytest.raises(PresetError, match="pipe.toml is not a file on disk .* save it as NAME.toml"):
        load_suite(pipe)
    with pytest.raises(PresetError, match="suite file /dev/zero is not a file on disk"):
        load_suite(Path("/dev/zero"))  # endless: read whole, it would fill the memory


def test_unknown_suite_and_preset_list_the_valid_ones():
    with pytest.raises(
        PresetError, match="unknown suite 'ablation' \\(did you mean ablations\\?\\); valid: ablations"
    ):
        find_suite("ablation")
    with pytest.raises(
        PresetError,
        match="unknown preset 'no_scedule' in suite 'ablations' \\(did you mean no_schedule\\?\\)",
    ):
        find_suite("ablations").preset("no_scedule")
    with pytest.raises(
        PresetError, match="unknown preset 'COSINE' in suite 'ablations' \\(did you mean cosine\\?\\)"
    ):
        find_suite("ablations").preset("COSINE")  # another case, as a name is typed from a paper
    from resnet.models.registry import unknown_name_message

    assert "(did you mean resnet18?)" in unknown_name_message("model", "ResNet-18", ["resnet18", "resnet34"])


def test_a_config_file_with_a_bom_loads_and_an_edited_recorded_config_is_named(tmp_path, caplog):
    bom = tmp_path / "bom.json"
    bom.write_bytes('\ufeff{"lr": 0.05}'.encode())
    assert resolve_config(str(bom)).config.lr == 0.05 and not caplog.records
    recorded = TrainConfig(lr=0.05)
    edited = tmp_path / "config.json"
    edited.write_text(json.dumps({"config": {"lr": 0.2}, "config_hash": recorded.short_hash()}))
    assert resolve_config(str(edited), epochs=3).config.lr == 0.2
    assert [r.getMessage() for r in caplog.records] == [
        f"{edited}: recorded as config {recorded.short_hash()}, but the config it holds now hashes to "
        f"{TrainConfig(lr=0.2).short_hash()} (the file was edited): that edited config is what trains"
    ]


def test_config_references_that_are_not_what_they_seem(tmp_path):
    code, _, err = train_main("--config", tmp_path / "nosuch.json")
    assert code == 2 and f"config file {tmp_path / 'nosuch.json'} does not exist" in err
    suite = write(tmp_path, "[presets.fast]\nepochs = 1\n[presets.slow]\nepochs = 9\n")
    code, _, err = train_main("--config", suite)
    assert code == 2 and err.count("\n") == 1
    assert (
        f"{suite} is a suite, not a config: name one of its presets as {suite}:PRESET (presets: fast, slow)"
        in err
    )
    binary = tmp_path / "run.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    code, _, err = train_main("--config", binary)
    assert code == 2 and "is not UTF-8 text" in err and err.count("\n") == 1
    code, _, err = train_main("--config", tmp_path / "config")  # a file without .json: not a preset either
    assert code == 2 and f"{tmp_path / 'config'} is neither a preset nor a config file" in err


def test_sweep_cli_rejects_bad_suites_and_unwritable_dirs_without_touching_disk(tmp_path):
    bad = write(tmp_path, "[presets.a]\nlr = 0.1\n[presets.a]\nlr = 0.2\n")
    code, _, err = sweep_main("--suite-file", bad, "--all", "--runs-dir", tmp_path / "runs")
    assert code == 2 and err.count("\n") == 1 and "malformed TOML" in err
    code, _, err = sweep_main("--suite-file", tmp_path, "--all", "--runs-dir", tmp_path / "runs")
    assert code == 2 and "is a directory; pass a .toml file" in err
    blocker = write(tmp_path, "", "file")
    code, _, err = sweep_main("--all", "--runs-dir", blocker / "runs")
    assert code == 2 and "cannot write to --runs-dir" in err and "a path component is a file" in err
    code, _, err = sweep_main("--all", "--results-dir", blocker, "--runs-dir", tmp_path / "runs")
    assert code == 2 and f"cannot write to --results-dir {blocker}" in err  # found before anything trains
    (tmp_path / "moved").symlink_to(tmp_path / "unmounted")  # a link to a disk that is not there
    code, _, err = sweep_main("--all", "--runs-dir", tmp_path / "moved" / "runs")
    assert code == 2 and f"{tmp_path}/moved is a symlink to {tmp_path}/unmounted, which does not exist" in err
    (tmp_path / "to-file").symlink_to(blocker)
    code, _, err = sweep_main("--all", "--results-dir", tmp_path / "to-file", "--runs-dir", tmp_path / "runs")
    assert code == 2 and f"to-file is a symlink to {blocker}, which is not a directory" in err
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    code, _, err = sweep_main("--all", "--runs-dir", tmp_path / "loop")
    assert code == 2 and f"loop is a symlink to {tmp_path}/loop, which leads back to itself" in err
    code, _, err = sweep_main("--all", "--runs-dir", str(tmp_path / "r\udcffx"))  # how Python reads the byte
    assert code == 2 and "argument --runs-dir: the path" in err and "r\\xffx is not valid UTF-8" in err
    for flag in (
        "--suite",
        "--config",
        "--grid",
        "--tune",
        "--partition",
    ):  # as typed, never a '?' or a pydantic note
        code, _, err = sweep_main(flag, "lr=0.1,\udcff", "--runs-dir", tmp_path / "runs")
        assert code == 2 and f"argument {flag}: lr=0.1,\\xff is not valid UTF-8 text" in err, err
    code, _, err = sweep_main("--config", "cosin", "--runs-dir", tmp_path / "runs")
    assert code == 2 and "unknown preset 'cosin' in suite 'ablations' (did you mean cosine?)" in err
    code, _, err = sweep_main("--all", "--lr", "0", "--runs-dir", tmp_path / "runs")
    assert code == 2 and "lr: Input should be greater than 0" in err
    code, _, err = sweep_main("--runs-dir", tmp_path / "runs")
    assert code == 2 and "say what to run: --all, --config PRESET..., --design or --grid" in err
    assert not (tmp_path / "runs").exists()
