"""Rolling-origin forecasts (issue 15, item 2): train to an origin year, forecast every later year to 2020.

For each origin (default 2016, 2017, 2018) the calibration workflow runs in held-out mode
(:func:`~bantar_sim.studies.calibration.workflow.run_calibration` with ``train_years="2014-<origin>"``,
priors frozen in ``calibration/priors_heldout.toml``, which cites no year after 2016), then its posterior
predictive (:func:`~bantar_sim.studies.calibration.predictive.posterior_predictive`, every run through
:func:`bantar_sim.engine.task.run_model`) is scored against Table 3 for every later year, per city-year
and per sub-district-year, with two scores:

- the continuous ranked probability score (CRPS, :func:`crps_sample`; lower is better, in winners), and
- whether the observed count lies in the central 90% interval (:func:`coverage_90`);

and compared with two naive forecasts (:func:`naive_forecasts`): last year's count, and the mean of the
training years. The skill score ``1 - CRPS_model / CRPS_naive`` is positive when the model beats the naive
forecast. Counts are compared at the simulated scale, as the calibration does (Table 3 times each
sub-district's simulated share of RTs, :func:`~bantar_sim.studies.calibration.predictive.observed_arrays`).

Library use::

    from bantar_sim.studies.calibration.forecast import ForecastConfig, run_forecast_check
    result = run_forecast_check(ForecastConfig(origins=(2018,), reference=300))
    result.summary     # per origin, horizon and level: CRPS, skill scores, 90% coverage
"""
from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bantar_sim.engine.outputs import check_output_folder, output_folder
from bantar_sim.engine.provenance import git_commit
from bantar_sim.model.data import SUBDISTRICTS, YEARS
from bantar_sim.model.version import MODEL_VERSION
from bantar_sim.studies.calibration.config import (
    OUTPUT_ROOT,
    CalibrationConfig,
    default_calibration_folder,
    history_beside,
)
from bantar_sim.studies.calibration.forecast_report import NAIVE_LABELS, plot_forecasts, verdict_lines, write_report
from bantar_sim.studies.calibration.predictive import observed_arrays, posterior_predictive
from bantar_sim.studies.calibration.targets import CalibrationInputError
from bantar_sim.studies.calibration.workflow import run_calibration, study_executor
from bantar_sim.studies.inputs import project_file

START_YEAR = YEARS[0]
LAST_YEAR = YEARS[-1]
CITY = "Jambi City (all)"
HELDOUT_PRIORS_RELATIVE = Path("calibration") / "priors_heldout.toml"
NAIVE = tuple(NAIVE_LABELS)        # ("last", "mean")


# ================================================================================= scoring (numpy)
def crps_sample(samples: np.ndarray, y) -> np.ndarray:
    """CRPS of a sample forecast, energy form ``E|X - y| - 1/2 E|X - X'|``, in O(n log n).

    The expectations are over the empirical distribution of the sample (``X``, ``X'`` independent draws
    from it), so the value is exactly the CRPS of the sample's empirical CDF: the integral of
    ``(F_n(x) - 1{y <= x})^2``. ``E|X - X'|`` comes from the sorted sample,
    ``(2 / n^2) * sum_i (2i - n - 1) x_(i)``, instead of the n^2 pairs.

    Parameters
    ----------
    samples : array, shape (n,) or (n, k)
        Draws of the forecast; with two dimensions, column j is the forecast of ``y[j]``.
    y : float or array of shape (k,)
        The observed value(s).

    Returns
    -------
    ndarray
        Shape () or (k,): the CRPS, in the unit of ``y`` (lower is better; 0 only for a point forecast
        equal to ``y``).
    """
    x = np.sort(np.asarray(samples, float), axis=0)
    n = x.shape[0]
    if n == 0:
        raise ValueError("crps_sample needs at least one draw")
    y = np.asarray(y, float)
    abs_err = np.mean(np.abs(x - y), axis=0)
    coef = (2 * np.arange(1, n + 1) - n - 1).reshape((n,) + (1,) * (x.ndim - 1))
    spread = 2.0 * np.sum(coef * x, axis=0) / n**2          # E|X - X'|
    return abs_err - 0.5 * spread


