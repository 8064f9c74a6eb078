"""Inputs of the replicated simulation (`bantar-sim run`): a typed config and its checks.

Everything a run needs is checked here before any model is built or any file written, so that a bad
input is one line naming the input and what is allowed (the CLI turns :class:`ParameterError` into exit
code 2). The parameter overrides of a run are layered, later layers winning:

1. the parameter set: the calibrated set (``calibration/calibrated.toml`` found from the working
   directory, or ``calibrated=FILE``), or the status-quo defaults (``uncalibrated=True``);
2. a parameter file (``params_file``: TOML ``[params]`` or top level, or JSON);
3. single settings (``settings``, the command line's ``--set NAME=VALUE``) and the named fields
   ``end_year`` and ``scale`` (``--end-year``, ``--scale``). A parameter given twice in this layer
   (``--set`` twice, or a flag and ``--set``) is an error naming both, never a silent winner.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bantar_sim.engine.task import SEED_MAX, spawn_seeds
from bantar_sim.model.city import counts_ok
from bantar_sim.model.params import SPECS, ParameterError, check_value, load_param_file, make_params
from bantar_sim.studies.inputs import ParameterSet, resolve_parameter_set

MAX_REPLICATIONS = 10_000
#: Tables kept by replicate 0 (``rt_year``, one row per RT and year, is written for replicate 0 only).
TABLES_FIRST = ("city_year", "subdistrict_year", "table3", "metrics", "rt_year")
TABLES_OTHERS = ("city_year", "subdistrict_year", "table3", "metrics")


@dataclass(frozen=True)
class SimulationConfig:
    """What `bantar-sim run` runs: the replications, their seeds and the parameter layers.

    Parameters
    ----------
    seed : int
        Base seed in ``[0, 2**64)``; replication ``i`` runs with ``spawn_seeds(seed, replications)[i]``.
    replications : int
        Independent runs, in ``[1, 10000]``.
    end_year, scale : optional
        The last simulated year and the share of each sub-district's RTs (``--end-year``, ``--scale``).
    params_file : str or Path, optional
        A parameter file (TOML or JSON).
    settings : mapping, optional
        Single parameter settings (``--set NAME=VALUE``), name -> value.
    calibrated : str or Path, optional
        An explicit calibrated set file (default: ``calibration/calibrated.toml`` from the working directory).
    uncalibrated : bool
        Start from the status-quo defaults instead of a calibrated set.
    out : str or Path
        The output folder (replaced as a whole when the run is complete).
    """

    seed: int = 2014
    replications: int = 10
    end_year: int | None = None
    scale: float | None = None
    params_file: str | Path | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    calibrated: str | Path | None = None
    uncalibrated: bool = False
    out: str | Path = "outputs/run"


@dataclass(frozen=True)
class ParamsFile:
    """A parameter file as read: its path, sha256 and the overrides it sets."""

    path: Path
    sha256: str
    overrides: dict

    def provenance(self) -> dict:
        """JSON-ready record for run.json."""
        return {"path": str(self.path), "sha256": self.sha256, "parameters": sorted(self.overrides)}


@dataclass(frozen=True)
class ResolvedSimulation:
    """A checked config: the parameter set, the overrides every replication runs with, and the seeds."""

    config: SimulationConfig
    parameter_set: ParameterSet
    params_file: ParamsFile | None
    overrides: dict
    seeds: list[int]

    @property
    def params(self) -> dict:
        """The full parameter set of every replication (defaults filled in)."""
        return dict(make_params(self.overrides).__dict__)


def parse_value(text: str) -> Any:
    """A ``--set`` value as typed: ``true``/``false``, an int, a float, else the text itself.

    The parameter table (:func:`bantar_sim.model.params.check_value`) then checks and coerces it.
    """
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_settings(items: Iterable[str], flag: str = "--set") -> dict[str, Any]:
    """``NAME=VALUE`` items to a dict; a malformed item or a name given twice is an error naming both.

    Raises
    ------
    ParameterError
        ``--set expects NAME=VALUE`` or ``parameter 'x' is given twice: --set x=1 and --set x=2``.
    """
    out: dict[str, Any] = {}
    raw: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ParameterError(f"{flag} expects NAME=VALUE, got '{item}'")
        name, value = (s.strip() for s in item.split("=", 1))
        if name in raw:
            raise ParameterError(f"parameter '{name}' is given twice: {flag} {raw[name]} and {flag} {item}; "
                                 "give each parameter once")
        raw[name] = item
        out[name] = parse_value(value)
    return out


def read_params_file(path: str | Path) -> ParamsFile:
    """Read a ``--params`` file (:func:`bantar_sim.model.params.load_param_file`, strict) with its sha256.

    Raises
    ------
    ParameterError
        Naming the file and what is allowed.
    """
    path = Path(path)
    params = load_param_file(path, where=f"--params {path}")
    return ParamsFile(path, hashlib.sha256(path.read_bytes()).hexdigest(), params)


def resolve(config: SimulationConfig) -> ResolvedSimulation:
    """Check a config and resolve its parameters and seeds; nothing is run or written.

    Raises
    ------
    ParameterError
        (or a subclass) naming the input and what is allowed: the seed, the replications, the parameter
        set, the parameter file, a setting, a parameter given twice, a scale too small for the city.
    """
    c = config
    if isinstance(c.seed, bool) or not isinstance(c.seed, int) or not 0 <= c.seed < SEED_MAX:
        raise ParameterError(f"--seed must be an integer in [0, 2**64), got {c.seed}")
    if isinstance(c.replications, bool) or not isinstance(c.replications, int) \
            or not 1 <= c.replications <= MAX_REPLICATIONS:
        raise ParameterError(f"--replications must be an integer in [1, {MAX_REPLICATIONS}], got {c.replications}")
    pset = resolve_parameter_set(c.calibrated, uncalibrated=c.uncalibrated)
    overrides = dict(pset.params)
    pfile = read_params_file(c.params_file) if c.params_file is not None else None
    if pfile is not None:
        overrides.update(pfile.overrides)
    flags = {"end_year": ("--end-year", c.end_year), "scale": ("--scale", c.scale)}
    for name, value in dict(c.settings).items():
        if name not in SPECS:
            check_value(name, value, "--set")   # raises naming the parameter, with "did you mean"
        if name in flags and flags[name][1] is not None:
            flag, fv = flags[name]
            raise ParameterError(f"parameter '{name}' is given twice: {flag} {fv} and --set {name}={value}; "
                                 "give each parameter once")
        overrides[name] = check_value(name, value, "--set")
    for name, (flag, value) in flags.items():
        if value is not None:
            overrides[name] = check_value(name, value, flag)
    counts_ok(make_params(overrides))
    return ResolvedSimulation(c, pset, pfile, overrides, spawn_seeds(c.seed, c.replications))
