"""`bantar-sim experiment FILE`: a policy experiment (TOML) run through the batch engine, then analysed.

An experiment file is to this model what a BehaviorSpace experiment is to NetLogo: named arms (lever
settings), a horizon, replications and a base seed (format: experiments/README.md). The whole file is
validated before any run starts; every error names the file, the key and what is allowed.

Replication k of every arm runs with seed ``spawn_seeds(base_seed, R)[k]`` (common random numbers), so
the arms differ only by their levers and effects are paired differences. Runs go to
``outputs/<experiment>/runs`` (resumable: rerunning skips finished runs); the analysis writes metrics,
effects with 95% CIs, figures and ``report.md`` beside it.
"""
from __future__ import annotations

import json
import re
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bantar_sim.model.params import SPECS, ParameterError, calibrated_overrides, check_value, did_you_mean, make_params, read_toml
from bantar_sim.studies.posterior import POSTERIOR_FILE

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
    "parameters": "'calibrated' (calibration/calibrated.toml, default) or 'defaults' (the status quo in SPECS)",
    "posterior_draws": "false (default), true (calibration/posterior.csv) or a CSV path: parameters + weight columns",
    "outputs": f"list of extra tables to keep: {', '.join(OPTIONAL_TABLES)} (always kept: {', '.join(REQUIRED_TABLES)})",
    "headline": "list of metrics for the forest plot and the printed summary (see bantar_sim.studies.experiment.analysis.METRICS)",
}
ARM_META_KEYS = ("name", "description")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class ExperimentError(ParameterError):
    """An experiment file or option is not usable (raised before any run starts)."""


@dataclass
class Arm:
    name: str
    description: str = ""
    overrides: dict = field(default_factory=dict)   # validated lever/parameter settings of this arm
    implied: bool = False                            # the baseline added because the file has none


@dataclass
class Experiment:
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
    start: dict                      # calibrated overrides (or {}) the arms start from
    calibrated_found: bool
    posterior_draws: list = field(default_factory=list)   # replication k -> (row index, overrides)
    calibrated_info: dict = field(default_factory=dict)   # which calibrated.toml: sha256, date written

    @property
    def arm_names(self) -> list[str]:
        return [a.name for a in self.arms]

    @property
    def seeds(self) -> list[int]:
        from bantar_sim.engine.task import spawn_seeds
        return spawn_seeds(self.base_seed, self.replications)

    def arm_params(self, arm: Arm, replicate: int | None = None) -> dict:
        """The full override set of one run: start -> posterior draw -> [base] -> arm -> experiment level."""
        p = dict(self.start)
        if replicate is not None and self.posterior_draws:
            p.update(self.posterior_draws[replicate][1])
        p.update(self.base)
        p.update(arm.overrides)
        p["end_year"] = self.horizon
        if self.scale is not None:
            p["scale"] = self.scale
        if self.households_per_rt is not None:
            p["households_per_rt"] = self.households_per_rt
        return p

    @property
    def window_start(self) -> int:
        """First year of the policy period: the earliest policy_start_year of the non-baseline arms."""
        years = [int(make_params(self.arm_params(a)).policy_start_year) for a in self.arms if a.name != BASELINE]
        return max(min(years) if years else self.horizon, 2014)

    def to_json(self) -> dict:
        return {
            "file": str(self.path), "name": self.name, "description": self.description, "horizon": self.horizon,
            "replications": self.replications, "base_seed": self.base_seed, "scale": self.scale,
            "households_per_rt": self.households_per_rt, "parameters": self.parameters,
            "calibrated_file_found": self.calibrated_found, "calibrated_file": self.calibrated_info,
            "posterior": str(self.posterior) if self.posterior else None,
            "posterior_rows": [i for i, _ in self.posterior_draws], "outputs": list(self.outputs),
            "headline": list(self.headline), "base": self.base, "window_start": self.window_start,
            "arms": [{"name": a.name, "description": a.description, "overrides": a.overrides, "implied": a.implied}
                     for a in self.arms],
            "seeds": [str(s) for s in self.seeds],
        }


# ------------------------------------------------------------------------------------------ loading
def _type_name(v: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "table"}.get(type(v), type(v).__name__)


