"""The replicated simulation (`bantar-sim run`): the calibrated Jambi 2014–2020 simulation, replicated,
set beside the paper's Table 3.

>>> from bantar_sim.studies.simulation import SimulationConfig, run_simulation
>>> result = run_simulation(SimulationConfig(replications=3, scale=0.1, out="outputs/try"))  # doctest: +SKIP
>>> result.city_year.groupby("year")["winners"].median()                                   # doctest: +SKIP

Rooms: :mod:`.spec` (the config and its checks), :mod:`.compute` (the runs and tables),
:mod:`.report` (summary, figure, data dictionary). This module holds the workflow that joins them.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bantar_sim.engine.outputs import check_output_folder, output_folder
from bantar_sim.engine.provenance import git_commit
from bantar_sim.model.version import MODEL_VERSION, __version__
from bantar_sim.studies.inputs import ParameterSet
from bantar_sim.studies.simulation.compute import build_tasks, compare_with_table3, rt_share, run_replications, stack
from bantar_sim.studies.simulation.report import FIGURE, plot_winners, summarise, write_data_dictionary
from bantar_sim.studies.simulation.spec import (
    SimulationConfig,
    parse_settings,
    parse_value,
    read_params_file,
    resolve,
)

FILES = ("city_year.csv", "subdistrict_year.csv", "rt_year_replicate0.csv", "metrics.csv", "table3_comparison.csv",
         FIGURE, "summary.txt", "run.json", "datapackage.json")


@dataclass
class SimulationResult:
    """What :func:`run_simulation` returns: the tables it wrote, where, and how they were made.

    Attributes
    ----------
    city_year, subdistrict_year, metrics : pandas.DataFrame
        Every replication's tables stacked, with ``replicate`` and ``seed`` columns.
    table3_comparison : pandas.DataFrame
        Published Table 3 beside the simulated mean, per sub-district.
    rt_year : pandas.DataFrame
        The per-RT table of replicate 0.
    summary : str
        The summary text (``summary.txt``).
    parameter_set : ParameterSet
        The parameter set the overrides start from (calibrated file or status-quo defaults).
    overrides, params : dict
        The overrides every replication ran with, and the full parameter set they give.
    seeds : list of int
        Replication i's seed.
    out : Path
        The output folder; ``paths`` maps each file name to its path.
    meta : dict
        The run record (``run.json``).
    """

    city_year: pd.DataFrame
    subdistrict_year: pd.DataFrame
    table3_comparison: pd.DataFrame
    metrics: pd.DataFrame
    rt_year: pd.DataFrame
    summary: str
    parameter_set: ParameterSet
    overrides: dict
    params: dict
    seeds: list[int]
    out: Path
    paths: dict[str, Path] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


def run_simulation(config: SimulationConfig, executor: Executor | None = None,
                   progress: bool = True) -> SimulationResult:
    """Run the replicated simulation and write its folder (tables, figure, summary, run record, data dictionary).

    Every input is checked before any run (:func:`.spec.resolve`) and the output folder before any
    work; the files are written into a staging folder that replaces ``config.out`` only when all of
    them are complete, under a lock against a second writer (:func:`bantar_sim.engine.outputs.output_folder`).

    Parameters
    ----------
    config : SimulationConfig
        What to run and where to write.
    executor : concurrent.futures.Executor, optional
        Where the replications are computed (``executor.map``); ``None`` computes them one after the other
        in this process. The same seed gives the same tables on any executor.
    progress : bool
        Show a progress bar.

    Returns
    -------
    SimulationResult

    Raises
    ------
    bantar_sim.model.params.ParameterError
        Bad input (nothing is written).
    bantar_sim.engine.outputs.OutputFolderError
        ``config.out`` cannot be written (checked before any work).
    bantar_sim.engine.outputs.OutputLockedError
        Another process writes the same folder.
    bantar_sim.engine.outputs.OutputWriteError
        Writing failed (e.g. a full disk); the previous folder is left as it was.
    """
    resolved = resolve(config)
    check_output_folder(config.out)
    tasks = build_tasks(resolved)
    with output_folder(config.out, keep=()) as stage:
        t0 = time.perf_counter()
        runs = run_replications(tasks, executor, progress)
        elapsed = time.perf_counter() - t0
        seeds = resolved.seeds
        city, sd = stack(runs, seeds, "city_year"), stack(runs, seeds, "subdistrict_year")
        t3, metrics = stack(runs, seeds, "table3"), stack(runs, seeds, "metrics")
        rt_year = runs[0]["rt_year"].assign(seed=str(seeds[0]))
        comparison = compare_with_table3(t3)
        share = rt_share(sd)
        pset = resolved.parameter_set
        params = resolved.params
        meta = {"package_version": __version__, "model_version": MODEL_VERSION, "git_commit": git_commit(),
                "base_seed": config.seed, "replication_seeds": [str(s) for s in seeds], "params": params,
                "overrides": resolved.overrides, "calibrated": pset.path is not None,
                "parameter_set": pset.provenance(), "parameter_set_description": pset.describe(),
                "params_file": resolved.params_file.provenance() if resolved.params_file else None,
                "settings": dict(config.settings), "rt_share": share, "elapsed_s": round(elapsed, 3)}
        city.to_csv(stage / "city_year.csv", index=False)
        sd.to_csv(stage / "subdistrict_year.csv", index=False)
        metrics.to_csv(stage / "metrics.csv", index=False)
        rt_year.to_csv(stage / "rt_year_replicate0.csv", index=False)
        comparison.to_csv(stage / "table3_comparison.csv")
        plot_winners(city, sd, stage / FIGURE, config.replications, share)
        (stage / "run.json").write_text(json.dumps(meta, indent=2, default=str))
        summary = summarise(city, comparison, metrics, meta)
        (stage / "summary.txt").write_text(summary)
        write_data_dictionary(stage, {"city_year": city, "subdistrict_year": sd, "rt_year": rt_year,
                                      "metrics": metrics, "table3_comparison": comparison}, meta)
    out = Path(config.out)
    return SimulationResult(city, sd, comparison, metrics, rt_year, summary, pset, resolved.overrides, params,
                            list(seeds), out, {f: out / f for f in FILES}, meta)


__all__ = ["FILES", "SimulationConfig", "SimulationResult", "parse_settings", "parse_value", "read_params_file",
           "resolve", "run_simulation"]
