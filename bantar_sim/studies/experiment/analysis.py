"""Analysis of a policy experiment: sustainability metrics per run, paired effects, figures, report.

The question the experiments answer is the paper's: what keeps RTs practising the Bantar concept after
they have won? Every metric below is computed per run from the tables the batch engine stored, so a
changed definition applies to stored runs at once (no rerun). Metrics ending in ``_policy`` cover the
policy period (the earliest ``policy_start_year`` of the experiment's arms to the horizon): before it
every arm is the same model with the same random streams, so including those years would only dilute
the effects.

Effects are paired: replication k of every arm ran with the same seed (common random numbers), so the
effect of an arm is the mean over k of (arm_k - baseline_k), with a t interval on those differences.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from bantar_sim.model.agents import BANTAR, KENCANA
from bantar_sim.model.tables import gini

BASELINE = "baseline"
START_YEAR = 2014


@dataclass(frozen=True)
class Metric:
    label: str      # short label for tables and figure axes
    unit: str       # unit of the metric (and of an effect on it)
    doc: str        # what it measures


METRICS: dict[str, Metric] = {
    "sustained_1y": Metric("awarded RTs still active 1 year on", "share",
                           "share of RTs still holding the label and practising 1 year after their (first) award; "
                           "award cohorts evaluated in the policy period"),
    "sustained_3y": Metric("awarded RTs still active 3 years on", "share",
                           "as sustained_1y, 3 years after the award"),
    "sustained_5y": Metric("awarded RTs still active 5 years on", "share",
                           "as sustained_1y, 5 years after the award"),
    "active_bantar_final": Metric("Bantar RTs still practising, final year", "RTs",
                                  "RTs holding the Bantar or Kencana label and still applying the concept in the horizon year"),
    "bantar_label_final": Metric("RTs holding the label, final year", "RTs",
                                 "RTs holding the Bantar or Kencana label in the horizon year, practising or not"),
    "not_practising_final": Metric("labelled RTs no longer practising, final year", "RTs",
                                   "RTs holding the label in the horizon year although the concept is no longer applied"),
    "kencana_final": Metric("Kencana RTs, final year", "RTs", "RTs holding the Kencana tier in the horizon year"),
    "active_bantar_rt_years_policy": Metric("active Bantar RT-years, policy period", "RT-years",
                                            "sum over the policy years of the RTs holding the label and practising"),
    "winners_policy": Metric("new Bantar awards, policy period", "awards", "Bantar awards in the policy years"),
    "participation_policy": Metric("participation, policy-period mean", "share of households",
                                   "mean over the policy years of the yearly share of households taking part"),
    "participation_final": Metric("participation, final year", "share of households",
                                  "share of households taking part (yearly mean) in the horizon year"),
    "youth_participation_final": Metric("youth participation, final year", "share of youth households",
                                        "share of youth households taking part in the horizon year"),
    "awareness_policy": Metric("awareness, policy-period mean", "share of households",
                               "mean over the policy years of the share of households aware of the programme"),
    "wins_per_rt_gini": Metric("inequality of wins across sub-districts", "Gini",
                               "Gini coefficient over the 11 sub-districts of cumulative wins per RT, 2014 to the horizon"),
    "wins_per_rt_gini_policy": Metric("inequality of policy-period wins", "Gini",
                                      "Gini over sub-districts of wins per RT in the policy years"),
    "funds_spent_policy": Metric("funds spent, policy period", "million IDR",
                                 "reward funds paid (Bantar, staged tranches, Kencana) plus RJ house costs, policy years"),
    "reward_misused_policy": Metric("reward funds misused, policy period", "million IDR",
                                    "reward funds misused in the policy years"),
    "misused_share_policy": Metric("share of reward funds misused", "share",
                                   "misused / paid reward funds in the policy years"),
    "funds_per_sustained_rt_year_policy": Metric("funds per sustained RT-year", "million IDR per RT-year",
                                                 "funds spent in the policy years / active Bantar RT-years in them"),
    "poverty_share_final": Metric("poverty share, final year", "share of households",
                                  "share of households whose economic constraint is below the poverty line"),
}

DEFAULT_HEADLINE = ("sustained_3y", "active_bantar_final", "kencana_final", "participation_policy",
                    "wins_per_rt_gini", "funds_spent_policy", "misused_share_policy",
                    "funds_per_sustained_rt_year_policy")

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


# ------------------------------------------------------------------------------------ per run (worker)
def award_cohorts(model) -> pd.DataFrame:
    """RTs first awarded in each year, and how many of them are active k = 0, 1, ... years later.

    Computed in the worker from the model's yearly records so that sustainability can be measured for
    any window later without storing one row per RT and year.
    """
    rec = model.rec
    ny = min(model.n_years, model.tick // 12)
    won = rec["won"][:ny]
    status = rec["status"][:ny]
    labelled = np.isin(status, (BANTAR, KENCANA))
    active = labelled & rec["practising"][:ny]
    ever = won.any(axis=0)
    first = np.where(ever, won.argmax(axis=0), -1)
    rows = []
    for a in range(ny):
        cohort = np.flatnonzero(first == a)
        if cohort.size == 0:
            continue
        for k in range(ny - a):
            rows.append((START_YEAR + a, k, cohort.size, int(active[a + k, cohort].sum()),
                         int(labelled[a + k, cohort].sum())))
    return pd.DataFrame(rows, columns=["award_year", "years_after", "awarded", "active", "labelled"]).astype("int64")


# -------------------------------------------------------------------------------- per run (analysis)
def run_level_metrics(city: pd.DataFrame, sdt: pd.DataFrame, cohorts: pd.DataFrame,
                      window_start: int, horizon: int) -> pd.DataFrame:
    """One row per run_id with every metric of METRICS (NaN where a ratio has no denominator)."""
    city = city[city["year"] <= horizon]
    last = city[city["year"] == horizon].set_index("run_id")
    w = city[city["year"] >= window_start].groupby("run_id")
    m = pd.DataFrame(index=pd.Index(sorted(city["run_id"].unique()), name="run_id"))
    m["participation_final"] = last["participation"]
    m["participation_policy"] = w["participation"].mean()
    m["youth_participation_final"] = last["youth_participation"]
    m["awareness_policy"] = w["awareness"].mean()
    m["bantar_label_final"] = last["bantar_label"]
    m["active_bantar_final"] = last["active_bantar"]
    m["not_practising_final"] = last["bantar_label"] - last["active_bantar"]
    m["kencana_final"] = last["kencana"]
    m["winners_policy"] = w["winners"].sum()
    m["active_bantar_rt_years_policy"] = w["active_bantar"].sum()
    paid = w["reward_paid"].sum()
    m["funds_spent_policy"] = paid + w["rj_cost"].sum()
    m["reward_misused_policy"] = w["reward_misused"].sum()
    m["misused_share_policy"] = m["reward_misused_policy"] / paid.where(paid > 0)
    years = m["active_bantar_rt_years_policy"]
    m["funds_per_sustained_rt_year_policy"] = m["funds_spent_policy"] / years.where(years > 0)
    m["poverty_share_final"] = last["poverty_share"]

    sdt = sdt[sdt["year"] <= horizon]
    for name, part in (("wins_per_rt_gini", sdt), ("wins_per_rt_gini_policy", sdt[sdt["year"] >= window_start])):
        per_sd = part.groupby(["run_id", "subdistrict"], observed=True).agg(wins=("winners", "sum"), rts=("rts", "first"))
        per_sd["rate"] = per_sd["wins"] / per_sd["rts"]
        m[name] = per_sd.groupby(level="run_id")["rate"].apply(lambda s: gini(s.to_numpy()))

    evaluated = cohorts[(cohorts["award_year"] + cohorts["years_after"] >= window_start)
                        & (cohorts["award_year"] + cohorts["years_after"] <= horizon)]
    for k in (1, 3, 5):
        sel = evaluated[evaluated["years_after"] == k].groupby("run_id")[["active", "awarded"]].sum()
        share = sel["active"] / sel["awarded"].where(sel["awarded"] > 0)
        m[f"sustained_{k}y"] = share.reindex(m.index)
    return m[[c for c in METRICS if c in m.columns]]


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
    from scipy.special import stdtrit   # the t quantile; scipy.stats takes seconds to import

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
    policy period. Under common random numbers a lever that only acts from policy_start_year gives 0."""
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


