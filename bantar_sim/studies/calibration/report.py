"""What a calibration writes: figures, the calibrated-set TOML and the summary text.

Figures are drawn without pyplot (:func:`bantar_sim.reporting.figures.new_figure`), so calling these from
a notebook never switches its backend; the epsilon, acceptance-rate and model-probability panels are
pyabc's own (:mod:`pyabc.visualization`) drawn into our axes.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from bantar_sim.engine.outputs import write_text_atomic
from bantar_sim.model.data import SUBDISTRICTS, YEARS
from bantar_sim.model.params import SPECS
from bantar_sim.reporting.figures import new_figure, save_figure
from bantar_sim.studies.calibration.stats import StatSpec
from bantar_sim.studies.calibration.targets import Variant

START_YEAR = YEARS[0]


def _axis_label(name: str) -> str:
    unit = SPECS[name].unit
    return f"{name}" + (f" ({unit})" if unit != "-" else "")


def plot_pairs(df: pd.DataFrame, w: np.ndarray, variant: Variant, path: Path, title: str,
               truth: Mapping | None = None) -> None:
    """Posterior pairs over the prior box: weighted histograms on the diagonal, weighted scatter below."""
    names = [p.name for p in variant.priors]
    pri = {p.name: p for p in variant.priors}
    k = len(names)
    fig, axes = new_figure(k, k, figsize=(2.1 * k + 1, 2.1 * k + 1), squeeze=False)
    wn = w / w.sum()
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            ax = axes[i, j]
            if j > i:
                ax.axis("off")
                continue
            if i == j:
                ax.hist(df[a], bins=20, range=(pri[a].low, pri[a].high), weights=wn, color="tab:blue", alpha=0.7)
                ax.axhline(1 / 20, color="0.5", ls=":", lw=1)   # the uniform prior's mass per bin
                ax.set_ylabel("posterior mass" if j == 0 else "")
                if truth:
                    ax.axvline(truth[a], color="red", lw=1.5)
            else:
                ax.scatter(df[b], df[a], s=4 + 400 * wn, alpha=0.4, color="tab:blue", lw=0)
                ax.set_ylim(pri[a].low, pri[a].high)
                if truth:
                    ax.plot(truth[b], truth[a], "r*", ms=9)
            ax.set_xlim(pri[b].low, pri[b].high)
            if i == k - 1:
                ax.set_xlabel(_axis_label(b), fontsize=8)
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(_axis_label(a), fontsize=8)
            elif j > 0:
                ax.set_yticklabels([])
            ax.tick_params(labelsize=7)
    extra = "; red: true values" if truth else ""
    fig.suptitle(f"{title}\nposterior pairs (axes span the uniform priors; point size ∝ weight; dotted: prior{extra})")
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.08, top=0.92, wspace=0.08, hspace=0.08)
    save_figure(fig, path, dpi=90)


def plot_predictive(pred: dict, obs: dict, spec: StatSpec, path_city: Path, path_sd: Path, label: str,
                    obs_label: str = "published (Table 3)") -> None:
    """Posterior predictive medians and 90% intervals against the observations: city per year, and per
    sub-district (cumulative winners, proposing RTs; held-out years when there are any).
    """
    years = np.array(YEARS)
    city = pred["won"].sum(axis=2)
    lo, med, hi = np.quantile(city, [0.05, 0.5, 0.95], axis=0)
    fig, ax = new_figure(figsize=(8, 5))
    ax.fill_between(years, lo, hi, color="tab:blue", alpha=0.25, label=f"posterior predictive 90% ({len(city)} runs)")
    ax.plot(years, med, "o-", color="tab:blue", label="posterior predictive median")
    ax.plot(years, obs["won"].sum(axis=1), "s--", color="black", label=obs_label)
    if spec.last_year < YEARS[-1]:
        ax.axvspan(spec.last_year + 0.5, YEARS[-1] + 0.5, color="orange", alpha=0.15,
                   label=f"held out ({spec.last_year + 1}–{YEARS[-1]})")
    ax.set(title=f"Kampung Bantar winners per year, Jambi City — {label}", xlabel="year",
           ylabel="winning RTs (count per year)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path_city, dpi=110)

    x = np.arange(len(SUBDISTRICTS))
    ny = spec.last_year - START_YEAR + 1
    panels = [(pred["won"].sum(axis=1), obs["won"].sum(axis=0),
               "Cumulative winners per sub-district, 2014–2020", "winning RTs (count, 2014–2020)"),
              (pred["proposals"], obs["proposals"],
               "RTs proposed to the city at least once, 2014–2020", "RTs (count)")]
    if spec.last_year < YEARS[-1]:
        panels = [(pred["won"][:, y - START_YEAR], obs["won"][y - START_YEAR],
                   f"Held-out winners per sub-district, {y}", f"winning RTs in {y} (count)")
                  for y in YEARS[ny:]] + panels[:1]
    fig, axes = new_figure(len(panels), 1, figsize=(11, 3.8 * len(panels)), squeeze=False)
    for ax, (sim, o, title, ylabel) in zip(axes[:, 0], panels):
        lo, med, hi = np.quantile(sim, [0.05, 0.5, 0.95], axis=0)
        ax.bar(x - 0.2, o, width=0.4, color="0.3", label=obs_label)
        ax.bar(x + 0.2, med, width=0.4, color="tab:blue", yerr=np.vstack([med - lo, hi - med]), capsize=3,
               label="posterior predictive median, 90% interval")
        ax.set_xticks(x, SUBDISTRICTS, rotation=30, ha="right")
        ax.set(title=f"{title} — {label}", ylabel=ylabel, xlabel="sub-district")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    save_figure(fig, path_sd, dpi=100)


def plot_history(history, path: Path, label: str) -> None:
    """Epsilon schedule and acceptance rate per generation (pyabc.visualization panels)."""
    from matplotlib.ticker import MaxNLocator
    from pyabc.visualization import plot_acceptance_rates_trajectory, plot_epsilons
    fig, ax = new_figure(1, 2, figsize=(10, 4))
    plot_epsilons(history, ax=ax[0], title=f"Epsilon schedule — {label}")
    ax[0].set(xlabel="generation", ylabel="epsilon (scaled L1 distance)")
    # pyabc's yscale="log" plots log10 of the rates; a log axis over the rates themselves reads better
    plot_acceptance_rates_trajectory(history, ax=ax[1], title="Acceptance rate per generation")
    ax[1].set(xlabel="generation", ylabel="accepted / simulated (share)", yscale="log")
    ax[1].xaxis.set_major_locator(MaxNLocator(integer=True))
    for a in ax:
        a.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def plot_reference(distance: np.ndarray, passes: np.ndarray | None, threshold: float, path: Path, label: str) -> None:
    """How the reference table's simulations lie around the data: the distance histogram with the acceptance
    threshold, and (with the pattern group) which of them show the secondary patterns.
    """
    fig, ax = new_figure(1, 1, figsize=(9, 4.2))
    d = np.asarray(distance, float)
    bins = np.linspace(0.0, float(np.quantile(d, 0.99)) * 1.05, 50)
    if passes is None:
        ax.hist(d, bins=bins, color="0.6", label="prior simulations")
    else:
        ok = np.asarray(passes, bool)
        ax.hist([d[~ok], d[ok]], bins=bins, stacked=True, color=["0.7", "tab:green"],
                label=["prior simulations failing patterns 3-4", "showing patterns 3-4"])
    ax.axvline(threshold, color="tab:red", lw=2, label=f"acceptance distance {threshold:.3g} "
               f"({int((d <= threshold).sum())} of {len(d)} accepted)")
    ax.set(title=f"Reference table: distance of each prior simulation to the data — {label}",
           xlabel="distance to the observed statistics (MAD-scaled Euclidean)", ylabel="simulations (count)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def plot_model_probabilities(history, path: Path) -> None:
    """Posterior model probabilities per generation (pyabc.visualization)."""
    from pyabc.visualization import plot_model_probabilities as pyabc_plot
    fig, ax = new_figure(figsize=(8, 4.5))
    pyabc_plot(history, ax=ax, title="Posterior model probabilities per ABC-SMC generation (uniform model prior)")
    ax.set(xlabel="generation", ylabel="posterior model probability")
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


# ------------------------------------------------------------------------------- the calibrated set
def toml_value(v) -> str:
    """A Python scalar (or a list of them) as a TOML value."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return json.dumps(str(v))


