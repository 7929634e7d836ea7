"""The report, from run directories whose numbers are chosen so that every statistic can be worked by hand."""

import io
import json
import math
import os
import shutil
from types import SimpleNamespace

import pandas as pd
import pytest
from rich.console import Console
from scipy import stats as scipy_stats

from resnet.config import TrainConfig
from resnet.files import write_json
from resnet.plan import Selection, make_plan
from resnet.presets import find_suite, load_suite
from resnet.report import figure_title, write_report
from resnet.report.appendix import averaged_over
from resnet.report.collect import collect
from resnet.report.console import print_table
from resnet.report.design import balanced, main_effects
from resnet.report.protocol import protocol_words
from resnet.report.provenance import provenance
from resnet.stats import compare, half_width, holm, paired, resolvable_difference
from resnet.summary import summarize
from resnet.sweep_record import record_sweep
from tests.conftest import TOO_DEEP, sweep_main

T975_DF1, T975_DF2, T80_DF2 = 12.706205, 4.302653, 1.060660  # t quantiles from a table


def write_run(
    runs_dir,
    suite,
    arm,
    config,
    status="completed",
    finals=(50.0,),
    val=None,
    env=None,
    path=None,
    runtime=None,
    data=None,
):
    """A run directory as train() leaves it; per-epoch test accuracies `finals` (the last is the final
    one), led by copies of the first (and of `val`'s first) up to the config's epochs, as a completed run
    has them: a 100-epoch preset's run whose test matters only at its last epochs."""
    run_dir = path or runs_dir / suite / arm / f"seed{config.seed}"
    run_dir.mkdir(parents=True)
    assert len(finals) <= config.epochs, "more epochs than the config has"
    if status in ("completed", "unfinished"):
        finals = (finals[0],) * (config.epochs - len(finals)) + tuple(finals)
        val = None if val is None else (val[0],) * (config.epochs - len(val)) + tuple(val)
    history = []
    for epoch, acc in enumerate(finals, start=1):
        record = {
            "epoch": epoch,
            "train_loss": 1.0 / epoch,
            "train_acc": 60.0,
            "test_loss": 0.5,
            "test_acc": acc,
            "lr": 0.1,
            "epoch_seconds": 2.0,
            "train_seconds": 1.5,
            "images_per_sec": 100.0,
        }
        if val is not None:
            record.update(val_loss=0.5, val_acc=val[epoch - 1])
        history.append(record)
    if status == "diverged":
        history[-1]["train_loss"] = float("nan")
    environment = {
        "torch": "2.4.0",
        "cuda": None,
        "device": "cpu (test, 2 threads)",
        "git": {"commit": "abc1234def", "dirty": False},
        **(env or {}),
    }
    write_json(
        run_dir / "config.json",
        {
            "config": config.to_dict(),
            "config_hash": config.short_hash(),
            "environment": environment,
            "data": {"files_match_official_md5": False, **(data or {})},
        },
    )
    lines = history if status != "unfinished" else history[:-1]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    if status in ("completed", "diverged"):
        write_json(
            run_dir / "summary.json",
            summarize(config, history, status=status, runtime=runtime or {}, params=11_173_962),
        )
    if status == "failed":
        write_json(
            run_dir / "failure.json",
            {"exit_code": 1, "reason": "RuntimeError: boom", "config": config.to_dict()},
        )
    return run_dir


# --- the statistics, by hand
# -------------------------------------------------------------------------------------
def test_paired_difference_its_interval_p_and_resolvable_difference_by_hand():
    result = paired([93.0, 94.0, 95.5], [90.0, 92.0, 92.5])  # differences 3, 2, 3
    mean, sd = 8 / 3, math.sqrt(1 / 3)  # sd of (3, 2, 3): sqrt(((1/3)^2 + (2/3)^2 + (1/3)^2) / 2)
    se = sd / math.sqrt(3)  # 1/3
    assert result.kind == "paired" and result.n == 3 and result.diff == pytest.approx(mean)
    assert (result.low, result.high) == (
        pytest.approx(mean - T975_DF2 * se),
        pytest.approx(mean + T975_DF2 * se),
    )
    t = mean / se  # 8
    assert result.p == pytest.approx(
        1 - t / math.sqrt(2 + t * t), rel=1e-6
    )  # two-sided p of Student t, df = 2
    assert result.p_superior == 1.0
    assert (result.se, result.df) == (pytest.approx(se), 2)
    assert resolvable_difference(result, 1) == pytest.approx((T975_DF2 + T80_DF2) * se, rel=1e-5)
    # with Holm over 3 comparisons, at alpha/3: t(1 - 0.05/6) for df = 2 is (2q - 1) / sqrt(2q(1 - q))
    q = 1 - 0.05 / 6
    t_corrected = (2 * q - 1) / math.sqrt(2 * q * (1 - q))  # 7.6488
    assert resolvable_difference(result, 3) == pytest.approx((t_corrected + T80_DF2) * se, rel=1e-5)
    assert resolvable_difference(paired([1.0, 2.0], [0.0, 1.0]), 3) is None  # no spread: no test
    assert paired([1.0, 2.0, 3.0], [0.0, 2.0, 4.0]).p_superior == 0.5  # one win, one tie, one loss


def test_equal_image_count_differences_are_no_spread_whatever_the_float_rounding():
    """Each seed 207 of 1,000 test images better: the same evidence whether the floats subtract exactly or
    not, so the same verdict (no spread, no test), never a p of 1e-32 from rounding noise."""
    counts = [611, 659, 787]
    better = [100.0 * (k + 207) / 1000 for k in counts]  # 81.8, 86.6, 99.4
    worse = [100.0 * k / 1000 for k in counts]  # 61.1, 65.9, 78.7
    assert len({x - y for x, y in zip(better, worse, strict=True)}) > 1  # the noise this test is about
    noisy, exact = paired(better, worse), paired([81.5, 86.5, 99.5], [60.75, 65.75, 78.75])
    for result in (noisy, exact):
        assert (result.diff, result.low, result.high) == (20.75 if result is exact else 20.7,) * 3
        assert (result.p, result.se, result.p_superior) == (None, None, 1.0) and result.no_spread
    almost = paired([81.8, 86.6, 99.5], worse)  # one seed one image more: a real spread, a real test
    assert almost.p is not None and almost.se == pytest.approx(math.sqrt(1 / 300) / math.sqrt(3))
    assert not almost.no_spread


def test_a_delta_the_same_on_every_seed_shows_no_zero_width_interval(tmp_path):
    """A coarse test set can make every seed differ by the same amount: [+2.00, +2.00] would read as a
    certain effect from two seeds, so the cell says there is no spread, and the finding that nothing was
    tested."""
    suite, runs = find_suite("ablations"), tmp_path / "runs"
    for arm, values in {"baseline": (90.0, 91.0), "cosine": (92.0, 93.0)}.items():
        for seed, final in enumerate(values):
            write_run(runs, "ablations", arm, suite.config(arm, seed=seed, epochs=2), finals=(50.0, final))
    selection = Selection(("baseline", "cosine"), None, (("epochs", 2),), (0, 1))
    write_report(make_plan(suite, selection, runs), tmp_path / "results")
    md = (tmp_path / "results" / "ablations.md").read_text()
    assert "| +2.00 (no spread) | — |" in md and "[+2.00, +2.00]" not in md
    assert "`cosine`: +2.00 points vs `baseline` (paired over 2 seeds, each the same difference): no " in md
    assert "+2.00 (no spread) & ---" in (tmp_path / "results" / "ablations.tex").read_text()
    from resnet.report.analysis import analyse
    from resnet.report.figures import forest_figure

    plan = make_plan(suite, selection, runs)
    (cosine,) = [row for row in analyse(plan, collect(plan).arms, "ci95", set()) if row.name == "cosine"]
    ax = forest_figure([cosine], "baseline", "t").axes[0]
    assert [text.get_text() for text in ax.texts] == ["+2.00 (no spread)"]  # a point, no bar, no caps
    assert not [line for line in ax.lines if line.get_marker() == "|"]


def test_a_table_of_the_baseline_alone_has_no_empty_findings(tmp_path):
    suite, runs = find_suite("ablations"), tmp_path / "runs"
    write_run(runs, "ablations", "baseline", suite.config("baseline", seed=0, epochs=2), finals=(50.0, 90.0))
    selection = Selection(("baseline",), None, (("epochs", 2),), (0,))
    write_report(make_plan(suite, selection, runs), tmp_path / "results")
    md = (tmp_path / "results" / "ablations.md").read_text()
    assert "| baseline | **90.00 (n=1)** |" in md and "## Findings" not in md


def test_welch_without_spread_and_an_arm_without_a_baseline_say_so(tmp_path):
    """Unshared seeds whose every run has the same accuracy: Welch has no spread either (no p, no zero-width
    interval). Without a completed baseline run an arm is not compared at all."""
    suite, runs = find_suite("ablations"), tmp_path / "runs"
    for arm, seeds, final in (("baseline", (0, 1), 90.0), ("cosine", (2, 3), 92.0)):
        for seed in seeds:
            write_run(runs, "ablations", arm, suite.config(arm, seed=seed, epochs=2), finals=(50.0, final))
    selection = Selection(("baseline", "cosine"), None, (("epochs", 2),), (0, 1, 2, 3))
    write_report(make_plan(suite, selection, runs), tmp_path / "results")
    md = (tmp_path / "results" / "ablations.md").read_text()
    assert "| +2.00 (no spread) (Welch) | — | — |" in md
    assert "(Welch, seeds not shared, every run of each arm the same): no spread to test against." in md
    shutil.rmtree(runs / "ablations" / "baseline")
    write_report(make_plan(suite, selection, runs), tmp_path / "results")
    md = (tmp_path / "results" / "ablations.md").read_text()
    assert "- `cosine`: not compared with `baseline` (no completed baseline run)." in md


def test_a_delta_over_fewer_seeds_than_a_cell_says_how_many_it_shares(tmp_path):
    """Seeds added to one arm (--config cosine --seeds 3 4): Δ pairs the 3 seeds both ran, which is not
    the difference of the cells' means over 5 and 3 seeds, so the Δ cell says so."""
    suite, runs = find_suite("ablations"), tmp_path / "runs"
    finals = {"baseline": (90.0, 92.0, 92.5), "cosine": (93.0, 94.0, 95.5, 99.0, 99.5)}
    for arm, values in finals.items():
        for seed, final in enumerate(values):
            write_run(runs, "ablations", arm, suite.config(arm, seed=seed, epochs=2), finals=(50.0, final))
    selection = Selection(("baseline", "cosine"), None, (("epochs", 2),), (0, 1, 2, 3, 4))
    write_report(make_plan(suite, selection, runs), tmp_path / "results")
    md = (tmp_path / "results" / "ablations.md").read_text()
    cosine = paired([93.0, 94.0, 95.5], [90.0, 92.0, 92.5])  # +2.67, while the cells differ by 4.70
    assert "| cosine | **96.20 ± " in md
    assert f"+2.67 [{cosine.low:+.2f}, {cosine.high:+.2f}] (3 shared seeds) | {cosine.p:.3g} |" in md
    tex = (
        tmp_path / "results" / "ablations.tex"
    ).read_text()  # a mark the caption explains: the page is narrow
    assert (
        f"+2.67 [{cosine.low:+.2f}, {cosine.high:+.2f}]$_{{n=3}}$ &" in tex
        and "a subscript n: the seeds" in tex
    )


