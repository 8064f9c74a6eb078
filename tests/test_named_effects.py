"""Stage 2 of the two-stage calibration (issue 14, item 4): named per-unit effects fitted with the globals fixed.

A toy with a known answer: three units, each with two effects acting on its two log-statistics through a known
matrix, with multiplicative noise. The fit must recover the effects that generated the "observed" statistics,
be reproducible from its seed, and refuse bad settings before simulating anything.
"""
from __future__ import annotations

import numpy as np
import pytest

from bantar_sim.studies.calibration.named_effects import (
    Block,
    NamedEffectsConfig,
    NamedEffectsError,
    fit_named_effects,
)

A = [np.array([[0.8, 0.1], [0.3, 0.5]]), np.array([[0.6, 0.0], [0.2, 0.7]]), np.array([[0.9, 0.2], [0.1, 0.4]])]
BASE = np.log(np.array([50.0, 30.0, 80.0, 40.0, 20.0, 60.0]))
BLOCKS = [Block(f"u{k}", (f"z_{k}", f"c_{k}"), (2 * k, 2 * k + 1)) for k in range(3)]
TRUTH = {"z_0": 0.7, "c_0": -0.4, "z_1": -1.0, "c_1": 0.5, "z_2": 0.3, "c_2": 0.9}


def toy(points, seeds, noise=0.05):
    out = np.empty((len(points), len(seeds), 6))
    for i, x in enumerate(points):
        mu = BASE.copy()
        for k, a in enumerate(A):
            mu[2 * k: 2 * k + 2] += a @ np.array([x[f"z_{k}"], x[f"c_{k}"]])
        for j, s in enumerate(seeds):
            out[i, j] = np.exp(mu + np.random.default_rng(s).normal(0.0, noise, 6))
    return out


def observed():
    return toy([TRUTH], [0], noise=0.0)[0, 0]


def test_the_fit_recovers_the_effects_that_made_the_data_and_is_reproducible():
    calls = []

    def sim(points, seeds):
        calls.append((len(points), len(seeds)))
        return toy(points, seeds)

    cfg = NamedEffectsConfig(rounds=8, seeds_per_round=10, jacobian_seeds=8, penalty=0.0, seed=5)
    res = fit_named_effects(sim, BLOCKS, observed(), cfg)
    for name, value in TRUTH.items():
        assert res.effects[name] == pytest.approx(value, abs=0.12), (name, res.effects)
    assert res.history[-1]["mean_abs_log_error"] < res.history[0]["mean_abs_log_error"]
    assert res.n_simulations == sum(p * s for p, s in calls) == 7 * 8 + 8 * 10 + 10
    # the check simulates the returned effects on its own fresh seeds, and reports that mean
    assert res.seeds["final"] not in [res.seeds[k] for k in res.seeds if k != "final"]
    at_fit = toy([res.effects], res.seeds["final"])[0].mean(axis=0)
    assert np.allclose(res.final["simulated"], at_fit)
    assert res.final["mean_abs_log_error"] == pytest.approx(np.abs(np.log(observed() / at_fit)).mean())
    assert res.final["mean_abs_log_error"] < res.history[0]["mean_abs_log_error"]
    assert np.allclose(res.jacobian["u1"], A[1], atol=0.05)
    again = fit_named_effects(toy, BLOCKS, observed(), cfg)
    assert again.effects == res.effects and again.seeds == res.seeds


def test_the_standard_normal_penalty_pulls_weakly_informed_effects_to_zero():
    cfg = NamedEffectsConfig(rounds=8, penalty=0.0, seed=3)
    free = fit_named_effects(toy, BLOCKS, observed(), cfg)
    shrunk = fit_named_effects(toy, BLOCKS, observed(), NamedEffectsConfig(rounds=8, penalty=2.0, seed=3))
    assert sum(v * v for v in shrunk.effects.values()) < sum(v * v for v in free.effects.values())


@pytest.mark.parametrize("kwargs, message", [
    ({"rounds": 0}, "rounds must be an integer >= 1"),
    ({"step": 0.0}, "step must be a number > 0"),
    ({"penalty": -1.0}, "penalty must be a number >= 0"),
])
def test_bad_settings_are_refused_before_any_simulation(kwargs, message):
    def never(points, seeds):
        raise AssertionError("simulated")

    with pytest.raises(NamedEffectsError, match=message):
        fit_named_effects(never, BLOCKS, observed(), NamedEffectsConfig(**kwargs))
    with pytest.raises(NamedEffectsError, match="observed"):
        fit_named_effects(never, BLOCKS, [1.0, -2.0], NamedEffectsConfig())
    with pytest.raises(NamedEffectsError, match="block 'bad'"):
        fit_named_effects(never, [Block("bad", ("z",), (9,))], observed(), NamedEffectsConfig())
