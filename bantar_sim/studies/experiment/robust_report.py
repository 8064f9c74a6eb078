"""The robust part of an [uncertain] experiment's report (issue 16): compute, write tables and figures, and the
Markdown section that leads report.md.

The section leads with the conclusions that hold whatever the uncertain inputs (P(effect > 0) ≥ 0.9 or
≤ 0.1 over the scenarios) and names, for every other one, what it depends on: the PRIM box where the arm
fails (:mod:`.prim`) and the largest variance share (:func:`.robust.variance_shares`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

import bantar_sim.studies.experiment.robust as rb
import bantar_sim.studies.experiment.robust_curves as rc
from bantar_sim.model.params import SPECS, make_params
from bantar_sim.reporting.markdown import fmt, markdown_table
from bantar_sim.studies.datadict import Resource
from bantar_sim.studies.experiment.prim import PrimResult, describe_box, discover
from bantar_sim.studies.experiment.robust_figures import (
    plot_beats,
    plot_distributions,
    plot_dose,
    plot_persistence,
    plot_prim,
)

#: Column -> (unit, definition) of the robust tables.
ROBUST_COLUMNS: dict[str, tuple[str, str]] = {
    "arm": ("", "the experiment arm"), "metric": ("", "metric name (bantar_sim.model.metrics.METRICS)"),
    "label": ("", "the metric's label"), "unit": ("", "the unit of the metric (and of its effect)"),
    "scenario": ("", "scenario s: one posterior draw × one point of the strength design"),
    "replicate": ("", "replicate = scenario × seed_repeats + seed_repeat"),
    "seed_repeat": ("", "seed r of the scenario (the same seed in every arm)"),
    "seed": ("", "the run's 64-bit seed (text)"), "posterior_row": ("", "row of the posterior file drawn"),
    "effect": ("metric's unit", "paired effect arm − baseline in the scenario (mean over its seed repeats)"),
    "n_scenarios": ("scenarios", "scenarios with the effect defined"),
    "mean": ("metric's unit", "MEAN over scenarios"), "median": ("metric's unit", "MEDIAN over scenarios"),
    "q05": ("metric's unit", "5% quantile over scenarios"), "q95": ("metric's unit", "95% quantile over scenarios"),
    "p_positive": ("probability", "share of scenarios with effect > 0"),
    "p_negative": ("probability", "share of scenarios with effect < 0"),
    "robust": ("", "P(effect > 0) >= 0.9 or P(effect < 0) >= 0.9: the sign holds whatever the uncertain inputs"),
    "no_effect": ("", "the effect is exactly 0 in every scenario (the arm ran the baseline's runs on this metric)"),
    "mean_regret": ("metric's unit", "MEAN over scenarios of the shortfall against the best arm"),
    "median_regret": ("metric's unit", "MEDIAN regret"), "q95_regret": ("metric's unit", "95% quantile of regret"),
    "max_regret": ("metric's unit", "MAXIMUM regret over scenarios"),
    "p_best": ("probability", "share of scenarios where the arm is the best"),
    "rank": ("", "min-max regret rank (1 = smallest maximum regret)"),
    "variance": ("metric's unit squared", "variance of the per-run paired effect over scenarios and seeds"),
    "seed_share": ("share", "share of the variance between seeds of one scenario (NaN: seed_repeats = 1)"),
    "posterior_share": ("share", "share attributed to the posterior inputs (Shapley split of adjusted R²)"),
    "strengths_share": ("share", "share attributed to the lever strengths (Shapley split of adjusted R²)"),
    "unexplained_share": ("share", "interactions, non-linear effects (and the seed when not separated)"),
    "input": ("", "the uncertain input (strength parameter, or <lever>_scale factor)"),
    "bin": ("", "quantile bin of the input"), "x_low": ("input's unit", "lowest input value in the bin"),
    "x_high": ("input's unit", "highest input value in the bin"), "x_mid": ("input's unit", "MEDIAN input in bin"),
    "n": ("scenarios", "scenarios in the bin"),
    "price": ("million IDR per household-year", "value of one additional participating household-year"),
    "break_even": ("input's unit", "strength where the median of price × Δ gain − Δ funds crosses 0"),
    "status": ("", "what the break-even / fit / PRIM found"),
    "p_worth_it": ("probability", "share of scenarios where price × Δ gain >= Δ funds"),
    "gain": ("", "the gain metric (denominator)"), "p_gain": ("probability", "share of scenarios with a gain > 0"),
    "ratio_of_means": ("million IDR per unit", "mean Δ funds / mean gain over all scenarios"),
    "funds_median": ("million IDR", "MEDIAN Δ funds over scenarios"),
    "gain_median": ("unit of the gain", "MEDIAN gain over scenarios"),
    "series": ("", "yearly series of city_year"), "year": ("year", "simulated year"),
    "years_after": ("years", "years after the last policy year (0 = last year the levers act)"),
    "years_observed": ("years", "years observed after the last policy year"),
    "y0": ("series' unit", "fitted effect at the last policy year"), "rate": ("1/year", "fitted decay rate"),
    "half_life": ("years", "ln 2 / rate"), "box": ("", "PRIM box number"),
    "coverage": ("share", "share of the failing scenarios inside the box"),
    "density": ("share", "share of the box's scenarios that fail"), "mass": ("share", "share of scenarios in box"),
    "res_dim": ("inputs", "inputs bounding the box"), "step": ("", "peeling step chosen"),
    "bounded_by": ("", "the inputs bounding the box"), "min": ("input's unit", "box lower limit"),
    "max": ("input's unit", "box upper limit"), "range_min": ("input's unit", "lowest sampled value"),
    "range_max": ("input's unit", "highest sampled value"), "id": ("", "peeling step"),
    "chosen": ("", "the step reported as the box"), "arm_b": ("", "arm B"),
}


@dataclass
class RobustAnalysis:
    """The robust tables of an [uncertain] experiment (what :func:`write_robust` writes)."""

    inputs: pd.DataFrame
    seeds: pd.DataFrame
    scen: pd.DataFrame
    dist: pd.DataFrame
    beats: pd.DataFrame
    regret: pd.DataFrame
    shares: pd.DataFrame
    dose: pd.DataFrame
    breakeven: pd.DataFrame
    cost: pd.DataFrame
    persistence: pd.DataFrame
    half_lives: pd.DataFrame
    prim: list = field(default_factory=list)


def acts_in(exp) -> dict[str, list[str]]:
    """Arm -> the strength inputs whose lever is on in it (where the input can change its effect)."""
    unc, out = exp.uncertain, {}
    for arm in exp.arms[1:]:
        p = make_params(exp.arm_params(arm))
        out[arm.name] = [r.column for r in unc.ranges if getattr(p, r.lever, None)]
    return out


def withdrawing(exp) -> dict[str, int]:
    """Arm -> policy_end_year for arms whose levers stop before the horizon."""
    out = {}
    for arm in exp.arms[1:]:
        p = make_params(exp.arm_params(arm))
        if p.policy_end_year <= exp.horizon:
            out[arm.name] = int(p.policy_end_year)
    return out


def programme_cost(exp, per_run: pd.DataFrame, city: pd.DataFrame | None, cost_per_rt_year: float) -> pd.Series:
    """Per run: funds spent in the policy years plus the monitoring programme's cost, million IDR.

    Monitoring cost = ``cost_per_rt_year`` × the arm's ``monitoring`` strength × label-holding RT-years
    (``bantar_label``, city_year) in the years the levers act (``policy_start_year`` ≤ year <
    ``policy_end_year``, up to the horizon). The model's monitoring raises the chance a check finds an RT that
    stopped; its staff time is not in the model, so the report prices it (issue 16, item 6). Without yearly city
    rows, or for arms without monitoring, it is the funds alone.
    """
    funds = per_run[rc.FUNDS].astype(float)
    if city is None or city.empty or "bantar_label" not in city or cost_per_rt_year == 0:
        return funds
    extra = pd.Series(0.0, index=per_run.index)
    for arm in exp.arms[1:]:
        p = make_params(exp.arm_params(arm))
        if not p.monitoring:
            continue
        years = city[(city["arm"] == arm.name) & (city["year"] >= p.policy_start_year)
                     & (city["year"] < p.policy_end_year) & (city["year"] <= exp.horizon)]
        held = years.groupby("replicate")["bantar_label"].sum()
        rows = per_run["arm"] == arm.name
        extra[rows] = cost_per_rt_year * p.monitoring * per_run.loc[rows, "replicate"].map(held).fillna(0.0)
    return funds + extra


def analyse_robust(exp, analysis) -> RobustAnalysis:
    """Every robust table from the experiment's per-run metrics (and yearly city rows for persistence)."""
    unc = exp.uncertain
    k = unc.seed_repeats
    metrics = list(dict.fromkeys([*exp.headline, unc.metric, rc.GAIN, rc.RT_GAIN, rc.FUNDS]))
    per_run = analysis.per_run
    if rc.FUNDS in per_run:
        per_run = per_run.assign(**{rc.COST: programme_cost(exp, per_run, getattr(analysis, "city", None),
                                                            unc.monitoring_cost)})
        metrics.append(rc.COST)
    runs = rb.run_effects(per_run, metrics, k)
    scen = rb.scenario_means(runs)
    inputs = unc.inputs()
    values = rb.arm_values(analysis.per_run, unc.metric, k)
    arms = [a for a in analysis.arms if a in values.columns]
    acts = acts_in(exp)
    city = getattr(analysis, "city", None)
    ends = withdrawing(exp)
    pers = (rc.persistence(city, ends, exp.horizon, k) if ends and city is not None and not city.empty
            else rc.persistence(pd.DataFrame(columns=["arm", "replicate", "year"]), {}, exp.horizon, k))
    x = inputs.drop(columns=[c for c in ("scenario", "posterior_row") if c in inputs])
    prim_results = []
    for arm in analysis.arms[1:]:
        e = scen[(scen["arm"] == arm) & (scen["metric"] == unc.metric)].set_index("scenario")["effect"]
        e = e.reindex(inputs["scenario"])
        ok = e.notna().to_numpy()
        prim_results.append(discover(x[ok], (e[ok] < unc.threshold).to_numpy(), arm=arm))
    return RobustAnalysis(
        inputs=inputs, seeds=unc.seeds_frame(), scen=scen, dist=rb.effect_distribution(scen),
        beats=rb.beats_matrix(values[arms], unc.metric), regret=rb.regret_table(values[arms], unc.metric),
        shares=rb.variance_shares(runs, inputs, unc.posterior_columns, unc.strength_columns, k),
        dose=rc.dose_curves(scen, inputs, acts, [unc.metric]),
        breakeven=rc.break_even(scen, inputs, acts, unc.price), cost=rc.cost_effectiveness(scen),
        persistence=pers, half_lives=rc.half_lives(pers), prim=prim_results)


