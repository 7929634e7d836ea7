"""Which runs of a plan a sweep starts, and why it skips the others (finished and verified, failed before,
or their dir holds another config): one answer for the local runner, the Slurm launcher and dry runs.
No torch import here."""

from __future__ import annotations

from resnet.run_dir import RunDir
from resnet.run_spec import RunSpec
from resnet.states import RunState


def skip_reason(spec: RunSpec, state: RunState, retry_failed: bool) -> str | None:
    if state.finished:
        return f"already {state}; summary.json verified"
    if state == RunState.FAILED and not retry_failed:
        return f"failed before (see {RunDir(spec.run_dir).failure_file}); pass --retry-failed to run it again"
    if state == RunState.CONFLICT:
        return RunDir(spec.run_dir).conflict(spec.config)
    return None


def skip_reasons(specs: list[RunSpec], retry_failed: bool) -> list[tuple[RunSpec, str | None]]:
    """Each run with why a sweep would not start it (None: it would); each run's state is read once."""
    return [(spec, skip_reason(spec, spec.state(), retry_failed)) for spec in specs]


def to_run(specs: list[RunSpec], retry_failed: bool) -> list[RunSpec]:
    """The runs a sweep (local or Slurm) would start: not finished, not failed before unless retried."""
    return [spec for spec, skip in skip_reasons(specs, retry_failed) if skip is None]
