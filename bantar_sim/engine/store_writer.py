"""The writing side of the batch store (:mod:`bantar_sim.engine.storage` has the format and the readers).

:class:`StoreWriter` is the one writer of a store: it holds the lock, verifies the store when it opens
(recording bad parts as dropped and deleting their files and any uncommitted garbage), and writes each
group of finished runs (:class:`FinishedRun`) as one *part*: Parquet files written atomically (temp file,
fsync, ``os.replace``), then one manifest append that commits them (a part record with each file's size
and sha256, then one run record per run).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import socket
import time
import traceback as _traceback
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bantar_sim.engine.storage import (
    PART_RE,
    OutDirLockedError,
    iso_time,
    read_manifest,
    verify_manifest,
    warn_bad,
)
from bantar_sim.engine.task import RESERVED_COLUMNS, RunTask, json_default

__all__ = ["FinishedRun", "StoreWriter"]

FSYNC = True  # fsync part files, directories and manifest lines (durability against power loss)

# --- low-level writes --------------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    if not FSYNC or os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write_parquet(table: pa.Table, path: Path) -> dict:
    """Write ``table`` to ``path`` atomically; return its size and sha256 (of the bytes written)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    buf = sink.getvalue()
    digest = hashlib.sha256(memoryview(buf)).hexdigest()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(memoryview(buf))
            f.flush()
            if FSYNC:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return {"size": buf.size, "sha256": digest}


# --- runs waiting to be written ----------------------------------------------------------------
class FinishedRun:
    """A finished run (ok or failed) waiting to be written by a :class:`StoreWriter`.

    Parameters
    ----------
    task : RunTask
        The task.
    run_id : str
        Its run id.
    status : str
        ``"ok"`` or ``"failed"``.
    tables : dict of str to pandas.DataFrame
        Its tables (empty for a failed run).
    error, traceback : str, optional
        Why it failed.
    start, end, duration_s : float, optional
        When it ran (POSIX times) and for how long (seconds).
    host : str, optional
        The machine.
    pid : int, optional
        The worker process.
    """

    __slots__ = ("task", "run_id", "status", "tables", "error", "traceback", "start", "end", "duration_s",
                 "host", "pid", "n_cells")

    def __init__(self, task: RunTask, run_id: str, status: str, tables: dict | None = None,
                 error: str | None = None, traceback: str | None = None, start: float | None = None,
                 end: float | None = None, duration_s: float | None = None, host: str | None = None,
                 pid: int | None = None):
        self.task, self.run_id, self.status = task, run_id, status
        self.tables = tables or {}
        self.error, self.traceback = error, traceback
        self.start, self.end, self.duration_s = start, end if end is not None else time.time(), duration_s
        self.host, self.pid = host, pid
        self.n_cells = sum(df.shape[0] * max(df.shape[1], 1) for df in self.tables.values())

    def fail(self, error: str, tb: str | None = None) -> None:
        """Mark the run failed (e.g. a table that cannot be stored)."""
        self.status, self.error, self.traceback = "failed", error, tb

    def record(self, part: str, batch_id: str, prov: Mapping) -> dict:
        """The run's manifest record."""
        ok = self.status == "ok"
        return {
            "run_id": self.run_id, "status": self.status, "params": self.task.params, "seed": self.task.seed,
            "tags": self.task.tags, "package_version": prov["package_version"],
            "model_version": prov["model_version"], "git_commit": prov["git_commit"],
            "git_dirty": prov["git_dirty"], "start_time": iso_time(self.start), "end_time": iso_time(self.end),
            "duration_s": self.duration_s, "error": self.error, "traceback": self.traceback,
            "host": self.host, "pid": self.pid, "batch_id": batch_id, "part": part,
            "tables": {k: len(v) for k, v in self.tables.items()} if ok else {},
        }


