"""Results for a writeup, read only from what the runs recorded (config.json, metrics.jsonl, summary.json).

`collect_runs` gives one DataFrame row per run directory; `summarize_runs` one row per preset (mean ±
std over the completed seeds, the difference to the baseline and Welch's t-test); `write_report`
writes results/<suite>.md, .csv (one row per run), .tex (booktabs), <suite>-curves.png and
<suite>-summary.png. Failed, diverged and unfinished runs are shown as such, never dropped.
Accuracy means test accuracy in %: like the reference repos, CIFAR's test split serves as validation.
"""
from __future__ import annotations

import math
import os
import re
import tempfile
from pathlib import Path

import pandas as pd
from scipy import stats

from resnet.presets import Suite
from resnet.run_dir import RunDir, read_json, write_atomic

SUMMARY_FIELDS = ("status", "epochs_completed", "best_test_acc", "best_epoch", "final_test_acc", "final_test_loss",
                  "final_train_acc", "final_train_loss", "params", "mean_epoch_seconds", "images_per_sec",
                  "total_seconds", "diverged_epoch", "device")
# The section a preset belongs to follows the most telling field it changes (in this order).
SECTION_TITLES = {"model": "Depth comparison", "norm": "BatchNorm comparison", "lr_schedule": "LR schedule comparison",
                  "batch_size": "Batch size comparison"}


def collect_runs(runs_dir: Path, suite: str) -> pd.DataFrame:
    """One row per runs_dir/<suite>/<preset>/seed<k>/: status, every config field and every recorded metric."""
    rows = [_run_row(path, suite) for path in sorted(Path(runs_dir, suite).glob("*/seed*")) if path.is_dir()]
    runs = pd.DataFrame(rows)
    missing = [c for c in (*SUMMARY_FIELDS, "model", "exit_code", "failure") if c not in runs.columns]
    return runs.assign(**{c: None for c in missing}) if rows else runs  # e.g. every run failed before epoch 1


def _run_row(path: Path, suite: str) -> dict:
    run = RunDir(path)
    summary, failure, metrics = read_json(run.summary_file), read_json(run.failure_file), run.metrics()
    record = read_json(run.config_file) or failure or {}  # a run that failed at start-up has only failure.json
    row = {"suite": suite, "preset": path.parent.name, "seed": int(path.name.removeprefix("seed")),
           "run_dir": str(path), **record.get("config", {}), "config_hash": record.get("config_hash")}
    if summary:
        row.update({k: summary.get(k) for k in SUMMARY_FIELDS})
    else:
        row["status"] = ("failed" if failure else "running" if run.is_locked() else
                         "unfinished" if metrics or run.has_checkpoint() or run.config_file.exists() else "not started")
        if metrics:
            best = max(metrics, key=lambda m: m["test_acc"])
            last = metrics[-1]
            row.update(epochs_completed=last["epoch"], best_test_acc=best["test_acc"], best_epoch=best["epoch"],
                       final_test_acc=last["test_acc"], final_train_acc=last["train_acc"],
                       final_train_loss=last["train_loss"], final_test_loss=last["test_loss"])
    if failure:
        row.update(exit_code=failure.get("exit_code"),
                   failure=next((line for line in reversed(failure.get("log_tail", [])) if line.strip()), ""))
    return row


def welch(a: list[float], b: list[float]) -> float | None:
    """Two-sided p-value of Welch's t-test, or None when either side has fewer than two values."""
    if len(a) < 2 or len(b) < 2:
        return None
    p = stats.ttest_ind(a, b, equal_var=False).pvalue
    return None if math.isnan(p) else float(p)


