"""Stability of the calibrated point across seeds (issue 15, item 6): the default calibration run per seed.

Why: a calibrated point that moves by most of its posterior interval when only the seed changes is a draw,
not an estimate; every downstream result (``bantar-sim run``, the experiments' baseline) inherits its
noise. :func:`run_stability` runs the default calibration (:func:`~bantar_sim.studies.calibration.
run_calibration`, the shipped config unless told otherwise) once per seed, each into ``seed_<seed>/`` of
the result folder with its pyabc history beside the folder (``abc_<name>_<seed>.db``: a rerun resumes), and
:func:`stability_table` sets each parameter's spread of the calibrated point across seeds (max − min)
beside the posterior 90% interval width (mean over seeds). Issue 15 asks the spread to stay below a
quarter of the width (:data:`STABLE_SHARE`).

:func:`publish_stability` copies the small files into ``calibration/results/stability/`` (refused for
another model version), and :func:`stability_markdown` writes calibration/README.md's passage from them.
"""
from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bantar_sim.engine.outputs import check_output_folder, output_folder
from bantar_sim.engine.provenance import git_commit
from bantar_sim.model.version import MODEL_VERSION
from bantar_sim.reporting.markdown import fmt, markdown_table
from bantar_sim.studies.calibration.config import OUTPUT_ROOT, CalibrationConfig, history_beside
from bantar_sim.studies.calibration.published import publish_result, stale_note
from bantar_sim.studies.calibration.targets import CalibrationInputError
from bantar_sim.studies.calibration.workflow import run_calibration

#: Issue 15: the point's spread across seeds must stay below this share of the posterior 90% interval.
STABLE_SHARE = 0.25
#: What a published stability study keeps (the seeds' calibration folders stay in outputs/).
PUBLISHED_FILES = ("report.md", "stability.csv", "stability.json")
RESULTS_RELATIVE = Path("results") / "stability"


@dataclass
class StabilityConfig:
    """Every option of the stability study (``bantar-sim calibration-stability --help`` describes each).

    The calibration options default to the default calibration's (:class:`CalibrationConfig`), so the
    study measures the point the shipped command would give; ``seeds`` are the calibrations' base seeds
    (the first is the default calibration's own). ``out`` defaults to ``outputs/calibration/stability/``.
    """

    seeds: Sequence[int] = (2014, 2015, 2016)
    method: str | None = CalibrationConfig.method
    reference: int = CalibrationConfig.reference
    accept: float = CalibrationConfig.accept
    population_size: int = CalibrationConfig.population_size
    max_populations: int = CalibrationConfig.max_populations
    max_walltime: float = CalibrationConfig.max_walltime
    predictive_runs: int = CalibrationConfig.predictive_runs
    pattern_reps: int = CalibrationConfig.pattern_reps
    scale: float | None = None
    households_per_rt: float | None = None
    prior: str | Path | None = None
    out: str | Path | None = None
    executor: str = "process"
    workers: int | None = None
    scheduler: str | None = None
    command: str | None = None

    @property
    def out_path(self) -> Path:
        """The result folder."""
        return Path(self.out) if self.out else OUTPUT_ROOT / "stability"

    def db_path(self, seed: int) -> Path:
        """One seed's pyabc history, beside the result folder (kept across runs: resume)."""
        return history_beside(self.out_path, seed)

    def calibration_config(self, seed: int) -> CalibrationConfig:
        """The default calibration's config with this seed (its ``out`` is set by the workflow)."""
        return CalibrationConfig(
            method=self.method, reference=self.reference, accept=self.accept,
            population_size=self.population_size, max_populations=self.max_populations,
            max_walltime=self.max_walltime, seed=seed, predictive_runs=self.predictive_runs,
            pattern_reps=self.pattern_reps, scale=self.scale, households_per_rt=self.households_per_rt,
            prior=self.prior, db=self.db_path(seed), out=self.out_path / f"seed_{seed}", executor=self.executor,
            workers=self.workers, scheduler=self.scheduler,
            command=f"{self.command or 'run_stability'} (seed {seed})")

    def check(self) -> list[int]:
        """Check the seeds and the folder, and resolve each seed's calibration config, before any simulation.

        Raises
        ------
        CalibrationInputError
            Fewer than two seeds, a seed twice or not an integer >= 0, an existing folder that is not a
            stability result, or any option :meth:`CalibrationConfig.resolve` refuses.
        """
        seeds = list(self.seeds)
        if (len(seeds) < 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0
                                  for s in seeds)):
            raise CalibrationInputError(f"--seeds must be two or more integers >= 0 (e.g. 2014,2015,2016), got "
                                        f"{seeds!r}")
        if len(set(seeds)) != len(seeds):
            raise CalibrationInputError(f"--seeds names a seed twice: {seeds}")
        out = self.out_path
        if out.is_dir() and any(out.iterdir()) and not (out / "stability.json").is_file():
            raise CalibrationInputError(f"--out {out}: an existing folder that is not a stability result (no "
                                        "stability.json); it would be replaced as a whole: give a new folder")
        for s in seeds:
            self.calibration_config(int(s)).resolve()
        return [int(s) for s in seeds]


