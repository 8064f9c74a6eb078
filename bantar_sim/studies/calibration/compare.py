"""Model comparison and its stability across seeds (issue 15, item 3): :func:`compare_models`.

One pyabc model selection (``run_calibration`` with ``compare_models=True``) gives posterior model
probabilities that depend on its seed: with a few hundred particles per generation a model can win or
die by chance. This study runs the same comparison once per seed, each into its own sub-folder and its
own pyabc history (so a rerun resumes each), and writes one table of the last generation's posterior
model probabilities per seed and variant, the largest difference between seeds, and a short report that
says whether every seed prefers the same variant.
"""
from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from bantar_sim.engine.outputs import check_output_folder, output_folder
from bantar_sim.engine.provenance import git_commit
from bantar_sim.model.version import MODEL_VERSION
from bantar_sim.reporting.markdown import frame_table
from bantar_sim.studies.calibration.config import OUTPUT_ROOT, CalibrationConfig
from bantar_sim.studies.calibration.targets import CalibrationInputError
from bantar_sim.studies.calibration.workflow import run_calibration

__all__ = ["CompareConfig", "CompareResult", "compare_models", "probability_table", "seed_differences"]


@dataclass
class CompareConfig:
    """Every option of the seed-stability model comparison.

    Parameters
    ----------
    seeds : sequence of int
        Two or more base seeds; one full model comparison per seed.
    population_size, max_populations, max_walltime, predictive_runs :
        Each comparison's ABC-SMC budget (defaults: the default calibration's, i.e. production settings;
        ``max_walltime`` in minutes per seed).
    scale, households_per_rt : float, optional
        Override the priors file's ``[settings]`` (default: the priors file's, the production settings).
    prior : path, optional
        Priors file with the ``[variants]`` to compare (default ``calibration/priors.toml`` of the project).
    out : path, optional
        Result folder (default ``outputs/calibration/compare/``); each seed's comparison goes into
        ``seed_<seed>/`` and its pyabc history beside the folder (``abc_<name>_<seed>.db``, resumed by a rerun).
    executor, workers, scheduler :
        How simulations run when no executor is passed (as the calibration's).
    command : str, optional
        The command line recorded in the report.
    """

    seeds: Sequence[int] = (2014, 2015)
    population_size: int = CalibrationConfig.population_size
    max_populations: int = CalibrationConfig.max_populations
    max_walltime: float = CalibrationConfig.max_walltime
    predictive_runs: int = CalibrationConfig.predictive_runs
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
        """The result folder: ``out``, else ``outputs/calibration/compare/``."""
        return Path(self.out) if self.out else OUTPUT_ROOT / "compare"

    def db_path(self, seed: int) -> Path:
        """One seed's pyabc history, beside the result folder (kept across runs: resume)."""
        out = self.out_path
        return out.parent / f"abc_{out.name}_{seed}.db"

    def calibration_config(self, seed: int) -> CalibrationConfig:
        """The ``compare_models`` :class:`CalibrationConfig` of one seed (its ``out`` is set by the workflow)."""
        return CalibrationConfig(
            population_size=self.population_size, max_populations=self.max_populations,
            max_walltime=self.max_walltime, seed=seed, predictive_runs=self.predictive_runs, compare_models=True,
            scale=self.scale, households_per_rt=self.households_per_rt, prior=self.prior, db=self.db_path(seed),
            out=self.out_path / f"seed_{seed}", executor=self.executor, workers=self.workers,
            scheduler=self.scheduler, command=f"{self.command or 'compare_models'} (seed {seed})")

    def check(self) -> list[int]:
        """Check the options and resolve each seed's calibration config, before any simulation.

        Returns
        -------
        list of int
            The seeds.

        Raises
        ------
        CalibrationInputError
            Fewer than two seeds, a seed named twice or not an integer, or any calibration option or file
            that :meth:`CalibrationConfig.resolve` refuses.
        """
        try:
            seeds = [int(s) for s in self.seeds]
        except (TypeError, ValueError):
            raise CalibrationInputError(f"--seeds must be two or more integers, got {self.seeds!r}") from None
        if len(seeds) < 2 or any(s != ss for s, ss in zip(seeds, self.seeds)) or min(seeds) < 0:
            raise CalibrationInputError(f"--seeds must be two or more integers >= 0 (e.g. 2014,2015), got "
                                        f"{list(self.seeds)!r}")
        if len(set(seeds)) != len(seeds):
            raise CalibrationInputError(f"--seeds names a seed twice: {seeds}")
        out = self.out_path
        if out.is_dir() and any(out.iterdir()) and not (out / "compare.json").is_file():
            raise CalibrationInputError(f"--out {out}: an existing folder that is not a model-comparison result (no "
                                        "compare.json); it would be replaced as a whole: give a new folder")
        for s in seeds:
            self.calibration_config(s).resolve()
        return seeds


