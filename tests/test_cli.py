"""The command-line root: dispatch, exit codes, `--version`, and `bantar-sim params`."""
from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import bantar_sim.cli as cli
from bantar_sim.engine.batch import OutDirLockedError
from bantar_sim.engine.outputs import OutputFolderError, OutputLockedError
from bantar_sim.model.params import SPECS, ParameterError
from bantar_sim.model.version import MODEL_VERSION

BANTAR_SIM = Path(sys.executable).parent / "bantar-sim"


def test_version_names_the_model_version(capsys):
    assert cli.main(["--version"]) == 0
    assert MODEL_VERSION in capsys.readouterr().out


def test_unknown_command_is_exit_2(capsys):
    assert cli.main(["nosuch"]) == 2
    assert "unknown command 'nosuch'" in capsys.readouterr().err


def test_every_command_points_at_a_cli_module():
    for name, (module, _) in cli.COMMANDS.items():
        assert module == f"bantar_sim.cli.{name.replace('-', '_')}"


@pytest.fixture
def fake_command(monkeypatch):
    """Install a command `fake` whose main raises what the test puts into `raise_`."""
    mod = types.ModuleType("bantar_sim_fake_command")
    mod.raise_ = None
    mod.add_arguments = lambda parser: None

    def main(args):
        if mod.raise_ is not None:
            raise mod.raise_
        return 0
    mod.main = main
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setitem(cli.COMMANDS, "fake", (mod.__name__, "a test command"))
    return mod


@pytest.mark.parametrize(("error", "code", "words"), [
    (ParameterError("--seed must be >= 0"), 2, "--seed must be >= 0"),
    (OutDirLockedError("outputs/x is locked by pid 1"), 1, "rerun the same command to resume"),
    (OutputFolderError("--out x is a file"), 2, "--out x is a file"),
    (OutputLockedError("outputs/run is being written by pid 7"), 1, "pid 7"),
])
def test_errors_become_one_message_and_an_exit_code(fake_command, capsys, error, code, words):
    fake_command.raise_ = error
    assert cli.main(["fake"]) == code
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_other_errors_are_not_swallowed(fake_command):
    fake_command.raise_ = KeyError("a bug")
    with pytest.raises(KeyError):
        cli.main(["fake"])


def test_params_into_a_closed_pipe_is_quiet():
    """`bantar-sim params | head`: the reader goes away; no BrokenPipeError traceback, exit 0."""
    read, write = os.pipe()
    os.close(read)                      # the reader is gone before the first line is written
    try:
        done = subprocess.run([str(BANTAR_SIM), "params"], stdout=write, stderr=subprocess.PIPE, text=True,
                              timeout=120)
    finally:
        os.close(write)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_params_group(capsys):
    assert cli.main(["params", "--group", "network"]) == 0
    rows = capsys.readouterr().out.splitlines()[2:]
    assert rows and len(rows) == sum(s.group == "network" for s in SPECS.values())
    assert all("| network |" in row for row in rows)


def test_params_unknown_group_names_the_allowed(capsys):
    assert cli.main(["params", "--group", "netwrk"]) == 2
    err = capsys.readouterr().err
    assert "'netwrk' is not a parameter group" in err and "did you mean 'network'" in err
    assert "allowed: city, network" in err


def test_params_update_odd(tmp_path, capsys):
    odd = tmp_path / "ODD.md"
    odd.write_text("# ODD\n<!-- parameter table (generated) -->\nSTALE ROW\n<!-- end of parameter table -->\n"
                   "<!-- metric table -->\n<!-- end of metric table -->\ntail\n")
    assert cli.main(["params", "--update-odd", str(odd)]) == 0
    text = odd.read_text()
    assert "STALE ROW" not in text and "| `scale` |" in text
    assert "<!-- end of parameter table -->\n<!-- metric table -->\n| metric |" in text
    assert "| `sustained_3y` |" in text and text.endswith("<!-- end of metric table -->\ntail\n")
    assert cli.main(["params", "--update-odd", str(tmp_path / "missing.md")]) == 2
    assert "no file" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["experiment", "experiments/kencana.toml"],
    ["sensitivity", "experiments/sensitivity_small.toml", "--method", "morris"],
    ["calibrate"],
])
def test_a_malformed_scheduler_address_is_refused_before_any_work(argv, capsys, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    assert cli.main([*argv, "--executor", "dask", "--scheduler", "notaurl", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'notaurl' is not a scheduler address; allowed: tcp://HOST:PORT" in err
