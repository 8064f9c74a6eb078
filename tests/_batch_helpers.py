"""Picklable toy run functions and helpers for the batch-engine tests and benchmark.

``toy_run(task)`` is deterministic from ``task.seed`` (numpy ``default_rng``) and reacts to params:
``n_rows`` (rows of the "draws" table, default 1), ``sleep`` (seconds), ``fail`` (raise ValueError),
``fail_unless_exists`` (raise unless that path exists: fails first, succeeds on rerun once the test
creates the file), ``crash`` (SIGKILL the worker process itself), ``spin`` (CPU work, for benchmarks).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bantar_sim.engine.task import RunTask

REPO = Path(__file__).resolve().parents[1]


def toy_run(task: RunTask) -> dict[str, pd.DataFrame]:
    p = task.params
    if p.get("sleep"):
        time.sleep(float(p["sleep"]))
    if p.get("fail"):
        raise ValueError(f"toy failure requested (x={p.get('x')})")
    if p.get("fail_unless_exists") and not os.path.exists(p["fail_unless_exists"]):
        raise RuntimeError(f"flag file {p['fail_unless_exists']} missing")
    if p.get("crash"):
        os.kill(os.getpid(), signal.SIGKILL)
    rng = np.random.default_rng(task.seed)
    if p.get("spin"):  # CPU work: single-threaded numpy, in place (no allocation, so malloc settings such as
        x = rng.random(100_000)  # Dask workers' MALLOC_TRIM_THRESHOLD_ do not change its speed), deterministic
        for _ in range(int(p["spin"])):
            np.multiply(x, 1.0001, out=x)
            np.add(x, 0.1, out=x)
            np.sqrt(x, out=x)
    n = int(p.get("n_rows", 1))
    draws = pd.DataFrame({
        "step": np.arange(n, dtype=np.int64),
        "value": rng.normal(float(p.get("mu", 0.0)), 1.0, size=n),
        "count": rng.integers(0, 1000, size=n),
        "label": np.where(rng.random(n) < 0.5, "low", "high"),
    })
    summary = pd.DataFrame({"mean": [float(draws["value"].mean())], "x": [float(p.get("x", 0.0))]})
    return {"draws": draws, "summary": summary}


def tiny_run(task: RunTask) -> dict[str, pd.DataFrame]:
    """The cheapest run that still returns a table (1 row): for memory and overhead measurements."""
    return {"t": pd.DataFrame({"v": [task.seed % 1000]})}


def toy_tasks(n: int, *, base_seed: int = 12345, **params) -> list[RunTask]:
    seeds = np.random.SeedSequence(base_seed).generate_state(n, dtype=np.uint64)
    return [RunTask(params={"x": i, **params}, seed=int(s), tags={"arm": "ab"[i % 2], "replicate": i})
            for i, s in enumerate(seeds)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env() -> dict[str, str]:
    """Environment for child processes that must import bantar_sim and this helper module."""
    env = dict(os.environ)
    paths = [str(REPO), str(REPO / "tests")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def python_subprocess(code: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], env=subprocess_env(), **kw)


REAL_PARAMS = {"scale": 0.05, "households_per_rt": 20, "end_year": 2016}


def real_run_task():
    """The lead's model entry point if it imports and runs on small params, else None."""
    try:
        from bantar_sim.engine.task import run_task

        run_task(RunTask(params=REAL_PARAMS, seed=1))
        return run_task
    except Exception:  # noqa: BLE001 - the model is someone else's work in progress
        return None


def expected_table(tasks, table: str, model_version: str) -> pd.DataFrame:
    """What load_table should return for toy_run tasks, computed by calling toy_run directly (no sleeping)."""
    frames = []
    for t in tasks:
        quick = RunTask(params={**t.params, "sleep": 0}, seed=t.seed, tags=t.tags)
        df = toy_run(quick)[table]
        df.insert(0, "run_id", t.run_id(model_version))
        for i, (k, v) in enumerate(t.tags.items()):
            df.insert(1 + i, k, v)
        frames.append(df)
    return pd.concat(frames, ignore_index=True).sort_values("run_id", kind="stable", ignore_index=True)
