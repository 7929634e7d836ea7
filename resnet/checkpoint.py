"""Checkpoints: serialised in memory, written atomically, the previous one kept, a damaged one skipped.

A checkpoint is written at every epoch end, every --checkpoint-every minutes inside an epoch, and when
a run is asked to stop. Serialising first and writing plain bytes means a full disk is an OSError that
says so (not torch's 'unexpected pos'), and the temp file is always removed.
"""

from __future__ import annotations

import io
import logging
import os
import zipfile
from pathlib import Path
from typing import Any

import torch

from resnet.config import TrainConfig
from resnet.errors import CheckpointError, RunDirError
from resnet.files import describe_os_error, write_atomic, write_synced
from resnet.run_dir import RunDir
from resnet.words import plural

log = logging.getLogger(__name__)
FORMAT = 2

# what a run that could not write says next (its last checkpoint is where it goes on from)
RESUME_HINT = (
    "fix that, then run the same command with --resume to continue from its last checkpoint (a sweep: "
    "again with --retry-failed)"
)


def _serialise(state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    return buffer.getvalue()


def save_checkpoint(state: dict[str, Any], run: RunDir, keep_epoch: bool = False) -> None:
    """Write to a temp file, fsync, then rotate: checkpoint.pt -> checkpoint.prev.pt, temp -> checkpoint.pt.

    A kill at any moment leaves at least one complete checkpoint. With keep_epoch an epoch-end checkpoint
    is also kept as checkpoints/epoch_NNNN.pt (a hard link: no extra disk).
    """
    data = _serialise(state)
    tmp = run.path / ".checkpoint.pt.tmp"
    try:
        write_synced(tmp, data)
        if run.checkpoint_file.exists():
            os.replace(run.checkpoint_file, run.previous_checkpoint_file)
        os.replace(tmp, run.checkpoint_file)
        log.debug(
            "checkpoint: epoch %d + %d steps -> %s (%.1f MB)",
            state["epoch"],
            state.get("step", 0),
            run.checkpoint_file,
            len(data) / 1e6,
        )
        if keep_epoch and state.get("step", 0) == 0:
            kept = run.kept_checkpoints_dir / f"epoch_{state['epoch']:04d}.pt"
            kept.parent.mkdir(exist_ok=True)
            kept.unlink(missing_ok=True)
            os.link(run.checkpoint_file, kept)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RunDirError(
            f"cannot write a checkpoint: {describe_os_error(exc, run.path)}; {RESUME_HINT}"
        ) from None


def save_model(state: dict[str, Any], run: RunDir) -> None:
    """model.pt: a finished run's final weights and config, all that --evaluate needs."""
    try:
        write_atomic(run.model_file, _serialise(state))
    except OSError as exc:
        raise RunDirError(
            f"cannot write the final model: {describe_os_error(exc, run.path)}; {RESUME_HINT}"
        ) from None


def _why_unreadable(path: Path, exc: Exception) -> str:
    try:
        if path.stat().st_size == 0:
            return "an empty file"
    except OSError as err:
        return describe_os_error(err, path)
    return f"damaged or not a checkpoint: {type(exc).__name__}"


def _failed_crc(path: Path) -> str | None:
    """The first record of the checkpoint's zip archive whose bytes fail their CRC-32. torch.load checks
    none: a flipped bit in the weights (a bad disk, a partial copy) would load and train on silently."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return None  # not a zip archive at all: torch.load says so


def load_checkpoint_file(path: Path) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torn, empty, random bytes, another format: all unreadable for us
        raise CheckpointError(f"{path} is unreadable ({_why_unreadable(path, exc)})") from None
    if (record := _failed_crc(path)) is not None:
        raise CheckpointError(f"{path} is damaged: its record {record} fails its CRC-32 check")
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{path} is not a checkpoint of this project")
    return state


def load_latest_checkpoint(run: RunDir) -> dict[str, Any] | None:
    """The newest readable checkpoint; a damaged one is reported and the previous one used."""
    problems = []
    for path in (run.checkpoint_file, run.previous_checkpoint_file):
        if not path.exists():
            continue
        try:
            state = load_checkpoint_file(path)
        except CheckpointError as exc:
            problems.append(str(exc))
            continue
        for problem in problems:
            log.warning("notice: %s; resuming from %s (epoch %s) instead", problem, path.name, state["epoch"])
        return state
    if problems:
        raise CheckpointError("; ".join(problems) + "; no usable checkpoint left: delete them to start over")
    return None


def remove_checkpoints(run: RunDir) -> None:
    """A finished run keeps model.pt; the resumable state (weights, momentum, schedule) is not needed any
    more."""
    for path in (run.checkpoint_file, run.previous_checkpoint_file):
        path.unlink(missing_ok=True)


def check_resumable(checkpoint: dict, config: TrainConfig, run: RunDir, threads: int | None) -> int | None:
    """A checkpoint resumes only the config it was written for, with the thread count it was written with."""
    saved = TrainConfig.from_dict(checkpoint["config"])
    if saved.short_hash() != config.short_hash():
        changed = ", ".join(f"{k}={v}" for k, v in saved.changed_fields(config).items()) or "seed"
        raise RunDirError(
            f"{run.path}: its checkpoint belongs to config {saved.short_hash()} ({changed}), not "
            f"{config.short_hash()}; never resuming another config: move the run dir away"
        )
    recorded = checkpoint.get("runtime", {}).get("threads")
    if recorded and threads and recorded != threads:
        log.warning(
            "notice: resuming with %s as the run started (not %d): CPU numbers depend on it",
            plural(recorded, "thread"),
            threads,
        )
    return recorded or threads