def _input_columns(inputs: pd.DataFrame) -> dict[str, tuple[str, str]]:
    out = {}
    for c in inputs.columns:
        name = c[: -len("_scale")] if c.endswith("_scale") else c
        if name in SPECS:
            s = SPECS[name]
            out[c] = ("factor", f"scale factor on the arms' setting of {name}") if c != name else (s.unit, s.doc)
    return out


def _prim_frames(results: list[PrimResult]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    boxes, limits, traj = [], [], []
    for r in results:
        if r.status != "boxes":
            boxes.append(pd.DataFrame([{"arm": r.arm, "status": r.status, "n_scenarios": r.n_scenarios}]))
            continue
        for df, out in ((r.boxes, boxes), (r.limits, limits), (r.trajectory, traj)):
            d = df.copy()
            d.insert(0, "arm", r.arm)
            out.append(d)
        boxes[-1]["status"] = "boxes"
        boxes[-1]["n_scenarios"] = r.n_scenarios

    def cat(parts, columns):
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)

    return (cat(boxes, ["arm", "status", "n_scenarios"]),
            cat(limits, ["arm", "box", "input", "min", "max", "range_min", "range_max"]),
            cat(traj, ["arm", "box", "coverage", "density", "mass", "res_dim", "id", "chosen"]))


