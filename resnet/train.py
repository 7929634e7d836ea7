"""The training core: `train(config, run_dir)` trains one run (what it writes: resnet.records).

One loop serves every preset: SGD with the config's schedule stepped per iteration, evaluation on the
validation split (when held out) and the test split after every epoch, metrics to metrics.jsonl and
TensorBoard, a checkpoint at every epoch end, every `checkpoint_every` seconds inside an epoch and when
asked to stop, and summary.json and model.pt at the end. Metrics accumulate on the device and are read
once per epoch, so the step loop never waits for the GPU. Data order, augmentation, init and dropout
draw from streams derived from the seed (resnet.seeding), so a run resumed at any step ends bit for bit
where an uninterrupted one would on the CPU, and a checkpoint resumes on another device type.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from resnet.checkpoint import RESUME_HINT, check_resumable, load_latest_checkpoint, save_checkpoint
from resnet.components import Setup, build
from resnet.config import TrainConfig
from resnet.errors import RunDirError
from resnet.evaluate import EpochMeter, Interrupted, evaluate
from resnet.files import describe_os_error
from resnet.progress import Progress, continues
from resnet.records import RunRecorder
from resnet.run_dir import RunDir
from resnet.run_lock import RunLock
from resnet.runtime import Runtime
from resnet.seeding import derive_seed
from resnet.states import RunState

log = logging.getLogger("resnet.train")
CHECKPOINT_EVERY_S = 600.0


@dataclass
class StopRequest:
    """Set by a signal handler; the loop checks it between steps, so a checkpoint is never half a step."""

    requested: bool = False


def train(
    config: TrainConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    keep_checkpoints: bool = False,
    device: str | None = None,
    threads: int | None = None,
    checkpoint_every: float = CHECKPOINT_EVERY_S,
    stop: StopRequest | None = None,
) -> dict:
    """Train `config` in `run_dir` and return its summary.

    A finished run is never trained again (its summary is returned, rebuilt from metrics.jsonl if it was
    damaged); a directory holding another config is refused; an interrupted run continues only with
    resume=True, with the thread count it started with. The run dir is locked while training.
    """
    run = RunDir(run_dir)
    problem = run.foreign_files()  # asked before the lock too: its .lock file would stay among them
    if problem:
        raise RunDirError(problem)
    with RunLock(run.lock_file):
        problem = run.conflict(config)
        if problem:
            raise RunDirError(problem)
        summary = run.verified_summary(config)
        if summary is not None:
            log.info(
                "%s already holds this finished run; not training it again (see %s)",
                run.path,
                run.summary_file,
            )
            return summary
        if run.repairable(config):
            return run.repair_summary(config)
        if not resume and (run.has_checkpoint() or run.metrics()):
            raise RunDirError(
                f"{run.path} holds an interrupted run ({len(run.metrics())} of {config.epochs} epochs); "
                "pass --resume to continue it, or choose another --run-dir"
            )
        checkpoint = load_latest_checkpoint(run) if resume else None
        if checkpoint is not None:
            threads = check_resumable(checkpoint, config, run, threads)
        else:
            run.set_aside_unverified(config)
        runtime = Runtime.resolve(config, device, threads)
        trainer = Trainer(config, run, runtime, keep_checkpoints, checkpoint_every, stop or StopRequest())
        try:
            return trainer.fit(checkpoint)
        except OSError as exc:  # a disk that fills up, a run dir made read-only or removed mid-run
            where = exc.filename2 or exc.filename or run.path
            raise RunDirError(f"the run stopped: {describe_os_error(exc, where)}; {RESUME_HINT}") from None


def train_step(
    model: torch.nn.Module,
    setup: Setup,
    runtime: Runtime,
    images: torch.Tensor,
    labels: torch.Tensor,
    meter: EpochMeter,
) -> None:
    """One SGD step on a batch; the loss and accuracy go to the meter on the device (no sync)."""
    with runtime.autocast():
        outputs = model(images)
        loss = setup.criterion(outputs, labels)
    setup.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    setup.optimizer.step()
    setup.scheduler.step()
    meter.add(loss * labels.shape[0], outputs, labels)


class Trainer:
    def __init__(
        self,
        config: TrainConfig,
        run: RunDir,
        runtime: Runtime,
        keep_checkpoints: bool,
        checkpoint_every: float,
        stop: StopRequest,
    ):
        self.config, self.run, self.runtime, self.stop = config, run, runtime, stop
        self.keep_checkpoints, self.checkpoint_every = keep_checkpoints, checkpoint_every
        self.setup = build(config, runtime)
        self.step_model: torch.nn.Module = (
            torch.compile(self.setup.model) if runtime.compile else self.setup.model  # type: ignore[assignment]
        )
        self.steps = len(self.setup.train_loader)
        self.history: list[dict] = []
        self.recorder = RunRecorder(config, run, runtime, self.setup.model)
        self.first_step_seconds: float | None = None
        self.last_checkpoint = time.monotonic()
        # SIGCONTs some epoch record has counted: a stop that ends between two epochs (in the checkpoint
        # at an epoch's end) goes into the next record, never into none
        self.continues_recorded = continues()

    def fit(self, checkpoint: dict | None) -> dict:
        epoch, step, partial = 0, 0, None
        if checkpoint is not None:
            self.setup.restore(checkpoint)
            epoch, step, partial, self.history = (
                checkpoint["epoch"],
                checkpoint["step"],
                checkpoint["partial"],
                checkpoint["history"],
            )
            where = f" and {step} of {self.steps} steps of epoch {epoch + 1}" if step else ""
            log.info("resuming %s after epoch %d%s of %d", self.run.path, epoch, where, self.config.epochs)
            self._warn_if_moved(checkpoint.get("runtime", {}))
        self.recorder.start(self.history, self.setup.provenance)
        progress = Progress(self.run, self.config.epochs, self.steps, self.config.batch_size, epoch)
        status, reason = RunState.COMPLETED, ""
        try:
            for current in range(epoch + 1, self.config.epochs + 1):
                resumed = current == epoch + 1
                record = self._epoch(current, step if resumed else 0, partial if resumed else None, progress)
                self.history.append(record)
                self.recorder.epoch(record)
                if record["train_loss"] is None or not math.isfinite(record["train_loss"]):
                    status, reason = (
                        RunState.DIVERGED,
                        f"train loss is {record['train_loss']} in epoch {current}",
                    )
                    log.warning("diverged: %s; stopping this run", reason)
                    break
                self._checkpoint(current, 0, None)
        finally:
            progress.close()
        return self.recorder.finish(
            self.history, status, reason, self.first_step_seconds, self.keep_checkpoints
        )

    def _warn_if_moved(self, before: dict) -> None:
        """A run resumed on another device type or precision continues, but its numbers will differ from
        an uninterrupted run's: say so."""
        now = self.runtime.to_dict()
        kinds: dict[str, Callable[[Any], Any]] = {"device": lambda d: str(d).split(":")[0], "amp_bf16": bool}
        moved = [
            f"{key} {before[key]} -> {now[key]}"
            for key, kind in kinds.items()
            if key in before and kind(before[key]) != kind(now[key])
        ]
        if moved:
            log.warning(
                "notice: resuming with %s; the numbers will differ from an uninterrupted run's",
                ", ".join(moved),
            )

    def _epoch(self, epoch: int, start_step: int, partial: dict | None, progress: Progress) -> dict:
        setup, runtime = self.setup, self.runtime
        meter = EpochMeter(runtime.device, partial)
        lr = partial["lr"] if partial else setup.optimizer.param_groups[0]["lr"]
        seconds_before = partial["train_seconds"] if partial else 0.0
        continues_before = self.continues_recorded - (partial or {}).get("stops", 0)
        runtime.synchronize()
        start = time.perf_counter()

        def paused() -> dict:
            """How often the process was stopped (Ctrl-Z) in this epoch or since the last record: its times
            may hold those stops, and no speed figure counts them (summary.py). Records are all numbers
            (RunDir.metrics)."""
            stops = continues() - continues_before
            return {"stops": stops} if stops else {}

        def saved_partial() -> dict:
            seconds = seconds_before + time.perf_counter() - start
            return {**meter.state(), "lr": lr, "train_seconds": seconds, **paused()}

        self.step_model.train()
        for step, (images, labels) in enumerate(
            setup.train_loader.epoch(epoch, start_step), start=start_step + 1
        ):
            if self.config.dropout:
                torch.manual_seed(derive_seed(self.config.seed, "dropout", epoch, step))
            train_step(self.step_model, setup, runtime, images, labels, meter)
            if self.first_step_seconds is None:
                runtime.synchronize()
                self.first_step_seconds = time.perf_counter() - start
            progress.step(epoch, step)
            if self.stop.requested or time.monotonic() - self.last_checkpoint >= self.checkpoint_every:
                self._checkpoint(epoch - 1, step, saved_partial())
                if self.stop.requested:
                    raise Interrupted(f"stopped in epoch {epoch} after step {step} of {self.steps}")
        train_seconds = seconds_before + time.perf_counter() - start
        train_loss, train_acc = meter.read()
        eval_start = time.perf_counter()
        record: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc}
        try:
            for split, loader in setup.eval_loaders.items():
                result = evaluate(self.step_model, loader, runtime, lambda: self.stop.requested)
                record.update({f"{split}_loss": result["loss"], f"{split}_acc": result["acc"]})
        except Interrupted:
            self._checkpoint(
                epoch - 1, self.steps, {**meter.state(), "lr": lr, "train_seconds": train_seconds, **paused()}
            )
            raise Interrupted(f"stopped in epoch {epoch} while evaluating") from None
        eval_seconds = time.perf_counter() - eval_start
        record.update(
            lr=lr,
            epoch_seconds=train_seconds + eval_seconds,
            train_seconds=train_seconds,
            images_per_sec=meter.count / train_seconds if train_seconds else 0.0,
            **paused(),
        )
        self.continues_recorded = continues_before + record.get("stops", 0)
        progress.end_epoch(record, eval_seconds)
        return record

    def _checkpoint(self, epoch: int, step: int, partial: dict | None) -> None:
        """`epoch` complete epochs plus `step` steps of the next (with its meter in `partial`)."""
        save_checkpoint(
            {
                "epoch": epoch,
                "step": step,
                "partial": partial,
                "history": self.history,
                "config": self.config.to_dict(),
                "config_hash": self.config.short_hash(),
                "runtime": self.runtime.to_dict(),
                **self.setup.state_dict(),
            },
            self.run,
            keep_epoch=self.keep_checkpoints,
        )
        self.last_checkpoint = time.monotonic()
