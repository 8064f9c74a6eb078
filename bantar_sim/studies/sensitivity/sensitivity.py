"""`bantar-sim sensitivity FILE --method morris|sobol --n N`: global sensitivity analysis with SALib.

The problem file (experiments/sensitivity.toml) names the uncertain parameters with their ranges and
the reason for each, the outputs analysed and the horizon. SALib samples the design (Morris
trajectories, or Saltelli's scheme on a scrambled Sobol' sequence), every design point is run with R
replications through the batch engine (any executor, written to disk as runs finish, resumed on rerun),
the replication means are analysed with SALib (Morris mu*/sigma; Sobol S1/ST/S2 with bootstrap CIs), and
tables, figures, a convergence check and a Markdown report land under outputs/sensitivity/<name>/.
Why the design choices (common random numbers, analysing means, the half-sample convergence check):
docs/sensitivity.md.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from bantar_sim.model.version import MODEL_VERSION, __version__
from bantar_sim.model.params import SPECS, ParameterError, calibrated_overrides, check_value, make_params, read_toml
from bantar_sim.engine.task import run_task, spawn_seeds

METHODS = ("morris", "sobol")
RESULTS_TABLE = "metrics"   # the run table the outputs are read from (one row per run)

# Outputs a problem file may analyse: columns of bantar_sim.model.tables.run_metrics, with a label and unit
# for tables and axes. tests/test_sensitivity.py checks this list against run_metrics itself.
OUTPUTS: dict[str, tuple[str, str]] = {
    "winners_2014_2020": ("cumulative winners 2014–2020", "RTs"),
    "wins_per_rt_gini": ("inequality of wins per RT across sub-districts", "Gini, 0–1"),
    "participation_final": ("participation in the final year", "share of households"),
    "participation_mean": ("mean participation over the horizon", "share of households"),
    "active_bantar_final": ("labelled RTs still practising, final year", "RTs"),
    "bantar_label_final": ("RTs holding the Bantar/Kencana label, final year", "RTs"),
    "kencana_final": ("Kencana RTs, final year", "RTs"),
    "awarded_rts_final": ("RTs ever awarded by the final year", "RTs"),
    "poverty_share_final": ("households below the poverty line, final year", "share of households"),
    "youth_participation_final": ("youth participation, final year", "share of youth households"),
    "winners_total": ("winners over the whole horizon", "RTs"),
    "reward_paid_total": ("reward funds paid, incl. RJ houses", "million IDR"),
    "reward_misused_total": ("reward funds misused", "million IDR"),
    "misused_share": ("share of reward funds misused", "share"),
    "active_bantar_rt_years": ("RT-years of practising labelled RTs", "RT-years"),
    "funds_per_sustained_rt_year": ("funds per practising labelled RT-year", "million IDR / RT-year"),
    "sustained_1y": ("awarded RTs still active 1 year on", "share of awarded RTs"),
    "sustained_3y": ("awarded RTs still active 3 years on", "share of awarded RTs"),
    "sustained_5y": ("awarded RTs still active 5 years on", "share of awarded RTs"),
}

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
    """One uncertain parameter: uniform on [low, high]; integer parameters are rounded when run."""
    name: str
    low: float
    high: float
    reason: str = ""
    integer: bool = False


@dataclass
class Problem:
    """A validated sensitivity problem (from load_problem, or built directly for a test function)."""
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

    def settings(self, method: str) -> dict:
        return self.morris if method == "morris" else self.sobol

    def method_parameters(self, method: str) -> list[Uncertain]:
        """The parameters a method varies: all, or the subset named in [morris]/[sobol] parameters."""
        names = self.settings(method).get("parameters")
        if not names:
            return list(self.parameters)
        by_name = {p.name: p for p in self.parameters}
        return [by_name[n] for n in names]

    def label(self, output: str) -> tuple[str, str]:
        return self.output_info.get(output) or OUTPUTS.get(output) or (output, "-")


def _err(where: str, msg: str) -> ParameterError:
    return ParameterError(f"{where}: {msg}")


def _check_keys(table: dict, allowed: tuple, where: str) -> None:
    for key in table:
        if key not in allowed:
            raise _err(where, f"unknown key '{key}'; allowed keys: {', '.join(allowed)}")


def _int_in(value: Any, lo: int, hi: int, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _err(where, f"must be an integer in [{lo}, {hi}], got {value!r}")
    return int(value)


def check_n(method: str, n: Any, where: str) -> int:
    """N allowed by the method, or a ParameterError naming `where` and the allowed values."""
    if method == "sobol":
        lo, hi = SOBOL_N
        if isinstance(n, bool) or not isinstance(n, int) or not lo <= n <= hi or n & (n - 1):
            raise _err(where, f"Sobol N must be a power of 2 in [{lo}, {hi}] (Saltelli's scheme on a Sobol' "
                              f"sequence keeps its balance only at powers of 2: e.g. 64, 128, 256), got {n!r}")
        return n
    if method == "morris":
        return _int_in(n, *MORRIS_N, where + " (Morris N = number of trajectories)")
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
    out["bootstrap"] = _int_in(out["bootstrap"], 10, 100_000, f"{where} bootstrap")
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


def check_problem(problem: Problem, *, model: bool = True) -> Problem:
    """Validate a problem built in code (load_problem validates files the same way)."""
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
    if model:
        for o in problem.outputs:
            if o not in OUTPUTS:
                raise _err(f"{where} [[outputs]]", f"unknown output '{o}'; allowed: {', '.join(OUTPUTS)}")
    problem.replications = _int_in(problem.replications, *REPLICATIONS, f"{where} [problem] replications")
    problem.seed = _int_in(problem.seed, 0, 2 ** 63 - 1, f"{where} [problem] seed")
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
    """Read and validate a problem file; every error names the file, the key and the allowed values."""
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
        raise _err(where, f"needs [[outputs]] entries (name, reason); allowed names: {', '.join(OUTPUTS)}")
    outputs, reasons = [], {}
    for i, o in enumerate(raw_out):
        w = f"{where} [[outputs]] #{i + 1}"
        if not isinstance(o, dict) or "name" not in o:
            raise _err(w, "must be a table with name and reason")
        _check_keys(o, ("name", "reason"), w)
        if o["name"] not in OUTPUTS:
            raise _err(w, f"unknown output '{o['name']}'; allowed: {', '.join(OUTPUTS)}")
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


# ------------------------------------------------------------------------------------ design
@dataclass
class Design:
    """SALib's sample for one method and N: X as sampled, `values` as run (integers rounded)."""
    method: str
    n: int
    parameters: list[Uncertain]
    X: np.ndarray
    values: np.ndarray
    block: int                 # rows per base point (Sobol) or trajectory (Morris)
    settings: dict

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def n_points(self) -> int:
        return len(self.X)

    def half_rows(self) -> int:
        """Rows of the design for N/2: the N design starts with it (same seed; see docs/sensitivity.md)."""
        return (self.n // 2) * self.block

    def point(self, i: int) -> dict:
        return {p.name: (int(v) if p.integer else float(v)) for p, v in zip(self.parameters, self.values[i])}


def salib_spec(parameters: list[Uncertain], outputs: list[str] | None = None):
    from SALib import ProblemSpec
    spec = {"names": [p.name for p in parameters], "bounds": [[p.low, p.high] for p in parameters]}
    if outputs:
        spec["outputs"] = list(outputs)
    return ProblemSpec(spec)


def sample_design(problem: Problem, method: str, n: int) -> Design:
    """SALib's sampler: Morris trajectories, or Saltelli's scheme on a scrambled Sobol' sequence."""
    settings = dict(problem.settings(method))
    params = problem.method_parameters(method)
    k = len(params)
    sp = salib_spec(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        if method == "sobol":
            sp.sample_sobol(n, calc_second_order=settings["second_order"], scramble=True, seed=problem.seed)
            block = 2 * k + 2 if settings["second_order"] else k + 2
        else:
            sp.sample_morris(n, num_levels=settings["levels"], seed=problem.seed)
            block = k + 1
    X = np.asarray(sp.samples, dtype=float)
    values = X.copy()
    for j, p in enumerate(params):
        if p.integer:
            values[:, j] = np.clip(np.rint(values[:, j]), math.ceil(p.low), math.floor(p.high))
    assert len(X) == n * block
    return Design(method, n, params, X, values, block, settings)


def base_overrides(problem: Problem, calibrated: bool = True) -> dict:
    """Calibrated set (if any), then the file's [fixed] table, then the horizon: what every run shares."""
    base = dict(calibrated_overrides()) if calibrated else {}
    base.update(problem.fixed)
    if problem.end_year is not None:
        base["end_year"] = problem.end_year
    return base


def check_design(problem: Problem, design: Design, base: dict) -> None:
    """Every design point must be a valid parameter set (joint rules too) before any run starts."""
    from bantar_sim.model.model import counts_ok
    where = problem.source
    base_params = make_params(base, where=f"{where} [fixed]")
    counts_ok(base_params)
    for i in range(design.n_points):
        point = design.point(i)
        try:
            make_params(point, base=base_params)
        except ParameterError as err:
            raise ParameterError(f"{where}: design point {i} ({', '.join(f'{k}={v:.4g}' for k, v in point.items())}) "
                                 f"is not a valid parameter set: {err}. Narrow the [[parameters]] ranges so "
                                 "every combination is allowed.") from None


def make_tasks(problem: Problem, design: Design, base: dict, seeds: list[int],
               extra: dict | None = None) -> list:
    """One RunTask per design point × replication; replicate r uses seeds[r] at every point (CRN)."""
    from bantar_sim.engine.batch import RunTask
    extra = {"_tables": [RESULTS_TABLE]} if extra is None else extra
    tasks = []
    for i in range(design.n_points):
        params = {**base, **design.point(i), **extra}
        for r, seed in enumerate(seeds):
            tasks.append(RunTask(params=params, seed=seed, tags={"design_point": i, "replicate": r}))
    return tasks


def collect(runs_dir: Path, tasks: list, outputs: list[str], n_points: int, n_reps: int,
            model_version: str) -> np.ndarray:
    """Y[point, replicate, output] from the batch store; only the runs of this design count."""
    from bantar_sim.engine.batch import load_table
    want = {t.run_id(model_version): (t.tags["design_point"], t.tags["replicate"]) for t in tasks}
    df = load_table(runs_dir, RESULTS_TABLE, columns=["run_id", *outputs])
    df = df[df["run_id"].isin(want.keys())].drop_duplicates("run_id")
    missing = len(want) - len(df)
    if missing:
        raise RuntimeError(f"{runs_dir}: {missing} of {len(want)} runs of this design are not stored; "
                           "rerun the same command to compute them (finished runs are kept)")
    Y = np.full((n_points, n_reps, len(outputs)), np.nan)
    idx = np.array([want[r] for r in df["run_id"]])
    Y[idx[:, 0], idx[:, 1], :] = df[outputs].to_numpy(dtype=float)
    return Y


# ------------------------------------------------------------------------------------ analysis
@dataclass
class Analysis:
    method: str
    indices: pd.DataFrame        # one row per output × parameter
    s2: pd.DataFrame             # Sobol second order (empty for Morris)
    seed_variance: pd.DataFrame  # one row per output
    convergence: pd.DataFrame    # one row per output × parameter: half vs full design
    convergence_summary: pd.DataFrame
    means: np.ndarray            # replication means, (points, outputs)
    skipped: dict                # output -> reason it was not analysed


def seed_variance(Y: np.ndarray, outputs: list[str]) -> pd.DataFrame:
    """Share of output variance due to the seed: mean within-point variance across replications / total."""
    rows = []
    R = Y.shape[1]
    for j, name in enumerate(outputs):
        y = Y[:, :, j]
        ok = np.isfinite(y).all(axis=1)
        y = y[ok]
        if len(y) < 2:
            rows.append({"output": name, "points": int(len(y))})
            continue
        within = float(np.mean(np.var(y, axis=1, ddof=1)))
        total = float(np.var(y.ravel(), ddof=1))
        var_means = float(np.var(y.mean(axis=1), ddof=1))
        rows.append({
            "output": name, "points": int(len(y)), "replications": R, "mean": float(y.mean()),
            "total_variance": total, "within_point_variance": within,
            "seed_share_single_run": within / total if total > 0 else float("nan"),
            "variance_of_means": var_means,
            "seed_share_of_means": (within / R) / var_means if var_means > 0 else float("nan"),
        })
    return pd.DataFrame(rows)


def _analyse_once(method: str, params: list[Uncertain], X: np.ndarray, Y: np.ndarray, settings: dict,
                  seed: int, resamples: int | None = None) -> dict:
    """SALib's analyser on (X, Y[:, outputs]) for one design; returns {output index: ResultDict}."""
    outs = [f"y{j}" for j in range(Y.shape[1])]
    sp = salib_spec(params, outs)
    sp.set_samples(X)
    sp.set_results(Y if Y.shape[1] > 1 else Y[:, 0])
    kw = {"num_resamples": resamples or settings["bootstrap"], "conf_level": settings["conf_level"],
          "seed": seed}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (RuntimeWarning, FutureWarning))
        if method == "sobol":
            sp.analyze_sobol(calc_second_order=settings["second_order"], **kw)
        else:
            sp.analyze_morris(num_levels=settings["levels"], **kw)
    res = sp.analysis
    return {0: res} if Y.shape[1] == 1 else {j: res[o] for j, o in enumerate(outs)}


def analyse(problem: Problem, design: Design, Y: np.ndarray) -> Analysis:
    """SALib on the replication means; per-replicate point estimates; N/2-vs-N convergence check."""
    outputs = problem.outputs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN points are reported as skipped below
        means = np.nanmean(Y, axis=1)
    skipped, use = {}, []
    for j, o in enumerate(outputs):
        col = means[:, j]
        if not np.isfinite(col).all():
            skipped[o] = (f"undefined at {int((~np.isfinite(col)).sum())} of {len(col)} design points "
                          "(e.g. no RT awarded early enough to be followed up within the horizon)")
        elif np.ptp(col) <= 1e-12 * max(1.0, abs(col).max()):
            skipped[o] = f"constant ({col[0]:.4g}) at every design point: no variance to apportion"
        else:
            use.append(j)
    settings, seed = design.settings, problem.seed + 1    # SALib treats seed 0 as "unseeded"
    names = design.names
    rows, s2_rows, conv_rows, conv_sum = [], [], [], []
    if use:
        full = _analyse_once(design.method, design.parameters, design.X, means[:, use], settings, seed)
        h = design.half_rows()
        half = _analyse_once(design.method, design.parameters, design.X[:h], means[:h][:, use], settings, seed, 10)
        per_rep = [_analyse_once(design.method, design.parameters, design.X, Y[:, r, use], settings, seed, 10)
                   for r in range(Y.shape[1])]
        key = "ST" if design.method == "sobol" else "mu_star"
        for pos, j in enumerate(use):
            o = outputs[j]
            res = full[pos]
            main = np.asarray(res[key], float)
            rank = pd.Series(main).rank(ascending=False, method="min").astype(int).to_numpy()
            rep_vals = np.array([np.asarray(pr[pos][key], float) for pr in per_rep])
            for i, name in enumerate(names):
                row = {"output": o, "parameter": name}
                if design.method == "sobol":
                    for ix in ("S1", "ST"):
                        v, c = float(res[ix][i]), float(res[f"{ix}_conf"][i])
                        row.update({ix: v, f"{ix}_conf": c, f"{ix}_low": v - c, f"{ix}_high": v + c})
                else:
                    v, c = float(res["mu_star"][i]), float(res["mu_star_conf"][i])
                    row.update({"mu": float(res["mu"][i]), "mu_star": v, "mu_star_conf": c,
                                "mu_star_low": v - c, "mu_star_high": v + c, "sigma": float(res["sigma"][i])})
                row.update({"rank": int(rank[i]), f"{key}_replicate_min": float(rep_vals[:, i].min()),
                            f"{key}_replicate_max": float(rep_vals[:, i].max())})
                rows.append(row)
            if design.method == "sobol" and settings["second_order"]:
                S2, S2c = np.asarray(res["S2"]), np.asarray(res["S2_conf"])
                for a in range(len(names)):
                    for b in range(a + 1, len(names)):
                        s2_rows.append({"output": o, "parameter_1": names[a], "parameter_2": names[b],
                                        "S2": float(S2[a, b]), "S2_conf": float(S2c[a, b])})
            hv = np.asarray(half[pos][key], float)
            hrank = pd.Series(hv).rank(ascending=False, method="min").astype(int).to_numpy()
            for i, name in enumerate(names):
                conv_rows.append({"output": o, "parameter": name, "index": key,
                                  f"value_n{design.n // 2}": float(hv[i]), f"value_n{design.n}": float(main[i]),
                                  f"rank_n{design.n // 2}": int(hrank[i]), f"rank_n{design.n}": int(rank[i])})
            conv_sum.append(_convergence_summary(o, key, hv, main, design.n))
    indices = pd.DataFrame(rows)
    return Analysis(design.method, indices, pd.DataFrame(s2_rows), seed_variance(Y, outputs),
                    pd.DataFrame(conv_rows), pd.DataFrame(conv_sum), means, skipped)


def _convergence_summary(output: str, key: str, half: np.ndarray, full: np.ndarray, n: int) -> dict:
    from scipy.stats import spearmanr
    k = len(full)
    top = min(3, k)
    top_half, top_full = set(np.argsort(-half)[:top]), set(np.argsort(-full)[:top])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = float(spearmanr(half, full).statistic) if k > 2 else float("nan")
    scale = max(float(np.abs(full).max()), 1e-12)
    return {"output": output, "index": key, "n_half": n // 2, "n_full": n, "spearman_rank_correlation": rho,
            f"same_top_{top}": top_half == top_full, "most_influential_same": int(np.argmax(half)) == int(np.argmax(full)),
            "max_abs_change_relative": float(np.abs(full - half).max() / scale)}


# ------------------------------------------------------------------------------------ pipeline
@dataclass
class Result:
    problem: Problem
    design: Design
    analysis: Analysis
    out_dir: Path
    runs_dir: Path
    batch: Any
    meta: dict
    files: list[Path]


def run_sensitivity(problem: Problem, method: str, n: int | None = None, *, out_root: str | Path = "outputs/sensitivity",
                    run_fn: Callable = run_task, executor=None, base: dict | None = None, model: bool = True,
                    model_version: str = MODEL_VERSION, progress: bool = True, extra_params: dict | None = None,
                    on_plan: Callable[[str], None] | None = None, design: Design | None = None) -> Result:
    """Sample, validate, run through the batch engine, analyse and write every output.

    `model=False` runs a test function (e.g. ishigami_run) through the same path: parameters are not
    checked against the model's SPECS. Raises ParameterError before any run if the input is invalid.
    `design`: one already sampled and checked for this problem, method and N (the command does that
    before it starts the executor).
    """
    from bantar_sim.engine.batch import run_batch
    if method not in METHODS:
        raise ParameterError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    n = check_n(method, problem.settings(method)["n"] if n is None else n, "--n" if n is not None else
                f"{problem.source} [{method}] n")
    base = dict(base or {})
    if design is None or design.method != method or design.n != n:
        design = sample_design(problem, method, n)
        if model:
            check_design(problem, design, base)
    seeds = spawn_seeds(problem.seed, problem.replications)
    extra = extra_params if extra_params is not None else ({"_tables": [RESULTS_TABLE]} if model else {})
    tasks = make_tasks(problem, design, base, seeds, extra)
    root = Path(out_root) / problem.name
    runs_dir, out_dir = root / method / "runs", root / f"{method}_n{n}"
    k = len(design.parameters)
    plan = (f"{method}: {k} parameters, N={n} -> {design.n_points} design points x {problem.replications} "
            f"replications = {len(tasks)} runs\n  runs:    {runs_dir}/ (shared by every N: an N design is the "
            f"first half of the 2N one)\n  results: {out_dir}/")
    if on_plan:
        on_plan(plan)
    t0 = time.perf_counter()
    summary = run_batch(tasks, run_fn, runs_dir, executor, model_version=model_version, progress=progress,
                        description=f"{method} N={n} runs")
    if summary.n_failed:
        from bantar_sim.engine.batch import load_manifest
        man = load_manifest(runs_dir)
        bad = man[man["status"] != "ok"]
        first = bad["error"].iloc[0] if len(bad) else "?"
        raise RuntimeError(f"{summary.n_failed} of {summary.n_total} runs failed (first error: {first}); "
                           f"the {summary.n_done + summary.n_skipped} finished runs are kept in {runs_dir}. "
                           "Rerun the same command to retry only the failed runs.")
    Y = collect(runs_dir, tasks, problem.outputs, design.n_points, problem.replications, model_version)
    analysis = analyse(problem, design, Y)
    meta = _meta(problem, design, base, seeds, summary, runs_dir, tasks, model_version, time.perf_counter() - t0)
    files = write_outputs(problem, design, analysis, Y, seeds, meta, out_dir, model=model)
    return Result(problem, design, analysis, out_dir, runs_dir, summary, meta, files)


def _meta(problem, design, base, seeds, summary, runs_dir, tasks, model_version, elapsed) -> dict:
    from bantar_sim.engine.batch import load_manifest
    man = load_manifest(runs_dir)
    ids = {t.run_id(model_version) for t in tasks}
    mine = man[man["run_id"].isin(ids) & (man["status"] == "ok")]
    dur = mine["duration_s"]
    rate = summary.n_done / summary.elapsed_s if summary.n_done and summary.elapsed_s > 0 else None
    # Throughput of every batch that computed runs of this design (also after a resume or a reuse).
    history = []
    for bid, g in mine.groupby("batch_id"):
        start, end = pd.to_datetime(g["start_time"]).min(), pd.to_datetime(g["end_time"]).max()
        span = (end - start).total_seconds()
        history.append({"batch_id": bid, "runs": int(len(g)), "first_start": str(start), "last_end": str(end),
                        "runs_per_second": len(g) / span if span > 0 else None})
    return {
        "package_version": __version__, "model_version": model_version, "problem": problem.name,
        "problem_file": problem.source, "method": design.method, "n": design.n, "settings": design.settings,
        "parameters": [{"name": p.name, "min": p.low, "max": p.high, "integer": p.integer, "reason": p.reason}
                       for p in design.parameters],
        "outputs": problem.outputs, "design_points": design.n_points, "replications": problem.replications,
        "runs": len(tasks), "base_seed": problem.seed, "sampler_seed": problem.seed, "bootstrap_seed": problem.seed + 1,
        "replication_seeds": [str(s) for s in seeds], "fixed_params": base,
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"),
        "batch": {"computed_now": summary.n_done, "skipped_already_stored": summary.n_skipped,
                  "batch_elapsed_s": round(summary.elapsed_s, 3), "runs_per_second": rate,
                  "mean_run_duration_s": float(dur.mean()) if len(dur) else None,
                  "total_elapsed_s": round(elapsed, 3), "batches_that_computed_these_runs": history},
    }


# ------------------------------------------------------------------------------------ outputs
def write_outputs(problem: Problem, design: Design, an: Analysis, Y: np.ndarray, seeds: list[int], meta: dict,
                  out_dir: Path, *, model: bool = True) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []

    def save_csv(df: pd.DataFrame, name: str) -> None:
        p = out_dir / name
        df.to_csv(p, index=False)
        files.append(p)

    design_df = pd.DataFrame(design.values, columns=design.names)
    design_df.insert(0, "design_point", np.arange(design.n_points))
    save_csv(design_df, "design.csv")
    runs = []
    for r, s in enumerate(seeds):
        d = pd.DataFrame(Y[:, r, :], columns=problem.outputs)
        d.insert(0, "seed", str(s))
        d.insert(0, "replicate", r)
        d.insert(0, "design_point", np.arange(design.n_points))
        runs.append(d)
    save_csv(pd.concat(runs).sort_values(["design_point", "replicate"], kind="stable"), "results.csv")
    save_csv(an.indices, f"{design.method}_indices.csv")
    if design.method == "sobol" and len(an.s2):
        save_csv(an.s2, "sobol_s2.csv")
    save_csv(an.seed_variance, "seed_variance.csv")
    save_csv(an.convergence, "convergence.csv")
    save_csv(an.convergence_summary, "convergence_summary.csv")
    figs = plot_all(problem, design, an, out_dir, model=model, base=meta["fixed_params"])
    files += figs
    meta = dict(meta, skipped_outputs=an.skipped, files=[p.name for p in files] + ["report.md", "sensitivity.json"])
    (out_dir / "sensitivity.json").write_text(json.dumps(meta, indent=2, default=str))
    (out_dir / "report.md").write_text(report(problem, design, an, meta, [p.name for p in figs]))
    files += [out_dir / "sensitivity.json", out_dir / "report.md"]
    return files


def _published(output: str, problem: Problem, base: dict) -> tuple[float, str] | None:
    """The value Table 3 gives for an output, when the runs are comparable (full city, horizon >= 2020)."""
    if base.get("scale", SPECS["scale"].default) != 1.0 or (problem.end_year or 0) < 2020:
        return None
    from bantar_sim.model.data import table3
    from bantar_sim.model.tables import gini
    t3 = table3().consistent
    if output == "winners_2014_2020":
        return float(t3["amount"].sum()), "published (Table 3)"
    if output == "wins_per_rt_gini":
        return gini((t3["amount"] / t3["rts"]).to_numpy()), "published (Table 3)"
    return None


def _grid(n: int):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    return plt, cols, rows


def plot_all(problem: Problem, design: Design, an: Analysis, out_dir: Path, *, model: bool = True,
             base: dict | None = None) -> list[Path]:
    outs = [o for o in problem.outputs if o not in an.skipped]
    paths = []
    if outs:
        if design.method == "morris":
            paths.append(_plot_morris(problem, an, outs, out_dir / "morris_mu_star_sigma.png", design))
        else:
            paths.append(_plot_sobol(problem, an, outs, out_dir / "sobol_s1_st.png", design))
            if len(an.s2):
                paths.append(_plot_s2(problem, an, outs, out_dir / "sobol_s2_heatmap.png", design))
        paths.append(_plot_convergence(problem, an, outs, out_dir / "convergence.png", design))
    paths.append(_plot_outputs(problem, an, out_dir / "outputs_vs_published.png", design, model, base or {}))
    return paths


def _title(problem: Problem, design: Design) -> str:
    return (f"{problem.name}: {design.method.capitalize()} N={design.n}, {design.n_points} points × "
            f"{problem.replications} replications")


def _plot_morris(problem, an, outs, path, design):
    plt, cols, rows = _grid(len(outs))
    fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols, 4.6 * rows), squeeze=False)
    for ax, o in zip(axes.flat, outs):
        d = an.indices[an.indices["output"] == o]
        ax.errorbar(d["mu_star"], d["sigma"], xerr=d["mu_star_conf"], fmt="o", color="tab:blue", ecolor="0.6",
                    capsize=3, label="parameter (mu* ± CI)")
        lim = max(float((d["mu_star"] + d["mu_star_conf"]).max()), float(d["sigma"].max()), 1e-12) * 1.1
        xs = np.array([0, lim])
        for ratio, style in ((1.0, "--"), (0.5, ":")):
            ax.plot(xs, ratio * xs, style, color="0.5", lw=0.8, label=f"sigma = {ratio:g} mu*")
        for _, r in d.iterrows():
            ax.annotate(r["parameter"], (r["mu_star"], r["sigma"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        label, unit = problem.label(o)
        ax.set(title=label, xlim=(0, lim), ylim=(0, lim),
               xlabel=f"mu* (mean |elementary effect|, {unit} per parameter range)",
               ylabel=f"sigma (sd of elementary effects, {unit})")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7, loc="upper left")
    for ax in list(axes.flat)[len(outs):]:
        ax.set_visible(False)
    fig.suptitle(f"Morris screening — {_title(problem, design)}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_sobol(problem, an, outs, path, design):
    plt, cols, rows = _grid(len(outs))
    k = len(design.names)
    fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols, 0.45 * k * rows + 2.2 * rows), squeeze=False)
    for ax, o in zip(axes.flat, outs):
        d = an.indices[an.indices["output"] == o].sort_values("ST")
        y = np.arange(len(d))
        ax.barh(y - 0.2, d["S1"], height=0.4, xerr=d["S1_conf"], color="tab:blue", ecolor="0.3", capsize=2,
                label="S1 (first order)")
        ax.barh(y + 0.2, d["ST"], height=0.4, xerr=d["ST_conf"], color="tab:orange", ecolor="0.3", capsize=2,
                label="ST (total)")
        ax.set_yticks(y, d["parameter"], fontsize=8)
        ax.axvline(0, color="0.3", lw=0.8)
        label, unit = problem.label(o)
        ax.set(title=f"{label} ({unit})", xlabel="Sobol index (share of output variance), bars = 95% CI"
               if design.settings["conf_level"] == 0.95 else
               f"Sobol index (share of output variance), bars = {design.settings['conf_level']:.0%} CI")
        ax.grid(alpha=0.3, axis="x")
    axes.flat[0].legend(fontsize=8, loc="lower right")
    for ax in list(axes.flat)[len(outs):]:
        ax.set_visible(False)
    fig.suptitle(f"Sobol indices — {_title(problem, design)}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_s2(problem, an, outs, path, design):
    plt, cols, rows = _grid(len(outs))
    names = design.names
    k = len(names)
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols + 1, 5.4 * rows), squeeze=False, layout="constrained")
    vmax = max(float(an.s2["S2"].abs().max()), 0.01)
    im = None
    for ax, o in zip(axes.flat, outs):
        d = an.s2[an.s2["output"] == o]
        M = np.full((k, k), np.nan)
        for _, r in d.iterrows():
            a, b = names.index(r["parameter_1"]), names.index(r["parameter_2"])
            M[a, b] = r["S2"]
        im = ax.imshow(M, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        for a in range(k):
            for b in range(a + 1, k):
                ax.text(b, a, f"{M[a, b]:.2f}", ha="center", va="center", fontsize=6,
                        color="white" if abs(M[a, b]) > 0.6 * vmax else "black")
        ax.set_xticks(range(k), names, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(k), names, fontsize=7)
        label, _ = problem.label(o)
        ax.set(title=label, xlabel="parameter (second of the pair)", ylabel="parameter (first of the pair)")
    for ax in list(axes.flat)[len(outs):]:
        ax.set_visible(False)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label="S2 (share of output variance from the pair's interaction)")
    fig.suptitle(f"Second-order Sobol indices — {_title(problem, design)}")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_convergence(problem, an, outs, path, design):
    plt, cols, rows = _grid(len(outs))
    h, n = design.n // 2, design.n
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.4 * rows), squeeze=False)
    for ax, o in zip(axes.flat, outs):
        d = an.convergence[an.convergence["output"] == o]
        lo, hi = d[f"value_n{h}"], d[f"value_n{n}"]
        for (_, r), a, b in zip(d.iterrows(), lo, hi):
            ax.plot([0, 1], [a, b], "o-", lw=1)
            ax.annotate(r["parameter"], (1, b), fontsize=7, xytext=(4, 0), textcoords="offset points", va="center")
        key = d["index"].iloc[0]
        label, unit = problem.label(o)
        ax.set_xticks([0, 1], [f"N = {h}\n(first half)", f"N = {n}\n(full design)"])
        ax.set(title=label, xlim=(-0.2, 1.6), xlabel="design size",
               ylabel=f"{key} ({'share of variance' if key == 'ST' else unit + ' per parameter range'})")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(outs):]:
        ax.set_visible(False)
    fig.suptitle(f"Convergence check: indices at N/2 and N — {_title(problem, design)}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_outputs(problem, an, path, design, model, base):
    plt, cols, rows = _grid(len(problem.outputs))
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.8 * rows), squeeze=False)
    for j, (ax, o) in enumerate(zip(axes.flat, problem.outputs)):
        col = an.means[:, j]
        col = col[np.isfinite(col)]
        label, unit = problem.label(o)
        if col.size:
            ax.hist(col, bins=min(40, max(5, col.size // 10)), color="tab:blue", alpha=0.7,
                    label=f"simulated (mean of {problem.replications} replications per point)")
        pub = _published(o, problem, base) if model else None
        if pub is not None:
            ax.axvline(pub[0], color="black", ls="--", lw=1.5, label=f"{pub[1]}: {pub[0]:.3g}")
        note = ""
        if model and pub is None:
            note = ("\n(no published value to compare)" if o not in ("winners_2014_2020", "wins_per_rt_gini")
                    else "\n(Table 3 not comparable: needs scale 1 and horizon ≥ 2020)")
        ax.set(title=label + note, xlabel=unit, ylabel="design points (count)")
        ax.legend(fontsize=7, loc="upper right")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(problem.outputs):]:
        ax.set_visible(False)
    fig.suptitle(f"Outputs across the design beside the published data — {_title(problem, design)}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------ report
def _md_table(df: pd.DataFrame, fmt: dict | None = None) -> str:
    fmt = fmt or {}
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if c in fmt:
                cells.append(fmt[c](v))
            elif isinstance(v, float):
                cells.append(f"{v:.3g}")
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def influence_summary(problem: Problem, an: Analysis) -> list[str]:
    """Closing note: the most and least influential parameter of each output, with their indices."""
    lines = []
    key = "ST" if an.method == "sobol" else "mu_star"
    for o in problem.outputs:
        if o in an.skipped:
            lines.append(f"- {problem.label(o)[0]} (`{o}`): not analysed — {an.skipped[o]}.")
            continue
        d = an.indices[an.indices["output"] == o].sort_values(key, ascending=False)
        top, low = d.iloc[0], d.iloc[-1]
        if an.method == "sobol":
            def show(r):
                return (f"`{r['parameter']}` (ST {r['ST']:.3f} ± {r['ST_conf']:.3f}, "
                        f"S1 {r['S1']:.3f} ± {r['S1_conf']:.3f})")
        else:
            unit = problem.label(o)[1]

            def show(r):
                return (f"`{r['parameter']}` (mu* {r['mu_star']:.3g} ± {r['mu_star_conf']:.3g} {unit}, "
                        f"sigma {r['sigma']:.3g})")
        lines.append(f"- {problem.label(o)[0]} (`{o}`): most influential {show(top)}; "
                     f"least influential {show(low)}.")
    if an.method == "sobol" and len(an.indices):
        overall = an.indices.groupby("parameter")["ST"].mean().sort_values(ascending=False)
        lines.append(f"- Over all analysed outputs (mean ST): most influential `{overall.index[0]}` "
                     f"({overall.iloc[0]:.3f}), least influential `{overall.index[-1]}` ({overall.iloc[-1]:.3f}).")
    elif len(an.indices):
        norm = an.indices.assign(rel=an.indices["mu_star"] / an.indices.groupby("output")["mu_star"].transform("max"))
        overall = norm.groupby("parameter")["rel"].mean().sort_values(ascending=False)
        lines.append(f"- Over all analysed outputs (mean of mu* relative to each output's largest): most "
                     f"influential `{overall.index[0]}` ({overall.iloc[0]:.2f}), least influential "
                     f"`{overall.index[-1]}` ({overall.iloc[-1]:.2f}).")
    return lines


def report(problem: Problem, design: Design, an: Analysis, meta: dict, figures: list[str]) -> str:
    b = meta["batch"]
    rate = f"{b['runs_per_second']:.2f} runs/s" if b["runs_per_second"] else "all runs were already stored"
    past = "; ".join(f"{h['runs']} runs at {h['runs_per_second']:.2f} runs/s (batch {h['batch_id']})"
                     for h in b.get("batches_that_computed_these_runs", []) if h["runs_per_second"])
    L = [f"# Sensitivity analysis: {problem.name} — {design.method.capitalize()}, N = {design.n}", ""]
    if problem.description:
        L += [problem.description, ""]
    L += ["## Set-up", "",
          f"- Problem file: `{problem.source}`; model version {meta['model_version']}, bantar-sim {meta['package_version']}.",
          f"- Design: SALib {'Saltelli scheme on a scrambled Sobol’ sequence' if design.method == 'sobol' else 'Morris trajectories'}"
          f" ({', '.join(f'{k}={v}' for k, v in design.settings.items() if k != 'parameters')}), sampler seed "
          f"{meta['sampler_seed']}: {design.n_points} design points × {problem.replications} replications = "
          f"{meta['runs']} runs.",
          f"- Replications: common random numbers — replicate r uses the same seed at every design point "
          f"(seeds spawned from base seed {problem.seed}: {', '.join(meta['replication_seeds'])}); indices are "
          "computed on the replication means.",
          f"- Parameters held fixed: {', '.join(f'`{k}`={v}' for k, v in meta['fixed_params'].items()) or 'model defaults'}"
          " (on top of calibration/calibrated.toml where it exists).",
          f"- Batch: {b['computed_now']} runs computed now, {b['skipped_already_stored']} reused from the store; "
          f"{rate}; mean wall time of a run in a worker {b['mean_run_duration_s'] or float('nan'):.3f} s; batch "
          f"{b['batch_elapsed_s']:.0f} s.",
          f"- Batches that computed these runs (first start to last end, all workers): {past or 'none recorded'}.", "",
          "## Uncertain parameters", "",
          _md_table(pd.DataFrame([{"parameter": f"`{p.name}`", "min": p.low, "max": p.high,
                                   "reason for the range": p.reason} for p in design.parameters]),
                    {"min": lambda v: f"{v:g}", "max": lambda v: f"{v:g}"}), "",
          "## Outputs and the share of their variance due to the seed", "",
          "`seed share (single run)` = mean within-point variance across replications / variance over all runs; "
          "`seed share (means)` = that within-point variance / R over the variance of the replication means that "
          "were analysed: indices below it cannot be told from noise.", ""]
    sv = an.seed_variance.copy()
    if len(sv) and "seed_share_single_run" in sv:
        sv = sv[["output", "mean", "seed_share_single_run", "seed_share_of_means"]].rename(columns={
            "seed_share_single_run": "seed share (single run)", "seed_share_of_means": "seed share (means)"})
        sv["output"] = [f"`{o}` — {problem.label(o)[0]} ({problem.label(o)[1]})" for o in sv["output"]]
        L += [_md_table(sv), ""]
    key = "ST" if design.method == "sobol" else "mu_star"
    L += ["## Indices", ""]
    for o in problem.outputs:
        label, unit = problem.label(o)
        L.append(f"### {label} (`{o}`, {unit})")
        if problem.output_reasons.get(o):
            L.append(f"_{problem.output_reasons[o]}_")
        L.append("")
        if o in an.skipped:
            L += [f"Not analysed: {an.skipped[o]}.", ""]
            continue
        d = an.indices[an.indices["output"] == o].sort_values(key, ascending=False)
        if design.method == "sobol":
            t = pd.DataFrame({"rank": d["rank"], "parameter": "`" + d["parameter"] + "`",
                              "S1 [CI]": [f"{a:.3f} [{b:.3f}, {c:.3f}]" for a, b, c in zip(d.S1, d.S1_low, d.S1_high)],
                              "ST [CI]": [f"{a:.3f} [{b:.3f}, {c:.3f}]" for a, b, c in zip(d.ST, d.ST_low, d.ST_high)],
                              "ST per replicate (min–max)": [f"{a:.3f}–{b:.3f}" for a, b in
                                                             zip(d.ST_replicate_min, d.ST_replicate_max)]})
        else:
            t = pd.DataFrame({"rank": d["rank"], "parameter": "`" + d["parameter"] + "`",
                              f"mu* [CI] ({unit})": [f"{a:.3g} [{b:.3g}, {c:.3g}]" for a, b, c in
                                                     zip(d.mu_star, d.mu_star_low, d.mu_star_high)],
                              "mu": [f"{v:.3g}" for v in d.mu], "sigma": [f"{v:.3g}" for v in d.sigma],
                              "mu* per replicate (min–max)": [f"{a:.3g}–{b:.3g}" for a, b in
                                                              zip(d.mu_star_replicate_min, d.mu_star_replicate_max)]})
        L += [_md_table(t), ""]
    L += ["## Convergence check", "",
          f"The first half of the design is itself the design for N = {design.n // 2} (same sampler seed), so the "
          f"analysis is repeated on it and the rankings at N = {design.n // 2} and N = {design.n} are set side by "
          f"side (`convergence.csv`). Rerunning with `--n {2 * design.n}` reuses every run of this design and "
          f"compares N = {design.n} with N = {2 * design.n}.", ""]
    if len(an.convergence_summary):
        cs = an.convergence_summary.copy()
        cs["output"] = "`" + cs["output"] + "`"
        L += [_md_table(cs), ""]
    for o in problem.outputs:
        if o in an.skipped:
            continue
        d = an.convergence[an.convergence["output"] == o]
        h, n = design.n // 2, design.n
        t = d[["parameter", f"value_n{h}", f"value_n{n}", f"rank_n{h}", f"rank_n{n}"]].sort_values(f"rank_n{n}")
        L += [f"`{o}` ({d['index'].iloc[0]}):", "", _md_table(t), ""]
    L += ["## Figures", ""] + [f"![{f}]({f})" for f in figures] + [""]
    L += ["## Closing note", "", *influence_summary(problem, an), "",
          f"Speed: batches that computed these runs: {past or 'none recorded'}. "
          + (f"This invocation computed {b['computed_now']} runs in {b['batch_elapsed_s']:.0f} s wall ({rate})"
             if b["computed_now"] else "This invocation computed no run (all were stored)")
          + f"; mean wall time of a run in a worker {b['mean_run_duration_s'] or float('nan'):.3f} s; load average of "
          f"the machine at the end {meta.get('load_average', float('nan')):.1f} (other work on the machine slows "
          "the batch; benchmarks/bench_sensitivity.py gives CPU seconds per run).", ""]
    return "\n".join(L)


# ------------------------------------------------------------------------------------ test function
ISHIGAMI_A, ISHIGAMI_B = 7.0, 0.1


def ishigami_indices(a: float = ISHIGAMI_A, b: float = ISHIGAMI_B) -> dict:
    """Analytic S1 and ST of the Ishigami function (x_i uniform on [-pi, pi])."""
    pi = math.pi
    v1 = 0.5 * (1 + b * pi ** 4 / 5) ** 2
    v2 = a ** 2 / 8
    v13 = b ** 2 * pi ** 8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return {"S1": np.array([v1, v2, 0.0]) / v, "ST": np.array([v1 + v13, v2, v13]) / v, "variance": v}


def ishigami_run(task) -> dict[str, pd.DataFrame]:
    """The Ishigami function as a batch run (verifies the pipeline against known indices).

    Params x1, x2, x3; optional `noise_sd` adds seed noise that differs between design points and
    `common_noise_sd` seed noise that is the same at every point (what common random numbers give).
    """
    p = task.params
    x1, x2, x3 = float(p["x1"]), float(p["x2"]), float(p["x3"])
    y = math.sin(x1) + ISHIGAMI_A * math.sin(x2) ** 2 + ISHIGAMI_B * x3 ** 4 * math.sin(x1)
    if p.get("noise_sd"):
        bits = np.array([x1, x2, x3], dtype=np.float64).view(np.uint64)
        y += float(p["noise_sd"]) * np.random.default_rng([task.seed, *map(int, bits)]).standard_normal()
    if p.get("common_noise_sd"):
        y += float(p["common_noise_sd"]) * np.random.default_rng(task.seed).standard_normal()
    return {RESULTS_TABLE: pd.DataFrame({"y": [y]})}


def ishigami_problem(name: str = "ishigami", replications: int = 2, n: int = 1024, seed: int = 12345) -> Problem:
    pi = math.pi
    prob = Problem(name=name, parameters=[Uncertain(f"x{i}", -pi, pi, "Ishigami test function") for i in (1, 2, 3)],
                   outputs=["y"], replications=replications, seed=seed, end_year=None,
                   morris={"n": 40, "levels": 4}, sobol={"n": n}, output_info={"y": ("Ishigami function", "-")},
                   description="Verification: the Ishigami function has known Sobol indices.", source="<ishigami>")
    return check_problem(prob, model=False)


# ------------------------------------------------------------------------------------ command
def add_arguments(parser) -> None:
    from bantar_sim.cli import add_executor_arguments
    parser.add_argument("file", help="problem file (TOML), e.g. experiments/sensitivity.toml")
    parser.add_argument("--method", choices=METHODS, default="sobol",
                        help="morris (screening: mu*, sigma) or sobol (S1, ST, S2 with bootstrap CIs; default)")
    parser.add_argument("--n", type=int, default=None,
                        help="Sobol: base sample N, a power of 2 (N(2k+2) design points); Morris: trajectories "
                             "(N(k+1) points). Default: the file's [sobol]/[morris] n")
    parser.add_argument("--replications", type=int, default=None, help="runs per design point (default: the file's)")
    parser.add_argument("--seed", type=int, default=None, help="base seed: sampler and replication seeds (default: the file's)")
    parser.add_argument("--out", default="outputs/sensitivity", help="output root (default outputs/sensitivity)")
    parser.add_argument("--uncalibrated", action="store_true",
                        help="start from the status-quo defaults instead of calibration/calibrated.toml")
    parser.add_argument("--dry-run", action="store_true", help="validate the file and the design, print the plan, run nothing")
    add_executor_arguments(parser)


def main(args) -> int:
    from bantar_sim.engine.executors import make_executor
    problem = load_problem(args.file)
    if args.replications is not None:
        problem.replications = _int_in(args.replications, *REPLICATIONS, "--replications")
    if args.seed is not None:
        problem.seed = _int_in(args.seed, 0, 2 ** 63 - 1, "--seed")
    n = check_n(args.method, args.n, "--n") if args.n is not None else None
    base = base_overrides(problem, calibrated=not args.uncalibrated)
    if args.dry_run:
        nn = n or problem.settings(args.method)["n"]
        design = sample_design(problem, args.method, nn)
        check_design(problem, design, base)
        print(f"{problem.source}: valid. {args.method}: {len(design.parameters)} parameters, N={nn} -> "
              f"{design.n_points} design points x {problem.replications} replications = "
              f"{design.n_points * problem.replications} runs")
        return 0
    # Validate the executor options before any output folder is made.
    if args.executor != "dask" and args.scheduler:
        raise ParameterError(f"--scheduler applies only to --executor dask, not {args.executor}")
    if args.workers is not None and args.workers < 1:
        raise ParameterError(f"--workers must be an integer >= 1, got {args.workers}")
    if args.executor == "serial" and args.workers not in (None, 1):
        raise ParameterError(f"--executor serial runs one run at a time: --workers must be 1, got {args.workers}")
    n = n or problem.settings(args.method)["n"]
    design = sample_design(problem, args.method, n)
    check_design(problem, design, base)   # before the executor starts: nothing runs on bad input
    with contextlib.ExitStack() as stack:
        try:
            executor = stack.enter_context(make_executor(args.executor, args.workers, args.scheduler))
        except ValueError as err:
            raise ParameterError(f"--executor/--workers/--scheduler: {err}") from None
        except ConnectionError as err:   # a Dask scheduler that cannot be reached
            print(f"bantar-sim sensitivity: {err}", file=sys.stderr)
            return 1
        try:
            res = run_sensitivity(problem, args.method, n, out_root=args.out, executor=executor, base=base,
                                  progress=not args.no_progress, on_plan=print, design=design)
        except RuntimeError as err:   # failed runs, a lost executor, a batch already writing there
            print(f"bantar-sim sensitivity: {err}", file=sys.stderr)
            return 1
    b = res.meta["batch"]
    print(f"\n{b['computed_now']} runs computed, {b['skipped_already_stored']} reused"
          + (f", {b['runs_per_second']:.2f} runs/s" if b["runs_per_second"] else "")
          + (f", mean {b['mean_run_duration_s']:.3f} s per run" if b["mean_run_duration_s"] else ""))
    sv = res.analysis.seed_variance
    if "seed_share_of_means" in sv:
        print("share of variance due to the seed (single run / replication means): " + "; ".join(
            f"{r.output} {r.seed_share_single_run:.3f} / {r.seed_share_of_means:.3f}" for r in sv.itertuples()))
    print("\n".join(influence_summary(problem, res.analysis)))
    print(f"\nwrote {res.out_dir}/: " + " ".join(p.name for p in res.files))
    return 0
