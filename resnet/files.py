"""Files: the project root, atomic writes, strict JSON, and OS errors told in one line.

Every JSON file is strict (NaN and infinities are written as null) and written atomically (temp file,
fsync, rename), so a crash or a full disk never leaves half a file and the temp file never stays.
Files are created with os.open(..., 0o666), so they get the user's umask, as any other program's would
(tempfile.mkstemp would make them 0600).
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
import uuid
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class DamagedFile(ValueError):
    """A file that exists but cannot be read as what it should be (torn, binary, not UTF-8)."""


NAME_MAX = 255  # bytes in one name of a path (Linux, macOS)
PATH_BUDGET = 3500  # bytes of a path given: a suite, arm and run file go below it, within Linux's 4,096


def path_too_long(text: str) -> str | None:
    """Why a path a user gave is too long for the file system, or None: checked where it is given, as every
    later exists() on it would raise ENAMETOOLONG."""
    longest = max(Path(text).parts or (text,), key=lambda part: len(os.fsencode(part)))
    if (size := len(os.fsencode(longest))) > NAME_MAX:
        return f"a name in the path is {size} bytes ({longest[:24]}...); file systems allow {NAME_MAX}"
    if (size := len(os.fsencode(os.path.abspath(text)))) > PATH_BUDGET:
        return (
            f"the path is {size:,} bytes long; keep it under {PATH_BUDGET:,} (runs and their files go below "
            "it; Linux allows 4,096 in all)"
        )
    return None


def describe_os_error(exc: OSError, path: Path | str | None = None) -> str:
    """'no space left on device (PATH)' and friends: what the OS said, where, in words a user knows."""
    where = path or exc.filename or ""
    reasons = {
        errno.ENOSPC: "no space left on device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EROFS: "read-only file system",
        errno.ENOTDIR: "a path component is a file, not a directory",
        errno.EISDIR: "is a directory, not a file",
        errno.ENOENT: "no such file or directory",
        errno.EEXIST: "exists but is not a directory",  # mkdir where a file or a broken link is
    }
    reason = reasons.get(exc.errno or 0, exc.strerror or type(exc).__name__)
    if exc.errno == errno.EEXIST and exc.filename and os.path.islink(exc.filename):
        link = os.fsdecode(exc.filename)
        reason = f"{link} is {symlink_words(link)}"
    return f"{reason} ({where})" if where else reason


def symlink_words(link: str | Path) -> str:
    """Where a symlink leads and what is (or is not) there: why it is no directory to write in, or to
    read runs from. 'a symlink to /mnt/x, which does not exist'."""
    try:
        target = os.readlink(link)
    except OSError as exc:
        return f"a symlink that cannot be read ({exc.strerror})"
    try:
        os.stat(link)
        what = "which is not a directory"
    except OSError as exc:
        what = (
            "which leads back to itself (a loop of links)"
            if exc.errno == errno.ELOOP
            else "which does not exist (a disk not mounted, or moved?)"
        )
    return f"a symlink to {target}, {what}"


def write_synced(path: Path | str, data: str | bytes) -> None:
    """Create (or truncate) `path` with the user's umask, write `data`, fsync: the one way files are
    written. Text is UTF-8; a file name in it that is not (Python's surrogate escapes) shows as '?', as
    on the terminal."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data.encode(errors="replace") if isinstance(data, str) else data)
        fh.flush()
        os.fsync(fh.fileno())


def write_atomic(path: Path | str, data: str | bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one, never a part; on any
    failure (a full disk, say) the temp file is removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        write_synced(tmp, data)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):  # name the file being written, not its temp name
            exc.filename, exc.filename2 = str(path), None
        raise


def strict(obj: Any) -> Any:
    """obj with every non-finite float replaced by None: what strict JSON parsers accept."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    return obj


def json_text(obj: Any, indent: int | None = 2) -> str:
    return json.dumps(strict(obj), indent=indent, sort_keys=indent is not None, allow_nan=False)


def write_json(path: Path | str, obj: Any) -> None:
    write_atomic(path, json_text(obj) + "\n")


def read_file_bytes(path: Path | str) -> bytes:
    """The bytes of the regular file `path`. A FIFO or device where a run file belongs is a DamagedFile,
    not a read that waits forever (opened non-blocking, checked before reading)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DamagedFile(f"{path} is not a regular file")
        return fh.read()


def loads_json(text: str) -> Any:
    """json.loads, with what Python's parser takes but no caller could use told as malformed JSON (a
    JSONDecodeError that names it): nesting deeper than the parser goes (a RecursionError), and a lone
    surrogate escape such as \\udcff, which is no character (pydantic and every encoder refuse it)."""
    try:
        value = json.loads(text)
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise json.JSONDecodeError("arrays or objects nested too deeply", text, 0) from None
    except UnicodeEncodeError:
        raise json.JSONDecodeError("a \\u escape that is no character (a lone surrogate)", text, 0) from None
    return value


def load_json(path: Path | str) -> dict:
    """The JSON object in `path`. FileNotFoundError when absent, DamagedFile when it is not one."""
    try:
        text = read_file_bytes(path).decode("utf-8-sig")  # a hand-written config may begin with a BOM
        value = loads_json(text)
    except (NotADirectoryError, IsADirectoryError) as exc:
        raise FileNotFoundError(str(path)) from exc
    except UnicodeDecodeError:
        raise DamagedFile(f"{path} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise DamagedFile(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(value, dict):
        raise DamagedFile(f"{path} holds a JSON {type(value).__name__}, not an object")
    return value


def read_json(path: Path | str) -> dict | None:
    """The JSON object in `path`, or None when it is missing or damaged."""
    try:
        return load_json(path)
    except (OSError, DamagedFile):
        return None


def read_jsonl(path: Path | str) -> list[dict]:
    """Every complete record; reading stops at the first torn or damaged line (a crash mid-write)."""
    try:
        lines = read_file_bytes(path).split(b"\n")
    except (OSError, DamagedFile):
        return []
    records = []
    for line in lines:
        try:
            record = loads_json(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            break
        if not isinstance(record, dict):
            break
        records.append(record)
    return records


def jsonl_line(record: dict) -> str:
    return json_text(record, indent=None) + "\n"
