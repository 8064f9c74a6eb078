"""Rolling-origin forecasts (issue 15, item 2): the scores on toy problems, the frozen priors, one tiny origin."""
from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bantar_sim.cli import main as cli_main
from bantar_sim.model.data import SUBDISTRICTS, YEARS
from bantar_sim.studies.calibration.forecast import (
    ForecastConfig,
    coverage_90,
    crps_sample,
    naive_forecasts,
    run_forecast_check,
    score_forecasts,
    summarise_scores,
)
from bantar_sim.studies.calibration.forecast_report import (
    PUBLISHED_FILES,
    forecast_results_markdown,
    publish_forecast,
)
from bantar_sim.studies.calibration.targets import CalibrationInputError, load_priors

ROOT = Path(__file__).resolve().parents[1]
HELDOUT_PRIORS = ROOT / "calibration" / "priors_heldout.toml"


def normal_crps(mu: float, sigma: float, y: float) -> float:
    """Closed form (Gneiting & Raftery 2007): sigma * (z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi))."""
    z = (y - mu) / sigma
    phi = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    Phi = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    return sigma * (z * (2 * Phi - 1) + 2 * phi - 1 / math.sqrt(math.pi))


# ------------------------------------------------------------------------------------------ scores
@pytest.mark.parametrize("mu, sigma, y", [(0.0, 1.0, 0.0), (2.0, 0.5, 3.1), (-1.0, 3.0, 4.0)])
def test_crps_matches_the_normal_closed_form(mu, sigma, y):
    x = np.random.default_rng(1).normal(mu, sigma, size=(200_000,))
    # Monte-Carlo error of E|X - y| alone is sd|X - y| / sqrt(n) <= (|y - mu| + sigma) / 447; allow 4 of them.
    tol = 4 * (abs(y - mu) + sigma) / math.sqrt(len(x))
    assert crps_sample(x, y) == pytest.approx(normal_crps(mu, sigma, y), abs=tol)


def test_crps_energy_form_equals_the_pairwise_definition_and_vectorises():
    rng = np.random.default_rng(2)
    x = rng.poisson(4.0, size=(57, 3)).astype(float)
    y = np.array([0.0, 4.0, 9.5])
    brute = [np.mean(np.abs(x[:, j] - y[j])) - 0.5 * np.mean(np.abs(x[:, j, None] - x[None, :, j]))
             for j in range(3)]
    assert crps_sample(x, y) == pytest.approx(brute, rel=1e-12)
    assert crps_sample(np.full(10, 3.0), 3.0) == 0.0                 # a perfect point forecast
    assert crps_sample(np.full(10, 3.0), 5.0) == pytest.approx(2.0)  # a point forecast: absolute error


def test_a_forecast_equal_to_the_truth_beats_a_biased_one():
    rng = np.random.default_rng(3)
    truth = rng.normal(10, 2, size=500)                                # 500 forecast cases
    honest = rng.normal(10, 2, size=(2000, 1)) + np.zeros((1, 500))
    biased = honest + 3.0
    assert crps_sample(honest, truth).mean() < crps_sample(biased, truth).mean()
    assert coverage_90(honest, truth).mean() > coverage_90(biased, truth).mean()


def test_coverage_of_a_calibrated_toy_forecast_is_near_0_9():
    rng = np.random.default_rng(4)
    mu = rng.uniform(0, 20, size=2000)
    y = rng.normal(mu, 1.5)
    samples = rng.normal(mu, 1.5, size=(4000, 2000))
    cov = coverage_90(samples, y).mean()
    # binomial sd of a share out of 2000 at 0.9 is 0.0067; allow ~4 of them
    assert abs(cov - 0.9) < 0.03
    assert coverage_90(rng.normal(mu, 0.3, size=(4000, 2000)), y).mean() < 0.5     # too narrow: shows


def test_naive_forecasts_on_a_toy_series():
    history = np.array([[10.0, 0.0], [20.0, 4.0], [30.0, 8.0]])       # 3 training years x 2 areas
    f = naive_forecasts(history, horizons=[1, 2], draws=20_000, seed=5)
    assert f["last"].shape == f["mean"].shape == (20_000, 2, 2)
    np.testing.assert_allclose(f["last"].mean(axis=0), [[30, 8], [30, 8]], rtol=0.03)
    np.testing.assert_allclose(f["mean"].mean(axis=0), [[20, 4], [20, 4]], rtol=0.03)
    np.testing.assert_allclose(f["last"].var(axis=0), [[30, 8], [30, 8]], rtol=0.06)     # Poisson: var = mean
    assert (f["last"] >= 0).all() and (f["last"] == np.round(f["last"])).all()


def test_score_and_summary_tables_of_a_toy_forecast():
    rng = np.random.default_rng(6)
    ny, ns = len(YEARS), len(SUBDISTRICTS)
    obs = rng.poisson(5.0, size=(ny, ns)).astype(float)
    pred = obs[None] + rng.normal(0, 0.5, size=(300, ny, ns))         # a good model: near the truth
    scores = score_forecasts(pred, obs, 2017, draws=2000, seed=1)
    assert sorted(scores["year"].unique()) == [2018, 2019, 2020]
    assert set(scores["horizon"]) == {1, 2, 3}
    assert (scores["level"] == "city").sum() == 3 and (scores["level"] == "subdistrict").sum() == 3 * ns
    city = scores[scores.level == "city"].set_index("year")
    assert city.at[2018, "observed"] == obs[YEARS.index(2018)].sum()
    assert city.at[2018, "point_last"] == obs[YEARS.index(2017)].sum()
    assert city.at[2019, "point_mean"] == pytest.approx(obs[1:YEARS.index(2017) + 1].sum(axis=1).mean())
    summ = summarise_scores(scores)
    allh = summ[summ.horizon == "all"].set_index("level")
    assert (allh["skill_vs_last"] > 0).all() and (allh["skill_vs_mean"] > 0).all()
    row = allh.loc["subdistrict"]
    assert row["skill_vs_last"] == pytest.approx(1 - row["crps_model"] / row["crps_last"])
    assert list(summ[summ.level == "city"]["horizon"]) == ["1", "2", "3", "all"]


