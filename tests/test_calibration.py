"""Calibration (issue 4): a tiny ABC-SMC end to end, resume, bad input, distance scaling, calibrated set.

Small cities (scale 0.05, 20 households per RT) and tiny populations keep this file well under its
2.5-minute share of `make test`; the real calibration results are in calibration/README.md.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bantar_sim import cli
from bantar_sim.model.data import SUBDISTRICTS, table3
from bantar_sim.model.params import SPECS, make_params
from bantar_sim.studies.calibration import CalibrationConfig, run_calibration, sample_posterior
from bantar_sim.studies.calibration.abc import ParticleModel, config_fingerprint, particle_seed
from bantar_sim.studies.calibration.predictive import weighted_quantiles
from bantar_sim.studies.calibration.stats import StatSpec, group_contributions, observed_stats
from bantar_sim.studies.calibration.targets import CalibrationInputError, default_targets, load_priors, load_targets
from bantar_sim.studies.inputs import read_calibrated

REPO = Path(__file__).resolve().parents[1]
PRIORS = REPO / "calibration" / "priors.toml"
SMALL = ["--scale", "0.05", "--households-per-rt", "20", "--predictive-runs", "10", "--no-progress"]


def calibrate(tmp_path, *extra, name="run", pop=12, gens=2, executor="serial"):
    out, db = tmp_path / name, tmp_path / f"{name}.db"
    argv = ["calibrate", *SMALL, "--method", "abc-smc", "--population-size", str(pop), "--max-populations", str(gens),
            "--executor", executor, "--db", str(db), "--out", str(out), *extra]
    return cli.main(argv), out, db


def history(db):
    import pyabc
    return pyabc.History(f"sqlite:///{db}", create=False)


# ------------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """One generation, then the same command with a budget of two: the second call resumes the db."""
    tmp = tmp_path_factory.mktemp("cal")
    rc, out, db = calibrate(tmp, gens=1)
    assert rc == 0
    first = history(db).get_distribution(m=0, t=0)[0].sort_index()
    rc, out, db = calibrate(tmp, gens=2)
    assert rc == 0
    return tmp, out, db, first


def test_small_calibration_end_to_end(small_run):
    _, out, db, _ = small_run
    priors = load_priors(PRIORS)
    post = pd.read_csv(out / "posterior.csv")
    assert list(post.columns) == [*priors.names, "weight", "passes_patterns"]
    assert len(post) == 12
    assert post["weight"].sum() == pytest.approx(1.0)
    for p in priors.priors:
        assert post[p.name].between(p.low, p.high).all(), p.name
    for fig in ("posterior_pairs.png", "predictive_city.png", "predictive_subdistrict.png", "fit_history.png"):
        assert (out / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", fig
    summary = pd.read_csv(out / "posterior_summary.csv").set_index("parameter")
    assert (summary["q05"] <= summary["median"]).all() and (summary["median"] <= summary["q95"]).all()
    # The calibrated set loads the way `bantar-sim run` loads it, with the settings it was calibrated at.
    cal = read_calibrated(out / "calibrated.toml").params
    assert cal["scale"] == 0.05 and cal["households_per_rt"] == 20.0
    rows = {tuple(r) for r in post[priors.names].itertuples(index=False)}
    assert tuple(cal[n] for n in priors.names) in rows          # an accepted particle of the last generation
    make_params(cal)
    prov = tomllib.loads((out / "calibrated.toml").read_text())["provenance"]
    # The pattern filter re-simulated every particle; the point is the passing medoid (or flagged if none).
    pat = pd.read_csv(out / "patterns.csv")
    assert len(pat) == 12 and (pat["passes"] == post["passes_patterns"]).all()
    assert prov["particles_passing_patterns"] == int(pat["passes"].sum())
    if pat["passes"].any():       # issue 15: the weighted medoid of the passing particles, itself passing
        assert prov["point"].startswith("weighted medoid")
        assert np.isclose(pat.loc[pat["passes"], "distance"], prov["point_distance"]).any()
    else:
        assert prov["point_distance"] == pytest.approx(pat["distance"].min())
    assert ("NO particle" in prov["point"]) == (not pat["passes"].any())
    assert prov["seed"] == 2014 and prov["population_size"] == 12 and prov["generations"] == 2
    # issue 15: the proposal is recorded, and every generation's effective sample size is kept
    assert prov["proposal"] == "native" and prov["proposal_ess_share"] == 0.0
    ess = prov["effective_sample_size_per_generation"]
    assert len(ess) == 2 and all(1 <= e <= 12 for e in ess)
    w = history(db).get_distribution(m=0, t=1)[1]
    assert ess[1] == pytest.approx(1 / (w ** 2).sum() * w.sum() ** 2, abs=0.06)
    assert prov["data_sha256"] == default_targets().sha256
    assert prov["total_simulations"] >= 24 and prov["final_epsilon"] > 0
    fit = pd.read_csv(out / "fit_metrics.csv")
    assert set(fit["n"]) == {6, 11} and fit["coverage_90"].between(0, 1).all()


def test_resume_continues_the_same_history(small_run):
    _, _, db, first = small_run
    h = history(db)
    assert len(h.all_runs()) == 1 and h.max_t == 1
    pd.testing.assert_frame_equal(h.get_distribution(m=0, t=0)[0].sort_index(), first)
    eps = h.get_all_populations().set_index("t")["epsilon"]
    # The schedule moved on, not restarted: generation 1 of the same run, with its own finite epsilon (with
    # the adaptive distance, re-weighted each generation, epsilon need not fall monotonically).
    assert list(eps.index)[-2:] == [0, 1] and np.isfinite(eps[1]) and eps[1] != eps[0]


def test_db_from_other_settings_is_refused_and_kept(small_run, capsys):
    tmp, _, db, _ = small_run
    size = db.stat().st_size
    rc, _, _ = calibrate(tmp, "--seed", "99", gens=3)
    assert rc == 2
    assert "other settings" in capsys.readouterr().err
    assert db.stat().st_size == size and history(db).max_t == 1


def test_serial_calibration_is_reproducible(small_run, tmp_path):
    """A fresh serial run with the same seed draws the same first generation as the fixture's."""
    _, _, _, first = small_run
    rc, out, db = calibrate(tmp_path, name="again", gens=1)
    assert rc == 0
    pd.testing.assert_frame_equal(history(db).get_distribution(m=0, t=0)[0].sort_index(), first)
    n_params = len(load_priors(PRIORS).names)
    assert pd.read_csv(out / "posterior.csv").shape == (12, n_params + 2)   # parameters, weight, passes_patterns


