"""Secondary patterns as filters on the calibrated posterior (pattern-oriented modelling).

Table 3 fixes the winner counts (patterns 1 and 2) but says nothing about what happens inside an RT after
its award. Fitting the counts alone admits parameter sets in which awarded RTs never stop practising, which
contradicts the paper ("The bantar concept did not continue after the assessment process in several RTs,
due to the waning of community participation", §Result). Following Grimm et al. (2005, Science 310:987),
the patterns enter the ABC distance as a fourth target group (their violation, observed 0), and each
accepted particle is then re-simulated and kept only if it shows the brief's patterns 3 and 4; the
calibrated set is the best-fitting particle among those kept. The criteria and the pattern statistics are
in :mod:`bantar_sim.studies.calibration.stats` (:data:`PATTERN_CRITERIA`, :func:`pattern_stats`), computed
from a run's ``rt_year`` table; this module re-simulates and filters.
"""
from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Mapping

import numpy as np
import pandas as pd

from bantar_sim.engine.task import run_model, spawn_seeds
from bantar_sim.studies.calibration.abc import particle_model
from bantar_sim.studies.calibration.stats import (
    LAST_YEAR,
    PATTERN_CRITERIA,
    Criterion,
    StatSpec,
    passes,
    pattern_stats,
    scaled_distance,
    table_stats,
    violation,
)
from bantar_sim.studies.calibration.targets import Variant

__all__ = ["PATTERN_CRITERIA", "Criterion", "pattern_stats", "violation", "passes", "filter_particles",
           "pattern_filter", "FILTER_TABLES"]

FILTER_TABLES = ("subdistrict_year", "rt_year")


def _particle_run(task) -> dict:
    """One re-simulation of a particle to 2020: pattern statistics and the calibration's statistics."""
    index, rep, params, seed = task
    tables = run_model({**params, "end_year": LAST_YEAR}, seed, FILTER_TABLES)
    return {"particle": index, "replicate": rep, **pattern_stats(tables["rt_year"]),
            **table_stats(tables, StatSpec())}


def filter_particles(particles: list[dict], observed: Mapping[str, float], spec: StatSpec,
                     seeds: list[list[int]], executor: cf.Executor, progress: bool = True) -> pd.DataFrame:
    """Re-simulate each particle once per seed.

    Returns
    -------
    DataFrame
        One row per particle with the mean pattern statistics, the mean re-simulated distance and whether
        it passes every criterion (``passes``).
    """
    from tqdm import tqdm
    tasks = [(i, r, params, s) for i, (params, ss) in enumerate(zip(particles, seeds)) for r, s in enumerate(ss)]
    rows = list(tqdm(executor.map(_particle_run, tasks), total=len(tasks), unit="run",
                     desc="pattern filter (patterns 3, 4)", disable=not progress))
    runs = pd.DataFrame(rows)
    runs["distance"] = scaled_distance(runs, observed, spec)
    cols = list(PATTERN_CRITERIA) + ["lapsed_by_2020", "distance"]
    per = runs.groupby("particle")[cols].mean()
    per["passes"] = [passes(r) for r in per.to_dict("records")]
    return per.reset_index()


def pattern_filter(variant: Variant, spec: StatSpec, df: pd.DataFrame, w: np.ndarray,
                   observed: Mapping[str, float], seed: int, reps: int, executor: cf.Executor,
                   progress: bool = True) -> tuple[dict, dict, list[str], pd.DataFrame]:
    """Re-simulate every accepted particle, keep those that show patterns 3 and 4, and pick the point.

    The calibrated point is the passing particle with the smallest mean re-simulated distance to Table 3;
    if none passes, the particle with the smallest distance, flagged as such (never called "passing").

    Returns
    -------
    (dict, dict, list of str, DataFrame)
        The point's parameter values; what was chosen and how (for the provenance, including
        ``particles_passing_patterns``); the summary lines; the per-particle table (``patterns.csv``).
    """
    model = particle_model(variant, StatSpec(), seed)
    particles = [model.params_for(df.iloc[i]) for i in range(len(df))]
    flat = spawn_seeds(seed + 2, len(df) * reps)
    seeds = [flat[i * reps:(i + 1) * reps] for i in range(len(df))]
    per = filter_particles(particles, observed, spec, seeds, executor, progress=progress)
    per.insert(1, "weight", w)
    for p in variant.priors:
        per[p.name] = df[p.name].to_numpy()
    n_pass = int(per["passes"].sum())
    w_pass = float(w[per["passes"].to_numpy()].sum())
    lines = [f"\npattern filter ({reps} re-simulations per particle; bantar_sim/studies/calibration/patterns.py):"]
    for k, c in PATTERN_CRITERIA.items():
        ok = per[k].between(c.low, c.high)
        lines.append(f"  {k:<22} in [{c.low:g}, {c.high:g}]: {int(ok.sum())}/{len(per)} particles "
                     f"(median {per[k].median():.3g})")
    lines.append(f"  all patterns: {n_pass}/{len(per)} particles, posterior weight {w_pass:.3f}")
    if n_pass:
        best = per[per["passes"]].sort_values("distance").iloc[0]
        point_note = ("accepted particle of the last generation that passes the pattern filter, with the "
                      "smallest mean re-simulated distance")
    else:
        best = per.sort_values("distance").iloc[0]
        point_note = "NO particle passes the pattern filter: the particle with the smallest re-simulated distance"
        lines.append("  WARNING: no accepted particle shows patterns 3 and 4; this result cannot be promoted "
                     "to the shipped set (the point below is chosen by fit alone)")
    i = int(best["particle"])
    crit = ", ".join(f"{k} {best[k]:.3g}" for k in PATTERN_CRITERIA)
    lines.append(f"  calibrated point: particle {i}, re-simulated distance {best['distance']:.3g}; {crit}")
    chosen = {"point": point_note, "point_distance": float(best["distance"]), "pattern_reps": reps,
              "particles_passing_patterns": n_pass, "posterior_weight_passing_patterns": round(w_pass, 4),
              **{f"point_{k}": float(best[k]) for k in PATTERN_CRITERIA}}
    return {p.name: float(df[p.name].iloc[i]) for p in variant.priors}, chosen, lines, per
