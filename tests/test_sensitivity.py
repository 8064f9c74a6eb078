"""Sensitivity analysis (issue 5): the SALib pipeline verified on the Ishigami function, the workflow end
to end on a small city (Morris and Sobol), resume, seed-variance share, clear errors before any run, and
(issue 13) a locked, atomic study folder: a concurrent writer is refused, a full disk leaves the previous
results as they were."""
import json
import math
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bantar_sim.cli import main
from bantar_sim.engine.executors import make_executor
from bantar_sim.engine.outputs import OutputLockedError, folder_lock
from bantar_sim.engine.task import run_model, spawn_seeds
from bantar_sim.model.metrics import METRICS, RUN_METRICS, RunTables, compute_metrics, run_window
from bantar_sim.studies.sensitivity import SensitivityConfig, load_problem, run_sensitivity
from bantar_sim.studies.sensitivity.compute import RAW_TABLES, run_tables
from bantar_sim.studies.sensitivity.design import sample_design
from bantar_sim.studies.sensitivity.toy import ishigami_indices, ishigami_problem, ishigami_run

REPO = Path(__file__).resolve().parents[1]
SMALL = REPO / "experiments" / "sensitivity_small.toml"
PNG = b"\x89PNG\r\n\x1a\n"


def ishigami_config(out, method="sobol", n=None, run_fn=ishigami_run, **kw):
    return SensitivityConfig(ishigami_problem(**kw), method=method, n=n, out=out, run_fn=run_fn,
                             model_version="ishigami-test")


def run_ishigami(tmp_path, method="sobol", n=None, run_fn=ishigami_run, **kw):
    with make_executor("serial") as ex:
        return run_sensitivity(ishigami_config(tmp_path, method, n, run_fn, **kw), ex, progress=False)


def test_ishigami_sobol_recovers_known_indices_within_their_intervals(tmp_path):
    # Seed noise common to every design point (what common random numbers give) must not move the indices.
    res = run_ishigami(tmp_path, n=512, replications=2, fixed={"common_noise_sd": 1.0})
    truth = ishigami_indices()
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
    assert res.out_dir == tmp_path / "ishigami" / "sobol" / "n512" and res.files
    for name in ("sobol_indices.csv", "sobol_s2.csv", "seed_variance.csv", "convergence.csv", "design.csv",
                 "results.csv", "report.md", "sensitivity.json"):
        assert (res.out_dir / name).stat().st_size > 0, name
    for name in ("sobol_s1_st.png", "sobol_s2_heatmap.png", "convergence.png", "outputs_vs_published.png"):
        assert (res.out_dir / name).read_bytes()[:8] == PNG, name


def test_seed_share_recovers_the_noise_variance(tmp_path):
    # Noise independent between points: a single run's seed share is sigma^2 / (V + sigma^2).
    sigma, R = 2.0, 4
    res = run_ishigami(tmp_path, n=64, replications=R, fixed={"noise_sd": sigma})
    V = ishigami_indices()["variance"]
    sv = res.analysis.seed_variance.iloc[0]
    assert sv["seed_share_single_run"] == pytest.approx(sigma ** 2 / (V + sigma ** 2), abs=0.04)
    assert sv["seed_share_of_means"] == pytest.approx((sigma ** 2 / R) / (V + sigma ** 2 / R), abs=0.03)
    assert sv["replications"] == R and sv["points"] == 64 * 8


def test_design_for_n_is_the_first_half_of_2n_and_its_runs_are_reused(tmp_path):
    for method in ("sobol", "morris"):
        prob = ishigami_problem()
        small, big = sample_design(prob, method, 8), sample_design(prob, method, 16)
        assert np.array_equal(small.X, big.X[: len(small.X)]) and small.half_rows() == len(small.X) // 2
    first = run_ishigami(tmp_path, n=8)
    second = run_ishigami(tmp_path, n=16)
    assert first.batch.n_done == 8 * 8 * 2 and second.batch.n_skipped == first.batch.n_done
    assert second.batch.n_done == first.batch.n_done
    assert (first.out_dir / "report.md").exists()     # the N = 8 report stays beside the N = 16 one
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
    return ishigami_run(task)


