"""Simulation-based calibration (issue 15 item 1): the coverage machinery on a toy problem with a known
posterior, a deliberately broken posterior it must flag, the identification labels, and a tiny end-to-end
run of the real model published into a calibration folder and quoted by the generated passages.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chisquare

from bantar_sim.cli import main as cli_main
from bantar_sim.engine.executors import SerialExecutor
from bantar_sim.model.version import MODEL_VERSION
from bantar_sim.studies.calibration.sbc import (
    LABELS,
    SBCConfig,
    abc_posterior,
    binned_ranks,
    clopper_pearson,
    coverage_table,
    label,
    rank_bins,
    run_sbc,
    summarise_truth,
    toy_priors,
    toy_simulator,
)
from bantar_sim.studies.calibration.sbc_publish import (
    PUBLISHED_FILES,
    identification,
    identification_markdown,
    publish_sbc,
    sbc_results_markdown,
)
from bantar_sim.studies.calibration.stats import StatSpec
from bantar_sim.studies.calibration.targets import CalibrationInputError, load_priors


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("sbc") / "toy"
    cfg = SBCConfig(priors=toy_priors(), reference=2000, truths=200, accept=0.1, draws=100, seed=1, out=out,
                    simulator=toy_simulator)
    return run_sbc(cfg, SerialExecutor(), progress=False)


def test_toy_coverage_holds_for_informative_parameters(toy):
    cov = toy.coverage.set_index("parameter")
    for p in ("a", "b"):
        assert cov.loc[p, "coverage90_low"] <= 0.9 <= cov.loc[p, "coverage90_high"], cov.loc[p]
        assert cov.loc[p, "label"] == "recovered"
    # The exact posterior of a is N(s_a, 0.05^2): its 90% interval is 0.164 wide (prior width 1).
    assert cov.loc["a", "width90_rel"] == pytest.approx(2 * 1.645 * 0.05, rel=0.25)
    assert cov.loc["c", "label"] == "weakly identified"        # observed by nothing: posterior = prior


def test_toy_ranks_are_uniform(toy):
    for p in ("a", "b", "c"):
        counts = binned_ranks(toy.ranks[f"{p}.rank"].to_numpy(), 100, rank_bins(100, len(toy.ranks)))
        assert chisquare(counts).pvalue > 0.001, (p, counts)


def test_adjusted_posterior_stays_inside_prior(toy):
    for p in toy_priors():
        assert (toy.ranks[f"{p.name}.q05"] >= p.low).all() and (toy.ranks[f"{p.name}.q95"] <= p.high).all()


def test_toy_writes_report(toy):
    for f in ("report.md", "coverage.csv", "ranks.csv", "rank_histograms.png", "sbc.json"):
        assert (toy.out_dir / f).is_file(), f
    assert (toy.out_dir / "runs").is_dir()
    text = (toy.out_dir / "report.md").read_text()
    assert "recovered" in text and "rank_histograms.png" in text


def test_toy_method_check(toy):
    """The report scores the chosen posterior beside rejection ABC and other accept fractions."""
    m = pd.read_csv(toy.out_dir / "methods.csv")
    first = m.iloc[0]
    assert first["method"] == "regression-adjusted" and first["accept"] == 0.1 and bool(first["adjusted"])
    assert first["honest"] == first["parameters"] == 3
    assert {"rejection", "regression-adjusted"} == set(m["method"]) and set(m["accept"]) == {0.05, 0.1}
    # the check applies the adjustment below the study's rule too (100 accepted < 30 x 4), to show its effect
    assert m[(m["method"] == "regression-adjusted") & (m["accept"] == 0.05)]["adjusted"].iloc[0]
    # the regression narrows the intervals of the informative parameters
    rejection = m[(m["method"] == "rejection") & (m["accept"] == 0.1)].iloc[0]
    assert first["width90_rel_mean"] < rejection["width90_rel_mean"]
    assert "Which posterior is honest here" in (toy.out_dir / "report.md").read_text()


def test_adjustment_needs_30_accepted_per_coefficient():
    rng = np.random.default_rng(3)
    theta = rng.uniform(0, 1, size=(1000, 1))
    stats = theta + 0.05 * rng.standard_normal((1000, 1))          # 1 statistic: 2 coefficients, 60 needed
    for accept, adjusted in ((0.059, False), (0.06, True)):
        post = abc_posterior(theta, stats, np.array([0.5]), np.zeros(1), np.ones(1), accept)
        assert post.adjusted is adjusted, accept


def test_a_left_out_truth_is_not_its_own_neighbour():
    from bantar_sim.studies.calibration.sbc import Truth, posterior_rows
    theta = np.sort(np.random.default_rng(4).uniform(0.01, 0.99, 50))[:, None]
    stats = theta.copy()                                            # noise-free: a member would find itself
    rows = posterior_rows(theta, stats, [Truth(stats[20], theta[20], 20)], np.zeros(1), np.ones(1), 0.04,
                          ["a"], np.ones(1), 10, np.random.default_rng(0), adjust=False)
    post = abc_posterior(np.delete(theta, 20, 0), np.delete(stats, 20, 0), stats[20], np.zeros(1), np.ones(1), 0.04)
    assert rows["a.q50"].iloc[0] == pytest.approx(post.quantiles([0.5])[0, 0])
    assert rows["a.q50"].iloc[0] != pytest.approx(theta[20, 0])     # not its own row's value


def test_shrunk_posterior_is_flagged_miscalibrated():
    """Intervals 3x too narrow must fail the check: the check can fail."""
    priors = toy_priors()
    lows, highs = np.array([p.low for p in priors]), np.array([p.high for p in priors])
    ss = np.random.SeedSequence(7).spawn(2)
    rng = np.random.default_rng(ss[0])
    theta = rng.uniform(lows, highs, size=(2000, 3))
    stats = np.array([list(toy_simulator(dict(zip("abc", t)), int(s)).values())
                      for t, s in zip(theta, rng.integers(0, 2**32, 2000))])
    r2 = np.random.default_rng(ss[1])
    rows = []
    for i in range(150):
        t = r2.uniform(lows, highs)
        obs = np.array(list(toy_simulator(dict(zip("abc", t)), 10_000 + i).values()))
        post = abc_posterior(theta, stats, obs, lows, highs, 0.05, list("abc")).shrunk(3.0)
        rows.append(summarise_truth(t, post, 100, r2))
    cov = coverage_table(pd.DataFrame(rows), priors, 100).set_index("parameter")
    for p in ("a", "b"):
        assert cov.loc[p, "label"] == "not identified / miscalibrated", cov.loc[p]
        assert cov.loc[p, "coverage90_high"] < 0.9


def test_labels_and_binomial_interval():
    lo, hi = clopper_pearson(90, 100)
    assert lo < 0.9 < hi and lo == pytest.approx(0.8238, abs=1e-3)
    assert clopper_pearson(0, 10)[0] == 0.0 and clopper_pearson(10, 10)[1] == 1.0
    assert label(0.85, 0.95, 0.2) == LABELS[0]
    assert label(0.85, 0.95, 0.6) == LABELS[1]
    assert label(0.6, 0.8, 0.2) == LABELS[2]


@pytest.mark.parametrize("kw, words", [({"reference": 5}, "--reference"), ({"accept": 0.0}, "--accept"),
                                       ({"reference": 20, "accept": 0.1}, "at least 10"),
                                       ({"draws": 0}, "--draws")])
def test_bad_options_refused(kw, words, tmp_path):
    with pytest.raises(CalibrationInputError, match=words):
        run_sbc(SBCConfig(out=tmp_path / "x", **kw), SerialExecutor(), progress=False)
    assert not (tmp_path / "x").exists()


def test_cli_bad_input_exit_2(tmp_path, capsys):
    code = cli_main(["sbc", "--accept", "2", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--accept" in err


def test_identification_labels_toy_table():
    """The issue-15 rule on hand-made rows: boundaries included, the table's own label column ignored."""
    rows = [("rec", 0.90, 0.82, 0.95, 0.30, "weakly identified"),    # stale label: recomputed
            ("wide", 0.88, 0.80, 0.94, 0.70, "recovered"),
            ("half", 0.90, 0.82, 0.95, 0.50, "recovered"),          # exactly half the prior: not narrower
            ("edge", 0.83, 0.74, 0.90, 0.20, "recovered"),          # interval ends on 0.9: contains it
            ("low", 0.81, 0.72, 0.8999, 0.20, "recovered"),
            ("high", 0.99, 0.95, 1.00, 0.90, "recovered")]
    cov = pd.DataFrame(rows, columns=["parameter", "coverage90", "coverage90_low", "coverage90_high",
                                      "width90_rel", "label"])
    ids = identification(cov).set_index("parameter")
    assert list(ids.index) == [r[0] for r in rows]
    assert ids["label"].to_dict() == {"rec": LABELS[0], "wide": LABELS[1], "half": LABELS[1], "edge": LABELS[0],
                                      "low": LABELS[2], "high": LABELS[2]}
    assert "overconfident" in ids.loc["low", "reason"] and "0.900" in ids.loc["low", "reason"]
    assert "too cautious" in ids.loc["high", "reason"]
    assert "0.70 of the prior" in ids.loc["wide", "reason"]


