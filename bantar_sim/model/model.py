"""BantarModel: Jambi's RTs, households and leaders; Bantar status won, kept and lost.

One tick is one month (docs/ODD.md, "Process overview"): households decide each month whether to take
part in the RT's gotong royong and programme activities; once a year RTs propose (April), are assessed
(October) and winners get the label and a reward fund. Household state is a struct of arrays
(`model.households`) updated for the whole city at once; RTs and leaders are Mesa agents that view
their arrays (`model.rts`, `model.leaders`).
"""
from __future__ import annotations

from dataclasses import dataclass, asdict

import mesa
import numpy as np
import scipy.sparse as sp

from bantar_sim.model import agents as A
from bantar_sim.model.city import ADULT, ELDER, TRADITIONAL, YOUTH, YOUTH_LEADER, LEADER_KINDS, build_city
from bantar_sim.model.params import SPECS, ParameterError, make_params

START_YEAR = 2014
PROPOSAL_MONTH = 4      # RTs register proposals in April
ASSESSMENT_MONTH = 10   # assessment, post-award checks and awards in October
N_DIMS_BASE, N_DIMS_EXTRA = 3, 6
DIMENSIONS = ("clean", "safe", "smart", "economy", "governance", "mobility")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _labelled(status: np.ndarray) -> np.ndarray:
    """Holding the label (Bantar or Kencana); two comparisons are ~10x cheaper than np.isin on 1,600 RTs."""
    return (status == A.BANTAR) | (status == A.KENCANA)


@dataclass
class Households:
    """Struct of arrays, one entry per household; households are grouped by RT."""
    rt: np.ndarray
    x: np.ndarray              # taking part this month (0/1, float32 for the sparse product)
    aware: np.ndarray          # knows and understands the programme
    social_capital: np.ndarray
    cost: np.ndarray           # economic constraint of taking part, 0–1
    trust: np.ndarray
    age: np.ndarray            # YOUTH / ADULT / ELDER


@dataclass
class RTState:
    """Struct of arrays, one entry per RT (and per RT head)."""
    status: np.ndarray
    scores: np.ndarray          # (6, n_rts): clean, safe, smart, economy, governance, mobility
    motivation: np.ndarray      # campaign/award motivation, waning after the assessment
    participation: np.ndarray   # share of households taking part this month
    youth_participation: np.ndarray
    facilities: np.ndarray      # million IDR invested (depreciating)
    rj_house: np.ndarray
    award_year: np.ndarray      # year of the (latest) Bantar award, -1 if none
    kencana_year: np.ndarray
    tranches_left: np.ndarray
    adopted_by: np.ndarray      # mentoring RT index, -1 if none
    mentoring: np.ndarray
    ever_proposed: np.ndarray
    head_quality: np.ndarray
    head_effort: np.ndarray
    head_term_left: np.ndarray