@dataclass
class CompareResult:
    """What the seed-stability comparison produced (also in the files of ``out``).

    Attributes
    ----------
    probabilities : DataFrame
        One row per (seed, variant): ``seed, variant, probability`` (last generation; a variant that died
        out has probability 0), ``generations``.
    differences : DataFrame
        One row per variant: ``min, max, max_abs_difference`` of its probability across seeds.
    max_abs_difference : float
        The largest of them.
    preferred : dict
        The preferred variant (highest probability) per seed.
    same_preferred : bool
        Whether every seed prefers the same variant.
    out : Path
        The result folder.
    files : list of str
        Files written into ``out`` (each seed's comparison under ``seed_<seed>/``).
    """

    probabilities: pd.DataFrame
    differences: pd.DataFrame
    max_abs_difference: float
    preferred: dict[int, str]
    same_preferred: bool
    out: Path
    files: list[str] = field(default_factory=list)


def probability_table(seed: int, names: Sequence[str], probs: pd.DataFrame | None) -> pd.DataFrame:
    """The last generation's posterior model probabilities of one seed, one row per variant.

    Parameters
    ----------
    seed : int
        The comparison's seed.
    names : sequence of str
        The variants in pyabc's model order (baseline first).
    probs : DataFrame or None
        pyabc's ``get_model_probabilities()``: rows generations, columns model indices (a model that died
        out may be missing: probability 0).

    Returns
    -------
    DataFrame
        ``seed, variant, probability, generations``.
    """
    last = probs.iloc[-1] if probs is not None and len(probs) else pd.Series(dtype=float)
    got = {int(k): float(v) for k, v in last.items()}
    gens = 0 if probs is None else len(probs)
    return pd.DataFrame({"seed": seed, "variant": list(names),
                         "probability": [got.get(i, 0.0) for i in range(len(names))], "generations": gens})


def seed_differences(table: pd.DataFrame) -> pd.DataFrame:
    """Per variant, the range of its probability across seeds (``max_abs_difference = max - min``)."""
    g = table.groupby("variant", sort=False)["probability"]
    out = pd.DataFrame({"min": g.min(), "max": g.max()})
    out["max_abs_difference"] = out["max"] - out["min"]
    return out.reset_index()


def _report(prov: dict, table: pd.DataFrame, diffs: pd.DataFrame, preferred: dict, same: bool) -> str:
    wide = table.pivot(index="variant", columns="seed", values="probability").reindex(diffs["variant"])
    wide.columns = [f"seed {s}" for s in wide.columns]
    wide = wide.reset_index().merge(diffs[["variant", "max_abs_difference"]], on="variant")
    sentence = (f"Every seed prefers the same variant: **{next(iter(preferred.values()))}**." if same else
                "The seeds do NOT agree on the preferred variant: " + ", ".join(
                    f"seed {s}: {v}" for s, v in preferred.items()) + ".")
    s = prov["settings"]
    return "\n".join([
        "# Model comparison: stability across seeds", "",
        f"- command: `{prov['command']}`", f"- seeds: {', '.join(str(x) for x in prov['seeds'])}",
        f"- model version: {prov['model_version']}; commit: {prov['git_commit']}; date: {prov['date']}",
        f"- settings: population {s['population_size']}, up to {s['max_populations']} generations, "
        f"max {s['max_walltime']} min per seed, scale {prov['scale']}, households per RT "
        f"{prov['households_per_rt']}, priors {prov['prior_file']}",
        f"- wall-clock per seed (s): {prov['wall_clock_s_per_seed']}", "",
        "Posterior model probabilities of the last generation (pyabc model selection; each seed's full "
        "results in `seed_<seed>/`):", "",
        frame_table(wide, {c: "{:.3f}".format for c in wide.columns if c != "variant"}), "",
        f"Largest difference between seeds: {prov['max_abs_difference']:.3g}. {sentence}", ""])


