"""Tidy tables from a finished (or running) model, in the shape of the paper's Table 3.

:data:`TABLES` names every table a run can keep (a batch task lists the ones it wants); each is a
function of the model. The per-run ``metrics`` table is computed by the metric registry
(:mod:`bantar_sim.model.metrics`) from the run's own ``city_year``, ``subdistrict_year`` and
``award_cohorts`` tables, so a metric is defined once whether one run or a thousand are summarised.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from bantar_sim.model.agents import BANTAR, KENCANA, LAPSED, STATUS_NAMES
from bantar_sim.model.data import SUBDISTRICTS, YEARS
from bantar_sim.model.metrics import RUN_METRICS, RunTables, compute_metrics, run_window

OBSERVED_YEARS = YEARS  # 2014–2020, the years Table 3 covers


#: Column -> (unit, definition) of the tables below: the data dictionary that outputs write beside them
#: (``datapackage.json``); a test checks every column of every table has an entry.
COLUMNS: dict[str, tuple[str, str]] = {
    "year": ("year", "simulated year (records are taken each December)"),
    "subdistrict": ("", "sub-district (kecamatan) of Jambi City"),
    "rts": ("RTs", "RTs (neighbourhood units) simulated in the sub-district / city"),
    "rt": ("", "index of the RT in the simulated city"),
    "households": ("households", "households of the RT"),
    "proposals": ("RTs", "RTs proposed for the Bantar award in the year"),
    "proposing_rts_cumulative": ("RTs", "distinct RTs that proposed at least once from 2014 to the year"),
    "forwarded_proposals": ("RTs", "proposals the sub-district forwarded to the city's assessment in the year "
                                   "(its best, up to its award slots)"),
    "forwarded_rts_cumulative": ("RTs", "distinct RTs whose proposal reached the city's assessment at least once "
                                        "from 2014 to the year (the model's reading of Table 3's RT proposals)"),
    "winners": ("awards", "new Bantar awards in the year"),
    "cumulative_winners": ("awards", "Bantar awards from 2014 to the year"),
    "awarded_rts_cumulative": ("RTs", "distinct RTs awarded at least once from 2014 to the year"),
    "bantar_label": ("RTs", "RTs holding the Bantar or Kencana label at the end of the year, practising or not"),
    "active_bantar": ("RTs", "RTs holding the label at the end of the year that were practising at the year's "
                             "assessment (households' participation over the 12 months before it at or above "
                             "practice_standard)"),
    "practising_rts": ("RTs", "RTs practising at the year's assessment: households' participation over the 12 "
                              "months before it at or above practice_standard (labelled or not)"),
    "participating_households": ("household-years", "households taking part, yearly mean of the monthly count "
                                                    "(a year of it is one participating household-year)"),
    "active_low_participation": ("RTs", "active Bantar RTs whose calendar-year participation is below 0.2"),
    "kencana": ("RTs", "RTs holding the Kencana tier at the end of the year"),
    "kencana_awards": ("awards", "new Kencana awards in the year"),
    "lapsed": ("RTs", "RTs that lost the label in the year (found no longer practising at a post-award check)"),
    "lapsed_total": ("RTs", "RTs whose label has lapsed, at the end of the year"),
    "participation": ("share of households", "share of households taking part in the programme (yearly mean "
                                             "of the monthly share; RT: of its households)"),
    "reward_paid": ("million IDR", "reward funds paid in the year (Bantar, staged tranches, Kencana)"),
    "reward_misused": ("million IDR", "reward funds paid in the year and misused"),
    "rj_cost": ("million IDR", "Restorative Justice house costs of the year (Kencana candidates)"),
    "poverty_share": ("share of households", "share of households whose economic constraint is below the "
                                             "poverty line"),
    "awareness": ("share of households", "share of households aware of the programme"),
    "youth_participation": ("share of youth households", "share of youth households taking part (yearly mean)"),
    "award_budget": ("× mean", "the city's award budget b_y of the year relative to its mean: 1 in 2014, Table 3's "
                               "city winners over their mean up to award_budget_observed_until, lognormal (mean 1) "
                               "after; the city funds awards_per_year × b_y awards"),
    "status": ("", "the RT's status at the end of the year: never proposed, proposed, Bantar, Kencana, lapsed"),
    "proposed": ("", "the RT was proposed in the year"),
    "forwarded": ("", "the RT's proposal was forwarded by its sub-district to the city's assessment in the year"),
    "won": ("", "the RT won the Bantar award in the year"),
    "kencana_won": ("", "the RT won the Kencana tier in the year"),
    "checked": ("", "the RT (holding the label) was checked after its award in the year"),
    "practising": ("", "the RT practised at the year's assessment: its households' participation over the 12 months "
                       "before it at or above practice_standard"),
    "adopted": ("", "the RT adopted (learned from) a practising Bantar RT of its sub-district in the year"),
    "score": ("score in [0, 1]", "mean of the RT's dimension scores at the assessment"),
    "clean": ("score in [0, 1]", "the RT's score on the 'clean' dimension"),
    "safe": ("score in [0, 1]", "the RT's score on the 'safe' dimension"),
    "smart": ("score in [0, 1]", "the RT's score on the 'smart' dimension"),
}


#: Yearly participation below which a practising label-holder is reported as a low-participation RT (issue 14:
#: model 0.1 had half of its practising label-holders below it).
LOW_PARTICIPATION = 0.2


def _years_done(model) -> int:
    """Number of complete simulated years (records are final at each December)."""
    return min(model.n_years, model.tick // 12)


def rt_year_table(model) -> pd.DataFrame:
    """Tabulate every RT in every completed year, the finest-grained record a run can keep.

    Parameters
    ----------
    model : BantarModel
        The finished (or running) model; only complete years are included.

    Returns
    -------
    pandas.DataFrame
        One row per (year, rt) with its subdistrict, households, status and the yearly records.
    """
    ny = _years_done(model)
    c = model.city
    n = c.n_rts
    years = np.repeat(np.arange(ny) + 2014, n)
    df = pd.DataFrame({
        "year": years,
        "rt": np.tile(np.arange(n), ny),
        "subdistrict": pd.Categorical.from_codes(np.tile(c.rt_subdistrict, ny), SUBDISTRICTS),
        "households": np.tile(c.rt_size, ny),
    })
    status = model.rec["status"][:ny].ravel()
    df["status"] = pd.Categorical.from_codes(status, STATUS_NAMES)
    for key in ("proposed", "forwarded", "won", "lapsed", "kencana_won", "checked", "practising", "adopted",
                "participation", "score", "clean", "safe", "smart", "reward_paid", "reward_misused", "rj_cost"):
        df[key] = model.rec[key][:ny].ravel()
    return df


def subdistrict_year_table(model) -> pd.DataFrame:
    """Sum the RT records per subdistrict and year, the level at which Table 3 reports.

    Parameters
    ----------
    model : BantarModel
        The finished (or running) model; only complete years are included.

    Returns
    -------
    pandas.DataFrame
        One row per (subdistrict, year) with proposals, winners, label counts, participation and costs.
    """
    ny = _years_done(model)
    c, rec = model.city, model.rec
    sd = c.rt_subdistrict
    rows = []
    ever_proposed = np.zeros(c.n_rts, bool)
    ever_forwarded = np.zeros(c.n_rts, bool)
    ever_won = np.zeros(c.n_rts, bool)
    cum_wins = np.zeros(len(SUBDISTRICTS), np.int64)
    for yi in range(ny):
        status = rec["status"][yi]
        ever_proposed |= rec["proposed"][yi]
        ever_forwarded |= rec["forwarded"][yi]
        ever_won |= rec["won"][yi]
        label = np.isin(status, (BANTAR, KENCANA))
        active = label & rec["practising"][yi]
        part_hh = rec["participation"][yi] * c.rt_size
        wins = np.bincount(sd, rec["won"][yi], minlength=11).astype(np.int64)
        cum_wins += wins
        cols = {
            "proposals": np.bincount(sd, rec["proposed"][yi], minlength=11),
            "proposing_rts_cumulative": np.bincount(sd, ever_proposed, minlength=11),
            "forwarded_proposals": np.bincount(sd, rec["forwarded"][yi], minlength=11),
            "forwarded_rts_cumulative": np.bincount(sd, ever_forwarded, minlength=11),
            "winners": wins,
            "cumulative_winners": cum_wins.copy(),
            "awarded_rts_cumulative": np.bincount(sd, ever_won, minlength=11),
            "bantar_label": np.bincount(sd, label, minlength=11),
            "active_bantar": np.bincount(sd, active, minlength=11),
            "practising_rts": np.bincount(sd, rec["practising"][yi], minlength=11),
            "participating_households": np.bincount(sd, part_hh, minlength=11),
            "active_low_participation": np.bincount(sd, active & (rec["participation"][yi] < LOW_PARTICIPATION),
                                                    minlength=11),
            "kencana": np.bincount(sd, status == KENCANA, minlength=11),
            "kencana_awards": np.bincount(sd, rec["kencana_won"][yi], minlength=11),
            "lapsed": np.bincount(sd, rec["lapsed"][yi], minlength=11),
            "lapsed_total": np.bincount(sd, status == LAPSED, minlength=11),
            "participation": np.bincount(sd, part_hh, minlength=11) / np.bincount(sd, c.rt_size, minlength=11),
            "reward_paid": np.bincount(sd, rec["reward_paid"][yi], minlength=11),
            "reward_misused": np.bincount(sd, rec["reward_misused"][yi], minlength=11),
            "rj_cost": np.bincount(sd, rec["rj_cost"][yi], minlength=11),
        }
        for s, name in enumerate(SUBDISTRICTS):
            row = {"subdistrict": name, "year": 2014 + yi, "rts": int(c.rt_counts[s])}
            row.update({k: v[s] for k, v in cols.items()})
            rows.append(row)
    df = pd.DataFrame(rows)
    int_cols = [k for k in df.columns if k not in ("subdistrict", "participation", "reward_paid",
                                                   "reward_misused", "rj_cost", "participating_households")]
    if len(df):
        df[int_cols] = df[int_cols].astype("int64")
    return df


def city_year_table(model, sd_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Sum the subdistrict table to city totals per year, the level the city-wide metrics use.

    Parameters
    ----------
    model : BantarModel
        The finished (or running) model.
    sd_table : pandas.DataFrame, optional
        Its :func:`subdistrict_year_table`, if already computed (saves recomputing it).

    Returns
    -------
    pandas.DataFrame
        One row per year: summed counts, household-weighted participation, poverty share, awareness and
        youth participation.
    """
    sd_table = subdistrict_year_table(model) if sd_table is None else sd_table
    if sd_table.empty:
        return pd.DataFrame(columns=["year"])
    weights = sd_table["participation"] * sd_table["households"] if "households" in sd_table else None
    hh = pd.Series(np.bincount(model.city.rt_subdistrict, model.city.rt_size, minlength=11), index=SUBDISTRICTS)
    tmp = sd_table.assign(_w=sd_table["participation"] * sd_table["subdistrict"].map(hh))
    city = tmp.drop(columns=["subdistrict", "participation"]).groupby("year").sum(numeric_only=True)
    city["participation"] = city.pop("_w") / hh.sum()
    ny = len(city)
    city["poverty_share"] = model.city_rec["poverty_share"][:ny]
    city["awareness"] = model.city_rec["awareness"][:ny]
    city["youth_participation"] = model.city_rec["youth_participation"][:ny]
    city["award_budget"] = model.city_rec["award_budget"][:ny]
    del weights
    return city.reset_index()


