"""The computation of a policy experiment: per-run metrics from the registry, paired effects, bands.

The question the experiments answer is the paper's: what keeps RTs practising the Bantar concept after
they have won? Every metric is computed per run by the metric registry
(:func:`bantar_sim.model.metrics.compute_metrics`, :data:`~bantar_sim.model.metrics.EXPERIMENT_METRICS`)
from the tables the batch engine stored, so a changed definition applies to stored runs at once (no
rerun). Metrics of the policy period cover the earliest ``policy_start_year`` of the experiment's arms to
the horizon: before it every arm is the same model with the same random streams, so including those years
would only dilute the effects.

Effects are paired: replication k of every arm ran with the same seed (common random numbers), so the
effect of an arm is the mean over k of (arm_k - baseline_k), with a t interval on those differences.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bantar_sim.engine.storage import list_tables, load_manifest, load_table
from bantar_sim.model.data import table3
from bantar_sim.model.metrics import EXPERIMENT_METRICS, METRICS, RunTables, compute_metrics
from bantar_sim.model.params import make_params
from bantar_sim.model.version import MODEL_VERSION

BASELINE = "baseline"
#: Units of count metrics: written as integers in metrics.csv (a run's count is a whole number).
COUNT_UNITS = ("RTs", "awards", "RT-years")

# Yearly series drawn per arm (column of city_year, label, unit).
SERIES = {
    "winners": ("new Bantar awards per year", "RTs (count)"),
    "awarded_rts_cumulative": ("RTs ever awarded (cumulative)", "RTs (count)"),
    "bantar_label": ("RTs holding the label (Bantar + Kencana)", "RTs (count)"),
    "active_bantar": ("labelled RTs still practising", "RTs (count)"),
    "kencana": ("Kencana RTs", "RTs (count)"),
    "participation": ("participation", "share of households"),
    "awareness": ("awareness of the programme", "share of households"),
    "youth_participation": ("youth participation", "share of youth households"),
}
TIMESERIES_PANELS = ("winners", "awarded_rts_cumulative", "bantar_label", "active_bantar", "kencana", "participation")


# -------------------------------------------------------------------------------- per run (analysis)
def per_run_metrics(city: pd.DataFrame, sdt: pd.DataFrame, cohorts: pd.DataFrame, window_start: int,
                    horizon: int, names: Sequence[str] = EXPERIMENT_METRICS) -> pd.DataFrame:
    """One row per run_id with the named metrics of the registry (NaN where a ratio has no denominator).

    Count metrics (units in :data:`COUNT_UNITS`) are returned as integers when every run has one.
    """
    m = compute_metrics(RunTables(city, sdt, cohorts, window_start, horizon), names)
    for name in m.columns:
        col = m[name]
        if METRICS[name].unit in COUNT_UNITS and col.notna().all() and (col == col.round()).all():
            m[name] = col.astype("int64")
    return m


def sustainability_curve(cohorts: pd.DataFrame, window_start: int, horizon: int, max_k: int = 8) -> pd.DataFrame:
    """Per run and k = 1..max_k: share of awarded RTs active k years after the award (evaluated in the window)."""
    ev = cohorts[(cohorts["award_year"] + cohorts["years_after"] >= window_start)
                 & (cohorts["award_year"] + cohorts["years_after"] <= horizon)
                 & (cohorts["years_after"].between(1, max_k))]
    g = ev.groupby(["run_id", "years_after"])[["active", "awarded"]].sum()
    g["share_active"] = g["active"] / g["awarded"].where(g["awarded"] > 0)
    return g.reset_index()




# ------------------------------------------------------------------------------------------- effects
def t_interval(values: Iterable[float], level: float = 0.95) -> tuple[float, float, float, float, int]:
    """(mean, low, high, sd, n) of a Student t interval for the mean; NaN bounds when n < 2."""
    from scipy.special import stdtrit  # the t quantile; scipy.stats takes seconds to import

    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], float)
    n = x.size
    if n == 0:
        return (math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n < 2:
        return (mean, math.nan, math.nan, math.nan, 1)
    sd = float(x.std(ddof=1))
    half = float(stdtrit(n - 1, 0.5 + level / 2)) * sd / math.sqrt(n)
    return (mean, mean - half, mean + half, sd, n)


def paired_effects(per_run: pd.DataFrame, metrics: Sequence[str], arms: Sequence[str],
                   baseline: str = BASELINE, level: float = 0.95) -> pd.DataFrame:
    """Effect of each arm vs the baseline per metric: mean of paired differences with a t interval.

    `per_run` has columns arm, replicate and the metrics. Pairs are matched on replicate (the same seed
    in every arm); a replicate missing in either arm, or a NaN metric, drops that pair only.
    """
    base = per_run[per_run["arm"] == baseline].set_index("replicate")
    rows = []
    for arm in arms:
        if arm == baseline:
            continue
        other = per_run[per_run["arm"] == arm].set_index("replicate")
        common = base.index.intersection(other.index)
        for metric in metrics:
            a, b = other.loc[common, metric].astype(float), base.loc[common, metric].astype(float)
            ok = a.notna() & b.notna()
            diff = (a - b)[ok]
            mean, lo, hi, sd, n = t_interval(diff, level)
            bmean = float(b[ok].mean()) if n else math.nan
            rows.append({
                "arm": arm, "metric": metric, "label": METRICS[metric].label if metric in METRICS else metric,
                "unit": METRICS[metric].unit if metric in METRICS else "", "n_pairs": n,
                "baseline_mean": bmean, "arm_mean": float(a[ok].mean()) if n else math.nan,
                "effect": mean, "ci_low": lo, "ci_high": hi, "sd_diff": sd,
                "relative_effect": mean / bmean if n and bmean not in (0.0,) and np.isfinite(bmean) else math.nan,
                "significant": bool(n >= 2 and np.isfinite(lo) and (lo > 0 or hi < 0)),
            })
    return pd.DataFrame(rows)


def arm_levels(per_run: pd.DataFrame, metrics: Sequence[str], arms: Sequence[str], level: float = 0.95) -> pd.DataFrame:
    """Mean of each metric per arm with a t interval over the replications (not paired)."""
    rows = []
    for arm in arms:
        sub = per_run[per_run["arm"] == arm]
        for metric in metrics:
            mean, lo, hi, sd, n = t_interval(sub[metric].astype(float), level)
            rows.append({"arm": arm, "metric": metric, "n": n, "mean": mean, "ci_low": lo, "ci_high": hi, "sd": sd})
    return pd.DataFrame(rows)


def series_bands(city: pd.DataFrame, columns: Iterable[str] = tuple(SERIES)) -> pd.DataFrame:
    """Per arm, year and variable: mean and the 2.5/5/50/95/97.5 % quantiles over the replications."""
    cols = [c for c in columns if c in city.columns]
    long = city.melt(id_vars=["arm", "year"], value_vars=cols, var_name="variable")
    g = long.groupby(["arm", "variable", "year"])["value"]
    out = pd.DataFrame({"n": g.size(), "mean": g.mean(), "q025": g.quantile(0.025), "q05": g.quantile(0.05),
                        "q50": g.median(), "q95": g.quantile(0.95), "q975": g.quantile(0.975)})
    return out.reset_index()


def pre_policy_differences(city: pd.DataFrame, window_start: int, baseline: str = BASELINE) -> dict[str, int]:
    """Per arm, the number of paired replicates whose city series differs from the baseline's before the
    policy period. Under common random numbers a lever that only acts from policy_start_year gives 0.
    """
    pre = city[city["year"] < window_start]
    if pre.empty:
        return {}
    num = [c for c in pre.columns if c not in ("run_id", "arm", "replicate", "draw", "year")
           and pd.api.types.is_numeric_dtype(pre[c])]
    base = {r: g.sort_values("year")[num].to_numpy() for r, g in pre[pre["arm"] == baseline].groupby("replicate")}
    out = {}
    for arm, ga in pre[pre["arm"] != baseline].groupby("arm"):
        n = 0
        for r, g in ga.groupby("replicate"):
            if r in base and not np.array_equal(g.sort_values("year")[num].to_numpy(), base[r], equal_nan=True):
                n += 1
        out[arm] = n
    return out



def zero_in_ci(row) -> bool | None:
    """Whether an effect's 95% interval contains 0 (None when it has no interval: fewer than 2 pairs)."""
    lo, hi = row["ci_low"], row["ci_high"]
    if np.isfinite(lo) and np.isfinite(hi):
        return bool(lo <= 0 <= hi)
    return None


