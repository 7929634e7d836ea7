"""Which code ran: this package's version and git commit, and the versions of what it runs on, found
without importing torch (so `--version` answers at once). Run records (resnet.runtime) use the same."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from resnet.files import PROJECT_ROOT
from resnet.machine import command_output


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_commit(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """HEAD of the repository that tracks this code, and whether this code (root's subtree) had uncommitted
    changes. Only when git tracks our own files there: a checkout, or a copy vendored into a larger
    repository, is that commit's code; a package installed in a venv inside some repository is not (its
    version is recorded instead: resnet.runtime.environment)."""

    def git(*args: str) -> str | None:
        out = command_output(["git", "-C", str(root), *args])
        return out.strip() if out is not None else None

    tracked = git("ls-files", "--error-unmatch", "--", "resnet/__init__.py") is not None
    commit = git("rev-parse", "HEAD") if tracked else None
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".") if commit else None
    return {"commit": commit, "dirty": bool(dirty) if commit else None}


def version_line() -> str:
    """'resnet-ablations 0.2.0 (git 35243d5a1b), torch 2.14.1, torchvision 0.29.1, Python 3.11.7'."""
    git = git_commit()
    where = "no git checkout"
    if git["commit"]:
        where = f"git {git['commit'][:10]}" + (" with uncommitted changes" if git["dirty"] else "")
    own = package_version("resnet-ablations") or "(not installed)"
    others = ", ".join(f"{name} {package_version(name) or 'missing'}" for name in ("torch", "torchvision"))
    return f"resnet-ablations {own} ({where}), {others}, Python {platform.python_version()}"
