"""The inputs of a policy experiment: the experiment file (TOML), its checks and its run tasks.

An experiment file is to this model what a BehaviorSpace experiment is to NetLogo: named arms (lever
settings), a horizon, replications and a base seed (format: experiments/README.md). The whole file is
validated before any run starts; every error names the file, the key and what is allowed.

Replication k of every arm runs with seed ``spawn_seeds(base_seed, R)[k]`` (common random numbers), so
the arms differ only by their levers and effects are paired differences. Runs go to
``outputs/<experiment>/runs`` (resumable: rerunning skips finished runs); the analysis writes metrics,
effects with 95% CIs, figures and ``report.md`` beside it (:mod:`.compute`, :mod:`.report`).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bantar_sim.engine.task import RunTask, spawn_seeds
from bantar_sim.model.city import counts_ok
from bantar_sim.model.metrics import EXPERIMENT_METRICS
from bantar_sim.model.params import SPECS, ParameterError, check_value, did_you_mean, make_params, read_toml
from bantar_sim.model.version import MODEL_VERSION, __version__
from bantar_sim.studies.experiment.uncertain import UncertainError, attach_uncertain
from bantar_sim.studies.inputs import (
    STATUS_QUO,
    ParameterSet,
    ParameterSetError,
    default_posterior_path,
    resolve_parameter_set,
)
from bantar_sim.studies.posterior import PosteriorFileError, read_posterior

BASELINE = "baseline"
HORIZON_RANGE = (2015, 2060)
MAX_REPLICATIONS = 100_000
POSTERIOR_STREAM = 0x504F5354   # "POST": the stream that picks replication k's posterior draw

# Tables the analysis needs (always kept) and the optional ones a file may add with `outputs`.
REQUIRED_TABLES = ("city_year", "subdistrict_year", "metrics", "award_cohorts")
OPTIONAL_TABLES = ("rt_year", "table3")

# Levers: the policy parameters plus the reward design (documented in docs/ODD.md, "Policy levers").
LEVERS = tuple(n for n, s in SPECS.items() if s.group == "policy") + ("reward_fund", "reward_mode", "reward_stages")
# Set once per experiment, not per arm: the city and the time frame (paired runs need the same city).
EXPERIMENT_LEVEL = {"end_year": "horizon", "scale": "scale", "households_per_rt": "households_per_rt"}

EXPERIMENT_KEYS = {
    "name": "experiment name: letters, digits, '_' or '-' (default: the file name)",
    "description": "text",
    "horizon": f"last simulated year, an integer in [{HORIZON_RANGE[0]}, {HORIZON_RANGE[1]}] (default 2030)",
    "replications": f"an integer in [1, {MAX_REPLICATIONS}] (default 30)",
    "base_seed": "an integer in [0, 2**63) (default 2014)",
    "scale": "share of each sub-district's RTs, a number in [0.005, 1.0] (default: the full city)",
    "households_per_rt": "mean households per RT, a number in [5, 1000] (default: the model's)",
    "parameters": "'calibrated' (calibration/calibrated.toml found from the working directory, default) or "
                  "'defaults' (the status quo in SPECS)",
    "posterior_draws": "false (default), true (calibration/posterior.csv) or a CSV path: parameters + weight columns",
    "outputs": f"list of extra tables to keep: {', '.join(OPTIONAL_TABLES)} "
               f"(always kept: {', '.join(REQUIRED_TABLES)})",
    "headline": "list of metrics for the forest plot and the printed summary (see bantar_sim.model.metrics."
                "EXPERIMENT_METRICS)",
}
ARM_META_KEYS = ("name", "description")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
#: Keys of a [[sweep]] table (a dose-response sweep: one arm per value of one lever).
SWEEP_KEYS = {
    "lever": "the lever (or model parameter) to sweep",
    "values": "non-empty list of distinct values of the lever, each in its range",
    "set": "optional table of other lever settings shared by the sweep's arms, e.g. { adoption = true }",
    "name": "optional sweep name, letters, digits, '_' or '-' (default: the lever); arms are named "
            "'<name>=<value>'",
    "description": "optional text",
}
#: Names of the arms a sweep makes, '<sweep>=<value>' (e.g. 'monitoring=0.25'): NAME_RE plus '=' and the
#: characters of a number ('.', '+', '-'). Explicit [[arm]] names cannot contain '=', so they never collide.
SWEEP_ARM_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*=[A-Za-z0-9_.+-]+$")


#: The experiment's headline metrics unless its file says otherwise (forest plot, printed summary).
DEFAULT_HEADLINE = ("sustained_3y", "active_bantar_final", "kencana_final", "participation_policy",
                    "wins_per_rt_gini", "funds_spent_policy", "misused_share_policy",
                    "funds_per_sustained_rt_year_policy")


class ExperimentError(ParameterError):
    """An experiment file or option is not usable (raised before any run starts)."""


@dataclass(frozen=True)
class ExperimentConfig:
    """What :func:`bantar_sim.studies.experiment.run_experiment` runs.

    Parameters
    ----------
    file : str or Path
        The experiment file (TOML; format in experiments/README.md).
    replications, horizon : int, optional
        Override the file's ``replications`` / ``horizon``.
    households_per_rt : float, optional
        Override the file's ``households_per_rt`` (e.g. to check that effects do not depend on it).
    out : str or Path, optional
        Output folder (default ``outputs/<experiment name>``); its ``runs/`` batch store is kept and resumed.
    command : str
        The command line, recorded in the report (empty when called from Python).
    point : bool
        Ignore the file's [uncertain] table: one parameter set, ``replications`` seeds (``--point``).
    price : float, optional
        Override [uncertain] ``price`` (million IDR per participating household-year).
    """

    file: str | Path
    replications: int | None = None
    horizon: int | None = None
    households_per_rt: float | None = None
    out: str | Path | None = None
    command: str = ""
    point: bool = False
    price: float | None = None


@dataclass
class Arm:
    """One arm of an experiment: its name, description and validated lever settings."""

    name: str
    description: str = ""
    overrides: dict = field(default_factory=dict)   # validated lever/parameter settings of this arm
    implied: bool = False                            # the baseline added because the file has none
    sweep: str | None = None                         # the [[sweep]] that made this arm (None: an [[arm]])
    value: Any = None                                # its value of the sweep's lever
    origin: str = ""                                 # where it was defined, e.g. "[[sweep]] #2" (errors)


@dataclass(frozen=True)
class Sweep:
    """A dose-response sweep: one arm per value of one lever, compared with the baseline like any arm.

    Attributes
    ----------
    name, lever : str
        The sweep's name (default: the lever) and the swept lever.
    values : tuple
        The validated values, in file order; arm k is named ``arm_names[k]``.
    settings : dict
        The validated ``set`` table: other levers every arm of the sweep sets.
    description : str
        Text (optional).
    """

    name: str
    lever: str
    values: tuple
    settings: dict
    description: str = ""

    @property
    def arm_names(self) -> list[str]:
        """The sweep's arm names, one per value: ``<name>=<value>``."""
        return [sweep_arm_name(self.name, v) for v in self.values]

    def to_json(self) -> dict:
        """The sweep as written to experiment.json."""
        return {"name": self.name, "lever": self.lever, "values": list(self.values), "set": dict(self.settings),
                "description": self.description, "arms": self.arm_names}


