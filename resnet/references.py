"""Published references: the numbers a preset's table row is checked against, as a suite's TOML gives them
(`reference = { best = 94.1, final = 94.0, source = "...", protocol = "..." }`). No torch import here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from resnet.errors import PresetError
from resnet.words import control_character


@dataclass(frozen=True)
class Reference:
    """A published number for a preset: test accuracy (%) at the best and/or the final epoch. `best` was
    chosen on the test split unless `best_selected_on` says "val": it is compared only with arms that chose
    their best epoch the same way (a test-selected best is optimistic; a val-selected one is not)."""

    source: str
    protocol: str
    best: float | None = None
    final: float | None = None
    best_selected_on: str = "test"


def parse_reference(data: Any, where: str) -> Reference:
    if not isinstance(data, dict):
        raise PresetError(
            f'{where}: reference must be a table like {{ final = 94.0, source = "...", protocol = "..." }}'
        )
    data = dict(data)
    named = {"best": "best", "final": "final"}  # how the TOML spelled each, for the messages
    if "value" in data:  # the short form: one published number, compared with the final accuracy
        if "final" in data:
            raise PresetError(f"{where}: reference gives both value and final (the same number); keep one")
        data["final"], named["final"] = data.pop("value"), "value"
    unknown = set(data) - {"best", "final", "source", "protocol", "best_selected_on"}
    if unknown:
        raise PresetError(
            f"{where}: unknown reference keys {sorted(unknown)}; allowed: best, final (or value), "
            "source, protocol, best_selected_on"
        )
    selected_on = data.get("best_selected_on", "test")
    if selected_on not in ("test", "val"):
        raise PresetError(f'{where}: reference best_selected_on must be "test" or "val", got {selected_on!r}')
    for key in ("source", "protocol"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise PresetError(
                f'{where}: reference needs {key} = "..." '
                "(where the number comes from, and how it was measured)"
            )
        if found := control_character(data[key]):
            raise PresetError(f"{where}: reference {key} holds a control character ({found}); remove it")
    numbers = {k: data.get(k) for k in ("best", "final")}
    if all(v is None for v in numbers.values()):
        raise PresetError(
            f"{where}: reference needs best = ACCURACY or final = ACCURACY (test accuracy in %)"
        )
    for key, value in numbers.items():
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100
        ):
            raise PresetError(
                f"{where}: reference {named[key]} must be a test accuracy in % (0-100), got {value!r}"
            )
    best, final = (None if v is None else float(v) for v in numbers.values())
    return Reference(data["source"], data["protocol"], best, final, selected_on)