def write_robust(exp, ra: RobustAnalysis, folder: Path) -> tuple[list[str], list[Resource]]:
    """Write the robust tables (CSV) and figures (PNG) into ``folder``; return file names and resources."""
    unc = exp.uncertain
    folder = Path(folder)
    boxes, limits, traj = _prim_frames(ra.prim)
    beats = ra.beats.reset_index().melt(id_vars="arm", var_name="arm_b", value_name="p_beats").dropna()
    cols = {**ROBUST_COLUMNS, **_input_columns(ra.inputs),
            "p_beats": ("probability", f"share of scenarios where arm beats arm_b on {unc.metric} (ties ½)")}
    tables = {
        "scenarios": (ra.inputs, "one row per scenario: its posterior draw and lever strengths (the uncertain inputs)"),
        "seeds": (ra.seeds, "one row per replicate: scenario, seed repeat and seed (the same in every arm)"),
        "scenario_effects": (ra.scen, "one row per arm, metric and scenario: the paired effect"),
        "robust_effects": (ra.dist, "one row per arm and metric: the effect's distribution over scenarios"),
        "beats": (beats, f"one row per pair of arms: P(arm beats arm_b) on {unc.metric}"),
        "regret": (ra.regret, f"one row per arm: regret on {unc.metric} and the min-max regret rank"),
        "variance_shares": (ra.shares, "one row per arm and metric: variance shares of the paired effect"),
        "dose_strength": (ra.dose, f"one row per arm, strength input and bin: effect on {unc.metric}"),
        "break_even": (ra.breakeven, f"one row per arm and input: break-even strength at price {unc.price:g}"),
        "cost_effectiveness": (ra.cost, "one row per arm and gain: Δ funds per unit of gain over scenarios"),
        "persistence": (ra.persistence, "one row per withdrawing arm, series and year: effect after withdrawal"),
        "half_life": (ra.half_lives, "one row per withdrawing arm and series: exponential decay fit"),
        "prim_boxes": (boxes, f"one row per arm and PRIM box: where the arm's effect on {unc.metric} < "
                              f"{unc.threshold:g}"),
        "prim_limits": (limits, "one row per PRIM box and bounding input: its limits"),
        "prim_trajectory": (traj, "one row per PRIM box and peeling step"),
    }
    files, resources = [], []
    for name, (df, desc) in tables.items():
        df.to_csv(folder / f"{name}.csv", index=False)
        files.append(f"{name}.csv")
        resources.append(Resource(name, f"{name}.csv", df, desc, cols))
    arms = [a.name for a in exp.arms[1:]]
    n = unc.scenarios
    plot_distributions(ra.scen, ra.dist, list(exp.headline), arms, folder / "effect_distributions.png",
                       title=f"Experiment '{exp.name}': paired effects over {n} scenarios")
    plot_beats(ra.beats, folder / "beats.png", title=f"P(A beats B) on {unc.metric}, over {n} scenarios")
    plot_prim(ra.prim, folder / "prim.png", title=f"Where each arm fails (effect on {unc.metric} < "
                                                 f"{unc.threshold:g}): PRIM scenario discovery")
    files += ["effect_distributions.png", "beats.png", "prim.png"]
    if not ra.dose.empty:
        plot_dose(ra.dose, folder / "dose_strength.png", metric=unc.metric,
                  title=f"Effect vs lever strength over {n} scenarios (binned median, 5–95%)")
        files.append("dose_strength.png")
    if not ra.persistence.empty:
        plot_persistence(ra.persistence, ra.half_lives, folder / "persistence.png",
                         title="Effect after the levers are withdrawn (median over scenarios, 5–95%)")
        files.append("persistence.png")
    return files, resources


