"""Simulation-based calibration (coverage) of an amortised ABC posterior (issue 15, item 1).

Does the calibration's posterior say what it knows? Draw parameter sets ("truths") from the prior,
simulate each, calibrate against its own simulated statistics and count how often the posterior's
central 50% and 90% intervals contain the truth (Talts et al. 2018; the coverage checks of ABC random
forests and of the ``sbi`` package). Calibrating 100+ truths with ABC-SMC would cost 100+ calibrations;
an *amortised* posterior reuses ONE reference table of prior simulations for every truth:

1. **Reference table** — ``reference`` parameter sets drawn from the uniform priors of the priors file,
   each simulated once at the given settings with the production summary statistics
   (:class:`~bantar_sim.studies.calibration.stats.StatSpec` with the pattern statistic, as the default
   calibration uses). The simulations go through the batch engine
   (:func:`bantar_sim.engine.batch.run_batch`): each run stores a one-row ``stats`` table, content-addressed
   by its parameters, seed and the model version, so an interrupted study resumes and a larger one reuses
   the smaller one's runs. The truths are simulated in the same store with their own seeds (tag
   ``role = "truth"``); they are never members of the reference table. With ``loo_truths`` the first
   members of the table serve as further truths, each calibrated against the table without its own row.
2. **Posterior of one truth** (:func:`abc_posterior`) — rejection ABC keeps the ``accept`` fraction of the
   table closest to the truth's statistics (Euclidean distance, each statistic divided by its MAD over the
   table), then a local-linear regression adjustment (Beaumont, Zhang & Balding 2002) with Epanechnikov
   weights, on the logit of each parameter's position in its prior range, so adjusted values stay inside
   the prior (:mod:`~bantar_sim.studies.calibration.sbc_posterior`). The adjustment needs 30 accepted
   simulations per coefficient to stay honest, hence the default ``accept`` 0.3; :func:`method_check`
   scores the alternatives (no adjustment, other accept fractions) on the same truths.
3. **Coverage** (:func:`coverage_table`) — per parameter the coverage of the 50% and 90% intervals with
   Clopper–Pearson 95% intervals, the SBC rank of the truth among ``draws`` posterior draws and its
   uniformity (chi-square), the mean 90% interval width relative to the prior width, and a label:
   ``recovered``, ``weakly identified`` or ``not identified / miscalibrated`` (:func:`label`).

Any simulator can stand in for the model (``SBCConfig.simulator``: ``(params, seed) -> {stat: value}``);
:func:`toy_simulator` is a problem with a known posterior on which the machinery is tested. The report
(report.md, coverage.csv, ranks.csv, methods.csv, rank_histograms.png, sbc.json) is written by
:mod:`~bantar_sim.studies.calibration.sbc_report`.
"""
from __future__ import annotations

import concurrent.futures as cf
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bantar_sim.engine.batch import run_batch
from bantar_sim.engine.outputs import check_output_folder, output_folder, store_writes
from bantar_sim.engine.storage import load_table
from bantar_sim.engine.task import RunTask, run_model, seed_from
from bantar_sim.model.model import counts_ok
from bantar_sim.model.params import SPECS, check_value, make_params
from bantar_sim.model.version import MODEL_VERSION
from bantar_sim.studies.calibration.sbc_posterior import (
    Posterior,
    Truth,
    abc_posterior,
    clopper_pearson,
    coverage_table,
    method_check,
    posterior_rows,
    stat_scales,
    summarise_truth,
)
from bantar_sim.studies.calibration.sbc_report import LABELS, binned_ranks, label, rank_bins, write_report
from bantar_sim.studies.calibration.stats import StatSpec, table_stats
from bantar_sim.studies.calibration.targets import CalibrationInputError, Prior, load_priors

__all__ = ["SBCConfig", "SBCResult", "Posterior", "ModelSimulator", "StatsRun", "Truth", "abc_posterior",
           "summarise_truth", "coverage_table", "label", "clopper_pearson", "run_sbc", "toy_simulator",
           "toy_priors", "posterior_rows", "method_check", "stat_scales", "binned_ranks", "rank_bins", "LABELS",
           "OUTPUT_DIR"]

