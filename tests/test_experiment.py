"""Experiments: file validation, common random numbers, resume, analysis, report, atomic locked outputs.

A tiny city (scale 0.05, 20 households per RT, horizon 2024, 4 replications) keeps the end-to-end runs
to a few seconds; the levers start in 2019 so that they act within the short horizon.
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bantar_sim import MODEL_VERSION, cli
from bantar_sim.engine.executors import make_executor
from bantar_sim.engine.outputs import folder_lock
from bantar_sim.engine.storage import load_manifest, load_table
from bantar_sim.engine.task import spawn_seeds
from bantar_sim.model.metrics import EXPERIMENT_METRICS as METRICS
from bantar_sim.model.metrics import METRICS as REGISTRY
from bantar_sim.model.metrics import metrics_markdown
from bantar_sim.model.params import SPECS
from bantar_sim.studies.experiment import ExperimentConfig, run_experiment
from bantar_sim.studies.experiment.compute import paired_effects, per_run_metrics
from bantar_sim.studies.experiment.spec import LEVERS, build_tasks, load_experiment

REPO = Path(__file__).resolve().parents[1]

SMALL = """
[experiment]
name = "small"
description = "test experiment"
horizon = 2024
replications = {reps}
base_seed = 77
scale = 0.05
households_per_rt = 20.0
parameters = "defaults"

[base]
policy_start_year = 2019
{extra}
"""

ARMS = """
[[arm]]
name = "kencana"
kencana = true

