"""The report of a coverage study (:mod:`bantar_sim.studies.calibration.sbc`): tables, figure, report.md.

Files written into the result folder:

- ``coverage.csv`` — one row per parameter: coverage of the 50% and 90% posterior intervals with 95%
  Clopper–Pearson intervals, the rank histogram's chi-square p-value, the mean 90% interval width relative
  to the prior width and the label (recovered / weakly identified / not identified / miscalibrated);
- ``ranks.csv`` — one row per truth: the truth, its posterior quantiles and SBC rank, per parameter;
- ``rank_histograms.png`` — one panel per parameter, the binned ranks with the 99% band of a uniform
  histogram (Talts et al. 2018, fig. 1);
- ``sbc.json`` — settings and provenance (command, seed, model version, git commit);
- ``report.md`` — all of the above in words.

The labels and the rank binning live here (imported by :mod:`~bantar_sim.studies.calibration.sbc`), so
this module imports nothing from the computation: no import circle.
"""
from __future__ import annotations

import json
import math
import platform
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bantar_sim.engine.outputs import write_text_atomic
from bantar_sim.engine.provenance import git_commit
from bantar_sim.model.version import MODEL_VERSION
from bantar_sim.reporting.figures import new_figure, save_figure
from bantar_sim.reporting.markdown import frame_table, markdown_table

FIGURE = "rank_histograms.png"
LABELS = ("recovered", "weakly identified", "not identified / miscalibrated")


#: Accepted simulations per regression coefficient below which the adjustment is skipped.
ACCEPTED_PER_COEFFICIENT = 30


def min_accepted_for_adjustment(n_stats: int) -> int:
    """Accepted simulations the regression adjustment needs: 30 x (statistics + 1).

    Why 30: a local-linear regression on few accepted simulations per coefficient fits their noise, and the
    adjusted posterior comes out too narrow. On model 0.2.0's reference table (3,000 simulations, 29
    statistics, 500 truths) five per coefficient left every parameter's 90% intervals short of 0.9, and 30 per
    coefficient put all of them within their binomial intervals; each study checks this again on its own
    table (:func:`~bantar_sim.studies.calibration.sbc_posterior.method_check`, the report's method table).
    """
    return ACCEPTED_PER_COEFFICIENT * (n_stats + 1)


def label(cov90_low: float, cov90_high: float, rel_width90: float) -> str:
    """The issue-15 label of a parameter.

    ``recovered``: the 90% coverage's binomial interval contains 0.9 and the mean 90% interval is
    narrower than half the prior; ``weakly identified``: coverage fine but the interval is at least half
    the prior; ``not identified / miscalibrated``: the binomial interval excludes 0.9.
    """
    if not cov90_low <= 0.9 <= cov90_high:
        return LABELS[2]
    return LABELS[0] if rel_width90 < 0.5 else LABELS[1]