def test_the_resolvable_difference_is_at_the_tables_holm_level(tmp_path):
    """Two comparisons: the resolvable Δ is at α/2 (Holm resolves every p below it), so an effect larger
    than it is never left 'not resolved' by the correction, and the findings name the m."""
    suite = find_suite("ablations")
    runs = tmp_path / "runs"
    finals = {"baseline": (90.0, 92.0, 92.5), "cosine": (93.0, 94.0, 95.5), "no_schedule": (90.0, 93.0, 92.0)}
    for arm, values in finals.items():
        for seed, final in enumerate(values):
            write_run(runs, "ablations", arm, suite.config(arm, seed=seed, epochs=2), finals=(50.0, final))
    plan = make_plan(
        suite, Selection(("baseline", "cosine", "no_schedule"), None, (("epochs", 2),), (0, 1, 2)), runs
    )
    write_report(plan, tmp_path / "results")
    md = (tmp_path / "results" / "ablations.md").read_text()
    # no_schedule - baseline: differences 0, 1, -0.5; mean 1/6, sd sqrt(7/12), se sqrt(7/36)
    se = math.sqrt(7 / 36)
    q = 1 - 0.05 / 4  # Holm over 2 comparisons: alpha / 2, two-sided
    resolvable = ((2 * q - 1) / math.sqrt(2 * q * (1 - q)) + T80_DF2) * se  # t quantile, df = 2, closed form
    row = next(line for line in md.splitlines() if line.startswith("| no_schedule |"))
    assert f"| {resolvable:.2f} |" in row
    assert (
        f"no difference resolved at α = 0.05 (with n = 3 and Holm over 2 comparisons, differences below "
        f"{resolvable:.2f} points are not resolvable)." in md
    )
    assert "corrected level, α/m = 0.05/2 (Holm resolves every p below it)" in md


def test_a_resolvable_difference_beyond_the_100_point_scale_is_said_so(tmp_path):
    """Two seeds that disagree: differences +20 and -10, SE 15, so the seeds would resolve only a
    difference of (t(0.975, 1) + t(0.8, 1)) x 15, about 211 points: the table says '> 100', the finding
    that not even 100 points are resolvable, and the CSV keeps the number."""
    suite = find_suite("ablations")
    runs = tmp_path / "runs"
    for arm, values in {"baseline": (50.0, 60.0), "cosine": (70.0, 50.0)}.items():
        for seed, final in enumerate(values):
            write_run(runs, "ablations", arm, suite.config(arm, seed=seed, epochs=2), finals=(40.0, final))
    plan = make_plan(suite, Selection(("baseline", "cosine"), None, (("epochs", 2),), (0, 1)), runs)
    write_report(plan, tmp_path / "results")
    md = (tmp_path / "results" / "ablations.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| cosine |"))
    assert "| > 100 |" in row
    assert "(with n = 2, not even a 100-point difference is resolvable: add seeds)." in md
    arms = pd.read_csv(tmp_path / "results" / "ablations-arms.csv").set_index("arm")
    expected = (math.tan(math.pi * 0.475) + math.tan(math.pi * 0.3)) * 15  # t with df = 1 is Cauchy
    assert arms.loc["cosine", "resolvable"] == pytest.approx(expected) and expected > 211


def test_a_table_without_the_suites_baseline_says_why_it_compares_nothing(tmp_path):
    suite = find_suite("ablations")
    runs = tmp_path / "runs"
    for arm in ("cosine", "no_schedule"):
        write_run(runs, "ablations", arm, suite.config(arm, seed=0, epochs=2), finals=(50.0, 60.0))
    plan = make_plan(suite, Selection(("cosine", "no_schedule"), None, (("epochs", 2),), (0,)), runs)
    written = write_report(plan, tmp_path / "results")
    words = (
        "No Δ, p-values or findings: the suite's baseline `baseline` is not in this table; run it too "
        "(--config baseline ...) to compare the arms with it."
    )
    assert written.warnings == [words]  # under the terminal's table too
    md = (tmp_path / "results" / "ablations.md").read_text()
    assert f"**{words}**" in md and "## Findings" not in md


def test_runs_on_official_and_modified_files_are_told_apart(tmp_path):
    """One seed trained on a modified CIFAR-10 copy among verified ones: the header says how many runs,
    and the runs CSV which."""
    suite = find_suite("ablations")
    runs = tmp_path / "runs"
    for seed in (0, 1, 2):
        official = {"files_match_official_md5": seed != 1}
        config = suite.config("baseline", seed=seed, epochs=2)
        write_run(runs, "ablations", "baseline", config, finals=(50.0, 90.0 + seed), data=official)
    plan = make_plan(suite, Selection(("baseline",), None, (("epochs", 2),), (0, 1, 2)), runs)
    write_report(plan, tmp_path / "results")
    md = (tmp_path / "results" / "ablations.md").read_text()
    assert (
        "Dataset: CIFAR-10 (the files of 1 of 3 runs differ from the official release: md5; the CSV's "
        "data.official_files says which)." in md
    )
    csv = pd.read_csv(tmp_path / "results" / "ablations.csv").set_index("seed")
    assert list(csv["data.official_files"]) == [True, False, True]


def test_a_figure_this_report_has_none_of_is_not_left_from_an_earlier_one(ablations, tmp_path, caplog):
    """An interaction plot from an earlier factorial report of the suite would pass for the current
    numbers: removed, and said so; the user's other files stay."""
    plan, _ = ablations
    results = tmp_path / "results"
    results.mkdir()
    kept = [results / "ablations-notes.txt", results / "depth-interaction.png"]
    for name in ("ablations-interaction.pdf", "ablations-interaction.png", *(p.name for p in kept)):
        (results / name).write_text("an earlier file")
    with caplog.at_level("WARNING"):
        paths = write_report(plan, results).paths
    assert not list(results.glob("ablations-interaction.*")) and all(path.exists() for path in kept)
    assert results / "ablations-forest.png" in paths  # drawn: this table has a baseline
    stale = f"{results / 'ablations-interaction.pdf'} and {results / 'ablations-interaction.png'}"
    assert caplog.messages == [
        f"notice: removed {stale}, an earlier report's (this table has no such figure)"
    ]


def test_a_description_on_several_lines_keeps_its_markdown_row_whole(tmp_path):
    path = tmp_path / "nl.toml"
    path.write_text(
        '[base]\nmodel = "resnet8"\ndataset = "synthetic"\n'
        '[presets.b]\ndescription = """first line\nsecond | line"""\n'
    )
    suite, runs = load_suite(path), tmp_path / "runs"
    write_run(runs, "nl", "b", suite.config("b", seed=0), finals=(50.0, 60.0))
    write_report(make_plan(suite, Selection(None, None, (), (0,)), runs), tmp_path / "results")
    md = (tmp_path / "results" / "nl.md").read_text()
    (row,) = [line for line in md.splitlines() if line.startswith("| b |")]
    assert row.endswith("| first line second \\| line |")


def test_welch_when_seeds_are_not_shared_by_hand():
    a, b = {0: 93.0, 1: 94.0}, {2: 90.0, 3: 92.0}
    result = compare(a, b)
    se = math.sqrt(0.5 / 2 + 2 / 2)  # variances 0.5 and 2
    df = (0.25 + 1) ** 2 / (0.25**2 / 1 + 1**2 / 1)
    assert result.kind == "welch" and result.diff == pytest.approx(2.5)
    assert result.p == pytest.approx(2 * scipy_stats.t.sf(2.5 / se, df))
    assert result.p_superior == 1.0  # both of a's seeds beat both of b's
    assert compare({0: 93.0}, {}) is None


def test_too_few_seeds_for_a_test_compare_the_seed_both_ran():
    """An arm with seed 0 against a baseline with seeds 0 and 1 (a sweep stopped halfway) was given the
    difference of the two means, mixing in the baseline's seed 1, which the arm never ran."""
    one = compare({0: 41.0}, {0: 97.5, 1: 98.25})
    assert (one.kind, one.diff, one.n, one.low, one.p) == ("single", -56.5, 1, None, None)  # 41 - 97.5
    apart = compare({2: 41.0}, {0: 97.5, 1: 98.25})  # no seed shared: the means, untested
    assert (apart.kind, apart.diff, apart.n) == ("none", 41.0 - 97.875, 1)
    assert compare({0: 93.0}, {0: 90.0}).kind == "single"


def test_holm_bonferroni_by_hand():
    # sorted: 0.01 x 4 = 0.04; 0.03 x 3 = 0.09; 0.04 x 2 = 0.08 -> 0.09 (monotone); 0.5 x 1 = 0.5
    assert holm([0.04, 0.01, None, 0.5, 0.03]) == pytest.approx([0.09, 0.04, None, 0.5, 0.09])
    assert holm([0.6, 0.7]) == [1.0, 1.0] and holm([]) == []


def test_cell_intervals_by_hand():
    assert half_width([90.0, 92.0]) == pytest.approx(T975_DF1 * math.sqrt(2) / math.sqrt(2))
    assert half_width([90.0, 92.0], "std") == pytest.approx(math.sqrt(2))
    assert half_width([90.0]) is None


# --- a suite's runs
# ----------------------------------------------------------------------------------------------
ABLATION_RUNS = {  # (arm, seed): (status, final test accuracy)
    ("baseline", 0): ("completed", 90.0),
    ("baseline", 1): ("completed", 92.0),
    ("baseline", 2): ("completed", 92.5),
    ("cosine", 0): ("completed", 93.0),
    ("cosine", 1): ("completed", 94.0),
    ("cosine", 2): ("completed", 95.5),
    ("no_batchnorm", 0): ("completed", 80.0),
    ("no_batchnorm", 1): ("failed", None),
    ("resnet34", 0): ("unfinished", None),
    ("small_batch", 0): ("diverged", 10.0),
}


@pytest.fixture
def ablations(tmp_path):
    suite = find_suite("ablations")
    runs = tmp_path / "runs"
    for (arm, seed), (status, final) in ABLATION_RUNS.items():
        config = suite.config(arm, seed=seed, epochs=2)
        write_run(runs, "ablations", arm, config, status, finals=(50.0, final or 40.0))
    plan = make_plan(suite, Selection(None, None, (("epochs", 2),), (0, 1, 2)), runs)
    return plan, runs


