"""bantar-sim installs as a package (issue 12, item 8): a wheel, a fresh venv, a run from another folder.

The wheel is built from a copy of the package sources (pyproject.toml, README.md, bantar_sim/) so only
what the package declares — modules and package data — can end up in it, and the source tree is left
untouched (no build/ or egg-info). It is installed, not editable, into a new venv without network
(`--no-index --no-deps`); that venv sees the project venv's third-party libraries through a `.pth`
line, so nothing is downloaded. The command then runs from an empty temporary folder: had any module
read its files through the source tree's location, the run would fail or fall back.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
TABLES = ("city_year.csv", "metrics.csv", "table3_comparison.csv")


def _run(cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A venv holding the bantar-sim wheel (non-editable); returns its bin folder."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "bantar_sim", src / "bantar_sim",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))

    wheels = tmp / "wheels"
    try:
        import setuptools  # noqa: F401  (the build backend, installed by the test extra)
        isolation = ["--no-build-isolation"]
    except ImportError:     # pragma: no cover - then pip fetches setuptools from the configured index
        isolation = []
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", wheels, src])
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("bantar_sim-*.whl")
    # Every module and data file of the package is in the wheel (a folder without __init__.py, or a data
    # file type missing from [tool.setuptools.package-data], would be left out silently).
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    wanted = {p.relative_to(src).as_posix() for p in (src / "bantar_sim").rglob("*")
              if p.is_file() and p.suffix in (".py", ".csv", ".md", ".toml", ".json")}
    assert not wanted - in_wheel, f"left out of the wheel: {sorted(wanted - in_wheel)}"

    venv = tmp / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", venv])
    assert made.returncode == 0, made.stderr
    py = venv / "bin" / "python"
    inst = _run([sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", "--no-index", wheel])
    assert inst.returncode == 0, inst.stderr
    # The dependencies: the project venv's site-packages, appended after the new venv's own (a plain path
    # line, so the project's editable-install hook there is not run).
    site = _run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    (Path(site) / "bantar_sim_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


@pytest.fixture
def workdir(tmp_path):
    """An empty folder outside the repository to run the installed command in."""
    work = tmp_path / "work"
    work.mkdir()
    return work


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["MPLBACKEND"] = "Agg"
    return env


def test_wheel_holds_the_package_and_its_data(installed, workdir):
    probe = _run([installed / "python", "-c",
                  "import bantar_sim, bantar_sim.model.data as d, pathlib, importlib.resources as r;"
                  "print(bantar_sim.__file__);"
                  "print(sorted(p.name for p in r.files('bantar_sim.model').joinpath('data').iterdir()))"],
                 cwd=workdir, env=_env())
    assert probe.returncode == 0, probe.stderr
    where, data = probe.stdout.splitlines()
    assert Path(where).resolve().is_relative_to(installed.parent.resolve()), f"imported from {where}, not the venv"
    for name in ("table2_poverty.csv", "table3_published.csv", "table4_hdi.csv", "SOURCES.md"):
        assert name in data
    version = _run([installed / "bantar-sim", "--version"], cwd=workdir, env=_env())
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("bantar-sim ") and "model" in version.stdout


def test_installed_run_with_status_quo_defaults(installed, workdir):
    done = _run([installed / "bantar-sim", "run", "--replications", "1", "--scale", "0.05", "--uncalibrated",
                 "--no-progress", "--out", "out"], cwd=workdir, env=_env())
    assert done.returncode == 0, done.stdout + done.stderr
    for name in TABLES:
        assert (workdir / "out" / name).stat().st_size > 0, name


def test_installed_run_finds_the_calibrated_set_in_the_working_directory(installed, workdir):
    """calibration/calibrated.toml is looked up from the working directory, not from the package's location."""
    calibrated = REPO / "calibration" / "calibrated.toml"
    (workdir / "calibration").mkdir()
    shutil.copy2(calibrated, workdir / "calibration" / "calibrated.toml")
    done = _run([installed / "bantar-sim", "run", "--replications", "1", "--scale", "0.05",
                 "--no-progress", "--out", "out"], cwd=workdir, env=_env())
    assert done.returncode == 0, done.stdout + done.stderr
    for name in TABLES:
        assert (workdir / "out" / name).stat().st_size > 0, name
    used = json.loads((workdir / "out" / "run.json").read_text())["params"]
    wanted = tomllib.loads(calibrated.read_text())["params"]
    assert wanted, "calibration/calibrated.toml holds no [params]"
    for name, value in wanted.items():
        if name == "scale":     # --scale 0.05 is given on the command line and wins
            continue
        assert used[name] == pytest.approx(value), f"{name}: ran with {used[name]}, calibrated set says {value}"
