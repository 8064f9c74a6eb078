"""`bantar-sim run`: the main job — the calibrated Jambi 2014–2020 simulation, replicated, set beside Table 3."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bantar_sim.model.version import MODEL_VERSION, __version__
from bantar_sim.model.data import SUBDISTRICTS, YEARS, table3
from bantar_sim.engine.provenance import git_commit
from bantar_sim.model.params import ParameterError, calibrated_overrides, check_value, load_param_file, make_params
from bantar_sim.engine.task import simulate, spawn_seeds


def add_arguments(parser):
    parser.add_argument("--seed", type=int, default=2014, help="base seed; replications get spawned streams")
    parser.add_argument("--replications", type=int, default=10, help="independent runs (default 10)")
    parser.add_argument("--end-year", type=int, default=None, help="last simulated year (default 2020)")
    parser.add_argument("--scale", type=float, default=None, help="share of each sub-district's RTs (0–1]")
    parser.add_argument("--params", default=None, help="parameter file (TOML [params] table, or JSON)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override one parameter (repeatable), e.g. --set kencana=true")
    parser.add_argument("--uncalibrated", action="store_true",
                        help="start from the status-quo defaults instead of calibration/calibrated.toml")
    parser.add_argument("--out", default="outputs/run", help="output folder (default outputs/run)")
    parser.add_argument("--no-progress", action="store_true")


def _parse_value(text: str):
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def resolve_params(args) -> dict:
    """Calibrated set, then the parameter file, then --set/flags; all validated before any work."""
    overrides = {} if args.uncalibrated else calibrated_overrides()
    if args.params:
        overrides.update(load_param_file(args.params))
    for item in args.set:
        if "=" not in item:
            raise ParameterError(f"--set expects NAME=VALUE, got '{item}'")
        name, value = item.split("=", 1)
        overrides[name.strip()] = check_value(name.strip(), _parse_value(value), "--set")
    if args.end_year is not None:
        overrides["end_year"] = check_value("end_year", args.end_year, "--end-year")
    if args.scale is not None:
        overrides["scale"] = check_value("scale", args.scale, "--scale")
    params = make_params(overrides)
    from bantar_sim.model.model import counts_ok
    counts_ok(params)
    return overrides


def main(args) -> int:
    if not 1 <= args.replications <= 10_000:
        raise ParameterError(f"--replications must be an integer in [1, 10000], got {args.replications}")
    overrides = resolve_params(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = spawn_seeds(args.seed, args.replications)
    from tqdm import tqdm
    runs = []
    t0 = time.perf_counter()
    for rep, seed in enumerate(tqdm(seeds, desc="replications", unit="run", disable=args.no_progress)):
        tabs = simulate(overrides, seed, tables=("city_year", "subdistrict_year", "table3", "metrics", "rt_year")
                        if rep == 0 else ("city_year", "subdistrict_year", "table3", "metrics"))
        runs.append(tabs)
    elapsed = time.perf_counter() - t0

    def stack(name):
        return pd.concat([r[name].assign(replicate=i, seed=str(seeds[i])) for i, r in enumerate(runs)],
                         ignore_index=True)

    city, sd, t3, metrics = stack("city_year"), stack("subdistrict_year"), stack("table3"), stack("metrics")
    city.to_csv(out / "city_year.csv", index=False)
    sd.to_csv(out / "subdistrict_year.csv", index=False)
    metrics.to_csv(out / "metrics.csv", index=False)
    runs[0]["rt_year"].assign(seed=str(seeds[0])).to_csv(out / "rt_year_replicate0.csv", index=False)
    comparison = compare_with_table3(t3)
    comparison.to_csv(out / "table3_comparison.csv")
    fig_path = out / "winners_vs_published.png"
    plot_winners(city, sd, fig_path, args.replications)
    meta = {"package_version": __version__, "model_version": MODEL_VERSION, "git_commit": git_commit(),
            "base_seed": args.seed, "replication_seeds": [str(s) for s in seeds],
            "params": {k: v for k, v in make_params(overrides).__dict__.items()},
            "overrides": overrides, "calibrated": not args.uncalibrated and bool(calibrated_overrides()),
            "elapsed_s": round(elapsed, 3)}
    (out / "run.json").write_text(json.dumps(meta, indent=2, default=str))
    summary = summarise(city, comparison, metrics, meta)
    (out / "summary.txt").write_text(summary)
    print(summary)
    print(f"\nwrote {out}/: city_year.csv subdistrict_year.csv rt_year_replicate0.csv metrics.csv "
          f"table3_comparison.csv winners_vs_published.png summary.txt run.json")
    return 0


def compare_with_table3(t3_runs: pd.DataFrame) -> pd.DataFrame:
    """Published (consistent) vs simulated mean per sub-district, in Table 3's columns."""
    obs = table3().consistent
    sim = t3_runs.groupby("subdistrict").mean(numeric_only=True).reindex(SUBDISTRICTS)
    cols = ["rt_proposals", *[f"won_{y}" for y in YEARS], "amount"]
    out = pd.DataFrame(index=pd.Index(SUBDISTRICTS, name="subdistrict"))
    out["rts_published"] = obs["rts"]
    out["rts_simulated"] = sim["rts"]
    for c in cols:
        if c in sim:
            out[f"{c}_published"] = obs[c]
            out[f"{c}_simulated"] = sim[c].round(2)
    return out