def uniform_pair(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two independent float32 uniforms on [0, 1) per household from n raw 64-bit words: each 32-bit half
    becomes a float as `Generator.random(dtype=np.float32)` makes it (its top 24 bits times 2**-24), in one
    call to the bit generator instead of two."""
    raw = rng.bit_generator.random_raw(n).view(np.uint32)
    raw >>= 8
    u = raw.astype(np.float32)
    u *= np.float32(2.0 ** -24)
    return u[:n], u[n:]


def household_rule(hh: Households, share_matrix, static, rt_term, awareness_hazard, p, rng) -> None:
    """The hot path: every household's monthly choice, vectorised (logit choice with social interactions).

    u_i = static_i + awareness_weight·aware_i + social_influence·share_i + rt_term_i, where share_i is the
    share of i's network neighbours who took part last month; i takes part with probability 1/(1+e^-u_i).
    Unaware households learn of the programme with monthly probability
    awareness_hazard_i + awareness_contagion·share_i. `share_matrix` is the row-normalised adjacency
    (one sparse product gives every share); `rt_term` is a fresh per-household array, used as scratch.
    Only whole-array float32 ufuncs and one call to the bit generator for both draws: masked (`where=`)
    ufuncs and gathers cost more than the arithmetic they would save (benchmarks/bench_model.py).
    bantar_sim.model.reference implements the same rule one Mesa agent at a time; tests check they agree.
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


class BantarModel(mesa.Model):
    """Citizen participation in Jambi's Kampung Bantar programme, 2014 onwards.

    `BantarModel()` is the status quo on the full city; `BantarModel(rng=7, scale=0.1, kencana=True)`
    takes any parameter of `bantar_sim.model.params.SPECS` as a keyword (validated before anything is built).
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
                                   + 0.1 * sd_sc, 0, 1),
            cost=np.clip(p.cost_mean + p.cost_sd * rng.standard_normal(n), 0, 1),
            trust=np.clip(p.initial_trust + 0.1 * rng.standard_normal(n), 0, 1),
            age=age,
        )
        self.poverty_line = float(np.quantile(self.households.cost, 1 - p.poverty_share)) if p.poverty_share > 0 else 2.0
        self._cost_effective = self.households.cost

    def _init_rts(self):
        p, c, rng = self.p, self.city, self.rng
        n = c.n_rts
        q = np.clip(p.head_quality_mean + p.head_quality_sd * rng.standard_normal(n)
                    + 0.2 * c.subdistrict_leadership[c.rt_subdistrict], 0, 1)
        hh = self.households
        part0 = np.add.reduceat(hh.x, c.rt_start) / c.rt_size
        scores = np.zeros((N_DIMS_EXTRA, n))
        # Scores start at the level the initial participation would sustain (score_gain, score_decay).
        level = p.score_gain * part0 / np.maximum(p.score_gain * part0 + p.score_decay, 1e-9)
        scores[:] = level
        self.rt_state = RTState(
            status=np.zeros(n, np.int8), scores=scores, motivation=np.zeros(n), participation=part0,
            youth_participation=np.zeros(n), facilities=np.zeros(n), rj_house=np.zeros(n, bool),
            award_year=np.full(n, -1), kencana_year=np.full(n, -1), tranches_left=np.zeros(n, np.int64),
            adopted_by=np.full(n, -1), mentoring=np.zeros(n, bool), ever_proposed=np.zeros(n, bool),
            head_quality=q, head_effort=np.full(n, p.head_effort),
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
        self._ensure_agents()
        return self._agent_views[0]

    @property
    def rt_heads(self) -> list:
        self._ensure_agents()
        return self._agent_views[1]

    @property
    def informal_leaders(self) -> list:
        self._ensure_agents()
        return self._agent_views[2]

    @property
    def leaders(self) -> list:
        return self.rt_heads + self.informal_leaders

    @property
    def agents(self):
        self._ensure_agents()
        return super().agents

    @property
    def agents_by_type(self):
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
            "status": np.zeros(shape, np.int8), "proposed": np.zeros(shape, bool), "won": np.zeros(shape, bool),
            "lapsed": np.zeros(shape, bool), "kencana_won": np.zeros(shape, bool), "checked": np.zeros(shape, bool),
            "participation": np.zeros(shape), "score": np.zeros(shape), "clean": np.zeros(shape),
            "safe": np.zeros(shape), "smart": np.zeros(shape), "reward_paid": np.zeros(shape),
            "reward_misused": np.zeros(shape), "rj_cost": np.zeros(shape), "adopted": np.zeros(shape, bool),
            "practising": np.zeros(shape, bool),
        }
        self.city_rec = {"poverty_share": np.zeros(self.n_years), "awareness": np.zeros(self.n_years),
                         "youth_participation": np.zeros(self.n_years)}
        self._part_sum = np.zeros(self.city.n_rts)
        self._youth_sum = 0.0

    # ------------------------------------------------------------------------------ policy state
    def policy_active(self) -> bool:
        return self.year >= self.p.policy_start_year

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
            # Youth leaders count double for youth households.
            self._informal = infl[:, 0] + infl[:, 1] * (1.0 + (hh.age == YOUTH))
            # Engaged informal leaders also count for the RT's Safe dimension (deliberation, customs).
            rel_trad = c.leader_kind != YOUTH_LEADER
            num = np.bincount(c.leader_rt[rel_trad], self.leader_engagement[rel_trad], minlength=c.n_rts)
            den = np.bincount(c.leader_rt[rel_trad], minlength=c.n_rts)
            self._rt_informal = np.where(den > 0, num / np.maximum(den, 1), 0.0)
        else:
            self._informal = np.zeros(c.n_households)
            self._rt_informal = np.zeros(c.n_rts)
        offsets = np.array([p.youth_offset + (p.youth_regeneration * p.regeneration_effect if on else 0.0),
                            0.0, p.elder_offset])
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
                        + p.trust_weight * (hh.trust - 0.5) + age_offset
                        + p.informal_influence * self._informal).astype(np.float32)
        diss = np.full(c.n_households, p.dissemination_rate)
        if on and p.dissemination_campaign > 0:
            low_sc = 1 - hh.social_capital
            target = low_sc / max(low_sc.mean(), 1e-9)
            diss = diss + p.dissemination_campaign * ((1 - p.dissemination_targeting) + p.dissemination_targeting * target)
        self._dissemination = diss.astype(np.float32)
        adopt = np.zeros(c.n_rts)
        if on and p.adoption:
            adopt[rs.adopted_by >= 0] = p.adoption_awareness
        self._set_adopt_hazard(adopt)

    def _set_adopt_hazard(self, adopt_per_rt: np.ndarray):
        """Base monthly hazard of learning of the programme, per household: dissemination + adoption."""
        self._adopt_hazard = adopt_per_rt.astype(np.float32)
        self._awareness_hazard = self._dissemination + self._adopt_hazard[self.households.rt]

    # ------------------------------------------------------------------------------------- tick
    def step(self):
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

    def _household_step(self):
        p, rs, c = self.p, self.rt_state, self.city
        mob = rs.head_quality * np.clip(rs.head_effort + (1 - rs.head_effort) * rs.motivation, 0, 1)
        rt_term = (p.leader_mobilisation * mob + p.motivation_weight * rs.motivation).astype(np.float32)
        household_rule(self.households, self._share_matrix, self._static, np.repeat(rt_term, c.rt_size),
                       self._awareness_hazard, p, self.household_rng)

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
        self._youth_sum += float(ysum.sum() / max(ycount.sum(), 1))

        floor = np.minimum(0.8, p.facility_value * rs.facilities)
        drive = np.empty((N_DIMS_EXTRA, c.n_rts))
        drive[0] = part                                     # Clean: cleanliness, gotong royong
        drive[1] = 0.6 * part + 0.4 * self._rt_informal     # Safe: jimpitan, deliberation, customs
        drive[2] = 0.5 * part + 0.5 * ypart                 # Smart: education, youth organisations
        drive[3:] = part
        s = rs.scores
        s += p.score_gain * drive * (1 - s) - p.score_decay * (s - floor)
        if rs.rj_house.any():
            s[1] += p.rj_safe_gain * rs.rj_house * (1 - s[1])
        np.clip(s, 0, 1, out=s)
        rs.facilities *= 0.99

        # Motivation wanes once the assessment has passed; campaigns hold it until October.
        in_campaign = (self.month >= PROPOSAL_MONTH) & (self.month < ASSESSMENT_MONTH)
        decay = 0.5 ** (1.0 / p.waning_half_life)
        floor_m = self._motivation_floor()
        held = self._proposed_this_year & in_campaign
        if not p.post_award_waning:
            held |= _labelled(rs.status)
        m = np.where(held, rs.motivation, floor_m + (rs.motivation - floor_m) * decay)
        rs.motivation = np.maximum(m, floor_m)

    def _motivation_floor(self) -> np.ndarray:
        p, rs = self.p, self.rt_state
        floor = np.zeros(rs.status.size)
        if not self.policy_active():
            return floor
        labelled = _labelled(rs.status)
        if p.kencana:
            floor = np.maximum(floor, p.kencana_prospect * labelled)
        if p.monitoring > 0:
            floor = np.maximum(floor, p.monitoring * p.monitoring_motivation * labelled)
        if p.adoption:
            floor = np.maximum(floor, p.adoption_mentor_motivation * rs.mentoring)
        return floor

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
            hh.trust[replaced] = np.clip(p.initial_trust + 0.1 * rng.standard_normal(k), 0, 1)
            hh.social_capital[replaced] = np.clip(
                p.social_capital_mean + p.social_capital_sd * rng.standard_normal(k), 0, 1)
            # RT head elections at the end of a term.
            rs.head_term_left -= 1
            ending = rs.head_term_left <= 0
            new_head = ending & (rng.random(c.n_rts) >= p.head_reelection_prob)
            nh = int(new_head.sum())
            rs.head_quality[new_head] = np.clip(
                p.head_quality_mean + p.head_quality_sd * rng.standard_normal(nh)
                + 0.2 * c.subdistrict_leadership[c.rt_subdistrict[new_head]], 0, 1)
            rs.head_term_left[ending] = p.head_term_years
        base_effort = np.full(c.n_rts, p.head_effort)
        if self.policy_active() and p.adoption:
            base_effort += p.adoption_capacity * (rs.adopted_by >= 0)
        rs.head_effort = np.clip(base_effort, 0, 1)
        self._update_policy_state()

    def _proposals(self):
        p, c, rs, rng = self.p, self.city, self.rt_state, self.rng
        eligible = np.isin(rs.status, (A.NEVER, A.PROPOSED))
        if p.allow_repeat_wins:
            eligible |= rs.status == A.LAPSED
        aware = np.add.reduceat(self.households.aware.astype(np.float32), c.rt_start) / c.rt_size
        mob = rs.head_quality * np.clip(rs.head_effort + (1 - rs.head_effort) * rs.motivation, 0, 1)
        z = (p.proposal_intercept + p.proposal_readiness * (self.mean_score() - p.assessment_threshold)
             + p.proposal_leadership * mob + p.proposal_awareness * (aware - 0.5))
        propose = eligible & (rng.random(c.n_rts) < _sigmoid(z))
        self._proposed_this_year = propose
        rs.ever_proposed |= propose
        rs.status[propose & (rs.status == A.NEVER)] = A.PROPOSED
        rs.motivation[propose] = np.maximum(rs.motivation[propose], 1.0)
        self.rec["proposed"][self.year - START_YEAR] = propose

    def reward_fund(self) -> float:
        """The fund per award this year: a lever like the others, so before policy_start_year every run pays
        the status-quo amount and experiments change only the future, not the calibrated 2014–2020 history."""
        return self.p.reward_fund if self.policy_active() else SPECS["reward_fund"].default

    def mean_score(self) -> np.ndarray:
        dims = N_DIMS_EXTRA if (self.p.extra_dimensions and self.policy_active()) else N_DIMS_BASE
        return self.rt_state.scores[:dims].mean(axis=0)

    def practising_mask(self) -> np.ndarray:
        return self.mean_score() >= self.p.lapse_threshold

    def active_bantar_mask(self) -> np.ndarray:
        """Holding the label (Bantar or Kencana) and still applying the concept."""
        return _labelled(self.rt_state.status) & self.practising_mask()

    def _stochastic_round(self, x):
        x = np.asarray(x, float)
        return np.floor(x + self.rng.random(x.shape)).astype(np.int64)

    def _assessment(self):
        p, c, rs, rng = self.p, self.city, self.rt_state, self.rng
        yi = self.year - START_YEAR
        score = self.mean_score()
        practising = score >= p.lapse_threshold
        monitoring = p.monitoring if self.policy_active() else 0.0
        staged = p.reward_mode == "staged" and self.policy_active()

        # 1. Post-award checks: the label is lost when the concept is no longer applied.
        labelled = _labelled(rs.status)
        check_p = p.post_award_check_prob + (1 - p.post_award_check_prob) * monitoring
        checked = labelled & (rng.random(c.n_rts) < check_p)
        lapse = checked & ~practising
        rs.status[lapse] = A.LAPSED
        rs.mentoring[lapse] = False
        self.rec["checked"][yi], self.rec["lapsed"][yi] = checked, lapse
        paid = np.zeros(c.n_rts)
        # Staged rewards: a tranche is paid only while the RT is still practising; otherwise forfeited.
        due = rs.tranches_left > 0
        pay_tranche = due & practising & _labelled(rs.status)
        rs.tranches_left[due & ~pay_tranche] = 0
        rs.tranches_left[pay_tranche] -= 1
        paid[pay_tranche] += self.reward_fund() / p.reward_stages

        # 2. Assessment of this year's proposals.
        proposals = np.flatnonzero(self._proposed_this_year)
        perceived = score + p.assessment_noise * rng.standard_normal(c.n_rts)
        winners = self._select_winners(proposals, perceived)
        won = np.zeros(c.n_rts, bool)
        won[winners] = True
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
        if p.kencana and self.policy_active():
            mob = rs.head_quality * np.clip(rs.head_effort + (1 - rs.head_effort) * rs.motivation, 0, 1)
            aspiring = (rs.status == A.BANTAR) & practising & ~rs.rj_house & ~won
            build = aspiring & (rng.random(c.n_rts) < mob)
            rs.rj_house[build] = True
            rj_cost[build] = p.rj_house_cost
            cand = np.flatnonzero((rs.status == A.BANTAR) & rs.rj_house & practising
                                  & (self.year - rs.award_year >= p.kencana_min_years)
                                  & (perceived >= p.kencana_threshold))
            k = int(self._stochastic_round(p.kencana_per_year * p.scale))
            chosen = cand[np.argsort(-perceived[cand], kind="stable")[:k]]
            kencana_won[chosen] = True
            rs.status[chosen] = A.KENCANA
            rs.kencana_year[chosen] = self.year
            rs.motivation[chosen] += p.award_boost * np.sqrt(p.kencana_reward / p.reward_reference)
            paid[chosen] += p.kencana_reward
        self.rec["kencana_won"][yi], self.rec["rj_cost"][yi] = kencana_won, rj_cost

        # 4. Reward funds: invested in facilities, or misused (monitoring deters; complaints recover).
        got = paid > 0
        misuse_p = p.misuse_prob * (1 - monitoring * p.monitoring_deterrence)
        misused = got & (rng.random(c.n_rts) < misuse_p)
        invested = got & ~misused
        hh = self.households
        loss = p.misuse_trust_loss * (0.5 if (p.complaint_channel and self.policy_active()) else 1.0)
        before = hh.trust.copy()
        hit = misused[hh.rt]
        hh.trust[hit] = np.maximum(hh.trust[hit] - loss, 0)
        gain = invested[hh.rt]
        hh.trust[gain] += p.trust_gain * (1 - hh.trust[gain])
        self._static += (p.trust_weight * (hh.trust - before)).astype(np.float32)
        rs.facilities[invested] += paid[invested]
        if p.complaint_channel and self.policy_active():
            rs.facilities[misused] += 0.5 * paid[misused]   # half recovered and invested after a complaint
        self.rec["reward_paid"][yi], self.rec["reward_misused"][yi] = paid, np.where(misused, paid, 0.0)

        # 5. Adoption: practising Bantar RTs mentor non-Bantar RTs of their sub-district for a year.
        rs.adopted_by[:] = -1
        rs.mentoring[:] = False
        if p.adoption and self.policy_active():
            self._assign_adoption(practising)
        self.rec["adopted"][yi] = rs.adopted_by >= 0

        sc = rs.scores
        self.rec["score"][yi], self.rec["clean"][yi], self.rec["safe"][yi], self.rec["smart"][yi] = score, sc[0], sc[1], sc[2]
        self.rec["practising"][yi] = practising
        self._set_adopt_hazard(np.where(rs.adopted_by >= 0, p.adoption_awareness if (p.adoption and self.policy_active())
                                        else 0.0, 0.0))

    def _select_winners(self, proposals: np.ndarray, perceived: np.ndarray) -> np.ndarray:
        p, c = self.p, self.city
        if proposals.size == 0:
            return proposals
        if self.year == START_YEAR:   # the 2014 pilot: the best few proposals city-wide
            k = int(self._stochastic_round(p.pilot_winners * p.scale))
            return proposals[np.argsort(-perceived[proposals], kind="stable")[:k]]
        sd = c.rt_subdistrict[proposals]
        if p.assessment_mode == "standard":
            cap = self._stochastic_round(p.subdistrict_capacity * p.scale + p.subdistrict_capacity_per_rt * c.rt_counts)
        else:
            share = p.quota_equal_share / len(c.rt_counts) + (1 - p.quota_equal_share) * c.rt_counts / c.rt_counts.sum()
            cap = self._stochastic_round(p.quota_per_year * p.scale * share)
        out = []
        for s in np.unique(sd):
            cand = proposals[sd == s]
            ranked = cand[np.argsort(-perceived[cand], kind="stable")][: cap[s]]
            if p.assessment_mode == "standard":
                ranked = ranked[perceived[ranked] >= p.assessment_threshold]
            out.append(ranked)
        return np.concatenate(out) if out else proposals[:0]

    def _assign_adoption(self, practising):
        p, c, rs, rng = self.p, self.city, self.rt_state, self.rng
        mentors_all = np.flatnonzero(_labelled(rs.status) & practising)
        pupils_all = np.flatnonzero(np.isin(rs.status, (A.NEVER, A.PROPOSED, A.LAPSED)))
        for s in range(len(c.rt_counts)):
            mentors = mentors_all[c.rt_subdistrict[mentors_all] == s]
            pupils = pupils_all[c.rt_subdistrict[pupils_all] == s]
            if mentors.size == 0 or pupils.size == 0:
                continue
            pupils = rng.permutation(pupils)[: mentors.size * p.adoption_per_bantar]
            rs.adopted_by[pupils] = np.repeat(mentors, p.adoption_per_bantar)[: pupils.size]
            rs.mentoring[np.unique(rs.adopted_by[pupils])] = True

    def _year_end(self):
        yi = self.year - START_YEAR
        months = 12
        self.rec["participation"][yi] = self._part_sum / months
        self.rec["status"][yi] = self.rt_state.status
        self.city_rec["poverty_share"][yi] = float((self._cost_effective > self.poverty_line).mean())
        self.city_rec["awareness"][yi] = float(self.households.aware.mean())
        self.city_rec["youth_participation"][yi] = self._youth_sum / months

    # ------------------------------------------------------------------------------------ outputs
    def run(self) -> "BantarModel":
        while self.running:
            self.step()
        return self

    def params_dict(self) -> dict:
        return asdict(self.p)

    def tables(self) -> dict:
        from bantar_sim.model.tables import model_tables
        return model_tables(self)


def counts_ok(p) -> None:
    """Reject a scale that leaves a sub-district with no RT (before anything is built)."""
    from bantar_sim.model.city import rt_counts_at_scale
    from bantar_sim.model.data import SUBDISTRICTS, table3
    counts = rt_counts_at_scale(p.scale)
    if (counts < 1).any():
        sd = SUBDISTRICTS[int(np.argmin(counts))]
        need = 0.5 / table3().rts.min()
        raise ParameterError(f"parameter 'scale' = {p.scale} leaves sub-district {sd} with no RT (and so no "
                             f"households): scale must be in [{need:.4f}, 1.0]")
