"""Local sweeps: every run of a plan in a forked training process, spread over the machine's slots.

A slot is one GPU (several with --jobs-per-gpu) or, without GPUs, a share of the CPU cores. A queue
hands the next run to whichever slot frees first. The runner supervises: its children die with it,
runs held by another live process are waited for (and shown), a run that cannot start (unwritable dir,
full disk) fails with the reason while the sweep goes on, and when three runs in a row fail with the
same error (the sweep's first three, or, once runs finished, three of different arms: a disk that
filled up, not an arm's config) it stops queueing and says why. Ctrl-C (or SIGTERM, SIGHUP) asks every
run to checkpoint and stop; a second one stops them at once. Ctrl-Z (SIGTSTP) stops the runs with the
sweep, and `fg` or `bg` continues them. No torch import here.
"""

from __future__ import annotations

import datetime
import multiprocessing.connection
import shlex
import signal
import time

from resnet.display import SweepDisplay
from resnet.failure import any_runs_reason, record_failure
from resnet.files import describe_os_error
from resnet.launch import LOST_STATUS, Child, Launcher, stop_this_process
from resnet.pending import launch_options, skip_reason
from resnet.run_dir import RunDir
from resnet.run_spec import LaunchOptions, RunSpec
from resnet.run_status import RunStatus
from resnet.slots import Slot
from resnet.states import RunState, describe_exit, state_after_exit
from resnet.words import plural

POLL_SECONDS = 0.5
STOP_GRACE_SECONDS = 30
SAME_FAILURES_TO_STOP = 3
WAITING_NOTE = "another process is training it; waiting for it"
LOST_NOTE = "exit status lost: the sweep's fork server was killed; resuming it once it stopped"
STOPPED_NOTE = "stopped by a signal from outside this sweep; kill -CONT {pid} continues it"