@dataclass
class StabilityResult:
    """What the stability study found (also in the files of ``out``)."""

    table: pd.DataFrame                 # stability_table
    out: Path
    files: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def stable(self) -> bool:
        """Whether every parameter's spread stays below :data:`STABLE_SHARE` of its interval."""
        return bool(self.table["stable"].all())


def stability_table(points: Mapping[int, Mapping[str, float]], summaries: Mapping[int, pd.DataFrame]) -> pd.DataFrame:
    """Per parameter: the calibrated point per seed, its spread, and the posterior 90% interval widths.

    Parameters
    ----------
    points : mapping seed -> {parameter: value}
        Each seed's calibrated point (calibrated parameters; other keys are ignored).
    summaries : mapping seed -> DataFrame
        Each seed's posterior summary (``parameter``, ``median``, ``q05``, ``q95``, ``prior_low``,
        ``prior_high``); its parameters and their order are the table's.

    Returns
    -------
    DataFrame
        ``parameter``, ``point_<seed>`` per seed, ``point_spread`` (max − min), ``width90_mean`` (mean over
        seeds of q95 − q05), ``spread_over_width``, ``stable`` (spread < :data:`STABLE_SHARE` × width),
        ``median_spread`` (max − min of the posterior medians) and ``prior_width``.
    """
    seeds = list(points)
    first = summaries[seeds[0]].set_index("parameter")
    rows = []
    for name in first.index:
        vals = np.array([float(points[s][name]) for s in seeds])
        widths = np.array([float(summaries[s].set_index("parameter").loc[name, "q95"]
                                 - summaries[s].set_index("parameter").loc[name, "q05"]) for s in seeds])
        meds = np.array([float(summaries[s].set_index("parameter").loc[name, "median"]) for s in seeds])
        spread, width = float(vals.max() - vals.min()), float(widths.mean())
        ratio = spread / width if width > 0 else float("inf") if spread > 0 else 0.0
        rows.append({"parameter": name, **{f"point_{s}": float(v) for s, v in zip(seeds, vals)},
                     "point_spread": spread, "width90_mean": width, "spread_over_width": ratio,
                     "stable": bool(ratio < STABLE_SHARE), "median_spread": float(meds.max() - meds.min()),
                     "prior_width": float(first.loc[name, "prior_high"] - first.loc[name, "prior_low"])})
    return pd.DataFrame(rows)


