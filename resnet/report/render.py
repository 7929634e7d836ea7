"""The table as text: Markdown cells, sections and headers (LaTeX: latex.py; provenance: provenance.py)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from resnet.config import format_value
from resnet.plan import Plan
from resnet.report.analysis import ArmStats, Cell, untested_basis
from resnet.report.protocol import headers, second_cell, selection_tag
from resnet.stats import Comparison

INTERVAL_WORDS = {
    "ci95": "mean ± 95% CI half-width (t-interval over seeds)",
    "std": "mean ± standard deviation over seeds",
}
SECTION_TITLES = {
    "model": "Depth comparison",
    "norm": "BatchNorm comparison",
    "lr_schedule": "LR schedule comparison",
    "batch_size": "Batch size comparison",
}


def fmt_cell(cell: Cell, bold: bool = False, with_n: bool = True) -> str:
    """'93.50 ± 0.71 (n=2)': the mean, the interval's half-width and n; bold in Markdown when asked."""
    if cell.mean is None:
        return "—"
    text = f"{cell.mean:.2f}" if cell.half is None else f"{cell.mean:.2f} ± {cell.half:.2f}"
    text += f" (n={cell.n})" if with_n else ""
    return f"**{text}**" if bold else text


def fmt_p(p: float | None) -> str:
    return "—" if p is None else f"{p:.3g}"


def delta_mark(row: ArmStats) -> str:
    """What a Δ cell must say besides its numbers: 'welch' (seeds not shared), 'shared' (paired over fewer
    seeds than a cell holds, so not the difference of the two cells' means), or ''."""
    test = row.vs_baseline
    if test is None or not test.tested:
        return ""
    if test.kind == "welch":
        return "welch"
    return "shared" if test.n < max(row.headline.n, row.baseline_n) else ""


def delta_interval(test: Comparison) -> str:
    """'+1.17 [-0.77, +3.11]': a tested Δ and its 95% interval, as every table writes it; '+0.78 (no
    spread)' when every seed gave the same difference, whose zero-width interval would read as certainty."""
    if test.no_spread:
        return f"{test.diff:+.2f} (no spread)"
    return f"{test.diff:+.2f} [{test.low:+.2f}, {test.high:+.2f}]"


def fmt_delta(row: ArmStats) -> str:
    test = row.vs_baseline
    if test is None:
        return ""
    if not test.tested:
        return f"{test.diff:+.2f} ({untested_basis(row)}, no test)"
    mark = {"welch": " (Welch)", "shared": f" ({test.n} shared seeds)"}.get(delta_mark(row), "")
    return delta_interval(test) + mark


def fmt_reference(row: ArmStats) -> str:
    """'best 94.10 (inside), final 94.00 (outside)': each published number against our 95% CI."""
    reference = row.reference
    if reference is None:
        return ""
    numbers = [
        (key, getattr(reference, key)) for key in ("best", "final") if getattr(reference, key) is not None
    ]
    if not row.reference_comparable:
        return (
            ", ".join(f"{key} {value:.2f}" for key, value in numbers) + " (not compared: overridden config)"
        )
    return ", ".join(
        f"{key} {value:.2f} ({row.reference_verdicts.get(key, 'n<2')})" for key, value in numbers
    )


def reference_notes(rows: list[ArmStats]) -> list[str]:
    """Where each published number comes from and how it was measured, once per source and protocol."""
    sources: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        if row.reference is not None:
            sources.setdefault((row.reference.source, row.reference.protocol), []).append(row.name)
    return [
        f"Published ({', '.join(names)}): {source}; {protocol}. Inside/outside: whether the published "
        f"number lies inside our 95% CI of the same column."
        for (source, protocol), names in sources.items()
    ]


def notes(row: ArmStats) -> str:
    parts = [row.cell.arm.description] if row.cell.arm.description else []
    if row.cell.arm.tuned:
        parts.append(f"{row.cell.arm.tuned[0]} = {format_value(row.cell.arm.tuned[1])} selected by tuning")
    if row.cell.awaiting:
        parts.append(f"no final runs: {row.cell.awaiting}")
    if not row.cell.planned:
        parts.append("not in the last sweep: its runs found here")
    outside = row.cell.outside()
    return "; ".join([*parts, outside] if outside else parts)