def test_the_table_compares_paired_seeds_with_intervals_and_holm(ablations, tmp_path):
    plan, runs = ablations
    paths = write_report(plan, tmp_path / "results").paths
    md = (tmp_path / "results" / "ablations.md").read_text()
    half = T975_DF2 * math.sqrt(((90 - 91.5) ** 2 + (92 - 91.5) ** 2 + (92.5 - 91.5) ** 2) / 2) / math.sqrt(3)
    assert (
        f"| baseline | **91.50 ± {half:.2f} (n=3)** |" in md
        or f"| baseline | 91.50 ± {half:.2f} (n=3) |" in md
    )
    cosine = paired([93.0, 94.0, 95.5], [90.0, 92.0, 92.5])
    assert (
        "| cosine | **94.17 ± " in md
        and f"+2.67 [{cosine.low:+.2f}, {cosine.high:+.2f}] | {cosine.p:.3g} |" in md
    )
    # Holm over the comparisons that have a test: only cosine here (the others lack seeds) -> unchanged.
    assert f"| {cosine.p:.3g} | {cosine.p:.3g} | 1 | {resolvable_difference(cosine, 1):.2f} |" in md
    assert "Holm–Bonferroni over 1 tested comparison of this table" in md  # the m a reader can check
    assert (
        "| no_batchnorm | **80.00 (n=1)** |" in md and "1 failed, 1 pending" in md
    )  # n = 1: not shown worse
    assert (
        "| resnet34 | — |" in md and "1 interrupted, 2 pending" in md
    )  # never started seeds show as pending
    assert "| small_batch | — |" in md and "1 diverged, 2 pending" in md
    assert "| resnet50 | — |" in md and "3 pending" in md  # a planned arm nothing ran yet is in the table
    assert "## Findings" in md
    assert (
        f"`cosine`: +2.67 points vs `baseline` (95% CI [{cosine.low:+.2f}, {cosine.high:+.2f}], paired over "
        "3 seeds)" in md
    )
    # its seed 0 against the baseline's (80 - 90), not against the baseline's mean over seeds it never ran
    assert "| -10.00 (1 shared seed, no test) |" in md
    assert "`no_batchnorm`: -10.00 points vs `baseline` (1 shared seed); not resolved with n = 1" in md
    from resnet.report.analysis import analyse
    from resnet.report.figures import forest_figure

    rows = analyse(plan, collect(plan).arms, "ci95", set())
    labels = [text.get_text() for text in forest_figure(rows, "baseline", "t").axes[0].texts]
    assert "-10.00 (1 shared seed)" in labels  # the figure says what the table says
    assert "⚠ No validation split: the test split chose each run's best epoch" in md
    assert "**These runs override the suite's presets: epochs=2**" in md
    assert "Dataset: CIFAR-10 (files differ from the official release: md5)" in md
    assert figure_title(plan, collect(plan)) == "ablations on CIFAR-10, non-official files (epochs=2)"
    assert "Provenance: git abc1234def; torch 2.4.0; CUDA none; device cpu (test, 2 threads)." in md
    tex = (tmp_path / "results" / "ablations.tex").read_text()
    compact = (tmp_path / "results" / "ablations-compact.tex").read_text()
    for text in (tex, compact):
        assert (
            "\\toprule" in text
            and "epochs=2" in text
            and "No validation split" in text
            and "CIFAR-10" in text
        )
    assert (
        "\\begin{table}[t]" in compact and compact.count("&") <= 4 * 8
    )  # four columns: one column of a paper
    assert "\\footnotesize" in compact  # n differs between arms, so every cell carries it: a smaller font
    assert (
        "(its 95\\% t-interval in the full table; Welch" in compact
        and "with its 95\\% t-interval (W: Welch's test, seeds not shared" in tex
    )
    assert "{@{}r@{}}Final\\\\ test acc.\\end{tabular}" in tex  # the header on two lines: the page is narrow
    assert tex.isascii() and compact.isascii()  # pdflatex stops at a Greek letter
    # published numbers as published, * where one lies outside our 95% CI; the same epochs in every arm go
    # to the caption
    assert (
        "& 93.9 / 87.6$^\\dagger$ &" in tex and "& 94.1 / 94.0$^\\dagger$ &" in tex
    )  # epochs=2: not compared
    assert "Published: best / final test accuracy reported by" in tex and "Every arm: epochs 2." in tex
    assert "$^\\dagger$ not compared: our runs override the preset's config." in tex
    assert "Epochs" not in tex and "\\setlength{\\tabcolsep}{4pt}" in tex
    runs_csv = pd.read_csv(tmp_path / "results" / "ablations.csv")
    assert sorted(runs_csv.loc[runs_csv["arm"] == "cosine", "accuracy"]) == [
        93.0,
        94.0,
        95.5,
    ]  # per-seed values
    arms_csv = pd.read_csv(tmp_path / "results" / "ablations-arms.csv")
    cosine_arm = arms_csv.set_index("arm").loc["cosine"]
    assert cosine_arm["values"] == "93.0000 94.0000 95.5000"
    cosine_sd = math.sqrt(
        ((93 - 94.5 + 1 / 3) ** 2 + (94 - 94.5 + 1 / 3) ** 2 + (95.5 - 94.5 + 1 / 3) ** 2) / 2
    )
    assert cosine_arm["ci95_half_width"] == pytest.approx(T975_DF2 * cosine_sd / math.sqrt(3))
    write_report(plan, tmp_path / "std", "std")  # the column names the ± the cells carry
    std_arms = pd.read_csv(tmp_path / "std" / "ablations-arms.csv").set_index("arm")
    assert "ci95_half_width" not in std_arms and std_arms.loc["cosine", "std"] == pytest.approx(cosine_sd)
    names = {p.name for p in paths}
    assert {
        "ablations-curves.pdf",
        "ablations-curves.png",
        "ablations-forest.pdf",
        "ablations-forest.png",
    } <= names
    for path in paths:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        if path.suffix == ".pdf":
            assert path.read_bytes()[:5] == b"%PDF-"


def test_bold_marks_every_arm_not_significantly_worse_than_the_best(tmp_path):
    suite = find_suite("ablations")
    runs = tmp_path / "runs"
    values = {
        "baseline": (90.0, 90.5, 91.0, 90.2),
        "cosine": (94.0, 94.5, 95.0, 94.4),  # clearly best
        "no_schedule": (93.0, 95.0, 94.0, 94.5),
    }  # close to the best: not shown worse
    for arm, accs in values.items():
        for seed, acc in enumerate(accs):
            write_run(runs, "ablations", arm, suite.config(arm, seed=seed, epochs=2), finals=(50.0, acc))
    plan = make_plan(suite, Selection(tuple(values), None, (("epochs", 2),), (0, 1, 2, 3)), runs)
    write_report(plan, tmp_path / "results")
    md = (tmp_path / "results" / "ablations.md").read_text()
    assert "| cosine | **94.47" in md and "| no_schedule | **94.12" in md
    assert "| baseline | 90.42" in md  # significantly worse than cosine after Holm
    assert "`cosine`: +4.05 points vs `baseline`" in md and "better than `baseline` at α = 0.05" in md


def test_diverged_seeds_stay_out_of_the_mean_and_the_findings_say_so(tmp_path, suite_file):
    suite = load_suite(suite_file)
    runs = tmp_path / "runs"
    for seed, acc in enumerate((90.0, 91.0, 92.0)):
        write_run(runs, "tiny", "base", suite.config("base", seed=seed), finals=(acc,))  # the suite's 1 epoch
    for seed, (status, acc) in enumerate((("completed", 93.0), ("completed", 95.0), ("diverged", 10.0))):
        write_run(runs, "tiny", "cosine", suite.config("cosine", seed=seed), status, finals=(acc,))
    plan = make_plan(suite, Selection(("base", "cosine"), None, (), (0, 1, 2)), runs)
    write_report(plan, tmp_path / "results")
    md = (tmp_path / "results" / "tiny.md").read_text()
    assert "| cosine | **94.00 ± " in md and "(n=2)" in md and "1 diverged" in md  # 93 and 95 only
    assert "a pending, running, failed or diverged seed never enters a cell" in md
    assert (
        "`cosine`: +3.50 points vs `base` (95% CI" in md  # paired over seeds 0 and 1: (3 + 4) / 2
        and "Diverged: 1 of 3 finished seeds, left out of the mean (which flatters `cosine`)." in md
    )
    tex = (tmp_path / "results" / "tiny.tex").read_text()
    assert "Seeds that diverged, not in the cells: cosine 1." in tex


def test_arms_not_directories_a_cell_holds_one_config_each_seed_once(tmp_path):
    suite = find_suite("ablations")
    runs = tmp_path / "runs"
    # Case 1: seeds 0 and 1 with 8 epochs, then seed 2 with 2 epochs into the same runs dir.
    for seed, epochs, acc in ((0, 8, 95.0), (1, 8, 96.0), (2, 2, 60.0)):
        write_run(
            runs,
            "ablations",
            "baseline",
            suite.config("baseline", seed=seed, epochs=epochs),
            finals=(50.0, acc),
        )
    write_run(runs, "ablations", "cosine", suite.config("cosine", seed=0, epochs=2), finals=(50.0, 70.0))
    # Case 2: a cosine run copied in as a baseline seed; case 5: a copied seed dir and stray directories.
    shutil.copytree(runs / "ablations" / "cosine" / "seed0", runs / "ablations" / "baseline" / "seed5")
    shutil.copytree(runs / "ablations" / "baseline" / "seed2", runs / "ablations" / "baseline" / "seed02")
    (runs / "ablations" / "baseline" / "seedX").mkdir()
    (runs / "ablations" / "baseline" / "seedX" / "config.json").write_bytes(b"\xff\xfe\x00binary")
    (runs / "ablations" / "baseline" / "seed0.bak").mkdir()
    (runs / "ablations" / "baseline" / "seed0.bak" / "config.json").write_text('{"config": {"lr": "fast"}}')
    (runs / "ablations" / "baseline" / "seed0.bak" / "metrics.jsonl").write_bytes(b"\x00\xff garbage")
    (runs / "ablations" / "baseline" / "seed7").mkdir()  # nested past what Python's JSON parser goes
    (runs / "ablations" / "baseline" / "seed7" / "config.json").write_text("[" * TOO_DEEP + "]" * TOO_DEEP)
    (runs / "ablations" / "baseline" / "seed8").mkdir()  # a string no encoder takes: pydantic raised on it
    (runs / "ablations" / "baseline" / "seed8" / "config.json").write_text('{"config": {"model": "\\udcff"}}')
    not_utf8 = runs / "ablations" / "baseline" / os.fsdecode(b"seed\xff")  # a name that is not UTF-8
    not_utf8.mkdir()
    (not_utf8 / "config.json").write_text("{}")
    escape = runs / "ablations" / "baseline" / "seed9\x1b[2J"  # `cat` of the Markdown cleared the screen
    escape.mkdir()
    (escape / "config.json").write_text("{bad")
    plan = make_plan(suite, Selection(("baseline", "cosine"), None, (("epochs", 2),), (2,)), runs)
    collected = collect(plan)
    baseline, cosine = collected.arms
    assert [(r.seed, r.value) for r in baseline.runs] == [(2, 60.0)]  # only the 2-epoch run, once
    assert [(r.seed, r.value) for r in cosine.runs] == [(0, 70.0)]  # the copy counts once, as what it is
    assert sorted(r.config.epochs for r in collected.others) == [8, 8]
    skipped = {p.name: reason for p, reason in collected.skipped}
    assert "not UTF-8" in skipped["seedX"] and "its config is not valid here" in skipped["seed0.bak"]
    assert "not valid JSON (arrays or objects nested too deeply at line 1)" in skipped["seed7"]
    assert (
        "not valid JSON (a \\u escape that is no character (a lone surrogate) at line 1)" in skipped["seed8"]
    )
    assert (
        "a second run of baseline seed 2" in skipped["seed02"]
        and "a second run of cosine seed 0" in skipped["seed5"]
    )
    written = write_report(plan, tmp_path / "results")  # never crashes on what it cannot read
    assert written.aside == "2 runs of other configurations, 8 skipped directories"  # said in the terminal
    md = (tmp_path / "results" / "ablations.md").read_text()
    assert "\x1b" not in md and "/seed9\\x1b[2J`: config.json unreadable" in md
    assert "| baseline | **60.00 (n=1)** |" in md or "| baseline | 60.00 (n=1) |" in md
    assert "## Other configurations" in md and "`baseline` with epochs=8" in md
    others = md.split("## Other configurations")[1].split("## Skipped")[0]
    assert "| Seed | Status | Test acc |" in others and "(final) |" in others  # which epoch, per run
    assert "## Skipped directories" in md and "seedX" in md
    assert "/seed?`: its config.json holds no config table (nothing says what it trained)" in md


def test_a_run_of_a_preset_as_written_is_named_so_beside_a_table_of_overrides(tmp_path):
    """Under `--epochs 2` the preset's own run is another configuration: its row says which, not an
    empty '`baseline` with'."""
    suite = find_suite("ablations")
    runs = tmp_path / "runs"
    write_run(runs, "ablations", "baseline", suite.config("baseline", seed=0))
    plan = make_plan(suite, Selection(("baseline",), None, (("epochs", 2),), (0,)), runs)
    write_report(plan, tmp_path / "results")
    others = (tmp_path / "results" / "ablations.md").read_text().split("## Other configurations")[1]
    assert "| `baseline` as the suite defines it (no overrides) | 0 | completed |" in others