def dose_response(exp, effects: pd.DataFrame) -> pd.DataFrame | None:
    """The effects of the sweeps' arms as dose-response curves: one row per sweep, value and metric.

    Rows are in the sweep's value order. ``zero_in_ci`` says whether the 95% interval of the effect contains
    0 (at a lever's off value it checks that strength 0 is the baseline); ``same_as_baseline`` marks the
    arms whose full parameter set equals the baseline's (their effect must be exactly 0 under common random
    numbers). None without sweeps.
    """
    if not getattr(exp, "sweeps", None):
        return None
    base = make_params(exp.arm_params(exp.arms[0]))
    cols = ["arm", "metric", "label", "unit", "n_pairs", "baseline_mean", "arm_mean", "effect", "ci_low", "ci_high"]
    parts = []
    for sw in exp.sweeps:
        for arm in exp.sweep_arms(sw):
            e = effects.loc[effects["arm"] == arm.name, cols] if not effects.empty else pd.DataFrame(columns=cols)
            e = e.copy()
            e.insert(0, "value", [arm.value] * len(e))
            e.insert(0, "lever", sw.lever)
            e.insert(0, "sweep", sw.name)
            e["zero_in_ci"] = pd.array([zero_in_ci(r) for _, r in e.iterrows()], dtype="boolean")
            e["same_as_baseline"] = make_params(exp.arm_params(arm)) == base
            parts.append(e)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["sweep", "lever", "value", *cols])
    return out


