"""`bantar-sim calibrate`: ABC-SMC (pyabc) against Table 3's winner and proposal counts.

Modes (calibration/README.md has the results and the commands that made them):

- default: calibrate the baseline model to Table 3; write the posterior, figures and the calibrated set
  (`calibration/calibrated.toml`, `calibration/posterior.csv`) that `bantar-sim run` and the experiments use;
- ``--synthetic``: perfect-model test — calibrate to data simulated at known parameters with the same
  pipeline and report which parameters are recovered;
- ``--train-years 2014-2018``: held-out validation — calibrate on the first years only, then check whether
  the published later years fall inside the 90% posterior predictive intervals;
- ``--compare-models``: pyabc model selection among the structural variants of the priors file.

Reproducibility: every particle's simulation is seeded from (base seed, model index, the particle's
parameter values), so any accepted particle can be re-simulated exactly from posterior.csv. pyabc's own
draws (prior samples, perturbations) use numpy's global RNG, seeded from --seed; the multicore and Dask
samplers reseed their workers and evaluate particles in a race-dependent order, so only a serial run
(--executor serial) reproduces the whole posterior bit for bit.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bantar_sim.model.version import MODEL_VERSION, __version__
from bantar_sim.studies.calibration.targets import (CalibrationInputError, PriorFile, StatSpec, Targets, Variant, fingerprint,
                                  load_priors, load_targets, model_stats, observed_stats)
from bantar_sim.model.data import SUBDISTRICTS, YEARS
from bantar_sim.model.params import SPECS, check_value, make_params

START_YEAR = YEARS[0]
DEFAULTS = dict(population_size=200, max_populations=10, max_walltime=25.0, min_epsilon=0.0,
                min_acceptance_rate=0.01, epsilon_quantile=0.5, predictive_runs=100, seed=2014, pattern_reps=2)


def add_arguments(parser):
    from bantar_sim.cli import add_executor_arguments
    g = parser.add_argument_group("ABC-SMC budget and schedule")
    g.add_argument("--population-size", type=int, default=DEFAULTS["population_size"],
                   help="accepted particles per generation (default %(default)s)")
    g.add_argument("--max-populations", type=int, default=DEFAULTS["max_populations"],
                   help="stop after this many generations in total, counting resumed ones (default %(default)s)")
    g.add_argument("--min-epsilon", type=float, default=DEFAULTS["min_epsilon"],
                   help="stop once the acceptance threshold epsilon falls to this (default %(default)s)")
    g.add_argument("--max-walltime", type=float, default=DEFAULTS["max_walltime"],
                   help="minutes; no new generation starts after this (default %(default)s)")
    g.add_argument("--min-acceptance-rate", type=float, default=DEFAULTS["min_acceptance_rate"],
                   help="stop when a generation accepts fewer than this share of simulations (default %(default)s)")
    g.add_argument("--epsilon-quantile", type=float, default=DEFAULTS["epsilon_quantile"],
                   help="epsilon schedule: next epsilon = this quantile of the last distances (default %(default)s)")
    g.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="base seed (default %(default)s)")
    g = parser.add_argument_group("files")
    g.add_argument("--db", default=None,
                   help="pyabc SQLite history; an existing one with the same configuration is resumed "
                        "(default outputs/calibration/abc.db, or abc_<mode>.db for the other modes)")
    g.add_argument("--out", default=None,
                   help="results folder (default calibration/ for the default mode, "
                        "outputs/calibration/<mode>/ for --synthetic, --train-years, --compare-models)")
    g.add_argument("--prior", default=None, help="priors file (default calibration/priors.toml)")
    g.add_argument("--targets", default=None,
                   help="target CSV in Table 3's layout (default: Table 3, consistent version)")
    g = parser.add_argument_group("tests of the calibration")
    g.add_argument("--train-years", default=None, metavar="2014-YYYY",
                   help="calibrate on 2014..YYYY only and predict the later years (held-out validation)")
    g.add_argument("--synthetic", action="store_true",
                   help="perfect-model test: calibrate to data simulated at known parameters")
    g.add_argument("--truth", action="append", default=[], metavar="NAME=VALUE",
                   help="--synthetic: true value of a calibrated parameter (default: calibrated set, else prior midpoint)")
    g.add_argument("--compare-models", action="store_true",
                   help="model selection among the baseline and the [variants] of the priors file")
    g = parser.add_argument_group("simulation settings (override the priors file's [settings])")
    g.add_argument("--scale", type=float, default=None, help="share of each sub-district's RTs")
    g.add_argument("--households-per-rt", type=float, default=None, help="mean households per RT")
    g.add_argument("--predictive-runs", type=int, default=DEFAULTS["predictive_runs"],
                   help="posterior predictive simulations for the figures and coverage (default %(default)s)")
    g = parser.add_argument_group("secondary patterns (bantar_sim.studies.calibration.patterns)")
    g.add_argument("--pattern-reps", type=int, default=DEFAULTS["pattern_reps"],
                   help="re-simulations per accepted particle for the pattern filter (default %(default)s)")
    g.add_argument("--no-pattern-filter", action="store_true",
                   help="calibrated set = best accepted particle, without the post-award waning/growth filter")
    g.add_argument("--patterns-only", action="store_true",
                   help="run no ABC: apply the pattern filter to the posterior already in --out and rewrite "
                        "its calibrated set")
    add_executor_arguments(parser)


# ------------------------------------------------------------------------------ the pyabc model
def particle_seed(base_seed: int, model_index: int, values: list[float]) -> int:
    """Seed of one particle's simulation: a function of the base seed and its parameter values."""
    bits = np.asarray(values, dtype=np.float64).view(np.uint32).tolist()
    ss = np.random.SeedSequence([int(base_seed) % 2**63, int(model_index), *bits])
    return int(ss.generate_state(1, dtype=np.uint64)[0])


@dataclass
class ParticleModel:
    """Picklable pyabc model: parameters -> summary statistics of one seeded simulation."""
    settings: dict
    names: tuple
    integers: tuple
    spec: StatSpec
    base_seed: int
    index: int
    name: str

    def params_for(self, pars) -> dict:
        vals = {n: float(pars[n]) for n in self.names}
        for n in self.integers:
            vals[n] = int(round(vals[n]))
        return {**self.settings, **vals, "end_year": self.spec.last_year}

    def __call__(self, pars) -> dict:
        from bantar_sim.model.model import BantarModel
        seed = particle_seed(self.base_seed, self.index, [float(pars[n]) for n in self.names])
        model = BantarModel(rng=seed, **self.params_for(pars))
        model.run()
        return model_stats(model, self.spec)


