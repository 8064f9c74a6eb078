"""Batch engine: run many tasks on any ``concurrent.futures.Executor`` and stream the results to disk.

Shared by the experiments, the sensitivity analysis and the calibration. The unit of work is a
:class:`~bantar_sim.engine.task.RunTask`; ``run_fn(task)`` computes one run and returns tidy tables
(``dict[str, pandas.DataFrame]``; the model's is :func:`bantar_sim.engine.task.run_task`).
:func:`run_batch` sends tasks to an executor (a process pool,
:class:`bantar_sim.engine.executors.SerialExecutor`, or a Dask ``client.get_executor()``), keeps at most
``max_in_flight`` of them in flight, and writes every finished run from the *driver* process into a
verified batch store (:mod:`bantar_sim.engine.storage`, which also has the readers).

Runs are content-addressed (their run id hashes the task and the model version), so rerunning the same
batch skips runs stored ok (and, with ``retry_failed=True``, reruns those recorded failed), and recomputes
runs whose stored part was found missing, truncated or corrupt.

Writes are immediate when runs finish more than ``FLUSH_INTERVAL_S`` apart (typical model runs); when
they finish faster (e.g. 10,000 tiny runs) results are coalesced into one part per ``FLUSH_INTERVAL_S``
(at most ``FLUSH_MAX_RUNS`` runs / ``FLUSH_MAX_CELLS`` cells) so that the file count and per-file
overhead stay bounded. A run that has finished is on disk at most ``FLUSH_INTERVAL_S`` later, and
buffered runs are written when the batch stops for any reason (error, Ctrl-C, scheduler lost) except
SIGKILL/power loss, after which they are simply recomputed on rerun.
"""

from __future__ import annotations

import concurrent.futures as cf
import operator
import os
import pickle
import socket
import sys
import time
import traceback as _traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from bantar_sim.engine.executors import capacity, cpu_count, dask_client_of, new_process_pool, shutdown_pool
from bantar_sim.engine.provenance import git_state
from bantar_sim.engine.storage import (
    MANIFEST_COLUMNS,
    OutDirLockedError,
    StoreCheck,
    list_tables,
    load_manifest,
    load_table,
    verify_store,
)
from bantar_sim.engine.store_writer import FinishedRun, StoreWriter
from bantar_sim.engine.task import (
    RESERVED_TABLES,
    TABLE_NAME_RE,
    RunTask,
    TaskValidationError,
    task_run_id,
)
from bantar_sim.model.version import MODEL_VERSION, __version__

__all__ = [
    "RunTask",
    "BatchSummary",
    "TaskValidationError",
    "ExecutorLostError",
    "OutDirLockedError",
    "StoreCheck",
    "MANIFEST_COLUMNS",
    "run_batch",
    "load_table",
    "load_manifest",
    "list_tables",
    "verify_store",
]

# --- tunables (module constants so tests/benchmarks can adjust them) ---------------------------
FLUSH_INTERVAL_S = 0.5  # at most this long between a run finishing and it being on disk
FLUSH_MAX_RUNS = 2000  # or as soon as this many runs are buffered
FLUSH_MAX_CELLS = 4_000_000  # or as soon as the buffered tables hold this many cells (~32 MB numeric)
EXECUTOR_POLL_S = 1.0  # how often the driver checks that a Dask client is still connected
CAPACITY_REFRESH_S = 2.0  # how often the default in-flight bound is re-read from a Dask cluster
MAX_POOL_BREAKS = 3  # our own process pool may break this many times in a row before the batch stops

_GUARD_HINT = ("(Worker processes start by importing the main script: a script that runs a batch on a process "
               "pool must keep its code under `if __name__ == \"__main__\":`.)")


class ExecutorLostError(RuntimeError):
    """The executor (process pool or Dask scheduler) went away; finished runs are kept on disk."""


@dataclass
class BatchSummary:
    """What :func:`run_batch` did.

    Attributes
    ----------
    n_total : int
        Distinct runs in the input (duplicates counted once).
    n_skipped : int
        Already stored (ok; or failed, when ``retry_failed=False``).
    n_done, n_failed : int
        Run now, ok / failed.
    out_dir : Path
        The store.
    elapsed_s : float
        Wall time.
    n_duplicates : int
        Input tasks dropped because their run id was already in the input.
    n_lost : int
        Runs found lost at the start (their stored part was missing, truncated or corrupt).
    """

    n_total: int
    n_skipped: int
    n_done: int
    n_failed: int
    out_dir: Path
    elapsed_s: float
    n_duplicates: int = 0
    n_lost: int = 0

    @property
    def complete(self) -> bool:
        """True when every distinct input run is stored ok (or skipped) and none failed now."""
        return self.n_failed == 0 and self.n_skipped + self.n_done == self.n_total


