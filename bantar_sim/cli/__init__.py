"""`bantar-sim COMMAND ...`: each command lives in its own module with add_arguments(parser) and main(args)."""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "run": ("bantar_sim.studies.simulation", "run the (calibrated) Jambi simulation; tables, summary and figure under outputs/"),
    "experiment": ("bantar_sim.studies.experiment.spec", "run a policy experiment file (TOML) through the batch engine"),
    "calibrate": ("bantar_sim.studies.calibration.abc", "ABC-SMC calibration against Table 3 (pyabc)"),
    "sensitivity": ("bantar_sim.studies.sensitivity.sensitivity", "global sensitivity analysis (SALib: Morris, Sobol)"),
    "viz": ("bantar_sim.cli.viz", "the teaching app in a browser (Mesa SolaraViz)"),
    "params": ("bantar_sim.cli.params", "list every model parameter with default, range and source"),
}


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """The executor options every batch command shares (laptop and cluster run the same code)."""
    g = parser.add_argument_group("execution")
    g.add_argument("--executor", choices=("serial", "process", "dask"), default="process",
                   help="serial, a local process pool (default), or Dask distributed")
    g.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    g.add_argument("--scheduler", default=None,
                   help="Dask scheduler address tcp://HOST:PORT (with --executor dask; none starts a LocalCluster)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def _usage() -> str:
    lines = ["usage: bantar-sim COMMAND [options]   (bantar-sim COMMAND --help for a command's options)", "",
             "commands:"]
    lines += [f"  {name:<12} {desc}" for name, (_, desc) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] in ("--version", "-V"):
        from bantar_sim.model.version import __version__, MODEL_VERSION
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
    from bantar_sim.model.params import ParameterError
    try:
        return int(module.main(args) or 0)
    except ParameterError as err:
        print(f"bantar-sim {name}: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        # The executor or its output folder failed mid-batch: the message, not a traceback. Finished runs
        # are on disk already (batch engine), so the same command resumes.
        if type(err).__name__ not in RESUMABLE_ERRORS:
            raise
        print(f"bantar-sim {name}: error: {err}\n(runs finished so far are kept; rerun the same command to "
              "resume)", file=sys.stderr)
        return 1


# bantar_sim.engine.batch / bantar_sim.engine.executors errors, matched by name so the CLI need not import them up front.
RESUMABLE_ERRORS = ("ExecutorLostError", "OutDirLockedError", "SchedulerConnectionError")


if __name__ == "__main__":
    sys.exit(main())
