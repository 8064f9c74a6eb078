"""The verified batch store: a part file that is missing, truncated or corrupt is named in a warning, its
runs stop counting as done, and the rerun recomputes exactly those runs (issue 13, item 3)."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _batch_helpers, whatever pytest's import mode

from _batch_helpers import expected_table, toy_run, toy_tasks  # noqa: E402

from bantar_sim.engine.batch import (  # noqa: E402
    RunTask,
    load_manifest,
    load_table,
    run_batch,
    verify_store,
)
from bantar_sim.engine.executors import SerialExecutor  # noqa: E402

MV = "test-store-1"


def model_like_run(task: RunTask) -> dict[str, pd.DataFrame]:
    """A toy run with the batch's usual table names (city_year and metrics)."""
    t = toy_run(task)
    return {"city_year": t["draws"], "metrics": t["summary"]}


def run(tasks, out, fn=model_like_run):
    return run_batch(tasks, fn, out, SerialExecutor(), progress=False, model_version=MV)


def stored_in_parts(out: Path, tasks, per_part: int) -> None:
    """Store ``tasks`` as parts of ``per_part`` runs each (one batch per group)."""
    for i in range(0, len(tasks), per_part):
        run(tasks[i:i + per_part], out)


def truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def delete(p: Path) -> None:
    p.unlink()


def bitflip(p: Path) -> None:
    b = bytearray(p.read_bytes())
    b[len(b) // 2] ^= 0x10  # same size: only the checksum can tell
    p.write_bytes(bytes(b))


def runs_of_file(out: Path, f: Path) -> set[str]:
    part = f.name.split(".")[0]
    return {r["run_id"] for line in (out / "manifest").glob("*.jsonl")
            for r in map(json.loads, line.read_text().splitlines())
            if r.get("part") == part and r.get("status") == "ok"}


@pytest.mark.parametrize("table", ["city_year", "metrics"])
@pytest.mark.parametrize("damage", [truncate, delete, bitflip], ids=["truncated", "deleted", "bitflipped"])
def test_bad_part_is_named_dropped_and_recomputed(tmp_path, table, damage):
    out = tmp_path / "out"
    tasks = toy_tasks(9, n_rows=3)
    stored_in_parts(out, tasks, 3)  # three parts of three runs
    victim = sorted((out / table).glob("*.parquet"))[1]
    lost = runs_of_file(out, victim)
    assert len(lost) == 3
    damage(victim)

    # (a) readers warn naming the file and (d) never raise: the lost runs are simply not there
    with pytest.warns(RuntimeWarning, match=str(victim.name)) as rec:
        check = verify_store(out)
    assert any(str(victim) in str(w.message) for w in rec)
    assert not check.ok and check.lost_runs == lost and [b.path for b in check.bad_files] == [victim]
    with pytest.warns(RuntimeWarning, match=victim.name):
        m = load_manifest(out)
    assert set(m.run_id) == {t.run_id(MV) for t in tasks} - lost  # the report's count: 6 runs, not 9
    for t in ("city_year", "metrics"):  # both tables agree on the runs used, whichever table was hit
        with pytest.warns(RuntimeWarning, match=victim.name):
            assert set(load_table(out, t).run_id) == set(m.run_id)

    # (b) the rerun recomputes exactly the lost runs
    calls = []

    def counting(task):
        calls.append(task.run_id(MV))
        return model_like_run(task)

    with pytest.warns(RuntimeWarning, match=victim.name):
        s = run(tasks, out, counting)
    assert (s.n_done, s.n_skipped, s.n_failed, s.n_lost) == (3, 6, 0, 3)
    assert set(calls) == lost

    # (c) every run is back, identical to an undamaged store, and reading is silent again
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert verify_store(out).ok
        got = load_table(out, "city_year")
        assert len(load_manifest(out)) == 9
    exp = expected_table(tasks, "draws", MV)
    pd.testing.assert_frame_equal(got, exp)
    assert not victim.exists()  # the writer deleted the dropped part's files
    drops = [json.loads(x) for f in (out / "manifest").glob("*.jsonl") for x in f.read_text().splitlines()
             if '"kind": "drop"' in x]
    assert len(drops) == 1 and victim.name in drops[0]["reason"]


def test_manifest_records_size_and_sha256_of_every_part_file(tmp_path):
    import hashlib

    out = tmp_path / "out"
    run(toy_tasks(4), out)
    parts = [json.loads(x) for f in (out / "manifest").glob("*.jsonl") for x in f.read_text().splitlines()
             if '"kind": "part"' in x]
    assert len(parts) == 1
    files = parts[0]["files"]
    assert set(files) == {p.relative_to(out).as_posix() for p in out.glob("*/*.parquet")}
    for rel, meta in files.items():
        data = (out / rel).read_bytes()
        assert meta["size"] == len(data) and meta["sha256"] == hashlib.sha256(data).hexdigest() and meta["runs"] == 4


def test_load_table_pushes_columns_and_filters_down(tmp_path):
    out = tmp_path / "out"
    tasks = toy_tasks(6, n_rows=4)
    stored_in_parts(out, tasks, 2)
    exp = expected_table(tasks, "draws", MV)
    got = load_table(out, "city_year", columns=["arm", "value"], filters=ds.field("arm") == "a")
    pd.testing.assert_frame_equal(got, exp.loc[exp.arm == "a", ["arm", "value"]].reset_index(drop=True))
    got = load_table(out, "city_year", filters=[("replicate", ">=", 4)])
    pd.testing.assert_frame_equal(got, exp[exp.replicate >= 4].reset_index(drop=True))
    with pytest.raises(ValueError, match="filters must be"):
        load_table(out, "city_year", filters="arm == a")


def test_run_id_depends_on_the_kept_tables_not_on_params(tmp_path):
    a = RunTask(params={"x": 1}, seed=1)
    b = RunTask(params={"x": 1}, seed=1, tables=("metrics",))
    assert a.params == b.params == {"x": 1} and a.run_id(MV) != b.run_id(MV)
    run([a, b], tmp_path / "out")
    m = load_manifest(tmp_path / "out")
    assert all(json.loads(p) == {"x": 1} for p in m.params)  # no "_tables" smuggled into the parameters
