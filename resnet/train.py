"""The training core: `train(config, run_dir)` trains one run and records everything about it.

One loop serves every preset: SGD with the config's schedule stepped per iteration, evaluation on
the test split after every epoch, metrics to metrics.jsonl and TensorBoard, an atomic checkpoint at
each epoch end and summary.json at the end. Metrics are accumulated on the device and read once per
epoch, so the step loop never waits for the GPU. A resumed run restores the model, optimizer,
schedule, every RNG (init, dropout, data order and augmentation) and its history, so it ends exactly
where an uninterrupted run would.
"""
from __future__ import annotations

import functools
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from resnet.checkpoint import load_checkpoint_file, load_latest_checkpoint, save_checkpoint
from resnet.config import TrainConfig
from resnet.data import DeviceLoader, load_splits
from resnet.environment import environment
from resnet.models import count_parameters, create_model
from resnet.run_dir import RunDir, RunDirError, RunLock, read_json, write_atomic, write_json

EVAL_BATCH_SIZE = 1000
HPARAM_FIELDS = ("model", "dataset", "epochs", "batch_size", "lr", "momentum", "nesterov", "weight_decay",
                 "lr_schedule", "gamma", "warmup_epochs", "label_smoothing", "norm", "dropout", "crop", "flip",
                 "cutout", "random_erasing", "seed")


@dataclass(frozen=True)
class Runtime:
    """How this process runs a config: the device and the speed switches resolved for it."""

    device: torch.device
    amp: bool
    channels_last: bool
    compile: bool

    @classmethod
    def resolve(cls, config: TrainConfig, device: str | None = None) -> Runtime:
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        amp = bf16_is_fast(device) if config.amp is None else config.amp
        return cls(device, amp, config.channels_last, config.compile)

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def to_dict(self) -> dict:
        return {"device": str(self.device), "amp_bf16": self.amp, "channels_last": self.channels_last,
                "compile": self.compile}


def bf16_is_fast(device: torch.device) -> bool:
    """Whether bf16 autocast speeds training up here: GPUs with native bf16 (Ampere and later) and CPUs
    with AMX tiles (measured: 2.1x for resnet20, 2.8x for resnet18 on a 2-core Xeon; benchmarks/README.md).
    Elsewhere bf16 is emulated and slower, so fp32 stays."""
    if device.type == "cuda":
        try:
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # torch < 2.4 has no emulation and no such argument
            return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())
    return False


def lr_multiplier(config: TrainConfig, steps_per_epoch: int):
    """The factor on config.lr for optimizer step `step` (0-based): linear warmup, then the schedule.

    Milestones are fractions of the run, so `--epochs 10` keeps the shape of a 200-epoch schedule.
    """
    total = config.epochs * steps_per_epoch
    warmup = round(config.warmup_epochs * steps_per_epoch)
    boundaries = [round(m * total) for m in config.milestones]

    def multiplier(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if config.lr_schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))
        if config.lr_schedule == "multistep":
            return config.gamma ** sum(step >= b for b in boundaries)
        return 1.0

    return multiplier


class EpochMeter:
    """Summed loss and correct predictions kept on the device: the step loop never waits for the GPU,
    and `read` syncs once per epoch."""

    def __init__(self, device: torch.device):
        self.loss = torch.zeros((), device=device)
        self.correct = torch.zeros((), dtype=torch.long, device=device)
        self.count = 0

    def add(self, loss_sum: torch.Tensor, outputs: torch.Tensor, labels: torch.Tensor) -> None:
        self.loss += loss_sum.detach().float()
        self.correct += (outputs.argmax(1) == labels).sum()
        self.count += labels.shape[0]

    def read(self) -> tuple[float, float]:
        return self.loss.item() / self.count, 100.0 * self.correct.item() / self.count


