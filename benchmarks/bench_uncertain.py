"""Uncertain-experiment benchmark (issue 16, item 8; run on demand, not part of the tests).

Times ≥ 200 scenarios × every arm of experiments/package.toml at the calibrated household count (the
file's own city: the calibrated set's scale and households per RT) through the batch engine, i.e.
exactly what `bantar-sim experiment experiments/package.toml` runs once the file has an [uncertain]
table: run time (the batch), analysis + report time (robust tables, PRIM, figures), runs/s.

The package file is copied into a temporary folder with an [uncertain] table of `--scenarios` scenarios
(the file's own [uncertain] table, if any, is replaced), so the shipped file is not changed.

    .venv/bin/python benchmarks/bench_uncertain.py                      # 200 scenarios, full city: long
    .venv/bin/python benchmarks/bench_uncertain.py --tiny              # smoke test: 4 scenarios, tiny city
    .venv/bin/python benchmarks/bench_uncertain.py --workers 2 --json  # JSON summary
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bantar_sim.engine.executors import make_executor  # noqa: E402
from bantar_sim.studies.experiment import ExperimentConfig, plan_experiment, run_experiment  # noqa: E402

PACKAGE = ROOT / "experiments" / "package.toml"
TINY_CITY = {"scale": 0.03, "households_per_rt": 8.0, "horizon": 2024}


def bench_file(folder: Path, scenarios: int, tiny: bool) -> Path:
    """package.toml with an [uncertain] table of ``scenarios`` scenarios (and a tiny city with --tiny)."""
    text = PACKAGE.read_text()
    text = re.split(r"^\[uncertain", text, flags=re.M)[0]   # drop the file's own [uncertain] tables
    if tiny:
        text = re.sub(r"^horizon = \d+", f"horizon = {TINY_CITY['horizon']}", text, flags=re.M)
        text = text.replace("[experiment]\n", f"[experiment]\nscale = {TINY_CITY['scale']}\n"
                            f"households_per_rt = {TINY_CITY['households_per_rt']}\n", 1)
    text += f"\n[uncertain]\nscenarios = {scenarios}\n"
    path = folder / "package_uncertain.toml"
    path.write_text(text)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", type=int, default=200)
    ap.add_argument("--tiny", action="store_true", help="4 scenarios on a tiny city: checks the benchmark works")
    ap.add_argument("--executor", default="process", choices=("serial", "process", "dask"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    scenarios = 4 if args.tiny else args.scenarios
    with tempfile.TemporaryDirectory(prefix="bench_uncertain_") as tmp:
        tmp = Path(tmp)
        path = bench_file(tmp, scenarios, args.tiny)
        config = ExperimentConfig(path, out=tmp / "out", command="benchmarks/bench_uncertain.py")
        plan = plan_experiment(config)
        city = plan.experiment.city_settings
        t0 = time.perf_counter()
        workers = 1 if args.executor == "serial" else args.workers
        with make_executor(args.executor, workers, None) as ex:
            result = run_experiment(config, ex, progress=not args.json, plan=plan)
        total = time.perf_counter() - t0
        b = result.batch
        out = {"scenarios": scenarios, "arms": len(plan.experiment.arms), "runs": b.n_total,
               "executed": b.n_done, "failed": b.n_failed, "batch_s": round(b.elapsed_s, 2),
               "analysis_and_report_s": round(total - b.elapsed_s, 2), "total_s": round(total, 2),
               "runs_per_s": round(b.n_done / b.elapsed_s, 3) if b.elapsed_s else None,
               "executor": args.executor, "workers": workers, "scale": city["scale"],
               "households_per_rt": city["households_per_rt"], "horizon": plan.experiment.horizon,
               "cpus": os.cpu_count(), "python": platform.python_version(), "tiny": args.tiny}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{out['runs']} runs ({scenarios} scenarios × {out['arms']} arms, scale {out['scale']:g}, "
              f"{out['households_per_rt']:g} households per RT, to {out['horizon']}): batch {out['batch_s']} s "
              f"({out['runs_per_s']} runs/s, {args.executor} × {workers}), analysis and report "
              f"{out['analysis_and_report_s']} s, total {out['total_s']} s")
    return 1 if out["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
