"""The Slurm launcher of run_ablations.py: one job array through submitit, the same plan and run dirs."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from resnet.cli.common import fail
from resnet.plan import Plan, record_sweep
from resnet.runner import to_run
from resnet.states import ExitCode


def run_slurm(plan: Plan, args: argparse.Namespace, report: Callable[[Plan, argparse.Namespace], int]) -> int:
    from resnet.slurm import SlurmOptions, describe_submission, submit_sweep

    try:
        options = SlurmOptions.from_args(args)
    except ValueError as exc:
        fail(str(exc))
    launch = options.launch(args.keep_checkpoints, args.checkpoint_every)
    pending = to_run(plan.specs, args.retry_failed)
    if args.dry_run:
        print(describe_submission(pending, options, args.runs_dir, launch))
        if plan.awaiting:
            print(
                f"then, once tuning finished, run the same command again to submit the final runs of "
                f"{', '.join(plan.awaiting)}"
            )
        return ExitCode.OK
    record_sweep(args.runs_dir, plan.suite, plan.selection)
    if not pending:
        print("nothing to submit: every run is finished (or failed; --retry-failed runs those again)")
        return report(plan, args)
    jobs = submit_sweep(pending, options, args.runs_dir, launch=launch)
    print(
        f"submitted a Slurm job array of {len(jobs)} runs: job {jobs[0].job_id.split('_')[0]}; logs in "
        f"{args.runs_dir / '.submitit'}; `run_ablations.py --report` writes the table when they finish"
    )
    if plan.awaiting:
        print(
            f"tuning: once these finish, run the same command again to submit the final runs of "
            f"{', '.join(plan.awaiting)}"
        )
    if not args.wait:
        return ExitCode.OK
    from resnet.slurm import wait_for

    failed = wait_for(jobs, pending)
    code = report(plan, args)
    return code if code != ExitCode.OK else (ExitCode.FAILED if failed else ExitCode.OK)
