"""The October assessment of `BantarModel` (docs/ODD.md, 7.5): post-award checks, awards, Kencana, rewards, adoption.

Practising is people taking part (model 0.2, issue 14): an RT practises while its households' participation
over the last 12 months meets `practice_standard`; a post-award check that finds it below revokes the label,
whatever its scores or facilities.

A mixin rather than free functions: the code reads and writes the model's state as `self.…` exactly as the
rest of the model does, and lives in its own module only to keep `model.py` readable (issue 12: modules
under ~600 lines). `BantarModel` is the only class that uses it.
"""
from __future__ import annotations

import numpy as np

from bantar_sim.model import agents as A
from bantar_sim.model.agents import labelled
from bantar_sim.model.data import observed_award_budget
from bantar_sim.model.params import START_YEAR


class AnnualAssessment:
    """The yearly assessment step, mixed into `bantar_sim.model.model.BantarModel`.

    It expects the model's state (`p`, `city`, `rt_state`, `households`, `rec`, `rng`, `year`) and its
    methods `mean_score`, `practising_mask`, `policy_active`, `reward_fund`, `mobilisation`, the incentives
    (`bantar_sim.model.incentives`) and `_set_adopt_hazard`.
    """

    def _stochastic_round(self, x, rng=None):
        """Round to an integer, up with probability equal to the fraction (unbiased); draws from `rng`
        (the model's main stream unless a lever's own stream is given).
        """
        x = np.asarray(x, float)
        return np.floor(x + (self.rng if rng is None else rng).random(x.shape)).astype(np.int64)

    def _assessment(self):
        p, c, rs, rng = self.p, self.city, self.rt_state, self.rng
        yi = self.year - START_YEAR
        score = self.mean_score()
        practising = self.practising_mask()
        on = self.policy_active()
        monitoring = p.monitoring if on else 0.0
        staged = p.reward_mode == "staged" and on

        # 1. Post-award checks: the label is lost when the households no longer take part; with a claw-back,
        #    part of the reward (invested in facilities) is reclaimed.
        holding = labelled(rs.status)
        checked = holding & (rng.random(c.n_rts) < self.detection_probability())
        lapse = checked & ~practising
        rs.status[lapse] = A.LAPSED
        if on and p.clawback_share > 0:
            rs.facilities[lapse] *= 1 - p.clawback_share
        self.rec["checked"][yi], self.rec["lapsed"][yi] = checked, lapse
        paid = np.zeros(c.n_rts)
        # Staged rewards: a tranche is paid only while the RT is still practising; otherwise forfeited.
        due = rs.tranches_left > 0
        pay_tranche = due & practising & labelled(rs.status)
        rs.tranches_left[due & ~pay_tranche] = 0
        rs.tranches_left[pay_tranche] -= 1
        paid[pay_tranche] += self.reward_fund() / p.reward_stages

        # 2. Assessment of this year's proposals.
        proposals = np.flatnonzero(self._proposed_this_year)
        perceived = score + p.assessment_noise * rng.standard_normal(c.n_rts)
        winners = self._select_winners(proposals, perceived)
        won = np.zeros(c.n_rts, bool)
        won[winners] = True
        rs.losses[self._proposed_this_year & ~won] += 1
        rs.status[won] = A.BANTAR
        rs.award_year[won] = self.year
        fund = self.reward_fund()
        boost = p.award_boost * np.sqrt(fund / p.reward_reference)
        rs.motivation[won] += boost
        if staged:
            paid[won] += fund / p.reward_stages
            rs.tranches_left[won] = p.reward_stages - 1
        else:
            paid[won] += fund
        self.rec["won"][yi] = won

        # 3. Kencana tier (needs a Restorative Justice house).
        rj_cost = np.zeros(c.n_rts)
        kencana_won = np.zeros(c.n_rts, bool)
        if p.kencana and on:
            # An RT builds the house when its head mobilises for it, it can pay, and Kencana is within reach:
            # with no Kencana awards nobody builds (the house is Kencana's entry ticket).
            _, chance_with_house = self.kencana_chances()
            reach = 1 - (1 - chance_with_house) ** p.kencana_horizon_years
            aspiring = (rs.status == A.BANTAR) & practising & ~rs.rj_house & ~won
            draw = self.policy_rng.random(c.n_rts)
            build = aspiring & (draw < self.mobilisation() * self.rj_affordability() * reach)
            rs.rj_house[build] = True
            rj_cost[build] = p.rj_house_cost
            cand = np.flatnonzero((rs.status == A.BANTAR) & rs.rj_house & practising
                                  & (self.year - rs.award_year >= p.kencana_min_years)
                                  & (perceived >= p.kencana_threshold))
            k = int(self._stochastic_round(p.kencana_per_year * p.scale, self.policy_rng))
            chosen = cand[np.argsort(-perceived[cand], kind="stable")[:k]]
            kencana_won[chosen] = True
            rs.status[chosen] = A.KENCANA
            rs.kencana_year[chosen] = self.year
            rs.motivation[chosen] += self.money_value(p.kencana_reward)
            paid[chosen] += p.kencana_reward
        self.rec["kencana_won"][yi], self.rec["rj_cost"][yi] = kencana_won, rj_cost

        # 4. Reward funds: invested in facilities, or misused (monitoring deters; complaints recover).
        got = paid > 0
        misuse_p = p.misuse_prob * (1 - monitoring * p.monitoring_deterrence)
        misused = got & (rng.random(c.n_rts) < misuse_p)
        invested = got & ~misused
        hh = self.households
        complaints = p.complaint_channel and self.policy_active()
        loss = p.misuse_trust_loss * (p.complaint_trust_loss_factor if complaints else 1.0)
        before = hh.trust.copy()
        hit = misused[hh.rt]
        hh.trust[hit] = np.maximum(hh.trust[hit] - loss, 0)
        gain = invested[hh.rt]
        hh.trust[gain] += p.trust_gain * (1 - hh.trust[gain])
        self._static += (p.trust_weight * (hh.trust - before)).astype(np.float32)
        rs.facilities[invested] += paid[invested]
        if complaints:   # a share recovered and invested after a complaint
            rs.facilities[misused] += p.complaint_recovery * paid[misused]
        self.rec["reward_paid"][yi], self.rec["reward_misused"][yi] = paid, np.where(misused, paid, 0.0)

        # 5. Adoption (the paper's direction): RTs not yet Bantar adopt a practising Bantar RT of their
        #    sub-district for a year. An adopted RT is recognised when an RT that adopted it wins.
        if p.adoption and on:
            pupil_won = won & (rs.adopts >= 0)
            np.add.at(rs.motivation, rs.adopts[pupil_won], p.adoption_recognition)
        self.rec["adopted"][yi] = rs.adopts >= 0
        rs.adopts[:] = -1
        rs.adopted[:] = False
        rs.example_participation[:] = 0.0
        if p.adoption and on:
            self._assign_adoption(practising)

        sc = rs.scores
        rec = self.rec
        rec["score"][yi], rec["clean"][yi], rec["safe"][yi], rec["smart"][yi] = score, sc[0], sc[1], sc[2]
        rec["practising"][yi] = practising
        self._set_adopt_hazard(self._adoption_awareness())
        self._update_incentives()

    def _award_budget(self, z: float) -> float:
        """The city's award budget b_y of the current year, relative to its mean (docs/ODD.md, 7.5).

        2014 (the pilot) is 1. Years up to `award_budget_observed_until` read Table 3: the year's published city
        winners over their mean. Later years draw b_y = exp(σ z − σ²/2), lognormal with mean 1 and coefficient
        of variation `award_budget_cv`, from the standard normal `z` (drawn every year from the main stream,
        so reading or drawing the budget shifts no other draw). Forecasts after 2020 thus carry the budget
        variation the published years show.
        """
        p = self.p
        if self.year == START_YEAR:
            return 1.0
        observed = observed_award_budget(p.award_budget_observed_until)
        if self.year in observed:
            return observed[self.year]
        sigma = np.sqrt(np.log1p(p.award_budget_cv ** 2))
        return float(np.exp(sigma * z - sigma ** 2 / 2))

    def forwarding_slots(self) -> np.ndarray:
        """Proposals each sub-district can forward to the city this year (before rounding).

        Standard mode: (`subdistrict_capacity` (× scale) + `subdistrict_capacity_per_rt` × its RTs) ×
        exp(`screening_sd` × u_s), whatever the budget (the sub-district's screening is staff time, not city
        money; u_s is its screening effort, drawn per run or named). Quota mode: its share of the city's
        awards, `awards_per_year × scale × b_y` split by `quota_equal_share` (docs/ODD.md, 7.5).
        """
        p, c = self.p, self.city
        if p.assessment_mode == "standard":
            return ((p.subdistrict_capacity * p.scale + p.subdistrict_capacity_per_rt * c.rt_counts)
                    * np.exp(c.subdistrict_screening))
        share = p.quota_equal_share / len(c.rt_counts) + (1 - p.quota_equal_share) * c.rt_counts / c.rt_counts.sum()
        return self.city_awards() * share

    def city_awards(self) -> float:
        """Awards the city can fund this year (before rounding): `awards_per_year × scale × b_y`.

        The reward fund is city money: the budget limits how many RTs win, not how many the sub-districts
        forward (docs/ODD.md, 7.5).
        """
        return self.p.awards_per_year * self.p.scale * self.award_budget

    def _select_winners(self, proposals: np.ndarray, perceived: np.ndarray) -> np.ndarray:
        """Pick the year's winners among `proposals`; marks the forwarded proposals in `rec["forwarded"]`.

        2014 pilot: the best `pilot_winners` city-wide. Later years: each sub-district forwards its best
        proposals up to its slots. Standard mode: the city funds the best forwarded proposals that meet
        `assessment_threshold`, up to `city_awards()`. Quota mode: the forwarded proposals win.
        """
        p, c = self.p, self.city
        if proposals.size == 0:
            return proposals
        if self.year == START_YEAR:   # the 2014 pilot: the best few proposals city-wide
            k = int(self._stochastic_round(p.pilot_winners * p.scale))
            chosen = proposals[np.argsort(-perceived[proposals], kind="stable")[:k]]
            self.rec["forwarded"][0][chosen] = True
            return chosen
        sd = c.rt_subdistrict[proposals]
        cap = self._stochastic_round(self.forwarding_slots())
        out = []
        forwarded = self.rec["forwarded"][self.year - START_YEAR]
        for s in np.unique(sd):
            cand = proposals[sd == s]
            ranked = cand[np.argsort(-perceived[cand], kind="stable")][: cap[s]]
            forwarded[ranked] = True     # the sub-district forwards its best proposals, up to its slots, to the city
            out.append(ranked)
        sent = np.concatenate(out) if out else proposals[:0]
        if p.assessment_mode != "standard":
            return sent
        qualified = sent[perceived[sent] >= p.assessment_threshold]
        k = int(self._stochastic_round(self.city_awards()))
        return qualified[np.argsort(-perceived[qualified], kind="stable")[:k]]

    def _assign_adoption(self, practising):
        """RTs not yet Bantar (never won, or lapsed) adopt a practising Bantar RT of their sub-district.

        Each practising Bantar RT can be adopted by up to `adoption_per_bantar` RTs; who adopts is drawn from
        the policy stream. The adopting RT learns in proportion to its example's participation.
        """
        p, c, rs, rng = self.p, self.city, self.rt_state, self.policy_rng
        examples_all = np.flatnonzero(labelled(rs.status) & practising)
        learners_all = np.flatnonzero(np.isin(rs.status, (A.NEVER, A.PROPOSED, A.LAPSED)))
        recent = self.recent_participation()
        for s in range(len(c.rt_counts)):
            examples = examples_all[c.rt_subdistrict[examples_all] == s]
            learners = learners_all[c.rt_subdistrict[learners_all] == s]
            if examples.size == 0 or learners.size == 0:
                continue
            learners = rng.permutation(learners)[: examples.size * p.adoption_per_bantar]
            rs.adopts[learners] = np.repeat(examples, p.adoption_per_bantar)[: learners.size]
            rs.adopted[rs.adopts[learners]] = True
            rs.example_participation[learners] = recent[rs.adopts[learners]]
