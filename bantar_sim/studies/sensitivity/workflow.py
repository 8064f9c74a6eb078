"""The sensitivity workflow as one function: :func:`run_sensitivity` (config in, result object out).

Steps: read and check the problem, resolve the parameter set the runs start from, sample the design
(SALib) and check every point, run every design point × replicate through the batch engine (any
executor; finished runs stored as they come, a rerun resumes), read the outputs back, analyse them
(SALib plus the seed's share and the convergence check) and write the report.

Where results go: ``<out>/<name>/<method>/`` is the study folder. It holds ``runs/`` (the batch store,
shared by every N of the method, resumable in place) and one report folder ``n<N>/`` per design size.
The study folder is written through :func:`bantar_sim.engine.outputs.output_folder`: locked against a
second writer for the whole analysis, the new report staged and swapped in only when complete, so a
failure (a run that fails, a full disk) leaves the previous reports exactly as they were.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bantar_sim.engine.batch import run_batch
from bantar_sim.engine.outputs import check_output_folder, folder_lock, output_folder
from bantar_sim.engine.storage import load_manifest
from bantar_sim.engine.task import RunTask, run_task, spawn_seeds
from bantar_sim.model.params import ParameterError
from bantar_sim.model.version import MODEL_VERSION
from bantar_sim.studies.inputs import ParameterSet, resolve_parameter_set
from bantar_sim.studies.sensitivity.compute import Analysis, analyse, batch_meta, collect, make_tasks
from bantar_sim.studies.sensitivity.design import Design, base_overrides, check_design, sample_design
from bantar_sim.studies.sensitivity.report import write_outputs
from bantar_sim.studies.sensitivity.spec import METHODS, REPLICATIONS, Problem, check_int, check_n, load_problem

__all__ = ["SensitivityConfig", "SensitivityPlan", "SensitivityResult", "plan_sensitivity", "run_sensitivity"]


@dataclass
class SensitivityConfig:
    """What a sensitivity analysis is asked to do.

    Parameters
    ----------
    problem : str, Path or Problem
        A problem file (TOML, see docs/sensitivity.md) or a problem built in code.
    method : str
        ``morris`` (screening: mu*, sigma) or ``sobol`` (S1, ST, S2 with bootstrap intervals).
    n : int, optional
        Sobol: base sample size, a power of 2; Morris: trajectories. Default: the problem's.
    replications, seed : int, optional
        Override the problem's runs per design point and base seed.
    out : str or Path
        Output root; the study folder is ``<out>/<problem name>/<method>/``.
    calibrated : str or Path, optional
        The calibrated parameter set to start from (default: ``calibration/calibrated.toml`` found from
        the working directory upwards).
    uncalibrated : bool
        Start from the status-quo defaults instead (explicitly: a missing calibrated set is an error).
    parameter_set : ParameterSet, optional
        An already resolved set (wins over ``calibrated``/``uncalibrated``).
    run_fn : callable
        What computes one run (default :func:`bantar_sim.engine.task.run_task`; a test function for a
        problem with ``model=False``). Top-level, so a process pool can pickle it.
    model_version : str
        Part of every run id (default the model's).
    """

    problem: str | Path | Problem
    method: str = "sobol"
    n: int | None = None
    replications: int | None = None
    seed: int | None = None
    out: str | Path = "outputs/sensitivity"
    calibrated: str | Path | None = None
    uncalibrated: bool = False
    parameter_set: ParameterSet | None = None
    run_fn: Callable[[RunTask], dict] = run_task
    model_version: str = MODEL_VERSION


@dataclass
class SensitivityPlan:
    """A checked analysis, ready to run: the design, the tasks and where everything goes.

    Made by :func:`plan_sensitivity` before any run or any file (a dry run prints :attr:`text`).
    """

    config: SensitivityConfig
    problem: Problem
    design: Design
    parameter_set: ParameterSet | None
    base: dict
    seeds: list[int]
    tasks: list[RunTask]
    study_dir: Path
    runs_dir: Path
    out_dir: Path

    @property
    def text(self) -> str:
        """The plan in a few lines (design size, runs, folders, parameter set)."""
        d, p = self.design, self.problem
        lines = [f"{d.method}: {len(d.parameters)} parameters, N={d.n} -> {d.n_points} design points x "
                 f"{p.replications} replications = {len(self.tasks)} runs",
                 f"  runs:    {self.runs_dir}/ (shared by every N: an N design is the first half of the 2N one)",
                 f"  results: {self.out_dir}/"]
        if self.parameter_set is not None:
            lines.append(f"  {self.parameter_set.describe()}")
        return "\n".join(lines)


@dataclass
class SensitivityResult:
    """What :func:`run_sensitivity` computed and wrote.

    Attributes
    ----------
    indices : pandas.DataFrame
        One row per output × parameter (Sobol S1/ST or Morris mu*/sigma with intervals, rank, per-replicate range).
    s2 : pandas.DataFrame
        Sobol second-order indices (empty for Morris).
    seed_variance, convergence, convergence_summary : pandas.DataFrame
        The seed's share of each output's variance; the N/2-vs-N check.
    design : pandas.DataFrame
        The design points run (``design_point`` and one column per parameter).
    Y : numpy.ndarray
        ``Y[point, replicate, output]``.
    analysis : Analysis
        All of the above plus the replication means and the outputs skipped.
    study_dir, runs_dir, out_dir : Path
        The study folder, its batch store and this N's report folder.
    files : list of Path
        The report files (in ``out_dir``).
    """

    problem: Problem
    plan: SensitivityPlan
    analysis: Analysis
    Y: np.ndarray
    batch: Any
    meta: dict
    study_dir: Path
    runs_dir: Path
    out_dir: Path
    files: list[Path] = field(default_factory=list)

    @property
    def indices(self) -> pd.DataFrame:
        """One row per output × parameter."""
        return self.analysis.indices

    @property
    def s2(self) -> pd.DataFrame:
        """Sobol second-order indices (empty for Morris)."""
        return self.analysis.s2

    @property
    def seed_variance(self) -> pd.DataFrame:
        """The seed's share of each output's variance."""
        return self.analysis.seed_variance

    @property
    def convergence(self) -> pd.DataFrame:
        """Indices and ranks at N/2 and N."""
        return self.analysis.convergence

    @property
    def convergence_summary(self) -> pd.DataFrame:
        """Per output, how far N/2 and N agree."""
        return self.analysis.convergence_summary

    @property
    def design(self) -> pd.DataFrame:
        """The design points run: ``design_point`` and one column per parameter."""
        d = self.plan.design
        df = pd.DataFrame(d.values, columns=d.names)
        df.insert(0, "design_point", np.arange(d.n_points))
        return df


def _problem(config: SensitivityConfig) -> Problem:
    if isinstance(config.problem, Problem):
        problem = dataclasses.replace(config.problem)
    else:
        problem = load_problem(config.problem)
    if config.replications is not None:
        problem.replications = check_int(config.replications, *REPLICATIONS, "--replications")
    if config.seed is not None:
        problem.seed = check_int(config.seed, 0, 2 ** 63 - 1, "--seed")
    return problem


def plan_sensitivity(config: SensitivityConfig) -> SensitivityPlan:
    """Check everything the analysis needs and plan it, before any run starts or any file is written.

    Parameters
    ----------
    config : SensitivityConfig

    Returns
    -------
    SensitivityPlan

    Raises
    ------
    ParameterError
        A bad problem, method, N, replications, seed, parameter set, or a design point the model forbids.
    bantar_sim.engine.outputs.OutputFolderError
        The output folder cannot be written.
    """
    if config.method not in METHODS:
        raise ParameterError(f"--method must be one of {', '.join(METHODS)}, got {config.method!r}")
    problem = _problem(config)
    method = config.method
    n = (check_n(method, config.n, "--n") if config.n is not None
         else check_n(method, problem.settings(method)["n"], f"{problem.source} [{method}] n"))
    pset = None
    if problem.model:
        pset = config.parameter_set or resolve_parameter_set(config.calibrated, uncalibrated=config.uncalibrated)
    base = base_overrides(problem, pset)
    design = sample_design(problem, method, n)
    if problem.model:
        check_design(problem, design, base)
    seeds = spawn_seeds(problem.seed, problem.replications)
    tasks = make_tasks(problem, design, base, seeds)
    study_dir = check_output_folder(Path(config.out) / problem.name / method, "--out")
    return SensitivityPlan(config, problem, design, pset, base, seeds, tasks, study_dir, study_dir / "runs",
                           study_dir / f"n{n}")


def _failed_runs_error(summary, runs_dir: Path) -> RuntimeError:
    man = load_manifest(runs_dir)
    bad = man[man["status"] != "ok"]
    first = bad["error"].iloc[0] if len(bad) else "?"
    return RuntimeError(f"{summary.n_failed} of {summary.n_total} runs failed (first error: {first}); "
                        f"the {summary.n_done + summary.n_skipped} finished runs are kept in {runs_dir}. "
                        "Rerun the same command to retry only the failed runs.")


def run_sensitivity(config: SensitivityConfig, executor=None, progress: bool = True, *,
                    plan: SensitivityPlan | None = None) -> SensitivityResult:
    """Run a global sensitivity analysis: sample, run through the batch engine, analyse, report.

    Parameters
    ----------
    config : SensitivityConfig
        What to analyse and where to write it.
    executor : concurrent.futures.Executor, optional
        Where runs are computed (None: a process pool with one worker per core).
    progress : bool
        Show the batch's progress bar.
    plan : SensitivityPlan, optional
        One already made by :func:`plan_sensitivity` for this config (the CLI plans first, to print the
        plan and to refuse bad input before it starts an executor).

    Returns
    -------
    SensitivityResult

    Raises
    ------
    ParameterError
        Bad input, before any run (see :func:`plan_sensitivity`).
    bantar_sim.engine.outputs.OutputLockedError
        Another process writes the same study folder; nothing is run or written.
    bantar_sim.engine.outputs.OutputWriteError
        Writing failed part-way (e.g. disk full); the previous reports are unchanged.
    RuntimeError
        Some runs failed: no report is written, finished runs are kept, a rerun retries only the failed.
    """
    plan = plan if plan is not None else plan_sensitivity(config)
    problem, design = plan.problem, plan.design
    t0 = time.perf_counter()
    with folder_lock(plan.study_dir):
        # Carry every other entry of the study folder (the batch store, the reports of other N) over.
        keep = sorted({"runs"} | ({p.name for p in plan.study_dir.iterdir()} if plan.study_dir.is_dir() else set())
                      - {plan.out_dir.name})
        with output_folder(plan.study_dir, keep=keep, flag="--out", locked=False) as stage:
            summary = run_batch(plan.tasks, config.run_fn, plan.runs_dir, executor,
                                model_version=config.model_version, progress=progress,
                                description=f"{design.method} N={design.n} runs")
            if summary.n_failed:
                raise _failed_runs_error(summary, plan.runs_dir)
            Y = collect(plan.runs_dir, plan.tasks, problem, design.n_points, config.model_version)
            analysis = analyse(problem, design, Y)
            meta = batch_meta(problem, design, plan.base, plan.seeds, summary, plan.runs_dir, plan.tasks,
                              config.model_version, time.perf_counter() - t0)
            if plan.parameter_set is not None:
                meta["parameter_set"] = plan.parameter_set.provenance()
                meta["parameter_set_line"] = plan.parameter_set.describe()
            staged = write_outputs(problem, design, analysis, Y, plan.seeds, meta, stage / plan.out_dir.name)
    files = [plan.out_dir / p.name for p in staged]
    return SensitivityResult(problem, plan, analysis, Y, summary, meta, plan.study_dir, plan.runs_dir,
                             plan.out_dir, files)