def summarize_runs(runs: pd.DataFrame, baseline: str | None = None, order: list[str] | None = None) -> pd.DataFrame:
    """One row per preset: mean, std and n of the completed runs, the status of the others, Δ and p vs baseline."""
    presets = list(dict.fromkeys([*(order or []), *runs["preset"]]))
    presets = [p for p in presets if p in set(runs["preset"])]
    done = runs[runs["status"] == "completed"]
    base_final = done.loc[done["preset"] == baseline, "final_test_acc"].tolist() if baseline else []
    rows = []
    for preset in presets:
        group, ok = runs[runs["preset"] == preset], done[done["preset"] == preset]
        final = ok["final_test_acc"].tolist()
        row = {"preset": preset, "n": len(ok), "runs": len(group),
               "other_status": ", ".join(f"{n} {s}" for s, n in group.loc[group["status"] != "completed", "status"]
                                         .value_counts().items())}
        for metric in ("best_test_acc", "final_test_acc", "final_train_acc"):
            values = ok[metric].astype(float)
            row[f"{metric}_mean"] = values.mean() if len(values) else math.nan
            row[f"{metric}_std"] = values.std(ddof=1) if len(values) > 1 else math.nan
        for field in ("params", "epochs", "mean_epoch_seconds", "model"):
            values = group[field].dropna() if field in group else []
            row[field] = values.mean() if field == "mean_epoch_seconds" and len(values) else (
                values.iloc[0] if len(values) else None)
        has_delta = baseline and preset != baseline and final and base_final
        row["delta_final"] = (sum(final) / len(final) - sum(base_final) / len(base_final)) if has_delta else math.nan
        p_value = welch(final, base_final) if has_delta else None
        row["p_value"] = math.nan if p_value is None else p_value
        rows.append(row)
    return pd.DataFrame(rows)


def sections(runs: pd.DataFrame, baseline: str | None) -> dict[str, dict[str, list[str]]]:
    """{section title: {preset: [fields it changes]}} from the recorded configs vs the baseline's."""
    if not baseline or baseline not in set(runs["preset"]):
        return {}
    ignored = {"suite", "preset", "seed", "run_dir", "config_hash", "data_dir", "num_classes", *SUMMARY_FIELDS,
               "exit_code", "failure"}
    fields = [c for c in runs.columns if c not in ignored]
    reference = runs[runs["preset"] == baseline].iloc[0]
    grouped: dict[str, dict[str, list[str]]] = {}
    for preset, group in runs.groupby("preset", sort=False):
        if preset == baseline:
            continue
        row = group.iloc[0]
        changed = [f for f in fields if not _same(row[f], reference[f])]
        if not changed:
            continue
        primary = next((f for f in SECTION_TITLES if f in changed), changed[0])
        grouped.setdefault(SECTION_TITLES.get(primary, f"{primary} comparison"), {})[preset] = changed
    return grouped


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return list(a) == list(b) if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) else False
    return (pd.isna(a) and pd.isna(b)) or a == b


# --- text --------------------------------------------------------------------------------------------
def mean_std(mean: float, std: float, n: int) -> str:
    if n == 0 or math.isnan(mean):
        return "—"
    return f"{mean:.2f}" if n == 1 else f"{mean:.2f} ± {std:.2f} (n={n})"


def main_table(summary: pd.DataFrame, baseline: str | None, descriptions: dict[str, str]) -> pd.DataFrame:
    table = pd.DataFrame({
        "Experiment": summary["preset"],
        "Best Val Acc": [mean_std(r.best_test_acc_mean, r.best_test_acc_std, r.n) for r in summary.itertuples()],
        "Final Val Acc": [mean_std(r.final_test_acc_mean, r.final_test_acc_std, r.n) for r in summary.itertuples()],
    })
    if baseline:
        table[f"Δ final vs {baseline}"] = ["" if math.isnan(d) else f"{d:+.2f}" for d in summary["delta_final"]]
        table["p (Welch)"] = ["" if pd.isna(p) else f"{p:.3g}" for p in summary["p_value"]]
    table["Model"] = [m or "" for m in summary["model"]]
    table["Params"] = [_params(p) for p in summary["params"]]
    table["Epochs"] = [_int(e) for e in summary["epochs"]]
    table["Mean epoch time"] = ["" if s is None or pd.isna(s) else f"{s:.1f} s" for s in summary["mean_epoch_seconds"]]
    table["Notes"] = [_notes(r, descriptions) for r in summary.itertuples()]
    return table


def _params(p) -> str:
    return "" if p is None or pd.isna(p) else f"{p / 1e6:.2f}M"


def _int(value) -> str:
    return "" if value is None or pd.isna(value) else str(int(value))