def train_epoch(model, loader, optimizer, scheduler, criterion, runtime: Runtime, on_step=None) -> dict:
    model.train()
    meter = EpochMeter(runtime.device)
    for images, labels in loader:
        with runtime.autocast():
            outputs = model(images)
            loss = criterion(outputs, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        meter.add(loss * labels.shape[0], outputs, labels)
        if on_step:
            on_step()
    loss, acc = meter.read()
    return {"train_loss": loss, "train_acc": acc, "images": meter.count}


@torch.no_grad()
def evaluate(model, loader, runtime: Runtime) -> dict:
    model.eval()
    meter = EpochMeter(runtime.device)
    for images, labels in loader:
        with runtime.autocast():
            outputs = model(images)
        meter.add(F.cross_entropy(outputs.float(), labels, reduction="sum"), outputs, labels)
    loss, acc = meter.read()
    return {"test_loss": loss, "test_acc": acc}


class EpochProgress:
    """Rich progress bars on a terminal; one plain line per epoch when output is piped (logs, runners)."""

    def __init__(self, config: TrainConfig, steps_per_epoch: int, start_epoch: int, echo=print):
        self.epochs, self.echo = config.epochs, echo
        self.bar = None
        if sys.stdout.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeRemainingColumn(), TextColumn("{task.fields[note]}"))
            self.epoch_task = self.bar.add_task("epochs", total=self.epochs, completed=start_epoch, note="")
            self.step_task = self.bar.add_task("batches", total=steps_per_epoch, note="")
            self.bar.start()

    def step(self) -> None:
        if self.bar:
            self.bar.advance(self.step_task)

    def end_epoch(self, record: dict) -> None:
        line = (f"epoch {record['epoch']}/{self.epochs} | train loss {record['train_loss']:.4f} "
                f"acc {record['train_acc']:.2f}% | test loss {record['test_loss']:.4f} acc {record['test_acc']:.2f}% "
                f"| lr {record['lr']:.4g} | {record['epoch_seconds']:.1f} s | {record['images_per_sec']:,.0f} img/s")
        if self.bar:
            self.bar.update(self.epoch_task, advance=1, note=f"test acc {record['test_acc']:.2f}%")
            self.bar.reset(self.step_task)
            self.bar.console.print(line)
        else:
            self.echo(line, flush=True)

    def close(self) -> None:
        if self.bar:
            self.bar.stop()


def train(config: TrainConfig, run_dir: str | Path, *, resume: bool = False, keep_checkpoints: bool = False,
          device: str | None = None, echo=print) -> dict:
    """Train `config` in `run_dir` and return its summary.

    A finished run is never trained again (its summary is returned); a directory holding another
    config is refused; an interrupted run continues only with resume=True. The run dir is locked while
    training, so two processes never train the same run.
    """
    run = RunDir(run_dir)
    with RunLock(run.lock_file):
        state = run.state(config.short_hash())
        if state == "conflict":
            raise RunDirError(run.conflict_message(config.short_hash()))
        if state == "finished":
            echo(f"{run.path} already holds this finished run; not training it again (see {run.summary_file})")
            return read_json(run.summary_file)
        if not resume and run.has_checkpoint():
            raise RunDirError(f"{run.path} holds an interrupted run ({len(run.metrics())} of {config.epochs} epochs); "
                              "pass --resume to continue it, or choose another --run-dir")
        return _train_locked(config, run, keep_checkpoints, Runtime.resolve(config, device), echo)