class LocalSweep:
    """Runs specs on slots; `run()` returns every run's status once all are done or a stop ended them."""

    def __init__(
        self,
        specs: list[RunSpec],
        slots: list[Slot],
        launch: LaunchOptions | None = None,
        retry_failed: bool = False,
        display: SweepDisplay | None = None,
        launcher: Launcher | None = None,
    ):
        self.statuses = [RunStatus(spec) for spec in specs]
        self.slots, self.template, self.retry_failed = slots, launch or LaunchOptions(), retry_failed
        self.display = display or SweepDisplay()
        self.launcher = launcher or Launcher()
        self.stop_level, self.killed = 0, False
        self.suspend_requested = False
        self.stop_started: float | None = None
        self.abort_reason = ""
        self.failing: list[tuple[str, str]] = []  # (reason, arm) of the runs failed since one finished
        self.successes = 0

    @property
    def interrupted(self) -> bool:
        return self.stop_level > 0

    def request_stop(self, signum: int | None = None) -> None:
        """From a signal handler: the first asks every run to checkpoint and stop, the second kills them."""
        self.stop_level += 1

    def request_suspend(self, signum: int | None = None, frame: object = None) -> None:
        """The SIGTSTP handler (Ctrl-Z): the main loop stops the runs and the sweep."""
        self.suspend_requested = True

    def run(self) -> list[RunStatus]:
        try:
            return self._run()
        except BaseException:  # a bug must not leave runs training with no one to stop them
            self._stop_children_now()
            raise

    def _children(self) -> list[Child]:
        return [s.child for s in self.statuses if s.child is not None]

    @staticmethod
    def _ask_to_stop(children: list[Child]) -> None:
        """Each run checkpoints and stops (SIGINT); one stopped from outside is continued so that it can."""
        for child in children:
            child.signal(signal.SIGINT)
            if child.stopped():
                child.signal(signal.SIGCONT)

    def _stop_children_now(self) -> None:
        """Every run checkpoints and stops; those not gone after the grace are killed."""
        children = self._children()
        self._ask_to_stop(children)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in children:
            if child.wait(max(0.0, deadline - time.monotonic())) is None:
                child.signal(signal.SIGKILL)

    def _run(self) -> list[RunStatus]:
        for status in self.statuses:
            self._classify(status)
        free = list(self.slots)
        with self.display:
            while self._active():
                self._handle_suspend()
                self._handle_stop()
                free += self._reap()
                if not self.stop_level and not self.abort_reason:
                    free = self._start_queued(free)
                self._check_waiting()
                self._check_stopped()
                self.display.update(self.statuses)
                if self._active():
                    self._wait_for_change()
            for status in self.statuses:  # never started: stopped or aborted before their turn
                if status.state == RunState.QUEUED:
                    status.state, status.note = status.spec.state(), "not started in this sweep"
            self.display.update(self.statuses)
        return self.statuses

    def _wait_for_change(self) -> None:
        """Up to POLL_SECONDS, but no longer than until a child ends: its slot is refilled at once."""
        sentinels = [child.sentinel for child in self._children()]
        if sentinels:
            multiprocessing.connection.wait(sentinels, POLL_SECONDS)
        else:
            time.sleep(POLL_SECONDS)

    def _active(self) -> bool:
        running = any(s.child is not None for s in self.statuses)
        if self.stop_level or self.abort_reason:
            return running
        return running or any(s.state in (RunState.QUEUED, RunState.RUNNING) for s in self.statuses)

    def _classify(self, status: RunStatus) -> None:
        state = status.spec.state()
        reason = skip_reason(status.spec, state, self.retry_failed)
        if reason:
            status.state, status.note = state, reason
        elif state == RunState.RUNNING:
            status.state, status.note = state, WAITING_NOTE
        else:
            status.state = RunState.QUEUED

    def _start_queued(self, free: list[Slot]) -> list[Slot]:
        for status in [s for s in self.statuses if s.state == RunState.QUEUED]:
            if not free:
                break
            slot = free.pop(0)
            if not self._start(status, slot):
                free.insert(0, slot)
        return free

    def _start(self, status: RunStatus, slot: Slot) -> bool:
        spec, run = status.spec, RunDir(status.spec.run_dir)
        try:
            run.path.mkdir(parents=True, exist_ok=True)
            self._classify(status)  # another runner may have finished or taken it meanwhile
            if status.state != RunState.QUEUED:
                return False
            run.failure_file.unlink(missing_ok=True)
            launch = launch_options(slot, self.template)
            with open(run.log_file, "a") as log:
                log.write(
                    f"=== {datetime.datetime.now().isoformat(timespec='seconds')} on {slot.device}: "
                    f"{slot.shell_prefix()} {shlex.join(spec.command(launch))}\n"
                )
            status.child = self.launcher.train(spec.arguments(launch), run.log_file, slot.env)
        except OSError as exc:
            self._failed(status, None, f"cannot start: {describe_os_error(exc)}")
            return False
        status.state, status.slot, status.started, status.note = RunState.RUNNING, slot, time.monotonic(), ""
        return True

    def _reap(self) -> list[Slot]:
        freed = []
        for status in self.statuses:
            if status.child is None or status.child.poll() is None:
                continue
            code = status.child.poll()
            status.child, status.exit_code, status.ended = None, code, time.monotonic()
            on_disk = status.spec.state()
            state = state_after_exit(code, on_disk, stopped=self.stop_level > 0)
            assert status.slot is not None
            freed.append(status.slot)
            if code == LOST_STATUS and not on_disk.finished and not self.stop_level:
                # it stops as its parent died, and may still be checkpointing: wait, then resume it here
                status.state, status.note = RunState.RUNNING, LOST_NOTE
                self.display.message(f"{status.spec.label}: {status.note}")
            elif state == RunState.FAILED:
                self._failed(status, code)
            elif state == RunState.RUNNING:
                status.state, status.note = state, WAITING_NOTE
            else:
                self._ended(status, state)
        return freed

    def _ended(self, status: RunStatus, state: RunState) -> None:
        """A run finished or was interrupted; a finished one ends a streak of failures."""
        status.state = state
        status.note = "stopped; the same command resumes it" if state == RunState.INTERRUPTED else ""
        if state.finished:
            self.successes += 1
            self.failing = []

    def _failed(self, status: RunStatus, code: int | None, reason: str = "") -> None:
        record = record_failure(status.spec, code, reason)
        status.state = RunState.FAILED
        exit_words = describe_exit(code) if code is not None else record["reason"]
        status.note = exit_words if record["reason"] == exit_words else f"{exit_words}: {record['reason']}"
        self.display.message(f"failed: {status.spec.label}: {status.note}", live_only=True)
        arm = status.spec.arm.parent or status.spec.arm.name  # an arm's tuning runs are that arm's
        self.failing.append((any_runs_reason(record["reason"], status.spec), arm))
        self._stop_queue_if_failing_alike()

    def _stop_queue_if_failing_alike(self) -> None:
        """The last runs all failed with one error, and more wait in the queue: they would fail alike. Once
        runs finished, only if the failures span arms: one arm's seeds failing alike is that arm's problem,
        and the other arms go on."""
        last = self.failing[-SAME_FAILURES_TO_STOP:]
        arms = {arm for _, arm in last}
        alike = len(last) == SAME_FAILURES_TO_STOP and len({reason for reason, _ in last}) == 1
        queued = any(s.state == RunState.QUEUED for s in self.statuses)
        if alike and (not self.successes or len(arms) > 1) and queued and not self.abort_reason:
            of_arms = f", of {plural(len(arms), 'arm')}," if self.successes else ""
            self.abort_reason = (
                f"{SAME_FAILURES_TO_STOP} runs in a row{of_arms} failed with the same error; stopped "
                "queueing the others: fix it, then run the same command with --retry-failed"
            )
            self.display.update(self.statuses)  # the third failure's line first, then why the queue stops
            self.display.message(f"stopping: {self.abort_reason}")

    def _check_waiting(self) -> None:
        for status in self.statuses:
            if (
                status.state == RunState.RUNNING
                and status.child is None
                and not self.stop_level
                and not RunDir(status.spec.run_dir).is_locked()
            ):
                self._classify(status)
                if status.state.finished:
                    status.note = "finished by another process"

    def _check_stopped(self) -> None:
        """A run stopped from outside (kill -STOP, a debugger) would sit as 'running' for good: say so."""
        for status in self.statuses:
            if status.child is not None:
                note = STOPPED_NOTE.format(pid=status.child.pid)
                if status.child.stopped():
                    status.note = note
                elif status.note == note:
                    status.note = ""

    def _handle_suspend(self) -> None:
        """The runs lead process groups of their own, out of reach of the terminal's Ctrl-Z: stop them,
        stop the sweep as Ctrl-Z would have, and continue them when the sweep is continued. Should the
        sweep die while stopped, the kernel continues and hangs up the stopped runs (their process group
        is orphaned then), and they checkpoint and stop as on any hang-up."""
        if not self.suspend_requested:
            return
        self.suspend_requested = False
        children = self._children()
        for child in children:
            child.signal(signal.SIGSTOP)
        runs = plural(len(children), "run")
        paused_at = time.monotonic()
        with self.display.paused(f"paused: this sweep and its {runs} stopped; fg or bg continues them"):
            stop_this_process()
        if self.stop_started is not None:  # the grace to checkpoint after Ctrl-C counts running time only
            self.stop_started += time.monotonic() - paused_at
        for child in children:
            child.signal(signal.SIGCONT)
        self.display.message(f"continued: {runs}")

    def _handle_stop(self) -> None:
        if not self.stop_level:
            return
        children = self._children()
        if self.stop_started is None:
            self.stop_started = time.monotonic()
            self._ask_to_stop(children)  # first: whatever becomes of the output, the runs are told
            self.display.message(
                "stopping: every run writes a checkpoint and stops (Ctrl-C again to stop them at once)"
            )
        late = time.monotonic() - self.stop_started > STOP_GRACE_SECONDS
        if (self.stop_level >= 2 or late) and not self.killed:
            self.killed = True
            for child in children:
                child.signal(signal.SIGKILL)
