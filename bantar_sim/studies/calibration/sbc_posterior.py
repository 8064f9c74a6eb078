"""The amortised posterior of the coverage study and its scoring (:mod:`~bantar_sim.studies.calibration.sbc`).

One reference table of prior simulations serves every truth: :func:`abc_posterior` (rejection ABC plus a
local-linear regression adjustment) gives a truth's posterior, :func:`summarise_truth` its interval ends and
SBC rank, :func:`coverage_table` the per-parameter coverage and label. :func:`posterior_rows` runs a set of
truths (optionally members of the table, each left out of it for its own posterior) and
:func:`method_check` scores the alternatives (regression adjustment or none, accept fractions) on the same
table, so the study can say which method gives honest coverage on this model. Split from ``sbc.py`` (the
workflow) to keep each module readable; ``sbc`` re-exports every name.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bantar_sim.studies.calibration.sbc_report import binned_ranks, label, min_accepted_for_adjustment, rank_bins
from bantar_sim.studies.calibration.targets import Prior


# ---------------------------------------------------------------------------------- the posterior
@dataclass
class Posterior:
    """A weighted sample of parameter vectors (the regression-adjusted accepted simulations)."""

    names: list[str]
    samples: np.ndarray      # (n, p)
    weights: np.ndarray      # (n,), sums to 1
    adjusted: bool = False   # whether the regression adjustment was applied
    rows: np.ndarray | None = None   # the accepted simulations' rows in the table (closest first)
    threshold: float = float("nan")  # the acceptance distance (the Epanechnikov kernel's bandwidth)

    def quantiles(self, qs: Sequence[float]) -> np.ndarray:
        """Weighted quantiles, shape (len(qs), p) (interpolated on the weighted empirical CDF)."""
        out = np.empty((len(qs), self.samples.shape[1]))
        for j in range(self.samples.shape[1]):
            order = np.argsort(self.samples[:, j], kind="stable")
            x, w = self.samples[order, j], self.weights[order]
            cdf = np.cumsum(w) - 0.5 * w
            out[:, j] = np.interp(qs, cdf, x)
        return out

    def draws(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws (with replacement, by weight), shape (n, p)."""
        return self.samples[rng.choice(len(self.weights), size=n, p=self.weights)]

    def shrunk(self, factor: float) -> Posterior:
        """The same posterior with every parameter's spread around its median divided by ``factor``:
        a deliberately overconfident posterior (tests that the coverage check can fail).
        """
        med = self.quantiles([0.5])[0]
        return Posterior(self.names, med + (self.samples - med) / factor, self.weights, self.adjusted, self.rows,
                         self.threshold)


def _logit(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 1e-6, 1 - 1e-6)
    return np.log(u / (1 - u))


def stat_scales(stats: np.ndarray) -> np.ndarray:
    """Each statistic's scale over the reference table: its MAD (x 1.4826), else its sd, else 0 (unused)."""
    med = np.median(stats, axis=0)
    mad = 1.4826 * np.median(np.abs(stats - med), axis=0)
    sd = stats.std(axis=0)
    return np.where(mad > 0, mad, sd)


