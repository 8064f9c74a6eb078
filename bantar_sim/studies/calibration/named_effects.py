"""Stage 2 of a two-stage calibration: named per-unit effects fitted with the global parameters held fixed.

Table 3 names its sub-districts, and its per-sub-district statistics (RTs that proposed, cumulative winners) are
what named sub-district effects must reproduce. Sampling 22 named effects jointly with the 10 global parameters
by ABC-SMC collapses the particle weights at the population sizes this machine affords (issue 14, item 4: the
effective sample size fell to 3 of 100 after one generation). The effects are close to separable, though: each
unit's statistics respond mainly to that unit's own effects. So the global parameters come from the ABC
posterior (stage 1, with the effects drawn at random per run), and this module fits each unit's effects with
the globals fixed (stage 2). This is the empirical-Bayes step of a hierarchical model; its standard-normal
penalty is the hierarchy's prior on the standardised effects.

The method is damped stochastic Newton in log space with common random numbers:

1. **Jacobian, one unit at a time.** Every effect of every block is moved by its step from the start, on the
   same seeds. This gives ``d log E[stat] / d effect`` for each block's statistics. Units are treated as
   independent (block-diagonal), which is what makes the fit cheap: 1 + the number of effects simulations of
   ``jacobian_seeds`` seeds.
2. **Rounds.** Each round simulates ``seeds_per_round`` fresh seeds at the current effects. Per block it solves
   the penalised least squares ``(JᵀJ + λI) Δ = Jᵀ r − λ x``, with ``r = log(observed / simulated mean)`` and
   ``λ = penalty``. It then moves ``x += gain_t · Δ``, where ``gain_t = gain / (1 + decay · t)``
   (Robbins–Monro), clipped to the bounds.
3. **Check.** The fitted effects are simulated once more on ``seeds_per_round`` fresh seeds: what the fit
   reports as simulated is the mean at the effects it returns, not at the last round's start.

Seeds come from ``numpy.random.SeedSequence(seed)``: one child for the Jacobian, one per round and one for the
check, so a fit is reproducible and its seeds are recorded in the result.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

#: simulate(list of parameter dicts, seeds) -> array (len(dicts), len(seeds), n_stats) of positive statistics
Simulate = Callable[[list[dict[str, float]], list[int]], np.ndarray]


class NamedEffectsError(ValueError):
    """A named-effects fit that cannot start (shapes, names or settings); raised before any simulation."""


@dataclass(frozen=True)
class Block:
    """One unit (e.g. a sub-district): its effect parameters and the indices of its statistics."""

    name: str
    params: tuple[str, ...]
    stats: tuple[int, ...]


@dataclass(frozen=True)
class NamedEffectsConfig:
    """Settings of :func:`fit_named_effects` (defaults: about 300 full-city runs)."""

    rounds: int = 10
    seeds_per_round: int = 10
    jacobian_seeds: int = 8
    step: float = 0.5           # finite-difference step of every effect (its units: sd of the prior)
    gain: float = 0.8
    decay: float = 0.3
    penalty: float = 0.005      # λ: weight of the standard-normal prior against the squared log errors
    bound: float = 4.0          # effects are kept in [-bound, bound]
    seed: int = 2014

    def check(self) -> None:
        """One-line errors naming the field and what is allowed."""
        for name in ("rounds", "seeds_per_round", "jacobian_seeds"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise NamedEffectsError(f"{name} must be an integer >= 1, got {v!r}")
        for name in ("step", "gain", "bound"):
            v = getattr(self, name)
            if not np.isfinite(v) or v <= 0:
                raise NamedEffectsError(f"{name} must be a number > 0, got {v!r}")
        for name in ("decay", "penalty"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise NamedEffectsError(f"{name} must be a number >= 0, got {v!r}")


@dataclass
class NamedEffectsResult:
    """The fitted effects, the Jacobian blocks, the per-round history, the seeds that were used, and the check.

    ``final`` is the check at the fitted effects: its ``simulated`` mean statistics and ``mean_abs_log_error``.
    """

    effects: dict[str, float]
    jacobian: dict[str, np.ndarray]
    history: list[dict] = field(default_factory=list)
    final: dict = field(default_factory=dict)
    seeds: dict[str, list[int]] = field(default_factory=dict)
    n_simulations: int = 0


def _seeds(ss: np.random.SeedSequence, n: int) -> list[int]:
    return [int(s.generate_state(1, np.uint64)[0]) for s in ss.spawn(n)]


def _mean_stats(simulate: Simulate, points: list[dict[str, float]], seeds: list[int], n_stats: int) -> np.ndarray:
    out = np.asarray(simulate(points, seeds), float)
    if out.shape != (len(points), len(seeds), n_stats):
        raise NamedEffectsError(f"simulate returned shape {out.shape}; expected {(len(points), len(seeds), n_stats)}")
    mean = out.mean(axis=1)
    if not np.all(mean > 0):
        raise NamedEffectsError("simulate returned a statistic whose mean is not > 0; the fit works in log space")
    return mean


def fit_named_effects(simulate: Simulate, blocks: Sequence[Block], observed: Sequence[float],
                      config: NamedEffectsConfig = NamedEffectsConfig(), start: dict[str, float] | None = None,
                      progress: Callable[[str], None] | None = None) -> NamedEffectsResult:
    """Fit each block's named effects so the simulated mean statistics match ``observed`` (module docstring).

    Parameters
    ----------
    simulate : callable
        ``simulate(points, seeds)``: each point is a dict of effect values (the caller adds the fixed globals
        and runs the model, in parallel if it likes); returns an array of shape (points, seeds, statistics).
    blocks : sequence of Block
        The units, each with its effect names and the indices of its statistics in ``observed``.
    observed : sequence of float
        The published statistics (all > 0).
    config : NamedEffectsConfig
    start : dict, optional
        Starting effects (default 0: the prior mean).
    progress : callable, optional
        Called with one line per stage and round.

    Returns
    -------
    NamedEffectsResult
    """
    config.check()
    obs = np.asarray(observed, float)
    if obs.ndim != 1 or not np.all(obs > 0):
        raise NamedEffectsError("observed must be a 1-d sequence of numbers > 0")
    names = [p for b in blocks for p in b.params]
    if len(set(names)) != len(names):
        raise NamedEffectsError("a parameter belongs to more than one block")
    for b in blocks:
        if not b.params or not b.stats or any(not 0 <= i < obs.size for i in b.stats):
            raise NamedEffectsError(f"block {b.name!r}: needs parameters and statistics indices in [0, {obs.size})")
    say = progress or (lambda line: None)
    x = {n: float((start or {}).get(n, 0.0)) for n in names}
    root = np.random.SeedSequence(config.seed)
    jac_ss, *round_ss, final_ss = root.spawn(2 + config.rounds)   # child k is the same whatever the count
    result = NamedEffectsResult(effects={}, jacobian={})

    # 1. Jacobian: the start and one move per effect, on the same seeds.
    seeds = _seeds(jac_ss, config.jacobian_seeds)
    result.seeds["jacobian"] = seeds
    moved = [dict(x, **{n: x[n] + config.step}) for n in names]
    say(f"named effects: Jacobian, {1 + len(names)} points × {len(seeds)} seeds")
    means = _mean_stats(simulate, [dict(x)] + moved, seeds, obs.size)
    result.n_simulations += (1 + len(names)) * len(seeds)
    log0 = np.log(means[0])
    col = {n: (np.log(means[1 + k]) - log0) / config.step for k, n in enumerate(names)}
    for b in blocks:
        result.jacobian[b.name] = np.array([[col[p][i] for p in b.params] for i in b.stats])

    # 2. Damped, penalised Newton rounds on fresh seeds.
    for t, ss in enumerate(round_ss):
        seeds = _seeds(ss, config.seeds_per_round)
        result.seeds[f"round_{t}"] = seeds
        mean = _mean_stats(simulate, [dict(x)], seeds, obs.size)[0]
        result.n_simulations += len(seeds)
        r = np.log(obs / mean)
        gain = config.gain / (1 + config.decay * t)
        result.history.append({"round": t, "gain": gain, "mean_abs_log_error": float(np.abs(r).mean()),
                               "effects": dict(x), "simulated": mean.tolist()})
        say(f"named effects: round {t + 1}/{config.rounds}, mean |log error| {np.abs(r).mean():.3f}")
        for b in blocks:
            J = result.jacobian[b.name]
            cur = np.array([x[p] for p in b.params])
            lhs = J.T @ J + config.penalty * np.eye(len(b.params))
            delta = np.linalg.lstsq(lhs, J.T @ r[list(b.stats)] - config.penalty * cur, rcond=None)[0]
            new = np.clip(cur + gain * delta, -config.bound, config.bound)
            x.update({p: float(v) for p, v in zip(b.params, new, strict=True)})
    result.effects = x

    # 3. Check: the fitted effects on fresh seeds (what the fit reports as simulated).
    seeds = _seeds(final_ss, config.seeds_per_round)
    result.seeds["final"] = seeds
    mean = _mean_stats(simulate, [dict(x)], seeds, obs.size)[0]
    result.n_simulations += len(seeds)
    err = float(np.abs(np.log(obs / mean)).mean())
    result.final = {"simulated": mean.tolist(), "mean_abs_log_error": err}
    say(f"named effects: check at the fitted effects, mean |log error| {err:.3f}")
    return result
