"""Batch-engine benchmark (run on demand; not part of the tests).

Measures, side by side in one process and interleaved over several repeats (medians reported):

- throughput (runs/s) of a process pool with 1 and 2 workers, and its parallel efficiency;
- throughput of a Dask LocalCluster with 1 and 2 workers;
- per-run overhead: of the engine (run_batch with the serial executor) over calling run_fn in a loop, of
  the process pool over the serial engine, and of the Dask scheduler over the process pool; measured with
  near-empty runs (1-row toy table) so that the overhead is not lost in the model's own time.

The workload is the real model (`bantar_sim.engine.task.run_task` with small params) unless `--toy`
(or if the model cannot be imported), in which case a CPU-bound toy run is used.

    .venv/bin/python benchmarks/bench_batch.py                 # real model, table
    .venv/bin/python benchmarks/bench_batch.py --toy --json    # toy workload, JSON summary
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # bantar_sim and the toy run functions (_batch_helpers)

from _batch_helpers import toy_run  # noqa: E402

from bantar_sim.engine.batch import run_batch  # noqa: E402
from bantar_sim.engine.executors import make_executor  # noqa: E402
from bantar_sim.engine.task import RunTask  # noqa: E402

REAL_PARAMS = {"scale": 0.05, "households_per_rt": 20, "end_year": 2016}
TOY_PARAMS = {"spin": 200, "n_rows": 10}  # ~45 ms of single-threaded in-place numpy work, a small table


def workload(use_toy: bool):
    if not use_toy:
        try:
            from bantar_sim.engine.task import run_task

            run_task(RunTask(params=REAL_PARAMS, seed=0))
            return "real model run_task " + json.dumps(REAL_PARAMS), run_task, REAL_PARAMS
        except Exception as e:  # noqa: BLE001
            print(f"real model unavailable ({type(e).__name__}: {e}); using the toy workload", file=sys.stderr)
    return "toy_run " + json.dumps(TOY_PARAMS), toy_run, TOY_PARAMS


def tasks(n: int, params: dict, salt: int) -> list[RunTask]:
    return [RunTask(params=dict(params), seed=salt * 1_000_003 + i, tags={"replicate": i}) for i in range(n)]


def timed_batch(ts, fn, ex, root: Path) -> float:
    out = Path(tempfile.mkdtemp(dir=root))
    t0 = time.perf_counter()
    s = run_batch(ts, fn, out, ex, progress=False)
    dt = time.perf_counter() - t0
    if s.n_done != len(ts):
        raise RuntimeError(f"benchmark batch incomplete: {s}")
    return dt


def timed_direct(ts, fn) -> float:
    t0 = time.perf_counter()
    for t in ts:
        fn(t)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--toy", action="store_true", help="toy workload instead of the real model")
    ap.add_argument("--runs", type=int, default=None,
                    help="runs per throughput measurement (default: 40 real, 200 toy)")
    ap.add_argument("--overhead-runs", type=int, default=400, help="near-empty runs per overhead measurement")
    ap.add_argument("--repeats", type=int, default=3, help="repeats; medians are reported")
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask LocalCluster measurements")
    ap.add_argument("--json", action="store_true", help="print a JSON summary instead of the table")
    args = ap.parse_args(argv)
    name, fn, params = workload(args.toy)
    n = args.runs or (200 if fn is toy_run else 40)
    n_over = args.overhead_runs
    tiny = {"n_rows": 1}

    configs = [("process", 1), ("process", 2)] + ([] if args.no_dask else [("dask", 1), ("dask", 2)])
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp, contextlib.ExitStack() as stack:
        root = Path(tmp)
        t0 = time.perf_counter()
        execs = {}
        for kind, w in configs:
            t = time.perf_counter()
            execs[(kind, w)] = stack.enter_context(make_executor(kind, workers=w))
            timed_batch(tasks(2 * w, params, 999), fn, execs[(kind, w)], root)  # workers import the model
            times.setdefault(f"startup {kind} {w}", []).append(time.perf_counter() - t)
        serial = stack.enter_context(make_executor("serial"))
        print(f"executors started and warmed in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        for rep in range(args.repeats):
            salt = rep + 1
            steps = [("direct", lambda salt=salt: timed_direct(tasks(n, params, salt), fn)),
                     ("serial", lambda salt=salt: timed_batch(tasks(n, params, salt), fn, serial, root)),
                     ("overhead direct", lambda salt=salt: timed_direct(tasks(n_over, tiny, salt), toy_run)),
                     ("overhead serial",
                      lambda salt=salt: timed_batch(tasks(n_over, tiny, salt), toy_run, serial, root))]
            for kind, w in configs:
                ex = execs[(kind, w)]
                steps.append((f"{kind} {w}",
                              lambda ex=ex, salt=salt: timed_batch(tasks(n, params, salt), fn, ex, root)))
                if w == 1:
                    steps.append((f"overhead {kind} 1",
                                  lambda ex=ex, salt=salt: timed_batch(tasks(n_over, tiny, salt), toy_run, ex, root)))
            if rep % 2:
                steps.reverse()  # alternate the order so drift (heat, other load) hits every configuration
            for label, step in steps:
                times.setdefault(label, []).append(step())
                print(f"  repeat {rep + 1}: {label:<18} {times[label][-1]:7.2f} s", file=sys.stderr)

    med = {k: statistics.median(v) for k, v in times.items()}
    thr = {k: n / med[k] for k in ("direct", "serial", *(f"{k} {w}" for k, w in configs))}
    per_run_ms = {k: 1000 * med[f"overhead {k}"] / n_over for k in ("direct", "serial", "process 1")
                  + (() if args.no_dask else ("dask 1",))}
    summary = {
        "workload": name, "runs": n, "overhead_runs": n_over, "repeats": args.repeats,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "seconds_median": med, "runs_per_s": thr,
        "model_s_per_run": med["direct"] / n,
        "parallel_efficiency_process_2": thr["process 2"] / (2 * thr["process 1"]),
        "overhead_ms_per_run": {
            "engine_serial_vs_direct_loop": per_run_ms["serial"] - per_run_ms["direct"],
            "process_pool_vs_serial_engine": per_run_ms["process 1"] - per_run_ms["serial"],
        },
    }
    if not args.no_dask:
        summary["parallel_efficiency_dask_2"] = thr["dask 2"] / (2 * thr["dask 1"])
        summary["overhead_ms_per_run"]["dask_vs_process_pool"] = per_run_ms["dask 1"] - per_run_ms["process 1"]
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"\nworkload: {name}; {n} runs per measurement, median of {args.repeats}; "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"model alone: {1000 * summary['model_s_per_run']:.1f} ms per run\n")
    print(f"{'configuration':<28}{'median s':>10}{'runs/s':>10}{'speed-up':>10}{'efficiency':>12}")
    rows = [("direct loop (no engine)", "direct", 1), ("engine, serial executor", "serial", 1)]
    rows += [(f"engine, {k} pool x{w}" if k == "process" else f"engine, Dask LocalCluster x{w}", f"{k} {w}", w)
             for k, w in configs]
    for label, key, w in rows:
        sp = thr[key] / thr["serial"]
        print(f"{label:<28}{med[key]:>10.2f}{thr[key]:>10.1f}{sp:>10.2f}{sp / w:>12.0%}")
    print("\nper-run overhead, near-empty runs (1-row table):")
    for k, v in per_run_ms.items():
        print(f"  {k:<12} {v:7.2f} ms per run")
    o = summary["overhead_ms_per_run"]
    print(f"  engine over a plain loop:       {o['engine_serial_vs_direct_loop']:6.2f} ms")
    print(f"  process pool over serial:       {o['process_pool_vs_serial_engine']:6.2f} ms")
    if "dask_vs_process_pool" in o:
        print(f"  Dask scheduler over the pool:   {o['dask_vs_process_pool']:6.2f} ms")
    print("\nstartup (create + warm up): " + ", ".join(f"{k[8:]} {v:.1f} s" for k, v in med.items()
                                                      if k.startswith("startup")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
