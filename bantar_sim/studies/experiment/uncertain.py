"""The uncertain inputs of an experiment (issue 16): an optional ``[uncertain]`` table, its checks and scenarios.

Why: an experiment's effect at one parameter set and one assumed lever strength is the size of the
assumption. With ``[uncertain]`` each *scenario* is one draw of the calibration posterior
(calibration/posterior.csv, as ``posterior_draws`` does) times one point of a Latin hypercube (or scrambled
Sobol sequence) over the ranges of the levers' uncalibrated strengths; every arm runs on every scenario with
the same seed(s) (common random numbers), so effects stay paired per scenario and their spread over the
scenarios is the uncertainty an answer carries.

Two kinds of range (``mode``):

``value`` (default)
    The scenario's value of a strength parameter (e.g. ``kencana_prestige``) is used in EVERY arm. A
    strength parameter acts only while its lever is on, so in effect it replaces the lever's strength in
    the arms that turn the lever on and changes nothing elsewhere. An arm (or [base], or a [[sweep]]) that
    sets such a parameter itself is refused: the input would no longer be the scenario's.
``scale``
    A multiplier on the arm's own setting of an intensity lever (e.g. ``informal_engagement``): in every
    run where the lever is set to a non-zero value the value becomes ``value × factor``, clipped to the
    parameter's allowed range (a lever at its maximum stays there). The arms keep choosing the dose; the
    scenario says how much engagement (or awareness) that dose buys.

Seeds: scenario s, seed repeat r runs with ``SeedSequence(base_seed).spawn(S)[s].spawn(k)[r]`` in every
arm (independent streams; a scenario keeps its seeds when more scenarios or repeats are added). The
sampling uses its own stream (base_seed, SAMPLING_STREAM); the posterior draw of scenario s the stream
(base_seed, POSTERIOR_STREAM, s) of :func:`bantar_sim.studies.experiment.spec.draw_posterior`. Scenario
inputs and seeds are written to ``scenarios.csv`` and ``experiment.json``.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bantar_sim.engine.task import seed_from
from bantar_sim.model.metrics import EXPERIMENT_METRICS
from bantar_sim.model.params import SPECS, ParameterError, did_you_mean

SAMPLING_STREAM = 0x4C4853   # "LHS": the stream of the scenario design
MAX_SCENARIOS = 100_000
MAX_SEED_REPEATS = 100
SAMPLINGS = ("lhs", "sobol")
DISTRIBUTIONS = ("uniform", "loguniform")
MODES = ("value", "scale")
#: Default metric of the PRIM threshold, the regret ranking, dose-response and break-even.
DEFAULT_METRIC = "participating_household_years_policy"
#: Default price of a participating household-year, million IDR (illustrative; a report parameter).
DEFAULT_PRICE = 0.1
#: Default yearly cost of monitoring one label-holding RT at full strength (monitoring = 1), million IDR: the
#: model's monitoring raises the chance a check finds an RT that stopped, and checks are staff time, which the
#: paper does not price. 0.5 (5% of the 10 M IDR reward) is a stated assumption, a report parameter like
#: ``price``; 0 counts monitoring as free.
DEFAULT_MONITORING_COST = 0.5

UNCERTAIN_KEYS = {
    "posterior": "true (default: each scenario draws a calibration posterior row, calibration/posterior.csv) or "
                 "false (the experiment's parameter set in every scenario)",
    "scenarios": f"an integer in [1, {MAX_SCENARIOS}] (default 50): scenarios = posterior draw × strength point",
    "sampling": f"one of {', '.join(SAMPLINGS)} (default lhs; scipy.stats.qmc)",
    "seed_repeats": f"an integer in [1, {MAX_SEED_REPEATS}] (default 1): seeds per scenario, the same in every arm",
    "default_ranges": "true (default: the LEVER_RANGES of the levers the arms turn on) or false (only [uncertain."
                      "ranges])",
    "ranges": "tables [uncertain.ranges.NAME] with low, high, reason, optional distribution and mode",
    "metric": f"the metric of the PRIM threshold, regret and break-even (default {DEFAULT_METRIC}); one of "
              "EXPERIMENT_METRICS",
    "threshold": "a number (default 0): an arm 'fails' in a scenario when its effect on 'metric' is below it",
    "price": f"a number >= 0 (default {DEFAULT_PRICE}): million IDR a participating household-year is worth "
             "(break-even strength)",
    "monitoring_cost": f"a number >= 0 (default {DEFAULT_MONITORING_COST}): million IDR a year to monitor one "
                       "label-holding RT at full strength; added to the funds in cost-effectiveness and break-even",
}
RANGE_KEYS = {
    "low": "lowest value (mode value: in the parameter's allowed range; mode scale: a factor >= 0)",
    "high": "highest value (> low)",
    "reason": "why this range (text, required)",
    "distribution": f"one of {', '.join(DISTRIBUTIONS)} (default uniform; loguniform needs low > 0)",
    "mode": f"one of {', '.join(MODES)} (default value; see bantar_sim.studies.experiment.uncertain)",
}


class UncertainError(ParameterError):
    """An [uncertain] table that cannot be used (raised before any run; re-raised as an ExperimentError)."""


@dataclass(frozen=True)
class Range:
    """One uncertain lever strength: parameter, lever it belongs to, bounds, distribution, mode and reason."""

    name: str
    low: float
    high: float
    reason: str
    lever: str = ""
    distribution: str = "uniform"
    mode: str = "value"

    @property
    def column(self) -> str:
        """The input's column in scenarios.csv: the parameter, or ``<parameter>_scale`` for a factor."""
        return f"{self.name}_scale" if self.mode == "scale" else self.name

    def value(self, u: np.ndarray) -> np.ndarray:
        """Values for uniform u in [0, 1) (inverse CDF of the distribution)."""
        if self.distribution == "loguniform":
            return np.exp(np.log(self.low) + u * (np.log(self.high) - np.log(self.low)))
        return self.low + u * (self.high - self.low)


