"""Dose–response over the uncertain strengths, break-even strength, cost-effectiveness and persistence after
withdrawal (issue 16), from the paired effects per scenario of an [uncertain] experiment.

- :func:`dose_curves`: for each arm and each strength input that acts in it, the effect against the
  strength over its range: scenarios binned by equal-count quantile bins of the input, the median effect
  and its 5–95% band per bin (a binned curve, not a fitted model: the other inputs vary within each bin,
  so the band is the effect's spread at that strength whatever the rest is).
- :func:`break_even`: where extra participation is worth its cost at ``price`` million IDR per
  participating household-year: per scenario, net = price × Δ participating household-years − Δ cost;
  the break-even strength is where the binned median net crosses 0 (linear interpolation between bins).
  Cost (:data:`COST`) is the model's funds (reward paid, staged tranches, Kencana rewards, RJ houses) plus
  monitoring priced by the report's ``monitoring_cost``; campaigns and leader programmes have no cost in the
  model, so their net is their gain alone.
- :func:`cost_effectiveness`: Δ cost per additional participating household-year and per additional
  practising RT-year over the policy period, per scenario (only scenarios with a gain), median and 5–95%.
- :func:`persistence` and :func:`half_life`: for arms that withdraw the levers (policy_end_year before the
  horizon), the paired effect by year after withdrawal, and the half-life of an exponential decay fitted
  to its median (``no decay`` when it does not fall, ``not reached`` when half is not reached within the
  horizon).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

GAIN = "participating_household_years_policy"
RT_GAIN = "practising_rt_years_policy"
FUNDS = "funds_spent_policy"
#: Funds plus the monitoring programme's cost at the report's ``monitoring_cost`` (a per-run column the robust
#: analysis adds, :func:`bantar_sim.studies.experiment.robust_report.programme_cost`); falls back to FUNDS.
COST = "programme_cost_policy"
#: Yearly series of city_year whose paired effect the persistence table follows.
PERSISTENCE_SERIES = ("participating_households", "practising_rts")


def _bins(x: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index of each x in equal-count quantile bins (fewer bins when x has few distinct values)."""
    edges = np.unique(np.quantile(x, np.linspace(0, 1, n_bins + 1)))
    if edges.size < 2:
        return np.zeros(x.size, int)
    return np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)