# --------------------------------------------------------------------------------------- the analysis
def load_runs(runs_dir: Path, table: str, run_ids: set[str]) -> pd.DataFrame:
    """The stored rows of ``table`` of the given runs (an empty frame if the store or table is absent)."""
    if not runs_dir.is_dir() or table not in list_tables(runs_dir):
        return pd.DataFrame({"run_id": pd.Series([], dtype=str)})
    df = load_table(runs_dir, table)
    return df[df["run_id"].isin(run_ids)].reset_index(drop=True)


@dataclass
class Analysis:
    """The computed tables of an experiment (what report.py writes and draws).

    Attributes
    ----------
    runs : pandas.DataFrame
        One row per task: run_id, arm, replicate, seed, draw, status (ok / failed / missing), error.
    manifest : pandas.DataFrame
        The batch manifest rows of these runs.
    per_run : pandas.DataFrame
        Every experiment metric per ok run (with arm, replicate, seed, draw).
    effects, levels : pandas.DataFrame
        Paired effects vs the baseline, and per-arm levels, with 95% t intervals.
    bands, curve : pandas.DataFrame or None
        Yearly bands per arm and variable; the sustainability curve per run (None without ok runs).
    pre_diff : dict
        Per arm, replicates that differ from the baseline before the policy period.
    dose : pandas.DataFrame or None
        The sweeps' effects by lever value (:func:`dose_response`); None without [[sweep]]s.
    rt_share : float
        The simulated city's share of Table 3's 1,627 RTs.
    """

    runs: pd.DataFrame
    manifest: pd.DataFrame
    per_run: pd.DataFrame
    effects: pd.DataFrame
    levels: pd.DataFrame
    arms: list[str]
    bands: pd.DataFrame | None = None
    curve: pd.DataFrame | None = None
    pre_diff: dict = field(default_factory=dict)
    rt_share: float = 1.0
    dose: pd.DataFrame | None = None
    city: pd.DataFrame | None = None     # the ok runs' city_year rows (persistence after withdrawal, issue 16)

    @property
    def n_failed(self) -> int:
        """Runs recorded as failed."""
        return int((self.runs["status"] == "failed").sum())


