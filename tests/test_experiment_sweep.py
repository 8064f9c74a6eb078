"""Dose-response sweeps in experiment files: [[sweep]] arms, their checks, dose_response.csv/.png and the report.

A tiny city (scale 0.05, 20 households per RT, horizon 2023, 2 replications) keeps the end-to-end run to
a few seconds; the levers start in 2019 so that they act within the short horizon.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bantar_sim import cli
from bantar_sim.model.metrics import EXPERIMENT_METRICS
from bantar_sim.model.params import SPECS
from bantar_sim.studies.experiment import ExperimentConfig, run_experiment
from bantar_sim.studies.experiment.spec import (
    NAME_RE,
    SWEEP_ARM_RE,
    build_tasks,
    load_experiment,
    sweep_arm_name,
    value_text,
)

REPO = Path(__file__).resolve().parents[1]

HEAD = """
[experiment]
name = "sweepy"
horizon = 2023
replications = 2
base_seed = 77
scale = 0.05
households_per_rt = 20.0
parameters = "defaults"
headline = ["active_bantar_final", "participation_policy"]

[base]
policy_start_year = 2019
"""

SWEEPS = """
[[arm]]
name = "kencana"
kencana = true

[[sweep]]
lever = "reward_fund"
values = [0.0, 10.0, 40.0]

[[sweep]]
lever = "kencana_per_year"
values = [0, 10]
set = { kencana = true }

