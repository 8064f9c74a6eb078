"""Experiments under uncertainty (issue 16): [uncertain] scenarios, paired arms, robust statistics, PRIM.

End-to-end runs use a tiny city (scale 0.03, 8 households per RT, horizon 2024, levers from 2019) and a
handful of scenarios, so the file stays well under a minute on 2 cores.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bantar_sim import cli
from bantar_sim.engine.executors import make_executor
from bantar_sim.engine.storage import load_manifest
from bantar_sim.model.params import SPECS
from bantar_sim.studies.experiment import ExperimentConfig, run_experiment
from bantar_sim.studies.experiment import robust as rb
from bantar_sim.studies.experiment.prim import discover
from bantar_sim.studies.experiment.robust_curves import binned, crossing, half_life
from bantar_sim.studies.experiment.spec import build_tasks, load_experiment
from bantar_sim.studies.experiment.uncertain import LEVER_RANGES

TINY = """
[experiment]
name = "tiny_uncertain"
horizon = 2024
replications = 3
base_seed = 11
scale = 0.03
households_per_rt = 8.0
parameters = "defaults"
headline = ["participating_household_years_policy", "practising_rt_years_policy", "funds_spent_policy"]

[base]
policy_start_year = 2019

[[arm]]
name = "kencana"
kencana = true

[[arm]]
name = "leaders"
informal_engagement = 0.6

[[arm]]
name = "kencana_withdrawn"
kencana = true
policy_end_year = 2022

