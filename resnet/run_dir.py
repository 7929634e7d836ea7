"""A run directory: where one run keeps its config, metrics, checkpoints and summary, and its lock.

    config.json      resolved config, hash, seed, versions, device, git commit, threads, data provenance
    metrics.jsonl    one line per finished epoch
    progress.json    where the run is now (epoch, step, images/s, ETA), rewritten every few seconds
    summary.json     written at the end; the run is finished when it verifies against config and metrics
    checkpoint.pt    the latest state (epoch end or mid-epoch); checkpoint.prev.pt the one before
    model.pt         a finished run's final weights and config (what --evaluate needs; the checkpoints go)
    train.log        the run's output when a runner started it;  failure.json  when a runner saw it fail
    slurm-job.json   the Slurm task last submitted for it (a rerun does not submit it again while queued)
    tb/              TensorBoard events
No torch import here: the runner and the report read run directories without it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from resnet.config import TrainConfig
from resnet.errors import ConfigError, RunDirError
from resnet.files import DamagedFile, load_json, read_json, read_jsonl, write_json
from resnet.run_lock import is_held
from resnet.states import RunState
from resnet.summary import complete_history, summarize, verify

log = logging.getLogger("resnet.train")


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    config_file = property(lambda self: self.path / "config.json")
    metrics_file = property(lambda self: self.path / "metrics.jsonl")
    progress_file = property(lambda self: self.path / "progress.json")
    summary_file = property(lambda self: self.path / "summary.json")
    checkpoint_file = property(lambda self: self.path / "checkpoint.pt")
    previous_checkpoint_file = property(lambda self: self.path / "checkpoint.prev.pt")
    model_file = property(lambda self: self.path / "model.pt")
    log_file = property(lambda self: self.path / "train.log")
    failure_file = property(lambda self: self.path / "failure.json")
    slurm_job_file = property(lambda self: self.path / "slurm-job.json")
    tensorboard_dir = property(lambda self: self.path / "tb")
    kept_checkpoints_dir = property(lambda self: self.path / "checkpoints")  # --keep-checkpoints
    lock_file = property(lambda self: self.path / ".lock")

    def recorded_config(self) -> TrainConfig | None:
        """The config config.json records; None when there is none. RunDirError when it cannot be read."""
        try:
            record = load_json(self.config_file)
        except FileNotFoundError:
            return None
        except PermissionError:  # a colleague's run on a shared runs dir, say
            raise RunDirError(
                f"{self.config_file} cannot be read (permission denied); give this user read access to "
                f"{self.path}, or move it away"
            ) from None
        except (OSError, DamagedFile) as exc:
            raise RunDirError(f"{self.config_file} cannot be read ({exc}); move {self.path} away") from None
        try:
            return TrainConfig.from_dict(record["config"])
        except (KeyError, TypeError, ConfigError) as exc:
            raise RunDirError(
                f"{self.config_file} holds no config this version can read ({exc}); "
                f"move {self.path} away or use another runs dir"
            ) from None

    def conflict(self, config: TrainConfig) -> str | None:
        """Why this directory cannot hold a run of `config` (another config is recorded), or None."""
        try:
            recorded = self.recorded_config()
        except RunDirError as exc:
            return str(exc)
        if recorded is None:
            return self.foreign_files()
        if recorded.short_hash() == config.short_hash():
            return None
        fields = recorded.changed_fields(config)
        if recorded.seed != config.seed:
            fields["seed"] = recorded.seed
        changed = ", ".join(f"{k}={v}" for k, v in fields.items())
        return (
            f"{self.path} holds a run of another config (hash {recorded.short_hash()}: {changed}; this "
            f"one is {config.short_hash()}); it is never overwritten: choose another run dir (--run-dir / "
            f"--runs-dir) or move that one away"
        )

    def foreign_files(self) -> str | None:
        """A directory that holds no run but other things (`--run-dir .` in a project): a run is never
        written among them."""
        try:
            names = sorted(os.listdir(self.path))
        except OSError:  # not there yet (or unreadable: starting the run says so)
            return None
        if any(name in RUN_FILES for name in names):
            return None  # a run that lost its config.json: resume compares its checkpoint's config
        foreign = [n for n in names if n not in RUN_ENTRIES and not n.startswith((".", "unverified-"))]
        if not foreign:
            return None
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        return (
            f"{self.path} holds other files ({shown}) and no run; a run is never written among them: "
            "choose a new or empty run dir (--run-dir / --runs-dir)"
        )

    def remove_temp_files(self) -> None:
        """What a process killed mid-write left (a checkpoint's or model.pt's is as big as the model). Only
        under the run's lock, by its one writer: no write is in flight then."""
        for path in self.path.glob(".*.tmp"):
            path.unlink(missing_ok=True)

    def has_checkpoint(self) -> bool:
        return self.checkpoint_file.exists() or self.previous_checkpoint_file.exists()

    def metrics(self) -> list[dict]:
        """Every epoch record up to the first one that is not all numbers (edited or from elsewhere), as
        reading stops at a torn line."""
        records = []
        for record in read_jsonl(self.metrics_file):
            if not all(
                v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                for v in record.values()
            ):
                break
            records.append(record)
        return records

    def verified_summary(self, config: TrainConfig) -> dict | None:
        summary = read_json(self.summary_file)
        return summary if self.why_unverified(config, summary) is None else None

    def why_unverified(self, config: TrainConfig, summary: dict | None) -> str | None:
        if not self.config_file.exists():  # the report could not say what trained: neither can we
            return "its config.json is missing, so nothing records what trained it"
        return verify(summary, config, self.metrics())

    def repairable(self, config: TrainConfig) -> bool:
        """A damaged or missing summary of a run that saved its final model and whose metrics hold every
        epoch: train() rebuilds the summary from them without training."""
        return (
            self.model_file.exists()
            and self.config_file.exists()
            and self.verified_summary(config) is None
            and complete_history(config, self.metrics()) is not None
        )

    def repair_summary(self, config: TrainConfig) -> dict:
        """Rebuild a damaged summary of a repairable run from its metrics.jsonl; nothing is trained."""
        record = read_json(self.config_file) or {}
        history = self.metrics()
        summary = summarize(
            config,
            history,
            status=complete_history(config, history) or RunState.COMPLETED,
            runtime=record.get("runtime", {}),
            params=record.get("params"),
            reason="rebuilt from metrics.jsonl (summary.json was damaged or missing)",
        )
        write_json(self.summary_file, summary)
        log.warning(
            "notice: %s had a damaged summary; rebuilt it from metrics.jsonl without training", self.path
        )
        return summary

    def set_aside_unverified(self, config: TrainConfig) -> Path | None:
        """Before a run with no checkpoint starts over: move what an earlier finish left behind but cannot
        be verified (summary.json, model.pt, metrics.jsonl) into unverified-<time>/, and say why. Nothing
        a user ran is deleted; the report never reads that folder."""
        leftovers = [p for p in (self.summary_file, self.model_file) if p.exists()]
        if not leftovers:
            return None
        why = self.why_unverified(config, read_json(self.summary_file)) or "model.pt has no summary"
        stamp = time.strftime("%Y%m%dT%H%M%S")
        folder, n = self.path / f"unverified-{stamp}", 1
        while folder.exists():  # set aside once already this second
            n += 1
            folder = self.path / f"unverified-{stamp}-{n}"
        folder.mkdir()
        for path in [*leftovers, self.metrics_file]:
            if path.exists():
                path.rename(folder / path.name)
        log.warning(
            "notice: %s cannot count as finished (%s) and has no checkpoint to resume from: training it "
            "again from the start; the unverifiable files are kept in %s",
            self.path,
            why,
            folder,
        )
        return folder

    def state(self, config: TrainConfig) -> RunState:
        return self.verified_state(config)[0]

    def verified_state(self, config: TrainConfig) -> tuple[RunState, dict | None]:
        """The run's state and, when it finished, its verified summary: read and checked once."""
        if self.conflict(config):
            return RunState.CONFLICT, None
        summary = self.verified_summary(config)
        if summary is not None:
            return RunState(summary["status"]), summary
        if self.is_locked():
            return RunState.RUNNING, None
        if self.failure_file.exists():
            return RunState.FAILED, None
        if self.summary_file.exists():
            return RunState.UNVERIFIED, None
        if (
            any(p.exists() for p in (self.metrics_file, self.config_file, self.model_file))
            or self.has_checkpoint()
        ):
            return RunState.INTERRUPTED, None
        return RunState.PENDING, None

    def progress(self) -> dict:
        return read_json(self.progress_file) or {}

    def holds_run(self) -> bool:
        """Whether a run ever started here (what find_run_dirs looks for), without reading its state."""
        return any((self.path / name).exists() for name in RUN_FILES)

    def is_locked(self) -> bool:
        """Whether a live process trains here now."""
        return is_held(self.lock_file)