def build_pyabc_model(variant: Variant, spec: StatSpec, base_seed: int, index: int):
    import pyabc
    fn = ParticleModel(dict(variant.settings), tuple(p.name for p in variant.priors),
                       tuple(p.name for p in variant.priors if p.integer), spec, base_seed, index, variant.name)
    return pyabc.FunctionModel(fn, name=variant.name)


def build_prior(variant: Variant):
    import pyabc
    return pyabc.Distribution(**{p.name: pyabc.RV("uniform", p.low, p.high - p.low) for p in variant.priors})


def build_distance(spec: StatSpec):
    """L1 distance; each statistic divided by its RMSD to the observation (bias and spread, refitted every
    generation), each group weighted 1/(its size) so the three groups count the same."""
    import pyabc
    from pyabc.distance import root_mean_square_deviation
    return pyabc.AdaptivePNormDistance(p=1, fixed_weights=spec.group_weights(),
                                       scale_function=root_mean_square_deviation,
                                       max_scale_weight_ratio=100.0, all_particles_for_scale=False)


def group_contributions(stats: pd.DataFrame, observed: dict, spec: StatSpec) -> pd.DataFrame:
    """Each group's share of the distance, per simulation, with the scaling the ABC uses (tests, README)."""
    from bantar_sim.studies.calibration.patterns import scaled_parts
    keys = spec.keys()
    parts = scaled_parts(stats, observed, spec, keys)
    out = pd.DataFrame({g: parts[:, [k.split(".")[0] == g for k in keys]].sum(axis=1)
                        for g in spec.groups()})
    return out.div(out.sum(axis=1), axis=0)


# --------------------------------------------------------------------------------- configuration
@dataclass
class Config:
    mode: str
    variants: list[Variant]
    spec: StatSpec
    targets: Targets
    priors: PriorFile
    db: Path
    out: Path
    truth: dict | None


def _mode(args) -> str:
    if args.compare_models:
        return "compare"
    if args.synthetic:
        return "synthetic"
    if args.train_years:
        return "heldout"
    return "calibrate"


def _parse_train_years(text: str | None) -> int:
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


def _check_args(args) -> None:
    def need(name, ok, allowed):
        if not ok:
            raise CalibrationInputError(f"--{name.replace('_', '-')} must be {allowed}, got {getattr(args, name)!r}")
    need("population_size", 2 <= args.population_size <= 100_000, "an integer in [2, 100000]")
    need("max_populations", 1 <= args.max_populations <= 1000, "an integer in [1, 1000]")
    need("max_walltime", args.max_walltime > 0 and math.isfinite(args.max_walltime), "a number of minutes > 0")
    need("min_epsilon", args.min_epsilon >= 0, "a number >= 0")
    need("min_acceptance_rate", 0 <= args.min_acceptance_rate < 1, "a number in [0, 1)")
    need("epsilon_quantile", 0 < args.epsilon_quantile < 1, "a number in (0, 1)")
    need("predictive_runs", 10 <= args.predictive_runs <= 100_000, "an integer in [10, 100000]")
    need("pattern_reps", 1 <= args.pattern_reps <= 100, "an integer in [1, 100]")
    if args.patterns_only and (args.no_pattern_filter or args.synthetic or args.train_years or args.compare_models):
        raise CalibrationInputError("--patterns-only applies only to the default calibration, with the filter on")
    if args.workers is not None and args.workers < 1:
        raise CalibrationInputError(f"--workers must be an integer >= 1, got {args.workers}")
    if args.scheduler and args.executor != "dask":
        raise CalibrationInputError("--scheduler applies only with --executor dask")
    if args.truth and not args.synthetic:
        raise CalibrationInputError("--truth applies only with --synthetic")


def resolve_config(args) -> Config:
    """Every input checked, nothing run or written yet."""
    _check_args(args)
    mode = _mode(args)
    priors = load_priors(args.prior)
    targets = load_targets(args.targets)
    spec = StatSpec(_parse_train_years(args.train_years),
                    patterns=mode == "calibrate" and not args.no_pattern_filter and not args.patterns_only)
    overrides = {}
    if args.scale is not None:
        overrides["scale"] = check_value("scale", args.scale, "--scale")
    if args.households_per_rt is not None:
        overrides["households_per_rt"] = check_value("households_per_rt", args.households_per_rt,
                                                     "--households-per-rt")
    base = priors.baseline()
    variants = [Variant(base.name, base.description, {**base.settings, **overrides}, base.priors)]
    if args.compare_models:
        if not priors.variants:
            raise CalibrationInputError(f"{priors.path}: --compare-models needs at least one [variants.NAME] table")
        variants += [Variant(v.name, v.description, {**v.settings, **overrides}, v.priors) for v in priors.variants]
    from bantar_sim.model.model import counts_ok
    for v in variants:
        counts_ok(make_params(v.settings, where=f"settings of model '{v.name}'"))
    truth = None
    if args.synthetic:
        truth = _truth(args, variants[0])
    suffix = "" if mode == "calibrate" else f"_{mode}"
    db = Path(args.db) if args.db else Path("outputs/calibration") / f"abc{suffix}.db"
    out = Path(args.out) if args.out else (Path("calibration") if mode == "calibrate"
                                           else Path("outputs/calibration") / mode)
    return Config(mode, variants, spec, targets, priors, db, out, truth)


def _truth(args, variant: Variant) -> dict:
    from bantar_sim.model.params import calibrated_overrides
    from bantar_sim.studies.simulation import _parse_value
    cal = calibrated_overrides()
    truth = {}
    for p in variant.priors:
        v = cal.get(p.name, (p.low + p.high) / 2)
        truth[p.name] = float(v) if p.low <= float(v) <= p.high else (p.low + p.high) / 2
    for item in args.truth:
        if "=" not in item:
            raise CalibrationInputError(f"--truth expects NAME=VALUE, got '{item}'")
        name, value = (s.strip() for s in item.split("=", 1))
        prior = {p.name: p for p in variant.priors}.get(name)
        if prior is None:
            raise CalibrationInputError(f"--truth: '{name}' is not a calibrated parameter "
                                        f"({', '.join(p.name for p in variant.priors)})")
        v = float(check_value(name, _parse_value(value), "--truth"))
        if not prior.low <= v <= prior.high:
            raise CalibrationInputError(f"--truth: {name} = {v:g} lies outside its prior [{prior.low:g}, {prior.high:g}]")
        truth[name] = v
    return truth


