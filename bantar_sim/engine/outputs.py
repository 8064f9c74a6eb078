"""Result folders written all at once, or not at all, by one writer at a time.

Every command that writes a folder of results (`run`, `experiment`, `sensitivity`, `calibrate`) writes it
through :func:`output_folder`: the files go into a hidden staging sibling, and only when all of them are
complete does the staging folder replace the old one (renames, which need no disk space). A failure at any
point, a full disk included, removes the staging folder and leaves the previous results exactly as they
were. A lock file beside the folder keeps a second writer out, with a message naming the holder.

A study that keeps a resumable batch store inside its folder (``runs/``) names it in ``keep``: the store
has its own lock and atomic parts (:mod:`bantar_sim.engine.batch`) and is carried over into the new folder.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import shutil
import socket
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from bantar_sim.engine.executors import pid_alive


class OutputLockedError(RuntimeError):
    """Another process is writing the same output folder."""


class OutputFolderError(ValueError):
    """The output folder named by the user cannot be written (an existing file, a read-only place): bad input."""


class OutputWriteError(RuntimeError):
    """Writing the results failed part-way (disk full, ...); the previous results are unchanged."""


def _lock_path(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


def check_output_folder(path: str | Path, flag: str = "--out") -> Path:
    """Refuse, before any work, a folder that cannot be written; return it as a Path.

    Parameters
    ----------
    path : str or Path
        The output folder (it may not exist yet).
    flag : str
        How the user named it, for the message.

    Raises
    ------
    OutputFolderError
        ``path`` is an existing file, or the nearest existing ancestor is not a writable folder.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputFolderError(f"{flag} {path}: is an existing file; allowed: a folder (new or existing)")
    probe = path if path.exists() else next((a for a in path.absolute().parents if a.exists()), Path("/"))
    if not probe.is_dir():
        raise OutputFolderError(f"{flag} {path}: {probe} is not a folder; allowed: a folder path")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputFolderError(f"{flag} {path}: {probe} is not writable; allowed: a folder you can write to")
    if path.exists() and not os.access(path.parent, os.W_OK | os.X_OK):
        raise OutputFolderError(f"{flag} {path}: its parent {path.parent} is not writable (the folder is replaced "
                                "as a whole); allowed: a folder whose parent you can write to")
    return path


@contextlib.contextmanager
def folder_lock(path: str | Path, what: str = "output folder") -> Iterator[Path]:
    """Hold ``.<name>.lock`` beside ``path`` for the duration of the block.

    A lock left by a process that no longer runs (same host) is taken over; a live holder raises
    :class:`OutputLockedError` naming its pid, host, start time and command.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = _lock_path(path)
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": dt.datetime.now(dt.UTC).isoformat(
        timespec="seconds"), "command": " ".join(Path(sys.argv[0]).name.split() + sys.argv[1:])[:300]}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = json.loads(lock.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                holder = {}
            pid = holder.get("pid")
            if isinstance(pid, int) and holder.get("host") == info["host"] and not pid_alive(pid):
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
                continue
            raise OutputLockedError(
                f"{what} {path} is being written by another process (pid {holder.get('pid', '?')} on "
                f"{holder.get('host', '?')} since {holder.get('since', '?')}: {holder.get('command', '?')}); "
                f"wait for it to finish, or remove {lock} if that process is gone") from None
        else:
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(info, f)
            except OSError as err:
                # A full disk: an empty lock left behind would lock every later writer out.
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
                raise OutputWriteError(_describe_os_error(err, path)) from None
            break
    try:
        yield lock
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def _why(err: OSError) -> str:
    if err.errno == errno.ENOSPC:
        return "no space left on device"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied"
    return err.strerror or str(err)


def _describe_os_error(err: OSError, path: Path) -> str:
    return f"writing {path} failed: {_why(err)}; the previous contents of {path} are unchanged"


@contextlib.contextmanager
def store_writes(store: str | Path, path: str | Path) -> Iterator[None]:
    """Name a failure to write the batch store ``store`` (kept in the result folder ``path``) in one line.

    Use it around :func:`bantar_sim.engine.batch.run_batch` inside :func:`output_folder`: the store's parts
    are written atomically and in place, so a full disk mid-batch keeps the runs finished before it (a rerun
    resumes them) while the rest of ``path`` stays as it was. Without it the message would claim the
    whole folder unchanged.

    Raises
    ------
    OutputWriteError
        Writing the store failed (an ``OSError``: disk full, permission, ...).
    """
    try:
        yield
    except OSError as err:
        raise OutputWriteError(
            f"writing the batch store {store} failed: {_why(err)}; the runs finished before are kept (rerun the "
            f"same command to resume) and the previous contents of {path} are unchanged") from None


@contextlib.contextmanager
def output_folder(path: str | Path, *, keep: Sequence[str] = (), flag: str = "--out",
                  locked: bool = True) -> Iterator[Path]:
    """Write a result folder atomically: yield a staging folder, then swap it in.

    Parameters
    ----------
    path : str or Path
        The result folder to (re)place.
    keep : sequence of str
        Entries of the existing folder to carry over into the new one (e.g. the batch store ``runs``),
        which the caller may have updated in place meanwhile.
    flag : str
        How the user named the folder, for messages.
    locked : bool
        Hold :func:`folder_lock` while writing (callers that already hold it pass False).

    Yields
    ------
    Path
        The staging folder to write every file into.

    Raises
    ------
    OutputLockedError
        Another process writes the same folder.
    OutputFolderError
        The folder cannot be written (checked before anything is written).
    OutputWriteError
        Writing failed part-way; the previous results are left as they were.
    """
    path = check_output_folder(path, flag)
    with folder_lock(path) if locked else contextlib.nullcontext():
        stage = path.parent / f".{path.name}.staging-{os.getpid()}"
        old = path.parent / f".{path.name}.old-{os.getpid()}"
        for leftover in (stage, old):
            shutil.rmtree(leftover, ignore_errors=True)
        try:
            stage.mkdir(parents=True)
            yield stage
            for name in keep:
                if (path / name).exists() and not (stage / name).exists():
                    os.replace(path / name, stage / name)
            if path.exists():
                os.replace(path, old)
            os.replace(stage, path)
        except OSError as err:
            if old.exists() and not path.exists():
                os.replace(old, path)
            for name in keep:
                if (stage / name).exists() and path.exists() and not (path / name).exists():
                    os.replace(stage / name, path / name)
            shutil.rmtree(stage, ignore_errors=True)
            raise OutputWriteError(_describe_os_error(err, path)) from None
        except BaseException:
            for name in keep:
                if (stage / name).exists() and path.exists() and not (path / name).exists():
                    os.replace(stage / name, path / name)
            shutil.rmtree(stage, ignore_errors=True)
            raise
        shutil.rmtree(old, ignore_errors=True)


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write a file through a temporary sibling and a rename (never a half-written file)."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a UTF-8 text file through a temporary sibling and a rename (never a half-written file)."""
    write_bytes_atomic(path, text.encode("utf-8"))
