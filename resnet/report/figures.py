"""Figures for a paper: learning curves, a forest plot of each arm's difference to the baseline, and the
interaction plot of a factorial design. Each is written as PDF (vector) and PNG. Only completed runs
enter a plotted mean; no error bar is drawn for n = 1; accuracy axes end at 100; titles say the
dataset and any override, so a smoke figure never passes for CIFAR-10."""

from __future__ import annotations

import io
import math
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd

from resnet.files import write_atomic
from resnet.report.analysis import ArmStats, untested_basis
from resnet.report.collect import ArmRuns


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


TITLE_CHARS_PER_INCH = 9  # suptitle's 12-point DejaVu Sans averages about 10 characters an inch


def set_title(fig: Any, title: str) -> None:
    """The title over the whole figure, each line wrapped to its width: the overrides it lists must all
    show, and one line of them ran off the forest plot's right edge (an axes title is centred on the
    axes, right of the arm names)."""
    width = max(30, int(fig.get_figwidth() * TITLE_CHARS_PER_INCH))
    fig.suptitle("\n".join(textwrap.fill(line, width) for line in title.split("\n")))


def palette(lines: int) -> Any:
    """tab10 for up to 10 lines, tab20 for up to 20 (MAX_CURVES); past that its colours come round again."""
    return _pyplot().get_cmap("tab10" if lines <= 10 else "tab20")


def save(fig: Any, stem: Path) -> list[Path]:
    """stem.pdf and stem.png, each written atomically. The PDF embeds TrueType fonts (matplotlib's default
    Type 3 fonts are refused by IEEE's and ACM's PDF checks) and no creation date, so the same runs give
    the same bytes."""
    plt = _pyplot()
    paths = []
    pdf = {"metadata": {"CreationDate": None}}
    for suffix, options in ((".pdf", pdf), (".png", {"dpi": 130})):
        buffer = io.BytesIO()
        with plt.rc_context({"pdf.fonttype": 42}):
            fig.savefig(buffer, format=suffix[1:], **options)
        path = stem.with_name(stem.name + suffix)
        write_atomic(path, buffer.getvalue())
        paths.append(path)
    plt.close(fig)
    return paths


def curves_frame(cells: list[ArmRuns]) -> pd.DataFrame:
    frames = [
        pd.DataFrame(metrics).assign(arm=cell.arm.name, seed=run.seed)
        for cell in cells
        for run in cell.completed
        if (metrics := run.metrics())  # read once: 700 runs of 200 epochs are 140,000 lines
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


MAX_CURVES = 20  # tab20's colours: past them two arms would share one, and the legend outgrow the figure


def plot_curves(cells: list[ArmRuns], stem: Path, title: str, baseline: str | None = None) -> list[Path]:
    plt = _pyplot()
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    curves = curves_frame(cells)
    split = "val" if not curves.empty and "val_acc" in curves and curves["val_acc"].notna().any() else "test"
    cells, note = curve_arms(cells, curves, split, baseline)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), constrained_layout=True)
    colours = palette(len(cells))
    if curves.empty:
        for ax in axes:
            ax.text(0.5, 0.5, "no completed run yet", ha="center", transform=ax.transAxes)
    for i, cell in enumerate(cells if not curves.empty else []):
        data = curves[curves["arm"] == cell.arm.name]
        if data.empty:
            continue
        n = data["seed"].nunique()
        for ax, metric in zip(axes, (f"{split}_acc", "train_loss"), strict=True):
            per_epoch = data.groupby("epoch")[metric].agg(["mean", "min", "max"])
            ax.plot(
                per_epoch.index,
                per_epoch["mean"],
                color=colours(i),
                label=f"{cell.arm.name} (n={n})",
                lw=1.6,
                marker="o" if len(per_epoch) <= 20 else None,
                ms=3,
            )
            if n > 1:
                ax.fill_between(
                    per_epoch.index, per_epoch["min"], per_epoch["max"], color=colours(i), alpha=0.18
                )
    axes[0].set(
        xlabel="epoch",
        ylabel=f"{split} accuracy (%)",
        ylim=(None, 100),
        title=f"{split.capitalize()} accuracy\n(mean of completed runs; band: min–max over seeds)",
    )
    axes[1].set(xlabel="epoch", ylabel="train loss", title="Train loss", yscale="log")
    # plain tick labels (1, 0.5, 0.2, 0.1): the default 10^k ones go through mathtext, which costs about
    # half a second of every report
    axes[1].yaxis.set_major_formatter(FuncFormatter(_plain))
    if not curves.empty:
        axes[1].yaxis.set_minor_formatter(_minor_log_labels(curves["train_loss"]))
    epochs = sorted(curves["epoch"].unique()) if not curves.empty else []
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if 0 < len(epochs) <= 2:  # MaxNLocator gives up on integers for a range this short (0.95 to 1.05)
            ax.set_xticks(epochs)
            ax.set_xlim(epochs[0] - 0.5, epochs[-1] + 0.5)
    if not curves.empty:
        axes[1].legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9, frameon=False)
    set_title(fig, f"{title}\n{note}" if note else title)
    return save(fig, stem)


