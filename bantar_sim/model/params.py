"""Every model parameter in one table: default, allowed range, unit, source.

The table is the single source for validation (clear errors before any work starts), for the
Solara sliders, for experiment/calibration/sensitivity files and for the parameter table in
docs/ODD.md (`python -m bantar_sim.model.params` prints it; a test checks the ODD lists every name).
"""
from __future__ import annotations

import difflib
import json
import tomllib
from dataclasses import dataclass, make_dataclass, asdict
from pathlib import Path
from typing import Any, Mapping


@dataclass(frozen=True)
class Spec:
    default: Any
    low: Any = None           # inclusive bounds for numbers; None = unbounded on that side
    high: Any = None
    kind: type = float        # float | int | bool | str
    choices: tuple = ()       # allowed values for str parameters
    unit: str = "-"
    group: str = "core"       # city | network | households | decision | scores | assessment | leaders | funds | awareness | policy
    source: str = "assumption"
    doc: str = ""


# Sources: "paper" = the source paper's passage named; "Table 3" = its data; "assumption" = a modelling
# choice argued in docs/ODD.md; "calibrated" = set by calibration/ (the status-quo default comes from there).
SPECS: dict[str, Spec] = {
    # --- time and city ---------------------------------------------------------------------------
    "end_year": Spec(2020, 2014, 2060, int, unit="year", group="city", source="Table 3 covers 2014–2020",
                     doc="last simulated year (the programme starts in 2014, Mayor Regulation 47/2014)"),
    "scale": Spec(1.0, 0.005, 1.0, float, unit="share", group="city", source="Table 3 RT counts",
                  doc="share of each sub-district's RTs simulated (1 = the 1,627 RTs of Table 3)"),
    "households_per_rt": Spec(90.0, 5.0, 1000.0, float, unit="households", group="city",
                              source="assumption: ~600,000 residents / 1,627 RTs / ~4 per household",
                              doc="mean households per RT"),
    "households_per_rt_cv": Spec(0.3, 0.0, 1.0, float, group="city", source="assumption",
                                 doc="coefficient of variation of households per RT (gamma distributed, at least 5)"),
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
    "motivation_weight": Spec(2.0, 0.0, 10.0, float, unit="logit", group="decision",
                              source="paper: participation wanes after the assessment",
                              doc="weight of the RT's campaign/award motivation"),
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
    "post_award_waning": Spec(True, kind=bool, group="scores", source="paper: 'after an assessment ... they no longer apply the bantar concept'",
                              doc="motivation decays after the assessment (False: it holds)"),
    "waning_half_life": Spec(6.0, 0.5, 240.0, float, unit="months", group="scores", source="calibrated",
                             doc="half-life of campaign and award motivation once the assessment has passed"),
    "award_boost": Spec(1.0, 0.0, 3.0, float, group="scores", source="assumption",
                        doc="motivation an award adds (pride, reward fund), scaled by reward size"),
    # --- Clean / Safe / Smart scores ------------------------------------------------------------
    "score_gain": Spec(0.08, 0.0, 1.0, float, unit="1/month", group="scores", source="assumption",
                       doc="monthly gain of a score at full participation"),
    "score_decay": Spec(0.04, 0.0, 1.0, float, unit="1/month", group="scores",
                        source="paper: the concept is no longer applied after the assessment",
                        doc="monthly decay of a score without upkeep"),
    "facility_value": Spec(0.02, 0.0, 1.0, float, unit="score/million IDR", group="funds", source="assumption",
                           doc="lasting score floor bought by each million IDR invested in facilities"),
    # --- proposals and assessment ---------------------------------------------------------------
    "assessment_mode": Spec("standard", kind=str, choices=("standard", "quota"), group="assessment",
                            source="paper: RTs 'pass a series of assessments'; mode is a modelling choice",
                            doc="standard: a fixed score standard; quota: a yearly number of awards"),
    "assessment_threshold": Spec(0.45, 0.0, 1.0, float, group="assessment", source="calibrated",
                                 doc="Clean/Safe/Smart standard (mean score) a proposal must reach"),
    "assessment_noise": Spec(0.05, 0.0, 0.5, float, group="assessment", source="assumption",
                             doc="sd of the assessors' error on the mean score"),
    "lapse_threshold": Spec(0.35, 0.0, 1.0, float, group="assessment",
                            source="paper: the label is a claim that the concept is applied",
                            doc="mean score below which an RT no longer applies the concept (practising < this)"),
    "post_award_check_prob": Spec(0.2, 0.0, 1.0, float, unit="1/year", group="assessment", source="assumption",
                                  doc="yearly chance a Bantar RT is re-checked (label lost if not practising)"),
    "allow_repeat_wins": Spec(False, kind=bool, group="assessment",
                              source="Table 3: every sub-district's wins <= proposals; not stated in the paper",
                              doc="a lapsed RT may win the label again"),
    "subdistrict_capacity": Spec(6.0, 0.0, 200.0, float, unit="proposals/year", group="assessment",
                                 source="Table 3: winners per sub-district vary far less than RT counts",
                                 doc="proposals a sub-district forwards per year, fixed part"),
    "subdistrict_capacity_per_rt": Spec(0.03, 0.0, 1.0, float, unit="proposals/RT/year", group="assessment",
                                        source="Table 3", doc="proposals forwarded per year per RT of the sub-district"),
    "quota_per_year": Spec(100, 0, 2000, int, unit="awards/year", group="assessment", source="Table 3 (mean ~100)",
                           doc="quota mode: awards per year city-wide"),
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
    "proposal_awareness": Spec(3.0, 0.0, 10.0, float, unit="logit", group="assessment", source="paper",
                               doc="weight of the RT's share of aware households"),
    # --- leaders ------------------------------------------------------------------------------------
    "head_quality_mean": Spec(0.5, 0.0, 1.0, float, group="leaders", source="paper: uneven leadership quality",
                              doc="mean quality of RT heads, 0–1"),
    "head_quality_sd": Spec(0.2, 0.0, 0.5, float, group="leaders", source="assumption", doc="spread of head quality"),
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
                             doc="reward at which the award boost equals award_boost (boost ∝ sqrt(reward/reference))"),
    "reward_mode": Spec("one_off", kind=str, choices=("one_off", "staged"), group="funds", source="paper: reward design",
                        doc="one_off: paid at the award; staged: in tranches, each paid only if still practising"),
    "reward_stages": Spec(3, 1, 10, int, unit="tranches", group="funds", source="assumption",
                          doc="staged mode: number of yearly tranches"),
    "misuse_prob": Spec(0.1, 0.0, 1.0, float, group="funds", source="paper: misuse of reward funds creates conflict",
                        doc="chance a reward is misused without monitoring"),
    "misuse_trust_loss": Spec(0.2, 0.0, 1.0, float, group="funds", source="paper", doc="trust lost by an RT's households after misuse"),
    "trust_gain": Spec(0.05, 0.0, 1.0, float, group="funds", source="assumption",
                       doc="trust gained by an RT's households when a reward is invested"),
    # --- awareness ----------------------------------------------------------------------------------
    "dissemination_rate": Spec(0.01, 0.0, 1.0, float, unit="1/month", group="awareness",
                               source="paper: dissemination of public information",
                               doc="monthly chance an unaware household learns of the programme from city channels"),
    "awareness_contagion": Spec(0.05, 0.0, 1.0, float, unit="1/month", group="awareness", source="assumption",
                                doc="monthly chance per unit share of taking-part neighbours"),
    # --- policy levers (from policy_start_year; each off / status quo by default) ----------------
    "policy_start_year": Spec(2021, 2014, 2060, int, unit="year", group="policy", source="paper: Kencana is a new innovation",
                              doc="year the policy levers below take effect"),
    "kencana": Spec(False, kind=bool, group="policy", source="paper: Kampung Bantar Kencana", doc="the Kencana tier"),
    "kencana_min_years": Spec(2, 1, 10, int, unit="years", group="policy", source="assumption",
                              doc="years an RT must have held the label before Kencana"),
    "kencana_threshold": Spec(0.65, 0.0, 1.0, float, group="policy", source="paper: a higher tier",
                              doc="mean score a Kencana candidate must reach"),
    "kencana_per_year": Spec(10, 0, 500, int, unit="awards/year", group="policy", source="paper: 'only a few RTs'",
                             doc="Kencana awards per year city-wide"),
    "kencana_reward": Spec(25.0, 0.0, 500.0, float, unit="million IDR", group="policy", source="assumption",
                           doc="reward fund per Kencana award"),
    "kencana_prospect": Spec(0.5, 0.0, 1.0, float, group="policy", source="paper: Kencana keeps awarded RTs going",
                             doc="motivation floor of Bantar RTs that can still reach Kencana"),
    "rj_house_cost": Spec(15.0, 0.0, 200.0, float, unit="million IDR", group="policy",
                          source="paper: Kencana requires a Restorative Justice house", doc="cost of an RJ house"),
    "rj_safe_gain": Spec(0.02, 0.0, 0.5, float, unit="score/month", group="policy",
                         source="paper: the RJ house strengthens the Safe dimension", doc="monthly Safe gain of an RJ house"),
    "rj_traditional_engagement": Spec(0.3, 0.0, 1.0, float, group="policy",
                                      source="paper: RJ houses involve traditional institutions",
                                      doc="engagement added to the RT's traditional leaders by an RJ house"),
    "adoption": Spec(False, kind=bool, group="policy", source="paper: RTs not yet Bantar adopt / are adopted",
                     doc="Bantar RTs mentor non-Bantar RTs of their sub-district"),
    "adoption_per_bantar": Spec(1, 1, 5, int, unit="RTs", group="policy", source="assumption",
                                doc="RTs a practising Bantar RT mentors at once"),
    "adoption_awareness": Spec(0.05, 0.0, 1.0, float, unit="1/month", group="policy", source="assumption",
                               doc="extra monthly awareness chance in adopted RTs"),
    "adoption_capacity": Spec(0.3, 0.0, 1.0, float, group="policy", source="assumption",
                              doc="effort added to an adopted RT's head"),
    "adoption_mentor_motivation": Spec(0.2, 0.0, 1.0, float, group="policy", source="assumption",
                                       doc="motivation floor of a mentoring RT (its standing depends on it)"),
    "monitoring": Spec(0.0, 0.0, 1.0, float, group="policy", source="paper: participatory monitoring",
                       doc="monitoring intensity: raises post-award checks, deters misuse, keeps RTs alert"),
    "monitoring_deterrence": Spec(0.8, 0.0, 1.0, float, group="policy", source="paper: protection of reward funds",
                                  doc="share of misuse prevented at full monitoring"),
    "monitoring_motivation": Spec(0.3, 0.0, 1.0, float, group="policy", source="assumption",
                                  doc="motivation floor of Bantar RTs at full monitoring"),
    "complaint_channel": Spec(False, kind=bool, group="policy", source="paper: complaint handling (Sjihabuddin)",
                              doc="misuse is reported and the fund recovered; trust loss halved"),
    "informal_engagement": Spec(0.0, 0.0, 1.0, float, group="policy", source="paper: involve informal leaders",
                                doc="engagement added to religious and traditional leaders"),
    "youth_regeneration": Spec(0.0, 0.0, 1.0, float, group="policy", source="paper: regeneration to the young",
                               doc="youth programme: youth leader engagement and youth utility"),
    "regeneration_effect": Spec(1.0, 0.0, 5.0, float, unit="logit", group="policy", source="assumption",
                                doc="utility added to youth households at full regeneration"),
    "dissemination_campaign": Spec(0.0, 0.0, 1.0, float, unit="1/month", group="policy",
                                   source="paper: dissemination of public information",
                                   doc="extra monthly awareness chance from a campaign"),
    "dissemination_targeting": Spec(0.0, 0.0, 1.0, float, group="policy", source="paper: groups who do not understand",
                                    doc="share of the campaign aimed at low-social-capital households"),
    "extra_dimensions": Spec(False, kind=bool, group="policy",
                             source="paper: extend to economy, governance and mobility",
                             doc="assessment adds economy, governance and mobility scores; economy eases household costs"),
    "economy_cost_relief": Spec(0.05, 0.0, 1.0, float, group="policy", source="assumption (0.3 cut poverty 88% in ten years, implausible)",
                                doc="share of the economic constraint relieved at full economy score"),
}