def analyse(exp, tasks: Sequence, runs_dir: Path) -> Analysis:
    """Metrics per run, paired effects, levels and yearly bands of one experiment's stored runs.

    Only the runs of ``tasks`` are read (a store may also hold runs of an earlier horizon or model
    version); a run the store does not hold counts as missing, a failed one as failed.
    """
    runs_dir = Path(runs_dir)
    ids = {t.run_id(MODEL_VERSION): t for t in tasks}
    arms = list(dict.fromkeys(t.tags["arm"] for t in tasks))
    window, horizon = exp.window_start, exp.horizon

    man = load_manifest(runs_dir) if (runs_dir / "manifest").is_dir() else pd.DataFrame(columns=["run_id", "status"])
    man = man[man["run_id"].isin(ids)]
    status = {rid: "missing" for rid in ids}
    status.update(dict(zip(man["run_id"], man["status"])))
    runs = pd.DataFrame([{"run_id": rid, "arm": t.tags["arm"], "replicate": t.tags["replicate"], "seed": str(t.seed),
                          "draw": t.tags.get("draw"), "status": status[rid]} for rid, t in ids.items()])
    errors = (man[man["status"] != "ok"][["run_id", "error"]] if "error" in man
              else pd.DataFrame(columns=["run_id", "error"]))
    runs = runs.merge(errors, on="run_id", how="left")
    ok_ids = set(runs.loc[runs["status"] == "ok", "run_id"])

    city = load_runs(runs_dir, "city_year", ok_ids)
    sdt = load_runs(runs_dir, "subdistrict_year", ok_ids)
    cohorts = load_runs(runs_dir, "award_cohorts", ok_ids)
    names = list(EXPERIMENT_METRICS)
    if city.empty:
        per_run = runs[["run_id", "arm", "replicate", "seed"]].iloc[:0]
        for m in names:
            per_run[m] = []
    else:
        m = per_run_metrics(city, sdt, cohorts, window, horizon, names)
        per_run = runs.drop(columns=["status", "error"]).merge(m, left_on="run_id", right_index=True, how="inner")
    result = Analysis(runs, man, per_run, paired_effects(per_run, names, arms), arm_levels(per_run, names, arms), arms)
    result.dose = dose_response(exp, result.effects)
    if not city.empty:
        # Replicate order, not run-id order: the bands' sums (and the curve's rows) do not depend on the
        # content addresses of the runs.
        order = {a: i for i, a in enumerate(arms)}
        city = city.sort_values(["arm", "replicate", "year"], key=lambda c: c.map(order) if c.name == "arm" else c,
                                kind="stable", ignore_index=True)
        result.bands = series_bands(city)
        result.city = city
        curve = sustainability_curve(cohorts, window, horizon).merge(runs[["run_id", "arm", "replicate"]], on="run_id")
        result.curve = curve.sort_values(["arm", "replicate", "years_after"], kind="stable", ignore_index=True,
                                         key=lambda c: c.map(order) if c.name == "arm" else c)
        rts_total = sdt.groupby("run_id")["rts"].sum().iloc[0] / sdt["year"].nunique() if not sdt.empty else 1627

        result.rt_share = float(rts_total / table3().rts.sum())
        result.pre_diff = pre_policy_differences(city, window)
    return result
