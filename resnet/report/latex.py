"""The table as LaTeX: a full booktabs table* and a one-column compact variant for a two-column paper."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from resnet.plan import Plan
from resnet.report.analysis import ArmStats
from resnet.report.protocol import mixed_protocols, second_cell, selected_on_val, selection_tag
from resnet.report.render import delta_interval, delta_mark, fmt_cell, fmt_delta, fmt_p, params_of
from resnet.words import plural


def tex_cell(cell, bold: bool = False, with_n: bool = True) -> str:
    text = latex_escape(fmt_cell(cell, with_n=with_n))
    return rf"\textbf{{{text}}}" if bold and cell.mean is not None else text


# pdflatex reads UTF-8 but knows few characters beyond Latin letters (a Greek letter stops it): the tables
# and captions are ASCII LaTeX, plus the accented Latin letters it knows (U+00C0-U+017F, e.g. a name).
LATEX = {
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
    "×": r"$\times$",
    "≥": r"$\geq$",
    "≤": r"$\leq$",
    "—": "---",
    "–": "--",
    "‘": "`",
    "’": "'",
    "“": "``",
    "”": "''",
    "…": r"\dots{}",
    "§": r"\S{}",
    "¶": r"\P{}",
    "°": r"\textdegree{}",
    "µ": r"$\mu$",  # the micro sign, not the Greek letter
    "†": r"$^\dagger$",
    "∗": r"$^*$",  # the mark of a published number outside our interval
    "⚠": "",
}


# Greek letters (Δ, α in our own headers too) as the math command LaTeX has for them; the capitals that
# look Latin have none.
GREEK_CAPITALS = {"Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega"}


def _greek(ch: str) -> str | None:
    """'β' -> '$\\beta$', from the character's Unicode name (which spells lambda LAMDA); None for
    anything else."""
    match unicodedata.name(ch, "").replace("LAMDA", "LAMBDA").split():
        case ["GREEK", "SMALL", "LETTER", "OMICRON"]:
            return "o"
        case ["GREEK", "SMALL", "LETTER", "FINAL", "SIGMA"]:
            return r"$\varsigma$"
        case ["GREEK", "SMALL", "LETTER", name]:
            return rf"$\{name.lower()}$"
        case ["GREEK", "CAPITAL", "LETTER", name] if name.capitalize() in GREEK_CAPITALS:
            return rf"$\{name.capitalize()}$"
    return None


def latex_escape(text: str) -> str:
    """Text as LaTeX source pdflatex reads: specials escaped, known symbols and Greek letters as commands,
    Latin letters as they are, any other character as '?'."""
    return "".join(_escape_char(ch) for ch in text)


def _escape_char(ch: str) -> str:
    if ch in LATEX:
        return LATEX[ch]
    if ch.isascii() or "\u00c0" <= ch <= "\u017f":
        return ch
    return _greek(ch) or "?"


def tex_delta(row: ArmStats) -> str:
    """fmt_delta's cell, its words as marks the caption explains, so a table* of seven arms fits the page:
    a superscript W for Welch's test, a subscript n for the seeds paired when fewer than a cell holds."""
    test, mark = row.vs_baseline, delta_mark(row)
    if test is None or not mark:
        return latex_escape(fmt_delta(row))
    text = latex_escape(delta_interval(test))
    return text + (r"$^\mathrm{W}$" if mark == "welch" else f"$_{{n={test.n}}}$")


def tex_reference(row: ArmStats, keys: list[str]) -> str:
    """'94.1 / 87.6*': the published numbers of `keys` as published, * where one lies outside our 95% CI,
    † after them when our runs override the preset (not compared)."""
    reference = row.reference
    if reference is None:
        return ""
    parts = []
    for key in keys:
        value = getattr(reference, key)
        outside = row.reference_comparable and row.reference_verdicts.get(key) == "outside"
        parts.append("--" if value is None else f"{value}" + ("∗" if outside else ""))  # as published
    return latex_escape(" / ".join(parts) + ("" if row.reference_comparable else "†"))


