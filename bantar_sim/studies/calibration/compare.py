"""Model comparison and its stability across seeds (issue 15, item 3): :func:`compare_models`.

Two methods, one per :attr:`CompareConfig.method`:

- ``"reference"`` (default): per seed an independent **reference table** — the same number of prior
  simulations of every variant of the priors file at its production settings, with the production summary
  statistics (Table 3 groups and the pattern violation) — and **ABC random forest model choice** on it
  (Pudlo et al. 2016), cross-checked by rejection ABC on the same table
  (:mod:`~bantar_sim.studies.calibration.model_choice`). The simulations go through the batch engine into
  ``out/runs/`` (content-addressed: an interrupted comparison resumes, a larger one reuses the smaller's).
- ``"abc-smc"``: pyabc model selection (``run_calibration`` with ``compare_models=True``) once per seed,
  each into ``seed_<seed>/`` with its own pyabc history. Kept for comparison: with a few hundred particles
  shared among four variants a variant wins or dies out by chance — two seeds of the same model version
  preferred opposite variants with probabilities near 0 and 1, which is why the reference table replaced it.

Either way the study writes one table of the posterior model probabilities per seed and variant, the
largest difference between seeds, and a report that says whether every seed prefers the same variant.
"""
from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bantar_sim.engine.outputs import check_output_folder, output_folder, store_writes
from bantar_sim.engine.provenance import git_commit
from bantar_sim.model.version import MODEL_VERSION
from bantar_sim.reporting.markdown import frame_table
from bantar_sim.studies.calibration.config import OUTPUT_ROOT, CalibrationConfig, history_beside
from bantar_sim.studies.calibration.model_choice import (
    TREES,
    ModelChoice,
    ReferenceRun,
    ReferenceTableError,
    choose_model,
    plan_reference,
    reference_table,
)
from bantar_sim.studies.calibration.sbc import ModelSimulator
from bantar_sim.studies.calibration.stats import StatSpec, observed_stats
from bantar_sim.studies.calibration.targets import CalibrationInputError
from bantar_sim.studies.calibration.workflow import run_calibration, study_executor

__all__ = ["CompareConfig", "CompareResult", "compare_models", "probability_table", "seed_differences", "METHODS",
           "PUDLO_2016", "ReferenceTableError"]

METHODS = ("reference", "abc-smc")
PUDLO_2016 = ("Pudlo, Marin, Estoup, Cornuet, Gautier & Robert (2016), Reliable ABC model choice via random "
              "forests, Bioinformatics 32(6), 859-866")


