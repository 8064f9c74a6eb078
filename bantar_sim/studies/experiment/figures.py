"""The figures of a policy experiment: time series per arm, forest plot of effects, sustainability curve,
dose-response curves of the sweeps.

Built with :func:`bantar_sim.reporting.figures.new_figure` (no pyplot, no backend switch). Every figure
names the statistic it draws: medians and replication bands for the series, means of paired differences
with 95% t intervals for the effects, means with 95% t intervals for the sustainability curve.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bantar_sim.model.metrics import METRICS
from bantar_sim.reporting.figures import arm_colours, new_figure, observed_winners
from bantar_sim.studies.experiment.compute import BASELINE, SERIES, TIMESERIES_PANELS, t_interval
from bantar_sim.studies.experiment.spec import value_text


def plot_timeseries(bands: pd.DataFrame, arms: Sequence[str], path: Path, *, title: str, window_start: int,
                    rt_share: float, n_reps: int) -> None:
    """Median per arm with its 90% (filled) and 95% (dotted) replication bands; Table 3 drawn in."""
    colors = arm_colours(arms, BASELINE)
    obs = observed_winners(rt_share)
    panels = [p for p in TIMESERIES_PANELS if p in set(bands["variable"])]
    kencana = bands[bands["variable"] == "kencana"]
    if "awareness" in set(bands["variable"]) and (kencana.empty or kencana["q975"].max() == 0):
        panels = [("awareness" if p == "kencana" else p) for p in panels]   # no Kencana arm: show awareness
    ncol = 3
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = new_figure(nrow, ncol, figsize=(6 * ncol, 4.3 * nrow), squeeze=False)
    for ax, var in zip(axes.flat, panels):
        label, unit = SERIES[var]
        for arm in [a for a in arms if a != BASELINE] + [BASELINE]:
            b = bands[(bands["arm"] == arm) & (bands["variable"] == var)].sort_values("year")
            if b.empty:
                continue
            c = colors[arm]
            ax.fill_between(b["year"], b["q05"], b["q95"], color=c, alpha=0.15, linewidth=0)
            ax.plot(b["year"], b["q025"], ":", color=c, linewidth=0.8)
            ax.plot(b["year"], b["q975"], ":", color=c, linewidth=0.8)
            ax.plot(b["year"], b["q50"], "-", color=c, linewidth=1.8 if arm == BASELINE else 1.4, label=arm)
        if var in obs:
            o = obs[var]
            scaled = "" if abs(rt_share - 1) < 1e-9 else f" × {rt_share:.3g}"
            ax.plot(o.index, o.to_numpy(), "s--", color="black", markersize=5, linewidth=1,
                    label=f"published, Table 3{scaled} (the simulated city's share of the RTs)")
        ax.axvline(window_start - 0.5, color="0.5", linestyle="--", linewidth=0.8)
        ax.set(title=label, xlabel="year", ylabel=unit)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), frameon=False)
    fig.suptitle(f"{title}: median of {n_reps} replications per arm, 90% band (shaded) and 95% band (dotted); "
                 f"dashed line: policy start {window_start}", fontsize=12)
    fig.tight_layout(rect=(0, 0.07 if len(labels) <= 6 else 0.11, 1, 0.95))
    fig.savefig(path, dpi=110)


def plot_forest(effects: pd.DataFrame, metrics: Sequence[str], arms: Sequence[str], path: Path, *,
                title: str) -> None:
    """One panel per metric: each arm's mean paired difference vs baseline with its 95% CI."""
    colors = arm_colours(arms, BASELINE)
    metrics = [m for m in metrics if m in set(effects["metric"])]
    others = [a for a in arms if a != BASELINE]
    ncol = min(4, max(len(metrics), 1))
    nrow = max(math.ceil(len(metrics) / ncol), 1)
    fig, axes = new_figure(nrow, ncol, figsize=(4.6 * ncol, 0.45 * len(others) * nrow + 1.6 * nrow + 0.8),
                           squeeze=False, sharey=True)
    y = np.arange(len(others))[::-1]
    for ax, metric in zip(axes.flat, metrics):
        e = effects[effects["metric"] == metric].set_index("arm").reindex(others)
        for yi, arm in zip(y, others):
            row = e.loc[arm]
            if not np.isfinite(row["effect"]):
                continue
            lo, hi = row["ci_low"], row["ci_high"]
            if np.isfinite(lo):
                ax.plot([lo, hi], [yi, yi], "-", color=colors[arm], linewidth=2)
            ax.plot(row["effect"], yi, "o", color=colors[arm], markersize=6)
        ax.axvline(0, color="black", linewidth=0.8)
        info = METRICS.get(metric)
        ax.set_title(info.label if info else metric, fontsize=10)
        ax.set_xlabel(f"mean paired effect vs baseline ({info.unit if info else ''})")
        ax.set_yticks(y, others)
        ax.grid(alpha=0.3, axis="x")
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(path, dpi=110)


