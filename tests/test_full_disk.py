"""A full disk during `experiment` and `calibrate` (issue 13, item 2): one line, exit 1, earlier results intact.

Each test mounts a small tmpfs (root only; skipped with the reason otherwise), does a first successful run
into a folder on it, fills the disk with a ballast file leaving a few KiB, and runs a bigger job that cannot
fit. It must fail with one line on stderr naming the full disk (no traceback), leave every earlier file
byte-identical and no staging, lock or old folder behind; once the ballast is gone the same command
completes. The CLI runs in a subprocess (`python -m bantar_sim.cli`), so a crash cannot hide behind an
in-process handler. The `run` and `sensitivity` counterparts live in test_run.py and test_sensitivity.py.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bantar_sim.engine.storage import load_manifest

REPO = Path(__file__).resolve().parents[1]

EXPERIMENT = """
[experiment]
name = "small"
description = "full-disk test"
horizon = 2020
replications = {reps}
base_seed = 77
scale = 0.05
households_per_rt = 20.0
parameters = "defaults"

[base]
policy_start_year = 2019

[[arm]]
name = "kencana"
kencana = true
"""

CALIBRATE = ["calibrate", "--method", "abc-smc", "--population-size", "2", "--predictive-runs", "4", "--pattern-reps",
             "1", "--scale", "0.05", "--households-per-rt", "20", "--executor", "serial", "--no-progress"]

# The default executor, a process pool: a batch stopped by an error lets the workers finish the run they
# compute before the pool is shut (bantar_sim.engine.executors.shutdown_pool): a worker terminated while it
# writes its result would leave the pool's manager thread blocked and the interpreter hung at exit.
POOL = ("--executor", "process", "--workers", "2", "--no-progress")
LEFTOVER_MARKS = (".staging-", ".old-", ".lock", ".tmp-", "-journal")


def bantar(*argv, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Run the CLI in a fresh interpreter (cwd: the project, so that it finds calibration/priors.toml)."""
    return subprocess.run([sys.executable, "-m", "bantar_sim.cli", *map(str, argv)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes), except a batch store's flock file ``runs/.lock``.

    That file stays in the store by design (an flock, held only while a writer has it open) and records
    the last writer's pid, so it is no result.
    """
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def fill(disk: Path, leave: int) -> Path:
    """A ballast file that leaves about ``leave`` bytes free on ``disk``."""
    st = os.statvfs(disk)
    ballast = disk / "ballast"
    ballast.write_bytes(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
    return ballast


def assert_one_line_full_disk(done: subprocess.CompletedProcess) -> None:
    err = done.stderr.strip()
    assert done.returncode == 1, (done.returncode, done.stderr[-3000:])
    assert "Traceback" not in done.stderr and len(err.splitlines()) == 1, done.stderr[-3000:]
    assert "no space left on device" in err, err


def assert_no_leftovers(disk: Path) -> None:
    left = [str(p.relative_to(disk)) for p in disk.rglob("*")
            if p.name != ".lock" and any(m in p.name for m in LEFTOVER_MARKS)]
    assert not left, f"staging, lock or temporary files left behind: {left}"


def test_experiment_on_a_full_disk_keeps_the_previous_results(small_tmpfs, tmp_path):
    disk = small_tmpfs("8m")
    out = disk / "exp"
    small, big = tmp_path / "small.toml", tmp_path / "big.toml"
    small.write_text(EXPERIMENT.format(reps=2))
    big.write_text(EXPERIMENT.format(reps=6))
    first = bantar("experiment", small, "--out", out, *POOL)
    assert first.returncode == 0, first.stderr[-3000:]
    before = snapshot(out)
    assert "report.md" in before and any(k.startswith("runs/") for k in before)

    # Room for a few more runs in the batch store, not for all of them nor for the report.
    ballast = fill(disk, 40 * 1024)
    failed = bantar("experiment", big, "--out", out, *POOL)
    assert_one_line_full_disk(failed)
    assert "batch store" in failed.stderr and "rerun the same command to resume" in failed.stderr
    after = snapshot(out)
    assert {k: after.get(k) for k in before} == before, "an earlier file changed"
    # No new report beside the old one; the batch store may hold new, verified runs (a rerun resumes them).
    assert sorted(k for k in after if not k.startswith("runs/")) == sorted(k for k in before
                                                                            if not k.startswith("runs/"))
    assert_no_leftovers(disk)

    ballast.unlink()
    again = bantar("experiment", big, "--out", out, *POOL)
    assert again.returncode == 0, again.stderr[-3000:]
    man = load_manifest(out / "runs")
    assert len(man) == 2 * 6 and (man["status"] == "ok").all()        # baseline and kencana, 6 replications
    assert_no_leftovers(disk)


@pytest.fixture(scope="module")
def first_calibration(tmp_path_factory):
    """One tiny generation (result folder + pyabc history), copied onto each test's small disks."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs (a full disk) needs root and mount(8)")
    tmp = tmp_path_factory.mktemp("cal")
    done = bantar(*CALIBRATE, "--max-populations", "1", "--db", tmp / "abc.db", "--out", tmp / "cal")
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp / "abc.db", tmp / "cal"


def calibration_on_disks(first_calibration, small_tmpfs) -> tuple[Path, Path, list]:
    """The first calibration's history on one small disk and its result folder on another."""
    db_disk, out_disk = small_tmpfs("1m"), small_tmpfs("4m")
    db, out = db_disk / "abc.db", out_disk / "cal"
    shutil.copy2(first_calibration[0], db)
    shutil.copytree(first_calibration[1], out)
    return db, out, ["--db", db, "--out", out]


def test_calibrate_with_a_full_disk_under_its_pyabc_history(first_calibration, small_tmpfs):
    db, out, files = calibration_on_disks(first_calibration, small_tmpfs)
    before, db_before = snapshot(out), db.read_bytes()
    # A second generation resumes the history; its SQLite writes cannot fit (sqlite3 "database or disk is full").
    ballast = fill(db.parent, 8 * 1024)
    failed = bantar(*CALIBRATE, "--max-populations", "2", *files)
    assert_one_line_full_disk(failed)
    assert "pyabc history" in failed.stderr and "rerun the same command" in failed.stderr
    assert snapshot(out) == before, "the result folder changed"
    assert db.read_bytes() == db_before, "the pyabc history changed"
    for disk in (db.parent, out.parent):
        assert_no_leftovers(disk)

    ballast.unlink()
    again = bantar(*CALIBRATE, "--max-populations", "2", *files)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "2 generation(s)" in (out / "summary.txt").read_text()


def test_calibrate_with_a_full_disk_under_its_result_folder(first_calibration, small_tmpfs):
    db, out, files = calibration_on_disks(first_calibration, small_tmpfs)
    before = snapshot(out)
    # The generation is stored; the new result folder (figures, ~0.4 MB) cannot fit.
    ballast = fill(out.parent, 16 * 1024)
    failed = bantar(*CALIBRATE, "--max-populations", "2", *files)
    assert_one_line_full_disk(failed)
    assert snapshot(out) == before, "the result folder changed"
    for disk in (db.parent, out.parent):
        assert_no_leftovers(disk)

    ballast.unlink()
    again = bantar(*CALIBRATE, "--max-populations", "2", *files)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "2 generation(s)" in (out / "summary.txt").read_text()
    assert_no_leftovers(out.parent)
