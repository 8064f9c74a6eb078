"""Sensitivity analysis (issue 5): the SALib pipeline verified on the Ishigami function, the command end to
end on a small city (Morris and Sobol), resume, seed-variance share, and clear errors before any run."""
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bantar_sim.studies.sensitivity import sensitivity as S
from bantar_sim.cli import main
from bantar_sim.engine.executors import make_executor
from bantar_sim.engine.task import simulate, spawn_seeds

REPO = Path(__file__).resolve().parents[1]
SMALL = REPO / "experiments" / "sensitivity_small.toml"
PNG = b"\x89PNG\r\n\x1a\n"


def run_ishigami(tmp_path, method="sobol", n=None, run_fn=S.ishigami_run, **kw):
    fixed = kw.pop("fixed", {})
    problem = S.ishigami_problem(**kw)
    with make_executor("serial") as ex:
        return S.run_sensitivity(problem, method, n, out_root=tmp_path, run_fn=run_fn, executor=ex, base=fixed,
                                 model=False, model_version="ishigami-test", progress=False)


def test_ishigami_sobol_recovers_known_indices_within_their_intervals(tmp_path):
    # Seed noise common to every design point (what common random numbers give) must not move the indices.
    res = run_ishigami(tmp_path, n=512, replications=2, fixed={"common_noise_sd": 1.0})
    truth = S.ishigami_indices()
    ix = res.analysis.indices.set_index("parameter").loc[["x1", "x2", "x3"]]
    for key in ("S1", "ST"):
        low, high = ix[f"{key}_low"].to_numpy(), ix[f"{key}_high"].to_numpy()
        assert np.all((low <= truth[key]) & (truth[key] <= high)), (key, low, high, truth[key])
        assert np.all(ix[f"{key}_conf"] < 0.12), ix[f"{key}_conf"]      # intervals narrow enough to mean something
    assert list(ix.sort_values("ST", ascending=False).index) == ["x1", "x2", "x3"]
    # Each replicate alone gives the same indices: the shift is common, Sobol indices ignore it.
    assert np.allclose(ix["ST_replicate_min"], ix["ST_replicate_max"]) and np.allclose(ix["ST_replicate_min"], ix["ST"])
    sv = res.analysis.seed_variance.iloc[0]
    assert 0 < sv["seed_share_single_run"] < 0.2          # the seed moves single runs ...
    # Second order: only x1 and x3 interact (S2 = ST3 = V13 / V); the intervals of the other pairs cover 0.
    s2 = res.analysis.s2.set_index(["parameter_1", "parameter_2"])
    for pair, true in ((("x1", "x3"), truth["ST"][2]), (("x1", "x2"), 0.0), (("x2", "x3"), 0.0)):
        assert abs(s2.loc[pair, "S2"] - true) <= s2.loc[pair, "S2_conf"], (pair, s2.loc[pair].to_dict())
    assert s2.loc[("x1", "x3"), "S2"] > 0.1
    for name in ("sobol_indices.csv", "sobol_s2.csv", "seed_variance.csv", "convergence.csv", "design.csv",
                 "results.csv", "report.md", "sensitivity.json"):
        assert (res.out_dir / name).stat().st_size > 0, name
    for name in ("sobol_s1_st.png", "sobol_s2_heatmap.png", "convergence.png", "outputs_vs_published.png"):
        assert (res.out_dir / name).read_bytes()[:8] == PNG, name


def test_seed_share_recovers_the_noise_variance(tmp_path):
    # Noise independent between points: a single run's seed share is sigma^2 / (V + sigma^2).
    sigma, R = 2.0, 4
    res = run_ishigami(tmp_path, n=64, replications=R, fixed={"noise_sd": sigma})
    V = S.ishigami_indices()["variance"]
    sv = res.analysis.seed_variance.iloc[0]
    assert sv["seed_share_single_run"] == pytest.approx(sigma ** 2 / (V + sigma ** 2), abs=0.04)
    assert sv["seed_share_of_means"] == pytest.approx((sigma ** 2 / R) / (V + sigma ** 2 / R), abs=0.03)
    assert sv["replications"] == R and sv["points"] == 64 * 8


def test_design_for_n_is_the_first_half_of_2n_and_its_runs_are_reused(tmp_path):
    for method in ("sobol", "morris"):
        prob = S.ishigami_problem()
        small, big = S.sample_design(prob, method, 8), S.sample_design(prob, method, 16)
        assert np.array_equal(small.X, big.X[: len(small.X)]) and small.half_rows() == len(small.X) // 2
    first = run_ishigami(tmp_path, n=8)
    second = run_ishigami(tmp_path, n=16)
    assert first.batch.n_done == 8 * 8 * 2 and second.batch.n_skipped == first.batch.n_done
    assert second.batch.n_done == first.batch.n_done
    conv = pd.read_csv(second.out_dir / "convergence.csv")
    assert {"value_n8", "value_n16", "rank_n8", "rank_n16"} <= set(conv.columns)
    # The N = 8 column of the 2N report is the N = 8 analysis itself.
    st8 = first.analysis.indices.set_index("parameter")["ST"]
    assert np.allclose(conv.set_index("parameter")["value_n8"].loc[st8.index], st8)