def _unknown_key(where: str, key: str, allowed: list[str], what: str = "key") -> ExperimentError:
    return ExperimentError(f"{where}: unknown {what} '{key}'{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}")


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
            raise ExperimentError(f"{where}: unknown lever '{key}'{did_you_mean(key, SPECS)}; allowed levers: {', '.join(LEVERS)}; "
                                  "or any other model parameter listed by `bantar-sim params`")
        if isinstance(value, (dict, list)):
            raise ExperimentError(f"{where}: '{key}' must be a single value, got a {_type_name(value)}")
        settings_value = check_value(key, value, where)
        out[key] = settings_value
    return out


def load_experiment(path: str | Path, *, replications: int | None = None, horizon: int | None = None) -> Experiment:
    """Read and validate an experiment file (and command-line overrides); nothing is run or written."""
    path = Path(path)
    f = str(path)
    data = read_toml(path, f"{f}: experiment file not found", ExperimentError)

    for key in data:
        if key not in ("experiment", "base", "arm"):
            raise _unknown_key(f, key, ["[experiment]", "[base]", "[[arm]]"], "table")
    ex = data.get("experiment", {})
    if not isinstance(ex, dict):
        raise ExperimentError(f"{f}: 'experiment' must be a table [experiment], got a {_type_name(ex)}")
    where = f"{f}: [experiment]"
    for key in ex:
        if key not in EXPERIMENT_KEYS:
            allowed = [f"{k} ({v})" for k, v in EXPERIMENT_KEYS.items()]
            raise ExperimentError(f"{where}: unknown key '{key}'{did_you_mean(key, EXPERIMENT_KEYS)}; allowed: {'; '.join(allowed)}")

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
    parameters = ex.get("parameters", "calibrated")
    if parameters not in ("calibrated", "defaults"):
        raise ExperimentError(f"{where}: 'parameters' must be 'calibrated' or 'defaults', got {parameters!r}")
    outputs = ex.get("outputs", [])
    if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
        raise ExperimentError(f"{where}: 'outputs' must be a list of table names, got {outputs!r}")
    for o in outputs:
        if o not in OPTIONAL_TABLES + REQUIRED_TABLES:
            raise _unknown_key(f"{where} outputs", o, list(OPTIONAL_TABLES + REQUIRED_TABLES), "table")
    from bantar_sim.studies.experiment.analysis import DEFAULT_HEADLINE, METRICS
    headline = ex.get("headline", list(DEFAULT_HEADLINE))
    if not isinstance(headline, list) or not headline or not all(isinstance(o, str) for o in headline):
        raise ExperimentError(f"{where}: 'headline' must be a non-empty list of metric names, got {headline!r}")
    for m in headline:
        if m not in METRICS:
            raise _unknown_key(f"{where} headline", m, list(METRICS), "metric")

    posterior = ex.get("posterior_draws", False)
    if isinstance(posterior, bool):
        posterior_path = POSTERIOR_FILE if posterior else None
    elif isinstance(posterior, str) and posterior:
        posterior_path = Path(posterior)
        if not posterior_path.is_absolute():
            posterior_path = path.parent / posterior_path
    else:
        raise ExperimentError(f"{where}: 'posterior_draws' must be {EXPERIMENT_KEYS['posterior_draws']}, got {posterior!r}")

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
    if len(arms) < 2:
        raise ExperimentError(f"{f}: no [[arm]] to compare with the baseline; add at least one [[arm]] with a "
                              f"name and lever settings, e.g. [[arm]] name = \"kencana\" kencana = true")

    calibrated = calibrated_overrides() if parameters == "calibrated" else {}
    calibrated_info = _calibrated_provenance() if calibrated else {}
    exp = Experiment(path=path, name=name, description=description, horizon=hz, replications=reps,
                     base_seed=base_seed, scale=scale, households_per_rt=hh, parameters=parameters,
                     posterior=posterior_path, outputs=tuple(dict.fromkeys([*REQUIRED_TABLES, *outputs])),
                     headline=tuple(headline), base=base, arms=arms, start=calibrated,
                     calibrated_found=bool(calibrated), calibrated_info=calibrated_info)
    if posterior_path is not None:
        exp.posterior_draws = draw_posterior(posterior_path, base_seed, reps)
    _check_arms(exp)
    return exp