def test_particle_simulation_reproducible_from_its_parameters():
    priors = load_priors(PRIORS)
    spec = StatSpec()
    model = ParticleModel({"scale": 0.05, "households_per_rt": 20.0}, tuple(priors.names), (), spec, 5, 0, "m")
    pars = {p.name: (p.low + p.high) / 2 for p in priors.priors}
    a, b = model(pars), model(dict(pars))
    assert a == b and set(a) == set(spec.keys())
    moved = dict(pars, base_utility=pars["base_utility"] + 1e-9)
    assert particle_seed(5, 0, list(pars.values())) != particle_seed(5, 0, list(moved.values()))
    assert particle_seed(5, 0, list(pars.values())) != particle_seed(6, 0, list(pars.values()))


# -------------------------------------------------------------------------------- the other modes
def test_heldout_synthetic_and_model_comparison_outputs(tmp_path):
    rc, out, _ = calibrate(tmp_path, "--train-years", "2014-2018", name="heldout", pop=10, gens=1)
    assert rc == 0 and not (out / "calibrated.toml").exists()      # only the default mode writes it
    ho = pd.read_csv(out / "heldout_coverage.csv")
    assert sorted(ho["year"].unique()) == [2019, 2020]
    assert set(ho["area"]) == {"Jambi City (all)", *SUBDISTRICTS}
    assert ((ho["q05"] <= ho["median"]) & (ho["median"] <= ho["q95"])).all()
    obs = table3().winners
    got = ho[(ho.year == 2019) & (ho.area == "Jelutung")]["published"].iloc[0]
    assert got == pytest.approx(obs.at["Jelutung", 2019] * round(233 * 0.05) / 233)

    rc, out, _ = calibrate(tmp_path, "--synthetic", "--truth", "base_utility=-4", name="synth", pop=10, gens=1)
    assert rc == 0
    s = pd.read_csv(out / "posterior_summary.csv").set_index("parameter")
    assert s.at["base_utility", "truth"] == -4.0
    assert set(s["truth_in_90"]) <= {True, False} and s["verdict"].notna().all()

    rc, out, _ = calibrate(tmp_path, "--compare-models", name="compare", pop=12, gens=1)
    assert rc == 0
    probs = pd.read_csv(out / "model_probabilities.csv", index_col=0)
    assert probs.iloc[-1].sum() == pytest.approx(1.0)
    assert probs.shape[1] <= 1 + len(load_priors(PRIORS).variants)