def two_lines(header: str) -> str:
    """A header on two lines ('Best test acc.' over '(test-sel.)', 'Final' over 'test acc.'): the full
    table's columns are as wide as their cells, not their headers (a plain nested tabular: no package)."""
    plain = header.replace(r"\ ", " ")
    top, _, bottom = plain.partition(" (") if " (" in plain else plain.partition(" ")
    bottom = f"({bottom}" if " (" in plain else bottom
    return rf"\begin{{tabular}}[b]{{@{{}}r@{{}}}}{top}\\ {bottom}\end{{tabular}}" if bottom else header


def breakable(name: str) -> str:
    """A design arm's name ('lr_schedule=cosine,norm=none') may wrap after each '=' and ','."""
    return name.replace("=", r"=\allowbreak{}").replace(",", r",\allowbreak{}")


WRAP_NAMES_OVER = 22  # characters of an arm name that still fit the one-column table on one line
# rows one float holds on a two-column letter or A4 page under its caption (checked with pdflatex, up to
# 100 arms); a longer table continues in further floats, each pointing back to the first
ROWS_PER_FLOAT = {"full": 36, "compact": 28, "wrapped": 9}


def latex_table(
    header: Iterable[str],
    body: list[list[str]],
    caption: str,
    label: str,
    compact: bool,
    footer: str,
    roomy: bool = True,
    first_column: str = "l",
) -> str:
    """`roomy`: the cells are short (no n in them), so the compact table can use \\small. `first_column`:
    a p{width} column wraps long arm names (resnet.report.latex.breakable) in the one-column table."""
    header, wrapped = list(header), first_column != "l"
    per_float = ROWS_PER_FLOAT["wrapped" if wrapped else "compact" if compact else "full"]
    parts = [body[i : i + per_float] for i in range(0, len(body), per_float)] or [[]]
    ends = [
        [
            rf"\caption{{{caption}}}",
            rf"\label{{{label}}}",
            rf"\par\smallskip{{\scriptsize {footer}\par}}",  # what produced the numbers: one line to delete
        ]
    ]
    ends += [
        [rf"\par\smallskip{{\footnotesize Table~\ref{{{label}}}, continued ({k} of {len(parts)}).\par}}"]
        for k in range(2, len(parts) + 1)
    ]
    env = "table" if compact else "table*"
    size = r"\small" if compact and roomy else r"\footnotesize"  # with n in every cell \small overflows
    row_end = r" \\ \addlinespace[2pt]" if wrapped else r" \\"  # wrapped names: rows apart
    floats = [
        [
            rf"\begin{{{env}}}[t]",
            r"\centering",
            size,
            r"\setlength{\tabcolsep}{4pt}",  # LaTeX's 6pt lets the full table overflow a two-column page
            rf"\begin{{tabular}}{{{first_column + 'r' * (len(header) - 1)}}}",
            r"\toprule",
            " & ".join(header) + r" \\",
            r"\midrule",
            *(" & ".join(row) + row_end for row in rows),
            r"\bottomrule",
            r"\end{tabular}",
            *end,
            rf"\end{{{env}}}",
        ]
        for rows, end in zip(parts, ends, strict=True)
    ]
    return "".join("\n".join(lines) + "\n" for lines in floats)


def published_words(rows: list[ArmStats], keys: list[str]) -> str:
    sources = dict.fromkeys(f"{r.reference.source} ({r.reference.protocol})" for r in rows if r.reference)
    overridden = any(r.reference and not r.reference_comparable for r in rows)
    other_protocol = sorted({v for r in rows for v in r.reference_verdicts.values() if "not compared" in v})
    return (
        f"Published: {' / '.join(keys)} test accuracy reported by {'; '.join(sources)}; ∗ outside our 95% CI"
        + "".join(f"; best {words} (another protocol than ours)" for words in other_protocol)
        + ("; † not compared: our runs override the preset's config." if overridden else ".")
    )