def curve_arms(
    cells: list[ArmRuns], curves: pd.DataFrame, split: str, baseline: str | None
) -> tuple[list[ArmRuns], str]:
    """At most MAX_CURVES arms, in the table's order: past that, the baseline and the arms whose runs
    reached the best mean of their best-epoch accuracy on the plotted split, and a note that says so."""
    if curves.empty or curves["arm"].nunique() <= MAX_CURVES:
        return cells, ""
    best = curves.groupby(["arm", "seed"])[f"{split}_acc"].max().groupby("arm").mean()
    lead = [baseline] if baseline in best.index else []
    kept = set(lead) | set(best.drop(lead).nlargest(MAX_CURVES - len(lead)).index)
    note = (
        f"{len(kept)} of {len(best)} arms: {f'{baseline} and ' if lead else ''}the {len(kept) - len(lead)} "
        f"with the best mean {split} accuracy (at their best epoch); every arm is in the table"
    )
    return [cell for cell in cells if cell.arm.name in kept], note


def _plain(value: float, _position: int) -> str:
    return f"{value:g}"


def _two_and_five(value: float, _position: int) -> str:
    """Minor tick labels of a log axis: only 2 and 5 times a power of ten, so they never crowd."""
    leading = round(value / 10 ** math.floor(math.log10(value))) if value > 0 else 0
    return _plain(value, _position) if leading in (2, 5) else ""


def _minor_log_labels(values: pd.Series) -> Any:
    """Every minor tick labelled when the values span under 0.6 of a decade: the ticks then sit at 1.1,
    1.2, ... and the loss of a short run falls between 2 and 5 (it showed no number below 1.5)."""
    from matplotlib.ticker import FuncFormatter

    low, high = values.min(), values.max()
    narrow = bool(low > 0 and high / low < 4)
    return FuncFormatter(_plain if narrow else _two_and_five)


# No difference of two accuracies lies beyond ±100 points: an interval past that (a t-interval over 2-3
# seeds can reach it) is drawn to the edge, with an arrow that says it goes on; the table gives its ends.
POSSIBLE_DELTA = 100.0


def plot_forest(rows: list[ArmStats], baseline: str | None, stem: Path, title: str) -> list[Path]:
    return save(forest_figure(rows, baseline, title), stem)


def forest_figure(rows: list[ArmStats], baseline: str | None, title: str) -> Any:
    """Each arm's difference to the baseline with its 95% interval, a zero line, published differences."""
    plt = _pyplot()
    shown = [row for row in rows if row.name != baseline]
    fig, ax = plt.subplots(figsize=(9, 0.5 * max(1, len(shown)) + 1.8), constrained_layout=True)
    base = next((row for row in rows if row.name == baseline), None)
    y = list(range(len(shown)))[::-1]
    published_label = True
    for yi, row in zip(y, shown, strict=True):
        test = row.vs_baseline
        if test is None:
            why = "no completed run" if row.headline.mean is None else f"no completed {baseline} run"
            ax.text(0, yi, f"  not compared: {why}", va="center", fontsize=8, color="grey")
            continue
        _draw_delta(ax, yi, row)
        published = _published_delta(row, base)
        if published is not None:
            ax.plot(
                published, yi, "D", color="#c0392b", ms=6, label="published Δ" if published_label else None
            )
            published_label = False
    ax.margins(x=0.1)  # room beside the outermost points for their labels, which are centred on them
    ax.axvline(0, color="black", lw=1)
    if all(row.vs_baseline is None for row in shown):
        ax.set_xlim(-1, 1)  # nothing drawn yet: the zero line in the middle, not on the frame
    left, right = ax.get_xlim()
    margin = 0.05 * POSSIBLE_DELTA
    ax.set_xlim(max(left, -POSSIBLE_DELTA - margin), min(right, POSSIBLE_DELTA + margin))
    ax.set_yticks(y, [row.name for row in shown])
    ax.set_ylim(-0.7, len(shown) - 0.3)  # room above the top row for its label, inside the frame
    ax.set(xlabel=f"Δ accuracy vs {baseline} (points), 95% CI")
    set_title(fig, title)
    ax.grid(axis="x", alpha=0.3)
    if not published_label:
        ax.legend(loc="lower right", fontsize=8)
    return fig


