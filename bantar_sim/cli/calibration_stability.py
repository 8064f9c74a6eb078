"""`bantar-sim calibration-stability`: argparse -> :class:`StabilityConfig` -> :func:`run_stability`.

Issue 15, item 6: the default calibration once per seed (default 2014, 2015, 2016), and the table of the
calibrated point's spread across seeds against the posterior 90% interval widths. Results in
``outputs/calibration/stability/`` (or ``--out``); ``--publish`` copies the report and table into
``calibration/results/stability/`` (calibration/README.md's results block quotes them), ``--publish-only``
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
from bantar_sim.engine.outputs import OutputLockedError, OutputWriteError, check_output_folder
from bantar_sim.studies.calibration import CalibrationInputError, CalibrationUnfinishedError
from bantar_sim.studies.calibration.config import default_calibration_folder
from bantar_sim.studies.calibration.stability import (
    RESULTS_RELATIVE,
    StabilityConfig,
    publish_stability,
    run_stability,
)

D = StabilityConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``bantar-sim calibration-stability`` (each maps to a :class:`StabilityConfig` field)."""
    parser.add_argument("--seeds", default=",".join(str(s) for s in D.seeds),
                        help="base seeds of the calibrations, comma-separated, two or more (default %(default)s)")
    parser.add_argument("--population-size", type=int, default=D.population_size,
                        help="ABC particles per generation (default: the default calibration's, %(default)s)")
    parser.add_argument("--max-populations", type=int, default=D.max_populations,
                        help="ABC generations per seed (default %(default)s)")
    parser.add_argument("--max-walltime", type=float, default=D.max_walltime,
                        help="minutes per seed; no new generation starts after this (default %(default)s)")
    parser.add_argument("--predictive-runs", type=int, default=D.predictive_runs,
                        help="posterior predictive simulations per seed (default %(default)s)")
    parser.add_argument("--pattern-reps", type=int, default=D.pattern_reps,
                        help="re-simulations per particle in the pattern filter (default %(default)s)")
    parser.add_argument("--scale", type=float, default=None, help="share of each sub-district's RTs (default: "
                        "the priors file's)")
    parser.add_argument("--households-per-rt", type=float, default=None,
                        help="mean households per RT (default: the priors file's)")
    parser.add_argument("--prior", default=None, help="priors file (default calibration/priors.toml)")
    parser.add_argument("--out", default=None, help="result folder, replaced as a whole when the study completes "
                        "(default outputs/calibration/stability/)")
    publish = parser.add_mutually_exclusive_group()
    publish.add_argument("--publish", action="store_true",
                         help=f"after the study, copy its report and table into calibration/{RESULTS_RELATIVE}/")
    publish.add_argument("--publish-only", action="store_true",
                         help="run nothing: publish the finished study in --out as --publish would")
    add_method_arguments(parser, D.reference, D.accept)
    add_executor_arguments(parser)


def _seeds(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(w) for w in str(text).replace(" ", "").split(",") if w)
    except ValueError:
        raise CalibrationInputError(f"--seeds must be comma-separated integers, got '{text}'") from None


def config_from_args(args: argparse.Namespace) -> StabilityConfig:
    """The :class:`StabilityConfig` of the parsed flags (checked by the workflow before any work)."""
    check_executor_arguments(args, CalibrationInputError)
    return StabilityConfig(**method_from_args(args, D.reference, D.accept, CalibrationInputError),
                           seeds=_seeds(args.seeds),
                           population_size=args.population_size,
                           max_populations=args.max_populations, max_walltime=args.max_walltime,
                           predictive_runs=args.predictive_runs, pattern_reps=args.pattern_reps, scale=args.scale,
                           households_per_rt=args.households_per_rt, prior=args.prior, out=args.out,
                           executor=args.executor, workers=args.workers, scheduler=args.scheduler,
                           command="bantar-sim calibration-stability " + " ".join(sys.argv[2:])
                           if sys.argv[1:2] == ["calibration-stability"] else "bantar-sim calibration-stability")


def main(args: argparse.Namespace) -> int:
    """Run the study; return its exit code (bad input raises a ParameterError: the CLI root prints it, 2)."""
    config = config_from_args(args)
    if args.publish_only:
        dest = publish_stability(config.out_path, default_calibration_folder())
        print(f"published {config.out_path} to {dest}/ (bantar-sim docs rewrites the passage that quotes it)")
        return 0
    if args.publish:                 # a folder that cannot be written is refused now, not after the study
        check_output_folder(default_calibration_folder() / RESULTS_RELATIVE, "--publish")
    try:
        result = run_stability(config, progress=not args.no_progress)
    except (CalibrationUnfinishedError, OutputLockedError, OutputWriteError) as err:
        print(f"bantar-sim calibration-stability: {err}", file=sys.stderr)
        return 1
    for _, r in result.table.iterrows():
        print(f"  {r['parameter']:<28} spread {r['point_spread']:.4g} = {r['spread_over_width']:.2f} of the 90% "
              f"interval ({r['width90_mean']:.4g}): {'stable' if r['stable'] else 'NOT stable'}")
    print(f"wrote {result.out}/: {' '.join(result.files)}")
    if args.publish:
        dest = publish_stability(result.out, default_calibration_folder())
        print(f"published to {dest}/ (bantar-sim docs rewrites the passage that quotes it)")
    return 0