def value_text(value: Any) -> str:
    """A lever value as it appears in arm names and tables: true/false, the shortest exact number, the text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


def sweep_arm_name(sweep: str, value: Any) -> str:
    """The name of a sweep's arm: ``<sweep>=<value>``, e.g. ``monitoring=0.25`` (stable, readable)."""
    return f"{sweep}={value_text(value)}"


@dataclass
class Experiment:
    """A resolved experiment file: settings, arms, parameter set and posterior draws (nothing run yet)."""

    path: Path
    name: str
    description: str
    horizon: int
    replications: int
    base_seed: int
    scale: float | None
    households_per_rt: float | None
    parameters: str
    posterior: Path | None
    outputs: tuple
    headline: tuple
    base: dict
    arms: list
    parameter_set: ParameterSet      # the calibrated set (or the status-quo defaults) the arms start from
    posterior_draws: list = field(default_factory=list)   # replication k -> (row index, overrides)
    sweeps: list = field(default_factory=list)            # the [[sweep]]s (their arms are in `arms`)
    uncertain: Any = None                                 # the [uncertain] design (.uncertain.Uncertain) or None

    @property
    def start(self) -> dict:
        """The overrides of the parameter set the arms start from ({} for the status-quo defaults)."""
        return dict(self.parameter_set.params)

    @property
    def arm_names(self) -> list[str]:
        """The arm names, baseline first."""
        return [a.name for a in self.arms]

    @property
    def explicit_arms(self) -> list[Arm]:
        """The baseline and the [[arm]]s (not the arms a [[sweep]] made)."""
        return [a for a in self.arms if a.sweep is None]

    def sweep_arms(self, sweep: Sweep) -> list[Arm]:
        """The arms of one sweep, in the order of its values."""
        return [a for a in self.arms if a.sweep == sweep.name]

    @property
    def seeds(self) -> list[int]:
        """Replication k's seed, the same in every arm (common random numbers); with [uncertain], scenario
        k // seed_repeats's repeat k % seed_repeats (:attr:`.uncertain.Uncertain.seeds`).
        """
        if self.uncertain is not None:
            return self.uncertain.seeds
        return spawn_seeds(self.base_seed, self.replications)

    def arm_params(self, arm: Arm, replicate: int | None = None) -> dict:
        """The full override set of one run: start -> posterior draw -> [base] -> arm -> experiment level."""
        p = dict(self.start)
        if replicate is not None and self.posterior_draws:
            p.update(self.posterior_draws[replicate][1])
        p.update(self.base)
        p.update(arm.overrides)
        if replicate is not None and self.uncertain is not None:
            p = self.uncertain.apply(p, replicate)
        p["end_year"] = self.horizon
        if self.scale is not None:
            p["scale"] = self.scale
        if self.households_per_rt is not None:
            p["households_per_rt"] = self.households_per_rt
        return p

    @property
    def city_settings(self) -> dict:
        """The scale and households per RT the runs use, with where each comes from.

        A file that leaves them out runs at its parameter set's (calibrated.toml records the settings it was
        calibrated at), else at the model's defaults; reports say the value, not just "default".
        """
        p = make_params(self.arm_params(self.arms[0]))
        start = self.start

        def source(name):
            return "file" if getattr(self, name) is not None else ("parameter set" if name in start else "model")

        return {"scale": float(p.scale), "scale_from": source("scale"),
                "households_per_rt": float(p.households_per_rt), "households_per_rt_from": source("households_per_rt")}

    @property
    def window_start(self) -> int:
        """First year of the policy period: the earliest policy_start_year of the non-baseline arms."""
        years = [int(make_params(self.arm_params(a)).policy_start_year) for a in self.arms if a.name != BASELINE]
        return max(min(years) if years else self.horizon, 2014)

    def to_json(self) -> dict:
        """The resolved experiment as written to experiment.json (with the model version its runs have)."""
        return {
            "model_version": MODEL_VERSION, "package_version": __version__,
            "file": str(self.path), "name": self.name, "description": self.description, "horizon": self.horizon,
            "replications": self.replications, "base_seed": self.base_seed, "scale": self.scale,
            "households_per_rt": self.households_per_rt, "city": self.city_settings, "parameters": self.parameters,
            "parameter_set": self.parameter_set.provenance(),
            "posterior": str(self.posterior) if self.posterior else None,
            "posterior_rows": [i for i, _ in self.posterior_draws], "outputs": list(self.outputs),
            "headline": list(self.headline), "base": self.base, "window_start": self.window_start,
            "arms": [{"name": a.name, "description": a.description, "overrides": a.overrides, "implied": a.implied,
                      "sweep": a.sweep, "value": a.value} for a in self.arms],
            "sweeps": [sw.to_json() for sw in self.sweeps],
            "seeds": [str(s) for s in self.seeds],
            "uncertain": self.uncertain.to_json() if self.uncertain is not None else None,
        }


