"""After the ABC: posterior tables, the calibrated point and the posterior predictive check.

Weighted quantiles are pyabc's (:func:`pyabc.weighted_statistics.weighted_quantile`); the posterior
predictive runs go through :func:`bantar_sim.engine.task.run_model` on the executor the workflow was
given.
"""
from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Mapping

import numpy as np
import pandas as pd

from bantar_sim.engine.task import run_model, spawn_seeds
from bantar_sim.model.data import SUBDISTRICTS, YEARS, table3
from bantar_sim.model.params import SPECS, make_params
from bantar_sim.studies.calibration.abc import particle_model
from bantar_sim.studies.calibration.stats import LAST_YEAR, StatSpec, winners_and_proposals
from bantar_sim.studies.calibration.targets import Targets, Variant

START_YEAR = YEARS[0]
PREDICTIVE_TABLES = ("subdistrict_year",)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs) -> np.ndarray:
    """Weighted quantiles (pyabc's definition: the midpoint rule of the cumulative weights).

    Parameters
    ----------
    values, weights : array
        Sample and its (non-negative) weights; the weights are normalised here.
    qs : sequence of float
        Quantile levels in [0, 1].
    """
    from pyabc.weighted_statistics import weighted_quantile
    w = np.asarray(weights, float)
    w = w / w.sum()
    v = np.asarray(values, float)
    return np.array([weighted_quantile(v, w, alpha=q) for q in np.atleast_1d(qs)])


def posterior_summary(df: pd.DataFrame, w: np.ndarray, variant: Variant, truth: Mapping | None) -> pd.DataFrame:
    """Weighted median and 90% interval per calibrated parameter (and, for a synthetic test, a verdict)."""
    rows = []
    for p in variant.priors:
        lo, med, hi = weighted_quantiles(df[p.name].to_numpy(), w, [0.05, 0.5, 0.95])
        width = (hi - lo) / (p.high - p.low)
        row = {"parameter": p.name, "median": med, "q05": lo, "q95": hi, "prior_low": p.low,
               "prior_high": p.high, "interval_over_prior": width, "unit": SPECS[p.name].unit}
        if truth is not None:
            t = truth[p.name]
            inside = bool(lo <= t <= hi)
            row.update(truth=t, truth_in_90=inside)
            row["verdict"] = ("recovered" if inside and width < 0.5 else
                              "weakly identified (true value inside, interval >= half the prior)" if inside
                              else "not recovered (true value outside the 90% interval)")
        rows.append(row)
    return pd.DataFrame(rows)


def calibrated_values(point: Mapping, variant: Variant) -> dict:
    """The calibrated set: the chosen accepted particle (integers rounded) plus the settings.

    Not the marginal medians: the posterior is wide and correlated (capacity fixed vs per RT, intercept vs
    contagion), and the medians of such a posterior can be a poor joint point (tried on the default run:
    756 winners in 2014–2020 against 614 published).
    """
    vals = dict(variant.settings)
    for p in variant.priors:
        v = float(point[p.name])
        vals[p.name] = int(round(v)) if p.integer else v
    make_params(vals, where="calibrated set")
    return vals


# ---------------------------------------------------------------------------- posterior predictive
def predictive_run(task: tuple[dict, int]) -> dict:
    """One posterior predictive simulation to 2020 (``(params, seed)``): winners per year and
    sub-district, proposing RTs, simulated RTs (:func:`~bantar_sim.studies.calibration.stats.
    winners_and_proposals` of the run's tables).
    """
    params, seed = task
    return winners_and_proposals(run_model({**params, "end_year": LAST_YEAR}, seed, PREDICTIVE_TABLES))


