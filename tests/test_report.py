"""The report, from fake run directories whose numbers are chosen so the statistics can be worked by hand."""
import json
import math

import pandas as pd
import pytest
from scipy import stats

from resnet.presets import find_suite
from resnet.report import collect_runs, sections, summarize_runs, write_report

# (preset, seed) -> (status, final test acc, best test acc, final train acc)
RUNS = {
    ("baseline", 0): ("completed", 90.0, 91.0, 99.0), ("baseline", 1): ("completed", 92.0, 93.0, 99.5),
    ("cosine", 0): ("completed", 93.0, 93.5, 99.9), ("cosine", 1): ("completed", 94.0, 94.0, 99.9),
    ("no_batchnorm", 0): ("completed", 80.0, 81.0, 85.0), ("no_batchnorm", 1): ("failed", None, None, None),
    ("resnet34", 0): ("unfinished", None, None, None),
    ("small_batch", 0): ("diverged", 10.0, 10.0, 10.0),
}
EPOCHS = 4


def write_run(runs_dir, suite, preset, seed, status, final, best, train_acc):
    config = suite.config(preset, seed=seed, epochs=EPOCHS)
    run_dir = runs_dir / suite.name / preset / f"seed{seed}"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"config": config.to_dict(), "config_hash": config.short_hash()}))
    if status == "failed":
        (run_dir / "failure.json").write_text(json.dumps({"exit_code": 1, "log_tail": ["Traceback", "RuntimeError: boom"]}))
        return
    epochs = 2 if status in ("unfinished", "diverged") else EPOCHS
    lines = []
    for epoch in range(1, epochs + 1):
        acc = (best if epoch == epochs - 1 else final) if final is not None else 50.0 + epoch
        lines.append({"epoch": epoch, "train_loss": 1.0 / epoch, "train_acc": train_acc or 60.0, "test_loss": 0.5,
                      "test_acc": acc, "lr": 0.1, "epoch_seconds": 2.0, "train_seconds": 1.5, "images_per_sec": 100.0})
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in lines))
    if status == "unfinished":
        return
    summary = {"status": status, "epochs_completed": epochs, "best_test_acc": best, "best_epoch": epochs - 1,
               "final_test_acc": final, "final_test_loss": 0.5, "final_train_acc": train_acc,
               "final_train_loss": float("nan") if status == "diverged" else 0.01,
               "params": 11_173_962 if preset != "resnet34" else 21_282_122, "mean_epoch_seconds": 2.0 + seed,
               "images_per_sec": 100.0, "total_seconds": 8.0, "diverged_epoch": 2 if status == "diverged" else None,
               "device": "cpu"}
    (run_dir / "summary.json").write_text(json.dumps(summary))


@pytest.fixture
def runs_dir(tmp_path):
    suite = find_suite("ablations")
    for (preset, seed), values in RUNS.items():
        write_run(tmp_path / "runs", suite, preset, seed, *values)
    return tmp_path / "runs"


def test_collect_runs_reads_one_row_per_run_with_its_status(runs_dir):
    runs = collect_runs(runs_dir, "ablations")
    assert len(runs) == len(RUNS)
    status = {(r.preset, r.seed): r.status for r in runs.itertuples()}
    assert status == {key: value[0] for key, value in RUNS.items()}
    unfinished = runs[runs["preset"] == "resnet34"].iloc[0]
    assert unfinished["epochs_completed"] == 2 and unfinished["final_test_acc"] == 52.0
    failed = runs[runs["status"] == "failed"].iloc[0]
    assert failed["exit_code"] == 1 and failed["failure"] == "RuntimeError: boom"
    assert runs.loc[runs["preset"] == "cosine", "lr_schedule"].tolist() == ["cosine", "cosine"]


