"""The report of a policy experiment: CSV tables, figures, ``report.md``, ``experiment.json`` and the
data dictionary (``datapackage.json``), all written into the folder the workflow gives (a staging folder
swapped in when complete).

Every table and figure says which statistic it shows: effects are means of paired differences with 95%
t intervals, levels are means over replications with 95% t intervals, series are medians with
replication bands.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from bantar_sim.model.metrics import EXPERIMENT_METRICS, METRICS, metrics_markdown
from bantar_sim.model.params import SPECS, make_params
from bantar_sim.reporting.markdown import fmt, markdown_table
from bantar_sim.studies.datadict import Resource, write_datapackage
from bantar_sim.studies.experiment.compute import BASELINE, SERIES, Analysis
from bantar_sim.studies.experiment.figures import (
    plot_dose_response,
    plot_forest,
    plot_sustainability,
    plot_timeseries,
)
from bantar_sim.studies.experiment.robust_report import analyse_robust, robust_markdown, write_robust
from bantar_sim.studies.experiment.spec import value_text

#: Column -> (unit, definition) of the experiment's own tables (metric columns come from the registry).
EXPERIMENT_COLUMNS: dict[str, tuple[str, str]] = {
    "run_id": ("", "content address of the run in the batch store (runs/)"),
    "arm": ("", "the experiment arm (lever settings)"),
    "replicate": ("", "replication k (0-based); replication k of every arm runs with the same seed"),
    "seed": ("", "the run's 64-bit seed (text: it exceeds the int64 range)"),
    "draw": ("", "row of the posterior file the replication's parameter set was drawn from (empty: no draws)"),
    "status": ("", "ok, failed (recorded in the batch manifest) or missing (not on disk)"),
    "error": ("", "the error of a failed run (first line)"),
    "metric": ("", "metric name (bantar_sim.model.metrics.METRICS)"),
    "label": ("", "the metric's label"),
    "unit": ("", "the metric's unit (also the unit of its effect)"),
    "n_pairs": ("pairs", "complete pairs (arm and baseline run of the same replicate, metric defined in both)"),
    "baseline_mean": ("metric's unit", "MEAN of the metric over the baseline runs of the pairs"),
    "arm_mean": ("metric's unit", "MEAN of the metric over the arm's runs of the pairs"),
    "effect": ("metric's unit", "MEAN over the pairs of (arm − baseline)"),
    "ci_low": ("metric's unit", "lower bound of the 95% Student t interval of the mean"),
    "ci_high": ("metric's unit", "upper bound of the 95% Student t interval of the mean"),
    "sd_diff": ("metric's unit", "standard deviation of the paired differences"),
    "relative_effect": ("share of the baseline mean", "effect / baseline_mean"),
    "significant": ("", "the 95% interval of the effect excludes 0"),
    "n": ("runs", "runs with the metric defined"),
    "mean": ("metric's or variable's unit", "MEAN over the replications"),
    "sd": ("metric's unit", "standard deviation over the replications"),
    "variable": ("", "the yearly series (column of city_year)"),
    "q025": ("variable's unit", "2.5% quantile over the replications"),
    "q05": ("variable's unit", "5% quantile over the replications"),
    "q50": ("variable's unit", "MEDIAN over the replications"),
    "q95": ("variable's unit", "95% quantile over the replications"),
    "q975": ("variable's unit", "97.5% quantile over the replications"),
    "years_after": ("years", "years since the RT's first Bantar award (k)"),
    "active": ("RTs", "RTs of the award cohorts still holding the label and practising k years on"),
    "awarded": ("RTs", "RTs of the award cohorts (first awarded in the year)"),
    "share_active": ("share of awarded RTs", "active / awarded, cohorts whose k-th year falls in the policy period"),
    "year": ("year", "simulated year"),
    "sweep": ("", "the [[sweep]] (dose-response) the arm belongs to (its name; default: the lever)"),
    "lever": ("", "the lever the sweep varies"),
    "value": ("lever's unit", "the lever's value in this arm (the dose)"),
    "zero_in_ci": ("", "the 95% interval of the effect contains 0 (empty: fewer than 2 pairs); at the lever's off "
                       "value this checks that strength 0 is the baseline"),
    "same_as_baseline": ("", "the arm's full parameter set equals the baseline's (its effect must be exactly 0)"),
}
FILES_TEXT = ("- `metrics.csv`: every metric per run (arm, replicate, seed); `effects.csv`: paired effects (means "
              "of paired differences) with CIs; `levels.csv`: per-arm means with CIs; `series.csv`: yearly bands "
              "per arm (mean, median and quantiles); `sustainability.csv`: share still active k years after the "
              "award per run; `runs.csv`: run ids and status; `datapackage.json`: every column's type, unit and "
              "definition (Frictionless Data Package); `experiment.json`: the resolved experiment; `runs/`: the "
              "Parquet dataset and manifest (`bantar_sim.engine.storage.load_table`).")



def _city(exp) -> str:
    """'scale 1 (parameter set), households per RT 90 (parameter set)': the values the runs use and their source."""
    c = exp.city_settings
    return (f"scale {c['scale']:g} ({c['scale_from']}), households per RT {c['households_per_rt']:g} "
            f"({c['households_per_rt_from']})")

def _settings_text(d: dict) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in d.items())


def plan_text(exp, tasks: list, runs_dir: Path, done: int) -> str:
    """The plan an experiment prints before it runs (and all that ``--dry-run`` prints)."""
    lines = [f"experiment {exp.name}: {exp.description}".rstrip(": "),
             f"  file {exp.path}; horizon {exp.horizon}; policy period {exp.window_start}–{exp.horizon}; "
             f"{exp.replications} replications; base seed {exp.base_seed}",
             f"  city: {_city(exp)}"
             + (f"; posterior draws from {exp.posterior}" if exp.posterior else ""),
             f"  {exp.parameter_set.describe()}"]
    if getattr(exp, "uncertain", None) is not None:
        lines.append(f"  {exp.uncertain.describe()}")
    if exp.base:
        lines.append(f"  [base] {_settings_text(exp.base)}")
    for arm in exp.arms:
        lines.append(f"  arm {arm.name:<24} {_settings_text(arm.overrides) or '(no lever set)'}")
    lines.append(f"  {len(exp.arms)} arms × {exp.replications} replications = {len(tasks)} runs; "
                 f"{done} already on disk in {runs_dir}")
    return "\n".join(lines)


def effect_cell(row) -> str:
    """One effect as text: mean [95% CI] and `*` when the interval excludes 0; '–' when undefined."""
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
                         f"(baseline mean {fmt(r['baseline_mean'])} {METRICS[metric].unit}, n={r['n_pairs']})")
    return "\n".join(lines)




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


def render_report(exp, a: Analysis, *, batch_summary=None, command: str = "") -> str:
    """The Markdown report of an experiment (``report.md``)."""
    runs, man, effects, levels = a.runs, a.manifest, a.effects, a.levels
    arms = [x.name for x in exp.explicit_arms if x.name in a.arms]   # the sweeps' arms: "Dose-response"
    headline, pre_diff, rt_share, has_figures = list(exp.headline), a.pre_diff, a.rt_share, a.bands is not None
    window, horizon = exp.window_start, exp.horizon
    prov = _provenance(man)
    L: list[str] = [f"# Experiment `{exp.name}`", ""]
    if exp.description:
        L += [exp.description, ""]
    L += [f"- experiment file: `{exp.path}`" + (f"; command: `{command}`" if command else ""),
          f"- horizon: 2014–{horizon}; policy period (effects are measured over it): {window}–{horizon}",
          f"- replications: {exp.replications} per arm; base seed {exp.base_seed}; replication k of every arm uses "
          f"seed `spawn_seeds({exp.base_seed}, {exp.replications})[k]` (common random numbers)",
          f"- city: {_city(exp)} (simulated RTs = {rt_share:.3g} × the 1,627 of Table 3)",
          f"- {exp.parameter_set.describe()}",
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
          "exclude 0. n = complete pairs. Baseline mean: the mean over the baseline's replications.", ""]
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
    L.append(markdown_table(["metric", "baseline mean"] + [f"{a}: mean effect (n={n_pairs.get(a, 0)})"
                                                           for a in arms[1:]], rows))
    if exp.sweeps:
        L += ["", f"The {len(exp.sweeps)} sweep(s)' arms are in the section Dose-response below."]
    if has_figures and len(arms) > 1:
        L += ["", "![Effects vs baseline](forest.png)"]
    if a.dose is not None:
        L += ["", dose_markdown(exp, a.dose, levels, figure=has_figures)]
    if has_figures:
        L += ["",
              "## Time series", "",
              "Median per arm" + (" (of each sweep: its last value)" if exp.sweeps else "")
              + ", 90% of replications shaded, 95% dotted; black squares: the published Table 3 winners "
              "2014–2020 (and their cumulative sum; with no repeat wins it counts the RTs ever awarded)"
              + ("" if abs(rt_share - 1) < 1e-9 else f", scaled by {rt_share:.3g} to the simulated city") + ".", "",
              "![Time series per arm](timeseries.png)", "",
              "## Sustainability after the award", "",
              f"Share of RTs still holding the label and practising k years after their first award, for award "
              f"cohorts whose year k falls in {window}–{horizon}; mean over replications with 95% CI.", "",
              "![Awarded RTs still active](sustainability.png)"]
    L += ["", "## All metrics: level per arm (mean [95% CI over replications])", ""]
    if exp.sweeps:
        L += ["The sweeps' arms: `levels.csv` (levels) and `dose_response.csv` (effects).", ""]
    rows = []
    for metric in EXPERIMENT_METRICS:
        info = METRICS[metric]
        row = [f"`{metric}`", info.unit]
        for arm in arms:
            lv = levels[(levels["arm"] == arm) & (levels["metric"] == metric)]
            r = lv.iloc[0] if not lv.empty else None
            row.append("–" if r is None or not np.isfinite(r["mean"]) else
                       (f"{fmt(r['mean'])} [{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]" if np.isfinite(r["ci_low"])
                        else fmt(r["mean"])))
        rows.append(row)
    L.append(markdown_table(["metric", "unit"] + arms, rows))
    L += ["", "Definitions (from the metric registry, `bantar_sim.model.metrics`; window: the years a metric covers, "
          f"the policy period here being {window}–{horizon}):", "", metrics_markdown(EXPERIMENT_METRICS)]
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
            L += [f"- arm {r.arm}, replicate {r.replicate}, seed {r.seed}: "
                  f"{str(r.error).splitlines()[0] if r.error else '?'}"
                  for r in failed.itertuples()]
        if not missing.empty:
            L.append(f"{len(missing)} run(s) are not on disk (batch interrupted?); rerun the command to compute them.")
    L += ["", "## Seeds", "", "Replication k → seed (the same in every arm):", ""]
    seeds = exp.seeds
    L.append(", ".join(f"{k}: `{s}`" for k, s in enumerate(seeds)))
    if exp.posterior_draws:
        L += ["", "Posterior row per replication: "
              + ", ".join(f"{k}: {i}" for k, (i, _) in enumerate(exp.posterior_draws))]
    L += ["", "## Parameters", ""]
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
          "## Files", "", FILES_TEXT]
    return "\n".join(L) + "\n"


def _dose_cell(r) -> str:
    """One dose-response effect as text: mean [95% CI], `*` when the interval excludes 0."""
    return effect_cell({"effect": r["effect"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                        "significant": not pd.isna(r["zero_in_ci"]) and not bool(r["zero_in_ci"])})


def _off(value) -> bool:
    """The lever's strength 0 (a number 0 or false)."""
    return value is False or (not isinstance(value, (bool, str)) and value == 0)