[[sweep]]
name = "monitoring_with_complaints"
lever = "monitoring"
values = [0.0, 1.0]
set = { complaint_channel = true }
description = "monitoring on top of a complaint channel"
"""


def write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_sweep_values_become_named_arms_with_the_sweeps_settings(tmp_path):
    exp = load_experiment(write(tmp_path, HEAD + SWEEPS))
    assert exp.arm_names == ["baseline", "kencana", "reward_fund=0", "reward_fund=10", "reward_fund=40",
                             "kencana_per_year=0", "kencana_per_year=10", "monitoring_with_complaints=0",
                             "monitoring_with_complaints=1"]
    by = {a.name: a for a in exp.arms}
    assert by["kencana_per_year=0"].overrides == {"kencana": True, "kencana_per_year": 0}
    assert by["kencana_per_year=0"].description == "dose-response: kencana_per_year = 0 (with kencana = true)"
    assert by["reward_fund=40"].description == "dose-response: reward_fund = 40"
    assert by["reward_fund=40"].sweep == "reward_fund" and by["reward_fund=40"].value == 40.0
    assert [a.name for a in exp.explicit_arms] == ["baseline", "kencana"]
    assert [s.name for s in exp.sweeps] == ["reward_fund", "kencana_per_year", "monitoring_with_complaints"]
    assert all(SWEEP_ARM_RE.match(a.name) for a in exp.arms if a.sweep)
    assert len(build_tasks(exp)) == 9 * 2
    meta = exp.to_json()
    assert meta["sweeps"][2]["arms"] == ["monitoring_with_complaints=0", "monitoring_with_complaints=1"]
    assert meta["sweeps"][1]["set"] == {"kencana": True}


def test_a_file_of_sweeps_only_is_an_experiment(tmp_path):
    exp = load_experiment(write(tmp_path, HEAD + '\n[[sweep]]\nlever = "monitoring"\nvalues = [0.5]\n'))
    assert exp.arm_names == ["baseline", "monitoring=0.5"]


@pytest.mark.parametrize("value, text", [(0.25, "0.25"), (1.0, "1"), (0.0, "0"), (150, "150"), (True, "true"),
                                         (0.1 + 0.2, repr(0.1 + 0.2)), (1e-7, "1e-07"), ("staged", "staged")])
def test_arm_names_are_readable_exact_and_valid(value, text):
    assert value_text(value) == text
    name = sweep_arm_name("lever", value)
    assert name == f"lever={text}" and SWEEP_ARM_RE.match(name)
    assert not NAME_RE.match(name), "explicit [[arm]] names cannot contain '=': they never collide with sweeps"


BAD = {
    "unknown lever": ('lever = "monitorng"\nvalues = [0.5]',
                      ["[[sweep]] #1", "'lever'", "unknown lever 'monitorng'", "did you mean 'monitoring'",
                       "allowed levers:"]),
    "value out of range": ('lever = "monitoring"\nvalues = [0.0, 1.5]',
                           ["[[sweep]] #1 'values' item 2", "'monitoring' = 1.5 is out of range", "[0.0, 1.0]"]),
    "value wrong type": ('lever = "kencana"\nvalues = [true, "yes"]',
                         ["[[sweep]] #1 'values' item 2", "'kencana' must be true or false"]),
    "value not a single value": ('lever = "monitoring"\nvalues = [[0.5]]',
                                 ["[[sweep]] #1", "'values' item 1 must be a single value"]),
    "empty values": ('lever = "monitoring"\nvalues = []', ["[[sweep]] #1", "'values' must be a non-empty list"]),
    "values not a list": ('lever = "monitoring"\nvalues = 0.5', ["[[sweep]] #1", "'values' must be a non-empty list"]),
    "missing values": ('lever = "monitoring"', ["[[sweep]] #1", "missing 'values'"]),
    "missing lever": ("values = [0.5]", ["[[sweep]] #1", "missing 'lever'"]),
    "duplicate values": ('lever = "kencana_min_years"\nvalues = [3, 3.0]',
                         ["[[sweep]] #1", "'values' item 2", "repeats item 1", "'kencana_min_years=3'"]),
    "unknown key": ('lever = "monitoring"\nvalue = [0.5]',
                    ["[[sweep]] #1", "unknown key 'value'", "did you mean 'values'"]),
    "set sets the lever": ('lever = "monitoring"\nvalues = [0.5]\nset = { monitoring = 1.0 }',
                           ["[[sweep]] #1", "'set' sets the swept lever 'monitoring'"]),
    "set with an unknown lever": ('lever = "monitoring"\nvalues = [0.5]\nset = { adoptoin = true }',
                                  ["[[sweep]] #1 'set'", "unknown lever 'adoptoin'", "did you mean 'adoption'"]),
    "set out of range": ('lever = "monitoring"\nvalues = [0.5]\nset = { informal_engagement = 2.0 }',
                         ["[[sweep]] #1 'set'", "'informal_engagement' = 2.0 is out of range"]),
    "set not a table": ('lever = "monitoring"\nvalues = [0.5]\nset = 1', ["[[sweep]] #1", "'set' must be a table"]),
    "experiment-level lever": ('lever = "scale"\nvalues = [0.5]', ["[[sweep]] #1", "'scale' cannot be swept"]),
    "bad name": ('lever = "monitoring"\nname = "a b"\nvalues = [0.5]', ["[[sweep]] #1", "'name' must be"]),
}


def _assert_clean_error(tmp_path, capsys, path, expected):
    out = tmp_path / "out"
    rc = cli.main(["experiment", str(path), "--out", str(out), "--executor", "serial", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("bantar-sim experiment: error: ") and err.count("\n") == 1, err
    for piece in [str(path), *expected]:
        assert piece in err, f"{piece!r} not in {err!r}"
    assert not out.exists(), "nothing may be created before the file is valid"


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_sweeps_are_one_line_errors_before_any_run(tmp_path, capsys, case):
    body, expected = BAD[case]
    path = write(tmp_path, HEAD + SWEEPS + f"\n[[sweep]]\n{body}\n")     # the file's 4th sweep
    _assert_clean_error(tmp_path, capsys, path, [e.replace("[[sweep]] #1", "[[sweep]] #4") for e in expected])


def test_two_sweeps_of_one_name_and_a_single_sweep_table_are_errors(tmp_path, capsys):
    text = HEAD + '\n[[sweep]]\nlever = "monitoring"\nvalues = [0.5]\n[[sweep]]\nlever = "monitoring"\nvalues = [1.0]\n'
    _assert_clean_error(tmp_path, capsys, write(tmp_path, text),
                        ["[[sweep]] #2", "duplicate sweep name 'monitoring'", "also [[sweep]] #1", "'name'"])
    _assert_clean_error(tmp_path, capsys, write(tmp_path, HEAD + '\n[sweep]\nlever = "monitoring"\nvalues = [1.0]\n',
                                                "b.toml"), ["[[sweep]] (an array of tables)"])


def test_a_sweep_arm_the_model_forbids_is_named_by_its_sweep(tmp_path, capsys):
    """Joint constraints are checked per generated arm, and the error names the [[sweep]] and the arm."""
    text = HEAD + '\n[[sweep]]\nlever = "policy_start_year"\nvalues = [2019, 2030]\n'
    _assert_clean_error(tmp_path, capsys, write(tmp_path, text),
                        ["[[sweep]] #1 'policy_start_year=2030'", "bad horizon"])


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    path = write(tmp, HEAD + SWEEPS)
    out = tmp / "out"
    result = run_experiment(ExperimentConfig(path, out=out), progress=False)
    return {"path": path, "out": out, "result": result}


def test_dose_response_table_has_every_sweep_value_and_metric(swept):
    out, result = swept["out"], swept["result"]
    assert result.n_failed == 0
    dose = pd.read_csv(out / "dose_response.csv")
    for col in ("sweep", "lever", "value", "arm", "metric", "effect", "ci_low", "ci_high", "n_pairs",
                "baseline_mean", "zero_in_ci", "same_as_baseline"):
        assert col in dose.columns, col
    assert len(dose) == 7 * len(EXPERIMENT_METRICS)
    assert list(dict.fromkeys(dose["arm"])) == result.experiment.arm_names[2:]
    # the same numbers as effects.csv (the dose table is a view of the sweeps' arms)
    eff = pd.read_csv(out / "effects.csv").set_index(["arm", "metric"])
    d = dose.set_index(["arm", "metric"])
    pd.testing.assert_series_equal(d["effect"], eff.loc[d.index, "effect"], check_names=False)
    assert (d["n_pairs"] <= 2).all()
    mine = result.dose_response.reset_index(drop=True)
    pd.testing.assert_frame_equal(mine.drop(columns="zero_in_ci"), dose.drop(columns="zero_in_ci"), check_dtype=False)
    def as_list(col):
        return [None if pd.isna(v) else bool(v) for v in col]
    assert as_list(mine["zero_in_ci"]) == as_list(dose["zero_in_ci"])


def test_a_sweep_value_equal_to_the_baseline_has_exactly_zero_effect(swept):
    dose = pd.read_csv(swept["out"] / "dose_response.csv")
    same = dose[dose["same_as_baseline"]]
    assert set(same["arm"]) == {"reward_fund=10"}, "reward_fund 10 is the status quo; monitoring=0 sets complaints"
    assert (same["effect"].dropna() == 0).all() and (same["zero_in_ci"].dropna()).all()
    assert len(same["effect"].dropna()) >= len(EXPERIMENT_METRICS) - 3
    # kencana_per_year = 0 with the tier on is not the baseline: recorded as such, whatever its effect
    assert not dose.loc[dose["arm"] == "kencana_per_year=0", "same_as_baseline"].any()
    ok = dose.dropna(subset=["ci_low"])
    expect = (ok["ci_low"] <= 0) & (ok["ci_high"] >= 0)
    assert (ok["zero_in_ci"].astype(bool) == expect).all()


def test_report_has_a_dose_response_section_figure_and_data_dictionary(swept):
    out = swept["out"]
    report = (out / "report.md").read_text()
    assert "## Dose-response" in report and "](dose_response.png)" in report
    for piece in ("### `reward_fund`: lever `reward_fund`", "### `kencana_per_year`: lever `kencana_per_year`, with "
                  "`kencana = true`", "monitoring on top of a complaint channel", "| 10 (= baseline) | 0 [0, 0] |",
                  "At reward_fund = 0: the 95% CI contains 0 for"):
        assert piece in report, piece
    data = (out / "dose_response.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    # the explicit arm keeps its forest plot; the headline table has no column per sweep arm
    assert (out / "forest.png").is_file()
    headline = report.split("## Headline effects", 1)[1].split("##", 1)[0]
    assert "kencana: mean effect" in headline and "reward_fund=0" not in headline
    pkg = json.loads((out / "datapackage.json").read_text())
    fields = {f["name"]: f for r in pkg["resources"] if r["path"] == "dose_response.csv"
              for f in r["schema"]["fields"]}
    assert fields["zero_in_ci"]["type"] == "boolean" and "(no definition" not in fields["value"]["description"]
    meta = json.loads((out / "experiment.json").read_text())
    assert [a["sweep"] for a in meta["arms"]][:3] == [None, None, "reward_fund"] and meta["written"]
    assert "Dose-response" in swept["result"].summary and "reward_fund" in swept["result"].summary


def test_shipped_dose_response_file_sweeps_every_lever_over_its_range():
    exp = load_experiment(REPO / "experiments" / "dose_response.toml")
    assert (exp.horizon, exp.replications, exp.base_seed, exp.households_per_rt, exp.parameters) == (
        2030, 10, 2014, None, "calibrated")
    # No city settings of its own: it runs at the calibrated set's (the households per RT it was fitted at).
    assert exp.city_settings["households_per_rt_from"] == "parameter set"
    assert exp.city_settings["households_per_rt"] == exp.start["households_per_rt"]
    assert exp.headline == ("practising_rt_years_policy", "participating_household_years_policy",
                            "active_bantar_final", "participation_policy")
    for sw in exp.sweeps:
        spec = SPECS[sw.lever]
        assert len(sw.values) >= 5, sw.name
        assert min(sw.values) == spec.low and max(sw.values) == spec.high, (sw.name, sw.values)
    assert {s.lever for s in exp.sweeps} >= {"monitoring", "reward_fund", "kencana_per_year", "informal_engagement"}
    assert "reward_fund=10" in exp.arm_names
    assert np.isclose(SPECS["reward_fund"].default, 10.0)


def test_a_real_sweep_output_publishes_its_dose_response_tables(swept, tmp_path):
    from bantar_sim.model.version import MODEL_VERSION
    from bantar_sim.studies.experiment.publish import publish_results, read_block

    readme = tmp_path / "README.md"
    readme.write_text("# x\n")
    result = publish_results(swept["out"].parent, tmp_path / "results", readme)
    assert list(result.published) == ["sweepy"]
    meta = json.loads((tmp_path / "results" / "sweepy" / "experiment.json").read_text())
    assert meta["model_version"] == MODEL_VERSION and meta["runs_ok"] == 18 and meta["runs_not_ok"] == 0
    block = read_block(readme.read_text())
    assert "Dose-response `kencana_per_year` (lever `kencana_per_year`, with `kencana = true`)" in block
    assert "| 10 (= baseline) | 0 [0, 0] | 0 [0, 0] |" in block
    assert "| `kencana` |" in block and "monitoring_with_complaints=1" not in block