OUTPUT_DIR = Path("outputs") / "calibration" / "sbc"
#: Accept fractions the method check scores beside the chosen one (with and without the adjustment).
METHOD_ACCEPTS = (0.05, 0.1)
PARAM_PREFIX = "param."

Simulator = Callable[[Mapping[str, Any], int], Mapping[str, float]]


# ----------------------------------------------------------------------------------- simulators
@dataclass(frozen=True)
class ModelSimulator:
    """The model as an SBC simulator: one seeded run's production summary statistics.

    Picklable (a process pool sends it to its workers). The run is
    :func:`bantar_sim.engine.task.run_model` keeping the tables the statistics need; the statistics are
    :func:`~bantar_sim.studies.calibration.stats.table_stats` with ``spec`` — the same function, and with
    the default ``StatSpec(patterns=True)`` the same vector, as the default calibration's particles.
    """

    spec: StatSpec = field(default_factory=lambda: StatSpec(patterns=True))

    def __call__(self, params: Mapping[str, Any], seed: int) -> dict[str, float]:
        """The statistics of one run with ``params`` (settings and calibrated values) and ``seed``."""
        return table_stats(run_model(params, seed, self.spec.tables), self.spec)


@dataclass(frozen=True)
class StatsRun:
    """Batch-engine run function around a simulator: a task's statistics as a one-row ``stats`` table.

    The parameter values are stored beside the statistics (columns ``param.NAME``) so the table is
    self-contained; only the calibrated values (``names``) are stored, not the fixed settings.
    """

    simulator: Simulator
    names: tuple[str, ...]

    def __call__(self, task: RunTask) -> dict[str, pd.DataFrame]:
        """``{"stats": one-row DataFrame}`` of the task's simulation."""
        stats = self.simulator(task.params, task.seed)
        row = {f"{PARAM_PREFIX}{n}": float(task.params[n]) for n in self.names}
        row.update({str(k): float(v) for k, v in stats.items()})
        return {"stats": pd.DataFrame([row])}


def toy_simulator(params: Mapping[str, Any], seed: int) -> dict[str, float]:
    """A toy problem with a known posterior, to test the coverage machinery without the model.

    ``a`` and ``b`` (priors :func:`toy_priors`) are observed with Gaussian noise (sd 0.05 and 0.1), ``c``
    is observed by nothing, and ``noise`` is a statistic unrelated to any parameter. The exact posterior
    of ``a`` is N(s_a, 0.05²) truncated to the prior, of ``b`` N(s_b, 0.1²) truncated, of ``c`` its prior:
    ``a`` and ``b`` must come out recovered, ``c`` weakly identified.
    """
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(3)
    return {"s_a": float(params["a"]) + 0.05 * e[0], "s_b": float(params["b"]) + 0.1 * e[1], "noise": float(e[2])}


def toy_priors() -> tuple[Prior, ...]:
    """Uniform priors of :func:`toy_simulator`: a ~ U(0, 1), b ~ U(-1, 2), c ~ U(0, 1)."""
    return (Prior("a", 0.0, 1.0, "toy"), Prior("b", -1.0, 2.0, "toy"), Prior("c", 0.0, 1.0, "toy"))