def interval_90(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The central 90% interval (5% and 95% sample quantiles) along the first axis."""
    lo, hi = np.quantile(np.asarray(samples, float), [0.05, 0.95], axis=0)
    return lo, hi


def coverage_90(samples: np.ndarray, y) -> np.ndarray:
    """Whether ``y`` lies inside the central 90% interval of the sample (bounds included).

    Averaged over many forecasts, a calibrated forecast gives about 0.9; less means too narrow (or
    biased), more too wide.

    Parameters
    ----------
    samples : array, shape (n,) or (n, k)
    y : float or array of shape (k,)

    Returns
    -------
    ndarray of bool
    """
    lo, hi = interval_90(samples)
    y = np.asarray(y, float)
    return (y >= lo) & (y <= hi)


def naive_forecasts(history: np.ndarray, horizons: Sequence[int], draws: int, seed: int) -> dict[str, np.ndarray]:
    """The two naive forecasts as predictive samples: last year's count and the training-years mean.

    Both are point forecasts made into distributions by **Poisson** noise around them: the forecast of a
    count at horizon h is ``Poisson(point)`` whatever h. Poisson, not the empirical year-to-year changes of
    the training years, because the training series are short: after the pilot year (2014, fixed by the
    programme, excluded here) an origin of 2016 leaves two years, i.e. ONE year-to-year change per area, and
    an origin of 2018 three — too few for an empirical distribution. Poisson is the least noise a count
    carries, so these baselines are sharp: their intervals are narrow (their coverage will often be low),
    and a model that is right on average beats them on CRPS only when its spread is earned.

    Parameters
    ----------
    history : array, shape (t, k)
        Training-year counts (rows: years, oldest first, the pilot year already removed; columns: areas).
    horizons : sequence of int
        Horizons 1, 2, ... to forecast (the samples do not depend on h, see above).
    draws : int
        Samples per forecast.
    seed : int
        Seed of the Poisson draws.

    Returns
    -------
    dict
        ``{"last": array (draws, len(horizons), k), "mean": ...}``.
    """
    history = np.atleast_2d(np.asarray(history, float))
    if history.shape[0] < 1:
        raise ValueError("naive_forecasts needs at least one training year")
    points = {"last": history[-1], "mean": history.mean(axis=0)}
    rng = np.random.default_rng(seed)
    out = {}
    for name in NAIVE:
        lam = np.broadcast_to(points[name], (draws, len(horizons), history.shape[1]))
        out[name] = rng.poisson(lam).astype(float)
    return out


def score_forecasts(won_pred: np.ndarray, won_obs: np.ndarray, origin: int, draws: int = 4000,
                    seed: int = 0) -> pd.DataFrame:
    """Score the model's and the naive forecasts of every year after ``origin``, per city- and sub-district-year.

    Parameters
    ----------
    won_pred : array, shape (runs, years, sub-districts)
        Posterior predictive winners, for every year of :data:`~bantar_sim.model.data.YEARS`.
    won_obs : array, shape (years, sub-districts)
        Observed winners at the same scale.
    origin : int
        Last training year; the naive forecasts use 2015..origin (the pilot year 2014 is left out: its
        count is fixed by the programme, as in the calibration's city statistics).
    draws, seed : int
        Samples and seed of the naive forecasts.

    Returns
    -------
    DataFrame
        One row per (year, area): ``origin, year, horizon, level`` (``city`` or ``subdistrict``),
        ``area, observed``, the model's ``median, q05, q95``, and for each forecast F in ``model, last,
        mean``: ``crps_F`` and ``inside90_F``; ``point_last, point_mean``: the naive point forecasts.
    """
    won_pred = np.asarray(won_pred, float)
    won_obs = np.asarray(won_obs, float)
    oi = YEARS.index(origin)
    later = list(range(oi + 1, len(YEARS)))
    train = slice(1, oi + 1)                               # 2015..origin
    horizons = [yi - oi for yi in later]
    levels = {"city": (won_pred.sum(axis=2, keepdims=True), won_obs.sum(axis=1, keepdims=True), [CITY]),
              "subdistrict": (won_pred, won_obs, list(SUBDISTRICTS))}
    rows = []
    for li, (level, (pred, obs, areas)) in enumerate(levels.items()):
        naive = naive_forecasts(obs[train], horizons, draws, seed + li)
        points = {"last": obs[oi], "mean": obs[train].mean(axis=0)}
        for hi, yi in enumerate(later):
            y = obs[yi]
            fc = {"model": pred[:, yi], "last": naive["last"][:, hi], "mean": naive["mean"][:, hi]}
            crps = {k: crps_sample(v, y) for k, v in fc.items()}
            inside = {k: coverage_90(v, y) for k, v in fc.items()}
            q05, med, q95 = np.quantile(pred[:, yi], [0.05, 0.5, 0.95], axis=0)
            for a, area in enumerate(areas):
                row = {"origin": origin, "year": YEARS[yi], "horizon": horizons[hi], "level": level, "area": area,
                       "observed": float(y[a]), "median": float(med[a]), "q05": float(q05[a]),
                       "q95": float(q95[a]), "point_last": float(points["last"][a]),
                       "point_mean": float(points["mean"][a])}
                for k in fc:
                    row[f"crps_{k}"] = float(crps[k][a])
                    row[f"inside90_{k}"] = bool(inside[k][a])
                rows.append(row)
    return pd.DataFrame(rows)


def summarise_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Per origin, horizon and level (plus ``all`` horizons): mean CRPS, skill scores and 90% coverage.

    The skill score against a naive forecast is ``1 - mean CRPS_model / mean CRPS_naive`` (a ratio of
    means, the usual definition: a few large errors are not divided away): > 0 the model is better,
    0 equal, < 0 worse.

    Parameters
    ----------
    scores : DataFrame
        :func:`score_forecasts` rows (any number of origins).

    Returns
    -------
    DataFrame
        ``origin, horizon, level, n, crps_model, crps_last, crps_mean, skill_vs_last, skill_vs_mean,
        coverage90_model, coverage90_last, coverage90_mean``.
    """
    both = pd.concat([scores.assign(horizon=scores["horizon"].astype(str)), scores.assign(horizon="all")])
    rows = []
    for (origin, horizon, level), g in both.groupby(["origin", "horizon", "level"], sort=False):
        row = {"origin": origin, "horizon": horizon, "level": level, "n": len(g)}
        for k in ("model", *NAIVE):
            row[f"crps_{k}"] = float(g[f"crps_{k}"].mean())
        for k in NAIVE:
            denom = row[f"crps_{k}"]
            row[f"skill_vs_{k}"] = 1.0 - row["crps_model"] / denom if denom > 0 else float("nan")
        for k in ("model", *NAIVE):
            row[f"coverage90_{k}"] = float(g[f"inside90_{k}"].mean())
        rows.append(row)
    out = pd.DataFrame(rows)
    order = {h: i for i, h in enumerate(sorted(set(out["horizon"]) - {"all"}, key=int) + ["all"])}
    return (out.sort_values(["origin", "level", "horizon"], key=lambda s: s.map(order) if s.name == "horizon"
                            else s).reset_index(drop=True))


# ======================================================================================== the check
@dataclass
class ForecastConfig:
    """Every option of the rolling-origin forecast check (``bantar-sim forecast-check --help``).

    Parameters
    ----------
    origins : sequence of int
        Last training years, each in [2015, 2019] (default 2016, 2017, 2018).
    method, reference, accept : str, int, float
        Each origin's calibration method (default: the default calibration's, a reference table) and its
        table size and accepted share (:class:`CalibrationConfig`).
    population_size, max_populations, max_walltime : int, int, float
        ``method="abc-smc"``: each origin's ABC-SMC budget (defaults: :class:`CalibrationConfig`'s;
        ``max_walltime`` in minutes per origin).
    predictive_runs : int
        Posterior predictive simulations per origin.
    scale, households_per_rt : float, optional
        Override the priors file's ``[settings]``.
    priors : path, optional
        Priors file (default ``calibration/priors_heldout.toml`` found from the working directory).
    seed : int
        Base seed: of each origin's calibration, its predictive runs and the naive forecasts' draws.
    naive_draws : int
        Samples of each naive forecast.
    out : path, optional
        Result folder (default ``outputs/calibration/forecast/``); each origin's calibration goes into its
        subfolder ``origin_<year>/``, its pyabc history beside the folder (``abc_<name>_<year>.db``) so a
        rerun resumes it.
    executor, workers, scheduler :
        How simulations run when no executor is passed (as the calibration's).
    command : str, optional
        The command line recorded in the report.
    """

    origins: Sequence[int] = (2016, 2017, 2018)
    method: str | None = CalibrationConfig.method
    reference: int = CalibrationConfig.reference
    accept: float = CalibrationConfig.accept
    population_size: int = CalibrationConfig.population_size
    max_populations: int = CalibrationConfig.max_populations
    max_walltime: float = CalibrationConfig.max_walltime
    predictive_runs: int = 100
    scale: float | None = None
    households_per_rt: float | None = None
    priors: str | Path | None = None
    seed: int = 2014
    naive_draws: int = 4000
    out: str | Path | None = None
    executor: str = "process"
    workers: int | None = None
    scheduler: str | None = None
    command: str | None = None

    @property
    def out_path(self) -> Path:
        """The result folder: ``out``, else ``outputs/calibration/forecast/``."""
        return Path(self.out) if self.out else OUTPUT_ROOT / "forecast"

    @property
    def priors_path(self) -> Path:
        """The priors file: ``priors``, else ``calibration/priors_heldout.toml`` of the project."""
        if self.priors:
            return Path(self.priors)
        return project_file(HELDOUT_PRIORS_RELATIVE) or Path.cwd() / HELDOUT_PRIORS_RELATIVE

    def db_path(self, origin: int) -> Path:
        """The pyabc history of one origin, beside the result folder (kept across runs: resume)."""
        return history_beside(self.out_path, origin)

    def calibration_config(self, origin: int) -> CalibrationConfig:
        """The held-out :class:`CalibrationConfig` of one origin (its ``out`` is set by the workflow)."""
        return CalibrationConfig(
            method=self.method, reference=self.reference, accept=self.accept,
            population_size=self.population_size, max_populations=self.max_populations,
            max_walltime=self.max_walltime, seed=self.seed, predictive_runs=self.predictive_runs,
            train_years=f"{START_YEAR}-{origin}", scale=self.scale, households_per_rt=self.households_per_rt,
            prior=self.priors_path, db=self.db_path(origin), out=self.out_path / f"origin_{origin}",
            executor=self.executor, workers=self.workers, scheduler=self.scheduler,
            command=f"{self.command or 'run_forecast_check'} (origin {origin})")

    def check(self) -> None:
        """Check every option and read the priors, before any simulation.

        Raises
        ------
        CalibrationInputError
            Naming the option, its value and what is allowed.
        """
        try:
            origins = [int(o) for o in self.origins]
        except (TypeError, ValueError):
            raise CalibrationInputError(f"--origins must be years in [2015, {LAST_YEAR - 1}], got "
                                        f"{self.origins!r}") from None
        if not origins or any(o != oo for o, oo in zip(origins, self.origins)):
            raise CalibrationInputError(f"--origins must be years in [2015, {LAST_YEAR - 1}], got {self.origins!r}")
        bad = [o for o in origins if not START_YEAR + 1 <= o <= LAST_YEAR - 1]
        if bad:
            raise CalibrationInputError(f"--origins: {bad[0]} is outside [2015, {LAST_YEAR - 1}] (an origin is the "
                                        f"last training year; at least one year after it must be left to forecast)")
        if len(set(origins)) != len(origins):
            raise CalibrationInputError(f"--origins names a year twice: {origins}")
        if not (isinstance(self.naive_draws, int) and 100 <= self.naive_draws <= 1_000_000):
            raise CalibrationInputError(f"naive_draws must be an integer in [100, 1000000], got {self.naive_draws!r}")
        if not self.priors_path.is_file():
            raise CalibrationInputError(f"--priors {self.priors_path}: file not found")
        out = self.out_path
        if out.resolve() == default_calibration_folder().resolve() or out.resolve() == Path(
                self.priors_path).resolve().parent:
            raise CalibrationInputError(f"--out {out}: is the shipped calibration folder; the forecast check writes a "
                                        "result folder of its own (default outputs/calibration/forecast/)")
        if out.is_dir() and any(out.iterdir()) and not (out / "forecast.json").is_file():
            raise CalibrationInputError(f"--out {out}: an existing folder that is not a forecast-check result (no "
                                        "forecast.json); it would be replaced as a whole: give a new folder")
        for o in origins:
            self.calibration_config(o).resolve()            # every calibration option and file checked


@dataclass
class ForecastResult:
    """What the forecast check produced (all of it also in the files of ``out``).

    Attributes
    ----------
    scores : DataFrame
        One row per origin, forecast year and area (:func:`score_forecasts`).
    summary : DataFrame
        Per origin, horizon and level (:func:`summarise_scores`).
    bands : DataFrame
        City winners per origin and year: observed, the model's median and 90% band (for the figure).
    out : Path
        The result folder.
    files : list of str
        Files written into ``out`` (each origin's calibration under ``origin_<year>/``).
    verdicts : list of str
        One plain sentence per origin and naive forecast: does the model beat it.
    """

    scores: pd.DataFrame
    summary: pd.DataFrame
    bands: pd.DataFrame
    out: Path
    files: list[str] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)

    @property
    def paths(self) -> list[Path]:
        """The written files as paths."""
        return [self.out / f for f in self.files]


def _city_bands(won_pred: np.ndarray, won_obs: np.ndarray, origin: int) -> pd.DataFrame:
    city = won_pred.sum(axis=2)
    q05, med, q95 = np.quantile(city, [0.05, 0.5, 0.95], axis=0)
    return pd.DataFrame({"origin": origin, "year": list(YEARS), "observed": won_obs.sum(axis=1),
                         "median": med, "q05": q05, "q95": q95, "trained": [y <= origin for y in YEARS]})


def run_forecast_check(config: ForecastConfig, executor: cf.Executor | None = None,
                       progress: bool = True) -> ForecastResult:
    """Train to each origin, forecast every later year to 2020, score against Table 3 and naive forecasts.

    Parameters
    ----------
    config : ForecastConfig
        Every option; all checked (priors read, each origin's calibration config resolved) before any
        simulation.
    executor : concurrent.futures.Executor, optional
        Runs every simulation (the ABC's and the predictive runs); default: each calibration picks its
        sampler as the default calibration does, and the predictive runs use ``config.executor``.
    progress : bool
        Print progress and show progress bars.

    Returns
    -------
    ForecastResult

    Raises
    ------
    CalibrationInputError
        Bad option or input (nothing run or written).
    bantar_sim.engine.outputs.OutputFolderError
        ``out`` cannot be written (checked before any work).
    bantar_sim.engine.outputs.OutputLockedError, bantar_sim.engine.outputs.OutputWriteError
        Another process writes the folder, or the disk filled up (previous results unchanged).
    """
    config.check()
    out = check_output_folder(config.out_path, "--out")
    origins = [int(o) for o in config.origins]
    started = dt.datetime.now().astimezone()
    scores, bands, fits, timing = [], [], [], {}
    with output_folder(out, flag="--out") as stage:
        with study_executor(config, executor) as ex:
            for origin in origins:
                t0 = dt.datetime.now()
                if progress:
                    print(f"forecast-check: origin {origin}: calibrating on {START_YEAR}–{origin} "
                          f"({config.calibration_config(origin).describe_method()})", file=sys.stderr, flush=True)
                cal = config.calibration_config(origin)
                cal.out = stage / f"origin_{origin}"
                resolved = cal.resolve()
                res = run_calibration(cal, executor=executor, progress=progress)
                variant = resolved.variants[0]
                post = res.posterior[[p.name for p in variant.priors]]
                pred = posterior_predictive(post, res.weights, variant, config.seed, config.predictive_runs, ex,
                                            progress, desc=f"forecast from {origin}")
                obs = observed_arrays(resolved.targets, pred["rts"])
                won_pred, won_obs = pred["won"].astype(float), obs["won"]
                scores.append(score_forecasts(won_pred, won_obs, origin, config.naive_draws, config.seed + origin))
                bands.append(_city_bands(won_pred, won_obs, origin))
                fits.append({"origin": origin, "generations": res.generations, "stopped_because": res.stopped_because,
                             "posterior_particles": len(post)})
                timing[origin] = round((dt.datetime.now() - t0).total_seconds(), 1)
        scores_df = pd.concat(scores, ignore_index=True)
        summary = summarise_scores(scores_df)
        bands_df = pd.concat(bands, ignore_index=True)
        verdicts = verdict_lines(summary)
        scores_df.to_csv(stage / "forecast_scores.csv", index=False)
        summary.to_csv(stage / "forecast_summary.csv", index=False)
        bands_df.to_csv(stage / "forecast_city_bands.csv", index=False)
        plot_forecasts(scores_df, bands_df, stage / "forecast_city.png")
        prov = {"command": config.command or "bantar_sim.studies.calibration.forecast.run_forecast_check(...)",
                "seed": config.seed, "model_version": MODEL_VERSION, "git_commit": git_commit(),
                "date": started.isoformat(timespec="seconds"), "priors": str(config.priors_path),
                "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()
                             if k not in ("command",)} | {"origins": origins},
                "calibration_method": config.calibration_config(origins[0]).describe_method(),
                "wall_clock_s_per_origin": timing, "calibrations": fits}
        (stage / "forecast.json").write_text(json.dumps(prov, indent=2, default=str), encoding="utf-8")
        write_report(stage / "report.md", prov, summary, verdicts)
    files = ["report.md", "forecast.json", "forecast_scores.csv", "forecast_summary.csv", "forecast_city_bands.csv",
             "forecast_city.png", *[f"origin_{o}/" for o in origins]]
    return ForecastResult(scores_df, summary, bands_df, out, files, verdicts)
