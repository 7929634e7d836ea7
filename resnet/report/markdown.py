"""The Markdown report, results/<suite>.md: header (dataset, protocol, what the columns mean, warnings),
the table, findings, sections, a design's effects, tuning, other configurations, skipped directories, and
the provenance footer."""

from __future__ import annotations

import pandas as pd

from resnet.plan import Plan
from resnet.report.analysis import ArmStats, finding, tested_comparisons
from resnet.report.appendix import design_section, others_section, tuning_section
from resnet.report.collect import Collected
from resnet.report.protocol import protocol_words
from resnet.report.provenance import dataset_words, provenance_warnings
from resnet.report.render import INTERVAL_WORDS, markdown_table, reference_notes, section_table, sections
from resnet.words import plural


def render_markdown(
    plan: Plan,
    collected: Collected,
    rows: list[ArmStats],
    interval: str,
    table: pd.DataFrame,
    footer: list[str],
    edited: list[str],
) -> str:
    """`table`: main_table(plan, rows); `footer`: provenance(collected); `edited`: suite_file_warnings."""
    suite = plan.suite
    out = [
        f"# Results: suite `{suite.name}`",
        "",
        suite.description + ("." if suite.description else ""),
        f"Dataset: {dataset_words(plan, collected)}.",
    ]
    if plan.overrides_words:
        out.append(
            f"**These runs override the suite's presets: {plan.overrides_words}** (descriptions below "
            f"are the presets')."
        )
    out += [f"**{line}**" for line in edited]
    out += [f"**{line}** (the footer says how)" for line in provenance_warnings(footer)]  # seen first
    out += [
        protocol_words(rows),
        f"Cells: {INTERVAL_WORDS[interval]}; n = completed seeds; a pending, running, failed or "
        "diverged seed never enters a cell (Notes count them; the findings name diverged seeds).",
    ]
    tested = tested_comparisons(rows)
    if plan.baseline:
        out.append(_comparison_words(plan.baseline, tested))
    out += [f"**{line}**" for line in [no_baseline_words(plan, rows)] if line]
    out += ["", markdown_table(table)]
    notes = reference_notes(rows)
    if notes:
        out += [""] + notes
    compared = [row for row in rows if row.name != plan.baseline]
    if plan.baseline and compared:  # a suite of the baseline alone has nothing to find
        out += ["", "## Findings", ""] + [f"- {finding(row, plan.baseline, tested)}" for row in compared]
    base = next((row for row in rows if row.name == plan.baseline), None)
    for title, members in sections(plan, rows).items():
        assert base is not None
        out += ["", f"## {title}", "", markdown_table(section_table(base, members, rows))]
    out += design_section(plan, collected) + tuning_section(plan, collected) + others_section(plan, collected)
    if collected.skipped:
        out += ["", "## Skipped directories", "", "Not counted anywhere:", ""]
        out += [f"- `{path}`: {reason}" for path, reason in collected.skipped]
    return "\n".join(out + ["", "---", "", *footer]) + "\n"


def no_baseline_words(plan: Plan, rows: list[ArmStats]) -> str:
    """Arms compared with nothing, as the suite's baseline is not among them: why, and how to compare."""
    if plan.baseline or len(rows) < 2 or not plan.suite.baseline:
        return ""
    return (
        f"No Δ, p-values or findings: the suite's baseline `{plan.suite.baseline}` is not in this table; "
        f"run it too (--config {plan.suite.baseline} ...) to compare the arms with it."
    )


def _comparison_words(baseline: str, tested: int) -> str:
    """What Δ, p Holm, P(>baseline), the resolvable Δ and bold mean, for a table of `tested` comparisons."""
    holm_over = (
        f"{plural(tested, 'tested comparison')} of this table ("
        if tested
        else "the tested comparisons of this table (none here: "
    )
    return (
        f"Δ: the paired mean difference to `{baseline}` over shared seeds (their number marked when"
        f" a cell holds more) with its 95% t-interval and paired t-test p (Welch's test, marked, when "
        f"seeds are not shared). p Holm: Holm–Bonferroni over {holm_over}one with n = 1 has no test, nor"
        f" has one whose paired differences are all equal: no spread to test against). "
        f"P(>{baseline}): the fraction of paired seeds where the arm beat the baseline (ties count "
        f"half; Welch: the chance that a seed of the arm beats one of the baseline's). Resolvable Δ: the"
        f" smallest true difference these seeds would detect with 80% power at the table's corrected "
        f"level, α/m = 0.05/{tested or 'm, m tested'} (Holm resolves every p below it), (t(1 − α/2m) + "
        f"t₀.₈₀) × SE: a 'no effect' below it means too few seeds ('> 100': not even a 100-point one). "
        "**Bold**: not significantly worse than the best arm (Holm-adjusted, α = 0.05); with n = 1 "
        "nothing is resolvable, so every arm is bold."
    )
