"""Secondary patterns as filters on the calibrated posterior (pattern-oriented modelling).

Table 3 fixes the winner counts (patterns 1 and 2) but says nothing about what happens inside an RT after
its award. Fitting the counts alone admits parameter sets in which awarded RTs never stop practising, which
contradicts the paper ("The bantar concept did not continue after the assessment process in several RTs,
due to the waning of community participation", §Result). Following Grimm et al. (2005, Science 310:987),
the patterns enter the ABC distance as a fourth target group (their violation, observed 0), and each
accepted particle is then re-simulated and kept only if it shows the brief's patterns 3 and 4; the
calibrated set is the weighted medoid of the particles kept (:func:`weighted_medoid`). The criteria and
the pattern statistics are in :mod:`bantar_sim.studies.calibration.stats` (:data:`PATTERN_CRITERIA`,
:func:`pattern_stats`), computed from a run's ``rt_year`` table; this module re-simulates and filters.
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
           "pattern_filter", "weighted_medoid", "FILTER_TABLES", "MEDOID_NOTE"]

FILTER_TABLES = ("subdistrict_year", "rt_year")
MEDOID_NOTE = "weighted medoid of the pattern-passing particles (prior-range scaled)"


def weighted_medoid(values: np.ndarray, weights: np.ndarray, lows: np.ndarray, highs: np.ndarray,
                    candidates: np.ndarray | None = None) -> int:
    """The weighted medoid: the particle with the smallest weighted sum of distances to all the others.

    Why a medoid: the old point (the passing particle with the smallest *noisy* re-simulated distance)
    is the arg-min of a few stochastic runs per particle, so it jumps across the posterior from one seed
    to the next (issue 15 item 6). The medoid depends on the whole weighted cloud of particles, which
    two seeds estimate alike, and it is still a real particle (so it passed the patterns), unlike a
    posterior mean or median that may fall between the modes of a correlated posterior.

    Parameters
    ----------
    values : ndarray, shape (n, k)
        The particles' parameter values.
    weights : ndarray, shape (n,)
        Their posterior weights (need not sum to 1; must be >= 0 with a positive sum over ``candidates``).
    lows, highs : ndarray, shape (k,)
        The prior ranges: each parameter is scaled by ``high - low`` so that no parameter's unit
        dominates the Euclidean distance.
    candidates : ndarray of bool, shape (n,), optional
        Which particles may be chosen and enter the sum (default all); e.g. the pattern-passing ones.

    Returns
    -------
    int
        The row index (into ``values``) of the medoid; always a candidate.

    Raises
    ------
    ValueError
        No candidate, or shapes that do not match.
    """
    x = np.asarray(values, float)
    w = np.asarray(weights, float)
    if x.ndim != 2 or w.shape != (x.shape[0],):
        raise ValueError(f"values must be (n, k) and weights (n,); got {x.shape} and {w.shape}")
    mask = np.ones(len(x), bool) if candidates is None else np.asarray(candidates, bool)
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        raise ValueError("weighted_medoid: no candidate particle")
    span = np.asarray(highs, float) - np.asarray(lows, float)
    z = x[idx] / span
    d = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(axis=-1))
    wc = w[idx]
    if not np.isfinite(wc).all() or wc.sum() <= 0:
        wc = np.ones_like(wc)
    return int(idx[int(np.argmin(d @ wc))])


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

    The calibrated point is the weighted medoid of the passing particles (:func:`weighted_medoid`, each
    parameter scaled by its prior range, weights = posterior weights): stable across seeds, and a real
    particle that passed. If none passes, the particle with the smallest mean re-simulated distance,
    flagged as such (never called "passing"; such a result cannot be promoted).

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
        names = [p.name for p in variant.priors]
        m = weighted_medoid(per[names].to_numpy(float), per["weight"].to_numpy(float),
                            np.array([p.low for p in variant.priors]), np.array([p.high for p in variant.priors]),
                            per["passes"].to_numpy(bool))
        best = per.iloc[m]
        point_note = MEDOID_NOTE
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
