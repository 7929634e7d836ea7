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
BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)  # DOTALL: a design arm's name may span lines


MAX_NAME_WIDTH = 40  # past this an arm name's lines fold, so that the numbers keep room on 80 columns


def arm_lines(name: str) -> str:
    """A design arm's name ('lr_schedule=cosine,norm=none') one factor a line, so that a narrow terminal
    breaks it between factors, not inside one; joined again, the lines are the name."""
    return name.replace(",", ",\n")


def headline_view(table: pd.DataFrame, names: list[str]) -> Table:
    """The headline columns, the title above (as wide as the screen, not the table)."""
    view = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    widest = max((len(line) for name in names for line in name.splitlines()), default=0)
    for i, column in enumerate(table.columns):
        width = min(widest, MAX_NAME_WIDTH) if i == 0 else None
        view.add_column(column, justify="left" if i == 0 else "right", overflow="fold", min_width=width)
    for name, (_, row) in zip(names, table.iterrows(), strict=True):
        view.add_row(styled(name), *(styled(str(value)) for value in row.iloc[1:]))
    return view


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
    `warnings`: the report's own (an edited suite file, mixed provenance), each in one line."""
    columns = list(table.columns[:HEADLINE_COLUMNS])
    columns += [c for c in table.columns if c.startswith("Δ vs ") or c == "p Holm"]
    console = console or Console()
    view = headline_view(table[columns], [str(name) for name in table[columns[0]]])
    unbounded = console.options.update(max_width=10**6)  # measure() says no more than the screen's width
    if console.measure(view, options=unbounded).maximum > console.width:  # a design arm's factor a line
        view = headline_view(table[columns], [arm_lines(str(name)) for name in table[columns[0]]])
    console.print(title, markup=False)
    console.print(view)
    missing = [f"{name} {runs}" for name, runs in zip(table[columns[0]], outside, strict=True) if runs]
    if missing:
        console.print("In no cell: " + "; ".join(missing), markup=False)
    if aside:
        console.print(f"Also found, in no row: {aside} (the Markdown lists them)", markup=False)
    for warning in warnings:
        console.print(warning, markup=False)
