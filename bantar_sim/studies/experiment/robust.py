"""Answers that say how sure they are (issue 16): paired effects over the scenarios of an [uncertain] experiment.

Every arm ran on every scenario with the same seed(s), so the effect of an arm in scenario s is the mean
over its seed repeats of (arm − baseline) — a paired difference. Over the scenarios these effects are a
distribution, and the statistics here summarise it without assuming its shape:

- :func:`effect_distribution`: median, 5–95% range and P(effect > 0) per arm and metric (the share of
  scenarios; a conclusion is called *robust* when P(effect > 0) ≥ 0.9 or P(effect < 0) ≥ 0.9, :data:`ROBUST`;
  an effect that is exactly 0 in every scenario is *no effect*, not a robust sign);
- :func:`beats_matrix`: P(arm A beats arm B), the share of scenarios where A does better on the metric
  (ties count one half; "better" is lower for costs, misuse and inequality, :data:`LOWER_IS_BETTER`);
- :func:`regret_table`: each arm's regret in a scenario (its shortfall against the best arm there, the
  baseline included) and the min–max regret ranking of Robust Decision Making (Lempert et al. 2006);
- :func:`variance_shares`: how much of the effect's variance comes from the seed, the posterior and the
  lever strengths (method in its docstring).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bantar_sim.model.metrics import METRICS

BASELINE = "baseline"
#: A conclusion holds whatever the uncertain inputs when P(effect > 0) or P(effect < 0) is at least this.
ROBUST = 0.9
#: Metrics where less is better (regret and P(A beats B) turn their sign).
LOWER_IS_BETTER = frozenset({"funds_spent_policy", "reward_misused_policy", "misused_share_policy",
                             "funds_per_sustained_rt_year_policy", "wins_per_rt_gini", "wins_per_rt_gini_policy",
                             "not_practising_final", "poverty_share_final", "programme_cost_policy"})
#: Report-level columns that are not model metrics: label and unit (see robust_report.programme_cost).
REPORT_COLUMNS = {"programme_cost_policy": ("programme cost, policy period (funds + priced monitoring)", "million IDR")}


def sign(metric: str) -> float:
    """+1 when more of the metric is better, −1 when less is."""
    return -1.0 if metric in LOWER_IS_BETTER else 1.0


def run_effects(per_run: pd.DataFrame, metrics, seed_repeats: int, baseline: str = BASELINE) -> pd.DataFrame:
    """Long table of paired differences per run: arm, scenario, seed_repeat, metric, effect (arm − baseline).

    ``per_run`` has columns arm, replicate and the metrics; replicate = scenario · k + repeat.
    """
    base = per_run[per_run["arm"] == baseline].set_index("replicate")
    parts = []
    for arm, g in per_run[per_run["arm"] != baseline].groupby("arm", sort=False):
        g = g.set_index("replicate")
        common = g.index.intersection(base.index)
        for m in metrics:
            d = g.loc[common, m].astype(float) - base.loc[common, m].astype(float)
            parts.append(pd.DataFrame({"arm": arm, "replicate": common, "metric": m, "effect": d.to_numpy()}))
    if not parts:
        return pd.DataFrame(columns=["arm", "replicate", "scenario", "seed_repeat", "metric", "effect"])
    out = pd.concat(parts, ignore_index=True).dropna(subset=["effect"])
    out["scenario"] = out["replicate"] // seed_repeats
    out["seed_repeat"] = out["replicate"] % seed_repeats
    return out


def scenario_means(table: pd.DataFrame, value: str = "effect") -> pd.DataFrame:
    """Mean of ``value`` over the seed repeats: one row per arm, metric and scenario."""
    return table.groupby(["arm", "metric", "scenario"], sort=False)[value].mean().reset_index()


def arm_values(per_run: pd.DataFrame, metric: str, seed_repeats: int) -> pd.DataFrame:
    """Scenario × arm table of the metric's level (mean over the seed repeats), baseline included."""
    d = per_run[["arm", "replicate", metric]].copy()
    d["scenario"] = d["replicate"] // seed_repeats
    return d.groupby(["scenario", "arm"], sort=False)[metric].mean().unstack("arm")


