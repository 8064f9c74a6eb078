"""The sensitivity problem: what is uncertain, what is analysed, and the checks made before any run.

A problem file (``experiments/sensitivity.toml``) names the uncertain parameters with their ranges and
the reason for each, the outputs analysed (any metric of :data:`bantar_sim.model.metrics.METRICS`), the
horizon, the replications and the method settings. :func:`load_problem` reads and checks it; every error
names the file, the key and what is allowed, so a bad file stops before any run (exit code 2).
A :class:`Problem` can also be built in code (a notebook, or the Ishigami test function of
:mod:`bantar_sim.studies.sensitivity.toy`) and checked with :func:`check_problem`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bantar_sim.model.metrics import METRICS
from bantar_sim.model.params import SPECS, ParameterError, check_value, make_params, read_toml

__all__ = ["METHODS", "DEFAULTS", "Uncertain", "Problem", "check_n", "check_int", "check_problem", "load_problem"]

METHODS = ("morris", "sobol")

SOBOL_N = (4, 2 ** 20)          # power of two: balance of Sobol' points; >= 4 so the half sample has >= 2
MORRIS_N = (4, 100_000)         # trajectories; >= 4 so the half sample for the convergence check has >= 2
MORRIS_LEVELS = (2, 20)         # even (SALib's requirement)
REPLICATIONS = (2, 1000)        # >= 2: the seed's share of the variance needs two runs per point
DEFAULTS = {
    "morris": {"n": 20, "levels": 4, "bootstrap": 1000, "conf_level": 0.95, "parameters": None},
    "sobol": {"n": 128, "second_order": True, "bootstrap": 1000, "conf_level": 0.95, "parameters": None},
}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


# ------------------------------------------------------------------------------------ problem
@dataclass(frozen=True)
class Uncertain:
    """One uncertain parameter: uniform on [low, high]; integer parameters are rounded when run.

    Parameters
    ----------
    name : str
        The parameter (a name of :data:`bantar_sim.model.params.SPECS` for the model).
    low, high : float
        The range sampled.
    reason : str
        Why the range is what it is (source, or the argument for it): reports print it.
    integer : bool
        Round sampled values to integers when run.
    """

    name: str
    low: float
    high: float
    reason: str = ""
    integer: bool = False


@dataclass
class Problem:
    """A sensitivity problem (from :func:`load_problem`, or built in code and passed to :func:`check_problem`).

    Parameters
    ----------
    name : str
        Names the result folder ``<out>/<name>/<method>/``.
    parameters : list of Uncertain
        The uncertain parameters (at least 2).
    outputs : list of str
        The outputs analysed: metric names of :data:`bantar_sim.model.metrics.METRICS` for the model.
    fixed : dict
        Parameters held fixed in every run, on top of the parameter set the study starts from.
    replications : int
        Runs per design point (>= 2: the seed's share of the variance needs two).
    seed : int
        Base seed: SALib's sampler seed, the replication seeds (spawned from it), the bootstrap seed (+1).
    end_year : int or None
        The horizon (None: the run function's own, for a test function).
    model : bool
        True when the parameters and outputs are the model's (checked against its parameter table and
        metric registry); False for a test function run by another ``run_fn``.
    """

    name: str
    parameters: list[Uncertain]
    outputs: list[str]
    fixed: dict = field(default_factory=dict)
    replications: int = 2
    seed: int = 2014
    end_year: int | None = 2020
    description: str = ""
    morris: dict = field(default_factory=lambda: dict(DEFAULTS["morris"]))
    sobol: dict = field(default_factory=lambda: dict(DEFAULTS["sobol"]))
    output_info: dict = field(default_factory=dict)     # name -> (label, unit)
    output_reasons: dict = field(default_factory=dict)
    source: str = "<problem>"
    model: bool = True

    def settings(self, method: str) -> dict:
        """The ``[morris]`` or ``[sobol]`` settings (n, levels/second_order, bootstrap, conf_level, parameters)."""
        return self.morris if method == "morris" else self.sobol

    def method_parameters(self, method: str) -> list[Uncertain]:
        """The parameters a method varies: all, or the subset named in [morris]/[sobol] parameters."""
        names = self.settings(method).get("parameters")
        if not names:
            return list(self.parameters)
        by_name = {p.name: p for p in self.parameters}
        return [by_name[n] for n in names]

    def label(self, output: str) -> tuple[str, str]:
        """(label, unit) of an output: the problem's own, else the metric registry's."""
        if output in self.output_info:
            return self.output_info[output]
        if output in METRICS:
            return METRICS[output].label, METRICS[output].unit
        return output, "-"


def _err(where: str, msg: str) -> ParameterError:
    return ParameterError(f"{where}: {msg}")


def _check_keys(table: dict, allowed: tuple, where: str) -> None:
    for key in table:
        if key not in allowed:
            raise _err(where, f"unknown key '{key}'; allowed keys: {', '.join(allowed)}")


def check_int(value: Any, lo: int, hi: int, where: str) -> int:
    """``value`` if it is an integer in [lo, hi], else a ParameterError naming ``where`` and the range."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _err(where, f"must be an integer in [{lo}, {hi}], got {value!r}")
    return int(value)


def check_n(method: str, n: Any, where: str) -> int:
    """N allowed by the method, or a ParameterError naming ``where`` and the allowed values.

    Sobol: a power of 2 (Saltelli's scheme on a Sobol' sequence keeps its balance only there); Morris:
    a number of trajectories. Both >= 4, so the half design of the convergence check has >= 2.
    """
    if method == "sobol":
        lo, hi = SOBOL_N
        if isinstance(n, bool) or not isinstance(n, int) or not lo <= n <= hi or n & (n - 1):
            raise _err(where, f"Sobol N must be a power of 2 in [{lo}, {hi}] (Saltelli's scheme on a Sobol' "
                              f"sequence keeps its balance only at powers of 2: e.g. 64, 128, 256), got {n!r}")
        return n
    if method == "morris":
        return check_int(n, *MORRIS_N, where + " (Morris N = number of trajectories)")
    raise _err(where, f"unknown method {method!r}; allowed: {', '.join(METHODS)}")


def _check_method_table(method: str, table: dict, names: list[str], where: str) -> dict:
    keys = tuple(DEFAULTS[method])
    _check_keys(table, keys, where)
    out = dict(DEFAULTS[method])
    out.update(table)
    out["n"] = check_n(method, out["n"], f"{where} n")
    if method == "morris":
        lv = out["levels"]
        if isinstance(lv, bool) or not isinstance(lv, int) or not MORRIS_LEVELS[0] <= lv <= MORRIS_LEVELS[1] or lv % 2:
            raise _err(f"{where} levels", f"Morris levels must be an even integer in {list(MORRIS_LEVELS)}, got {lv!r}")
    else:
        if not isinstance(out["second_order"], bool):
            raise _err(f"{where} second_order", f"must be true or false, got {out['second_order']!r}")
    out["bootstrap"] = check_int(out["bootstrap"], 10, 100_000, f"{where} bootstrap")
    cl = out["conf_level"]
    if isinstance(cl, bool) or not isinstance(cl, (int, float)) or not 0 < cl < 1:
        raise _err(f"{where} conf_level", f"must be a number in (0, 1), got {cl!r}")
    sub = out["parameters"]
    if sub is not None:
        if not isinstance(sub, list) or not all(isinstance(s, str) for s in sub):
            raise _err(f"{where} parameters", "must be a list of parameter names")
        for s in sub:
            if s not in names:
                raise _err(f"{where} parameters", f"'{s}' is not one of the [[parameters]]: {', '.join(names)}")
        if len(set(sub)) != len(sub) or len(sub) < 2:
            raise _err(f"{where} parameters", "must name at least 2 distinct [[parameters]]")
    return out


def check_problem(problem: Problem) -> Problem:
    """Check a problem built in code (:func:`load_problem` checks files the same way).

    Parameters
    ----------
    problem : Problem
        Its method tables are completed with the defaults in place.

    Returns
    -------
    Problem
        The same object, checked.

    Raises
    ------
    ParameterError
        Naming the problem's source, the key and what is allowed.
    """
    where = problem.source
    if not _NAME_RE.match(problem.name or ""):
        raise _err(f"{where} [problem] name", f"must match {_NAME_RE.pattern} (it names the output folder), "
                                              f"got {problem.name!r}")
    if len(problem.parameters) < 2:
        raise _err(f"{where} [[parameters]]", "name at least 2 uncertain parameters")
    seen = set()
    for p in problem.parameters:
        if p.name in seen:
            raise _err(f"{where} [[parameters]]", f"parameter '{p.name}' is listed twice")
        seen.add(p.name)
        if not p.low < p.high:
            raise _err(f"{where} [[parameters]] {p.name}", f"min ({p.low}) must be < max ({p.high})")
    if not problem.outputs:
        raise _err(f"{where} [[outputs]]", "name at least 1 output")
    if len(set(problem.outputs)) != len(problem.outputs):
        raise _err(f"{where} [[outputs]]", "an output is listed twice")
    if problem.model:
        for o in problem.outputs:
            if o not in METRICS:
                raise _err(f"{where} [[outputs]]", f"unknown output '{o}'; allowed: {', '.join(METRICS)}")
    problem.replications = check_int(problem.replications, *REPLICATIONS, f"{where} [problem] replications")
    problem.seed = check_int(problem.seed, 0, 2 ** 63 - 1, f"{where} [problem] seed")
    names = [p.name for p in problem.parameters]
    problem.morris = _check_method_table("morris", problem.morris, names, f"{where} [morris]")
    problem.sobol = _check_method_table("sobol", problem.sobol, names, f"{where} [sobol]")
    return problem


def _parse_parameter(entry: Any, i: int, where: str) -> Uncertain:
    w = f"{where} [[parameters]] #{i + 1}"
    if not isinstance(entry, dict):
        raise _err(w, "must be a table with name, min, max, reason")
    _check_keys(entry, ("name", "min", "max", "reason"), w)
    for key in ("name", "min", "max", "reason"):
        if key not in entry:
            raise _err(w, f"missing key '{key}' (each parameter needs name, min, max and the reason for its range)")
    name = entry["name"]
    w = f"{where} [[parameters]] {name}"
    if not isinstance(name, str) or name not in SPECS:
        check_value(str(name), 0, w)   # raises with "did you mean ..."
    spec = SPECS[name]
    if spec.kind not in (int, float):
        raise _err(w, f"'{name}' is {'true/false' if spec.kind is bool else 'a choice'}, not a numeric parameter: "
                      "sensitivity analysis varies numeric parameters; set it in [fixed] instead")
    vals = {}
    for key in ("min", "max"):
        v = entry[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise _err(f"{w} {key}", f"must be a number, got {v!r}")
        if (spec.low is not None and v < spec.low) or (spec.high is not None and v > spec.high):
            raise _err(f"{w} {key}", f"{v} is outside the parameter's allowed range [{spec.low}, {spec.high}]")
        vals[key] = float(v)
    if not vals["min"] < vals["max"]:
        raise _err(w, f"min ({entry['min']}) must be < max ({entry['max']})")
    if spec.kind is int and math.floor(vals["max"]) - math.ceil(vals["min"]) < 1:
        raise _err(w, f"'{name}' is an integer parameter: [min, max] must contain at least 2 integers")
    if not isinstance(entry["reason"], str) or not entry["reason"].strip():
        raise _err(f"{w} reason", "say why the range is what it is (source, or the argument for it)")
    return Uncertain(name, vals["min"], vals["max"], entry["reason"].strip(), spec.kind is int)


def load_problem(path: str | Path) -> Problem:
    """Read and check a problem file.

    Parameters
    ----------
    path : str or Path
        The TOML problem file.

    Returns
    -------
    Problem

    Raises
    ------
    ParameterError
        Naming the file, the key and the allowed values (unknown key, parameter or output, a range
        outside the parameter's own, N not allowed by the method, ...).
    """
    path = Path(path)
    where = str(path)
    data = read_toml(path, f"{where}: problem file not found")
    _check_keys(data, ("problem", "fixed", "parameters", "outputs", "morris", "sobol"), where)
    head = data.get("problem", {})
    _check_keys(head, ("name", "description", "replications", "seed", "end_year"), f"{where} [problem]")
    raw_params = data.get("parameters", [])
    if not isinstance(raw_params, list) or not raw_params:
        raise _err(where, "needs [[parameters]] entries (name, min, max, reason), at least 2")
    params = [_parse_parameter(e, i, where) for i, e in enumerate(raw_params)]
    raw_out = data.get("outputs", [])
    if not isinstance(raw_out, list) or not raw_out:
        raise _err(where, f"needs [[outputs]] entries (name, reason); allowed names: {', '.join(METRICS)}")
    outputs, reasons = [], {}
    for i, o in enumerate(raw_out):
        w = f"{where} [[outputs]] #{i + 1}"
        if not isinstance(o, dict) or "name" not in o:
            raise _err(w, "must be a table with name and reason")
        _check_keys(o, ("name", "reason"), w)
        if o["name"] not in METRICS:
            raise _err(w, f"unknown output '{o['name']}'; allowed: {', '.join(METRICS)}")
        outputs.append(o["name"])
        reasons[o["name"]] = str(o.get("reason", "")).strip()
    fixed_raw = data.get("fixed", {})
    if not isinstance(fixed_raw, dict):
        raise _err(f"{where} [fixed]", "must be a table of parameter = value")
    fixed = {k: check_value(k, v, f"{where} [fixed]") for k, v in fixed_raw.items()}
    varied = {p.name for p in params}
    for k in fixed:
        if k in varied:
            raise _err(f"{where} [fixed] {k}", "is also an uncertain [[parameters]] entry: keep one")
        if k == "end_year":
            raise _err(f"{where} [fixed] end_year", "set the horizon as [problem] end_year")
    end_year = check_value("end_year", head.get("end_year", SPECS["end_year"].default), f"{where} [problem]")
    if "end_year" in varied:
        raise _err(f"{where} [[parameters]] end_year", "the horizon is [problem] end_year, not an uncertain parameter")
    for m in METHODS:
        if not isinstance(data.get(m, {}), dict):
            raise _err(f"{where} [{m}]", "must be a table")
    problem = Problem(
        name=head.get("name", path.stem), parameters=params, outputs=outputs, fixed=fixed,
        replications=head.get("replications", 2), seed=head.get("seed", 2014), end_year=end_year,
        description=str(head.get("description", "")).strip(), morris=dict(data.get("morris", {})),
        sobol=dict(data.get("sobol", {})), output_reasons=reasons, source=where)
    check_problem(problem)
    make_params({**fixed, "end_year": end_year}, where=f"{where} [fixed]")
    return problem