# --- provenance --------------------------------------------------------------------------------
def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("bantar-sim")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return __version__


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
        if not isinstance(name, str) or not TABLE_NAME_RE.match(name) or name in RESERVED_TABLES:
            raise ValueError(
                f"run_fn returned a table named {name!r}; table names must match {TABLE_NAME_RE.pattern} "
                f"and not be one of {sorted(RESERVED_TABLES)}"
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


def _finished(task: RunTask, rid: str, o: _Outcome) -> FinishedRun:
    return FinishedRun(task, rid, "ok" if o.ok else "failed", o.tables, o.error, o.traceback, o.start, o.end,
                       o.duration_s, o.host, o.pid)


def _failed(task: RunTask, rid: str, error: str, tb: str | None) -> FinishedRun:
    """A run the executor failed (its worker died, its result could not be returned, ...)."""
    return FinishedRun(task, rid, "failed", None, error, tb)


def _broken_pool_error(exc: BaseException) -> tuple[str, str]:
    return (f"{type(exc).__name__}: a worker process died abruptly (killed by a signal or the out-of-memory "
            "killer, or os._exit) while this run was in flight; this run or another run in flight at the same "
            f"time caused it. If no run completes at all: {_GUARD_HINT}", "".join(_traceback.format_exception(exc)))


def _describe_executor_loss(executor: cf.Executor, n_stored: int, out_dir: Path) -> str:
    client = dask_client_of(executor)
    if client is not None:
        addr = getattr(client.scheduler, "address", None) or getattr(client, "_start_arg", None) or "?"
        what = f"lost the connection to the Dask scheduler at {addr} (client status {client.status!r})"
    else:
        what = f"the executor {type(executor).__name__} cancelled a run (was it shut down?)"
    return (f"run_batch: {what}; {n_stored} runs of this batch are stored in {out_dir}. "
            "Rerun the same batch to resume: finished runs are skipped.")


# --- input -------------------------------------------------------------------------------------
def _task_source(tasks: Iterable[RunTask], mv: str) -> tuple[Iterable[tuple[RunTask, str | None]], list | None]:
    """Pair tasks with their run ids: all now for a sized collection (so no run starts if any task is
    bad), lazily (None) for a generator. Returns the pairs and the list of ids (None when lazy).
    """
    if not isinstance(tasks, Iterable):
        raise TypeError(f"tasks must be an iterable of RunTask, got {type(tasks).__name__}")
    if hasattr(tasks, "__len__") and not isinstance(tasks, Iterator):
        tasks = list(tasks)
        ids = [task_run_id(t, mv, i) for i, t in enumerate(tasks)]
        return zip(tasks, ids), ids
    return ((t, None) for t in tasks), None


# --- the driver --------------------------------------------------------------------------------
class _Driver:
    """The state of one :func:`run_batch`: submits tasks, collects results, buffers and writes them."""

    def __init__(self, run_fn, store: StoreWriter, executor: cf.Executor | None, mv: str, *,
                 retry_failed: bool, max_in_flight: int | None, bar):
        self.run_fn, self.store, self.mv, self.bar = run_fn, store, mv, bar
        self.retry_failed, self.max_in_flight = retry_failed, max_in_flight
        self.own_pool = executor is None
        self.n_workers = cpu_count() if self.own_pool else None
        self.executor = executor
        self.n_total = self.n_skipped = self.n_done = self.n_failed = self.n_dup = 0
        self.seen: set[str] = set()
        self.pending: list[FinishedRun] = []
        self.pending_cells = 0
        self.last_flush = time.monotonic()
        self.in_flight: dict[cf.Future, tuple[RunTask, str]] = {}
        self.breaks_in_a_row = 0
        self.deferred_error: BaseException | None = None

    # progress and writing
    def postfix(self) -> None:
        self.bar.set_postfix_str(f"ok={self.n_done} failed={self.n_failed} skipped={self.n_skipped}", refresh=False)

    def is_stored(self, rid: str) -> bool:
        return rid in self.store.ok_ids or (rid in self.store.failed_ids and not self.retry_failed)

    def n_stored(self) -> int:
        return self.n_done + self.n_failed + len(self.pending)

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.pending:
            return
        self.store.write_part(self.pending)
        for e in self.pending:  # statuses are final only once written (a table that cannot be stored fails its run)
            if e.status == "ok":
                self.n_done += 1
            else:
                self.n_failed += 1
        self.pending, self.pending_cells = [], 0
        self.postfix()
        self.bar.refresh()

    def receive(self, e: FinishedRun) -> None:
        self.pending.append(e)
        self.pending_cells += e.n_cells
        self.bar.update(1)
        if (time.monotonic() - self.last_flush >= FLUSH_INTERVAL_S or len(self.pending) >= FLUSH_MAX_RUNS
                or self.pending_cells >= FLUSH_MAX_CELLS):
            self.flush()

    # executor
    def start(self) -> None:
        if self.own_pool:
            self.executor = new_process_pool(self.n_workers)
        self.client = dask_client_of(self.executor)
        self.limit = self.max_in_flight or max(2 * capacity(self.executor), 2)
        self.last_capacity = time.monotonic()

    def recover(self, exc: BaseException) -> None:
        """Our own pool broke: fail the runs in flight and start a new pool (unless it keeps breaking)."""
        self.breaks_in_a_row += 1
        if self.in_flight:
            cf.wait(list(self.in_flight), timeout=30)
        for fut, (task, rid) in list(self.in_flight.items()):
            err = fut.exception(timeout=0) if fut.done() and not fut.cancelled() else None
            self.receive(_failed(task, rid, *_broken_pool_error(err or cf.BrokenExecutor("process pool broken"))))
        self.in_flight.clear()
        shutdown_pool(self.executor, graceful=False, patience=0.0)
        self.executor = new_process_pool(self.n_workers)
        if self.breaks_in_a_row >= MAX_POOL_BREAKS:
            shutdown_pool(self.executor, graceful=False, patience=0.0)
            self.executor = None
            raise ExecutorLostError(
                f"run_batch: the process pool broke {self.breaks_in_a_row} times in a row without a run finishing "
                f"(last: {type(exc).__name__}: {exc}); worker processes cannot run {self.run_fn!r}. "
                f"{self.n_stored()} runs of this batch are stored in {self.store.path}. {_GUARD_HINT}"
            ) from exc

    def submit(self, task: RunTask) -> cf.Future:
        try:
            return self.executor.submit(_execute, self.run_fn, task)
        except cf.BrokenExecutor as exc:
            if not self.own_pool:
                raise
            self.recover(exc)
            return self.executor.submit(_execute, self.run_fn, task)

    # the loop
    def fill(self, it: Iterator, state: dict) -> None:
        """Submit tasks until ``limit`` runs are in flight or the input is exhausted."""
        while not state["exhausted"] and len(self.in_flight) < self.limit:
            try:
                task, rid = next(it)
                if rid is None:
                    rid = task_run_id(task, self.mv, state["position"])
            except StopIteration:
                state["exhausted"] = True
                return
            except TaskValidationError as e:  # lazy input: stop submitting, finish what runs, then raise
                self.deferred_error, state["exhausted"] = e, True
                return
            finally:
                state["position"] += 1
            if rid in self.seen:
                self.n_dup += 1
                continue
            self.seen.add(rid)
            self.n_total += 1
            if self.is_stored(rid):
                self.n_skipped += 1
                self.postfix()
                continue
            self.in_flight[self.submit(task)] = (task, rid)

    def collect(self) -> None:
        """Wait for at least one run (or the flush/poll deadline) and take what finished."""
        timeout = EXECUTOR_POLL_S
        if self.pending:
            timeout = max(0.0, min(timeout, self.last_flush + FLUSH_INTERVAL_S - time.monotonic()))
        done, _ = cf.wait(self.in_flight, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        broken: BaseException | None = None
        lost = False
        for fut in done:
            if fut.cancelled():  # Dask cancels every future when the scheduler connection is lost
                lost = True  # keep it in in_flight (not stored); first take the results that did arrive
                continue
            task, rid = self.in_flight.pop(fut)
            exc = fut.exception()
            if exc is None:
                self.breaks_in_a_row = 0
                self.receive(_finished(task, rid, fut.result()))
            elif isinstance(exc, cf.BrokenExecutor):
                if not self.own_pool:
                    raise ExecutorLostError(
                        f"run_batch: the executor broke ({type(exc).__name__}: {exc}); "
                        f"{self.n_stored()} runs of this batch are stored in {self.store.path}. "
                        f"Rerun the same batch to resume. {_GUARD_HINT}"
                    ) from exc
                self.receive(_failed(task, rid, *_broken_pool_error(exc)))
                broken = exc
            else:  # e.g. Dask KilledWorker (the run killed its workers), an unpicklable result
                tb = "".join(_traceback.format_exception(exc))
                self.receive(_failed(task, rid, f"{type(exc).__name__}: {exc}", tb))
        if lost:
            raise ExecutorLostError(_describe_executor_loss(self.executor, self.n_stored(), self.store.path))
        if broken is not None:
            self.recover(broken)
        if self.client is not None and not done and self.client.status in ("closing", "closed", "failed"):
            raise ExecutorLostError(_describe_executor_loss(self.executor, self.n_stored(), self.store.path))
        if self.pending and time.monotonic() - self.last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def run(self, source: Iterable) -> None:
        """Submit and collect until every task is done; on any exit write what finished and stop the pool."""
        it = iter(source)
        state = {"exhausted": False, "position": 0}
        graceful, patience = False, None
        try:
            while True:
                if (self.max_in_flight is None and self.client is not None
                        and time.monotonic() - self.last_capacity > CAPACITY_REFRESH_S):
                    self.limit, self.last_capacity = max(2 * capacity(self.executor), 2), time.monotonic()
                self.fill(it, state)
                if not self.in_flight:
                    break
                self.collect()
            graceful = True
        except KeyboardInterrupt:
            patience = 0.0
            raise
        finally:
            try:
                self.flush()  # keep every finished run, whatever stopped the batch
            finally:
                for fut in self.in_flight:
                    fut.cancel()
                if self.own_pool and self.executor is not None:
                    if patience is None:
                        shutdown_pool(self.executor, graceful)
                    else:
                        shutdown_pool(self.executor, graceful, patience=patience)


def _check_arguments(run_fn: Any, max_in_flight: Any, executor: Any) -> None:
    if not callable(run_fn):
        raise TypeError(f"run_fn must be callable, got {type(run_fn).__name__}")
    if max_in_flight is not None and (isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int)
                                      or max_in_flight < 1):
        raise ValueError(f"max_in_flight must be an int >= 1 or None, got {max_in_flight!r}")
    if executor is None or isinstance(executor, cf.ProcessPoolExecutor):
        try:
            pickle.dumps(run_fn)
        except Exception as e:  # noqa: BLE001
            raise TypeError(f"run_fn must be picklable to run in a process pool (a top-level function): {e}") from e


def _count_todo(ids: list | None, tasks: Any, store: StoreWriter, retry_failed: bool) -> int | None:
    """How many runs are left to do (the progress bar's total), if known."""
    if ids is None:
        return operator.length_hint(tasks, 0) or None
    todo = set()
    for rid in ids:
        if not (rid in store.ok_ids or (rid in store.failed_ids and not retry_failed)):
            todo.add(rid)
    return len(todo)


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

    Parameters
    ----------
    tasks : iterable of RunTask
        A list (validated entirely before any run starts) or a lazy iterable/generator (consumed as
        capacity frees up; a bad task stops the submission, the runs in flight are finished and stored,
        then the error is raised). Duplicates (same run id) run once.
    run_fn : callable
        ``run_fn(task) -> dict[str, DataFrame]``; picklable (a top-level function) for a process pool.
        Runs that raise are recorded as failed and the batch continues.
    out_dir : str or Path
        The batch store (see :mod:`bantar_sim.engine.storage`); verified on opening.
    executor : concurrent.futures.Executor, optional
        Where runs are computed; None creates (and shuts down) a process pool with one worker per core.
    model_version : str, optional
        Part of every run id (default :data:`bantar_sim.model.version.MODEL_VERSION`, a hash of the
        model's sources: an edited model never reuses stored runs).
    progress : bool
        Show a progress bar on stderr.
    max_in_flight : int, optional
        Runs submitted at once (default twice the executor's worker count).
    retry_failed : bool
        Rerun runs recorded failed (else skip them).
    description : str
        The progress bar's label.

    Returns
    -------
    BatchSummary

    Raises
    ------
    TaskValidationError
        A task is invalid.
    OutDirLockedError
        Another batch writes to ``out_dir``.
    ExecutorLostError
        The executor went away; finished runs are stored and a rerun resumes.
    """
    t_start = time.perf_counter()
    _check_arguments(run_fn, max_in_flight, executor)
    mv = str(model_version) if model_version is not None else MODEL_VERSION
    out = Path(out_dir)
    source, ids = _task_source(tasks, mv)

    commit, dirty = git_state()
    prov = {"package_version": _package_version(), "model_version": mv, "git_commit": commit, "git_dirty": dirty}
    store = StoreWriter(out, prov)
    try:
        from tqdm import tqdm  # the terminal bar (tqdm.auto would pick a notebook widget when it can)

        bar = tqdm(total=_count_todo(ids, tasks, store, retry_failed), desc=description, unit="run",
                   file=sys.stderr, disable=not progress, dynamic_ncols=True, smoothing=0.05)
        try:
            d = _Driver(run_fn, store, executor, mv, retry_failed=retry_failed, max_in_flight=max_in_flight, bar=bar)
            d.postfix()
            d.start()
            d.run(source)
        finally:
            bar.close()
    finally:
        store.close()
    if d.deferred_error is not None:
        raise d.deferred_error
    return BatchSummary(n_total=d.n_total, n_skipped=d.n_skipped, n_done=d.n_done, n_failed=d.n_failed,
                        out_dir=out, elapsed_s=time.perf_counter() - t_start, n_duplicates=d.n_dup,
                        n_lost=len(store.check.lost_runs))