[uncertain]
scenarios = {scenarios}
seed_repeats = {repeats}
{extra}
"""


def write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def tiny(tmp_path, scenarios=6, repeats=1, extra="", arms=""):
    return write(tmp_path, TINY.format(scenarios=scenarios, repeats=repeats, extra=extra) + arms)


# ----------------------------------------------------------------------------------------------- design
def test_lever_ranges_lie_inside_the_allowed_ranges_and_say_why():
    for col, r in LEVER_RANGES.items():
        spec = SPECS[r.name]
        assert r.reason and r.high > r.low, col
        if r.mode == "value":
            assert spec.low <= r.low and r.high <= spec.high, col
        assert SPECS[r.lever] is not None


def test_every_arm_shares_each_scenario_and_its_seeds(tmp_path):
    exp = load_experiment(tiny(tmp_path, scenarios=5, repeats=2))
    unc = exp.uncertain
    assert exp.replications == 10 and len(exp.seeds) == 10 and len(set(exp.seeds)) == 10
    tasks = build_tasks(exp)
    by_rep: dict[int, list] = {}
    for t in tasks:
        by_rep.setdefault(t.tags["replicate"], []).append(t)
    for k, ts in by_rep.items():
        assert len(ts) == len(exp.arms)
        assert len({t.seed for t in ts}) == 1, "one seed per replicate in every arm (common random numbers)"
        assert {t.tags["scenario"] for t in ts} == {k // 2}
        assert len({t.tags.get("draw") for t in ts}) == 1, "one posterior draw per scenario in every arm"
        prestige = {t.params["kencana_prestige"] for t in ts}
        assert prestige == {float(unc.points[k // 2, [r.name for r in unc.ranges].index("kencana_prestige")])}
    # scale mode: the leaders arm's own setting is multiplied; arms that do not set it stay at 0
    j = [r.column for r in unc.ranges].index("informal_engagement_scale")
    for t in tasks:
        expected = min(0.6 * unc.points[t.tags["scenario"], j], 1.0) if t.tags["arm"] == "leaders" else 0.0
        assert t.params["informal_engagement"] == pytest.approx(expected)
    # a scenario keeps its seeds when more scenarios are added
    more = load_experiment(tiny(tmp_path, scenarios=8, repeats=2))
    assert more.seeds[:10] == exp.seeds


def test_point_runs_the_file_as_one_parameter_set(tmp_path):
    exp = load_experiment(tiny(tmp_path), point=True)
    assert exp.uncertain is None and exp.replications == 3 and not exp.posterior_draws


BAD = {
    "range outside allowed": ("[uncertain.ranges.kencana_prestige]\nlow = 0.0\nhigh = 9.0\nreason = \"x\"",
                              ["[uncertain.ranges.kencana_prestige]", "outside", "[0.0, 3.0]"]),
    "arm sets input": ("[uncertain.ranges.informal_engagement]\nlow = 0.1\nhigh = 0.9\nreason = \"x\"",
                       ["[uncertain.ranges.informal_engagement]", "also set by [[arm]] 'leaders'", "scale"]),
    "unknown distribution": ("[uncertain.ranges.kencana_prestige]\nlow = 0.1\nhigh = 1.0\nreason = \"x\"\n"
                             "distribution = \"gamma\"", ["unknown distribution 'gamma'", "uniform, loguniform"]),
    "unknown metric": ("metric = \"happiness\"", ["[uncertain]", "unknown metric 'happiness'",
                                                   "participating_household_years_policy"]),
    "unknown sampling": ("sampling = \"grid\"", ["[uncertain]", "unknown sampling 'grid'", "lhs, sobol"]),
    "missing reason": ("[uncertain.ranges.kencana_prestige]\nlow = 0.1\nhigh = 1.0",
                       ["[uncertain.ranges.kencana_prestige]", "missing 'reason'"]),
    "unknown key": ("scenario = 4", ["[uncertain]", "unknown key 'scenario'", "scenarios"]),
    "posterior input": ("[uncertain.ranges.base_utility]\nlow = -4.0\nhigh = -3.0\nreason = \"x\"",
                        ["[uncertain.ranges.base_utility]", "drawn from the calibration posterior"]),
    "bad scenarios": ("", ["[uncertain]", "'scenarios' must be an integer in [1, 100000]"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_uncertain_input_is_refused_before_any_run(tmp_path, capsys, case):
    extra, expected = BAD[case]
    path = tiny(tmp_path, scenarios=0 if case == "bad scenarios" else 4, extra=extra)
    out = tmp_path / "out"
    rc = cli.main(["experiment", str(path), "--out", str(out), "--executor", "serial", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("bantar-sim experiment: error: ") and err.count("\n") == 1, err
    assert str(path) in err
    for piece in expected:
        assert piece in err, f"{piece!r} not in {err!r}"
    assert "Traceback" not in err and not out.exists()


# ---------------------------------------------------------------------------------- robust statistics
def test_robust_statistics_on_a_hand_made_table():
    # 4 scenarios; more is better. A beats B in scenarios 0, 1, 2; ties in 3.
    values = pd.DataFrame({"baseline": [10.0, 10.0, 10.0, 10.0], "A": [15.0, 14.0, 9.0, 12.0],
                           "B": [11.0, 13.0, 8.0, 12.0]}, index=pd.Index(range(4), name="scenario"))
    m = rb.beats_matrix(values, "participating_household_years_policy")
    assert m.loc["A", "B"] == pytest.approx(3.5 / 4) and m.loc["B", "A"] == pytest.approx(0.5 / 4)
    assert m.loc["A", "baseline"] == pytest.approx(3 / 4)
    reg = rb.regret_table(values, "participating_household_years_policy").set_index("arm")
    # best per scenario: 15, 14, 10, 12 -> regrets A 0,0,1,0; B 4,1,2,0; baseline 5,4,0,2
    assert reg.loc["A", "max_regret"] == 1 and reg.loc["B", "max_regret"] == 4
    assert reg.loc["baseline", "max_regret"] == 5
    assert list(reg.sort_values("rank").index) == ["A", "B", "baseline"]
    assert reg.loc["A", "p_best"] == pytest.approx(0.75)
    # for a cost, less is better: the ranking turns round
    tied = rb.regret_table(values.assign(C=values["baseline"]), "participating_household_years_policy")
    tied = tied.set_index("arm")["rank"]
    assert tied["C"] == tied["baseline"] == 3, "an arm identical to the baseline shares its rank"
    reg_cost = rb.regret_table(values, "funds_spent_policy").sort_values("rank")
    assert reg_cost["arm"].iloc[0] == "baseline"
    eff = pd.DataFrame({"arm": "A", "metric": "participating_household_years_policy", "scenario": range(4),
                        "effect": values["A"] - values["baseline"]})
    d = rb.effect_distribution(eff).iloc[0]
    assert d["p_positive"] == 0.75 and d["median"] == pytest.approx(3.0) and not d["robust"]


def test_a_zero_effect_is_no_effect_and_a_sure_negative_is_robust():
    """An arm that ran the baseline's runs (effect exactly 0 everywhere) is 'no effect', not a robust negative;
    an effect below zero in every scenario is robust (P(effect < 0) = 1)."""
    m = "participating_household_years_policy"
    eff = pd.DataFrame({"arm": ["zero"] * 5 + ["neg"] * 5 + ["mixed"] * 5, "metric": m, "scenario": list(range(5)) * 3,
                        "effect": [0.0] * 5 + [-1.0, -2, -3, -1, -0.5] + [1.0, -1, 2, -2, 0]})
    d = rb.effect_distribution(eff).set_index("arm")
    assert bool(d.loc["zero", "no_effect"]) and not d.loc["zero", "robust"]
    assert d.loc["neg", "robust"] and not d.loc["neg", "no_effect"] and d.loc["neg", "p_negative"] == 1.0
    assert not d.loc["mixed", "robust"] and not d.loc["mixed", "no_effect"]
    sure, unsure = rb.robust_findings(d.reset_index(), [m])
    assert any("**zero**" in t and "no effect" in t for t in sure)
    assert any("**neg**" in t for t in sure) and any("**mixed**" in t for t in unsure)


def test_variance_shares_find_the_input_that_drives_the_effect():
    rng = np.random.default_rng(1)
    n, k = 80, 3
    inputs = pd.DataFrame({"scenario": range(n), "base_utility": rng.normal(size=n), "kencana_prestige": rng.random(n)})
    rows = []
    for s in range(n):
        for r in range(k):
            rows.append({"arm": "A", "metric": "m", "scenario": s, "seed_repeat": r,
                         "effect": 10 * inputs.loc[s, "kencana_prestige"] + rng.normal(scale=0.3)})
    sh = rb.variance_shares(pd.DataFrame(rows), inputs, ["base_utility"], ["kencana_prestige"], k).iloc[0]
    assert sh["strengths_share"] > 0.8 and sh["posterior_share"] < 0.05 and 0 < sh["seed_share"] < 0.1


def test_half_life_of_a_known_exponential_and_honest_statuses():
    t = np.arange(0, 9)
    fit = half_life(t, 100 * np.exp(-math.log(2) / 3 * t))
    assert fit["status"] == "decays" and fit["half_life"] == pytest.approx(3.0, rel=1e-3)
    assert half_life(t, np.full(t.size, 50.0))["status"] == "no decay"
    slow = half_life(np.arange(0, 5), 100 * np.exp(-math.log(2) / 20 * np.arange(0, 5)))
    assert slow["status"] == "not reached" and slow["half_life"] == pytest.approx(20, rel=1e-2)
    assert half_life(t, -np.ones(t.size))["status"] == "no effect at withdrawal"


def test_binned_curve_and_break_even_crossing():
    x = np.linspace(0, 1, 101)
    b = binned(x, 10 * x - 4, 5)
    assert len(b) == 5 and (np.diff(b["median"]) > 0).all()
    at, status = crossing(b["x_mid"].to_numpy(), b["median"].to_numpy())
    assert status == "crosses" and at == pytest.approx(0.4, abs=0.05)
    assert crossing(np.array([0.0, 1.0]), np.array([1.0, 2.0]))[1] == "worth it over the whole range"


def test_prim_finds_a_planted_box():
    rng = np.random.default_rng(7)
    n = 600
    x = pd.DataFrame({"a": rng.random(n), "b": rng.random(n), "c": rng.random(n)})
    fails = ((x["a"] < 0.3) & (x["b"] > 0.6)).to_numpy()
    res = discover(x, fails, arm="toy")
    assert res.status == "boxes"
    box = res.boxes.iloc[0]
    assert box["coverage"] >= 0.8 and box["density"] >= 0.8
    lim = res.limits[res.limits["box"] == 1].set_index("input")
    assert set(lim.index) == {"a", "b"}, "c is noise and must not bound the box"
    assert lim.loc["a", "max"] == pytest.approx(0.3, abs=0.05) and lim.loc["b", "min"] == pytest.approx(0.6, abs=0.05)
    assert discover(x, np.zeros(n, bool)).status == "never fails"


# ---------------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("unc")
    path = tiny(tmp, scenarios=6, repeats=1, extra="price = 0.05")
    out = tmp / "out"
    result = run_experiment(ExperimentConfig(path, out=out), progress=False)
    return path, out, result


EXPECTED_FILES = ("scenarios.csv", "seeds.csv", "scenario_effects.csv", "robust_effects.csv", "beats.csv",
                  "regret.csv", "variance_shares.csv", "dose_strength.csv", "break_even.csv",
                  "cost_effectiveness.csv", "persistence.csv", "half_life.csv", "prim_boxes.csv", "prim_limits.csv",
                  "prim_trajectory.csv", "effect_distributions.png", "beats.png", "prim.png", "dose_strength.png",
                  "persistence.png", "report.md", "datapackage.json", "experiment.json")


def test_end_to_end_writes_every_table_and_figure(tiny_runs):
    _, out, result = tiny_runs
    assert result.n_failed == 0
    for f in EXPECTED_FILES:
        assert (out / f).is_file(), f
    report = (out / "report.md").read_text()
    first = report.split("\n## ")[1]
    assert first.startswith("Answers over the uncertain inputs"), "the robust answers lead the report"
    assert "### Robust conclusions" in report and "Persistence after withdrawal" in report
    scen = pd.read_csv(out / "scenarios.csv")
    assert len(scen) == 6 and {"kencana_prestige", "informal_engagement_scale", "posterior_row"} <= set(scen.columns)
    dist = pd.read_csv(out / "robust_effects.csv")
    assert set(dist["arm"]) == {"kencana", "leaders", "kencana_withdrawn"}
    assert dist["p_positive"].between(0, 1).all()
    pers = pd.read_csv(out / "persistence.csv")
    assert set(pers["arm"]) == {"kencana_withdrawn"} and pers["years_after"].min() == 0
    import json
    pkg = json.loads((out / "datapackage.json").read_text())
    names = {r["path"] for r in pkg["resources"]}
    assert {"scenarios.csv", "prim_boxes.csv", "beats.csv"} <= names
    undefined = [f"{r['path']}:{fl['name']}" for r in pkg["resources"] for fl in r["schema"]["fields"]
                 if "undefined" in fl["description"].lower()]
    assert not undefined, undefined


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["process", "dask"])
def test_arms_share_scenarios_and_seeds_under_every_executor(tiny_runs, tmp_path, kind):
    """The serial runs (fixture), a process pool and a local Dask cluster give identical per-run tables: every
    arm of a scenario ran with the same seed and posterior draw whatever executed it (issue 16, done-when)."""
    path, out, serial = tiny_runs
    out2 = tmp_path / kind
    with make_executor(kind, 2, None) as ex:
        other = run_experiment(ExperimentConfig(path, out=out2), ex, progress=False)
    a = serial.per_run.sort_values(["arm", "replicate"]).reset_index(drop=True)
    b = other.per_run.sort_values(["arm", "replicate"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    man = load_manifest(out2 / "runs")
    assert len(man) == 4 * 6 and (man["status"] == "ok").all()
    assert (man["pid"] != os.getpid()).all(), f"the {kind} executor ran the runs in other processes"
    runs = pd.read_csv(out2 / "runs.csv", dtype={"seed": str})
    assert (runs.groupby("replicate")["seed"].nunique() == 1).all(), f"one seed per scenario in every arm ({kind})"
    assert (runs.groupby("replicate")["arm"].nunique() == 4).all()
    assert pd.read_csv(out2 / "robust_effects.csv").equals(pd.read_csv(out / "robust_effects.csv"))


def test_published_block_leads_with_the_distribution_over_scenarios(tiny_runs, tmp_path):
    from bantar_sim.studies.experiment.publish import ROBUST_FILES, copy_results, render_results_block

    _, out, _ = tiny_runs
    name = copy_results(out, tmp_path)
    for f in ROBUST_FILES:
        assert (tmp_path / name / f).is_file(), f
    block = render_results_block(tmp_path)
    section = block.split(f"### `{name}`")[1]
    assert section.index("Over **6 scenarios**") < section.index("Means over the scenarios with 95% t intervals")
    assert "P(effect > 0)" in section and "(PRIM)" in section


def test_every_shipped_policy_file_runs_over_scenarios_by_default():
    """Uncertainty in every experiment by default (issue 16, item 1): each shipped policy file declares its
    uncertain inputs, with the posterior on (the sensitivity files are not experiments)."""
    import tomllib

    root = Path(__file__).resolve().parents[1] / "experiments"
    files = sorted(p for p in root.glob("*.toml") if "sensitivity" not in p.name)
    assert len(files) >= 13
    for path in files:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        assert "uncertain" in data, f"{path.name} has no [uncertain] table"
        assert data["uncertain"].get("posterior", True) is True, path.name
        exp = load_experiment(path)
        assert exp.uncertain is not None and exp.uncertain.scenarios >= 10, path.name


def test_programme_cost_prices_monitoring_by_label_holding_rt_years(tmp_path):
    """Cost-effectiveness counts monitoring (issue 16, item 6): cost = funds + monitoring_cost × the arm's
    monitoring strength × label-holding RT-years while the levers act; arms without monitoring pay funds only;
    a cost of 0 gives the funds; a negative cost is refused before any run."""
    from bantar_sim.studies.experiment.robust_report import programme_cost

    arms = """