# ------------------------------------------------------------------------------------------ loading
def _type_name(v: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "table"}.get(type(v), type(v).__name__)


def _unknown_key(where: str, key: str, allowed: list[str], what: str = "key") -> ExperimentError:
    return ExperimentError(f"{where}: unknown {what} '{key}'{did_you_mean(key, allowed)}; "
                           f"allowed: {', '.join(allowed)}")


def _int_in(where: str, key: str, value: Any, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ExperimentError(f"{where}: '{key}' must be {what}, got {value!r} ({_type_name(value)})")
    if not low <= value <= high:
        raise ExperimentError(f"{where}: '{key}' = {value} is out of range: must be {what}")
    return value


def _settings(where: str, table: dict) -> dict:
    """Validate lever/parameter settings of [base] or an [[arm]]: known name, right type, in range."""
    out = {}
    for key, value in table.items():
        if key in EXPERIMENT_LEVEL:
            target = EXPERIMENT_LEVEL[key]
            raise ExperimentError(f"{where}: '{key}' cannot be set per arm or in [base] (paired arms share one "
                                  f"city and time frame); set '{target}' in [experiment] instead")
        if key not in SPECS:
            raise ExperimentError(f"{where}: unknown lever '{key}'{did_you_mean(key, SPECS)}; "
                                  f"allowed levers: {', '.join(LEVERS)}; "
                                  "or any other model parameter listed by `bantar-sim params`")
        if isinstance(value, (dict, list)):
            raise ExperimentError(f"{where}: '{key}' must be a single value, got a {_type_name(value)}")
        settings_value = check_value(key, value, where)
        out[key] = settings_value
    return out


def load_experiment(path: str | Path, *, replications: int | None = None, horizon: int | None = None,
                    households_per_rt: float | None = None, point: bool = False,
                    price: float | None = None) -> Experiment:
    """Read and validate an experiment file (and command-line overrides); nothing is run or written.

    With an [uncertain] table (and not ``point``) the experiment runs scenarios × seed repeats
    replications per arm (:mod:`.uncertain`); ``replications`` then overrides the number of scenarios.
    """
    path = Path(path)
    f = str(path)
    data = read_toml(path, f"{f}: experiment file not found", ExperimentError)

    for key in data:
        if key not in ("experiment", "base", "arm", "sweep", "uncertain"):
            raise _unknown_key(f, key, ["[experiment]", "[base]", "[[arm]]", "[[sweep]]", "[uncertain]"], "table")
    ex = data.get("experiment", {})
    if not isinstance(ex, dict):
        raise ExperimentError(f"{f}: 'experiment' must be a table [experiment], got a {_type_name(ex)}")
    where = f"{f}: [experiment]"
    for key in ex:
        if key not in EXPERIMENT_KEYS:
            allowed = [f"{k} ({v})" for k, v in EXPERIMENT_KEYS.items()]
            raise ExperimentError(f"{where}: unknown key '{key}'{did_you_mean(key, EXPERIMENT_KEYS)}; "
                                  f"allowed: {'; '.join(allowed)}")

    name = ex.get("name", path.stem)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ExperimentError(f"{where}: 'name' must be {EXPERIMENT_KEYS['name']}, got {name!r}")
    description = ex.get("description", "")
    if not isinstance(description, str):
        raise ExperimentError(f"{where}: 'description' must be a string, got {_type_name(description)}")
    h_what = f"an integer year in [{HORIZON_RANGE[0]}, {HORIZON_RANGE[1]}]"
    hz = _int_in(where, "horizon", ex.get("horizon", 2030), *HORIZON_RANGE, h_what)
    if horizon is not None:
        hz = _int_in("--horizon", "horizon", horizon, *HORIZON_RANGE, h_what)
    r_what = f"an integer in [1, {MAX_REPLICATIONS}]"
    reps = _int_in(where, "replications", ex.get("replications", 30), 1, MAX_REPLICATIONS, r_what)
    if replications is not None:
        reps = _int_in("--replications", "replications", replications, 1, MAX_REPLICATIONS, r_what)
    base_seed = _int_in(where, "base_seed", ex.get("base_seed", 2014), 0, 2**63 - 1, "an integer in [0, 2**63)")
    scale = check_value("scale", ex["scale"], where) if "scale" in ex else None
    hh = check_value("households_per_rt", ex["households_per_rt"], where) if "households_per_rt" in ex else None
    if households_per_rt is not None:
        hh = check_value("households_per_rt", households_per_rt, "--households-per-rt")
    parameters = ex.get("parameters", "calibrated")
    if parameters not in ("calibrated", "defaults"):
        raise ExperimentError(f"{where}: 'parameters' must be 'calibrated' or 'defaults', got {parameters!r}")
    outputs = ex.get("outputs", [])
    if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
        raise ExperimentError(f"{where}: 'outputs' must be a list of table names, got {outputs!r}")
    for o in outputs:
        if o not in OPTIONAL_TABLES + REQUIRED_TABLES:
            raise _unknown_key(f"{where} outputs", o, list(OPTIONAL_TABLES + REQUIRED_TABLES), "table")
    headline = ex.get("headline", list(DEFAULT_HEADLINE))
    if not isinstance(headline, list) or not headline or not all(isinstance(o, str) for o in headline):
        raise ExperimentError(f"{where}: 'headline' must be a non-empty list of metric names, got {headline!r}")
    for m in headline:
        if m not in EXPERIMENT_METRICS:
            raise _unknown_key(f"{where} headline", m, list(EXPERIMENT_METRICS), "metric")

    posterior = ex.get("posterior_draws", False)
    if isinstance(posterior, bool):
        posterior_path = default_posterior_path() if posterior else None
    elif isinstance(posterior, str) and posterior:
        posterior_path = Path(posterior)
        if not posterior_path.is_absolute():
            posterior_path = path.parent / posterior_path
    else:
        raise ExperimentError(f"{where}: 'posterior_draws' must be {EXPERIMENT_KEYS['posterior_draws']}, "
                              f"got {posterior!r}")

    base = data.get("base", {})
    if not isinstance(base, dict):
        raise ExperimentError(f"{f}: 'base' must be a table [base], got a {_type_name(base)}")
    base = _settings(f"{f}: [base]", base)

    raw_arms = data.get("arm", [])
    if isinstance(raw_arms, dict):
        raise ExperimentError(f"{f}: arms must be written [[arm]] (an array of tables), not [arm]")
    arms: list[Arm] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_arms, start=1):
        aw = f"{f}: [[arm]] #{i}"
        if not isinstance(raw, dict):
            raise ExperimentError(f"{aw}: must be a table, got a {_type_name(raw)}")
        if "name" not in raw:
            raise ExperimentError(f"{aw}: missing 'name' (letters, digits, '_' or '-')")
        aname = raw["name"]
        if not isinstance(aname, str) or not NAME_RE.match(aname):
            raise ExperimentError(f"{aw}: 'name' must be letters, digits, '_' or '-' (starting with a letter or "
                                  f"digit), got {aname!r}")
        if aname in seen:
            raise ExperimentError(f"{aw}: duplicate arm name '{aname}' (also [[arm]] #{seen[aname]}); "
                                  "arm names must be unique")
        seen[aname] = i
        adesc = raw.get("description", "")
        if not isinstance(adesc, str):
            raise ExperimentError(f"{aw} '{aname}': 'description' must be a string, got {_type_name(adesc)}")
        settings = {k: v for k, v in raw.items() if k not in ARM_META_KEYS}
        arms.append(Arm(aname, adesc, _settings(f"{aw} '{aname}'", settings)))
    if BASELINE not in seen:
        arms.insert(0, Arm(BASELINE, "status quo (implied: no lever set)", {}, implied=True))
    else:
        arms.insert(0, arms.pop(seen[BASELINE] - 1))   # the reference arm first
    sweeps = load_sweeps(f, data.get("sweep", []))
    for k, sw in enumerate(sweeps, start=1):
        for value, aname in zip(sw.values, sw.arm_names):
            desc = f"dose-response: {sw.lever} = {value_text(value)}"
            if sw.settings:
                desc += " (with " + ", ".join(f"{key} = {value_text(v)}" for key, v in sw.settings.items()) + ")"
            arms.append(Arm(aname, desc, {**sw.settings, sw.lever: value}, sweep=sw.name, value=value,
                            origin=f"[[sweep]] #{k}"))
    if len(arms) < 2:
        raise ExperimentError(f"{f}: no [[arm]] to compare with the baseline (nor a [[sweep]]); add at least one "
                              f"[[arm]] with a name and lever settings, e.g. [[arm]] name = \"kencana\" kencana = true")

    try:
        pset = resolve_parameter_set() if parameters == "calibrated" else STATUS_QUO
    except ParameterSetError as err:
        raise ExperimentError(f"{where}: parameters = \"calibrated\": {err} (in an experiment file: "
                              "parameters = \"defaults\" for the status-quo defaults)") from None
    exp = Experiment(path=path, name=name, description=description, horizon=hz, replications=reps,
                     base_seed=base_seed, scale=scale, households_per_rt=hh, parameters=parameters,
                     posterior=posterior_path, outputs=tuple(dict.fromkeys([*REQUIRED_TABLES, *outputs])),
                     headline=tuple(headline), base=base, arms=arms, parameter_set=pset, sweeps=sweeps)
    if "uncertain" in data:
        try:
            attach_uncertain(exp, data["uncertain"], point=point, scenarios=replications, price=price,
                             draw=draw_posterior)
        except UncertainError as err:
            raise ExperimentError(str(err)) from None
    elif posterior_path is not None:
        exp.posterior_draws = draw_posterior(posterior_path, base_seed, reps)
    _check_arms(exp)
    return exp