def _names(*attributes: str) -> tuple[str, ...]:
    """The entry names of these RunDir paths: the file names are defined once, above."""
    return tuple(getattr(RunDir(""), attribute).name for attribute in attributes)


# What makes a directory a run's (a started one leaves config.json; a failed start, failure.json).
RUN_FILES = _names(
    "config_file",
    "failure_file",
    "summary_file",
    "metrics_file",
    "checkpoint_file",
    "previous_checkpoint_file",
    "model_file",
)
STANDALONE_RUNS = "train"  # runs/train/<name>-<dataset>-<hash>/: train_cifar.py's runs, outside any suite
SUBMITIT_DIR = ".submitit"  # in a runs dir: the Slurm launcher's task logs and results (submitit's folder)
NOT_RUNS = {SUBMITIT_DIR, *_names("tensorboard_dir", "kept_checkpoints_dir")}  # never runs themselves
# Everything else a run (or the runner, before it starts) may leave; unverified-<time>/ and hidden files
# (.lock, temp files, .DS_Store, NFS's .nfs*) aside.
RUN_ENTRIES = frozenset(
    {
        *RUN_FILES,
        *_names("progress_file", "log_file", "slurm_job_file", "tensorboard_dir", "kept_checkpoints_dir"),
    }
)


def find_run_dirs(root: Path, missed: list[Path] | None = None) -> Iterator[Path]:
    """Every directory under `root` that holds a run. Symlinked directories are followed (runs moved to
    another disk), each real directory searched once (a link back into the tree ends there, and no web of
    links multiplies the search), except a link to a directory that holds `root`, such as / or ../..:
    that would search the whole disk. What could not be searched goes to `missed`, as runs may be behind
    it: links that lead nowhere (a disk not mounted) and directories this user may not list (a
    colleague's, on a shared runs dir)."""
    top = os.path.realpath(root)
    searched: set[str] = set()
    unlisted = (lambda error: missed.append(Path(error.filename))) if missed is not None else None
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=unlisted):
        if any(name in filenames for name in RUN_FILES):
            yield Path(dirpath)  # each time it is reached: the report names a run linked in twice
            dirnames[:] = []  # a run's own subdirectories hold no runs
            continue
        if missed is not None:
            links = (Path(dirpath, name) for name in filenames)
            missed += [link for link in links if link.is_symlink() and not link.exists()]
        real = os.path.realpath(dirpath)
        if real in searched:
            dirnames[:] = []
            continue
        searched.add(real)
        dirnames[:] = sorted(
            name
            for name in dirnames
            if name not in NOT_RUNS and not _holds(os.path.realpath(os.path.join(dirpath, name)), top)
        )


def _holds(directory: str, path: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def enclosing_run(directory: Path) -> Path | None:
    """The run dir that `directory` is or lies inside, if any: a report never looks into a run's own
    subdirectories, so runs written there would be hidden from every report of the runs dir above. Only
    a run's own config.json counts, beside something else a run leaves (its lock, log, metrics, ...): a
    project's root may hold a config.json of its own, or one copied from a run to train it again."""
    for candidate in (directory.absolute(), *directory.absolute().parents):
        run = RunDir(candidate)
        record = read_json(run.config_file)
        if record is not None and "config_hash" in record and "config" in record and _marked(run):
            return candidate
    return None


def _marked(run: RunDir) -> bool:
    others = (RUN_ENTRIES - {run.config_file.name}) | {run.lock_file.name}
    return any((run.path / name).exists() for name in others)
