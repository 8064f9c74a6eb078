"""`bantar-sim experiment FILE`: a policy experiment (TOML) run through the batch engine, then analysed.

Parses the command line into an :class:`~bantar_sim.studies.experiment.ExperimentConfig`, prints the
plan, makes the executor and calls :func:`~bantar_sim.studies.experiment.run_experiment`.
"""
from __future__ import annotations

import argparse
import sys
import time

from bantar_sim.cli.common import add_executor_arguments, check_executor_arguments
from bantar_sim.engine.executors import SchedulerConnectionError, make_executor
from bantar_sim.engine.outputs import check_output_folder
from bantar_sim.studies.experiment import ExperimentConfig, ExperimentError, plan_experiment, run_experiment
from bantar_sim.studies.experiment.workflow import stored_ok


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `bantar-sim experiment`."""
    parser.add_argument("file", help="experiment file (TOML), e.g. experiments/kencana.toml")
    parser.add_argument("--replications", type=int, default=None,
                        help="override [experiment] replications (with [uncertain]: the number of scenarios)")
    parser.add_argument("--horizon", type=int, default=None, help="override [experiment] horizon (last year)")
    parser.add_argument("--households-per-rt", type=float, default=None,
                        help="override [experiment] households_per_rt (mean households per RT, 5–1000)")
    parser.add_argument("--out", default=None, help="output folder (default outputs/<experiment name>)")
    parser.add_argument("--point", action="store_true",
                        help="ignore the file's [uncertain] table: one parameter set, --replications seeds "
                             "(the single-parameter-set experiment, for comparison)")
    parser.add_argument("--price", type=float, default=None,
                        help="override [uncertain] price: million IDR a participating household-year is worth "
                             "(break-even strength)")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate the file and print the plan (arms, runs, runs already on disk); run nothing")
    add_executor_arguments(parser)


def command_line(args: argparse.Namespace) -> str:
    """The command as the report records it (options that differ from the defaults)."""
    parts = ["bantar-sim", "experiment", str(args.file)]
    for opt in ("replications", "horizon", "households_per_rt", "out", "price"):
        v = getattr(args, opt)
        if v is not None:
            parts += [f"--{opt.replace('_', '-')}", str(v)]
    if args.point:
        parts.append("--point")
    if args.executor != "process":
        parts += ["--executor", args.executor]
    if args.workers is not None:
        parts += ["--workers", str(args.workers)]
    if args.scheduler:
        parts += ["--scheduler", args.scheduler]
    return " ".join(parts)


def main(args: argparse.Namespace) -> int:
    """Run the command; 0 done, 1 runs failed / folder locked / writing failed, 2 bad input, 130 interrupted."""
    t0 = time.perf_counter()
    config = ExperimentConfig(args.file, replications=args.replications, horizon=args.horizon,
                              households_per_rt=args.households_per_rt, out=args.out, command=command_line(args),
                              point=args.point, price=args.price)
    plan = plan_experiment(config)
    check_executor_arguments(args, ExperimentError)
    if not args.dry_run:
        check_output_folder(plan.out)   # OutputFolderError: one line and exit 2 (the CLI root), before the plan
    print(plan.text, flush=True)
    if args.dry_run:
        return 0
    try:
        with make_executor(args.executor, args.workers, args.scheduler) as executor:
            result = run_experiment(config, executor, progress=not args.no_progress, plan=plan)
    except SchedulerConnectionError as err:
        raise ExperimentError(f"--scheduler: {err}") from None
    except KeyboardInterrupt:
        print(f"\ninterrupted: {stored_ok(plan.runs_dir, plan.run_ids)} of {len(plan.tasks)} runs are stored in "
              f"{plan.runs_dir}; rerun the same command to resume (finished runs are skipped)", file=sys.stderr)
        return 130
    b = result.batch
    print(f"runs: {b.n_total} in the experiment, {b.n_done} executed, {b.n_skipped} already on disk, "
          f"{b.n_failed} failed ({b.elapsed_s:.1f} s)", flush=True)
    print(result.summary)
    print(f"\nwrote {result.out}/: {', '.join(sorted(result.paths))} ({time.perf_counter() - t0:.1f} s)")
    if result.n_failed:
        print(f"{result.n_failed} runs failed (see {result.out}/report.md, 'Failures'); rerun the same command to "
              "retry them: finished runs are skipped", file=sys.stderr)
        return 1
    return 0
