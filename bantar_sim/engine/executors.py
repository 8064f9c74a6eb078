"""Executors for :func:`bantar_sim.engine.batch.run_batch`: in-process, a local process pool, or Dask.

``make_executor("serial" | "process" | "dask", ...)`` is a context manager yielding a
``concurrent.futures.Executor`` and shutting it down afterwards. ``"dask"`` either starts a
``distributed.LocalCluster`` on this machine (``scheduler=None``) or connects to a running scheduler
(``scheduler="tcp://host:8786"``, e.g. one started with ``dask scheduler`` or by dask-jobqueue; see
docs/cluster.md). :func:`dask_client` yields the ``distributed.Client`` itself (for pyabc's
``DaskDistributedSampler``).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["SerialExecutor", "SchedulerConnectionError", "make_executor", "dask_client", "EXECUTOR_KINDS"]

EXECUTOR_KINDS = ("serial", "process", "dask")


class SchedulerConnectionError(ConnectionError):
    """The Dask scheduler could not be reached (a ConnectionError, hence an OSError)."""


class SerialExecutor(cf.Executor):
    """Runs each call in the calling thread at ``submit`` time and returns an already finished future.

    Exceptions of the call are stored in the future (like any executor); KeyboardInterrupt and other
    BaseExceptions propagate at once.
    """

    def __init__(self) -> None:
        self._shutdown = False
        self._lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
        fut: cf.Future = cf.Future()
        fut.set_running_or_notify_cancel()
        try:
            result = fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - delivered through the future
            fut.set_exception(e)
        except BaseException as e:
            fut.set_exception(e)
            raise
        else:
            fut.set_result(result)
        return fut

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shutdown = True


def _check_workers(workers: int | None) -> int | None:
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1 or None, got {workers!r}")
    return workers


def _check_timeout(timeout: float) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    return float(timeout)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int | None, timeout: float) -> Iterator[Any]:
    """Yield a ``distributed.Client``; close it (and any cluster started here) on exit.

    ``scheduler=None`` starts a ``distributed.LocalCluster`` with ``workers`` single-threaded worker
    processes (default: one per core), its dashboard (if bokeh is installed) on a free port
    (``client.dashboard_link``). Otherwise
    ``scheduler`` is the address of a running scheduler (``"tcp://host:8786"``); if it cannot be
    reached within ``timeout`` seconds a :class:`SchedulerConnectionError` naming it is raised.
    The client gives up on a scheduler that went away after ``timeout`` seconds of reconnecting.
    """
    workers = _check_workers(workers)
    timeout = _check_timeout(timeout)
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler is None:
        # ":0": the scheduler's HTTP server (the dashboard if bokeh is installed) on a free port, not
        # on 8787, which another cluster may hold
        cluster = LocalCluster(
            n_workers=workers or _cpu_count(), threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=":0", silence_logs=logging.WARNING,
        )
        try:
            client = Client(cluster, timeout=timeout)
        except BaseException:
            cluster.close()
            raise
    else:
        if not isinstance(scheduler, str) or not scheduler.strip():
            raise ValueError(f"scheduler must be an address like 'tcp://host:8786' or None, got {scheduler!r}")
        if workers is not None:
            raise ValueError("workers applies only to a LocalCluster (scheduler=None); "
                             "a running scheduler has the workers started for it")
        t0 = time.monotonic()
        try:
            client = Client(scheduler, timeout=timeout)
        except (OSError, TimeoutError) as e:
            raise SchedulerConnectionError(
                f"could not connect to the Dask scheduler at {scheduler} within {timeout:g} s "
                f"(gave up after {time.monotonic() - t0:.1f} s: {e}). Is dask scheduler running there "
                "and reachable from this machine?"
            ) from e
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            client.close(timeout=min(timeout, 10))
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=min(timeout, 30))


@contextlib.contextmanager
def make_executor(kind: str = "process", workers: int | None = None, scheduler: str | None = None,
                  timeout: float = 30) -> Iterator[cf.Executor]:
    """Context manager yielding an Executor for :func:`bantar_sim.engine.batch.run_batch`.

    - ``"serial"``: :class:`SerialExecutor` (in this process; ``workers`` must be None or 1).
    - ``"process"``: ``ProcessPoolExecutor`` with ``workers`` processes (default: one per core).
    - ``"dask"``: ``client.get_executor()`` of :func:`dask_client` (a LocalCluster, or the scheduler at
      ``scheduler``; unreachable -> :class:`SchedulerConnectionError` within ``timeout`` seconds).
    """
    if kind not in EXECUTOR_KINDS:
        raise ValueError(f"unknown executor kind {kind!r}; choose one of {', '.join(EXECUTOR_KINDS)}")
    workers = _check_workers(workers)
    _check_timeout(timeout)
    if scheduler is not None and kind != "dask":
        raise ValueError(f"scheduler={scheduler!r} applies only to kind='dask', not {kind!r}")
    if kind == "serial":
        if workers not in (None, 1):
            raise ValueError(f"the serial executor runs one run at a time; workers must be None or 1, got {workers}")
        ex = SerialExecutor()
        try:
            yield ex
        finally:
            ex.shutdown()
    elif kind == "process":
        from bantar_sim.engine.batch import _new_process_pool, _shutdown_pool

        pool = _new_process_pool(workers or _cpu_count())
        graceful = False
        try:
            yield pool
            graceful = True
        finally:
            _shutdown_pool(pool, graceful)
    else:
        with dask_client(scheduler, workers, timeout) as client:
            ex = client.get_executor()
            try:
                yield ex
            finally:
                ex.shutdown(wait=False)
