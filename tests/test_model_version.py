"""The model version follows the model (issue 12, item 6): it hashes the model room's sources and data,
so an edited model gets a new version, and a batch never reuses runs stored by another model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bantar_sim.model.version import MODEL_LINEAGE, MODEL_VERSION, __version__, model_source_digest

PKG = Path(__file__).resolve().parents[1] / "bantar_sim"

BATCH = """
import json, sys
import bantar_sim
from bantar_sim.engine.batch import RunTask, run_batch
from bantar_sim.engine.executors import SerialExecutor
from bantar_sim.engine.task import run_task
from bantar_sim.model.version import MODEL_VERSION
tasks = [RunTask(params={"scale": 0.05, "households_per_rt": 10, "end_year": 2015}, seed=s, tables=("metrics",))
         for s in (1, 2)]
s = run_batch(tasks, run_task, sys.argv[1], SerialExecutor(), progress=False)
print(json.dumps({"file": bantar_sim.__file__, "version": MODEL_VERSION, "done": s.n_done,
                  "skipped": s.n_skipped, "failed": s.n_failed}))
"""


def copy_package(dest: Path) -> Path:
    shutil.copytree(PKG, dest / "bantar_sim", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def in_copy(root: Path, code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root)}  # the copy comes before the editable install
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300,
                       cwd=root)
    assert r.returncode == 0, r.stderr[-3000:]
    d = json.loads(r.stdout.strip().splitlines()[-1])
    assert Path(d["file"]).resolve().is_relative_to(root.resolve()), d["file"]  # really the copy
    return d


def version_of(root: Path) -> str:
    code = ("import json, bantar_sim; from bantar_sim.model.version import MODEL_VERSION as v; "
            "print(json.dumps({'file': bantar_sim.__file__, 'version': v}))")
    return in_copy(root, code)["version"]


def test_version_is_lineage_plus_source_hash():
    assert __version__ == "0.1.0"
    assert MODEL_VERSION == f"{MODEL_LINEAGE}+{model_source_digest()[:10]}"
    assert len(MODEL_VERSION.split("+")[1]) == 10


def test_editing_a_model_file_changes_the_version(tmp_path):
    orig = copy_package(tmp_path / "orig")
    assert version_of(orig) == MODEL_VERSION
    # Raw bytes are hashed, so even a comment changes the version (safe: it can only cost a recompute).
    edited = copy_package(tmp_path / "edited")
    with open(edited / "bantar_sim" / "model" / "model.py", "a") as f:
        f.write("\n# an edit\n")
    v = version_of(edited)
    assert v != MODEL_VERSION and v.startswith(MODEL_LINEAGE + "+")
    data = copy_package(tmp_path / "data")
    csv = sorted((data / "bantar_sim" / "model" / "data").glob("*.csv"))[0]
    csv.write_bytes(csv.read_bytes() + b"\n")
    assert version_of(data) not in (MODEL_VERSION, v)
    other = copy_package(tmp_path / "other")  # a file outside the model room does not change it
    with open(other / "bantar_sim" / "engine" / "batch.py", "a") as f:
        f.write("\n# not the model\n")
    assert version_of(other) == MODEL_VERSION


@pytest.mark.timeout(300)
def test_batch_recomputes_after_a_model_edit_and_resumes_otherwise(tmp_path):
    out = str(tmp_path / "runs")
    orig = copy_package(tmp_path / "orig")
    edited = copy_package(tmp_path / "edited")
    with open(edited / "bantar_sim" / "model" / "model.py", "a") as f:
        f.write("\n# an edit\n")
    first = in_copy(orig, BATCH, out)
    assert (first["done"], first["skipped"], first["failed"]) == (2, 0, 0)
    again = in_copy(orig, BATCH, out)  # the same model resumes: nothing executed
    assert (again["done"], again["skipped"]) == (0, 2)
    changed = in_copy(edited, BATCH, out)  # the edited model never reuses the stored runs
    assert changed["version"] != first["version"]
    assert (changed["done"], changed["skipped"], changed["failed"]) == (2, 0, 0)
    assert (in_copy(orig, BATCH, out)["done"]) == 0  # the original runs are still there for the original