# ---------------------------------------------------------------------------------- configuration
@dataclass
class SBCConfig:
    """Every option of a coverage study (``bantar-sim sbc --help`` describes each).

    Parameters
    ----------
    priors : path or sequence of Prior, optional
        Priors file (default ``calibration/priors.toml`` found from the working directory), or the
        priors themselves (a toy problem).
    reference : int
        Simulations in the shared reference table (default: the default calibration's, 2,500, so the study
        checks the posterior ``bantar-sim calibrate`` computes).
    truths : int
        Truths drawn from the prior, each simulated with its own seed and calibrated.
    accept : float
        Fraction of the reference table kept per truth by the rejection step (0.3, the default calibration's;
        the regression adjustment is applied only from 30 accepted simulations per coefficient,
        :func:`~bantar_sim.studies.calibration.sbc_report.min_accepted_for_adjustment`: 3,100 simulations
        with the production statistics).
    loo_truths : int
        Members of the reference table used as further truths, each calibrated against the table without
        its own row (prior draws with their own seeds like the independent truths: more power for the
        coverage check at no simulation cost).
    draws : int
        Posterior draws per truth for the SBC rank.
    scale, households_per_rt : float, optional
        Override the priors file's ``[settings]`` (the model only).
    seed : int
        Base seed of the prior draws, the simulations' seeds and the posterior draws.
    out : path, optional
        Result folder (default ``outputs/calibration/sbc/``).
    simulator : callable, optional
        ``(params, seed) -> {statistic: value}``, picklable for a process pool; default the model
        (:class:`ModelSimulator`, production statistics with patterns).
    model_version : str, optional
        Part of every run id (default the model's version; a simulator's own name otherwise).
    command : str, optional
        The command line recorded in the report (the CLI fills it in).
    """

    priors: str | Path | Sequence[Prior] | None = None
    reference: int = 2500         # the default calibration's table (CalibrationConfig.reference)
    truths: int = 100
    accept: float = 0.3
    loo_truths: int = 0
    draws: int = 100
    scale: float | None = None
    households_per_rt: float | None = None
    seed: int = 2015
    out: str | Path | None = None
    simulator: Simulator | None = None
    model_version: str | None = None
    command: str | None = None

    @property
    def out_path(self) -> Path:
        """The result folder."""
        return Path(self.out) if self.out else OUTPUT_DIR

    def check(self) -> None:
        """Check the numeric options (no file read).

        Raises
        ------
        CalibrationInputError
            Naming the option, its value and what is allowed.
        """
        def whole(v, lo, hi):
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and lo <= v <= hi

        checks = [("reference", whole(self.reference, 10, 10_000_000), "an integer in [10, 10000000]"),
                  ("truths", whole(self.truths, 1, 1_000_000), "an integer in [1, 1000000]"),
                  ("draws", whole(self.draws, 1, 100_000), "an integer in [1, 100000]"),
                  ("loo_truths", whole(self.loo_truths, 0, 10_000_000), "an integer >= 0"),
                  ("seed", whole(self.seed, 0, 2**63 - 1), "an integer in [0, 2**63)")]
        acc = self.accept
        checks.append(("accept", isinstance(acc, (int, float)) and not isinstance(acc, bool) and 0 < acc <= 1,
                       "a fraction in (0, 1]"))
        for name, ok, allowed in checks:
            if not ok:
                flag = name.replace("_", "-")
                raise CalibrationInputError(f"--{flag} must be {allowed}, got {getattr(self, name)!r}")
        if whole(self.reference, 10, 10**7) and math.ceil(self.accept * self.reference) < 10:
            raise CalibrationInputError(f"--accept {self.accept:g} keeps {math.ceil(self.accept * self.reference)} of "
                                        f"--reference {self.reference} simulations; at least 10 are needed")


@dataclass
class SBCPlan:
    """A checked config with its inputs read: the priors, the fixed settings and every task."""

    config: SBCConfig
    priors: tuple[Prior, ...]
    settings: dict[str, Any]
    priors_source: str
    simulator: Simulator
    model_version: str
    stat_spec: StatSpec | None
    tasks: list[RunTask]
    truth_theta: np.ndarray
    out: Path


def _integer(p: Prior) -> bool:
    return p.name in SPECS and SPECS[p.name].kind is int


def _draw(priors: Sequence[Prior], ss: np.random.SeedSequence) -> tuple[dict[str, float], int]:
    """One prior draw and its simulation seed from one SeedSequence child (stable when N grows)."""
    p_ss, s_ss = ss.spawn(2)
    rng = np.random.default_rng(p_ss)
    vals = {}
    for p in priors:
        v = float(rng.uniform(p.low, p.high))
        vals[p.name] = int(round(v)) if _integer(p) else v
    return vals, seed_from(s_ss)


