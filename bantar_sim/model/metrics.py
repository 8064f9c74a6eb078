"""Every output metric of a run, declared once: name, label, unit, definition, window and computation.

A metric is computed from a run's tables (``city_year``, ``subdistrict_year`` and ``award_cohorts``, see
:mod:`bantar_sim.model.tables`), for one run or for many at once (rows keyed by ``run_id``), over a window
of years. `bantar-sim run`, the experiments, the sensitivity analysis, the app and the docs all read
this registry; adding a metric is one entry here (plus its line in the docs, which a test checks).

Windows
-------
``final year``
    the run's last year (the horizon).
``policy period``
    from the first year a lever acts to the horizon. For one run that is ``[policy_start_year, end_year]``,
    or the whole run when the run has no policy period (``policy_start_year > end_year``, e.g. the
    calibrated 2014–2020 history). An experiment uses one window for all its arms: from the earliest
    ``policy_start_year`` of any arm.
``whole run``
    2014 to the horizon.
``2014–2020``
    the years of the paper's Table 3.

``sustained_ky`` (the share of awarded RTs still holding the label and practising k years after their
first award) is evaluated on the award cohorts whose k-th year falls inside the policy period: in a
run without a policy period that is every cohort of the run; in an experiment it is the cohorts
observed under the levers. (Until this registry, `bantar-sim run`'s metrics used every cohort of the run
and the experiments the policy period, and `wins_per_rt_gini` was 2014–2020 in one and 2014 to the
horizon in the other; both definitions agree on runs that end in 2020 without a policy period.)
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

START_YEAR = 2014
OBSERVED_LAST_YEAR = 2020  # the last year of Table 3


@dataclass(frozen=True)
class RunTables:
    """The tables metrics are computed from, for one or many runs (each row tagged with ``run_id``).

    Parameters
    ----------
    city : pandas.DataFrame
        ``city_year`` rows (``run_id``, ``year``, ...).
    subdistrict : pandas.DataFrame
        ``subdistrict_year`` rows.
    cohorts : pandas.DataFrame
        ``award_cohorts`` rows (``run_id``, ``award_year``, ``years_after``, ``awarded``, ``active``, ...).
    window_start : int
        First year of the policy period (see the module docstring).
    horizon : int
        Last year included.
    """

    city: pd.DataFrame
    subdistrict: pd.DataFrame
    cohorts: pd.DataFrame
    window_start: int
    horizon: int

    @cached_property
    def runs(self) -> pd.Index:
        """The run ids, sorted."""
        return pd.Index(sorted(self.city["run_id"].unique()), name="run_id")

    @cached_property
    def last(self) -> pd.DataFrame:
        """Each run's horizon-year row of ``city_year``, indexed by run id."""
        c = self.city
        return c[c["year"] == self.horizon].set_index("run_id")

    @cached_property
    def window(self):
        """``city_year`` rows of the policy period, grouped by run id."""
        c = self.city
        return c[c["year"] >= self.window_start].groupby("run_id")

    @cached_property
    def whole(self):
        """``city_year`` rows of the whole run, grouped by run id."""
        return self.city.groupby("run_id")


@dataclass(frozen=True)
class Metric:
    """One output metric: what it measures and how it is computed.

    Parameters
    ----------
    label : str
        Short label for tables and figure axes.
    unit : str
        Unit of the metric (and of an effect on it).
    doc : str
        Definition, in words.
    window : str
        ``final year``, ``policy period``, ``whole run`` or ``2014–2020`` (see the module docstring).
    compute : callable
        ``RunTables -> pandas.Series`` indexed by run id (NaN where a ratio has no denominator).
    """

    label: str
    unit: str
    doc: str
    window: str
    compute: Callable[[RunTables], pd.Series]


def gini(values) -> float:
    """Gini coefficient of non-negative values (0 = equal, towards 1 = concentrated; 0 for all zeros)."""
    v = np.sort(np.asarray(values, float))
    if v.size == 0 or v.sum() == 0:
        return 0.0
    cum = np.cumsum(v)
    return float((v.size + 1 - 2 * (cum.sum() / cum[-1])) / v.size)


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    return num / den.where(den > 0)


