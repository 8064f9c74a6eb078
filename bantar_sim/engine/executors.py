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
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = [
    "SerialExecutor", "SchedulerConnectionError", "make_executor", "dask_client", "EXECUTOR_KINDS",
    "new_process_pool", "shutdown_pool", "check_scheduler_address", "cpu_count", "capacity", "dask_client_of",
]

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
        """Call ``fn(*args, **kwargs)`` now; return a finished future holding its result or exception."""
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
        """Refuse further submissions (nothing runs in the background)."""
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


def cpu_count() -> int:
    """Number of cores this process may run on (its CPU affinity), at least 1.

    Returns
    -------
    int
        The default number of workers of a process pool or a LocalCluster.
    """
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# --- process pools -----------------------------------------------------------------------------
# Modules the fork server imports once, so that workers forked from it start warm: the worker side of
# the batch engine and, through it, the model. A name, not an import: this module does not depend on them.
POOL_PRELOAD = ("bantar_sim.engine.batch",)


def pid_alive(pid: int) -> bool:
    """Whether a process of this host still runs (a zombie counts as dead): stale pool drivers and stale locks."""
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

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if not pid_alive(driver_pid):
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-driver", daemon=True).start()


def new_process_pool(workers: int) -> cf.ProcessPoolExecutor:
    """A ``ProcessPoolExecutor`` whose workers start warm and exit when this process dies.

    Parameters
    ----------
    workers : int
        Number of worker processes.

    Returns
    -------
    concurrent.futures.ProcessPoolExecutor
        Using the ``forkserver`` start method where available (forking a driver that runs threads, such
        as the progress bar, can deadlock), else ``spawn``. The fork server imports ``__main__`` and
        :data:`POOL_PRELOAD` once; each worker watches the driver and exits if it was killed.
    """
    import multiprocessing as mp

    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["__main__", *POOL_PRELOAD])
    else:
        ctx = mp.get_context("spawn")
    return cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_exit_with_driver,
                                  initargs=(os.getpid(),))


STRAGGLER_WAIT_S = 30.0  # after an error, how long the workers' current runs may take before they are killed


def shutdown_pool(pool: cf.ProcessPoolExecutor, graceful: bool, *, patience: float = STRAGGLER_WAIT_S) -> None:
    """Shut a process pool down: queued runs are cancelled; unless ``graceful``, workers are ended soon.

    Parameters
    ----------
    pool : concurrent.futures.ProcessPoolExecutor
        The pool.
    graceful : bool
        True: wait for the workers to finish. False (the batch stopped on an error or Ctrl-C): do not
        leave workers computing runs nobody will collect.
    patience : float
        With ``graceful=False``: seconds the workers may take to finish the run they are computing (they
        then exit on their own) before they are terminated. Terminating a worker while it writes its
        result to the pool's pipe leaves a half message there, on which the pool's manager thread blocks
        and the interpreter hangs at exit; so an error waits this long, and only Ctrl-C (patience 0) kills
        at once.
    """
    if graceful:
        pool.shutdown(wait=True, cancel_futures=True)
        return
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + max(patience, 0.0)
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(timeout=max(deadline - time.monotonic(), 0.0))
    for p in procs:
        with contextlib.suppress(Exception):
            if p.is_alive():
                p.terminate()
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(timeout=5)


# --- what an executor can do -------------------------------------------------------------------
def dask_client_of(executor: cf.Executor) -> Any:
    """The ``distributed.Client`` behind a Dask ``client.get_executor()``, else None.

    Parameters
    ----------
    executor : concurrent.futures.Executor
        Any executor.

    Returns
    -------
    distributed.Client or None
        The client (the batch engine watches its status to notice a lost scheduler).
    """
    client = getattr(executor, "_client", None)
    if client is not None and type(executor).__module__.startswith("distributed"):
        return client
    return None


def capacity(executor: cf.Executor) -> int:
    """Number of runs ``executor`` can compute at once.

    Parameters
    ----------
    executor : concurrent.futures.Executor
        A process or thread pool, a :class:`SerialExecutor` or a Dask executor.

    Returns
    -------
    int
        Its workers (a Dask cluster's threads, read now: the cluster may grow or shrink); at least 1.
    """
    client = dask_client_of(executor)
    if client is not None:
        try:
            return max(sum(client.nthreads().values()), 1)
        except Exception:  # noqa: BLE001
            return 1
    if isinstance(executor, SerialExecutor):
        return 1
    n = getattr(executor, "_max_workers", None)
    if isinstance(n, int) and n > 0:
        return n
    return os.cpu_count() or 1


SCHEDULER_ADDRESS = re.compile(r"^(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:\d{1,5})?/?$")


def check_scheduler_address(address: str) -> str:
    """Return a Dask scheduler address of the form ``tcp://HOST:PORT`` (or ``tls://``), else raise ValueError.

    Checked before any work, so that a mistyped address is one line naming what is allowed rather than
    an error from deep inside ``distributed`` after the run has started.
    """
    if not isinstance(address, str) or not SCHEDULER_ADDRESS.match(address):
        raise ValueError(f"--scheduler {address!r} is not a scheduler address; allowed: tcp://HOST:PORT "
                         "(e.g. tcp://127.0.0.1:8786)")
    return address


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
            n_workers=workers or cpu_count(), threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=":0", silence_logs=logging.WARNING,
        )
        try:
            client = Client(cluster, timeout=timeout)
        except BaseException:
            cluster.close()
            raise
    else:
        check_scheduler_address(scheduler)
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
    if scheduler is not None:
        check_scheduler_address(scheduler)
    if kind == "serial":
        if workers not in (None, 1):
            raise ValueError(f"the serial executor runs one run at a time; workers must be None or 1, got {workers}")
        ex = SerialExecutor()
        try:
            yield ex
        finally:
            ex.shutdown()
    elif kind == "process":
        pool = new_process_pool(workers or cpu_count())
        graceful, patience = False, STRAGGLER_WAIT_S
        try:
            yield pool
            graceful = True
        except KeyboardInterrupt:
            patience = 0.0
            raise
        finally:
            shutdown_pool(pool, graceful, patience=patience)
    else:
        with dask_client(scheduler, workers, timeout) as client:
            ex = client.get_executor()
            try:
                yield ex
            finally:
                ex.shutdown(wait=False)