# --------------------------------------------------------------------------------------------- figures
def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _arm_colors(arms: Sequence[str]) -> dict[str, str]:
    plt = _plt()
    cmap = plt.get_cmap("tab10" if len(arms) <= 10 else "tab20")
    colors = {BASELINE: "0.25"}
    i = 0
    for a in arms:
        if a != BASELINE:
            colors[a] = cmap(i % cmap.N)
            i += 1
    return colors


def observed_series(rt_share: float) -> dict[str, pd.Series]:
    """Table 3 winners per year and their cumulative sum (RTs ever awarded, no repeat wins), scaled to
    the simulated city's share of the 1,627 RTs."""
    from bantar_sim.model.data import table3
    w = table3().city_winners.astype(float) * rt_share
    return {"winners": w, "awarded_rts_cumulative": w.cumsum()}


def plot_timeseries(bands: pd.DataFrame, arms: Sequence[str], path: Path, *, title: str, window_start: int,
                    rt_share: float, n_reps: int) -> None:
    """Median per arm with its 90% (filled) and 95% (dotted) replication bands; Table 3 drawn in."""
    plt = _plt()
    colors = _arm_colors(arms)
    obs = observed_series(rt_share)
    panels = [p for p in TIMESERIES_PANELS if p in set(bands["variable"])]
    kencana = bands[bands["variable"] == "kencana"]
    if "awareness" in set(bands["variable"]) and (kencana.empty or kencana["q975"].max() == 0):
        panels = [("awareness" if p == "kencana" else p) for p in panels]   # no Kencana arm: show awareness
    ncol = 3
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(6 * ncol, 4.3 * nrow), squeeze=False)
    for ax, var in zip(axes.flat, panels):
        label, unit = SERIES[var]
        for arm in [a for a in arms if a != BASELINE] + [BASELINE]:
            b = bands[(bands["arm"] == arm) & (bands["variable"] == var)].sort_values("year")
            if b.empty:
                continue
            c = colors[arm]
            ax.fill_between(b["year"], b["q05"], b["q95"], color=c, alpha=0.15, linewidth=0)
            ax.plot(b["year"], b["q025"], ":", color=c, linewidth=0.8)
            ax.plot(b["year"], b["q975"], ":", color=c, linewidth=0.8)
            ax.plot(b["year"], b["q50"], "-", color=c, linewidth=1.8 if arm == BASELINE else 1.4, label=arm)
        if var in obs:
            o = obs[var]
            scaled = "" if abs(rt_share - 1) < 1e-9 else f" × {rt_share:.3g}"
            ax.plot(o.index, o.to_numpy(), "s--", color="black", markersize=5, linewidth=1,
                    label=f"published, Table 3{scaled}")
        ax.axvline(window_start - 0.5, color="0.5", linestyle="--", linewidth=0.8)
        ax.set(title=label, xlabel="year", ylabel=unit)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), frameon=False)
    fig.suptitle(f"{title}: median of {n_reps} replications per arm, 90% band (shaded) and 95% band (dotted); "
                 f"dashed line: policy start {window_start}", fontsize=12)
    fig.tight_layout(rect=(0, 0.07 if len(labels) <= 6 else 0.11, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_forest(effects: pd.DataFrame, metrics: Sequence[str], arms: Sequence[str], path: Path, *,
                title: str) -> None:
    """One panel per metric: each arm's mean paired difference vs baseline with its 95% CI."""
    plt = _plt()
    colors = _arm_colors(arms)
    metrics = [m for m in metrics if m in set(effects["metric"])]
    others = [a for a in arms if a != BASELINE]
    ncol = min(4, max(len(metrics), 1))
    nrow = max(math.ceil(len(metrics) / ncol), 1)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 0.45 * len(others) * nrow + 1.6 * nrow + 0.8),
                             squeeze=False, sharey=True)
    y = np.arange(len(others))[::-1]
    for ax, metric in zip(axes.flat, metrics):
        e = effects[effects["metric"] == metric].set_index("arm").reindex(others)
        for yi, arm in zip(y, others):
            row = e.loc[arm]
            if not np.isfinite(row["effect"]):
                continue
            lo, hi = row["ci_low"], row["ci_high"]
            if np.isfinite(lo):
                ax.plot([lo, hi], [yi, yi], "-", color=colors[arm], linewidth=2)
            ax.plot(row["effect"], yi, "o", color=colors[arm], markersize=6)
        ax.axvline(0, color="black", linewidth=0.8)
        info = METRICS.get(metric)
        ax.set_title(info.label if info else metric, fontsize=10)
        ax.set_xlabel(f"effect vs baseline ({info.unit if info else ''})")
        ax.set_yticks(y, others)
        ax.grid(alpha=0.3, axis="x")
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_sustainability(curve: pd.DataFrame, arms: Sequence[str], path: Path, *, title: str) -> None:
    """Share of awarded RTs still active k years after the award, per arm, with a 95% CI of the mean."""
    plt = _plt()
    colors = _arm_colors(arms)
    fig, ax = plt.subplots(figsize=(8, 5))
    offs = np.linspace(-0.15, 0.15, max(len(arms), 1))
    for off, arm in zip(offs, arms):
        c = curve[curve["arm"] == arm]
        if c.empty:
            continue
        ks, means, los, his = [], [], [], []
        for k, g in c.groupby("years_after"):
            mean, lo, hi, _, n = t_interval(g["share_active"])
            if n:
                ks.append(k + off), means.append(mean), los.append(lo if np.isfinite(lo) else mean)
                his.append(hi if np.isfinite(hi) else mean)
        means, los, his = np.array(means), np.array(los), np.array(his)
        ax.errorbar(ks, means, yerr=[means - los, his - means], fmt="o-", color=colors[arm], capsize=3, label=arm)
    ax.set(title=title, xlabel="years since the RT's first Bantar award",
           ylabel="awarded RTs still holding the label and practising (share)", ylim=(0, 1.05))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------------------- report
