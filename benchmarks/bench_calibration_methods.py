"""The default calibration against the previous default, side by side in one run (issue 15, item 4).

Runs ``run_calibration`` once per method on the same priors, targets, seed and machine, one after the
other:

- ``reference``: the default since issue 15 (:class:`CalibrationConfig`: a reference table of 2,500 prior
  simulations, the closest 30% accepted; bantar_sim/studies/calibration/reference.py), with a fresh table
  (nothing reused);
- ``abc-smc``: the previous default (``--method abc-smc``: pyabc's own kernel mixture, 200 particles, up to
  10 generations and 25 minutes of ABC);
- ``abc-smc-logit`` (``--with-logit``): the same with the kernel mixture fitted in the logit of each prior
  range and tempered mixture weights (``--proposal logit --proposal-ess-share 0.5``).

For each it records the wall-clock of the whole calibration (table or ABC, pattern check, stage 2,
predictive runs), the simulations, the effective sample size, and the fit metrics on the same targets of
the posterior predictive (``fit_metrics.csv``) and of the calibrated set alone (``fit_metrics_point.csv``;
the previous default's posterior had an effective sample size of 1.5, so its posterior predictive was in
effect the point's). ``--save`` writes the record that calibration/README.md quotes (``make
bench-calibration``: about 40 minutes on 2 cores at production settings).

    .venv/bin/python benchmarks/bench_calibration_methods.py --save benchmarks/results/bench_calibration_methods.json
    .venv/bin/python benchmarks/bench_calibration_methods.py --tiny      # smoke test: tiny city, tiny budgets
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
#: (label, CalibrationConfig options) of each method compared; the first is the default.
METHODS = (("reference", {}), ("abc-smc", {"method": "abc-smc"}))
LOGIT = ("abc-smc-logit", {"method": "abc-smc", "proposal": "logit", "proposal_ess_share": 0.5})


def _fit(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [{"target": r.target, "n": int(r.n), "inside_90": int(r.inside_90),
             "rmse_median": float(r.rmse_median), "mean_abs_error_median": float(r.mean_abs_error_median)}
            for r in pd.read_csv(path).itertuples()]


def _one(label: str, config: CalibrationConfig) -> dict:
    t0 = time.perf_counter()
    result = run_calibration(config, progress=True)
    wall = time.perf_counter() - t0
    out = Path(config.out)
    prov = json.loads((out / "calibration.json").read_text(encoding="utf-8"))
    prov = prov.get("provenance", prov)
    post = pd.read_csv(out / "posterior_summary.csv")
    smc = config.calibration_method == "abc-smc"
    return {
        "method": label, "calibration_method": config.calibration_method, "described": config.describe_method(),
        "proposal": config.proposal if smc else None, "proposal_ess_share": config.proposal_ess_share if smc else None,
        "max_walltime_min": config.max_walltime if smc else None,
        "wall_clock_s": round(wall, 1), "meets_target": wall <= TARGET_S,
        "generations": prov.get("generations"), "simulations": prov.get("total_simulations"),
        "stopped_because": prov.get("stopped_because"),
        "effective_sample_size_per_generation": prov.get("effective_sample_size_per_generation"),
        "effective_sample_size": prov.get("effective_sample_size"),
        "particles_passing_patterns": result.particles_passing_patterns,
        "point_passes_patterns": result.chosen.get("point_passes_patterns"),
        "fit": _fit(out / "fit_metrics.csv"), "fit_point": _fit(out / "fit_metrics_point.csv"),
        "posterior_90_width_over_prior": {r.parameter: round(float(r.interval_over_prior), 3)
                                          for r in post.itertuples()},
        "calibrated_point": result.point,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=CalibrationConfig.seed)
    ap.add_argument("--with-logit", action="store_true", help="also ABC-SMC with the logit proposal")
    ap.add_argument("--tiny", action="store_true", help="tiny city and budgets (smoke test)")
    ap.add_argument("--save", type=Path, default=None)
    a = ap.parse_args()
    common = dict(scale=0.05, households_per_rt=10.0, predictive_runs=4, pattern_reps=1) if a.tiny else {}
    tiny = {"reference": {"reference": 40}, "abc-smc": {"population_size": 4, "max_populations": 1}}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_cal_") as tmp:
        for label, options in (*METHODS, *((LOGIT,) if a.with_logit else ())):
            extra = {**options, **(tiny[options.get("method", "reference")] if a.tiny else {})}
            cfg = CalibrationConfig(seed=a.seed, prior=ROOT / "calibration" / "priors.toml",
                                    out=Path(tmp) / label, db=Path(tmp) / f"{label}.db",
                                    command=f"bench_calibration_methods ({label})", **common, **extra)
            print(f"--- {label}: {cfg.describe_method()}", flush=True)
            rows.append(_one(label, cfg))
            print(json.dumps({k: rows[-1][k] for k in ("wall_clock_s", "simulations", "particles_passing_patterns")}),
                  flush=True)
    record = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "model_version": MODEL_VERSION,
              "git_commit": git_commit(), "python": platform.python_version(), "cpus": os.cpu_count(),
              "seed": a.seed, "tiny": a.tiny, "target_s": TARGET_S, "methods": rows}
    text = json.dumps(record, indent=2, default=str)
    print(text)
    if a.save:
        write_text_atomic(a.save, text + "\n")


if __name__ == "__main__":
    main()