def test_runs_this_user_may_not_read_are_named_never_pending_nor_unverified(tmp_path, monkeypatch):
    """A shared runs dir holds a colleague's run dirs: one this user may not list read as 'pending' (its
    run unseen), one whose metrics.jsonl it may not read as 'unverified'. Permissions are simulated: as
    root (the tests' user) nothing is refused."""
    suite = find_suite("ablations")
    runs = tmp_path / "runs"
    for arm in ("baseline", "cosine", "no_schedule"):
        write_run(runs, "ablations", arm, suite.config(arm, seed=0, epochs=2), finals=(50.0, 60.0))
    closed_dir = runs / "ablations" / "cosine" / "seed0"
    closed_file = runs / "ablations" / "no_schedule" / "seed0" / "metrics.jsonl"
    real_scandir, real_listdir, real_access = os.scandir, os.listdir, os.access

    def refuse(real):
        def call(path, *args):
            if str(path) == str(closed_dir) or str(path) == str(closed_file):
                raise PermissionError(13, "Permission denied", str(path))
            return real(path, *args)

        return call

    monkeypatch.setattr(os, "scandir", refuse(real_scandir))
    monkeypatch.setattr(os, "listdir", refuse(real_listdir))
    monkeypatch.setattr(
        os, "access", lambda path, mode: str(path) != str(closed_file) and real_access(path, mode)
    )
    plan = make_plan(
        suite, Selection(("baseline", "cosine", "no_schedule"), None, (("epochs", 2),), (0,)), runs
    )
    collected = collect(plan)
    cells = {cell.arm.name: cell for cell in collected.arms}
    assert [len(cells[a].runs) for a in ("baseline", "cosine", "no_schedule")] == [1, 0, 0]
    for arm in ("cosine", "no_schedule"):  # not known, so neither pending nor another config's
        assert (cells[arm].pending, cells[arm].conflicts, cells[arm].unreadable) == ([], [], [0])
    assert cells["cosine"].outside() == "1 unreadable"
    assert dict(collected.skipped) == {
        closed_dir: "it cannot be listed (permission denied): runs in it are not counted",
        closed_file.parent: "metrics.jsonl cannot be read by this user (permission denied)",
    }


def test_runs_behind_symlinks_count_once_and_a_loop_ends(tmp_path):
    """An arm's directory moved to another disk and linked back is read; a seed linked to another arm's run
    is that run once, and its planned seed a conflict; a link back up the tree does not loop, a link
    to a directory above the runs dir (/ would search the whole disk) is not followed, and a link that
    leads nowhere is listed."""
    suite, runs = find_suite("ablations"), tmp_path / "runs"
    elsewhere = tmp_path / "scratch" / "baseline"
    for seed, acc in ((0, 90.0), (1, 92.0)):
        write_run(runs, "ablations", "baseline", suite.config("baseline", seed=seed), finals=(acc,))
        write_run(runs, "ablations", "cosine", suite.config("cosine", seed=seed), finals=(acc + 1,))
    elsewhere.parent.mkdir()
    (runs / "ablations" / "baseline").rename(elsewhere)
    (runs / "ablations" / "baseline").symlink_to(elsewhere)
    shutil.rmtree(runs / "ablations" / "cosine" / "seed1")
    (runs / "ablations" / "cosine" / "seed1").symlink_to(elsewhere / "seed1")
    (runs / "ablations" / "cosine" / "loop").symlink_to(runs / "ablations")
    (runs / "ablations" / "cosine" / "up").symlink_to(tmp_path)  # holds the runs dir: like a link to /
    plan = make_plan(suite, Selection(("baseline", "cosine"), None, (), (0, 1)), runs)
    baseline, cosine = collect(plan).arms
    assert baseline.values() == {0: 90.0, 1: 92.0} and cosine.values() == {0: 91.0}
    assert cosine.conflicts == [1] and not collect(plan).others
    ((path, reason),) = collect(plan).skipped
    assert path.name == "seed1" and "baseline/seed1 again, through a symlink" in reason
    # a seed moved to a disk that is not mounted now, and a link to itself: named, never silently gone
    (runs / "ablations" / "cosine" / "seed2").symlink_to(tmp_path / "unmounted" / "seed2")
    (runs / "ablations" / "cosine" / "self").symlink_to("self")
    skipped = {path.name: reason for path, reason in collect(plan).skipped}
    assert skipped["seed2"] == (
        f"a symlink to {tmp_path / 'unmounted' / 'seed2'}, which does not exist (a disk not mounted, or "
        "moved?): runs behind it are not counted"
    )
    assert skipped["self"] == (
        "a symlink to self, which leads back to itself (a loop of links): runs behind it are not counted"
    )
    assert len(skipped) == 3


def test_a_run_of_a_suite_edited_since_goes_to_other_configurations(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[base]\nmodel = "resnet8"\ndataset = "synthetic"\n[presets.a]\nlr = 0.02\n')
    runs = tmp_path / "runs"
    write_run(runs, "mine", "a", load_suite(path).config("a", seed=0), finals=(50.0, 80.0))
    path.write_text('[base]\nmodel = "resnet8"\ndataset = "synthetic"\n[presets.a]\nlr = 0.1\n')  # edited
    plan = make_plan(load_suite(path), Selection(None, None, (), (0,)), runs)
    collected = collect(plan)
    assert collected.arms[0].runs == [] and collected.arms[0].pending == []
    assert collected.arms[0].conflicts == [0]  # not pending: its directory holds the old run, a sweep refuses
    assert [r.config.lr for r in collected.others] == [0.02]
    write_report(plan, tmp_path / "results")
    md = (tmp_path / "results" / "mine.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| a | — |"))
    assert row.endswith("| 1 conflict |"), row


def test_sections_keep_the_suites_order_and_references_are_checked(tmp_path):
    suite = find_suite("depth")
    runs = tmp_path / "runs"
    accs = {
        "resnet20": (91.0, 91.5, 91.3),
        "resnet32": (92.4, 92.6, 92.5),
        "resnet44": (94.0, 94.1, 94.2),
        "resnet110": (93.0, 93.8, 93.4),
    }
    for arm, values in accs.items():
        for seed, acc in enumerate(values):
            write_run(runs, "depth", arm, suite.config(arm, seed=seed), finals=(50.0, acc))
    plan = make_plan(suite, Selection(tuple(accs), None, (), (0, 1, 2)), runs)
    write_report(plan, tmp_path / "results")
    md = (tmp_path / "results" / "depth.md").read_text()
    section = md.split("## Depth comparison")[1]
    assert section.index("| resnet32 |") < section.index(
        "| resnet110 |"
    )  # the suite's order, not alphabetical
    assert "| final 91.25 (inside) |" in md  # resnet20: 91.27 ± 0.63
    assert "| final 92.49 (inside) |" in md and "| final 93.39 (inside) |" in md
    assert "| final 92.83 (outside) |" in md  # resnet44: 94.10 ± 0.25
    tex = (tmp_path / "results" / "depth.tex").read_text()
    assert "& 91.25 &" in tex and "& 92.83$^*$ &" in tex and "$^*$ outside our 95\\% CI." in tex
    assert "n = 3 seeds per arm." in tex and "(n=" not in tex  # every arm the same n: said once
    assert "\\small" in (tmp_path / "results" / "depth-compact.tex").read_text()  # short cells: room
    assert (
        "Published (resnet20, resnet32, resnet44): He et al. 2016, Deep Residual Learning for Image "
        "Recognition, Table 6; " in md
    )
    # An overridden config is not the published protocol: the reference is shown, not compared.
    plan = make_plan(suite, Selection(("resnet20",), None, (("epochs", 2),), (0,)), runs)
    write_report(plan, tmp_path / "other")
    assert "final 91.25 (not compared: overridden config)" in (tmp_path / "other" / "depth.md").read_text()


def test_mixed_provenance_is_flagged(tmp_path):
    suite = find_suite("ablations")
    runs = tmp_path / "runs"
    gpu = {"device": "cuda:0 (NVIDIA H100)", "git": {"commit": "fff0000aaa", "dirty": True}}
    for arm, acc, env, bf16, files in (
        ("baseline", 90.0, None, False, "aaaa"),
        ("cosine", 91.0, gpu, True, "bbbb"),  # another modified copy of CIFAR-10
        ("no_schedule", 89.0, gpu, False, "bbbb"),  # fp32 on a GPU: convolutions in TF32
    ):
        config, data = suite.config(arm, seed=0), {"dataset": "cifar10", "files_sha256": files}
        runtime = {"amp_bf16": bf16, "tf32_convs": env is gpu}
        write_run(runs, "ablations", arm, config, finals=(50.0, acc), env=env, runtime=runtime, data=data)
    selection = Selection(("baseline", "cosine", "no_schedule"), None, (), (0,))
    written = write_report(make_plan(suite, selection, runs), tmp_path / "results")
    md = (tmp_path / "results" / "ablations.md").read_text()
    assert (
        "⚠ Mixed provenance: the arms' runs (or a resumed run's sessions) differ in git, device, precision, "
        in md
    )
    (warning,) = written.warnings  # the terminal says it too, under the table, not only the file's footer
    assert warning.startswith("⚠ Mixed provenance:") and md.index(f"**{warning}**") < md.index(
        "| Experiment |"
    )
    terminal = Console(file=io.StringIO(), width=200)
    print_table(written.table, written.title, written.outside, written.aside, written.warnings, terminal)
    assert terminal.file.getvalue().rstrip().endswith(warning)
    assert "data files cifar10 aaaa, cifar10 bbbb" in md
    assert "fff0000aaa (uncommitted changes)" in md
    assert "precision bf16 autocast, fp32, fp32 (TF32 convolutions)" in md
    for name in ("ablations.tex", "ablations-compact.tex"):  # the LaTeX carries the same footer
        tex = (tmp_path / "results" / name).read_text()
        assert "{\\scriptsize Provenance: git abc1234def, fff0000aaa (uncommitted changes);" in tex
        assert (
            "Mixed provenance: the arms' runs (or a resumed run's sessions) differ in git, device, precision"
            in tex
            and tex.isascii()
        )


def test_the_terminal_table_breaks_a_design_arms_name_between_factors_only_when_it_must():
    import pandas as pd

    names = ["baseline", "lr_schedule=multistep,norm=none"]
    table = pd.DataFrame(
        {
            "Experiment": names,
            "Test acc": ["97.85 ± 7.45 (n=2)", "29.49 ± 91.82 (n=2)"],
            "Δ vs baseline [95% CI]": ["", "-68.36 [-167.63, +30.91]"],
            "p Holm": ["—", "0.145"],
        }
    )

    def shown(width):
        terminal = Console(file=io.StringIO(), width=width)
        print_table(table, "t", ["", ""], console=terminal)
        return terminal.file.getvalue()

    assert "lr_schedule=multistep,norm=none" in shown(200)  # room enough: the name as it is
    narrow = shown(80).splitlines()
    at = next(i for i, line in enumerate(narrow) if "lr_schedule=" in line)
    assert narrow[at].split()[0] == "lr_schedule=multistep,"  # not cut inside a factor
    assert narrow[at + 1].split()[0] == "norm=none"
    assert "0.145" in narrow[at]  # and every column still shown


def test_arms_that_set_amp_differ_in_precision_by_design_not_by_accident(tmp_path):
    """A bf16-against-fp32 comparison differs in precision by its configs: no warning. Runs whose
    precision the device chose (amp unset) and that came out different are still flagged."""
    path = tmp_path / "bf16.toml"
    path.write_text(
        '[base]\nmodel = "resnet8"\n[presets.fp32]\namp = false\n[presets.bf16]\namp = true\n[presets.auto]\n'
    )
    suite, runs = load_suite(path), tmp_path / "runs"
    for arm, bf16 in (("fp32", False), ("bf16", True)):
        write_run(runs, "bf16", arm, suite.config(arm), runtime={"amp_bf16": bf16})
    by_design = make_plan(suite, Selection(("fp32", "bf16"), None, (), (0,)), runs)
    assert provenance(collect(by_design)) == [
        "Provenance: git abc1234def; torch 2.4.0; CUDA none; device cpu (test, 2 threads); precision bf16 "
        "autocast, fp32."
    ]
    for seed, bf16 in ((0, True), (1, False)):  # the device chose: one AMX machine, one without
        write_run(runs, "bf16", "auto", suite.config("auto", seed=seed), runtime={"amp_bf16": bf16})
    by_accident = make_plan(suite, Selection(("auto",), None, (), (0, 1)), runs)
    assert provenance(collect(by_accident))[1].startswith("⚠ Mixed provenance: the arms' runs (or a resumed")