def load_sweeps(f: str, raw_sweeps: Any) -> list[Sweep]:
    """Validate the [[sweep]] tables of file ``f``: known keys and lever, values in range, distinct names.

    Errors name the file, ``[[sweep]] #k`` and the key, like the [[arm]] errors (checked before any run).
    """
    if isinstance(raw_sweeps, dict):
        raise ExperimentError(f"{f}: sweeps must be written [[sweep]] (an array of tables), not [sweep]")
    sweeps: list[Sweep] = []
    seen: dict[str, int] = {}
    for k, raw in enumerate(raw_sweeps, start=1):
        sw = f"{f}: [[sweep]] #{k}"
        if not isinstance(raw, dict):
            raise ExperimentError(f"{sw}: must be a table, got a {_type_name(raw)}")
        for key in raw:
            if key not in SWEEP_KEYS:
                allowed = [f"{key2} ({v})" for key2, v in SWEEP_KEYS.items()]
                raise ExperimentError(f"{sw}: unknown key '{key}'{did_you_mean(key, SWEEP_KEYS)}; "
                                      f"allowed: {'; '.join(allowed)}")
        if "lever" not in raw:
            raise ExperimentError(f"{sw}: missing 'lever' (the lever to sweep, e.g. lever = \"monitoring\")")
        lever = raw["lever"]
        if not isinstance(lever, str):
            raise ExperimentError(f"{sw}: 'lever' must be a lever name (string), got {lever!r} ({_type_name(lever)})")
        if lever in EXPERIMENT_LEVEL:
            raise ExperimentError(f"{sw}: 'lever' = '{lever}' cannot be swept (paired arms share one city and time "
                                  f"frame); set '{EXPERIMENT_LEVEL[lever]}' in [experiment] instead")
        if lever not in SPECS:
            raise ExperimentError(f"{sw}: 'lever': unknown lever '{lever}'{did_you_mean(lever, SPECS)}; "
                                  f"allowed levers: {', '.join(LEVERS)}; "
                                  "or any other model parameter listed by `bantar-sim params`")
        name = raw.get("name", lever)
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ExperimentError(f"{sw}: 'name' must be {SWEEP_KEYS['name']}, got {name!r}")
        if name in seen:
            raise ExperimentError(f"{sw}: duplicate sweep name '{name}' (also [[sweep]] #{seen[name]}); sweeps of "
                                  "the same lever need different 'name's (their arms are named '<name>=<value>')")
        seen[name] = k
        description = raw.get("description", "")
        if not isinstance(description, str):
            raise ExperimentError(f"{sw}: 'description' must be a string, got {_type_name(description)}")
        if "values" not in raw:
            raise ExperimentError(f"{sw}: missing 'values' (a non-empty list of values of '{lever}')")
        raw_values = raw["values"]
        if not isinstance(raw_values, list) or not raw_values:
            raise ExperimentError(f"{sw}: 'values' must be a non-empty list of distinct values of '{lever}', each in "
                                  f"its range, got {raw_values!r}")
        values: list = []
        names: dict[str, int] = {}
        for i, v in enumerate(raw_values, start=1):
            if isinstance(v, (dict, list)):
                raise ExperimentError(f"{sw}: 'values' item {i} must be a single value, got a {_type_name(v)}")
            value = check_value(lever, v, f"{sw} 'values' item {i}")
            aname = sweep_arm_name(name, value)
            if aname in names:
                raise ExperimentError(f"{sw}: 'values' item {i} ({v!r}) repeats item {names[aname]} (arm "
                                      f"'{aname}'); values must be distinct")
            if not SWEEP_ARM_RE.match(aname):
                raise ExperimentError(f"{sw}: 'values' item {i} ({v!r}) gives the arm name {aname!r}, which is not "
                                      "letters, digits, '_', '.', '+' or '-'")
            names[aname] = i
            values.append(value)
        settings = raw.get("set", {})
        if not isinstance(settings, dict):
            raise ExperimentError(f"{sw}: 'set' must be a table of lever settings, e.g. set = {{ adoption = true }}, "
                                  f"got a {_type_name(settings)}")
        if lever in settings:
            raise ExperimentError(f"{sw}: 'set' sets the swept lever '{lever}' itself; remove it from 'set'")
        sweeps.append(Sweep(name, lever, tuple(values), _settings(f"{sw} 'set'", settings), description))
    return sweeps


