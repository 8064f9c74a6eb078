"""The replicated simulation (`bantar-sim run`): tables, figure, summary, seeds, data dictionary; inputs
checked before any work; the output folder written atomically under a lock."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from bantar_sim.cli import main
from bantar_sim.engine.executors import make_executor
from bantar_sim.engine.outputs import folder_lock
from bantar_sim.model.metrics import METRICS
from bantar_sim.studies.datadict import UNDEFINED
from bantar_sim.studies.simulation import SimulationConfig, run_simulation

SMALL = {"scale": 0.05, "settings": {"households_per_rt": 20}}
SMALL_ARGS = ["--scale", "0.05", "--set", "households_per_rt=20", "--no-progress"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """One run through the workflow function (3 replications, seed 5), shared by the tests below."""
    out = tmp_path_factory.mktemp("run") / "run"
    return run_simulation(SimulationConfig(seed=5, replications=3, out=out, **SMALL), progress=False)


def test_run_writes_tables_figure_and_summary(small_run):
    out = small_run.out
    for name in ("city_year.csv", "subdistrict_year.csv", "rt_year_replicate0.csv", "metrics.csv",
                 "table3_comparison.csv", "summary.txt", "run.json", "datapackage.json"):
        assert (out / name).stat().st_size > 0, name
    png = (out / "winners_vs_published.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    city = pd.read_csv(out / "city_year.csv", dtype={"seed": str})
    assert sorted(city["replicate"].unique()) == [0, 1, 2] and city["year"].max() == 2020
    pd.testing.assert_frame_equal(city, small_run.city_year, check_dtype=False)
    meta = json.loads((out / "run.json").read_text())
    assert meta["base_seed"] == 5 and len(meta["replication_seeds"]) == 3
    assert meta["replication_seeds"] == [str(s) for s in small_run.seeds]
    assert city["seed"].astype(str).isin(meta["replication_seeds"]).all()
    comp = pd.read_csv(out / "table3_comparison.csv", index_col=0)
    assert comp.loc["Jambi Timur", "amount_published"] == 75   # the consistent version, not the printed 34
    assert "won_2019_simulated_mean" in comp                   # the simulated columns say they hold means
    assert small_run.summary == (out / "summary.txt").read_text()


def test_summary_and_records_name_the_parameter_set(small_run):
    meta = json.loads((small_run.out / "run.json").read_text())
    pset = meta["parameter_set"]
    assert pset["name"] == "calibrated" and pset["path"].endswith("calibrated.toml")
    assert pset["sha256"] == hashlib.sha256(Path(pset["path"]).read_bytes()).hexdigest()
    assert small_run.parameter_set.describe() in small_run.summary
    pkg = json.loads((small_run.out / "datapackage.json").read_text())
    assert pkg["bantar_sim"]["parameter_set"]["sha256"] == pset["sha256"]


def test_scaled_run_compares_with_scaled_published_figures(small_run):
    """At scale 0.05 the summary scales the published counts and says by how much (not 614 vs ~30)."""
    text = small_run.summary
    share = small_run.meta["rt_share"]
    assert 0.04 < share < 0.06
    assert f"scaled by {round(share * 1627)} / 1,627 = {share:.3g}" in text
    assert f"2014–2020 total: published 614 × {share:.3g} = {614 * share:.1f}" in text
    for line in ("median over the 3 replications", "mean over the replications", "share of households taking part",
                 "share still holding the label and practising"):
        assert line in text, line


def test_datapackage_describes_every_column(small_run):
    pkg = json.loads((small_run.out / "datapackage.json").read_text())
    assert {r["path"] for r in pkg["resources"]} == {p.name for p in small_run.out.glob("*.csv")}
    for r in pkg["resources"]:
        header = pd.read_csv(small_run.out / r["path"], nrows=0).columns.tolist()
        assert [f["name"] for f in r["schema"]["fields"]] == header, r["path"]
        for f in r["schema"]["fields"]:
            assert f["description"] and UNDEFINED not in f["description"], (r["path"], f["name"])
    t3 = {f["name"]: f for r in pkg["resources"] if r["name"] == "table3_comparison" for f in r["schema"]["fields"]}
    assert "MEAN" in t3["amount_simulated_mean"]["description"]
    metrics = {f["name"]: f for r in pkg["resources"] if r["name"] == "metrics" for f in r["schema"]["fields"]}
    assert metrics["sustained_3y"]["unit"] == METRICS["sustained_3y"].unit


def test_run_is_reproducible_from_its_seed_on_any_executor(tmp_path, small_run):
    with make_executor("process", 2) as executor:
        other = run_simulation(SimulationConfig(seed=5, replications=3, out=tmp_path / "p", **SMALL), executor,
                               progress=False)
    for name in ("city_year.csv", "subdistrict_year.csv", "metrics.csv", "rt_year_replicate0.csv",
                 "table3_comparison.csv"):
        assert (tmp_path / "p" / name).read_bytes() == (small_run.out / name).read_bytes(), name
    assert other.seeds == small_run.seeds


def test_the_cli_prints_the_summary(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["run", *SMALL_ARGS, "--replications", "1", "--end-year", "2014", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "parameter set: calibrated" in printed and f"wrote {out}/" in printed


def test_years_outside_the_run_are_left_out(tmp_path):
    r = run_simulation(SimulationConfig(replications=2, end_year=2014, out=tmp_path / "e", **SMALL), progress=False)
    text = r.summary
    assert "2014: published" in text and "2015:" not in text and "total:" not in text
    assert "2015–2020 are after the run's last year, 2014: left out" in text
    assert "nan" not in text and "not observable in a run ending in 2014" in text
    assert "won_2015_published" not in r.table3_comparison and "rt_proposals_published" not in r.table3_comparison
    assert r.table3_comparison["amount_published"].equals(r.table3_comparison["won_2014_published"])


# --- bad input: one line, exit 2, nothing written --------------------------------------------------------
def _bad(tmp_path, capsys, *argv):
    out = tmp_path / "out"
    rc = main(["run", *argv, "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("bantar-sim run: error: ") and err.count("\n") == 1, err
    assert not out.exists() and not list(tmp_path.glob(".out*")), "nothing may be written"
    return err


def test_bad_seed_and_replications(tmp_path, capsys):
    assert "--seed must be an integer in [0, 2**64), got -5" in _bad(tmp_path, capsys, "--seed", "-5")
    assert "2**64" in _bad(tmp_path, capsys, "--seed", str(2**64))
    assert "--replications must be an integer in [1, 10000], got 0" in _bad(tmp_path, capsys, "--replications", "0")


def test_bad_params_files(tmp_path, capsys):
    binary = tmp_path / "p.toml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    assert f"--params {binary}: not a text file" in _bad(tmp_path, capsys, "--params", str(binary))
    folder = tmp_path / "dir"
    folder.mkdir()
    assert f"--params {folder}: is a folder" in _bad(tmp_path, capsys, "--params", str(folder))
    empty = tmp_path / "empty.toml"
    empty.write_text("# nothing\n")
    assert "sets no parameter" in _bad(tmp_path, capsys, "--params", str(empty))
    extra = tmp_path / "extra.toml"
    extra.write_text("[params]\nscale = 0.05\n\n[parms]\nkencana = true\n")
    err = _bad(tmp_path, capsys, "--params", str(extra))
    assert "unknown table [parms]" in err and "did you mean 'params'" in err and "allowed:" in err
    nul = tmp_path / "nul.json"
    nul.write_text('{"scale": 0.05}\x00')
    assert "binary file" in _bad(tmp_path, capsys, "--params", str(nul))
    assert "parameter file not found" in _bad(tmp_path, capsys, "--params", str(tmp_path / "none.toml"))


def test_a_parameter_given_twice_is_an_error_naming_both(tmp_path, capsys):
    err = _bad(tmp_path, capsys, "--scale", "0.1", "--set", "scale=0.5")
    assert "'scale' is given twice: --scale 0.1 and --set scale=0.5" in err
    err = _bad(tmp_path, capsys, "--set", "kencana=true", "--set", "kencana=false")
    assert "'kencana' is given twice: --set kencana=true and --set kencana=false" in err
    err = _bad(tmp_path, capsys, "--end-year", "2016", "--set", "end_year=2018")
    assert "--end-year 2016 and --set end_year=2018" in err


def test_calibrated_and_uncalibrated(tmp_path, capsys):
    err = _bad(tmp_path, capsys, "--uncalibrated", "--calibrated", "calibration/calibrated.toml")
    assert "exclude each other" in err
    partial = tmp_path / "cal.toml"
    partial.write_text("[params]\nbase_utility = -4.0\n")
    assert "no [provenance] table" in _bad(tmp_path, capsys, "--calibrated", str(partial))
    r = run_simulation(SimulationConfig(replications=1, end_year=2014, uncalibrated=True, out=tmp_path / "u",
                                        **SMALL), progress=False)
    assert "status-quo defaults" in r.summary and r.meta["parameter_set"]["path"] is None


def test_params_file_is_recorded(tmp_path):
    pf = tmp_path / "p.toml"
    pf.write_text("[params]\nkencana_reward = 30.0\n")
    r = run_simulation(SimulationConfig(replications=1, end_year=2014, params_file=pf, out=tmp_path / "o", **SMALL),
                       progress=False)
    rec = json.loads((tmp_path / "o" / "run.json").read_text())["params_file"]
    assert rec["path"] == str(pf) and rec["sha256"] == hashlib.sha256(pf.read_bytes()).hexdigest()
    assert r.params["kencana_reward"] == 30.0 and f"parameter file: {pf}" in r.summary


def test_output_folder_that_is_a_file_is_bad_input(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = main(["run", *SMALL_ARGS, "--replications", "1", "--out", str(blocker)])
    err = capsys.readouterr().err
    assert rc == 2 and "is an existing file" in err and err.count("\n") == 1
    assert blocker.read_text() == "x"


# --- atomic, locked output folder -----------------------------------------------------------------------------
def test_a_concurrent_writer_is_refused_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "locked"
    with folder_lock(out):
        rc = main(["run", *SMALL_ARGS, "--replications", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1
    assert "being written by another process" in err and f"pid {os.getpid()}" in err
    assert not out.exists()


def test_a_rerun_replaces_the_folder_as_a_whole(tmp_path, small_run):
    out = tmp_path / "again"
    shutil.copytree(small_run.out, out)
    (out / "from_an_old_run.csv").write_text("stale")
    run_simulation(SimulationConfig(replications=1, end_year=2014, out=out, **SMALL), progress=False)
    assert not (out / "from_an_old_run.csv").exists() and pd.read_csv(out / "city_year.csv")["year"].max() == 2014
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs (needs root and a kernel that lets this process mount)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not permitted here: {proc.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_full_disk_leaves_the_previous_results_as_they_were(tiny_disk, capsys):
    out = tiny_disk / "x"
    assert main(["run", *SMALL_ARGS, "--replications", "1", "--end-year", "2015", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    rc = main(["run", "--scale", "0.5", "--set", "households_per_rt=20", "--replications", "1", "--out", str(out),
               "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1, err
    assert "no space left on device" in err and "previous contents" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before, "no mixture of two runs"
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["x"], "no staging folder or lock left behind"
