"""What a run writes about itself: config.json when it starts (one session per start or resume),
metrics.jsonl and TensorBoard after every epoch, and at the end model.pt, summary.json and TensorBoard's
hparams. The training loop (resnet.train) calls these; the formats are read back by resnet.run_dir.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch

from resnet.checkpoint import remove_checkpoints, save_model
from resnet.config import TrainConfig
from resnet.files import jsonl_line, read_json, write_atomic, write_json
from resnet.models import count_parameters
from resnet.run_dir import RunDir
from resnet.runtime import Runtime, environment
from resnet.summary import summarize

log = logging.getLogger("resnet.train")
# TensorBoard's hparams take scalars: every field but lists, paths and the speed switches.
HPARAM_FIELDS = [
    f
    for f in TrainConfig.model_fields
    if f not in ("data_dir", "milestones", "amp", "channels_last", "compile")
]
SCALARS = (
    ("loss/train", "train_loss"),
    ("loss/val", "val_loss"),
    ("loss/test", "test_loss"),
    ("accuracy/train", "train_acc"),
    ("accuracy/val", "val_acc"),
    ("accuracy/test", "test_acc"),
    ("lr", "lr"),
    ("speed/images_per_sec", "images_per_sec"),
    ("speed/epoch_seconds", "epoch_seconds"),
)


class RunRecorder:
    def __init__(self, config: TrainConfig, run: RunDir, runtime: Runtime, model: torch.nn.Module):
        self.config, self.run, self.runtime, self.model = config, run, runtime, model
        self.writer: Any = None  # TensorBoard's, started at the first epoch's end (its import takes a second)

    def start(self, history: list[dict], data_provenance: dict) -> None:
        """A session begins: metrics.jsonl holds exactly the epochs the run continues from (it may have
        been one ahead of the checkpoint), an old failure is forgotten, config.json gains this session.
        config.json comes first: a report read while a run starts finds what it trains beside its first
        file, never a metrics.jsonl that nothing explains (listed as unreadable)."""
        env = environment(self.runtime)
        sessions = (read_json(self.run.config_file) or {}).get("sessions")
        sessions = sessions if isinstance(sessions, list) else []  # an edited file loses its history only
        write_json(
            self.run.config_file,
            {
                "config": self.config.to_dict(),
                "config_hash": self.config.short_hash(),
                "arm_hash": self.config.arm_hash(),
                "seed": self.config.seed,
                "params": count_parameters(self.model),
                "runtime": self.runtime.to_dict(),
                "data": data_provenance,
                "environment": env,
                "sessions": [*sessions, {**env, "runtime": self.runtime.to_dict()}],
            },
        )
        write_atomic(self.run.metrics_file, "".join(jsonl_line(r) for r in history))
        self.run.failure_file.unlink(missing_ok=True)

    def epoch(self, record: dict) -> None:
        # may run one epoch ahead of the checkpoint: the next start rewrites it
        with open(self.run.metrics_file, "a") as fh:
            fh.write(jsonl_line(record))
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run.tensorboard_dir), purge_step=record["epoch"])
        for tag, key in SCALARS:
            if key in record:
                self.writer.add_scalar(tag, record[key], record["epoch"])

    def finish(
        self,
        history: list[dict],
        status: str,
        reason: str,
        first_step_seconds: float | None,
        keep_checkpoints: bool,
    ) -> dict:
        """The final weights, then the summary (which makes the run finished), then the checkpoints go."""
        config, run = self.config, self.run
        save_model(
            {
                "epoch": history[-1]["epoch"],
                "config": config.to_dict(),
                "config_hash": config.short_hash(),
                "model": self.model.state_dict(),
            },
            run,
        )
        summary = summarize(
            config,
            history,
            status=status,
            runtime=self.runtime.to_dict(),
            params=count_parameters(self.model),
            first_step_seconds=first_step_seconds,
            reason=reason,
        )
        write_json(run.summary_file, summary)
        if not keep_checkpoints:
            remove_checkpoints(run)
        run.remove_temp_files()  # a finished run keeps what --evaluate needs, and no leftovers
        self._close_tensorboard(summary)
        log.info(
            "%s: test acc %s at the %s-selected epoch %d, final %s, %s img/s; results in %s",
            status,
            _pct(summary["test_acc_at_best"]),
            summary["selection"],
            summary["best_epoch"],
            _pct(summary["final_test_acc"]),
            f"{summary['images_per_sec']:,.0f}" if summary["images_per_sec"] else "?",
            run.path,
        )
        return summary

    def _close_tensorboard(self, summary: dict) -> None:
        if self.writer is None:
            return
        self.writer.add_hparams(
            {k: v for k, v in self.config.to_dict().items() if k in HPARAM_FIELDS},
            {
                "hparam/test_acc_at_best": summary["test_acc_at_best"] or 0.0,
                "hparam/final_test_acc": summary["final_test_acc"] or 0.0,
            },
            run_name=".",
        )
        self.writer.close()


def _pct(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.2f}%"