FLAG = "ok_to_run"


def flaky_ishigami(task):
    """Fails for every fifth design point until the flag file exists (a crash mid-batch)."""
    if task.tags["design_point"] % 5 == 0 and not Path(task.params["flag_dir"], FLAG).exists():
        raise RuntimeError("simulated crash")
    return S.ishigami_run(task)


def test_failed_runs_stop_the_analysis_and_a_rerun_computes_only_them(tmp_path):
    fixed = {"flag_dir": str(tmp_path)}
    with pytest.raises(RuntimeError, match=r"failed .*Rerun the same command"):
        run_ishigami(tmp_path, method="morris", n=10, run_fn=flaky_ishigami, fixed=fixed)
    assert not (tmp_path / "ishigami" / "morris_n10" / "report.md").exists()
    (tmp_path / FLAG).touch()
    res = run_ishigami(tmp_path, method="morris", n=10, run_fn=flaky_ishigami, fixed=fixed)
    points = 10 * 4
    failed = len(range(0, points, 5)) * 2
    assert res.batch.n_done == failed and res.batch.n_skipped == points * 2 - failed
    assert (res.out_dir / "morris_indices.csv").exists() and (res.out_dir / "morris_mu_star_sigma.png").exists()


def test_morris_on_the_model_end_to_end_through_the_cli_then_resume(tmp_path, capsys):
    out = tmp_path / "sa"
    rc = main(["sensitivity", str(SMALL), "--method", "morris", "--out", str(out), "--executor", "process",
               "--workers", "2", "--no-progress"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "32 runs computed, 0 reused" in printed and "most influential" in printed
    d = out / "small" / "morris_n4"
    ix = pd.read_csv(d / "morris_indices.csv")
    assert len(ix) == 3 * 2 and set(ix["output"]) == {"winners_total", "participation_final"}
    assert (ix["mu_star"] >= 0).all() and (ix["mu_star_low"] <= ix["mu_star"]).all() and ix["sigma"].notna().all()
    # Participation responds to the weight of neighbours far more than to the sub-districts' proposal capacity.
    part = ix[ix["output"] == "participation_final"].set_index("parameter")["mu_star"]
    assert part["social_influence"] > 5 * part["subdistrict_capacity"]
    sv = pd.read_csv(d / "seed_variance.csv")
    assert sv["seed_share_single_run"].between(0, 1).all()
    meta = json.loads((d / "sensitivity.json").read_text())
    seeds = [str(s) for s in spawn_seeds(7, 2)]
    assert meta["replication_seeds"] == seeds and meta["runs"] == 32
    results = pd.read_csv(d / "results.csv", dtype={"seed": str})
    assert len(results) == 32 and set(results["seed"]) == set(seeds)
    # Common random numbers: a run is the model at that design point with that replicate's seed.
    row = results.iloc[5]
    design = pd.read_csv(d / "design.csv").set_index("design_point")
    # (the recorded fixed parameters: the calibrated set, if any, then the file's [fixed] and the horizon)
    assert {"scale": 0.05, "households_per_rt": 20.0, "end_year": 2017}.items() <= meta["fixed_params"].items()
    params = {**meta["fixed_params"], **design.loc[row["design_point"]].to_dict()}
    direct = simulate(params, int(row["seed"]), tables=("metrics",))["metrics"].iloc[0]
    assert direct["winners_total"] == row["winners_total"]
    assert direct["participation_final"] == pytest.approx(row["participation_final"])
    report = (d / "report.md").read_text()
    assert "## Closing note" in report and "morris_mu_star_sigma.png" in report and "seed share" in report
    for png in ("morris_mu_star_sigma.png", "convergence.png", "outputs_vs_published.png"):
        assert (d / png).read_bytes()[:8] == PNG
    # Rerun: every run is on disk, nothing is recomputed, the indices are the same.
    assert main(["sensitivity", str(SMALL), "--method", "morris", "--out", str(out), "--executor", "serial",
                 "--no-progress"]) == 0
    assert "0 runs computed, 32 reused" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_csv(d / "morris_indices.csv"), ix)


def test_sobol_on_the_model_through_the_cli(tmp_path, capsys):
    out = tmp_path / "sa"
    rc = main(["sensitivity", str(SMALL), "--method", "sobol", "--n", "4", "--out", str(out), "--workers", "2",
               "--no-progress"])
    assert rc == 0
    d = out / "small" / "sobol_n4"
    ix = pd.read_csv(d / "sobol_indices.csv")
    assert len(ix) == 6 and {"S1", "S1_conf", "ST", "ST_low", "ST_high", "rank"} <= set(ix.columns)
    assert len(pd.read_csv(d / "sobol_s2.csv")) == 3 * 2
    assert (d / "sobol_s2_heatmap.png").read_bytes()[:8] == PNG
    assert "sobol: 3 parameters, N=4 -> 32 design points x 2 replications = 64 runs" in capsys.readouterr().out


def test_outputs_list_matches_the_model_metrics():
    metrics = simulate({"scale": 0.02, "households_per_rt": 10, "end_year": 2015}, 1, tables=("metrics",))["metrics"]
    assert set(S.OUTPUTS) == set(metrics.columns) - {"final_year"}


def test_integer_parameters_are_run_as_integers(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text(SMALL.read_text().replace('name = "subdistrict_capacity"', 'name = "informal_leaders_per_rt"')
                 .replace("min = 3.0\nmax = 10.0", "min = 1\nmax = 5"))
    prob = S.load_problem(f)
    design = S.sample_design(prob, "morris", 4)
    vals = [design.point(i)["informal_leaders_per_rt"] for i in range(design.n_points)]
    assert all(isinstance(v, int) and 1 <= v <= 5 for v in vals) and len(set(vals)) > 1


BAD = [
    ("min = 1.5\nmax = 4.5", "min = 4.5\nmax = 1.5", r"social_influence: min \(4.5\) must be < max \(1.5\)"),
    ('name = "social_influence"', 'name = "social_influense"', r"unknown parameter 'social_influense'.*did you mean social_influence"),
    ("min = 3.0\nmax = 18.0", "min = 0.1\nmax = 18.0", r"waning_half_life min: 0.1 is outside the parameter's allowed range \[0.5, 240.0\]"),
    ('name = "winners_total"', 'name = "winners_2099"', r"unknown output 'winners_2099'; allowed: winners_2014_2020"),
    ('name = "subdistrict_capacity"', 'name = "kencana"', r"'kencana' is true/false, not a numeric parameter"),
    ("n = 8 ", "n = 12 ", r"\[sobol\] n: Sobol N must be a power of 2 in \[4, 1048576\].*got 12"),
    ("levels = 4", "levels = 3", r"\[morris\] levels: Morris levels must be an even integer"),
    ("n = 4 ", "n = 1 ", r"\[morris\] n \(Morris N = number of trajectories\): must be an integer in \[4, 100000\]"),
    ("replications = 2", "replications = 1", r"\[problem\] replications: must be an integer in \[2, 1000\]"),
    ('reason = "test range: proposals', 'why = "test range: proposals', r"unknown key 'why'; allowed keys: name, min, max, reason"),
    ("households_per_rt = 20.0", "households_per_rt = 20.0\nwaning_half_life = 6.0", r"\[fixed\] waning_half_life: is also an uncertain"),
]


@pytest.mark.parametrize("old,new,message", BAD, ids=lambda v: str(v)[:24])
def test_bad_problem_files_fail_before_any_run(tmp_path, capsys, old, new, message):
    text = SMALL.read_text()
    assert old in text
    f = tmp_path / "bad.toml"
    f.write_text(text.replace(old, new, 1))
    out = tmp_path / "out"
    assert main(["sensitivity", str(f), "--method", "morris", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert str(f) in err and re.search(message, err), err
    assert not out.exists()


def test_bad_command_line_and_joint_rules_fail_before_any_run(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sensitivity", str(SMALL), "--method", "sobol", "--n", "100", "--out", str(out)]) == 2
    assert "--n: Sobol N must be a power of 2" in capsys.readouterr().err
    assert main(["sensitivity", str(SMALL), "--method", "morris", "--replications", "1", "--out", str(out)]) == 2
    assert "--replications: must be an integer in [2, 1000]" in capsys.readouterr().err
    # A combination of ranges the model forbids (youth_share + elder_share > 1) is caught on the design.
    f = tmp_path / "joint.toml"
    f.write_text(SMALL.read_text().replace("scale = 0.05", "scale = 0.05\nelder_share = 0.5")
                 .replace('name = "subdistrict_capacity"\nmin = 3.0\nmax = 10.0',
                          'name = "youth_share"\nmin = 0.2\nmax = 0.7'))
    assert main(["sensitivity", str(f), "--method", "morris", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert re.search(r"design point \d+ \(.*youth_share=.*\) is not a valid parameter set: youth_share \+ elder_share",
                     err), err
    assert not out.exists()


def test_shipped_problem_file_is_valid_and_sized_for_the_time_budget():
    prob = S.load_problem(REPO / "experiments" / "sensitivity.toml")
    k = len(prob.method_parameters("sobol"))
    runs = prob.sobol["n"] * (2 * k + 2) * prob.replications
    # Full city 0.32 s/run/core measured quiet (6,144 runs in 16.6 min), ~0.65 under load: 45 min allows ~8,300.
    assert prob.fixed.get("scale", 1.0) == 1.0 and prob.end_year == 2020 and runs <= 8000
    assert {"winners_2014_2020", "sustained_3y", "participation_final", "wins_per_rt_gini"} <= set(prob.outputs)
    assert all(p.reason for p in prob.parameters) and math.log2(prob.sobol["n"]).is_integer()