def test_identification_of_the_toy_study(toy, tmp_path):
    ids = identification(toy.coverage).set_index("parameter")["label"]
    assert ids["a"] == ids["b"] == LABELS[0] and ids["c"] == LABELS[1]
    # A toy simulator's study is not the model's: it cannot be published as the calibration's coverage.
    with pytest.raises(CalibrationInputError, match="model version"):
        publish_sbc(toy.out_dir, tmp_path / "calibration")
    assert not (tmp_path / "calibration").exists()


def test_model_end_to_end_tiny(tmp_path, capsys, monkeypatch):
    """The real model, tiny: 40 reference simulations and 5 truths at scale 0.05; runs, writes its files,
    publishes them into a calibration folder, and the generated passages quote them."""
    repo = Path(__file__).resolve().parents[1]
    (tmp_path / "calibration").mkdir()
    shutil.copyfile(repo / "calibration" / "priors.toml", tmp_path / "calibration" / "priors.toml")
    monkeypatch.chdir(tmp_path)            # --publish finds calibration/ from the working directory
    out = tmp_path / "sbc"
    code = cli_main(["sbc", "--reference", "40", "--truths", "5", "--loo-truths", "3", "--accept", "0.25",
                     "--scale", "0.05",
                     "--households-per-rt", "10", "--executor", "serial", "--no-progress", "--out", str(out),
                     "--publish"])
    assert code == 0, capsys.readouterr().err
    cov = pd.read_csv(out / "coverage.csv")
    # one row per calibrated parameter of the default priors file (calibration/priors.toml)
    names = load_priors(repo / "calibration" / "priors.toml").names
    assert len(cov) == len(names) and set(cov["parameter"]) == set(names) and set(cov["label"]) <= set(LABELS)
    ranks = pd.read_csv(out / "ranks.csv")
    assert len(ranks) == 8 and (ranks["source"] == "truth").sum() == 5
    assert (out / "rank_histograms.png").stat().st_size > 1000
    text = (out / "report.md").read_text()
    assert "model version" in text and "seed: 2015" in text and "wall-clock" in text
    # The statistics are the default calibration's, pattern statistic included.
    meta = json.loads((out / "sbc.json").read_text())
    assert meta["statistics"] == StatSpec(patterns=True).keys() and meta["model_version"] == MODEL_VERSION

    # Published: the small files, not the batch store.
    pub = tmp_path / "calibration" / "results" / "sbc"
    assert sorted(p.name for p in pub.iterdir()) == sorted(PUBLISHED_FILES)
    readme = "\n".join(sbc_results_markdown(tmp_path / "calibration"))
    odd = identification_markdown(tmp_path / "calibration")
    assert f"**{MODEL_VERSION}** (the current model)" in readme and "fewer than the 100" in readme
    assert "not at the production settings" in readme and "scale 0.05 (production 1.0)" in readme
    labels = identification(cov).set_index("parameter")["label"]
    for n in names:
        assert f"`{n}` | " in readme, n
        assert f"`{n}`" in odd, n
    assert f"({sum(labels == LABELS[1])}): " in odd

    # A study of another model version is flagged stale in both passages.
    stale = json.loads((pub / "sbc.json").read_text())
    stale["model_version"] = "0.0.0+old"
    (pub / "sbc.json").write_text(json.dumps(stale))
    assert "not the current model" in identification_markdown(tmp_path / "calibration")
    assert "stale until `make sbc`" in "\n".join(sbc_results_markdown(tmp_path / "calibration"))

    # --publish-only of an unfinished study: exit 2, one line, the published copy untouched.
    before = (pub / "sbc.json").read_bytes()
    (out / "ranks.csv").unlink()
    capsys.readouterr()
    code = cli_main(["sbc", "--publish-only", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "missing ranks.csv" in err
    assert (pub / "sbc.json").read_bytes() == before


def test_passages_without_a_published_study(tmp_path):
    assert "not yet published" in sbc_results_markdown(tmp_path)[0]
    assert "not yet established" in identification_markdown(tmp_path)
