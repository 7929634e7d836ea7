import pytest

from resnet.presets import PresetError, find_suite, load_suite, resolve_config, suite_files
from tests.conftest import run_cli


def test_the_shipped_suites_load_and_say_what_each_preset_changes():
    assert {"ablations", "depth", "classic"} <= set(suite_files())
    ablations = find_suite("ablations")
    assert list(ablations.presets) == ["baseline", "cosine", "no_schedule", "no_batchnorm", "small_batch",
                                       "resnet34", "resnet50"]
    assert all(p.config.epochs == 100 and p.description for p in ablations.presets.values())
    assert ablations.changes("baseline") == {}
    assert ablations.changes("cosine") == {"lr_schedule": "cosine"}
    assert ablations.changes("no_batchnorm") == {"norm": "none", "lr": 0.01}
    assert ablations.changes("small_batch") == {"batch_size": 32}
    assert ablations.preset("cosine_schedule").name == "cosine"
    depth = find_suite("depth")
    assert [p.config.model for p in depth.presets.values()] == ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110"]
    assert {p.config.weight_decay for p in depth.presets.values()} == {1e-4}
    assert depth.presets["resnet110"].config.warmup_epochs == 1
    classic = find_suite("classic")
    wrn = classic.presets["wrn28_10"].config
    assert (wrn.epochs, wrn.milestones, wrn.gamma, wrn.dropout) == (200, (0.3, 0.6, 0.8), 0.2, 0.3)
    assert classic.presets["resnet164"].config.milestones == (81 / 164, 122 / 164)
    assert classic.presets["densenet_bc_100_12"].config.batch_size == 64
    assert classic.preset("bearpaw_resnet110").config.model == "resnet164"


def test_resolve_config_accepts_every_reference_form(tmp_path, finished_run):
    assert resolve_config("cosine")[1] == "ablations:cosine"
    config, label = resolve_config("depth:resnet56", epochs=10, seed=3)
    assert (label, config.model, config.epochs, config.seed) == ("depth:resnet56", "resnet56", 10, 3)
    run_dir, _ = finished_run
    recorded, _ = resolve_config(str(run_dir / "config.json"))
    assert recorded.short_hash() == (run_dir / "config.json").read_text().split('"config_hash": "')[1][:8]
    toml = tmp_path / "one.toml"
    toml.write_text('model = "resnet56"\nepochs = 3\n')
    assert resolve_config(str(toml))[0].model == "resnet56"


def write(tmp_path, text, name="mine.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ("[presets.a]\nlr = 0.1\n[presets.a]\nlr = 0.2\n", "malformed TOML (Cannot declare ('presets', 'a') twice"),
    ("[presets.a]\nlr = \n", "malformed TOML"),
    ("[presets.a]\n[presets.b]\naliases = ['a']\n", "'a' is defined twice (by presets 'a' and 'b')"),
    ("[presets.a]\nlr = -1\n", "[presets.a]: invalid config: lr: Input should be greater than 0"),
    ("[presets.a]\nlearning_rate = 0.1\n", "[presets.a]: invalid config: unknown field 'learning_rate'"),
    ("[base]\nmodel = 'resnet7'\n[presets.a]\n", "[base]: invalid config: model: unknown model 'resnet7'"),
    ("baseline = 'b'\n[presets.a]\n", "baseline 'b' is not one of its presets (a)"),
    ("descripton = 'typo'\n[presets.a]\n", "unknown top-level keys ['descripton']"),
    ("description = 'empty'\n", "defines no presets"),
])
def test_bad_suites_fail_in_one_line_naming_the_file(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(PresetError) as err:
        load_suite(path)
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_unknown_suite_and_preset_list_the_valid_ones():
    with pytest.raises(PresetError, match="unknown suite 'ablation' \\(did you mean ablations\\?\\); valid: ablations"):
        find_suite("ablation")
    with pytest.raises(PresetError, match="unknown preset 'no_scedule' in suite 'ablations' \\(did you mean no_schedule\\?\\)"):
        find_suite("ablations").preset("no_scedule")


def test_sweep_cli_rejects_bad_suites_and_unwritable_dirs_without_touching_disk(tmp_path):
    bad = write(tmp_path, "[presets.a]\nlr = 0.1\n[presets.a]\nlr = 0.2\n")
    result = run_cli("run_ablations.py", "--suite-file", bad, "--all", "--runs-dir", tmp_path / "runs")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "malformed TOML" in result.stderr
    blocker = write(tmp_path, "", "file")
    result = run_cli("run_ablations.py", "--all", "--runs-dir", blocker / "runs")
    assert result.returncode == 2 and "cannot write to --runs-dir" in result.stderr
    result = run_cli("run_ablations.py", "--config", "cosin", "--runs-dir", tmp_path / "runs")
    assert result.returncode == 2 and "unknown preset 'cosin' in suite 'ablations' (did you mean cosine?)" in result.stderr
    result = run_cli("run_ablations.py", "--all", "--lr", "0", "--runs-dir", tmp_path / "runs")
    assert result.returncode == 2 and "lr: Input should be greater than 0" in result.stderr
    result = run_cli("run_ablations.py", "--runs-dir", tmp_path / "runs")
    assert result.returncode == 2 and "say what to run: --all, or --config" in result.stderr
    assert not (tmp_path / "runs").exists()