def test_a_run_resumed_on_another_machine_is_mixed_provenance(tmp_path):
    """Its last session alone would say one device and one precision: every session is read."""
    suite = find_suite("ablations")
    runs = tmp_path / "runs"
    for arm in ("baseline", "cosine"):
        write_run(runs, "ablations", arm, suite.config(arm, seed=0), runtime={"amp_bf16": False})
    moved = runs / "ablations" / "cosine" / "seed0" / "config.json"
    record = json.loads(moved.read_text())
    first = {**record["environment"], "runtime": {"amp_bf16": False}}
    record["sessions"] = [
        first,
        {**first, "device": "cpu (AMX Xeon, 2 threads)", "runtime": {"amp_bf16": True}},
    ]
    moved.write_text(json.dumps(record))
    plan = make_plan(suite, Selection(("baseline", "cosine"), None, (), (0,)), runs)
    lines = provenance(collect(plan))
    assert (
        "device cpu (AMX Xeon, 2 threads), cpu (test, 2 threads); precision bf16 autocast, fp32." in lines[0]
    )
    assert lines[1].startswith(
        "⚠ Mixed provenance: the arms' runs (or a resumed run's sessions) differ in device, precision;"
    )
    one_session = (
        "Provenance: git abc1234def; torch 2.4.0; CUDA none; device cpu (test, 2 threads); precision fp32."
    )
    for edited in ([first, "an edited entry", {**first, "runtime": "not a table"}], 5, "not a list"):
        record["sessions"] = edited  # read, never a crash
        moved.write_text(json.dumps(record))
        assert provenance(collect(plan)) == [one_session]


def test_one_thread_recorded_either_way_is_one_device(tmp_path):
    suite = find_suite("ablations")
    runs = tmp_path / "runs"
    for arm, device in (("baseline", "cpu (test, 1 threads)"), ("cosine", "cpu (test, 1 thread)")):
        write_run(runs, "ablations", arm, suite.config(arm, seed=0), env={"device": device})
    plan = make_plan(suite, Selection(("baseline", "cosine"), None, (), (0,)), runs)
    assert provenance(collect(plan)) == [
        "Provenance: git abc1234def; torch 2.4.0; CUDA none; device cpu (test, 1 thread)."
    ]


def test_hand_edited_run_files_never_crash_the_report(tmp_path):
    suite = find_suite("ablations")
    runs = tmp_path / "runs"
    kept = write_run(runs, "ablations", "baseline", suite.config("baseline", seed=0), finals=(50.0, 90.0))
    edited = write_run(runs, "ablations", "baseline", suite.config("baseline", seed=1), finals=(50.0, 80.0))
    record = json.loads((kept / "config.json").read_text())
    (kept / "config.json").write_text(json.dumps({**record, "environment": 5, "data": "x"}))
    nested = write_run(runs, "ablations", "baseline", suite.config("baseline", seed=3), finals=(50.0, 90.0))
    record = json.loads((nested / "config.json").read_text())
    nested_junk = {
        "environment": {"git": -1, "resnet_ablations": []},
        "data": {"files_match_official_md5": [1]},
    }
    (nested / "config.json").write_text(json.dumps({**record, **nested_junk}))
    summary = json.loads((edited / "summary.json").read_text())
    (edited / "summary.json").write_text(json.dumps({**summary, "final_train_acc": "x", "params": []}))
    piped = write_run(runs, "ablations", "baseline", suite.config("baseline", seed=2), finals=(50.0, 70.0))
    (piped / "config.json").unlink()
    os.mkfifo(piped / "config.json")  # reading it would wait forever for a writer
    write_report(make_plan(suite, Selection(("baseline",), None, (), (0, 1, 3)), runs), tmp_path / "results")
    md = (tmp_path / "results" / "ablations.md").read_text()
    assert (
        "| baseline | **90.00 ± 0.00 (n=2)** |" in md and "1 unverified" in md and "git unknown" in md
    )  # the edited summary is not counted; a commit that is not a string names none
    assert f"- `{piped}`: config.json unreadable: {piped}/config.json is not a regular file" in md


def test_latex_text_is_what_pdflatex_reads():
    from resnet.report.latex import latex_escape

    assert latex_escape("Müller & Łukasz: 50% of #1_a") == r"Müller \& Łukasz: 50\% of \#1\_a"
    assert latex_escape("α = 0.05 ± 1 – Δ") == r"$\alpha$ = 0.05 $\pm$ 1 -- $\Delta$"
    assert latex_escape("→ 日本") == "? ??"  # what pdflatex cannot typeset never reaches it
    assert latex_escape("Smith, §3 “best” β, λ µm 5°…") == (
        r"Smith, \S{}3 ``best'' $\beta$, $\lambda$ $\mu$m 5\textdegree{}\dots{}"
    )


def test_validation_protocol_reports_test_at_the_val_selected_epoch(tmp_path):
    suite = find_suite("ablations_val")
    runs = tmp_path / "runs"
    # Epoch 2 has the best validation accuracy; epoch 3 the best test accuracy; the table must show epoch 2's
    # test.
    write_run(
        runs,
        "ablations_val",
        "baseline",
        suite.config("baseline", seed=0, epochs=3),
        finals=(80.0, 85.0, 88.0),
        val=(70.0, 90.0, 89.0),
    )
    write_report(
        make_plan(suite, Selection(("baseline",), None, (("epochs", 3),), (0,)), runs), tmp_path / "results"
    )
    md = (tmp_path / "results" / "ablations_val.md").read_text()
    assert "| Experiment | Test acc @ best val epoch | Final test acc |" in md
    assert "| baseline | **85.00 (n=1)** | 88.00 (n=1) |" in md
    assert "over the tested comparisons of this table (none here: one with" in md  # not "over 0", "0.05/m"
    assert "α/m = 0.05/m, m tested (Holm" in md
    assert "best epoch is chosen on a held-out validation split (5,000 training images" in md
    tex = (tmp_path / "results" / "ablations_val-compact.tex").read_text()
    assert "(val-sel.)" in tex and "n = 1 seed per arm." in tex


def test_a_published_best_is_compared_only_with_a_best_selected_the_same_way(tmp_path):
    """ablations_val selects on val; its references chose their best epoch on test (optimistic): only the
    final numbers are compared, unless a reference says its best was selected on val too."""
    suite, runs = find_suite("ablations_val"), tmp_path / "runs"
    for seed, finals in enumerate([(93.0, 94.0, 87.5), (93.5, 94.2, 87.7)]):
        write_run(
            runs,
            "ablations_val",
            "baseline",
            suite.config("baseline", seed=seed),
            finals=finals,
            val=(90, 95, 89),
        )
    plan = make_plan(suite, Selection(("baseline",), None, (), (0, 1)), runs)
    write_report(plan, tmp_path / "results")
    md = (tmp_path / "results" / "ablations_val.md").read_text()
    assert "| best 93.90 (test-selected: not compared), final 87.60 (inside) |" in md  # final 87.5, 87.7
    assert "best test-selected: not compared" in (tmp_path / "results" / "ablations_val.tex").read_text()
    path = tmp_path / "mine.toml"
    path.write_text(
        'extends = "ablations_val"\n[presets.baseline]\nreference = { best = 99.0, best_selected_on = "val", '
        'source = "s", protocol = "p" }\n'
    )
    mine = load_suite(path)
    for seed in (0, 1):
        run = runs / "mine" / "baseline" / f"seed{seed}"
        shutil.copytree(runs / "ablations_val" / "baseline" / f"seed{seed}", run)
    write_report(make_plan(mine, Selection(("baseline",), None, (), (0, 1)), runs), tmp_path / "results")
    assert "| best 99.00 (outside) |" in (tmp_path / "results" / "mine.md").read_text()  # 94.0, 94.2


def test_arms_of_two_protocols_are_compared_on_the_final_test_accuracy_which_no_selection_touches(tmp_path):
    """One arm selects on val, one (val_size = 0) on test: their selected epochs are not comparable, so the
    table compares final test accuracy for both, says so, tags the selected column, and still tests."""
    path = tmp_path / "mixed.toml"
    path.write_text(
        'baseline = "held"\n[base]\nmodel = "resnet8"\ndataset = "synthetic"\nval_size = 128\n'
        "[presets.held]\n[presets.no_val]\nval_size = 0\n"
    )
    suite, runs = load_suite(path), tmp_path / "runs"
    for seed, finals in enumerate([(80.0, 85.0, 88.0), (81.0, 86.0, 90.0)]):
        write_run(
            runs, "mixed", "held", suite.config("held", seed=seed, epochs=3), finals=finals, val=(70, 90, 89)
        )
    for seed, finals in enumerate([(84.0, 92.0, 89.0), (85.0, 93.0, 93.0)]):
        write_run(runs, "mixed", "no_val", suite.config("no_val", seed=seed, epochs=3), finals=finals)
    write_report(
        make_plan(suite, Selection(None, None, (("epochs", 3),), (0, 1)), runs), tmp_path / "results"
    )
    md = (tmp_path / "results" / "mixed.md").read_text()
    assert "The arms differ in protocol" in md and "Each run's best epoch is chosen" not in md
    assert "| Experiment | Final test acc | Test acc @ selected epoch |" in md
    # held: finals 88, 90 (val-selected 85, 86); no_val: finals 89, 93 (best test 92, 93)
    assert "| held | **89.00 ± 12.71 (n=2)** | 85.50 ± 6.35 (n=2) [val] |" in md
    # differences +1, +3: mean 2, se 1, t = 2 with df 1: two-sided p = 1 - 2 atan(2) / pi = 0.295
    p = 1 - 2 * math.atan(2) / math.pi
    delta = f"+2.00 [{2 - T975_DF1:+.2f}, {2 + T975_DF1:+.2f}] | {p:.3g} |"
    assert f"| no_val | **91.00 ± 25.41 (n=2)** | 92.50 ± 6.35 (n=2) [test] | {delta}" in md
    assert "[val]" in (tmp_path / "results" / "mixed.tex").read_text()
    arms = pd.read_csv(tmp_path / "results" / "mixed-arms.csv")
    assert list(arms["compared"]) == ["final_test_acc"] * 2
    assert list(arms["values"]) == ["88.0000 90.0000", "89.0000 93.0000"]


def factorial_runs(tmp_path, values, schedules=("multistep", "cosine"), exclude=""):
    """Suite `grid`, lr_schedule × norm over seeds 0 and 1, its runs written with the final test
    accuracies `values[(schedule, norm)]` per seed. Returns the plan and its main effects by (factor,
    level)."""
    path = tmp_path / "grid.toml"
    path.write_text(
        '[base]\nmodel = "resnet8"\ndataset = "synthetic"\n[design]\n'
        f'factors = {{ lr_schedule = {json.dumps(list(schedules))}, norm = ["batch", "none"] }}\n{exclude}'
    )
    suite, runs = load_suite(path), tmp_path / "runs"
    plan = make_plan(suite, Selection((), suite.design, (), (0, 1)), runs)
    for arm in plan.arms:
        factors = dict(arm.factors)
        for seed, acc in enumerate(values[(factors["lr_schedule"], factors["norm"])]):
            write_run(runs, "grid", arm.name, arm.config.with_overrides(seed=seed), finals=(40.0, acc))
    effects = main_effects(collect(plan).arms, plan.levels)
    return plan, {(r["factor"], r["level"]): r for r in effects}


