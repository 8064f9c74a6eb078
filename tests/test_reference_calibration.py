"""The default calibration method (issue 15, item 4): rejection ABC on one reference table of prior simulations.

A tiny city (scale 0.05, 10 households per RT) and a 40-simulation table: what is checked is the method's
contract — the accepted sets are the table's closest members, the patterns come from their own runs, the
point is the median of the pattern-passing simulations closest to Table 3, a rerun reuses the table, any
executor gives the same posterior — not the production numbers (calibration/README.md, `make calibrate`).
"""
from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bantar_sim import cli
from bantar_sim.engine.storage import load_table
from bantar_sim.studies.calibration import CalibrationConfig
from bantar_sim.studies.calibration.config import StatSpec
from bantar_sim.studies.calibration.forecast import ForecastConfig
from bantar_sim.studies.calibration.promote import SHIPPED_FILES
from bantar_sim.studies.calibration.reference import (
    MEDIAN_NOTE,
    PATTERN_PARAMETER,
    PATTERN_POOL,
    VIOLATION_KEY,
    point_pool,
    weighted_median,
)
from bantar_sim.studies.calibration.sbc_posterior import stat_scales
from bantar_sim.studies.calibration.stability import StabilityConfig
from bantar_sim.studies.calibration.stats import observed_stats
from bantar_sim.studies.calibration.targets import default_targets, load_priors

REPO = Path(__file__).resolve().parents[1]
PRIORS = REPO / "calibration" / "priors.toml"
SMALL = ["--scale", "0.05", "--households-per-rt", "10", "--predictive-runs", "4", "--pattern-reps", "1",
         "--no-progress", "--prior", str(PRIORS)]
N = 40


def _calibrate(tmp: Path, name: str, *extra: str, db_name: str | None = None) -> tuple[int, Path, Path]:
    out, db = tmp / name, tmp / f"{db_name or name}.db"
    rc = cli.main(["calibrate", *SMALL, "--reference", str(N), "--out", str(out), "--db", str(db), *extra])
    return rc, out, db


def _prov(out: Path) -> dict:
    return tomllib.loads((out / "calibrated.toml").read_text())["provenance"]


@pytest.fixture(scope="module")
def ref_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    rc, out, db = _calibrate(tmp, "a", "--executor", "serial")
    assert rc == 0
    return tmp, out, db