def binned(x: np.ndarray, y: np.ndarray, n_bins: int) -> pd.DataFrame:
    """Per quantile bin of x: x_low, x_high, x_mid (median x), n, median, q05, q95 and mean of y."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if not x.size:
        return pd.DataFrame(columns=["bin", "x_low", "x_high", "x_mid", "n", "median", "q05", "q95", "mean"])
    b = _bins(x, n_bins)
    rows = []
    for k in np.unique(b):
        xs, ys = x[b == k], y[b == k]
        rows.append({"bin": int(k), "x_low": float(xs.min()), "x_high": float(xs.max()),
                     "x_mid": float(np.median(xs)), "n": int(xs.size), "median": float(np.median(ys)),
                     "q05": float(np.quantile(ys, 0.05)), "q95": float(np.quantile(ys, 0.95)),
                     "mean": float(ys.mean())})
    return pd.DataFrame(rows)


def n_bins_for(n: int) -> int:
    """About 8 scenarios a bin, between 2 and 10 bins."""
    return int(min(10, max(2, n // 8)))


def dose_curves(scen: pd.DataFrame, inputs: pd.DataFrame, acts_in: dict[str, list[str]], metrics) -> pd.DataFrame:
    """Effect vs strength: one row per arm, input, metric and bin (:func:`binned`).

    ``scen``: arm, metric, scenario, effect (scenario means); ``acts_in``: arm -> the strength columns
    whose lever the arm turns on.
    """
    parts = []
    by_s = inputs.set_index("scenario")
    for arm, cols in acts_in.items():
        for metric in metrics:
            e = scen[(scen["arm"] == arm) & (scen["metric"] == metric)]
            if e.empty:
                continue
            for col in cols:
                x = by_s.loc[e["scenario"], col].to_numpy(float)
                b = binned(x, e["effect"].to_numpy(float), n_bins_for(len(e)))
                b.insert(0, "metric", metric)
                b.insert(0, "input", col)
                b.insert(0, "arm", arm)
                parts.append(b)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["arm", "input", "metric", "bin", "x_low", "x_high", "x_mid", "n", "median", "q05", "q95", "mean"])


def crossing(x: np.ndarray, y: np.ndarray) -> tuple[float, str]:
    """Where y (ordered by x) first crosses 0 upwards: (x, 'crosses'), or (nan, 'always above') /
    (nan, 'never reached') / (x at the downward crossing, 'crosses downwards').
    """
    if not x.size:
        return math.nan, "no data"
    if (y >= 0).all():
        return math.nan, "worth it over the whole range"
    if (y < 0).all():
        return math.nan, "not reached in the range"
    for i in range(1, len(x)):
        if (y[i - 1] < 0) != (y[i] < 0):
            t = -y[i - 1] / (y[i] - y[i - 1])
            return float(x[i - 1] + t * (x[i] - x[i - 1])), ("crosses" if y[i] >= 0 else "crosses downwards")
    return math.nan, "not reached in the range"


def break_even(scen: pd.DataFrame, inputs: pd.DataFrame, acts_in: dict[str, list[str]], price: float) -> pd.DataFrame:
    """Per arm and strength input: the break-even strength at ``price`` (million IDR per participating
    household-year) where the binned median of price × Δ gain − Δ funds crosses 0, with the share of
    scenarios where the arm is worth its cost overall.
    """
    cost = COST if (scen["metric"] == COST).any() else FUNDS
    wide = scen[scen["metric"].isin([GAIN, cost])].pivot_table(index=["arm", "scenario"], columns="metric",
                                                                values="effect")
    rows = []
    if GAIN not in wide or cost not in wide:
        return pd.DataFrame(columns=["arm", "input", "price", "break_even", "status", "p_worth_it"])
    net = (price * wide[GAIN] - wide[cost]).rename("net").reset_index()
    by_s = inputs.set_index("scenario")
    for arm, cols in acts_in.items():
        e = net[net["arm"] == arm]
        if e.empty:
            continue
        p_worth = float((e["net"] >= 0).mean())
        for col in cols:
            b = binned(by_s.loc[e["scenario"], col].to_numpy(float), e["net"].to_numpy(float), n_bins_for(len(e)))
            x, status = crossing(b["x_mid"].to_numpy(float), b["median"].to_numpy(float))
            rows.append({"arm": arm, "input": col, "price": price, "break_even": x, "status": status,
                         "p_worth_it": p_worth})
    return pd.DataFrame(rows, columns=["arm", "input", "price", "break_even", "status", "p_worth_it"])


def _summary(x: np.ndarray) -> dict:
    x = x[np.isfinite(x)]
    if not x.size:
        return {"median": math.nan, "q05": math.nan, "q95": math.nan}
    return {"median": float(np.median(x)), "q05": float(np.quantile(x, 0.05)), "q95": float(np.quantile(x, 0.95))}


def cost_effectiveness(scen: pd.DataFrame) -> pd.DataFrame:
    """Per arm and gain (participating household-years, practising RT-years): Δ funds per unit of gain in the
    scenarios with a gain (median, 5–95%), the share of scenarios with a gain, and the ratio of the mean
    Δ funds to the mean gain over all scenarios (million IDR per unit).
    """
    wide = scen.pivot_table(index=["arm", "scenario"], columns="metric", values="effect")
    rows = []
    cost = COST if COST in wide else FUNDS
    if cost not in wide:
        return pd.DataFrame()
    for gain, unit in ((GAIN, "household-year"), (RT_GAIN, "RT-year")):
        if gain not in wide:
            continue
        for arm, g in wide.groupby(level="arm", sort=False):
            d, f = g[gain].to_numpy(float), g[cost].to_numpy(float)
            pos = d > 0
            ratio = np.where(pos, f / np.where(pos, d, 1.0), np.nan)
            mean_ratio = float(f.mean() / d.mean()) if d.mean() > 0 else math.nan
            rows.append({"arm": arm, "gain": gain, "unit": f"million IDR per additional participating {unit}"
                         if unit == "household-year" else f"million IDR per additional practising {unit}",
                         "n_scenarios": int(len(d)), "p_gain": float(pos.mean()), **_summary(ratio),
                         "ratio_of_means": mean_ratio, "funds_median": float(np.median(f)),
                         "gain_median": float(np.median(d))})
    return pd.DataFrame(rows)


def persistence(city: pd.DataFrame, end_years: dict[str, int], horizon: int, seed_repeats: int,
                baseline: str = "baseline") -> pd.DataFrame:
    """Paired yearly effects after withdrawal: one row per arm, series and year from the last policy year.

    ``city``: city_year rows with arm and replicate; ``end_years``: arm -> its policy_end_year (only arms
    that withdraw before the horizon). ``years_after`` = year − (policy_end_year − 1): 0 is the last year
    the levers act. Median and 5–95% over scenarios (scenario = mean over its seed repeats).
    """
    rows = []
    base = city[city["arm"] == baseline].set_index(["replicate", "year"])
    for arm, end in end_years.items():
        a = city[(city["arm"] == arm) & (city["year"] >= end - 1)].set_index(["replicate", "year"])
        common = a.index.intersection(base.index)
        for series in PERSISTENCE_SERIES:
            if series not in a:
                continue
            d = (a.loc[common, series].astype(float) - base.loc[common, series].astype(float)).reset_index()
            d["scenario"] = d["replicate"] // seed_repeats
            per_s = d.groupby(["year", "scenario"])[series].mean().reset_index()
            for year, g in per_s.groupby("year"):
                x = g[series].to_numpy(float)
                rows.append({"arm": arm, "series": series, "year": int(year), "years_after": int(year - end + 1),
                             "n_scenarios": int(x.size), **_summary(x), "mean": float(x.mean())})
    return pd.DataFrame(rows, columns=["arm", "series", "year", "years_after", "n_scenarios", "median", "q05",
                                       "q95", "mean"])


def half_life(t: np.ndarray, y: np.ndarray) -> dict:
    """Fit y = y0 · exp(−λ t) to an effect after withdrawal (t = 0 the last policy year).

    Returns y0, λ, the half-life ln 2 / λ in years and a status: 'decays' (half reached within the
    observed years), 'not reached' (decays, but half would come after the horizon: extrapolated),
    'no decay' (λ ≤ 0: the effect holds or grows), 'no effect at withdrawal' (y0 ≤ 0) or 'too few years'.
    The fit is least squares on the original scale (scipy.optimize.curve_fit), started from the log-linear fit.
    """
    from scipy.optimize import curve_fit

    t, y = np.asarray(t, float), np.asarray(y, float)
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = t[ok], y[ok]
    out = {"y0": math.nan, "rate": math.nan, "half_life": math.nan}
    if t.size < 3:
        return {**out, "status": "too few years"}
    if y[np.argmin(t)] <= 0:
        return {**out, "status": "no effect at withdrawal"}
    pos = y > 0
    lam0 = -np.polyfit(t[pos], np.log(y[pos]), 1)[0] if pos.sum() >= 2 else 0.1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # an exact curve leaves no residual to estimate a covariance from
            (y0, lam), _ = curve_fit(lambda tt, a, b: a * np.exp(-b * tt), t, y, p0=(y[np.argmin(t)], lam0),
                                     maxfev=5000)
    except (RuntimeError, ValueError):
        return {**out, "status": "fit failed"}
    out.update(y0=float(y0), rate=float(lam))
    if lam <= 1e-9:
        return {**out, "status": "no decay"}
    hl = math.log(2) / lam
    out["half_life"] = hl
    return {**out, "status": "decays" if hl <= t.max() - t.min() else "not reached"}


def half_lives(pers: pd.DataFrame) -> pd.DataFrame:
    """:func:`half_life` of the median effect per arm and series."""
    rows = []
    for (arm, series), g in pers.groupby(["arm", "series"], sort=False):
        g = g.sort_values("years_after")
        rows.append({"arm": arm, "series": series, "years_observed": int(g["years_after"].max()),
                     **half_life(g["years_after"].to_numpy(), g["median"].to_numpy())})
    return pd.DataFrame(rows, columns=["arm", "series", "years_observed", "y0", "rate", "half_life", "status"])
