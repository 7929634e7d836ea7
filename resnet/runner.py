"""Local sweeps: every run of a suite as a train_cifar.py subprocess, spread over the machine's slots.

A slot is one GPU (several with --jobs-per-gpu) or, without GPUs, a share of the CPU cores. A queue
hands the next run to whichever slot frees first. Run directories are deterministic
(runs/<suite>/<preset>/seed<k>/), so a second invocation skips finished runs, resumes interrupted
ones and never overwrites a directory that holds another config. No torch import here.
"""
from __future__ import annotations

import datetime
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resnet.config import TrainConfig, config_flags
from resnet.presets import Suite
from resnet.run_dir import RunDir, read_json, write_json

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TRAIN_SCRIPT = PROJECT_ROOT / "train_cifar.py"
EXIT_LOCKED, EXIT_INTERRUPTED = 75, 130
POLL_SECONDS = 0.5
STOP_GRACE_SECONDS = 30
LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: which preset, which seed, where it writes, and the exact command that trains it."""

    suite: str
    suite_ref: str  # how train_cifar.py finds the suite: its name, or the path of its file
    preset: str
    seed: int
    config: TrainConfig
    run_dir: Path
    overrides: dict[str, Any] = field(default_factory=dict, compare=False)
    keep_checkpoints: bool = False

    @property
    def label(self) -> str:
        return f"{self.suite}/{self.preset}/seed{self.seed}"

    def command(self) -> list[str]:
        script = os.path.relpath(TRAIN_SCRIPT) if Path.cwd() == PROJECT_ROOT else str(TRAIN_SCRIPT)
        extra = ["--keep-checkpoints"] if self.keep_checkpoints else []
        return [sys.executable, script, "--config", f"{self.suite_ref}:{self.preset}", "--seed", str(self.seed),
                *config_flags(self.overrides), "--run-dir", str(self.run_dir), "--resume", *extra]


def plan_runs(suite: Suite, presets: list[str], seeds: list[int], overrides: dict[str, Any], runs_dir: Path,
              suite_ref: str | None = None, keep_checkpoints: bool = False) -> list[RunSpec]:
    """Every (preset, seed) pair, validated now so that a bad override fails before anything starts."""
    specs = []
    for name in presets:
        preset = suite.preset(name)
        for seed in seeds:
            config = suite.config(preset.name, **overrides, seed=seed)
            specs.append(RunSpec(suite.name, suite_ref or suite.name, preset.name, seed, config,
                                 runs_dir / suite.name / preset.name / f"seed{seed}", overrides, keep_checkpoints))
    return specs


# --- slots -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Slot:
    device: str  # "cuda:<id>" or "cpu"
    env: dict[str, str]

    def shell_prefix(self) -> str:
        return " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())


def visible_gpus() -> list[str]:
    """GPU ids this process may use, found without importing torch."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return [g.strip() for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip() and g.strip() != "-1"]
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return out.stdout.split() if out.returncode == 0 else []