def test_main_effects_and_interactions_of_a_factorial_design_by_hand(tmp_path):
    values = {
        ("multistep", "batch"): (80.0, 82.0),
        ("multistep", "none"): (70.0, 72.0),
        ("cosine", "batch"): (90.0, 91.0),
        ("cosine", "none"): (60.0, 66.0),
    }
    plan, effects = factorial_runs(tmp_path, values)
    # multistep: per seed (80 + 70) / 2 = 75 and (82 + 72) / 2 = 77 -> 76 +- t(0.975, 1) * sd(75, 77) /
    # sqrt(2)
    assert effects[("lr_schedule", "multistep")]["mean"] == pytest.approx(76.0)
    assert effects[("lr_schedule", "multistep")]["half"] == pytest.approx(
        T975_DF1 * math.sqrt(2) / math.sqrt(2)
    )
    # cosine: 75 and 78.5 -> 76.75; its effect per seed: 0 and 1.5 -> 0.75
    assert effects[("lr_schedule", "cosine")]["mean"] == pytest.approx(76.75)
    assert effects[("lr_schedule", "cosine")]["effect"] == pytest.approx(0.75)
    # norm none: (70 + 60) / 2 = 65 and (72 + 66) / 2 = 69 -> 67; batch: 85, 86.5 -> 85.75; effect -18.75
    assert effects[("norm", "none")]["mean"] == pytest.approx(67.0)
    assert effects[("norm", "none")]["effect"] == pytest.approx(-18.75)
    paths = write_report(plan, tmp_path / "results").paths
    md = (tmp_path / "results" / "grid.md").read_text()
    assert "## Factorial design: main effects" in md and "| lr_schedule | cosine | 2 | 76.75 ± " in md
    assert "## Interaction: lr_schedule × norm\n" in md and "| multistep | 81.00 (n=2) | 71.00 (n=2) |" in md
    assert {"grid-interaction.png", "grid-interaction.pdf"} <= {p.name for p in paths}
    arms = pd.read_csv(tmp_path / "results" / "grid-arms.csv")  # levels as columns, for a groupby
    assert list(arms.columns[:3]) == ["arm", "factor.lr_schedule", "factor.norm"]
    assert list(arms["factor.norm"]) == ["batch", "none"] * 2
    # with a third factor, what each pair's table and plot average over is said
    assert averaged_over(["lr", "norm", "cutout", "flip"], "lr", "cutout") == " (mean over norm, flip)"
    compact = (tmp_path / "results" / "grid-compact.tex").read_text()  # one column: the names wrap
    assert "\\begin{tabular}{p{0.3\\columnwidth}rrr}" in compact
    assert (
        "\\raggedright lr\\_schedule=\\allowbreak{}cosine,\\allowbreak{}norm=\\allowbreak{}none &" in compact
    )
    assert "\\begin{tabular}{lrr" in (tmp_path / "results" / "grid.tex").read_text()  # two columns: they fit
    for pdf in (p for p in paths if p.suffix == ".pdf"):  # fonts a publisher's PDF check accepts
        data = pdf.read_bytes()
        assert b"/Type3" not in data and b"CIDFontType2" in data and b"CreationDate" not in data, pdf.name


def test_an_excluded_combination_leaves_every_level_averaging_the_same_others(tmp_path):
    """lr_schedule=none has no norm=none arm: averaging norm=none into the other schedules would charge
    them BatchNorm's absence (and norm=batch with lr_schedule=none its schedule)."""
    values = {
        ("multistep", "batch"): (80.0, 82.0),
        ("multistep", "none"): (70.0, 72.0),
        ("cosine", "batch"): (90.0, 91.0),
        ("cosine", "none"): (60.0, 66.0),
        ("none", "batch"): (50.0, 54.0),
    }
    exclude = 'exclude = [{ lr_schedule = "none", norm = "none" }]\n'
    plan, effects = factorial_runs(tmp_path, values, ("multistep", "cosine", "none"), exclude)
    # the schedules over norm=batch only: multistep 81, cosine 90.5 (+10, +9), none 52 (-30, -28)
    assert effects[("lr_schedule", "multistep")]["mean"] == pytest.approx(81.0)
    assert effects[("lr_schedule", "cosine")]["effect"] == pytest.approx(9.5)
    assert effects[("lr_schedule", "none")]["mean"] == pytest.approx(52.0)
    assert effects[("lr_schedule", "none")]["effect"] == pytest.approx(-29.0)
    # norm over multistep and cosine only: batch (80 + 90) / 2, (82 + 91) / 2 -> 85.75, not 73.67 with
    # none's 50 and 54 in it; none 67, effect -18.75
    assert effects[("norm", "batch")]["mean"] == pytest.approx(85.75)
    assert effects[("norm", "none")]["effect"] == pytest.approx(-18.75)
    write_report(plan, tmp_path / "results")
    md = (tmp_path / "results" / "grid.md").read_text()
    assert "left out: for `lr_schedule`, norm=none; for `norm`, lr_schedule=none." in md
    assert "| none | 52.00 (n=2) | — |" in md and "## Interaction: lr_schedule × norm\n" in md  # no other


def test_a_main_effect_the_same_on_every_seed_has_no_spread_from_float_noise(tmp_path):
    """Cosine adds 4.8 points on both seeds, but the per-seed means subtract to 4.799999999999997 and
    4.799999999999983: left so, the effect would get a "± 0.00" interval from rounding noise alone."""
    values = {
        ("multistep", "batch"): (81.8, 86.5),
        ("multistep", "none"): (61.1, 65.8),
        ("cosine", "batch"): (86.6, 91.3),
        ("cosine", "none"): (65.9, 70.6),
    }
    cosine = factorial_runs(tmp_path, values)[1][("lr_schedule", "cosine")]
    assert cosine["effect"] == 4.8 and not cosine["effect_half"]


def test_the_protocol_says_the_split_is_shared_only_when_every_arm_holds_out_the_same_images():
    def row(val_size, val_split_seed=0):
        config = TrainConfig(dataset="synthetic", val_size=val_size, val_split_seed=val_split_seed)
        return SimpleNamespace(cell=SimpleNamespace(arm=SimpleNamespace(config=config)), selection="val")

    assert "(128 training images, stratified, the same for every run)" in protocol_words([row(128), row(128)])
    for arms in ([row(64), row(128)], [row(128), row(128, 1)]):  # a --grid val_size or val_split_seed
        assert "stratified, the same for every run of an arm; arms differ)" in protocol_words(arms)


def test_a_factors_first_level_is_the_designs_first_though_a_preset_puts_another_first_in_the_table(
    tmp_path,
):
    """`--all` with a design: the preset `cosine` is the design's cell lr_schedule=cosine,norm=batch and
    sits where the preset does, before the design's first level, none: effects are still against none."""
    path = tmp_path / "both.toml"
    path.write_text(
        '[base]\nmodel = "resnet8"\ndataset = "synthetic"\n[presets.base]\n'
        '[presets.cosine]\nlr_schedule = "cosine"\n[design]\n'
        'factors = { lr_schedule = ["none", "cosine"], norm = ["batch", "none"] }\n'
    )
    suite, runs = load_suite(path), tmp_path / "runs"
    plan = make_plan(suite, Selection(None, suite.design, (), (0,)), runs)
    assert [a.name for a in plan.arms][:2] == ["base", "cosine"] and plan.arms[1].factors
    assert plan.levels == {"lr_schedule": ["none", "cosine"], "norm": ["batch", "none"]}
    for arm, acc in zip(plan.arms, (80.0, 90.0, 70.0, 30.0, 40.0), strict=True):
        write_run(runs, "both", arm.name, arm.config, finals=(20.0, acc))
    rows = [r for r in main_effects(collect(plan).arms, plan.levels) if r["factor"] == "lr_schedule"]
    # none: (70 + 30) / 2 = 50, the reference; cosine: (90 + 40) / 2 = 65, +15 against it
    got = [(r["level"], r["mean"], r["effect"]) for r in rows]
    assert got == [("none", 50.0, None), ("cosine", 65.0, 15.0)]


def test_an_interaction_averages_a_third_factor_over_what_every_pair_of_levels_has():
    def cell(a, b, c):
        return SimpleNamespace(arm=SimpleNamespace(factors=(("a", a), ("b", b), ("c", c))))

    full = [cell(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)]
    without = [x for x in full if dict(x.arm.factors) != {"a": 1, "b": 1, "c": 1}]
    kept, left_out = balanced(without, ("a", "b"))
    assert left_out == ["c=1"] and all(dict(x.arm.factors)["c"] == 0 for x in kept) and len(kept) == 4
    assert balanced(without, ("a", "c"))[1] == ["b=1"] and balanced(full, ("a", "b")) == (full, [])
    assert averaged_over(["a", "b", "c"], "a", "b", left_out) == " (mean over c; without c=1)"  # the titles


def tuned_on(tmp_path, tune_seed: int):
    """Suite `tun`, lr tuned over 0.05 and 0.2 on `tune_seed` (val 60 and 70: 0.2 wins), final seeds 0 and
    1; its tuning runs written. Returns the plan, whose final runs are to write."""
    path = tmp_path / "tun.toml"
    path.write_text(
        '[base]\nmodel = "resnet8"\ndataset = "synthetic"\nval_size = 128\n'
        f"[presets.base]\n[tune]\nlr = [0.05, 0.2]\nseeds = [{tune_seed}]\n"
    )
    suite = load_suite(path)
    runs = tmp_path / "runs"
    selection = Selection(None, None, (), (0, 1), suite.tune)
    for spec, val in zip(make_plan(suite, selection, runs).specs, (60.0, 70.0), strict=True):
        write_run(runs, "tun", "", spec.config, finals=(50.0, val + 5), val=(50.0, val), path=spec.run_dir)
    plan = make_plan(suite, selection, runs)
    assert plan.arms[0].tuned == ("lr", 0.2)  # 70 > 60
    return plan


def test_the_tuning_table_holds_tuning_seeds_only_and_the_arm_its_final_runs(tmp_path):
    plan, runs = tuned_on(tmp_path, 0), tmp_path / "runs"
    (final,) = [s for s in plan.specs if s.seed == 1]
    write_run(runs, "tun", "", final.config, finals=(50.0, 99.0), val=(50.0, 99.0), path=final.run_dir)
    write_report(plan, tmp_path / "results")
    md = (tmp_path / "results" / "tun.md").read_text()
    # seed 1 at lr 0.2 is a final run: it enters the arm's cell, not the tuning comparison made on seed 0
    assert "| base | 0.05 | 60.00 (n=1) |  |" in md and "| base | 0.2 | 70.00 (n=1) | ✓ |" in md
    assert "Each value on seed 0;" in md and "lr = 0.2 selected by tuning" in md
    assert "Final seed 0 also tuned:" in md and "tune on others (e.g. --tune-seeds 101)" in md
    csv = pd.read_csv(tmp_path / "results" / "tun.csv")
    assert sorted(zip(csv.role, csv.seed, strict=True)) == [
        ("main", 0),
        ("main", 1),
        ("tune", 0),
        ("tune", 0),
    ]
    assert "## Other configurations" not in md


def test_a_tuning_run_on_a_seed_of_its_own_never_joins_the_arms_cell(tmp_path):
    """Tuned on seed 100, final seeds 0 and 1: the winning tuning run has the arm's config, but its seed is
    no final seed, and it won on validation; it stays in the tuning table (n = 2 in the cell, not 3)."""
    plan, runs = tuned_on(tmp_path, 100), tmp_path / "runs"
    for final, acc in zip([s for s in plan.specs if s.seed in (0, 1)], (80.0, 82.0), strict=True):
        write_run(runs, "tun", "", final.config, finals=(50.0, acc), val=(50.0, acc), path=final.run_dir)
    write_report(plan, tmp_path / "results")
    md = (tmp_path / "results" / "tun.md").read_text()
    assert "| base | **81.00 ± 12.71 (n=2)** |" in md and "Final seed" not in md
    csv = pd.read_csv(tmp_path / "results" / "tun.csv")
    roles = sorted(zip(csv.role, csv.seed, strict=True))
    assert roles == [("main", 0), ("main", 1), ("tune", 100), ("tune", 100)]


def test_an_arm_whose_every_tuning_value_diverged_says_why_it_has_no_final_runs(tmp_path):
    path = tmp_path / "tun.toml"
    path.write_text(
        '[base]\nmodel = "resnet8"\ndataset = "synthetic"\nval_size = 128\n'
        "[presets.base]\n[tune]\nlr = [1, 2]\n"
    )
    suite = load_suite(path)
    runs = tmp_path / "runs"
    selection = Selection(None, suite.design, (), (0, 1), suite.tune)
    assert [a.name for a in make_plan(suite, selection, runs).arms] == ["base"]
    for spec in make_plan(suite, selection, runs).specs:
        write_run(
            runs, "tun", "", spec.config, "diverged", finals=(50.0, 60.0), val=(9.0, 9.0), path=spec.run_dir
        )
    write_report(make_plan(suite, selection, runs), tmp_path / "results")
    md = (tmp_path / "results" / "tun.md").read_text()
    assert "| base | — | — |" in md and "no final runs: every lr value diverged in tuning |" in md