def summarise(city: pd.DataFrame, comparison: pd.DataFrame, metrics: pd.DataFrame, meta: dict) -> str:
    obs = table3().city_winners
    g = city[city["year"].isin(YEARS)].groupby("year")["winners"]
    med, lo, hi = g.median(), g.quantile(0.05), g.quantile(0.95)
    lines = [f"bantar-sim {meta['package_version']} (model {meta['model_version']}, commit {meta['git_commit'][:10]})",
             f"{len(meta['replication_seeds'])} replications, base seed {meta['base_seed']}, "
             f"{'calibrated parameter set' if meta['calibrated'] else 'status-quo defaults'}, "
             f"{meta['elapsed_s']:.1f} s", "", "City winners per year: published vs simulated (median, 90% range)"]
    for y in YEARS:
        if y in med.index:
            lines.append(f"  {y}: published {obs[y]:4d}   simulated {med[y]:6.1f}  [{lo[y]:.0f}, {hi[y]:.0f}]")
    tot = city[city["year"].isin(YEARS)].groupby("replicate")["winners"].sum()
    lines.append(f"  2014–2020 total: published {int(obs.sum())}   simulated {tot.median():.0f}  "
                 f"[{tot.quantile(0.05):.0f}, {tot.quantile(0.95):.0f}]")
    if "amount_simulated" in comparison:
        per_rt_obs = comparison["amount_published"] / comparison["rts_published"]
        per_rt_sim = comparison["amount_simulated"] / comparison["rts_simulated"]
        lines += ["", "Cumulative wins per RT, 2014–2020 (published / simulated):"]
        for sdn in comparison.index:
            lines.append(f"  {sdn:<14} {per_rt_obs[sdn]:.2f} / {per_rt_sim[sdn]:.2f}")
    m = metrics.mean(numeric_only=True)
    last = city[city["year"] == city["year"].max()]
    lines += ["", f"Final year {int(last['year'].iloc[0])}: participation {last['participation'].mean():.3f}, "
              f"Bantar label {last['bantar_label'].mean():.0f} RTs, still practising {last['active_bantar'].mean():.0f}, "
              f"lapsed {last['lapsed_total'].mean():.0f}",
              f"Awarded RTs still active 1 / 3 / 5 years on: {m.get('sustained_1y', np.nan):.2f} / "
              f"{m.get('sustained_3y', np.nan):.2f} / {m.get('sustained_5y', np.nan):.2f}"]
    return "\n".join(lines)


def plot_winners(city: pd.DataFrame, sd: pd.DataFrame, path: Path, n_reps: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t3 = table3()
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [1, 1.4]})
    ax = axes[0]
    g = city[city["year"].isin(YEARS)].groupby("year")["winners"]
    years = np.array(sorted(g.groups))
    ax.fill_between(years, g.quantile(0.05).to_numpy(), g.quantile(0.95).to_numpy(), alpha=0.25,
                    color="tab:blue", label=f"simulated 90% range ({n_reps} runs)")
    ax.plot(years, g.median().to_numpy(), "o-", color="tab:blue", label="simulated median")
    ax.plot(list(YEARS), t3.city_winners.to_numpy(), "s--", color="black", label="published (Table 3)")
    ax.set(title="Kampung Bantar winners per year, Jambi City", xlabel="year", ylabel="winning RTs (count)")
    ax.legend()
    ax.grid(alpha=0.3)

    ax = axes[1]
    obs = t3.consistent["amount"] / t3.consistent["rts"]
    s = sd[sd["year"].isin(YEARS)].groupby(["replicate", "subdistrict"], observed=True)["winners"].sum().unstack()
    rts = sd.groupby("subdistrict", observed=True)["rts"].first()
    per_rt = (s / rts).reindex(columns=SUBDISTRICTS)
    x = np.arange(len(SUBDISTRICTS))
    ax.bar(x - 0.2, obs.reindex(SUBDISTRICTS).to_numpy(), width=0.4, color="0.3", label="published (Table 3)")
    med = per_rt.median().to_numpy()
    err = np.vstack([med - per_rt.quantile(0.05).to_numpy(), per_rt.quantile(0.95).to_numpy() - med])
    ax.bar(x + 0.2, med, width=0.4, color="tab:blue", yerr=err, capsize=3, label="simulated median, 90% range")
    ax.set_xticks(x, SUBDISTRICTS, rotation=40, ha="right")
    ax.set(title="Cumulative wins per RT by sub-district, 2014–2020", ylabel="wins per RT (count / RTs)")
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