def test_statistics_match_the_hand_computation(runs_dir):
    runs = collect_runs(runs_dir, "ablations")
    summary = summarize_runs(runs, "baseline", ["baseline", "cosine", "no_batchnorm", "resnet34", "small_batch"]).set_index("preset")
    base, cosine = summary.loc["baseline"], summary.loc["cosine"]
    assert (base["n"], base["final_test_acc_mean"], base["final_test_acc_std"]) == (2, 91.0, pytest.approx(math.sqrt(2)))
    assert (cosine["final_test_acc_mean"], cosine["final_test_acc_std"]) == (93.5, pytest.approx(math.sqrt(0.5)))
    assert cosine["delta_final"] == pytest.approx(2.5)
    # Welch by hand: t = 2.5 / sqrt(2/2 + 0.5/2); df = (1 + 0.25)^2 / (1^2/1 + 0.25^2/1)
    t = 2.5 / math.sqrt(1.25)
    df = 1.25**2 / (1 + 0.0625)
    assert (t, df) == (pytest.approx(2.2360680), pytest.approx(1.4705882))
    assert cosine["p_value"] == pytest.approx(2 * stats.t.sf(t, df))
    nobn = summary.loc["no_batchnorm"]
    assert (nobn["n"], nobn["runs"], nobn["other_status"]) == (1, 2, "1 failed")
    assert math.isnan(nobn["p_value"]) and nobn["delta_final"] == pytest.approx(-11.0)  # n=1: a difference, no test
    assert summary.loc["small_batch", "n"] == 0 and summary.loc["small_batch", "other_status"] == "1 diverged"
    assert math.isnan(summary.loc["resnet34", "final_test_acc_mean"])


def test_sections_follow_the_field_each_preset_changes(runs_dir):
    grouped = sections(collect_runs(runs_dir, "ablations"), "baseline")
    assert grouped == {"LR schedule comparison": {"cosine": ["lr_schedule"]},
                       "BatchNorm comparison": {"no_batchnorm": ["lr", "norm"]},
                       "Depth comparison": {"resnet34": ["model"]},
                       "Batch size comparison": {"small_batch": ["batch_size"]}}


def test_written_report_marks_every_run_and_has_plots(runs_dir, tmp_path):
    paths = write_report(find_suite("ablations"), runs_dir, tmp_path / "results")
    assert [p.name for p in paths] == ["ablations.md", "ablations.csv", "ablations.tex", "ablations-curves.png",
                                       "ablations-summary.png"]
    md = (tmp_path / "results" / "ablations.md").read_text()
    assert "| Experiment | Best Val Acc | Final Val Acc | Δ final vs baseline | p (Welch) | Model | Params |" in md
    assert "| baseline | 92.00 ± 1.41 (n=2) | 91.00 ± 1.41 (n=2) |  |  | resnet18 | 11.17M | 4 | 2.5 s |" in md
    assert f"| cosine | 93.75 ± 0.35 (n=2) | 93.50 ± 0.71 (n=2) | +2.50 | {2 * stats.t.sf(2.5 / math.sqrt(1.25), 1.25**2 / 1.0625):.3g} |" in md
    assert "| no_batchnorm | 81.00 | 80.00 | -11.00 |  |" in md and "1 failed of 2 runs" in md
    assert "| resnet34 | — | — |" in md and "1 unfinished" in md
    assert "| small_batch | — | — |" in md and "1 diverged" in md
    for title in ("## LR schedule comparison", "## BatchNorm comparison", "## Depth comparison", "## Batch size comparison"):
        assert title in md
    assert "These runs override the suite's presets: epochs=4" in md
    csv = pd.read_csv(tmp_path / "results" / "ablations.csv")
    assert len(csv) == len(RUNS) and {"lr_schedule", "final_test_acc", "status", "seed"} <= set(csv.columns)
    tex = (tmp_path / "results" / "ablations.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex and "93.50 $\\pm$ 0.71 (n=2)" in tex and "no\\_batchnorm" in tex
    for png in paths[3:]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_report_without_runs_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="no runs of suite 'ablations' under"):
        write_report(find_suite("ablations"), tmp_path / "runs", tmp_path / "results")


def test_a_sweep_where_every_run_failed_at_start_up_still_gets_a_table(tmp_path):
    from resnet.runner import plan_runs, record_failure

    suite = find_suite("ablations")
    for spec in plan_runs(suite, ["baseline", "cosine"], [42], {}, tmp_path / "runs"):
        record_failure(spec, 2, "no data")  # as the runner does: no config.json, no metrics
    write_report(suite, tmp_path / "runs", tmp_path / "results")
    md = (tmp_path / "results" / "ablations.md").read_text()
    assert "| baseline | — | — |  |  | resnet18 |" in md and "| cosine | — | — |" in md and md.count("1 failed") == 2
    assert len(pd.read_csv(tmp_path / "results" / "ablations.csv")) == 2