[[arm]]
name = "watch"
monitoring = 0.5
policy_end_year = 2023
"""
    exp = load_experiment(tiny(tmp_path, scenarios=2, extra="monitoring_cost = 2.0", arms=arms))
    assert exp.uncertain.monitoring_cost == 2.0
    per_run = pd.DataFrame({"arm": ["baseline", "kencana", "watch", "watch"], "replicate": [0, 0, 0, 1],
                            "funds_spent_policy": [10.0, 20.0, 30.0, 40.0]})
    years = range(2014, 2025)
    city = pd.DataFrame([{"arm": a, "replicate": r, "year": y, "bantar_label": 10 * (r + 1)}
                         for a in ("baseline", "kencana", "watch") for r in (0, 1) for y in years])
    cost = programme_cost(exp, per_run, city, exp.uncertain.monitoring_cost)
    # levers act 2019-2022 (policy_start_year 2019, withdrawn 2023): 4 years × 10 (or 20) label-holders
    assert cost.tolist() == [10.0, 20.0, 30.0 + 2.0 * 0.5 * 40, 40.0 + 2.0 * 0.5 * 80]
    assert programme_cost(exp, per_run, city, 0.0).tolist() == per_run["funds_spent_policy"].tolist()
    bad = tiny(tmp_path, scenarios=2, extra="monitoring_cost = -1")
    with pytest.raises(Exception, match="monitoring_cost"):
        load_experiment(bad)