def effect_distribution(effects: pd.DataFrame) -> pd.DataFrame:
    """Per arm and metric, over the scenarios' paired effects: n, mean, median, 5% and 95% quantiles,
    P(effect > 0), P(effect < 0), whether the sign is robust (P(effect > 0) ≥ 0.9 or P(effect < 0) ≥ 0.9) and
    whether the effect is exactly zero in every scenario (``no_effect``: the arm ran the baseline's runs on this
    metric, e.g. a lever at strength 0; that is neither a positive nor a negative conclusion).
    """
    rows = []
    for (arm, metric), g in effects.groupby(["arm", "metric"], sort=False):
        x = g["effect"].to_numpy(float)
        x = x[np.isfinite(x)]
        if not x.size:
            continue
        p, q = float((x > 0).mean()), float((x < 0).mean())
        info = METRICS.get(metric)
        label, unit = (info.label, info.unit) if info else REPORT_COLUMNS.get(metric, (metric, ""))
        rows.append({"arm": arm, "metric": metric, "label": label,
                     "unit": unit, "n_scenarios": int(x.size), "mean": float(x.mean()),
                     "median": float(np.median(x)), "q05": float(np.quantile(x, 0.05)),
                     "q95": float(np.quantile(x, 0.95)), "p_positive": p, "p_negative": q,
                     "robust": bool(p >= ROBUST or q >= ROBUST), "no_effect": bool(not np.any(x))})
    return pd.DataFrame(rows)


def no_effect_arms(dist: pd.DataFrame, metric: str) -> set[str]:
    """Arms whose effect on ``metric`` is exactly 0 in every scenario (``no_effect`` of
    :func:`effect_distribution`, as computed or as read back from robust_effects.csv).
    """
    if "no_effect" not in dist:
        return set()
    flag = dist["no_effect"].astype(str) == "True"
    return set(dist.loc[(dist["metric"] == metric) & flag, "arm"])


def beats_matrix(values: pd.DataFrame, metric: str) -> pd.DataFrame:
    """P(row arm beats column arm): share of scenarios where it does better on ``metric`` (ties ½).

    ``values`` is a scenario × arm table (:func:`arm_values`); scenarios missing an arm are left out of
    that pair. The diagonal is NaN.
    """
    s = sign(metric)
    arms = list(values.columns)
    out = pd.DataFrame(np.nan, index=pd.Index(arms, name="arm"), columns=arms)
    for a in arms:
        for b in arms:
            if a == b:
                continue
            d = (s * (values[a] - values[b])).dropna().to_numpy(float)
            if d.size:
                out.loc[a, b] = float(((d > 0) + 0.5 * (d == 0)).mean())
    return out