def _table_markdown(table: pd.DataFrame, seeds: Sequence[int]) -> str:
    rows = [(f"`{r['parameter']}`", *(fmt(r[f'point_{s}']) for s in seeds), fmt(r["point_spread"]),
             fmt(r["width90_mean"]), f"{r['spread_over_width']:.2f}", "yes" if r["stable"] else "**no**",
             fmt(r["median_spread"])) for _, r in table.iterrows()]
    return markdown_table(("parameter", *(f"point, seed {s}" for s in seeds), "spread (max − min)",
                           "90% interval (mean)", "spread / interval", f"< {STABLE_SHARE:g}",
                           "spread of the posterior medians"), rows)


def _verdict(table: pd.DataFrame) -> str:
    bad = table.loc[~table["stable"].astype(bool), "parameter"].tolist()
    if not bad:
        return (f"Every parameter's calibrated point varies across the seeds by less than {STABLE_SHARE:g} of its "
                "posterior 90% interval: the point is stable.")
    return (f"**{len(bad)} of {len(table)} parameters vary across the seeds by {STABLE_SHARE:g} of their posterior "
            f"90% interval or more**: {', '.join(f'`{p}`' for p in bad)}.")


def run_stability(config: StabilityConfig, executor: cf.Executor | None = None,
                  progress: bool = True) -> StabilityResult:
    """Run the default calibration once per seed and tabulate the calibrated point's spread.

    Parameters
    ----------
    config : StabilityConfig
        Every option; checked (each seed's calibration resolved) before any simulation.
    executor : concurrent.futures.Executor, optional
        Runs every simulation (default: each calibration picks the one the config names).
    progress : bool
        Print progress and show the calibrations' progress bars.

    Returns
    -------
    StabilityResult

    Raises
    ------
    CalibrationInputError
        Bad option or input (nothing run or written).
    bantar_sim.engine.outputs.OutputFolderError, OutputLockedError, OutputWriteError
        ``out`` cannot be written, another process writes it, or writing failed (previous results kept;
        the pyabc histories beside the folder keep finished generations for a rerun).
    CalibrationUnfinishedError
        A seed's calibration completed no generation.
    """
    seeds = config.check()
    out = check_output_folder(config.out_path, "--out")
    started = dt.datetime.now().astimezone()
    points, summaries, per_seed = {}, {}, {}
    with output_folder(out, flag="--out") as stage:
        for seed in seeds:
            t0 = dt.datetime.now()
            if progress:
                print(f"calibration-stability: seed {seed}: default calibration "
                      f"({config.calibration_config(seed).describe_method()})", file=sys.stderr, flush=True)
            cal = config.calibration_config(seed)
            cal.out = stage / f"seed_{seed}"
            res = run_calibration(cal, executor=executor, progress=progress)
            summaries[seed] = res.summary
            points[seed] = res.point or {}
            per_seed[seed] = {"wall_clock_s": round((dt.datetime.now() - t0).total_seconds(), 1),
                              "generations": res.generations, "stopped_because": res.stopped_because,
                              "particles_passing_patterns": res.particles_passing_patterns,
                              "point_rule": res.chosen.get("point"),
                              "point_passes_patterns": res.chosen.get("point_passes_patterns")}
        table = stability_table(points, summaries)
        first = config.calibration_config(seeds[0]).resolve()
        settings = {k: first.variants[0].settings.get(k) for k in ("scale", "households_per_rt")}
        meta = {"command": config.command or "bantar_sim.studies.calibration.stability.run_stability(...)",
                "seeds": seeds, "model_version": MODEL_VERSION, "git_commit": git_commit(),
                "date": started.isoformat(timespec="seconds"), "prior_file": str(first.priors.path),
                "calibration_method": config.calibration_config(seeds[0]).describe_method(),
                "population_size": config.population_size, "max_populations": config.max_populations,
                "max_walltime": config.max_walltime, "settings": settings, "per_seed": per_seed,
                "stable_share": STABLE_SHARE, "stable": bool(table["stable"].all()),
                "wall_clock_s": round((dt.datetime.now().astimezone() - started).total_seconds(), 1)}
        table.to_csv(stage / "stability.csv", index=False)
        (stage / "stability.json").write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
        (stage / "report.md").write_text(_report(meta, table), encoding="utf-8")
    files = [*PUBLISHED_FILES, *(f"seed_{s}/" for s in seeds)]
    return StabilityResult(table, out, files, meta)