[[arm]]
name = "placebo"
description = "a Kencana sub-parameter without the Kencana tier: must change nothing"
kencana_reward = 80.0
"""


def write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run_cli(*argv) -> int:
    return cli.main(["experiment", *map(str, argv)])


@pytest.fixture(scope="module")
def small_experiment(tmp_path_factory):
    """One end-to-end experiment through the workflow function (in this process), shared by the tests below."""
    tmp = tmp_path_factory.mktemp("exp")
    path = write(tmp, SMALL.format(reps=4, extra="") + ARMS)
    out = tmp / "out"
    result = run_experiment(ExperimentConfig(path, out=out), progress=False)
    return {"path": path, "out": out, "rc": 1 if result.n_failed else 0, "result": result}


def test_workflow_returns_its_tables_and_paths(small_experiment):
    r = small_experiment["result"]
    assert r.out == small_experiment["out"] and r.paths["report.md"].is_file()
    assert set(r.per_run["arm"]) == {"baseline", "kencana", "placebo"} and len(r.per_run) == 12
    pd.testing.assert_frame_equal(r.effects, pd.read_csv(small_experiment["out"] / "effects.csv"), check_dtype=False)
    assert r.batch.n_done == 12 and r.experiment.parameter_set.name == "status-quo defaults"
    assert "kencana" in r.summary and "baseline mean" in r.summary


def test_end_to_end_writes_report_figures_and_effects_with_cis(small_experiment):
    out = small_experiment["out"]
    assert small_experiment["rc"] == 0
    for name in ("report.md", "effects.csv", "metrics.csv", "levels.csv", "series.csv", "sustainability.csv",
                 "runs.csv", "experiment.json"):
        assert (out / name).stat().st_size > 0, name
    for fig in ("timeseries.png", "forest.png", "sustainability.png"):
        data = (out / fig).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, fig

    effects = pd.read_csv(out / "effects.csv")
    assert set(effects["arm"]) == {"kencana", "placebo"}
    assert set(effects["metric"]) == set(METRICS)
    assert (effects["n_pairs"] <= 4).all()
    k = effects[(effects["arm"] == "kencana") & (effects["metric"] == "kencana_final")].iloc[0]
    assert k["n_pairs"] == 4 and k["effect"] > 0
    assert np.isfinite(k["ci_low"]) and k["ci_low"] <= k["effect"] <= k["ci_high"]

    report = (out / "report.md").read_text()
    for piece in ("](forest.png)", "](timeseries.png)", "](sustainability.png)", "git commit", "base seed 77",
                  MODEL_VERSION, "## Failures", "kencana_reward = 80.0", "parameter set: status-quo defaults",
                  "baseline mean"):
        assert piece in report, piece
    for seed in spawn_seeds(77, 4):
        assert str(seed) in report


def test_replicate_k_uses_the_same_spawned_seed_in_every_arm(small_experiment):
    man = load_manifest(small_experiment["out"] / "runs")
    assert len(man) == 3 * 4 and (man["status"] == "ok").all()
    seeds = spawn_seeds(77, 4)
    for _, row in man.iterrows():
        tags = json.loads(row["tags"])
        assert int(row["seed"]) == seeds[tags["replicate"]]
    # the full parameter set is recorded per run, and only the arm's lever differs between arms
    params = {json.loads(r["tags"])["arm"]: json.loads(r["params"]) for _, r in man.iterrows()}
    diff = {k for k in params["kencana"] if params["kencana"][k] != params["baseline"][k]}
    assert diff == {"kencana"}


def test_lever_that_does_nothing_gives_exactly_zero_paired_differences(small_experiment):
    effects = pd.read_csv(small_experiment["out"] / "effects.csv")
    placebo = effects[(effects["arm"] == "placebo") & effects["effect"].notna()]
    assert len(placebo) >= len(METRICS) - 3          # a ratio may be undefined in a tiny city
    assert (placebo["effect"] == 0).all() and (placebo["sd_diff"] == 0).all()
    assert (placebo["ci_low"] == 0).all() and (placebo["ci_high"] == 0).all()
    # and the stored yearly series are identical, replicate by replicate
    city = load_table(small_experiment["out"] / "runs", "city_year")
    num = city.select_dtypes("number").columns.drop("replicate")
    a = city[city["arm"] == "placebo"].sort_values(["replicate", "year"])[num].to_numpy()
    b = city[city["arm"] == "baseline"].sort_values(["replicate", "year"])[num].to_numpy()
    assert np.array_equal(a, b)
    # a real lever leaves the years before policy_start_year unchanged (common random numbers) ...
    k = city[(city["arm"] == "kencana") & (city["year"] < 2019)].sort_values(["replicate", "year"])[num].to_numpy()
    kb = city[(city["arm"] == "baseline") & (city["year"] < 2019)].sort_values(["replicate", "year"])[num].to_numpy()
    assert np.array_equal(k, kb)
    # ... and changes the years after it
    k2 = city[(city["arm"] == "kencana") & (city["year"] >= 2020)]["kencana"]
    assert k2.sum() > 0
    assert "Identical to the baseline" in (small_experiment["out"] / "report.md").read_text()


def test_rerun_resumes_without_executing_any_run(small_experiment, capsys):
    out = small_experiment["out"]
    before = len(load_manifest(out / "runs", all_attempts=True))
    parts = sorted(p.name for p in (out / "runs" / "city_year").glob("*.parquet"))
    rc = run_cli(small_experiment["path"], "--out", out, "--executor", "serial", "--no-progress")
    text = capsys.readouterr().out
    assert rc == 0
    assert "0 executed, 12 already on disk, 0 failed" in text
    assert len(load_manifest(out / "runs", all_attempts=True)) == before
    assert sorted(p.name for p in (out / "runs" / "city_year").glob("*.parquet")) == parts


def test_cohort_sustainability_matches_the_models_own_metric(small_experiment):
    """Over the run's own window (policy_start_year 2019) the stored cohorts reproduce each run's metrics table."""
    runs = small_experiment["out"] / "runs"
    tabs = [load_table(runs, t) for t in ("city_year", "subdistrict_year", "award_cohorts")]
    mine = per_run_metrics(*tabs, window_start=2019, horizon=2024, names=["sustained_1y", "sustained_3y",
                                                                           "sustained_5y"])
    theirs = load_table(runs, "metrics").set_index("run_id")
    for k in (1, 3, 5):
        a, b = mine[f"sustained_{k}y"], theirs.loc[mine.index, f"sustained_{k}y"]
        assert np.allclose(a, b, equal_nan=True), k


def test_process_pool_gives_the_same_runs_as_serial(small_experiment, tmp_path):
    """The run function is picklable and results do not depend on the executor (2 replications)."""
    out = tmp_path / "proc"
    with make_executor("process", 2) as executor:
        result = run_experiment(ExperimentConfig(small_experiment["path"], replications=2, out=out), executor,
                                progress=False)
    assert result.n_failed == 0
    proc = pd.read_csv(out / "metrics.csv").set_index("run_id")
    serial = pd.read_csv(small_experiment["out"] / "metrics.csv").set_index("run_id")
    assert len(proc) == 6
    pd.testing.assert_frame_equal(proc.sort_index(), serial.loc[proc.index].sort_index())


def test_failed_run_is_reported_and_retried_on_rerun(tmp_path, monkeypatch, capsys):
    import bantar_sim.studies.experiment.workflow as E

    path = write(tmp_path, SMALL.format(reps=3, extra="") + ARMS.split("[[arm]]\nname = \"placebo\"")[0])
    out = tmp_path / "out"
    real = E.run_task

    def flaky(task):
        if task.tags["arm"] == "kencana" and task.tags["replicate"] == 1:
            raise RuntimeError("simulated node failure")
        return real(task)

    monkeypatch.setattr(E, "run_task", flaky)
    assert run_cli(path, "--out", out, "--executor", "serial", "--no-progress") == 1
    assert "1 runs failed" in capsys.readouterr().err
    report = (out / "report.md").read_text()
    assert "simulated node failure" in report and "arm kencana, replicate 1" in report
    eff = pd.read_csv(out / "effects.csv")
    assert (eff.loc[eff["arm"] == "kencana", "n_pairs"] <= 2).all()

    monkeypatch.setattr(E, "run_task", real)
    assert run_cli(path, "--out", out, "--executor", "serial", "--no-progress") == 0
    assert "1 executed, 5 already on disk, 0 failed" in capsys.readouterr().out
    eff = pd.read_csv(out / "effects.csv")
    assert eff.loc[(eff["arm"] == "kencana") & (eff["metric"] == "kencana_final"), "n_pairs"].item() == 3


BAD = {
    "unknown lever": (ARMS.replace("kencana = true", "kencanna = true"),
                      ["[[arm]] #1 'kencana'", "unknown lever 'kencanna'", "did you mean 'kencana'", "allowed levers:",
                       "monitoring"]),
    "wrong type (bool)": (ARMS.replace("kencana = true", 'kencana = "yes"'),
                          ["[[arm]] #1 'kencana'", "'kencana' must be true or false", "'yes'"]),
    "wrong type (number)": (ARMS + '\n[[arm]]\nname = "m"\nmonitoring = "high"\n',
                            ["[[arm]] #3 'm'", "'monitoring' must be a number in [0.0, 1.0]"]),
    "out of range": (ARMS + '\n[[arm]]\nname = "m"\nmonitoring = 1.5\n',
                     ["[[arm]] #3 'm'", "'monitoring' = 1.5 is out of range", "[0.0, 1.0]"]),
    "out of range (int)": (ARMS + '\n[[arm]]\nname = "s"\nreward_mode = "staged"\nreward_stages = 0\n',
                           ["'reward_stages' = 0 is out of range", "[1, 10]"]),
    "bad choice": (ARMS + '\n[[arm]]\nname = "s"\nreward_mode = "monthly"\n',
                   ["'reward_mode' must be one of 'one_off', 'staged'"]),
    "duplicate arm name": (ARMS + '\n[[arm]]\nname = "kencana"\nmonitoring = 0.5\n',
                           ["[[arm]] #3", "duplicate arm name 'kencana'", "[[arm]] #1", "must be unique"]),
    "policy starts after the horizon": (ARMS.replace("kencana = true", "kencana = true\npolicy_start_year = 2030"),
                                        ["'kencana'", "bad horizon", "policy_start_year = 2030", "horizon = 2024",
                                         "policy_start_year in [2014, 2024]"]),
    "experiment-level key in an arm": (ARMS.replace("kencana = true", "kencana = true\nend_year = 2030"),
                                       ["'end_year' cannot be set per arm", "set 'horizon' in [experiment]"]),
    "joint constraint": (ARMS + '\n[[arm]]\nname = "j"\nassessment_threshold = 0.9\n',
                         ["[[arm]] 'j'", "kencana_threshold (0.65) must not be below assessment_threshold (0.9)"]),
    "single [arm] table": ('\n[arm]\nname = "k"\nkencana = true\n', ["[[arm]] (an array of tables)"]),
    "arm without name": ('\n[[arm]]\nkencana = true\n', ["[[arm]] #1", "missing 'name'"]),
    "no arm": ("", ["no [[arm]] to compare"]),
    "unknown table": (ARMS + "\n[arms]\nx = 1\n", ["unknown table 'arms'", "[experiment], [base], [[arm]]"]),
}

BAD_HEADER = {
    "horizon too late": (("horizon = 2024", "horizon = 2070"),
                         ["[experiment]", "'horizon' = 2070 is out of range", "[2015, 2060]"]),
    "horizon too early": (("horizon = 2024", "horizon = 2014"), ["'horizon' = 2014 is out of range", "[2015, 2060]"]),
    "horizon wrong type": (("horizon = 2024", 'horizon = "2030"'),
                           ["'horizon' must be an integer year in [2015, 2060]", "(string)"]),
    "replications < 1": (("replications = 4", "replications = 0"),
                         ["'replications' = 0 is out of range", "[1, 100000]"]),
    "replications float": (("replications = 4", "replications = 2.5"), ["'replications' must be an integer"]),
    "unknown experiment key": (("base_seed = 77", "seed = 77"),
                               ["[experiment]: unknown key 'seed'", "did you mean 'base_seed'", "replications ("]),
    "scale out of range": (("scale = 0.05", "scale = 2.0"), ["'scale' = 2.0 is out of range", "[0.005, 1.0]"]),
    "bad parameters value": (('parameters = "defaults"', 'parameters = "posterior"'),
                             ["'parameters' must be 'calibrated' or 'defaults'"]),
    "unknown output table": (('name = "small"', 'name = "small"\noutputs = ["rt_years"]'),
                             ["unknown table 'rt_years'", "rt_year"]),
    "unknown headline metric": (('name = "small"', 'name = "small"\nheadline = ["sustained_2y"]'),
                                ["unknown metric 'sustained_2y'", "sustained_3y"]),
    "toml syntax": (("horizon = 2024", "horizon = = 2024"), ["not valid TOML"]),
}


def _assert_clean_error(tmp_path, capsys, path, expected, *extra_args):
    out = tmp_path / "out"
    rc = run_cli(path, "--out", out, "--executor", "serial", "--no-progress", *extra_args)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("bantar-sim experiment: error: ")
    for piece in expected:
        assert piece in err, f"{piece!r} not in {err!r}"
    assert not out.exists(), "nothing may be created before the file is valid"
    return err


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_arms_are_clear_errors_before_any_run(tmp_path, capsys, case):
    body, expected = BAD[case]
    path = write(tmp_path, SMALL.format(reps=4, extra="") + body)
    err = _assert_clean_error(tmp_path, capsys, path, expected)
    assert str(path) in err


@pytest.mark.parametrize("case", sorted(BAD_HEADER))
def test_malformed_experiment_table_is_a_clear_error(tmp_path, capsys, case):
    (old, new), expected = BAD_HEADER[case]
    text = SMALL.format(reps=4, extra="") + ARMS
    assert old in text
    path = write(tmp_path, text.replace(old, new, 1))
    err = _assert_clean_error(tmp_path, capsys, path, expected)
    assert str(path) in err


def test_bad_command_line_overrides_and_missing_file(tmp_path, capsys):
    path = write(tmp_path, SMALL.format(reps=4, extra="") + ARMS)
    _assert_clean_error(tmp_path, capsys, path, ["--horizon", "'horizon' = 2061 is out of range"], "--horizon", "2061")
    _assert_clean_error(tmp_path, capsys, path, ["--replications", "[1, 100000]"], "--replications", "0")
    _assert_clean_error(tmp_path, capsys, path, ["--executor serial", "--workers must be 1, got 2"], "--workers", "2")
    _assert_clean_error(tmp_path, capsys, tmp_path / "nope.toml", ["nope.toml: experiment file not found"])


def test_dry_run_prints_the_plan_and_creates_nothing(tmp_path, capsys):
    path = write(tmp_path, SMALL.format(reps=4, extra="") + ARMS)
    out = tmp_path / "out"
    assert run_cli(path, "--out", out, "--dry-run", "--replications", "7") == 0
    text = capsys.readouterr().out
    assert "3 arms × 7 replications = 21 runs; 0 already on disk" in text
    assert "policy period 2019–2024" in text and "kencana=true" in text
    assert not out.exists()


def test_posterior_draws_are_paired_across_arms_and_stable_when_replications_grow(tmp_path):
    post = tmp_path / "posterior.csv"
    post.write_text("base_utility,waning_half_life,weight\n-4.0,5.0,1.0\n-5.0,8.0,0.0\n-4.6,7.0,3.0\n")
    path = write(tmp_path, SMALL.format(reps=12, extra="") .replace(
        'households_per_rt = 20.0', 'households_per_rt = 20.0\nposterior_draws = "posterior.csv"') + ARMS)
    exp = load_experiment(path)
    tasks = build_tasks(exp)
    by = {(t.tags["arm"], t.tags["replicate"]): t for t in tasks}
    rows = [exp.posterior_draws[k][0] for k in range(12)]
    assert 1 not in rows, "a particle with weight 0 is never drawn"
    assert set(rows) == {0, 2}
    for k in range(12):
        values = {(by[a, k].params["base_utility"], by[a, k].params["waning_half_life"]) for a in exp.arm_names}
        assert len(values) == 1, "replication k uses the same draw in every arm"
        assert by["kencana", k].tags["draw"] == rows[k]
    longer = load_experiment(path, replications=20)
    assert [i for i, _ in longer.posterior_draws[:12]] == rows
    # [base] overrides the posterior (explicit settings win), arms override both
    path2 = write(tmp_path, path.read_text().replace("policy_start_year = 2019",
                                                     "policy_start_year = 2019\nbase_utility = -3.0"), "e2.toml")
    assert {t.params["base_utility"] for t in build_tasks(load_experiment(path2))} == {-3.0}


def test_posterior_draws_skip_particles_that_fail_the_pattern_filter(tmp_path):
    from bantar_sim.studies.experiment.spec import ExperimentError
    post = tmp_path / "posterior.csv"
    post.write_text("base_utility,weight,passes_patterns\n-4.0,5.0,False\n-5.0,1.0,True\n-4.6,1.0,True\n")
    path = write(tmp_path, SMALL.format(reps=12, extra="").replace(
        'households_per_rt = 20.0', 'households_per_rt = 20.0\nposterior_draws = "posterior.csv"') + ARMS)
    rows = {i for i, _ in load_experiment(path).posterior_draws}
    assert rows == {1, 2}, "row 0 carries most weight but fails the patterns: never drawn"
    post.write_text("base_utility,weight,passes_patterns\n-4.0,5.0,False\n")
    with pytest.raises(ExperimentError, match="no row passes the pattern filter"):
        load_experiment(path)


def test_bad_posterior_file_is_a_clear_error(tmp_path):
    from bantar_sim.model.params import ParameterError
    from bantar_sim.studies.experiment.spec import ExperimentError

    post = tmp_path / "posterior.csv"
    post.write_text("base_utilty,weight\n-4.0,1.0\n")
    path = write(tmp_path, SMALL.format(reps=2, extra="").replace(
        'households_per_rt = 20.0', 'households_per_rt = 20.0\nposterior_draws = "posterior.csv"') + ARMS)
    with pytest.raises(ExperimentError, match=r"posterior.csv: unknown parameter column 'base_utilty'.*base_utility"):
        load_experiment(path)
    post.write_text("base_utility,weight\n-40.0,1.0\n")
    with pytest.raises(ParameterError, match=r"row 2: parameter 'base_utility' = -40.0 is out of range"):
        load_experiment(path)
    post.unlink()
    with pytest.raises(ExperimentError, match="posterior file not found"):
        load_experiment(path)


def test_paired_effects_match_scipy_paired_t_interval():
    rng = np.random.default_rng(5)
    base = rng.normal(10, 2, 9)
    arm = base + rng.normal(1.5, 0.7, 9)
    arm[4] = np.nan                                   # an undefined metric drops its pair only
    per_run = pd.DataFrame({"arm": ["baseline"] * 9 + ["a"] * 8, "replicate": list(range(9)) + list(range(8)),
                            "participation_final": np.r_[base, arm[:8]]})   # replicate 8 of arm a failed
    e = paired_effects(per_run, ["participation_final"], ["baseline", "a"]).iloc[0]
    keep = [k for k in range(8) if k != 4]
    ref = stats.ttest_rel(arm[keep], base[keep]).confidence_interval(0.95)
    assert e["n_pairs"] == 7
    assert math.isclose(e["effect"], float(np.mean(arm[keep] - base[keep])))
    assert math.isclose(e["ci_low"], ref.low) and math.isclose(e["ci_high"], ref.high)
    assert e["significant"]


def test_shipped_experiment_files_are_valid_and_compare_levers():
    files = sorted(f for f in (REPO / "experiments").glob("*.toml") if not f.name.startswith("sensitivity"))
    names = {f.stem for f in files}
    assert {"kencana", "adoption", "monitoring", "informal_leaders", "youth_regeneration", "dissemination",
            "reward_design", "extra_dimensions", "package"} <= names
    for f in files:
        exp = load_experiment(f)
        # dose_response: 70 arms, 10 replications; household_count_*: 2 x 6 arms at 30 and 90 households, 20
        minimum = 10 if f.stem == "dose_response" else 20 if f.stem.startswith("household_count") else 30
        assert exp.replications >= minimum
        # withdrawal: levers withdrawn in 2026, followed to 2035 (issue 16)
        assert exp.horizon == (2035 if f.stem == "withdrawal" else 2030) and exp.arm_names[0] == "baseline"
        assert len(build_tasks(exp)) == len(exp.arms) * exp.replications
        for arm in exp.arms[1:]:
            assert any(k in LEVERS for k in arm.overrides), (f.name, arm.name)


CALIBRATED = """[params]
base_utility = -3.25
waning_half_life = 12.0
households_per_rt = 30.0

