"""The experiment workflow: plan (validate, build tasks), run through the batch engine, analyse, report.

Runs are stored in ``<out>/runs``, a resumable batch store written in place under its own lock (a rerun
skips finished runs). Every other file is written into a staging folder that replaces ``<out>`` only
when the report is complete, under a lock on ``<out>`` against a second writer
(:func:`bantar_sim.engine.outputs.output_folder` with ``keep=("runs",)``).
"""
from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bantar_sim.engine.batch import BatchSummary, run_batch
from bantar_sim.engine.executors import SerialExecutor
from bantar_sim.engine.outputs import check_output_folder, output_folder, store_writes
from bantar_sim.engine.storage import load_manifest
from bantar_sim.engine.task import RunTask, run_task
from bantar_sim.model.version import MODEL_VERSION
from bantar_sim.studies.experiment.compute import analyse
from bantar_sim.studies.experiment.report import headline_summary, plan_text, write_report
from bantar_sim.studies.experiment.spec import Experiment, ExperimentConfig, build_tasks, load_experiment


@dataclass
class ExperimentPlan:
    """A validated experiment and its tasks; nothing run or written yet.

    Attributes
    ----------
    experiment : Experiment
        The resolved experiment file.
    tasks : list of RunTask
        One per arm and replication.
    out, runs_dir : Path
        The output folder and its batch store.
    done : int
        Runs of this experiment already stored (ok).
    """

    experiment: Experiment
    tasks: list[RunTask]
    out: Path
    runs_dir: Path
    done: int

    @property
    def run_ids(self) -> set[str]:
        """The content addresses of the tasks."""
        return {t.run_id(MODEL_VERSION) for t in self.tasks}

    @property
    def text(self) -> str:
        """The plan as printed (and all that ``--dry-run`` prints)."""
        return plan_text(self.experiment, self.tasks, self.runs_dir, self.done)


@dataclass
class ExperimentResult:
    """What :func:`run_experiment` returns: the experiment's tables, where they are, and what ran.

    Attributes
    ----------
    experiment : Experiment
        The resolved experiment (arms, seeds, parameter set: ``experiment.parameter_set``).
    per_run : pandas.DataFrame
        Every experiment metric per run (``metrics.csv``).
    effects, levels : pandas.DataFrame
        Paired effects vs the baseline and per-arm levels with 95% t intervals.
    series, sustainability : pandas.DataFrame or None
        Yearly bands per arm; share still active k years after the award per run (None without ok runs).
    runs : pandas.DataFrame
        Run ids, tags and status.
    dose_response : pandas.DataFrame or None
        The [[sweep]]s' effects by lever value (``dose_response.csv``); None without sweeps.
    batch : BatchSummary
        What this call's batch did (executed, skipped, failed).
    summary : str
        The headline effects as printed.
    out : Path
        The output folder; ``paths`` maps each written file name to its path.
    """

    experiment: Experiment
    per_run: pd.DataFrame
    effects: pd.DataFrame
    levels: pd.DataFrame
    series: pd.DataFrame | None
    sustainability: pd.DataFrame | None
    runs: pd.DataFrame
    batch: BatchSummary
    summary: str
    out: Path
    paths: dict[str, Path] = field(default_factory=dict)
    dose_response: pd.DataFrame | None = None

    @property
    def n_failed(self) -> int:
        """Runs recorded as failed (the rerun retries them)."""
        return int((self.runs["status"] == "failed").sum())


def stored_ok(runs_dir: Path, run_ids: set[str]) -> int:
    """How many of ``run_ids`` the batch store holds as ok."""
    if not (runs_dir / "manifest").is_dir():
        return 0
    man = load_manifest(runs_dir)
    return int(((man["status"] == "ok") & man["run_id"].isin(run_ids)).sum())


def plan_experiment(config: ExperimentConfig) -> ExperimentPlan:
    """Validate the experiment file and build its tasks; nothing is run or written.

    Raises
    ------
    ExperimentError
        (a ParameterError) naming the file, the key and what is allowed.
    """
    exp = load_experiment(config.file, replications=config.replications, horizon=config.horizon,
                          households_per_rt=config.households_per_rt, point=config.point, price=config.price)
    tasks = build_tasks(exp)
    out = Path(config.out) if config.out else Path("outputs") / exp.name
    runs_dir = out / "runs"
    plan = ExperimentPlan(exp, tasks, out, runs_dir, 0)
    plan.done = stored_ok(runs_dir, plan.run_ids)
    return plan


def run_experiment(config: ExperimentConfig, executor: Executor | None = None, progress: bool = True, *,
                   plan: ExperimentPlan | None = None) -> ExperimentResult:
    """Run an experiment file: every arm × replication through the batch engine, then the analysis and report.

    Parameters
    ----------
    config : ExperimentConfig
        The file, overrides and output folder.
    executor : concurrent.futures.Executor, optional
        Where the runs are computed (:func:`bantar_sim.engine.executors.make_executor` gives a process pool
        or Dask); ``None`` runs them one after the other in this process. Results do not depend on it.
    progress : bool
        Show a progress bar.
    plan : ExperimentPlan, optional
        The plan already made by :func:`plan_experiment` for this config (not made again).

    Returns
    -------
    ExperimentResult
        ``n_failed > 0`` when runs failed (they are reported, and retried by a rerun).

    Raises
    ------
    ExperimentError
        Bad input, before any run.
    bantar_sim.engine.outputs.OutputFolderError, OutputLockedError, OutputWriteError
        The output folder cannot be written, is being written by another process, or writing failed
        (the previous report files are left as they were; stored runs are kept).
    """
    plan = plan or plan_experiment(config)
    exp = plan.experiment
    check_output_folder(plan.out)
    with output_folder(plan.out, keep=("runs",)) as stage:
        with store_writes(plan.runs_dir, plan.out):
            summary = run_batch(plan.tasks, run_task, plan.runs_dir, executor or SerialExecutor(),
                                model_version=MODEL_VERSION, progress=progress,
                                description=f"experiment {exp.name}")
        analysis = analyse(exp, plan.tasks, plan.runs_dir)
        files = write_report(exp, analysis, stage, batch_summary=summary, command=config.command)
    return ExperimentResult(exp, analysis.per_run, analysis.effects, analysis.levels, analysis.bands, analysis.curve,
                            analysis.runs, summary, headline_summary(exp, analysis), plan.out,
                            {f: plan.out / f for f in files}, analysis.dose)
