"""The sweep record, runs/<suite>/sweep.json: what the last sweep there ran (its suite file and
selection), so that `--report` without flags tables what was planned. No torch import here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from resnet.errors import RunDirError, UserError
from resnet.files import DamagedFile, describe_os_error, load_json, write_json
from resnet.plan import Selection
from resnet.presets import SWEEP_RECORD, Suite


def record_sweep(runs_dir: Path, suite: Suite, selection: Selection) -> None:
    """Written before anything trains: a runs dir that cannot take it (full, or the name taken by a
    directory) stops the sweep in one line now, not after the training."""
    path = Path(runs_dir) / suite.name / SWEEP_RECORD
    record = {"suite": suite.name, "suite_file": str(suite.path.resolve()), "selection": selection.to_dict()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, record)
    except OSError as exc:
        raise RunDirError(
            f"cannot write the sweep record: {describe_os_error(exc, path)}; fix that (or choose another "
            "--runs-dir) and run the same command again"
        ) from None


@dataclass(frozen=True)
class SweepRecord:
    """What runs/<suite>/sweep.json says; `problem` says why it cannot be used ("" when it can, or when
    there is none)."""

    suite_file: Path | None = None
    selection: Selection | None = None
    problem: str = ""


def recorded_sweep(runs_dir: Path, suite_name: str) -> SweepRecord:
    path = Path(runs_dir) / suite_name / SWEEP_RECORD
    if not path.exists():
        return SweepRecord()
    try:
        data = load_json(path)
        suite_file = data.get("suite_file")
        if not isinstance(suite_file, (str, type(None))):
            raise TypeError("suite_file")
        return SweepRecord(Path(suite_file) if suite_file else None, Selection.from_dict(data["selection"]))
    except (OSError, DamagedFile, UserError) as exc:
        return SweepRecord(problem=describe_os_error(exc) if isinstance(exc, OSError) else str(exc))
    except (KeyError, TypeError, AttributeError, ValueError):
        return SweepRecord(problem="it is not a sweep record this version can read")