def test_a_tuning_value_that_diverged_on_a_seed_ranks_below_those_that_did_not(tmp_path):
    """lr 0.2 diverged on seed 0 and reached 70 on seed 1; lr 0.05 reached 60 and 61. A mean over the
    surviving seed (70) would pick the unstable value; the stable one is selected, and the table says why."""
    path = tmp_path / "tun.toml"
    path.write_text(
        '[base]\nmodel = "resnet8"\ndataset = "synthetic"\nval_size = 128\nepochs = 2\n'
        "[presets.base]\n[tune]\nlr = [0.05, 0.2]\nseeds = [0, 1]\n"
    )
    suite, runs = load_suite(path), tmp_path / "runs"
    selection = Selection(None, None, (), (0, 1, 2), suite.tune)
    outcomes = {(0.05, 0): ("completed", 60.0), (0.05, 1): ("completed", 61.0), (0.2, 1): ("completed", 70.0)}
    for spec in make_plan(suite, selection, runs).specs:
        status, val = outcomes.get((spec.config.lr, spec.seed), ("diverged", 9.0))
        write_run(
            runs, "tun", "", spec.config, status, finals=(50.0, 55.0), val=(50.0, val), path=spec.run_dir
        )
    plan = make_plan(suite, selection, runs)
    assert plan.arms[0].tuned == ("lr", 0.05)
    write_report(plan, tmp_path / "results")
    md = (tmp_path / "results" / "tun.md").read_text()
    assert "| base | 0.2 | 70.00 (n=1); 1 diverged |  |" in md and "| base | 0.05 | 60.50 (n=2) | ✓ |" in md
    assert "a value that diverged on a tuning seed ranks below every value that did not" in md


def test_report_without_suite_rewrites_every_suite_found(tmp_path, suite_file):
    runs = tmp_path / "runs"
    for suite_name, arm in (("ablations", "baseline"), ("depth", "resnet20")):
        suite = find_suite(suite_name)
        write_run(runs, suite_name, arm, suite.config(arm, seed=0, epochs=2), finals=(50.0, 90.0))
    mine = load_suite(suite_file)  # a suite of the user's own, since deleted
    write_run(runs, "tiny", "base", mine.config("base"))
    record_sweep(runs, mine, Selection(None, None, (), (0,)))
    suite_file.unlink()
    code, out, err = sweep_main("--report", "--runs-dir", runs, "--results-dir", tmp_path / "results")
    assert (tmp_path / "results" / "ablations.md").exists() and (tmp_path / "results" / "depth.md").exists()
    assert code == 2 and f"its suite file {suite_file.resolve()} (recorded in sweep.json) is gone" in err
    assert err.count("\n") == 1 and "--suite-file FILE" in err  # how to table it, not 'unknown suite'
    code, _, err = sweep_main(
        "--report", "--runs-dir", tmp_path / "empty", "--results-dir", tmp_path / "results"
    )
    assert code == 2 and "no runs of any suite under" in err
    (tmp_path / "alone" / "train" / "resnet8-synthetic-1234abcd").mkdir(parents=True)  # train_cifar.py's
    code, _, err = sweep_main(
        "--report", "--runs-dir", tmp_path / "alone", "--results-dir", tmp_path / "results"
    )
    assert code == 2 and err.count("\n") == 1
    assert f"({tmp_path / 'alone' / 'train'} holds train_cifar.py's own runs, which no table reads)" in err


def test_report_without_suite_names_what_it_does_not_table(tmp_path):
    """A suite's runs dir copied or renamed (runs/depth_old with depth's sweep.json) would table depth's
    own runs under the copy's name: it is skipped with one line; a directory that is no suite's is noted;
    train_cifar.py's runs/train is not a suite and says nothing."""
    runs = tmp_path / "runs"
    depth = find_suite("depth")
    write_run(runs, "depth", "resnet20", depth.config("resnet20", seed=0, epochs=2), finals=(50.0, 90.0))
    record_sweep(runs, depth, Selection(("resnet20",), None, (("epochs", 2),), (0,)))
    shutil.copytree(runs / "depth", runs / "depth_old")
    (runs / "stray").mkdir()
    (runs / "train").mkdir()
    code, _, err = sweep_main("--report", "--runs-dir", runs, "--results-dir", tmp_path / "results", "-q")
    assert code == 2 and (tmp_path / "results" / "depth.md").exists()
    lines = err.splitlines()
    assert len(lines) == 2, err
    stray = f"notice: {runs / 'stray'} is not tabled: no sweep.json (what a sweep writes)"
    assert lines[0] == stray + " and no suite of that name"
    assert lines[1].startswith(f"error: {runs / 'depth_old'}: its sweep.json is a sweep of suite 'depth', ")
    assert lines[1].endswith("(a suite's runs dir is named after it: renamed or copied?); skipped")


def test_the_sweep_prints_the_headline_table_unless_quiet(tmp_path):
    suite, runs = find_suite("ablations"), tmp_path / "runs"
    for seed, (base, cos) in enumerate(((90.0, 91.0), (92.0, 94.0))):
        write_run(runs, "ablations", "baseline", suite.config("baseline", seed=seed), finals=(50.0, base))
        write_run(runs, "ablations", "cosine", suite.config("cosine", seed=seed), finals=(50.0, cos))
    shutil.copytree(runs / "ablations" / "cosine" / "seed1", runs / "ablations" / "cosine" / "seed1-copy")
    args = ("--report", "--suite", "ablations", "--config", "baseline", "cosine", "--seeds", "0", "1", "2")
    code, out, err = sweep_main(*args, "--runs-dir", runs, "--results-dir", tmp_path / "results")
    assert code == 0, err
    title = "ablations on CIFAR-10, non-official files: mean ± 95% CI half-width (t-interval over seeds)"
    assert title in " ".join(out.split())  # the data as on the figures (and any override), what ± means
    lines = [" ".join(line.split()) for line in out.splitlines()]  # columns aligned by spaces
    assert "Experiment Final test acc Δ vs baseline [95% CI] p Holm" in lines
    assert "cosine 92.50 ± 19.06 (n=2) +1.50 [-4.85, +7.85] 0.205" in lines  # t = 3, df = 1
    assert "In no cell: baseline 1 pending; cosine 1 pending" in lines  # seed 2: why n = 2
    assert "Also found, in no row: 1 skipped directory (the Markdown lists them)" in lines  # the copy
    code, out, _ = sweep_main(*args, "-q", "--runs-dir", runs, "--results-dir", tmp_path / "results")
    assert code == 0 and "Experiment" not in out and out.startswith("results in ")


def test_a_table_of_runs_not_yet_finished_names_no_empty_setting(tmp_path):
    """No run has ended, so no parameter count is known: the caption leaves params out ('params ,')."""
    plan = make_plan(find_suite("ablations"), Selection(("baseline", "cosine"), None, (), (0,)), tmp_path)
    write_report(plan, tmp_path / "results")
    for name in ("ablations.tex", "ablations-compact.tex"):
        tex = (tmp_path / "results" / name).read_text()
        assert "Every arm: model resnet18, epochs 100." in tex and "params ," not in tex


def test_a_sweep_of_one_preset_still_tables_the_others_whose_runs_are_here(tmp_path):
    """Adding seeds to one arm (--config cosine --seeds 2) must not take the baseline out of the table."""
    suite, runs = find_suite("ablations"), tmp_path / "runs"
    for seed, (base, cos) in enumerate(((90.0, 91.0), (92.0, 94.0))):
        write_run(runs, "ablations", "baseline", suite.config("baseline", seed=seed), finals=(50.0, base))
        write_run(runs, "ablations", "cosine", suite.config("cosine", seed=seed), finals=(50.0, cos))
    write_run(runs, "ablations", "no_schedule", suite.config("no_schedule", seed=0, epochs=2))  # other epochs
    plan = make_plan(suite, Selection(("cosine",), None, (), (2,)), runs)
    assert [arm.name for arm in plan.arms] == ["cosine"] and plan.baseline is None
    write_report(plan, tmp_path / "results")
    md = (tmp_path / "results" / "ablations.md").read_text()
    baseline = next(line for line in md.splitlines() if line.startswith("| baseline |"))
    cosine = next(line for line in md.splitlines() if line.startswith("| cosine |"))
    assert "91.00 ± 12.71 (n=2)" in baseline and "not in the last sweep: its runs found here" in baseline
    assert "pending" not in baseline  # it planned no seeds
    assert "92.50 ± 19.06 (n=2)" in cosine and "+1.50 [-4.85, +7.85]" in cosine and "1 pending" in cosine
    assert "`no_schedule` with epochs=2" in md.split("## Other configurations")[1]  # not the preset's config


def test_the_figure_title_names_every_dataset_of_the_table(tmp_path, suite_file):
    suite_file.write_text(suite_file.read_text() + '\n[presets.hundred]\ndataset = "cifar100"\n')
    suite = load_suite(suite_file)
    runs = tmp_path / "runs"
    split = {"val_size": 512, "val_split_seed": 0}
    for arm, dataset, files, indices in (
        ("base", "synthetic", None, "s1"),
        ("hundred", "cifar100", "c1", "h1"),
    ):
        data = {"dataset": dataset, "files_sha256": files, "val_indices_sha256": indices, **split}
        write_run(runs, "tiny", arm, suite.config(arm), data=data)
    plan = make_plan(suite, Selection(("base", "hundred"), None, (), (0,)), runs)
    assert figure_title(plan, collect(plan)) == "tiny on CIFAR-100, non-official files, synthetic data"
    # another dataset by config has other files and another validation split: not mixed provenance
    assert provenance(collect(plan)) == [
        "Provenance: git abc1234def; torch 2.4.0; CUDA none; device cpu (test, 2 threads); "
        "data files cifar100 c1; validation split h1, s1."
    ]


def test_the_interaction_plot_draws_no_bar_for_a_single_seed():
    import matplotlib.pyplot as plt

    from resnet.report.figures import interaction_figure

    series = {"norm=batch": [("multistep", 90.0, 2.0), ("cosine", 91.0, None)]}  # cosine: n = 1
    ax = interaction_figure(series, "lr_schedule", "t", "acc (%)").axes[0]
    low, high = [list(line.get_ydata()) for line in ax.lines if line.get_marker() == "_"]  # the caps
    assert low[0] == 88.0 and high[0] == 92.0 and math.isnan(low[1]) and math.isnan(high[1])  # none for n = 1
    assert ax.get_ylim()[1] == 100
    plt.close("all")


def test_the_interaction_plots_lines_stand_apart_so_that_no_bar_hides_another():
    import matplotlib.pyplot as plt

    from resnet.report.figures import interaction_figure

    series = {
        "norm=batch": [("multistep", 90.0, 2.0), ("cosine", 91.0, 2.0)],
        "norm=none": [("multistep", 80.0, 2.0), ("cosine", 82.0, 2.0)],
    }
    ax = interaction_figure(series, "lr_schedule", "t", "acc (%)").axes[0]
    batch, none = [list(line.get_xdata()) for line in ax.lines if line.get_marker() == "o"]
    assert batch == pytest.approx([-0.04, 0.96]) and none == pytest.approx([0.04, 1.04])  # aside, 0.08 apart
    assert [t.get_text() for t in ax.get_xticklabels()] == ["multistep", "cosine"]
    assert list(ax.get_xticks()) == [0, 1]
    plt.close("all")


def test_the_interaction_plot_ends_an_interval_past_0_or_100_at_the_axis_with_an_arrow():
    """Accuracy lies in [0, 100]: a t-interval over two seeds that reaches past it (30 ± 90) is drawn to
    the edge of the possible, and the axis stays there (it ran down to -60)."""
    import matplotlib.pyplot as plt

    from resnet.report.figures import interaction_figure

    series = {"norm=none": [("multistep", 30.0, 90.0), ("cosine", 50.0, 10.0)]}
    ax = interaction_figure(series, "lr_schedule", "t", "acc (%)").axes[0]
    assert ax.get_ylim() == (0.0, 100)
    arrows = sorted(
        (line.get_marker(), line.get_ydata()[0]) for line in ax.lines if line.get_marker() in "v^"
    )
    assert arrows == [("^", 100.0), ("v", 0.0)]  # the first point's two ends; the second's are inside
    low, high = [list(line.get_ydata()) for line in ax.lines if line.get_marker() == "_"]
    assert low == [0.0, 40.0] and high == [100.0, 60.0]
    plt.close("all")


