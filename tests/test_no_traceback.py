"""No traceback for any input: random and mutated input files and random flag values.

Each reader of a user file (parameter files, the calibrated set, the posterior sample, experiment and
sensitivity problem files, priors, targets, Table 3) is fed random bytes and mutations of a valid file
(truncation, flipped bytes, inserted lines, binary noise): it must return, or raise the project's own
error (a ``ValueError`` defined in ``bantar_sim``) with a one-line message. Each command's argument
parsing gets random values for its flags: the command line must end with exit code 0 or 2, a message,
and no traceback.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
READER_EXAMPLES = int(os.environ.get("BANTAR_FUZZ_READER_EXAMPLES", "500"))
COMMAND_EXAMPLES = int(os.environ.get("BANTAR_FUZZ_COMMAND_EXAMPLES", "120"))

# reader name -> (module, function, a valid file to mutate, file suffix)
READERS = {
    "param file": ("bantar_sim.model.params", "load_param_file", "calibration/calibrated.toml", ".toml"),
    "calibrated set": ("bantar_sim.studies.inputs", "read_calibrated", "calibration/calibrated.toml", ".toml"),
    "posterior": ("bantar_sim.studies.posterior", "read_posterior", "calibration/posterior.csv", ".csv"),
    "experiment": ("bantar_sim.studies.experiment.spec", "load_experiment", "experiments/kencana.toml", ".toml"),
    "sensitivity problem": ("bantar_sim.studies.sensitivity.spec", "load_problem",
                            "experiments/sensitivity_small.toml", ".toml"),
    "priors": ("bantar_sim.studies.calibration.targets", "load_priors", "calibration/priors.toml", ".toml"),
    "targets": ("bantar_sim.studies.calibration.targets", "load_targets",
                "bantar_sim/model/data/table3_published.csv", ".csv"),
    "table3": ("bantar_sim.model.data", "load_table3", "bantar_sim/model/data/table3_published.csv", ".csv"),
}


def _reader(name):
    module, func, seed_file, suffix = READERS[name]
    return getattr(importlib.import_module(module), func), (REPO / seed_file).read_bytes(), suffix


@st.composite
def mutated(draw, seed: bytes):
    """Random bytes, or a valid file truncated, bit-flipped, with lines inserted, or with binary noise."""
    kind = draw(st.sampled_from(["random", "truncate", "flip", "insert_line", "noise", "text"]))
    if kind == "random":
        return draw(st.binary(max_size=400))
    if kind == "text":
        return draw(st.text(max_size=300)).encode("utf-8", "surrogatepass")
    data = bytearray(seed)
    if kind == "truncate":
        return bytes(data[: draw(st.integers(0, len(data)))])
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        return bytes(data)
    if kind == "insert_line":
        lines = bytes(data).split(b"\n")
        i = draw(st.integers(0, len(lines)))
        line = draw(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60))
        lines.insert(i, line.encode("utf-8"))
        return b"\n".join(lines)
    i = draw(st.integers(0, len(data)))
    return bytes(data[:i]) + draw(st.binary(min_size=1, max_size=40)) + bytes(data[i:])


def _check_reader(func, content: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(content)
        try:
            func(path)
        except ValueError as err:
            assert type(err).__module__.startswith("bantar_sim"), \
                f"a library error escaped: {type(err).__module__}.{type(err).__name__}: {err}"
            msg = str(err)
            assert msg and "\n" not in msg.strip(), f"message is not one line: {msg!r}"


@pytest.mark.parametrize("name", list(READERS))
def test_readers_never_raise_a_foreign_error(name):
    func, seed, suffix = _reader(name)

    @settings(max_examples=READER_EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(mutated(seed))
    def check(content):
        _check_reader(func, content, suffix)

    check()


@pytest.mark.parametrize("name", list(READERS))
def test_readers_refuse_a_directory_and_a_missing_file(name, tmp_path):
    func, _, _ = _reader(name)
    for path in (tmp_path, tmp_path / "missing.toml"):
        with pytest.raises(ValueError) as info:
            func(path)
        assert type(info.value).__module__.startswith("bantar_sim")


# --------------------------------------------------------------------------------- command lines
def _cli(argv: list[str]) -> tuple[int, str]:
    from bantar_sim.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return code, err.getvalue()


VALUES = st.one_of(st.integers(-2**70, 2**70).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12),
                   st.sampled_from(["", "-1", "0", "nan", "inf", "1e309", "true", "x=1", "scale=2", "tcp://", "/"]))

# Flags whose values are fuzzed, per command, on top of a base command line that runs almost nothing.
COMMANDS = {
    "run": (["--replications", "1", "--scale", "0.02", "--end-year", "2014", "--no-progress"],
            ["--seed", "--replications", "--end-year", "--scale", "--set", "--params"]),
    "experiment": (["experiments/kencana.toml", "--dry-run", "--no-progress"],
                   ["--replications", "--horizon", "--executor", "--workers", "--scheduler"]),
    "params": ([], ["--group"]),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_command_lines_end_with_a_message_not_a_traceback(command, tmp_path):
    base, flags = COMMANDS[command]
    out = ["--out", str(tmp_path / "out")] if command in ("run", "experiment") else []

    @settings(max_examples=COMMAND_EXAMPLES, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(st.sampled_from(flags), VALUES), min_size=1, max_size=3))
    def check(pairs):
        argv = [command, *base, *out]
        for flag, value in pairs:
            argv += [flag, value] if not value.startswith("-") else [f"{flag}={value}"]
        cwd = os.getcwd()
        os.chdir(REPO)
        try:
            code, err = _cli(argv)
        finally:
            os.chdir(cwd)
        assert code in (0, 2), f"{argv}: exit {code}\n{err}"
        assert "Traceback" not in err, f"{argv}: traceback\n{err}"
        if code == 2:
            assert err.strip(), f"{argv}: exit 2 without a message"

    check()