def _check_arms(exp: Experiment) -> None:
    """Every run's full parameter set is valid, and every lever can act before the horizon."""
    f = str(exp.path)
    for arm in exp.arms:
        where = (f"{f}: [base]" if arm.implied else f"{f}: {arm.origin} '{arm.name}'" if arm.origin
                 else f"{f}: [[arm]] '{arm.name}'")
        reps = range(exp.replications) if exp.posterior_draws else [None]
        for k in reps:
            w = where if k is None else f"{where} with posterior row {exp.posterior_draws[k][0]}"
            p = make_params(exp.arm_params(arm, k), where=w)
            counts_ok(p)
        if arm.name != BASELINE and p.policy_start_year > exp.horizon:
            src = "its policy_start_year" if "policy_start_year" in arm.overrides else (
                "[base] policy_start_year" if "policy_start_year" in exp.base else "the default policy_start_year")
            raise ExperimentError(
                f"{where}: bad horizon: {src} = {p.policy_start_year} is after horizon = {exp.horizon}, so the "
                f"levers would never act; allowed: horizon in [{p.policy_start_year}, {HORIZON_RANGE[1]}] or "
                f"policy_start_year in [2014, {exp.horizon}]")


def draw_posterior(path: Path, base_seed: int, replications: int) -> list[tuple[int, dict]]:
    """Replication k's parameter set: a weighted draw from the ABC posterior (rows = particles; particles that
    fail the pattern filter have zero weight — bantar_sim.studies.posterior).

    Draw k uses its own stream (base_seed, POSTERIOR_STREAM, k), so adding replications keeps the
    earlier draws (and their stored runs) unchanged.
    """
    try:
        post = read_posterior(path, not_drawn={c: f"the experiment ('{k}')" for c, k in EXPERIMENT_LEVEL.items()})
    except PosteriorFileError as err:
        raise ExperimentError(str(err)) from None
    draws = []
    for k in range(replications):
        i = post.index_for(np.random.default_rng([base_seed, POSTERIOR_STREAM, k]).random())
        draws.append((i, post.row(i)))
    return draws


# -------------------------------------------------------------------------------------------- tasks
def build_tasks(exp: Experiment) -> list[RunTask]:
    """RunTasks arm by arm: the full parameter set, seed ``spawn_seeds(base_seed, R)[k]``, tags arm/replicate
    (and the posterior row), the tables the analysis needs plus the file's ``outputs``.

    Computed by :func:`bantar_sim.engine.task.run_task`, the one run function of the package.
    """
    seeds = exp.seeds
    tasks = []
    for arm in exp.arms:
        for k, seed in enumerate(seeds):
            params = asdict(make_params(exp.arm_params(arm, k)))
            tags = {"arm": arm.name, "replicate": k}
            if exp.uncertain is not None:
                tags["scenario"] = exp.uncertain.scenario_of(k)
            if exp.posterior_draws:
                tags["draw"] = exp.posterior_draws[k][0]
            tasks.append(RunTask(params=params, seed=seed, tags=tags, tables=tuple(exp.outputs)))
    return tasks
