"""The forecast check's report: ``report.md`` (tables and plain verdicts), the figure, and its published copy.

Kept apart from the computation (:mod:`bantar_sim.studies.calibration.forecast`): this module only reads
the score tables it is given. :func:`publish_forecast` copies a finished check into
``calibration/results/forecast/`` and :func:`forecast_results_markdown` writes calibration/README.md's
passage from that copy.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from bantar_sim.model.version import MODEL_VERSION
from bantar_sim.reporting.figures import OBSERVED_COLOUR, new_figure, save_figure
from bantar_sim.reporting.markdown import fmt, markdown_table
from bantar_sim.studies.calibration.published import publish_result, stale_note

NAIVE_LABELS = {"last": "last year's count", "mean": "mean of the training years"}



def method_text(prov: dict) -> str:
    """How each origin was calibrated (older records, made before the method option, were ABC-SMC)."""
    if prov.get("calibration_method"):
        return str(prov["calibration_method"])
    s = prov["settings"]
    return (f"ABC-SMC, population {s['population_size']}, up to {s['max_populations']} generations and "
            f"{fmt(s['max_walltime'])} minutes")

def verdict_lines(summary: pd.DataFrame) -> list[str]:
    """One plain sentence per origin, level and naive forecast: does the model beat it (all horizons)?

    "Beats" means a lower mean CRPS (skill score > 0); the 90% coverage is quoted beside it because a
    forecast can win on CRPS with intervals that are too narrow.

    Parameters
    ----------
    summary : DataFrame
        :func:`~bantar_sim.studies.calibration.forecast.summarise_scores`.

    Returns
    -------
    list of str
    """
    lines = []
    for _, r in summary[summary["horizon"] == "all"].iterrows():
        for k, label in NAIVE_LABELS.items():
            skill = r[f"skill_vs_{k}"]
            if not np.isfinite(skill):
                word = "cannot be compared with"
            else:
                word = "beats" if skill > 0 else "does NOT beat"
            lines.append(f"origin {r['origin']}, {r['level']}-years: the model {word} {label} "
                         f"(CRPS {fmt(r['crps_model'])} vs {fmt(r[f'crps_{k}'])}, skill {fmt(skill, 2)}; "
                         f"90% coverage model {fmt(r['coverage90_model'], 2)}, naive {fmt(r[f'coverage90_{k}'], 2)}, "
                         f"n = {r['n']})")
    return lines


def summary_table(summary: pd.DataFrame, origin: int) -> str:
    """The Markdown table of one origin: CRPS, skill scores and 90% coverage per level and horizon."""
    rows = []
    for _, r in summary[summary["origin"] == origin].iterrows():
        rows.append([r["level"], r["horizon"], r["n"], fmt(r["crps_model"]), fmt(r["crps_last"]), fmt(r["crps_mean"]),
                     fmt(r["skill_vs_last"], 2), fmt(r["skill_vs_mean"], 2), fmt(r["coverage90_model"], 2),
                     fmt(r["coverage90_last"], 2), fmt(r["coverage90_mean"], 2)])
    return markdown_table(["level", "horizon", "n", "CRPS model", "CRPS last", "CRPS mean", "skill vs last",
                           "skill vs mean", "cov90 model", "cov90 last", "cov90 mean"], rows)


def write_report(path: Path, prov: Mapping, summary: pd.DataFrame, verdicts: list[str]) -> None:
    """Write ``report.md``: command, seed, model version, commit, settings, a table per origin, verdicts.

    Parameters
    ----------
    path : Path
        The file to write.
    prov : mapping
        ``command, seed, model_version, git_commit, date, priors, settings, wall_clock_s_per_origin``.
    summary : DataFrame
        :func:`~bantar_sim.studies.calibration.forecast.summarise_scores`.
    verdicts : list of str
        :func:`verdict_lines`.
    """
    s = prov["settings"]
    lines = ["# Rolling-origin forecasts", "",
             f"- command: `{prov['command']}`", f"- seed: {prov['seed']}",
             f"- model version: {prov['model_version']}", f"- commit: {prov['git_commit']}",
             f"- date: {prov['date']}", f"- priors: {prov['priors']} (frozen: no data year after 2016)",
             f"- calibration per origin: {method_text(prov)}",
             "- settings: " + ", ".join(f"{k} {s.get(k)}" for k in (
                 "origins", "predictive_runs", "scale", "households_per_rt", "naive_draws", "executor", "workers")),
             "- wall-clock per origin (s): " + ", ".join(f"{o}: {t}" for o, t in
                                                          prov["wall_clock_s_per_origin"].items()),
             "",
             "Each origin is calibrated on 2014–origin (held-out mode of `bantar-sim calibrate`, results in "
             "`origin_<year>/`) and its posterior predictive scored against Table 3 (at the simulated scale) "
             "for every later year to 2020. CRPS: continuous ranked probability score, mean over the "
             "city-years or sub-district-years (winners; lower is better). Skill = 1 − CRPS model / CRPS "
             "naive (> 0: the model is better). Naive forecasts: last training year's count, and the mean of "
             "the training years after the 2014 pilot, each with Poisson noise. cov90: share of observed "
             "counts inside the central 90% interval (0.9 if calibrated).", "",
             "## Does the model beat the naive forecasts?", ""]
    lines += [f"- {v}" for v in verdicts]
    for origin in sorted(summary["origin"].unique()):
        lines += ["", f"## Origin {origin} (trained on 2014–{origin})", "", summary_table(summary, origin)]
    lines += ["", "Files: `forecast_scores.csv` (every forecast year and area), `forecast_summary.csv` (the tables "
              "above), `forecast_city_bands.csv` and `forecast_city.png` (city winners: observed, model 90% band, "
              "naive forecasts), `forecast.json` (provenance).", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def plot_forecasts(scores: pd.DataFrame, bands: pd.DataFrame, path: Path) -> Path:
    """One panel per origin: observed city winners, the model's 90% band and median, the naive forecasts.

    Parameters
    ----------
    scores : DataFrame
        :func:`~bantar_sim.studies.calibration.forecast.score_forecasts` rows (the naive points).
    bands : DataFrame
        City winners per origin and year (``observed, median, q05, q95, trained``).
    path : Path
        The PNG to write.
    """
    origins = sorted(bands["origin"].unique())
    fig, axes = new_figure(1, len(origins), figsize=(4.2 * len(origins), 3.8), squeeze=False, sharey=True)
    for ax, origin in zip(axes[0], origins):
        b = bands[bands["origin"] == origin]
        ax.fill_between(b["year"], b["q05"], b["q95"], color="tab:blue", alpha=0.25, label="model 90% band")
        ax.plot(b["year"], b["median"], color="tab:blue", lw=1.5, label="model median")
        ax.plot(b["year"], b["observed"], "o-", color=OBSERVED_COLOUR, lw=1, ms=4, label="observed (Table 3)")
        c = scores[(scores["origin"] == origin) & (scores["level"] == "city")]
        for k, style in (("last", "s--"), ("mean", "^:")):
            ax.plot(c["year"], c[f"point_{k}"], style, ms=5, label=f"naive: {NAIVE_LABELS[k]}")
        ax.axvspan(b["year"].min() - 0.5, origin + 0.5, color="0.9", zorder=0)
        ax.set_title(f"trained on 2014–{origin}")
        ax.set_xlabel("year")
    axes[0][0].set_ylabel("winners per year, city (simulated scale)")
    axes[0][-1].legend(fontsize=7, loc="upper left")
    return save_figure(fig, path)


# ------------------------------------------------------------------------------------- published
#: What a published forecast check keeps (each origin's calibration folder stays in outputs/).
PUBLISHED_FILES = ("report.md", "forecast.json", "forecast_scores.csv", "forecast_summary.csv",
                   "forecast_city_bands.csv", "forecast_city.png")


def publish_forecast(study: str | Path, calibration_folder: str | Path) -> Path:
    """Copy a finished forecast check's tables, figure and report into ``calibration/results/forecast/``.

    Raises
    ------
    CalibrationInputError
        Files missing or unreadable, or the check ran on another model version than the code's; nothing
        is written.
    OutputLockedError, OutputWriteError
        Another process publishes, or writing failed (the previous copy is kept).
    """
    return publish_result(study, calibration_folder, "forecast", PUBLISHED_FILES, "forecast.json",
                          f"forecast-check --publish {study}", "make forecast-check")


def forecast_results_markdown(calibration_folder: str | Path) -> list[str]:
    """calibration/README.md's forecast passage (inside the results block), from ``results/forecast/``.

    States the command, seed, commit, model version (flagged when it is not the code's), settings and
    wall-clock per origin, a table of every origin and level over all horizons (CRPS of the model and both
    naive forecasts, skill scores, 90% coverage), and the plain verdicts — failures included.
    """
    folder = Path(calibration_folder) / "results" / "forecast"
    if not (folder / "forecast.json").is_file():
        return [f"Rolling-origin forecasts: not yet published for model {MODEL_VERSION} (`make forecast-check` runs "
                "them and copies their tables to `results/forecast/`)."]
    prov = json.loads((folder / "forecast.json").read_text(encoding="utf-8"))
    summary = pd.read_csv(folder / "forecast_summary.csv")
    s = prov["settings"]
    clock = ", ".join(f"{o}: {fmt(t)} s" for o, t in prov["wall_clock_s_per_origin"].items())
    if s.get("scale") is None and s.get("households_per_rt") is None:
        size_text = "scale and households per RT of the priors file's [settings]"
    else:
        size = {k: "of the priors file" if s.get(k) is None else s[k] for k in ("scale", "households_per_rt")}
        size_text = f"scale {size['scale']}, {size['households_per_rt']} households per RT"
    out = [f"Rolling-origin forecasts (`results/forecast/`, `make forecast-check`): `{prov['command']}` (seed "
           f"{prov['seed']}, git commit {str(prov['git_commit'])[:10]}, model version {prov['model_version']}); "
           f"priors `{Path(prov['priors']).name}`; origins {', '.join(str(o) for o in s['origins'])}, "
           f"{method_text(prov)} per origin, {s['predictive_runs']} predictive runs, {size_text}; wall-clock per "
           f"origin {clock}."
           + stale_note(prov["model_version"], "make forecast-check"), ""]
    rows = [(r["origin"], r["level"], r["n"], fmt(r["crps_model"]), fmt(r["crps_last"]), fmt(r["crps_mean"]),
             fmt(r["skill_vs_last"], 2), fmt(r["skill_vs_mean"], 2), fmt(r["coverage90_model"], 2))
            for _, r in summary[summary["horizon"].astype(str) == "all"].iterrows()]
    out.append(markdown_table(("origin", "level", "n", "CRPS model", "CRPS last year", "CRPS training mean",
                               "skill vs last", "skill vs mean", "90% coverage (model)"), rows))
    verdicts = verdict_lines(summary.assign(horizon=summary["horizon"].astype(str)))
    wins = sum(" beats " in v for v in verdicts)
    out += ["", f"Over all horizons the model beats the naive forecast in {wins} of {len(verdicts)} comparisons "
            "(origin × level × naive forecast; skill > 0 = lower mean CRPS):", ""]
    out += [f"- {v}" for v in verdicts]
    return out
