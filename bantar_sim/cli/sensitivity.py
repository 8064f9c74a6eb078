"""`bantar-sim sensitivity FILE --method morris|sobol --n N`: global sensitivity analysis with SALib.

Parses the command line into a :class:`~bantar_sim.studies.sensitivity.SensitivityConfig`, plans it
(every check before any run, and before an executor starts), prints the plan, calls
:func:`~bantar_sim.studies.sensitivity.run_sensitivity` and prints what it found. Docs: docs/sensitivity.md.
"""
from __future__ import annotations

import argparse
import contextlib
import sys

from bantar_sim.cli.common import add_executor_arguments, add_parameter_set_arguments, check_executor_arguments
from bantar_sim.engine.batch import ExecutorLostError, OutDirLockedError
from bantar_sim.engine.executors import make_executor
from bantar_sim.engine.outputs import OutputFolderError, OutputLockedError, OutputWriteError
from bantar_sim.model.params import ParameterError
from bantar_sim.studies.sensitivity import METHODS, SensitivityConfig, plan_sensitivity, run_sensitivity
from bantar_sim.studies.sensitivity.report import influence_summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `bantar-sim sensitivity`."""
    parser.add_argument("file", help="problem file (TOML), e.g. experiments/sensitivity.toml")
    parser.add_argument("--method", choices=METHODS, default="sobol",
                        help="morris (screening: mu*, sigma) or sobol (S1, ST, S2 with bootstrap CIs; default)")
    parser.add_argument("--n", type=int, default=None,
                        help="Sobol: base sample N, a power of 2 (N(2k+2) design points); Morris: trajectories "
                             "(N(k+1) points). Default: the file's [sobol]/[morris] n")
    parser.add_argument("--replications", type=int, default=None, help="runs per design point (default: the file's)")
    parser.add_argument("--seed", type=int, default=None,
                        help="base seed: sampler and replication seeds (default: the file's)")
    parser.add_argument("--out", default="outputs/sensitivity",
                        help="output root (default outputs/sensitivity); results go to OUT/<name>/<method>/")
    add_parameter_set_arguments(parser)
    parser.add_argument("--dry-run", action="store_true",
                        help="validate the file and the design, print the plan, run nothing")
    add_executor_arguments(parser)


def config_from_args(args: argparse.Namespace) -> SensitivityConfig:
    """The typed config of a parsed command line."""
    return SensitivityConfig(problem=args.file, method=args.method, n=args.n, replications=args.replications,
                             seed=args.seed, out=args.out, calibrated=args.calibrated,
                             uncalibrated=args.uncalibrated)


def main(args: argparse.Namespace) -> int:
    """Run the command; 0 done, 1 a failure during work (runs failed, folder locked, disk full), 2 bad input."""
    config = config_from_args(args)
    try:
        plan = plan_sensitivity(config)     # every input check; nothing is run or written yet
    except OutputFolderError as err:
        print(f"bantar-sim sensitivity: error: {err}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(f"{plan.problem.source}: valid.")
        print(plan.text)
        return 0
    check_executor_arguments(args)
    print(plan.text)
    with contextlib.ExitStack() as stack:
        try:
            executor = stack.enter_context(make_executor(args.executor, args.workers, args.scheduler))
        except ValueError as err:     # make_executor's own checks
            raise ParameterError(f"--executor/--workers/--scheduler: {err}") from None
        try:
            res = run_sensitivity(config, executor, progress=not args.no_progress, plan=plan)
        except (ExecutorLostError, OutDirLockedError):
            raise                     # the CLI root prints these with its resume hint
        except (OutputLockedError, OutputWriteError, RuntimeError) as err:
            # Locked folder, full disk, failed runs: one line; finished runs are kept for a rerun.
            print(f"bantar-sim sensitivity: error: {err}", file=sys.stderr)
            return 1
    b = res.meta["batch"]
    print(f"\n{b['computed_now']} runs computed, {b['skipped_already_stored']} reused"
          + (f", {b['runs_per_second']:.2f} runs/s" if b["runs_per_second"] else "")
          + (f", mean {b['mean_run_duration_s']:.3f} s per run" if b["mean_run_duration_s"] else ""))
    sv = res.seed_variance
    if "seed_share_of_means" in sv:
        print("share of variance due to the seed (single run / replication means): " + "; ".join(
            f"{r.output} {r.seed_share_single_run:.3f} / {r.seed_share_of_means:.3f}" for r in sv.itertuples()))
    print("\n".join(influence_summary(res.problem, res.analysis)))
    print(f"\nwrote {res.out_dir}/: " + " ".join(p.name for p in res.files))
    return 0
