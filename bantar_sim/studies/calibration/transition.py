"""The ABC-SMC proposal: pyabc's Gaussian kernel mixture, with mixture weights kept from collapsing.

pyabc proposes each generation's particles from a Gaussian kernel mixture over the previous generation
(:class:`pyabc.MultivariateNormalTransition`): the importance weights are the mixture weights and their
weighted covariance, times Silverman's factor, is the kernel. When a few particles carry most of the weight,
the covariance collapses onto them, new particles that land in the kernel's light tails get importance
weights (prior / proposal density) orders of magnitude above the rest, and the next generation is more
degenerate still. The model 0.2.2 calibration shows it: effective sample size 200, 35, 26, 36, 21, 9, 10, 26,
2.4, 2.2, 3.2, 8.8, 3.3 and 1.5 of 200 particles over its 14 generations, one particle carrying 80% of the
final weight, so its "posterior" intervals were those of one or two particles.

:class:`DefensiveTransition` tempers the mixture weights (``w ** a``, the largest ``a`` in [0, 1] whose
effective sample size is at least :data:`MIN_PROPOSAL_ESS_SHARE` of the population) before fitting the
kernel. It changes the *proposal* only, as a defensive mixture does (Hesterberg 1995, Technometrics 37(2)):
pyabc computes every new particle's importance weight from this same tempered mixture's density, so the
sampler still targets the ABC posterior; what changes is that the proposal keeps covering it.
"""
from __future__ import annotations

import pyabc

from bantar_sim.studies.calibration.weights import MIN_PROPOSAL_ESS_SHARE, tempered_weights


class DefensiveTransition(pyabc.MultivariateNormalTransition):
    """pyabc's multivariate normal kernel mixture, fitted on tempered weights (module docstring).

    Parameters
    ----------
    min_ess_share : float
        The share of the population the mixture weights keep as effective sample size (0 < share <= 1).
    """

    def __init__(self, min_ess_share: float = MIN_PROPOSAL_ESS_SHARE, **kwargs):
        super().__init__(**kwargs)
        if not 0 < min_ess_share <= 1:
            raise ValueError(f"min_ess_share = {min_ess_share!r}: allowed 0 < share <= 1")
        self.min_ess_share = min_ess_share

    def fit(self, X, w):
        """Fit the kernel mixture to the population ``X`` on the tempered weights ``w ** a``."""
        tempered = tempered_weights(w, self.min_ess_share * len(w))
        # the parent's fit (wrapped by pyabc's metaclass) stores X and the tempered weights as self.X, self.w:
        # rvs and pdf then sample from and evaluate the same tempered mixture
        pyabc.MultivariateNormalTransition.fit(self, X, tempered)
