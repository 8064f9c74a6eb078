"""The ABC-SMC run (pyabc): the particle model, prior, distance, sampler, resume and stopping rules.

Reproducibility: every particle's simulation is seeded from (base seed, model index, the particle's
parameter values), so any accepted particle can be re-simulated exactly from posterior.csv. pyabc's own
draws (prior samples, perturbations) use numpy's global RNG, seeded from the config's seed; the multicore
and Dask samplers reseed their workers and evaluate particles in a race-dependent order, so only a serial
run reproduces the whole posterior bit for bit.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bantar_sim.engine.executors import SerialExecutor, capacity, dask_client
from bantar_sim.engine.task import run_model
from bantar_sim.model.version import MODEL_VERSION
from bantar_sim.studies.calibration.config import CalibrationConfig, ResolvedCalibration
from bantar_sim.studies.calibration.stats import StatSpec, table_stats
from bantar_sim.studies.calibration.targets import CalibrationInputError, Variant, fingerprint


class CalibrationUnfinishedError(RuntimeError):
    """No ABC generation completed within the budget: nothing to report, no result written."""


# ------------------------------------------------------------------------------ the pyabc model
def particle_seed(base_seed: int, model_index: int, values: list[float]) -> int:
    """Seed of one particle's simulation: a function of the base seed and its parameter values."""
    bits = np.asarray(values, dtype=np.float64).view(np.uint32).tolist()
    ss = np.random.SeedSequence([int(base_seed) % 2**63, int(model_index), *bits])
    return int(ss.generate_state(1, dtype=np.uint64)[0])


@dataclass
class ParticleModel:
    """Picklable pyabc model: parameters -> summary statistics of one seeded simulation.

    The simulation is :func:`bantar_sim.engine.task.run_model` keeping the tables the statistics need
    (:attr:`StatSpec.tables`); the statistics are :func:`~bantar_sim.studies.calibration.stats.table_stats`.
    """

    settings: dict
    names: tuple
    integers: tuple
    spec: StatSpec
    base_seed: int
    index: int
    name: str

    def params_for(self, pars) -> dict:
        """The model parameters of a particle: settings, its values (integers rounded), the end year."""
        vals = {n: float(pars[n]) for n in self.names}
        for n in self.integers:
            vals[n] = int(round(vals[n]))
        return {**self.settings, **vals, "end_year": self.spec.last_year}

    def __call__(self, pars) -> dict:
        """The summary statistics of the particle's seeded simulation."""
        seed = particle_seed(self.base_seed, self.index, [float(pars[n]) for n in self.names])
        return table_stats(run_model(self.params_for(pars), seed, self.spec.tables), self.spec)


def particle_model(variant: Variant, spec: StatSpec, base_seed: int, index: int = 0) -> ParticleModel:
    """The :class:`ParticleModel` of a model variant."""
    return ParticleModel(dict(variant.settings), tuple(p.name for p in variant.priors),
                         tuple(p.name for p in variant.priors if p.integer), spec, base_seed, index, variant.name)


def build_prior(variant: Variant):
    """Independent uniform priors over the variant's ranges (pyabc.Distribution)."""
    import pyabc
    return pyabc.Distribution(**{p.name: pyabc.RV("uniform", p.low, p.high - p.low) for p in variant.priors})


def build_distance(spec: StatSpec):
    """L1 distance; each statistic divided by its RMSD to the observation (bias and spread, refitted every
    generation), each group weighted 1/(its size) so the groups count the same.
    """
    import pyabc
    from pyabc.distance import root_mean_square_deviation
    return pyabc.AdaptivePNormDistance(p=1, fixed_weights=spec.group_weights(),
                                       scale_function=root_mean_square_deviation,
                                       max_scale_weight_ratio=100.0, all_particles_for_scale=False)


# ------------------------------------------------------------------------------------ resume
def build_transitions(variants, proposal: str, ess_share: float) -> list:
    """One proposal per model (:data:`~bantar_sim.studies.calibration.config.PROPOSALS`, config docstring)."""
    import pyabc

    from bantar_sim.studies.calibration.transition import DefensiveTransition, LogitTransition
    out = []
    for v in variants:
        if proposal == "logit":
            out.append(LogitTransition({p.name: p.low for p in v.priors}, {p.name: p.high for p in v.priors},
                                       min_ess_share=ess_share))
        elif ess_share > 0:
            out.append(DefensiveTransition(min_ess_share=ess_share))
        else:
            out.append(pyabc.MultivariateNormalTransition())
    return out