def test_reference_calibration_end_to_end(ref_run):
    _, out, db = ref_run
    for f in (*SHIPPED_FILES, "fit_metrics_point.csv"):
        assert (out / f).is_file(), f
    prov = _prov(out)
    accepted = math.ceil(0.3 * N)
    assert prov["method"] == "reference" and prov["reference_simulations"] == N and prov["accept"] == 0.3
    assert prov["accepted"] == accepted and prov["simulations_computed_now"] == N and prov["simulations_reused"] == 0
    assert 1 <= prov["effective_sample_size"] <= accepted
    store = Path(prov["store"])
    assert store == db.parent / "a_reference" and store.is_dir() and not db.exists()   # no pyabc history
    names = load_priors(PRIORS).names
    post = pd.read_csv(out / "posterior.csv")
    assert list(post.columns) == [*names, "weight", "passes_patterns"] and len(post) == accepted
    assert post["weight"].sum() == pytest.approx(1.0) and (post["weight"] >= 0).all()

    # The accepted sets are members of the stored table, and its closest ones by the MAD-scaled distance.
    table = load_table(store, "stats")
    spec = StatSpec(patterns=True, pattern_weight=load_priors(PRIORS).pattern_weight)
    keys = spec.keys()
    stats = table[keys].to_numpy(float)
    obs = observed_stats(default_targets(), spec, 0.05)
    scales = stat_scales(stats)
    use = scales > 0
    d = np.sqrt((((stats[:, use] - np.array([obs[k] for k in keys])[use]) / scales[use]) ** 2).sum(axis=1))
    theta = table[[f"param.{n}" for n in names]].to_numpy(float)
    rows = [int(np.flatnonzero((np.abs(theta - r) < 1e-12).all(axis=1))[0]) for r in post[names].to_numpy(float)]
    assert len(set(rows)) == accepted
    assert d[rows].max() <= np.delete(d, rows).min() + 1e-9
    # ... whose own runs say whether they show the patterns
    assert (post["passes_patterns"].to_numpy() == (table[VIOLATION_KEY].to_numpy()[rows] == 0)).all()
    assert prov["particles_passing_patterns"] == int(post["passes_patterns"].sum())

    # The point's pool: the table's pattern-passing simulations closest to Table 3 (all of them: fewer than
    # PATTERN_POOL pass in a 40-simulation table), and the point is their median with the half-life from the patterns.
    cal = tomllib.loads((out / "calibrated.toml").read_text())["params"]
    ok = post["passes_patterns"].to_numpy(bool)
    assert isinstance(prov["point_passes_patterns"], bool)
    pool = pd.read_csv(out / "point_pool.csv")
    passing = np.flatnonzero(table[VIOLATION_KEY].to_numpy() == 0)
    assert prov["table_simulations_passing_patterns"] == len(passing) and prov["point_pool"] == len(pool)
    assert sorted(pool["row"]) == sorted(passing[np.argsort(d[passing], kind="stable")[:PATTERN_POOL]])
    assert pool["distance"].to_numpy() == pytest.approx(d[pool["row"].to_numpy(int)])
    assert (np.diff(pool["distance"].to_numpy()) >= 0).all()                     # closest first
    assert pool[names].to_numpy() == pytest.approx(theta[pool["row"].to_numpy(int)])
    if len(pool):
        med = dict(zip(names, np.median(pool[names].to_numpy(float), axis=0)))
        assert prov["pattern_parameter_median"] == pytest.approx(med[PATTERN_PARAMETER])
    if prov["point"] == MEDIAN_NOTE:
        assert {n: cal[n] for n in names if n != PATTERN_PARAMETER} == pytest.approx(
            {n: v for n, v in med.items() if n != PATTERN_PARAMETER}, rel=1e-9)
        lo, hi = next((p.low, p.high) for p in load_priors(PRIORS).priors if p.name == PATTERN_PARAMETER)
        assert lo <= cal[PATTERN_PARAMETER] <= hi and prov["point_passes_patterns"] and prov["pattern_margin"] >= 0
    elif len(pool):                      # the patterns hold at no half-life: a member of the pool instead
        assert prov["point"].startswith("medoid of the point's pool")
        assert tuple(cal[n] for n in names) in {tuple(r) for r in pool[names].to_numpy(float)}
    else:
        assert prov["point"].startswith("NO simulation of the table")
        assert not ok.any()
    fit, at_point = pd.read_csv(out / "fit_metrics.csv"), pd.read_csv(out / "fit_metrics_point.csv")
    assert list(fit["target"]) == list(at_point["target"])
    assert "reference table of 40 prior simulations" in (out / "summary.txt").read_text()


def test_the_point_pool_is_the_closest_passing_simulations():
    d = np.array([0.5, 0.1, 0.9, 0.3, 0.2, 0.3, 0.05])
    ok = np.array([True, True, False, True, False, True, False])
    assert list(point_pool(d, ok, 3)) == [1, 3, 5]               # passing only, closest first, ties by row
    assert list(point_pool(d, ok, 10)) == [1, 3, 5, 0]           # all of them when fewer pass
    assert len(point_pool(d, np.zeros(7, bool))) == 0
    # the median of equal weights is the plain median (the pool's weights)
    x = np.random.default_rng(0).random((41, 2))
    assert weighted_median(x, np.ones(41)) == pytest.approx(np.median(x, axis=0))


def test_pattern_margin_is_the_distance_inside_the_bands():
    from bantar_sim.studies.calibration.reference import pattern_margin
    good = {"post_award_drop": 0.13, "still_practising_3y": 0.5, "label_growth_years": 6.0}
    assert pattern_margin(good) == pytest.approx(2.0)              # (0.13 - 0.03) / 0.05: the drop is nearest
    assert pattern_margin({**good, "still_practising_3y": 0.9}) == pytest.approx(1.0)
    assert pattern_margin({**good, "still_practising_3y": 0.99}) == pytest.approx(-0.8)     # 0.04 outside
    assert pattern_margin({**good, "label_growth_years": 5.0}) < 0