def compare_models(config: CompareConfig, executor: cf.Executor | None = None, progress: bool = True) -> CompareResult:
    """Run the model comparison once per seed and report how much its model probabilities move.

    Parameters
    ----------
    config : CompareConfig
        Every option; checked (each seed's calibration config resolved) before any simulation.
    executor : concurrent.futures.Executor, optional
        Runs every simulation; default: each comparison picks its own as the calibration does.
    progress : bool
        Print progress and show progress bars.

    Returns
    -------
    CompareResult

    Raises
    ------
    CalibrationInputError
        Bad option or input (nothing run or written).
    bantar_sim.engine.outputs.OutputFolderError
        ``out`` cannot be written (checked before any work).
    bantar_sim.engine.outputs.OutputLockedError, bantar_sim.engine.outputs.OutputWriteError
        Another process writes the folder, or the disk filled up (previous results unchanged).
    CalibrationUnfinishedError
        A seed's comparison completed no generation.
    """
    seeds = config.check()
    out = check_output_folder(config.out_path, "--out")
    started = dt.datetime.now().astimezone()
    tables, timing = [], {}
    resolved = config.calibration_config(seeds[0]).resolve()
    names = [v.name for v in resolved.variants]
    with output_folder(out, flag="--out") as stage:
        for seed in seeds:
            t0 = dt.datetime.now()
            if progress:
                print(f"compare-models: seed {seed}: model selection among {', '.join(names)} (population "
                      f"{config.population_size}, up to {config.max_populations} generations)",
                      file=sys.stderr, flush=True)
            cal = config.calibration_config(seed)
            cal.out = stage / f"seed_{seed}"
            res = run_calibration(cal, executor=executor, progress=progress)
            tables.append(probability_table(seed, names, res.model_probabilities))
            timing[seed] = round((dt.datetime.now() - t0).total_seconds(), 1)
        table = pd.concat(tables, ignore_index=True)
        diffs = seed_differences(table)
        top = table.loc[table.groupby("seed")["probability"].idxmax()]
        preferred = {int(r.seed): str(r.variant) for r in top.itertuples()}
        same = len(set(preferred.values())) == 1
        mad = float(diffs["max_abs_difference"].max())
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items() if k != "command"}
        settings["seeds"] = seeds
        prov = {"command": config.command or "bantar_sim.studies.calibration.compare.compare_models(...)",
                "seeds": seeds, "model_version": MODEL_VERSION, "git_commit": git_commit(),
                "date": started.isoformat(timespec="seconds"), "prior_file": str(resolved.priors.path),
                "scale": resolved.variants[0].settings.get("scale"),
                "households_per_rt": resolved.variants[0].settings.get("households_per_rt"),
                "variants": names, "settings": settings, "wall_clock_s_per_seed": timing,
                "max_abs_difference": mad, "preferred": preferred, "same_preferred": same}
        table.to_csv(stage / "model_probabilities_by_seed.csv", index=False)
        diffs.to_csv(stage / "model_probabilities_differences.csv", index=False)
        (stage / "compare.json").write_text(json.dumps(prov, indent=2, default=str), encoding="utf-8")
        (stage / "report.md").write_text(_report(prov, table, diffs, preferred, same), encoding="utf-8")
    files = ["report.md", "compare.json", "model_probabilities_by_seed.csv", "model_probabilities_differences.csv",
             *[f"seed_{s}/" for s in seeds]]
    return CompareResult(table, diffs, mad, preferred, same, out, files)