def _notes(row, descriptions: dict[str, str]) -> str:
    notes = [descriptions.get(row.preset, "")]
    if row.other_status:
        notes.append(f"{row.other_status} of {row.runs} runs" if row.n else row.other_status)
    return "; ".join(n for n in notes if n)


def section_table(runs: pd.DataFrame, summary: pd.DataFrame, baseline: str, members: dict[str, list[str]]) -> pd.DataFrame:
    fields = list(dict.fromkeys(f for changed in members.values() for f in changed))
    rows = []
    for preset in [baseline, *members]:
        stats_row = summary[summary["preset"] == preset].iloc[0]
        config_row = runs[runs["preset"] == preset].iloc[0]
        rows.append({"Experiment": preset, **{f: _value(config_row[f]) for f in fields},
                     "Params": _params(stats_row["params"]),
                     "Best Val Acc": mean_std(stats_row["best_test_acc_mean"], stats_row["best_test_acc_std"], stats_row["n"]),
                     "Final Val Acc": mean_std(stats_row["final_test_acc_mean"], stats_row["final_test_acc_std"], stats_row["n"]),
                     "Final Train Acc": mean_std(stats_row["final_train_acc_mean"], stats_row["final_train_acc_std"],
                                                 stats_row["n"])})
    return pd.DataFrame(rows)


def _value(value) -> str:
    return ", ".join(f"{v:g}" for v in value) if isinstance(value, (list, tuple)) else str(value)


def markdown_table(table: pd.DataFrame) -> str:
    cells = [[str(c).replace("|", "\\|") for c in row] for row in table.itertuples(index=False)]
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def latex_table(table: pd.DataFrame, caption: str) -> str:
    body = table.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)
    tex = body.to_latex(hrules=True, caption=caption, position="t", column_format="l" * len(table.columns))
    return tex.replace("±", r"$\pm$").replace("Δ", r"$\Delta$").replace("—", "--")


def render_markdown(suite: Suite, runs: pd.DataFrame, summary: pd.DataFrame) -> str:
    descriptions = {name: p.description for name, p in suite.presets.items()}
    baseline = suite.baseline if suite.baseline in set(runs["preset"]) else None
    parts = [f"# Results: suite `{suite.name}`", "",
             f"{suite.description}. Accuracies are test-set accuracy in % (the test split doubles as validation, "
             "as in the reference repos); mean ± std over the seeds that completed, n shown."]
    if baseline:
        parts.append(f"Δ is the difference in mean final accuracy to `{baseline}`; p is Welch's two-sided t-test "
                     "(when both have n ≥ 2). Mean epoch time excludes each run's first epoch.")
    overridden = suite_overrides(suite, runs)
    if overridden:
        parts.append("These runs override the suite's presets: " + ", ".join(f"{k}={v}" for k, v in overridden.items())
                     + " (descriptions below are the presets').")
    parts += ["", markdown_table(main_table(summary, baseline, descriptions))]
    for title, members in sections(runs, baseline).items():
        parts += ["", f"## {title}", "", markdown_table(section_table(runs, summary, baseline, members))]
    return "\n".join(parts) + "\n"


def suite_overrides(suite: Suite, runs: pd.DataFrame) -> dict[str, str]:
    """Fields where the recorded configs differ from the suite's presets (e.g. --epochs 2 --dataset synthetic)."""
    found: dict[str, set] = {}
    for _, row in runs.iterrows():
        if row["preset"] not in suite.presets or not isinstance(row["model"], str):  # unknown preset, no config
            continue
        for field, value in suite.presets[row["preset"]].config.to_dict().items():
            if field not in ("seed", "data_dir") and field in row and not _same(row[field], value):
                found.setdefault(field, set()).add(_value(row[field]))
    return {k: "/".join(sorted(v)) for k, v in sorted(found.items())}