def main_table(plan: Plan, rows: list[ArmStats]) -> pd.DataFrame:
    first, second = headers(rows)
    table = pd.DataFrame(
        {
            "Experiment": [row.name for row in rows],
            first: [fmt_cell(row.headline, row.bold) for row in rows],
            second: [fmt_cell(second_cell(row, rows)) + selection_tag(row, rows) for row in rows],
        }
    )
    if plan.baseline:
        table[f"Δ vs {plan.baseline} [95% CI]"] = [fmt_delta(row) for row in rows]
        table["p"] = [fmt_p(row.vs_baseline.p if row.vs_baseline else None) for row in rows]
        table["p Holm"] = [fmt_p(row.p_holm) for row in rows]
        table[f"P(>{plan.baseline})"] = [
            fmt_p(row.vs_baseline.p_superior if row.vs_baseline else None) for row in rows
        ]
        table["Resolvable Δ"] = [_resolvable(row.resolvable) for row in rows]
    if any(row.reference for row in rows):
        table["Published (vs our 95% CI)"] = [fmt_reference(row) for row in rows]
    table["Model"] = [row.cell.arm.config.model for row in rows]
    table["Params"] = [params_of(row) for row in rows]
    table["Epochs"] = [str(row.cell.arm.config.epochs) for row in rows]
    table["Epoch time"] = [_seconds(row) for row in rows]
    table["Notes"] = [notes(row) for row in rows]
    return table


def _resolvable(points: float | None) -> str:
    """Beyond the 100-point scale (n = 2, say) the number says only that nothing is resolvable."""
    return "" if points is None else "> 100" if points > 100 else f"{points:.2f}"


def _first(row: ArmStats, key: str) -> Any:
    return next((r.summary[key] for r in row.cell.runs if r.summary and r.summary.get(key) is not None), None)


def _params(p: Any) -> str:
    return "" if p is None else f"{p / 1e6:.2f}M"


def params_of(row: ArmStats) -> str:
    return _params(_first(row, "params"))


def _seconds(row: ArmStats) -> str:
    values = [
        r.summary["mean_epoch_seconds"]
        for r in row.cell.completed
        if r.summary and r.summary.get("mean_epoch_seconds")
    ]
    return f"{sum(values) / len(values):.1f} s" if values else ""


def sections(plan: Plan, rows: list[ArmStats]) -> dict[str, list[tuple[ArmStats, list[str]]]]:
    """{title: [(arm, fields it changes vs the baseline)]}, in the suite's order."""
    base = next((row for row in rows if row.name == plan.baseline), None)
    grouped: dict[str, list[tuple[ArmStats, list[str]]]] = {}
    if base is None:
        return grouped
    for row in rows:
        changed = list(row.cell.arm.config.changed_fields(base.cell.arm.config))
        if row is base or not changed:
            continue
        primary = next((f for f in SECTION_TITLES if f in changed), changed[0])
        grouped.setdefault(SECTION_TITLES.get(primary, f"{primary} comparison"), []).append((row, changed))
    return grouped


def section_table(
    base: ArmStats, members: list[tuple[ArmStats, list[str]]], rows: list[ArmStats]
) -> pd.DataFrame:
    fields = list(dict.fromkeys(f for _, changed in members for f in changed))
    first, _ = headers(rows)
    out = []
    for row in [base, *(m for m, _ in members)]:
        values = row.cell.arm.config.to_dict()
        out.append(
            {
                "Experiment": row.name,
                **{f: format_value(values[f]) for f in fields},
                "Params": params_of(row),
                first: fmt_cell(row.headline),
                "Final test acc": fmt_cell(row.final),
                "Final train acc": fmt_cell(row.train),
            }
        )
    return pd.DataFrame(out)


def markdown_table(table: pd.DataFrame) -> str:
    """One line per row, whitespace collapsed: a description written as a multi-line TOML string would
    end its row mid-table."""
    cells = [
        [" ".join(str(c).split()).replace("|", "\\|") for c in row] for row in table.itertuples(index=False)
    ]
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])
