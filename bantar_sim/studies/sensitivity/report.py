"""The report of a sensitivity analysis: tables (CSV), figures (PNG), ``sensitivity.json`` and ``report.md``.

Figures are built with :func:`bantar_sim.reporting.figures.new_figure` (no pyplot state, no backend
switch). SALib draws what it has a figure for: the Sobol S1/ST bars (``SALib.plotting.bar.plot`` on the
``to_df()`` tables) and the Morris mu* bars and mu*–sigma plane
(``SALib.plotting.morris.horizontal_bar_plot``, ``covariance_plot``); the second-order heatmap, the
convergence check and the outputs beside the published data are ours.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from bantar_sim.model.data import table3
from bantar_sim.model.metrics import gini
from bantar_sim.model.params import SPECS
from bantar_sim.reporting.figures import new_figure, save_figure
from bantar_sim.reporting.markdown import frame_table
from bantar_sim.studies.sensitivity.compute import Analysis
from bantar_sim.studies.sensitivity.design import Design
from bantar_sim.studies.sensitivity.spec import Problem

__all__ = ["write_outputs", "plot_all", "influence_summary", "report_markdown"]


def write_outputs(problem: Problem, design: Design, an: Analysis, Y: np.ndarray, seeds: list[int], meta: dict,
                  out_dir: Path) -> list[Path]:
    """Write every table, figure, ``sensitivity.json`` and ``report.md`` of one analysis into ``out_dir``.

    Parameters
    ----------
    problem, design, an :
        What was analysed and how.
    Y : numpy.ndarray
        ``Y[point, replicate, output]`` (``results.csv``).
    seeds : list of int
        The replicate seeds.
    meta : dict
        :func:`bantar_sim.studies.sensitivity.compute.batch_meta` plus the parameter set's provenance.
    out_dir : Path
        The (staging) folder; created if needed.

    Returns
    -------
    list of Path
        The files written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []

    def save_csv(df: pd.DataFrame, name: str) -> None:
        p = out_dir / name
        df.to_csv(p, index=False)
        files.append(p)

    design_df = pd.DataFrame(design.values, columns=design.names)
    design_df.insert(0, "design_point", np.arange(design.n_points))
    save_csv(design_df, "design.csv")
    runs = []
    for r, s in enumerate(seeds):
        d = pd.DataFrame(Y[:, r, :], columns=problem.outputs)
        d.insert(0, "seed", str(s))
        d.insert(0, "replicate", r)
        d.insert(0, "design_point", np.arange(design.n_points))
        runs.append(d)
    save_csv(pd.concat(runs).sort_values(["design_point", "replicate"], kind="stable"), "results.csv")
    save_csv(an.indices, f"{design.method}_indices.csv")
    if design.method == "sobol" and len(an.s2):
        save_csv(an.s2, "sobol_s2.csv")
    save_csv(an.seed_variance, "seed_variance.csv")
    save_csv(an.convergence, "convergence.csv")
    save_csv(an.convergence_summary, "convergence_summary.csv")
    figs = plot_all(problem, design, an, out_dir, base=meta["fixed_params"])
    files += figs
    meta = dict(meta, skipped_outputs=an.skipped, files=[p.name for p in files] + ["report.md", "sensitivity.json"])
    (out_dir / "sensitivity.json").write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    (out_dir / "report.md").write_text(report_markdown(problem, design, an, meta, [p.name for p in figs]),
                                       encoding="utf-8")
    files += [out_dir / "sensitivity.json", out_dir / "report.md"]
    return files


# ------------------------------------------------------------------------------------ figures
def _published(output: str, problem: Problem, base: dict) -> tuple[float, str] | None:
    """The value Table 3 gives for an output, when the runs are comparable (full city, horizon >= 2020)."""
    if base.get("scale", SPECS["scale"].default) != 1.0 or (problem.end_year or 0) < 2020:
        return None
    t3 = table3().consistent
    if output == "winners_2014_2020":
        return float(t3["amount"].sum()), "published (Table 3)"
    if output == "wins_per_rt_gini" and problem.end_year == 2020:
        return gini((t3["amount"] / t3["rts"]).to_numpy()), "published (Table 3)"
    return None