def _header(meta: Mapping[str, Any]) -> str:
    seeds = meta["seeds"]
    def one(s, v) -> str:
        done = (f"{v['generations']} generation(s) ({v['stopped_because']})" if v["generations"] else
                str(v["stopped_because"]))
        return (f"seed {s}: {done}, {v['particles_passing_patterns']} particle(s) pass the patterns, "
                f"{fmt(v['wall_clock_s'])} s")
    runs = "; ".join(one(s, v) for s, v in meta["per_seed"].items())
    method = meta.get("calibration_method") or (f"ABC-SMC, population {meta['population_size']}, up to "
                                                f"{meta['max_populations']} generations and "
                                                f"{fmt(meta['max_walltime'])} minutes")
    return (f"`{meta['command']}` (seeds {', '.join(str(s) for s in seeds)}; {method} per seed; scale "
            f"{meta['settings'].get('scale')}, {meta['settings'].get('households_per_rt')} households per RT; model "
            f"version {meta['model_version']}, git commit {str(meta['git_commit'])[:10]}; "
            f"{fmt(meta['wall_clock_s'])} s wall-clock in all). {runs}.")


def _rules(meta: Mapping[str, Any]) -> str:
    rules = sorted({str(v.get("point_rule") or "the weighted medoid of the pattern-passing particles")
                    for v in meta["per_seed"].values()})
    return "; ".join(rules)


def _report(meta: Mapping[str, Any], table: pd.DataFrame) -> str:
    return "\n".join(["# Stability of the calibrated point across seeds", "", _header(meta), "",
                      "The calibrated point of each seed's default calibration (its rule: "
                      f"{_rules(meta)}), its spread across the seeds (max − min) and the posterior 90% interval "
                      "width (mean over the seeds); issue 15 asks the spread to stay below "
                      f"{STABLE_SHARE:g} of the width.", "",
                      _table_markdown(table, meta["seeds"]), "", _verdict(table), "",
                      "Files: stability.csv (this table), stability.json (settings, provenance, per-seed runs), "
                      "seed_<seed>/ (each calibration's result folder; not published).", ""])


def publish_stability(study: str | Path, calibration_folder: str | Path) -> Path:
    """Copy a finished stability study's report and table into ``calibration/results/stability/``.

    Raises
    ------
    CalibrationInputError
        Files missing or unreadable, or the study ran on another model version than the code's; nothing
        is written.
    OutputLockedError, OutputWriteError
        Another process publishes, or writing failed (the previous copy is kept).
    """
    return publish_result(study, calibration_folder, "stability", PUBLISHED_FILES, "stability.json",
                          f"calibration-stability --publish {study}", "make calibration-stability")


def stability_markdown(calibration_folder: str | Path) -> list[str]:
    """calibration/README.md's stability passage (inside the results block), from ``results/stability/``."""
    folder = Path(calibration_folder) / RESULTS_RELATIVE
    if not (folder / "stability.json").is_file():
        return [f"Stability of the calibrated point across seeds: not yet published for model {MODEL_VERSION} "
                "(`make calibration-stability` runs the default calibration with 3 seeds and copies its table to "
                "`results/stability/`)."]
    meta = json.loads((folder / "stability.json").read_text(encoding="utf-8"))
    table = pd.read_csv(folder / "stability.csv")
    stale = stale_note(meta["model_version"], "make calibration-stability")
    return ["Stability of the calibrated point (`results/stability/`, `make calibration-stability`): "
            + _header(meta) + stale, "", _table_markdown(table, meta["seeds"]), "", _verdict(table)]