def _wins_gini(t: RunTables, first_year: int, last_year: int) -> pd.Series:
    sdt = t.subdistrict
    part = sdt[(sdt["year"] >= first_year) & (sdt["year"] <= last_year)]
    g = part.groupby(["run_id", "subdistrict"], observed=True)
    rate = g["winners"].sum() / g["rts"].first()
    out = {rid: gini(r.to_numpy()) for rid, r in rate.groupby(level="run_id")}
    return pd.Series(out, dtype=float).rename_axis("run_id")


def _sustained(t: RunTables, k: int) -> pd.Series:
    c = t.cohorts
    seen = c["award_year"] + c["years_after"]
    ev = c[(seen >= t.window_start) & (seen <= t.horizon) & (c["years_after"] == k)]
    sel = ev.groupby("run_id")[["active", "awarded"]].sum()
    return _ratio(sel["active"], sel["awarded"]).reindex(t.runs)


def _funds_policy(t: RunTables) -> pd.Series:
    w = t.window
    return w["reward_paid"].sum() + w["rj_cost"].sum()


def _funds_whole(t: RunTables) -> pd.Series:
    g = t.whole
    return g["reward_paid"].sum() + g["rj_cost"].sum()


def _final(column: str) -> Callable[[RunTables], pd.Series]:
    return lambda t: t.last[column].astype(float)


