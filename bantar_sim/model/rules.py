"""The households' monthly rule, vectorised: the model's hot path, kept apart so it can be tested and timed alone.

`household_rule` is what `BantarModel` calls every month for the whole city; `bantar_sim.model.reference`
writes the same rule one Mesa agent at a time, and the tests check the two agree in distribution.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Households:
    """Struct of arrays, one entry per household; households are grouped by RT.

    Arrays rather than ~146,000 agent objects: the monthly rule updates every household with a handful of
    whole-array operations (docs/ODD.md, section 2).

    Attributes
    ----------
    rt : numpy.ndarray
        RT index of each household.
    x : numpy.ndarray
        Taking part this month (0/1, float32 so the network's sparse product needs no cast).
    aware : numpy.ndarray
        Knows and understands the programme (bool).
    social_capital : numpy.ndarray
        Embeddedness in traditions, 0–1.
    cost : numpy.ndarray
        Economic constraint of taking part, 0–1.
    trust : numpy.ndarray
        Trust in the programme, 0–1.
    age : numpy.ndarray
        YOUTH / ADULT / ELDER (`bantar_sim.model.city`).
    """

    rt: np.ndarray
    x: np.ndarray              # taking part this month (0/1, float32 for the sparse product)
    aware: np.ndarray          # knows and understands the programme
    social_capital: np.ndarray
    cost: np.ndarray           # economic constraint of taking part, 0–1
    trust: np.ndarray
    age: np.ndarray            # YOUTH / ADULT / ELDER


def uniform_pair(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two independent float32 uniforms on [0, 1) per household, from one call to the bit generator.

    Each raw 64-bit word gives two 32-bit halves; each half becomes a float exactly as
    `Generator.random(dtype=np.float32)` makes it (its top 24 bits times 2**-24). Why: the monthly choice and
    awareness draws are the largest draws of a run, and one call instead of two halves their cost.

    Parameters
    ----------
    rng : numpy.random.Generator
        The household stream (`BantarModel.household_rng`).
    n : int
        Number of households.

    Returns
    -------
    tuple of numpy.ndarray
        Two float32 arrays of length `n` (choice draws, awareness draws).
    """
    raw = rng.bit_generator.random_raw(n).view(np.uint32)
    raw >>= 8                         # keep the top 24 bits of each 32-bit half (float32's mantissa)
    u = raw.astype(np.float32)
    u *= np.float32(2.0 ** -24)
    return u[:n], u[n:]


def household_rule(hh: Households, share_matrix, static, rt_term, awareness_hazard, p, rng) -> None:
    """The hot path: every household's monthly choice, vectorised (logit choice with social interactions).

    u_i = static_i + awareness_weight·aware_i + social_influence·share_i + rt_term_i, where share_i is the
    share of i's network neighbours who took part last month; i takes part with probability 1/(1+e^-u_i).
    Unaware households learn of the programme with monthly probability
    awareness_hazard_i + awareness_contagion·share_i (docs/ODD.md, 7.1).
    Only whole-array float32 ufuncs and one call to the bit generator for both draws: masked (`where=`)
    ufuncs and gathers cost more than the arithmetic they would save (benchmarks/bench_model.py).
    `bantar_sim.model.reference` implements the same rule one Mesa agent at a time; tests check they agree.

    Parameters
    ----------
    hh : Households
        Household state; `hh.x` and `hh.aware` are updated in place (synchronously: every household
        decides on last month's choices).
    share_matrix : scipy.sparse.csr_matrix
        Row-normalised adjacency: one sparse product gives every household's share.
    static : numpy.ndarray
        The yearly part of each household's utility (float32).
    rt_term : numpy.ndarray
        Each household's RT term (head mobilisation and motivation); a fresh float32 array, used as scratch.
    awareness_hazard : numpy.ndarray
        Base monthly probability of learning of the programme (dissemination and adoption).
    p : BantarParams
        The run's parameters (`awareness_weight`, `social_influence`, `revision_rate`, `awareness_contagion`).
    rng : numpy.random.Generator
        The household stream.

    Returns
    -------
    None
        The rule updates `hh` in place.
    """
    n = hh.x.size
    share = share_matrix @ hh.x
    # i takes part when r < 1/(1+e^-u)  <=>  r·(1+e^-u) < 1: one exp, no division.
    u = rt_term
    u += static
    u += np.float32(p.awareness_weight) * hh.aware
    u += np.float32(p.social_influence) * share
    np.negative(u, out=u)
    np.exp(u, out=u)
    u += 1.0
    r_choice, r_aware = uniform_pair(rng, n)
    u *= r_choice
    new_x = (u < 1.0).astype(np.float32)
    if p.revision_rate < 1.0:
        revise = rng.random(n, dtype=np.float32) < p.revision_rate
        new_x = np.where(revise, new_x, hh.x)
    # Aware households stay aware, so one draw for everybody equals one for the unaware only.
    hazard = np.float32(p.awareness_contagion) * share
    hazard += awareness_hazard
    hh.aware |= r_aware < hazard
    hh.x = new_x
