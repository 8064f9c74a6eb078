"""Batch engine: run many model runs on any ``concurrent.futures.Executor`` and stream the results to disk.

Shared by the experiments, the sensitivity analysis and the calibration. The unit of work is a
:class:`RunTask` (parameter overrides, a seed and descriptive tags); ``run_fn(task)`` computes one run and
returns tidy tables (``dict[str, pandas.DataFrame]``). :func:`run_batch` sends tasks to an executor (a
process pool, :class:`bantar_sim.engine.executors.SerialExecutor`, or a Dask ``client.get_executor()``), keeps at
most ``max_in_flight`` of them in flight, and writes every finished run from the *driver* process.

On-disk layout of ``out_dir`` (only the driver writes; workers only compute)::

    out_dir/
      .lock                                   flock held by the running batch (one writer at a time)
      manifest/<batch_id>.jsonl               one JSON line per finished run (ok or failed), append-only
      <table>/<part_id>.parquet               rows of one or more runs of that table, with run_id + tag columns

A *part* is a group of runs written together. A run's rows count only once the manifest line naming
the run and its part has been written; the part files are written (temp file, fsync, ``os.replace``)
*before* that line, so a crash at any point leaves either a committed run or garbage that readers
ignore and the next batch deletes. The manifest reader skips a torn last line. Rerunning the same
batch skips runs recorded ``ok`` (and, with ``retry_failed=True``, reruns those recorded ``failed``).

Writes are immediate when runs finish more than ``FLUSH_INTERVAL_S`` apart (typical model runs); when
they finish faster (e.g. 10,000 tiny runs) results are coalesced into one part per ``FLUSH_INTERVAL_S``
(at most ``FLUSH_MAX_RUNS`` runs / ``FLUSH_MAX_CELLS`` cells) so that the file count and per-file
overhead stay bounded. A run that has finished is on disk at most ``FLUSH_INTERVAL_S`` later, and
buffered runs are written when the batch stops for any reason (error, Ctrl-C, scheduler lost) except
SIGKILL/power loss, after which they are simply recomputed on rerun.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as _dt
import hashlib
import json
import math
import numbers
import os
import pickle
import re
import secrets
import socket
import sys
import time
import traceback as _traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bantar_sim.engine.provenance import git_state

__all__ = [
    "RunTask",
    "BatchSummary",
    "TaskValidationError",
    "ExecutorLostError",
    "OutDirLockedError",
    "run_batch",
    "load_table",
    "load_manifest",
    "list_tables",
]

# --- tunables (module constants so tests/benchmarks can adjust them) ---------------------------
FLUSH_INTERVAL_S = 0.5  # at most this long between a run finishing and it being on disk
FLUSH_MAX_RUNS = 2000  # or as soon as this many runs are buffered
FLUSH_MAX_CELLS = 4_000_000  # or as soon as the buffered tables hold this many cells (~32 MB numeric)
FSYNC = True  # fsync part files, directories and manifest lines (durability against power loss)
EXECUTOR_POLL_S = 1.0  # how often the driver checks that a Dask client is still connected
CAPACITY_REFRESH_S = 2.0  # how often the default in-flight bound is re-read from a Dask cluster
MAX_POOL_BREAKS = 3  # our own process pool may break this many times in a row before the batch stops

SEED_MAX = 2**64  # seeds are ints in [0, 2**64)
_TABLE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_PART_RE = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}-\d{6}$")
_RESERVED_TABLES = {"manifest"}
_RESERVED_COLUMNS = {"run_id"}

MANIFEST_COLUMNS = [
    "run_id", "status", "params", "seed", "tags", "package_version", "model_version", "git_commit",
    "git_dirty", "start_time", "end_time", "duration_s", "error", "traceback", "host", "pid",
    "batch_id", "part", "tables",
]


class TaskValidationError(ValueError, TypeError):
    """A task definition is invalid (raised before any run starts)."""


class ExecutorLostError(RuntimeError):
    """The executor (process pool or Dask scheduler) went away; finished runs are kept on disk."""


class OutDirLockedError(RuntimeError):
    """Another ``run_batch`` is writing to the same ``out_dir``."""


# --- tasks -------------------------------------------------------------------------------------
_JSON_HINT = "allowed: dict with str keys, list/tuple, str, int, finite float, bool, None"


def _where(root: str, path: tuple) -> str:
    return root + "".join(f"[{k!r}]" for k in path)


def _check_json(value: Any, root: str, path: tuple = ()) -> None:
    """Raise TaskValidationError naming the path of the first value JSON cannot represent exactly."""
    t = type(value)
    if t is str or t is int or t is bool or value is None:  # fast path for the common scalars
        return
    if t is float or isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            raise TaskValidationError(
                f"{_where(root, path)} = {value!r} is not JSON-serialisable (non-finite float; {_JSON_HINT})")
        return
    if len(path) > 64:
        raise TaskValidationError(f"{_where(root, path)} is nested more than 64 levels deep")
    if isinstance(value, Mapping):
        for k, v in value.items():
            if type(k) is not str:
                raise TaskValidationError(
                    f"{_where(root, path)} has a key {k!r} of type {type(k).__name__}; keys must be str ({_JSON_HINT})"
                )
            _check_json(v, root, path + (k,))
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_json(v, root, path + (i,))
        return
    if isinstance(value, (str, bool, np.bool_)) or (isinstance(value, numbers.Integral)):
        return
    raise TaskValidationError(
        f"{_where(root, path)} = {value!r} of type {type(value).__name__} is not JSON-serialisable ({_JSON_HINT})"
    )


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Mapping):
        return dict(o)
    raise TypeError(f"{type(o).__name__} is not JSON-serialisable")


def _canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False,
                      default=_json_default)


def _normalise_seed(seed: Any) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TaskValidationError(
            f"RunTask.seed must be an int in [0, 2**64), got {seed!r} of type {type(seed).__name__}"
        )
    s = int(seed)
    if not 0 <= s < SEED_MAX:
        raise TaskValidationError(f"RunTask.seed must be an int in [0, 2**64), got {s}")
    return s


def _validate_fields(params: Any, seed: Any, tags: Any) -> tuple[dict, int, dict]:
    if not isinstance(params, Mapping):
        raise TaskValidationError(f"RunTask.params must be a dict, got {type(params).__name__}")
    if tags is None:
        tags = {}
    if not isinstance(tags, Mapping):
        raise TaskValidationError(f"RunTask.tags must be a dict, got {type(tags).__name__}")
    _check_json(params, "RunTask.params")
    _check_json(tags, "RunTask.tags")
    for k in tags:
        if k in _RESERVED_COLUMNS:
            raise TaskValidationError(f"RunTask.tags may not use the key {k!r}: it is a column the batch engine adds")
    return (params if isinstance(params, dict) else dict(params), _normalise_seed(seed),
            tags if isinstance(tags, dict) else dict(tags))


@dataclass(frozen=True)
class RunTask:
    """One model run: parameter overrides, seed and tags (e.g. ``{"arm": "kencana", "replicate": 3}``).

    Validated on construction: ``params`` and ``tags`` must be JSON-serialisable dicts with str keys
    (numpy scalars are accepted; NaN/inf are not), ``seed`` an int in ``[0, 2**64)`` (numpy ints are
    converted to ``int``). Invalid definitions raise :class:`TaskValidationError` (a ValueError).
    """

    params: dict
    seed: int
    tags: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        params, seed, tags = _validate_fields(self.params, self.seed, self.tags)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "seed", seed)
        object.__setattr__(self, "tags", tags)

    def canonical_json(self, model_version: str) -> str:
        return _canonical_json(
            {"params": self.params, "seed": self.seed, "tags": self.tags, "model_version": str(model_version)}
        )

    def run_id(self, model_version: str) -> str:
        """First 16 hex chars of the sha256 of the canonical JSON of params, seed, tags and model_version."""
        return hashlib.sha256(self.canonical_json(model_version).encode("ascii")).hexdigest()[:16]


def _task_run_id(task: Any, model_version: str, position: int | None) -> str:
    """Validate a task (again: fields may have been mutated since construction) and return its run id."""
    where = f"task #{position}" if position is not None else "task"
    if not isinstance(task, RunTask):
        raise TaskValidationError(f"{where}: expected a RunTask, got {type(task).__name__}")
    try:
        _validate_fields(task.params, task.seed, task.tags)
        return task.run_id(model_version)
    except TaskValidationError as e:
        raise TaskValidationError(f"{where} (tags {task.tags!r}): {e}") from None
    except (TypeError, ValueError) as e:  # anything json itself rejects
        raise TaskValidationError(f"{where} (tags {task.tags!r}): not JSON-serialisable: {e}") from None


# --- summary -----------------------------------------------------------------------------------
@dataclass
class BatchSummary:
    n_total: int  # distinct runs in the input (duplicates counted once)
    n_skipped: int  # already on disk (ok; or failed, when retry_failed=False)
    n_done: int  # run now, status ok
    n_failed: int  # run now, status failed
    out_dir: Path
    elapsed_s: float
    n_duplicates: int = 0  # input tasks dropped because their run_id was already in the input

    @property
    def complete(self) -> bool:
        return self.n_failed == 0 and self.n_skipped + self.n_done == self.n_total


# --- provenance --------------------------------------------------------------------------------
def _resolve_model_version(model_version: str | None) -> str:
    if model_version is not None:
        return str(model_version)
    try:
        import bantar_sim
    except Exception:  # pragma: no cover - the package is importable whenever this module is
        return "0"
    for name in ("MODEL_VERSION", "__version__"):
        v = getattr(bantar_sim, name, None)
        if v:
            return str(v)
    return "0"


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("bantar-sim")
    except Exception:
        try:
            import bantar_sim

            return str(getattr(bantar_sim, "__version__", "unknown"))
        except Exception:  # pragma: no cover
            return "unknown"


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts, tz=_dt.timezone.utc).isoformat(timespec="microseconds")


# --- worker side -------------------------------------------------------------------------------
class _Outcome(NamedTuple):
    ok: bool
    tables: dict | None
    error: str | None
    traceback: str | None
    start: float
    end: float
    duration_s: float
    host: str
    pid: int


def _check_tables(tables: Any) -> dict[str, pd.DataFrame]:
    if not isinstance(tables, Mapping):
        raise TypeError(f"run_fn must return a dict[str, pandas.DataFrame], got {type(tables).__name__}")
    out = {}
    for name, df in tables.items():
        if not isinstance(name, str) or not _TABLE_NAME_RE.match(name) or name in _RESERVED_TABLES:
            raise ValueError(
                f"run_fn returned a table named {name!r}; table names must match {_TABLE_NAME_RE.pattern} "
                f"and not be one of {sorted(_RESERVED_TABLES)}"
            )
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"run_fn returned table {name!r} of type {type(df).__name__}; expected a pandas.DataFrame")
        if not isinstance(df.index, pd.RangeIndex):  # keep a meaningful index as column(s)
            df = df.reset_index()
        out[name] = df
    return out


def _execute(run_fn: Callable[[RunTask], Mapping[str, pd.DataFrame]], task: RunTask) -> _Outcome:
    """Runs in the worker: call run_fn, time it, and turn any exception into a recorded failure."""
    start = time.time()
    t0 = time.perf_counter()
    try:
        tables = _check_tables(run_fn(task))
        ok, err, tb = True, None, None
    except Exception as e:  # noqa: BLE001 - every run error is recorded, not raised
        tables, ok = None, False
        err = f"{type(e).__name__}: {e}"
        tb = _traceback.format_exc()
    dur = time.perf_counter() - t0
    return _Outcome(ok, tables, err, tb, start, time.time(), dur, socket.gethostname(), os.getpid())


# --- storage -----------------------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    if not FSYNC or os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write_parquet(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            pq.write_table(table, f)
            f.flush()
            if FSYNC:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _read_manifest_records(out_dir: Path) -> list[dict]:
    """All manifest lines of all batches, in write order; a torn (unparsable) last line is skipped."""
    mdir = out_dir / "manifest"
    if not mdir.is_dir():
        return []
    records: list[dict] = []
    for path in sorted(mdir.glob("*.jsonl")):
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
        last = len(lines) - 1
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                if i != last:
                    warnings.warn(f"{path}: skipping corrupt manifest line {i + 1}", RuntimeWarning, stacklevel=3)
                continue  # a torn last line: that batch was killed while writing it
            if isinstance(rec, dict) and "run_id" in rec and "status" in rec:
                records.append(rec)
    return records


def _final_records(records: list[dict]) -> dict[str, dict]:
    """One record per run: its first ok record if any, else its latest record."""
    final: dict[str, dict] = {}
    for rec in records:
        prev = final.get(rec["run_id"])
        if prev is None or prev["status"] != "ok":
            final[rec["run_id"]] = rec
    return final


class _OutDir:
    """Writer for one ``out_dir``: holds the lock, knows which runs are on disk, writes parts."""

    def __init__(self, out_dir: Path, provenance: dict):
        self.path = out_dir
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_fd = self._lock()
        self.provenance = provenance
        self.batch_id = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(3)}"
        self._seq = 0
        self._manifest_fd: int | None = None
        self._dirs_made: set[str] = set()
        records = _read_manifest_records(out_dir)
        final = _final_records(records)
        self.ok_ids = {rid for rid, r in final.items() if r["status"] == "ok"}
        self.failed_ids = {rid for rid, r in final.items() if r["status"] != "ok"}
        self._remove_garbage({r.get("part") for r in records})

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

    def _remove_garbage(self, committed_parts: set) -> None:
        """Delete temp files and part files no manifest line commits (left by a killed batch)."""
        for sub in self.path.iterdir():
            if not sub.is_dir() or sub.name == "manifest" or sub.name.startswith("."):
                continue
            for f in sub.iterdir():
                name = f.name
                if name.startswith(".") and ".parquet.tmp-" in name:
                    f.unlink(missing_ok=True)
                elif name.endswith(".parquet"):
                    part = name[: -len(".parquet")].split(".")[0]
                    if _PART_RE.match(part) and part not in committed_parts:
                        f.unlink(missing_ok=True)

    def close(self) -> None:
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

    def write_part(self, entries: list[_Pending]) -> None:
        """Write the tables of ``entries`` as one part, then commit them with manifest lines."""
        part = f"{self.batch_id}-{self._seq:06d}"
        self._seq += 1
        by_table: dict[str, list[_Pending]] = {}
        for e in entries:
            if e.status == "ok":
                for name in e.tables:
                    by_table.setdefault(name, []).append(e)
        dirs = []
        for name, group in by_table.items():
            tables = _build_part_tables(name, group)
            if not tables:
                continue
            d = self._table_dir(name)
            for k, t in enumerate(tables):
                fname = f"{part}.parquet" if k == 0 else f"{part}.{k}.parquet"
                _atomic_write_parquet(t, d / fname)
            dirs.append(d)
        for d in dirs:
            _fsync_dir(d)
        lines = []
        for e in entries:
            rec = e.record(part, self.batch_id, self.provenance)
            lines.append(json.dumps(rec, ensure_ascii=False, default=_json_default, allow_nan=True))
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


class _Pending:
    """A finished run waiting to be written."""

    __slots__ = ("task", "run_id", "status", "tables", "error", "traceback", "start", "end", "duration_s",
                 "host", "pid", "n_cells")

    def __init__(self, task: RunTask, run_id: str, outcome: _Outcome | None, error: str | None = None,
                 tb: str | None = None):
        self.task, self.run_id = task, run_id
        if outcome is None:  # the executor failed the run (worker died, ...)
            self.status, self.tables, self.error, self.traceback = "failed", {}, error, tb
            self.start = self.duration_s = self.host = self.pid = None
            self.end = time.time()
        else:
            self.status = "ok" if outcome.ok else "failed"
            self.tables = outcome.tables or {}
            self.error, self.traceback = outcome.error, outcome.traceback
            self.start, self.end, self.duration_s = outcome.start, outcome.end, outcome.duration_s
            self.host, self.pid = outcome.host, outcome.pid
        self.n_cells = sum(df.shape[0] * max(df.shape[1], 1) for df in self.tables.values())

    def fail(self, error: str, tb: str | None = None) -> None:
        self.status, self.error, self.traceback = "failed", error, tb

    def record(self, part: str, batch_id: str, prov: dict) -> dict:
        ok = self.status == "ok"
        return {
            "run_id": self.run_id, "status": self.status, "params": self.task.params, "seed": self.task.seed,
            "tags": self.task.tags, "package_version": prov["package_version"],
            "model_version": prov["model_version"], "git_commit": prov["git_commit"],
            "git_dirty": prov["git_dirty"], "start_time": _iso(self.start), "end_time": _iso(self.end),
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


def _with_ids(table: pa.Table, group: list[_Pending], lengths: list[int]) -> pa.Table:
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


def _build_part_tables(name: str, group: list[_Pending]) -> list[pa.Table]:
    """Arrow table(s) for one table name of one part. Runs whose table cannot be stored are marked failed."""
    good: list[_Pending] = []
    for e in group:
        df = e.tables[name]
        clash = [c for c in df.columns if c in _RESERVED_COLUMNS or c in e.task.tags]
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
        return [_with_ids(table, good, [len(f) for f in frames])]
    except Exception:  # noqa: BLE001 - fall back to run by run to pin the failure on the right run
        pass
    converted: list[tuple[_Pending, pa.Table]] = []
    for e in good:
        try:
            converted.append((e, pa.Table.from_pandas(e.tables[name], preserve_index=False)))
        except Exception as exc:  # noqa: BLE001
            e.fail(f"{type(exc).__name__}: table {name!r} cannot be stored as Parquet: {exc}", _traceback.format_exc())
    # group runs with the same schema (differing column types across runs end up in separate files)
    groups: dict[pa.Schema, list[tuple[_Pending, pa.Table]]] = {}
    for e, t in converted:
        if e.status == "ok":
            groups.setdefault(t.schema.remove_metadata(), []).append((e, t))
    out = []
    for items in groups.values():
        t = pa.concat_tables([t for _, t in items])
        out.append(_with_ids(t, [e for e, _ in items], [x.num_rows for _, x in items]))
    return out


# --- executors ---------------------------------------------------------------------------------
def _dask_client_of(executor: cf.Executor) -> Any:
    client = getattr(executor, "_client", None)
    if client is not None and type(executor).__module__.startswith("distributed"):
        return client
    return None


def _capacity(executor: cf.Executor) -> int:
    """Number of runs the executor can compute at once."""
    client = _dask_client_of(executor)
    if client is not None:
        try:
            return max(sum(client.nthreads().values()), 1)
        except Exception:  # noqa: BLE001
            return 1
    n = getattr(executor, "_max_workers", None)
    if isinstance(n, int) and n > 0:
        return n
    from bantar_sim.engine.executors import SerialExecutor

    if isinstance(executor, SerialExecutor):
        return 1
    return os.cpu_count() or 1


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed driver not yet reaped by its parent is a zombie: count it as dead
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def _exit_with_driver(driver_pid: int) -> None:
    """Pool-worker initializer: exit when the driver process dies (e.g. it was SIGKILLed).

    ProcessPoolExecutor workers otherwise wait forever for work from a driver that no longer exists
    (and, with forkserver, keep the fork server alive too: they hold its liveness pipe).
    """
    import threading

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if not _pid_alive(driver_pid):
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-driver", daemon=True).start()


def _new_process_pool(workers: int) -> cf.ProcessPoolExecutor:
    import multiprocessing as mp

    # forkserver (Python 3.14's default): forking a driver that runs threads (tqdm, executor) can deadlock.
    # The fork server imports this module (and so the model) once; workers forked from it start warm.
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["__main__", __name__])
    else:
        ctx = mp.get_context("spawn")
    return cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_exit_with_driver,
                                  initargs=(os.getpid(),))


def _shutdown_pool(pool: cf.ProcessPoolExecutor, graceful: bool) -> None:
    if graceful:
        pool.shutdown(wait=True, cancel_futures=True)
        return
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:  # do not leave workers computing runs nobody will collect
        with contextlib.suppress(Exception):
            p.terminate()
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(timeout=5)


def _describe_executor_loss(executor: cf.Executor, n_stored: int, out_dir: Path) -> str:
    client = _dask_client_of(executor)
    if client is not None:
        addr = getattr(client.scheduler, "address", None) or getattr(client, "_start_arg", None) or "?"
        what = f"lost the connection to the Dask scheduler at {addr} (client status {client.status!r})"
    else:
        what = f"the executor {type(executor).__name__} cancelled a run (was it shut down?)"
    return (f"run_batch: {what}; {n_stored} runs of this batch are stored in {out_dir}. "
            "Rerun the same batch to resume: finished runs are skipped.")


# --- the engine --------------------------------------------------------------------------------
def run_batch(
    tasks: Iterable[RunTask],
    run_fn: Callable[[RunTask], dict[str, pd.DataFrame]],
    out_dir: str | Path,
    executor: cf.Executor | None = None,
    *,
    model_version: str | None = None,
    progress: bool = True,
    max_in_flight: int | None = None,
    retry_failed: bool = True,
    description: str = "runs",
) -> BatchSummary:
    """Run ``run_fn(task)`` for every task not yet stored in ``out_dir`` and store the results.

    ``tasks`` may be a list (validated entirely before any run starts) or a lazy iterable/generator
    (consumed as capacity frees up; a bad task stops the submission, the runs in flight are finished
    and stored, then the error is raised). ``executor=None`` creates (and shuts down) a process pool
    with one worker per core. At most ``max_in_flight`` runs (default twice the executor's worker count)
    are submitted at once. Runs that raise are recorded as failed and the batch continues.
    Returns a :class:`BatchSummary`; see the module docstring for the layout on disk.
    """
    t_start = time.perf_counter()
    if not callable(run_fn):
        raise TypeError(f"run_fn must be callable, got {type(run_fn).__name__}")
    if max_in_flight is not None and (isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int)
                                      or max_in_flight < 1):
        raise ValueError(f"max_in_flight must be an int >= 1 or None, got {max_in_flight!r}")
    mv = _resolve_model_version(model_version)
    out = Path(out_dir)

    # A sized collection is validated in full now (no run starts if any task is bad); a generator lazily.
    if not isinstance(tasks, Iterable):
        raise TypeError(f"tasks must be an iterable of RunTask, got {type(tasks).__name__}")
    eager = hasattr(tasks, "__len__") and not isinstance(tasks, Iterator)
    if eager:
        tasks = list(tasks)
        ids = [_task_run_id(t, mv, i) for i, t in enumerate(tasks)]
        source: Iterable[tuple[RunTask, str | None]] = zip(tasks, ids)
    else:
        source = ((t, None) for t in tasks)

    own_pool = executor is None
    if own_pool:
        n_workers = _default_workers()
    if isinstance(executor, cf.ProcessPoolExecutor) or own_pool:
        try:
            pickle.dumps(run_fn)
        except Exception as e:  # noqa: BLE001
            raise TypeError(f"run_fn must be picklable to run in a process pool (a top-level function): {e}") from e

    commit, dirty = git_state()
    prov = {"package_version": _package_version(), "model_version": mv, "git_commit": commit, "git_dirty": dirty}
    store = _OutDir(out, prov)

    seen: set[str] = set()
    n_total = n_skipped = n_done = n_failed = n_dup = 0
    todo_known = None
    if eager:  # count what is left to do so the bar's total and ETA are right
        todo_known = 0
        tmp_seen: set[str] = set()
        for rid in ids:
            if rid in tmp_seen:
                continue
            tmp_seen.add(rid)
            if not (rid in store.ok_ids or (rid in store.failed_ids and not retry_failed)):
                todo_known += 1
        del tmp_seen
    else:
        import operator

        hint = operator.length_hint(tasks, 0)
        todo_known = hint or None

    from tqdm import tqdm  # the terminal bar (tqdm.auto would pick a notebook widget when it can)

    bar = tqdm(total=todo_known, desc=description, unit="run", file=sys.stderr, disable=not progress,
               dynamic_ncols=True, smoothing=0.05)

    def postfix() -> None:
        bar.set_postfix_str(f"ok={n_done} failed={n_failed} skipped={n_skipped}", refresh=False)

    postfix()
    pending: list[_Pending] = []
    pending_cells = 0
    last_flush = time.monotonic()

    def flush() -> None:
        nonlocal pending, pending_cells, last_flush, n_done, n_failed
        last_flush = time.monotonic()
        if not pending:
            return
        store.write_part(pending)
        # statuses are final only once written (a table that cannot be stored fails its run)
        for e in pending:
            if e.status == "ok":
                n_done += 1
            else:
                n_failed += 1
        pending, pending_cells = [], 0
        postfix()
        bar.refresh()

    def receive(e: _Pending) -> None:
        nonlocal pending_cells
        pending.append(e)
        pending_cells += e.n_cells
        bar.update(1)
        if (time.monotonic() - last_flush >= FLUSH_INTERVAL_S or len(pending) >= FLUSH_MAX_RUNS
                or pending_cells >= FLUSH_MAX_CELLS):
            flush()

    try:
        if own_pool:
            executor = _new_process_pool(n_workers)
        assert executor is not None
        client = _dask_client_of(executor)
        limit = max_in_flight or max(2 * _capacity(executor), 2)
    except BaseException:
        bar.close()
        store.close()
        raise
    last_capacity = time.monotonic()
    in_flight: dict[cf.Future, tuple[RunTask, str]] = {}
    breaks_in_a_row = 0

    def recover(exc: BaseException) -> cf.Executor:
        """Our own pool broke: fail the runs in flight and start a new pool (unless it keeps breaking)."""
        nonlocal breaks_in_a_row
        breaks_in_a_row += 1
        new = _recover_pool(executor, in_flight, receive, n_workers)
        if breaks_in_a_row >= MAX_POOL_BREAKS:
            _shutdown_pool(new, graceful=False)
            raise ExecutorLostError(
                f"run_batch: the process pool broke {breaks_in_a_row} times in a row without a run finishing "
                f"(last: {type(exc).__name__}: {exc}); worker processes cannot run {run_fn!r}. "
                f"{n_done + n_failed + len(pending)} runs of this batch are stored in {out}. {_GUARD_HINT}"
            ) from exc
        return new

    it = iter(source)
    exhausted = False
    deferred_error: BaseException | None = None
    graceful = False
    position = 0
    try:
        while True:
            if max_in_flight is None and client is not None and time.monotonic() - last_capacity > CAPACITY_REFRESH_S:
                limit, last_capacity = max(2 * _capacity(executor), 2), time.monotonic()
            while not exhausted and len(in_flight) < limit:
                try:
                    task, rid = next(it)
                    if rid is None:
                        rid = _task_run_id(task, mv, position)
                except StopIteration:
                    exhausted = True
                    break
                except TaskValidationError as e:  # lazy input: stop submitting, finish what runs, then raise
                    deferred_error, exhausted = e, True
                    break
                finally:
                    position += 1
                if rid in seen:
                    n_dup += 1
                    continue
                seen.add(rid)
                n_total += 1
                if rid in store.ok_ids or (rid in store.failed_ids and not retry_failed):
                    n_skipped += 1
                    postfix()
                    continue
                try:
                    fut = executor.submit(_execute, run_fn, task)
                except cf.BrokenExecutor as exc:
                    if not own_pool:
                        raise
                    executor = recover(exc)
                    fut = executor.submit(_execute, run_fn, task)
                in_flight[fut] = (task, rid)
            if not in_flight:
                break
            timeout = EXECUTOR_POLL_S
            if pending:
                timeout = max(0.0, min(timeout, last_flush + FLUSH_INTERVAL_S - time.monotonic()))
            done, _ = cf.wait(in_flight, timeout=timeout, return_when=cf.FIRST_COMPLETED)
            broken: BaseException | None = None
            lost = False
            for fut in done:
                if fut.cancelled():  # Dask cancels every future when the scheduler connection is lost
                    lost = True  # keep it in in_flight (not stored); first take the results that did arrive
                    continue
                task, rid = in_flight.pop(fut)
                exc = fut.exception()
                if exc is None:
                    breaks_in_a_row = 0
                    receive(_Pending(task, rid, fut.result()))
                elif isinstance(exc, cf.BrokenExecutor):
                    if not own_pool:
                        raise ExecutorLostError(
                            f"run_batch: the executor broke ({type(exc).__name__}: {exc}); "
                            f"{n_done + n_failed + len(pending)} runs of this batch are stored in {out}. "
                            f"Rerun the same batch to resume. {_GUARD_HINT}"
                        ) from exc
                    receive(_Pending(task, rid, None, *_broken_pool_error(exc)))
                    broken = exc
                else:  # e.g. Dask KilledWorker (the run killed its workers), an unpicklable result
                    receive(_Pending(task, rid, None, f"{type(exc).__name__}: {exc}",
                                     "".join(_traceback.format_exception(exc))))
            if lost:
                raise ExecutorLostError(_describe_executor_loss(executor, n_done + n_failed + len(pending), out))
            if broken is not None:
                executor = recover(broken)
            if client is not None and not done and client.status in ("closing", "closed", "failed"):
                raise ExecutorLostError(_describe_executor_loss(executor, n_done + n_failed + len(pending), out))
            if pending and time.monotonic() - last_flush >= FLUSH_INTERVAL_S:
                flush()
        graceful = True
    finally:
        try:
            flush()  # keep every finished run, whatever stopped the batch
        finally:
            for fut in in_flight:
                fut.cancel()
            if own_pool and executor is not None:
                _shutdown_pool(executor, graceful)  # type: ignore[arg-type]
            bar.close()
            store.close()
    if deferred_error is not None:
        raise deferred_error
    return BatchSummary(n_total=n_total, n_skipped=n_skipped, n_done=n_done, n_failed=n_failed, out_dir=out,
                        elapsed_s=time.perf_counter() - t_start, n_duplicates=n_dup)


_GUARD_HINT = ("(Worker processes start by importing the main script: a script that runs a batch on a process "
               "pool must keep its code under `if __name__ == \"__main__\":`.)")


def _broken_pool_error(exc: BaseException) -> tuple[str, str]:
    return (f"{type(exc).__name__}: a worker process died abruptly (killed by a signal or the out-of-memory "
            "killer, or os._exit) while this run was in flight; this run or another run in flight at the same "
            f"time caused it. If no run completes at all: {_GUARD_HINT}", "".join(_traceback.format_exception(exc)))


def _recover_pool(pool: cf.Executor, in_flight: dict, receive: Callable[[_Pending], None],
                  workers: int) -> cf.ProcessPoolExecutor:
    """Our own process pool broke: every run still in flight failed with it; start a fresh pool."""
    if in_flight:
        cf.wait(list(in_flight), timeout=30)
    for fut, (task, rid) in list(in_flight.items()):
        exc = fut.exception(timeout=0) if fut.done() and not fut.cancelled() else None
        msg = _broken_pool_error(exc or cf.BrokenExecutor("process pool broken"))
        receive(_Pending(task, rid, None, *msg))
    in_flight.clear()
    _shutdown_pool(pool, graceful=False)  # type: ignore[arg-type]
    return _new_process_pool(workers)


# --- readers -----------------------------------------------------------------------------------
def _require_dir(out_dir: str | Path) -> Path:
    p = Path(out_dir)
    if not p.is_dir():
        raise FileNotFoundError(f"no batch output directory at {p}")
    return p


def load_manifest(out_dir: str | Path, *, all_attempts: bool = False) -> pd.DataFrame:
    """One row per run (its ok record if any, else its latest), sorted by run_id.

    Columns: ``MANIFEST_COLUMNS``; params, tags and tables are JSON strings, times UTC ISO strings.
    ``all_attempts=True`` returns every record in write order (a retried run appears more than once).
    """
    out = _require_dir(out_dir)
    records = _read_manifest_records(out)
    if not all_attempts:
        records = sorted(_final_records(records).values(), key=lambda r: r["run_id"])
    cols: dict[str, list] = {c: [] for c in MANIFEST_COLUMNS}
    for r in records:
        for c in MANIFEST_COLUMNS:
            v = r.get(c)
            if c in ("params", "tags", "tables"):
                v = _canonical_json(v if v is not None else {})
            cols[c].append(v)
    df = pd.DataFrame(cols, columns=MANIFEST_COLUMNS)
    # np.array, not pd.array: pandas 3.1 pd.array(..., dtype="uint64") goes through float64 and loses digits
    df["seed"] = np.array(cols["seed"], dtype=np.uint64)
    df["pid"] = pd.array(cols["pid"], dtype="Int64")
    df["git_dirty"] = pd.array(cols["git_dirty"], dtype="boolean")
    df["duration_s"] = pd.to_numeric(pd.Series(cols["duration_s"], dtype="float64"))
    return df


def list_tables(out_dir: str | Path) -> list[str]:
    out = _require_dir(out_dir)
    return sorted(p.name for p in out.iterdir()
                  if p.is_dir() and p.name != "manifest" and not p.name.startswith(".") and _TABLE_NAME_RE.match(p.name))


def _read_part(path: Path, columns: list[str] | None, keep: set[str]) -> pa.Table:
    pf = pq.ParquetFile(path)
    if columns is not None:
        have = set(pf.schema_arrow.names)
        cols = ["run_id"] + [c for c in columns if c in have and c != "run_id"]
        t = pf.read(columns=cols)
    else:
        t = pf.read()
    ids = t.column("run_id")
    mask = pc.is_in(ids, value_set=pa.array(sorted(keep), type=ids.type))
    if not pc.all(mask).as_py():
        t = t.filter(mask)  # rows of runs that failed or whose manifest line was never written
    return t


def load_table(out_dir: str | Path, table: str, columns: list[str] | None = None) -> pd.DataFrame:
    """All stored rows of ``table`` (every ok run), with ``run_id`` and tag columns, sorted by run_id.

    Rows of one run keep their original order. ``columns`` selects columns (read only those from disk);
    columns absent from some runs are filled with nulls.
    """
    out = _require_dir(out_dir)
    if not isinstance(table, str) or not _TABLE_NAME_RE.match(table) or table in _RESERVED_TABLES:
        raise ValueError(f"invalid table name {table!r}")
    if columns is not None:
        columns = [columns] if isinstance(columns, str) else list(columns)
    tdir = out / table
    if not tdir.is_dir():
        raise ValueError(f"no table {table!r} in {out}; stored tables: {list_tables(out)}")
    final = _final_records(_read_manifest_records(out))
    by_part: dict[str, set[str]] = {}
    for rid, r in final.items():
        if r["status"] == "ok" and table in (r.get("tables") or {}):
            by_part.setdefault(r["part"], set()).add(rid)
    files = []
    for p in sorted(tdir.glob("*.parquet")):
        part = p.name[: -len(".parquet")].split(".")[0]
        if part in by_part:
            files.append((p, by_part[part]))
    if files:
        with cf.ThreadPoolExecutor(max_workers=min(8, len(files))) as pool:
            parts = list(pool.map(lambda a: _read_part(a[0], columns, a[1]), files))
        try:
            t = pa.concat_tables(parts, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise ValueError(f"table {table!r} in {out} has columns whose types differ between runs: {e}") from e
        df = t.to_pandas()
    else:
        df = pd.DataFrame({"run_id": pd.Series([], dtype="str")})
    df = df.sort_values("run_id", kind="stable", ignore_index=True)
    if columns is not None:
        missing = [c for c in columns if c not in df.columns]
        if missing and files:
            raise ValueError(f"table {table!r} has no column(s) {missing}; columns: {list(df.columns)}")
        df = df.reindex(columns=columns)
    return df