@dataclass
class Setup:
    """Everything a run trains with; `state_dict` and `restore` are what a checkpoint holds."""

    train_loader: DeviceLoader
    test_loader: DeviceLoader
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    criterion: torch.nn.Module
    data_rng: torch.Generator

    def state_dict(self, runtime: Runtime) -> dict:
        cuda = torch.cuda.get_rng_state(runtime.device) if runtime.device.type == "cuda" else None
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "rng": {"torch": torch.get_rng_state(), "cuda": cuda, "data": self.data_rng.get_state()}}

    def restore(self, checkpoint: dict, runtime: Runtime) -> None:
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        torch.set_rng_state(checkpoint["rng"]["torch"])
        self.data_rng.set_state(checkpoint["rng"]["data"])
        if runtime.device.type == "cuda" and checkpoint["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(checkpoint["rng"]["cuda"], runtime.device)


def build(config: TrainConfig, runtime: Runtime, echo=print) -> Setup:
    """Data on the device, the model, SGD and the schedule, seeded from config.seed."""
    if runtime.device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(config.seed)
    splits = load_splits(config)
    if splits.notice:
        echo(splits.notice)
    data_rng = torch.Generator(device=runtime.device).manual_seed(config.seed)
    loader = functools.partial(DeviceLoader, mean=splits.mean, std=splits.std, device=runtime.device,
                               channels_last=runtime.channels_last)
    train_loader = loader(splits.train_images, splits.train_labels, config.batch_size, train=True, config=config,
                          generator=data_rng)
    test_loader = loader(splits.test_images, splits.test_labels, EVAL_BATCH_SIZE, train=False)
    if len(train_loader) == 0:
        raise RunDirError(f"batch_size {config.batch_size} is larger than the {train_loader.num_images} training images")
    model = create_model(config.model, config.num_classes, config.norm, config.dropout)
    model = model.to(runtime.device, memory_format=torch.channels_last if runtime.channels_last else torch.preserve_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                nesterov=config.nesterov, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_multiplier(config, len(train_loader)))
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    return Setup(train_loader, test_loader, model, optimizer, scheduler, criterion, data_rng)


def _train_locked(config: TrainConfig, run: RunDir, keep_checkpoints: bool, runtime: Runtime, echo) -> dict:
    setup = build(config, runtime, echo)
    progress_state = {"epoch": 0, "best_acc": 0.0, "best_epoch": 0, "history": []}
    checkpoint = load_latest_checkpoint(run, notify=echo)
    if checkpoint is not None:
        setup.restore(checkpoint, runtime)
        progress_state = {k: checkpoint[k] for k in progress_state}
        echo(f"resuming {run.path} after epoch {progress_state['epoch']} of {config.epochs}")
    history = progress_state["history"]
    write_atomic(run.metrics_file, "".join(_jsonl(r) for r in history))  # drop epochs newer than the checkpoint
    run.failure_file.unlink(missing_ok=True)
    _record_config(run, config, runtime)

    step_model = torch.compile(setup.model) if runtime.compile else setup.model
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(run.tensorboard_dir), purge_step=progress_state["epoch"] + 1)
    progress = EpochProgress(config, len(setup.train_loader), progress_state["epoch"], echo)
    status, first_step_seconds = "completed", None
    try:
        for epoch in range(progress_state["epoch"] + 1, config.epochs + 1):
            record, timer = _run_epoch(epoch, step_model, setup, runtime, progress, time_first_step=first_step_seconds is None)
            first_step_seconds = timer.seconds if timer else first_step_seconds
            history.append(record)
            if record["test_acc"] > progress_state["best_acc"]:
                progress_state.update(best_acc=record["test_acc"], best_epoch=epoch)
            _log_tensorboard(writer, record)
            progress.end_epoch(record)
            with open(run.metrics_file, "a") as fh:  # may run one epoch ahead of the checkpoint: resume rewrites it
                fh.write(_jsonl(record))
            if not math.isfinite(record["train_loss"]):
                status = "diverged"
                echo(f"diverged: train loss is {record['train_loss']} in epoch {epoch}; stopping this run")
                break
            progress_state["epoch"] = epoch
            save_checkpoint({**progress_state, "config": config.to_dict(), "config_hash": config.short_hash(),
                             **setup.state_dict(runtime)}, run, keep_epoch=keep_checkpoints)
    finally:
        progress.close()

    summary = _summarize(config, runtime, count_parameters(setup.model), status, history, progress_state,
                         first_step_seconds)
    write_json(run.summary_file, summary)
    writer.add_hparams({k: v for k, v in config.to_dict().items() if k in HPARAM_FIELDS},
                       {"hparam/best_test_acc": summary["best_test_acc"], "hparam/final_test_acc": summary["final_test_acc"],
                        "hparam/final_train_loss": summary["final_train_loss"]}, run_name=".")
    writer.close()
    echo(f"{status}: best test acc {summary['best_test_acc']:.2f}% (epoch {summary['best_epoch']}), final "
         f"{summary['final_test_acc']:.2f}%, {summary['images_per_sec']:,.0f} img/s; results in {run.path}")
    return summary


