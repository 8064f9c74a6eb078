"""The calibration's statistics, computed from a run's tables (never from a model object).

Summary statistics (calibration/README.md, "Targets and distance") come in up to five groups:

- ``city``: city-wide winners per year, 2015 to the last target year (2014, the pilot, is fixed at
  ``pilot_winners`` = 3 and carries no information about the calibrated parameters);
- ``wins``: cumulative winners per sub-district over the target years (11 values);
- ``proposals``: RTs whose proposal reached the city's assessment at least once (forwarded by their
  sub-district: Table 3's "RT proposals", docs/ODD.md section 6), per sub-district (11 values). Table 3 gives this for
  2014–2020 only, so a held-out calibration that stops before 2020 leaves this group out (it would leak
  the held-out years);
- ``proposal_total``: the city total of those RTs (one value; issue 14's ±10% target on 820), with the
  ``proposals`` group;
- ``pattern``: the violation of the secondary patterns 3 and 4 (observed value 0), default mode only; its
  weight is the priors file's ``[distance] pattern_weight``.

Every statistic is a pure function of the tables :func:`bantar_sim.engine.task.run_model` returns
(``subdistrict_year`` for the Table 3 groups, ``rt_year`` for the patterns), so the ABC, the posterior
predictive and the pattern filter compute them the same way from the one run function. The pattern
criteria live here too, beside the statistics they judge: the target file reader
(:mod:`~bantar_sim.studies.calibration.targets`) and the pattern filter
(:mod:`~bantar_sim.studies.calibration.patterns`) both import from this module, never from each other.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bantar_sim.model.city import rt_counts_at_scale
from bantar_sim.model.data import SUBDISTRICTS, YEARS, table3
from bantar_sim.studies.calibration.targets import CalibrationInputError, Targets

START_YEAR = YEARS[0]
LAST_YEAR = YEARS[-1]
LABEL_STATUSES = ("Bantar", "Kencana")      # rt_year 'status' names of an RT holding the label


def _slug(name: str) -> str:
    return name.replace(" ", "_")


# ------------------------------------------------------------------------------ which statistics
@dataclass(frozen=True)
class StatSpec:
    """Which statistics enter the distance.

    Parameters
    ----------
    last_year : int
        The last target year (2020, or earlier for a held-out validation).
    patterns : bool
        Whether the secondary patterns 3 and 4 enter as a fourth group (one statistic, their violation,
        observed as 0).
    pattern_weight : float
        Weight of the pattern group relative to the others (each other group counts 1): the priors file's
        ``[distance] pattern_weight`` (calibration/README.md, "Targets and distance").

    Raises
    ------
    CalibrationInputError
        ``last_year`` outside [2015, 2020], or patterns with a held-out calibration.
    """

    last_year: int = LAST_YEAR
    patterns: bool = False
    pattern_weight: float = 1.0

    def __post_init__(self):
        if not 2015 <= self.last_year <= LAST_YEAR:
            raise CalibrationInputError(f"--train-years must end in a year in [2015, {LAST_YEAR}], "
                                        f"got {self.last_year}")
        if not (isinstance(self.pattern_weight, (int, float)) and 0 < self.pattern_weight <= 100):
            raise CalibrationInputError(f"pattern_weight must be a number in (0, 100], got {self.pattern_weight!r}")
        if self.patterns and self.last_year != LAST_YEAR:
            raise CalibrationInputError("the pattern statistics need runs to 2020: not with --train-years")

    @property
    def city_years(self) -> tuple[int, ...]:
        """Years of the ``city`` group (2015 to the last target year)."""
        return tuple(range(START_YEAR + 1, self.last_year + 1))

    @property
    def use_proposals(self) -> bool:
        """Whether the ``proposals`` group enters (only when the targets run to 2020)."""
        return self.last_year == LAST_YEAR

    @property
    def tables(self) -> tuple[str, ...]:
        """The run tables these statistics are computed from (what a particle's run keeps)."""
        return ("subdistrict_year", "rt_year") if self.patterns else ("subdistrict_year",)

    def keys(self) -> list[str]:
        """The statistics' names, ``group.item``, in a fixed order."""
        k = [f"city.{y}" for y in self.city_years]
        k += [f"wins.{_slug(s)}" for s in SUBDISTRICTS]
        if self.use_proposals:
            k += [f"proposals.{_slug(s)}" for s in SUBDISTRICTS]
            k.append("proposal_total.city")
        if self.patterns:
            k.append("pattern.violation")
        return k

    def groups(self) -> dict[str, list[str]]:
        """The statistics per group."""
        out: dict[str, list[str]] = {}
        for k in self.keys():
            out.setdefault(k.split(".")[0], []).append(k)
        return out

    def group_weights(self) -> dict[str, float]:
        """Fixed weight per statistic, 1/(statistics in its group) × its group's weight (``pattern_weight``
        for the pattern group, 1 for the others).
        """
        return group_weights(self.keys(), {"pattern": self.pattern_weight})


def group_weights(keys: Sequence[str], weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """Weight (group weight)/(statistics in its group) per statistic, the group being the name before the first dot.

    Any ``group.item`` names (the calibration's, or a toy problem's): each group counts the same in a distance,
    unless ``weights`` gives a group another weight (default 1).
    """
    groups = [k.split(".")[0] for k in keys]
    weights = weights or {}
    return {k: weights.get(g, 1.0) / groups.count(g) for k, g in zip(keys, groups, strict=True)}


# ------------------------------------------------------------------------- from a run's tables
def _by_year(sdy: pd.DataFrame, column: str, last_year: int) -> pd.DataFrame:
    """``column`` of the subdistrict_year table as a (year x sub-district) frame up to ``last_year``."""
    t = sdy[sdy["year"] <= last_year]
    return (t.pivot(index="year", columns="subdistrict", values=column)
            .reindex(columns=list(SUBDISTRICTS)).sort_index())


def table_stats(tables: Mapping[str, pd.DataFrame], spec: StatSpec) -> dict[str, float]:
    """The summary statistics of one run, from its tables.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        A run's tables (:func:`bantar_sim.engine.task.run_model`); ``subdistrict_year``, and ``rt_year``
        when ``spec.patterns`` (see :attr:`StatSpec.tables`).
    spec : StatSpec
        Which statistics.

    Returns
    -------
    dict of str to float
        ``{key: value}`` for every key of ``spec.keys()``.
    """
    sdy = tables["subdistrict_year"]
    won = _by_year(sdy, "winners", spec.last_year)
    city = won.sum(axis=1)
    out = {f"city.{y}": float(city.loc[y]) for y in spec.city_years}
    wins = won.sum(axis=0)
    out.update({f"wins.{_slug(s)}": float(wins[s]) for s in SUBDISTRICTS})
    if spec.use_proposals:
        prop = _by_year(sdy, "forwarded_rts_cumulative", spec.last_year).iloc[-1]
        out.update({f"proposals.{_slug(s)}": float(prop[s]) for s in SUBDISTRICTS})
        out["proposal_total.city"] = float(prop.sum())
    if spec.patterns:
        out["pattern.violation"] = violation(pattern_stats(tables["rt_year"]))
    return out


def winners_and_proposals(tables: Mapping[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    """What the posterior predictive compares with Table 3, from a run to 2020.

    Returns
    -------
    dict
        ``won`` (years x sub-districts winners), ``proposals`` (RTs proposed to the city 2014–2020 per
        sub-district), ``rts`` (simulated RTs per sub-district).
    """
    sdy = tables["subdistrict_year"]
    won = _by_year(sdy, "winners", LAST_YEAR)
    if list(won.index) != list(YEARS):
        raise ValueError(f"the posterior predictive needs a run to the end of {LAST_YEAR}")
    last = sdy[sdy["year"] == LAST_YEAR].set_index("subdistrict").reindex(list(SUBDISTRICTS))
    return {"won": won.to_numpy(np.int64), "proposals": last["forwarded_rts_cumulative"].to_numpy(np.int64),
            "rts": last["rts"].to_numpy(np.int64)}


# ------------------------------------------------------------------------------ secondary patterns
@dataclass(frozen=True)
class Criterion:
    """An inclusive band a pattern statistic must fall in, and how the band reads the paper."""

    low: float
    high: float
    reading: str

    def ok(self, v: float) -> bool:
        """Whether ``v`` is finite and inside the band."""
        return bool(np.isfinite(v) and self.low <= v <= self.high)


PATTERN_CRITERIA: dict[str, Criterion] = {
    # Pattern 3, post-award waning (a): participation falls after the award year.
    "post_award_drop": Criterion(0.03, 1.0, (
        "pattern 3: mean participation of RTs first awarded 2014–2018 in their award year minus two years "
        "later (share of households); >= 0.03 reads 'waning of community participation' as a visible fall")),
    # Pattern 3 (b): several, not all and not none, stop applying the concept.
    "still_practising_3y": Criterion(0.2, 0.95, (
        "pattern 3: share of RTs first awarded 2014–2017 still practising (households' "
        "participation over the 12 months before the assessment >= practice_standard) three years later; 'did "
        "not continue ... in several RTs' read "
        "as at least 1 in 20 stopping and most not")),
    # Pattern 4: recruitment outpaces decay.
    "label_growth_years": Criterion(6, 6, (
        "pattern 4: years 2015–2020 in which the number of RTs holding the label at year end grew; all six")),
}

# How far outside its band counts as one unit of violation, per criterion.
VIOLATION_UNIT = {"post_award_drop": 0.05, "still_practising_3y": 0.05, "label_growth_years": 1.0}


def _rt_matrix(rt_year: pd.DataFrame, column: str, ny: int, n_rts: int) -> np.ndarray:
    return rt_year[column].to_numpy().reshape(ny, n_rts)


def pattern_stats(rt_year: pd.DataFrame) -> dict[str, float]:
    """The pattern statistics of a run that reached the end of 2020, from its ``rt_year`` table.

    Parameters
    ----------
    rt_year : DataFrame
        One row per RT and year (:data:`bantar_sim.model.tables.TABLES` ``"rt_year"``).

    Returns
    -------
    dict of str to float
        ``post_award_drop``, ``still_practising_3y``, ``label_growth_years`` (the criteria of
        :data:`PATTERN_CRITERIA`) and ``lapsed_by_2020``.

    Raises
    ------
    ValueError
        The run stopped before the end of 2020.
    """
    ny = LAST_YEAR - START_YEAR + 1
    t = rt_year[rt_year["year"] <= LAST_YEAR].sort_values(["year", "rt"], kind="stable")
    years = t["year"].unique()
    if len(years) < ny:
        raise ValueError(f"pattern_stats needs a run to the end of {LAST_YEAR}")
    n = len(t) // ny
    won = _rt_matrix(t, "won", ny, n).astype(bool)
    first = np.where(won.any(axis=0), won.argmax(axis=0), -1)
    part = _rt_matrix(t, "participation", ny, n)
    practising = _rt_matrix(t, "practising", ny, n).astype(bool)
    drops = [part[a, first == a] - part[a + 2, first == a] for a in range(0, 5) if (first == a).any()]
    drop = float(np.concatenate(drops).mean()) if drops else np.nan
    early = [practising[a + 3, first == a] for a in range(0, 4) if (first == a).any()]
    still = float(np.concatenate(early).mean()) if early else np.nan
    labelled = t["status"].isin(LABEL_STATUSES).to_numpy().reshape(ny, n).sum(axis=1)
    growth = int((np.diff(labelled) > 0).sum())
    lapsed = float(_rt_matrix(t, "lapsed", ny, n).astype(bool).sum())
    return {"post_award_drop": drop, "still_practising_3y": still, "label_growth_years": float(growth),
            "lapsed_by_2020": lapsed}


def violation(stats: Mapping[str, float]) -> float:
    """How far a run's pattern statistics fall outside the criteria's bands.

    0 when every criterion holds; else the summed distance outside the bands, in VIOLATION_UNITs (a
    criterion that cannot be evaluated, e.g. no early winners, counts 2 units). The ABC's fourth target
    group: observed value 0.
    """
    total = 0.0
    for k, c in PATTERN_CRITERIA.items():
        v = stats[k]
        total += 2.0 if not np.isfinite(v) else max(0.0, c.low - v, v - c.high) / VIOLATION_UNIT[k]
    return float(total)


def passes(stats: Mapping[str, float]) -> bool:
    """Whether every criterion of :data:`PATTERN_CRITERIA` holds."""
    return all(c.ok(stats[k]) for k, c in PATTERN_CRITERIA.items())


# ------------------------------------------------------------------------------- observed values
def observed_stats(targets: Targets, spec: StatSpec, scale: float = 1.0) -> dict[str, float]:
    """Targets in the statistics' keys. At scale < 1 (tests) counts shrink with the simulated RTs.

    Parameters
    ----------
    targets : Targets
        The observed Table 3 columns.
    spec : StatSpec
        Which statistics.
    scale : float
        The simulation's ``scale`` (share of each sub-district's RTs).
    """
    ratio = pd.Series(rt_counts_at_scale(scale) / table3().rts.loc[list(SUBDISTRICTS)].to_numpy(),
                      index=list(SUBDISTRICTS))
    w = targets.winners.mul(ratio, axis=0)
    out = {f"city.{y}": float(w[y].sum()) for y in spec.city_years}
    cum = w[[y for y in YEARS if y <= spec.last_year]].sum(axis=1)
    out.update({f"wins.{_slug(s)}": float(cum[s]) for s in SUBDISTRICTS})
    if spec.use_proposals:
        out.update({f"proposals.{_slug(s)}": float(targets.proposals[s] * ratio[s]) for s in SUBDISTRICTS})
        out["proposal_total.city"] = float(sum(targets.proposals[s] * ratio[s] for s in SUBDISTRICTS))
    if spec.patterns:
        out["pattern.violation"] = 0.0
    return out


# ------------------------------------------------------------------------------ distance scaling
def scaled_parts(stats: pd.DataFrame, observed: Mapping[str, float], spec: StatSpec,
                 keys: list[str]) -> np.ndarray:
    """Per run and statistic: |s - s_obs| / RMSD across these runs x the statistic's group weight — the
    scaling of the calibration's AdaptivePNormDistance (max scale-weight ratio 100).
    """
    s = stats[keys].to_numpy(float)
    s0 = np.array([observed[k] for k in keys])
    scale = np.sqrt((s.mean(axis=0) - s0) ** 2 + s.std(axis=0) ** 2)
    inv = np.where(scale > 0, 1 / np.where(scale > 0, scale, 1), 0.0)
    pos = inv[inv > 0]
    if pos.size:
        inv = np.minimum(inv, pos.min() * 100.0)
    w = np.array([spec.group_weights()[k] for k in keys])
    return np.abs(s - s0) * inv * w


def scaled_distance(stats: pd.DataFrame, observed: Mapping[str, float], spec: StatSpec) -> np.ndarray:
    """The calibration's Table 3 distance, so re-simulated particles are ranked the way the ABC ranks them."""
    keys = [k for k in spec.keys() if not k.startswith("pattern.")]     # Table 3 only: patterns are the filter
    return scaled_parts(stats, observed, spec, keys).sum(axis=1)


def group_contributions(stats: pd.DataFrame, observed: Mapping[str, float], spec: StatSpec) -> pd.DataFrame:
    """Each group's share of the distance, per simulation, with the scaling the ABC uses (tests, README)."""
    keys = spec.keys()
    parts = scaled_parts(stats, observed, spec, keys)
    out = pd.DataFrame({g: parts[:, [k.split(".")[0] == g for k in keys]].sum(axis=1)
                        for g in spec.groups()})
    return out.div(out.sum(axis=1), axis=0)