def latex_tables(
    plan: Plan, rows: list[ArmStats], captions: tuple[str, str], provenance: list[str]
) -> tuple[str, str]:
    """(full table*, one-column compact table), each with its caption and the provenance footer. Headers
    are short so the compact table fits one column of a two-column paper; n goes to the caption when every
    arm has the same."""
    on_val, mixed = selected_on_val(rows), mixed_protocols(rows)
    headline = r"Test acc.\ (val-sel.)" if on_val else "Final test acc."
    second = (
        "Final test acc." if on_val else r"Test acc.\ (sel.)" if mixed else r"Best test acc.\ (test-sel.)"
    )
    counts = {row.headline.n for row in rows if row.headline.mean is not None}
    with_n = len(counts) != 1
    notes = [] if with_n else [f"n = {plural(counts.pop(), 'seed')} per arm."]
    keys = [k for k in ("best", "final") if any(getattr(r.reference, k, None) is not None for r in rows)]
    full_notes = [published_words(rows, keys)] if keys else []  # the compact table has no such column
    settings, every_arm = _settings(rows)
    notes += every_arm
    full_header = [
        "Experiment",
        *map(two_lines, (headline, second)),
        r"$\Delta$ [95\% CI]",
        r"$p_\mathrm{Holm}$",
    ]
    full_header += ["Published"] * bool(keys) + list(settings)
    full = [
        [
            latex_escape(row.name),
            tex_cell(row.headline, row.bold, with_n),
            tex_cell(second_cell(row, rows), with_n=False)
            + latex_escape(selection_tag(row, rows)),  # n as before
            tex_delta(row),
            latex_escape(fmt_p(row.p_holm)),
            *([tex_reference(row, keys)] if keys else []),
            *(values[i] for values in settings.values()),
        ]
        for i, row in enumerate(rows)
    ]
    label, footer = f"tab:{plan.suite.name}", caption_tex(provenance)
    full_caption = caption_tex([captions[0], *notes, *full_notes])
    return (
        latex_table(full_header, full, full_caption, label, compact=False, footer=footer),
        _compact_table(rows, headline, with_n, caption_tex([captions[1], *notes]), label, footer),
    )


def _settings(rows: list[ArmStats]) -> tuple[dict[str, list[str]], list[str]]:
    """The arms' setting columns (model, params, epochs) that differ between rows, and a caption note for
    those the same in every row."""
    columns = {
        "Model": [latex_escape(row.cell.arm.config.model) for row in rows],
        "Params": [params_of(row) for row in rows],
        "Epochs": [str(row.cell.arm.config.epochs) for row in rows],
    }
    constant = {name: values[0] for name, values in columns.items() if len(set(values)) == 1}
    known = {name: value for name, value in constant.items() if value}  # params: none before a run ends
    note = ["Every arm: " + ", ".join(f"{name.lower()} {value}" for name, value in known.items()) + "."]
    settings = {name: values for name, values in columns.items() if name not in constant}
    return settings, note if known else []


def _compact_table(
    rows: list[ArmStats], headline: str, with_n: bool, caption: str, label: str, footer: str
) -> str:
    """The one-column table: arm, headline accuracy, Δ and Holm p; long design arm names wrap."""
    wrap = max((len(row.name) for row in rows), default=0) > WRAP_NAMES_OVER  # a design's 'a=x,b=y,c=z'
    body = [
        [
            (r"\raggedright " if wrap else "") + breakable(latex_escape(row.name)),
            tex_cell(row.headline, row.bold, with_n),
            latex_escape(f"{row.vs_baseline.diff:+.2f}" if row.vs_baseline else ""),
            latex_escape(fmt_p(row.p_holm)),
        ]
        for row in rows
    ]
    return latex_table(
        ["Arm", headline, r"$\Delta$", r"$p_\mathrm{Holm}$"],
        body,
        caption,
        label + "-compact",
        True,
        footer,
        roomy=not with_n,
        first_column=r"p{0.3\columnwidth}" if wrap else "l",
    )


def caption_tex(parts: list[str]) -> str:
    return " ".join(latex_escape(" ".join(parts)).split())
