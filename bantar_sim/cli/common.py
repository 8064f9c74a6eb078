"""Pieces every `bantar-sim` command shares: the executor options and their checks.

Kept apart from `bantar_sim.cli` (the dispatcher) so that a command module can import them without
importing the dispatcher that loads it: the CLI room has no import circle.
"""
from __future__ import annotations

import argparse

from bantar_sim.engine.executors import check_scheduler_address
from bantar_sim.model.params import ParameterError

EXECUTORS = ("serial", "process", "dask")


def add_parameter_set_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--calibrated FILE`` and ``--uncalibrated``: which parameter set a command starts from.

    Declared once so that `run`, `sensitivity` and `viz` offer the same choice with the same words
    (resolved by :func:`bantar_sim.studies.inputs.resolve_parameter_set`).
    """
    parser.add_argument("--calibrated", default=None, metavar="FILE",
                        help="calibrated parameter set to start from (default: calibration/calibrated.toml found "
                             "from the working directory upwards)")
    parser.add_argument("--uncalibrated", action="store_true",
                        help="start from the status-quo defaults instead of a calibrated set")


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the execution options every batch command shares.

    A laptop and a cluster run the same code; only these options differ, so they are declared once
    here and every batch command (experiment, sensitivity, calibrate) offers the same flags.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser; an "execution" argument group is added to it.
    """
    g = parser.add_argument_group("execution")
    g.add_argument("--executor", choices=EXECUTORS, default="process",
                   help="serial, a local process pool (default), or Dask distributed")
    g.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    g.add_argument("--scheduler", default=None,
                   help="Dask scheduler address tcp://HOST:PORT (with --executor dask; none starts a LocalCluster)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def check_executor_arguments(args: argparse.Namespace, error: type[Exception] = ParameterError) -> None:
    """Check the combination of execution options before any work starts.

    argparse checks each option alone; the combinations (``--workers`` with ``serial``, ``--scheduler``
    without ``dask``) are checked here so that every command refuses them with the same words.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments holding ``executor``, ``workers`` and ``scheduler``.
    error : type of Exception, optional
        The error class to raise (a subclass of ParameterError, so the CLI reports it in one line
        with exit code 2).

    Raises
    ------
    ParameterError
        (or ``error``) naming the offending option and what is allowed.
    """
    if args.workers is not None and args.workers < 1:
        raise error(f"--workers must be an integer >= 1, got {args.workers}")
    if args.executor == "serial" and args.workers not in (None, 1):
        raise error(f"--executor serial runs one run at a time: --workers must be 1, got {args.workers}")
    if args.scheduler is not None and args.executor != "dask":
        raise error(f"--scheduler applies only to --executor dask, not {args.executor}")
    if args.scheduler is not None:
        try:
            check_scheduler_address(args.scheduler)
        except ValueError as err:
            raise error(str(err)) from None


def add_method_arguments(parser, reference: int, accept: float, extra_help: str = "") -> None:
    """``--method``, ``--reference`` and ``--accept``: how each calibration computes its posterior
    (:class:`bantar_sim.studies.calibration.CalibrationConfig`; the reference table is the default).
    """
    g = parser.add_argument_group("calibration method (issue 15: the reference table is the default)")
    g.add_argument("--method", default=None, metavar="reference|abc-smc",
                   help="'reference' (default): rejection ABC on one reference table of prior simulations (the "
                        "method `make sbc` checks; under 10 minutes on 2 cores); 'abc-smc': pyabc's ABC-SMC (the "
                        "ABC-SMC options)" + extra_help)
    g.add_argument("--reference", default=None, metavar="N",
                   help=f"--method reference: prior simulations in the table (default {reference})")
    g.add_argument("--accept", default=None, metavar="SHARE",
                   help=f"--method reference: share of the table accepted, closest first (default {accept})")


def method_from_args(args: argparse.Namespace, reference: int, accept: float, error: type[Exception]) -> dict:
    """``method``, ``reference`` and ``accept`` of the parsed flags (a malformed number: one line naming it)."""
    return {"method": args.method,
            "reference": flag_value(args.reference, int, reference, "--reference", "an integer in [10, 10000000]",
                                    error),
            "accept": flag_value(args.accept, float, accept, "--accept", "a share in (0, 1]", error)}


def flag_value(text: str | None, cast: type, default, flag: str, allowed: str, error: type[Exception] = ParameterError):
    """``text`` converted by ``cast`` (the default when the flag was not given); one-line error naming the flag.

    Flags read as text and converted here: argparse's own refusal of a malformed number prints the usage too.
    """
    if text is None:
        return default
    try:
        return cast(text)
    except ValueError:
        raise error(f"{flag} must be {allowed}, got {text!r}") from None
