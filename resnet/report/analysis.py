"""Per-arm numbers of a table: cells with intervals, the comparison with the baseline, Holm-adjusted
p-values, which arms are not significantly worse than the best, references, findings."""

from __future__ import annotations

from dataclasses import dataclass, field

from resnet.plan import Plan
from resnet.references import Reference
from resnet.report.collect import ArmRuns, compared_key
from resnet.stats import ALPHA, Comparison, compare, half_width, holm, mean, resolvable_difference
from resnet.summary import selection


@dataclass
class Cell:
    """One accuracy of one arm over its completed seeds."""

    values: dict[int, float]
    interval: str = "ci95"

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return mean(list(self.values.values())) if self.values else None

    @property
    def half(self) -> float | None:
        return half_width(list(self.values.values()), self.interval)

    def ci95(self) -> tuple[float, float] | None:
        width = half_width(list(self.values.values()), "ci95")
        return None if width is None or self.mean is None else (self.mean - width, self.mean + width)


@dataclass
class ArmStats:
    cell: ArmRuns
    selection: str  # "val" or "test": what chose each run's best epoch
    headline: Cell  # test acc at the val-selected epoch, or the final test acc
    final: Cell
    best: Cell  # test acc at the val-selected epoch, or the best test epoch (test-selected: optimistic)
    train: Cell
    vs_baseline: Comparison | None = None
    baseline_n: int = 0  # the baseline's completed seeds: a paired Δ over fewer is not the cells' difference
    p_holm: float | None = None
    resolvable: float | None = None  # at the table's Holm-corrected level (resnet.stats)
    bold: bool = False
    # "best"/"final" -> "inside" or "outside" our 95% CI, "n<2", or why it is not compared
    reference_verdicts: dict[str, str] = field(default_factory=dict)
    reference_comparable: bool = True

    @property
    def name(self) -> str:
        return self.cell.arm.name

    @property
    def reference(self) -> Reference | None:
        return self.cell.arm.reference


def arm_stats(cell: ArmRuns, interval: str, compared: str) -> ArmStats:
    """`compared`: the summary field of the table's headline column (collect.compared_key)."""
    selected_on = selection(cell.arm.config)
    best_key = "test_acc_at_best" if selected_on == "val" else "best_test_acc"
    return ArmStats(
        cell,
        selected_on,
        Cell(cell.values(compared), interval),
        Cell(cell.values("final_test_acc"), interval),
        Cell(cell.values(best_key), interval),
        Cell(cell.values("final_train_acc"), interval),
    )


def analyse(plan: Plan, cells: list[ArmRuns], interval: str, unmodified: set[str]) -> list[ArmStats]:
    """Everything the table says about each arm. `unmodified`: arms whose config is the suite preset's own,
    the only ones a published reference can be compared with."""
    compared = compared_key(cells)
    rows = [arm_stats(cell, interval, compared) for cell in cells]
    by_name = {row.name: row for row in rows}
    base = by_name.get(plan.baseline) if plan.baseline else None
    if base is not None:
        others = [row for row in rows if row is not base]
        for row in others:
            row.vs_baseline = compare(row.headline.values, base.headline.values)
            row.baseline_n = base.headline.n
        adjusted = holm([row.vs_baseline.p if row.vs_baseline else None for row in others])
        for row, p in zip(others, adjusted, strict=True):
            row.p_holm = p
        tested = tested_comparisons(others)
        for row in others:
            if row.vs_baseline is not None:
                row.resolvable = resolvable_difference(row.vs_baseline, tested)
    _mark_not_worse_than_best(rows)
    for row in rows:
        _check_reference(row, row.name in unmodified)
    return rows


def tested_comparisons(rows: list[ArmStats]) -> int:
    """How many comparisons with the baseline have a p-value: the m of the table's Holm correction."""
    return sum(row.p_holm is not None for row in rows)