def dose_markdown(exp, dose: pd.DataFrame, levels: pd.DataFrame, figure: bool = True) -> str:
    """The report's Dose-response section: per sweep, value -> effect [95% CI] on the headline metrics."""
    metrics = [m for m in exp.headline if m in set(dose["metric"])]
    L = ["## Dose-response", "",
         "Each [[sweep]] runs one arm per value of its lever (the other settings of its `set` shared); the effect "
         "is the mean paired difference vs the baseline with its 95% t interval (`*`: excludes 0). "
         "`= baseline`: the arm's parameter set is the baseline's, so its effect must be exactly 0. "
         "Table: `dose_response.csv`."] + (["", "![Dose-response](dose_response.png)"] if figure else [])
    base = {m: levels[(levels["arm"] == BASELINE) & (levels["metric"] == m)]["mean"] for m in metrics}
    header = ["value"] + [f"{METRICS[m].label} ({METRICS[m].unit}; baseline "
                          f"{fmt(base[m].iloc[0]) if len(base[m]) else '–'})" for m in metrics]
    for sw in exp.sweeps:
        d = dose[dose["sweep"] == sw.name]
        with_ = ", ".join(f"`{k} = {json.dumps(v)}`" for k, v in sw.settings.items())
        L += ["", f"### `{sw.name}`: lever `{sw.lever}`" + (f", with {with_}" if with_ else ""), ""]
        if sw.description:
            L += [sw.description, ""]
        rows = []
        for value, aname in zip(sw.values, sw.arm_names):
            dv = d[d["arm"] == aname]
            same = bool(len(dv)) and bool(dv["same_as_baseline"].iloc[0])
            row = [f"{value_text(value)}" + (" (= baseline)" if same else "")]
            for m in metrics:
                e = dv[dv["metric"] == m]
                row.append(_dose_cell(e.iloc[0]) if len(e) else "–")
            rows.append(row)
        L.append(markdown_table(header, rows))
        off = d[d["value"].map(_off) & d["metric"].isin(metrics)]
        if len(off):
            inside = off["zero_in_ci"].fillna(False).astype(bool)
            who = ", ".join(f"`{m}`" for m in off.loc[~inside, "metric"])
            L += ["", f"At {sw.lever} = {value_text(off['value'].iloc[0])}: the 95% CI contains 0 for "
                  f"{int(inside.sum())} of {len(off)} headline metrics"
                  + (f" (not: {who}; the sweep's other settings, or the lever's absence of an off state, act "
                     "on their own)." if who else ".")]
    return "\n".join(L)