def regret_table(values: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Regret of each arm: its shortfall against the best arm of each scenario (≥ 0, in the metric's unit).

    Returns one row per arm with mean, median, 95% quantile and maximum regret, the share of scenarios
    where the arm is the best, and ``rank``: 1 = smallest maximum regret (min–max regret, ties broken by
    mean regret; arms with the same maximum and mean regret, e.g. an arm that ran the baseline's runs, share a
    rank). Scenarios with a missing arm are dropped.
    """
    v = values.dropna() * sign(metric)
    if v.empty:
        return pd.DataFrame(columns=["arm", "metric", "mean_regret", "median_regret", "q95_regret", "max_regret",
                                     "p_best", "rank"])
    regret = v.max(axis=1).to_numpy()[:, None] - v.to_numpy()
    best = v.to_numpy() == v.max(axis=1).to_numpy()[:, None]
    df = pd.DataFrame({"arm": v.columns, "metric": metric, "mean_regret": regret.mean(axis=0),
                       "median_regret": np.median(regret, axis=0), "q95_regret": np.quantile(regret, 0.95, axis=0),
                       "max_regret": regret.max(axis=0), "p_best": best.mean(axis=0)})
    df = df.sort_values(["max_regret", "mean_regret"], kind="stable").reset_index(drop=True)
    key = list(zip(df["max_regret"], df["mean_regret"], strict=True))
    df["rank"] = [key.index(k) + 1 for k in key]    # competition ranking: ties share the better rank
    return df


def _adj_r2(y: np.ndarray, x: np.ndarray) -> float:
    """Adjusted R² of a least-squares fit of y on x (with intercept), clipped to [0, 1]; NaN if n ≤ p + 1."""
    n, p = x.shape
    if p == 0:
        return 0.0
    if n <= p + 1 or np.var(y) == 0:
        return float("nan") if n <= p + 1 else 0.0
    a = np.column_stack([np.ones(n), x])
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    resid = y - a @ coef
    r2 = 1 - resid.var() / y.var()
    return float(np.clip(1 - (1 - r2) * (n - 1) / (n - p - 1), 0, 1))


def _standardised(inputs: pd.DataFrame, columns) -> np.ndarray:
    x = inputs[[c for c in columns if c in inputs]].to_numpy(float)
    sd = x.std(axis=0)
    keep = sd > 0
    return (x[:, keep] - x[:, keep].mean(axis=0)) / sd[keep]


def variance_shares(effects: pd.DataFrame, inputs: pd.DataFrame, posterior_columns, strength_columns,
                    seed_repeats: int) -> pd.DataFrame:
    """Shares of the variance of an arm's paired effect from the seed, the posterior and the lever strengths.

    Method (documented because other splits exist):

    1. total variance V of the per-run effects over every scenario and seed repeat;
    2. seed share = W / V with W the mean over scenarios of the variance between the seed repeats of one
       scenario (same inputs, different seeds); with ``seed_repeats = 1`` it cannot be separated (NaN) and the
       seed's variance sits in ``unexplained``;
    3. the scenario means m_s are regressed (least squares on standardised inputs, adjusted R²) on the
       posterior inputs alone, the strengths alone and both; the explained part R²_both of var(m_s) is split
       between the two groups by their Shapley values, φ_post = ½[R²_post + R²_both − R²_str] and φ_str the
       same the other way round, then scaled by var(m_s)/V;
    4. ``unexplained`` = 1 − the three shares: interactions and non-linear effects a first-order linear
       regression misses (and the seed when it is not separated). With few scenarios per input the
       adjusted R² is small or NaN: read the shares as rough, not exact.
    """
    rows = []
    x_post = _standardised(inputs, posterior_columns)
    x_str = _standardised(inputs, strength_columns)
    x_both = np.column_stack([x_post, x_str]) if x_post.size or x_str.size else np.zeros((len(inputs), 0))
    by_s = inputs.set_index("scenario")
    for (arm, metric), g in effects.groupby(["arm", "metric"], sort=False):
        v_total = float(g["effect"].var(ddof=0))
        within = float(g.groupby("scenario")["effect"].var(ddof=0).mean()) if seed_repeats > 1 else float("nan")
        m = g.groupby("scenario")["effect"].mean()
        pos = by_s.index.get_indexer(m.index)
        y = m.to_numpy(float)
        row = {"arm": arm, "metric": metric, "n_scenarios": int(len(m)), "variance": v_total}
        if not v_total > 0 or len(m) < 3:
            rows.append({**row, "seed_share": np.nan, "posterior_share": np.nan, "strengths_share": np.nan,
                         "unexplained_share": np.nan})
            continue
        r_p = _adj_r2(y, x_post[pos]) if x_post.size else 0.0
        r_s = _adj_r2(y, x_str[pos]) if x_str.size else 0.0
        r_b = _adj_r2(y, x_both[pos])
        scale = float(y.var()) / v_total
        phi_p = 0.5 * (r_p + r_b - r_s)
        phi_s = 0.5 * (r_s + r_b - r_p)
        seed = within / v_total if np.isfinite(within) else np.nan
        post, stren = max(phi_p, 0.0) * scale, max(phi_s, 0.0) * scale
        rest = 1 - post - stren - (seed if np.isfinite(seed) else 0.0)
        rows.append({**row, "seed_share": seed, "posterior_share": post, "strengths_share": stren,
                     "unexplained_share": max(rest, 0.0)})
    return pd.DataFrame(rows)


def robust_findings(dist: pd.DataFrame, metrics) -> tuple[list[str], list[str]]:
    """Two lists of sentences: conclusions that hold whatever the inputs (robust sign, or no effect in any
    scenario), and the others.
    """
    sure, unsure = [], []
    for _, r in dist[dist["metric"].isin(metrics)].iterrows():
        p = r["p_positive"]
        if r.get("no_effect", False):
            sure.append(f"**{r['arm']}** on {r['label']}: no effect in any of the {int(r['n_scenarios'])} scenarios "
                        "(exactly the baseline's value)")
            continue
        text = (f"**{r['arm']}** on {r['label']}: median effect {r['median']:.3g} {r['unit']} "
                f"(5–95% over scenarios {r['q05']:.3g} to {r['q95']:.3g}); P(effect > 0) = {p:.2f}")
        (sure if r["robust"] else unsure).append(text)
    return sure, unsure