# ------------------------------------------------------------------------------- frozen priors
def test_heldout_priors_cite_no_year_after_2016_and_load():
    text = HELDOUT_PRIORS.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    assert data["provenance"]["data_years"] == "2014-2016"
    later = re.compile(r"\b20(1[7-9]|20)\b")
    for name, entry in data["params"].items():
        assert not later.search(entry["reason"]), f"{name}: its reason cites a year after 2016"
    assert not later.search(" ".join(str(v) for v in data["provenance"].values()))
    shipped = load_priors(ROOT / "calibration" / "priors.toml")
    frozen = load_priors(HELDOUT_PRIORS)
    # The held-out file adds award_budget_cv: its forecast years draw the budget (the shipped calibration
    # reads 2015-2020 from Table 3, so it has no year in which the CV acts).
    assert [n for n in frozen.names if n != "award_budget_cv"] == shipped.names and "award_budget_cv" in frozen.names
    assert frozen.settings == shipped.settings
    by_name = {p.name: p for p in frozen.priors}
    for b in shipped.priors:                                     # the same or wider ranges
        assert by_name[b.name].low <= b.low and by_name[b.name].high >= b.high


# ----------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("flags, message", [
    (["--origins", "2014"], "outside [2015, 2019]"),
    (["--origins", "2020"], "outside [2015, 2019]"),
    (["--origins", "2016,x"], "comma-separated years"),
    (["--origins", "2017,2017"], "twice"),
    (["--population-size", "1"], "--population-size"),
    (["--workers", "2", "--executor", "serial"], "--workers"),
    (["--priors", "/nonexistent/priors.toml"], "file not found"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, flags, message):
    out = tmp_path / "fc"
    rc = cli_main(["forecast-check", "--out", str(out), "--no-progress", *flags])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_the_shipped_calibration_folder_is_refused():
    with pytest.raises(CalibrationInputError, match="shipped calibration folder"):
        ForecastConfig(out=ROOT / "calibration", priors=HELDOUT_PRIORS).check()


# ------------------------------------------------------------------------------- one tiny origin
def test_one_tiny_origin_on_the_real_model_writes_its_files(tmp_path):
    from bantar_sim.engine.executors import make_executor
    out = tmp_path / "forecast"
    cfg = ForecastConfig(origins=(2018,), reference=40, predictive_runs=6, scale=0.05,
                         households_per_rt=10, priors=HELDOUT_PRIORS, out=out, executor="serial")
    with make_executor("serial") as ex:
        res = run_forecast_check(cfg, executor=ex, progress=False)
    for f in ("report.md", "forecast.json", "forecast_scores.csv", "forecast_summary.csv", "forecast_city.png",
              "forecast_city_bands.csv", "origin_2018/heldout_coverage.csv", "origin_2018/calibration.json"):
        assert (out / f).is_file(), f
    assert (tmp_path / "abc_forecast_2018_reference").is_dir()     # its own reference table, beside the folder
    assert "reference table of 40 prior simulations" in (out / "report.md").read_text()
    scores = pd.read_csv(out / "forecast_scores.csv")
    assert sorted(scores["year"].unique()) == [2019, 2020] and len(scores) == 2 * (1 + len(SUBDISTRICTS))
    assert np.isfinite(scores[["crps_model", "crps_last", "crps_mean"]].to_numpy()).all()
    # compared at the simulated scale: Jelutung's 2019 count x its simulated share of RTs
    jel = scores[(scores.year == 2019) & (scores.area == "Jelutung")]["observed"].iloc[0]
    assert jel == pytest.approx(17 * round(233 * 0.05) / 233)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "model version" in report and "commit" in report and "seed: 2014" in report
    assert "## Origin 2018" in report
    assert re.search(r"the model (beats|does NOT beat|cannot be compared with) ", report)   # a verdict, either way
    assert len(res.verdicts) == 4 and not res.summary.empty

    # Published into a calibration folder (the report, tables and figure; not the origins' folders) and quoted.
    cal = tmp_path / "calibration"
    assert "not yet published" in forecast_results_markdown(cal)[0]
    pub = publish_forecast(out, cal)
    assert sorted(p.name for p in pub.iterdir()) == sorted(PUBLISHED_FILES)
    text = "\n".join(forecast_results_markdown(cal))
    assert "seed 2014" in text and "origins 2018" in text and "stale" not in text
    assert text.count("\n- origin 2018") == 4 and "comparisons" in text
    # a check of another model version is refused (the copy stays) and, once there, flagged stale
    meta = json.loads((out / "forecast.json").read_text())
    meta["model_version"] = "0.0.0+old"
    (out / "forecast.json").write_text(json.dumps(meta))
    with pytest.raises(CalibrationInputError, match="model version"):
        publish_forecast(out, cal)
    (pub / "forecast.json").write_text(json.dumps(meta))
    assert "stale until `make forecast-check`" in "\n".join(forecast_results_markdown(cal))
