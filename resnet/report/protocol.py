"""The selection protocol a table reports: which split chose each run's best epoch, what the accuracy
columns are called for it, and the words that say so. Every arm selecting on a validation split: the
headline is test accuracy at the val-selected epoch. Otherwise, test-selected or mixed, the headline is the
final test accuracy (resnet.report.collect.compared_key), with the selected epoch's beside it."""

from __future__ import annotations

from resnet.report.analysis import ArmStats, Cell
from resnet.report.collect import every_arm_on_val


def selected_on_val(rows: list[ArmStats]) -> bool:
    """Whether every run's best epoch was chosen on a validation split (else the test split chose)."""
    return every_arm_on_val([row.cell for row in rows])


def mixed_protocols(rows: list[ArmStats]) -> bool:
    """Whether some arms select on a validation split and others on test: the headline is then the final
    test accuracy (collect.compared_key), and the second column's cells say which split selected."""
    return len({row.selection for row in rows}) > 1


def headers(rows: list[ArmStats]) -> tuple[str, str]:
    """(headline column, second column): what was measured, on which split."""
    if selected_on_val(rows):
        return "Test acc @ best val epoch", "Final test acc"
    if mixed_protocols(rows):
        return "Final test acc", "Test acc @ selected epoch"
    return "Final test acc", "Best test acc (test-selected)"


def second_cell(row: ArmStats, rows: list[ArmStats]) -> Cell:
    """The second column's cell: the final epoch when the headline is the val-selected one, else the
    selected epoch's."""
    return row.final if selected_on_val(rows) else row.best


def selection_tag(row: ArmStats, rows: list[ArmStats]) -> str:
    return f" [{row.selection}]" if mixed_protocols(rows) else ""


def protocol_words(rows: list[ArmStats]) -> str:
    sizes = ", ".join(f"{s:,}" for s in sorted({row.cell.arm.config.val_size for row in rows} - {0}))
    configs = [row.cell.arm.config for row in rows]
    splits = {(c.val_size, c.val_split_seed) for c in configs if c.val_size}
    same = "the same for every run" if len(splits) == 1 else "the same for every run of an arm; arms differ"
    if selected_on_val(rows):
        return (
            f"Each run's best epoch is chosen on a held-out validation split ({sizes} training images, "
            f"stratified, {same}); accuracies are test accuracy at that epoch."
        )
    if mixed_protocols(rows):
        return (
            f"⚠ The arms differ in protocol: those marked [val] chose each run's best epoch on a held-out "
            f"validation split ({sizes} training images), those marked [test] on the test split "
            f"(optimistic). So the table compares the final epoch's test accuracy, which no selection "
            f"touches; the selected epoch's is beside it."
        )
    return (
        "⚠ No validation split: the test split chose each run's best epoch (the reference repos' "
        "protocol), so 'best' is optimistic; comparisons use the final epoch's test accuracy."
    )
