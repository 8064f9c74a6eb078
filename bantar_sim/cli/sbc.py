"""`bantar-sim sbc`: simulation-based calibration (coverage) of the amortised ABC posterior.

Parses the command line into an :class:`~bantar_sim.studies.calibration.sbc.SBCConfig`, checks every
input before an executor starts (bad input: one line, exit code 2), and calls
:func:`~bantar_sim.studies.calibration.sbc.run_sbc`; ``--publish`` then copies the result into
``calibration/results/sbc/`` (:func:`~bantar_sim.studies.calibration.sbc_publish.publish_sbc`), and
``--publish-only`` publishes the ``--out`` folder without running. The method and the report are described in
calibration/README.md, "Simulation-based calibration (coverage)".
"""
from __future__ import annotations

import argparse
import contextlib
import shlex
import sys

from bantar_sim.cli.common import add_executor_arguments, check_executor_arguments
from bantar_sim.engine.batch import ExecutorLostError, OutDirLockedError
from bantar_sim.engine.executors import make_executor
from bantar_sim.engine.outputs import OutputLockedError, OutputWriteError, check_output_folder
from bantar_sim.studies.calibration.config import default_calibration_folder
from bantar_sim.studies.calibration.sbc import OUTPUT_DIR, SBCConfig, plan_sbc, run_sbc
from bantar_sim.studies.calibration.sbc_publish import RESULTS_RELATIVE, publish_sbc
from bantar_sim.studies.calibration.targets import CalibrationInputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `bantar-sim sbc`."""
    d = SBCConfig()
    parser.add_argument("--priors", default=None, metavar="FILE",
                        help="priors file (default calibration/priors.toml found from the working directory)")
    parser.add_argument("--reference", type=int, default=d.reference, metavar="N",
                        help=f"simulations in the shared reference table (default {d.reference})")
    parser.add_argument("--truths", type=int, default=d.truths, metavar="T",
                        help=f"truths drawn from the prior and calibrated (default {d.truths})")
    parser.add_argument("--loo-truths", type=int, default=d.loo_truths, metavar="M",
                        help="members of the reference table used as further truths, each left out of the table for "
                             f"its own posterior (default {d.loo_truths})")
    parser.add_argument("--accept", type=float, default=d.accept,
                        help=f"fraction of the reference table kept per truth (default {d.accept})")
    parser.add_argument("--draws", type=int, default=d.draws, metavar="L",
                        help=f"posterior draws per truth for the SBC rank (default {d.draws})")
    parser.add_argument("--scale", type=float, default=None,
                        help="share of each sub-district's RTs simulated (default: the priors file's [settings])")
    parser.add_argument("--households-per-rt", type=float, default=None,
                        help="households per RT (default: the priors file's [settings])")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"base seed (default {d.seed})")
    parser.add_argument("--out", default=None, help=f"result folder (default {OUTPUT_DIR}/)")
    publish = parser.add_mutually_exclusive_group()
    publish.add_argument("--publish", action="store_true",
                         help=f"after the study, copy its tables, figure and report into calibration/"
                              f"{RESULTS_RELATIVE}/ (found from the working directory; refused for a study of "
                              "another model version)")
    publish.add_argument("--publish-only", action="store_true",
                         help="run nothing: publish the finished study in --out as --publish would")
    add_executor_arguments(parser)


def config_from_args(args: argparse.Namespace) -> SBCConfig:
    """The typed config of a parsed command line."""
    return SBCConfig(priors=args.priors, reference=args.reference, truths=args.truths, loo_truths=args.loo_truths,
                     accept=args.accept,
                     draws=args.draws, scale=args.scale, households_per_rt=args.households_per_rt,
                     seed=args.seed, out=args.out,
                     command="bantar-sim sbc " + " ".join(shlex.quote(a) for a in sys.argv[2:]))


def main(args: argparse.Namespace) -> int:
    """Run the command; 0 done, 1 a failure during work, 2 bad input (raised to the CLI root)."""
    check_executor_arguments(args, CalibrationInputError)
    config = config_from_args(args)
    if args.publish_only:
        dest = publish_sbc(config.out_path, default_calibration_folder())
        print(f"published {config.out_path} to {dest}/ (bantar-sim docs rewrites the passages that quote it)")
        return 0
    plan = plan_sbc(config)          # every input check; nothing is run or written yet
    if args.publish:                 # a folder that cannot be written is refused now, not after the study
        check_output_folder(default_calibration_folder() / RESULTS_RELATIVE, "--publish")
    print(f"sbc: {config.reference} reference simulations + {config.truths} truths (+ {config.loo_truths} left out of "
          f"the table), accept {config.accept:g}, "
          f"{config.draws} draws, seed {config.seed}; priors {plan.priors_source}; settings "
          + ", ".join(f"{k}={v}" for k, v in plan.settings.items()))
    with contextlib.ExitStack() as stack:
        try:
            executor = stack.enter_context(make_executor(args.executor, args.workers, args.scheduler))
        except ValueError as err:
            raise CalibrationInputError(f"--executor/--workers/--scheduler: {err}") from None
        try:
            res = run_sbc(config, executor, progress=not args.no_progress, plan=plan)
        except (ExecutorLostError, OutDirLockedError, OutputLockedError, OutputWriteError):
            raise                     # the CLI root prints these in one line
        except RuntimeError as err:
            print(f"bantar-sim sbc: error: {err}", file=sys.stderr)
            return 1
    for r in res.coverage.itertuples():
        print(f"  {r.parameter:<28} 90% coverage {r.coverage90:.2f} [{r.coverage90_low:.2f}, "
              f"{r.coverage90_high:.2f}], 50% {r.coverage50:.2f}, width {r.width90_rel:.2f} of prior: {r.label}")
    print(f"wrote {res.out_dir}/: " + " ".join(p.name for p in res.files.values()))
    if args.publish:
        dest = publish_sbc(res.out_dir, default_calibration_folder())
        print(f"published to {dest}/ (bantar-sim docs rewrites the passages that quote it)")
    return 0