def _r(name, lever, low, high, reason, mode="value") -> Range:
    return Range(name, low, high, reason, lever, "uniform", mode)


#: Default ranges of the levers' uncalibrated strengths (each inside SPECS' allowed range; tests check it).
#: Used for the levers an experiment's arms turn on, unless an arm sets the parameter itself.
LEVER_RANGES: dict[str, Range] = {r.column: r for r in (
    _r("kencana_prestige", "kencana", 0.0, 1.5,
       "uncalibrated value of the title in motivation units: from the reward alone (0) to three times the assumed "
       "0.5; the paper says only a few RTs reach it, so a large value is implausible"),
    _r("adoption_knowhow", "adoption", 0.0, 2.0,
       "uncalibrated: from no transfer of know-how to twice the assumed 1 logit on the adopting RT's proposal"),
    _r("adoption_capacity", "adoption", 0.0, 0.6, "uncalibrated effort added to an adopting RT's head: 0 to 2 × 0.3"),
    _r("adoption_awareness", "adoption", 0.0, 0.15,
       "uncalibrated monthly awareness chance from the adopted RT: 0 to 3 × 0.05 (awareness is high by 2021)"),
    _r("adoption_recognition", "adoption", 0.0, 1.0, "uncalibrated motivation pulse of an adopted RT: 0 to 2 × 0.5"),
    _r("monitoring_deterrence", "monitoring", 0.4, 1.0,
       "share of misuse prevented at full monitoring: the paper gives no figure; at least some deterrence (0.4) up "
       "to all misuse (1)"),
    _r("complaint_recovery", "complaint_channel", 0.2, 0.8,
       "share of a misused fund a complaint recovers: unknown; around the assumed half"),
    _r("complaint_trust_loss_factor", "complaint_channel", 0.25, 0.75,
       "factor on the trust lost after misuse when complaints are handled: unknown; around the assumed half"),
    _r("economy_cost_relief", "extra_dimensions", 0.0, 0.1,
       "share of the economic constraint relieved at full economy score: 0 to 2 × 0.05 (0.3 cut poverty 88% in "
       "ten years, implausible)"),
    _r("informal_engagement", "informal_engagement", 0.5, 1.5,
       "how much leader engagement a programme buys is unknown: half to one and a half times the arm's setting",
       "scale"),
    _r("youth_regeneration", "youth_regeneration", 0.5, 1.5,
       "how much youth-leader engagement a programme buys is unknown: half to 1.5 × the arm's setting", "scale"),
    _r("dissemination_campaign", "dissemination_campaign", 0.5, 1.5,
       "the reach of a campaign per unit of effort is unknown: half to 1.5 × the arm's monthly chance", "scale"),
)}


