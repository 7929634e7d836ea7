"""The results table in the terminal after a sweep: the headline columns of the Markdown table (the arm,
its cell, Δ with its interval, the Holm-adjusted p, the runs in no cell), bold as in the Markdown. The
files hold the rest."""

from __future__ import annotations

import re

import pandas as pd
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

HEADLINE_COLUMNS = 2  # Experiment and the headline cell; then Δ and p Holm when there is a baseline
BOLD = re.compile(r"\*\*(.+?)\*\*")


def styled(text: str) -> str:
    """Markdown bold as rich markup; everything else shown as it is."""
    return BOLD.sub(lambda m: f"[bold]{m.group(1)}[/bold]", escape(text))


def print_table(
    table: pd.DataFrame,
    title: str,
    outside: list[str],
    aside: str = "",
    warnings: tuple[str, ...] | list[str] = (),
    console: Console | None = None,
) -> None:
    """`outside`: per row, the runs that are in no cell (failed, pending, ...), said in one line below;
    `aside`: what else the runs dir held (other configurations, skipped directories), in one more;
    `warnings`: the report's own (mixed provenance), each in one line."""
    columns = list(table.columns[:HEADLINE_COLUMNS])
    columns += [c for c in table.columns if c.startswith("Δ vs ") or c == "p Holm"]
    view = Table(box=box.SIMPLE_HEAD, pad_edge=False)  # the title above, as wide as the screen, not the table
    for i, column in enumerate(columns):
        view.add_column(column, justify="left" if i == 0 else "right", overflow="fold")
    for _, row in table[columns].iterrows():
        view.add_row(*(styled(str(value)) for value in row))
    console = console or Console()
    console.print(title, markup=False)
    console.print(view)
    missing = [f"{name} {runs}" for name, runs in zip(table[columns[0]], outside, strict=True) if runs]
    if missing:
        console.print("In no cell: " + "; ".join(missing), markup=False)
    if aside:
        console.print(f"Also found, in no row: {aside} (the Markdown lists them)", markup=False)
    for warning in warnings:
        console.print(warning, markup=False)
