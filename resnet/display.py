"""The sweep's live view: a rich table on a terminal, plain timestamped lines in a log.

Each running run shows its epoch fraction, images/s and ETA from its progress.json (written every few
seconds by the run), so a long first epoch is never a silent 'running'; under the table, the sweep's time
left (resnet.cost.TimeLeft). Without a terminal, a line per state change, the time left when a run ends,
and, for running runs, at most one progress line every 30 s (however short the epochs).
A failure's reason is wrapped, never cut (and printed whole above the table when it happens). On a
screen too small for every run, running and failed runs are shown first and the rest summed up in one
row; on one too narrow for every column, whole columns go (images/s first) before any cell is cut.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from resnet.states import RunState
from resnet.words import format_seconds

if TYPE_CHECKING:
    from resnet.cost import TimeLeft
    from resnet.run_status import RunStatus

LINE_EVERY_S = 30.0
NOTHING_ON_DISK = (RunState.PENDING, RunState.QUEUED, RunState.CONFLICT)  # no progress to read


def verbatim(text: str) -> Any:
    """`text` for rich as it is: brackets in a failure's reason or a description are no markup ('[b]' was
    eaten, a '[/x]' raised), and a child's colour codes are styles, not escapes on the terminal."""
    from rich.text import Text

    return Text.from_ansi(text)


class SweepDisplay:
    """Output that can fail (a terminal that hung up: EIO; a reader that went away: EPIPE) turns the view
    off and never the sweep: its runs must still be stopped, or finish, and the table written."""

    def __init__(
        self, live: bool | None = None, stream: TextIO | None = None, time_left: TimeLeft | None = None
    ):
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.time_left = time_left
        self._live: Any = None
        self._seen: dict[str, tuple] = {}
        self._last_line: dict[str, float] = {}
        self._left_said_at = (-1, "")  # the finished-run count and the time left when last printed
        self.gone = False  # the output failed: nothing more is written

    def __enter__(self) -> SweepDisplay:
        if self.live and not self.gone:
            from rich.live import Live

            self._live = Live(refresh_per_second=2, transient=False)
            self._write(self._live.__enter__)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live:
            live, self._live = self._live, None
            self._write(lambda: live.__exit__(None, None, None))

    def _write(self, output: Callable[[], object]) -> None:
        if self.gone:
            return
        try:
            output()
        except OSError:
            self.gone = True
            if self._live:  # stop its refresh thread; its last frame cannot be drawn
                live, self._live = self._live, None
                with contextlib.suppress(Exception):
                    live.stop()

    @contextlib.contextmanager
    def paused(self, text: str):
        """The terminal handed back (cursor shown, the table left as it was) while the sweep is stopped;
        then a fresh table below whatever the shell printed meanwhile."""
        self.message(text)
        if not self._live:
            yield
            return
        self.__exit__()
        try:
            yield
        finally:
            self.__enter__()

    def message(self, text: str, live_only: bool = False) -> None:
        """A line above the live table; `live_only`: one the plain lines already say in full."""
        if self._live:
            live = self._live
            self._write(lambda: live.console.print(verbatim(text), soft_wrap=True))
        elif not live_only:
            self._print(f"{time.strftime('%H:%M:%S')} {text}")

    def _print(self, line: str) -> None:
        self._write(lambda: print(line, file=self.stream, flush=True))

    def update(self, statuses: list[RunStatus]) -> None:
        if self.gone:
            return
        rows = [(s, s.progress() if s.state not in NOTHING_ON_DISK else {}) for s in statuses]
        left = self.time_left.words(rows) if self.time_left else ""
        if self._live:
            live = self._live
            self._write(lambda: live.update(sweep_table(rows, live.console, left)))
            return
        now = time.monotonic()
        for status, info in rows:
            key = (status.state, status.note)  # progress alone waits its turn: a log, not a stream
            due = (
                status.state == RunState.RUNNING
                and now - self._last_line.get(status.spec.label, now) >= LINE_EVERY_S
            )
            if self._seen.get(status.spec.label) != key or due:
                self._seen[status.spec.label] = key
                self._last_line[status.spec.label] = now
                if status.state != RunState.QUEUED:
                    self._print(self._line(status, info))
        if self.time_left is not None and left:  # once per run that ended, and only news
            said = (self.time_left.finished, left)
            if said[0] != self._left_said_at[0] and said[1] != self._left_said_at[1]:
                self._left_said_at = said
                self._print(f"{time.strftime('%H:%M:%S')} sweep: {left}")

    def _line(self, status: RunStatus, info: dict[str, Any]) -> str:
        parts = [time.strftime("%H:%M:%S"), status.spec.label, str(status.state)]
        if status.slot:
            parts.append(f"on {status.slot.device}")
        epochs = status.spec.config.epochs
        if info.get("epochs"):
            parts.append(f"epoch {info['epochs']:.2f}/{epochs}")
        if info.get("acc") is not None:
            parts.append(f"{info['split']} acc {info['acc']:.2f}%")
        if info.get("ips"):
            parts.append(f"{info['ips']:,.0f} img/s")
        if status.state == RunState.RUNNING and info.get("eta") is not None:
            parts.append(f"ETA {format_seconds(info['eta'])}")
        if status.note:
            parts.append(status.note)
        return " | ".join(parts)


