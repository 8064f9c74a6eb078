"""What the default sensitivity batch costs on this machine, and whether it fits the 45-minute budget.

    .venv/bin/python benchmarks/bench_sensitivity.py [--file experiments/sensitivity.toml] [--method sobol]
                                                     [--runs 12] [--pool]

Runs the first few tasks of the shipped design in this process and reports CPU seconds per run
(time.process_time: what a run costs a core, little affected by other users of the machine) and wall
seconds per run, then projects the whole batch on all cores. `--pool` also pushes twice as many tasks
through the batch engine with a process pool (one worker per core) and reports the runs per second
actually achieved, which includes any contention from other work on the machine.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bantar_sim.engine.task import run_task  # noqa: E402
from bantar_sim.model.version import MODEL_VERSION  # noqa: E402
from bantar_sim.studies.sensitivity import METHODS, SensitivityConfig, plan_sensitivity  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", default=str(REPO / "experiments" / "sensitivity.toml"))
    ap.add_argument("--method", default="sobol", choices=METHODS)
    ap.add_argument("--runs", type=int, default=12, help="tasks timed in this process")
    ap.add_argument("--pool", action="store_true", help="also time a process pool through the batch engine")
    ap.add_argument("--pool-runs", type=int, default=80, help="runs pushed through the pool (default 80)")
    ap.add_argument("--budget-min", type=float, default=45.0)
    args = ap.parse_args()

    # The tasks the command would run (problem, calibrated set, design), without running or writing anything.
    plan = plan_sensitivity(SensitivityConfig(args.file, method=args.method))
    prob, design, tasks = plan.problem, plan.design, plan.tasks
    cores = len(os.sched_getaffinity(0))
    load = os.getloadavg()[0]
    # Spread the timed tasks over the design (parameter values change the cost of a run).
    step = max(1, len(tasks) // args.runs)
    sample = tasks[::step][: args.runs]
    run_task(sample[0])   # warm-up: imports, caches
    cpu, wall = [], []
    for t in sample:
        c0, w0 = time.process_time(), time.perf_counter()
        run_task(t)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    cpu_s, wall_s = sum(cpu) / len(cpu), sum(wall) / len(wall)
    n = len(tasks)
    proj = n * cpu_s / cores / 60
    print(f"{prob.source} --method {args.method}: {n} runs ({design.n_points} points x {prob.replications} "
          f"replications), {cores} cores, load average {load:.1f} at start")
    print(f"one run, in this process ({len(sample)} runs): {cpu_s:.3f} CPU s, {wall_s:.3f} wall s")
    print(f"projected batch on {cores} idle cores: {n} x {cpu_s:.3f} s / {cores} = {proj:.1f} min "
          f"({'within' if proj <= args.budget_min else 'OVER'} the {args.budget_min:g}-minute budget)")
    if args.pool:
        from bantar_sim.engine.batch import run_batch
        from bantar_sim.engine.executors import make_executor
        k = args.pool_runs
        with tempfile.TemporaryDirectory() as d, make_executor("process", cores) as ex:
            list(ex.map(abs, range(cores)))   # start the workers before the clock does
            summary = run_batch(tasks[::max(1, n // k)][:k], run_task, Path(d) / "runs", ex,
                                model_version=MODEL_VERSION, progress=False)
        rate = summary.n_done / summary.elapsed_s
        print(f"process pool, {cores} workers, {summary.n_done} runs through the batch engine: {rate:.2f} runs/s "
              f"-> {n / rate / 60:.1f} min for the batch at this machine's current load "
              f"(load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