def _run_epoch(epoch: int, step_model, setup: Setup, runtime: Runtime, progress: EpochProgress, time_first_step: bool):
    """Train one epoch and test; returns the metrics record (and the first-step timer of a session)."""
    lr = setup.optimizer.param_groups[0]["lr"]
    runtime.synchronize()
    start = time.perf_counter()
    timer = _FirstStepTimer(runtime, start, progress.step) if time_first_step else None
    metrics = train_epoch(step_model, setup.train_loader, setup.optimizer, setup.scheduler, setup.criterion, runtime,
                          timer or progress.step)
    train_seconds = time.perf_counter() - start
    images = metrics.pop("images")
    metrics.update(evaluate(step_model, setup.test_loader, runtime))
    return {"epoch": epoch, **metrics, "lr": lr, "epoch_seconds": time.perf_counter() - start,
            "train_seconds": train_seconds, "images_per_sec": images / train_seconds}, timer


class _FirstStepTimer:
    """Times the first optimizer step of a session (it includes torch.compile and cuDNN autotuning)."""

    def __init__(self, runtime: Runtime, start: float, then):
        self.runtime, self.start, self.then, self.seconds = runtime, start, then, None

    def __call__(self) -> None:
        if self.seconds is None:
            self.runtime.synchronize()
            self.seconds = time.perf_counter() - self.start
        self.then()


def _jsonl(record: dict) -> str:
    return json.dumps(record) + "\n"


def _record_config(run: RunDir, config: TrainConfig, runtime: Runtime) -> None:
    env = environment(runtime.device)
    previous = read_json(run.config_file) or {}
    write_json(run.config_file, {
        "config": config.to_dict(), "config_hash": config.short_hash(), "seed": config.seed,
        "runtime": runtime.to_dict(), "environment": env, "sessions": previous.get("sessions", []) + [env]})


def _log_tensorboard(writer, record: dict) -> None:
    step = record["epoch"]
    for tag, key in (("loss/train", "train_loss"), ("loss/test", "test_loss"), ("accuracy/train", "train_acc"),
                     ("accuracy/test", "test_acc"), ("lr", "lr"), ("speed/images_per_sec", "images_per_sec"),
                     ("speed/epoch_seconds", "epoch_seconds")):
        writer.add_scalar(tag, record[key], step)


def _summarize(config, runtime, params, status, history, progress_state, first_step_seconds) -> dict:
    last = history[-1]
    steady = history[1:] or history  # the first epoch carries warm-up and compilation
    train_seconds = sum(r["train_seconds"] for r in history)
    return {
        "status": status, "epochs": config.epochs, "epochs_completed": len(history),
        "diverged_epoch": last["epoch"] if status == "diverged" else None,
        "best_test_acc": progress_state["best_acc"], "best_epoch": progress_state["best_epoch"],
        "final_test_acc": last["test_acc"], "final_test_loss": last["test_loss"],
        "final_train_acc": last["train_acc"], "final_train_loss": last["train_loss"],
        "params": params, "total_seconds": sum(r["epoch_seconds"] for r in history),
        "mean_epoch_seconds": sum(r["epoch_seconds"] for r in steady) / len(steady),
        "images_per_sec": sum(r["images_per_sec"] * r["train_seconds"] for r in history) / train_seconds,
        "first_step_seconds": first_step_seconds, "config_hash": config.short_hash(), **runtime.to_dict(),
    }


def evaluate_checkpoint(path: str | Path, model: str | None = None, data_dir: str | None = None,
                        device: str | None = None) -> dict:
    """Test accuracy of a saved checkpoint; `model`, if given, must be the architecture it holds."""
    state = load_checkpoint_file(Path(path))
    config = TrainConfig.from_dict(state["config"])
    if model is not None and model != config.model:
        raise RunDirError(f"{path} holds a {config.model} checkpoint, not {model}; "
                          f"evaluate it with --model {config.model} or leave --model out")
    if data_dir is not None:
        config = config.with_overrides(data_dir=data_dir)
    runtime = Runtime.resolve(config, device)
    net = create_model(config.model, config.num_classes, config.norm, config.dropout)
    try:
        net.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise RunDirError(f"{path} does not fit {config.model}: {str(exc).splitlines()[0]}") from None
    net = net.to(runtime.device, memory_format=torch.channels_last if runtime.channels_last else torch.preserve_format)
    splits = load_splits(config)
    loader = DeviceLoader(splits.test_images, splits.test_labels, EVAL_BATCH_SIZE, splits.mean, splits.std,
                          train=False, device=runtime.device, channels_last=runtime.channels_last)
    return {"model": config.model, "epoch": state["epoch"], **evaluate(net, loader, runtime)}