def config_fingerprint(run: ResolvedCalibration) -> str:
    """Hash of what makes two calibrations the same run (a db holding another is never resumed)."""
    c = run.config
    return fingerprint({
        "mode": run.mode, "last_year": run.spec.last_year, "patterns": run.spec.patterns,
        "pattern_weight": run.spec.pattern_weight,
        "targets": run.targets.sha256,
        "priors": [(v.name, v.settings, [(p.name, p.low, p.high) for p in v.priors]) for v in run.variants],
        "truth": run.truth, "population_size": c.population_size, "seed": c.seed,
        "epsilon_quantile": c.epsilon_quantile, "model_version": MODEL_VERSION,
        **({"proposal": c.proposal} if c.proposal != "native" else {}),
        **({"proposal_ess_share": c.proposal_ess_share} if c.proposal_ess_share else {}),
    })


def find_resumable(db: Path, fp: str) -> int | None:
    """The id of the run in ``db`` made with this configuration.

    Raises
    ------
    CalibrationInputError
        ``db`` is not a readable pyabc history, or holds only runs made with other settings.
    """
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


# ------------------------------------------------------------------------------------ samplers
@contextlib.contextmanager
def make_sampler(config: CalibrationConfig, executor: cf.Executor | None = None) -> Iterator[tuple[Any, str]]:
    """Pyabc's sampler: on ``executor`` if given, else the one ``config.executor`` names.

    Yields
    ------
    (pyabc sampler, str)
        The sampler and its name for the provenance.
    """
    import pyabc
    if executor is not None:
        if isinstance(executor, SerialExecutor):
            yield pyabc.sampler.SingleCoreSampler(check_max_eval=True), "SingleCoreSampler"
        else:
            n = capacity(executor)
            yield (pyabc.sampler.ConcurrentFutureSampler(executor, client_max_jobs=n),
                   f"ConcurrentFutureSampler({type(executor).__name__}, {n})")
    elif config.executor == "dask":
        with dask_client(config.scheduler, config.workers, timeout=30) as client:
            yield pyabc.sampler.DaskDistributedSampler(dask_client=client, batch_size=1), "DaskDistributedSampler"
    elif config.executor == "serial" or config.workers == 1:
        yield pyabc.sampler.SingleCoreSampler(check_max_eval=True), "SingleCoreSampler"
    else:
        n = config.workers or min(2, os.cpu_count() or 1)
        yield (pyabc.sampler.MulticoreEvalParallelSampler(n_procs=n, check_max_eval=True),
               f"MulticoreEvalParallelSampler({n})")


def _quiet_pyabc() -> None:
    logging.getLogger("ABC").setLevel(logging.WARNING)
    logging.getLogger("pyabc").setLevel(logging.WARNING)
    for name in ("ABC.Distance", "ABC.Sampler", "ABC.Epsilon", "ABC.History", "ABC.Adaptation"):
        logging.getLogger(name).setLevel(logging.ERROR)