def plan_sbc(config: SBCConfig) -> SBCPlan:
    """Check every option and input and build the tasks, before any simulation.

    Raises
    ------
    CalibrationInputError
        A bad option or priors file (a ParameterError: one line, exit code 2 in the CLI).
    bantar_sim.engine.outputs.OutputFolderError
        ``out`` cannot be written.
    """
    config.check()
    out = check_output_folder(config.out_path, "--out")
    spec = None
    if config.priors is not None and not isinstance(config.priors, (str, Path)):
        priors, settings, source, weight = tuple(config.priors), {}, "given priors", 1.0
    else:
        pf = load_priors(config.priors)
        priors, settings, source = pf.priors, dict(pf.settings), f"{pf.path} (sha256 {pf.sha256[:12]})"
        weight = pf.pattern_weight
    if config.simulator is None:
        if config.scale is not None:
            settings["scale"] = check_value("scale", config.scale, "--scale")
        if config.households_per_rt is not None:
            settings["households_per_rt"] = check_value("households_per_rt", config.households_per_rt,
                                                        "--households-per-rt")
        spec = StatSpec(patterns=True, pattern_weight=weight)
        settings["end_year"] = spec.last_year
        counts_ok(make_params(settings, where="sbc settings"))
        simulator: Simulator = ModelSimulator(spec)
        mv = config.model_version or MODEL_VERSION
    else:
        if config.scale is not None or config.households_per_rt is not None:
            raise CalibrationInputError("--scale and --households-per-rt apply only to the model, not to a "
                                        "simulator of its own")
        simulator = config.simulator
        mv = config.model_version or f"simulator:{getattr(simulator, '__module__', '?')}." \
                                     f"{getattr(simulator, '__qualname__', type(simulator).__name__)}"
    ref_ss, truth_ss = np.random.SeedSequence(config.seed).spawn(2)
    tasks = []
    thetas = []
    for role, ss, n in (("reference", ref_ss, config.reference), ("truth", truth_ss, config.truths)):
        for i, child in enumerate(ss.spawn(n)):
            vals, seed = _draw(priors, child)
            tasks.append(RunTask({**settings, **vals}, seed, {"role": role, "index": i}, tables=("stats",)))
            if role == "truth":
                thetas.append([vals[p.name] for p in priors])
    return SBCPlan(config, priors, settings, source, simulator, mv, spec, tasks,
                   np.asarray(thetas, float), out)


# ----------------------------------------------------------------------------------- the workflow
@dataclass
class SBCResult:
    """What a coverage study found, and where it wrote it."""

    coverage: pd.DataFrame          # one row per parameter (coverage_table)
    ranks: pd.DataFrame             # one row per truth (summarise_truth columns)
    out_dir: Path
    files: dict[str, Path]
    meta: dict[str, Any]