def fmt(x: float, digits: int = 3) -> str:
    if x is None or not np.isfinite(x):
        return "–"
    if x != 0 and abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def effect_cell(row) -> str:
    if not np.isfinite(row["effect"]):
        return "–"
    star = " *" if row["significant"] else ""
    if not np.isfinite(row["ci_low"]):
        return f"{fmt(row['effect'])}"
    return f"{fmt(row['effect'])} [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]{star}"


def headline_text(effects: pd.DataFrame, metrics: Sequence[str], arms: Sequence[str]) -> str:
    """Plain-text headline effects (what the command prints)."""
    lines = []
    for arm in arms:
        if arm == BASELINE:
            continue
        lines.append(f"  {arm}:")
        for metric in metrics:
            e = effects[(effects["arm"] == arm) & (effects["metric"] == metric)]
            if e.empty:
                continue
            r = e.iloc[0]
            lines.append(f"    {METRICS[metric].label:<45} {effect_cell(r):<36} "
                         f"(baseline {fmt(r['baseline_mean'])} {METRICS[metric].unit}, n={r['n_pairs']})")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------- orchestration
def _load(runs_dir: Path, table: str, run_ids: set[str]) -> pd.DataFrame:
    from bantar_sim.engine.batch import list_tables, load_table
    if not runs_dir.is_dir() or table not in list_tables(runs_dir):
        return pd.DataFrame({"run_id": pd.Series([], dtype=str)})
    df = load_table(runs_dir, table)
    return df[df["run_id"].isin(run_ids)].reset_index(drop=True)