def test_a_rerun_reuses_the_table_and_any_executor_gives_the_same_posterior(ref_run):
    tmp, out, db = ref_run
    rc, again, _ = _calibrate(tmp, "again", "--executor", "serial", db_name="a")
    assert rc == 0
    prov = _prov(again)
    assert prov["simulations_computed_now"] == 0 and prov["simulations_reused"] == N
    assert (again / "posterior.csv").read_bytes() == (out / "posterior.csv").read_bytes()
    rc, pooled, _ = _calibrate(tmp, "pooled", "--executor", "process", "--workers", "2")
    assert rc == 0 and _prov(pooled)["simulations_computed_now"] == N
    assert (pooled / "posterior.csv").read_bytes() == (out / "posterior.csv").read_bytes()
    rc, other, _ = _calibrate(tmp, "other", "--executor", "serial", "--seed", "7")
    assert rc == 0 and (other / "posterior.csv").read_bytes() != (out / "posterior.csv").read_bytes()


@pytest.mark.parametrize("extra, message", [
    (["--population-size", "50"], "--population-size applies only with --method abc-smc"),
    (["--max-walltime", "5"], "--max-walltime applies only with --method abc-smc"),
    (["--patterns-only"], "--patterns-only applies only with --method abc-smc"),
    (["--method", "abc-smc", "--accept", "0.2"], "--reference applies only with --method reference"),
    (["--accept", "0"], "--accept must be a share in (0, 1]"),
    (["--accept", "most"], "--accept must be a share in (0, 1]"),
    (["--reference", "5"], "--reference must be an integer in [10, 10000000]"),
    (["--reference", "many"], "--reference must be an integer in [10, 10000000]"),
    (["--accept", "0.1"], "--accept 0.1 keeps 4 of --reference 40 simulations; at least 10 are needed"),
    (["--method", "mcmc"], "--method must be one of reference, abc-smc"),
])
def test_bad_method_options_refused_in_one_line_before_any_work(tmp_path, capsys, extra, message):
    rc, out, db = _calibrate(tmp_path, "x", *extra)
    err = capsys.readouterr().err
    assert rc == 2 and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_studies_pass_the_method_to_each_calibration():
    assert CalibrationConfig().calibration_method == "reference"
    assert CalibrationConfig(compare_models=True).calibration_method == "abc-smc"
    smc = StabilityConfig(method="abc-smc", population_size=5).calibration_config(3)
    assert smc.calibration_method == "abc-smc" and smc.population_size == 5 and smc.seed == 3
    ref = ForecastConfig(reference=77, accept=0.5).calibration_config(2018)
    assert ref.calibration_method == "reference" and (ref.reference, ref.accept) == (77, 0.5)
    assert "reference table of 77 prior simulations, the closest 0.5" in ref.describe_method()


def test_the_documents_quote_the_default_table_size_and_sbc_checks_the_same_table():
    """The default table size is written in prose in four places and in `make sbc`'s command: none may drift."""
    n = CalibrationConfig.reference
    words = f"{n:,} prior simulations"
    assert words in (REPO / "README.md").read_text(encoding="utf-8")
    assert words in (REPO / "docs" / "ODD.md").read_text(encoding="utf-8")
    assert f"as long as {n:,}" in (REPO / "calibration" / "README.md").read_text(encoding="utf-8")
    assert f"[--reference {n}]" in (REPO / "calibration" / "README.md").read_text(encoding="utf-8")
    pool = f"{PATTERN_POOL} pattern-passing simulations closest to Table 3"
    assert pool in (REPO / "calibration" / "README.md").read_text(encoding="utf-8")
    assert f"the {PATTERN_POOL} simulations of the table that show the patterns" in (
        REPO / "docs" / "ODD.md").read_text(encoding="utf-8")
    make = (REPO / "Makefile").read_text(encoding="utf-8")
    assert words in make and f"bantar-sim sbc --reference {n} " in make
    from bantar_sim.studies.calibration.sbc import SBCConfig
    # the coverage study checks the default calibration's posterior
    assert (SBCConfig.reference, SBCConfig.accept) == (CalibrationConfig.reference, CalibrationConfig.accept)