def config_fingerprint(cfg: Config, args) -> str:
    return fingerprint({
        "mode": cfg.mode, "last_year": cfg.spec.last_year, "patterns": cfg.spec.patterns,
        "targets": cfg.targets.sha256,
        "priors": [(v.name, v.settings, [(p.name, p.low, p.high) for p in v.priors]) for v in cfg.variants],
        "truth": cfg.truth, "population_size": args.population_size, "seed": args.seed,
        "epsilon_quantile": args.epsilon_quantile, "model_version": MODEL_VERSION,
    })


def find_resumable(db: Path, fp: str) -> int | None:
    """The id of the run in `db` made with this configuration; an error if the db holds only others."""
    if not db.exists():
        return None
    import pyabc
    try:
        hist = pyabc.History(f"sqlite:///{db}", create=False)
        runs = hist.all_runs()
    except Exception as err:  # noqa: BLE001 - any failure here means "not a pyabc db we can use"
        raise CalibrationInputError(f"--db {db}: not a readable pyabc history ({type(err).__name__}: {err}); "
                                    "choose another --db") from None
    for run in reversed(runs):
        if f"'{fp}'" in str(run.json_parameters or ""):
            return int(run.id)
    raise CalibrationInputError(
        f"--db {db} holds {len(runs)} calibration run(s) made with other settings (priors, targets, mode, "
        f"population size, seed or model version); it is kept as it is. Use another --db to start afresh.")


# ------------------------------------------------------------------------------------ the run
@contextlib.contextmanager
def make_sampler(args):
    import pyabc
    if args.executor == "dask":
        from bantar_sim.engine.executors import dask_client
        with dask_client(args.scheduler, args.workers, timeout=30) as client:
            yield pyabc.sampler.DaskDistributedSampler(dask_client=client, batch_size=1), "DaskDistributedSampler"
    elif args.executor == "serial" or args.workers == 1:
        yield pyabc.sampler.SingleCoreSampler(check_max_eval=True), "SingleCoreSampler"
    else:
        n = args.workers or min(2, os.cpu_count() or 1)
        yield pyabc.sampler.MulticoreEvalParallelSampler(n_procs=n, check_max_eval=True), f"MulticoreEvalParallelSampler({n})"


def run_abc(cfg: Config, args, observed: dict, fp: str, resume_id: int | None) -> tuple[Any, dict]:
    import pyabc
    from tqdm import tqdm
    logging.getLogger("ABC").setLevel(logging.WARNING)
    logging.getLogger("pyabc").setLevel(logging.WARNING)
    for name in ("ABC.Distance", "ABC.Sampler", "ABC.Epsilon", "ABC.History", "ABC.Adaptation"):
        logging.getLogger(name).setLevel(logging.ERROR)
    np.random.seed(args.seed % 2**32)
    models = [build_pyabc_model(v, cfg.spec, args.seed, i) for i, v in enumerate(cfg.variants)]
    priors = [build_prior(v) for v in cfg.variants]
    cfg.db.parent.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {}
    t_start = time.perf_counter()
    with make_sampler(args) as (sampler, sampler_name):
        info["sampler"] = sampler_name
        db_url = f"sqlite:///{cfg.db}"

        def fresh_abc():
            # A new ABCSMC per generation, loaded from the db: a continuous run and a resumed one take
            # exactly the same path (pyabc caches the population it calibrates from inside one object).
            return pyabc.ABCSMC(models, priors, build_distance(cfg.spec), population_size=args.population_size,
                                sampler=sampler, eps=pyabc.QuantileEpsilon(alpha=args.epsilon_quantile))
        if resume_id is not None:
            history = fresh_abc().load(db_url, resume_id)
            done = history.max_t + 1
            print(f"resuming calibration run {resume_id} in {cfg.db}: {done} generation(s) already done")
        else:
            history, done = None, 0
        n_sims0 = history.total_nr_simulations if done else 0
        deadline = time.monotonic() + 60 * args.max_walltime
        bar = tqdm(total=args.max_populations, initial=min(done, args.max_populations), unit="generation",
                   desc=f"ABC-SMC ({cfg.mode})", disable=args.no_progress)
        stop = _stopped(history, args) if done else None
        sims_per_s = last_rate = None
        while done < args.max_populations and stop is None:
            if time.monotonic() >= deadline:
                stop = f"wall-clock budget of {args.max_walltime:g} min used"
                break
            abc = fresh_abc()
            if history is None:
                history = abc.new(db_url, observed, meta_info={"bantar_config": fp, "mode": cfg.mode,
                                                               "seed": args.seed, "command": " ".join(sys.argv)},
                                  gt_par=cfg.truth or None)
            else:
                history = abc.load(db_url, history.id)
            # pyabc checks the wall-clock budget only between generations; to keep one generation from
            # overrunning it, cap its simulations at what the remaining time allows at the measured speed
            # (a generation cut short is not stored; the history keeps the previous ones).
            rate_floor = args.min_acceptance_rate
            if sims_per_s:
                max_eval = max(args.population_size, (deadline - time.monotonic()) * sims_per_s)
                rate_floor = max(rate_floor, min(1.0, args.population_size / max_eval))
                # Acceptance falls from one generation to the next: if even the last rate would not fill a
                # population in the time left, stop now rather than spend the rest of the budget on nothing.
                if last_rate and args.population_size / last_rate > max_eval:
                    stop = (f"wall-clock budget: ~{args.population_size / last_rate:.0f} simulations needed for "
                            f"another generation, time left for ~{max_eval:.0f}")
                    break
            before_t, before_sims, t0 = history.max_t, history.total_nr_simulations, time.monotonic()
            abc.run(minimum_epsilon=args.min_epsilon, max_nr_populations=1, min_acceptance_rate=rate_floor)
            if history.max_t == before_t:
                stop = ("generation %d stopped unfinished: fewer than %.3g%% of simulations accepted within the "
                        "budget (--min-acceptance-rate / --max-walltime)" % (before_t + 1, 100 * rate_floor))
                break
            gen_s = time.monotonic() - t0
            sims_per_s = (history.total_nr_simulations - before_sims) / max(gen_s, 1e-9)
            pops = history.get_all_populations()
            last_rate = args.population_size / max(float(pops[pops.t == history.max_t].samples.iloc[0]), 1)
            done = history.max_t + 1
            pops = history.get_all_populations()
            last = pops[pops.t == history.max_t].iloc[0]
            rate = args.population_size / max(float(last.samples), 1)
            bar.update(1)
            bar.set_postfix(eps=f"{last.epsilon:.3g}", accept=f"{rate:.1%}",
                            sims=int(history.total_nr_simulations))
            stop = _stopped(history, args)
        bar.close()
        if stop is None:
            stop = f"{args.max_populations} generations reached"
    info.update(stop=stop, elapsed_s=time.perf_counter() - t_start,
                simulations_this_session=int(history.total_nr_simulations - n_sims0))
    history.done()
    return history, info