def calibrated_toml(values: Mapping, provenance: Mapping, summary: pd.DataFrame,
                    promotion: Mapping | None = None) -> str:
    """The text of a calibrated-set file (:func:`bantar_sim.studies.inputs.read_calibrated` reads it).

    Parameters
    ----------
    values : mapping
        ``[params]``: the settings and the calibrated parameters' values.
    provenance : mapping
        ``[provenance]``; must hold ``model_version`` and ``calibrated_parameters``.
    summary : DataFrame
        The posterior summary, written as comments.
    promotion : mapping, optional
        ``[promotion]``: what a promotion replaced (see :mod:`~bantar_sim.studies.calibration.promote`).
    """
    lines = ["# The calibrated parameter set: an accepted particle of the ABC-SMC calibration against Table 3 (and",
             "# patterns 3-4; `point` below says which), with the simulation settings it was calibrated at.",
             "# Written by `bantar-sim calibrate` into its result folder; made the shipped set only by",
             "# `bantar-sim calibrate --promote RESULT_FOLDER`. Read by bantar_sim.studies.inputs.read_calibrated().",
             "", "[params]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
    lines += ["", "[provenance]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in provenance.items() if v is not None]
    if promotion:
        lines += ["", "[promotion]"]
        lines += [f"{k} = {toml_value(v)}" for k, v in promotion.items() if v is not None]
    lines += ["", "# posterior median [5%, 95%] per calibrated parameter"]
    lines += [f"# {r.parameter}: {r.median:.4g} [{r.q05:.4g}, {r.q95:.4g}]" for r in summary.itertuples()]
    return "\n".join(lines) + "\n"


def write_calibrated_toml(path: Path, values: Mapping, provenance: Mapping, summary: pd.DataFrame,
                          promotion: Mapping | None = None) -> None:
    """Write :func:`calibrated_toml` atomically."""
    write_text_atomic(path, calibrated_toml(values, provenance, summary, promotion))


# ------------------------------------------------------------------------------------ summary text
def posterior_lines(name: str, summary: pd.DataFrame) -> list[str]:
    """The summary's lines for one model's posterior."""
    lines = [f"\nposterior of model '{name}' (median [5%, 95%]; interval / prior width"
             + ("; truth; verdict)" if "verdict" in summary else ")")]
    for r in summary.to_dict("records"):
        s = (f"  {r['parameter']:<28} {r['median']:9.4g} [{r['q05']:.4g}, {r['q95']:.4g}]  "
             f"{r['interval_over_prior']:.2f}")
        if "verdict" in r:
            s += f"  truth {r['truth']:.4g}: {r['verdict']}"
        lines.append(s)
    return lines


def fit_lines(metrics: pd.DataFrame, runs: int) -> list[str]:
    """The summary's lines for the posterior predictive fit."""
    lines = [f"\nfit (posterior predictive, {runs} runs): 90%-interval coverage and error of the median"]
    for r in metrics.to_dict("records"):
        lines.append(f"  {r['target']:<58} {r['inside_90']:>3}/{r['n']:<3} inside  "
                     f"RMSE {r['rmse_median']:.1f}  total observed {r['observed_total']:.0f}, "
                     f"predicted {r['predicted_total_median']:.0f}")
    return lines


def heldout_lines(ho: pd.DataFrame) -> list[str]:
    """The summary's lines for the held-out years."""
    lines = []
    for y, g in ho.groupby("year"):
        city = g[g.area == "Jambi City (all)"].iloc[0]
        sds = g[g.area != "Jambi City (all)"]
        lines.append(f"  held-out {y}: city published {city.published:.0f}, predicted {city['median']:.0f} "
                     f"[{city.q05:.0f}, {city.q95:.0f}] -> {'inside' if city.inside_90 else 'OUTSIDE'}; "
                     f"sub-districts inside: {int(sds.inside_90.sum())}/{len(sds)}")
    return lines


def calibrated_line(values: Mapping, variant: Variant, distance: float, chosen: Mapping, filtered: bool) -> str:
    """One line naming the calibrated point and how it was chosen (never "passing" when none passed)."""
    if not filtered:
        how = "best-fitting accepted particle"
    elif chosen.get("point"):
        how = str(chosen["point"])
        if chosen.get("point_passes_patterns") is False:
            how += "; the point does NOT show the patterns when re-simulated, not promotable"
    elif chosen.get("particles_passing_patterns", 0) > 0:
        how = "weighted medoid of the passing particles"
    else:
        how = "NO particle passes the patterns: best-fitting particle, not promotable"
    vals = ", ".join(f"{p.name} = {values[p.name]:.4g}" for p in variant.priors)
    return f"\ncalibrated set ({how}; distance {distance:.3g}): {vals}"
