"""Secondary patterns (bantar_sim.studies.calibration.patterns): the statistics move the way the mechanisms say, and the filter's
criteria are applied as documented."""
from __future__ import annotations

import math

import pytest

from bantar_sim.model.model import BantarModel
from bantar_sim.studies.calibration.patterns import PATTERN_CRITERIA, passes, pattern_stats

CITY = dict(scale=0.3, households_per_rt=30, end_year=2020, base_utility=-4.3, social_influence=3.1,
            proposal_intercept=-0.6, assessment_threshold=0.40)


def stats(**kw):
    return pattern_stats(BantarModel(rng=11, **{**CITY, **kw}).run())


def test_fast_waning_shows_pattern_3_and_no_waning_does_not():
    waning = stats(waning_half_life=2.0)
    held = stats(waning_half_life=2.0, post_award_waning=False)
    assert waning["post_award_drop"] > held["post_award_drop"] + 0.1
    assert waning["still_practising_3y"] < held["still_practising_3y"]
    assert waning["lapsed_by_2020"] > held["lapsed_by_2020"]
    assert PATTERN_CRITERIA["post_award_drop"].ok(waning["post_award_drop"])
    assert not PATTERN_CRITERIA["post_award_drop"].ok(held["post_award_drop"])


def test_pattern_stats_need_a_run_to_2020():
    m = BantarModel(rng=1, **{**CITY, "end_year": 2019}).run()
    with pytest.raises(ValueError, match="2020"):
        pattern_stats(m)


def test_criteria_are_inclusive_bands_and_nan_fails():
    good = {"post_award_drop": 0.03, "still_practising_3y": 0.95, "label_growth_years": 6.0}
    assert passes(good)
    for key, bad in (("post_award_drop", 0.029), ("still_practising_3y", 0.96), ("still_practising_3y", 0.19),
                     ("label_growth_years", 5.0), ("post_award_drop", math.nan)):
        assert not passes({**good, key: bad}), (key, bad)


def test_violation_is_zero_inside_the_bands_and_grows_outside():
    from bantar_sim.studies.calibration.patterns import violation
    good = {"post_award_drop": 0.2, "still_practising_3y": 0.8, "label_growth_years": 6.0}
    assert violation(good) == 0.0
    assert violation({**good, "post_award_drop": -0.07}) == pytest.approx(2.0)        # 0.10 below, unit 0.05
    assert violation({**good, "still_practising_3y": 1.0}) == pytest.approx(1.0)
    assert violation({**good, "label_growth_years": 4.0}) == pytest.approx(2.0)
    assert violation({**good, "still_practising_3y": math.nan}) == 2.0


def test_patterns_enter_the_abc_as_a_fourth_equally_weighted_group():
    from bantar_sim.studies.calibration.targets import (CalibrationInputError, StatSpec, default_targets, model_stats,
                                                observed_stats)
    spec = StatSpec(patterns=True)
    assert spec.keys()[-1] == "pattern.violation" and set(spec.groups()) == {"city", "wins", "proposals", "pattern"}
    w = spec.group_weights()
    assert sum(w[k] for k in spec.groups()["pattern"]) == pytest.approx(sum(w[k] for k in spec.groups()["city"]))
    assert observed_stats(default_targets(), spec)["pattern.violation"] == 0.0
    m = BantarModel(rng=11, **{**CITY, "waning_half_life": 2.0}).run()
    assert model_stats(m, spec)["pattern.violation"] >= 0.0
    assert "pattern.violation" not in model_stats(m, StatSpec())
    with pytest.raises(CalibrationInputError, match="2020"):
        StatSpec(last_year=2018, patterns=True)