def scaled_differences(stats: np.ndarray, observed: np.ndarray, scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each simulation's statistics minus the observed ones, divided by their scales, and its Euclidean distance.

    Statistics with scale 0 (constant over the table) are left out.

    Returns
    -------
    (ndarray, ndarray)
        The scaled differences, shape (N, statistics used), and the distances, shape (N,).
    """
    scales = np.asarray(scales, float)
    use = scales > 0
    x = (np.asarray(stats, float)[:, use] - np.asarray(observed, float)[use]) / scales[use]
    return x, np.sqrt((x ** 2).sum(axis=1))


def abc_posterior(theta: np.ndarray, stats: np.ndarray, observed: np.ndarray, lows: np.ndarray,
                  highs: np.ndarray, accept: float, names: Sequence[str] | None = None,
                  scales: np.ndarray | None = None, adjust: bool | str = True) -> Posterior:
    """Rejection ABC with local-linear regression adjustment (Beaumont, Zhang & Balding 2002).

    Parameters
    ----------
    theta : ndarray, shape (N, p)
        The reference table's parameters.
    stats : ndarray, shape (N, k)
        Their statistics.
    observed : ndarray, shape (k,)
        The statistics to calibrate against.
    lows, highs : ndarray, shape (p,)
        The uniform priors' ranges: the regression works on ``logit((theta - low) / (high - low))`` and
        maps back, so adjusted values stay inside the prior.
    accept : float
        Fraction of the table kept (the closest by the scaled Euclidean distance).
    names : sequence of str, optional
        Parameter names carried into the result.
    scales : ndarray, shape (k,), optional
        Scale of each statistic (default :func:`stat_scales` of ``stats``); statistics with scale 0 are
        left out of the distance and the regression.
    adjust : bool
        Apply the regression adjustment (its residuals inflated by sqrt(n_eff / (n_eff - coefficients)),
        the usual correction of a fitted regression's residual variance; False: plain rejection ABC,
        Epanechnikov-weighted). It is skipped too when fewer than
        :func:`~bantar_sim.studies.calibration.sbc_report.min_accepted_for_adjustment` (30 per coefficient)
        simulations are accepted: a regression fitted on few points per coefficient fits their noise and
        makes the posterior overconfident. ``"always"`` applies it down to 2 x (statistics + 1) accepted
        simulations (the method check, to show that effect).

    Returns
    -------
    Posterior
        The accepted (adjusted) parameter vectors with their Epanechnikov weights.
    """
    theta, stats = np.asarray(theta, float), np.asarray(stats, float)
    scales = stat_scales(stats) if scales is None else np.asarray(scales, float)
    x, d = scaled_differences(stats, observed, scales)
    n = len(d)
    k = min(n, max(2, int(math.ceil(accept * n))))
    order = np.argsort(d, kind="stable")
    keep = order[:k]
    h = d[order[k]] if k < n else d[keep[-1]] * (1 + 1e-9)
    h = h if h > 0 else 1.0
    w = np.maximum(1.0 - (d[keep] / h) ** 2, 0.0)
    if w.sum() <= 0:
        w = np.ones(k)
    w = w / w.sum()
    lows, highs = np.asarray(lows, float), np.asarray(highs, float)
    z = _logit((theta[keep] - lows) / (highs - lows))
    if adjust == "always":     # the method check: show what the adjustment does below the rule
        adjust = k > 2 * (x.shape[1] + 1)
    else:
        adjust = bool(adjust) and k >= min_accepted_for_adjustment(x.shape[1])
    if adjust:
        design = np.column_stack([np.ones(k), x[keep]])
        sw = np.sqrt(w)[:, None]
        beta, *_ = np.linalg.lstsq(design * sw, z * sw, rcond=None)
        # Residuals of a fitted regression understate the spread by (n - coefficients) / n: inflate them
        # back with the effective sample size of the weights, or the posterior is overconfident.
        n_eff = 1.0 / (w ** 2).sum()
        inflate = math.sqrt(n_eff / (n_eff - design.shape[1])) if n_eff > 2 * design.shape[1] else 1.0
        z = beta[0] + (z - design @ beta) * inflate
    samples = lows + (highs - lows) / (1 + np.exp(-z))
    return Posterior(list(names) if names is not None else [f"p{j}" for j in range(theta.shape[1])], samples, w,
                     adjust, keep, float(h))


# ------------------------------------------------------------------------------------- coverage
def summarise_truth(truth: np.ndarray, post: Posterior, draws: int, rng: np.random.Generator) -> dict[str, float]:
    """One truth's interval ends and SBC rank per parameter.

    The rank is the number of ``draws`` posterior draws below the truth (0 … ``draws``), ties broken at
    random (Talts et al. 2018): uniform over truths when the posterior is calibrated.

    Returns
    -------
    dict
        ``NAME.truth``, ``NAME.q05``, ``NAME.q25``, ``NAME.q50``, ``NAME.q75``, ``NAME.q95``, ``NAME.rank``.
    """
    qs = post.quantiles([0.05, 0.25, 0.5, 0.75, 0.95])
    d = post.draws(draws, rng)
    out: dict[str, float] = {}
    for j, n in enumerate(post.names):
        below = int((d[:, j] < truth[j]).sum())
        ties = int((d[:, j] == truth[j]).sum())
        rank = below + (int(rng.integers(0, ties + 1)) if ties else 0)
        out.update({f"{n}.truth": float(truth[j]), f"{n}.q05": qs[0, j], f"{n}.q25": qs[1, j],
                    f"{n}.q50": qs[2, j], f"{n}.q75": qs[3, j], f"{n}.q95": qs[4, j], f"{n}.rank": float(rank)})
    return out


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) binomial interval for ``k`` successes in ``n`` trials."""
    from scipy.stats import beta
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def coverage_table(per_truth: pd.DataFrame, priors: Sequence[Prior], draws: int) -> pd.DataFrame:
    """Per parameter: coverage of the 50% and 90% intervals with 95% Clopper–Pearson intervals, rank
    uniformity (chi-square p-value), mean 90% width / prior width, and the label.

    Parameters
    ----------
    per_truth : DataFrame
        One row per truth, the columns of :func:`summarise_truth`.
    priors : sequence of Prior
        The calibrated parameters' ranges.
    draws : int
        Posterior draws per rank (ranks lie in 0 … draws).
    """
    from scipy.stats import chisquare
    n = len(per_truth)
    rows = []
    for p in priors:
        t = per_truth[f"{p.name}.truth"]
        row: dict[str, Any] = {"parameter": p.name, "truths": n}
        for lev, lo, hi in ((0.5, "q25", "q75"), (0.9, "q05", "q95")):
            k = int(((per_truth[f"{p.name}.{lo}"] <= t) & (t <= per_truth[f"{p.name}.{hi}"])).sum())
            cl, ch = clopper_pearson(k, n)
            tag = f"{int(lev * 100)}"
            row.update({f"coverage{tag}": k / n, f"coverage{tag}_low": cl, f"coverage{tag}_high": ch})
        width = (per_truth[f"{p.name}.q95"] - per_truth[f"{p.name}.q05"]).mean() / (p.high - p.low)
        row["width90_rel"] = float(width)
        counts = binned_ranks(per_truth[f"{p.name}.rank"].to_numpy(), draws, rank_bins(draws, n))
        row["rank_chi2_p"] = float(chisquare(counts).pvalue)
        row["label"] = label(row["coverage90_low"], row["coverage90_high"], width)
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------- truths and methods
@dataclass(frozen=True)
class Truth:
    """One truth to calibrate: its statistics, its parameters, and the reference row to leave out (if any)."""

    observed: np.ndarray
    theta: np.ndarray
    leave_out: int | None = None
    tags: tuple[tuple[str, Any], ...] = ()


def posterior_rows(theta: np.ndarray, stats: np.ndarray, truths: Sequence[Truth], lows: np.ndarray,
                   highs: np.ndarray, accept: float, names: Sequence[str], scales: np.ndarray, draws: int,
                   rng: np.random.Generator, adjust: bool | str = True) -> pd.DataFrame:
    """Every truth's posterior from the reference table, summarised (one row per truth).

    A truth that is a member of the table (``leave_out``) is calibrated against the table without its own
    row: a prior draw simulated with its own seed, like the independent truths, so it adds power to the
    coverage check at no simulation cost (the leave-one-out check of ABC random forests).

    Returns
    -------
    DataFrame
        The tags, ``adjusted`` and the columns of :func:`summarise_truth`.
    """
    rows = []
    for t in truths:
        if t.leave_out is None:
            th, st = theta, stats
        else:
            keep = np.ones(len(theta), bool)
            keep[t.leave_out] = False
            th, st = theta[keep], stats[keep]
        post = abc_posterior(th, st, t.observed, lows, highs, accept, names, scales, adjust=adjust)
        rows.append({**dict(t.tags), "adjusted": post.adjusted, **summarise_truth(t.theta, post, draws, rng)})
    return pd.DataFrame(rows)


def method_check(theta: np.ndarray, stats: np.ndarray, truths: Sequence[Truth], priors: Sequence[Prior],
                 scales: np.ndarray, draws: int, seed: int, methods: Sequence[tuple[bool, float]]) -> pd.DataFrame:
    """Coverage of other posterior methods on the same table and truths: which one is honest here?

    The regression adjustment narrows the posterior but, fitted on few accepted simulations per
    coefficient, overfits and makes it overconfident; plain rejection ABC is wider. Scoring each on the
    study's own truths shows the trade-off on this model instead of assuming it.

    Parameters
    ----------
    methods : sequence of (adjust, accept)
        Regression adjustment on or off, and the accepted fraction of the table; the first is the study's
        own method (its adjustment under the study's rule, the others' down to 2 per coefficient).

    Returns
    -------
    DataFrame
        One row per method: ``method``, ``accept``, ``accepted``, ``adjusted`` (whether the adjustment was
        applied: here down to 2 x (statistics + 1) accepted simulations, below the study's own rule
        :func:`min_accepted_for_adjustment`, to show what it does there), ``honest`` (parameters whose 90%
        coverage's binomial interval contains 0.9), ``parameters``, ``coverage90_min``, ``coverage90_max``,
        ``width90_rel_mean`` and ``labels`` (counts of each label).
    """
    names = [p.name for p in priors]
    lows, highs = np.array([p.low for p in priors]), np.array([p.high for p in priors])
    out = []
    for i, (adjust, accept) in enumerate(methods):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 3]))
        mode = (adjust if i == 0 else "always") if adjust else False      # the first: the study's own rule
        rows = posterior_rows(theta, stats, truths, lows, highs, accept, names, scales, draws, rng, mode)
        cov = coverage_table(rows, priors, draws)
        honest = (cov["coverage90_low"] <= 0.9) & (0.9 <= cov["coverage90_high"])
        counts = cov["label"].value_counts()
        out.append({"method": "regression-adjusted" if adjust else "rejection", "accept": accept,
                    "accepted": int(min(len(theta), max(2, math.ceil(accept * len(theta))))),
                    "adjusted": bool(rows["adjusted"].all()), "honest": int(honest.sum()), "parameters": len(cov),
                    "coverage90_min": float(cov["coverage90"].min()), "coverage90_max": float(cov["coverage90"].max()),
                    "width90_rel_mean": float(cov["width90_rel"].mean()),
                    "labels": "; ".join(f"{counts[k]} {k}" for k in counts.index)})
    return pd.DataFrame(out)
