"""Reading what runs recorded, and sorting them into the plan's arms.

Every directory under runs/<suite>/ that holds a run (config.json, failure.json, metrics or a
checkpoint) is read; what it trained comes from its recorded config, never from its directory name.
Runs group into arms by the hash of their config without the seed. A planned arm gets the runs of
exactly its config, each seed once; runs of any other config go to "other configurations"; directories
that cannot be read are listed as skipped, with the reason. Nothing here raises on a damaged directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from resnet.config import TrainConfig
from resnet.errors import ConfigError
from resnet.files import DamagedFile, load_json, read_json, symlink_words
from resnet.plan import Plan, presets_by_arm
from resnet.run_dir import RunDir, find_run_dirs
from resnet.run_spec import Arm
from resnet.states import RunState
from resnet.summary import headline, selection

# config.json's keys that hold tables (and a list), by type: an edited file's other values say nothing
RECORD_SHAPES = {"environment": dict, "data": dict, "runtime": dict, "sessions": list}


@dataclass
class RunRecord:
    path: Path
    config: TrainConfig
    state: RunState
    summary: dict | None = None  # verified summaries only
    record: dict = field(default_factory=dict)  # config.json
    failure: dict | None = None

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def runtime(self) -> dict:
        """How the run executed (bf16 as resolved, device, threads): its summary's, else config.json's."""
        for source in (self.summary or {}, self.record):
            if isinstance(source.get("runtime"), dict):
                return _scalars(source["runtime"])
        return {}

    def sessions(self) -> list[tuple[dict, dict]]:
        """(environment, runtime) of each process that trained it: the start and every resume, which may
        have run elsewhere (a requeued Slurm task, a sweep moved to another machine). Older records keep
        the latest session's runtime only."""
        found = [env for env in self.record.get("sessions", []) if isinstance(env, dict)]
        return [
            (env, _scalars(env.get("runtime")) or self.runtime)
            for env in found or [self.record.get("environment", {})]
        ]

    @property
    def value(self) -> float | None:
        """The accuracy this run contributes to its arm's cell (completed runs only)."""
        return headline(self.summary) if self.summary and self.state == RunState.COMPLETED else None

    def metrics(self) -> list[dict]:
        return RunDir(self.path).metrics()


def _scalars(table: object) -> dict:
    """A recorded table's scalar entries: an edited file must not break a table."""
    if not isinstance(table, dict):
        return {}
    return {k: v for k, v in table.items() if isinstance(v, (str, int, float, bool))}


@dataclass
class ArmRuns:
    arm: Arm
    runs: list[RunRecord] = field(default_factory=list)  # one per seed
    pending: list[int] = field(default_factory=list)  # planned seeds with nothing on disk
    conflicts: list[int] = field(default_factory=list)  # planned seeds whose directory holds another run
    unreadable: list[int] = field(default_factory=list)  # planned seeds in a directory that cannot be read
    planned: bool = True  # False: a preset this sweep did not select, tabled because its runs are here
    awaiting: str = ""  # a tuned arm whose final runs cannot start yet: why

    @property
    def completed(self) -> list[RunRecord]:
        return [r for r in self.runs if r.state == RunState.COMPLETED]

    @property
    def diverged(self) -> int:
        """Seeds that finished by diverging: not in the cell, which flatters the arm; the report says so."""
        return sum(r.state == RunState.DIVERGED for r in self.runs)

    def values(self, key: str | None = None) -> dict[int, float]:
        """{seed: accuracy} of the completed runs: the headline, or a summary field."""
        out = {}
        for run in self.completed:
            value = run.value if key is None else run.summary.get(key) if run.summary else None
            if value is not None:
                out[run.seed] = value
        return out

    def outside(self) -> str:
        """The arm's planned runs that are in no cell, by state: '1 failed, 2 pending' ('' when none)."""
        counts: dict[str, int] = {}
        for run in self.runs:
            if run.state != RunState.COMPLETED:
                counts[str(run.state)] = counts.get(str(run.state), 0) + 1
        if self.pending:
            counts[str(RunState.PENDING)] = len(self.pending)
        if self.conflicts:
            counts[str(RunState.CONFLICT)] = len(self.conflicts)
        if self.unreadable:
            counts[str(RunState.UNREADABLE)] = len(self.unreadable)
        return ", ".join(f"{n} {state}" for state, n in counts.items())