class ParameterError(ValueError):
    """A parameter name, type or value is not allowed."""


def _describe(name: str, spec: Spec) -> str:
    if spec.kind is bool:
        return "true or false"
    if spec.kind is str:
        return "one of " + ", ".join(repr(c) for c in spec.choices)
    kind = "an integer" if spec.kind is int else "a number"
    return f"{kind} in [{spec.low}, {spec.high}]"


def did_you_mean(key: str, allowed, quoted: bool = True) -> str:
    """' (did you mean 'a', 'b'?)' for the allowed names closest to a mistyped key, or ''."""
    close = difflib.get_close_matches(key, list(allowed), n=3)
    return f" (did you mean {', '.join(repr(c) if quoted else c for c in close)}?)" if close else ""


def check_value(name: str, value: Any, where: str = "") -> Any:
    """Return the value coerced to its kind, or raise ParameterError naming the field and range."""
    prefix = f"{where}: " if where else ""
    if name not in SPECS:
        raise ParameterError(f"{prefix}unknown parameter '{name}'{did_you_mean(name, SPECS, quoted=False)}; see `python -m bantar_sim.model.params` for the list")
    spec = SPECS[name]
    allowed = _describe(name, spec)
    if spec.kind is bool:
        if isinstance(value, bool):
            return value
        if type(value).__name__ == "bool_":
            return bool(value)
        raise ParameterError(f"{prefix}parameter '{name}' must be {allowed}, got {value!r}")
    if spec.kind is str:
        if not isinstance(value, str) or value not in spec.choices:
            raise ParameterError(f"{prefix}parameter '{name}' must be {allowed}, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise ParameterError(f"{prefix}parameter '{name}' must be {allowed}, got {value!r} ({type(value).__name__})")
    if isinstance(value, str):
        raise ParameterError(f"{prefix}parameter '{name}' must be {allowed}, got {value!r} (str)")
    fval = float(value)
    if spec.kind is int:
        if fval != int(fval):
            raise ParameterError(f"{prefix}parameter '{name}' must be {allowed}, got {value!r} (not whole)")
        value = int(fval)
    else:
        value = fval
    if fval != fval or (spec.low is not None and fval < spec.low) or (spec.high is not None and fval > spec.high):
        raise ParameterError(f"{prefix}parameter '{name}' = {value!r} is out of range: must be {allowed}")
    return value


def _build_params_class():
    return make_dataclass("BantarParams", [(n, s.kind, s.default) for n, s in SPECS.items()], frozen=True)


BantarParams = _build_params_class()
BantarParams.__doc__ = "Validated, immutable parameter set of one model run (see bantar_sim.model.params.SPECS)."


def make_params(overrides: Mapping[str, Any] | None = None, *, base: Any = None, where: str = "") -> Any:
    """Validate overrides against SPECS and return a BantarParams (on top of `base` or the defaults)."""
    values = asdict(base) if base is not None else {n: s.default for n, s in SPECS.items()}
    for name, value in (overrides or {}).items():
        values[name] = check_value(name, value, where)
    _check_joint(values, where)
    return BantarParams(**values)


def _check_joint(v: dict, where: str) -> None:
    prefix = f"{where}: " if where else ""
    if v["youth_share"] + v["elder_share"] > 1:
        raise ParameterError(f"{prefix}youth_share + elder_share = {v['youth_share'] + v['elder_share']:.3g} "
                             "must be at most 1")
    if v["lapse_threshold"] > v["assessment_threshold"]:
        raise ParameterError(f"{prefix}lapse_threshold ({v['lapse_threshold']}) must not exceed "
                             f"assessment_threshold ({v['assessment_threshold']})")
    if v["ring_degree"] % 2:
        raise ParameterError(f"{prefix}parameter 'ring_degree' must be an even integer in [2, 30], got {v['ring_degree']}")


def read_toml(path: Path, missing: str, error: type[ParameterError] = ParameterError) -> dict:
    """The table of a TOML input file, or `error` naming the file: `missing` if it is not a file, else
    why it cannot be parsed (experiment, sensitivity problem and priors files share this)."""
    if not path.is_file():
        raise error(missing)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise error(f"{path}: not valid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise error(f"{path}: not a UTF-8 text file: {err}") from None


def load_param_file(path: str | Path) -> dict:
    """Read parameter overrides from TOML ([params] table or top level) or JSON; validate names and values."""
    path = Path(path)
    if not path.exists():
        raise ParameterError(f"{path}: parameter file not found")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise ParameterError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {err}") from None
    data = data.get("params", data)
    if not isinstance(data, dict):
        raise ParameterError(f"{path}: expected a table of parameters")
    data = {k: v for k, v in data.items() if not isinstance(v, dict)}
    make_params(data, where=str(path))
    return data


def markdown_table() -> str:
    """The parameter table of docs/ODD.md, generated from SPECS."""
    lines = ["| parameter | group | default | range | unit | source | meaning |", "|---|---|---|---|---|---|---|"]
    for name, s in SPECS.items():
        rng = (" / ".join(s.choices) if s.kind is str else "true / false" if s.kind is bool
               else f"[{s.low}, {s.high}]")
        default = str(s.default).lower() if s.kind is bool else s.default
        lines.append(f"| `{name}` | {s.group} | {default} | {rng} | {s.unit} | {s.source} | {s.doc} |")
    return "\n".join(lines)


REPO_ROOT = Path(__file__).resolve().parents[2]
CALIBRATED_FILE = REPO_ROOT / "calibration" / "calibrated.toml"


def calibrated_overrides(path: str | Path | None = None) -> dict:
    """The calibrated parameter set (calibration/calibrated.toml, [params] table), or {} if none exists.

    `bantar-sim run` and the experiments start from it; the status-quo defaults in SPECS apply to every
    parameter it does not set.
    """
    path = Path(path) if path else CALIBRATED_FILE
    if not path.exists():
        return {}
    return load_param_file(path)


def update_odd(path: str | Path = REPO_ROOT / "docs" / "ODD.md") -> None:
    """Rewrite the generated parameter table of docs/ODD.md from SPECS."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    start = text.index("<!-- parameter table")
    start = text.index("\n", start) + 1
    end = text.index("<!-- end of parameter table -->")
    path.write_text(text[:start] + markdown_table() + "\n" + text[end:], encoding="utf-8")


if __name__ == "__main__":
    import sys
    if "--update-odd" in sys.argv:
        update_odd()
    else:
        print(markdown_table())