def _tag_array(values: list, lengths: np.ndarray) -> pa.Array:
    vals = [json.dumps(v, sort_keys=True) if isinstance(v, (dict, list, tuple)) else v for v in values]
    arr = np.empty(len(vals), dtype=object)
    arr[:] = vals
    rep = np.repeat(arr, lengths)
    try:
        return pa.array(rep, from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed types across runs: store as text
        return pa.array([None if v is None else str(v) for v in rep], type=pa.string())


def _with_ids(table: pa.Table, group: list[FinishedRun], lengths: list[int]) -> pa.Table:
    lens = np.asarray(lengths, dtype=np.int64)
    ids = np.empty(len(group), dtype=object)
    ids[:] = [e.run_id for e in group]
    cols = [pa.array(np.repeat(ids, lens), type=pa.string())]
    names = ["run_id"]
    for key in dict.fromkeys(k for e in group for k in e.task.tags):
        cols.append(_tag_array([e.task.tags.get(key) for e in group], lens))
        names.append(key)
    return pa.Table.from_arrays(cols + table.columns, names=names + table.column_names,
                                metadata=table.schema.metadata)


def _build_part_tables(name: str, group: list[FinishedRun]) -> list[tuple[pa.Table, int]]:
    """Arrow table(s) for one table name of one part, each with its number of runs.

    Runs whose table cannot be stored are marked failed.
    """
    good: list[FinishedRun] = []
    for e in group:
        df = e.tables[name]
        clash = [c for c in df.columns if c in RESERVED_COLUMNS or c in e.task.tags]
        if clash:
            e.fail(f"ValueError: table {name!r} has column(s) {clash} that clash with the run_id/tag columns "
                   "the batch engine adds; rename them or the tags")
        else:
            good.append(e)
    good = [e for e in good if e.status == "ok"]
    if not good:
        return []
    frames = [e.tables[name] for e in good]
    try:  # fast path: one pandas concat and one conversion for the whole part
        cat = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        table = pa.Table.from_pandas(cat, preserve_index=False)
        return [(_with_ids(table, good, [len(f) for f in frames]), len(good))]
    except Exception:  # noqa: BLE001 - fall back to run by run to pin the failure on the right run
        pass
    converted: list[tuple[FinishedRun, pa.Table]] = []
    for e in good:
        try:
            converted.append((e, pa.Table.from_pandas(e.tables[name], preserve_index=False)))
        except Exception as exc:  # noqa: BLE001
            e.fail(f"{type(exc).__name__}: table {name!r} cannot be stored as Parquet: {exc}", _traceback.format_exc())
    # group runs with the same schema (differing column types across runs end up in separate files)
    groups: dict[pa.Schema, list[tuple[FinishedRun, pa.Table]]] = {}
    for e, t in converted:
        if e.status == "ok":
            groups.setdefault(t.schema.remove_metadata(), []).append((e, t))
    out = []
    for items in groups.values():
        t = pa.concat_tables([t for _, t in items])
        out.append((_with_ids(t, [e for e, _ in items], [x.num_rows for _, x in items]), len(items)))
    return out


# --- the writer --------------------------------------------------------------------------------
class StoreWriter:
    """The one writer of a batch store: holds its lock, knows which runs are done, writes parts.

    Opening verifies the store (:func:`verify_store`): parts with a bad file are recorded as dropped
    and deleted with every uncommitted file, and their runs are no longer done.

    Parameters
    ----------
    out_dir : Path
        The store (created if missing).
    provenance : mapping
        ``package_version``, ``model_version``, ``git_commit``, ``git_dirty`` for every run record.

    Attributes
    ----------
    ok_ids, failed_ids : set of str
        Run ids stored ok / recorded failed (and not since stored ok).
    check : StoreCheck
        What the verification at opening found.

    Raises
    ------
    OutDirLockedError
        Another writer holds the store.
    """

    def __init__(self, out_dir: Path, provenance: Mapping):
        self.path = Path(out_dir)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_fd = self._lock()
        self.provenance = dict(provenance)
        self.batch_id = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(3)}"
        self._seq = 0
        self._manifest_fd: int | None = None
        self._dirs_made: set[str] = set()
        try:
            m = read_manifest(self.path)
            self.check, final = verify_manifest(self.path, m)
            warn_bad(self.check)
            if self.check.bad_parts:
                reasons: dict[str, list[str]] = {}
                for b in self.check.bad_files:
                    reasons.setdefault(b.part, []).append(f"{b.path.relative_to(self.path)}: {b.reason}")
                lines = [json.dumps({"kind": "drop", "part": p, "reason": "; ".join(r), "batch_id": self.batch_id,
                                     "time": iso_time(time.time())}) for p, r in sorted(reasons.items())]
                self._append_manifest(("\n".join(lines) + "\n").encode())
            self.ok_ids = {rid for rid, r in final.items() if r["status"] == "ok"}
            self.failed_ids = {rid for rid, r in final.items() if r["status"] != "ok"} - self.check.lost_runs
            live = {r.get("part") for r in m.runs} - set(m.dropped) - self.check.bad_parts
            self._remove_garbage(live)
        except BaseException:
            self.close()
            raise

    def _lock(self) -> int | None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX: no cross-process lock
            return None
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
            os.close(fd)
            raise OutDirLockedError(
                f"{self.path} is being written by another run_batch ({holder or 'unknown process'}); "
                "wait for it to finish or use another out_dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        return fd

    def _remove_garbage(self, live_parts: set) -> None:
        """Delete temp files, and part files of parts that no manifest line commits or that were dropped."""
        for sub in self.path.iterdir():
            if not sub.is_dir() or sub.name == "manifest" or sub.name.startswith("."):
                continue
            for f in sub.iterdir():
                name = f.name
                if name.startswith(".") and ".parquet.tmp-" in name:
                    f.unlink(missing_ok=True)
                elif name.endswith(".parquet"):
                    part = name[: -len(".parquet")].split(".")[0]
                    if PART_RE.match(part) and part not in live_parts:
                        f.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the manifest and release the lock."""
        if self._manifest_fd is not None:
            os.close(self._manifest_fd)
            self._manifest_fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def _table_dir(self, name: str) -> Path:
        d = self.path / name
        if name not in self._dirs_made:
            d.mkdir(exist_ok=True)
            self._dirs_made.add(name)
        return d

    def write_part(self, entries: list[FinishedRun]) -> None:
        """Write the tables of ``entries`` as one part, then commit them: part record, then run records.

        Parameters
        ----------
        entries : list of FinishedRun
            The runs; one whose table cannot be stored is recorded failed.
        """
        part = f"{self.batch_id}-{self._seq:06d}"
        self._seq += 1
        by_table: dict[str, list[FinishedRun]] = {}
        for e in entries:
            if e.status == "ok":
                for name in e.tables:
                    by_table.setdefault(name, []).append(e)
        dirs, files = [], {}
        for name, group in by_table.items():
            tables = _build_part_tables(name, group)
            if not tables:
                continue
            d = self._table_dir(name)
            for k, (t, n_runs) in enumerate(tables):
                fname = f"{part}.parquet" if k == 0 else f"{part}.{k}.parquet"
                files[f"{name}/{fname}"] = {**_atomic_write_parquet(t, d / fname), "runs": n_runs}
            dirs.append(d)
        for d in dirs:
            _fsync_dir(d)
        lines = []
        if files:
            lines.append(json.dumps({"kind": "part", "part": part, "batch_id": self.batch_id, "files": files}))
        for e in entries:
            rec = e.record(part, self.batch_id, self.provenance)
            lines.append(json.dumps(rec, ensure_ascii=False, default=json_default, allow_nan=True))
            (self.ok_ids if e.status == "ok" else self.failed_ids).add(e.run_id)
            if e.status == "ok":
                self.failed_ids.discard(e.run_id)
        self._append_manifest(("\n".join(lines) + "\n").encode("utf-8"))

    def _append_manifest(self, data: bytes) -> None:
        if self._manifest_fd is None:
            mdir = self.path / "manifest"
            mdir.mkdir(exist_ok=True)
            self._manifest_fd = os.open(mdir / f"{self.batch_id}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            _fsync_dir(mdir)
        view = memoryview(data)
        while view:
            n = os.write(self._manifest_fd, view)
            view = view[n:]
        if FSYNC:
            os.fsync(self._manifest_fd)