def _grid(n: int, width: float, height: float, layout: str | None = None):
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = new_figure(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    if layout:
        fig.set_layout_engine(layout)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return fig, axes


def _title(problem: Problem, design: Design) -> str:
    return (f"{problem.name}: {design.method.capitalize()} N={design.n}, {design.n_points} points × "
            f"{problem.replications} replications")


def plot_all(problem: Problem, design: Design, an: Analysis, out_dir: Path, *, base: dict | None = None) -> list[Path]:
    """Every figure of the report; returns their paths."""
    outs = [o for o in problem.outputs if o not in an.skipped]
    paths = []
    if outs:
        if design.method == "morris":
            paths.append(_plot_morris(problem, an, outs, out_dir / "morris_mu_star_sigma.png", design))
        else:
            paths.append(_plot_sobol(problem, an, outs, out_dir / "sobol_s1_st.png", design))
            if len(an.s2):
                paths.append(_plot_s2(problem, an, outs, out_dir / "sobol_s2_heatmap.png", design))
        paths.append(_plot_convergence(problem, an, outs, out_dir / "convergence.png", design))
    paths.append(_plot_outputs(problem, an, out_dir / "outputs_vs_published.png", design, base or {}))
    return paths


def _plot_morris(problem, an, outs, path, design):
    """SALib's Morris figures, one row per output: mu* bars with CI, and the mu*–sigma plane."""
    from SALib.plotting.morris import covariance_plot, horizontal_bar_plot
    k = len(design.names)
    fig, axes = new_figure(len(outs), 2, figsize=(11.5, (0.35 * k + 2.4) * len(outs)), squeeze=False)
    for (bar_ax, cov_ax), o in zip(axes, outs):
        d = an.indices[an.indices["output"] == o]
        si = {"names": d["parameter"].tolist(), "mu_star": d["mu_star"].to_numpy(),
              "mu_star_conf": d["mu_star_conf"].to_numpy(), "sigma": d["sigma"].to_numpy(), "mu": d["mu"].to_numpy()}
        label, unit = problem.label(o)
        horizontal_bar_plot(bar_ax, si, opts={"color": "tab:blue"}, unit=f" ({unit} per parameter range)")
        bar_ax.set_title(f"{label}: mu* ± {design.settings['conf_level']:.0%} CI", fontsize=9)
        bar_ax.tick_params(axis="y", labelsize=7)
        covariance_plot(cov_ax, si, unit=f"({unit})")
        for name, x, y in zip(si["names"], si["mu_star"], si["sigma"]):
            cov_ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        cov_ax.set_title(f"{label}: sigma (sd of elementary effects) against mu*", fontsize=9)
    fig.suptitle(f"Morris screening — {_title(problem, design)}")
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def _plot_sobol(problem, an, outs, path, design):
    """SALib's bar chart of the ``to_df()`` tables: S1 and ST per parameter with their CI, one panel per output."""
    from SALib.plotting.bar import plot as barplot
    k = len(design.names)
    fig, axes = _grid(len(outs), max(5.6, 0.5 * k + 2), 4.6)
    for ax, o in zip(axes.flat, outs):
        d = an.indices[an.indices["output"] == o].sort_values("ST", ascending=False).set_index("parameter")
        names = {"S1": "S1 (first order)", "ST": "ST (total)"}
        table = d[["S1", "S1_conf", "ST", "ST_conf"]].rename(
            columns={**names, **{f"{k}_conf": f"{v}_conf" for k, v in names.items()}})
        barplot(table, ax=ax)
        ax.axhline(0, color="0.3", lw=0.8)
        ax.tick_params(axis="x", labelsize=7, labelrotation=60)
        label, unit = problem.label(o)
        ax.set(title=f"{label} ({unit})", xlabel="",
               ylabel=f"Sobol index (share of variance), bars = {design.settings['conf_level']:.0%} CI")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(f"Sobol indices — {_title(problem, design)}")
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def _plot_s2(problem, an, outs, path, design):
    names = design.names
    k = len(names)
    fig, axes = _grid(len(outs), 6.4, 5.4, layout="constrained")
    vmax = max(float(an.s2["S2"].abs().max()), 0.01)
    im = None
    for ax, o in zip(axes.flat, outs):
        d = an.s2[an.s2["output"] == o]
        M = np.full((k, k), np.nan)
        for _, r in d.iterrows():
            M[names.index(r["parameter_1"]), names.index(r["parameter_2"])] = r["S2"]
        im = ax.imshow(M, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        for a in range(k):
            for b in range(a + 1, k):
                ax.text(b, a, f"{M[a, b]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if abs(M[a, b]) > 0.6 * vmax else "black")
        ax.set_xticks(range(k), names, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(k), names, fontsize=7)
        ax.set(title=problem.label(o)[0], xlabel="parameter (second of the pair)",
               ylabel="parameter (first of the pair)")
    fig.colorbar(im, ax=[a for a in axes.flat if a.get_visible()], shrink=0.8,
                 label="S2 (share of output variance from the pair's interaction)")
    fig.suptitle(f"Second-order Sobol indices — {_title(problem, design)}")
    return save_figure(fig, path, dpi=110)


def _plot_convergence(problem, an, outs, path, design):
    h, n = design.n // 2, design.n
    fig, axes = _grid(len(outs), 5.2, 4.4)
    for ax, o in zip(axes.flat, outs):
        d = an.convergence[an.convergence["output"] == o]
        for name, a, b in zip(d["parameter"], d[f"value_n{h}"], d[f"value_n{n}"]):
            ax.plot([0, 1], [a, b], "o-", lw=1)
            ax.annotate(name, (1, b), fontsize=7, xytext=(4, 0), textcoords="offset points", va="center")
        key = d["index"].iloc[0]
        label, unit = problem.label(o)
        ax.set_xticks([0, 1], [f"N = {h}\n(first half)", f"N = {n}\n(full design)"])
        ax.set(title=label, xlim=(-0.2, 1.6), xlabel="design size",
               ylabel=f"{key} ({'share of variance' if key == 'ST' else unit + ' per parameter range'})")
        ax.grid(alpha=0.3)
    fig.suptitle(f"Convergence check: indices at N/2 and N — {_title(problem, design)}")
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def _plot_outputs(problem, an, path, design, base):
    fig, axes = _grid(len(problem.outputs), 5.2, 3.8)
    for j, (ax, o) in enumerate(zip(axes.flat, problem.outputs)):
        col = an.means[:, j]
        col = col[np.isfinite(col)]
        label, unit = problem.label(o)
        if col.size:
            ax.hist(col, bins=min(40, max(5, col.size // 10)), color="tab:blue", alpha=0.7,
                    label=f"simulated (mean of {problem.replications} replications per point)")
        pub = _published(o, problem, base) if problem.model else None
        if pub is not None:
            ax.axvline(pub[0], color="black", ls="--", lw=1.5, label=f"{pub[1]}: {pub[0]:.3g}")
        note = ""
        if problem.model and pub is None:
            note = ("\n(no published value to compare)" if o not in ("winners_2014_2020", "wins_per_rt_gini")
                    else "\n(Table 3 not comparable: needs scale 1 and horizon 2020)")
        ax.set(title=label + note, xlabel=unit, ylabel="design points (count)")
        ax.legend(fontsize=7, loc="upper right")
        ax.grid(alpha=0.3)
    fig.suptitle(f"Outputs across the design beside the published data — {_title(problem, design)}")
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


# ------------------------------------------------------------------------------------ report
def _show(method: str, r, unit: str) -> str:
    if method == "sobol":
        return f"`{r['parameter']}` (ST {r['ST']:.3f} ± {r['ST_conf']:.3f}, S1 {r['S1']:.3f} ± {r['S1_conf']:.3f})"
    return f"`{r['parameter']}` (mu* {r['mu_star']:.3g} ± {r['mu_star_conf']:.3g} {unit}, sigma {r['sigma']:.3g})"


def influence_summary(problem: Problem, an: Analysis) -> list[str]:
    """The closing note's lines: the most and least influential parameter of each output, with their indices."""
    lines = []
    key = an.key
    for o in problem.outputs:
        if o in an.skipped:
            lines.append(f"- {problem.label(o)[0]} (`{o}`): not analysed — {an.skipped[o]}.")
            continue
        d = an.indices[an.indices["output"] == o].sort_values(key, ascending=False)
        top, low = d.iloc[0], d.iloc[-1]
        unit = problem.label(o)[1]
        lines.append(f"- {problem.label(o)[0]} (`{o}`): most influential {_show(an.method, top, unit)}; "
                     f"least influential {_show(an.method, low, unit)}.")
    if an.method == "sobol" and len(an.indices):
        overall = an.indices.groupby("parameter")["ST"].mean().sort_values(ascending=False)
        lines.append(f"- Over all analysed outputs (mean ST): most influential `{overall.index[0]}` "
                     f"({overall.iloc[0]:.3f}), least influential `{overall.index[-1]}` ({overall.iloc[-1]:.3f}).")
    elif len(an.indices):
        norm = an.indices.assign(rel=an.indices["mu_star"] / an.indices.groupby("output")["mu_star"].transform("max"))
        overall = norm.groupby("parameter")["rel"].mean().sort_values(ascending=False)
        lines.append(f"- Over all analysed outputs (mean of mu* relative to each output's largest): most "
                     f"influential `{overall.index[0]}` ({overall.iloc[0]:.2f}), least influential "
                     f"`{overall.index[-1]}` ({overall.iloc[-1]:.2f}).")
    return lines


def _index_table(design: Design, d: pd.DataFrame, unit: str) -> pd.DataFrame:
    if design.method == "sobol":
        return pd.DataFrame({"rank": d["rank"], "parameter": "`" + d["parameter"] + "`",
                             "S1 [CI]": [f"{a:.3f} [{b:.3f}, {c:.3f}]" for a, b, c in zip(d.S1, d.S1_low, d.S1_high)],
                             "ST [CI]": [f"{a:.3f} [{b:.3f}, {c:.3f}]" for a, b, c in zip(d.ST, d.ST_low, d.ST_high)],
                             "ST per replicate (min–max)": [f"{a:.3f}–{b:.3f}" for a, b in
                                                            zip(d.ST_replicate_min, d.ST_replicate_max)]})
    return pd.DataFrame({"rank": d["rank"], "parameter": "`" + d["parameter"] + "`",
                         f"mu* [CI] ({unit})": [f"{a:.3g} [{b:.3g}, {c:.3g}]" for a, b, c in
                                                zip(d.mu_star, d.mu_star_low, d.mu_star_high)],
                         "mu": [f"{v:.3g}" for v in d.mu], "sigma": [f"{v:.3g}" for v in d.sigma],
                         "mu* per replicate (min–max)": [f"{a:.3g}–{b:.3g}" for a, b in
                                                         zip(d.mu_star_replicate_min, d.mu_star_replicate_max)]})


def report_markdown(problem: Problem, design: Design, an: Analysis, meta: dict, figures: list[str]) -> str:
    """``report.md``: set-up, parameters, the seed's share, indices, convergence, figures, closing note."""
    b = meta["batch"]
    rate = f"{b['runs_per_second']:.2f} runs/s" if b["runs_per_second"] else "all runs were already stored"
    past = "; ".join(f"{h['runs']} runs at {h['runs_per_second']:.2f} runs/s (batch {h['batch_id']})"
                     for h in b.get("batches_that_computed_these_runs", []) if h["runs_per_second"])
    pset = meta.get("parameter_set_line", "parameter set: none (a test function)")
    L = [f"# Sensitivity analysis: {problem.name} — {design.method.capitalize()}, N = {design.n}", ""]
    if problem.description:
        L += [problem.description, ""]
    sampler = "Saltelli scheme on a scrambled Sobol’ sequence" if design.method == "sobol" else "Morris trajectories"
    fixed = ", ".join(f"`{k}`={v}" for k, v in meta["fixed_params"].items()) or "model defaults"
    L += ["## Set-up", "",
          f"- Problem file: `{problem.source}`; model version {meta['model_version']}, "
          f"bantar-sim {meta['package_version']}.",
          f"- Starting point: {pset}.",
          f"- Design: SALib {sampler}"
          f" ({', '.join(f'{k}={v}' for k, v in design.settings.items() if k != 'parameters')}), sampler seed "
          f"{meta['sampler_seed']}: {design.n_points} design points × {problem.replications} replications = "
          f"{meta['runs']} runs; each run keeps the table(s) {', '.join(meta.get('run_tables', []))}.",
          f"- Replications: common random numbers — replicate r uses the same seed at every design point "
          f"(seeds spawned from base seed {problem.seed}: {', '.join(meta['replication_seeds'])}); indices are "
          "computed on the replication means.",
          f"- Parameters held fixed: {fixed}"
          " (the parameter set above, then the file's [fixed] and the horizon).",
          f"- Batch: {b['computed_now']} runs computed now, {b['skipped_already_stored']} reused from the store; "
          f"{rate}; mean wall time of a run in a worker {b['mean_run_duration_s'] or float('nan'):.3f} s; batch "
          f"{b['batch_elapsed_s']:.0f} s.",
          f"- Batches that computed these runs (first start to last end, all workers): {past or 'none recorded'}.", "",
          "## Uncertain parameters", "",
          frame_table(pd.DataFrame([{"parameter": f"`{p.name}`", "min": p.low, "max": p.high,
                                     "reason for the range": p.reason} for p in design.parameters]),
                      {"min": lambda v: f"{v:g}", "max": lambda v: f"{v:g}"}), "",
          "## Outputs and the share of their variance due to the seed", "",
          "`seed share (single run)` = mean within-point variance across replications / variance over all runs; "
          "`seed share (means)` = that within-point variance / R over the variance of the replication means that "
          "were analysed: indices below it cannot be told from noise.", ""]
    sv = an.seed_variance.copy()
    if len(sv) and "seed_share_single_run" in sv:
        sv = sv[["output", "mean", "seed_share_single_run", "seed_share_of_means"]].rename(columns={
            "seed_share_single_run": "seed share (single run)", "seed_share_of_means": "seed share (means)"})
        sv["output"] = [f"`{o}` — {problem.label(o)[0]} ({problem.label(o)[1]})" for o in sv["output"]]
        L += [frame_table(sv), ""]
    L += ["## Indices", ""]
    for o in problem.outputs:
        label, unit = problem.label(o)
        L.append(f"### {label} (`{o}`, {unit})")
        if problem.output_reasons.get(o):
            L.append(f"_{problem.output_reasons[o]}_")
        L.append("")
        if o in an.skipped:
            L += [f"Not analysed: {an.skipped[o]}.", ""]
            continue
        d = an.indices[an.indices["output"] == o].sort_values(an.key, ascending=False)
        L += [frame_table(_index_table(design, d, unit)), ""]
    h, n = design.n // 2, design.n
    L += ["## Convergence check", "",
          f"The first half of the design is itself the design for N = {h} (same sampler seed), so the "
          f"analysis is repeated on it and the rankings at N = {h} and N = {n} are set side by side "
          f"(`convergence.csv`). Rerunning with `--n {2 * n}` reuses every run of this design and "
          f"compares N = {n} with N = {2 * n}.", ""]
    if len(an.convergence_summary):
        cs = an.convergence_summary.copy()
        cs["output"] = "`" + cs["output"] + "`"
        L += [frame_table(cs), ""]
    for o in problem.outputs:
        if o in an.skipped:
            continue
        d = an.convergence[an.convergence["output"] == o]
        t = d[["parameter", f"value_n{h}", f"value_n{n}", f"rank_n{h}", f"rank_n{n}"]].sort_values(f"rank_n{n}")
        L += [f"`{o}` ({d['index'].iloc[0]}):", "", frame_table(t), ""]
    L += ["## Figures", ""] + [f"![{f}]({f})" for f in figures] + [""]
    L += ["## Closing note", "", *influence_summary(problem, an), "",
          f"Speed: batches that computed these runs: {past or 'none recorded'}. "
          + (f"This invocation computed {b['computed_now']} runs in {b['batch_elapsed_s']:.0f} s wall ({rate})"
             if b["computed_now"] else "This invocation computed no run (all were stored)")
          + f"; mean wall time of a run in a worker {b['mean_run_duration_s'] or float('nan'):.3f} s; load average of "
          f"the machine at the end {meta.get('load_average', float('nan')):.1f} (other work on the machine slows "
          "the batch; benchmarks/bench_sensitivity.py gives CPU seconds per run).", ""]
    return "\n".join(L)
