"""`bantar-sim COMMAND ...`: the command-line root.

Each command lives in its own module of this package with ``add_arguments(parser)`` and ``main(args)``;
this module only dispatches to it and turns the errors a user can cause into one line and an exit code:

- bad input (a parameter, an input file): the message, exit code 2, nothing written;
- a failure during work that a rerun resumes (executor lost, batch store locked, scheduler
  unreachable): the message and a resume hint, exit code 1;
- a failure while writing the results (output folder held by another writer, disk full): the message,
  exit code 1 (the previous results are unchanged);
- the reader of the output went away (``bantar-sim params | head``): silence, exit code 0.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from bantar_sim.engine.batch import ExecutorLostError, OutDirLockedError
from bantar_sim.engine.executors import SchedulerConnectionError
from bantar_sim.engine.outputs import OutputFolderError, OutputLockedError, OutputWriteError
from bantar_sim.model.data import DataFileError
from bantar_sim.model.params import ParameterError
from bantar_sim.model.version import MODEL_VERSION, __version__

COMMANDS = {
    "run": ("bantar_sim.cli.run",
            "run the (calibrated) Jambi simulation; tables, summary and figure under outputs/"),
    "experiment": ("bantar_sim.cli.experiment", "run a policy experiment file (TOML) through the batch engine"),
    "publish-experiments": ("bantar_sim.cli.publish_experiments",
                            "copy experiment results into experiments/results and rewrite the README's results block"),
    "calibrate": ("bantar_sim.cli.calibrate", "ABC-SMC calibration against Table 3 (pyabc)"),
    "forecast-check": ("bantar_sim.cli.forecast_check",
                       "rolling-origin forecasts against naive baselines (CRPS, coverage)"),
    "sbc": ("bantar_sim.cli.sbc", "simulation-based calibration: coverage of the amortised ABC posterior"),
    "calibration-stability": ("bantar_sim.cli.calibration_stability",
                              "the default calibration with several seeds: the calibrated point's spread"),
    "sensitivity": ("bantar_sim.cli.sensitivity", "global sensitivity analysis (SALib: Morris, Sobol)"),
    "viz": ("bantar_sim.cli.viz", "the teaching app in a browser (Mesa + Solara)"),
    "params": ("bantar_sim.cli.params", "list every model parameter with default, range and source"),
    "docs": ("bantar_sim.cli.docs", "rewrite the generated result passages of README.md, calibration/ and docs/"),
}

#: Errors in what the user gave (exit code 2). ExperimentError and CalibrationInputError subclass ParameterError.
INPUT_ERRORS: tuple[type[Exception], ...] = (ParameterError, DataFileError, OutputFolderError)
#: Errors during work that leave finished runs on disk, so the same command resumes (exit code 1).
RESUMABLE_ERRORS: tuple[type[Exception], ...] = (ExecutorLostError, OutDirLockedError, SchedulerConnectionError)
#: Errors while writing an output folder; the folder keeps its previous results (exit code 1).
OUTPUT_ERRORS: tuple[type[Exception], ...] = (OutputLockedError, OutputWriteError)


def _usage() -> str:
    lines = ["usage: bantar-sim COMMAND [options]   (bantar-sim COMMAND --help for a command's options)",
             "       bantar-sim --version", "", "commands:"]
    lines += [f"  {name:<12} {desc}" for name, (_, desc) in COMMANDS.items()]
    return "\n".join(lines)


def _silence_stdout() -> None:
    """Point stdout at /dev/null after its reader went away, so the interpreter's final flush is quiet."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):   # stdout replaced by a non-file (pytest's capture)
        pass
    finally:
        os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    """Run one `bantar-sim` command.

    Parameters
    ----------
    argv : list of str, optional
        The command line without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code: 0 done, 1 a resumable failure during work, 2 bad input or an unknown command.
        argparse exits with 2 itself on an unknown option.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] in ("--version", "-V"):
        print(f"bantar-sim {__version__} (model {MODEL_VERSION})")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"bantar-sim: unknown command '{name}'\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"bantar-sim {name}", description=COMMANDS[name][1])
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    try:
        code = int(module.main(args) or 0)
        sys.stdout.flush()      # inside the try: a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # `bantar-sim params | head`: the reader has what it wanted.
        _silence_stdout()
        return 0
    except INPUT_ERRORS as err:
        print(f"bantar-sim {name}: error: {err}", file=sys.stderr)
        return 2
    except RESUMABLE_ERRORS as err:
        # The executor or its output folder failed mid-batch: the message, not a traceback. Finished runs
        # are on disk already (batch engine), so the same command resumes.
        print(f"bantar-sim {name}: error: {err}\n(runs finished so far are kept; rerun the same command to "
              "resume)", file=sys.stderr)
        return 1
    except OUTPUT_ERRORS as err:
        print(f"bantar-sim {name}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