def analyse(exp, tasks: Sequence, out_dir: Path, *, batch_summary=None, command: str = "") -> dict:
    """Metrics per run, paired effects, yearly bands, figures, CSVs and report.md for one experiment.

    Only the runs of `tasks` are read (a dataset folder may also hold runs of an earlier horizon or
    model version). Returns {"text": headline summary, "files": written file names, "n_failed": int}.
    """
    from bantar_sim.model.version import MODEL_VERSION
    from bantar_sim.engine.batch import load_manifest

    out_dir = Path(out_dir)
    runs_dir = out_dir / "runs"
    out_dir.mkdir(parents=True, exist_ok=True)
    ids = {t.run_id(MODEL_VERSION): t for t in tasks}
    arms = list(dict.fromkeys(t.tags["arm"] for t in tasks))
    window, horizon = exp.window_start, exp.horizon
    headline = list(exp.headline)

    man = load_manifest(runs_dir) if (runs_dir / "manifest").is_dir() else pd.DataFrame(columns=["run_id", "status"])
    man = man[man["run_id"].isin(ids)]
    status = {rid: "missing" for rid in ids}
    status.update(dict(zip(man["run_id"], man["status"])))
    runs = pd.DataFrame([{"run_id": rid, "arm": t.tags["arm"], "replicate": t.tags["replicate"], "seed": str(t.seed),
                          "draw": t.tags.get("draw"), "status": status[rid]} for rid, t in ids.items()])
    errors = man[man["status"] != "ok"][["run_id", "error"]] if "error" in man else pd.DataFrame(columns=["run_id", "error"])
    runs = runs.merge(errors, on="run_id", how="left")
    ok_ids = set(runs.loc[runs["status"] == "ok", "run_id"])

    city = _load(runs_dir, "city_year", ok_ids)
    sdt = _load(runs_dir, "subdistrict_year", ok_ids)
    cohorts = _load(runs_dir, "award_cohorts", ok_ids)
    files: list[str] = []
    if city.empty:
        per_run = runs[["run_id", "arm", "replicate", "seed"]].iloc[:0]
        for m in METRICS:
            per_run[m] = []
    else:
        m = run_level_metrics(city, sdt, cohorts, window, horizon)
        per_run = runs.drop(columns=["status", "error"]).merge(m, left_on="run_id", right_index=True, how="inner")
    metric_names = list(METRICS)
    effects = paired_effects(per_run, metric_names, arms)
    levels = arm_levels(per_run, metric_names, arms)
    per_run.sort_values(["arm", "replicate"]).to_csv(out_dir / "metrics.csv", index=False)
    effects.to_csv(out_dir / "effects.csv", index=False)
    levels.to_csv(out_dir / "levels.csv", index=False)
    runs.to_csv(out_dir / "runs.csv", index=False)
    files += ["metrics.csv", "effects.csv", "levels.csv", "runs.csv"]
    (out_dir / "experiment.json").write_text(json.dumps(exp.to_json(), indent=2, default=str))
    files.append("experiment.json")

    rt_share = 1.0
    pre_diff: dict[str, int] = {}
    if not city.empty:
        bands = series_bands(city)
        bands.to_csv(out_dir / "series.csv", index=False)
        curve = sustainability_curve(cohorts, window, horizon).merge(runs[["run_id", "arm", "replicate"]], on="run_id")
        curve.to_csv(out_dir / "sustainability.csv", index=False)
        rts_total = sdt.groupby("run_id")["rts"].sum().iloc[0] / sdt["year"].nunique() if not sdt.empty else 1627
        from bantar_sim.model.data import table3
        rt_share = float(rts_total / table3().rts.sum())
        n_reps = exp.replications
        plot_timeseries(bands, arms, out_dir / "timeseries.png", title=f"Experiment '{exp.name}'",
                        window_start=window, rt_share=rt_share, n_reps=n_reps)
        plot_forest(effects, headline, arms, out_dir / "forest.png",
                    title=f"Experiment '{exp.name}': effect of each arm vs baseline, {window}–{horizon} "
                          f"(mean paired difference over {n_reps} replications, 95% CI)")
        plot_sustainability(curve, arms, out_dir / "sustainability.png",
                            title=f"Experiment '{exp.name}': awarded RTs still active, evaluated {window}–{horizon}")
        files += ["series.csv", "sustainability.csv", "timeseries.png", "forest.png", "sustainability.png"]
        pre_diff = pre_policy_differences(city, window)

    n_failed = int((runs["status"] == "failed").sum())
    report = render_report(exp, runs, man, effects, levels, headline, arms, pre_diff, rt_share,
                           batch_summary=batch_summary, command=command, has_figures=not city.empty)
    (out_dir / "report.md").write_text(report, encoding="utf-8")
    text = (f"\nHeadline effects vs baseline, {window}–{horizon} (mean paired difference [95% CI], * = CI excludes 0):\n"
            + headline_text(effects, headline, arms))
    return {"text": text, "files": files, "n_failed": n_failed, "effects": effects, "per_run": per_run}


