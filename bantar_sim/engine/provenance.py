"""Which code produced a result: the git commit of the checkout holding this package, and whether it had
uncommitted changes. Recorded by `bantar-sim run`, the calibration and every batch manifest."""
from __future__ import annotations

import subprocess
from pathlib import Path


def git_state() -> tuple[str, bool | None]:
    """(commit, dirty) of the repository holding this package; ("unknown", None) if not a git checkout."""
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
    """The commit as one string, with "+dirty" when the checkout had uncommitted changes."""
    commit, dirty = git_state()
    return commit + ("+dirty" if dirty else "")