M = Metric
METRICS: dict[str, Metric] = {
    # --- people: participation -------------------------------------------------------------------
    "participation_final": M("participation, final year", "share of households",
                             "share of households taking part (yearly mean of the monthly share) in the horizon year",
                             "final year", _final("participation")),
    "participation_policy": M("participation, policy-period mean", "share of households",
                              "mean over the policy years of the yearly share of households taking part",
                              "policy period", lambda t: t.window["participation"].mean()),
    "participation_mean": M("participation, whole-run mean", "share of households",
                            "mean over every simulated year of the yearly share of households taking part",
                            "whole run", lambda t: t.whole["participation"].agg(lambda s: s.mean())),
    "participating_household_years_policy": M("participating household-years, policy period", "household-years",
                                              "sum over the policy years of the households taking part (yearly "
                                              "mean of the monthly count)", "policy period",
                                              lambda t: t.window["participating_households"].sum()),
    "participating_household_years": M("participating household-years, whole run", "household-years",
                                       "sum over every simulated year of the households taking part", "whole run",
                                       lambda t: t.whole["participating_households"].sum().astype(float)),
    "youth_participation_final": M("youth participation, final year", "share of youth households",
                                   "share of youth households taking part in the horizon year",
                                   "final year", _final("youth_participation")),
    "awareness_policy": M("awareness, policy-period mean", "share of households",
                          "mean over the policy years of the share of households aware of the programme",
                          "policy period", lambda t: t.window["awareness"].mean()),
    # --- RTs: label, practice, awards ------------------------------------------------------------
    "sustained_1y": M("awarded RTs still active 1 year on", "share",
                      "share of RTs still holding the label and practising 1 year after their (first) award; "
                      "award cohorts whose 1st year falls in the policy period",
                      "policy period", lambda t: _sustained(t, 1)),
    "sustained_3y": M("awarded RTs still active 3 years on", "share",
                      "as sustained_1y, 3 years after the award", "policy period", lambda t: _sustained(t, 3)),
    "sustained_5y": M("awarded RTs still active 5 years on", "share",
                      "as sustained_1y, 5 years after the award", "policy period", lambda t: _sustained(t, 5)),
    "active_bantar_final": M("Bantar RTs still practising, final year", "RTs",
                             "RTs holding the Bantar or Kencana label and still applying the concept in the horizon "
                             "year", "final year", _final("active_bantar")),
    "bantar_label_final": M("RTs holding the label, final year", "RTs",
                            "RTs holding the Bantar or Kencana label in the horizon year, practising or not",
                            "final year", _final("bantar_label")),
    "not_practising_final": M("labelled RTs no longer practising, final year", "RTs",
                              "RTs holding the label in the horizon year although the concept is no longer applied",
                              "final year", lambda t: t.last["bantar_label"] - t.last["active_bantar"]),
    "kencana_final": M("Kencana RTs, final year", "RTs", "RTs holding the Kencana tier in the horizon year",
                       "final year", _final("kencana")),
    "awarded_rts_final": M("RTs ever awarded by the final year", "RTs",
                           "distinct RTs awarded the label at least once by the horizon year",
                           "final year", _final("awarded_rts_cumulative")),
    "practising_final": M("practising RTs, final year", "RTs",
                          "RTs whose households' participation over the 12 months before the horizon year's "
                          "assessment meets practice_standard, labelled or not", "final year",
                          _final("practising_rts")),
    "practising_rt_years_policy": M("practising RT-years, policy period", "RT-years",
                                    "sum over the policy years of the RTs practising (labelled or not)",
                                    "policy period", lambda t: t.window["practising_rts"].sum()),
    "practising_rt_years": M("practising RT-years, whole run", "RT-years",
                             "sum over every simulated year of the RTs practising (labelled or not)", "whole run",
                             lambda t: t.whole["practising_rts"].sum().astype(float)),
    "active_low_participation_share": M("practising label-holders with participation below 0.2", "share",
                                        "share of active Bantar RT-years (whole run) whose calendar-year "
                                        "participation is below 0.2", "whole run",
                                        lambda t: t.whole["active_low_participation"].sum()
                                        / np.maximum(t.whole["active_bantar"].sum(), 1)),
    "active_bantar_rt_years_policy": M("active Bantar RT-years, policy period", "RT-years",
                                       "sum over the policy years of the RTs holding the label and practising",
                                       "policy period", lambda t: t.window["active_bantar"].sum()),
    "active_bantar_rt_years": M("RT-years of practising labelled RTs, whole run", "RT-years",
                                "sum over every simulated year of the RTs holding the label and practising",
                                "whole run", lambda t: t.whole["active_bantar"].sum().astype(float)),
    "winners_policy": M("new Bantar awards, policy period", "awards", "Bantar awards in the policy years",
                        "policy period", lambda t: t.window["winners"].sum()),
    "kencana_awards_policy": M("new Kencana awards, policy period", "awards", "Kencana awards in the policy years",
                               "policy period", lambda t: t.window["kencana_awards"].sum()),
    "winners_total": M("new Bantar awards, whole run", "awards", "Bantar awards over every simulated year",
                       "whole run", lambda t: t.whole["winners"].sum().astype(float)),
    "winners_2014_2020": M("cumulative winners 2014–2020", "awards",
                           "Bantar awards in the years of Table 3 (compare the published 614)", "2014–2020",
                           lambda t: t.city[t.city["year"] <= OBSERVED_LAST_YEAR].groupby("run_id")["winners"]
                           .sum().astype(float)),
    "wins_per_rt_gini": M("inequality of wins across sub-districts", "Gini",
                          "Gini coefficient over the 11 sub-districts of cumulative wins per RT, 2014 to the horizon",
                          "whole run", lambda t: _wins_gini(t, START_YEAR, t.horizon)),
    "wins_per_rt_gini_policy": M("inequality of policy-period wins", "Gini",
                                 "Gini over sub-districts of wins per RT in the policy years",
                                 "policy period", lambda t: _wins_gini(t, t.window_start, t.horizon)),
    # --- money ------------------------------------------------------------------------------------
    "funds_spent_policy": M("funds spent, policy period", "million IDR",
                            "reward funds paid (Bantar, staged tranches, Kencana) plus RJ house costs, policy years",
                            "policy period", _funds_policy),
    "reward_paid_total": M("funds spent, whole run", "million IDR",
                           "reward funds paid plus RJ house costs over every simulated year", "whole run",
                           lambda t: _funds_whole(t).astype(float)),
    "reward_misused_policy": M("reward funds misused, policy period", "million IDR",
                               "reward funds misused in the policy years", "policy period",
                               lambda t: t.window["reward_misused"].sum()),
    "reward_misused_total": M("reward funds misused, whole run", "million IDR",
                              "reward funds misused over every simulated year", "whole run",
                              lambda t: t.whole["reward_misused"].sum().astype(float)),
    "misused_share_policy": M("share of reward funds misused", "share",
                              "misused / paid reward funds in the policy years", "policy period",
                              lambda t: _ratio(t.window["reward_misused"].sum(), t.window["reward_paid"].sum())),
    "misused_share": M("share of reward funds misused, whole run", "share",
                       "misused / paid reward funds over every simulated year", "whole run",
                       lambda t: t.whole["reward_misused"].sum() / np.maximum(t.whole["reward_paid"].sum(), 1e-9)),
    "funds_per_sustained_rt_year_policy": M("funds per sustained RT-year", "million IDR per RT-year",
                                            "funds spent in the policy years / active Bantar RT-years in them",
                                            "policy period",
                                            lambda t: _ratio(_funds_policy(t), t.window["active_bantar"].sum())),
    "funds_per_sustained_rt_year": M("funds per sustained RT-year, whole run", "million IDR per RT-year",
                                     "funds spent / active Bantar RT-years, whole run (at least one RT-year)",
                                     "whole run", lambda t: _funds_whole(t)
                                     / np.maximum(t.whole["active_bantar"].sum().astype(float), 1.0)),
    # --- context ----------------------------------------------------------------------------------
    "poverty_share_final": M("poverty share, final year", "share of households",
                             "share of households whose economic constraint is below the poverty line",
                             "final year", _final("poverty_share")),
    "final_year": M("final year", "year", "the horizon year of the run", "final year",
                    lambda t: t.last["year"].astype(float)),
}
del M

