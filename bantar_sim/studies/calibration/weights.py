"""Importance weights of an ABC-SMC population: effective sample size and tempering (no pyabc import).

Used by the proposal (:mod:`bantar_sim.studies.calibration.transition`), the calibration's provenance (the
effective sample size per generation) and calibration/README.md's weights passage.
"""
from __future__ import annotations

import numpy as np

#: The proposal's mixture weights keep at least this share of the population as effective sample size.
MIN_PROPOSAL_ESS_SHARE = 0.5


def effective_sample_size(w) -> float:
    """Kish's effective sample size, ``(sum w)^2 / sum w^2`` (0 for an all-zero vector)."""
    w = np.asarray(w, float)
    s = w.sum()
    return float(s * s / (w * w).sum()) if s > 0 else 0.0


def tempered_weights(w, min_ess: float) -> np.ndarray:
    """``w ** a`` normalised, with the largest ``a`` in [0, 1] whose effective sample size is >= ``min_ess``.

    Parameters
    ----------
    w : array_like
        Non-negative weights with a positive sum.
    min_ess : float
        The effective sample size to keep (at most ``len(w)``: ``a = 0`` gives equal weights).

    Returns
    -------
    ndarray
        The normalised tempered weights; ``w`` itself (normalised) when its own ESS is already enough.
    """
    w = np.asarray(w, float)
    if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
        raise ValueError("tempered_weights: w must be a non-empty vector of finite weights >= 0 with a positive sum")
    w = w / w.sum()
    if effective_sample_size(w) >= min_ess:
        return w
    pos = w > 0
    logw = np.where(pos, np.log(np.where(pos, w, 1.0)), -np.inf)
    top = logw[pos].max()

    def at(a: float) -> np.ndarray:
        # zero weights stay zero for a > 0 (a particle with no weight is never proposed from)
        out = np.where(pos, np.exp(a * (np.where(pos, logw, top) - top)), 0.0) if a > 0 else np.ones_like(w)
        return out / out.sum()

    lo, hi = 0.0, 1.0                     # ESS(at(0)) = n >= min_ess > ESS(at(1))
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if effective_sample_size(at(mid)) >= min_ess:
            lo = mid
        else:
            hi = mid
    return at(lo)