def rank_bins(draws: int, truths: int) -> int:
    """Bins of the rank histogram: about truths/5 (at least 5 expected per bin), at most 20, dividing L+1
    ranks as evenly as possible.
    """
    return int(max(2, min(20, draws + 1, truths // 5)))


def binned_ranks(ranks: np.ndarray, draws: int, bins: int) -> np.ndarray:
    """Counts of ranks (0 … draws) in ``bins`` equal-width bins of the rank range."""
    idx = np.minimum((np.asarray(ranks, float) * bins / (draws + 1)).astype(int), bins - 1)
    return np.bincount(idx, minlength=bins)


def rank_histogram_figure(per_truth: pd.DataFrame, names: list[str], draws: int, path: Path) -> Path:
    """One panel per parameter: binned SBC ranks and the 99% band expected of a uniform histogram.

    Parameters
    ----------
    per_truth : DataFrame
        The ``NAME.rank`` columns.
    names : list of str
        Parameters, one panel each.
    draws : int
        Posterior draws per rank (ranks lie in 0 … draws).
    path : Path
        The PNG to write.
    """
    from scipy.stats import binom
    n = len(per_truth)
    bins = rank_bins(draws, n)
    ncols = min(4, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = new_figure(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
    lo, hi = binom.ppf(0.005, n, 1 / bins), binom.ppf(0.995, n, 1 / bins)
    for ax, name in zip(axes.ravel(), names):
        counts = binned_ranks(per_truth[f"{name}.rank"].to_numpy(), draws, bins)
        ax.axhspan(lo, hi, color="0.85", zorder=0, label="99% band (uniform)")
        ax.axhline(n / bins, color="0.5", lw=0.8, zorder=1)
        ax.bar(np.arange(bins), counts, width=0.9, color="tab:blue", zorder=2)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([0, bins - 1], ["low", "high"])
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    axes.ravel()[0].set_ylabel("truths per rank bin", fontsize=8)
    fig.suptitle(f"SBC rank histograms ({n} truths, {draws} posterior draws, {bins} bins)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def _pct(lo: float, mid: float, hi: float) -> str:
    return f"{mid:.2f} [{lo:.2f}, {hi:.2f}]"


def coverage_markdown(table: pd.DataFrame) -> str:
    """The coverage table as Markdown (coverage with its 95% Clopper–Pearson interval)."""
    t = pd.DataFrame({
        "parameter": table["parameter"],
        "50% coverage [95% CI]": [_pct(r.coverage50_low, r.coverage50, r.coverage50_high) for r in table.itertuples()],
        "90% coverage [95% CI]": [_pct(r.coverage90_low, r.coverage90, r.coverage90_high) for r in table.itertuples()],
        "90% width / prior": table["width90_rel"].map(lambda v: f"{v:.2f}"),
        "rank χ² p": table["rank_chi2_p"].map(lambda v: f"{v:.3g}"),
        "label": table["label"],
    })
    return frame_table(t)


def methods_markdown(methods: pd.DataFrame) -> str:
    """The method check as a Markdown table (the chosen method in the first row)."""
    rows = [(f"{r.method}{' (chosen)' if i == 0 else ''}", f"{r.accept:g}", r.accepted,
             "yes" if r.adjusted else "no", f"{r.honest} of {r.parameters}",
             f"{r.coverage90_min:.2f}–{r.coverage90_max:.2f}", f"{r.width90_rel_mean:.2f}")
            for i, r in enumerate(methods.itertuples())]
    return markdown_table(("posterior", "accept", "accepted", "adjusted", "90% coverage honest",
                           "90% coverage range", "mean 90% width / prior"), rows)


def method_lines(methods: pd.DataFrame) -> list[str]:
    """The report's method-check section (empty without a check)."""
    if methods is None or methods.empty:
        return []
    return ["## Which posterior is honest here", "",
            "The same truths calibrated with other posteriors from the same reference table: the regression "
            "adjustment narrows the intervals but, fitted on too few accepted simulations per coefficient, makes "
            "them overconfident; plain rejection ABC is wider. *Honest*: parameters whose 90% coverage's 95% "
            "binomial interval contains 0.9. Here the adjustment is applied down to 2 accepted simulations per "
            "coefficient; the study itself (the first row) applies it only from "
            f"{ACCEPTED_PER_COEFFICIENT} per coefficient.", "", methods_markdown(methods), ""]


def write_report(plan: Any, table: pd.DataFrame, per_truth: pd.DataFrame, meta: dict, stage: Path,
                 methods: pd.DataFrame | None = None) -> list[str]:
    """Write coverage.csv, ranks.csv, methods.csv, the figure, sbc.json and report.md into ``stage``.

    Parameters
    ----------
    plan : SBCPlan
        The study's plan (config, priors, settings, model version).
    table : DataFrame
        :func:`~bantar_sim.studies.calibration.sbc.coverage_table`.
    per_truth : DataFrame
        One row per truth (:func:`~bantar_sim.studies.calibration.sbc.summarise_truth`).
    meta : dict
        Batch summary and the statistics used.
    stage : Path
        The staging folder of :func:`bantar_sim.engine.outputs.output_folder`.
    methods : DataFrame, optional
        :func:`~bantar_sim.studies.calibration.sbc_posterior.method_check` (the chosen method first).

    Returns
    -------
    list of str
        The files written (names relative to the result folder).
    """
    c = plan.config
    names = [p.name for p in plan.priors]
    table.to_csv(stage / "coverage.csv", index=False)
    per_truth.to_csv(stage / "ranks.csv", index=False)
    methods = methods if methods is not None else pd.DataFrame()
    methods.to_csv(stage / "methods.csv", index=False)
    rank_histogram_figure(per_truth, names, c.draws, stage / FIGURE)
    commit = git_commit()
    settings = {k: v for k, v in plan.settings.items()}
    info = {"command": c.command, "seed": c.seed, "model_version": plan.model_version,
            "package_model_version": MODEL_VERSION, "git_commit": commit, "python": platform.python_version(),
            "priors": plan.priors_source, "settings": settings,
            "reference": c.reference, "truths": c.truths, "loo_truths": c.loo_truths, "accept": c.accept,
            "draws": c.draws,
            "method": "rejection ABC (MAD-scaled Euclidean distance) + local-linear regression adjustment "
                      "(Beaumont et al. 2002), Epanechnikov weights, logit of the prior range",
            "priors_ranges": {p.name: [p.low, p.high] for p in plan.priors}, **meta}
    write_text_atomic(stage / "sbc.json", json.dumps(info, indent=2, default=str) + "\n")
    n_acc = math.ceil(c.accept * meta["n_reference"])
    counts = table["label"].value_counts()
    lines = [
        "# Simulation-based calibration (coverage)", "",
        f"- command: `{c.command or 'run_sbc(...)'}`",
        f"- seed: {c.seed}; model version: {plan.model_version}; git commit: {commit}",
        f"- priors: {plan.priors_source}",
        f"- settings: {', '.join(f'{k} = {v}' for k, v in settings.items()) or '(none)'}",
        f"- reference table: {meta['n_reference']} prior simulations, shared by all truths; each truth keeps "
        f"the closest {c.accept:g} ({n_acc} simulations) by the MAD-scaled Euclidean distance over "
        f"{len(meta['statistics'])} statistics, then a local-linear regression adjustment (Beaumont, Zhang & "
        "Balding 2002) on the logit of each parameter's prior range"
        + ("" if meta.get("adjusted", True) else f" — SKIPPED here: fewer than "
           f"{min_accepted_for_adjustment(len(meta['statistics']))} simulations accepted (plain rejection ABC)"),
        f"- truths: {meta['n_truths']} parameter sets drawn from the prior, each simulated with its own seed: "
        f"{meta.get('n_independent_truths', meta['n_truths'])} independent (not in the reference table)"
        + (f" and {meta['n_truths'] - meta['n_independent_truths']} members of the reference table, each "
           "calibrated against the table without its own row" if meta.get("n_independent_truths", meta["n_truths"])
           < meta["n_truths"] else "")
        + f"; SBC ranks among {c.draws} posterior draws",
        f"- simulations: {meta['batch']['computed_now']} computed now, {meta['batch']['reused']} reused, "
        f"{meta['batch']['failed']} failed ({meta['batch']['elapsed_s']} s)"
        + (f"; wall-clock of the whole study {meta['wall_clock_s']} s" if "wall_clock_s" in meta else ""), "",
        "## Coverage", "",
        "Coverage of the central 50% and 90% posterior intervals over the truths, with 95% Clopper–Pearson "
        "intervals; `90% width / prior` is the mean 90% interval width over the prior width; `rank χ² p` tests "
        "the rank histogram for uniformity. Labels: **recovered** (90% coverage's interval contains 0.9 and "
        "the 90% interval is narrower than half the prior), **weakly identified** (coverage fine, interval at "
        "least half the prior), **not identified / miscalibrated** (90% coverage's interval excludes 0.9).", "",
        coverage_markdown(table), "",
        "Summary: " + "; ".join(f"{counts.get(lab, 0)} {lab}" for lab in LABELS) + ".", "",
        "## Rank histograms", "",
        "Each panel bins the rank of the truth among the posterior draws; a calibrated posterior gives a "
        "flat histogram inside the grey 99% band. A U shape means intervals too narrow (overconfident), a "
        "hump too wide, a slope a biased posterior.", "",
        f"![rank histograms]({FIGURE})", "",
        *method_lines(methods),
        "Files: coverage.csv (this table), ranks.csv (per truth: truth, posterior quantiles, rank), methods.csv "
        "(the method check), "
        f"{FIGURE}, sbc.json (settings and provenance), runs/ (the batch store of every simulation; stays in the "
        "study folder, not published).", ""]
    write_text_atomic(stage / "report.md", "\n".join(lines))
    return ["report.md", "coverage.csv", "ranks.csv", "methods.csv", FIGURE, "sbc.json"]