def table3_like(model) -> pd.DataFrame:
    """The simulated counterpart of Table 3: RTs, RT proposals, winners per year, total.

    "RT proposals" is read as the distinct RTs whose proposal reached the city's assessment (forwarded by their
    sub-district): the city's table can count only the proposals it received (docs/ODD.md, section 6).
    """
    sdt = subdistrict_year_table(model)
    obs = sdt[sdt["year"].isin(OBSERVED_YEARS)]
    wins = obs.pivot(index="subdistrict", columns="year", values="winners").reindex(SUBDISTRICTS)
    wins.columns = [f"won_{y}" for y in wins.columns]
    last = obs[obs["year"] == obs["year"].max()].set_index("subdistrict").reindex(SUBDISTRICTS)
    out = pd.DataFrame({"rts": last["rts"], "rt_proposals": last["forwarded_rts_cumulative"]})
    out = out.join(wins)
    out["amount"] = wins.sum(axis=1)
    out.index.name = "subdistrict"
    return out


def award_cohorts(model) -> pd.DataFrame:
    """RTs first awarded in each year, and how many of them are active k = 0, 1, ... years later.

    Computed from the model's yearly records so that sustainability can be measured for any window later
    without storing one row per RT and year (columns award_year, years_after, awarded, active, labelled).
    """
    rec = model.rec
    ny = _years_done(model)
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
            rows.append((OBSERVED_YEARS[0] + a, k, cohort.size, int(active[a + k, cohort].sum()),
                         int(labelled[a + k, cohort].sum())))
    return pd.DataFrame(rows, columns=["award_year", "years_after", "awarded", "active", "labelled"]).astype("int64")


