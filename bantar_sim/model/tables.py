"""Tidy tables from a finished (or running) model, in the shape of the paper's Table 3."""
from __future__ import annotations

import numpy as np
import pandas as pd

from bantar_sim.model.agents import BANTAR, KENCANA, LAPSED, STATUS_NAMES
from bantar_sim.model.data import SUBDISTRICTS, YEARS

OBSERVED_YEARS = YEARS  # 2014–2020, the years Table 3 covers


def _years_done(model) -> int:
    """Number of complete simulated years (records are final at each December)."""
    return min(model.n_years, model.tick // 12)


def rt_year_table(model) -> pd.DataFrame:
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
    for key in ("proposed", "won", "lapsed", "kencana_won", "checked", "practising", "adopted",
                "participation", "score", "clean", "safe", "smart", "reward_paid", "reward_misused", "rj_cost"):
        df[key] = model.rec[key][:ny].ravel()
    return df


def subdistrict_year_table(model) -> pd.DataFrame:
    ny = _years_done(model)
    c, rec = model.city, model.rec
    sd = c.rt_subdistrict
    rows = []
    ever_proposed = np.zeros(c.n_rts, bool)
    ever_won = np.zeros(c.n_rts, bool)
    cum_wins = np.zeros(len(SUBDISTRICTS), np.int64)
    for yi in range(ny):
        status = rec["status"][yi]
        ever_proposed |= rec["proposed"][yi]
        ever_won |= rec["won"][yi]
        label = np.isin(status, (BANTAR, KENCANA))
        active = label & rec["practising"][yi]
        part_hh = rec["participation"][yi] * c.rt_size
        wins = np.bincount(sd, rec["won"][yi], minlength=11).astype(np.int64)
        cum_wins += wins
        cols = {
            "proposals": np.bincount(sd, rec["proposed"][yi], minlength=11),
            "proposing_rts_cumulative": np.bincount(sd, ever_proposed, minlength=11),
            "winners": wins,
            "cumulative_winners": cum_wins.copy(),
            "awarded_rts_cumulative": np.bincount(sd, ever_won, minlength=11),
            "bantar_label": np.bincount(sd, label, minlength=11),
            "active_bantar": np.bincount(sd, active, minlength=11),
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
                                                   "reward_misused", "rj_cost")]
    if len(df):
        df[int_cols] = df[int_cols].astype("int64")
    return df


def city_year_table(model, sd_table: pd.DataFrame | None = None) -> pd.DataFrame:
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
    del weights
    return city.reset_index()


def table3_like(model) -> pd.DataFrame:
    """The simulated counterpart of Table 3: RTs, distinct RTs that proposed, winners per year, total."""
    sdt = subdistrict_year_table(model)
    obs = sdt[sdt["year"].isin(OBSERVED_YEARS)]
    wins = obs.pivot(index="subdistrict", columns="year", values="winners").reindex(SUBDISTRICTS)
    wins.columns = [f"won_{y}" for y in wins.columns]
    last = obs[obs["year"] == obs["year"].max()].set_index("subdistrict").reindex(SUBDISTRICTS)
    out = pd.DataFrame({"rts": last["rts"], "rt_proposals": last["proposing_rts_cumulative"]})
    out = out.join(wins)
    out["amount"] = wins.sum(axis=1)
    out.index.name = "subdistrict"
    return out


def gini(values) -> float:
    v = np.sort(np.asarray(values, float))
    if v.size == 0 or v.sum() == 0:
        return 0.0
    cum = np.cumsum(v)
    return float((v.size + 1 - 2 * (cum.sum() / cum[-1])) / v.size)


def run_metrics(model, sd_table: pd.DataFrame | None = None, city: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row of headline metrics: what experiments and sensitivity analysis compare."""
    sdt = subdistrict_year_table(model) if sd_table is None else sd_table
    city = city_year_table(model, sdt) if city is None else city
    rec, ny = model.rec, _years_done(model)
    out: dict[str, float] = {}
    obs = sdt[sdt["year"] <= 2020]
    out["winners_2014_2020"] = float(obs["winners"].sum())
    per_sd = obs.groupby("subdistrict", observed=True)["winners"].sum().reindex(SUBDISTRICTS)
    out["wins_per_rt_gini"] = gini(per_sd.to_numpy() / model.city.rt_counts)
    if ny:
        last = city.iloc[-1]
        out["final_year"] = float(last["year"])
        out["participation_final"] = float(last["participation"])
        out["active_bantar_final"] = float(last["active_bantar"])
        out["bantar_label_final"] = float(last["bantar_label"])
        out["kencana_final"] = float(last["kencana"])
        out["awarded_rts_final"] = float(last["awarded_rts_cumulative"])
        out["poverty_share_final"] = float(last["poverty_share"])
        out["youth_participation_final"] = float(last["youth_participation"])
        out["participation_mean"] = float(city["participation"].mean())
        out["winners_total"] = float(city["winners"].sum())
        out["reward_paid_total"] = float(city["reward_paid"].sum() + city["rj_cost"].sum())
        out["reward_misused_total"] = float(city["reward_misused"].sum())
        out["misused_share"] = out["reward_misused_total"] / max(float(city["reward_paid"].sum()), 1e-9)
        active_years = float((np.isin(rec["status"][:ny], (BANTAR, KENCANA)) & rec["practising"][:ny]).sum())
        out["active_bantar_rt_years"] = active_years
        out["funds_per_sustained_rt_year"] = out["reward_paid_total"] / max(active_years, 1.0)
    # Share of awarded RTs still active k years after their first award.
    won = rec["won"][:ny]
    first = np.where(won.any(axis=0), won.argmax(axis=0), -1)
    active = np.isin(rec["status"][:ny], (BANTAR, KENCANA)) & rec["practising"][:ny]
    for k in (1, 3, 5):
        idx = np.flatnonzero((first >= 0) & (first + k < ny))
        out[f"sustained_{k}y"] = float(active[first[idx] + k, idx].mean()) if idx.size else float("nan")
    return pd.DataFrame([out])


def model_tables(model) -> dict[str, pd.DataFrame]:
    sdt = subdistrict_year_table(model)
    city = city_year_table(model, sdt)
    return {
        "city_year": city,
        "subdistrict_year": sdt,
        "rt_year": rt_year_table(model),
        "table3": table3_like(model).reset_index(),
        "metrics": run_metrics(model, sdt, city),
    }
