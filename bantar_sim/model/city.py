"""Build the city once per run: RTs per sub-district (Table 3), households, their social network.

Everything here is vectorised: a full city (1,627 RTs, ~146,000 households, ~0.5 M ties) builds in
about a tenth of a second, so calibration and batches can afford a fresh city for every run.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from bantar_sim.model.data import SUBDISTRICTS, table3
from bantar_sim.model.params import ParameterError
from bantar_sim.model.specs import subdistrict_slug

YOUTH, ADULT, ELDER = 0, 1, 2
AGE_GROUPS = ("youth", "adult", "elder")
RELIGIOUS, TRADITIONAL, YOUTH_LEADER = 0, 1, 2
LEADER_KINDS = ("religious", "traditional", "youth")


@dataclass
class City:
    """The built city of one run: RTs, households grouped by RT, their network, leaders, sub-district effects.

    Fixed for the whole run (the model's changing state is in `BantarModel.households` and `rt_state`), so
    it is built once, vectorised, by `build_city`.
    """

    rt_counts: np.ndarray        # RTs simulated per sub-district (11)
    rt_subdistrict: np.ndarray   # sub-district index of each RT
    rt_size: np.ndarray          # households per RT
    rt_start: np.ndarray         # index of each RT's first household (households are grouped by RT)
    hh_rt: np.ndarray            # RT of each household
    adjacency: sp.csr_matrix     # symmetric 0/1 household network, float32
    leader_node: np.ndarray      # household index of each informal leader
    leader_kind: np.ndarray      # RELIGIOUS / TRADITIONAL / YOUTH_LEADER
    leader_rt: np.ndarray
    head_node: np.ndarray        # household index of each RT head
    subdistrict_leadership: np.ndarray   # sub-district effects: subdistrict_sd × z_s (drawn or named)
    subdistrict_social_capital: np.ndarray   # drawn per run
    subdistrict_screening: np.ndarray    # log multiplier of each sub-district's forwarding slots: screening_sd × u_s

    @property
    def n_households(self) -> int:
        """Number of households in the city."""
        return int(self.hh_rt.size)

    @property
    def n_rts(self) -> int:
        """Number of RTs in the city."""
        return int(self.rt_size.size)


@lru_cache(maxsize=1)
def _table3_rts() -> np.ndarray:
    """Table 3's RTs per sub-district in SUBDISTRICTS order (read-only; a pandas lookup costs ~1 ms a model)."""
    rts = table3().rts.loc[list(SUBDISTRICTS)].to_numpy()
    rts.setflags(write=False)
    return rts


def rt_counts_at_scale(scale: float) -> np.ndarray:
    """RTs per sub-district at `scale`: Table 3's counts times the scale, rounded.

    Rounded per sub-district rather than drawn, so every run at one scale has the same RTs per sub-district
    and the sub-district pattern (Table 3) stays comparable between runs.

    Parameters
    ----------
    scale : float
        Share of each sub-district's RTs simulated (1 = the 1,627 RTs of Table 3).

    Returns
    -------
    numpy.ndarray
        int64 RT counts in `SUBDISTRICTS` order (`counts_ok` rejects a scale that rounds one to zero).
    """
    return np.rint(_table3_rts() * scale).astype(np.int64)


def counts_ok(p) -> None:
    """Reject a scale that leaves a sub-district with no RT, before anything is built.

    Why here: a sub-district without RTs has no households, and the sub-district tables and Table 3
    comparison would silently lose a row; the error names the smallest scale that works.

    Parameters
    ----------
    p : BantarParams
        The parameter set (only `scale` is read).

    Raises
    ------
    bantar_sim.model.params.ParameterError
        If a sub-district rounds to zero RTs at `p.scale`.
    """
    counts = rt_counts_at_scale(p.scale)
    if (counts < 1).any():
        sd = SUBDISTRICTS[int(np.argmin(counts))]
        need = 0.5 / table3().rts.min()   # np.rint rounds up from one half: the smallest sub-district keeps an RT
        raise ParameterError(f"parameter 'scale' = {p.scale} leaves sub-district {sd} with no RT (and so no "
                             f"households): scale must be in [{need:.4f}, 1.0]")


def build_city(p, rng: np.random.Generator) -> City:
    """Build the city of one run: RT sizes, the household network, leaders and sub-district effects.

    docs/ODD.md, section 5 ("Initialisation") describes each step; all of them are whole-array operations
    so that a fresh city per run (calibration, batches) costs about a tenth of a second at full scale.

    Parameters
    ----------
    p : BantarParams
        The run's parameters (scale, households per RT and their spread, network and leader settings).
    rng : numpy.random.Generator
        The model's stream; the order of its draws is part of the model (same seed, same city).

    Returns
    -------
    City
        RTs, households, the symmetric 0/1 adjacency (CSR, float32), leaders and sub-district effects.
    """
    counts = rt_counts_at_scale(p.scale)
    n_rt = int(counts.sum())
    rt_sd = np.repeat(np.arange(len(SUBDISTRICTS)), counts)

    if p.households_per_rt_cv > 0:
        shape = 1.0 / p.households_per_rt_cv ** 2
        sizes = rng.gamma(shape, p.households_per_rt / shape, size=n_rt)
    else:
        sizes = np.full(n_rt, p.households_per_rt)
    sizes = np.maximum(np.rint(sizes), p.min_households_per_rt).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    n = int(sizes.sum())
    hh_rt = np.repeat(np.arange(n_rt), sizes)
    # Tie end points are int32 (the sparse matrix's own index type): half the memory traffic of int64 in
    # the assembly below, which dominates the build.
    hh_start = starts[hh_rt].astype(np.int32)
    hh_size = sizes[hh_rt].astype(np.int32)
    pos = np.arange(n, dtype=np.int32) - hh_start
    everyone = np.arange(n, dtype=np.int32)

    # Ring lattice inside each RT (neighbours along the street), a share rewired within the RT.
    src, dst = [], []
    if p.network == "complete":
        # Every pair inside the RT (for the mean-field check and for teaching; RTs stay small there).
        for d in range(1, int(sizes.max())):
            ok = d < hh_size
            src.append(np.flatnonzero(ok))
            dst.append((hh_start + (pos + d) % hh_size)[ok])
    for d in range(1, p.ring_degree // 2 + 1 if p.network == "small_world" else 1):
        target = hh_start + (pos + d) % hh_size
        rewire = np.flatnonzero(rng.random(n) < p.rewire_prob)
        target[rewire] = hh_start[rewire] + (rng.random(rewire.size) * hh_size[rewire]).astype(np.int32)
        src.append(everyone)
        dst.append(target)

    # Ties to a neighbouring RT (the next or previous RT of the same sub-district).
    n_cross = rng.poisson(p.cross_rt_ties * n / 2)
    if n_cross and n_rt > 1:
        a = rng.integers(0, n, n_cross)
        ra = hh_rt[a]
        step = np.where(rng.random(n_cross) < 0.5, -1, 1)
        rb = ra + step
        ok = (rb >= 0) & (rb < n_rt)
        rb = np.where(ok, rb, ra)
        ok &= rt_sd[rb] == rt_sd[ra]
        a, rb = a[ok], rb[ok]
        b = starts[rb] + (rng.random(a.size) * sizes[rb]).astype(np.int64)
        src.append(a)
        dst.append(b)

    # Informal leaders: positions 1..k of each RT (position 0 is the RT head), with extra ties.
    k_lead = np.minimum(p.informal_leaders_per_rt, sizes - 1)
    leader_rt = np.repeat(np.arange(n_rt), k_lead)
    within = np.arange(leader_rt.size) - np.repeat(np.cumsum(k_lead) - k_lead, k_lead)
    leader_node = starts[leader_rt] + 1 + within
    leader_kind = within % len(LEADER_KINDS)
    if p.informal_leader_ties and leader_node.size:
        reps = np.repeat(leader_node, p.informal_leader_ties)
        rr = hh_rt[reps]
        src.append(reps)
        dst.append(starts[rr] + (rng.random(reps.size) * sizes[rr]).astype(np.int64))

    s = np.concatenate(src, dtype=np.int32, casting="unsafe")
    t = np.concatenate(dst, dtype=np.int32, casting="unsafe")
    keep = s != t
    s, t = s[keep], t[keep]
    adj = sp.coo_matrix((np.ones(2 * s.size, dtype=np.float32), (np.concatenate([s, t]), np.concatenate([t, s]))),
                        shape=(n, n)).tocsr()
    adj.sum_duplicates()
    adj.data[:] = 1.0

    # Sub-district effects (docs/ODD.md 7.4, 7.5), standardised: drawn per run in both modes (so the random
    # stream after them is the same), replaced by the named, calibrated effects when subdistrict_effects = named.
    z = rng.standard_normal(len(SUBDISTRICTS))
    social = p.subdistrict_sd * rng.standard_normal(len(SUBDISTRICTS))
    u = rng.standard_normal(len(SUBDISTRICTS))
    if p.subdistrict_effects == "named":
        z, u = named_vector(p, "leadership_z_"), named_vector(p, "screening_u_")
    return City(
        rt_counts=counts, rt_subdistrict=rt_sd, rt_size=sizes, rt_start=starts, hh_rt=hh_rt, adjacency=adj,
        leader_node=leader_node, leader_kind=leader_kind, leader_rt=leader_rt, head_node=starts.copy(),
        subdistrict_leadership=p.subdistrict_sd * z, subdistrict_social_capital=social,
        subdistrict_screening=p.screening_sd * u,
    )


def named_vector(p, prefix: str) -> np.ndarray:
    """The 11 named per-sub-district parameters `prefix<sub-district>` in SUBDISTRICTS order."""
    return np.array([getattr(p, prefix + subdistrict_slug(s)) for s in SUBDISTRICTS], float)