def every_arm_on_val(cells: list[ArmRuns]) -> bool:
    """Whether every arm chooses its runs' best epoch on a validation split: the one rule for a table's
    protocol, which its columns are named by (resnet.report.protocol) and compared on (compared_key)."""
    return bool(cells) and all(selection(cell.arm.config) == "val" for cell in cells)


def compared_key(cells: list[ArmRuns]) -> str:
    """The summary field a table compares its arms on: test accuracy at the val-selected epoch when every
    arm holds out a validation split; otherwise the final test accuracy, which no selection touches, so
    arms of the two protocols (one chose its best epoch on test) are compared on the same number."""
    return "test_acc_at_best" if every_arm_on_val(cells) else "final_test_acc"


@dataclass
class Collected:
    arms: list[ArmRuns]  # the plan's arms, in order
    tuning: dict[str, list[ArmRuns]]  # arm name -> its tuning arms
    others: list[RunRecord]  # runs of configs the plan does not have
    skipped: list[tuple[Path, str]]  # directories that could not be read, and why

    def all_runs(self) -> list[tuple[str, str, RunRecord]]:
        """(role, arm name, run) for every run found: the CSV's rows."""
        rows = [("main", a.arm.name, r) for a in self.arms for r in a.runs]
        rows += [("tune", t.arm.name, r) for arms in self.tuning.values() for t in arms for r in t.runs]
        return rows + [("other", "", r) for r in self.others]


def read_run(path: Path) -> RunRecord | str:
    """The run in `path`, or why it cannot be read."""
    run = RunDir(path)
    failure = read_json(run.failure_file)
    try:
        record = load_json(run.config_file)
    except FileNotFoundError:
        record = None
    except (OSError, DamagedFile) as exc:
        return f"config.json unreadable: {exc}"
    source = record if record is not None else failure
    if source is None:
        return "no config.json (nothing says what it trained)"
    if not isinstance(source.get("config"), dict):
        name = run.config_file.name if record is not None else run.failure_file.name
        return f"its {name} holds no config table (nothing says what it trained)"
    try:
        config = TrainConfig.from_dict(source["config"])
    except ConfigError as exc:
        return f"its config is not valid here ({exc})"
    files = (run.summary_file, run.metrics_file)
    closed = [f.name for f in files if f.exists() and not os.access(f, os.R_OK)]
    if closed:  # a colleague's run on a shared runs dir: it would pass for an unverified one
        return f"{' and '.join(closed)} cannot be read by this user (permission denied)"
    state, summary = run.verified_state(config)
    record = {k: v for k, v in (record or {}).items() if isinstance(v, RECORD_SHAPES.get(k, object))}
    return RunRecord(path, config, state, summary, record, failure)


def selected_presets(plan: Plan) -> set[str] | None:
    """The arms the sweep planned seeds for, by name; None when every arm was (all presets, a design)."""
    names = plan.selection.presets
    if names is None or plan.selection.design:
        return None
    return {preset.name for name in names if (preset := plan.suite.find_preset(name))}


@dataclass
class Found:
    """Every run directory under a suite's runs dir, read once: by arm hash, and those that cannot be read."""

    paths: set[Path]
    by_arm: dict[str, list[RunRecord]]
    skipped: list[tuple[Path, str]]
    missed: list[Path] = field(default_factory=list)  # not searched: a run planned in one is not pending

    def unknown(self, path: Path) -> bool:
        """Whether `path` lies in a directory that could not be searched: what it holds is not known."""
        return any(m == path or m in path.parents for m in self.missed)

    def unreadable(self, path: Path) -> bool:
        """Whether the run in `path` could not be read (or searched for): it is there, but not known."""
        return self.unknown(path) or any(skipped == path for skipped, _ in self.skipped)


def find_runs(plan: Plan) -> Found:
    root = plan.runs_dir / plan.suite.name
    missed: list[Path] = []
    found = Found(set(find_run_dirs(root, missed)) if root.is_dir() else set(), {}, [], sorted(set(missed)))
    found.skipped += [(path, _not_searched(path)) for path in found.missed]
    for path in sorted(found.paths):
        run = read_run(path)
        if isinstance(run, str):
            found.skipped.append((path, run))
        else:
            found.by_arm.setdefault(run.config.arm_hash(), []).append(run)
    return found