def _mark_not_worse_than_best(rows: list[ArmStats]) -> None:
    """Bold every arm the data cannot show to be worse than the best one (Holm over those comparisons)."""
    scored = [row for row in rows if row.headline.mean is not None]
    if not scored:
        return
    best = max(scored, key=lambda row: row.headline.mean or 0.0)
    challengers = [row for row in scored if row is not best]
    tests = [compare(row.headline.values, best.headline.values) for row in challengers]
    adjusted = holm([t.p if t else None for t in tests])
    best.bold = True
    for row, test, p in zip(challengers, tests, adjusted, strict=True):
        row.bold = not (test is not None and p is not None and p < ALPHA and test.diff < 0)


def _check_reference(row: ArmStats, comparable: bool) -> None:
    reference = row.reference
    row.reference_comparable = comparable
    if reference is None or not comparable:
        return
    for key, cell in (("best", row.best), ("final", row.final)):
        value = getattr(reference, key)
        if value is None:
            continue
        if key == "best" and reference.best_selected_on != row.selection:
            row.reference_verdicts[key] = f"{reference.best_selected_on}-selected: not compared"
            continue
        bounds = cell.ci95()
        inside = bounds is not None and bounds[0] <= value <= bounds[1]
        row.reference_verdicts[key] = "n<2" if bounds is None else "inside" if inside else "outside"


def finding(row: ArmStats, baseline: str, comparisons: int) -> str:
    """One sentence for a writeup: the effect, its interval, the adjusted p and the verdict at alpha =
    0.05 (Holm over the table's `comparisons`); and the seeds that diverged, which the mean leaves out (and
    so flatters the arm)."""
    diverged = row.cell.diverged
    sentence = _effect_sentence(row, baseline, comparisons)
    if diverged and row.headline.mean is not None:
        tried = diverged + row.headline.n
        sentence += (
            f" Diverged: {diverged} of {tried} finished seeds, left out of the mean (which flatters "
            f"`{row.name}`)."
        )
    return sentence


def untested_basis(row: ArmStats, equals: str = "=") -> str:
    """What an untested Δ rests on: 'n=1' (a sentence: 'n = 1'), or '1 shared seed' when a cell holds
    more (its mean is not the one compared)."""
    test = row.vs_baseline
    assert test is not None
    if test.kind == "single" and test.n < max(row.headline.n, row.baseline_n):
        return "1 shared seed"
    return f"n{equals}{test.n}"


def _effect_sentence(row: ArmStats, baseline: str, comparisons: int) -> str:
    test, n = row.vs_baseline, row.headline.n
    if row.headline.mean is None:
        return f"`{row.name}`: no completed run yet ({row.cell.outside() or 'nothing run'})."
    if test is None:
        return f"`{row.name}`: not compared with `{baseline}` (no completed baseline run)."
    effect = f"{test.diff:+.2f} points vs `{baseline}`"
    if not test.tested:
        return (
            f"`{row.name}`: {effect} ({untested_basis(row, equals=' = ')}); not resolved with "
            f"n = {n}: a test needs at least two seeds per arm."
        )
    kind = f"paired over {test.n} seeds" if test.kind == "paired" else "Welch, seeds not shared"
    if test.no_spread or row.p_holm is None:  # only a comparison without spread has no p
        same = "each the same difference" if test.kind == "paired" else "every run of each arm the same"
        return f"`{row.name}`: {effect} ({kind}, {same}): no spread to test against."
    interval = f"95% CI [{test.low:+.2f}, {test.high:+.2f}], {kind}"
    if row.p_holm < ALPHA:
        verdict = f"{'better' if test.diff > 0 else 'worse'} than `{baseline}` at α = 0.05"
    else:
        holm = f" and Holm over {comparisons} comparisons" if comparisons > 1 else ""
        below = (
            f"differences below {row.resolvable:.2f} points are not resolvable"
            if row.resolvable is not None and row.resolvable <= 100
            else "not even a 100-point difference is resolvable: add seeds"
        )
        verdict = f"no difference resolved at α = 0.05 (with n = {test.n}{holm}, {below})"
    return f"`{row.name}`: {effect} ({interval}), Holm-adjusted p = {row.p_holm:.3g}: {verdict}."