def _calibrated_provenance() -> dict:
    """Identify the calibrated set used (calibration/calibrated.toml is rewritten when calibration reruns)."""
    import hashlib
    from bantar_sim.model.params import CALIBRATED_FILE
    try:
        raw = CALIBRATED_FILE.read_bytes()
        prov = tomllib.loads(raw.decode("utf-8")).get("provenance", {})
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}
    return {"path": str(CALIBRATED_FILE), "sha256": hashlib.sha256(raw).hexdigest(),
            "date": str(prov.get("date", "unknown"))}


def _check_arms(exp: Experiment) -> None:
    """Every run's full parameter set is valid, and every lever can act before the horizon."""
    f = str(exp.path)
    from bantar_sim.model.model import counts_ok
    for arm in exp.arms:
        where = f"{f}: [[arm]] '{arm.name}'" if not arm.implied else f"{f}: [base]"
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
    from bantar_sim.studies.posterior import PosteriorFileError, read_posterior
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
def build_tasks(exp: Experiment) -> list:
    """RunTasks arm by arm: the full parameter set, seed spawn_seeds(base_seed, R)[k], tags arm/replicate."""
    from dataclasses import asdict
    from bantar_sim.engine.batch import RunTask

    seeds = exp.seeds
    tasks = []
    for arm in exp.arms:
        for k, seed in enumerate(seeds):
            params = asdict(make_params(exp.arm_params(arm, k)))
            params["_tables"] = list(exp.outputs)
            tags = {"arm": arm.name, "replicate": k}
            if exp.posterior_draws:
                tags["draw"] = exp.posterior_draws[k][0]
            tasks.append(RunTask(params=params, seed=seed, tags=tags))
    return tasks


def run_experiment_task(task) -> dict[str, pd.DataFrame]:
    """Batch-engine run function: one model run, returning the experiment's tables (incl. award cohorts)."""
    from bantar_sim.studies.experiment.analysis import award_cohorts
    from bantar_sim.model.model import BantarModel
    from bantar_sim.model.tables import city_year_table, rt_year_table, run_metrics, subdistrict_year_table, table3_like

    params = dict(task.params)
    keep = tuple(params.pop("_tables", REQUIRED_TABLES))
    model = BantarModel(rng=task.seed, **params)
    model.run()
    sdt = subdistrict_year_table(model)
    city = city_year_table(model, sdt)
    out = {"city_year": city, "subdistrict_year": sdt, "metrics": run_metrics(model, sdt, city),
           "award_cohorts": award_cohorts(model)}
    if "rt_year" in keep:
        out["rt_year"] = rt_year_table(model)
    if "table3" in keep:
        out["table3"] = table3_like(model).reset_index()
    return {k: out[k] for k in keep}


# ---------------------------------------------------------------------------------------------- CLI
def add_arguments(parser) -> None:
    from bantar_sim.cli import add_executor_arguments
    parser.add_argument("file", help="experiment file (TOML), e.g. experiments/kencana.toml")
    parser.add_argument("--replications", type=int, default=None, help="override [experiment] replications")
    parser.add_argument("--horizon", type=int, default=None, help="override [experiment] horizon (last year)")
    parser.add_argument("--out", default=None, help="output folder (default outputs/<experiment name>)")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate the file and print the plan (arms, runs, runs already on disk); run nothing")
    add_executor_arguments(parser)


def _check_executor_args(args) -> None:
    if args.workers is not None and args.workers < 1:
        raise ExperimentError(f"--workers must be an integer >= 1, got {args.workers}")
    if args.executor == "serial" and args.workers not in (None, 1):
        raise ExperimentError(f"--workers {args.workers} needs --executor process or dask (serial runs one at a time)")
    if args.scheduler is not None and args.executor != "dask":
        raise ExperimentError(f"--scheduler applies only to --executor dask, not {args.executor}")