def _depends_on(ra: RobustAnalysis, arm: str, metric: str, main: str) -> str:
    parts = []
    s = ra.shares[(ra.shares["arm"] == arm) & (ra.shares["metric"] == metric)]
    if not s.empty:
        r = s.iloc[0]
        shares = {k: r[f"{k}_share"] for k in ("seed", "posterior", "strengths", "unexplained")
                  if np.isfinite(r[f"{k}_share"])}
        if shares:
            parts.append("variance shares " + ", ".join(f"{k} {v:.0%}" for k, v in shares.items()))
    if metric == main:
        res = next((p for p in ra.prim if p.arm == arm), None)
        if res is not None:
            parts.append(f"fails where {describe_box(res)}" if res.status == "boxes" else f"PRIM: {res.status}")
    return "; ".join(parts)


def robust_markdown(exp, ra: RobustAnalysis) -> str:
    """The section that leads report.md: robust conclusions first, then the others with what they depend on."""
    unc = exp.uncertain
    headline = list(exp.headline)
    sure, _ = rb.robust_findings(ra.dist, headline)
    L = [f"## Answers over the uncertain inputs ({unc.scenarios} scenarios × {unc.seed_repeats} seed(s))", "",
         f"Each scenario is {'one draw of the calibration posterior × ' if unc.posterior else ''}one "
         f"{unc.sampling.upper()} point of the lever strengths; every arm ran on every scenario with the same "
         "seed(s), so each effect below is a paired difference per scenario. A conclusion is **robust** when "
         f"P(effect > 0) ≥ {rb.ROBUST} or P(effect < 0) ≥ {rb.ROBUST} over the scenarios, or when the effect is "
         "exactly 0 in every scenario (no effect).", "",
         "### Robust conclusions", ""]
    L += [f"- {t}" for t in sure] or ["- none: every headline effect's sign depends on the uncertain inputs"]
    L += ["", "### Conclusions that depend on the inputs", ""]
    no_effect = ra.dist["no_effect"] if "no_effect" in ra.dist else False
    others = ra.dist[ra.dist["metric"].isin(headline) & ~ra.dist["robust"] & ~no_effect]
    for _, r in others.iterrows():
        L.append(f"- **{r['arm']}** on {r['label']}: P(effect > 0) = {r['p_positive']:.2f}, median "
                 f"{fmt(r['median'])} [{fmt(r['q05'])}, {fmt(r['q95'])}]; depends on: "
                 f"{_depends_on(ra, r['arm'], r['metric'], unc.metric) or 'see variance_shares.csv'}")
    if others.empty:
        L.append("- none")
    L += ["", "![Effect distributions](effect_distributions.png)", "",
          f"### Regret on {unc.metric} (min–max regret ranking, Robust Decision Making)", "",
          markdown_table(["rank", "arm", "max regret", "mean regret", "P(best)"],
                         [[int(r["rank"]), r["arm"], fmt(r["max_regret"]), fmt(r["mean_regret"]),
                           f"{r['p_best']:.2f}"] for _, r in ra.regret.iterrows()]),
          "", "P(A beats B): `beats.csv`.", "", "![P(A beats B)](beats.png)", "",
          f"### Where each arm fails (PRIM, effect on {unc.metric} < {unc.threshold:g})", ""]
    flat = rb.no_effect_arms(ra.dist, unc.metric)
    for res in ra.prim:
        if res.arm in flat:
            L.append(f"- **{res.arm}**: no effect in any of the {res.n_scenarios} scenarios (the baseline's runs)")
            continue
        L.append(f"- **{res.arm}**: {res.n_fail} of {res.n_scenarios} scenarios fail; "
                 + (f"box: {describe_box(res)}" if res.status == "boxes" else res.status))
    L += ["", "![PRIM](prim.png)", "", "### Cost-effectiveness over the policy period", "",
          "Δ cost per additional unit, median [5–95%] over the scenarios with a gain. Cost = funds (reward, "
          f"Kencana, RJ houses) + monitoring at {unc.monitoring_cost:g} million IDR per label-holding RT-year at full "
          "strength (`monitoring_cost`, a stated assumption); campaigns and leader programmes cost nothing in the "
          "model:", "",
          markdown_table(["arm", "per", "median", "5–95%", "P(gain)"],
                         [[r["arm"], r["unit"].replace("million IDR per additional ", ""), fmt(r["median"]),
                           f"[{fmt(r['q05'])}, {fmt(r['q95'])}]", f"{r['p_gain']:.2f}"]
                          for _, r in ra.cost.iterrows()]) if not ra.cost.empty else "(no funds metric)"]
    if not ra.dose.empty:
        L += ["", f"### Dose–response over the strengths and break-even at {unc.price:g} million IDR per "
              "participating household-year", "",
              markdown_table(["arm", "input", "break-even", "status", "P(worth it)"],
                             [[r["arm"], r["input"], fmt(r["break_even"]), r["status"], f"{r['p_worth_it']:.2f}"]
                              for _, r in ra.breakeven.iterrows()]), "", "![Dose-response](dose_strength.png)"]
    if not ra.half_lives.empty:
        L += ["", "### Persistence after withdrawal", "",
              markdown_table(["arm", "series", "effect at withdrawal", "half-life (years)", "status"],
                             [[r["arm"], r["series"], fmt(r["y0"]), fmt(r["half_life"]), r["status"]]
                              for _, r in ra.half_lives.iterrows()]), "", "![Persistence](persistence.png)"]
    L += ["", "Uncertain inputs (`scenarios.csv`, seeds in `seeds.csv`):", "",
          markdown_table(["input", "range", "mode", "reason"],
                         [[r.column, f"[{r.low:g}, {r.high:g}] {r.distribution}", r.mode, r.reason]
                          for r in unc.ranges])
          + (f"\n\nand the calibrated parameters drawn from `{exp.posterior}`." if unc.posterior else ""), ""]
    return "\n".join(L)
