"""The results section of calibration/README.md, written from the shipped calibration files.

Why code: every number the README quotes about the calibration (posterior, fit, patterns, the calibrated
set, the model comparison, the calibrated baseline) must come from the files in ``calibration/`` that the
calibration wrote; ``tests/test_generated_docs.py`` fails when the README's block differs from what this
module writes now, and ``bantar-sim docs`` rewrites it.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd

from bantar_sim.reporting.markdown import fmt, markdown_table

#: Issue 14's fit criteria: target group -> (minimum inside the 90% band, of how many).
FIT_CRITERIA = {"city winners per year": 5, "cumulative winners per sub-district": 9,
                "RTs that proposed, per sub-district": 9}
PUBLISHED_PROPOSERS = 820          # Table 3: RTs that proposed at least once, 2014–2020
PROPOSER_TOLERANCE = 0.10          # issue 14: the city total within ±10% of 820


def _criterion(target: str) -> int | None:
    return next((k for name, k in FIT_CRITERIA.items() if target.startswith(name)), None)


def calibration_results_markdown(folder: str | Path) -> str:
    """The generated results block of calibration/README.md.

    Parameters
    ----------
    folder : str or Path
        The calibration folder (``calibration/``): ``calibrated.toml``, ``posterior_summary.csv``,
        ``fit_metrics.csv``, ``patterns.csv``; optional ``results/baseline_metrics.csv`` (the calibrated
        baseline, ``make baseline``) and ``results/compare/model_probabilities_by_seed.csv``
        (``make compare-models``).

    Returns
    -------
    str
        Markdown (no trailing newline).
    """
    folder = Path(folder)
    data = tomllib.loads((folder / "calibrated.toml").read_text(encoding="utf-8"))
    params, prov = data["params"], data["provenance"]
    out = [
        f"Shipped set: `calibrated.toml`, model version **{prov['model_version']}**, calibrated "
        f"{str(prov.get('date', '?'))[:16].replace('T', ' ')} UTC with `{prov.get('command', '?').strip()}` "
        f"(seed {prov.get('seed')}, population {prov.get('population_size')}, {prov.get('generations')} "
        f"generations, stopped: {prov.get('stopped_because')}; final epsilon {fmt(prov.get('final_epsilon'))}; "
        f"{int(prov.get('total_simulations', 0)):,} simulations at {fmt(prov.get('simulations_per_second'))} "
        f"simulations/s). Simulation settings: scale {params.get('scale')}, "
        f"{params.get('households_per_rt')} households per RT.",
        "",
    ]
    summary = pd.read_csv(folder / "posterior_summary.csv")
    rows = [(f"`{r.parameter}`" + (f" ({r.unit})" if isinstance(r.unit, str) and r.unit != "-" else ""),
             fmt(params.get(r.parameter)), fmt(r.median), f"[{fmt(r.q05)}, {fmt(r.q95)}]",
             f"[{fmt(r.prior_low)}, {fmt(r.prior_high)}]", f"{r.interval_over_prior:.2f}")
            for r in summary.itertuples()]
    out += ["| parameter | calibrated set | posterior median | 90% interval | prior | interval / prior |",
            "|---|---|---|---|---|---|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    out += ["", f"The calibrated set is the {prov.get('point', 'chosen particle')}.", ""]

    fit = pd.read_csv(folder / "fit_metrics.csv")
    n_pred = prov.get("predictive_runs", "?")
    frows = []
    for r in fit.itertuples():
        need = _criterion(r.target)
        crit, ok = "–", ""
        if need is not None:
            crit = f"≥ {need} of {r.n}"
            ok = "met" if r.inside_90 >= need else "**not met**"
        total = f"{fmt(r.observed_total)} / {fmt(r.predicted_total_median)}"
        if hasattr(r, "predicted_total_q05"):
            total += f" [{fmt(r.predicted_total_q05)}, {fmt(r.predicted_total_q95)}]"
        frows.append((r.target, f"{r.inside_90} of {r.n}", crit, ok, fmt(r.rmse_median), total))
    out += [f"Fit: posterior predictive, {n_pred} runs drawn from the posterior "
            "(`fit_metrics.csv`, `predictive_city.png`, `predictive_subdistrict.png`); yearly city totals are "
            "not an input: each run draws its own award budgets.", "",
            markdown_table(("target", "inside the 90% band", "issue 14 asks", "", "RMSE of the median",
                            "total: published / predicted median [90%]"), frows)]
    prop = fit[fit["target"].str.startswith("RTs that proposed")]
    if len(prop):
        total = float(prop["predicted_total_median"].iloc[0])
        observed = float(prop["observed_total"].iloc[0])
        dev = total / observed - 1
        verdict = "within" if abs(dev) <= PROPOSER_TOLERANCE else "**outside**"
        out += ["", f"RTs that ever proposed, city total: predicted median {total:,.0f} against {observed:,.0f} "
                f"published ({dev:+.1%}; Table 3: {PUBLISHED_PROPOSERS} for the whole city), {verdict} the "
                f"±{PROPOSER_TOLERANCE:.0%} issue 14 asks."]

    patterns = folder / "patterns.csv"
    if patterns.exists():
        per = pd.read_csv(patterns)
        w = per["weight"] / per["weight"].sum()
        out += ["", f"Pattern filter (`patterns.csv`; {prov.get('pattern_reps', '?')} re-simulations per particle): "
                f"{int(per['passes'].sum())} of {len(per)} particles show patterns 3 (post-award waning) and 4 "
                f"(growth), posterior weight {float(w[per['passes']].sum()):.2f}. Medians over the particles: "
                f"participation drop two years after the award {per['post_award_drop'].median():.3f}, share of "
                f"early winners still practising three years on {per['still_practising_3y'].median():.2f}, "
                f"labels lapsed by 2020 {per['lapsed_by_2020'].median():.0f}. At the calibrated set: drop "
                f"{fmt(prov.get('point_post_award_drop'))}, still practising "
                f"{fmt(prov.get('point_still_practising_3y'))}."]

    base = folder / "results" / "baseline_metrics.csv"
    if base.exists():
        b = pd.read_csv(base)
        def band(col, digits=3):
            s = b[col].astype(float)
            return f"{fmt(s.mean(), digits)} [{fmt(s.min(), digits)}, {fmt(s.max(), digits)}]"
        out += ["", f"Calibrated baseline (`results/baseline_metrics.csv`: `bantar-sim run` at the calibrated set, "
                f"{len(b)} replications, 2014–2020; mean [min, max]): winners 2014–2020 "
                f"{band('winners_2014_2020')} (published 614); in 2020 {band('practising_final')} RTs practising, "
                f"{band('active_bantar_final')} holding the label and practising, {band('bantar_label_final')} "
                f"holding it; participation {band('participation_final')}; share of practising label-holders' "
                f"RT-years with participation below 0.2: {band('active_low_participation_share')} "
                f"(issue 14 asks < 0.10)."]

    cmp_file = folder / "results" / "compare" / "model_probabilities_by_seed.csv"
    if cmp_file.exists():
        cmp = pd.read_csv(cmp_file)
        out += ["", "Model comparison (`results/compare/`, `make compare-models`: pyabc model selection at the "
                "default calibration's population and generations, once per seed; last generation's posterior "
                "model probabilities):", "", markdown_table(list(cmp.columns), cmp.map(
                    lambda v: f"{v:.3g}" if isinstance(v, float) else v).to_numpy().tolist())]
    return "\n".join(out)