def dose_text(exp, dose: pd.DataFrame | None) -> str:
    """Plain-text dose-response curves (what the command prints): per sweep and headline metric, one line."""
    if dose is None:
        return ""
    lines = ["\nDose-response (effect vs baseline by lever value; * = CI excludes 0):"]
    for sw in exp.sweeps:
        extra = ([f"lever {sw.lever}"] if sw.name != sw.lever else []) + [f"{k}={value_text(v)}"
                                                                          for k, v in sw.settings.items()]
        lines.append(f"  {sw.name}" + (f" ({', '.join(extra)})" if extra else "") + ":")
        d = dose[dose["sweep"] == sw.name]
        for m in exp.headline:
            e = d[d["metric"] == m]
            if len(e):
                cells = "; ".join(f"{value_text(r['value'])}: {_dose_cell(r)}" for _, r in e.iterrows())
                lines.append(f"    {METRICS[m].label:<45} {cells}")
    return "\n".join(lines)


def headline_summary(exp, a: Analysis) -> str:
    """What the command prints after the runs: the headline effects (and the sweeps' dose-response)."""
    arms = [x.name for x in exp.explicit_arms]
    return (f"\nHeadline effects vs baseline, {exp.window_start}–{exp.horizon} (mean paired difference [95% CI], "
            "* = CI excludes 0):\n" + headline_text(a.effects, list(exp.headline), arms) + dose_text(exp, a.dose))


