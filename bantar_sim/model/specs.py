"""The parameter table: every model parameter with its default, allowed range, unit, group and source.

Data, not logic: `bantar_sim.model.params` validates against it, builds the parameter class from it and
prints it for docs/ODD.md. Every coefficient of the model's equations is a row here (a test in
tests/test_params.py scans model.py and city.py for numeric literals that are not).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

START_YEAR = 2014   # first simulated year: the programme starts in 2014 (Mayor Regulation 47/2014)


@dataclass(frozen=True)
class Spec:
    """One row of the parameter table: default, allowed values, unit, group, source and meaning.

    Why one record per parameter: validation, the app's sliders, the study input files and the ODD table
    all read the same row, so a parameter cannot be documented one way and checked another.

    Parameters
    ----------
    default : Any
        The status-quo value (for calibrated parameters: the value calibration/ found).
    low, high : Any, optional
        Inclusive bounds for numbers; None = unbounded on that side.
    kind : type
        float, int, bool or str.
    choices : tuple
        Allowed values of a str parameter.
    unit : str
        Unit shown in the ODD table ("-" for dimensionless).
    group : str
        city, network, households, decision, scores, assessment, leaders, funds, awareness or policy
        (the policy group is the experiments' list of levers).
    source : str
        "paper: ...", "Table 3 ...", "calibrated" or "assumption: <reason>".
    doc : str
        What the parameter means, one line.
    """

    default: Any
    low: Any = None           # inclusive bounds for numbers; None = unbounded on that side
    high: Any = None
    kind: type = float        # float | int | bool | str
    choices: tuple = ()       # allowed values for str parameters
    unit: str = "-"
    # city | network | households | decision | scores | assessment | leaders | funds | awareness | policy
    group: str = "core"
    source: str = "assumption"
    doc: str = ""


# Sources: "paper" = the source paper's passage named; "Table 3" = its data; "assumption" = a modelling
# choice argued in docs/ODD.md; "calibrated" = set by calibration/ (the status-quo default comes from there).
SPECS: dict[str, Spec] = {
    # --- time and city ---------------------------------------------------------------------------
    "end_year": Spec(2020, START_YEAR, 2060, int, unit="year", group="city", source="Table 3 covers 2014–2020",
                     doc="last simulated year (the programme starts in 2014, Mayor Regulation 47/2014)"),
    "scale": Spec(1.0, 0.005, 1.0, float, unit="share", group="city", source="Table 3 RT counts",
                  doc="share of each sub-district's RTs simulated (1 = the 1,627 RTs of Table 3)"),
    "households_per_rt": Spec(90.0, 5.0, 1000.0, float, unit="households", group="city",
                              source="assumption: ~600,000 residents / 1,627 RTs / ~4 per household",
                              doc="mean households per RT"),
    "households_per_rt_cv": Spec(0.3, 0.0, 1.0, float, group="city", source="assumption",
                                 doc="coefficient of variation of households per RT (gamma distributed, at least "
                                     "min_households_per_rt)"),
    "min_households_per_rt": Spec(5, 2, 50, int, unit="households", group="city",
                                  source="assumption: room for the RT head and the informal leaders in every RT",
                                  doc="smallest RT (drawn sizes are raised to it)"),
    # --- network -----------------------------------------------------------------------------------
    "network": Spec("small_world", kind=str, choices=("small_world", "complete"), group="network",
                    source="assumption; 'complete' is for the mean-field check and teaching",
                    doc="household ties inside an RT: a small world (ring + rewiring) or everyone tied to everyone"),
    "ring_degree": Spec(6, 2, 30, int, unit="ties", group="network", source="assumption (neighbour ties on a street)",
                        doc="ties per household to the nearest neighbours in the RT (ring lattice, even)"),
    "rewire_prob": Spec(0.1, 0.0, 1.0, float, group="network", source="assumption (Watts–Strogatz small world)",
                        doc="share of ring ties rewired to a random household of the same RT"),
    "cross_rt_ties": Spec(0.15, 0.0, 3.0, float, unit="ties/household", group="network", source="assumption",
                          doc="mean ties per household to households of a neighbouring RT in the sub-district"),
    "informal_leaders_per_rt": Spec(3, 0, 9, int, unit="leaders", group="leaders",
                                    source="paper: religious, traditional and youth leaders",
                                    doc="informal leaders per RT, kinds cycling religious, traditional, youth"),
    "informal_leader_ties": Spec(8, 0, 60, int, unit="ties", group="leaders", source="assumption",
                                 doc="extra ties of each informal leader to households of the RT"),
    # --- households ----------------------------------------------------------------------------
    "social_capital_mean": Spec(0.5, 0.0, 1.0, float, group="households",
                                source="paper: yasinan, kenduri, Ramadan traditions keep cohesion",
                                doc="mean embeddedness in traditions (0–1)"),
    "social_capital_sd": Spec(0.15, 0.0, 0.5, float, group="households", source="assumption",
                              doc="spread of social capital between households"),
    "subdistrict_sd": Spec(0.5, 0.0, 3.0, float, unit="logit", group="households",
                           source="paper: leadership quality and social capital differ by region",
                           doc="spread of sub-district effects on leadership and social capital"),
    "social_capital_subdistrict_weight": Spec(0.1, 0.0, 1.0, float, unit="social capital/effect", group="households",
                                              source="assumption: the region shifts social capital a little beside "
                                                     "the household spread (paper: social capital differs by region)",
                                              doc="weight of the sub-district effect on a household's social capital"),
    "initial_awareness": Spec(0.25, 0.0, 1.0, float, unit="share", group="awareness",
                              source="paper: groups who do not understand the programme",
                              doc="share of households aware of the programme in January 2014"),
    "cost_mean": Spec(0.35, 0.0, 1.0, float, group="households", source="assumption",
                      doc="mean economic constraint (cost of taking part), 0–1"),
    "cost_sd": Spec(0.15, 0.0, 0.5, float, group="households", source="assumption",
                    doc="spread of the economic constraint"),
    "youth_share": Spec(0.3, 0.0, 0.8, float, unit="share", group="households", source="assumption",
                        doc="share of youth households"),
    "elder_share": Spec(0.2, 0.0, 0.8, float, unit="share", group="households", source="assumption",
                        doc="share of elder households"),
    "initial_trust": Spec(0.5, 0.0, 1.0, float, group="households", source="assumption",
                          doc="mean trust in the programme, 0–1"),
    "trust_sd": Spec(0.1, 0.0, 0.5, float, group="households",
                     source="assumption: trust differs between households less than social capital (social_capital_sd)",
                     doc="spread of initial trust (also of the trust of new households)"),
    "household_turnover": Spec(0.03, 0.0, 0.3, float, unit="1/year", group="households", source="assumption",
                               doc="yearly share of elder households replaced by new youth households"),
    "poverty_share": Spec(0.085, 0.0, 0.5, float, unit="share", group="households",
                          source="Table 2: ~50,000 poor of ~600,000 residents",
                          doc="share of households whose economic constraint puts them below the poverty line"),
    # --- household decision (logit choice with social interactions) ----------------------------
    "base_utility": Spec(-4.5, -10.0, 10.0, float, unit="logit", group="decision", source="calibrated",
                         doc="intercept of the participation utility"),
    "social_influence": Spec(3.0, 0.0, 20.0, float, unit="logit", group="decision",
                             source="paper: gotong royong, social capital; Brock & Durlauf (2001)",
                             doc="weight J of the share of network neighbours taking part"),
    "leader_mobilisation": Spec(1.5, 0.0, 10.0, float, unit="logit", group="decision",
                                source="paper: structural leadership (Hadari)",
                                doc="weight of the RT head's mobilisation (quality × effort)"),
    "informal_influence": Spec(0.8, 0.0, 10.0, float, unit="logit", group="decision",
                               source="paper: non-structural leadership",
                               doc="weight of engaged informal leaders among a household's ties"),
    "norm_weight": Spec(1.5, 0.0, 10.0, float, unit="logit", group="decision", source="paper: social capital",
                        doc="weight of social capital (norms, traditions)"),
    "awareness_weight": Spec(1.0, 0.0, 10.0, float, unit="logit", group="decision",
                             source="paper: lack of understanding stalls the programme",
                             doc="utility of knowing the programme"),
    "cost_weight": Spec(1.5, 0.0, 10.0, float, unit="logit", group="decision", source="assumption",
                        doc="weight of the economic constraint"),
    "trust_weight": Spec(1.0, 0.0, 10.0, float, unit="logit", group="decision",
                         source="paper: increasing trust in the programme", doc="weight of trust (centred at 0.5)"),
    "trust_reference": Spec(0.5, 0.0, 1.0, float, group="decision",
                            source="assumption: trust centred at the middle of its scale; confounded with base_utility",
                            doc="trust at which trust adds no utility (trust_weight·(trust − trust_reference))"),
    "youth_leader_youth_weight": Spec(2.0, 0.0, 5.0, float, unit="×", group="decision",
                                      source="assumption: youth leaders reach the young first (paper: regeneration "
                                             "to the younger generation)",
                                      doc="weight of a youth leader's tie for a youth household "
                                          "(1 for other households)"),
    "motivation_weight": Spec(2.0, 0.0, 10.0, float, unit="logit", group="decision",
                              source="paper: participation wanes after the assessment",
                              doc="weight of the RT's motivation (the waning campaign/award part plus its incentive)"),
    "youth_offset": Spec(-0.8, -5.0, 5.0, float, unit="logit", group="decision",
                         source="paper: volunteering must reach the younger generation",
                         doc="utility offset of youth households"),
    "elder_offset": Spec(0.3, -5.0, 5.0, float, unit="logit", group="decision", source="assumption",
                         doc="utility offset of elder households"),
    "revision_rate": Spec(1.0, 0.01, 1.0, float, unit="1/month", group="decision", source="assumption",
                          doc="share of households that reconsider each month"),
    "initial_participation": Spec(0.1, 0.0, 1.0, float, unit="share", group="decision", source="assumption",
                                  doc="share taking part in January 2014"),
    # --- RT motivation and waning ---------------------------------------------------------------
    "post_award_waning": Spec(True, kind=bool, group="scores",
                              source="paper: 'after an assessment ... they no longer apply the bantar concept'",
                              doc="motivation decays after the assessment (False: it holds)"),
    "waning_half_life": Spec(6.0, 0.5, 240.0, float, unit="months", group="scores", source="calibrated",
                             doc="half-life of campaign and award motivation once the assessment has passed"),
    "award_boost": Spec(1.0, 0.0, 3.0, float, group="scores", source="assumption",
                        doc="motivation an award adds (pride, reward fund), scaled by reward size"),
    "campaign_motivation": Spec(1.0, 0.0, 3.0, float, group="scores",
                                source="assumption: a campaign mobilises the RT as fully as an award of the "
                                       "reference size",
                                doc="motivation an RT's campaign lifts it to when it proposes (m = max(m, this))"),
    # --- Clean / Safe / Smart scores ------------------------------------------------------------
    "score_gain": Spec(0.08, 0.0, 1.0, float, unit="1/month", group="scores", source="assumption",
                       doc="monthly gain of a score at full participation"),
    "score_decay": Spec(0.04, 0.0, 1.0, float, unit="1/month", group="scores",
                        source="paper: the concept is no longer applied after the assessment",
                        doc="monthly decay of a score without upkeep"),
    "safe_participation_weight": Spec(0.6, 0.0, 1.0, float, unit="share", group="scores",
                                      source="assumption: jimpitan (households) a little more than deliberation and "
                                             "customs (leaders); paper Table 1",
                                      doc="share of the Safe drive from participation (rest: engagement of "
                                          "religious and traditional leaders)"),
    "smart_participation_weight": Spec(0.5, 0.0, 1.0, float, unit="share", group="scores",
                                       source="assumption: education groups (all) and youth organisations (youth) "
                                              "equally; paper Table 1",
                                       doc="share of the Smart drive from all households' participation (rest: youth "
                                           "participation)"),
    "facility_value": Spec(0.02, 0.0, 1.0, float, unit="score/million IDR", group="funds", source="assumption",
                           doc="lasting score floor bought by each million IDR invested in facilities"),
    "facility_floor_cap": Spec(0.8, 0.0, 1.0, float, unit="score", group="funds",
                               source="assumption: facilities hold scores up but cannot replace upkeep entirely",
                               doc="highest score floor facilities can buy"),
    "facility_depreciation": Spec(0.01, 0.0, 1.0, float, unit="1/month", group="funds",
                                  source="assumption: equipment and small works lose ~11% of their value a year",
                                  doc="monthly depreciation of the facilities bought with reward funds"),
    # --- proposals and assessment ---------------------------------------------------------------
    "assessment_mode": Spec("standard", kind=str, choices=("standard", "quota"), group="assessment",
                            source="paper: RTs 'pass a series of assessments'; mode is a modelling choice",
                            doc="standard: a fixed score standard; quota: a yearly number of awards"),
    "assessment_threshold": Spec(0.45, 0.0, 1.0, float, group="assessment", source="calibrated",
                                 doc="Clean/Safe/Smart standard (mean score) a proposal must reach"),
    "assessment_noise": Spec(0.05, 0.0, 0.5, float, group="assessment", source="assumption",
                             doc="sd of the assessors' error on the mean score"),
    "practice_standard": Spec(0.3, 0.0, 1.0, float, unit="share of households", group="assessment",
                              source="calibrated (pattern 3, post-award waning); paper: after an assessment some "
                                     "RTs 'no longer apply the bantar concept'",
                              doc="an RT practises (applies the concept) while its households' mean participation "
                                  "over the last 12 months is at least this; below it a post-award check revokes "
                                  "the label"),
    "label_standing": Spec(0.3, 0.0, 3.0, float, unit="motivation", group="assessment",
                           source="assumption (its range is an uncertainty): the label marks 'an RT that has met "
                                  "the criteria' and RTs do not want to be 'left behind by other RTs' (paper); lost "
                                  "when a check finds the RT has stopped",
                           doc="what an RT loses in standing when a check revokes its label, in motivation units "
                               "(an award of reward_reference is award_boost)"),
    "post_award_check_prob": Spec(0.2, 0.0, 1.0, float, unit="1/year", group="assessment", source="assumption",
                                  doc="yearly chance a Bantar RT is re-checked (label lost if not practising)"),
    "award_budget_observed_until": Spec(2020, START_YEAR, 2020, int, unit="year", group="assessment",
                                        source="Table 3: the city's yearly winners 2015–2020 (109, 88, 60, 88, 154, "
                                               "112); paper: 'limited funding', 'lack of funds', 'political momentum'",
                                        doc="last year whose award budget is read from Table 3 (b_y = the year's "
                                            "published city winners / their 2015–2020 mean); later years draw it. "
                                            "2014 = none read (every year drawn)"),
    "award_budget_cv": Spec(0.31, 0.0, 1.5, float, group="assessment",
                            source="Table 3: the city winners 2015–2020 vary with CV 0.31 (sample sd / mean); paper: "
                                   "'limited funding', 'lack of funds' and the programme's 'political momentum'",
                            doc="coefficient of variation of the yearly award budget (lognormal, mean 1) in the "
                                "years after award_budget_observed_until"),
    "allow_repeat_wins": Spec(False, kind=bool, group="assessment",
                              source="Table 3: every sub-district's wins <= proposals; not stated in the paper",
                              doc="a lapsed RT may win the label again"),
    "subdistrict_capacity": Spec(6.0, 0.0, 200.0, float, unit="proposals/year", group="assessment",
                                 source="Table 3: winners per sub-district vary far less than RT counts",
                                 doc="proposals a sub-district forwards per year, fixed part"),
    "subdistrict_capacity_per_rt": Spec(0.03, 0.0, 1.0, float, unit="proposals/RT/year", group="assessment",
                                        source="Table 3",
                                        doc="proposals forwarded per year per RT of the sub-district"),
    "subdistrict_effects": Spec("random", kind=str, choices=("random", "named"), group="households",
                                source="Table 3 names its sub-districts; issue 14 item 4",
                                doc="sub-district effects drawn per run from N(0, 1) (random: the calibration's "
                                    "stage 1) or read from the named standardised effects leadership_z_<sub-"
                                    "district> and screening_u_<sub-district> (named: the calibrated set)"),
    "screening_sd": Spec(0.0, 0.0, 3.0, float, unit="log", group="assessment",
                         source="calibrated (Table 3: RTs that proposed, per sub-district)",
                         doc="spread of the sub-districts' screening effort: forwarding slots × "
                             "exp(screening_sd × u_s), u_s standard normal (0 = every sub-district screens alike)"),
    "awards_per_year": Spec(611 / 6, 0.0, 2000.0, float, unit="awards/year", group="assessment",
                            source="Table 3: 611 city winners in 2015–2020, six years (mean 101.8)",
                            doc="awards the city funds in a year of mean budget (× the year's award budget b_y); "
                                "standard mode: the best forwarded proposals that meet the standard; quota mode: "
                                "split over sub-districts by quota_equal_share"),
    "quota_equal_share": Spec(0.5, 0.0, 1.0, float, group="assessment", source="Table 3",
                              doc="quota mode: share of the quota split equally over sub-districts (rest by RT count)"),
    "pilot_winners": Spec(3, 0, 100, int, unit="awards", group="assessment", source="Table 3: 3 winners in 2014",
                          doc="awards in the 2014 pilot year (best proposals)"),
    "proposal_intercept": Spec(-1.0, -10.0, 10.0, float, unit="logit", group="assessment", source="calibrated",
                               doc="intercept of an RT's yearly decision to propose"),
    "proposal_readiness": Spec(4.0, 0.0, 50.0, float, unit="logit/score", group="assessment", source="assumption",
                               doc="weight of (mean score - standard) in the decision to propose"),
    "proposal_leadership": Spec(2.0, 0.0, 10.0, float, unit="logit", group="assessment",
                                source="paper: RT heads organise", doc="weight of the RT head's mobilisation"),
    "proposal_initiative_sd": Spec(1.0, 0.0, 5.0, float, unit="logit", group="assessment",
                                   source="assumption: RT heads differ in their drive to register the RT (paper: "
                                          "structural leadership is 'the process of providing motivation'; 'the "
                                          "role of the leader is very important'); 1 logit, within the sensitivity "
                                          "analysis's range [0, 3]",
                                   doc="spread of RT heads' own drive to register the RT (a per-head effect on "
                                       "the proposal logit, redrawn when a new head is elected)"),
    "proposal_awareness": Spec(3.0, 0.0, 10.0, float, unit="logit", group="assessment", source="paper",
                               doc="weight of the RT's share of aware households"),
    "proposal_loss_learning": Spec(1.0, 0.0, 10.0, float, unit="logit/loss", group="assessment",
                                   source="calibrated; Table 3: 820 RTs ever proposed, fewer than an RT that keeps "
                                          "campaigning after losing would give",
                                   doc="fall in an RT's proposal logit for each proposal it has lost"),
    "proposal_peer_label": Spec(1.0, 0.0, 10.0, float, unit="logit/share", group="assessment",
                                source="assumption: neighbours' wins show that winning is possible (paper: Bantar "
                                       "RTs as examples for RTs not yet Bantar)",
                                doc="weight of the share of the sub-district's RTs holding the label in the "
                                    "decision to propose"),
    "proposal_value": Spec(1.0, 0.0, 10.0, float, unit="logit/motivation", group="assessment",
                           source="assumption: an RT weighs what winning is worth (reward, the Kencana prospect); "
                                  "zero at the status quo by construction",
                           doc="weight of the value of winning above its status-quo value (award boost of the "
                               "current reward fund plus the prospect of Kencana) in the decision to propose"),
    "proposal_awareness_reference": Spec(0.5, 0.0, 1.0, float, unit="share", group="assessment",
                                         source="assumption: awareness centred at half the RT; confounded with "
                                                "proposal_intercept",
                                         doc="share of aware households at which awareness adds nothing to proposing"),
    # --- leaders ------------------------------------------------------------------------------------
    "head_quality_mean": Spec(0.5, 0.0, 1.0, float, group="leaders", source="paper: uneven leadership quality",
                              doc="mean quality of RT heads, 0–1"),
    "head_quality_sd": Spec(0.2, 0.0, 0.5, float, group="leaders", source="assumption", doc="spread of head quality"),
    "head_quality_subdistrict_weight": Spec(0.2, 0.0, 1.0, float, unit="quality/effect", group="leaders",
                                            source="assumption: the region shifts head quality more than social "
                                                   "capital (paper: 'the balance of leadership quality and social "
                                                   "capital in each region')",
                                            doc="weight of the sub-district effect on an RT head's quality"),
    "head_effort": Spec(0.4, 0.0, 1.0, float, group="leaders", source="assumption",
                        doc="RT heads' baseline organising effort outside campaigns, 0–1"),
    "head_term_years": Spec(3, 1, 10, int, unit="years", group="leaders", source="assumption (RT heads are elected)",
                            doc="term of an RT head"),
    "head_reelection_prob": Spec(0.5, 0.0, 1.0, float, group="leaders", source="assumption",
                                 doc="chance an RT head is re-elected at the end of a term"),
    "informal_leader_engagement": Spec(0.3, 0.0, 1.0, float, group="leaders", source="assumption",
                                       doc="status-quo engagement of informal leaders in the programme, 0–1"),
    # --- reward funds -----------------------------------------------------------------------------
    "reward_fund": Spec(10.0, 0.0, 200.0, float, unit="million IDR", group="funds",
                        source="assumption (the paper names a reward fund, not its size)",
                        doc="reward fund per Bantar award"),
    "reward_reference": Spec(10.0, 0.1, 200.0, float, unit="million IDR", group="funds", source="assumption",
                             doc="reward at which the award boost equals award_boost "
                                 "(boost ∝ sqrt(reward/reference))"),
    "reward_mode": Spec("one_off", kind=str, choices=("one_off", "staged"), group="funds",
                        source="paper: reward design",
                        doc="one_off: paid at the award; staged: in tranches, each paid only if still practising"),
    "reward_stages": Spec(3, 1, 10, int, unit="tranches", group="funds", source="assumption",
                          doc="staged mode: number of yearly tranches"),
    "misuse_prob": Spec(0.1, 0.0, 1.0, float, group="funds", source="paper: misuse of reward funds creates conflict",
                        doc="chance a reward is misused without monitoring"),
    "misuse_trust_loss": Spec(0.2, 0.0, 1.0, float, group="funds", source="paper",
                              doc="trust lost by an RT's households after misuse"),
    "trust_gain": Spec(0.05, 0.0, 1.0, float, group="funds", source="assumption",
                       doc="trust gained by an RT's households when a reward is invested"),
    "complaint_recovery": Spec(0.5, 0.0, 1.0, float, unit="share", group="funds",
                               source="assumption: a complaint recovers about half a misused fund",
                               doc="complaint channel: share of a misused reward recovered and invested in facilities"),
    "complaint_trust_loss_factor": Spec(0.5, 0.0, 1.0, float, group="funds",
                                        source="assumption: a handled complaint halves the damage to trust",
                                        doc="complaint channel: factor on the trust lost after misuse"),
    # --- awareness ----------------------------------------------------------------------------------
    "dissemination_rate": Spec(0.01, 0.0, 1.0, float, unit="1/month", group="awareness",
                               source="paper: dissemination of public information",
                               doc="monthly chance an unaware household learns of the programme from city channels"),
    "awareness_contagion": Spec(0.05, 0.0, 1.0, float, unit="1/month", group="awareness", source="assumption",
                                doc="monthly chance per unit share of taking-part neighbours"),
    # --- policy levers (from policy_start_year; each off / status quo by default) ----------------
    "policy_start_year": Spec(2021, START_YEAR, 2060, int, unit="year", group="policy",
                              source="paper: Kencana is a new innovation",
                              doc="year the policy levers below take effect"),
    "policy_end_year": Spec(2100, START_YEAR, 2100, int, unit="year", group="policy",
                            source="issue 16: what lasts after a lever is withdrawn (the paper: programmes that "
                                   "stop when funding or momentum ends)",
                            doc="first year the policy levers no longer act (withdrawal); 2100 = never within a "
                                "run. Levers act while policy_start_year <= year < policy_end_year"),
    "kencana": Spec(False, kind=bool, group="policy", source="paper: Kampung Bantar Kencana", doc="the Kencana tier"),
    "kencana_min_years": Spec(2, 1, 10, int, unit="years", group="policy", source="assumption",
                              doc="years an RT must have held the label before Kencana"),
    "kencana_threshold": Spec(0.65, 0.0, 1.0, float, group="policy", source="paper: a higher tier",
                              doc="mean score a Kencana candidate must reach"),
    "kencana_per_year": Spec(10, 0, 500, int, unit="awards/year", group="policy", source="paper: 'only a few RTs'",
                             doc="Kencana awards per year city-wide"),
    "kencana_reward": Spec(25.0, 0.0, 500.0, float, unit="million IDR", group="policy", source="assumption",
                           doc="reward fund per Kencana award"),
    "kencana_prestige": Spec(0.5, 0.0, 3.0, float, unit="motivation", group="policy",
                             source="assumption (uncalibrated: its range is an uncertainty of every Kencana answer); "
                                    "paper: Kencana as the higher, honoured tier",
                             doc="value of the Kencana title beyond its reward, in motivation units"),
    "kencana_horizon_years": Spec(3, 1, 10, int, unit="years", group="policy",
                                  source="assumption: an RT weighs the chance of reaching Kencana over an RT head's "
                                         "term (head_term_years)",
                                  doc="years ahead over which a Bantar RT weighs its chance of reaching Kencana"),
    "kencana_gap_scale": Spec(0.1, 0.01, 0.5, float, unit="score", group="policy",
                              source="assumption: an RT sees Kencana within reach up to about this far below the "
                                     "Kencana standard",
                              doc="scale of the logistic chance that an RT's score clears kencana_threshold"),
    "rj_community_funds": Spec(10.0, 0.0, 200.0, float, unit="million IDR", group="policy",
                               source="assumption: the RT raises part of the RJ house itself, more when more "
                                      "households take part (paper: gotong royong, jimpitan)",
                               doc="money an RT can raise for an RJ house at full participation (with its reward "
                                   "fund, it decides whether the house is affordable)"),
    "rj_house_cost": Spec(15.0, 0.0, 200.0, float, unit="million IDR", group="policy",
                          source="paper: Kencana requires a Restorative Justice house", doc="cost of an RJ house"),
    "rj_safe_gain": Spec(0.02, 0.0, 0.5, float, unit="score/month", group="policy",
                         source="paper: the RJ house strengthens the Safe dimension",
                         doc="monthly Safe gain of an RJ house"),
    "rj_traditional_engagement": Spec(0.3, 0.0, 1.0, float, group="policy",
                                      source="paper: RJ houses involve traditional institutions",
                                      doc="engagement added to the RT's traditional leaders by an RJ house"),
    "adoption": Spec(False, kind=bool, group="policy", source="paper: RTs not yet Bantar adopt / are adopted",
                     doc="RTs not yet Bantar adopt (learn from) a practising Bantar RT of their sub-district"),
    "adoption_per_bantar": Spec(1, 1, 5, int, unit="RTs", group="policy", source="assumption",
                                doc="RTs that may adopt the same practising Bantar RT in a year"),
    "adoption_awareness": Spec(0.05, 0.0, 1.0, float, unit="1/month", group="policy", source="assumption",
                               doc="extra monthly awareness chance in an adopting RT, times the adopted RT's "
                                   "participation"),
    "adoption_capacity": Spec(0.3, 0.0, 1.0, float, group="policy", source="assumption",
                              doc="effort added to an adopting RT's head, times the adopted RT's participation"),
    "adoption_knowhow": Spec(1.0, 0.0, 5.0, float, unit="logit", group="policy",
                             source="assumption: the adopted RT shows how the assessment is passed",
                             doc="added to an adopting RT's proposal logit, times the adopted RT's participation"),
    "adoption_recognition": Spec(0.5, 0.0, 3.0, float, unit="motivation", group="policy",
                                 source="assumption: an adopted RT is recognised when an RT that adopted it wins",
                                 doc="motivation an adopted RT gains (a pulse that wanes) when an RT that adopted "
                                     "it wins the label"),
    "monitoring": Spec(0.0, 0.0, 1.0, float, group="policy", source="paper: participatory monitoring",
                       doc="monitoring intensity: the chance a labelled RT that stopped is found out rises from "
                           "post_award_check_prob to 1; deters misuse of funds"),
    "monitoring_deterrence": Spec(0.8, 0.0, 1.0, float, group="policy", source="paper: protection of reward funds",
                                  doc="share of misuse prevented at full monitoring"),
    "clawback_share": Spec(0.0, 0.0, 1.0, float, unit="share", group="policy",
                           source="paper: protection of reward funds; size an assumption",
                           doc="share of an RT's reward fund reclaimed when a check finds it has stopped practising "
                               "(enters the expected cost of stopping)"),
    "complaint_channel": Spec(False, kind=bool, group="policy", source="paper: complaint handling (Sjihabuddin)",
                              doc="misuse is reported and part of the fund recovered (complaint_recovery); "
                                  "trust loss reduced (complaint_trust_loss_factor)"),
    "informal_engagement": Spec(0.0, 0.0, 1.0, float, group="policy", source="paper: involve informal leaders",
                                doc="engagement added to religious and traditional leaders"),
    "youth_regeneration": Spec(0.0, 0.0, 1.0, float, group="policy", source="paper: regeneration to the young",
                               doc="youth programme: engagement added to youth leaders (who reach youth households "
                                   "youth_leader_youth_weight times as strongly)"),
    "dissemination_campaign": Spec(0.0, 0.0, 1.0, float, unit="1/month", group="policy",
                                   source="paper: dissemination of public information",
                                   doc="extra monthly awareness chance from a campaign"),
    "dissemination_targeting": Spec(0.0, 0.0, 1.0, float, group="policy", source="paper: groups who do not understand",
                                    doc="share of the campaign aimed at low-social-capital households"),
    "extra_dimensions": Spec(False, kind=bool, group="policy",
                             source="paper: extend to economy, governance and mobility",
                             doc="assessment adds economy, governance and mobility scores; economy eases household "
                                 "costs"),
    "economy_cost_relief": Spec(0.05, 0.0, 1.0, float, group="policy",
                                source="assumption (0.3 cut poverty 88% in ten years, implausible)",
                                doc="share of the economic constraint relieved at full economy score"),
}

# Named sub-district effects (issue 14 item 4; docs/ODD.md 7.4, 7.5): per sub-district of Table 3, its
# standardised leadership effect z_s (L_s = subdistrict_sd × z_s) and screening effort u_s (forwarding slots ×
# exp(screening_sd × u_s)), read when subdistrict_effects = "named" (non-centred: the hierarchy's prior is N(0, 1)).
from bantar_sim.model.data import SUBDISTRICTS as _SUBDISTRICTS  # noqa: E402


def subdistrict_slug(name: str) -> str:
    """The parameter-name form of a sub-district: lower case, words joined by underscores."""
    return name.lower().replace(" ", "_")


for _name in _SUBDISTRICTS:
    _slug = subdistrict_slug(_name)
    SPECS[f"leadership_z_{_slug}"] = Spec(
        0.0, -6.0, 6.0, float, unit="sd", group="assessment",
        source="calibrated, stage 2 (Table 3: proposals and wins of the sub-district)",
        doc=f"{_name}: standardised leadership effect z (L = subdistrict_sd × z) with subdistrict_effects = named")
    SPECS[f"screening_u_{_slug}"] = Spec(
        0.0, -6.0, 6.0, float, unit="sd", group="assessment",
        source="calibrated, stage 2 (Table 3: proposals and wins of the sub-district)",
        doc=f"{_name}: standardised screening effort u (slots × exp(screening_sd × u)) with subdistrict_effects = "
            "named")