def compute_sbc(plan: SBCPlan, stats: pd.DataFrame) -> tuple[pd.DataFrame, list[str], pd.DataFrame, pd.DataFrame]:
    """Every truth's posterior from the reference table, summarised, and the methods compared.

    The truths are the independent ones (``role = "truth"``) and, with ``loo_truths``, the first members
    of the reference table, each calibrated against the table without its own row.

    Parameters
    ----------
    plan : SBCPlan
        The plan (priors, truths, draws, seed).
    stats : DataFrame
        The stored ``stats`` table (tags ``role`` and ``index``, ``param.*`` and statistic columns).

    Returns
    -------
    (per_truth, stat_keys, table, methods)
        One row per truth that ran (``source``: ``truth`` or ``left-out reference``; ``adjusted``: whether
        its regression adjustment was applied); the statistics used; the per-parameter coverage table; the
        method check (:func:`method_check`: the chosen method beside rejection ABC and other accept
        fractions).
    """
    c = plan.config
    names = [p.name for p in plan.priors]
    keys = plan.stat_spec.keys() if plan.stat_spec else [k for k in stats.columns
                                                          if k not in ("run_id", "role", "index")
                                                          and not k.startswith(PARAM_PREFIX)]
    ref = stats[stats["role"] == "reference"].dropna(subset=keys).sort_values("index")
    tru = stats[stats["role"] == "truth"].dropna(subset=keys).sort_values("index")
    if len(ref) < 10 or tru.empty:
        raise RuntimeError(f"too few finished simulations: {len(ref)} reference, {len(tru)} truths "
                           "(rerun the same command to retry failed runs)")
    cols = [PARAM_PREFIX + n for n in names]
    theta = ref[cols].to_numpy(float)
    s = ref[keys].to_numpy(float)
    scales = stat_scales(s)
    lows = np.array([p.low for p in plan.priors])
    highs = np.array([p.high for p in plan.priors])
    truths = [Truth(r[keys].to_numpy(float), r[cols].to_numpy(float), None,
                    (("source", "truth"), ("truth_index", int(r["index"])))) for _, r in tru.iterrows()]
    truths += [Truth(s[i], theta[i], i, (("source", "left-out reference"), ("truth_index", int(ref["index"].iloc[i]))))
               for i in range(min(c.loo_truths, len(ref) - 10))]
    rng = np.random.default_rng(np.random.SeedSequence([c.seed, 2]))
    per_truth = posterior_rows(theta, s, truths, lows, highs, c.accept, names, scales, c.draws, rng)
    methods = [(True, c.accept), (False, c.accept)]
    methods += [(adj, a) for a in METHOD_ACCEPTS for adj in (True, False) if a != c.accept]
    checked = method_check(theta, s, truths, plan.priors, scales, c.draws, c.seed, methods)
    return per_truth, keys, coverage_table(per_truth, plan.priors, c.draws), checked


def run_sbc(config: SBCConfig, executor: cf.Executor | None = None, progress: bool = True,
            plan: SBCPlan | None = None) -> SBCResult:
    """Run a coverage study: reference table and truths through the batch engine, posteriors, report.

    Parameters
    ----------
    config : SBCConfig
        What to run.
    executor : concurrent.futures.Executor, optional
        Where the simulations run (None: a process pool with one worker per core, made by the batch
        engine).
    progress : bool
        Show the batch engine's progress bar.
    plan : SBCPlan, optional
        The plan already made by :func:`plan_sbc` for this config.

    Returns
    -------
    SBCResult

    Raises
    ------
    CalibrationInputError
        Bad input, before any simulation.
    bantar_sim.engine.outputs.OutputLockedError, OutputWriteError
        The result folder is being written by another process, or writing failed (the previous
        results are unchanged; finished simulations are kept in ``runs/`` for a rerun).
    """
    start = time.perf_counter()
    plan = plan or plan_sbc(config)
    with output_folder(plan.out, keep=("runs",)) as stage:
        runs = plan.out / "runs"
        with store_writes(runs, plan.out):
            summary = run_batch(plan.tasks, StatsRun(plan.simulator, tuple(p.name for p in plan.priors)), runs,
                                executor, model_version=plan.model_version, progress=progress,
                                description="sbc simulations")
        stats = load_table(runs, "stats")
        ids = {t.run_id(plan.model_version) for t in plan.tasks}
        stats = stats[stats["run_id"].isin(ids)]
        if progress:
            print(f"sbc: posteriors of {plan.config.truths} truths + up to {plan.config.loo_truths} left out of the "
                  f"table, chosen method and {1 + 2 * len(METHOD_ACCEPTS)} others (about a minute per 500 truths)",
                  file=sys.stderr, flush=True)
        per_truth, keys, table, methods = compute_sbc(plan, stats)
        meta = {"batch": {"runs": summary.n_total, "computed_now": summary.n_done,
                          "reused": summary.n_skipped, "failed": summary.n_failed,
                          "elapsed_s": round(summary.elapsed_s, 2)},
                "statistics": keys, "n_reference": int((stats["role"] == "reference").sum()),
                "n_truths": len(per_truth), "n_independent_truths": int((per_truth["source"] == "truth").sum()),
                "adjusted": bool(per_truth["adjusted"].all()),
                "wall_clock_s": round(time.perf_counter() - start, 1)}
        files = write_report(plan, table, per_truth, meta, stage, methods)
    return SBCResult(table, per_truth, plan.out, {f: plan.out / f for f in files}, meta)