def _stopped(history, args) -> str | None:
    pops = history.get_all_populations()
    pops = pops[pops.t >= 0]
    if pops.empty:
        return None
    last = pops.iloc[-1]
    if last.epsilon <= args.min_epsilon:
        return f"epsilon {last.epsilon:.4g} <= --min-epsilon {args.min_epsilon:g}"
    rate = args.population_size / max(float(last.samples), 1)
    if rate < args.min_acceptance_rate:
        return f"acceptance rate {rate:.3%} < --min-acceptance-rate {args.min_acceptance_rate:g}"
    return None


# ------------------------------------------------------------------------------- posterior tables
def weighted_quantile(values: np.ndarray, weights: np.ndarray, q) -> np.ndarray:
    order = np.argsort(values)
    v, w = np.asarray(values, float)[order], np.asarray(weights, float)[order]
    cw = np.cumsum(w) - 0.5 * w
    cw /= w.sum()
    return np.interp(q, cw, v)


def posterior_summary(df: pd.DataFrame, w: np.ndarray, variant: Variant, truth: dict | None) -> pd.DataFrame:
    rows = []
    for p in variant.priors:
        lo, med, hi = weighted_quantile(df[p.name].to_numpy(), w, [0.05, 0.5, 0.95])
        width = (hi - lo) / (p.high - p.low)
        row = {"parameter": p.name, "median": med, "q05": lo, "q95": hi, "prior_low": p.low,
               "prior_high": p.high, "interval_over_prior": width, "unit": SPECS[p.name].unit}
        if truth is not None:
            t = truth[p.name]
            inside = bool(lo <= t <= hi)
            row.update(truth=t, truth_in_90=inside)
            row["verdict"] = ("recovered" if inside and width < 0.5 else
                              "weakly identified (true value inside, interval >= half the prior)" if inside
                              else "not recovered (true value outside the 90% interval)")
        rows.append(row)
    return pd.DataFrame(rows)


def best_particle(history, t: int, m: int = 0) -> tuple[dict, float]:
    """The accepted particle of generation t (model m) with the smallest distance to the targets."""
    pop = history.get_population(t=t)
    best = min((p for p in pop.particles if p.m == m), key=lambda p: p.distance)
    return dict(best.parameter), float(best.distance)


def calibrated_values(point: dict, variant: Variant) -> dict:
    """The calibrated set: the best-fitting accepted particle (integers rounded) plus the settings.

    Not the marginal medians: the posterior is wide and correlated (capacity fixed vs per RT, intercept vs
    contagion), and the medians of such a posterior can be a poor joint point (tried on the default run:
    756 winners in 2014–2020 against 614 published)."""
    vals = dict(variant.settings)
    for p in variant.priors:
        v = float(point[p.name])
        vals[p.name] = int(round(v)) if p.integer else v
    make_params(vals, where="calibrated set")
    return vals


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    return json.dumps(str(v))


def write_calibrated_toml(path: Path, values: dict, provenance: dict, summary: pd.DataFrame) -> None:
    lines = ["# The calibrated parameter set: an accepted particle of the ABC-SMC calibration against Table 3 (and",
             "# patterns 3-4; `point` below says which), with the simulation settings it was calibrated at.",
             "# Written by `bantar-sim calibrate`;",
             "# read by bantar_sim.model.params.calibrated_overrides() (bantar-sim run, experiments).",
             "", "[params]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    lines += ["", "[provenance]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in provenance.items()]
    lines += ["", "# posterior median [5%, 95%] per calibrated parameter"]
    lines += [f"# {r.parameter}: {r.median:.4g} [{r.q05:.4g}, {r.q95:.4g}]" for r in summary.itertuples()]
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------- posterior predictive
def predictive_run(task) -> dict:
    """One posterior predictive simulation to 2020: yearly winners per sub-district, proposing RTs."""
    from bantar_sim.model.model import BantarModel
    params, seed = task
    m = BantarModel(rng=seed, **{**params, "end_year": YEARS[-1]})
    m.run()
    sd = m.city.rt_subdistrict
    won = np.stack([np.bincount(sd, m.rec["won"][i], minlength=len(SUBDISTRICTS)) for i in range(len(YEARS))])
    prop = np.bincount(sd, m.rec["proposed"].any(axis=0), minlength=len(SUBDISTRICTS))
    return {"won": won, "proposals": prop, "rts": m.city.rt_counts.copy()}


def run_executor(args):
    """The executor for the runs outside pyabc (predictive runs, pattern filter): --executor/--workers/
    --scheduler, a 2-process pool by default."""
    from bantar_sim.engine.executors import make_executor
    workers = args.workers if args.executor != "serial" else None
    if args.executor == "process" and workers is None:
        workers = min(2, os.cpu_count() or 1)
    return make_executor(args.executor, workers=workers, scheduler=args.scheduler)


def posterior_predictive(df: pd.DataFrame, w: np.ndarray, variant: Variant, args, desc: str) -> dict:
    from tqdm import tqdm
    from bantar_sim.engine.task import spawn_seeds
    rng = np.random.default_rng(args.seed)
    idx = rng.choice(len(df), size=args.predictive_runs, p=w / w.sum())
    seeds = spawn_seeds(args.seed + 1, args.predictive_runs)
    model = ParticleModel(dict(variant.settings), tuple(p.name for p in variant.priors),
                          tuple(p.name for p in variant.priors if p.integer), StatSpec(), args.seed, 0, variant.name)
    tasks = [(model.params_for(df.iloc[i]), s) for i, s in zip(idx, seeds)]
    with run_executor(args) as ex:
        results = list(tqdm(ex.map(predictive_run, tasks), total=len(tasks), unit="run", desc=desc,
                            disable=args.no_progress))
    return {"won": np.stack([r["won"] for r in results]), "proposals": np.stack([r["proposals"] for r in results]),
            "rts": results[0]["rts"], "seeds": seeds, "particles": idx}