# ------------------------------------------------------------------------------------- bad input
def _write_priors(tmp_path, body):
    path = tmp_path / "priors.toml"
    path.write_text(body)
    return path


@pytest.mark.parametrize("body, message", [
    ("[params.base_utility]\nlow = -3.0\nhigh = -3.0\nreason = 'x'\n", "is empty"),
    ("[params.base_utility]\nlow = -2.0\nhigh = -6.0\nreason = 'x'\n", "is inverted"),
    ("[params.base_utilty]\nlow = -6.0\nhigh = -2.0\nreason = 'x'\n", "unknown parameter 'base_utilty'"),
    ("[params.social_influence]\nlow = -1.0\nhigh = 5.0\nreason = 'x'\n", "leaves the allowed range [0.0, 20.0]"),
    ("[params.social_influence]\nlow = 0.0\nhigh = 5.0\n", "needs a 'reason'"),
    # a joint constraint broken at a corner: the standard above kencana_threshold (0.65) at the prior's high end
    ("[params.assessment_threshold]\nlow = 0.2\nhigh = 0.7\nreason = 'x'\n",
     "kencana_threshold (0.65) must not be below assessment_threshold (0.7)"),
    ("[params.kencana]\nlow = 0\nhigh = 1\nreason = 'x'\n", "only numeric parameters"),
])
def test_bad_prior_rejected_before_any_simulation(tmp_path, capsys, body, message):
    rc, out, db = calibrate(tmp_path, "--prior", str(_write_priors(tmp_path, body)))
    assert rc == 2
    err = capsys.readouterr().err
    assert message in err
    assert not db.exists() and not out.exists()


def _targets_csv(tmp_path, drop_col=None, drop_row=None):
    t3 = table3().published.reset_index()
    if drop_col:
        t3 = t3.drop(columns=[drop_col])
    if drop_row:
        t3 = t3[t3.subdistrict != drop_row]
    path = tmp_path / "targets.csv"
    t3.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("kind, message", [
    ("year", "missing years 2019"),
    ("subdistrict", "missing sub-districts Pasar"),
    ("file", "file not found"),
])
def test_bad_targets_rejected_before_any_simulation(tmp_path, capsys, kind, message):
    path = {"year": lambda: _targets_csv(tmp_path, drop_col="won_2019"),
            "subdistrict": lambda: _targets_csv(tmp_path, drop_row="Pasar"),
            "file": lambda: tmp_path / "nope.csv"}[kind]()
    rc, out, db = calibrate(tmp_path, "--targets", str(path))
    assert rc == 2
    assert message in capsys.readouterr().err
    assert not db.exists() and not out.exists()