# ------------------------------------------------------------------------------------ the run
def run_abc(run: ResolvedCalibration, observed: dict, fp: str, resume_id: int | None,
            executor: cf.Executor | None = None, progress: bool = True) -> tuple[Any, dict]:
    """Run (or resume) the ABC-SMC generation by generation, within the config's budget.

    Returns
    -------
    (pyabc.History, dict)
        The history and what the session did (``stop``, ``elapsed_s``, ``simulations_this_session``,
        ``sampler``).

    Raises
    ------
    CalibrationUnfinishedError
        Not one generation completed (the acceptance rate floor or the wall-clock budget stopped the
        first): pyabc's own post-processing would crash on the empty history, so this stops first.
    """
    import pyabc
    from tqdm import tqdm
    c = run.config
    _quiet_pyabc()
    np.random.seed(c.seed % 2**32)
    models = [pyabc.FunctionModel(particle_model(v, run.spec, c.seed, i), name=v.name)
              for i, v in enumerate(run.variants)]
    priors = [build_prior(v) for v in run.variants]
    run.db.parent.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {}
    t_start = time.perf_counter()
    with make_sampler(c, executor) as (sampler, sampler_name):
        info["sampler"] = sampler_name
        db_url = f"sqlite:///{run.db}"

        def fresh_abc():
            # A new ABCSMC per generation, loaded from the db: a continuous run and a resumed one take
            # exactly the same path (pyabc caches the population it calibrates from inside one object).
            return pyabc.ABCSMC(models, priors, build_distance(run.spec), population_size=c.population_size,
                                sampler=sampler, eps=pyabc.QuantileEpsilon(alpha=c.epsilon_quantile),
                                transitions=build_transitions(run.variants, c.proposal, c.proposal_ess_share))
        if resume_id is not None:
            history = fresh_abc().load(db_url, resume_id)
            done = history.max_t + 1
            print(f"resuming calibration run {resume_id} in {run.db}: {done} generation(s) already done")
        else:
            history, done = None, 0
        n_sims0 = history.total_nr_simulations if history is not None else 0
        deadline = time.monotonic() + 60 * c.max_walltime
        bar = tqdm(total=c.max_populations, initial=min(done, c.max_populations), unit="generation",
                   desc=f"ABC-SMC ({run.mode})", disable=not progress)
        stop = _stopped(history, c) if done else None
        sims_per_s = last_rate = None
        while done < c.max_populations and stop is None:
            if time.monotonic() >= deadline:
                stop = f"wall-clock budget of {c.max_walltime:g} min used"
                break
            abc = fresh_abc()
            if history is None:
                meta = {"bantar_config": fp, "mode": run.mode, "seed": c.seed,
                        "command": c.command or " ".join(sys.argv)}
                history = abc.new(db_url, observed, meta_info=meta, gt_par=run.truth or None)
            else:
                history = abc.load(db_url, history.id)
            # pyabc checks the wall-clock budget only between generations; to keep one generation from
            # overrunning it, cap its simulations at what the remaining time allows at the measured speed
            # (a generation cut short is not stored; the history keeps the previous ones).
            rate_floor = c.min_acceptance_rate
            if sims_per_s:
                max_eval = max(c.population_size, (deadline - time.monotonic()) * sims_per_s)
                rate_floor = max(rate_floor, min(1.0, c.population_size / max_eval))
                # Acceptance falls from one generation to the next: if even the last rate would not fill a
                # population in the time left, stop now rather than spend the rest of the budget on nothing.
                if last_rate and c.population_size / last_rate > max_eval:
                    stop = (f"wall-clock budget: ~{c.population_size / last_rate:.0f} simulations needed for "
                            f"another generation, time left for ~{max_eval:.0f}")
                    break
            before_t, before_sims, t0 = history.max_t, history.total_nr_simulations, time.monotonic()
            abc.run(minimum_epsilon=c.min_epsilon, max_nr_populations=1, min_acceptance_rate=rate_floor)
            if history.max_t == before_t:
                stop = (f"generation {before_t + 1} stopped unfinished: fewer than {100 * rate_floor:.3g}% of "
                        "simulations accepted within the budget (--min-acceptance-rate / --max-walltime)")
                break
            gen_s = time.monotonic() - t0
            sims_per_s = (history.total_nr_simulations - before_sims) / max(gen_s, 1e-9)
            pops = history.get_all_populations()
            last = pops[pops.t == history.max_t].iloc[0]
            last_rate = c.population_size / max(float(last.samples), 1)
            done = history.max_t + 1
            bar.update(1)
            bar.set_postfix(eps=f"{last.epsilon:.3g}", accept=f"{last_rate:.1%}",
                            sims=int(history.total_nr_simulations))
            stop = _stopped(history, c)
        bar.close()
        if stop is None:
            stop = f"{c.max_populations} generations reached"
    if history is None or history.max_t < 0:
        # pyabc's alive_models / get_distribution fail on a history without a generation.
        raise CalibrationUnfinishedError(
            f"stopped unfinished: no generation completed ({stop.split(' stopped unfinished: ')[-1]}); nothing "
            f"written, previous results in "
            f"{run.out} unchanged; lower --min-acceptance-rate or raise --max-walltime")
    info.update(stop=stop, elapsed_s=time.perf_counter() - t_start,
                simulations_this_session=int(history.total_nr_simulations - n_sims0))
    history.done()
    return history, info


def _stopped(history, config: CalibrationConfig) -> str | None:
    pops = history.get_all_populations()
    pops = pops[pops.t >= 0]
    if pops.empty:
        return None
    last = pops.iloc[-1]
    if last.epsilon <= config.min_epsilon:
        return f"epsilon {last.epsilon:.4g} <= --min-epsilon {config.min_epsilon:g}"
    rate = config.population_size / max(float(last.samples), 1)
    if rate < config.min_acceptance_rate:
        return f"acceptance rate {rate:.3%} < --min-acceptance-rate {config.min_acceptance_rate:g}"
    return None


def best_particle(history, t: int, m: int = 0) -> tuple[dict, float]:
    """The accepted particle of generation t (model m) with the smallest distance to the targets."""
    pop = history.get_population(t=t)
    best = min((p for p in pop.particles if p.m == m), key=lambda p: p.distance)
    return dict(best.parameter), float(best.distance)