def observed_arrays(targets: Targets, rts_sim: np.ndarray) -> dict:
    from bantar_sim.model.data import table3
    ratio = rts_sim / table3().rts.loc[list(SUBDISTRICTS)].to_numpy()
    won = targets.winners.loc[list(SUBDISTRICTS), list(YEARS)].to_numpy().T * ratio   # (years, sd)
    return {"won": won, "proposals": targets.proposals.loc[list(SUBDISTRICTS)].to_numpy() * ratio}


def fit_metrics(pred: dict, obs: dict, spec: StatSpec) -> pd.DataFrame:
    """Coverage of 90% predictive intervals and errors of predictive medians, per target group."""
    ny = spec.last_year - START_YEAR + 1
    groups = {
        "city winners per year (2015–%d)" % spec.last_year:
            (pred["won"].sum(axis=2)[:, 1:ny], obs["won"].sum(axis=1)[1:ny]),
        "cumulative winners per sub-district (2014–%d)" % spec.last_year:
            (pred["won"][:, :ny].sum(axis=1), obs["won"][:ny].sum(axis=0)),
        "RTs that proposed, per sub-district (2014–2020)": (pred["proposals"], obs["proposals"]),
    }
    if spec.last_year < YEARS[-1]:
        groups["held-out city winners (%d–2020)" % (spec.last_year + 1)] = (
            pred["won"].sum(axis=2)[:, ny:], obs["won"].sum(axis=1)[ny:])
        groups["held-out winners per sub-district and year (%d–2020)" % (spec.last_year + 1)] = (
            pred["won"][:, ny:].reshape(len(pred["won"]), -1), obs["won"][ny:].ravel())
    rows = []
    for name, (sim, o) in groups.items():
        lo, med, hi = np.quantile(sim, [0.05, 0.5, 0.95], axis=0)
        inside = (o >= lo) & (o <= hi)
        rows.append({"target": name, "n": int(o.size), "inside_90": int(inside.sum()),
                     "coverage_90": float(inside.mean()), "rmse_median": float(np.sqrt(np.mean((med - o) ** 2))),
                     "mean_abs_error_median": float(np.mean(np.abs(med - o))),
                     "observed_total": float(o.sum()), "predicted_total_median": float(np.median(sim.sum(axis=1)))})
    return pd.DataFrame(rows)


def heldout_table(pred: dict, obs: dict, spec: StatSpec) -> pd.DataFrame:
    rows = []
    for yi in range(spec.last_year - START_YEAR + 1, len(YEARS)):
        y = YEARS[yi]
        names = ["Jambi City (all)", *SUBDISTRICTS]
        sims = [pred["won"][:, yi].sum(axis=1), *[pred["won"][:, yi, s] for s in range(len(SUBDISTRICTS))]]
        obs_v = [obs["won"][yi].sum(), *obs["won"][yi]]
        for n, sim, o in zip(names, sims, obs_v):
            lo, med, hi = np.quantile(sim, [0.05, 0.5, 0.95])
            rows.append({"year": y, "area": n, "published": float(o), "median": float(med), "q05": float(lo),
                         "q95": float(hi), "inside_90": bool(lo <= o <= hi)})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------ figures
def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_pairs(df: pd.DataFrame, w: np.ndarray, variant: Variant, path: Path, title: str,
               truth: dict | None = None) -> None:
    plt = _plt()
    names = [p.name for p in variant.priors]
    pri = {p.name: p for p in variant.priors}
    k = len(names)
    fig, axes = plt.subplots(k, k, figsize=(2.1 * k + 1, 2.1 * k + 1), squeeze=False)
    wn = w / w.sum()
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            ax = axes[i, j]
            if j > i:
                ax.axis("off")
                continue
            if i == j:
                ax.hist(df[a], bins=20, range=(pri[a].low, pri[a].high), weights=wn, color="tab:blue", alpha=0.7)
                ax.axhline(1 / 20, color="0.5", ls=":", lw=1)   # the uniform prior's mass per bin
                ax.set_ylabel("posterior mass" if j == 0 else "")
                if truth:
                    ax.axvline(truth[a], color="red", lw=1.5)
            else:
                ax.scatter(df[b], df[a], s=4 + 400 * wn, alpha=0.4, color="tab:blue", lw=0)
                ax.set_ylim(pri[a].low, pri[a].high)
                if truth:
                    ax.plot(truth[b], truth[a], "r*", ms=9)
            ax.set_xlim(pri[b].low, pri[b].high)
            if i == k - 1:
                unit = SPECS[b].unit
                ax.set_xlabel(f"{b}" + (f" ({unit})" if unit != "-" else ""), fontsize=8)
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                unit = SPECS[a].unit
                ax.set_ylabel(f"{a}" + (f" ({unit})" if unit != "-" else ""), fontsize=8)
            elif j > 0:
                ax.set_yticklabels([])
            ax.tick_params(labelsize=7)
    extra = "; red: true values" if truth else ""
    fig.suptitle(f"{title}\nposterior pairs (axes span the uniform priors; point size ∝ weight; dotted: prior{extra})")
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.08, top=0.92, wspace=0.08, hspace=0.08)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_predictive(pred: dict, obs: dict, spec: StatSpec, path_city: Path, path_sd: Path, label: str,
                    obs_label: str = "published (Table 3)") -> None:
    plt = _plt()
    years = np.array(YEARS)
    city = pred["won"].sum(axis=2)
    lo, med, hi = np.quantile(city, [0.05, 0.5, 0.95], axis=0)
    fig, ax = plt.subplots(figsize=(8, 5))
    ax.fill_between(years, lo, hi, color="tab:blue", alpha=0.25, label=f"posterior predictive 90% ({len(city)} runs)")
    ax.plot(years, med, "o-", color="tab:blue", label="posterior predictive median")
    ax.plot(years, obs["won"].sum(axis=1), "s--", color="black", label=obs_label)
    if spec.last_year < YEARS[-1]:
        ax.axvspan(spec.last_year + 0.5, YEARS[-1] + 0.5, color="orange", alpha=0.15,
                   label=f"held out ({spec.last_year + 1}–{YEARS[-1]})")
    ax.set(title=f"Kampung Bantar winners per year, Jambi City — {label}", xlabel="year",
           ylabel="winning RTs (count per year)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path_city, dpi=110)
    plt.close(fig)

    x = np.arange(len(SUBDISTRICTS))
    ny = spec.last_year - START_YEAR + 1
    panels = [("cumulative winners", pred["won"].sum(axis=1), obs["won"].sum(axis=0),
               f"Cumulative winners per sub-district, 2014–2020", "winning RTs (count, 2014–2020)"),
              ("RTs that proposed", pred["proposals"], obs["proposals"],
               "RTs that proposed at least once, 2014–2020", "proposing RTs (count)")]
    if spec.last_year < YEARS[-1]:
        panels = [(f"winners {y}", pred["won"][:, y - START_YEAR], obs["won"][y - START_YEAR],
                   f"Held-out winners per sub-district, {y}", f"winning RTs in {y} (count)")
                  for y in YEARS[ny:]] + panels[:1]
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 3.8 * len(panels)), squeeze=False)
    for ax, (_, sim, o, title, ylabel) in zip(axes[:, 0], panels):
        lo, med, hi = np.quantile(sim, [0.05, 0.5, 0.95], axis=0)
        ax.bar(x - 0.2, o, width=0.4, color="0.3", label=obs_label)
        ax.bar(x + 0.2, med, width=0.4, color="tab:blue", yerr=np.vstack([med - lo, hi - med]), capsize=3,
               label="posterior predictive median, 90% interval")
        ax.set_xticks(x, SUBDISTRICTS, rotation=30, ha="right")
        ax.set(title=f"{title} — {label}", ylabel=ylabel, xlabel="sub-district")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path_sd, dpi=100)
    plt.close(fig)


