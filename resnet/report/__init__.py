"""Results for a writeup, read only from what the runs recorded (config.json, metrics.jsonl, summary.json).

`write_report(plan, results_dir)` writes results/<suite>.md (the table, findings, sections, factorial
effects, tuning, other configurations, skipped directories, provenance), <suite>.csv (one row per run,
every seed), <suite>-arms.csv (one row per arm, with per-seed values), <suite>.tex and
<suite>-compact.tex (LaTeX, full and one-column), and figures as PDF and PNG (<suite>-curves,
<suite>-forest, <suite>-interaction for factorial designs), and returns what it wrote with the main
table (resnet.report.console prints its headline columns). See resnet.stats for the statistics.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from resnet.config import DATASETS, format_value
from resnet.files import write_atomic
from resnet.plan import Plan
from resnet.report.analysis import ArmStats, analyse
from resnet.report.appendix import averaged_over, levels_of
from resnet.report.collect import Collected, collect, compared_key, find_runs, with_presets_on_disk
from resnet.report.design import interaction_series
from resnet.report.figures import plot_curves, plot_forest, plot_interaction
from resnet.report.latex import latex_tables
from resnet.report.markdown import no_baseline_words, render_markdown
from resnet.report.protocol import headers, protocol_words
from resnet.report.provenance import (
    dataset_words,
    files_official,
    official_files,
    provenance,
    provenance_warnings,
    suite_file_warnings,
)
from resnet.report.render import (
    INTERVAL_WORDS,
    fmt_cell,
    main_table,
)
from resnet.words import printable

log = logging.getLogger(__name__)


@dataclass
class Written:
    paths: list[Path]  # the files written, figures as PNG and PDF
    table: pd.DataFrame  # the main table as in the Markdown, for a terminal
    outside: list[str]  # per row: the arm's runs that are in no cell ('1 failed, 2 pending'), or ''
    title: str  # the suite, the dataset and any override, as on the figures
    aside: str = ""  # what else was found and is in no row ('2 skipped directories'), or ''
    # ⚠ lines: a suite file edited since the plan read it, the footer's (mixed provenance)
    warnings: list[str] = field(default_factory=list)


def write_report(plan: Plan, results_dir: Path, interval: str = "ci95") -> Written:
    found = find_runs(plan)  # read once: which presets to table, then their runs
    plan = with_presets_on_disk(plan, found)
    collected = collect(plan, found)
    unmodified = {
        a.name
        for a in plan.arms
        if a.name in plan.suite.presets
        and a.config.arm_hash() == plan.suite.presets[a.name].config.with_overrides(seed=0).arm_hash()
    }
    rows = analyse(plan, collected.arms, interval, unmodified)
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    stem = results_dir / plan.suite.name
    captions = (
        caption_text(plan, collected, rows, interval),
        caption_text(plan, collected, rows, interval, compact=True),
    )
    paths = [
        stem.with_suffix(".md"),
        stem.with_suffix(".csv"),
        results_dir / f"{plan.suite.name}-arms.csv",
        stem.with_suffix(".tex"),
        results_dir / f"{plan.suite.name}-compact.tex",
    ]
    table, footer = main_table(plan, rows), provenance(collected)  # each used by the Markdown and beyond
    edited = suite_file_warnings(plan)
    markdown = render_markdown(plan, collected, rows, interval, table, footer, edited)
    write_atomic(paths[0], printable(markdown))  # a skipped directory's name may hold escape codes
    write_atomic(paths[1], runs_frame(collected).to_csv(index=False))
    write_atomic(paths[2], arms_frame(rows, interval).to_csv(index=False))
    full, compact = latex_tables(plan, rows, captions, footer)
    write_atomic(paths[3], full)
    write_atomic(paths[4], compact)
    title = figure_title(plan, collected)
    paths += plot_curves(collected.arms, results_dir / f"{plan.suite.name}-curves", title, plan.baseline)
    if plan.baseline:
        paths += plot_forest(rows, plan.baseline, results_dir / f"{plan.suite.name}-forest", title)
    factors = levels_of(plan)
    if len(factors) >= 2:
        first, _ = headers(rows)
        a, b = list(factors)[:2]
        series, left_out = interaction_series(collected.arms, a, b, factors)
        paths += plot_interaction(
            series,
            a,
            results_dir / f"{plan.suite.name}-interaction",
            f"{title}\n{a} × {b}{averaged_over(factors, a, b, left_out)}",
            first + " (%)",
        )
    remove_stale_figures(results_dir, plan.suite.name, paths)
    outside = [row.cell.outside() for row in rows]
    warnings = edited + provenance_warnings(footer) + [w for w in [no_baseline_words(plan, rows)] if w]
    return Written(paths, table, outside, title, aside_words(collected), warnings)


OPTIONAL_FIGURES = ("forest", "interaction")  # drawn only when the table has a baseline, a factorial design


def remove_stale_figures(results_dir: Path, suite: str, written: list[Path]) -> None:
    """An optional figure this report did not draw is an earlier report's: left beside the new table it
    would pass for the current numbers."""
    for name in OPTIONAL_FIGURES:
        stale = [results_dir / f"{suite}-{name}{suffix}" for suffix in (".pdf", ".png")]
        stale = [path for path in stale if path not in written and path.exists()]
        for path in stale:
            path.unlink()
        if stale:
            shown = " and ".join(str(path) for path in stale)
            log.warning("notice: removed %s, an earlier report's (this table has no such figure)", shown)


def aside_words(collected: Collected) -> str:
    """'1 run of another configuration, 2 skipped directories': found in the runs dir, in no row."""
    counts = (
        (len(collected.others), "run of another configuration", "runs of other configurations"),
        (len(collected.skipped), "skipped directory", "skipped directories"),
    )
    return ", ".join(f"{n} {one if n == 1 else many}" for n, one, many in counts if n)


def figure_title(plan: Plan, collected: Collected) -> str:
    """The suite, the dataset (marked when its files are not the official ones) and any override: a smoke
    or modified-data figure must not pass for the real thing once it is cut out of the report."""
    dataset = ", ".join(
        "synthetic data"
        if name == "synthetic"
        else DATASETS[name].title + (", non-official files" if official is False else "")
        for name, official in official_files(collected).items()
    )
    overrides = plan.overrides_words
    return f"{plan.suite.name} on {dataset}" + (f" ({overrides})" if overrides else "")


def diverged_words(rows: list[ArmStats]) -> str:
    named = ", ".join(f"{row.name} {row.cell.diverged}" for row in rows if row.cell.diverged)
    return f"Seeds that diverged, not in the cells: {named}." if named else ""


def caption_text(
    plan: Plan, collected: Collected, rows: list[ArmStats], interval: str, compact: bool = False
) -> str:
    overrides = plan.overrides_words
    parts = [
        f"Suite {plan.suite.name} on {dataset_words(plan, collected)}.",
        f"Runs override the suite's presets: {overrides}." if overrides else "",
        protocol_words(rows),
        f"Cells: {INTERVAL_WORDS[interval]}, n = completed seeds.",
        diverged_words(rows),
    ]
    if plan.baseline:
        parts.append(
            f"Δ: paired difference to {plan.baseline} over shared seeds "
            + (
                "(its 95% t-interval in the full table; Welch when seeds are not shared); "
                if compact
                else "with its 95% t-interval (W: Welch's test, seeds not shared; a subscript n: the "
                "seeds both share, when fewer than a cell holds); "
            )
            + "p Holm: Holm–Bonferroni over this table's comparisons. "
            "Bold: not significantly worse than the best arm (Holm, α = 0.05)."
        )
    return " ".join(p for p in parts if p)


def runs_frame(collected: Collected) -> pd.DataFrame:
    rows = []
    for role, arm, run in collected.all_runs():
        summary = run.summary or {}
        rows.append(
            {
                "role": role,
                "arm": arm,
                "seed": run.seed,
                "status": str(run.state),
                "run_dir": str(run.path),
                "accuracy": run.value,
                "data.official_files": files_official(run.record.get("data", {})),  # md5 verified
                **{k: v for k, v in summary.items() if k != "runtime"},
                **{f"config.{k}": format_value(v) for k, v in run.config.to_dict().items()},
                **{f"runtime.{k}": v for k, v in run.runtime.items()},  # what ran: bf16, device, threads
            }
        )
    return pd.DataFrame(rows)


ARMS_CSV_SPREAD = {"ci95": "ci95_half_width", "std": "std"}  # the column says which ± the cells carry


def arms_frame(rows: list[ArmStats], interval: str) -> pd.DataFrame:
    out, compared = [], compared_key([row.cell for row in rows])  # what values and mean hold
    factors = list(dict.fromkeys(name for row in rows for name, _ in row.cell.arm.factors))  # a design's
    for row in rows:
        test, levels = row.vs_baseline, dict(row.cell.arm.factors)
        out.append(
            {
                "arm": row.name,
                **{f"factor.{f}": format_value(levels[f]) if f in levels else None for f in factors},
                "selection": row.selection,
                "compared": compared,
                "n": row.headline.n,
                "seeds": " ".join(map(str, row.headline.values)),
                "values": " ".join(f"{v:.4f}" for v in row.headline.values.values()),
                "mean": row.headline.mean,
                ARMS_CSV_SPREAD[interval]: row.headline.half,
                "final_mean": row.final.mean,
                "delta": test.diff if test else None,
                "delta_low": test.low if test else None,
                "delta_high": test.high if test else None,
                "test": test.kind if test else None,
                "p": test.p if test else None,
                "p_holm": row.p_holm,
                "p_superior": test.p_superior if test else None,
                "resolvable": row.resolvable,
                "bold": row.bold,
                "cell": fmt_cell(row.headline),
            }
        )
    return pd.DataFrame(out)
