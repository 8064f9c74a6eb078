"""The calibration workflow as library functions: :func:`run_calibration` and :func:`sample_posterior`.

``run_calibration(config)`` checks every input, runs (or resumes) the ABC-SMC, the posterior predictive
check and the pattern filter, and writes its result folder atomically (``outputs/calibration/<mode>/`` by
default, through :func:`bantar_sim.engine.outputs.output_folder`: a failure leaves the previous results
as they were; a second writer is locked out). It never writes the shipped ``calibration/`` set: that is
:func:`bantar_sim.studies.calibration.promote.promote`.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import datetime as dt
import json
import os
import shutil
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bantar_sim.engine.executors import make_executor
from bantar_sim.engine.outputs import OutputWriteError, check_output_folder, folder_lock, output_folder
from bantar_sim.engine.provenance import git_commit
from bantar_sim.engine.task import run_model, seed_from
from bantar_sim.model.data import YEARS
from bantar_sim.model.version import MODEL_VERSION, __version__
from bantar_sim.studies.calibration.abc import (
    best_particle,
    config_fingerprint,
    find_resumable,
    particle_model,
    run_abc,
)
from bantar_sim.studies.calibration.config import CalibrationConfig, ResolvedCalibration, check_result_folder
from bantar_sim.studies.calibration.patterns import pattern_filter
from bantar_sim.studies.calibration.predictive import (
    calibrated_values,
    fit_metrics,
    heldout_table,
    observed_arrays,
    posterior_predictive,
    posterior_summary,
)
from bantar_sim.studies.calibration.reference import ReferencePosterior, choose_point, run_reference, weighted_median
from bantar_sim.studies.calibration.report import (
    calibrated_line,
    fit_lines,
    heldout_lines,
    plot_history,
    plot_model_probabilities,
    plot_pairs,
    plot_predictive,
    plot_reference,
    posterior_lines,
    write_calibrated_toml,
)
from bantar_sim.studies.calibration.stats import observed_stats, table_stats, winners_and_proposals
from bantar_sim.studies.calibration.subdistrict_effects import fit_subdistrict_effects
from bantar_sim.studies.calibration.targets import CalibrationInputError, Variant
from bantar_sim.studies.calibration.weights import effective_sample_size
from bantar_sim.studies.inputs import default_posterior_path, read_calibrated
from bantar_sim.studies.posterior import PosteriorFileError, read_posterior

START_YEAR = YEARS[0]
LABELS = {"calibrate": "calibrated to Table 3", "synthetic": "perfect-model test (synthetic data)",
          "heldout": "calibrated on 2014–{last}", "compare": "model comparison"}


@dataclass
class CalibrationResult:
    """What a calibration produced (all of it is also in the files of ``out``).

    Attributes
    ----------
    mode : str
        ``calibrate``, ``synthetic``, ``heldout``, ``compare`` or ``patterns-only``.
    out, db : Path
        The result folder and the pyabc history.
    posterior : DataFrame
        The baseline model's last generation: one column per calibrated parameter, ``weight`` (sums to 1)
        and, after the pattern filter, ``passes_patterns``.
    weights : ndarray
        The normalised weights (``posterior["weight"]``).
    summary : DataFrame
        Weighted median and 90% interval per parameter.
    fit_metrics : DataFrame or None
        Posterior predictive coverage and errors.
    patterns : DataFrame or None
        The pattern filter's table (one row per particle).
    point : dict or None
        The calibrated point (settings and calibrated values; default mode only).
    chosen : dict
        How the point was chosen (``particles_passing_patterns`` among others).
    stopped_because : str
        Why the ABC stopped.
    generations : int
        Generations in the history.
    files : list of str
        Files written into ``out``.
    text : str
        The summary (``summary.txt``).
    model_probabilities : DataFrame or None
        ``compare`` mode: per generation.
    posteriors : dict
        Every alive model's posterior by name (``compare`` mode has several).
    """

    mode: str
    out: Path
    db: Path
    posterior: pd.DataFrame
    weights: np.ndarray
    summary: pd.DataFrame
    fit_metrics: pd.DataFrame | None = None
    patterns: pd.DataFrame | None = None
    point: dict | None = None
    chosen: dict = field(default_factory=dict)
    stopped_because: str = ""
    generations: int = 0
    files: list[str] = field(default_factory=list)
    text: str = ""
    model_probabilities: pd.DataFrame | None = None
    posteriors: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def particles_passing_patterns(self) -> int | None:
        """How many particles pass the pattern filter (None when it did not run)."""
        return self.chosen.get("particles_passing_patterns")


@contextlib.contextmanager
def study_executor(config, given: cf.Executor | None) -> Iterator[cf.Executor]:
    """``given``, or the executor a config names (``executor``, ``workers``, ``scheduler``; 2 processes by default).

    Shared by the calibration and the forecast check for the runs outside pyabc (predictive runs, the
    pattern filter).
    """
    if given is not None:
        yield given
        return
    workers = config.workers if config.executor != "serial" else None
    if config.executor == "process" and workers is None:
        workers = min(2, os.cpu_count() or 1)
    with make_executor(config.executor, workers=workers, scheduler=config.scheduler) as ex:
        yield ex


@contextlib.contextmanager
def _history_writes(db: Path, out: Path) -> Iterator[None]:
    """Turn pyabc's SQLite "database or disk is full" into the one-line :class:`OutputWriteError`.

    pyabc writes its history through SQLAlchemy, so a full disk arrives as ``sqlite3.OperationalError``
    (or SQLAlchemy's wrapper of it, or the ``PendingRollbackError`` that follows), not as an ``OSError``
    that :func:`~bantar_sim.engine.outputs.output_folder` would recognise. Each generation is committed
    on its own, so the generations stored before stay and a rerun resumes from them.

    Raises
    ------
    OutputWriteError
        The history could not be written (disk full, I/O error); any other database error propagates.
    """
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError
    try:
        yield
    except (sqlite3.OperationalError, SQLAlchemyError) as err:
        text = str(err)
        if "database or disk is full" in text:
            why = "no space left on device"
        elif "disk I/O error" in text:
            why = "disk I/O error"
        else:
            raise
        raise OutputWriteError(f"writing the pyabc history {db} failed: {why}; the generations it held before "
                               f"are kept (rerun the same command to resume) and the previous contents of {out} "
                               "are unchanged") from None


def _command(config: CalibrationConfig) -> str:
    if config.command:
        return config.command
    return "bantar_sim.studies.calibration.run_calibration(...) from " + " ".join(sys.argv[:1])


def _shared_provenance(run: ResolvedCalibration) -> dict:
    """What every calibration records, whatever its method: inputs, versions, seed, command, date, mode."""
    c = run.config
    return {
        "data_file": run.targets.source, "data_sha256": run.targets.sha256,
        "prior_file": run.priors.path, "prior_sha256": run.priors.sha256,
        "package_version": __version__, "model_version": MODEL_VERSION,
        "calibrated_parameters": [p.name for p in run.variants[0].priors], "git_commit": git_commit(),
        "seed": c.seed, "command": _command(c),
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "mode": run.mode, "target_years": f"{START_YEAR}-{run.spec.last_year}",
    }


def _provenance(run: ResolvedCalibration, history, info: dict, final_eps: float, n_gen: int) -> dict:
    c = run.config
    sims = int(history.total_nr_simulations)
    return {
        **_shared_provenance(run),
        "population_size": c.population_size, "proposal": c.proposal, "proposal_ess_share": c.proposal_ess_share,
        "generations": n_gen, "final_epsilon": float(final_eps),
        "stopped_because": info["stop"], "total_simulations": sims,
        "wall_clock_s_this_session": round(info["elapsed_s"], 1),
        "simulations_per_second": round(info["simulations_this_session"] / max(info["elapsed_s"], 1e-9), 2),
        "sampler": info["sampler"], "db": str(run.db), "abc_id": int(history.id),
        **_run_record(history),
        "reproducible": "each particle: run_model(params, particle_seed(seed, 0, values)); whole posterior only "
                        "with --executor serial",
    }


def _run_record(history) -> dict:
    """First command and total wall-clock of the stored run (it may span several resumed sessions)."""
    out = {}
    with contextlib.suppress(Exception):
        abc = history.get_abc()
        meta = str(abc.json_parameters or "")
        if "'command': '" in meta:
            out["first_command"] = meta.split("'command': '", 1)[1].split("'", 1)[0]
        pops = history.get_all_populations()
        end = pd.to_datetime(pops["population_end_time"]).max()
        out["wall_clock_s_total"] = round((end - pd.Timestamp(abc.start_time)).total_seconds(), 1)
    with contextlib.suppress(Exception):
        # the importance weights' effective sample size per generation: a collapse shows here first
        out["effective_sample_size_per_generation"] = [
            round(effective_sample_size(history.get_distribution(m=0, t=t)[1]), 1) for t in range(history.max_t + 1)]
    return out


def run_calibration(config: CalibrationConfig, executor: cf.Executor | None = None,
                    progress: bool = True) -> CalibrationResult:
    """Calibrate the model to Table 3 (or run one of the calibration's tests) and write the result folder.

    Parameters
    ----------
    config : CalibrationConfig
        Every option; checked before any simulation.
    executor : concurrent.futures.Executor, optional
        Runs the simulations (pyabc's ConcurrentFutureSampler on it, and the predictive and filter runs);
        default: the one ``config.executor`` names.
    progress : bool
        Show progress bars.

    Returns
    -------
    CalibrationResult

    Raises
    ------
    CalibrationInputError
        Bad option or input file (nothing run or written).
    bantar_sim.engine.outputs.OutputFolderError
        ``out`` cannot be written (checked before any work).
    bantar_sim.engine.outputs.OutputLockedError
        Another process writes the same result folder or pyabc history.
    CalibrationUnfinishedError
        No generation completed; nothing written.
    bantar_sim.engine.outputs.OutputWriteError
        The disk filled up (result folder or pyabc history); the previous results are unchanged and the
        history keeps the generations it held.
    """
    run = config.resolve()                         # every input checked before any simulation
    check_output_folder(run.out, "--out")
    check_result_folder(run.out, run.priors)
    if config.patterns_only:
        return _patterns_only(run, executor, progress)
    observed = observed_stats(run.targets, run.spec, run.variants[0].settings.get("scale", 1.0))
    truth_pred = truth_seed = None
    if run.truth is not None:
        truth_seed = seed_from(np.random.SeedSequence([config.seed, 7]))
        params = particle_model(run.variants[0], run.spec, config.seed).params_for(run.truth)
        tables = run_model(params, truth_seed, ("subdistrict_year",))
        observed = table_stats(tables, run.spec)
        truth_pred = winners_and_proposals(tables)
    if config.calibration_method == "reference":
        started = time.perf_counter()
        with output_folder(run.out, flag="--out") as stage, study_executor(config, executor) as ex:
            ref = run_reference(run, observed, ex, progress)
            result = _report_reference(run, stage, ref, observed, truth_pred, truth_seed, ex, progress, started)
        result.out = run.out
        return result
    fp = config_fingerprint(run)
    resume_id = find_resumable(run.db, fp)
    run.db.parent.mkdir(parents=True, exist_ok=True)
    with folder_lock(run.db, "pyabc history"), output_folder(run.out, flag="--out") as stage:
        with _history_writes(run.db, run.out):
            history, info = run_abc(run, observed, fp, resume_id, executor, progress)
            with study_executor(config, executor) as ex:
                result = _report(run, stage, history, info, observed, truth_pred, truth_seed, ex, progress)
    result.out = run.out
    return result


def _report(run: ResolvedCalibration, stage: Path, history, info: dict, observed: dict, truth_pred, truth_seed,
            ex: cf.Executor, progress: bool) -> CalibrationResult:
    """The result folder of an ABC-SMC calibration (``--method abc-smc``)."""
    c = run.config
    pops = history.get_all_populations()
    t_last = int(history.max_t)
    final_eps = float(pops[pops.t == t_last].epsilon.iloc[0])
    prov = _provenance(run, history, info, final_eps, t_last + 1)
    if truth_seed is not None:
        prov["synthetic_truth_seed"] = str(truth_seed)
    label = LABELS[run.mode].format(last=run.spec.last_year)
    plot_history(history, stage / "fit_history.png", label)
    written = ["fit_history.png"]
    lines = [f"bantar-sim calibrate ({run.mode}): {t_last + 1} generation(s), final epsilon {final_eps:.4g}, "
             f"{prov['total_simulations']} simulations in total, stopped: {info['stop']}",
             f"this session: {info['simulations_this_session']} simulations in {info['elapsed_s']:.0f} s "
             f"= {prov['simulations_per_second']} simulations/s ({info['sampler']})"]
    result = CalibrationResult(run.mode, run.out, run.db, pd.DataFrame(), np.array([]), pd.DataFrame(),
                               stopped_because=info["stop"], generations=t_last + 1)
    if run.mode == "compare":
        probs = history.get_model_probabilities()
        probs.to_csv(stage / "model_probabilities.csv")
        plot_model_probabilities(history, stage / "model_probabilities.png")
        written += ["model_probabilities.csv", "model_probabilities.png"]
        final = probs.iloc[-1]
        lines.append("posterior model probabilities (last generation): " + ", ".join(
            f"{run.variants[int(m)].name} {final.get(m, 0.0):.3f}" for m in range(len(run.variants))))
        result.model_probabilities = probs

    def choose(variant: Variant, df: pd.DataFrame, w: np.ndarray):
        if not c.pattern_filter:
            point, dist = best_particle(history, t_last)
            return point, {"point": "accepted particle of the last generation with the smallest distance",
                           "point_distance": dist}, [], None
        return pattern_filter(variant, run.spec, df, w, observed, c.seed, c.pattern_reps, ex, progress)

    for mi in history.alive_models(t_last):
        df, w = history.get_distribution(m=mi, t=t_last)
        _variant_results(run, stage, result, mi, df, np.asarray(w, float) / np.sum(w), prov, lines, written,
                         truth_pred, ex, progress, choose, "ABC-SMC posterior")
    return _write_summary(run, stage, result, prov, observed, lines, written)


def _report_reference(run: ResolvedCalibration, stage: Path, ref: ReferencePosterior, observed: dict, truth_pred,
                      truth_seed, ex: cf.Executor, progress: bool, started: float) -> CalibrationResult:
    """The result folder of a reference-table calibration (``--method reference``, the default)."""
    c = run.config
    info = ref.info
    prov = _reference_provenance(run, ref)
    if truth_seed is not None:
        prov["synthetic_truth_seed"] = str(truth_seed)
    label = LABELS[run.mode].format(last=run.spec.last_year)
    plot_reference(ref.table_distance, ref.table_passes, ref.threshold, stage / "fit_history.png", label)
    written = ["fit_history.png"]
    lines = [f"bantar-sim calibrate ({run.mode}): reference table of {info['simulations']} prior simulations "
             f"(seed {c.seed}), the closest {len(ref.weights)} accepted (--accept {c.accept:g}; distance <= "
             f"{ref.threshold:.4g}; regression adjustment {'applied' if ref.adjusted else 'not applied'}); effective "
             f"sample size {ref.effective_sample_size:.0f}",
             f"this session: {info['computed_now']} simulations computed, {info['reused']} found stored in "
             f"{info['store']}, in {info['elapsed_s']:.0f} s ({prov['simulations_per_second']:.2f} simulations/s)"]
    result = CalibrationResult(run.mode, run.out, info["store"], pd.DataFrame(), np.array([]), pd.DataFrame(),
                               stopped_because="reference table complete", generations=0)

    def choose(variant: Variant, df: pd.DataFrame, w: np.ndarray):
        if not c.pattern_filter or ref.passes is None:
            point = dict(zip(df.columns, weighted_median(df.to_numpy(float), w)))
            return point, {"point": "weighted median of the accepted simulations (no pattern filter)",
                           "point_distance": float("nan")}, [], None
        point, chosen, plines, per, pool = choose_point(variant, run.spec, ref, observed, c.seed, c.pattern_reps, ex,
                                                        progress)
        pool.to_csv(stage / "point_pool.csv", index=False)
        written.append("point_pool.csv")
        return point, chosen, plines, per

    _variant_results(run, stage, result, 0, ref.df, ref.weights, prov, lines, written, truth_pred, ex, progress,
                     choose, "reference-table ABC posterior")
    prov["wall_clock_s_total"] = round(time.perf_counter() - started, 1)
    return _write_summary(run, stage, result, prov, observed, lines, written)


def _reference_provenance(run: ResolvedCalibration, ref: ReferencePosterior) -> dict:
    c, info = run.config, ref.info
    return {
        **_shared_provenance(run), "method": "reference",
        "reference_simulations": info["simulations"], "accept": c.accept, "accepted": int(len(ref.weights)),
        "acceptance_distance": float(ref.threshold), "regression_adjusted": bool(ref.adjusted),
        "effective_sample_size": round(ref.effective_sample_size, 1),
        "total_simulations": info["simulations"], "simulations_computed_now": info["computed_now"],
        "simulations_reused": info["reused"], "simulations_failed": info["failed"],
        "wall_clock_s_reference_table": info["elapsed_s"],
        "simulations_per_second": round(info["computed_now"] / max(info["elapsed_s"], 1e-9), 2),
        "store": info["store"], "stopped_because": "reference table complete",
        "reproducible": "reference table: plan_reference(seed) draws and seeds; the same on any executor",
    }


def _variant_results(run: ResolvedCalibration, stage: Path, result: CalibrationResult, mi: int, df: pd.DataFrame,
                     w: np.ndarray, prov: dict, lines: list[str], written: list[str], truth_pred, ex: cf.Executor,
                     progress: bool, choose, title: str) -> None:
    """One model's posterior files, calibrated point (stage 1 and 2) and posterior predictive check."""
    c = run.config
    variant = run.variants[mi]
    label = LABELS[run.mode].format(last=run.spec.last_year)
    suffix = "" if len(run.variants) == 1 else f"_{variant.name}"
    truth = run.truth if mi == 0 else None
    summary = posterior_summary(df, w, variant, truth)
    post = df[[p.name for p in variant.priors]].reset_index(drop=True).assign(weight=w)
    summary.to_csv(stage / f"posterior_summary{suffix}.csv", index=False)
    plot_pairs(df, w, variant, stage / f"posterior_pairs{suffix}.png", f"{title}, model '{variant.name}' — {label}",
               truth)
    written += [f"posterior{suffix}.csv", f"posterior_summary{suffix}.csv", f"posterior_pairs{suffix}.png"]
    lines += posterior_lines(variant.name, summary)
    result.posteriors[variant.name] = post
    if mi == 0:
        result.posterior, result.weights, result.summary = post, w, summary
    if run.mode == "compare" and mi != 0:
        post.to_csv(stage / f"posterior{suffix}.csv", index=False)
        return
    named: dict = {}   # stage 2's named effects, held fixed in the predictive (globals drawn from the posterior)
    if mi == 0 and run.mode == "calibrate":
        point, chosen, plines, per = choose(variant, df, w)
        dist = chosen["point_distance"]
        lines += plines
        if per is not None:
            per.to_csv(stage / "patterns.csv", index=False)
            written.append("patterns.csv")
            post["passes_patterns"] = per["passes"].to_numpy()
            result.patterns = per
        values = calibrated_values(point, variant)
        if run.priors.named_effects is not None:      # stage 2: the sub-districts' named effects
            values, fit, table = fit_subdistrict_effects(
                values, run.targets, ex, seed=c.seed, settings=run.priors.named_effects,
                progress=print if progress else None)
            named = {k: v for k, v in values.items() if k not in point and k not in variant.settings}
            table.to_csv(stage / "subdistrict_effects.csv", index=False)
            written.append("subdistrict_effects.csv")
            lines.append(f"stage 2: named sub-district effects fitted at the point ({fit.n_simulations} "
                         f"simulations, mean |log error| {fit.final['mean_abs_log_error']:.3f} at the fitted "
                         "effects; subdistrict_effects.csv)")
            chosen = {**chosen, "stage_2": "named sub-district effects fitted with the globals fixed",
                      "stage_2_simulations": fit.n_simulations}
        write_calibrated_toml(stage / "calibrated.toml", values, {
            **prov, **chosen, "predictive_runs": c.predictive_runs,
            "settings_note": "scale and households_per_rt above are the settings the posterior was calibrated at"},
            summary)
        lines.append(calibrated_line(values, variant, dist, chosen, c.pattern_filter))
        read_calibrated(stage / "calibrated.toml")    # the file must load the way `bantar-sim run` loads it
        written.append("calibrated.toml")
        result.point, result.chosen = values, chosen
    pred = posterior_predictive(df, w, variant, c.seed, c.predictive_runs, ex, progress,
                                desc=f"posterior predictive ({variant.name})", extra=named)
    if truth_pred is not None:
        obs = {"won": truth_pred["won"].astype(float), "proposals": truth_pred["proposals"].astype(float)}
        obs_label = "synthetic data (simulated at the true parameters)"
    else:
        obs = observed_arrays(run.targets, pred["rts"])
        scale = variant.settings.get("scale", 1.0)
        obs_label = ("published (Table 3)" if scale == 1.0 else
                     f"published (Table 3) x each sub-district's simulated share of RTs (scale {scale:g})")
    metrics = fit_metrics(pred, obs, run.spec)
    metrics.to_csv(stage / f"fit_metrics{suffix}.csv", index=False)
    plot_predictive(pred, obs, run.spec, stage / f"predictive_city{suffix}.png",
                    stage / f"predictive_subdistrict{suffix}.png", label, obs_label)
    written += [f"fit_metrics{suffix}.csv", f"predictive_city{suffix}.png", f"predictive_subdistrict{suffix}.png"]
    lines += fit_lines(metrics, c.predictive_runs)
    if mi == 0:
        result.fit_metrics = metrics
    if result.point is not None and mi == 0:
        # The calibrated set itself (what `bantar-sim run` uses), seeds only varying: beside the posterior
        # predictive, whose spread also carries the parameters' uncertainty.
        one = pd.DataFrame([{k: result.point[k] for k in df.columns}])
        pred_pt = posterior_predictive(one, np.ones(1), variant, c.seed, c.predictive_runs, ex, progress,
                                       desc="predictive at the calibrated set", extra=named)
        point_metrics = fit_metrics(pred_pt, obs, run.spec)
        point_metrics.to_csv(stage / "fit_metrics_point.csv", index=False)
        written.append("fit_metrics_point.csv")
        lines += [line.replace("posterior predictive", "at the calibrated set") for line in
                  fit_lines(point_metrics, c.predictive_runs)]
    if run.spec.last_year < YEARS[-1]:
        ho = heldout_table(pred, obs, run.spec)
        ho.to_csv(stage / "heldout_coverage.csv", index=False)
        written.append("heldout_coverage.csv")
        lines += heldout_lines(ho)
    post.to_csv(stage / f"posterior{suffix}.csv", index=False)


def _write_summary(run: ResolvedCalibration, stage: Path, result: CalibrationResult, prov: dict, observed: dict,
                   lines: list[str], written: list[str]) -> CalibrationResult:
    (stage / "calibration.json").write_text(json.dumps(
        {"provenance": prov, "observed": observed, "truth": run.truth,
         "models": [v.name for v in run.variants]}, indent=2, default=str), encoding="utf-8")
    written.append("calibration.json")
    text = "\n".join(lines)
    (stage / "summary.txt").write_text(text + "\n", encoding="utf-8")
    written.append("summary.txt")
    result.files, result.text = written, text
    return result


# ------------------------------------------------------------------------------- --patterns-only
def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (ValueError, OSError) as err:       # empty, binary, unparsable
        raise CalibrationInputError(f"{path}: not a readable CSV file ({type(err).__name__}); allowed: the "
                                    "posterior.csv `bantar-sim calibrate` writes") from None


def _patterns_only(run: ResolvedCalibration, executor: cf.Executor | None, progress: bool) -> CalibrationResult:
    """Apply the pattern filter to a finished calibration in ``run.out`` (its posterior.csv), no ABC."""
    c = run.config
    variant = run.variants[0]
    post_path, cal_path = run.out / "posterior.csv", run.out / "calibrated.toml"
    for f in (post_path, cal_path):
        if not f.is_file():
            raise CalibrationInputError(f"--patterns-only: {f} not found; run `bantar-sim calibrate` first")
    read_calibrated(cal_path)                 # a broken file is bad input, reported before any run
    post = _read_csv(post_path)
    names = [p.name for p in variant.priors]
    missing = [n for n in names + ["weight"] if n not in post.columns]
    if missing:
        raise CalibrationInputError(f"--patterns-only: {post_path} lacks column(s) {', '.join(missing)}")
    post = post[names + ["weight"]]
    wsum = pd.to_numeric(post["weight"], errors="coerce")
    if len(post) == 0 or not np.isfinite(wsum).all() or (wsum < 0).any() or wsum.sum() <= 0:
        raise CalibrationInputError(f"--patterns-only: {post_path}: 'weight' must be finite numbers >= 0 with a "
                                    "positive sum, one row per particle")
    w = wsum.to_numpy(float) / wsum.sum()
    observed = observed_stats(run.targets, run.spec, variant.settings.get("scale", 1.0))
    old = tomllib.loads(cal_path.read_text(encoding="utf-8"))
    summary_path = run.out / "posterior_summary.csv"
    summary = _read_csv(summary_path) if summary_path.exists() else posterior_summary(post[names], w, variant, None)
    with output_folder(run.out, flag="--out") as stage:
        shutil.copytree(run.out, stage, dirs_exist_ok=True, symlinks=True)
        with study_executor(c, executor) as ex:
            point, chosen, lines, per = pattern_filter(variant, run.spec, post[names], w, observed, c.seed,
                                                       c.pattern_reps, ex, progress)
        per.to_csv(stage / "patterns.csv", index=False)
        post = post.assign(passes_patterns=per["passes"].to_numpy())
        post.to_csv(stage / "posterior.csv", index=False)
        prov = {**old.get("provenance", {}), **chosen, "calibrated_parameters": names,
                "pattern_filter_command": _command(c) if c.command else "bantar-sim calibrate --patterns-only",
                "pattern_filter_model_version": MODEL_VERSION, "pattern_filter_git_commit": git_commit(),
                "pattern_filter_date": dt.datetime.now().astimezone().isoformat(timespec="seconds")}
        values = calibrated_values(point, variant)
        write_calibrated_toml(stage / "calibrated.toml", values, prov, summary)
        read_calibrated(stage / "calibrated.toml")
        lines.append(calibrated_line(values, variant, chosen["point_distance"], chosen, True))
        text = "\n".join(lines)
        (stage / "patterns_summary.txt").write_text(text.lstrip() + "\n", encoding="utf-8")
    return CalibrationResult("patterns-only", run.out, run.db, post, w, summary, patterns=per, point=values,
                             chosen=chosen, stopped_because="no ABC (--patterns-only)",
                             files=["patterns.csv", "posterior.csv", "calibrated.toml", "patterns_summary.txt"],
                             text=text)


# ----------------------------------------------------------------------------------- posterior draws
def sample_posterior(n: int, seed: int, path: str | Path | None = None) -> list[dict]:
    """Draw parameter sets from a posterior file, for experiments that carry parameter uncertainty.

    Parameters
    ----------
    n : int
        How many draws (by weight, with replacement).
    seed : int
        Seed of the draws.
    path : str or Path, optional
        A posterior CSV (default: ``calibration/posterior.csv`` found from the working directory). The
        calibrated set beside it (``calibrated.toml``), if any, gives the settings each draw sits on.

    Returns
    -------
    list of dict
        Parameter overrides. Particles that fail the pattern filter are never drawn.

    Raises
    ------
    CalibrationInputError
        The file is missing, empty, binary or malformed (the message names it).
    """
    path = Path(path) if path is not None else default_posterior_path()
    try:
        post = read_posterior(path)
    except PosteriorFileError as err:
        raise CalibrationInputError(str(err)) from None
    except (ValueError, OSError) as err:             # pandas: empty file, binary bytes, broken CSV
        raise CalibrationInputError(f"{path}: not a readable posterior CSV ({type(err).__name__}); allowed: one "
                                    "column per parameter, 'weight' and optionally 'passes_patterns'") from None
    cal = post.path.with_name("calibrated.toml")
    base: dict[str, Any] = read_calibrated(cal).params if cal.exists() else {}
    idx = np.random.default_rng(seed).choice(len(post.weights), size=n, p=post.weights)
    return [{**base, **post.row(int(i))} for i in idx]
