"""The sweep's live view: a rich table on a terminal, plain timestamped lines in a log.

Each running run shows its epoch fraction, images/s and ETA from its progress.json (written every few
seconds by the run), so a long first epoch is never a silent 'running'. Without a terminal, a line per
state change and, for running runs, at most one progress line every 30 s. A failure's reason is
wrapped, never cut.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from resnet.progress import format_seconds
from resnet.states import RunState

if TYPE_CHECKING:
    from resnet.runner import RunStatus

LINE_EVERY_S = 30.0


class SweepDisplay:
    def __init__(self, live: bool | None = None, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self._live: Any = None
        self._seen: dict[str, tuple] = {}
        self._last_line: dict[str, float] = {}

    def __enter__(self) -> SweepDisplay:
        if self.live:
            from rich.live import Live

            self._live = Live(refresh_per_second=2, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live:
            self._live.__exit__(None, None, None)

    def message(self, text: str, live_only: bool = False) -> None:
        """A line above the live table; `live_only`: one the plain lines already say in full."""
        if self._live:
            self._live.console.print(text, soft_wrap=True)
        elif not live_only:
            print(f"{time.strftime('%H:%M:%S')} {text}", file=self.stream, flush=True)

    def update(self, statuses: list[RunStatus]) -> None:
        rows = [
            (s, s.progress() if s.state in (RunState.RUNNING, RunState.COMPLETED, RunState.DIVERGED) else {})
            for s in statuses
        ]
        if self._live:
            self._live.update(self._table(rows))
            return
        now = time.monotonic()
        for status, info in rows:
            key = (status.state, int(info.get("epochs", 0)), status.note)
            due = (
                status.state == RunState.RUNNING
                and now - self._last_line.get(status.spec.label, now) >= LINE_EVERY_S
            )
            if self._seen.get(status.spec.label) != key or due:
                self._seen[status.spec.label] = key
                self._last_line[status.spec.label] = now
                if status.state != RunState.QUEUED:
                    print(self._line(status, info), file=self.stream, flush=True)

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

    def _table(self, rows: list[tuple[RunStatus, dict[str, Any]]]) -> Any:
        from rich.table import Table

        table = Table(title="sweep", title_justify="left")
        for column in ("run", "state", "device", "epoch", "acc", "img/s", "ETA"):
            table.add_column(
                column,
                justify="right" if column in ("epoch", "acc", "img/s", "ETA") else "left",
                no_wrap=column != "run",
                overflow="fold",
            )
        # wrapped, never cut; failures also print whole
        table.add_column("note", overflow="fold", min_width=12)
        colours = {
            RunState.RUNNING: "cyan",
            RunState.COMPLETED: "green",
            RunState.FAILED: "red",
            RunState.DIVERGED: "yellow",
            RunState.INTERRUPTED: "magenta",
        }
        for status, info in rows:
            colour = colours.get(status.state)
            state = f"[{colour}]{status.state}" if colour else str(status.state)
            acc = info.get("acc")
            table.add_row(
                status.spec.label,
                state,
                status.slot.device if status.slot else "",
                f"{info.get('epochs', 0):.2f}/{status.spec.config.epochs}",
                "" if acc is None else f"{acc:.2f}% {info['split']}",
                f"{info['ips']:,.0f}" if info.get("ips") else "",
                format_seconds(info.get("eta")) if status.state == RunState.RUNNING else "",
                status.note,
            )
        return table