def posterior_predictive(df: pd.DataFrame, w: np.ndarray, variant: Variant, seed: int, runs: int,
                         executor: cf.Executor, progress: bool = True, desc: str = "posterior predictive",
                         extra: Mapping | None = None) -> dict:
    """``runs`` simulations at particles drawn by weight (seeded from ``seed``), on ``executor``; ``extra``
    settings (stage 2's named sub-district effects) are held fixed in every run.

    Returns
    -------
    dict
        ``won`` (runs x years x sub-districts), ``proposals`` (runs x sub-districts), ``rts``, the
        ``seeds`` and the drawn ``particles``.
    """
    from tqdm import tqdm
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(df), size=runs, p=w / w.sum())
    seeds = spawn_seeds(seed + 1, runs)
    model = particle_model(variant, StatSpec(), seed)
    tasks = [({**model.params_for(df.iloc[i]), **(extra or {})}, s) for i, s in zip(idx, seeds)]
    results = list(tqdm(executor.map(predictive_run, tasks), total=len(tasks), unit="run", desc=desc,
                        disable=not progress))
    return {"won": np.stack([r["won"] for r in results]), "proposals": np.stack([r["proposals"] for r in results]),
            "rts": results[0]["rts"], "seeds": seeds, "particles": idx}


def observed_arrays(targets: Targets, rts_sim: np.ndarray) -> dict:
    """Table 3 scaled to the simulated city (each sub-district by its share of RTs)."""
    ratio = rts_sim / table3().rts.loc[list(SUBDISTRICTS)].to_numpy()
    won = targets.winners.loc[list(SUBDISTRICTS), list(YEARS)].to_numpy().T * ratio   # (years, sd)
    return {"won": won, "proposals": targets.proposals.loc[list(SUBDISTRICTS)].to_numpy() * ratio}


def fit_metrics(pred: dict, obs: dict, spec: StatSpec) -> pd.DataFrame:
    """Coverage of 90% predictive intervals and errors of predictive medians, per target group."""
    ny = spec.last_year - START_YEAR + 1
    groups = {
        f"city winners per year (2015–{spec.last_year})":
            (pred["won"].sum(axis=2)[:, 1:ny], obs["won"].sum(axis=1)[1:ny]),
        f"cumulative winners per sub-district (2014–{spec.last_year})":
            (pred["won"][:, :ny].sum(axis=1), obs["won"][:ny].sum(axis=0)),
        "RTs proposed to the city, per sub-district (2014–2020)": (pred["proposals"], obs["proposals"]),
    }
    if spec.last_year < YEARS[-1]:
        groups[f"held-out city winners ({spec.last_year + 1}–2020)"] = (
            pred["won"].sum(axis=2)[:, ny:], obs["won"].sum(axis=1)[ny:])
        groups[f"held-out winners per sub-district and year ({spec.last_year + 1}–2020)"] = (
            pred["won"][:, ny:].reshape(len(pred["won"]), -1), obs["won"][ny:].ravel())
    rows = []
    for name, (sim, o) in groups.items():
        lo, med, hi = np.quantile(sim, [0.05, 0.5, 0.95], axis=0)
        inside = (o >= lo) & (o <= hi)
        rows.append({"target": name, "n": int(o.size), "inside_90": int(inside.sum()),
                     "coverage_90": float(inside.mean()), "rmse_median": float(np.sqrt(np.mean((med - o) ** 2))),
                     "mean_abs_error_median": float(np.mean(np.abs(med - o))),
                     "observed_total": float(o.sum()), "predicted_total_median": float(np.median(sim.sum(axis=1))),
                     "predicted_total_q05": float(np.quantile(sim.sum(axis=1), 0.05)),
                     "predicted_total_q95": float(np.quantile(sim.sum(axis=1), 0.95))})
    return pd.DataFrame(rows)


def heldout_table(pred: dict, obs: dict, spec: StatSpec) -> pd.DataFrame:
    """Per held-out year and area: published winners, predictive median and 90% interval."""
    rows = []
    for yi in range(spec.last_year - START_YEAR + 1, len(YEARS)):
        y = YEARS[yi]
        names = ["Jambi City (all)", *SUBDISTRICTS]
        sims = [pred["won"][:, yi].sum(axis=1), *[pred["won"][:, yi, s] for s in range(len(SUBDISTRICTS))]]
        obs_v = [obs["won"][yi].sum(), *obs["won"][yi]]
        for n, sim, o in zip(names, sims, obs_v):
            lo, med, hi = np.quantile(sim, [0.05, 0.5, 0.95])
            rows.append({"year": y, "area": n, "published": float(o), "median": float(med), "q05": float(lo),
                         "q95": float(hi), "inside_90": bool(lo <= o <= hi)})
    return pd.DataFrame(rows)