[provenance]
model_version = "test"
calibrated_parameters = ["base_utility", "waning_half_life"]
"""


def test_parameters_start_from_the_calibrated_set_or_the_defaults(tmp_path, monkeypatch):
    """parameters = "calibrated" reads calibration/calibrated.toml found from the working directory."""
    (tmp_path / "calibration").mkdir()
    cal = tmp_path / "calibration" / "calibrated.toml"
    cal.write_text(CALIBRATED)
    monkeypatch.chdir(tmp_path)
    text = SMALL.format(reps=2, extra="").replace('parameters = "defaults"', 'parameters = "calibrated"') + ARMS
    exp = load_experiment(write(tmp_path, text))
    assert exp.parameter_set.path == cal.absolute()
    assert exp.start == {"base_utility": -3.25, "waning_half_life": 12.0, "households_per_rt": 30.0}
    for t in build_tasks(exp):
        assert t.params["base_utility"] == -3.25 and t.params["waning_half_life"] == 12.0
        assert t.params["households_per_rt"] == 20.0        # [experiment] wins over the calibrated set
    assert exp.to_json()["parameter_set"]["sha256"] == __import__("hashlib").sha256(cal.read_bytes()).hexdigest()
    exp = load_experiment(write(tmp_path, SMALL.format(reps=2, extra="") + ARMS, "d.toml"))
    assert exp.start == {} and build_tasks(exp)[0].params["base_utility"] == SPECS["base_utility"].default


@pytest.mark.parametrize("content, expected", [
    (None, "calibration/calibrated.toml not found"),
    ("# only a comment\n", "no [params] table"),
    ("[params]\nbase_utility = -4.0\n", "no [provenance] table"),
    (CALIBRATED.replace("base_utility = -3.25\n", ""), "partial calibrated set"),
])
def test_a_missing_or_partial_calibrated_set_is_an_error_not_the_defaults(tmp_path, monkeypatch, capsys,
                                                                          content, expected):
    if content is not None:
        (tmp_path / "calibration").mkdir()
        (tmp_path / "calibration" / "calibrated.toml").write_text(content)
    monkeypatch.chdir(tmp_path)
    text = SMALL.format(reps=2, extra="").replace('parameters = "defaults"', 'parameters = "calibrated"') + ARMS
    err = _assert_clean_error(tmp_path, capsys, write(tmp_path, text), [expected, 'parameters = \\"defaults\\"'
                                                                         .replace("\\", "")])
    assert "exp.toml" in err


def test_report_and_experiment_json_name_the_parameter_set(small_experiment):
    meta = json.loads((small_experiment["out"] / "experiment.json").read_text())
    assert meta["parameter_set"]["name"] == "status-quo defaults" and meta["parameter_set"]["path"] is None


def test_datapackage_describes_every_column_of_every_table(small_experiment):
    from bantar_sim.studies.datadict import UNDEFINED
    out = small_experiment["out"]
    pkg = json.loads((out / "datapackage.json").read_text())
    assert pkg["profile"] == "tabular-data-package"
    names = {r["path"] for r in pkg["resources"]}
    assert names == {p.name for p in out.glob("*.csv")}
    for r in pkg["resources"]:
        header = pd.read_csv(out / r["path"], nrows=0).columns.tolist()
        assert [f["name"] for f in r["schema"]["fields"]] == header, r["path"]
        for f in r["schema"]["fields"]:
            assert f["description"] and UNDEFINED not in f["description"], (r["path"], f["name"])
            assert f["type"] in ("integer", "number", "string", "boolean")
    fields = {f["name"]: f for r in pkg["resources"] if r["name"] == "metrics" for f in r["schema"]["fields"]}
    assert fields["sustained_3y"]["unit"] == REGISTRY["sustained_3y"].unit
    assert fields["kencana_final"]["type"] == "integer"
    effects = {f["name"]: f for r in pkg["resources"] if r["name"] == "effects" for f in r["schema"]["fields"]}
    assert "MEAN" in effects["effect"]["description"]


def test_readme_metric_section_is_generated_from_the_registry():
    text = (REPO / "experiments" / "README.md").read_text()
    section = text.split("<!-- metrics:start -->\n", 1)[1].split("\n<!-- metrics:end -->", 1)[0]
    assert section == metrics_markdown(METRICS)
    assert "k-th year falls in the policy" in text


def test_a_second_writer_is_refused_and_writes_nothing(tmp_path, capsys):
    path = write(tmp_path, SMALL.format(reps=2, extra="") + ARMS)
    out = tmp_path / "out"
    with folder_lock(out):
        rc = run_cli(path, "--out", out, "--executor", "serial", "--no-progress")
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and "being written by another process" in err
    assert f"pid {__import__('os').getpid()}" in err
    assert not out.exists()


def test_an_unwritable_output_folder_is_bad_input(tmp_path, capsys):
    path = write(tmp_path, SMALL.format(reps=2, extra="") + ARMS)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = run_cli(path, "--out", blocker, "--executor", "serial", "--no-progress")
    err = capsys.readouterr().err
    assert rc == 2 and "is an existing file" in err and err.count("\n") == 1
    assert blocker.read_text() == "x"


def test_rerun_replaces_the_report_atomically_and_keeps_the_runs(small_experiment, tmp_path):
    """A second run into an existing folder swaps the report in and carries runs/ over (nothing left behind)."""
    out = tmp_path / "copy"
    shutil.copytree(small_experiment["out"], out)
    (out / "stale.txt").write_text("from an earlier layout")
    result = run_experiment(ExperimentConfig(small_experiment["path"], out=out), progress=False)
    assert result.batch.n_skipped == 12 and result.batch.n_done == 0
    assert not (out / "stale.txt").exists() and (out / "runs" / "manifest").is_dir()
    assert not list(tmp_path.glob(".copy.*"))
