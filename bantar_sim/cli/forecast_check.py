"""`bantar-sim forecast-check`: argparse -> :class:`ForecastConfig` -> :func:`run_forecast_check`.

Rolling-origin forecasts (issue 15, item 2): calibrate on 2014–origin for each origin, forecast every
later year to 2020, score with CRPS and 90% coverage against two naive forecasts. Results in
``outputs/calibration/forecast/`` (or ``--out``): ``report.md``, the score tables, a figure, and each
origin's calibration under ``origin_<year>/``; ``--publish`` copies all but the origins' folders into
``calibration/results/forecast/`` (calibration/README.md's results block quotes them), ``--publish-only``
publishes the ``--out`` folder without running.

Exit codes: 0 done; 2 bad input (nothing run or written); 1 a failure during work (output folder locked,
disk full, no ABC generation completed), previous results unchanged.
"""
from __future__ import annotations

import argparse
import sys

from bantar_sim.cli.common import (
    add_executor_arguments,
    add_method_arguments,
    check_executor_arguments,
    method_from_args,
)
from bantar_sim.engine.outputs import OutputFolderError, OutputLockedError, OutputWriteError, check_output_folder
from bantar_sim.studies.calibration import CalibrationInputError, CalibrationUnfinishedError
from bantar_sim.studies.calibration.config import default_calibration_folder
from bantar_sim.studies.calibration.forecast import ForecastConfig, run_forecast_check
from bantar_sim.studies.calibration.forecast_report import publish_forecast

D = ForecastConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``bantar-sim forecast-check`` (each maps to a :class:`ForecastConfig` field)."""
    parser.add_argument("--origins", default=",".join(str(o) for o in D.origins),
                        help="last training years, comma-separated, each in 2015–2019 (default %(default)s)")
    parser.add_argument("--population-size", type=int, default=D.population_size,
                        help="ABC particles per generation, per origin (default %(default)s)")
    parser.add_argument("--max-populations", type=int, default=D.max_populations,
                        help="ABC generations per origin (default %(default)s)")
    parser.add_argument("--max-walltime", type=float, default=D.max_walltime,
                        help="minutes per origin; no new generation starts after this (default %(default)s)")
    parser.add_argument("--predictive-runs", type=int, default=D.predictive_runs,
                        help="posterior predictive simulations per origin (default %(default)s)")
    parser.add_argument("--scale", type=float, default=None, help="share of each sub-district's RTs (default: "
                        "the priors file's)")
    parser.add_argument("--households-per-rt", type=float, default=None,
                        help="mean households per RT (default: the priors file's)")
    parser.add_argument("--priors", default=None,
                        help="priors file (default calibration/priors_heldout.toml: no data year after 2016)")
    parser.add_argument("--seed", type=int, default=D.seed, help="base seed (default %(default)s)")
    parser.add_argument("--out", default=None, help="result folder, replaced as a whole when the check completes "
                        "(default outputs/calibration/forecast/)")
    publish = parser.add_mutually_exclusive_group()
    publish.add_argument("--publish", action="store_true",
                         help="after the check, copy its report, tables and figure into calibration/results/forecast/"
                              " (refused for a check of another model version)")
    publish.add_argument("--publish-only", action="store_true",
                         help="run nothing: publish the finished check in --out as --publish would")
    add_method_arguments(parser, D.reference, D.accept)
    add_executor_arguments(parser)


def _origins(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(w) for w in str(text).replace(" ", "").split(",") if w)
    except ValueError:
        raise CalibrationInputError(f"--origins must be comma-separated years in 2015–2019, got '{text}'") from None


def config_from_args(args: argparse.Namespace) -> ForecastConfig:
    """The :class:`ForecastConfig` of the parsed flags (checked by the workflow before any work).

    Raises
    ------
    CalibrationInputError
        ``--origins`` is not a list of years, or the executor options do not go together.
    """
    check_executor_arguments(args, CalibrationInputError)
    return ForecastConfig(**method_from_args(args, D.reference, D.accept, CalibrationInputError),
                          origins=_origins(args.origins), population_size=args.population_size,
                          max_populations=args.max_populations, max_walltime=args.max_walltime,
                          predictive_runs=args.predictive_runs, scale=args.scale,
                          households_per_rt=args.households_per_rt, priors=args.priors, seed=args.seed,
                          out=args.out, executor=args.executor, workers=args.workers, scheduler=args.scheduler,
                          command="bantar-sim " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["forecast-check"]
                          else "bantar-sim forecast-check (library call)")


def main(args: argparse.Namespace) -> int:
    """Run the check; return its exit code (bad input raises a ParameterError: the CLI root prints it, 2)."""
    try:
        config = config_from_args(args)
        if args.publish_only:
            dest = publish_forecast(config.out_path, default_calibration_folder())
            print(f"published {config.out_path} to {dest}/ (bantar-sim docs rewrites the passage that quotes it)")
            return 0
        if args.publish:             # a folder that cannot be written is refused now, not after the check
            check_output_folder(default_calibration_folder() / "results" / "forecast", "--publish")
        result = run_forecast_check(config, progress=not args.no_progress)
    except OutputFolderError as err:
        raise CalibrationInputError(str(err)) from None
    except (CalibrationUnfinishedError, OutputLockedError, OutputWriteError) as err:
        print(f"bantar-sim forecast-check: {err}", file=sys.stderr)
        return 1
    print("\n".join(result.verdicts))
    print(f"\nwrote {result.out}/: {' '.join(result.files)}")
    if args.publish:
        dest = publish_forecast(result.out, default_calibration_folder())
        print(f"published to {dest}/ (bantar-sim docs rewrites the passage that quotes it)")
    return 0