def test_bad_options_rejected(tmp_path, capsys):
    for extra, message in [(["--train-years", "2016-2018"], "must start in 2014"),
                           (["--train-years", "2014-2014"], "must end in a year in [2015, 2020]"),
                           (["--truth", "x=1"], "--truth applies only with --synthetic"),
                           (["--synthetic", "--truth", "base_utility=5"], "outside its prior"),
                           (["--max-walltime", "0"], "--max-walltime must be"),
                           (["--proposal-ess-share", "1.5"], "--proposal-ess-share must be a number in [0, 1]"),
                           (["--proposal", "box"], "--proposal must be one of native, logit")]:
        rc, out, db = calibrate(tmp_path, *extra)
        assert rc == 2, extra
        assert message in capsys.readouterr().err, extra
        assert not db.exists()


def test_published_and_consistent_targets_agree():
    """The distance uses the yearly columns and proposals, which the two versions share; the
    discrepancies of Table 3 (Amount column, RT total) do not reach the calibration."""
    pub = load_targets(REPO / "bantar_sim" / "model" / "data" / "table3_published.csv")
    con = default_targets()
    pd.testing.assert_frame_equal(pub.winners, con.winners)
    assert (pub.proposals == con.proposals).all()
    obs = observed_stats(con, StatSpec())
    assert obs["city.2019"] == 154 and obs["wins.Jambi_Timur"] == 75 and obs["proposals.Paal_Merah"] == 98
    assert "city.2014" not in obs            # the pilot year is fixed by pilot_winners


# ------------------------------------------------------------------------------- distance scaling
def test_group_weights_make_each_group_count_the_same():
    for last in (2018, 2020):
        spec = StatSpec(last)
        w = spec.group_weights()
        totals = {g: sum(w[k] for k in ks) for g, ks in spec.groups().items()}
        assert totals == pytest.approx({g: 1.0 for g in totals})
    assert set(StatSpec(2018).groups()) == {"city", "wins"}        # proposals would leak 2019–2020


def test_no_target_group_swamps_the_distance():
    """Prior predictive simulations, scaled as in the ABC: each group's mean share of the distance
    stays between 10% and 55% (equal shares would be 25%), although the raw counts differ tenfold."""
    priors = load_priors(PRIORS)
    spec = StatSpec()
    model = ParticleModel({"scale": 0.05, "households_per_rt": 20.0}, tuple(priors.names), (), spec, 1, 0, "m")
    rng = np.random.default_rng(3)
    rows = [model({p.name: rng.uniform(p.low, p.high) for p in priors.priors}) for _ in range(24)]
    stats = pd.DataFrame(rows)
    observed = observed_stats(default_targets(), spec, 0.05)
    shares = group_contributions(stats, observed, spec).mean()
    assert set(shares.index) == {"city", "wins", "proposals", "proposal_total"}
    assert shares.between(0.10, 0.55).all(), shares.to_dict()


def test_weighted_quantile():
    """pyabc's weighted quantile (what posterior_summary uses) is the midpoint rule we used before."""
    v = np.array([1.0, 2.0, 3.0, 4.0])
    assert weighted_quantiles(v, np.ones(4), [0.5])[0] == pytest.approx(2.5)
    assert weighted_quantiles(v, np.array([0, 0, 0, 1.0]), [0.5])[0] == pytest.approx(4.0)
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=50), rng.random(50)
    order = np.argsort(x)
    cw = np.cumsum(w[order]) - 0.5 * w[order]
    assert weighted_quantiles(x, w, [0.05, 0.5, 0.95]) == pytest.approx(
        np.interp([0.05, 0.5, 0.95], cw / w.sum(), x[order]))


def test_repository_calibrated_set_loads():
    """calibration/calibrated.toml (made by the real calibration) is what `bantar-sim run` starts from."""
    cal = read_calibrated(REPO / "calibration" / "calibrated.toml").params
    priors = load_priors(PRIORS)
    assert set(priors.names) <= set(cal)
    for k, v in priors.settings.items():
        assert cal[k] == v
    for p in priors.priors:
        assert p.low <= cal[p.name] <= p.high
    make_params(cal)
    assert SPECS["households_per_rt"].low <= cal["households_per_rt"] <= SPECS["households_per_rt"].high


