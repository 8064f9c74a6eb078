"""BantarModel: Jambi's RTs, households and leaders; Bantar status won, kept and lost.

One tick is one month (docs/ODD.md, "Process overview"): households decide each month whether to take
part in the RT's gotong royong and programme activities; once a year RTs propose (April), are assessed
(October) and winners get the label and a reward fund. Household state is a struct of arrays
(`model.households`) updated for the whole city at once; RTs and leaders are Mesa agents that view
their arrays (`model.rts`, `model.leaders`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import mesa
import numpy as np
import scipy.sparse as sp

from bantar_sim.model import agents as A
from bantar_sim.model.agents import labelled
from bantar_sim.model.assessment import AnnualAssessment
from bantar_sim.model.city import ADULT, ELDER, LEADER_KINDS, TRADITIONAL, YOUTH, YOUTH_LEADER, build_city, counts_ok
from bantar_sim.model.incentives import Incentives
from bantar_sim.model.params import SPECS, START_YEAR, make_params
from bantar_sim.model.rules import Households, household_rule, uniform_pair
from bantar_sim.model.tables import model_tables

# Re-exported: the tests, the app and the studies import these from here.
__all__ = ["BantarModel", "Households", "RTState", "household_rule", "uniform_pair", "counts_ok", "START_YEAR",
           "PROPOSAL_MONTH", "ASSESSMENT_MONTH", "DIMENSIONS"]

PROPOSAL_MONTH = 4      # RTs register proposals in April
ASSESSMENT_MONTH = 10   # assessment, post-award checks and awards in October
N_DIMS_BASE, N_DIMS_EXTRA = 3, 6
DIMENSIONS = ("clean", "safe", "smart", "economy", "governance", "mobility")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class RTState:
    """Struct of arrays, one entry per RT (and per RT head), updated for every RT at once.

    The fields are documented in docs/ODD.md, section 2; `model.rts` are Mesa agents viewing them.
    """

    status: np.ndarray
    scores: np.ndarray          # (6, n_rts): clean, safe, smart, economy, governance, mobility
    motivation: np.ndarray      # campaign/award motivation, waning after the assessment
    incentive: np.ndarray       # standing stakes: expected cost of stopping, staged tranches, Kencana prospect
    participation: np.ndarray   # share of households taking part this month
    youth_participation: np.ndarray
    facilities: np.ndarray      # million IDR invested (depreciating)
    rj_house: np.ndarray
    award_year: np.ndarray      # year of the (latest) Bantar award, -1 if none
    kencana_year: np.ndarray
    tranches_left: np.ndarray
    adopts: np.ndarray          # index of the Bantar RT this RT adopts (learns from) this year, -1 if none
    adopted: np.ndarray         # a Bantar RT adopted by at least one RT this year
    example_participation: np.ndarray   # participation of the adopted RT, for the RTs that adopt it
    ever_proposed: np.ndarray
    losses: np.ndarray          # proposals the RT has lost
    head_quality: np.ndarray
    head_initiative: np.ndarray  # the head's own drive to register the RT (standard normal, drawn per head)
    head_effort: np.ndarray
    head_term_left: np.ndarray


class BantarModel(AnnualAssessment, Incentives, mesa.Model):
    """Citizen participation in Jambi's Kampung Bantar programme, 2014 onwards.

    `BantarModel()` is the status quo on the full city; `BantarModel(rng=7, scale=0.1, kencana=True)`
    takes any parameter of `bantar_sim.model.params.SPECS` as a keyword (validated before anything is built,
    so a typo costs no simulation time). The October assessment lives in `bantar_sim.model.assessment`.

    Parameters
    ----------
    params : BantarParams, optional
        A validated parameter set to start from (default: the SPECS defaults); `overrides` apply on top.
    rng : int, numpy.random.SeedSequence or numpy.random.Generator, optional
        The run's seed: it fixes the city, every draw and hence every output.
    seed : optional
        Alias of `rng` (Mesa's older name), used when `rng` is not given.
    scenario : optional
        Accepted and ignored: Mesa's SolaraViz Reset passes its (empty) Scenario object.
    **overrides
        Any parameter of SPECS by name.

    Raises
    ------
    bantar_sim.model.params.ParameterError
        An unknown parameter, a value outside its range, or a scale that leaves a sub-district without RTs.
    """

    def __init__(self, params=None, *, rng=None, seed=None, scenario=None, **overrides):
        # `scenario`: Mesa's SolaraViz Reset passes its (empty) Scenario object; this model's settings are its
        # parameters, so it is accepted and ignored.
        if seed is not None and rng is None:
            rng = seed
        p = make_params(overrides, base=params)
        counts_ok(p)
        super().__init__(rng=rng)
        self.p = p
        self.seed = rng
        # The monthly household draws (two float32 uniforms per household) have their own stream: SFC64
        # makes them about twice as fast as the model's PCG64; seeded from the model's stream, so the
        # run's seed still fixes everything.
        self.household_rng = np.random.Generator(np.random.SFC64(int(self.rng.integers(2**63))))
        # Draws that only a policy lever makes (who adopts whom, RJ houses, Kencana's rounding) have their
        # own stream too: a lever at strength zero then leaves every other draw of the run unchanged, so its
        # paired effect is exactly zero, not zero up to noise.
        self.policy_rng = np.random.Generator(np.random.PCG64(int(self.rng.integers(2**63))))
        self.award_budget = 1.0
        self._kencana_prospect = np.zeros(0)
        self.city = build_city(p, self.rng)
        self.tick = 0
        self.year, self.month = START_YEAR, 1
        self.n_years = p.end_year - START_YEAR + 1
        self._proposed_this_year = np.zeros(self.city.n_rts, bool)
        self._init_households()
        self._init_rts()
        self._init_leaders()
        self._init_records()
        # Monthly city series (what the app charts); computed once per tick in _city_stats.
        self.participation = self.awareness = 0.0
        self.bantar_label = self.active_bantar = self.kencana = self.lapsed = 0
        self.datacollector = mesa.DataCollector(model_reporters={
            k: k for k in ("year", "month", "participation", "bantar_label", "active_bantar", "kencana",
                           "lapsed", "awareness")})
        self.running = True

    # ----------------------------------------------------------------------------- initialisation
    def _init_households(self):
        p, c, rng = self.p, self.city, self.rng
        n = c.n_households
        sd_sc = c.subdistrict_social_capital[c.rt_subdistrict[c.hh_rt]]
        u = rng.random(n)
        age = (u >= p.youth_share).astype(np.int8) + (u >= 1 - p.elder_share)   # YOUTH / ADULT / ELDER
        age[c.leader_node[c.leader_kind == YOUTH_LEADER]] = YOUTH
        # Row-normalised adjacency: (share_matrix @ x)_i is the share of i's ties taking part.
        deg = np.diff(c.adjacency.indptr)
        inv = np.where(deg > 0, 1.0 / np.maximum(deg, 1), 0.0).astype(np.float32)
        # Shares the adjacency's index arrays (no copy); only the weights differ.
        self._share_matrix = sp.csr_matrix((np.repeat(inv, deg), c.adjacency.indices, c.adjacency.indptr),
                                           shape=c.adjacency.shape)
        self.households = Households(
            rt=c.hh_rt,
            x=(rng.random(n) < p.initial_participation).astype(np.float32),
            aware=rng.random(n) < p.initial_awareness,
            social_capital=np.clip(p.social_capital_mean + p.social_capital_sd * rng.standard_normal(n)
                                   + p.social_capital_subdistrict_weight * sd_sc, 0, 1),
            cost=np.clip(p.cost_mean + p.cost_sd * rng.standard_normal(n), 0, 1),
            trust=np.clip(p.initial_trust + p.trust_sd * rng.standard_normal(n), 0, 1),
            age=age,
        )
        # Poverty line: the (1 - poverty_share) quantile of cost; with no poor, a line above any cost (<= 1).
        cost = self.households.cost
        self.poverty_line = float(np.quantile(cost, 1 - p.poverty_share)) if p.poverty_share > 0 else 2.0
        self._cost_effective = self.households.cost

    def _init_rts(self):
        p, c, rng = self.p, self.city, self.rng
        n = c.n_rts
        q = np.clip(p.head_quality_mean + p.head_quality_sd * rng.standard_normal(n)
                    + p.head_quality_subdistrict_weight * c.subdistrict_leadership[c.rt_subdistrict], 0, 1)
        hh = self.households
        part0 = np.add.reduceat(hh.x, c.rt_start) / c.rt_size
        scores = np.zeros((N_DIMS_EXTRA, n))
        # Scores start at the level the initial participation would sustain (score_gain, score_decay).
        level = p.score_gain * part0 / np.maximum(p.score_gain * part0 + p.score_decay, 1e-9)
        scores[:] = level
        self.rt_state = RTState(
            status=np.zeros(n, np.int8), scores=scores, motivation=np.zeros(n), participation=part0,
            incentive=np.zeros(n),
            youth_participation=np.zeros(n), facilities=np.zeros(n), rj_house=np.zeros(n, bool),
            award_year=np.full(n, -1), kencana_year=np.full(n, -1), tranches_left=np.zeros(n, np.int64),
            adopts=np.full(n, -1), adopted=np.zeros(n, bool), example_participation=np.zeros(n),
            ever_proposed=np.zeros(n, bool), losses=np.zeros(n, np.int64),
            head_quality=q, head_initiative=rng.standard_normal(n), head_effort=np.full(n, p.head_effort),
            head_term_left=rng.integers(1, p.head_term_years + 1, n),
        )

    # Agents are views over the arrays, created on first use: a batch run that only needs the tables
    # does not pay for ~8,000 Python objects; the app, the tests and a user inspecting the model do.
    def _ensure_agents(self):
        if self._agent_views is not None:
            return
        c = self.city
        rts = [A.RT(self, i) for i in range(c.n_rts)]
        heads = [A.Leader(self, "rt_head", r, int(c.head_node[r]), r) for r in range(c.n_rts)]
        informal = [A.Leader(self, LEADER_KINDS[k], int(r), int(v), i)
                    for i, (k, r, v) in enumerate(zip(c.leader_kind, c.leader_rt, c.leader_node))]
        self._agent_views = (rts, heads, informal)

    @property
    def rts(self) -> list:
        """The RTs as Mesa agents (`bantar_sim.model.agents.RT`), views of `rt_state`, built on first use."""
        self._ensure_agents()
        return self._agent_views[0]

    @property
    def rt_heads(self) -> list:
        """The RT heads as Mesa agents (`Leader`, kind "rt_head"), one per RT, in RT order."""
        self._ensure_agents()
        return self._agent_views[1]

    @property
    def informal_leaders(self) -> list:
        """The religious, traditional and youth leaders as Mesa agents (`Leader`)."""
        self._ensure_agents()
        return self._agent_views[2]

    @property
    def leaders(self) -> list:
        """RT heads followed by informal leaders."""
        return self.rt_heads + self.informal_leaders

    @property
    def agents(self):
        """Mesa's AgentSet of every agent; builds the agent views first (they are created lazily)."""
        self._ensure_agents()
        return super().agents

    @property
    def agents_by_type(self):
        """Mesa's agents grouped by class; builds the agent views first (they are created lazily)."""
        self._ensure_agents()
        return super().agents_by_type

    def _init_leaders(self):
        c = self.city
        self._agent_views = None
        # Households tied to each informal leader: columns of the adjacency at the leaders' nodes, taken as
        # the transpose of its rows (the network is symmetric); kept column-major (CSC), so a product costs
        # a pass over the leaders' ties, not over every household.
        self._leader_adj = c.adjacency[c.leader_node].T if c.leader_node.size else None
        self.leader_engagement = np.zeros(c.leader_node.size)
        self._update_policy_state()

    def _init_records(self):
        shape = (self.n_years, self.city.n_rts)
        self.rec = {
            "status": np.zeros(shape, np.int8), "proposed": np.zeros(shape, bool),
            "forwarded": np.zeros(shape, bool), "won": np.zeros(shape, bool),
            "lapsed": np.zeros(shape, bool), "kencana_won": np.zeros(shape, bool), "checked": np.zeros(shape, bool),
            "participation": np.zeros(shape), "score": np.zeros(shape), "clean": np.zeros(shape),
            "safe": np.zeros(shape), "smart": np.zeros(shape), "reward_paid": np.zeros(shape),
            "reward_misused": np.zeros(shape), "rj_cost": np.zeros(shape), "adopted": np.zeros(shape, bool),
            "practising": np.zeros(shape, bool),
        }
        self.city_rec = {"poverty_share": np.zeros(self.n_years), "awareness": np.zeros(self.n_years),
                         "youth_participation": np.zeros(self.n_years), "award_budget": np.ones(self.n_years)}
        # The last 12 months of each RT's participation (a ring): "practising" is their mean.
        self._part_ring = np.zeros((12, self.city.n_rts))
        self._ring_months = 0
        self._part_sum = np.zeros(self.city.n_rts)
        self._youth_sum = 0.0

    # ------------------------------------------------------------------------------ policy state
    def policy_active(self) -> bool:
        """Whether the policy levers act this year (`policy_start_year <= year < policy_end_year`).

        Levers act only from their start, so every arm of an experiment shares the calibrated 2014–2020
        history; `policy_end_year` withdraws them, so what lasts after a lever stops can be measured.
        """
        return self.p.policy_start_year <= self.year < self.p.policy_end_year

    def _update_policy_state(self):
        """Recompute what changes only yearly: leader engagement, static utility, awareness hazards."""
        p, c, hh, rs = self.p, self.city, self.households, self.rt_state
        on = self.policy_active()
        eng = np.full(c.leader_node.size, p.informal_leader_engagement)
        if on:
            eng[c.leader_kind != YOUTH_LEADER] += p.informal_engagement
            eng[c.leader_kind == YOUTH_LEADER] += p.youth_regeneration
        trad = c.leader_kind == TRADITIONAL
        eng[trad] += p.rj_traditional_engagement * rs.rj_house[c.leader_rt[trad]]
        self.leader_engagement = np.clip(eng, 0, 1)
        if self._leader_adj is not None:
            youth_lead = (c.leader_kind == YOUTH_LEADER).astype(float)
            infl = self._leader_adj @ np.column_stack([self.leader_engagement * (1 - youth_lead),
                                                        self.leader_engagement * youth_lead])
            # Youth leaders count youth_leader_youth_weight times (default double) for youth households.
            self._informal = infl[:, 0] + infl[:, 1] * np.where(hh.age == YOUTH, p.youth_leader_youth_weight, 1.0)
            # Engaged informal leaders also count for the RT's Safe dimension (deliberation, customs).
            rel_trad = c.leader_kind != YOUTH_LEADER
            num = np.bincount(c.leader_rt[rel_trad], self.leader_engagement[rel_trad], minlength=c.n_rts)
            den = np.bincount(c.leader_rt[rel_trad], minlength=c.n_rts)
            self._rt_informal = np.where(den > 0, num / np.maximum(den, 1), 0.0)
        else:
            self._informal = np.zeros(c.n_households)
            self._rt_informal = np.zeros(c.n_rts)
        offsets = np.array([p.youth_offset, 0.0, p.elder_offset])
        age_offset = offsets[hh.age]
        # Youth households of each RT as a sparse (RT x household) indicator: one small product per month
        # gives every RT's youth participation.
        youth = np.flatnonzero(hh.age == YOUTH)
        self._youth_count = np.bincount(hh.rt[youth], minlength=c.n_rts).astype(np.float32)
        indptr = np.concatenate([[0], np.cumsum(self._youth_count, dtype=np.int64)])
        self._youth_rt = sp.csr_matrix((np.ones(youth.size, np.float32), youth, indptr),
                                       shape=(c.n_rts, c.n_households))
        self._cost_effective = hh.cost
        if on and p.extra_dimensions:
            self._cost_effective = hh.cost * (1 - p.economy_cost_relief * rs.scores[3, hh.rt])
        self._static = (p.base_utility + p.norm_weight * hh.social_capital - p.cost_weight * self._cost_effective
                        + p.trust_weight * (hh.trust - p.trust_reference) + age_offset
                        + p.informal_influence * self._informal).astype(np.float32)
        diss = np.full(c.n_households, p.dissemination_rate)
        if on and p.dissemination_campaign > 0:
            low_sc = 1 - hh.social_capital
            target = low_sc / max(low_sc.mean(), 1e-9)
            spread = (1 - p.dissemination_targeting) + p.dissemination_targeting * target
            diss = diss + p.dissemination_campaign * spread
        self._dissemination = diss.astype(np.float32)
        self._set_adopt_hazard(self._adoption_awareness())

    def _adoption_awareness(self) -> np.ndarray:
        """Monthly awareness hazard adoption adds in each RT: adoption_awareness × the adopted RT's participation."""
        rs = self.rt_state
        if not (self.p.adoption and self.policy_active()):
            return np.zeros(rs.status.size)
        return np.where(rs.adopts >= 0, self.p.adoption_awareness * rs.example_participation, 0.0)

    def _set_adopt_hazard(self, adopt_per_rt: np.ndarray):
        """Base monthly hazard of learning of the programme, per household: dissemination + adoption."""
        self._adopt_hazard = adopt_per_rt.astype(np.float32)
        self._awareness_hazard = self._dissemination + self._adopt_hazard[self.households.rt]

    # ------------------------------------------------------------------------------------- tick
    def step(self):
        """Advance one month: year start (January), households, RTs, proposals (April), assessment (October),
        records (December), city statistics (docs/ODD.md, section 3); stops after December of `end_year`.
        """
        if not self.running:
            return
        if self.month == 1:
            self._year_start()
        self._household_step()
        self._rt_step()
        if self.month == PROPOSAL_MONTH:
            self._proposals()
        if self.month == ASSESSMENT_MONTH:
            self._assessment()
        if self.month == 12:
            self._year_end()
        self._city_stats()
        self.datacollector.collect(self)
        self.tick += 1
        self.year, self.month = START_YEAR + self.tick // 12, self.tick % 12 + 1
        if self.year > self.p.end_year:
            self.running = False

    def total_motivation(self) -> np.ndarray:
        """Each RT's motivation: the waning campaign/award part plus its standing incentives.

        Returns
        -------
        numpy.ndarray
            `rt_state.motivation + rt_state.incentive`, one value per RT (docs/ODD.md, 7.2).
        """
        rs = self.rt_state
        return rs.motivation + rs.incentive

    def mobilisation(self) -> np.ndarray:
        """Each RT head's mobilisation, quality × effort, with effort raised by the RT's motivation (0–1)."""
        rs = self.rt_state
        return rs.head_quality * np.clip(rs.head_effort + (1 - rs.head_effort) * self.total_motivation(), 0, 1)

    def rt_term(self) -> np.ndarray:
        """Each RT's term in its households' utility.

        leader_mobilisation·mobilisation + motivation_weight·motivation (motivation = waning part + incentive).
        """
        p = self.p
        return p.leader_mobilisation * self.mobilisation() + p.motivation_weight * self.total_motivation()

    def _household_step(self):
        c = self.city
        rt_term = self.rt_term().astype(np.float32)
        household_rule(self.households, self._share_matrix, self._static, np.repeat(rt_term, c.rt_size),
                       self._awareness_hazard, self.p, self.household_rng)

    def _city_stats(self):
        rs, c = self.rt_state, self.city
        counts = np.bincount(rs.status, minlength=5)
        self.participation = float(rs.participation @ c.rt_size) / c.n_households
        self.awareness = float(np.count_nonzero(self.households.aware)) / c.n_households
        self.bantar_label = int(counts[A.BANTAR] + counts[A.KENCANA])
        self.kencana, self.lapsed = int(counts[A.KENCANA]), int(counts[A.LAPSED])
        self.active_bantar = int(self.active_bantar_mask().sum())

    def _rt_step(self):
        p, c, hh, rs = self.p, self.city, self.households, self.rt_state
        part = np.add.reduceat(hh.x, c.rt_start) / c.rt_size
        ycount = self._youth_count
        ysum = self._youth_rt @ hh.x
        ypart = np.where(ycount > 0, ysum / np.maximum(ycount, 1), part)
        rs.participation, rs.youth_participation = part, ypart
        self._part_sum += part
        self._part_ring[self._ring_months % 12] = part
        self._ring_months += 1
        self._youth_sum += float(ysum.sum() / max(ycount.sum(), 1))

        floor = np.minimum(p.facility_floor_cap, p.facility_value * rs.facilities)
        drive = np.empty((N_DIMS_EXTRA, c.n_rts))
        drive[0] = part                                     # Clean: cleanliness, gotong royong
        w_safe, w_smart = p.safe_participation_weight, p.smart_participation_weight
        drive[1] = w_safe * part + (1 - w_safe) * self._rt_informal   # Safe: jimpitan, deliberation, customs
        drive[2] = w_smart * part + (1 - w_smart) * ypart             # Smart: education, youth organisations
        drive[3:] = part
        s = rs.scores
        s += p.score_gain * drive * (1 - s) - p.score_decay * (s - floor)
        if rs.rj_house.any():
            s[1] += p.rj_safe_gain * rs.rj_house * (1 - s[1])
        np.clip(s, 0, 1, out=s)
        rs.facilities *= 1 - p.facility_depreciation

        # Motivation wanes once the assessment has passed; campaigns hold it until October.
        in_campaign = (self.month >= PROPOSAL_MONTH) & (self.month < ASSESSMENT_MONTH)
        decay = 0.5 ** (1.0 / p.waning_half_life)
        held = self._proposed_this_year & in_campaign
        if not p.post_award_waning:
            held |= labelled(rs.status)
        rs.motivation = np.where(held, rs.motivation, rs.motivation * decay)

    # --------------------------------------------------------------------------- yearly cycle
    def _year_start(self):
        p, c, hh, rs, rng = self.p, self.city, self.households, self.rt_state, self.rng
        self._proposed_this_year = np.zeros(c.n_rts, bool)
        self._part_sum[:] = 0
        self._youth_sum = 0.0
        if self.year > START_YEAR:
            # Generational turnover: elders replaced by new youth households; ageing keeps shares stable.
            p_ae = min(1.0, p.household_turnover * p.elder_share / max(1 - p.youth_share - p.elder_share, 1e-9))
            p_ya = min(1.0, p.household_turnover * p.elder_share / max(p.youth_share, 1e-9))
            u = rng.random(hh.age.size)
            leaders = np.zeros(hh.age.size, bool)
            leaders[c.leader_node] = True
            leaders[c.head_node] = True
            replaced = (hh.age == ELDER) & (u < p.household_turnover) & ~leaders
            to_elder = (hh.age == ADULT) & (u < p_ae)
            to_adult = (hh.age == YOUTH) & (u < p_ya) & ~leaders
            hh.age[to_adult] = ADULT
            hh.age[to_elder] = ELDER
            hh.age[replaced] = YOUTH
            k = int(replaced.sum())
            hh.x[replaced] = 0.0
            hh.aware[replaced] = rng.random(k) < p.initial_awareness
            hh.trust[replaced] = np.clip(p.initial_trust + p.trust_sd * rng.standard_normal(k), 0, 1)
            hh.social_capital[replaced] = np.clip(
                p.social_capital_mean + p.social_capital_sd * rng.standard_normal(k), 0, 1)
            # RT head elections at the end of a term.
            rs.head_term_left -= 1
            ending = rs.head_term_left <= 0
            new_head = ending & (rng.random(c.n_rts) >= p.head_reelection_prob)
            nh = int(new_head.sum())
            rs.head_quality[new_head] = np.clip(
                p.head_quality_mean + p.head_quality_sd * rng.standard_normal(nh)
                + p.head_quality_subdistrict_weight * c.subdistrict_leadership[c.rt_subdistrict[new_head]], 0, 1)
            rs.head_initiative[new_head] = rng.standard_normal(nh)
            rs.head_term_left[ending] = p.head_term_years
        base_effort = np.full(c.n_rts, p.head_effort)
        if self.policy_active() and p.adoption:
            base_effort += p.adoption_capacity * np.where(rs.adopts >= 0, rs.example_participation, 0.0)
        rs.head_effort = np.clip(base_effort, 0, 1)
        self.award_budget = self._award_budget(rng.standard_normal())
        self.city_rec["award_budget"][self.year - START_YEAR] = self.award_budget
        self._update_policy_state()
        self._update_incentives()

    def _proposals(self):
        p, c, rs, rng = self.p, self.city, self.rt_state, self.rng
        eligible = np.isin(rs.status, (A.NEVER, A.PROPOSED))
        if p.allow_repeat_wins:
            eligible |= rs.status == A.LAPSED
        aware = np.add.reduceat(self.households.aware.astype(np.float32), c.rt_start) / c.rt_size
        mob = self.mobilisation()
        label_share = (np.bincount(c.rt_subdistrict, labelled(rs.status), minlength=len(c.rt_counts))
                       / np.maximum(c.rt_counts, 1))[c.rt_subdistrict]

        z = (p.proposal_intercept + p.proposal_readiness * (self.mean_score() - p.assessment_threshold)
             + p.proposal_leadership * mob + self.head_initiative_logit()
             + p.proposal_awareness * (aware - p.proposal_awareness_reference)
             - p.proposal_loss_learning * rs.losses + p.proposal_peer_label * label_share
             + p.proposal_value * (self.win_value() - self.money_value(SPECS["reward_fund"].default)))
        if p.adoption and self.policy_active():
            z = z + p.adoption_knowhow * np.where(rs.adopts >= 0, rs.example_participation, 0.0)
        propose = eligible & (rng.random(c.n_rts) < _sigmoid(z))
        self._proposed_this_year = propose
        rs.ever_proposed |= propose
        rs.status[propose & (rs.status == A.NEVER)] = A.PROPOSED
        rs.motivation[propose] = np.maximum(rs.motivation[propose], p.campaign_motivation)
        self.rec["proposed"][self.year - START_YEAR] = propose

    def head_initiative_logit(self) -> np.ndarray:
        """Each RT head's own drive to register the RT, on the proposal logit.

        The head's personal draw (`proposal_initiative_sd` × a standard normal, redrawn when a new head is
        elected) plus the sub-district's leadership effect: the paper calls "the balance of leadership quality
        and social capital in each region ... the most basic reason that determines whether the program is
        running well". A persistent effect makes the same RTs register year after year while others never do,
        instead of every RT trying its luck once in a while (docs/ODD.md, 7.4).
        """
        p, c, rs = self.p, self.city, self.rt_state
        return p.proposal_initiative_sd * rs.head_initiative + c.subdistrict_leadership[c.rt_subdistrict]

    def reward_fund(self) -> float:
        """The fund per Bantar award this year, million IDR.

        A lever like the others: before `policy_start_year` every run pays the status-quo amount (the
        table's default), so experiments change only the future, not the calibrated 2014–2020 history.

        Returns
        -------
        float
            `p.reward_fund` once the policy is active, else `SPECS["reward_fund"].default`.
        """
        return self.p.reward_fund if self.policy_active() else SPECS["reward_fund"].default

    def mean_score(self) -> np.ndarray:
        """Each RT's mean score over the assessed dimensions (Clean, Safe, Smart; six with `extra_dimensions`).

        Returns
        -------
        numpy.ndarray
            One value per RT, 0–1: what assessors see (with error) and what decides whether an RT practises.
        """
        dims = N_DIMS_EXTRA if (self.p.extra_dimensions and self.policy_active()) else N_DIMS_BASE
        return self.rt_state.scores[:dims].mean(axis=0)

    def recent_participation(self) -> np.ndarray:
        """Each RT's mean participation over the last 12 months (fewer at the start of the run)."""
        if self._ring_months == 0:
            return self.rt_state.participation.copy()
        return self._part_ring.sum(axis=0) / min(self._ring_months, 12)

    def practising_mask(self) -> np.ndarray:
        """Which RTs still apply the concept: households' participation over the last 12 months at least
        `practice_standard`.

        People, not scores: facilities hold a score up but cannot keep an RT practising (issue 14).

        Returns
        -------
        numpy.ndarray
            Boolean mask, one entry per RT.
        """
        return self.recent_participation() >= self.p.practice_standard

    def active_bantar_mask(self) -> np.ndarray:
        """Which RTs hold the label (Bantar or Kencana) and still apply the concept.

        The programme's aim is practising RTs, not labels: a label kept without practice is what post-award
        waning looks like (pattern 3), so the outputs count both.

        Returns
        -------
        numpy.ndarray
            Boolean mask, one entry per RT.
        """
        return labelled(self.rt_state.status) & self.practising_mask()

    def _year_end(self):
        yi = self.year - START_YEAR
        months = 12
        self.rec["participation"][yi] = self._part_sum / months
        self.rec["status"][yi] = self.rt_state.status
        self.city_rec["poverty_share"][yi] = float((self._cost_effective > self.poverty_line).mean())
        self.city_rec["awareness"][yi] = float(self.households.aware.mean())
        self.city_rec["youth_participation"][yi] = self._youth_sum / months

    # ------------------------------------------------------------------------------------ outputs
    def run(self) -> BantarModel:
        """Step until December of `end_year`.

        Returns
        -------
        BantarModel
            The model itself, so that `BantarModel(rng=1).run().tables()` reads in one line.
        """
        while self.running:
            self.step()
        return self

    def params_dict(self) -> dict:
        """The run's full parameter set as a plain dict (name -> value), e.g. to record or rerun it."""
        return asdict(self.p)

    def tables(self) -> dict:
        """The run's output tables (`bantar_sim.model.tables.model_tables`): name -> pandas DataFrame."""
        return model_tables(self)
