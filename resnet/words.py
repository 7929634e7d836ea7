"""How numbers and text read in messages and tables: counts with their nouns, durations, text fit to
print. Standard library only, so every module may use it."""

from __future__ import annotations


def _is_control(ch: str) -> bool:
    return (ord(ch) < 32 and ch not in "\n\t") or 127 <= ord(ch) < 160


def control_character(text: str) -> str | None:
    """The first control character in `text` (newlines and tabs aside), as repr writes it: a suite's
    description or source reaches the Markdown verbatim, where an escape code would clear the terminal
    that cats it."""
    found = next((ch for ch in text if _is_control(ch)), None)
    return None if found is None else repr(found)


def printable(text: str) -> str:
    """`text` with each control character written as its escape ('\\x1b'): a directory name the report
    quotes may hold any byte but '/'."""
    return "".join(repr(ch)[1:-1] if _is_control(ch) else ch for ch in text)


def flag(name: str) -> str:
    """The command-line flag of a field or an argument's dest: 'jobs_per_gpu' -> '--jobs-per-gpu'."""
    return "--" + name.replace("_", "-")


def plural(count: int, noun: str) -> str:
    """'1 run', '3 runs' (nouns with a plain -s plural only)."""
    return f"{count} {noun}{'s' * (count != 1)}"


def listed(noun: str, items: tuple[int, ...] | list[int]) -> str:
    """'seed 0', 'seeds 0, 1' (nouns with a plain -s plural only)."""
    return f"{noun}{'s' * (len(items) != 1)} {', '.join(map(str, items))}"


def format_seconds(seconds: float | None) -> str:
    """'0m07s', '12m30s', '3h05m'; '' for an unknown duration. Rounded, and a positive one to at least a
    second: 'about 0m00s of training' would read as nothing to do."""
    if seconds is None:
        return ""
    minutes, secs = divmod(max(round(seconds), 1 if seconds > 0 else 0), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