def test_sample_posterior_draws_by_weight(small_run):
    _, out, _, _ = small_run
    post = pd.read_csv(out / "posterior.csv")
    # Only particles that pass the pattern filter are drawn: mark the first half as passing.
    post["passes_patterns"] = np.arange(len(post)) < len(post) // 2
    path = out.parent / "marked" / "posterior.csv"
    path.parent.mkdir(exist_ok=True)
    post.to_csv(path, index=False)
    (path.parent / "calibrated.toml").write_text((out / "calibrated.toml").read_text())
    draws = sample_posterior(50, seed=1, path=path)
    assert len(draws) == 50 and draws == sample_posterior(50, seed=1, path=path)
    assert all(d["scale"] == 0.05 for d in draws)              # settings from the calibrated set beside it
    names = [c for c in post.columns if c not in ("weight", "passes_patterns")]
    passing = {tuple(r) for r in post.loc[post["passes_patterns"], names].itertuples(index=False)}
    drawn = {tuple(d[c] for c in names) for d in draws}
    assert drawn <= passing and len(drawn) > 1
    make_params(draws[0])
    post["passes_patterns"] = False
    post.to_csv(path, index=False)
    with pytest.raises(CalibrationInputError, match="no row passes the pattern filter"):
        sample_posterior(5, seed=1, path=path)


def test_patterns_only_rewrites_the_calibrated_set(small_run, tmp_path, capsys):
    import shutil
    _, out, _, _ = small_run
    work = tmp_path / "cal"
    shutil.copytree(out, work)
    (work / "patterns.csv").unlink()
    rc = cli.main(["calibrate", *SMALL, "--method", "abc-smc", "--patterns-only", "--pattern-reps", "1",
                   "--executor", "serial",
                   "--out", str(work), "--db", str(tmp_path / "unused.db")])
    assert rc == 0 and not (tmp_path / "unused.db").exists()           # no ABC ran
    pat = pd.read_csv(work / "patterns.csv")
    assert len(pat) == 12 and "still_practising_3y" in pat
    prov = tomllib.loads((work / "calibrated.toml").read_text())["provenance"]
    assert prov["pattern_reps"] == 1 and "--patterns-only" in prov["pattern_filter_command"]
    assert prov["seed"] == 2014                                        # the ABC's provenance is kept
    assert "pattern filter" in (work / "patterns_summary.txt").read_text()
    rc = cli.main(["calibrate", *SMALL, "--method", "abc-smc", "--patterns-only", "--no-pattern-filter", "--out",
                   str(work)])
    assert rc == 2 and "--patterns-only applies only" in capsys.readouterr().err


# ------------------------------------------- issue 13: results never replace the shipped set by themselves
COMMON = ["--predictive-runs", "4", "--pattern-reps", "1", "--scale", "0.05", "--households-per-rt", "20",
          "--executor", "serial", "--no-progress"]
TINY = ["--reference", "40", *COMMON]                 # the default method: a reference table
TINY_SMC = ["--method", "abc-smc", "--population-size", "2", "--max-populations", "1", *COMMON]


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _project(root: Path) -> Path:
    """A copy of the project folder's calibration inputs: commands run with the working directory there."""
    shutil.copytree(REPO / "calibration", root / "calibration")
    return root


def _set_passing(result: Path, n: int, point_passes: bool = True) -> None:
    text = (result / "calibrated.toml").read_text()
    text = re.sub(r"(?m)^particles_passing_patterns = \d+$", f"particles_passing_patterns = {n}", text)
    text = re.sub(r"(?m)^point_passes_patterns = \w+$", f"point_passes_patterns = {str(point_passes).lower()}", text)
    (result / "calibrated.toml").write_text(text)
    post = pd.read_csv(result / "posterior.csv")
    post["passes_patterns"] = np.arange(len(post)) < n
    post.to_csv(result / "posterior.csv", index=False)


