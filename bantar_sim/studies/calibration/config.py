"""What a calibration is asked to do: :class:`CalibrationConfig` (typed options) and its checking.

A config holds the options as a user gives them (numbers, flags, paths); :meth:`CalibrationConfig.resolve`
checks every one of them and reads the priors and target files, before a single simulation runs, and
returns a :class:`ResolvedCalibration` (the model variants, the statistics, the targets, the files to
write). The CLI (:mod:`bantar_sim.cli.calibrate`) only builds a config from its flags; a notebook builds
one directly::

    from bantar_sim.studies.calibration import CalibrationConfig, run_calibration
    result = run_calibration(CalibrationConfig(population_size=50, max_populations=3, scale=0.3))

Files are found from the working directory (:mod:`bantar_sim.studies.inputs`), never through the
package's location; results go to ``outputs/calibration/<mode>/`` unless ``out`` says otherwise — never to
the shipped ``calibration/`` folder (making a result the shipped set is :func:`~bantar_sim.studies.
calibration.promote.promote`, a separate step).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bantar_sim.engine.executors import check_scheduler_address
from bantar_sim.model.data import YEARS
from bantar_sim.model.model import counts_ok
from bantar_sim.model.params import SPECS, check_value, make_params
from bantar_sim.studies.calibration.stats import StatSpec
from bantar_sim.studies.calibration.targets import (
    CalibrationInputError,
    PriorFile,
    Targets,
    Variant,
    load_priors,
    load_targets,
)
from bantar_sim.studies.inputs import CALIBRATED_RELATIVE, PRIORS_RELATIVE, project_file, read_calibrated

START_YEAR = YEARS[0]
EXECUTOR_KINDS = ("serial", "process", "dask")
PROPOSALS = ("native", "logit")
#: How the posterior is computed: ``reference`` (the default: rejection ABC on one reference table of prior
#: simulations, the method whose coverage ``make sbc`` checks) or ``abc-smc`` (pyabc's sequential Monte Carlo).
METHODS = ("reference", "abc-smc")
#: Options of one method only: given with the other, they are refused (naming the flag) rather than ignored.
SMC_ONLY = ("population_size", "max_populations", "max_walltime", "min_epsilon", "min_acceptance_rate",
            "epsilon_quantile", "proposal", "proposal_ess_share", "patterns_only")
REFERENCE_ONLY = ("reference", "accept")
MODES = ("calibrate", "synthetic", "heldout", "compare")
OUTPUT_ROOT = Path("outputs") / "calibration"


@dataclass
class CalibrationConfig:
    """Every option of a calibration (``bantar-sim calibrate --help`` describes each).

    Parameters
    ----------
    method : str, optional
        ``reference`` (the default, except with ``compare_models``): ``reference`` prior simulations through
        the batch engine (content-addressed: a rerun reuses them), the closest ``accept`` share of them by
        the MAD-scaled distance kept (rejection ABC, with the local-linear regression adjustment only from 30
        accepted simulations per coefficient) — the method whose coverage ``make sbc`` checks, at the same
        settings. ``abc-smc``: pyabc's ABC-SMC (the default before issue 15; ``compare_models`` always uses
        it). Issue 15 item 4: the reference method takes under 10 minutes on 2 cores.
    reference, accept : int, float
        ``method="reference"``: prior simulations in the table, and the share of them accepted.
    population_size, max_populations, max_walltime, min_epsilon, min_acceptance_rate, epsilon_quantile :
        ``method="abc-smc"``: the ABC-SMC budget and schedule (``max_walltime`` in minutes; the pattern
        filter, stage 2 and the predictive runs take about 2 more).
    proposal : str
        ``native``: pyabc's multivariate normal kernel mixture in the parameters' own units (the default);
        ``logit``: the same mixture fitted in the logit of each prior range
        (:class:`~bantar_sim.studies.calibration.transition.LogitTransition`: no kernel mass outside the
        prior's box). Issue 15: the importance weights of the native proposal collapse on this model.
    proposal_ess_share : float
        The proposal's mixture weights keep at least this share of the population as effective sample size
        (:class:`~bantar_sim.studies.calibration.transition.DefensiveTransition`); 0: as pyabc fits them.
    seed : int
        Base seed of pyabc's draws, the particles' simulations, the predictive runs and the filter.
    predictive_runs : int
        Posterior predictive simulations for the figures and coverage.
    pattern_reps : int
        Re-simulations per accepted particle for the pattern filter.
    pattern_filter : bool
        Apply the pattern filter (default mode); False: calibrated point = best accepted particle.
    patterns_only : bool
        Run no ABC: apply the filter to the posterior already in ``out``.
    train_years : str, optional
        ``"2014-YYYY"``: held-out validation.
    synthetic : bool
        Perfect-model test against data simulated at ``truth``.
    truth : dict or sequence of "NAME=VALUE", optional
        ``synthetic``: true values (default: the calibrated set, else the prior midpoint).
    compare_models : bool
        Model selection among the baseline and the ``[variants]`` of the priors file.
    scale, households_per_rt : float, optional
        Override the priors file's ``[settings]``.
    prior, targets, db, out : path, optional
        Priors file (default ``calibration/priors.toml`` found from the working directory), target CSV
        (default Table 3), pyabc history (default ``outputs/calibration/abc[_<mode>].db``), result
        folder (default ``outputs/calibration/<mode>/``).
    executor, workers, scheduler :
        How simulations are run when no executor is passed to the workflow function.
    command : str, optional
        The command line recorded in the provenance (the CLI fills it in).
    """

    method: str | None = None
    reference: int = 2500
    accept: float = 0.3
    population_size: int = 200
    max_populations: int = 10
    max_walltime: float = 25.0
    proposal: str = "native"
    proposal_ess_share: float = 0.0
    min_epsilon: float = 0.0
    min_acceptance_rate: float = 0.01
    epsilon_quantile: float = 0.5
    seed: int = 2014
    predictive_runs: int = 100
    pattern_reps: int = 2
    pattern_filter: bool = True
    patterns_only: bool = False
    train_years: str | None = None
    synthetic: bool = False
    truth: Any = field(default_factory=dict)
    compare_models: bool = False
    scale: float | None = None
    households_per_rt: float | None = None
    prior: str | Path | None = None
    targets: str | Path | None = None
    db: str | Path | None = None
    out: str | Path | None = None
    executor: str = "process"
    workers: int | None = None
    scheduler: str | None = None
    command: str | None = None

    @property
    def mode(self) -> str:
        """``calibrate``, ``synthetic``, ``heldout`` or ``compare``."""
        if self.compare_models:
            return "compare"
        if self.synthetic:
            return "synthetic"
        if self.train_years:
            return "heldout"
        return "calibrate"

    @property
    def calibration_method(self) -> str:
        """``method``, else its default: ``abc-smc`` for a model comparison, ``reference`` otherwise."""
        if self.method is not None:
            return self.method
        return "abc-smc" if self.compare_models else "reference"

    def describe_method(self) -> str:
        """The method and its budget in a few words (reports of the studies that run calibrations)."""
        if self.calibration_method == "reference":
            return (f"reference table of {self.reference} prior simulations, the closest {self.accept:g} accepted "
                    "(rejection ABC)")
        return (f"ABC-SMC, population {self.population_size}, up to {self.max_populations} generations and "
                f"{self.max_walltime:g} minutes")

    @property
    def reference_store(self) -> Path:
        """``method="reference"``: the batch store of the reference table, beside the pyabc history's path
        (``outputs/calibration/abc[_<mode>]_reference/``; ``--db`` moves both).
        """
        db = self.db_path
        return db.parent / f"{db.stem}_reference"

    @property
    def out_path(self) -> Path:
        """The result folder: ``out``, else ``outputs/calibration/<mode>/``."""
        return Path(self.out) if self.out else OUTPUT_ROOT / self.mode

    @property
    def db_path(self) -> Path:
        """The pyabc history: ``db``, else ``outputs/calibration/abc[_<mode>].db`` (kept across runs: resume)."""
        suffix = "" if self.mode == "calibrate" else f"_{self.mode}"
        return Path(self.db) if self.db else OUTPUT_ROOT / f"abc{suffix}.db"

    def check(self) -> None:
        """Check the options alone and in combination (no file read).

        Raises
        ------
        CalibrationInputError
            Naming the option, its value and what is allowed.
        """
        def need(name, ok, allowed):
            if not ok:
                raise CalibrationInputError(f"--{name.replace('_', '-')} must be {allowed}, got "
                                            f"{getattr(self, name)!r}")

        def num(v, kind=float):
            return isinstance(v, (int, float)) and not isinstance(v, bool) and (kind is float or float(v).is_integer())
        need("population_size", num(self.population_size, int) and 2 <= self.population_size <= 100_000,
             "an integer in [2, 100000]")
        need("max_populations", num(self.max_populations, int) and 1 <= self.max_populations <= 1000,
             "an integer in [1, 1000]")
        need("max_walltime", num(self.max_walltime) and self.max_walltime > 0 and math.isfinite(self.max_walltime),
             "a number of minutes > 0")
        need("min_epsilon", num(self.min_epsilon) and self.min_epsilon >= 0, "a number >= 0")
        need("min_acceptance_rate", num(self.min_acceptance_rate) and 0 <= self.min_acceptance_rate < 1,
             "a number in [0, 1)")
        need("epsilon_quantile", num(self.epsilon_quantile) and 0 < self.epsilon_quantile < 1, "a number in (0, 1)")
        need("proposal", self.proposal in PROPOSALS, f"one of {', '.join(PROPOSALS)}")
        need("proposal_ess_share", num(self.proposal_ess_share) and 0 <= self.proposal_ess_share <= 1,
             "a number in [0, 1] (0: the mixture weights as pyabc fits them)")
        need("method", self.method is None or self.method in METHODS, f"one of {', '.join(METHODS)}")
        need("reference", num(self.reference, int) and 10 <= self.reference <= 10_000_000,
             "an integer in [10, 10000000]")
        need("accept", num(self.accept) and 0 < self.accept <= 1, "a share in (0, 1]")
        method = self.calibration_method
        if method == "reference" and self.compare_models:
            raise CalibrationInputError("--method reference with --compare-models needs --seeds S1,S2 (reference-table "
                                        "model choice); one pyabc model selection is --method abc-smc")
        if method == "reference" and math.ceil(self.accept * self.reference) < 10:
            raise CalibrationInputError(f"--accept {self.accept:g} keeps {math.ceil(self.accept * self.reference)} of "
                                        f"--reference {self.reference} simulations; at least 10 are needed")
        defaults = CalibrationConfig.__dataclass_fields__
        for name in SMC_ONLY if method == "reference" else REFERENCE_ONLY:
            if getattr(self, name) != defaults[name].default:
                other = "abc-smc" if method == "reference" else "reference"
                raise CalibrationInputError(f"--{name.replace('_', '-')} applies only with --method {other} "
                                            f"(this calibration's method is {method})")
        need("seed", num(self.seed, int) and 0 <= self.seed < 2**63, "an integer in [0, 2**63)")
        need("predictive_runs", num(self.predictive_runs, int) and 4 <= self.predictive_runs <= 100_000,
             "an integer in [4, 100000]")
        need("pattern_reps", num(self.pattern_reps, int) and 1 <= self.pattern_reps <= 100, "an integer in [1, 100]")
        if self.patterns_only and (not self.pattern_filter or self.synthetic or self.train_years
                                   or self.compare_models):
            raise CalibrationInputError("--patterns-only applies only to the default calibration, with the filter on")
        need("executor", self.executor in EXECUTOR_KINDS, f"one of {', '.join(EXECUTOR_KINDS)}")
        if self.workers is not None and (not num(self.workers, int) or self.workers < 1):
            raise CalibrationInputError(f"--workers must be an integer >= 1, got {self.workers!r}")
        if self.executor == "serial" and self.workers not in (None, 1):
            raise CalibrationInputError(f"--executor serial runs one run at a time: --workers must be 1, "
                                        f"got {self.workers}")
        if self.scheduler is not None:
            if self.executor != "dask":
                raise CalibrationInputError("--scheduler applies only with --executor dask")
            try:
                check_scheduler_address(self.scheduler)
            except ValueError as err:
                raise CalibrationInputError(str(err)) from None
        if self.truth and not self.synthetic:
            raise CalibrationInputError("--truth applies only with --synthetic")

    def resolve(self) -> ResolvedCalibration:
        """Every input checked and read, nothing run or written yet.

        Returns
        -------
        ResolvedCalibration

        Raises
        ------
        CalibrationInputError
            (a :class:`~bantar_sim.model.params.ParameterError`) for any bad option or input file.
        """
        self.check()
        mode = self.mode
        priors = load_priors(self.prior)
        targets = load_targets(self.targets)
        spec = StatSpec(parse_train_years(self.train_years),
                        patterns=mode == "calibrate" and self.pattern_filter and not self.patterns_only,
                        pattern_weight=priors.pattern_weight)
        overrides = {}
        if self.scale is not None:
            overrides["scale"] = check_value("scale", self.scale, "--scale")
        if self.households_per_rt is not None:
            overrides["households_per_rt"] = check_value("households_per_rt", self.households_per_rt,
                                                         "--households-per-rt")
        if mode == "heldout":
            overrides.update(heldout_budget(priors.settings, targets, spec.last_year))
        base = priors.baseline()
        variants = [Variant(base.name, base.description, {**base.settings, **overrides}, base.priors)]
        if self.compare_models:
            if not priors.variants:
                raise CalibrationInputError(f"{priors.path}: --compare-models needs at least one [variants.NAME] table")
            variants += [Variant(v.name, v.description, {**v.settings, **overrides}, v.priors)
                         for v in priors.variants]
        for v in variants:
            counts_ok(make_params(v.settings, where=f"settings of model '{v.name}'"))
        truth = parse_truth(self.truth, variants[0]) if self.synthetic else None
        return ResolvedCalibration(self, mode, variants, spec, targets, priors, self.db_path, self.out_path, truth)


def history_beside(out: Path, key: int) -> Path:
    """The pyabc history of one calibration of a multi-calibration study (one per seed or origin), beside
    the study's result folder ``out``: the folder is replaced as a whole when the study completes, the
    histories are kept across runs so that a rerun resumes each calibration.
    """
    return out.parent / f"abc_{out.name}_{key}.db"


def default_calibration_folder() -> Path:
    """The project's shipped ``calibration/`` folder, found from the working directory upwards."""
    found = project_file(CALIBRATED_RELATIVE) or project_file(PRIORS_RELATIVE)
    return found.parent if found is not None else Path.cwd() / CALIBRATED_RELATIVE.parent


def check_result_folder(out: Path, priors: PriorFile) -> None:
    """Refuse a result folder that is the shipped set's folder, or an unrelated folder that would be replaced.

    A result folder is replaced as a whole when a run completes, so it must be new, empty, or an earlier
    calibration result (it holds ``calibration.json``); the shipped ``calibration/`` folder changes only
    through :func:`~bantar_sim.studies.calibration.promote.promote`.

    Raises
    ------
    CalibrationInputError
        Naming the folder and what is allowed.
    """
    shipped = {default_calibration_folder().resolve(), Path(priors.path).resolve().parent}
    if out.resolve() in shipped:
        raise CalibrationInputError(f"--out {out}: is the shipped calibration folder; a calibration writes a result "
                                    "folder of its own (default outputs/calibration/<mode>/), and "
                                    "`bantar-sim calibrate --promote RESULT_FOLDER` makes a result the shipped set")
    if out.is_dir() and any(out.iterdir()) and not (out / "calibration.json").is_file():
        raise CalibrationInputError(f"--out {out}: an existing folder that is not a calibration result (no "
                                    "calibration.json); it would be replaced as a whole: give a new folder")


@dataclass
class ResolvedCalibration:
    """A checked config with its files read: what the computation works from."""

    config: CalibrationConfig
    mode: str
    variants: list[Variant]
    spec: StatSpec
    targets: Targets
    priors: PriorFile
    db: Path
    out: Path
    truth: dict | None


def heldout_budget(settings: Mapping[str, Any], targets: Targets, origin: int) -> dict[str, Any]:
    """The award budget a held-out calibration with origin ``origin`` may know (docs/ODD.md, 7.5).

    It reads Table 3's yearly city totals only up to its origin (``award_budget_observed_until`` ≤ origin),
    and its awards in a year of mean budget are the mean city winners 2015..origin, not the 2015–2020 mean
    the default ``awards_per_year`` comes from: nothing after the origin leaks into the forecast.
    A value the priors file fixes under [settings] is kept (clamped to the origin for the budget year).
    """
    until = min(int(settings.get("award_budget_observed_until", SPECS["award_budget_observed_until"].default)),
                origin)
    out: dict[str, Any] = {"award_budget_observed_until": until}
    if "awards_per_year" not in settings:
        out["awards_per_year"] = float(targets.city_winners.loc[list(range(START_YEAR + 1, origin + 1))].mean())
    return out


def parse_train_years(text: str | None) -> int:
    """The last training year of ``--train-years 2014-YYYY`` (2020 when None)."""
    if text is None:
        return YEARS[-1]
    parts = str(text).replace("–", "-").split("-")
    try:
        first, last = (int(parts[0]), int(parts[-1]))
    except ValueError:
        raise CalibrationInputError(f"--train-years must look like 2014-2018, got '{text}'") from None
    if first != START_YEAR or len(parts) > 2:
        raise CalibrationInputError(f"--train-years must start in {START_YEAR} (e.g. 2014-2018), got '{text}'")
    if not 2015 <= last <= YEARS[-1]:
        raise CalibrationInputError(f"--train-years must end in a year in [2015, {YEARS[-1]}], got '{text}'")
    return last


def parse_truth(given: Any, variant: Variant) -> dict:
    """The true parameter values of a perfect-model test.

    Defaults: the shipped calibrated set's value (when there is one and it lies in the prior), else the
    prior's midpoint; ``given`` (``{name: value}`` or ``["NAME=VALUE", ...]``) overrides them.
    """
    found = project_file(CALIBRATED_RELATIVE)
    cal = read_calibrated(found).params if found is not None else {}
    truth = {}
    for p in variant.priors:
        v = cal.get(p.name, (p.low + p.high) / 2)
        truth[p.name] = float(v) if p.low <= float(v) <= p.high else (p.low + p.high) / 2
    items = given.items() if isinstance(given, dict) else [_split_truth(s) for s in (given or ())]
    names = {p.name: p for p in variant.priors}
    for name, value in items:
        if name not in names:
            raise CalibrationInputError(f"--truth {name}: not a calibrated parameter; allowed: {', '.join(names)}")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise CalibrationInputError(f"--truth {name}={value}: not a number") from None
        p = names[name]
        if not p.low <= v <= p.high:
            raise CalibrationInputError(f"--truth {name}={v:g} is outside its prior [{p.low:g}, {p.high:g}]")
        truth[name] = v
    return truth


def _split_truth(item: str) -> tuple[str, str]:
    if "=" not in str(item):
        raise CalibrationInputError(f"--truth expects NAME=VALUE, got '{item}'")
    k, v = str(item).split("=", 1)
    return k.strip(), v.strip()