def run_metrics(model, sd_table: pd.DataFrame | None = None, city: pd.DataFrame | None = None,
                cohorts: pd.DataFrame | None = None, names=None) -> pd.DataFrame:
    """One row of metrics of this run (default: :data:`bantar_sim.model.metrics.RUN_METRICS`).

    The window is the run's own policy period (:func:`bantar_sim.model.metrics.run_window`). Tables
    already built may be passed in to avoid computing them twice.
    """
    sdt = subdistrict_year_table(model) if sd_table is None else sd_table
    city = city_year_table(model, sdt) if city is None else city
    cohorts = award_cohorts(model) if cohorts is None else cohorts
    if city.empty:
        return pd.DataFrame(columns=list(RUN_METRICS if names is None else names))
    p = model.p
    t = RunTables(city.assign(run_id=0), sdt.assign(run_id=0), cohorts.assign(run_id=0),
                  run_window(p.policy_start_year, p.end_year), int(city["year"].max()))
    return compute_metrics(t, RUN_METRICS if names is None else names).reset_index(drop=True)


# Every table a run can keep: name -> function(model, cache) (the cache shares tables built on the way).
def _cached(cache: dict, name: str, model):
    if name not in cache:
        cache[name] = TABLES[name](model, cache)
    return cache[name]


TABLES = {
    "subdistrict_year": lambda m, c: subdistrict_year_table(m),
    "city_year": lambda m, c: city_year_table(m, _cached(c, "subdistrict_year", m)),
    "rt_year": lambda m, c: rt_year_table(m),
    "table3": lambda m, c: table3_like(m).reset_index(),
    "award_cohorts": lambda m, c: award_cohorts(m),
    "metrics": lambda m, c: run_metrics(m, _cached(c, "subdistrict_year", m), _cached(c, "city_year", m),
                                        _cached(c, "award_cohorts", m)),
}


def model_tables(model, names=None) -> dict[str, pd.DataFrame]:
    """The named tables of a model (default: every table of :data:`TABLES`), built once each.

    Parameters
    ----------
    model : BantarModel
        A finished (or running) model; tables cover its complete years.
    names : iterable of str, optional
        Which tables; an unknown name raises ``KeyError`` naming the known ones.
    """
    names = list(TABLES if names is None else names)
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        raise KeyError(f"unknown table(s) {unknown}; known: {', '.join(TABLES)}")
    cache: dict[str, pd.DataFrame] = {}
    return {n: _cached(cache, n, model) for n in names}
