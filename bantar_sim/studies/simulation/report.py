"""The replicated simulation's report: summary text, figure, data dictionary and run record.

The summary says what it compares on every line: published counts are for the whole city, so a scaled
run (``--scale``) compares with the published figures scaled by the simulated city's share of the 1,627
RTs, and says so; years outside the run are left out; medians and means are named where they are used.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bantar_sim.model.data import SUBDISTRICTS, YEARS, table3
from bantar_sim.model.metrics import METRICS, run_window
from bantar_sim.reporting.figures import new_figure, save_figure
from bantar_sim.studies.datadict import Resource, write_datapackage

FIGURE = "winners_vs_published.png"

#: Columns `bantar-sim run` adds to the model's tables.
RUN_COLUMNS: dict[str, tuple[str, str]] = {
    "replicate": ("", "replication number i (0-based); replication i runs with seed spawn_seeds(base_seed, n)[i]"),
    "seed": ("", "the replication's 64-bit seed (written as text: it exceeds the int64 range)"),
}
_TABLE3_ITEMS = {
    "rts": ("RTs", "RTs of the sub-district"),
    "rt_proposals": ("RTs", "distinct RTs whose proposal reached the city's assessment at least once, 2014–2020"),
    "amount": ("awards", "Bantar awards over the compared years (the sum of the won_<year> columns)"),
    **{f"won_{y}": ("awards", f"Bantar awards in {y}") for y in YEARS},
}
TABLE3_COLUMNS: dict[str, tuple[str, str]] = {"subdistrict": ("", "sub-district (kecamatan) of Jambi City")}
for _c, (_u, _d) in _TABLE3_ITEMS.items():
    TABLE3_COLUMNS[f"{_c}_published"] = (_u, f"published, Table 3 (consistent version), for the whole city: {_d}")
    TABLE3_COLUMNS[f"{_c}_simulated_mean"] = (_u, f"simulated, MEAN over the replications: {_d}")


def _years(city: pd.DataFrame) -> list[int]:
    """The years of Table 3 that the run covers."""
    have = set(city["year"].unique())
    return [y for y in YEARS if y in have]


def _period(years: list[int]) -> str:
    return f"{years[0]}–{years[-1]}" if len(years) > 1 else str(years[0])


def _published(value: float, share: float, width: int = 4) -> str:
    if abs(share - 1) < 1e-9:
        return f"{int(value):{width}d}"
    return f"{int(value):{width}d} × {share:.3g} = {value * share:{width + 2}.1f}"


def summarise(city: pd.DataFrame, comparison: pd.DataFrame, metrics: pd.DataFrame, meta: dict) -> str:
    """The text `bantar-sim run` prints and writes to ``summary.txt``.

    Parameters
    ----------
    city, comparison, metrics : pandas.DataFrame
        The stacked ``city_year`` table, the Table 3 comparison and the per-replication metrics.
    meta : dict
        The run record (``run.json``): versions, seeds, parameter set, ``rt_share``, ``params``.
    """
    t3 = table3()
    obs = t3.city_winners
    share = meta["rt_share"]
    n = len(meta["replication_seeds"])
    years = _years(city)
    lines = [f"bantar-sim {meta['package_version']} (model {meta['model_version']}, commit {meta['git_commit'][:10]})",
             f"{n} replications, base seed {meta['base_seed']}, {meta['elapsed_s']:.1f} s",
             meta["parameter_set_description"]]
    if meta.get("params_file"):
        lines.append(f"parameter file: {meta['params_file']['path']} (sha256 {meta['params_file']['sha256'][:12]})")
    lines.append("")
    if not years:
        lines.append(f"The run ends before {YEARS[0]}: no year of Table 3 to compare with.")
    else:
        lines.append(f"City winners per year: published (Table 3) vs simulated (median over the {n} replications, "
                     "[5%, 95%] of them in brackets)")
        if abs(share - 1) >= 1e-9:
            rts = int(round(share * t3.rts.sum()))
            lines.append(f"  (the published counts are for the whole city, {t3.rts.sum():,} RTs; this run simulates "
                         f"{rts:,} RTs, so they are scaled by {rts:,} / {t3.rts.sum():,} = {share:.3g})")
        g = city[city["year"].isin(years)].groupby("year")["winners"]
        med, lo, hi = g.median(), g.quantile(0.05), g.quantile(0.95)
        for y in years:
            lines.append(f"  {y}: published {_published(obs[y], share)}   simulated {med[y]:6.1f}  "
                         f"[{lo[y]:.0f}, {hi[y]:.0f}]")
        if len(years) > 1:
            tot = city[city["year"].isin(years)].groupby("replicate")["winners"].sum()
            lines.append(f"  {_period(years)} total: published {_published(obs[years].sum(), share, 0)}   simulated "
                         f"{tot.median():.0f}  [{tot.quantile(0.05):.0f}, {tot.quantile(0.95):.0f}]")
        outside = [y for y in YEARS if y not in years]
        if outside:
            lines.append(f"  (Table 3's years {_period(outside)} are after the run's last year, {years[-1]}: left out)")
        if "amount_simulated_mean" in comparison:
            per_rt_obs = comparison["amount_published"] / comparison["rts_published"]
            per_rt_sim = comparison["amount_simulated_mean"] / comparison["rts_simulated_mean"]
            lines += ["", f"Cumulative wins per RT, {_period(years)}: published / simulated (mean over the "
                          "replications); wins divided by the sub-district's RTs, so comparable at any scale"]
            for sdn in comparison.index:
                lines.append(f"  {sdn:<14} {per_rt_obs[sdn]:.2f} / {per_rt_sim[sdn]:.2f}")
    last = city[city["year"] == city["year"].max()]
    final = int(last["year"].iloc[0])
    lines += ["", f"Final year {final} (mean over the replications):",
              f"  participation {last['participation'].mean():.3f}: share of households taking part "
              "(yearly mean of the monthly share)",
              f"  Bantar label {last['bantar_label'].mean():.0f} RTs: RTs holding the Bantar or Kencana label",
              f"  still practising {last['active_bantar'].mean():.0f} RTs: of those, the RTs still applying the "
              "concept",
              f"  lapsed {last['lapsed_total'].mean():.0f} RTs: RTs that lost the label (found no longer practising "
              "at a post-award check)"]
    m = metrics.mean(numeric_only=True)
    shares = {k: m.get(f"sustained_{k}y", np.nan) for k in (1, 3, 5)}
    shown = [k for k, v in shares.items() if np.isfinite(v)]
    p = meta["params"]
    start = run_window(int(p["policy_start_year"]), int(p["end_year"]))
    if shown:
        ks = " / ".join(str(k) for k in shown)
        lines += [f"Awarded RTs still active {ks} years on (mean over the replications): "
                  + " / ".join(f"{shares[k]:.2f}" for k in shown),
                  f"  of the RTs first awarded in a year, the share still holding the label and practising {ks} "
                  f"years later ({METRICS['sustained_1y'].unit}; award cohorts whose k-th year falls in "
                  f"{start}–{final})"]
        missing = [k for k in shares if k not in shown]
        if missing:
            lines.append(f"  ({' / '.join(map(str, missing))} years on: not observable in a run ending in {final})")
    else:
        lines.append(f"Awarded RTs still active 1 / 3 / 5 years on: not observable in a run ending in {final}")
    return "\n".join(lines)


def plot_winners(city: pd.DataFrame, sd: pd.DataFrame, path: Path, n_reps: int, rt_share: float = 1.0) -> Path:
    """Winners per year (median and 90% range vs published) and cumulative wins per RT by sub-district."""
    t3 = table3()
    years_run = _years(city)
    fig, axes = new_figure(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [1, 1.4]})
    ax = axes[0]
    g = city[city["year"].isin(YEARS)].groupby("year")["winners"]
    years = np.array(sorted(g.groups))
    ax.fill_between(years, g.quantile(0.05).to_numpy(), g.quantile(0.95).to_numpy(), alpha=0.25,
                    color="tab:blue", label=f"simulated 90% range ({n_reps} runs)")
    ax.plot(years, g.median().to_numpy(), "o-", color="tab:blue", label="simulated median")
    scaled = "" if abs(rt_share - 1) < 1e-9 else f" × {rt_share:.3g} (the simulated city's share of the RTs)"
    ax.plot(years_run, t3.city_winners[years_run].to_numpy() * rt_share, "s--", color="black",
            label=f"published (Table 3){scaled}")
    ax.set(title="Kampung Bantar winners per year, Jambi City", xlabel="year", ylabel="winning RTs (count)")
    # Below the axes: inside, the legend would hide the data (the published 2019 peak sits top-left).
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=1, fontsize=9, frameon=False)
    ax.grid(alpha=0.3)

    ax = axes[1]
    cols = [f"won_{y}" for y in years_run]
    obs = t3.consistent[cols].sum(axis=1) / t3.consistent["rts"]
    s = sd[sd["year"].isin(years_run)].groupby(["replicate", "subdistrict"], observed=True)["winners"].sum().unstack()
    rts = sd.groupby("subdistrict", observed=True)["rts"].first()
    per_rt = (s / rts).reindex(columns=SUBDISTRICTS)
    x = np.arange(len(SUBDISTRICTS))
    ax.bar(x - 0.2, obs.reindex(SUBDISTRICTS).to_numpy(), width=0.4, color="0.3", label="published (Table 3)")
    med = per_rt.median().to_numpy()
    err = np.vstack([med - per_rt.quantile(0.05).to_numpy(), per_rt.quantile(0.95).to_numpy() - med])
    ax.bar(x + 0.2, med, width=0.4, color="tab:blue", yerr=err, capsize=3, label="simulated median, 90% range")
    ax.set_xticks(x, SUBDISTRICTS, rotation=40, ha="right")
    period = _period(years_run) if years_run else "–"
    ax.set(title=f"Cumulative wins per RT by sub-district, {period}", ylabel="wins per RT (count / RTs)")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def write_data_dictionary(folder: Path, tables: dict[str, pd.DataFrame], meta: dict) -> Path:
    """``datapackage.json`` for the run's CSV tables (Frictionless Table Schema per table)."""
    window = run_window(int(meta["params"]["policy_start_year"]), int(meta["params"]["end_year"]))
    res = [
        Resource("city_year", "city_year.csv", tables["city_year"],
                 "one row per replication and simulated year: the city's totals", RUN_COLUMNS),
        Resource("subdistrict_year", "subdistrict_year.csv", tables["subdistrict_year"],
                 "one row per replication, sub-district and simulated year", RUN_COLUMNS),
        Resource("rt_year_replicate0", "rt_year_replicate0.csv", tables["rt_year"],
                 "one row per RT and simulated year, replication 0 only", RUN_COLUMNS),
        Resource("metrics", "metrics.csv", tables["metrics"],
                 f"one row per replication: the run's metrics (bantar_sim.model.metrics); the run's policy "
                 f"period is {window}–{meta['params']['end_year']}", RUN_COLUMNS),
        Resource("table3_comparison", "table3_comparison.csv", tables["table3_comparison"],
                 "one row per sub-district: Table 3 as published (whole city, unscaled) beside the MEAN of "
                 "the simulated replications", TABLE3_COLUMNS, index=True),
    ]
    extra = {"bantar_sim": {"package_version": meta["package_version"], "model_version": meta["model_version"],
                            "parameter_set": meta["parameter_set"], "params_file": meta.get("params_file"),
                            "base_seed": meta["base_seed"], "rt_share": meta["rt_share"]}}
    return write_datapackage(folder, "bantar-sim-run", "bantar-sim run: replicated Jambi simulation", res,
                             description="Tables written by `bantar-sim run`; summary.txt and run.json describe the "
                                         "run.", extra=extra)

