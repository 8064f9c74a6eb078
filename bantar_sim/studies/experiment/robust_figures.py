"""The figures of an [uncertain] experiment (issue 16): effect distributions per arm, P(A beats B) matrix,
dose–response over the strengths, PRIM peeling trajectory and box, persistence after withdrawal.

Built with :func:`bantar_sim.reporting.figures.new_figure` (no pyplot). Every figure says what it draws:
distributions are over scenarios (one paired effect per scenario, mean of its seed repeats).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bantar_sim.model.metrics import METRICS
from bantar_sim.reporting.figures import arm_colours, new_figure


def _label(metric: str) -> str:
    info = METRICS.get(metric)
    return f"{info.label} ({info.unit})" if info else metric


def plot_distributions(scen: pd.DataFrame, dist: pd.DataFrame, metrics: Sequence[str], arms: Sequence[str],
                       path: Path, *, title: str) -> None:
    """One panel per metric: each arm's paired effects over the scenarios (box 5–95%, dots, median),
    annotated with P(effect > 0).
    """
    metrics = [m for m in metrics if m in set(scen["metric"])]
    colours = arm_colours(["baseline", *arms])
    ncol = min(3, max(len(metrics), 1))
    nrow = max(math.ceil(len(metrics) / ncol), 1)
    fig, axes = new_figure(nrow, ncol, figsize=(5.4 * ncol, 0.5 * len(arms) * nrow + 1.8 * nrow + 0.8), squeeze=False)
    y = np.arange(len(arms))[::-1]
    rng = np.random.default_rng(0)
    for ax, metric in zip(axes.flat, metrics):
        for yi, arm in zip(y, arms):
            x = scen.loc[(scen["arm"] == arm) & (scen["metric"] == metric), "effect"].to_numpy(float)
            x = x[np.isfinite(x)]
            if not x.size:
                continue
            c = colours[arm]
            ax.plot([np.quantile(x, 0.05), np.quantile(x, 0.95)], [yi, yi], "-", color=c, linewidth=5, alpha=0.35)
            ax.scatter(x, yi + rng.uniform(-0.18, 0.18, x.size), s=8, color=c, alpha=0.6, linewidths=0)
            ax.plot(np.median(x), yi, "|", color="black", markersize=14, markeredgewidth=2)
            d = dist[(dist["arm"] == arm) & (dist["metric"] == metric)]
            if not d.empty:
                ax.annotate(f"P>0 {d['p_positive'].iloc[0]:.2f}", (1.0, yi), xycoords=("axes fraction", "data"),
                            xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(y, arms, fontsize=8)
        ax.set_title(_label(metric), fontsize=9)
        ax.set_xlabel("paired effect vs baseline, per scenario", fontsize=8)
        ax.grid(alpha=0.3, axis="x")
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    fig.suptitle(title + "\n(dots: scenarios; band: 5–95%; black tick: median)", fontsize=11)
    fig.tight_layout(rect=(0, 0, 0.96, 0.93))
    fig.savefig(path, dpi=110)


def plot_beats(matrix: pd.DataFrame, path: Path, *, title: str) -> None:
    """Heat map of P(row arm beats column arm) over the scenarios, with the values written in."""
    arms = list(matrix.index)
    n = len(arms)
    fig, ax = new_figure(figsize=(1.1 * n + 3, 0.9 * n + 2))
    im = ax.imshow(matrix.to_numpy(float), vmin=0, vmax=1, cmap="RdBu")
    for i in range(n):
        for j in range(n):
            v = matrix.iloc[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if abs(v - 0.5) > 0.35 else "black")
    ax.set_xticks(range(n), arms, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(n), arms, fontsize=8)
    ax.set_xlabel("arm B")
    ax.set_ylabel("arm A")
    fig.colorbar(im, ax=ax, label="P(A beats B) over scenarios")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_dose(curves: pd.DataFrame, path: Path, *, title: str, metric: str) -> None:
    """One panel per (arm, strength input): binned median effect with its 5–95% band over the scenarios."""
    c = curves[curves["metric"] == metric]
    pairs = list(dict.fromkeys(zip(c["arm"], c["input"])))
    ncol = min(4, max(len(pairs), 1))
    nrow = max(math.ceil(len(pairs) / ncol), 1)
    fig, axes = new_figure(nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow + 0.8), squeeze=False)
    colour = arm_colours(["baseline", "x"])["x"]
    for ax, (arm, col) in zip(axes.flat, pairs):
        d = c[(c["arm"] == arm) & (c["input"] == col)].sort_values("x_mid")
        ax.fill_between(d["x_mid"], d["q05"], d["q95"], color=colour, alpha=0.2, linewidth=0, label="5–95%")
        ax.plot(d["x_mid"], d["median"], "o-", color=colour, markersize=4, label="median")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_title(arm, fontsize=9)
        ax.set_xlabel(col, fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(pairs):]:
        ax.set_visible(False)
    if pairs:
        info = METRICS.get(metric)
        axes[0, 0].set_ylabel(f"paired effect vs baseline\n({info.unit if info else metric})", fontsize=8)
        axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{title}\n{_label(metric)}", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.8 / (3.2 * nrow + 0.8)))
    fig.savefig(path, dpi=110)


def plot_prim(results: Sequence, path: Path, *, title: str) -> None:
    """Per arm with a box: the peeling trajectory (coverage vs density, colour = restricted inputs, the chosen
    box circled) and the first box's limits as bars over each bounding input's range (scaled to 0–1).
    """
    with_box = [r for r in results if r.status == "boxes"]
    nrow = max(len(with_box), 1)
    fig, axes = new_figure(nrow, 2, figsize=(11, 3.4 * nrow + 0.6), squeeze=False)
    for (ax_t, ax_b), r in zip(axes, with_box):
        t = r.trajectory[r.trajectory["box"] == 1]
        sc = ax_t.scatter(t["coverage"], t["density"], c=t["res_dim"], cmap="viridis", s=18)
        ch = t[t["chosen"]]
        ax_t.scatter(ch["coverage"], ch["density"], s=120, facecolors="none", edgecolors="red", linewidths=1.5)
        ax_t.set(xlabel="coverage", ylabel="density", xlim=(0, 1.05), ylim=(0, 1.05))
        ax_t.set_title(f"{r.arm}: peeling trajectory ({r.n_fail} of {r.n_scenarios} scenarios fail)", fontsize=9)
        ax_t.figure.colorbar(sc, ax=ax_t, label="inputs bounding the box")
        ax_t.grid(alpha=0.3)
        lim = r.limits[r.limits["box"] == 1]
        for i, (_, row) in enumerate(lim.iterrows()):
            span = row["range_max"] - row["range_min"] or 1.0
            lo, hi = (row["min"] - row["range_min"]) / span, (row["max"] - row["range_min"]) / span
            ax_b.plot([0, 1], [i, i], color="0.8", linewidth=6)
            ax_b.plot([lo, hi], [i, i], color="tab:red", linewidth=6)
            ax_b.text(1.02, i, f"[{row['min']:.3g}, {row['max']:.3g}]", va="center", fontsize=7)
        ax_b.set_yticks(range(len(lim)), list(lim["input"]), fontsize=8)
        ax_b.set_xlim(0, 1.35)
        ax_b.set_xlabel("position in the input's range (0 = lowest sampled, 1 = highest)", fontsize=8)
        b = r.boxes.iloc[0]
        ax_b.set_title(f"box 1: coverage {b['coverage']:.2f}, density {b['density']:.2f}", fontsize=9)
    if not with_box:
        axes[0, 0].text(0.5, 0.5, "no arm has a failure box:\n" + "; ".join(f"{r.arm}: {r.status}" for r in results),
                        ha="center", va="center", fontsize=9, transform=axes[0, 0].transAxes)
        axes[0, 1].set_visible(False)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (3.4 * nrow + 0.6)))
    fig.savefig(path, dpi=110)


def plot_persistence(pers: pd.DataFrame, lives: pd.DataFrame, path: Path, *, title: str) -> None:
    """One panel per series: each withdrawing arm's median paired effect by year after withdrawal with its
    5–95% band over the scenarios, and the fitted half-life in the legend.
    """
    series = list(dict.fromkeys(pers["series"]))
    arms = list(dict.fromkeys(pers["arm"]))
    colours = arm_colours(["baseline", *arms])
    fig, axes = new_figure(1, max(len(series), 1), figsize=(6 * max(len(series), 1), 4.4), squeeze=False)
    for ax, s in zip(axes.flat, series):
        for arm in arms:
            d = pers[(pers["arm"] == arm) & (pers["series"] == s)].sort_values("years_after")
            hl = lives[(lives["arm"] == arm) & (lives["series"] == s)]
            note = ""
            if not hl.empty:
                h = hl.iloc[0]
                note = f" (half-life {h['half_life']:.1f} y, {h['status']})" if np.isfinite(h["half_life"]) \
                    else f" ({h['status']})"
            ax.fill_between(d["years_after"], d["q05"], d["q95"], color=colours[arm], alpha=0.15, linewidth=0)
            ax.plot(d["years_after"], d["median"], "o-", color=colours[arm], markersize=4, label=arm + note)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set(xlabel="years after the last policy year (0 = last year the levers act)",
               ylabel=f"paired effect on {s.replace('_', ' ')}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.92))
    fig.savefig(path, dpi=110)
