"""Which code produced a result: the git commit of the checkout holding this package.

Also whether it had uncommitted changes. Recorded by `bantar-sim run`, the calibration and every batch
manifest.
"""
from __future__ import annotations

import subprocess
from pathlib import Path


def git_state() -> tuple[str, bool | None]:
    """The git state of the repository holding this package.

    Returns
    -------
    tuple of (str, bool or None)
        ``(commit, dirty)``; ``("unknown", None)`` when the package is not in a git checkout (an
        installed wheel) or git is missing. ``dirty`` counts tracked changes anywhere in the checkout.
    """
    here = Path(__file__).resolve().parent
    try:
        r = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            return "unknown", None
        commit = r.stdout.strip()
        s = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, timeout=10)
        return commit, (bool(s.stdout.strip()) if s.returncode == 0 else None)
    except (OSError, subprocess.SubprocessError):
        return "unknown", None


def git_commit() -> str:
    """The commit as one string, with ``"+dirty"`` when the checkout had uncommitted changes.

    Returns
    -------
    str
        E.g. ``"90cac3e...+dirty"`` or ``"unknown"``.
    """
    commit, dirty = git_state()
    return commit + ("+dirty" if dirty else "")
