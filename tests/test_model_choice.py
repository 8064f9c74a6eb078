"""Model choice from a reference table (issue 14 item 6 / issue 15 item 3): ABC random forests (Pudlo et al.
2016) and a rejection-ABC cross-check, on toy problems whose answer is known, and the seed-stability
comparison end to end at tiny settings (scale 0.05, 10 households per RT, 15 simulations per variant).
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bantar_sim import cli
from bantar_sim.cli import calibrate as calibrate_cli
from bantar_sim.engine.executors import SerialExecutor
from bantar_sim.studies.calibration.compare import CompareConfig, compare_models
from bantar_sim.studies.calibration.model_choice import (
    ReferenceRun,
    choose_model,
    group_weights,
    plan_reference,
    reference_table,
    toy_choice_priors,
    toy_choice_simulator,
)
from bantar_sim.studies.calibration.readme import comparison_markdown
from bantar_sim.studies.calibration.stats import StatSpec
from bantar_sim.studies.calibration.targets import CalibrationInputError, Variant, load_priors

REPO = Path(__file__).resolve().parents[1]
PRIORS = REPO / "calibration" / "priors.toml"
TOY_KEYS = ["loc.mean", "loc.median", "spread.sd", "spread.iqr", "shape.kurtosis", "shape.mad_ratio", "noise.x"]
TRUTHS = [(0.3, 1.2, 101), (-0.6, 0.7, 202), (0.0, 1.8, 303)]        # (toy_mu, toy_sigma, seed) of the observations


def _variant(name: str, shape: str) -> Variant:
    return Variant(name, f"toy {shape}", {"toy_shape": shape}, toy_choice_priors())


def _toy_table(tmp_path: Path, variants: list[Variant], per_variant: int = 150, seed: int = 7) -> pd.DataFrame:
    tasks = plan_reference(variants, per_variant, seed)
    table, summary = reference_table(tasks, ReferenceRun.of(toy_choice_simulator, variants), tmp_path / "runs",
                                     SerialExecutor(), "toy", TOY_KEYS, progress=False)
    assert summary.n_failed == 0 and len(table) == per_variant * len(variants)
    return table


def _observe(shape: str, mu: float, sigma: float, seed: int) -> dict:
    return toy_choice_simulator({"toy_shape": shape, "toy_mu": mu, "toy_sigma": sigma}, seed)


@pytest.fixture(scope="module")
def three_shapes(tmp_path_factory):
    variants = [_variant("normal", "normal"), _variant("laplace", "laplace"), _variant("uniform", "uniform")]
    return variants, _toy_table(tmp_path_factory.mktemp("toy3"), variants)


# ------------------------------------------------------------------------------------------ toy problems
def test_forest_and_rejection_find_the_true_model(three_shapes):
    variants, table = three_shapes
    names = [v.name for v in variants]
    right_forest = right_rejection = 0
    probs, rejection_true = [], []
    for v in variants:
        for mu, sigma, seed in TRUTHS:
            c = choose_model(table, names, TOY_KEYS, _observe(v.settings["toy_shape"], mu, sigma, seed), seed=7,
                             quantile=0.1, trees=200)
            right_forest += c.chosen == v.name
            right_rejection += c.rejection_preferred == v.name
            probs.append(c.probability if c.chosen == v.name else 0.0)
            rejection_true.append(c.rejection[names.index(v.name)])
            assert c.votes.sum() == pytest.approx(1.0) and c.rejection.sum() == pytest.approx(1.0)
            assert c.probabilities.sum() == pytest.approx(1.0)
            assert c.probabilities[names.index(c.chosen)] == pytest.approx(c.probability)
    # The shapes differ clearly in kurtosis over 200 values: the forest must be right (nearly) every time and
    # confident; rejection ABC on the same table, with the location and spread statistics diluting the shape,
    # is weaker but must still favour the truth.
    assert right_forest >= 8, right_forest
    assert np.mean(probs) > 0.8, probs
    assert right_rejection >= 7, right_rejection
    assert np.mean(rejection_true) > 0.5, rejection_true
    assert c.prior_error_rate < 0.1


def test_indistinguishable_models_stay_at_the_prior(tmp_path):
    variants = [_variant("a", "normal"), _variant("b", "normal")]          # the same simulator twice
    table = _toy_table(tmp_path, variants)
    for mu, sigma, seed in TRUTHS:
        c = choose_model(table, ["a", "b"], TOY_KEYS, _observe("normal", mu, sigma, seed), seed=7, quantile=0.1,
                         trees=200)
        assert 0.25 <= c.votes[0] <= 0.75, c.votes
        assert c.probability < 0.8, c.probability                   # prior 0.5: no confident choice
        assert 0.2 <= c.rejection[0] <= 0.8, c.rejection
        assert 0.35 <= c.prior_error_rate <= 0.65, c.prior_error_rate  # a coin flip out of bag


def test_the_forest_is_deterministic_given_its_seed(three_shapes):
    variants, table = three_shapes
    names = [v.name for v in variants]
    obs = _observe("laplace", 0.1, 1.0, 9)
    a = choose_model(table, names, TOY_KEYS, obs, seed=3, quantile=0.1, trees=50)
    b = choose_model(table, names, TOY_KEYS, obs, seed=3, quantile=0.1, trees=50)
    assert a.chosen == b.chosen and a.probability == b.probability
    assert np.array_equal(a.votes, b.votes) and np.array_equal(a.confusion, b.confusion)


def test_too_few_simulations_of_a_variant_is_refused(three_shapes):
    variants, table = three_shapes
    names = [v.name for v in variants]
    with pytest.raises(RuntimeError, match="too few finished simulations"):
        choose_model(table[table["variant"] != "uniform"], names, TOY_KEYS, _observe("normal", 0, 1, 1), 7, 0.1,
                     trees=20)


def test_group_weights_are_the_calibrations():
    spec = StatSpec(patterns=True)
    assert group_weights(spec.keys()).tolist() == [spec.group_weights()[k] for k in spec.keys()]


def test_reference_plan_is_stable_when_it_grows_and_per_variant():
    variants = [_variant("normal", "normal"), _variant("laplace", "laplace")]
    small, large = plan_reference(variants, 5, 11), plan_reference(variants, 10, 11)
    assert [t.tags["variant"] for t in large].count("normal") == 10
    key = {(t.tags["variant"], t.tags["index"]): (t.params, t.seed) for t in large}
    assert all(key[(t.tags["variant"], t.tags["index"])] == (t.params, t.seed) for t in small)
    alone = plan_reference(variants[1:], 5, 11)                   # a variant's draws do not depend on the others
    assert [(t.params, t.seed) for t in alone] == [(t.params, t.seed) for t in small if t.tags["variant"] == "laplace"]
    other = plan_reference(variants, 5, 12)
    assert all(a.seed != b.seed for a, b in zip(small, other))


# ----------------------------------------------------------------------------------- the model, end to end
def _config(out: Path, seeds=(2014, 2015)) -> CompareConfig:
    return CompareConfig(seeds=seeds, method="reference", reference_per_variant=15, rejection_quantile=0.2, trees=50,
                         scale=0.05, households_per_rt=10, prior=PRIORS, out=out, executor="serial")


def test_reference_comparison_end_to_end_and_deterministic(tmp_path):
    out = tmp_path / "cmp"
    res = compare_models(_config(out), progress=False)
    names = ["baseline", *[v.name for v in load_priors(PRIORS).variants]]
    for f in ("report.md", "compare.json", "model_probabilities_by_seed.csv", "model_probabilities_differences.csv",
              "model_confusion_by_seed.csv"):
        assert (out / f).is_file(), f
    assert (out / "runs").is_dir() and not (out / "seed_2014").exists()
    table = pd.read_csv(out / "model_probabilities_by_seed.csv")
    assert {"seed", "variant", "method", "probability", "votes", "chosen", "rejection_probability",
            "simulations"} <= set(table.columns)
    assert set(zip(table["seed"], table["variant"])) == {(s, v) for s in (2014, 2015) for v in names}
    assert (table["method"] == "random forest").all() and (table["simulations"] == 15).all()
    per_seed = table.groupby("seed")
    for col in ("probability", "votes", "rejection_probability"):
        assert per_seed[col].sum().to_numpy() == pytest.approx([1.0, 1.0]), col
    assert (per_seed["chosen"].sum() == 1).all()
    chosen = table[table["chosen"]].set_index("seed")["variant"].to_dict()
    assert chosen == res.preferred and res.same_preferred == (len(set(chosen.values())) == 1)
    diffs = pd.read_csv(out / "model_probabilities_differences.csv")
    expect = table.groupby("variant")["probability"].agg(lambda p: p.max() - p.min())
    assert diffs.set_index("variant")["max_abs_difference"].to_dict() == pytest.approx(expect.to_dict())
    assert res.max_abs_difference == pytest.approx(expect.max())
    conf = pd.read_csv(out / "model_confusion_by_seed.csv")
    assert (conf.groupby("seed")["out_of_bag"].sum() == 15 * len(names)).all()
    prov = json.loads((out / "compare.json").read_text())
    n = 15 * len(names)
    assert prov["method"] == "reference" and prov["simulations_per_seed"] == {"2014": n, "2015": n}
    assert len(prov["statistics"]) == len(StatSpec(patterns=True).keys())    # with the pattern statistic
    report = (out / "report.md").read_text()
    assert "Pudlo" in report and "seed 2014" in report and prov["model_version"] in report

    # Rerun: every simulation is found in runs/, and the answer is the same.
    again = compare_models(_config(out), progress=False)
    assert json.loads((out / "compare.json").read_text())["batch_per_seed"]["2014"]["computed_now"] == 0
    pd.testing.assert_frame_equal(again.probabilities, res.probabilities)
    # The folder of an interrupted comparison (runs/ only) is resumed; an unrelated folder is refused.
    partial = tmp_path / "partial"
    shutil.copytree(out / "runs", partial / "runs")
    resumed = compare_models(_config(partial), progress=False)
    assert json.loads((partial / "compare.json").read_text())["batch_per_seed"]["2015"]["computed_now"] == 0
    pd.testing.assert_frame_equal(resumed.probabilities, res.probabilities)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(CalibrationInputError, match="not a model-comparison result"):
        compare_models(_config(tmp_path / "other"), progress=False)
    # A fresh folder simulates seed 2014's table anew: the same numbers again (seeds, draws and forests are
    # functions of the seed alone); another seed's table is another table.
    fresh = compare_models(_config(tmp_path / "fresh", seeds=(2016, 2014)), progress=False)
    got = fresh.probabilities[fresh.probabilities["seed"] == 2014].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, res.probabilities[res.probabilities["seed"] == 2014].reset_index(drop=True))


def test_readme_passage_names_the_method(tmp_path):
    rows = [{"seed": s, "variant": v, "method": "random forest", "probability": p, "votes": p, "chosen": p > 0.5,
             "rejection_probability": 0.5, "simulations": 1000} for s in (2014, 2015) for v, p in (("a", 0.8),
                                                                                                  ("b", 0.2))]
    pd.DataFrame(rows).to_csv(tmp_path / "model_probabilities_by_seed.csv", index=False)
    text = "\n".join(comparison_markdown(tmp_path / "model_probabilities_by_seed.csv"))
    assert "Pudlo et al. 2016" in text and "random forest" in text and "1,000 prior simulations" in text
    assert text.count("**chosen**") == 2 and "pyabc" not in text
    legacy = pd.DataFrame({"seed": [1, 1], "variant": ["a", "b"], "probability": [1.0, 0.0], "generations": 3})
    legacy.to_csv(tmp_path / "old.csv", index=False)
    assert "pyabc ABC-SMC model selection" in "\n".join(comparison_markdown(tmp_path / "old.csv"))


# ------------------------------------------------------------------------------------------------- the CLI
@pytest.mark.parametrize("extra, message", [
    (["--compare-models", "--seeds", "2014,2015", "--method", "smc"], "--method must be one of reference, abc-smc"),
    (["--compare-models", "--seeds", "2014,2015", "--reference-per-variant", "many"],
     "--reference-per-variant must be an integer"),
    (["--compare-models", "--seeds", "2014,2015", "--reference-per-variant", "5"],
     "--reference-per-variant must be an integer in [10, 10000000], got 5"),
    (["--compare-models", "--seeds", "2014,2015", "--rejection-quantile", "0"], "--rejection-quantile must be"),
    (["--compare-models", "--seeds", "2014,2015", "--rejection-quantile", "x"], "--rejection-quantile must be"),
    (["--compare-models", "--method", "reference"], "--method reference with --compare-models needs --seeds"),
])
def test_bad_comparison_flags_refused_in_one_line(tmp_path, capsys, extra, message):
    rc = cli.main(["calibrate", "--no-progress", "--prior", str(PRIORS), "--out", str(tmp_path / "o"), *extra])
    err = capsys.readouterr().err
    assert rc == 2 and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_cli_builds_the_comparison_config():
    parser = argparse.ArgumentParser()
    calibrate_cli.add_arguments(parser)
    args = parser.parse_args(["--compare-models", "--seeds", "3,4", "--reference-per-variant", "40",
                              "--rejection-quantile", "0.05", "--scale", "0.1"])
    cfg = calibrate_cli.compare_config_from_args(args)
    assert (cfg.seeds, cfg.method, cfg.reference_per_variant, cfg.rejection_quantile, cfg.scale) == (
        [3, 4], "reference", 40, 0.05, 0.1)
    cfg = calibrate_cli.compare_config_from_args(parser.parse_args(["--compare-models", "--seeds", "3,4",
                                                                    "--method", "abc-smc"]))
    assert cfg.method == "abc-smc" and cfg.reference_per_variant == CompareConfig.reference_per_variant
    with pytest.raises(CalibrationInputError, match="--method must be one of"):
        CompareConfig(method="forest").check()


@pytest.mark.parametrize("params, chosen, expected", [
    ('assessment_mode = "standard"', "quota", "does not yet follow"),
    ('assessment_mode = "quota"', "quota", "the default follows"),
    ('assessment_mode = "standard"', "baseline", "the default follows"),
    ("award_budget_observed_until = 2014", "drawn_budget", "the default follows"),
    ("award_budget_observed_until = 2014\naward_budget_cv = 0.0", "constant_budget", "the default follows"),
    ("award_budget_observed_until = 2014\naward_budget_cv = 0.0", "drawn_budget", "does not yet follow"),
])
def test_readme_says_whether_the_default_follows_the_comparison(tmp_path, params, chosen, expected):
    """calibration/README.md's comparison passage compares the chosen variant with the shipped set's variant
    (the most specific variant of priors.toml whose settings the calibrated set has)."""
    from bantar_sim.studies.calibration.readme import _default_follows

    folder = tmp_path / "calibration"
    (folder / "results" / "compare").mkdir(parents=True)
    (folder / "calibrated.toml").write_text(f"[params]\n{params}\n", encoding="utf-8")
    names = ["baseline", "quota", "drawn_budget", "constant_budget"]
    cmp = pd.DataFrame({"seed": [1] * 4 + [2] * 4, "variant": names * 2,
                        "chosen": [chosen == v for v in names] * 2})
    text = _default_follows(cmp, folder / "results" / "compare" / "model_probabilities_by_seed.csv")
    assert expected in text and f"`{chosen}`" in text
    split = cmp.assign(chosen=[True, False, False, False, False, True, False, False])
    assert "does not decide" in _default_follows(split, folder / "results" / "compare" / "x.csv")