def plot_history(pops: pd.DataFrame, pop_size: int, path: Path, label: str) -> None:
    plt = _plt()
    pops = pops[pops.t >= 0]
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].semilogy(pops.t, pops.epsilon, "o-")
    ax[0].set(title=f"Epsilon schedule — {label}", xlabel="generation", ylabel="epsilon (scaled L1 distance)")
    ax[1].semilogy(pops.t, pop_size / pops.samples, "o-", color="tab:orange")
    ax[1].set(title="Acceptance rate per generation", xlabel="generation", ylabel="accepted / simulated (share)")
    for a in ax:
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_model_probabilities(probs: pd.DataFrame, names: list[str], path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for m in probs.columns:
        ax.plot(probs.index, probs[m], "o-", label=names[int(m)])
    ax.set(title="Posterior model probabilities per ABC-SMC generation (uniform model prior)",
           xlabel="generation", ylabel="posterior model probability", ylim=(-0.02, 1.02))
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --------------------------------------------------------------------------------------------- main
def _provenance(cfg: Config, args, history, info: dict, final_eps: float, n_gen: int) -> dict:
    from bantar_sim.engine.provenance import git_commit
    from bantar_sim.engine.task import seed_from  # noqa: F401 (documented companion of particle_seed)
    sims = int(history.total_nr_simulations)
    return {
        "data_file": cfg.targets.source, "data_sha256": cfg.targets.sha256,
        "prior_file": cfg.priors.path, "prior_sha256": cfg.priors.sha256,
        "package_version": __version__, "model_version": MODEL_VERSION, "git_commit": git_commit(),
        "seed": args.seed, "command": "bantar-sim calibrate " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["calibrate"]
                                                                         else sys.argv[1:]),
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "mode": cfg.mode, "target_years": f"{START_YEAR}-{cfg.spec.last_year}",
        "population_size": args.population_size, "generations": n_gen, "final_epsilon": float(final_eps),
        "stopped_because": info["stop"], "total_simulations": sims,
        "wall_clock_s_this_session": round(info["elapsed_s"], 1),
        "simulations_per_second": round(info["simulations_this_session"] / max(info["elapsed_s"], 1e-9), 2),
        "sampler": info["sampler"], "db": str(cfg.db), "abc_id": int(history.id),
        **_run_record(history),
        "reproducible": "each particle: simulate(params, particle_seed(seed, 0, values)); whole posterior only "
                        "with --executor serial",
    }


def _run_record(history) -> dict:
    """First command and total wall-clock of the stored run (it may span several resumed sessions)."""
    out = {}
    with contextlib.suppress(Exception):
        abc = history.get_abc()
        meta = str(abc.json_parameters or "")
        if "'command': '" in meta:
            out["first_command"] = meta.split("'command': '", 1)[1].split("'", 1)[0]
        pops = history.get_all_populations()
        end = pd.to_datetime(pops["population_end_time"]).max()
        out["wall_clock_s_total"] = round((end - pd.Timestamp(abc.start_time)).total_seconds(), 1)
    return out