def plot_sustainability(curve: pd.DataFrame, arms: Sequence[str], path: Path, *, title: str) -> None:
    """Share of awarded RTs still active k years after the award, per arm, with a 95% CI of the mean."""
    colors = arm_colours(arms, BASELINE)
    fig, ax = new_figure(figsize=(8, 5))
    offs = np.linspace(-0.15, 0.15, max(len(arms), 1))
    for off, arm in zip(offs, arms):
        c = curve[curve["arm"] == arm]
        if c.empty:
            continue
        ks, means, los, his = [], [], [], []
        for k, g in c.groupby("years_after"):
            mean, lo, hi, _, n = t_interval(g["share_active"])
            if n:
                ks.append(k + off), means.append(mean), los.append(lo if np.isfinite(lo) else mean)
                his.append(hi if np.isfinite(hi) else mean)
        means, los, his = np.array(means), np.array(los), np.array(his)
        ax.errorbar(ks, means, yerr=[means - los, his - means], fmt="o-", color=colors[arm], capsize=3, label=arm)
    ax.set(title=title, xlabel="years since the RT's first Bantar award",
           ylabel="awarded RTs still holding the label and practising\n(share; mean over replications, 95% CI)",
           ylim=(0, 1.05))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)




def _positions(values: Sequence) -> tuple[np.ndarray, list[str] | None]:
    """The x positions of a sweep's values: the numbers themselves, or 0, 1, ... with labels (booleans, choices)."""
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
           for v in values):
        return np.asarray(values, float), None
    return np.arange(len(values), dtype=float), [value_text(v) for v in values]


def plot_dose_response(dose: pd.DataFrame, sweeps: Sequence, metrics: Sequence[str], path: Path, *, title: str,
                       baseline_values: dict | None = None) -> None:
    """One row of panels per sweep, one column per metric: the effect vs the lever's value with 95% CIs.

    The y axes are shared within a column (a metric), so the sweeps' rows compare the levers' reach; a
    black line marks no effect and a dotted grey line the baseline's own value of the lever.
    """
    metrics = [m for m in metrics if m in set(dose["metric"])]
    nrow, ncol = max(len(sweeps), 1), max(len(metrics), 1)
    fig, axes = new_figure(nrow, ncol, figsize=(4.3 * ncol + 0.8, 2.5 * nrow + 1.4), squeeze=False, sharey="col")
    colour = arm_colours(["baseline", "sweep"])["sweep"]
    for i, sw in enumerate(sweeps):
        d = dose[dose["sweep"] == sw.name]
        x_of, labels = _positions(list(sw.values))
        for j, metric in enumerate(metrics):
            ax = axes[i, j]
            e = d[d["metric"] == metric]
            eff, lo, hi = (e[c].to_numpy(float) for c in ("effect", "ci_low", "ci_high"))
            lo, hi = np.where(np.isfinite(lo), lo, eff), np.where(np.isfinite(hi), hi, eff)
            x = x_of[: len(e)]
            ax.axhline(0, color="black", linewidth=0.8)
            ax.errorbar(x, eff, yerr=[eff - lo, hi - eff], fmt="o-", color=colour, capsize=3, markersize=4)
            base_value = (baseline_values or {}).get(sw.lever)
            if labels is None and isinstance(base_value, (int, float)) and not isinstance(base_value, bool):
                ax.axvline(base_value, color="0.5", linestyle=":", linewidth=1)
            if labels is not None:
                ax.set_xticks(x_of, labels)
            elif len(x) and x.min() >= 0 and np.any(x > 0) and x.max() / x[x > 0].min() > 30:
                # e.g. 0, 3, 10, 40, 150 awards: linear up to the smallest positive value, logarithmic beyond
                low = float(x[x > 0].min())
                ax.set_xscale("symlog", linthresh=low, linscale=0.5)
                ax.set_xlim(-0.3 * low, float(x.max()) * 1.4)
                ax.set_xticks(x, [value_text(v) for v in sw.values[: len(x)]], fontsize=7)
                ax.minorticks_off()
            ax.set_xlabel(sw.lever, fontsize=8)
            ax.grid(alpha=0.3)
            if i == 0:
                info = METRICS.get(metric)
                ax.set_title(f"{info.label}\n({info.unit})" if info else metric, fontsize=9)
            if j == 0:
                # The sweep's other settings are in the report's table; here only whether there are any, so a
                # long `set` cannot run into the next row's label.
                n_set = len(sw.settings)
                extra = f"\n(+ {n_set} other setting{'s' if n_set > 1 else ''})" if n_set else ""
                ax.set_ylabel(f"{sw.name}{extra}\neffect vs baseline", fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (2.5 * nrow + 1.4)))
    fig.savefig(path, dpi=100)