def _draw_delta(ax: Any, yi: int, row: ArmStats) -> None:
    """One arm's Δ at height yi: its interval, capped, or arrowed where the axis cut it; a hollow point
    with no bar for n = 1 (or one shared seed) or no spread; the value written above."""
    test = row.vs_baseline
    assert test is not None
    if test.low is not None and test.high is not None and not test.no_spread:
        note = ""
        low, high = max(test.low, -POSSIBLE_DELTA), min(test.high, POSSIBLE_DELTA)
        ax.errorbar(
            test.diff,
            yi,
            xerr=[[test.diff - low], [high - test.diff]],
            fmt="o",
            color="#1f4e79",
        )
        for end, cut, arrow in ((low, test.low < low, "<"), (high, test.high > high, ">")):
            # a cap where the interval ends, an arrow where it was cut at the edge and goes on
            ax.plot(end, yi, arrow if cut else "|", color="#1f4e79", ms=7 if cut else 9, mew=1.5)
    else:  # n = 1, or every seed the same difference: a point, no bar
        ax.plot(test.diff, yi, "o", color="#1f4e79", mfc="white")
        note = f" ({'no spread' if test.tested else untested_basis(row)})"
    ax.annotate(
        f"{test.diff:+.2f}{note}",
        (test.diff, yi),
        textcoords="offset points",
        xytext=(0, 7),
        ha="center",
        fontsize=8,
        bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.85},  # over lines
        zorder=3,
    )


def _published_delta(row: ArmStats, base: ArmStats | None) -> float | None:
    """None where the table does not compare either arm with its reference (runs of an overridden config)."""
    if base is None or row.reference is None or base.reference is None:
        return None
    if not (row.reference_comparable and base.reference_comparable):
        return None
    for key in ("final", "best"):
        a, b = getattr(row.reference, key), getattr(base.reference, key)
        if a is not None and b is not None:
            return a - b
    return None


def plot_interaction(
    series: dict[str, list[tuple[str, float | None, float | None]]],
    factor: str,
    stem: Path,
    title: str,
    ylabel: str,
) -> list[Path]:
    return save(interaction_figure(series, factor, title, ylabel), stem)


def interaction_figure(
    series: dict[str, list[tuple[str, float | None, float | None]]], factor: str, title: str, ylabel: str
) -> Any:
    """One line per level of the second factor across the first's levels; `series`: (level, mean, 95%
    half-width or None for n = 1, which draws no bar)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5), constrained_layout=True)
    colours = palette(len(series))
    levels = list(dict.fromkeys(p[0] for points in series.values() for p in points))
    step = min(0.08, 0.4 / len(series))  # each line a little aside, so that its bars do not hide another's
    for i, (label, points) in enumerate(series.items()):
        dodge = (i - (len(series) - 1) / 2) * step
        xs = [levels.index(p[0]) + dodge for p in points if p[1] is not None]
        ys = [p[1] for p in points if p[1] is not None]
        errs = [math.nan if p[2] is None else p[2] for p in points if p[1] is not None]  # n = 1: no bar
        # an interval past 0 or 100 (a t-interval over 2-3 seeds can reach it) ends at the axis with an
        # arrow that says it goes on; the table gives its ends
        below = [min(err, y) for y, err in zip(ys, errs, strict=True)]
        above = [min(err, 100 - y) for y, err in zip(ys, errs, strict=True)]
        bars = any(not math.isnan(err) for err in errs)
        style = {"color": colours(i % 20), "ls": ("-", "--", ":")[i // 20 % 3]}  # past 20: another style
        yerr = [below, above] if bars else None
        ax.errorbar(xs, ys, yerr=yerr, marker="o", capsize=4, label=label, **style)
        for x, y, err in zip(xs, ys, errs, strict=True):
            for edge, arrow, cut in ((0.0, "v", y - err < 0), (100.0, "^", y + err > 100)):
                if cut:
                    ax.plot(x, edge, arrow, color=style["color"], ms=7, clip_on=False)
    bottom = ax.get_ylim()[0]
    ax.set(xlabel=factor, ylabel=ylabel, ylim=(max(bottom, 0.0), 100))
    set_title(fig, title)
    ax.set_xticks(range(len(levels)), levels)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)  # off the data
    return fig
