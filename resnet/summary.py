"""A run's summary: built from its per-epoch metrics, verified against them, rebuilt when damaged.

The summary says which epoch is "best" and how it was chosen: on the validation split when the run
held one out (val_size > 0), else on the test split (the reference repos' protocol, optimistic: the
report says so). The number a table compares is `headline`: test accuracy at the val-selected epoch,
or the final test accuracy when the test split did the selecting. No torch import here.
"""

from __future__ import annotations

import math
from typing import Any

from resnet.config import TrainConfig
from resnet.files import strict
from resnet.states import RunState
from resnet.words import plural

# Accuracies are counts over a test set (100 * correct / total), so two runs that differ by the same number
# of images differ by the same amount, but float arithmetic leaves noise near 1e-14 (81.8 - 61.1 and
# 86.6 - 65.9 are not the same float; nor are the means of 81.8, 61.1 and of 86.6, 56.3). Left in, that
# noise is a "spread" of 1e-15 and a paired t-test with p = 1e-32 where exactly equal differences get no
# test at all, or a tie between two tuned values broken by it. Sums and differences of accuracies are
# rounded to this many decimals first: far below any real difference (100 / total for any test set under
# 1e9 images).
ACCURACY_DECIMALS = 9


def noiseless(value: float) -> float:
    """A difference or mean of accuracies without float noise (ACCURACY_DECIMALS), and never -0.0."""
    return round(value, ACCURACY_DECIMALS) + 0.0


# what an epoch record says about time, the only keys in which two runs of a config and seed may differ
# on the CPU (one uninterrupted, one resumed or stopped with Ctrl-Z)
TIMING_KEYS = ("epoch_seconds", "train_seconds", "images_per_sec", "stops")
# what a summary derives from the metrics (verify recomputes them), and the types of what it does not
DERIVED_KEYS = (
    "epochs", "epochs_completed", "diverged_epoch", "selection", "best_epoch", "best_val_acc",
    "test_acc_at_best", "best_test_acc", "final_test_acc", "final_test_loss", "final_val_acc",
    "final_train_acc", "final_train_loss", "total_seconds", "mean_epoch_seconds", "images_per_sec",
    "stopped_epochs", "arm_hash",
)  # fmt: skip
KEY_TYPES: dict[str, tuple[type, ...]] = {
    "params": (int, type(None)),
    "first_step_seconds": (int, float, type(None)),
    "runtime": (dict,),
    "status_reason": (str,),
}


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def selection(config: TrainConfig) -> str:
    return "val" if config.val_size else "test"


def best_record(history: list[dict], by: str) -> dict:
    """The first epoch with the highest accuracy on split `by` ('val' or 'test')."""
    key = f"{by}_acc"
    scored = [r for r in history if finite(r.get(key))]
    return max(scored, key=lambda r: r[key]) if scored else history[-1]


def steady_epochs(history: list[dict]) -> list[dict]:
    """The epochs whose time is training's own: not the first (it carries warm-up, compilation) and none a
    stop (Ctrl-Z) fell in (its time holds the stop)."""
    return [r for r in history[1:] if not r.get("stops")]


def summarize(
    config: TrainConfig,
    history: list[dict],
    *,
    status: str,
    runtime: dict,
    params: int | None,
    first_step_seconds: float | None = None,
    reason: str = "",
) -> dict[str, Any]:
    last = history[-1]
    chosen = selection(config)
    best = best_record(history, chosen)
    clean = [r for r in history if not r.get("stops")]  # a stopped (Ctrl-Z) epoch's time holds the stop
    steady = steady_epochs(history) or clean  # a run of one epoch: that one
    train_seconds = sum(r["train_seconds"] for r in clean)
    test_accs = [r["test_acc"] for r in history if finite(r.get("test_acc"))]
    return {
        "status": status,
        "status_reason": reason,
        "epochs": config.epochs,
        "epochs_completed": len(history),
        "diverged_epoch": last["epoch"] if status == RunState.DIVERGED else None,
        "selection": chosen,
        "best_epoch": best["epoch"],
        "best_val_acc": best.get("val_acc"),
        "test_acc_at_best": best.get("test_acc"),
        "best_test_acc": max(test_accs) if test_accs else None,
        "final_test_acc": last.get("test_acc"),
        "final_test_loss": last.get("test_loss"),
        "final_val_acc": last.get("val_acc"),
        "final_train_acc": last.get("train_acc"),
        "final_train_loss": last.get("train_loss"),
        "params": params,
        "total_seconds": sum(r["epoch_seconds"] for r in history),
        "mean_epoch_seconds": sum(r["epoch_seconds"] for r in steady) / len(steady) if steady else None,
        "images_per_sec": (
            sum(r["images_per_sec"] * r["train_seconds"] for r in clean) / train_seconds
            if train_seconds
            else None
        ),
        "stopped_epochs": len(history) - len(clean),
        "first_step_seconds": first_step_seconds,
        "config_hash": config.short_hash(),
        "arm_hash": config.arm_hash(),
        "runtime": runtime,
    }


def headline(summary: dict) -> float | None:
    """The accuracy a table compares: test at the val-selected epoch, else the final test accuracy."""
    return (
        summary.get("test_acc_at_best")
        if summary.get("selection") == "val"
        else summary.get("final_test_acc")
    )


def complete_history(config: TrainConfig, history: list[dict]) -> str | None:
    """'completed' or 'diverged' when `history` is a whole run's metrics, else None."""
    if not history or [r.get("epoch") for r in history] != list(range(1, len(history) + 1)):
        return None
    if not finite(history[-1].get("train_loss")):
        return RunState.DIVERGED
    return RunState.COMPLETED if len(history) == config.epochs else None


def verify(summary: dict | None, config: TrainConfig, history: list[dict]) -> str | None:
    """Why `summary` is not a verified summary of this config and these metrics, or None when it is."""
    if summary is None:
        return "summary.json is missing or damaged"
    if summary.get("status") not in (RunState.COMPLETED, RunState.DIVERGED):
        return f"summary.json has status {summary.get('status')!r}"
    if summary.get("config_hash") != config.short_hash():
        return f"summary.json belongs to config {summary.get('config_hash')}, not {config.short_hash()}"
    if summary.get("epochs_completed") != len(history) or not history:
        return (
            f"summary.json says epochs_completed {summary.get('epochs_completed')}, but metrics.jsonl holds "
            f"{plural(len(history), 'epoch')}"
        )
    if complete_history(config, history) != summary["status"]:  # 'completed' after 3 of 100 epochs
        return f"summary.json says {summary['status']} after {len(history)} of {config.epochs} epochs"
    if summary.get("final_test_acc") != history[-1].get("test_acc"):
        return "summary.json's final accuracy differs from metrics.jsonl"
    try:
        expected = strict(summarize(config, history, status=summary["status"], runtime={}, params=None))
    except (TypeError, KeyError, ValueError, ZeroDivisionError):
        return "metrics.jsonl holds a record of the wrong shape"
    for key in DERIVED_KEYS:  # a key an older version did not write is no mismatch
        if key in summary and summary[key] != expected[key]:
            return f"summary.json's {key} differs from what metrics.jsonl gives"
    for key, types in KEY_TYPES.items():
        if key in summary and (not isinstance(summary[key], types) or isinstance(summary[key], bool)):
            return f"summary.json's {key} has the wrong type ({type(summary[key]).__name__})"
    return None