# The metrics an experiment reports, in report order (every experiment metric is in METRICS).
EXPERIMENT_METRICS = ("practising_rt_years_policy", "participating_household_years_policy", "practising_final",
                      "sustained_1y", "sustained_3y", "sustained_5y", "active_bantar_final", "bantar_label_final",
                      "not_practising_final", "kencana_final", "kencana_awards_policy", "active_bantar_rt_years_policy",
                      "winners_policy",
                      "participation_policy", "participation_final", "youth_participation_final", "awareness_policy",
                      "wins_per_rt_gini", "wins_per_rt_gini_policy", "funds_spent_policy", "reward_misused_policy",
                      "misused_share_policy", "funds_per_sustained_rt_year_policy", "poverty_share_final")

# The per-run metrics table of one run (`bantar-sim run`'s metrics.csv, the batch's "metrics" table that the
# sensitivity analysis reads), in column order.
RUN_METRICS = ("winners_2014_2020", "wins_per_rt_gini", "final_year", "participation_final", "active_bantar_final",
               "bantar_label_final", "kencana_final", "awarded_rts_final", "poverty_share_final",
               "youth_participation_final", "participation_mean", "winners_total", "reward_paid_total",
               "reward_misused_total", "misused_share", "active_bantar_rt_years", "funds_per_sustained_rt_year",
               "sustained_1y", "sustained_3y", "sustained_5y", "practising_final", "practising_rt_years",
               "participating_household_years", "active_low_participation_share")


def run_window(policy_start_year: int, end_year: int) -> int:
    """First year of one run's policy period: ``policy_start_year``, or 2014 when the run has none."""
    return policy_start_year if policy_start_year <= end_year else START_YEAR


def compute_metrics(tables: RunTables, names: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per run (index ``run_id``) with the named metrics (default: every metric), in that order.

    Parameters
    ----------
    tables : RunTables
        The runs' tables and the window.
    names : iterable of str, optional
        Metric names (keys of :data:`METRICS`); unknown names raise ``KeyError`` naming them.

    Returns
    -------
    pandas.DataFrame
    """
    names = list(METRICS if names is None else names)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise KeyError(f"unknown metric(s) {unknown}; known: {', '.join(METRICS)}")
    t = RunTables(tables.city[tables.city["year"] <= tables.horizon], tables.subdistrict[
        tables.subdistrict["year"] <= tables.horizon], tables.cohorts, tables.window_start, tables.horizon)
    out = pd.DataFrame(index=t.runs)
    for n in names:
        out[n] = METRICS[n].compute(t)
    return out


def metrics_markdown(names: Sequence[str] | None = None) -> str:
    """The metric table of the docs (name, label, unit, window, definition), generated from the registry."""
    lines = ["| metric | label | unit | window | definition |", "|---|---|---|---|---|"]
    for n in names or METRICS:
        m = METRICS[n]
        lines.append(f"| `{n}` | {m.label} | {m.unit} | {m.window} | {m.doc} |")
    return "\n".join(lines)