# the live table: most urgent first when not every run fits on the screen
URGENCY = [RunState.RUNNING, RunState.FAILED, RunState.DIVERGED, RunState.INTERRUPTED, RunState.QUEUED]
COLOURS = {
    RunState.RUNNING: "cyan",
    RunState.COMPLETED: "green",
    RunState.FAILED: "red",
    RunState.DIVERGED: "yellow",
    RunState.INTERRUPTED: "magenta",
    RunState.UNVERIFIED: "magenta",
}


def rows_that_fit(rows: list, room: int) -> tuple[list, Counter]:
    """At most `room` rows, running and failed runs first, in plan order; and the states of the rest."""
    if len(rows) <= room:
        return rows, Counter()
    ranked = sorted(range(len(rows)), key=lambda i: _urgency(rows[i][0].state))
    shown = sorted(ranked[: room - 1])  # one row says what is left out
    return [rows[i] for i in shown], Counter(str(rows[i][0].state) for i in ranked[room - 1 :])


def _urgency(state: RunState) -> int:
    return URGENCY.index(state) if state in URGENCY else len(URGENCY)


def sweep_table(rows: list[tuple[RunStatus, dict[str, Any]]], console: Any, left: str = "") -> Any:
    """The table for `console`'s screen, messages above it left room for: as many rows as fit (a wrapped
    note takes several lines), the rest summed up in one; `left`, the sweep's time left, under it."""
    limit = max(6, console.size.height - 4)
    room = min(len(rows), limit)  # each run takes a line at least: more never fit
    columns = _columns_that_fit(rows, console, limit)
    while True:
        table = _build_table(rows, room, columns)
        table.caption, table.caption_justify = left or None, "left"
        lines = len(console.render_lines(table, console.options.update(height=None), pad=False))
        if lines <= limit or room <= 3:
            return table
        room = max(3, room - (lines - limit))


# On a screen too narrow for every column, these go first, in this order, rather than every cell being
# cut to an ellipsis ('complet…'): the run and its state always show, and progress longest.
DROPPED_WHEN_NARROW = ("img/s", "acc", "ETA", "epoch")


def _columns_that_fit(rows: list[tuple[RunStatus, dict[str, Any]]], console: Any, room: int) -> list[str]:
    """Measured on the rows a screen of `room` lines shows at most: the rest never widen a column (and a
    sweep of hundreds of runs would measure them all at every refresh)."""
    from rich.measure import Measurement

    devices = {status.slot.device for status, _ in rows if status.slot}
    columns = ["run", "state", "device", "epoch", "acc", "img/s", "ETA"]
    if len(devices) <= 1:
        columns.remove("device")  # in the title
    for column in DROPPED_WHEN_NARROW:
        table = _build_table(rows, room, columns)
        if Measurement.get(console, console.options.update_width(10**4), table).minimum <= console.width:
            break
        columns.remove(column)
    return columns


def _build_table(rows: list[tuple[RunStatus, dict[str, Any]]], room: int, columns: list[str]) -> Any:
    """One line per run where possible: no vertical rules, the run's label never wrapped; the note (a
    failure's reason) wraps, never cut."""
    from rich import box
    from rich.table import Table

    devices = sorted({status.slot.device for status, _ in rows if status.slot})
    table = Table(
        title=f"sweep on {devices[0]}" if len(devices) == 1 else "sweep",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    for column in columns:
        justify = "left" if column in ("run", "state", "device") else "right"
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    table.add_column("note", overflow="fold", min_width=12)
    shown, rest = rows_that_fit(rows, room)
    for status, info in shown:
        colour = COLOURS.get(status.state)
        acc = info.get("acc")
        cells = {
            "run": status.spec.label,
            "state": f"[{colour}]{status.state}" if colour else str(status.state),
            "device": status.slot.device if status.slot else "",
            "epoch": f"{info.get('epochs', 0):.2f}/{status.spec.config.epochs}",
            "acc": "" if acc is None else f"{acc:.2f}% {info['split']}",
            "img/s": f"{info['ips']:,.0f}" if info.get("ips") else "",
            "ETA": format_seconds(info.get("eta")) if status.state == RunState.RUNNING else "",
        }
        table.add_row(*(cells[c] for c in columns), verbatim(status.note))
    if rest:
        more = ", ".join(f"{n} {state}" for state, n in sorted(rest.items()))
        table.add_row(f"… {sum(rest.values())} more", "", *[""] * (len(columns) - 2), more)
    return table
