"""Checkpoints: written atomically each epoch, the previous one kept, a torn one detected on load."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from resnet.run_dir import RunDir


class CheckpointError(RuntimeError):
    pass


def save_checkpoint(state: dict, run: RunDir, keep_epoch: bool = False) -> None:
    """Write to a temp file, fsync, then rotate: checkpoint.pt -> checkpoint.prev.pt, temp -> checkpoint.pt.

    A kill at any moment leaves at least one complete checkpoint. With keep_epoch the epoch's
    checkpoint is also kept as checkpoints/epoch_NNNN.pt (a hard link: no extra disk).
    """
    tmp = run.path / ".checkpoint.pt.tmp"
    with open(tmp, "wb") as fh:
        torch.save(state, fh)
        fh.flush()
        os.fsync(fh.fileno())
    if run.checkpoint_file.exists():
        os.replace(run.checkpoint_file, run.previous_checkpoint_file)
    os.replace(tmp, run.checkpoint_file)
    if keep_epoch:
        kept = run.path / "checkpoints" / f"epoch_{state['epoch']:04d}.pt"
        kept.parent.mkdir(exist_ok=True)
        kept.unlink(missing_ok=True)
        os.link(run.checkpoint_file, kept)


def load_checkpoint_file(path: Path) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path} is unreadable ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path} is not a checkpoint of this project")
    return state


def load_latest_checkpoint(run: RunDir, notify=print) -> dict | None:
    """The newest readable checkpoint; a torn or truncated one is reported and the previous one used."""
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
            notify(f"notice: {problem}; resuming from {path.name} (epoch {state['epoch']}) instead")
        return state
    if problems:
        raise CheckpointError("; ".join(problems) + "; no usable checkpoint left: delete them to start over")
    return None