def _provenance(man: pd.DataFrame) -> dict:
    if man.empty:
        return {}
    ok = man[man["status"] == "ok"]
    src = ok if not ok.empty else man

    def uniq(col):
        vals = sorted({str(v) for v in src[col].dropna()}) if col in src else []
        return ", ".join(vals) if vals else "unknown"
    return {"package_version": uniq("package_version"), "model_version": uniq("model_version"),
            "git_commit": uniq("git_commit"), "git_dirty": uniq("git_dirty"),
            "first_start": str(src["start_time"].dropna().min()) if "start_time" in src else "",
            "last_end": str(src["end_time"].dropna().max()) if "end_time" in src else "",
            "compute_s": float(pd.to_numeric(src["duration_s"], errors="coerce").sum())}


def render_report(exp, runs, man, effects, levels, headline, arms, pre_diff, rt_share, *, batch_summary=None,
                  command="", has_figures=True) -> str:
    window, horizon = exp.window_start, exp.horizon
    prov = _provenance(man)
    L: list[str] = [f"# Experiment `{exp.name}`", ""]
    if exp.description:
        L += [exp.description, ""]
    L += [f"- experiment file: `{exp.path}`" + (f"; command: `{command}`" if command else ""),
          f"- horizon: 2014–{horizon}; policy period (effects are measured over it): {window}–{horizon}",
          f"- replications: {exp.replications} per arm; base seed {exp.base_seed}; replication k of every arm uses "
          f"seed `spawn_seeds({exp.base_seed}, {exp.replications})[k]` (common random numbers)",
          f"- city: scale {exp.scale if exp.scale is not None else 'model default'} "
          f"(simulated RTs = {rt_share:.3g} × the 1,627 of Table 3), households per RT "
          f"{exp.households_per_rt if exp.households_per_rt is not None else 'model default'}",
          "- parameters: " + (f"calibrated (calibration/calibrated.toml written {exp.calibrated_info.get('date', '?')}, "
                              f"sha256 {exp.calibrated_info.get('sha256', '?')[:16]}…)" if exp.calibrated_found else
                              "status-quo defaults (bantar_sim.model.params.SPECS)"
                              + ("; calibration/calibrated.toml was not found" if exp.parameters == "calibrated" else "")),
          "- posterior draws: " + (f"replication k draws its parameter set from `{exp.posterior}` (weighted); "
                                   "the same draw in every arm" if exp.posterior else "no (one parameter set)")]
    if prov:
        L += [f"- bantar-sim {prov['package_version']}, model version {prov['model_version']}, git commit "
              f"`{prov['git_commit']}` (uncommitted changes: {prov['git_dirty']}) — from the batch manifest",
              f"- runs computed {prov['first_start']} – {prov['last_end']}, {prov['compute_s']:.0f} s of compute"]
    if batch_summary is not None:
        L.append(f"- this invocation: {batch_summary.n_done} runs executed, {batch_summary.n_skipped} already on disk, "
                 f"{batch_summary.n_failed} failed, {batch_summary.elapsed_s:.1f} s")
    L += ["", "## Arms", ""]
    counts = runs.groupby(["arm", "status"]).size().unstack(fill_value=0)
    rows = []
    for arm in exp.arms:
        c = counts.loc[arm.name] if arm.name in counts.index else {}
        settings = ", ".join(f"`{k} = {json.dumps(v)}`" for k, v in arm.overrides.items()) or "(no lever set)"
        rows.append([f"**{arm.name}**", arm.description or "", settings, int(c.get("ok", 0)), int(c.get("failed", 0)),
                     int(c.get("missing", 0))])
    L.append(markdown_table(["arm", "description", "settings", "runs ok", "failed", "missing"], rows))
    if exp.base:
        L += ["", "Shared by every arm ([base]): " + ", ".join(f"`{k} = {json.dumps(v)}`" for k, v in exp.base.items())]
    L += ["", f"## Headline effects vs baseline, {window}–{horizon}", "",
          "Mean paired difference (arm − baseline, same seed) with its 95% t interval; `*` marks intervals that "
          "exclude 0. n = complete pairs.", ""]
    rows = []
    for metric in headline:
        info = METRICS[metric]
        row = [f"{info.label} ({info.unit})"]
        base = levels[(levels["arm"] == BASELINE) & (levels["metric"] == metric)]
        row.append(fmt(base["mean"].iloc[0]) if not base.empty else "–")
        for arm in arms[1:]:
            e = effects[(effects["arm"] == arm) & (effects["metric"] == metric)]
            row.append(effect_cell(e.iloc[0]) if not e.empty else "–")
        rows.append(row)
    n_pairs = effects.groupby("arm")["n_pairs"].max().to_dict() if not effects.empty else {}
    L.append(markdown_table(["metric", "baseline level"] + [f"{a} (n={n_pairs.get(a, 0)})" for a in arms[1:]], rows))
    if has_figures:
        L += ["", "![Effects vs baseline](forest.png)", "",
              "## Time series", "",
              "Median per arm, 90% of replications shaded, 95% dotted; black squares: the published Table 3 winners "
              "2014–2020 (and their cumulative sum; with no repeat wins it counts the RTs ever awarded)"
              + ("" if abs(rt_share - 1) < 1e-9 else f", scaled by {rt_share:.3g} to the simulated city") + ".", "",
              "![Time series per arm](timeseries.png)", "",
              "## Sustainability after the award", "",
              f"Share of RTs still holding the label and practising k years after their first award, for award "
              f"cohorts whose year k falls in {window}–{horizon}; mean over replications with 95% CI.", "",
              "![Awarded RTs still active](sustainability.png)"]
    L += ["", "## All metrics: level per arm (mean [95% CI over replications])", ""]
    rows = []
    for metric, info in METRICS.items():
        row = [f"`{metric}`", info.unit]
        for arm in arms:
            lv = levels[(levels["arm"] == arm) & (levels["metric"] == metric)]
            r = lv.iloc[0] if not lv.empty else None
            row.append("–" if r is None or not np.isfinite(r["mean"]) else
                       (f"{fmt(r['mean'])} [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]" if np.isfinite(r["ci_low"])
                        else fmt(r["mean"])))
        rows.append(row)
    L.append(markdown_table(["metric", "unit"] + arms, rows))
    L += ["", "Definitions:", ""] + [f"- `{k}`: {v.doc}." for k, v in METRICS.items()]
    L += ["", "## Checks", ""]
    if pre_diff:
        same = [a for a, n in pre_diff.items() if n == 0]
        diff = {a: n for a, n in pre_diff.items() if n}
        if same:
            L.append(f"- Identical to the baseline, replicate by replicate, before {window} (the levers act only from "
                     f"policy_start_year; common random numbers hold): {', '.join(same)}.")
        for a, n in diff.items():
            L.append(f"- **{a}** differs from the baseline before {window} in {n} replicate(s): one of its settings "
                     "acts from 2014 (a non-policy parameter), so its effects include a "
                     "changed 2014–" f"{window - 1} history.")
    failed = runs[runs["status"] == "failed"]
    missing = runs[runs["status"] == "missing"]
    L += ["", "## Failures", ""]
    if failed.empty and missing.empty:
        L.append("None: every run finished.")
    else:
        if not failed.empty:
            L.append(f"{len(failed)} run(s) failed (recorded in the manifest; rerun the command to retry them):")
            L += [f"- arm {r.arm}, replicate {r.replicate}, seed {r.seed}: {str(r.error).splitlines()[0] if r.error else '?'}"
                  for r in failed.itertuples()]
        if not missing.empty:
            L.append(f"{len(missing)} run(s) are not on disk (batch interrupted?); rerun the command to compute them.")
    L += ["", "## Seeds", "", "Replication k → seed (the same in every arm):", ""]
    seeds = exp.seeds
    L.append(", ".join(f"{k}: `{s}`" for k, s in enumerate(seeds)))
    if exp.posterior_draws:
        L += ["", "Posterior row per replication: " + ", ".join(f"{k}: {i}" for k, (i, _) in enumerate(exp.posterior_draws))]
    L += ["", "## Parameters", ""]
    from bantar_sim.model.params import SPECS, make_params
    from dataclasses import asdict
    full = asdict(make_params(exp.arm_params(exp.arms[0], 0 if exp.posterior_draws else None)))
    changed = {k: v for k, v in full.items() if v != SPECS[k].default}
    L.append("Baseline parameter set, where it differs from the status-quo defaults of `bantar-sim params` "
             "(every run's full parameter set is in the batch manifest, `runs/manifest/*.jsonl`, and in "
             "`experiment.json`):")
    L += ["", markdown_table(["parameter", "value", "default"],
                             [[f"`{k}`", json.dumps(v), json.dumps(SPECS[k].default)] for k, v in changed.items()])]
    L += ["", "## Method", "",
          "Each arm is run with the same R seeds. For a metric X the effect of an arm is "
          "d̄ = mean_k (X_arm,k − X_baseline,k), with the 95% interval d̄ ± t(0.975, n−1)·s_d/√n over the n "
          "complete pairs (a failed run drops its pair only). Because both runs of a pair share every random "
          "stream until the levers start acting, the interval reflects the lever's effect rather than noise "
          "between arms. Intervals are for the mean effect over the model's stochasticity"
          + (" and the calibrated parameters' posterior uncertainty." if exp.posterior else
             " at one parameter set (posterior_draws adds parameter uncertainty)."), "",
          "## Files", "",
          "- `metrics.csv`: every metric per run (arm, replicate, seed); `effects.csv`: paired effects with "
          "CIs; `levels.csv`: per-arm means with CIs; `series.csv`: yearly bands per arm; `sustainability.csv`: "
          "share still active k years after the award per run; `runs.csv`: run ids and status; "
          "`experiment.json`: the resolved experiment; `runs/`: the Parquet dataset and manifest "
          "(`bantar_sim.engine.batch.load_table`)."]
    return "\n".join(L) + "\n"