def test_failed_runs_stop_the_analysis_and_a_rerun_computes_only_them(tmp_path):
    fixed = {"flag_dir": str(tmp_path)}
    with pytest.raises(RuntimeError, match=r"failed .*Rerun the same command"):
        run_ishigami(tmp_path, method="morris", n=10, run_fn=flaky_ishigami, fixed=fixed)
    assert not (tmp_path / "ishigami" / "morris" / "n10").exists()
    (tmp_path / FLAG).touch()
    res = run_ishigami(tmp_path, method="morris", n=10, run_fn=flaky_ishigami, fixed=fixed)
    points = 10 * 4
    failed = len(range(0, points, 5)) * 2
    assert res.batch.n_done == failed and res.batch.n_skipped == points * 2 - failed
    assert (res.out_dir / "morris_indices.csv").exists() and (res.out_dir / "morris_mu_star_sigma.png").exists()


def test_morris_on_the_model_end_to_end_then_resume(tmp_path, capsys):
    out = tmp_path / "sa"
    with make_executor("process", 2) as ex:
        res = run_sensitivity(SensitivityConfig(SMALL, method="morris", out=out), ex, progress=False)
    assert res.batch.n_done == 32 and res.batch.n_skipped == 0
    d = out / "small" / "morris" / "n4"
    assert res.out_dir == d and {p.name for p in res.files} >= {"morris_indices.csv", "report.md"}
    ix = pd.read_csv(d / "morris_indices.csv")
    assert len(ix) == 3 * 2 and set(ix["output"]) == {"winners_total", "participation_final"}
    assert (ix["mu_star"] >= 0).all() and (ix["mu_star_low"] <= ix["mu_star"]).all() and ix["sigma"].notna().all()
    # Participation responds to the weight of neighbours far more than to the sub-districts' proposal capacity.
    part = ix[ix["output"] == "participation_final"].set_index("parameter")["mu_star"]
    assert part["social_influence"] > 5 * part["subdistrict_capacity"]
    sv = pd.read_csv(d / "seed_variance.csv")
    assert sv["seed_share_single_run"].between(0, 1).all()
    meta = json.loads((d / "sensitivity.json").read_text())
    assert meta["parameter_set"]["name"] == "calibrated" and meta["parameter_set"]["sha256"]
    assert meta["run_tables"] == ["metrics"]
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
    direct = run_model(params, int(row["seed"]), tables=("metrics",))["metrics"].iloc[0]
    assert direct["winners_total"] == row["winners_total"]
    assert direct["participation_final"] == pytest.approx(row["participation_final"])
    report = (d / "report.md").read_text()
    assert "## Closing note" in report and "morris_mu_star_sigma.png" in report and "seed share" in report
    assert "parameter set: calibrated" in report
    for png in ("morris_mu_star_sigma.png", "convergence.png", "outputs_vs_published.png"):
        assert (d / png).read_bytes()[:8] == PNG
    # Rerun through the command line: every run is on disk, nothing is recomputed, the indices are the same.
    assert main(["sensitivity", str(SMALL), "--method", "morris", "--out", str(out), "--executor", "serial",
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "0 runs computed, 32 reused" in printed and "most influential" in printed
    pd.testing.assert_frame_equal(pd.read_csv(d / "morris_indices.csv"), ix)


def test_sobol_on_the_model_through_the_cli(tmp_path, capsys):
    out = tmp_path / "sa"
    rc = main(["sensitivity", str(SMALL), "--method", "sobol", "--n", "4", "--out", str(out), "--workers", "2",
               "--no-progress"])
    assert rc == 0
    d = out / "small" / "sobol" / "n4"
    ix = pd.read_csv(d / "sobol_indices.csv")
    assert len(ix) == 6 and {"S1", "S1_conf", "ST", "ST_low", "ST_high", "rank"} <= set(ix.columns)
    assert len(pd.read_csv(d / "sobol_s2.csv")) == 3 * 2
    assert (d / "sobol_s2_heatmap.png").read_bytes()[:8] == PNG
    assert "sobol: 3 parameters, N=4 -> 32 design points x 2 replications = 64 runs" in capsys.readouterr().out


def test_outputs_come_from_the_metric_registry(tmp_path):
    # Outputs of the per-run metrics table are read from it; any other registry metric is computed from the
    # raw tables over each run's window, exactly as the per-run table computes its own.
    prob = load_problem(SMALL)
    assert run_tables(prob) == ("metrics",) and set(prob.outputs) <= set(RUN_METRICS) <= set(METRICS)
    assert prob.label("winners_total") == (METRICS["winners_total"].label, METRICS["winners_total"].unit)
    f = tmp_path / "p.toml"
    f.write_text(SMALL.read_text().replace('name = "participation_final"', 'name = "participation_policy"'))
    prob = load_problem(f)
    assert run_tables(prob) == RAW_TABLES
    params = {"scale": 0.02, "households_per_rt": 10, "end_year": 2016}
    t = run_model(params, 1, tables=("metrics", *RAW_TABLES))
    tagged = [t[name].assign(run_id="r") for name in RAW_TABLES]
    computed = compute_metrics(RunTables(*tagged, window_start=run_window(2021, 2016), horizon=2016),
                               list(RUN_METRICS)).iloc[0]
    pd.testing.assert_series_equal(computed, t["metrics"].iloc[0][list(RUN_METRICS)].astype(float),
                                   check_names=False, check_dtype=False)
    # End to end through the store: with no policy period the policy window is the whole run.
    with make_executor("serial") as ex:
        res = run_sensitivity(SensitivityConfig(f, method="morris", out=tmp_path / "sa"), ex, progress=False)
    assert json.loads((res.out_dir / "sensitivity.json").read_text())["run_tables"] == list(RAW_TABLES)
    results = pd.read_csv(res.out_dir / "results.csv", dtype={"seed": str})
    row = results.iloc[7]
    params = {**res.plan.base, **res.plan.design.point(int(row["design_point"]))}
    direct = run_model(params, int(row["seed"]), tables=("metrics",))["metrics"].iloc[0]
    assert row["participation_policy"] == pytest.approx(direct["participation_mean"])
    assert row["winners_total"] == direct["winners_total"]


def test_integer_parameters_are_run_as_integers(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text(SMALL.read_text().replace('name = "subdistrict_capacity"', 'name = "informal_leaders_per_rt"')
                 .replace("min = 3.0\nmax = 10.0", "min = 1\nmax = 5"))
    prob = load_problem(f)
    design = sample_design(prob, "morris", 4)
    vals = [design.point(i)["informal_leaders_per_rt"] for i in range(design.n_points)]
    assert all(isinstance(v, int) and 1 <= v <= 5 for v in vals) and len(set(vals)) > 1


BAD = [
    ("min = 1.5\nmax = 4.5", "min = 4.5\nmax = 1.5", r"social_influence: min \(4.5\) must be < max \(1.5\)"),
    ('name = "social_influence"', 'name = "social_influense"',
     r"unknown parameter 'social_influense'.*did you mean social_influence"),
    ("min = 3.0\nmax = 18.0", "min = 0.1\nmax = 18.0",
     r"waning_half_life min: 0.1 is outside the parameter's allowed range \[0.5, 240.0\]"),
    ('name = "winners_total"', 'name = "winners_2099"',
     r"unknown output 'winners_2099'; allowed: participation_final, "),
    ('name = "subdistrict_capacity"', 'name = "kencana"', r"'kencana' is true/false, not a numeric parameter"),
    ("n = 8 ", "n = 12 ", r"\[sobol\] n: Sobol N must be a power of 2 in \[4, 1048576\].*got 12"),
    ("levels = 4", "levels = 3", r"\[morris\] levels: Morris levels must be an even integer"),
    ("n = 4 ", "n = 1 ", r"\[morris\] n \(Morris N = number of trajectories\): must be an integer in \[4, 100000\]"),
    ("replications = 2", "replications = 1", r"\[problem\] replications: must be an integer in \[2, 1000\]"),
    ('reason = "test range: proposals', 'why = "test range: proposals',
     r"unknown key 'why'; allowed keys: name, min, max, reason"),
    ("households_per_rt = 20.0", "households_per_rt = 20.0\nwaning_half_life = 6.0",
     r"\[fixed\] waning_half_life: is also an uncertain"),
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
    prob = load_problem(REPO / "experiments" / "sensitivity.toml")
    k = len(prob.method_parameters("sobol"))
    runs = prob.sobol["n"] * (2 * k + 2) * prob.replications
    # Full city 0.32 s/run/core measured quiet (6,144 runs in 16.6 min), ~0.65 under load: 45 min allows ~8,300.
    assert prob.fixed.get("scale", 1.0) == 1.0 and prob.end_year == 2020 and runs <= 8000
    # Outcomes are people (issue 14): practising RT-years and participating household-years beside Table 3's counts.
    assert {"winners_2014_2020", "sustained_3y", "practising_rt_years", "participating_household_years",
            "wins_per_rt_gini"} <= set(prob.outputs)
    assert all(p.reason for p in prob.parameters) and math.log2(prob.sobol["n"]).is_integer()


# --- issue 13: a locked, atomic study folder ----------------------------------------------------------------

def test_a_second_writer_is_refused_before_any_run_and_nothing_is_written(tmp_path, capsys):
    study = tmp_path / "ishigami" / "morris"
    with folder_lock(study):
        with pytest.raises(OutputLockedError, match=rf"{re.escape(str(study))} is being written by another "
                                                    rf"process \(pid {os.getpid()} on "):
            run_ishigami(tmp_path, method="morris", n=4)
        assert not study.exists()
        # The command: one line naming the holder, exit 1, nothing written.
        out = tmp_path / "sa"
        with folder_lock(out / "small" / "morris"):
            assert main(["sensitivity", str(SMALL), "--method", "morris", "--out", str(out), "--executor", "serial",
                         "--no-progress"]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"pid {os.getpid()}" in err and "Traceback" not in err, err
        assert not (out / "small" / "morris").exists()
    # Once the lock is released the same call runs.
    assert run_ishigami(tmp_path, method="morris", n=4).batch.n_done == 4 * 4 * 2


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs (needs root and `mount`); skipped with the reason otherwise."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root and mount(8) to mount a small tmpfs as a full disk")
    mnt = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_leaves_the_previous_results_as_they_were(small_disk, capsys):
    out = small_disk / "sa"
    args = ["sensitivity", str(SMALL), "--method", "morris", "--out", str(out), "--executor", "serial", "--no-progress"]
    assert main(args) == 0
    capsys.readouterr()
    study = out / "small" / "morris"
    before = _snapshot(study)
    assert "n4/report.md" in before
    # Leave a few KiB free: the next, larger analysis overflows the disk part-way.
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    (small_disk / "filler").write_bytes(b"\0" * max(0, free - 48 * 1024))
    assert main([*args, "--n", "8"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no space left on device" in err and "Traceback" not in err, err
    (small_disk / "filler").unlink()
    after = _snapshot(study)
    assert {k: v for k, v in after.items() if k in before} == before      # every earlier file byte-identical
    # No new report (n8/) and nothing half-written beside the old one; the batch store may hold new, verified runs.
    reports_after = sorted(k for k in after if not k.startswith("runs/"))
    assert reports_after == sorted(k for k in before if not k.startswith("runs/"))
    assert not any(p.name.startswith(".") and "staging" in p.name for p in study.parent.iterdir())
    # With space again, the same command resumes and completes.
    assert main([*args, "--n", "8"]) == 0
    assert (study / "n8" / "report.md").exists() and _snapshot(study)["n4/report.md"] == before["n4/report.md"]


def test_sensitivity_guide_quotes_the_shipped_files_plan():
    """docs/sensitivity.md's command examples quote the parameters and runs of experiments/sensitivity.toml."""
    import re
    from pathlib import Path

    from bantar_sim.studies.sensitivity.spec import load_problem

    repo = Path(__file__).resolve().parents[1]
    problem = load_problem(repo / "experiments" / "sensitivity.toml")
    k, reps = len(problem.parameters), problem.replications
    morris_runs = problem.morris["n"] * (k + 1) * reps
    ks = len(problem.sobol["parameters"])
    sobol_runs = problem.sobol["n"] * (2 * ks + 2 if problem.sobol["second_order"] else ks + 2) * reps
    text = (repo / "docs" / "sensitivity.md").read_text(encoding="utf-8")
    assert re.search(rf"# screening: {k} parameters, {morris_runs:,} runs", text), (k, morris_runs)
    assert re.search(rf"# the default batch: {ks} parameters, {sobol_runs:,} runs", text), (ks, sobol_runs)
    assert f"reuses the {sobol_runs:,} runs of N = {problem.sobol['n']}" in text
