"""The default calibration against another ABC-SMC proposal, side by side in one run (issue 15, item 4).

Runs ``run_calibration`` once per method on the same priors, targets, seed, budget and machine, one after the
other:

- ``default``: the shipped default (:class:`CalibrationConfig`: pyabc's own kernel mixture, 25 minutes of ABC);
- ``logit``: the kernel mixture fitted in the logit of each prior range with tempered mixture weights
  (``--proposal logit --proposal-ess-share 0.5``, bantar_sim/studies/calibration/transition.py).

For each it records the wall-clock of the whole calibration (ABC, pattern filter, stage 2, predictive runs),
the simulations, the generations, the importance weights' effective sample size per generation and the fit
metrics on the same targets (``fit_metrics.csv``: inside the 90% band, mean absolute error of the median).
``--save`` writes the record that calibration/README.md quotes (``make bench-calibration``: about an hour on
2 cores at production settings; ``--max-walltime`` sets both methods' ABC budget).

    .venv/bin/python benchmarks/bench_calibration_methods.py --save benchmarks/results/bench_calibration_methods.json
    .venv/bin/python benchmarks/bench_calibration_methods.py --tiny      # smoke test: tiny city, 1 generation each
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from bantar_sim.engine.outputs import write_text_atomic  # noqa: E402
from bantar_sim.engine.provenance import git_commit  # noqa: E402
from bantar_sim.model.version import MODEL_VERSION  # noqa: E402
from bantar_sim.studies.calibration import CalibrationConfig, run_calibration  # noqa: E402

#: Issue 15, item 4: the default calibration in at most 10 minutes on 2 cores, including predictive runs.
TARGET_S = 10 * 60
#: (label, proposal, proposal_ess_share) of each method compared.
METHODS = (("default", CalibrationConfig.proposal, CalibrationConfig.proposal_ess_share), ("logit", "logit", 0.5))


def _one(label: str, config: CalibrationConfig) -> dict:
    t0 = time.perf_counter()
    result = run_calibration(config, progress=True)
    wall = time.perf_counter() - t0
    out = Path(config.out)
    prov = json.loads((out / "calibration.json").read_text(encoding="utf-8"))
    prov = prov.get("provenance", prov)
    fit = pd.read_csv(out / "fit_metrics.csv")
    post = pd.read_csv(out / "posterior_summary.csv")
    return {
        "method": label, "proposal": config.proposal, "proposal_ess_share": config.proposal_ess_share,
        "max_walltime_min": config.max_walltime,
        "wall_clock_s": round(wall, 1), "meets_target": wall <= TARGET_S,
        "generations": prov.get("generations"), "simulations": prov.get("total_simulations"),
        "stopped_because": prov.get("stopped_because"),
        "effective_sample_size_per_generation": prov.get("effective_sample_size_per_generation"),
        "fit": [{"target": r.target, "n": int(r.n), "inside_90": int(r.inside_90),
                 "mean_abs_error_median": float(r.mean_abs_error_median)} for r in fit.itertuples()],
        "posterior_90_width_over_prior": {r.parameter: round(float(r.interval_over_prior), 3)
                                          for r in post.itertuples()},
        "calibrated_point": result.point,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=CalibrationConfig.seed)
    ap.add_argument("--max-walltime", type=float, default=CalibrationConfig.max_walltime)
    ap.add_argument("--tiny", action="store_true", help="tiny city, 4 particles, 1 generation (smoke test)")
    ap.add_argument("--save", type=Path, default=None)
    a = ap.parse_args()
    extra = dict(scale=0.05, households_per_rt=10.0, population_size=4, max_populations=1, predictive_runs=4,
                 pattern_reps=1) if a.tiny else {}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_cal_") as tmp:
        for label, proposal, share in METHODS:
            cfg = CalibrationConfig(seed=a.seed, proposal=proposal, proposal_ess_share=share,
                                    max_walltime=a.max_walltime,
                                    prior=ROOT / "calibration" / "priors.toml",
                                    out=Path(tmp) / label, db=Path(tmp) / f"{label}.db",
                                    command=f"bench_calibration_methods ({label})", **extra)
            print(f"--- {label}: proposal {proposal}, ess share {share}, max_walltime {a.max_walltime} min", flush=True)
            rows.append(_one(label, cfg))
            print(json.dumps({k: rows[-1][k] for k in ("wall_clock_s", "generations", "simulations")}), flush=True)
    record = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "model_version": MODEL_VERSION,
              "git_commit": git_commit(), "python": platform.python_version(), "cpus": os.cpu_count(),
              "seed": a.seed, "tiny": a.tiny, "target_s": TARGET_S, "methods": rows}
    text = json.dumps(record, indent=2, default=str)
    print(text)
    if a.save:
        write_text_atomic(a.save, text + "\n")


if __name__ == "__main__":
    main()