def test_calibrate_writes_its_own_folder_and_promote_is_explicit(tmp_path, monkeypatch, capsys):
    project = _project(tmp_path / "project")
    monkeypatch.chdir(project)
    before = _snapshot(project / "calibration")
    assert cli.main(["calibrate", *TINY]) == 0
    printed = capsys.readouterr().out
    assert _snapshot(project / "calibration") == before          # the shipped set is untouched
    result = project / "outputs" / "calibration" / "calibrate"
    prov = tomllib.loads((result / "calibrated.toml").read_text())["provenance"]
    assert prov["calibrated_parameters"] == load_priors(PRIORS).names and prov["model_version"]
    assert prov["method"] == "reference" and prov["point"] in printed
    assert prov["point"] in (result / "summary.txt").read_text()
    assert prov["point"].startswith("weighted med") == (prov["particles_passing_patterns"] > 0)
    assert "--promote outputs/calibration/calibrate" in printed

    zero = tmp_path / "zero"
    shutil.copytree(result, zero)
    _set_passing(zero, 0)
    assert cli.main(["calibrate", "--promote", str(zero)]) == 2
    assert "no particle passes" in capsys.readouterr().err
    assert _snapshot(project / "calibration") == before

    failing = tmp_path / "failing"            # the point itself fails the patterns when re-simulated: refused
    shutil.copytree(result, failing)
    _set_passing(failing, 1, point_passes=False)
    assert cli.main(["calibrate", "--promote", str(failing)]) == 2
    assert "does not show the secondary patterns" in capsys.readouterr().err
    assert _snapshot(project / "calibration") == before

    good = tmp_path / "good"
    shutil.copytree(result, good)
    _set_passing(good, 1)
    assert cli.main(["calibrate", "--promote", str(good)]) == 0
    after = _snapshot(project / "calibration")
    new = tomllib.loads(after[Path("calibrated.toml")].decode())
    old = tomllib.loads(before[Path("calibrated.toml")].decode())
    assert new["promotion"]["replaced_sha256"] == hashlib.sha256(before[Path("calibrated.toml")]).hexdigest()
    assert new["promotion"]["replaced_model_version"] == old["provenance"]["model_version"]
    assert new["params"] == tomllib.loads((good / "calibrated.toml").read_text())["params"]
    assert after[Path("posterior.csv")] == (good / "posterior.csv").read_bytes()
    assert after[Path("fit_metrics_point.csv")] == (good / "fit_metrics_point.csv").read_bytes()   # the set's own fit
    # stage 2's named effects travel with the set; a result without them leaves no older file behind
    effects = Path("subdistrict_effects.csv")
    assert after.get(effects) == ((good / effects).read_bytes() if (good / effects).is_file() else None)
    (good / effects).unlink(missing_ok=True)
    (project / "calibration" / effects).write_text("stale")
    assert cli.main(["calibrate", "--promote", str(good)]) == 0
    assert not (project / "calibration" / effects).exists()
    assert after[Path("priors.toml")] == before[Path("priors.toml")]
    assert after[Path("README.md")] == before[Path("README.md")]
    assert read_calibrated(project / "calibration" / "calibrated.toml").calibrated == tuple(load_priors(PRIORS).names)
    assert "promoted" in capsys.readouterr().out


