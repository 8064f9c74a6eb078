"""Uncertain-experiment benchmark (issue 16, item 8; run on demand, not part of the tests).

Times `bantar-sim experiment experiments/package.toml` as shipped — its [uncertain] table's 200 scenarios ×
every arm, at the calibrated household count (the calibrated set's scale and households per RT) — through the
batch engine into an empty folder: run time (the batch), analysis + report time (robust tables, PRIM,
figures), runs/s. ``--scenarios N`` changes only the table's scenario count (in a temporary copy; the shipped
file is not changed). ``--save`` writes the record that experiments/README.md's benchmark paragraph is
generated from (`make bench-uncertain`, then `make docs`).

    .venv/bin/python benchmarks/bench_uncertain.py --save benchmarks/results/bench_uncertain.json   # ~10 min
    .venv/bin/python benchmarks/bench_uncertain.py --tiny              # smoke test: 4 scenarios, tiny city
    .venv/bin/python benchmarks/bench_uncertain.py --executor dask --scheduler tcp://head:8786   # a cluster
"""

from __future__ import annotations

import argparse
import datetime as dt
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
from bantar_sim.engine.outputs import write_text_atomic  # noqa: E402
from bantar_sim.model.version import MODEL_VERSION  # noqa: E402
from bantar_sim.studies.experiment import ExperimentConfig, plan_experiment, run_experiment  # noqa: E402

PACKAGE = ROOT / "experiments" / "package.toml"
#: Issue 16, item 8: >= 200 scenarios x every arm of package.toml in <= 20 minutes on 2 cores.
TARGET_S = 20 * 60
TINY_CITY = {"scale": 0.03, "households_per_rt": 8.0, "horizon": 2024}


def bench_file(folder: Path, scenarios: int | None, tiny: bool) -> Path:
    """package.toml as shipped, with ``scenarios`` scenarios if given (and a tiny city with --tiny)."""
    text = PACKAGE.read_text()
    if scenarios is not None:
        head, sep, tail = text.partition("\n[uncertain]\n")
        if not sep:
            raise SystemExit(f"{PACKAGE}: no [uncertain] table")
        tail = re.sub(r"^scenarios = \d+", f"scenarios = {scenarios}", tail, count=1, flags=re.M)
        text = head + sep + tail
    if tiny:
        text = re.sub(r"^horizon = \d+", f"horizon = {TINY_CITY['horizon']}", text, flags=re.M)
        text = text.replace("[experiment]\n", f"[experiment]\nscale = {TINY_CITY['scale']}\n"
                            f"households_per_rt = {TINY_CITY['households_per_rt']}\n", 1)
    path = folder / "package.toml"
    path.write_text(text)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", type=int, default=None, help="default: the file's (200)")
    ap.add_argument("--tiny", action="store_true", help="4 scenarios on a tiny city: checks the benchmark works")
    ap.add_argument("--executor", default="process", choices=("serial", "process", "dask"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scheduler", default=None, help="Dask scheduler address (with --executor dask)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--save", type=Path, default=None, help="write the JSON record here (atomically)")
    args = ap.parse_args()
    scenarios = 4 if args.tiny else args.scenarios
    if args.save is not None and (args.tiny or scenarios is not None):
        raise SystemExit("--save records the shipped file's run only: drop --tiny and --scenarios")
    with tempfile.TemporaryDirectory(prefix="bench_uncertain_") as tmp:
        tmp = Path(tmp)
        path = bench_file(tmp, scenarios, args.tiny)
        config = ExperimentConfig(path, out=tmp / "out", command="benchmarks/bench_uncertain.py")
        plan = plan_experiment(config)
        city = plan.experiment.city_settings
        t0 = time.perf_counter()
        workers = 1 if args.executor == "serial" else args.workers
        with make_executor(args.executor, workers, args.scheduler) as ex:
            result = run_experiment(config, ex, progress=not args.json, plan=plan)
        total = time.perf_counter() - t0
        b = result.batch
        unc = plan.experiment.uncertain
        out = {"file": "experiments/package.toml", "scenarios": unc.scenarios if unc is not None else None,
               "arms": len(plan.experiment.arms), "runs": b.n_total,
               "executed": b.n_done, "failed": b.n_failed, "batch_s": round(b.elapsed_s, 2),
               "analysis_and_report_s": round(total - b.elapsed_s, 2), "total_s": round(total, 2),
               "runs_per_s": round(b.n_done / b.elapsed_s, 3) if b.elapsed_s else None,
               "executor": args.executor, "workers": workers, "scale": city["scale"],
               "households_per_rt": city["households_per_rt"], "horizon": plan.experiment.horizon,
               "cpus": os.cpu_count(), "python": platform.python_version(), "tiny": args.tiny,
               "target_s": TARGET_S, "meets_target": total <= TARGET_S, "model_version": MODEL_VERSION,
               "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
               "command": "benchmarks/bench_uncertain.py " + " ".join(sys.argv[1:])}
    if args.save is not None:
        write_text_atomic(args.save, json.dumps(out, indent=2) + "\n")
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{out['runs']} runs ({out['scenarios']} scenarios × {out['arms']} arms, scale {out['scale']:g}, "
              f"{out['households_per_rt']:g} households per RT, to {out['horizon']}): batch {out['batch_s']} s "
              f"({out['runs_per_s']} runs/s, {args.executor} × {workers}), analysis and report "
              f"{out['analysis_and_report_s']} s, total {out['total_s']} s")
    return 1 if out["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
