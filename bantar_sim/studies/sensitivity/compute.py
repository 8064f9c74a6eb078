"""The computation: run tasks for the design, the outputs read back from the batch store, SALib's
analysis on the replication means, the seed's share of the variance and the convergence check.

What is ours rather than SALib's, and why (docs/sensitivity.md): common random numbers (replicate r
runs with the same seed at every design point, so the seed's common effect cancels in the differences
the estimators use); analysis on replication means plus per-replicate point estimates; the seed's share
of the variance (the noise floor of the indices); the N/2-vs-N convergence check on the design's own
first half. SALib does the sampling, the estimators, the bootstrap intervals and the flattening of its
results into tables (``ResultDict.to_df()``).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bantar_sim.engine.storage import load_manifest, load_table
from bantar_sim.engine.task import RunTask
from bantar_sim.model.metrics import RUN_METRICS, RunTables, compute_metrics, run_window
from bantar_sim.model.params import SPECS
from bantar_sim.model.version import __version__
from bantar_sim.studies.sensitivity.design import Design, salib_spec
from bantar_sim.studies.sensitivity.spec import Problem, Uncertain

__all__ = ["RESULTS_TABLE", "RAW_TABLES", "run_tables", "make_tasks", "collect", "Analysis", "seed_variance",
           "analyse", "batch_meta"]

RESULTS_TABLE = "metrics"   # the per-run table (one row per run) outputs are read from when they are in it
RAW_TABLES = ("city_year", "subdistrict_year", "award_cohorts")   # what any registry metric is computed from


def run_tables(problem: Problem) -> tuple[str, ...]:
    """Which tables each run keeps: the per-run ``metrics`` table when it holds every output, else the raw tables.

    The per-run ``metrics`` table holds :data:`bantar_sim.model.metrics.RUN_METRICS` (one row per run,
    the smallest store); any other metric of the registry (e.g. ``participation_policy``) is computed
    from ``city_year``, ``subdistrict_year`` and ``award_cohorts`` with
    :func:`bantar_sim.model.metrics.compute_metrics`, over each run's own window. A test function
    (``problem.model`` False) returns its outputs in a ``metrics`` table.
    """
    if not problem.model or all(o in RUN_METRICS for o in problem.outputs):
        return (RESULTS_TABLE,)
    return RAW_TABLES


def make_tasks(problem: Problem, design: Design, base: dict, seeds: list[int]) -> list[RunTask]:
    """One task per design point × replication; replicate r uses ``seeds[r]`` at every point (CRN).

    Parameters
    ----------
    problem : Problem
        Which tables to keep (:func:`run_tables`).
    design : Design
        The design points.
    base : dict
        Parameters every run shares (:func:`bantar_sim.studies.sensitivity.design.base_overrides`).
    seeds : list of int
        One seed per replicate.

    Returns
    -------
    list of RunTask
        Tagged ``design_point`` and ``replicate``, in design order.
    """
    tables = run_tables(problem)
    tasks = []
    for i in range(design.n_points):
        params = {**base, **design.point(i)}
        for r, seed in enumerate(seeds):
            tasks.append(RunTask(params=params, seed=seed, tags={"design_point": i, "replicate": r}, tables=tables))
    return tasks


def _window(params: dict) -> tuple[int, int]:
    """(first year of the policy period, horizon) of one run, as the per-run metrics table uses them."""
    end = int(params.get("end_year", SPECS["end_year"].default))
    start = int(params.get("policy_start_year", SPECS["policy_start_year"].default))
    return run_window(start, end), end


def _registry_outputs(runs_dir: Path, tasks: list[RunTask], outputs: list[str], ids: list[str],
                      model_version: str) -> pd.DataFrame:
    """Registry metrics of the runs ``ids`` from their raw tables, each run over its own window."""
    filt = [("run_id", "in", ids)]
    city = load_table(runs_dir, "city_year", filters=filt)
    sd = load_table(runs_dir, "subdistrict_year", filters=filt)
    coh = load_table(runs_dir, "award_cohorts", filters=filt)
    windows: dict[tuple[int, int], list[str]] = {}
    for t in tasks:
        windows.setdefault(_window(t.params), []).append(t.run_id(model_version))
    parts = []
    for (start, end), group in windows.items():
        keep = set(group)
        sel = [df[df["run_id"].isin(keep)] for df in (city, sd, coh)]
        if len(sel[0]):
            parts.append(compute_metrics(RunTables(*sel, window_start=start, horizon=end), outputs))
    out = pd.concat(parts) if parts else pd.DataFrame(columns=outputs)
    return out.rename_axis("run_id").reset_index()


def collect(runs_dir: Path, tasks: list[RunTask], problem: Problem, n_points: int,
            model_version: str) -> np.ndarray:
    """The outputs of this design's runs from the batch store: ``Y[point, replicate, output]``.

    Only the runs of this design count (by run id), so a store shared by several N holds no surprise.

    Raises
    ------
    RuntimeError
        Some runs of the design are not stored (a rerun of the same command computes them).
    """
    want = {t.run_id(model_version): (t.tags["design_point"], t.tags["replicate"]) for t in tasks}
    outputs = problem.outputs
    if tasks and tasks[0].tables == RAW_TABLES:
        df = _registry_outputs(runs_dir, tasks, outputs, list(want), model_version)
    else:
        df = load_table(runs_dir, RESULTS_TABLE, columns=["run_id", *outputs])
    df = df[df["run_id"].isin(want.keys())].drop_duplicates("run_id")
    missing = len(want) - len(df)
    if missing:
        raise RuntimeError(f"{runs_dir}: {missing} of {len(want)} runs of this design are not stored; "
                           "rerun the same command to compute them (finished runs are kept)")
    Y = np.full((n_points, problem.replications, len(outputs)), np.nan)
    idx = np.array([want[r] for r in df["run_id"]])
    Y[idx[:, 0], idx[:, 1], :] = df[outputs].to_numpy(dtype=float)
    return Y


@dataclass
class Analysis:
    """The analysis of one design.

    Attributes
    ----------
    method : str
        ``morris`` or ``sobol``.
    indices : pandas.DataFrame
        One row per output × parameter (SALib's ``to_df()`` tables, with CI bounds, rank and per-replicate range).
    s2 : pandas.DataFrame
        Sobol second-order indices per output × pair (empty for Morris).
    seed_variance : pandas.DataFrame
        One row per output: the seed's share of the variance.
    convergence, convergence_summary : pandas.DataFrame
        Indices and ranks at N/2 and N; per output, how much they agree.
    means : numpy.ndarray
        Replication means, (points, outputs).
    skipped : dict
        Output -> why it was not analysed.
    """

    method: str
    indices: pd.DataFrame
    s2: pd.DataFrame
    seed_variance: pd.DataFrame
    convergence: pd.DataFrame
    convergence_summary: pd.DataFrame
    means: np.ndarray
    skipped: dict

    @property
    def key(self) -> str:
        """The index parameters are ranked by: ``ST`` (Sobol) or ``mu_star`` (Morris)."""
        return "ST" if self.method == "sobol" else "mu_star"


def seed_variance(Y: np.ndarray, outputs: list[str]) -> pd.DataFrame:
    """The share of each output's variance due to the seed.

    ``seed_share_single_run`` = mean within-point variance across replications / variance of all runs;
    ``seed_share_of_means`` = that within-point variance / R over the variance of the replication means
    (the noise floor of the indices computed on the means).

    Parameters
    ----------
    Y : numpy.ndarray
        ``Y[point, replicate, output]``.
    outputs : list of str
        Output names, in Y's last axis.

    Returns
    -------
    pandas.DataFrame
        One row per output (points with a missing value left out).
    """
    rows = []
    R = Y.shape[1]
    for j, name in enumerate(outputs):
        y = Y[:, :, j]
        y = y[np.isfinite(y).all(axis=1)]
        if len(y) < 2:
            rows.append({"output": name, "points": int(len(y))})
            continue
        within = float(np.mean(np.var(y, axis=1, ddof=1)))
        total = float(np.var(y.ravel(), ddof=1))
        var_means = float(np.var(y.mean(axis=1), ddof=1))
        rows.append({
            "output": name, "points": int(len(y)), "replications": R, "mean": float(y.mean()),
            "total_variance": total, "within_point_variance": within,
            "seed_share_single_run": within / total if total > 0 else float("nan"),
            "variance_of_means": var_means,
            "seed_share_of_means": (within / R) / var_means if var_means > 0 else float("nan"),
        })
    return pd.DataFrame(rows)


def _salib_tables(method: str, params: list[Uncertain], X: np.ndarray, Y: np.ndarray, settings: dict,
                  seed: int, resamples: int | None = None) -> list[tuple[pd.DataFrame, pd.DataFrame | None]]:
    """SALib's analyser on (X, Y[:, j]) for each column j, flattened with ``ResultDict.to_df()``.

    Returns
    -------
    list of (pandas.DataFrame, pandas.DataFrame or None)
        Per output column: the first-order/total (Sobol: S1, S1_conf, ST, ST_conf) or Morris (mu, mu_star,
        sigma, mu_star_conf) table indexed by parameter, and the Sobol second-order table (or None).
    """
    outs = [f"y{j}" for j in range(Y.shape[1])]
    sp = salib_spec(params, outs)
    sp.set_samples(X)
    sp.set_results(Y if Y.shape[1] > 1 else Y[:, 0])
    kw = {"num_resamples": resamples or settings["bootstrap"], "conf_level": settings["conf_level"], "seed": seed}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (RuntimeWarning, FutureWarning))
        if method == "sobol":
            sp.analyze_sobol(calc_second_order=settings["second_order"], **kw)
        else:
            sp.analyze_morris(num_levels=settings["levels"], **kw)
    results = [sp.analysis] if Y.shape[1] == 1 else [sp.analysis[o] for o in outs]
    tables = []
    for res in results:
        if method == "sobol":
            frames = res.to_df()
            total, first = frames[0], frames[1]
            second = frames[2] if len(frames) > 2 else None
            tables.append((first.join(total), second))
        else:
            tables.append((res.to_df()[["mu", "mu_star", "sigma", "mu_star_conf"]], None))
    return tables


def _skipped(outputs: list[str], means: np.ndarray) -> dict[str, str]:
    skipped = {}
    for j, o in enumerate(outputs):
        col = means[:, j]
        if not np.isfinite(col).all():
            skipped[o] = (f"undefined at {int((~np.isfinite(col)).sum())} of {len(col)} design points "
                          "(e.g. no RT awarded early enough to be followed up within the horizon)")
        elif np.ptp(col) <= 1e-12 * max(1.0, abs(col).max()):
            skipped[o] = f"constant ({col[0]:.4g}) at every design point: no variance to apportion"
    return skipped


def analyse(problem: Problem, design: Design, Y: np.ndarray) -> Analysis:
    """SALib on the replication means; per-replicate point estimates; the N/2-vs-N convergence check.

    Parameters
    ----------
    problem : Problem
        Outputs and seed (the bootstrap seed is ``seed + 1``: SALib treats 0 as unseeded).
    design : Design
        The design the runs were made on.
    Y : numpy.ndarray
        ``Y[point, replicate, output]`` from :func:`collect`.

    Returns
    -------
    Analysis
        Outputs undefined or constant over the design are listed in ``skipped``, not analysed.
    """
    outputs = problem.outputs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN points are reported as skipped
        means = np.nanmean(Y, axis=1)
    skipped = _skipped(outputs, means)
    use = [j for j, o in enumerate(outputs) if o not in skipped]
    settings, seed, method = design.settings, problem.seed + 1, design.method
    key = "ST" if method == "sobol" else "mu_star"
    names, n, h = design.names, design.n, design.n // 2
    rows, s2_rows, conv_rows, conv_sum = [], [], [], []
    if use:
        full = _salib_tables(method, design.parameters, design.X, means[:, use], settings, seed)
        hr = design.half_rows()
        half = _salib_tables(method, design.parameters, design.X[:hr], means[:hr][:, use], settings, seed, 10)
        per_rep = [_salib_tables(method, design.parameters, design.X, Y[:, r, use], settings, seed, 10)
                   for r in range(Y.shape[1])]
        for pos, j in enumerate(use):
            o = outputs[j]
            table, second = full[pos]
            table = table.loc[names]
            main = table[key].to_numpy(float)
            rank = pd.Series(main).rank(ascending=False, method="min").astype(int).to_numpy()
            rep = np.array([pr[pos][0].loc[names, key].to_numpy(float) for pr in per_rep])
            d = pd.DataFrame({"output": o, "parameter": names})
            for ix in (("S1", "ST") if method == "sobol" else ("mu_star",)):
                v, c = table[ix].to_numpy(float), table[f"{ix}_conf"].to_numpy(float)
                if method == "morris":
                    d["mu"] = table["mu"].to_numpy(float)
                d[ix], d[f"{ix}_conf"], d[f"{ix}_low"], d[f"{ix}_high"] = v, c, v - c, v + c
            if method == "morris":
                d["sigma"] = table["sigma"].to_numpy(float)
            d["rank"] = rank
            d[f"{key}_replicate_min"], d[f"{key}_replicate_max"] = rep.min(axis=0), rep.max(axis=0)
            rows.append(d)
            if second is not None:
                s2 = second.rename_axis("pair").reset_index()
                s2_rows.append(pd.DataFrame({"output": o, "parameter_1": [p[0] for p in s2["pair"]],
                                             "parameter_2": [p[1] for p in s2["pair"]],
                                             "S2": s2["S2"].astype(float), "S2_conf": s2["S2_conf"].astype(float)}))
            hv = half[pos][0].loc[names, key].to_numpy(float)
            hrank = pd.Series(hv).rank(ascending=False, method="min").astype(int).to_numpy()
            conv_rows.append(pd.DataFrame({"output": o, "parameter": names, "index": key, f"value_n{h}": hv,
                                           f"value_n{n}": main, f"rank_n{h}": hrank, f"rank_n{n}": rank}))
            conv_sum.append(_convergence_summary(o, key, hv, main, n))

    def cat(frames):
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return Analysis(method, cat(rows), cat(s2_rows), seed_variance(Y, outputs), cat(conv_rows),
                    pd.DataFrame(conv_sum), means, skipped)


def _convergence_summary(output: str, key: str, half: np.ndarray, full: np.ndarray, n: int) -> dict:
    """How far the indices at N/2 agree with those at N: rank correlation, top parameters, largest change."""
    from scipy.stats import spearmanr
    k = len(full)
    top = min(3, k)
    top_half, top_full = set(np.argsort(-half)[:top]), set(np.argsort(-full)[:top])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = float(spearmanr(half, full).statistic) if k > 2 else float("nan")
    scale = max(float(np.abs(full).max()), 1e-12)
    return {"output": output, "index": key, "n_half": n // 2, "n_full": n, "spearman_rank_correlation": rho,
            f"same_top_{top}": top_half == top_full,
            "most_influential_same": int(np.argmax(half)) == int(np.argmax(full)),
            "max_abs_change_relative": float(np.abs(full - half).max() / scale)}


def batch_meta(problem: Problem, design: Design, base: dict, seeds: list[int], summary, runs_dir: Path,
               tasks: list[RunTask], model_version: str, elapsed: float) -> dict:
    """What ``sensitivity.json`` records: the problem, the design, the seeds and what the batch did.

    The throughput of every batch that computed runs of this design is read from the store's manifest,
    so a report written after a resume or a reuse still says how fast the runs were made.
    """
    man = load_manifest(runs_dir)
    ids = {t.run_id(model_version) for t in tasks}
    mine = man[man["run_id"].isin(ids) & (man["status"] == "ok")]
    dur = mine["duration_s"]
    rate = summary.n_done / summary.elapsed_s if summary.n_done and summary.elapsed_s > 0 else None
    history = []
    for bid, g in mine.groupby("batch_id"):
        start, end = pd.to_datetime(g["start_time"]).min(), pd.to_datetime(g["end_time"]).max()
        span = (end - start).total_seconds()
        history.append({"batch_id": bid, "runs": int(len(g)), "first_start": str(start), "last_end": str(end),
                        "runs_per_second": len(g) / span if span > 0 else None})
    return {
        "package_version": __version__, "model_version": model_version, "problem": problem.name,
        "problem_file": problem.source, "method": design.method, "n": design.n, "settings": design.settings,
        "parameters": [{"name": p.name, "min": p.low, "max": p.high, "integer": p.integer, "reason": p.reason}
                       for p in design.parameters],
        "outputs": problem.outputs, "run_tables": list(tasks[0].tables) if tasks else [],
        "design_points": design.n_points, "replications": problem.replications,
        "runs": len(tasks), "base_seed": problem.seed, "sampler_seed": problem.seed, "bootstrap_seed": problem.seed + 1,
        "replication_seeds": [str(s) for s in seeds], "fixed_params": base,
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"),
        "batch": {"computed_now": summary.n_done, "skipped_already_stored": summary.n_skipped,
                  "batch_elapsed_s": round(summary.elapsed_s, 3), "runs_per_second": rate,
                  "mean_run_duration_s": float(dur.mean()) if len(dur) else None,
                  "total_elapsed_s": round(elapsed, 3), "batches_that_computed_these_runs": history},
    }
