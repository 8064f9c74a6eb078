"""Numbers quoted in README.md, calibration/README.md and docs/ come from result files, and those files from this model.

Project rule "no stale number": every quoted result is a generated block (bantar_sim.reporting.blocks) that
`bantar-sim docs` writes from committed result files. These tests regenerate each block and compare, and
check that the result files were made by the model version of the code (MODEL_VERSION hashes the model
room's sources): after a model change they FAIL ON PURPOSE until the results are re-run (make calibrate +
promote, make baseline, make benchmark, make sbc, make sensitivity, make experiments) and `make docs` is run.
"""
from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

import pytest

from bantar_sim.model.version import MODEL_VERSION
from bantar_sim.reporting.blocks import BlockError, read_block, replace_block
from bantar_sim.studies.docs import update_docs
from bantar_sim.studies.sensitivity.ranges import sobol_subset, stale_ranges, sync_calibrated_ranges, sync_sobol_subset

REPO = Path(__file__).resolve().parents[1]


def test_every_generated_block_matches_its_result_files():
    res = update_docs(REPO, check=True)
    assert not res.errors, res.errors
    assert not res.stale, f"stale generated blocks (run `make docs`): {res.stale}"


def test_the_check_finds_a_changed_number(tmp_path):
    """A block edited by hand (a number changed) is reported stale and `bantar-sim docs` restores it."""
    for rel in ("calibration", "benchmarks/results", "docs", "experiments/results"):
        src = REPO / rel
        if src.exists():
            import shutil
            shutil.copytree(src, tmp_path / rel, dirs_exist_ok=True)
    for f in ("README.md", "experiments/README.md"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text((REPO / f).read_text(encoding="utf-8"), encoding="utf-8")
    readme = tmp_path / "calibration" / "README.md"
    text = readme.read_text(encoding="utf-8")
    block = read_block(text, "calibration-results")
    edited = block.replace(" simulations", " simulations (edited)", 1)
    assert edited != block
    readme.write_text(replace_block(text, "calibration-results", edited), encoding="utf-8")
    assert "calibration/README.md#calibration-results" in update_docs(tmp_path, check=True).stale
    update_docs(tmp_path)
    assert read_block(readme.read_text(encoding="utf-8"), "calibration-results") == block


def test_blocks_need_exactly_one_pair_of_markers():
    text = "a\n<!-- generated:x start -->\nold\n<!-- generated:x end -->\nb"
    assert read_block(replace_block(text, "x", "new"), "x") == "new"
    for bad in ("no markers", text + text, "<!-- generated:x end -->\n<!-- generated:x start -->"):
        with pytest.raises(BlockError):
            read_block(bad, "x")


def test_shipped_results_come_from_this_model_version():
    """FAILS ON PURPOSE after a model change until the shipped results are re-run (see the module docstring)."""
    cal = tomllib.loads((REPO / "calibration/calibrated.toml").read_text(encoding="utf-8"))["provenance"]
    found = {"calibration/calibrated.toml": cal["model_version"]}
    bench = REPO / "benchmarks/results/bench_model.json"
    found["benchmarks/results/bench_model.json"] = json.loads(bench.read_text(encoding="utf-8"))["model_version"]
    bench = REPO / "benchmarks/results/bench_uncertain.json"
    found["benchmarks/results/bench_uncertain.json"] = json.loads(bench.read_text(encoding="utf-8"))["model_version"]
    for meta in sorted((REPO / "experiments/results/sensitivity").glob("*/sensitivity.json")):
        found[str(meta.relative_to(REPO))] = json.loads(meta.read_text(encoding="utf-8"))["model_version"]
    # The coverage study the README and the ODD label the parameters from (make sbc publishes it).
    sbc = REPO / "calibration/results/sbc/sbc.json"
    found["calibration/results/sbc/sbc.json"] = (json.loads(sbc.read_text(encoding="utf-8"))["model_version"]
                                                 if sbc.exists() else "absent (run make sbc)")
    for opt in ("stability/stability.json", "forecast/forecast.json"):   # once published (make calibration-
        path = REPO / "calibration/results" / opt                         # stability, make forecast-check)
        if path.exists():
            found[f"calibration/results/{opt}"] = json.loads(path.read_text(encoding="utf-8"))["model_version"]
    stale = {k: v for k, v in found.items() if v != MODEL_VERSION}
    assert not stale, f"results made on another model version than the code's {MODEL_VERSION}: {stale}"


def test_published_experiments_ran_on_the_shipped_calibrated_set():
    """FAILS ON PURPOSE after a promotion until `make experiments` is re-run: an experiment published from the
    calibrated set records that file's sha256, so a new calibrated.toml makes its numbers stale."""
    shipped = hashlib.sha256((REPO / "calibration/calibrated.toml").read_bytes()).hexdigest()
    found = {}
    for meta in sorted((REPO / "experiments/results").glob("*/experiment.json")):
        pset = json.loads(meta.read_text(encoding="utf-8")).get("parameter_set") or {}
        if pset.get("name") == "calibrated":
            found[meta.parent.name] = pset.get("sha256")
    assert found, "no published experiment ran on the calibrated set"
    stale = {k: (v or "")[:12] for k, v in found.items() if v != shipped}
    assert not stale, f"experiments made on another calibrated set than {shipped[:12]}: {stale}"


def test_the_sobol_subset_is_the_published_screenings(tmp_path):
    """[sobol] parameters = what the published Morris screening finds (mu* >= 30% of the largest somewhere)."""
    problem = REPO / "experiments/sensitivity.toml"
    morris = REPO / "experiments/results/sensitivity/morris/morris_indices.csv"
    listed = tomllib.loads(problem.read_text(encoding="utf-8"))["sobol"]["parameters"]
    assert set(listed) == set(sobol_subset(morris)), "run `make sensitivity-subset` (or make sensitivity)"
    # the rule on a hand-made screening: b reaches 30% of the largest only on output y
    hand = tmp_path / "m.csv"
    hand.write_text("output,parameter,mu_star\nx,a,10\nx,b,2\nx,c,1\ny,a,10\ny,b,4\ny,c,2.9\n", encoding="utf-8")
    assert sobol_subset(hand) == ["a", "b"]
    copy = tmp_path / "s.toml"
    copy.write_text(problem.read_text(encoding="utf-8"), encoding="utf-8")
    assert sync_sobol_subset(copy, hand) == ["a", "b"]
    sob = tomllib.loads(copy.read_text(encoding="utf-8"))["sobol"]
    assert sob["parameters"] == ["a", "b"] and "(2 x 2 + 2)" in copy.read_text(encoding="utf-8")


def test_sensitivity_ranges_follow_the_posterior(tmp_path):
    problem = REPO / "experiments/sensitivity.toml"
    summary = REPO / "calibration/posterior_summary.csv"
    assert stale_ranges(problem, summary) == [], "run `make sensitivity-ranges`"
    # and the check can fail: a moved bound is found, and the sync puts it back
    copy = tmp_path / "s.toml"
    copy.write_text(problem.read_text(encoding="utf-8"), encoding="utf-8")
    text = copy.read_text(encoding="utf-8")
    start = text.index('name = "base_utility"\n') + len('name = "base_utility"\n')
    end = text.index("\n", start)
    copy.write_text(text[:start] + "min = -9.99" + text[end:], encoding="utf-8")
    assert any(s.startswith("base_utility") for s in stale_ranges(copy, summary))
    assert "base_utility" in sync_calibrated_ranges(copy, summary)
    assert stale_ranges(copy, summary) == []
    # a calibrated parameter the file does not vary (a recalibration added it) is found, and the sync adds it
    text = copy.read_text(encoding="utf-8")
    start = text.index('[[parameters]]\nname = "waning_half_life"\n')
    end = text.index("[[parameters]]", start + 5)
    copy.write_text(text[:start] + text[end:], encoding="utf-8")
    assert "waning_half_life: calibrated but not varied" in stale_ranges(copy, summary)
    assert "waning_half_life" in sync_calibrated_ranges(copy, summary)
    assert stale_ranges(copy, summary) == []
    assert copy.read_text(encoding="utf-8").count('name = "waning_half_life"') == 1


def test_published_sbc_labels_the_calibrated_parameters_at_production_settings():
    """The published coverage study is of the current calibration problem: the priors file's parameters and
    ranges and its production [settings] (a priors change without a model change must also rerun make sbc)."""
    from bantar_sim.studies.calibration.targets import load_priors
    sbc = REPO / "calibration/results/sbc/sbc.json"
    if not sbc.exists():
        pytest.skip("no published coverage study (test_shipped_results_come_from_this_model_version fails: make sbc)")
    meta = json.loads(sbc.read_text(encoding="utf-8"))
    pf = load_priors(REPO / "calibration/priors.toml")
    assert meta["priors_ranges"] == {p.name: [p.low, p.high] for p in pf.priors}, "priors changed: rerun make sbc"
    ran = {k: v for k, v in meta["settings"].items() if k != "end_year"}
    assert ran == dict(pf.settings), "the published study is not at the production settings: rerun make sbc"
    assert meta.get("n_independent_truths", meta["n_truths"]) >= 100, "issue 15 asks >= 100 truths"