def test_the_forest_plot_never_draws_a_difference_past_100_points():
    """A t-interval over two seeds can reach past ±100 points, which no difference of two accuracies can:
    it is drawn to the edge with an arrow (no cap: it does not end there), and the axis stays within what
    is possible."""
    from types import SimpleNamespace

    from resnet.report.figures import forest_figure
    from resnet.stats import Comparison

    def arm(name, comparison):
        return SimpleNamespace(name=name, vs_baseline=comparison, reference=None)

    wide = compare({0: 20.0, 1: 90.0}, {0: 95.0, 1: 97.0})  # -41 points, t(1) interval about ±432
    assert wide is not None and wide.low < -100 < 100 < wide.high
    narrow = Comparison("paired", 1.0, 3, low=0.5, high=1.5)
    figure = forest_figure([arm("base", None), arm("wide", wide), arm("narrow", narrow)], "base", "t")
    ax = figure.axes[0]
    left, right = ax.get_xlim()
    assert -105 <= left < -100 and 100 < right <= 105
    ends = [(line.get_marker(), line.get_xdata()[0]) for line in ax.lines]
    arrows = sorted(end for end in ends if end[0] in ("<", ">"))
    assert arrows == [("<", -100.0), (">", 100.0)]  # the wide arm's two ends, not the narrow arm's
    assert sorted(x for marker, x in ends if marker == "|") == [0.5, 1.5]  # caps: only where intervals end
    top_row_label = max(text.xy[1] for text in ax.texts)
    assert ax.get_ylim()[1] >= top_row_label + 0.3  # its label stays inside the frame


def test_the_forest_plot_keeps_the_label_of_its_outermost_point_inside_the_frame():
    """An arm far from the others (no BatchNorm at -57 points, the rest within ±15) sat at the axis' edge,
    and half its label, centred on it, over the frame and the arm names."""
    from types import SimpleNamespace

    from resnet.report.figures import forest_figure
    from resnet.stats import Comparison

    def arm(name, comparison):
        n = SimpleNamespace(n=comparison.n if comparison else 1)
        return SimpleNamespace(name=name, vs_baseline=comparison, reference=None, headline=n, baseline_n=1)

    rows = [
        arm("base", None),
        arm("cosine", Comparison("paired", -0.39, 2, low=-15.28, high=14.5)),
        arm("no_bn", Comparison("single", -56.64, 1)),
        arm("deeper", Comparison("single", 1.17, 1)),
    ]
    figure = forest_figure(rows, "base", "t")
    ax = figure.axes[0]
    renderer = figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    for label in ax.texts:
        box = label.get_window_extent(renderer)
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1, label.get_text()


def test_the_forest_plot_marks_a_published_difference_only_where_the_table_compares_references():
    """Runs of an overridden config (--epochs 1, say) are not compared with the paper: no marker either."""
    from types import SimpleNamespace

    from resnet.report.figures import forest_figure
    from resnet.stats import Comparison

    def arm(name, comparison, published, comparable):
        reference = SimpleNamespace(final=published, best=None)
        return SimpleNamespace(
            name=name, vs_baseline=comparison, reference=reference, reference_comparable=comparable
        )

    def markers(comparable):
        rows = [
            arm("base", None, 91.25, comparable),
            arm("deep", Comparison("paired", -1.0, 3, -2.0, 0.5), 92.49, comparable),
        ]
        ax = forest_figure(rows, "base", "t").axes[0]
        return [list(line.get_xdata()) for line in ax.lines if line.get_marker() == "D"]

    assert markers(True) == [[pytest.approx(1.24)]]  # 92.49 - 91.25
    assert markers(False) == []


def test_the_curves_of_a_one_epoch_smoke_run_have_an_epoch_axis_of_whole_epochs(tmp_path, monkeypatch):
    """matplotlib's integer locator gives up on a range as short as one point (0.95 to 1.05)."""
    from resnet.report.figures import plot_curves

    path = tmp_path / "one.toml"
    path.write_text('[base]\nmodel = "resnet8"\ndataset = "synthetic"\nepochs = 1\n[presets.base]\n')
    suite = load_suite(path)
    plan = make_plan(suite, Selection(("base",), None, (), (0,)), tmp_path / "runs")
    write_run(tmp_path / "runs", "one", "base", suite.config("base"), finals=(50.0,))
    figures = []
    monkeypatch.setattr("resnet.report.figures.save", lambda fig, stem: figures.append(fig) or [])
    plot_curves(collect(plan).arms, tmp_path / "one-curves", "t")
    for ax in figures[0].axes:
        assert list(ax.get_xticks()) == [1] and ax.get_xlim() == (0.5, 1.5)


def test_the_loss_axis_of_a_short_run_labels_its_ticks(tmp_path, monkeypatch):
    """A loss that spans less than a decade falls between the log axis' labelled ticks (1 and the 2s and
    5s): its minor ticks (0.6, 0.7, ...) are labelled then, or the axis shows no number beside the data."""
    from resnet.report.figures import plot_curves

    path = tmp_path / "two.toml"
    path.write_text('[base]\nmodel = "resnet8"\ndataset = "synthetic"\nepochs = 2\n[presets.base]\n')
    suite = load_suite(path)
    plan = make_plan(suite, Selection(("base",), None, (), (0,)), tmp_path / "runs")
    write_run(tmp_path / "runs", "two", "base", suite.config("base"), finals=(40.0, 50.0))  # loss 1, 0.5
    figures = []
    monkeypatch.setattr("resnet.report.figures.save", lambda fig, stem: figures.append(fig) or [])
    plot_curves(collect(plan).arms, tmp_path / "two-curves", "t")
    loss = figures[0].axes[1]
    figures[0].canvas.draw()
    low, high = loss.get_ylim()
    ticks = loss.yaxis.get_major_ticks() + loss.yaxis.get_minor_ticks()
    labels = {round(t.get_loc(), 3): t.label1.get_text() for t in ticks if low <= t.get_loc() <= high}
    assert {0.6, 0.7, 0.8, 0.9} <= set(labels) and all(labels.values()), labels


def test_curves_before_any_run_completed_say_so_on_both_panels(tmp_path, monkeypatch):
    """A partial sweep's report draws its curves early: an empty loss panel must not pass for a figure."""
    from resnet.report import figures

    made = []
    monkeypatch.setattr(figures, "save", lambda fig, stem: made.append(fig) or [])
    figures.plot_curves([], tmp_path / "curves", "t")
    notes = [[t.get_text() for t in ax.texts] for ax in made[0].axes]
    assert notes == [["no completed run yet"], ["no completed run yet"]]
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize("figure", ["curves", "forest", "interaction"])
def test_a_long_title_wraps_inside_the_figure(figure, tmp_path, monkeypatch):
    """Every override must show in the title, however many: a one-line title ran off the forest plot."""
    from types import SimpleNamespace

    from resnet.report import figures
    from resnet.stats import Comparison

    overrides = ", ".join(f"field_{i}={i}" for i in range(12))
    title = f"ablations on CIFAR-10, non-official files ({overrides})"
    if figure == "curves":
        made = []
        monkeypatch.setattr(figures, "save", lambda fig, stem: made.append(fig) or [])
        figures.plot_curves([], tmp_path / "curves", title)
        fig = made[0]
    elif figure == "forest":
        rows = [
            SimpleNamespace(name="baseline", vs_baseline=None, reference=None),
            SimpleNamespace(
                name="a_long_arm_name=multistep,crop=false",
                vs_baseline=Comparison("paired", 1.0, 3, 0.5, 1.5),
                reference=None,
            ),
        ]
        fig = figures.forest_figure(rows, "baseline", title)
    else:
        fig = figures.interaction_figure({"crop=true": [("multistep", 60.0, 1.0)]}, "lr", title + "\nlr", "a")
    fig.canvas.draw()
    box, frame = fig._suptitle.get_window_extent(), fig.bbox
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1, (box, frame)
    assert "field_11=11" in fig._suptitle.get_text().replace("\n", " ")
    import matplotlib.pyplot as plt

    plt.close("all")


def test_the_curves_of_a_large_design_show_the_baseline_and_the_best_arms_and_say_so(tmp_path):
    """Past 20 arms lines would share colours: the baseline and the 19 best (by the plotted accuracy)."""
    from resnet.report.figures import MAX_CURVES, curve_arms, curves_frame

    path = tmp_path / "wide.toml"
    lrs = [round(0.01 * i, 2) for i in range(1, 26)]  # 25 arms
    path.write_text(f'[base]\nmodel = "resnet8"\ndataset = "synthetic"\n[design]\nfactors = {{lr = {lrs}}}\n')
    suite = load_suite(path)
    runs = tmp_path / "runs"
    plan = make_plan(suite, Selection((), suite.design, (), (0,)), runs)
    for i, arm in enumerate(plan.arms):  # accuracy rises with lr, but for the baseline (the first arm)
        write_run(runs, "wide", arm.name, arm.config, finals=(50.0 + i,))
    cells = collect(plan).arms
    shown, note = curve_arms(cells, curves_frame(cells), "test", plan.baseline)
    assert plan.baseline == "lr=0.01" and len(shown) == MAX_CURVES == 20
    assert [c.arm.name for c in shown] == ["lr=0.01", *(f"lr={lr:g}" for lr in lrs[6:])]  # the table's order
    assert note == (
        "20 of 25 arms: lr=0.01 and the 19 with the best mean test accuracy (at their best epoch); "
        "every arm is in the table"
    )
    assert curve_arms(cells[:20], curves_frame(cells[:20]), "test", plan.baseline) == (cells[:20], "")


def test_a_latex_table_longer_than_a_page_continues_in_floats_that_point_back():
    """pdflatex puts a float taller than the page off its bottom ('Float too large'): 100 design arms did."""
    from resnet.report.latex import ROWS_PER_FLOAT, latex_table

    body = [[f"arm{i}", f"{i}"] for i in range(ROWS_PER_FLOAT["full"] + 1)]
    full = latex_table(["Arm", "Acc"], body, "The caption.", "tab:x", compact=False, footer="Provenance.")
    floats = full.split("\\end{table*}\n")[:-1]
    assert len(floats) == 2 and full.count("\\begin{table*}") == 2
    assert "\\caption{The caption.}\n\\label{tab:x}" in floats[0] and "Provenance." in floats[0]
    assert floats[1].count("arm") == 1 and "Table~\\ref{tab:x}, continued (2 of 2)." in floats[1]
    assert "\\caption" not in floats[1] and "\\toprule\nArm & Acc \\\\\n\\midrule" in floats[1]  # its header
    wrapped = latex_table(["Arm", "Acc"], body[:10], "C.", "tab:y", True, "P.", first_column="p{1cm}")
    assert wrapped.count("\\begin{table}") == 2 == 10 // ROWS_PER_FLOAT["wrapped"] + 1
    short = latex_table(["Arm", "Acc"], body[:10], "C.", "tab:z", compact=True, footer="P.")
    assert short.count("\\begin{table}") == 1 and "continued" not in short


def test_a_forest_plot_with_nothing_to_compare_says_why_around_a_centred_zero_line():
    from types import SimpleNamespace

    from resnet.report.figures import forest_figure

    def arm(name, mean):
        headline = SimpleNamespace(mean=mean)
        return SimpleNamespace(name=name, vs_baseline=None, reference=None, headline=headline)

    ax = forest_figure([arm("base", None), arm("a", 91.0), arm("b", None)], "base", "t").axes[0]
    assert [t.get_text().strip() for t in ax.texts] == [
        "not compared: no completed base run",  # a has runs, the baseline none (all diverged, say)
        "not compared: no completed run",
    ]
    assert ax.get_xlim() == (-1, 1)
