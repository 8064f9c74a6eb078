"""Secondary patterns as filters on the calibrated posterior (pattern-oriented modelling).

Table 3 fixes the winner counts (patterns 1 and 2) but says nothing about what happens inside an RT after
its award. Fitting the counts alone admits parameter sets in which awarded RTs never stop practising, which
contradicts the paper ("The bantar concept did not continue after the assessment process in several RTs,
due to the waning of community participation", §Result). Following Grimm et al. (2005, Science 310:987),
the patterns enter the ABC distance as a fourth target group (their violation, observed 0), and each
accepted particle is then re-simulated and kept only if it shows the brief's patterns 3 and 4; the
calibrated set is the best-fitting particle among those kept. Criteria and their readings are in
PATTERN_CRITERIA (and docs/ODD.md, calibration/README.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bantar_sim.model.agents import BANTAR, KENCANA
from bantar_sim.model.data import YEARS

START_YEAR = YEARS[0]
LAST_YEAR = YEARS[-1]


@dataclass(frozen=True)
class Criterion:
    low: float
    high: float
    reading: str

    def ok(self, v: float) -> bool:
        return bool(np.isfinite(v) and self.low <= v <= self.high)


PATTERN_CRITERIA: dict[str, Criterion] = {
    # Pattern 3, post-award waning (a): participation falls after the award year.
    "post_award_drop": Criterion(0.03, 1.0, (
        "pattern 3: mean participation of RTs first awarded 2014–2018 in their award year minus two years "
        "later (share of households); >= 0.03 reads 'waning of community participation' as a visible fall")),
    # Pattern 3 (b): several, not all and not none, stop applying the concept.
    "still_practising_3y": Criterion(0.2, 0.95, (
        "pattern 3: share of RTs first awarded 2014–2017 still practising (mean Clean/Safe/Smart score >= "
        "lapse_threshold) at the assessment three years later; 'did not continue ... in several RTs' read "
        "as at least 1 in 20 stopping and most not")),
    # Pattern 4: recruitment outpaces decay.
    "label_growth_years": Criterion(6, 6, (
        "pattern 4: years 2015–2020 in which the number of RTs holding the label at year end grew; all six")),
}


def pattern_stats(model) -> dict[str, float]:
    """The pattern statistics of a model run that reached the end of 2020, from its yearly records."""
    rec = model.rec
    ny = LAST_YEAR - START_YEAR + 1
    if model.tick < 12 * ny:
        raise ValueError(f"pattern_stats needs a run to the end of {LAST_YEAR}")
    won = rec["won"][:ny]
    first = np.where(won.any(axis=0), won.argmax(axis=0), -1)
    part = rec["participation"][:ny]
    drops = [part[a, first == a] - part[a + 2, first == a] for a in range(0, 5) if (first == a).any()]
    drop = float(np.concatenate(drops).mean()) if drops else np.nan
    early = [rec["practising"][a + 3, first == a] for a in range(0, 4) if (first == a).any()]
    still = float(np.concatenate(early).mean()) if early else np.nan
    labelled = np.isin(rec["status"][:ny], (BANTAR, KENCANA)).sum(axis=1)
    growth = int((np.diff(labelled) > 0).sum())
    return {"post_award_drop": drop, "still_practising_3y": still, "label_growth_years": float(growth),
            "lapsed_by_2020": float(rec["lapsed"][:ny].sum())}


# How far outside its band counts as one unit of violation, per criterion.
VIOLATION_UNIT = {"post_award_drop": 0.05, "still_practising_3y": 0.05, "label_growth_years": 1.0}


def violation(stats: dict) -> float:
    """0 when every criterion holds; else the summed distance outside the bands, in VIOLATION_UNITs (a
    criterion that cannot be evaluated, e.g. no early winners, counts 2 units). The ABC's fourth target
    group: observed value 0."""
    total = 0.0
    for k, c in PATTERN_CRITERIA.items():
        v = stats[k]
        total += 2.0 if not np.isfinite(v) else max(0.0, c.low - v, v - c.high) / VIOLATION_UNIT[k]
    return float(total)


def passes(stats: dict) -> bool:
    return all(c.ok(stats[k]) for k, c in PATTERN_CRITERIA.items())


def _particle_run(task) -> dict:
    """One re-simulation of a particle to 2020: pattern statistics and the calibration's statistics."""
    from bantar_sim.studies.calibration.targets import StatSpec, model_stats
    from bantar_sim.model.model import BantarModel
    index, rep, params, seed = task
    m = BantarModel(rng=seed, **{**params, "end_year": LAST_YEAR})
    m.run()
    return {"particle": index, "replicate": rep, **pattern_stats(m), **model_stats(m, StatSpec())}


def scaled_parts(stats: pd.DataFrame, observed: dict, spec, keys: list[str]) -> np.ndarray:
    """Per run and statistic: |s - s_obs| / RMSD across these runs x the statistic's group weight — the
    scaling of the calibration's AdaptivePNormDistance (max scale-weight ratio 100)."""
    s = stats[keys].to_numpy(float)
    s0 = np.array([observed[k] for k in keys])
    scale = np.sqrt((s.mean(axis=0) - s0) ** 2 + s.std(axis=0) ** 2)
    inv = np.where(scale > 0, 1 / np.where(scale > 0, scale, 1), 0.0)
    pos = inv[inv > 0]
    if pos.size:
        inv = np.minimum(inv, pos.min() * 100.0)
    w = np.array([spec.group_weights()[k] for k in keys])
    return np.abs(s - s0) * inv * w


def scaled_distance(stats: pd.DataFrame, observed: dict, spec) -> np.ndarray:
    """The calibration's Table 3 distance, so re-simulated particles are ranked the way the ABC ranks them."""
    keys = [k for k in spec.keys() if not k.startswith("pattern.")]     # Table 3 only: patterns are the filter
    return scaled_parts(stats, observed, spec, keys).sum(axis=1)


def filter_particles(particles: list[dict], observed: dict, spec, seeds: list[list[int]], executor,
                     progress: bool = True) -> pd.DataFrame:
    """Re-simulate each particle once per seed; one row per particle with the mean pattern statistics,
    the mean re-simulated distance and whether it passes every criterion."""
    from tqdm import tqdm
    tasks = [(i, r, params, s) for i, (params, ss) in enumerate(zip(particles, seeds)) for r, s in enumerate(ss)]
    rows = list(tqdm(executor.map(_particle_run, tasks), total=len(tasks), unit="run",
                     desc="pattern filter (patterns 3, 4)", disable=not progress))
    runs = pd.DataFrame(rows)
    runs["distance"] = scaled_distance(runs, observed, spec)
    cols = list(PATTERN_CRITERIA) + ["lapsed_by_2020", "distance"]
    per = runs.groupby("particle")[cols].mean()
    per["passes"] = [passes(r) for r in per.to_dict("records")]
    return per.reset_index()