def test_first_generation_unfinished_stops_with_our_message(tmp_path, capsys):
    """pyabc's post-processing crashed on a history with no generation; now: our message, exit 1,
    previous results unchanged."""
    out = tmp_path / "res"
    out.mkdir()
    (out / "calibration.json").write_text("previous results")
    rc = cli.main(["calibrate", *TINY_SMC, "--population-size", "6", "--min-acceptance-rate", "0.99",
                   "--out", str(out), "--db", str(tmp_path / "a.db")])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "stopped unfinished: no generation completed" in err and "Traceback" not in err
    assert _snapshot(out) == {Path("calibration.json"): b"previous results"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.db", "res"]        # no staging folder left


# ---------------------------------------------------------------------------- bad input, no traceback
@pytest.mark.parametrize("content", [b"", b"\x00\xff\xfe\x89PNG binary"])
def test_bad_posterior_file_is_a_message(tmp_path, content):
    path = tmp_path / "posterior.csv"
    path.write_bytes(content)
    with pytest.raises(CalibrationInputError, match=str(path)):
        sample_posterior(3, seed=1, path=path)


@pytest.mark.parametrize("content", [b"", b"\x00\xff\xfe binary"])
def test_bad_priors_file_is_exit_2(tmp_path, capsys, content):
    path = tmp_path / "priors.toml"
    path.write_bytes(content)
    rc, out, db = calibrate(tmp_path, "--prior", str(path))
    err = capsys.readouterr().err
    assert rc == 2 and str(path) in err and "Traceback" not in err
    assert not out.exists() and not db.exists()


def test_binary_calibrated_set_is_exit_2(tmp_path, monkeypatch, capsys):
    project = _project(tmp_path / "project")
    monkeypatch.chdir(project)
    res = project / "res"
    res.mkdir()
    (res / "calibration.json").write_text("{}")
    shutil.copy(project / "calibration" / "posterior.csv", res / "posterior.csv")
    (project / "calibration" / "calibrated.toml").write_bytes(b"\x00\xff\xfe binary")
    shutil.copy(project / "calibration" / "calibrated.toml", res / "calibrated.toml")
    for argv in (["--synthetic"], ["--patterns-only", "--out", "res"], ["--promote", "calibration"]):
        rc = cli.main(["calibrate", *TINY_SMC, *argv])
        err = capsys.readouterr().err
        assert rc == 2 and "calibrated.toml" in err and "UTF-8" in err, (argv, err)
    assert not (project / "outputs").exists()
    before = _snapshot(project / "calibration")
    rc = cli.main(["calibrate", *TINY, "--out", "calibration"])
    assert rc == 2 and "is the shipped calibration folder" in capsys.readouterr().err
    (project / "other").mkdir()
    (project / "other" / "notes.txt").write_text("mine")
    rc = cli.main(["calibrate", *TINY, "--out", "other"])
    assert rc == 2 and "not a calibration result" in capsys.readouterr().err
    assert _snapshot(project / "calibration") == before and (project / "other" / "notes.txt").read_text() == "mine"


def test_bad_scheduler_address_is_exit_2(tmp_path, capsys):
    rc, out, db = calibrate(tmp_path, "--scheduler", "notaurl", executor="dask")
    err = capsys.readouterr().err
    assert rc == 2 and "tcp://HOST:PORT" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not db.exists()


def test_run_calibration_from_python(tmp_path):
    """The workflow function a notebook calls: typed config in, result object with tables and paths out."""
    cfg = CalibrationConfig(method="abc-smc", population_size=4, max_populations=1, predictive_runs=4,
                            pattern_reps=1, scale=0.05, households_per_rt=20, executor="serial", prior=PRIORS,
                            out=tmp_path / "r", db=tmp_path / "r.db")
    res = run_calibration(cfg, progress=False)
    assert res.out == tmp_path / "r" and (res.out / "posterior.csv").is_file()
    assert len(res.posterior) == 4 and res.weights.sum() == pytest.approx(1.0)
    assert res.patterns is not None and res.particles_passing_patterns == int(res.patterns["passes"].sum())
    assert res.point is not None and res.stopped_because and res.generations == 1
    assert set(res.summary["parameter"]) == set(load_priors(PRIORS).names)


def test_a_second_writer_is_locked_out(tmp_path, capsys):
    """The result folder and the pyabc history each take a lock; a second calibrate exits 1 with the holder."""
    from bantar_sim.engine.outputs import folder_lock
    out, db = tmp_path / "res", tmp_path / "a.db"
    for held in (out, db):
        with folder_lock(held):
            rc = cli.main(["calibrate", *TINY_SMC, "--out", str(out), "--db", str(db)])
        err = capsys.readouterr().err
        assert rc == 1 and "being written by another process" in err and "Traceback" not in err
        assert not out.exists() and not db.exists()


# ------------------------------------------------------------------ the [distance] table and held-out budget
@pytest.mark.parametrize("section,following,table,message", [
    ("[distance]", "[params.", '[distance]\npattern_weight = 0\nreason = "x"\n',
     "pattern_weight must be a number in (0, 100]"),
    ("[distance]", "[params.", '[distance]\npattern_weight = "three"\nreason = "x"\n',
     "pattern_weight must be a number in (0, 100]"),
    ("[distance]", "[params.", '[distance]\npattern_weight = 3\n', "needs a 'reason'"),
    ("[distance]", "[params.", '[distance]\npattern_weight = 3\nreason = "x"\nother = 1\n', "unknown keys ['other']"),
    ("[named_effects]", "[variants.", '[named_effects]\nrounds = 0\nreason = "x"\n', "rounds must be an integer >= 1"),
    ("[named_effects]", "[variants.", '[named_effects]\npenalty = -1\nreason = "x"\n', "penalty must be a number >= 0"),
    ("[named_effects]", "[variants.", '[named_effects]\nrounds = 3\n', "needs a 'reason'"),
    ("[named_effects]", "[variants.", '[named_effects]\nrounds = 3\nreason = "x"\nother = 1\n',
     "unknown keys ['other']"),
])
def test_a_bad_priors_table_is_refused_with_its_field_named(tmp_path, section, following, table, message):
    """The [distance] and [named_effects] tables of the priors file: a bad value or key is named."""
    text = PRIORS.read_text()
    start = text.index(section)
    end = text.index(following, start)
    bad = tmp_path / "priors.toml"
    bad.write_text(text[:start] + table + "\n" + text[end:])
    with pytest.raises(CalibrationInputError, match=re.escape(message)):
        load_priors(bad)


def test_the_pattern_weight_is_part_of_the_calibration_fingerprint(tmp_path):
    """A db made with another pattern weight is a different calibration: it is never resumed."""
    text = PRIORS.read_text()
    other = tmp_path / "priors.toml"
    other.write_text(text.replace("pattern_weight = 3.0", "pattern_weight = 2.0"))
    a = CalibrationConfig(out=tmp_path / "a").resolve()
    b = CalibrationConfig(prior=other, out=tmp_path / "b").resolve()
    assert a.spec.pattern_weight == 3.0 and b.spec.pattern_weight == 2.0
    assert config_fingerprint(a) != config_fingerprint(b)


def test_a_heldout_calibration_reads_no_budget_after_its_origin(tmp_path):
    """--train-years 2014-2017: the budget is read up to 2017 only, and a year of mean budget funds the mean
    city winners of 2015-2017 (109, 88, 60), not the 2015-2020 mean."""
    r = CalibrationConfig(out=tmp_path / "h", train_years="2014-2017").resolve()
    s = r.variants[0].settings
    assert s["award_budget_observed_until"] == 2017
    assert s["awards_per_year"] == pytest.approx((109 + 88 + 60) / 3)
    full = CalibrationConfig(out=tmp_path / "f").resolve()
    assert "award_budget_observed_until" not in full.variants[0].settings


# ------------------------------------------------------------------ stage 2: the sub-districts' named effects
def test_stage_2_fits_named_subdistrict_effects_and_the_set_runs_with_them(small_run):
    """After ABC-SMC (effects drawn per run), the calibrated set carries the 22 named effects and runs in named
    mode; subdistrict_effects.csv has one row per sub-district; the predictive ran with them."""
    from bantar_sim.model.data import SUBDISTRICTS
    from bantar_sim.model.specs import subdistrict_slug

    _, out, _, _ = small_run
    cal = tomllib.loads((out / "calibrated.toml").read_text())
    params = cal["params"]
    assert params["subdistrict_effects"] == "named"
    for s in SUBDISTRICTS:
        for prefix in ("leadership_z_", "screening_u_"):
            v = params[prefix + subdistrict_slug(s)]
            assert -4.0 <= v <= 4.0 and v != 0.0, (prefix, s, v)
    table = pd.read_csv(out / "subdistrict_effects.csv")
    assert list(table["subdistrict"]) == list(SUBDISTRICTS)
    assert (table[["proposals_published", "winners_published"]] > 0).all().all()
    assert "stage 2: named sub-district effects" in (out / "summary.txt").read_text()
    assert cal["provenance"]["stage_2_simulations"] > 0