def make_slots(device: str | None = None, gpus: list[str] | None = None, jobs_per_gpu: int = 1,
               jobs: int = 1) -> list[Slot]:
    """GPU slots (each GPU jobs_per_gpu times) unless device is 'cpu' or there is no GPU; then `jobs` CPU slots.

    CPU cores are shared evenly (OMP_NUM_THREADS) so that concurrent runs do not oversubscribe them.
    """
    gpus = [] if device == "cpu" else (gpus if gpus is not None else visible_gpus())
    if device == "cuda" and not gpus:
        raise ValueError("--device cuda, but no GPU is visible (CUDA_VISIBLE_DEVICES / nvidia-smi)")
    count = len(gpus) * jobs_per_gpu if gpus else jobs
    threads = str(max(1, (os.cpu_count() or 1) // count))
    if not gpus:
        return [Slot("cpu", {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": threads}) for _ in range(jobs)]
    return [Slot(f"cuda:{g}", {"CUDA_VISIBLE_DEVICES": g, "OMP_NUM_THREADS": threads})
            for g in gpus for _ in range(jobs_per_gpu)]


def dry_run_lines(specs: list[RunSpec], slots: list[Slot], retry_failed: bool = False) -> list[str]:
    """The exact commands, one per line, with the slot each would start on if every run took equally long."""
    lines, i = [], 0
    for spec in specs:
        state = RunDir(spec.run_dir).state(spec.config.short_hash())
        skip = skip_reason(spec, state, retry_failed)
        if skip:
            lines.append(f"# skip {spec.label}: {skip}")
            continue
        slot = slots[i % len(slots)]
        i += 1
        lines.append(f"{slot.shell_prefix()} {shlex.join(spec.command())}")
    return lines


def skip_reason(spec: RunSpec, state: str, retry_failed: bool) -> str | None:
    if state == "finished":
        return "finished (summary.json exists)"
    if state == "failed" and not retry_failed:
        return f"failed before (see {RunDir(spec.run_dir).failure_file}); pass --retry-failed to run it again"
    if state == "conflict":
        return RunDir(spec.run_dir).conflict_message(spec.config.short_hash())
    return None


def record_failure(spec: RunSpec, exit_code: int | None, reason: str = "") -> dict:
    """failure.json: the exit code and the end of the run's log, so the report can say what happened."""
    run = RunDir(spec.run_dir)
    run.path.mkdir(parents=True, exist_ok=True)
    try:
        tail = run.log_file.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    except FileNotFoundError:
        tail = []
    record = {"exit_code": exit_code, "reason": reason, "log_tail": tail, "command": spec.command(),
              "failed_at": datetime.datetime.now().isoformat(timespec="seconds"),
              "config": spec.config.to_dict(), "config_hash": spec.config.short_hash()}
    write_json(run.failure_file, record)
    return record


# --- the sweep ---------------------------------------------------------------------------------------
@dataclass
class RunStatus:
    spec: RunSpec
    state: str = "queued"  # queued, running, finished, diverged, failed, skipped, elsewhere, interrupted
    slot: Slot | None = None
    exit_code: int | None = None
    note: str = ""
    started: float | None = None
    ended: float | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    def progress(self) -> tuple[int, float | None, float | None]:
        """(epochs done, last test acc, seconds left) from the run's own metrics.jsonl."""
        metrics = RunDir(self.spec.run_dir).metrics()
        if not metrics:
            return 0, None, None
        seconds = sum(m["epoch_seconds"] for m in metrics) / len(metrics)
        done = metrics[-1]["epoch"]
        return done, metrics[-1]["test_acc"], seconds * (self.spec.config.epochs - done)


class LocalSweep:
    """Runs specs on slots; `run()` returns every run's status once all are done or Ctrl-C stopped them."""

    def __init__(self, specs: list[RunSpec], slots: list[Slot], retry_failed: bool = False, display=None):
        self.statuses = [RunStatus(spec) for spec in specs]
        self.slots, self.retry_failed = slots, retry_failed
        self.display = display or SweepDisplay()
        self.interrupted = False

    def run(self) -> list[RunStatus]:
        for status in self.statuses:
            state = RunDir(status.spec.run_dir).state(status.spec.config.short_hash())
            reason = skip_reason(status.spec, state, self.retry_failed)
            if reason:
                status.state, status.note = ("failed" if state in ("failed", "conflict") else "skipped"), reason
        queue = [s for s in self.statuses if s.state == "queued"]
        free = list(self.slots)
        try:
            with self.display:
                while queue or any(s.state == "running" for s in self.statuses):
                    while queue and free:
                        slot = free.pop(0)
                        if not self._start(queue.pop(0), slot):
                            free.append(slot)
                    for status in self.statuses:
                        if status.state == "running" and status.process.poll() is not None:
                            self._finish(status)
                            free.append(status.slot)
                    self.display.update(self.statuses)
                    time.sleep(POLL_SECONDS)
                self.display.update(self.statuses)
        except KeyboardInterrupt:
            self.interrupted = True
            self._stop_all()
        return self.statuses

    def _start(self, status: RunStatus, slot: Slot) -> bool:
        run = RunDir(status.spec.run_dir)
        run.path.mkdir(parents=True, exist_ok=True)
        if run.state(status.spec.config.short_hash()) == "finished":  # another runner finished it meanwhile
            status.state, status.note = "skipped", "finished by another process"
            return False
        if run.is_locked():
            status.state, status.note = "elsewhere", "another process is training it"
            self.display.event(status)
            return False
        run.failure_file.unlink(missing_ok=True)
        command = status.spec.command()
        with open(run.log_file, "a") as log:
            log.write(f"=== {datetime.datetime.now().isoformat(timespec='seconds')} on {slot.device}: "
                      f"{slot.shell_prefix()} {shlex.join(command)}\n")
            log.flush()
            status.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **slot.env, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        status.state, status.slot, status.started = "running", slot, time.monotonic()
        return True

    def _finish(self, status: RunStatus) -> None:
        status.exit_code, status.ended = status.process.returncode, time.monotonic()
        summary = read_json(RunDir(status.spec.run_dir).summary_file)
        if status.exit_code == EXIT_LOCKED:
            status.state, status.note = "elsewhere", "another process is training it"
        elif summary is not None and status.exit_code in (0, 1):
            status.state = "diverged" if summary["status"] == "diverged" else "finished"
        elif self.interrupted:
            status.state = "interrupted"
        else:
            status.state = "failed"
            record = record_failure(status.spec, status.exit_code)
            last = next((line for line in reversed(record["log_tail"]) if line.strip()), "")
            status.note = f"exit {status.exit_code}: {last[:160]}"
        self.display.event(status)

    def _stop_all(self) -> None:
        """Ctrl-C: ask every child to stop (SIGINT), wait, then kill; each keeps its last checkpoint."""
        running = [s for s in self.statuses if s.state == "running"]
        for status in running:
            _signal_group(status.process, signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for status in running:
            try:
                status.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(status.process, signal.SIGKILL)
                status.process.wait()
            status.exit_code, status.state = status.process.returncode, "interrupted"
            status.ended = time.monotonic()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


class SweepDisplay:
    """A live rich table of every run on a terminal; plain timestamped lines when output is piped."""

    def __init__(self, live: bool | None = None, stream=None):
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self._live, self._seen = None, {}

    def __enter__(self):
        if self.live:
            from rich.live import Live

            self._live = Live(refresh_per_second=2, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc):
        if self._live:
            self._live.__exit__(*exc)

    def update(self, statuses: list[RunStatus]) -> None:
        rows = [(s, *s.progress()) if s.state in ("running", "finished", "diverged") else (s, 0, None, None)
                for s in statuses]
        if self._live:
            self._live.update(self._table(rows))
            return
        for status, epoch, acc, eta in rows:
            key = (status.state, epoch)
            if self._seen.get(status.spec.label) != key:
                self._seen[status.spec.label] = key
                self._line(status, epoch, acc, eta)

    def event(self, status: RunStatus) -> None:
        if self._live and status.state == "failed":
            self._live.console.print(f"[red]failed[/red] {status.spec.label}: {status.note}")

    def _line(self, status, epoch, acc, eta) -> None:
        if status.state == "queued":
            return
        parts = [time.strftime("%H:%M:%S"), status.spec.label, status.state]
        if status.slot:
            parts.append(f"on {status.slot.device}")
        if epoch:
            parts.append(f"epoch {epoch}/{status.spec.config.epochs}")
        if acc is not None:
            parts.append(f"test acc {acc:.2f}%")
        if status.state == "running" and eta is not None:
            parts.append(f"ETA {format_seconds(eta)}")
        if status.note:
            parts.append(f"({status.note})")
        print(" | ".join(parts), file=self.stream, flush=True)

    def _table(self, rows):
        from rich.table import Table

        table = Table(title="sweep")
        for column in ("run", "state", "device", "epoch", "test acc", "ETA"):
            table.add_column(column, justify="right" if column in ("epoch", "test acc", "ETA") else "left")
        colours = {"running": "cyan", "finished": "green", "failed": "red", "diverged": "yellow"}
        for status, epoch, acc, eta in rows:
            state = status.state if status.state not in colours else f"[{colours[status.state]}]{status.state}"
            table.add_row(status.spec.label, state, status.slot.device if status.slot else "",
                          f"{epoch}/{status.spec.config.epochs}", "" if acc is None else f"{acc:.2f}%",
                          format_seconds(eta) if status.state == "running" else "")
        return table
