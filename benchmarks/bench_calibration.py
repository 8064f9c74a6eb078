"""Simulations per second of the calibration's model function (what bounds an ABC-SMC budget).

    .venv/bin/python benchmarks/bench_calibration.py [--runs 20] [--workers 2]

Runs the pyabc model function (bantar_sim.engine.task.run_model + the statistics from its tables) of
calibration/priors.toml (its [settings]: full city, 30 households
per RT) at parameters drawn from the priors, serially and on a process pool, and prints wall-clock
and CPU seconds per simulation. On a shared machine, wall-clock speed depends on the load: the CPU
time per simulation is the stable figure.
"""
from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from bantar_sim.studies.calibration.abc import ParticleModel
from bantar_sim.studies.calibration.stats import StatSpec
from bantar_sim.studies.calibration.targets import load_priors


def _one(args):
    model, pars = args
    c = time.process_time()
    model(pars)
    return time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    pri = load_priors()
    model = ParticleModel(dict(pri.settings), tuple(pri.names), (), StatSpec(), 1, 0, "bench")
    rng = np.random.default_rng(0)
    tasks = [(model, {p.name: rng.uniform(p.low, p.high) for p in pri.priors}) for _ in range(a.runs)]
    print(f"settings {pri.settings}; {a.runs} simulations; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    t = time.perf_counter()
    cpu = [_one(x) for x in tasks]
    wall = time.perf_counter() - t
    print(f"serial:      {a.runs / wall:6.2f} simulations/s wall, {np.mean(cpu):.3f} CPU s per simulation")
    with ProcessPoolExecutor(a.workers) as ex:
        list(ex.map(_one, tasks[:a.workers]))          # warm the workers (imports)
        t = time.perf_counter()
        cpu = list(ex.map(_one, tasks))
        wall = time.perf_counter() - t
    print(f"{a.workers} workers:   {a.runs / wall:6.2f} simulations/s wall, {np.mean(cpu):.3f} CPU s per simulation")


if __name__ == "__main__":
    main()
