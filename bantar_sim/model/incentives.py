"""What an RT stands to gain or lose: the channels through which the reward levers act (docs/ODD.md, 7.2).

Model 0.2 (issue 14) has no motivation floors. A lever changes a quantity the paper names — the chance and
value of a reward, what is lost when a check finds that an RT has stopped, the money at stake in staged
tranches — and the RT's *incentive* is the expected value of those quantities. It enters the RT term of the
household rule beside the waning campaign/award motivation, so participation follows from the household rule.

- Expected cost of stopping: P(detect) × (label_standing + value of the claw-back), for RTs holding the label;
  P(detect) = post_award_check_prob + (1 − post_award_check_prob) × monitoring.
- Staged rewards: the value of the tranches still due (each is paid only while the RT practises).
- Kencana prospect: P(reach within kencana_horizon_years) × (value of kencana_reward + kencana_prestige) for
  Bantar RTs; the yearly chance is the RT's chance of clearing the Kencana standard × its ability to afford the
  Restorative Justice house × the tier's slots per competing RT. With no slots (`kencana_per_year = 0`) it is 0.

Money is valued as an award is: award_boost × sqrt(amount / reward_reference) (diminishing returns).
A mixin like :mod:`bantar_sim.model.assessment`: `BantarModel` is the only class that uses it.
"""
from __future__ import annotations

import numpy as np

from bantar_sim.model import agents as A
from bantar_sim.model.agents import labelled


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class Incentives:
    """RTs' stakes and prospects, mixed into `bantar_sim.model.model.BantarModel`.

    It expects the model's `p`, `rt_state`, `scale`-aware parameters and the methods `policy_active`,
    `reward_fund`, `mean_score` and `recent_participation`.
    """

    def money_value(self, amount):
        """Motivation worth of an amount of money (million IDR): award_boost × sqrt(amount / reward_reference).

        Why a square root: the award boost was defined this way since model 0.1 (a reward twice as large
        does not motivate twice as much); every money channel uses the same valuation so reward design
        acts on one scale.
        """
        p = self.p
        return p.award_boost * np.sqrt(np.maximum(amount, 0.0) / p.reward_reference)

    def detection_probability(self) -> float:
        """Yearly chance that a labelled RT that has stopped practising is found out (and loses the label)."""
        p = self.p
        m = p.monitoring if self.policy_active() else 0.0
        return p.post_award_check_prob + (1 - p.post_award_check_prob) * m

    def rj_affordability(self) -> np.ndarray:
        """Chance each RT can pay for a Restorative Justice house: (reward fund + what its households raise) / cost.

        What the households raise is rj_community_funds × the RT's participation over the last 12 months.
        """
        p = self.p
        n = self.rt_state.status.size
        if p.rj_house_cost <= 0:
            return np.ones(n)
        funds = self.reward_fund() + p.rj_community_funds * self.recent_participation()
        return np.minimum(1.0, funds / p.rj_house_cost)

    def kencana_chances(self) -> tuple[np.ndarray, np.ndarray]:
        """Each Bantar RT's yearly chance of reaching Kencana, as it stands and if it had the RJ house.

        Returns
        -------
        tuple of numpy.ndarray
            (chance now, chance with the house); zeros when the tier is off, before policy_start_year or
            with no awards a year.
        """
        p, rs = self.p, self.rt_state
        n = rs.status.size
        if not (p.kencana and self.policy_active()) or p.kencana_per_year <= 0:
            return np.zeros(n), np.zeros(n)
        bantar = (rs.status == A.BANTAR).astype(float)
        above = bantar * _sigmoid((self.mean_score() - p.kencana_threshold) / p.kencana_gap_scale)
        afford = np.where(rs.rj_house, 1.0, self.rj_affordability())
        competing = above * afford
        slots = p.kencana_per_year * p.scale
        per_rt = min(1.0, slots / max(float(competing.sum()), 1e-9))
        return competing * per_rt, above * per_rt

    def kencana_prospect(self) -> np.ndarray:
        """Expected value of the Kencana tier for each RT: P(reach within the horizon) × (reward value + prestige)."""
        p = self.p
        chance, _ = self.kencana_chances()
        reach = 1 - (1 - chance) ** p.kencana_horizon_years
        return reach * (self.money_value(p.kencana_reward) + p.kencana_prestige)

    def win_value(self) -> float:
        """What winning the label is worth to an RT not yet Bantar: the award and the Kencana prospect it opens.

        The prospect is the mean over today's Bantar RTs (a new winner would join them). Enters the decision to
        propose relative to its status-quo value (the default reward, no Kencana), the paper's pull of Kencana on
        "RTs who have not yet joined".
        """
        v = float(self.money_value(self.reward_fund()))
        bantar = self.rt_state.status == A.BANTAR
        if bantar.any():
            v += float(self._kencana_prospect[bantar].mean())
        return v

    def _update_incentives(self):
        """Recompute each RT's incentive (yearly, and after each assessment: statuses change only then)."""
        p, rs = self.p, self.rt_state
        holding = labelled(rs.status)
        fund = self.reward_fund()
        clawback = p.clawback_share if self.policy_active() else 0.0
        stake = p.label_standing + self.money_value(clawback * fund)
        deterrence = self.detection_probability() * stake * holding
        tranches = self.money_value(rs.tranches_left * fund / p.reward_stages) * holding
        self._kencana_prospect = self.kencana_prospect()
        rs.incentive = deterrence + tranches + self._kencana_prospect