@dataclass
class CompareConfig:
    """Every option of the seed-stability model comparison.

    Parameters
    ----------
    seeds : sequence of int
        Two or more base seeds; one full model comparison per seed.
    method : str
        ``"reference"`` (reference table, random forest and rejection ABC) or ``"abc-smc"`` (pyabc
        model selection per seed).
    reference_per_variant : int
        ``reference``: simulations of each variant per seed (equal numbers: equal prior model probabilities).
    rejection_quantile : float
        ``reference``: share of the table the rejection cross-check accepts.
    trees : int
        ``reference``: trees per random forest.
    population_size, max_populations, max_walltime, predictive_runs :
        ``abc-smc``: each comparison's ABC-SMC budget (defaults: the default calibration's, i.e. production
        settings; ``max_walltime`` in minutes per seed).
    scale, households_per_rt : float, optional
        Override the priors file's ``[settings]`` (default: the priors file's, the production settings).
    prior : path, optional
        Priors file with the ``[variants]`` to compare (default ``calibration/priors.toml`` of the project).
    out : path, optional
        Result folder (default ``outputs/calibration/compare/``). ``reference``: the simulations are kept in
        ``runs/`` inside it (resumed by a rerun). ``abc-smc``: each seed's comparison goes into
        ``seed_<seed>/`` and its pyabc history beside the folder (``abc_<name>_<seed>.db``, resumed by a rerun).
    executor, workers, scheduler :
        How simulations run when no executor is passed (as the calibration's; 2 processes by default).
    command : str, optional
        The command line recorded in the report.
    """

    seeds: Sequence[int] = (2014, 2015)
    method: str = "reference"
    reference_per_variant: int = 1000
    rejection_quantile: float = 0.02
    trees: int = TREES
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
        return history_beside(self.out_path, seed)

    def calibration_config(self, seed: int) -> CalibrationConfig:
        """The ``compare_models`` :class:`CalibrationConfig` of one seed (its ``out`` is set by the workflow)."""
        return CalibrationConfig(
            population_size=self.population_size, max_populations=self.max_populations,
            max_walltime=self.max_walltime, seed=seed, predictive_runs=self.predictive_runs, compare_models=True,
            scale=self.scale, households_per_rt=self.households_per_rt, prior=self.prior, db=self.db_path(seed),
            out=self.out_path / f"seed_{seed}", executor=self.executor, workers=self.workers,
            scheduler=self.scheduler, command=f"{self.command or 'compare_models'} (seed {seed})")

    def _check_method_options(self) -> None:
        def whole(v, lo, hi):
            return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and lo <= v <= hi

        if self.method not in METHODS:
            raise CalibrationInputError(f"--method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if not whole(self.reference_per_variant, 10, 10_000_000):
            raise CalibrationInputError(f"--reference-per-variant must be an integer in [10, 10000000], got "
                                        f"{self.reference_per_variant!r}")
        q = self.rejection_quantile
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not (0 < q <= 1):
            raise CalibrationInputError(f"--rejection-quantile must be a share in (0, 1], got {q!r}")
        if not whole(self.trees, 10, 100_000):
            raise CalibrationInputError(f"trees must be an integer in [10, 100000], got {self.trees!r}")

    def check(self) -> list[int]:
        """Check the options and resolve each seed's calibration config, before any simulation.

        Returns
        -------
        list of int
            The seeds.

        Raises
        ------
        CalibrationInputError
            Fewer than two seeds, a seed named twice or not an integer, an unknown method or a bad
            reference-table option, or any calibration option or file that :meth:`CalibrationConfig.resolve`
            refuses.
        """
        self._check_method_options()
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
        # An earlier result, or the simulations (runs/) of an interrupted reference comparison, may be replaced.
        if (out.is_dir() and {p.name for p in out.iterdir()} - {"runs"}
                and not (out / "compare.json").is_file()):
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
        One row per (seed, variant): ``seed, variant, method, probability`` and, by method, ``votes,
        chosen, rejection_probability, simulations`` (reference) or ``generations`` (abc-smc; a variant
        that died out has probability 0).
    differences : DataFrame
        One row per variant: ``min, max, max_abs_difference`` of its probability across seeds (reference:
        also ``votes_max_abs_difference``, ``rejection_max_abs_difference``).
    max_abs_difference : float
        The largest of the probability differences.
    preferred : dict
        The preferred variant per seed (reference: the forest's choice; abc-smc: highest probability).
    same_preferred : bool
        Whether every seed prefers the same variant.
    out : Path
        The result folder.
    files : list of str
        Files written into ``out``.
    method : str
        The method that produced the numbers.
    confusion : DataFrame, optional
        reference: the forests' out-of-bag confusion matrices (row shares) per seed.
    """

    probabilities: pd.DataFrame
    differences: pd.DataFrame
    max_abs_difference: float
    preferred: dict[int, str]
    same_preferred: bool
    out: Path
    files: list[str] = field(default_factory=list)
    method: str = "reference"
    confusion: pd.DataFrame | None = None


def probability_table(seed: int, names: Sequence[str], probs: pd.DataFrame | None) -> pd.DataFrame:
    """The last generation's posterior model probabilities of one pyabc seed, one row per variant.

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
        ``seed, variant, method, probability, generations``.
    """
    last = probs.iloc[-1] if probs is not None and len(probs) else pd.Series(dtype=float)
    got = {int(k): float(v) for k, v in last.items()}
    gens = 0 if probs is None else len(probs)
    return pd.DataFrame({"seed": seed, "variant": list(names), "method": "abc-smc",
                         "probability": [got.get(i, 0.0) for i in range(len(names))], "generations": gens})


def seed_differences(table: pd.DataFrame) -> pd.DataFrame:
    """Per variant, the range of its probability across seeds (``max_abs_difference = max - min``), and of
    its votes and rejection probability when the table has them.
    """
    g = table.groupby("variant", sort=False)
    out = pd.DataFrame({"min": g["probability"].min(), "max": g["probability"].max()})
    out["max_abs_difference"] = out["max"] - out["min"]
    for col, name in (("votes", "votes_max_abs_difference"), ("rejection_probability", "rejection_max_abs_difference")):
        if col in table.columns:
            out[name] = g[col].max() - g[col].min()
    return out.reset_index()


# ------------------------------------------------------------------------------------------ reports
def _header(prov: dict) -> list[str]:
    return [f"- command: `{prov['command']}`", f"- seeds: {', '.join(str(x) for x in prov['seeds'])}",
            f"- model version: {prov['model_version']}; commit: {prov['git_commit']}; date: {prov['date']}"]


def _wide(table: pd.DataFrame, diffs: pd.DataFrame, column: str, diff_column: str) -> pd.DataFrame:
    wide = table.pivot(index="variant", columns="seed", values=column).reindex(diffs["variant"])
    wide.columns = [f"seed {s}" for s in wide.columns]
    return wide.reset_index().merge(diffs[["variant", diff_column]].rename(columns={diff_column: "largest difference"}),
                                    on="variant")


def _agreement(preferred: dict, same: bool) -> str:
    return (f"Every seed prefers the same variant: **{next(iter(preferred.values()))}**." if same else
            "The seeds do NOT agree on the preferred variant: " + ", ".join(
                f"seed {s}: {v}" for s, v in preferred.items()) + ".")


def _report_abc_smc(prov: dict, table: pd.DataFrame, diffs: pd.DataFrame, preferred: dict, same: bool) -> str:
    wide = _wide(table, diffs, "probability", "max_abs_difference")
    s = prov["settings"]
    return "\n".join([
        "# Model comparison: stability across seeds (ABC-SMC model selection)", "", *_header(prov),
        f"- settings: population {s['population_size']}, up to {s['max_populations']} generations, "
        f"max {s['max_walltime']} min per seed, scale {prov['scale']}, households per RT "
        f"{prov['households_per_rt']}, priors {prov['prior_file']}",
        f"- wall-clock per seed (s): {prov['wall_clock_s_per_seed']}", "",
        "Posterior model probabilities of the last generation (pyabc model selection; each seed's full "
        "results in `seed_<seed>/`):", "",
        frame_table(wide, {c: "{:.3f}".format for c in wide.columns if c != "variant"}), "",
        f"Largest difference between seeds: {prov['max_abs_difference']:.3g}. {_agreement(preferred, same)}", ""])


def _report_reference(prov: dict, table: pd.DataFrame, diffs: pd.DataFrame, confusion: pd.DataFrame,
                      preferred: dict, same: bool) -> str:
    s = prov["settings"]
    f3 = "{:.3f}".format
    lines = [
        "# Model comparison: stability across seeds (reference table, ABC random forest)", "", *_header(prov),
        f"- reference table per seed: {s['reference_per_variant']} prior simulations of each variant "
        f"({', '.join(prov['variants'])}) at scale {prov['scale']}, households per RT {prov['households_per_rt']}; "
        f"{len(prov['statistics'])} statistics (Table 3 groups and the pattern violation); priors "
        f"{prov['prior_file']}",
        f"- random forest: {s['trees']} trees, statistics plus their linear discriminant axes; rejection "
        f"cross-check: the closest {s['rejection_quantile']:g} of each table",
        f"- simulations per seed: {prov['simulations_per_seed']}; wall-clock per seed (s): "
        f"{prov['wall_clock_s_per_seed']}", "",
        f"Method: {PUDLO_2016}. A random forest classifier learns the variant from the statistics of the "
        "reference table; the chosen variant has the most trees' votes at the observed statistics (Table 3, "
        "pattern violation 0). The votes are not probabilities; the chosen variant's posterior probability is "
        "1 minus the out-of-bag error predicted at the observed statistics by a regression forest. The other "
        "variants share the remainder in proportion to their votes (a convention, so each seed sums to 1). "
        "Rejection ABC on the same table gives each variant's share of the accepted simulations.", "",
        "Posterior probability (random forest):", "",
        frame_table(_wide(table, diffs, "probability", "max_abs_difference"),
                    {c: f3 for c in ("largest difference", *[f"seed {x}" for x in prov["seeds"]])}), "",
        "Share of the trees' votes:", "",
        frame_table(_wide(table, diffs, "votes", "votes_max_abs_difference"),
                    {c: f3 for c in ("largest difference", *[f"seed {x}" for x in prov["seeds"]])}), "",
        "Rejection ABC (accepted share):", "",
        frame_table(_wide(table, diffs, "rejection_probability", "rejection_max_abs_difference"),
                    {c: f3 for c in ("largest difference", *[f"seed {x}" for x in prov["seeds"]])}), "",
        "Per seed:", ""]
    for seed, d in prov["per_seed"].items():
        agree = "agrees" if d["rejection_preferred"] == d["chosen"] else "**disagrees**"
        lines.append(f"- seed {seed}: the forest chooses **{d['chosen']}** (posterior probability "
                     f"{d['probability']:.3f}; out-of-bag prior error rate {d['prior_error_rate']:.3f}); rejection "
                     f"ABC ({d['accepted']} accepted) prefers {d['rejection_preferred']}: it {agree}.")
    conf = confusion.drop(columns=["seed"]) if confusion["seed"].nunique() == 1 else confusion
    lines += ["", "Out-of-bag confusion (row: true variant; share predicted as each; `model_confusion_by_seed.csv`):",
              "", frame_table(conf, {c: f3 for c in conf.columns if c.startswith("predicted") or c == "class_error"}),
              "", f"Largest difference in the forest's probability between seeds: {prov['max_abs_difference']:.3g}. "
              f"{_agreement(preferred, same)}", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ the methods
def _compare_abc_smc(config: CompareConfig, seeds: list[int], names: list[str], stage: Path,
                     executor: cf.Executor | None, progress: bool) -> tuple[pd.DataFrame, dict, dict]:
    tables, timing = [], {}
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
    return pd.concat(tables, ignore_index=True), {"wall_clock_s_per_seed": timing}, {}


def _compare_reference(config: CompareConfig, seeds: list[int], resolved, out: Path, executor: cf.Executor | None,
                       progress: bool) -> tuple[pd.DataFrame, dict, dict[int, ModelChoice]]:
    spec = StatSpec(patterns=True, pattern_weight=resolved.priors.pattern_weight)
    keys = spec.keys()
    names = [v.name for v in resolved.variants]
    observed = observed_stats(resolved.targets, spec, resolved.variants[0].settings.get("scale", 1.0))
    run_fn = ReferenceRun.of(ModelSimulator(spec), resolved.variants)
    runs = out / "runs"
    tables, timing, n_sims, batches, choices = [], {}, {}, {}, {}
    with study_executor(config, executor) as ex:
        for seed in seeds:
            t0 = dt.datetime.now()
            tasks = plan_reference(resolved.variants, config.reference_per_variant, seed,
                                   {"end_year": spec.last_year})
            if progress:
                print(f"compare-models: seed {seed}: reference table of {config.reference_per_variant} simulations "
                      f"of each of {', '.join(names)}", file=sys.stderr, flush=True)
            with store_writes(runs, out):
                table, summary = reference_table(tasks, run_fn, runs, ex, MODEL_VERSION, keys, progress,
                                                 f"reference table, seed {seed}")
            choice = choose_model(table, names, keys, observed, seed, config.rejection_quantile, config.trees,
                                  weights=spec.group_weights())
            choices[seed] = choice
            tables.append(choice.frame(seed))
            n_sims[seed] = len(table)
            batches[seed] = {"runs": summary.n_total, "computed_now": summary.n_done, "reused": summary.n_skipped,
                             "failed": summary.n_failed, "elapsed_s": round(summary.elapsed_s, 1)}
            timing[seed] = round((dt.datetime.now() - t0).total_seconds(), 1)
    per_seed = {seed: {"chosen": c.chosen, "probability": c.probability, "prior_error_rate": c.prior_error_rate,
                       "rejection_preferred": c.rejection_preferred, "accepted": c.accepted}
                for seed, c in choices.items()}
    info = {"wall_clock_s_per_seed": timing, "simulations_per_seed": n_sims, "batch_per_seed": batches,
            "statistics": keys, "observed": observed, "per_seed": per_seed,
            "method_reference": PUDLO_2016}
    return pd.concat(tables, ignore_index=True), info, choices


def compare_models(config: CompareConfig, executor: cf.Executor | None = None, progress: bool = True) -> CompareResult:
    """Run the model comparison once per seed and report how much its model probabilities move.

    Parameters
    ----------
    config : CompareConfig
        Every option; checked (each seed's calibration config resolved) before any simulation.
    executor : concurrent.futures.Executor, optional
        Runs every simulation; default: the one the config names (reference), or each comparison picks
        its own as the calibration does (abc-smc).
    progress : bool
        Print progress and show progress bars (one per seed).

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
        Another process writes the folder, or the disk filled up (previous results unchanged; finished
        reference simulations are kept in ``runs/`` for a rerun).
    CalibrationUnfinishedError
        abc-smc: a seed's comparison completed no generation.
    ReferenceTableError
        reference: too few simulations of some variant finished (a rerun retries the failed ones).
    """
    seeds = config.check()
    out = check_output_folder(config.out_path, "--out")
    started = dt.datetime.now().astimezone()
    resolved = config.calibration_config(seeds[0]).resolve()
    names = [v.name for v in resolved.variants]
    confusion = None
    with output_folder(out, keep=("runs",) if config.method == "reference" else (), flag="--out") as stage:
        if config.method == "reference":
            table, info, choices = _compare_reference(config, seeds, resolved, out, executor, progress)
            preferred = {s: c.chosen for s, c in choices.items()}
            confusion = pd.concat([c.confusion_frame(s) for s, c in choices.items()], ignore_index=True)
        else:
            table, info, _ = _compare_abc_smc(config, seeds, names, stage, executor, progress)
            top = table.loc[table.groupby("seed")["probability"].idxmax()]
            preferred = {int(r.seed): str(r.variant) for r in top.itertuples()}
        diffs = seed_differences(table)
        same = len(set(preferred.values())) == 1
        mad = float(diffs["max_abs_difference"].max())
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items() if k != "command"}
        settings["seeds"] = seeds
        prov = {"command": config.command or "bantar_sim.studies.calibration.compare.compare_models(...)",
                "method": config.method, "seeds": seeds, "model_version": MODEL_VERSION, "git_commit": git_commit(),
                "date": started.isoformat(timespec="seconds"), "prior_file": str(resolved.priors.path),
                "scale": resolved.variants[0].settings.get("scale"),
                "households_per_rt": resolved.variants[0].settings.get("households_per_rt"),
                "variants": names, "settings": settings, **info,
                "max_abs_difference": mad, "preferred": preferred, "same_preferred": same}
        files = ["report.md", "compare.json", "model_probabilities_by_seed.csv", "model_probabilities_differences.csv"]
        table.to_csv(stage / "model_probabilities_by_seed.csv", index=False)
        diffs.to_csv(stage / "model_probabilities_differences.csv", index=False)
        (stage / "compare.json").write_text(json.dumps(_jsonable(prov), indent=2, default=str), encoding="utf-8")
        if confusion is not None:
            confusion.to_csv(stage / "model_confusion_by_seed.csv", index=False)
            report = _report_reference(prov, table, diffs, confusion, preferred, same)
            files += ["model_confusion_by_seed.csv", "runs/"]
        else:
            report = _report_abc_smc(prov, table, diffs, preferred, same)
            files += [f"seed_{s}/" for s in seeds]
        (stage / "report.md").write_text(report, encoding="utf-8")
    return CompareResult(table, diffs, mad, preferred, same, out, files, config.method, confusion)


def _jsonable(obj):
    """Numbers as plain floats (NaN as null) and keys as strings, so compare.json is valid JSON."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