def plan_text(exp: Experiment, tasks: list, runs_dir: Path, done: int) -> str:
    lines = [f"experiment {exp.name}: {exp.description}".rstrip(": "),
             f"  file {exp.path}; horizon {exp.horizon}; policy period {exp.window_start}–{exp.horizon}; "
             f"{exp.replications} replications; base seed {exp.base_seed}",
             f"  city: scale {exp.scale if exp.scale is not None else 'model default'}, households per RT "
             f"{exp.households_per_rt if exp.households_per_rt is not None else 'model default'}; parameters: "
             + (f"calibrated ({'calibration/calibrated.toml' if exp.calibrated_found else 'no calibrated.toml found: status-quo defaults'})"
                if exp.parameters == "calibrated" else "status-quo defaults")
             + (f"; posterior draws from {exp.posterior}" if exp.posterior else "")]
    if exp.base:
        lines.append(f"  [base] {_settings_text(exp.base)}")
    for arm in exp.arms:
        lines.append(f"  arm {arm.name:<24} {_settings_text(arm.overrides) or '(no lever set)'}")
    lines.append(f"  {len(exp.arms)} arms × {exp.replications} replications = {len(tasks)} runs; "
                 f"{done} already on disk in {runs_dir}")
    return "\n".join(lines)


def _settings_text(d: dict) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in d.items())


def stored_ok(runs_dir: Path, run_ids: set[str]) -> int:
    if not (runs_dir / "manifest").is_dir():
        return 0
    from bantar_sim.engine.batch import load_manifest
    man = load_manifest(runs_dir)
    return int(((man["status"] == "ok") & man["run_id"].isin(run_ids)).sum())


def main(args) -> int:
    t0 = time.perf_counter()
    exp = load_experiment(args.file, replications=args.replications, horizon=args.horizon)
    _check_executor_args(args)
    from bantar_sim.model.version import MODEL_VERSION
    tasks = build_tasks(exp)
    out = Path(args.out) if args.out else Path("outputs") / exp.name
    runs_dir = out / "runs"
    run_ids = {t.run_id(MODEL_VERSION) for t in tasks}
    print(plan_text(exp, tasks, runs_dir, stored_ok(runs_dir, run_ids)), flush=True)
    if args.dry_run:
        return 0

    from bantar_sim.engine.batch import run_batch
    from bantar_sim.engine.executors import SchedulerConnectionError, make_executor
    try:
        with make_executor(args.executor, args.workers, args.scheduler) as executor:
            summary = run_batch(tasks, run_experiment_task, runs_dir, executor, model_version=MODEL_VERSION,
                                progress=not args.no_progress, description=f"experiment {exp.name}")
    except SchedulerConnectionError as err:
        raise ExperimentError(f"--scheduler: {err}") from None
    except KeyboardInterrupt:
        print(f"\ninterrupted: {stored_ok(runs_dir, run_ids)} of {len(tasks)} runs are stored in {runs_dir}; "
              "rerun the same command to resume (finished runs are skipped)", file=sys.stderr)
        return 130
    print(f"runs: {summary.n_total} in the experiment, {summary.n_done} executed, {summary.n_skipped} already on "
          f"disk, {summary.n_failed} failed ({summary.elapsed_s:.1f} s)", flush=True)

    from bantar_sim.studies.experiment.analysis import analyse
    result = analyse(exp, tasks, out, batch_summary=summary, command=_command_line(args))
    print(result["text"])
    print(f"\nwrote {out}/: report.md, {', '.join(sorted(result['files']))} ({time.perf_counter() - t0:.1f} s)")
    if result["n_failed"]:
        print(f"{result['n_failed']} runs failed (see {out}/report.md, 'Failures'); rerun the same command to "
              "retry them: finished runs are skipped", file=sys.stderr)
        return 1
    return 0


def _command_line(args) -> str:
    parts = ["bantar-sim", "experiment", str(args.file)]
    for opt in ("replications", "horizon", "out"):
        v = getattr(args, opt)
        if v is not None:
            parts += [f"--{opt}", str(v)]
    if args.executor != "process":
        parts += ["--executor", args.executor]
    if args.workers is not None:
        parts += ["--workers", str(args.workers)]
    if args.scheduler:
        parts += ["--scheduler", args.scheduler]
    return " ".join(parts)