@dataclass
class Uncertain:
    """A validated [uncertain] table with its scenario design (nothing run yet).

    Attributes
    ----------
    scenarios, seed_repeats : int
        S scenarios, k seeds each; an experiment with it has S·k replications, replicate ``s·k + r``.
    posterior : bool
        Whether scenario s draws a posterior row (``draws[s]``: row index, parameter values).
    ranges : tuple of Range
        The uncertain strengths, in column order of ``points``.
    points : numpy.ndarray
        S × len(ranges) scenario values (integers rounded for integer parameters).
    """

    scenarios: int
    seed_repeats: int
    sampling: str
    posterior: bool
    ranges: tuple
    metric: str
    threshold: float
    price: float
    base_seed: int
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    draws: list = field(default_factory=list)
    monitoring_cost: float = DEFAULT_MONITORING_COST

    @property
    def replications(self) -> int:
        """Runs per arm: scenarios × seed repeats."""
        return self.scenarios * self.seed_repeats

    def scenario_of(self, replicate: int) -> int:
        """The scenario of replicate ``s·k + r``."""
        return replicate // self.seed_repeats

    @property
    def seeds(self) -> list[int]:
        """Replicate i's seed (the same in every arm): scenario i // k, repeat i % k (nested SeedSequence.spawn)."""
        out = []
        for child in np.random.SeedSequence(self.base_seed).spawn(self.scenarios):
            out += [seed_from(c) for c in child.spawn(self.seed_repeats)]
        return out

    def apply(self, params: dict, replicate: int) -> dict:
        """The run's overrides with scenario ``replicate // k``'s strengths (value ranges set, scale ranges
        multiply a non-zero setting, clipped to the allowed range).
        """
        s = self.scenario_of(replicate)
        p = dict(params)
        for j, r in enumerate(self.ranges):
            spec = SPECS[r.name]
            x = float(self.points[s, j])
            if r.mode == "scale":
                current = p.get(r.name, spec.default)
                if not current:
                    continue
                x = min(max(current * x, spec.low), spec.high)
            p[r.name] = int(round(x)) if spec.kind is int else x
        return p

    def inputs(self) -> pd.DataFrame:
        """One row per scenario: posterior row and its parameter values, then the strengths (PRIM's x)."""
        df = pd.DataFrame({"scenario": np.arange(self.scenarios)})
        if self.draws:
            df["posterior_row"] = [i for i, _ in self.draws]
            post = pd.DataFrame([d for _, d in self.draws]).astype(float)
            df = pd.concat([df, post], axis=1)
        for j, r in enumerate(self.ranges):
            df[r.column] = self.points[:, j]
        return df

    @property
    def posterior_columns(self) -> list[str]:
        """The calibrated parameters the scenarios draw (empty without posterior draws)."""
        return list(self.draws[0][1]) if self.draws else []

    @property
    def strength_columns(self) -> list[str]:
        """The strength inputs' columns."""
        return [r.column for r in self.ranges]

    def seeds_frame(self) -> pd.DataFrame:
        """One row per replicate: scenario, seed repeat and seed (text: seeds exceed int64)."""
        k = self.seed_repeats
        return pd.DataFrame([{"replicate": i, "scenario": i // k, "seed_repeat": i % k, "seed": str(s)}
                             for i, s in enumerate(self.seeds)])

    def describe(self) -> str:
        """One line for the plan."""
        names = ", ".join(f"{r.column} [{r.low:g}, {r.high:g}]" for r in self.ranges) or "none"
        post = "posterior draw" if self.posterior else "the parameter set"
        return (f"uncertain: {self.scenarios} scenarios ({post} × {self.sampling} point) × {self.seed_repeats} "
                f"seed(s), every arm on every scenario; strengths: {names}")

    def to_json(self) -> dict:
        """The table as written to experiment.json (with the scenario inputs)."""
        return {"scenarios": self.scenarios, "seed_repeats": self.seed_repeats, "sampling": self.sampling,
                "posterior": self.posterior, "metric": self.metric, "threshold": self.threshold, "price": self.price,
                "monitoring_cost": self.monitoring_cost,
                "ranges": [{"name": r.name, "column": r.column, "lever": r.lever, "low": r.low, "high": r.high,
                            "distribution": r.distribution, "mode": r.mode, "reason": r.reason} for r in self.ranges],
                "inputs": self.inputs().to_dict(orient="records")}


# ------------------------------------------------------------------------------------------- checks
def _number(where: str, key: str, v: Any, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise UncertainError(f"{where}: '{key}' must be {what}, got {v!r}")
    return float(v)


def _int(where: str, key: str, v: Any, high: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= high:
        raise UncertainError(f"{where}: '{key}' must be an integer in [1, {high}], got {v!r}")
    return v


def _choice(where: str, key: str, v: Any, allowed: tuple) -> str:
    if v not in allowed:
        raise UncertainError(f"{where}: unknown {key} {v!r}{did_you_mean(str(v), allowed)}; allowed: "
                             f"{', '.join(allowed)}")
    return v


def _check_table(where: str, raw: Any, keys: dict[str, str], not_a_table: str) -> None:
    """``raw`` is a table whose keys are all in ``keys`` (key -> what is allowed), else an UncertainError."""
    if not isinstance(raw, dict):
        raise UncertainError(not_a_table)
    for key in raw:
        if key not in keys:
            raise UncertainError(f"{where}: unknown key '{key}'{did_you_mean(key, keys)}; allowed: "
                                 + "; ".join(f"{k} ({v})" for k, v in keys.items()))


def _is_on(value: Any) -> bool:
    return bool(value) if isinstance(value, (bool, int, float)) else value is not None


def _parse_range(f: str, name: str, raw: Any, posterior_columns: set[str]) -> Range:
    where = f"{f}: [uncertain.ranges.{name}]"
    _check_table(where, raw, RANGE_KEYS, f"{where}: must be a table with {', '.join(RANGE_KEYS)}")
    if name not in SPECS:
        examples = ", ".join(r.name for r in LEVER_RANGES.values())
        raise UncertainError(f"{where}: unknown parameter '{name}'{did_you_mean(name, SPECS)}; allowed: a number "
                             f"parameter of `bantar-sim params`, e.g. {examples}")
    spec = SPECS[name]
    if spec.kind not in (int, float):
        raise UncertainError(f"{where}: '{name}' is a {spec.kind.__name__} parameter; allowed: number parameters "
                             "(int or float)")
    if name in ("end_year", "scale", "households_per_rt"):
        raise UncertainError(f"{where}: '{name}' is set once per experiment; allowed: a lever strength parameter")
    if name in posterior_columns:
        raise UncertainError(f"{where}: '{name}' is drawn from the calibration posterior in every scenario; allowed: "
                             "an uncalibrated parameter, or posterior = false")
    mode = _choice(where, "mode", raw.get("mode", "value"), MODES)
    dist = _choice(where, "distribution", raw.get("distribution", "uniform"), DISTRIBUTIONS)
    for key in ("low", "high", "reason"):
        if key not in raw:
            raise UncertainError(f"{where}: missing '{key}' ({RANGE_KEYS[key]})")
    low = _number(where, "low", raw["low"], "a number")
    high = _number(where, "high", raw["high"], "a number")
    reason = raw["reason"]
    if not isinstance(reason, str) or not reason.strip():
        raise UncertainError(f"{where}: 'reason' must be a non-empty text saying why the range")
    if mode == "value":
        lo_ok = spec.low is None or low >= spec.low
        hi_ok = spec.high is None or high <= spec.high
        if not (lo_ok and hi_ok):
            raise UncertainError(f"{where}: range [{low:g}, {high:g}] is outside '{name}''s allowed range "
                                 f"[{spec.low}, {spec.high}]; allowed: low and high within it")
    elif low < 0 or high > 10:
        raise UncertainError(f"{where}: a scale factor range must lie in [0, 10], got [{low:g}, {high:g}]")
    if not high > low:
        raise UncertainError(f"{where}: 'high' ({high:g}) must be greater than 'low' ({low:g})")
    if dist == "loguniform" and low <= 0:
        raise UncertainError(f"{where}: distribution 'loguniform' needs low > 0, got low = {low:g}")
    lever = LEVER_RANGES[name].lever if name in LEVER_RANGES else name
    return Range(name, low, high, reason.strip(), lever, dist, mode)


def _set_by(arms: list, base: dict) -> dict[str, str]:
    """Parameter -> the first place that sets it: '[base]', "[[arm]] 'x'" or "[[sweep]] #k 'x'"."""
    out = {k: "[base]" for k in base}
    for arm in arms:
        for k in arm.overrides:
            out.setdefault(k, f"{arm.origin or '[[arm]]'} '{arm.name}'")
    return out


def load_uncertain(f: str, raw: Any, *, arms: list, base: dict, base_seed: int,
                   posterior_columns: set[str] | None = None) -> Uncertain:
    """Validate the [uncertain] table of file ``f`` against the experiment's arms; make the scenario design.

    ``arms`` are the experiment's arms (with their validated overrides), ``base`` its [base] settings and
    ``posterior_columns`` the parameters the posterior draws (empty when ``posterior = false``). The
    posterior draws themselves are added by the caller (``Uncertain.draws``).

    Raises
    ------
    UncertainError
        Naming the file, the key and what is allowed.
    """
    where = f"{f}: [uncertain]"
    _check_table(where, raw, UNCERTAIN_KEYS, f"{f}: 'uncertain' must be a table [uncertain]")
    posterior = raw.get("posterior", True)
    if not isinstance(posterior, bool):
        raise UncertainError(f"{where}: 'posterior' must be true or false, got {posterior!r}")
    scenarios = _int(where, "scenarios", raw.get("scenarios", 50), MAX_SCENARIOS)
    repeats = _int(where, "seed_repeats", raw.get("seed_repeats", 1), MAX_SEED_REPEATS)
    sampling = _choice(where, "sampling", raw.get("sampling", "lhs"), SAMPLINGS)
    metric = raw.get("metric", DEFAULT_METRIC)
    if metric not in EXPERIMENT_METRICS:
        raise UncertainError(f"{where}: unknown metric {metric!r}{did_you_mean(str(metric), EXPERIMENT_METRICS)}; "
                             f"allowed: {', '.join(EXPERIMENT_METRICS)}")
    threshold = _number(where, "threshold", raw.get("threshold", 0.0), "a number")
    price = _number(where, "price", raw.get("price", DEFAULT_PRICE), "a number >= 0")
    if price < 0:
        raise UncertainError(f"{where}: 'price' must be a number >= 0, got {price:g}")
    monitoring_cost = _number(where, "monitoring_cost", raw.get("monitoring_cost", DEFAULT_MONITORING_COST),
                              "a number >= 0")
    if monitoring_cost < 0:
        raise UncertainError(f"{where}: 'monitoring_cost' must be a number >= 0, got {monitoring_cost:g}")
    defaults = raw.get("default_ranges", True)
    if not isinstance(defaults, bool):
        raise UncertainError(f"{where}: 'default_ranges' must be true or false, got {defaults!r}")
    raw_ranges = raw.get("ranges", {})
    if not isinstance(raw_ranges, dict):
        raise UncertainError(f"{where}: 'ranges' must be tables [uncertain.ranges.NAME]")
    post_cols = set(posterior_columns or ()) if posterior else set()
    explicit = [_parse_range(f, n, r, post_cols) for n, r in raw_ranges.items()]
    set_by = _set_by(arms, base)
    for r in explicit:
        if r.mode == "value" and r.name in set_by:
            raise UncertainError(
                f"{f}: [uncertain.ranges.{r.name}]: '{r.name}' is also set by {set_by[r.name]}; an uncertain input "
                "cannot be set by an arm (the arms would not share it); allowed: remove it from the arm, or "
                "mode = \"scale\" to make the arm's own setting uncertain")
    ranges = {r.column: r for r in explicit}
    if defaults:
        on = {k for arm in arms for k, v in arm.overrides.items() if _is_on(v)} | {k for k, v in base.items()
                                                                                  if _is_on(v)}
        for col, r in LEVER_RANGES.items():
            if col in ranges or r.lever not in on or r.name in post_cols:
                continue
            if r.mode == "value" and r.name in set_by:
                continue   # an arm asks about this strength itself: it stays the arms'
            ranges[col] = r
    unc = Uncertain(scenarios, repeats, sampling, posterior, tuple(ranges.values()), metric, threshold, price,
                    base_seed, monitoring_cost=monitoring_cost)
    unc.points = design(unc.ranges, scenarios, sampling, base_seed)
    return unc


def design(ranges: tuple, n: int, sampling: str, base_seed: int) -> np.ndarray:
    """N × len(ranges) values: a Latin hypercube or scrambled Sobol design on its own seed stream."""
    from scipy.stats import qmc

    d = len(ranges)
    if d == 0:
        return np.zeros((n, 0))
    rng = np.random.default_rng(np.random.SeedSequence([base_seed, SAMPLING_STREAM]))
    if sampling == "sobol":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # balance properties need n = 2^m; any n is still a valid design
            u = qmc.Sobol(d, scramble=True, rng=rng).random(n)
    else:
        u = qmc.LatinHypercube(d, rng=rng).random(n)
    out = np.column_stack([r.value(u[:, j]) for j, r in enumerate(ranges)])
    for j, r in enumerate(ranges):
        if r.mode == "value" and SPECS[r.name].kind is int:
            out[:, j] = np.round(out[:, j])
    return out


def attach_uncertain(exp, raw: Any, *, point: bool, scenarios: int | None, price: float | None, draw) -> None:
    """Validate the [uncertain] table ``raw`` of experiment ``exp`` (always) and, unless ``point``, make the
    experiment run its scenarios: ``exp.replications`` = scenarios × seed repeats, posterior draw of scenario
    s (``draw(path, base_seed, S)``, :func:`bantar_sim.studies.experiment.spec.draw_posterior`) in its runs,
    ``exp.uncertain`` set. ``scenarios`` and ``price`` override the table (command line).

    With ``point`` the table is checked but not used: the file runs as a single-parameter-set experiment.
    """
    from bantar_sim.studies.inputs import default_posterior_path
    from bantar_sim.studies.posterior import PosteriorFileError, read_posterior

    f = str(exp.path)
    path = exp.posterior or default_posterior_path()
    if isinstance(raw, dict):
        raw = {**raw, **({"scenarios": scenarios} if scenarios is not None else {}),
               **({"price": price} if price is not None else {})}
    columns: set[str] = set()
    if isinstance(raw, dict) and raw.get("posterior", True) is True and not point:
        try:
            columns = set(read_posterior(path).rows[0])
        except PosteriorFileError as err:
            raise UncertainError(f"{f}: [uncertain] posterior = true: {err}") from None
    unc = load_uncertain(f, raw, arms=exp.arms, base=exp.base, base_seed=exp.base_seed, posterior_columns=columns)
    if point:
        if exp.posterior is not None:
            exp.posterior_draws = draw(exp.posterior, exp.base_seed, exp.replications)
        return
    exp.replications = unc.replications
    if unc.posterior:
        exp.posterior = path
        unc.draws = draw(path, exp.base_seed, unc.scenarios)
        exp.posterior_draws = [unc.draws[unc.scenario_of(i)] for i in range(unc.replications)]
    exp.uncertain = unc