# --- plots -------------------------------------------------------------------------------------------
def curves_frame(runs: pd.DataFrame) -> pd.DataFrame:
    frames = []
    for row in runs.itertuples():
        metrics = RunDir(row.run_dir).metrics()
        if metrics:
            frames.append(pd.DataFrame(metrics).assign(preset=row.preset, seed=row.seed))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def plot_curves(curves: pd.DataFrame, order: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5), constrained_layout=True)
    colours = plt.get_cmap("tab10" if len(order) <= 10 else "tab20")
    if curves.empty:
        axes[0].text(0.5, 0.5, "no epoch recorded yet", ha="center", transform=axes[0].transAxes)
    for i, preset in enumerate(order if not curves.empty else []):
        data = curves[curves["preset"] == preset]
        if data.empty:
            continue
        for ax, metric in zip(axes, ("test_acc", "train_loss")):
            per_epoch = data.groupby("epoch")[metric].agg(["mean", "min", "max", "count"])
            n = data["seed"].nunique()
            ax.plot(per_epoch.index, per_epoch["mean"], color=colours(i), label=f"{preset} (n={n})", lw=1.6,
                    marker="o" if len(per_epoch) <= 20 else None, ms=3)
            if n > 1:
                ax.fill_between(per_epoch.index, per_epoch["min"], per_epoch["max"], color=colours(i), alpha=0.18)
    axes[0].set(xlabel="epoch", ylabel="test accuracy (%)", title="Test accuracy (mean; band: min–max over seeds)")
    axes[1].set(xlabel="epoch", ylabel="train loss", title="Train loss", yscale="log")
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if not curves.empty:
        axes[1].legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9, frameon=False)
    fig.suptitle(title)
    _save(fig, path)


def plot_summary(summary: pd.DataFrame, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.55 * len(summary) + 1.6), constrained_layout=True)
    y = range(len(summary))[::-1]
    means = summary["final_test_acc_mean"].fillna(0)
    errors = summary["final_test_acc_std"].fillna(0)
    ax.barh(list(y), means, xerr=errors, color="#4c72b0", alpha=0.85, capsize=4)
    finite = summary["final_test_acc_mean"].dropna()
    low = max(0.0, finite.min() - (finite.max() - finite.min()) * 0.5 - 2) if len(finite) else 0.0
    high = (finite + errors[finite.index]).max() if len(finite) else 100.0
    ax.set_xlim(low, high + (high - low) * 0.25 + 1)  # room for the labels right of the error bars
    for yi, row, err in zip(y, summary.itertuples(), errors):
        text = f"{row.final_test_acc_mean:.2f} (n={row.n})" if row.n else (row.other_status or "no result")
        x = row.final_test_acc_mean + err if row.n else low
        ax.text(x + (high - low) * 0.02 + 0.2, yi, text, va="center", fontsize=9)
    ax.set_yticks(list(y), summary["preset"])
    ax.set(xlabel="final test accuracy (%), mean ± std over seeds", title=title)
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)


def _save(fig, path: Path) -> None:
    import matplotlib.pyplot as plt

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=130)
    plt.close(fig)
    os.replace(tmp, path)


# --- all of it ---------------------------------------------------------------------------------------
def write_report(suite: Suite, runs_dir: Path, results_dir: Path) -> list[Path]:
    runs = collect_runs(runs_dir, suite.name)
    if runs.empty:
        raise FileNotFoundError(f"no runs of suite '{suite.name}' under {Path(runs_dir) / suite.name}; "
                                "run some first (run_ablations.py --all), or point --runs-dir at them")
    order = [p for p in suite.presets if p in set(runs["preset"])]
    summary = summarize_runs(runs, suite.baseline, order)
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    stem = results_dir / suite.name
    md, csv, tex = stem.with_suffix(".md"), stem.with_suffix(".csv"), stem.with_suffix(".tex")
    write_atomic(md, render_markdown(suite, runs, summary))
    write_atomic(csv, runs.to_csv(index=False))
    baseline = suite.baseline if suite.baseline in set(runs["preset"]) else None
    descriptions = {name: p.description for name, p in suite.presets.items()}
    write_atomic(tex, latex_table(main_table(summary, baseline, descriptions),
                                  f"Suite {re.sub(r'_', ' ', suite.name)}: test accuracy (\\%), mean $\\pm$ std over seeds."))
    curves_png, summary_png = results_dir / f"{suite.name}-curves.png", results_dir / f"{suite.name}-summary.png"
    plot_curves(curves_frame(runs), list(summary["preset"]), curves_png, f"suite {suite.name}")
    plot_summary(summary, summary_png, f"suite {suite.name}: final test accuracy")
    return [md, csv, tex, curves_png, summary_png]