def write_report(exp, a: Analysis, folder: Path, *, batch_summary=None, command: str = "") -> list[str]:
    """Write the experiment's tables, figures, report and data dictionary into ``folder``; return the file names.

    Parameters
    ----------
    exp : Experiment
        The resolved experiment file.
    a : Analysis
        Its computed tables.
    folder : Path
        Where to write (the staging folder of the output folder).
    batch_summary : BatchSummary, optional
        What this invocation's batch did (reported).
    command : str
        The command line (reported).
    """
    folder = Path(folder)
    window, horizon, n_reps = exp.window_start, exp.horizon, exp.replications
    per_run = a.per_run.sort_values(["arm", "replicate"])
    per_run.to_csv(folder / "metrics.csv", index=False)
    a.effects.to_csv(folder / "effects.csv", index=False)
    a.levels.to_csv(folder / "levels.csv", index=False)
    a.runs.to_csv(folder / "runs.csv", index=False)
    files = ["metrics.csv", "effects.csv", "levels.csv", "runs.csv"]
    meta = {**exp.to_json(), "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    (folder / "experiment.json").write_text(json.dumps(meta, indent=2, default=str))
    files.append("experiment.json")
    resources = [
        Resource("metrics", "metrics.csv", per_run, f"one row per run: every experiment metric (policy period "
                 f"{window}–{horizon})", EXPERIMENT_COLUMNS),
        Resource("effects", "effects.csv", a.effects, "one row per arm and metric: the MEAN paired difference "
                 "(arm − baseline, same seed) with its 95% t interval", EXPERIMENT_COLUMNS),
        Resource("levels", "levels.csv", a.levels, "one row per arm and metric: the MEAN over the replications "
                 "with its 95% t interval", EXPERIMENT_COLUMNS),
        Resource("runs", "runs.csv", a.runs, "one row per run of the experiment: its id, tags and status",
                 EXPERIMENT_COLUMNS),
    ]
    if a.dose is not None:
        a.dose.to_csv(folder / "dose_response.csv", index=False)
        files.append("dose_response.csv")
        resources.append(Resource("dose_response", "dose_response.csv", a.dose, "one row per sweep, lever value "
                                  "and metric: the MEAN paired difference (arm − baseline, same seed) with its 95% "
                                  "t interval", EXPERIMENT_COLUMNS))
    if a.bands is not None:
        a.bands.to_csv(folder / "series.csv", index=False)
        a.curve.to_csv(folder / "sustainability.csv", index=False)
        explicit = [x.name for x in exp.explicit_arms]
        # Of each sweep only its last value is drawn in the series (the dose-response figure has them all).
        arms = explicit + [names[-1] for names in (sw.arm_names for sw in exp.sweeps)]
        plot_timeseries(a.bands, arms, folder / "timeseries.png", title=f"Experiment '{exp.name}'",
                        window_start=window, rt_share=a.rt_share, n_reps=n_reps)
        plot_sustainability(a.curve, arms, folder / "sustainability.png",
                            title=f"Experiment '{exp.name}': awarded RTs still active, evaluated {window}–{horizon}")
        files += ["series.csv", "sustainability.csv", "timeseries.png", "sustainability.png"]
        if len(explicit) > 1:
            plot_forest(a.effects, list(exp.headline), explicit, folder / "forest.png",
                        title=f"Experiment '{exp.name}': effect of each arm vs baseline, {window}–{horizon} "
                              f"(mean paired difference over {n_reps} replications, 95% CI)")
            files.append("forest.png")
        if a.dose is not None:
            base = asdict(make_params(exp.arm_params(exp.arms[0])))
            plot_dose_response(a.dose, exp.sweeps, list(exp.headline), folder / "dose_response.png",
                               title=f"Experiment '{exp.name}': dose-response, effect vs baseline {window}–{horizon}\n"
                                     f"(mean paired difference over {n_reps} replications, 95% CI; dotted: "
                                     "the baseline's value of the lever)", baseline_values=base)
            files.append("dose_response.png")
        series = ", ".join(f"{k} ({label}, {unit})" for k, (label, unit) in SERIES.items())
        resources += [
            Resource("series", "series.csv", a.bands, "one row per arm, variable and year: the MEAN, MEDIAN "
                     f"(q50) and quantiles over the replications; variables: {series}", EXPERIMENT_COLUMNS),
            Resource("sustainability", "sustainability.csv", a.curve, "one row per run and k: of the RTs first "
                     f"awarded in a year, how many are still active k years on (cohorts evaluated {window}–{horizon})",
                     EXPERIMENT_COLUMNS),
        ]
    text = render_report(exp, a, batch_summary=batch_summary, command=command)
    if getattr(exp, "uncertain", None) is not None and not a.per_run.empty:
        # [uncertain] (issue 16): the answers over the scenarios lead the report, the point summaries follow.
        ra = analyse_robust(exp, a)
        robust_files, robust_resources = write_robust(exp, ra, folder)
        files += robust_files
        resources += robust_resources
        head = f"# Experiment `{exp.name}`\n\n" + (f"{exp.description}\n\n" if exp.description else "")
        text = head + robust_markdown(exp, ra) + "\n## Means over the scenarios (paired, 95% t intervals)\n\n" \
            + text[len(head):]
    (folder / "report.md").write_text(text, encoding="utf-8")
    files.append("report.md")
    write_datapackage(folder, f"bantar-sim-experiment-{exp.name}".lower(), f"bantar-sim experiment '{exp.name}'",
                      resources, description=exp.description,
                      extra={"bantar_sim": {"experiment_file": str(exp.path),
                                            "parameter_set": exp.parameter_set.provenance(),
                                            "policy_period": [window, horizon], "replications": n_reps}})
    files.append("datapackage.json")
    return files