def main(args) -> int:
    cfg = resolve_config(args)                       # every input checked before any simulation
    if args.patterns_only:
        return patterns_only(cfg, args)
    fp = config_fingerprint(cfg, args)
    resume_id = find_resumable(cfg.db, fp)
    observed = observed_stats(cfg.targets, cfg.spec, cfg.variants[0].settings.get("scale", 1.0))
    truth_seed = None
    if cfg.truth is not None:
        from bantar_sim.engine.task import seed_from
        truth_seed = seed_from(np.random.SeedSequence([args.seed, 7]))
        truth_model = ParticleModel(dict(cfg.variants[0].settings), tuple(cfg.truth), (), cfg.spec,
                                    args.seed, 0, "truth")
        from bantar_sim.model.model import BantarModel
        m = BantarModel(rng=truth_seed, **truth_model.params_for(cfg.truth))
        m.run()
        observed = model_stats(m, cfg.spec)
        truth_pred = predictive_run((truth_model.params_for(cfg.truth), truth_seed))
    history, info = run_abc(cfg, args, observed, fp, resume_id)
    cfg.out.mkdir(parents=True, exist_ok=True)
    pops = history.get_all_populations()
    t_last = int(history.max_t)
    final_eps = float(pops[pops.t == t_last].epsilon.iloc[0])
    prov = _provenance(cfg, args, history, info, final_eps, t_last + 1)
    if truth_seed is not None:
        prov["synthetic_truth_seed"] = str(truth_seed)
    label = {"calibrate": "calibrated to Table 3", "synthetic": "perfect-model test (synthetic data)",
             "heldout": f"calibrated on 2014–{cfg.spec.last_year}", "compare": "model comparison"}[cfg.mode]
    plot_history(pops, args.population_size, cfg.out / "fit_history.png", label)
    written = ["fit_history.png"]
    lines = [f"bantar-sim calibrate ({cfg.mode}): {t_last + 1} generation(s), final epsilon {final_eps:.4g}, "
             f"{prov['total_simulations']} simulations in total, stopped: {info['stop']}",
             f"this session: {info['simulations_this_session']} simulations in {info['elapsed_s']:.0f} s "
             f"= {prov['simulations_per_second']} simulations/s ({info['sampler']})"]

    probs = None
    if cfg.mode == "compare":
        probs = history.get_model_probabilities()
        probs.to_csv(cfg.out / "model_probabilities.csv")
        plot_model_probabilities(probs, [v.name for v in cfg.variants], cfg.out / "model_probabilities.png")
        written += ["model_probabilities.csv", "model_probabilities.png"]
        final = probs.iloc[-1]
        lines.append("posterior model probabilities (last generation): " + ", ".join(
            f"{cfg.variants[int(m)].name} {final.get(m, 0.0):.3f}" for m in range(len(cfg.variants))))
    alive = history.alive_models(t_last)
    for mi in alive:
        variant = cfg.variants[mi]
        df, w = history.get_distribution(m=mi, t=t_last)
        w = np.asarray(w, float) / np.sum(w)
        suffix = "" if len(cfg.variants) == 1 else f"_{variant.name}"
        summary = posterior_summary(df, w, variant, cfg.truth if mi == 0 else None)
        post = df[[p.name for p in variant.priors]].reset_index(drop=True).assign(weight=w)
        post.to_csv(cfg.out / f"posterior{suffix}.csv", index=False)
        summary.to_csv(cfg.out / f"posterior_summary{suffix}.csv", index=False)
        plot_pairs(df, w, variant, cfg.out / f"posterior_pairs{suffix}.png",
                   f"ABC-SMC posterior, model '{variant.name}' — {label}", cfg.truth if mi == 0 else None)
        written += [f"posterior{suffix}.csv", f"posterior_summary{suffix}.csv", f"posterior_pairs{suffix}.png"]
        lines.append(f"\nposterior of model '{variant.name}' (median [5%, 95%]; interval / prior width"
                     + ("; truth; verdict)" if "verdict" in summary else ")"))
        for r in summary.to_dict("records"):
            s = (f"  {r['parameter']:<28} {r['median']:9.4g} [{r['q05']:.4g}, {r['q95']:.4g}]  "
                 f"{r['interval_over_prior']:.2f}")
            if "verdict" in r:
                s += f"  truth {r['truth']:.4g}: {r['verdict']}"
            lines.append(s)
        if cfg.mode == "compare" and mi != 0:
            continue
        pred = posterior_predictive(df, w, variant, args, desc=f"posterior predictive ({variant.name})")
        if cfg.truth is not None:
            obs = {"won": truth_pred["won"].astype(float), "proposals": truth_pred["proposals"].astype(float)}
            obs_label = "synthetic data (simulated at the true parameters)"
        else:
            obs = observed_arrays(cfg.targets, pred["rts"])
            scale = variant.settings.get("scale", 1.0)
            obs_label = ("published (Table 3)" if scale == 1.0 else
                         f"published (Table 3) x each sub-district's simulated share of RTs (scale {scale:g})")
        metrics = fit_metrics(pred, obs, cfg.spec)
        metrics.to_csv(cfg.out / f"fit_metrics{suffix}.csv", index=False)
        plot_predictive(pred, obs, cfg.spec, cfg.out / f"predictive_city{suffix}.png",
                        cfg.out / f"predictive_subdistrict{suffix}.png",
                        label, obs_label)
        written += [f"fit_metrics{suffix}.csv", f"predictive_city{suffix}.png", f"predictive_subdistrict{suffix}.png"]
        lines.append("\nfit (posterior predictive, %d runs): 90%%-interval coverage and error of the median"
                     % args.predictive_runs)
        for r in metrics.to_dict("records"):
            lines.append(f"  {r['target']:<58} {r['inside_90']:>3}/{r['n']:<3} inside  "
                         f"RMSE {r['rmse_median']:.1f}  total observed {r['observed_total']:.0f}, "
                         f"predicted {r['predicted_total_median']:.0f}")
        if cfg.spec.last_year < YEARS[-1]:
            ho = heldout_table(pred, obs, cfg.spec)
            ho.to_csv(cfg.out / "heldout_coverage.csv", index=False)
            written.append("heldout_coverage.csv")
            for y, g in ho.groupby("year"):
                city = g[g.area == "Jambi City (all)"].iloc[0]
                sds = g[g.area != "Jambi City (all)"]
                lines.append(f"  held-out {y}: city published {city.published:.0f}, predicted {city['median']:.0f} "
                             f"[{city.q05:.0f}, {city.q95:.0f}] -> {'inside' if city.inside_90 else 'OUTSIDE'}; "
                             f"sub-districts inside: {int(sds.inside_90.sum())}/{len(sds)}")
        if mi == 0 and cfg.mode == "calibrate":
            if args.no_pattern_filter:
                point, dist = best_particle(history, t_last)
                chosen = {"point": "accepted particle of the last generation with the smallest distance",
                          "point_distance": dist}
            else:
                point, chosen, plines = pattern_filter(cfg, args, variant, df, w, observed, post)
                dist = chosen["point_distance"]
                lines += plines
            values = calibrated_values(point, variant)
            cal_path = cfg.out / "calibrated.toml"
            write_calibrated_toml(cal_path, values, {**prov, **chosen,
                                  "settings_note": "scale and households_per_rt above are the settings the "
                                  "posterior was calibrated at"}, summary)
            lines.append("\ncalibrated set (%s; distance %.3g): %s" % ("best passing particle" if not args.no_pattern_filter else "best-fitting accepted particle", dist, ", ".join(
                f"{p.name} = {values[p.name]:.4g}" for p in variant.priors)))
            from bantar_sim.model.params import calibrated_overrides
            calibrated_overrides(cal_path)           # the file must load the way `bantar-sim run` loads it
            written.append("calibrated.toml")
    (cfg.out / "calibration.json").write_text(json.dumps(
        {"provenance": prov, "observed": observed, "truth": cfg.truth,
         "models": [v.name for v in cfg.variants]}, indent=2, default=str))
    written.append("calibration.json")
    text = "\n".join(lines)
    (cfg.out / "summary.txt").write_text(text + "\n")
    written.append("summary.txt")
    print(text)
    print(f"\nwrote {cfg.out}/: {' '.join(written)}\npyabc history: {cfg.db} (run {history.id}; rerun the same "
          "command to continue it)")
    return 0