def with_presets_on_disk(plan: Plan, found: Found) -> Plan:
    """A sweep of some presets still tables every other preset whose runs (under the same overrides) are
    here, so adding seeds to one arm never takes the baseline and the rest out of the table; those arms
    plan no seeds (nothing pending). Designs and tuned sweeps table their own arms only."""
    if selected_presets(plan) is None or plan.selection.tune:
        return plan
    have = {arm.config.arm_hash() for arm in plan.arms}
    extra = [
        arm
        for key, arm in presets_by_arm(plan.suite, dict(plan.selection.overrides)).items()
        if key in found.by_arm and key not in have
    ]
    if not extra:
        return plan
    order = {name: i for i, name in enumerate(plan.suite.presets)}
    arms = sorted(plan.arms + extra, key=lambda arm: order.get(arm.name, len(order)))
    baseline = plan.suite.baseline if any(arm.name == plan.suite.baseline for arm in arms) else plan.baseline
    return replace(plan, arms=arms, baseline=baseline)


def _not_searched(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return f"{symlink_words(path)}: runs behind it are not counted"
    why = "it could not be listed while the report read the runs dir"
    try:
        os.listdir(path)
    except OSError as exc:
        why = f"it cannot be listed ({(exc.strerror or type(exc).__name__).lower()})"
    return f"{why}: runs in it are not counted"


def collect(plan: Plan, found: Found | None = None) -> Collected:
    """The plan's arms with their runs; `found`: the run directories already read (find_runs)."""
    found = found or find_runs(plan)
    by_arm = found.by_arm
    claimed: set[Path] = set()

    def claim(
        arm: Arm, seeds: tuple[int, ...], planned_only: bool = False, leave: frozenset[int] = frozenset()
    ) -> ArmRuns:
        """The arm's runs (of its planned seeds only, if asked; never of the seeds to `leave`), each seed
        once (the planned directory first), and its planned seeds not on disk."""
        cell = ArmRuns(arm)
        by_seed: dict[int, list[RunRecord]] = {}
        for run in by_arm.get(arm.config.arm_hash(), []):
            if (not planned_only or run.seed in seeds) and run.seed not in leave:
                by_seed.setdefault(run.seed, []).append(run)
        for seed, runs in sorted(by_seed.items()):
            canonical = plan.run_dir(arm, seed)
            runs.sort(key=lambda r: (r.path != canonical, not r.state.finished, str(r.path)))
            cell.runs.append(runs[0])
            claimed.update(r.path for r in runs)
            duplicates.update((r.path, _duplicate(r.path, runs[0].path, arm, seed)) for r in runs[1:])
        missing = [s for s in seeds if s not in by_seed]
        cell.unreadable = [s for s in missing if found.unreadable(plan.run_dir(arm, s))]
        known = [s for s in missing if s not in cell.unreadable]
        cell.pending = [s for s in known if plan.run_dir(arm, s) not in found.paths]
        cell.conflicts = [s for s in known if s not in cell.pending]  # their dir holds another config
        return cell

    duplicates: set[tuple[Path, str]] = set()
    tune_seeds = plan.selection.tune.seeds if plan.selection.tune else ()
    tuning = {  # a tuning arm holds its tuning seeds only: the selected value's other seeds are final runs
        name: [claim(t, tune_seeds, planned_only=True) for t in candidates]
        for name, candidates in plan.tuning.items()
    }
    # A tuning run of the selected value has the arm's config, but it won on validation: it is a final run
    # only where its seed is a final seed too (the tuning section says so), never an extra seed of the cell.
    selection_only = frozenset(tune_seeds) - set(plan.selection.seeds)
    selected = selected_presets(plan)
    arms = []
    for arm in plan.arms:
        planned = selected is None or arm.name in selected
        seeds = plan.selection.seeds if planned and arm.name not in plan.awaiting else ()
        arms.append(claim(arm, seeds, leave=selection_only if arm.name in plan.tuning else frozenset()))
        arms[-1].planned, arms[-1].awaiting = planned, plan.awaiting.get(arm.name, "")
    others = sorted(
        (r for runs in by_arm.values() for r in runs if r.path not in claimed), key=lambda r: str(r.path)
    )
    return Collected(arms, tuning, others, sorted({*found.skipped, *duplicates}))


def _duplicate(path: Path, counted: Path, arm: Arm, seed: int) -> str:
    if os.path.realpath(path) == os.path.realpath(counted):
        return f"the run in {counted} again, through a symlink (counted once)"
    return f"a second run of {arm.name} seed {seed} (counted once: {counted})"
