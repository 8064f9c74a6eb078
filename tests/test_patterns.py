"""Secondary patterns (bantar_sim.studies.calibration.stats / .patterns): the statistics move the way the
mechanisms say, the filter's criteria are applied as documented, and every statistic computed from a run's
tables equals the same statistic read from the model's own records (the computation before issue 12)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from bantar_sim.engine.task import run_model
from bantar_sim.model.agents import BANTAR, KENCANA
from bantar_sim.model.model import BantarModel
from bantar_sim.studies.calibration.patterns import PATTERN_CRITERIA, passes, pattern_stats, violation
from bantar_sim.studies.calibration.predictive import predictive_run
from bantar_sim.studies.calibration.stats import StatSpec, observed_stats, table_stats
from bantar_sim.studies.calibration.targets import CalibrationInputError, default_targets, load_priors

CITY = dict(scale=0.3, households_per_rt=30, end_year=2020, base_utility=-4.3, social_influence=3.1,
            proposal_intercept=-0.6, assessment_threshold=0.40)


def stats(**kw):
    return pattern_stats(run_model({**CITY, **kw}, 11, ("rt_year",))["rt_year"])


def test_fast_waning_shows_pattern_3_and_no_waning_does_not():
    waning = stats(waning_half_life=2.0)
    held = stats(waning_half_life=2.0, post_award_waning=False)
    assert waning["post_award_drop"] > held["post_award_drop"] + 0.1
    assert waning["still_practising_3y"] < held["still_practising_3y"]
    assert waning["lapsed_by_2020"] > held["lapsed_by_2020"]
    assert PATTERN_CRITERIA["post_award_drop"].ok(waning["post_award_drop"])
    assert not PATTERN_CRITERIA["post_award_drop"].ok(held["post_award_drop"])


def test_pattern_stats_need_a_run_to_2020():
    with pytest.raises(ValueError, match="2020"):
        stats(end_year=2019)


def test_criteria_are_inclusive_bands_and_nan_fails():
    good = {"post_award_drop": 0.03, "still_practising_3y": 0.95, "label_growth_years": 6.0}
    assert passes(good)
    for key, bad in (("post_award_drop", 0.029), ("still_practising_3y", 0.96), ("still_practising_3y", 0.19),
                     ("label_growth_years", 5.0), ("post_award_drop", math.nan)):
        assert not passes({**good, key: bad}), (key, bad)


def test_violation_is_zero_inside_the_bands_and_grows_outside():
    good = {"post_award_drop": 0.2, "still_practising_3y": 0.8, "label_growth_years": 6.0}
    assert violation(good) == 0.0
    assert violation({**good, "post_award_drop": -0.07}) == pytest.approx(2.0)        # 0.10 below, unit 0.05
    assert violation({**good, "still_practising_3y": 1.0}) == pytest.approx(1.0)
    assert violation({**good, "label_growth_years": 4.0}) == pytest.approx(2.0)
    assert violation({**good, "still_practising_3y": math.nan}) == 2.0


def test_patterns_enter_the_abc_as_a_group_weighted_by_the_priors_file():
    spec = StatSpec(patterns=True)
    assert spec.keys()[-1] == "pattern.violation"
    assert set(spec.groups()) == {"city", "wins", "proposals", "proposal_total", "pattern"}
    w = spec.group_weights()
    assert sum(w[k] for k in spec.groups()["pattern"]) == pytest.approx(sum(w[k] for k in spec.groups()["city"]))
    w3 = StatSpec(patterns=True, pattern_weight=3.0).group_weights()
    assert w3["pattern.violation"] == pytest.approx(3.0)
    assert all(w3[k] == pytest.approx(w[k]) for k in w if k != "pattern.violation")
    assert StatSpec(patterns=True, pattern_weight=load_priors().pattern_weight).group_weights() == w3
    assert observed_stats(default_targets(), spec)["pattern.violation"] == 0.0
    tables = run_model({**CITY, "waning_half_life": 2.0}, 11, ("subdistrict_year", "rt_year"))
    assert table_stats(tables, spec)["pattern.violation"] >= 0.0
    assert "pattern.violation" not in table_stats(tables, StatSpec())
    with pytest.raises(CalibrationInputError, match="2020"):
        StatSpec(last_year=2018, patterns=True)


# ----------------------------------------- the tables path equals the model-records path (issue 12)
def _reference_stats(model, spec: StatSpec) -> dict:
    """The statistics as computed from a BantarModel's records before issue 12 (kept here as the reference)."""
    rec, sd = model.rec, model.city.rt_subdistrict
    ny = spec.last_year - 2014 + 1
    won = rec["won"][:ny]
    out = {f"city.{y}": float(won[y - 2014].sum()) for y in spec.city_years}
    wins = np.bincount(sd, won.sum(axis=0), minlength=11)
    out.update({k: float(wins[i]) for i, k in enumerate(x for x in spec.keys() if x.startswith("wins."))})
    if spec.use_proposals:
        prop = np.bincount(sd, rec["forwarded"][:ny].any(axis=0), minlength=11)   # proposals reaching the city
        out.update({k: float(prop[i]) for i, k in enumerate(x for x in spec.keys() if x.startswith("proposals."))})
        out["proposal_total.city"] = float(prop.sum())
    if spec.patterns:
        out["pattern.violation"] = violation(_reference_patterns(model))
    return out


def _reference_patterns(model) -> dict:
    rec = model.rec
    won = rec["won"][:7]
    first = np.where(won.any(axis=0), won.argmax(axis=0), -1)
    part = rec["participation"][:7]
    drops = [part[a, first == a] - part[a + 2, first == a] for a in range(0, 5) if (first == a).any()]
    early = [rec["practising"][a + 3, first == a] for a in range(0, 4) if (first == a).any()]
    labelled = np.isin(rec["status"][:7], (BANTAR, KENCANA)).sum(axis=1)
    return {"post_award_drop": float(np.concatenate(drops).mean()) if drops else np.nan,
            "still_practising_3y": float(np.concatenate(early).mean()) if early else np.nan,
            "label_growth_years": float((np.diff(labelled) > 0).sum()),
            "lapsed_by_2020": float(rec["lapsed"][:7].sum())}


@pytest.mark.parametrize("last, patterns, seed, waning", [(2020, True, 3, 2.0), (2020, False, 4, 6.0),
                                                          (2018, False, 5, 3.0), (2020, True, 6, 12.0)])
def test_statistics_from_tables_equal_those_from_the_model_records(last, patterns, seed, waning):
    params = dict(CITY, scale=0.1, end_year=last, waning_half_life=waning)
    spec = StatSpec(last, patterns)
    model = BantarModel(rng=seed, **params)
    model.run()
    assert table_stats(run_model(params, seed, spec.tables), spec) == _reference_stats(model, spec)
    if last == 2020:
        new = pattern_stats(run_model(params, seed, ("rt_year",))["rt_year"])
        ref = _reference_patterns(model)
        assert all(new[k] == ref[k] or (math.isnan(new[k]) and math.isnan(ref[k])) for k in ref)
        pred = predictive_run((params, seed))
        sd = model.city.rt_subdistrict
        assert (pred["won"] == np.stack([np.bincount(sd, model.rec["won"][i], minlength=11) for i in range(7)])).all()
        assert (pred["proposals"] == np.bincount(sd, model.rec["forwarded"].any(axis=0), minlength=11)).all()
