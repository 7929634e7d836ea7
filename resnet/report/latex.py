"""The table as LaTeX: a full booktabs table* and a one-column compact variant for a two-column paper."""

from __future__ import annotations

from collections.abc import Iterable

from resnet.plan import Plan
from resnet.report.analysis import ArmStats
from resnet.report.render import fmt_cell, fmt_delta, fmt_p, headers, params_of


def tex_cell(cell, bold: bool = False) -> str:
    text = latex_escape(fmt_cell(cell))
    return rf"\textbf{{{text}}}" if bold and cell.mean is not None else text


def latex_escape(text: str) -> str:
    table = {
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
        "±": r"$\pm$",
        "Δ": r"$\Delta$",
        "—": "--",
        "≥": r"$\geq$",
        "⚠": "",
    }
    return "".join(table.get(ch, ch) for ch in text)


def latex_table(header: Iterable[str], body: list[list[str]], caption: str, label: str, compact: bool) -> str:
    header = list(header)
    spec = "l" + "r" * (len(header) - 1)
    env = "table" if compact else "table*"
    lines = [
        rf"\begin{{{env}}}[t]",
        r"\centering",
        r"\small" if compact else r"\footnotesize",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(row) + r" \\" for row in body]
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        rf"\caption{{{caption}}}",
        rf"\label{{{label}}}",
        rf"\end{{{env}}}",
    ]
    return "\n".join(lines) + "\n"


def latex_tables(plan: Plan, rows: list[ArmStats], caption: str) -> tuple[str, str]:
    """(full table*, one-column compact table)."""
    first, second = headers(rows)
    split = "test acc.\\ (val-sel.)" if first.startswith("Test") else "final test acc."
    delta = rf"$\Delta$ vs {latex_escape(plan.baseline or '')}"
    full_header = [
        "Experiment",
        latex_escape(first),
        latex_escape(second),
        delta + " [95\\% CI]",
        r"$p_\mathrm{Holm}$",
        "Model",
        "Params",
        "Epochs",
    ]
    full = [
        [
            latex_escape(row.name),
            tex_cell(row.headline, row.bold),
            tex_cell(row.best if first.startswith("Final") else row.final),
            latex_escape(fmt_delta(row)),
            fmt_p(row.p_holm),
            latex_escape(row.cell.arm.config.model),
            params_of(row),
            str(row.cell.arm.config.epochs),
        ]
        for row in rows
    ]
    compact_header = ["Arm", split.capitalize(), delta, r"$p_\mathrm{Holm}$"]
    compact = [
        [
            latex_escape(row.name),
            tex_cell(row.headline, row.bold),
            latex_escape(f"{row.vs_baseline.diff:+.2f}" if row.vs_baseline else ""),
            fmt_p(row.p_holm),
        ]
        for row in rows
    ]
    label = f"tab:{plan.suite.name}"
    return (
        latex_table(full_header, full, latex_escape(caption), label, compact=False),
        latex_table(compact_header, compact, latex_escape(caption), label + "-compact", compact=True),
    )