# ------------------------------------------------------------------------ secondary patterns (POM)
def pattern_filter(cfg: Config, args, variant: Variant, df: pd.DataFrame, w: np.ndarray, observed: dict,
                   post: pd.DataFrame) -> tuple[dict, dict, list[str]]:
    """Re-simulate every accepted particle, keep those that show patterns 3 and 4 (bantar_sim.studies.calibration.patterns), and
    pick the calibrated point among them: the smallest mean re-simulated distance to Table 3. Writes
    patterns.csv and a `passes_patterns` column into posterior.csv (sample_posterior draws from those)."""
    from bantar_sim.studies.calibration.patterns import PATTERN_CRITERIA, filter_particles
    from bantar_sim.engine.task import spawn_seeds
    model = ParticleModel(dict(variant.settings), tuple(p.name for p in variant.priors),
                          tuple(p.name for p in variant.priors if p.integer), StatSpec(), args.seed, 0, variant.name)
    particles = [model.params_for(df.iloc[i]) for i in range(len(df))]
    seeds = spawn_seeds(args.seed + 2, len(df) * args.pattern_reps)
    seeds = [seeds[i * args.pattern_reps:(i + 1) * args.pattern_reps] for i in range(len(df))]
    with run_executor(args) as ex:
        per = filter_particles(particles, observed, cfg.spec, seeds, ex, progress=not args.no_progress)
    per.insert(1, "weight", w)
    for p in variant.priors:
        per[p.name] = df[p.name].to_numpy()
    per.to_csv(cfg.out / "patterns.csv", index=False)
    post["passes_patterns"] = per["passes"].to_numpy()
    post.to_csv(cfg.out / "posterior.csv", index=False)
    n_pass = int(per["passes"].sum())
    w_pass = float(w[per["passes"].to_numpy()].sum())
    lines = [f"\npattern filter ({args.pattern_reps} re-simulations per particle; bantar_sim/patterns.py):"]
    for k, c in PATTERN_CRITERIA.items():
        ok = per[k].between(c.low, c.high)
        lines.append(f"  {k:<22} in [{c.low:g}, {c.high:g}]: {int(ok.sum())}/{len(per)} particles "
                     f"(median {per[k].median():.3g})")
    lines.append(f"  all patterns: {n_pass}/{len(per)} particles, posterior weight {w_pass:.3f}")
    if n_pass:
        best = per[per["passes"]].sort_values("distance").iloc[0]
        point_note = ("accepted particle of the last generation that passes the pattern filter, with the "
                      "smallest mean re-simulated distance")
    else:
        best = per.sort_values("distance").iloc[0]
        point_note = "NO particle passes the pattern filter: the particle with the smallest re-simulated distance"
        lines.append("  WARNING: no accepted particle shows patterns 3 and 4; calibrated set chosen by fit alone")
    i = int(best["particle"])
    lines.append("  calibrated point: particle %d, re-simulated distance %.3g; %s" % (i, best["distance"], ", ".join(
        f"{k} {best[k]:.3g}" for k in PATTERN_CRITERIA)))
    chosen = {"point": point_note, "point_distance": float(best["distance"]), "pattern_reps": args.pattern_reps,
              "particles_passing_patterns": n_pass, "posterior_weight_passing_patterns": round(w_pass, 4),
              **{f"point_{k}": float(best[k]) for k in PATTERN_CRITERIA}}
    return {p.name: float(df[p.name].iloc[i]) for p in variant.priors}, chosen, lines


def patterns_only(cfg: Config, args) -> int:
    """Apply the pattern filter to a finished calibration in cfg.out (its posterior.csv), no ABC."""
    import tomllib
    from bantar_sim.engine.provenance import git_commit
    variant = cfg.variants[0]
    post_path, cal_path = cfg.out / "posterior.csv", cfg.out / "calibrated.toml"
    for f in (post_path, cal_path):
        if not f.exists():
            raise CalibrationInputError(f"--patterns-only: {f} not found; run `bantar-sim calibrate` first")
    post = pd.read_csv(post_path)
    names = [p.name for p in variant.priors]
    missing = [n for n in names + ["weight"] if n not in post.columns]
    if missing:
        raise CalibrationInputError(f"--patterns-only: {post_path} lacks column(s) {', '.join(missing)}")
    post = post[names + ["weight"]]
    w = post["weight"].to_numpy(float) / post["weight"].sum()
    observed = observed_stats(cfg.targets, cfg.spec, variant.settings.get("scale", 1.0))
    point, chosen, lines = pattern_filter(cfg, args, variant, post[names], w, observed, post)
    old = tomllib.loads(cal_path.read_text(encoding="utf-8"))
    prov = {**old.get("provenance", {}), **chosen, "pattern_filter_command": "bantar-sim calibrate --patterns-only",
            "pattern_filter_model_version": MODEL_VERSION, "pattern_filter_git_commit": git_commit(),
            "pattern_filter_date": dt.datetime.now().astimezone().isoformat(timespec="seconds")}
    summary = pd.read_csv(cfg.out / "posterior_summary.csv") if (cfg.out / "posterior_summary.csv").exists() \
        else posterior_summary(post[names], w, variant, None)
    values = calibrated_values(point, variant)
    write_calibrated_toml(cal_path, values, prov, summary)
    from bantar_sim.model.params import calibrated_overrides
    calibrated_overrides(cal_path)
    lines.append("\ncalibrated set: " + ", ".join(f"{n} = {values[n]:.4g}" for n in names))
    text = "\n".join(lines)
    (cfg.out / "patterns_summary.txt").write_text(text.lstrip() + "\n")
    print(text)
    print(f"\nwrote {cfg.out}/: patterns.csv posterior.csv (passes_patterns) calibrated.toml patterns_summary.txt")
    return 0


def sample_posterior(n: int, seed: int, path: str | Path | None = None) -> list[dict]:
    """n parameter sets drawn (by weight, with replacement) from calibration/posterior.csv, each on top of
    the calibrated set's settings — for experiments whose intervals should carry parameter uncertainty.
    Particles that fail the pattern filter are never drawn (bantar_sim.studies.posterior)."""
    from bantar_sim.model.params import calibrated_overrides
    from bantar_sim.studies.posterior import PosteriorFileError, read_posterior
    try:
        post = read_posterior(path)
    except PosteriorFileError as err:
        raise CalibrationInputError(str(err)) from None
    cal = post.path.with_name("calibrated.toml")
    base = calibrated_overrides(cal) if cal.exists() else {}
    idx = np.random.default_rng(seed).choice(len(post.weights), size=n, p=post.weights)
    return [{**base, **post.row(int(i))} for i in idx]
