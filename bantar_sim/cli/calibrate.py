"""`bantar-sim calibrate`: argparse -> :class:`CalibrationConfig` -> :func:`run_calibration` (or
:func:`promote` with ``--promote RESULT_FOLDER``).

Modes (calibration/README.md has the results and the commands that made them):

- default: calibrate the baseline model to Table 3 (and patterns 3-4); results in
  ``outputs/calibration/calibrate/`` (or ``--out``), never in the shipped ``calibration/``;
- ``--promote RESULT_FOLDER``: make a default-mode result the shipped set (``calibration/calibrated.toml``,
  ``posterior.csv`` ...), refused when no particle passes the patterns;
- ``--synthetic``: perfect-model test; ``--train-years 2014-YYYY``: held-out validation;
  ``--compare-models``: pyabc model selection among the variants of the priors file; with
  ``--seeds 2014,2015`` the seed-stability comparison
  (:func:`~bantar_sim.studies.calibration.compare.compare_models`, default ``outputs/calibration/compare/``):
  by default (``--method reference``) one reference table per seed with ``--reference-per-variant``
  simulations of each variant and ABC random-forest model choice, cross-checked by rejection ABC
  (``--rejection-quantile``); ``--method abc-smc`` runs the pyabc model selection once per seed.

Exit codes: 0 done; 2 bad input (nothing run or written); 1 a failure during work (no generation
completed, output folder locked or not writable part-way), previous results unchanged.
"""
from __future__ import annotations

import argparse
import sys
import time

from bantar_sim.cli.common import add_executor_arguments, add_method_arguments, flag_value, method_from_args
from bantar_sim.engine.outputs import OutputFolderError, OutputLockedError, OutputWriteError
from bantar_sim.studies.calibration import (
    CalibrationConfig,
    CalibrationInputError,
    CalibrationUnfinishedError,
    promote,
    run_calibration,
)
from bantar_sim.studies.calibration.compare import CompareConfig, ReferenceTableError, compare_models

D = CalibrationConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``bantar-sim calibrate`` (each maps to a :class:`CalibrationConfig` field)."""
    add_method_arguments(parser, D.reference, D.accept,
                         "; always the method of --compare-models alone. With --compare-models --seeds: "
                         "'reference' (default): ABC random-forest model choice (Pudlo et al. 2016) on a "
                         "reference table per seed with a rejection-ABC cross-check; 'abc-smc': pyabc model "
                         "selection per seed (each in --out/seed_<seed>/)")
    g = parser.add_argument_group("ABC-SMC budget and schedule (--method abc-smc)")
    g.add_argument("--population-size", type=int, default=D.population_size,
                   help="accepted particles per generation (default %(default)s)")
    g.add_argument("--max-populations", type=int, default=D.max_populations,
                   help="stop after this many generations in total, counting resumed ones (default %(default)s)")
    g.add_argument("--min-epsilon", type=float, default=D.min_epsilon,
                   help="stop once the acceptance threshold epsilon falls to this (default %(default)s)")
    g.add_argument("--max-walltime", type=float, default=D.max_walltime,
                   help="minutes; no new generation starts after this (default %(default)s)")
    g.add_argument("--min-acceptance-rate", type=float, default=D.min_acceptance_rate,
                   help="stop when a generation accepts fewer than this share of simulations (default %(default)s)")
    g.add_argument("--epsilon-quantile", type=float, default=D.epsilon_quantile,
                   help="epsilon schedule: next epsilon = this quantile of the last distances (default %(default)s)")
    g.add_argument("--proposal", default=D.proposal,
                   help="ABC-SMC proposal: native (pyabc's kernel mixture in the parameters' units) or logit (the "
                        "same in the logit of each prior range; default %(default)s)")
    g.add_argument("--proposal-ess-share", type=float, default=D.proposal_ess_share,
                   help="the proposal's mixture weights keep at least this share of the population as effective "
                        "sample size (0: as pyabc fits them; default %(default)s)")
    g.add_argument("--seed", type=int, default=D.seed, help="base seed (default %(default)s)")
    g = parser.add_argument_group("files")
    g.add_argument("--db", default=None,
                   help="pyabc SQLite history; an existing one with the same configuration is resumed "
                        "(default outputs/calibration/abc.db, or abc_<mode>.db for the other modes)")
    g.add_argument("--out", default=None,
                   help="results folder, replaced as a whole when the run completes (default "
                        "outputs/calibration/<mode>/: calibrate, synthetic, heldout or compare)")
    g.add_argument("--prior", default=None, help="priors file (default calibration/priors.toml of the project)")
    g.add_argument("--targets", default=None,
                   help="target CSV in Table 3's layout (default: Table 3, consistent version)")
    g.add_argument("--promote", default=None, metavar="RESULT_FOLDER",
                   help="run nothing: make this default-mode result the shipped calibrated set "
                        "(calibration/calibrated.toml, posterior.csv, ...); refused if no particle passes the "
                        "patterns; the new calibrated.toml records what it replaced")
    g = parser.add_argument_group("tests of the calibration")
    g.add_argument("--train-years", default=None, metavar="2014-YYYY",
                   help="calibrate on 2014..YYYY only and predict the later years (held-out validation)")
    g.add_argument("--synthetic", action="store_true",
                   help="perfect-model test: calibrate to data simulated at known parameters")
    g.add_argument("--truth", action="append", default=[], metavar="NAME=VALUE",
                   help="--synthetic: true value of a calibrated parameter (default: calibrated set, else prior "
                        "midpoint)")
    g.add_argument("--compare-models", action="store_true",
                   help="model selection among the baseline and the [variants] of the priors file: alone, one "
                        "pyabc model selection; with --seeds, the seed-stability comparison (by default "
                        "reference-table model choice, --method)")
    g.add_argument("--seeds", default=None, metavar="S1,S2[,...]",
                   help="--compare-models: run the comparison once per seed and report the posterior model "
                        "probabilities per seed and their largest difference")
    g.add_argument("--reference-per-variant", default=None, metavar="N",
                   help=f"--method reference: prior simulations of each variant per seed (default "
                        f"{CompareConfig.reference_per_variant})")
    g.add_argument("--rejection-quantile", default=None, metavar="Q",
                   help=f"--method reference: share of the reference table the rejection cross-check accepts "
                        f"(default {CompareConfig.rejection_quantile})")
    g = parser.add_argument_group("simulation settings (override the priors file's [settings])")
    g.add_argument("--scale", type=float, default=None, help="share of each sub-district's RTs")
    g.add_argument("--households-per-rt", type=float, default=None, help="mean households per RT")
    g.add_argument("--predictive-runs", type=int, default=D.predictive_runs,
                   help="posterior predictive simulations for the figures and coverage (default %(default)s)")
    g = parser.add_argument_group("secondary patterns (bantar_sim.studies.calibration.patterns)")
    g.add_argument("--pattern-reps", type=int, default=D.pattern_reps,
                   help="re-simulations per accepted particle for the pattern filter (default %(default)s)")
    g.add_argument("--no-pattern-filter", action="store_true",
                   help="calibrated point = best accepted particle, without the post-award waning/growth filter "
                        "(such a result cannot be promoted)")
    g.add_argument("--patterns-only", action="store_true",
                   help="run no ABC: apply the pattern filter to the posterior already in --out and rewrite "
                        "its calibrated set")
    add_executor_arguments(parser)


def config_from_args(args: argparse.Namespace) -> CalibrationConfig:
    """The :class:`CalibrationConfig` of the parsed flags (checked later, by the workflow).

    Raises
    ------
    CalibrationInputError
        ``--reference`` is not an integer or ``--accept`` not a number.
    """
    return CalibrationConfig(
        **method_from_args(args, D.reference, D.accept, CalibrationInputError),
        population_size=args.population_size, max_populations=args.max_populations, max_walltime=args.max_walltime,
        min_epsilon=args.min_epsilon, min_acceptance_rate=args.min_acceptance_rate,
        epsilon_quantile=args.epsilon_quantile, proposal=args.proposal,
        proposal_ess_share=args.proposal_ess_share, seed=args.seed,
        predictive_runs=args.predictive_runs, pattern_reps=args.pattern_reps,
        pattern_filter=not args.no_pattern_filter, patterns_only=args.patterns_only,
        train_years=args.train_years, synthetic=args.synthetic, truth=list(args.truth),
        compare_models=args.compare_models, scale=args.scale, households_per_rt=args.households_per_rt,
        prior=args.prior, targets=args.targets, db=args.db, out=args.out, executor=args.executor,
        workers=args.workers, scheduler=args.scheduler, command=_command_line(args))


def compare_config_from_args(args: argparse.Namespace) -> CompareConfig:
    """The :class:`CompareConfig` of ``--compare-models --seeds`` (checked later, by the workflow).

    The comparison's numeric options are read as text and converted here, so a malformed value is refused
    in one line naming the flag (argparse's own refusal prints the usage as well).

    Raises
    ------
    CalibrationInputError
        ``--seeds`` is not a comma-separated list of integers, ``--reference-per-variant`` not an integer
        or ``--rejection-quantile`` not a number.
    """
    try:
        seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    except ValueError:
        raise CalibrationInputError(f"--seeds {args.seeds!r}: allowed: two or more integers separated by commas, "
                                    "e.g. 2014,2015") from None
    d = CompareConfig()
    per_variant = flag_value(args.reference_per_variant, int, d.reference_per_variant, "--reference-per-variant",
                             "an integer in [10, 10000000]", CalibrationInputError)
    quantile = flag_value(args.rejection_quantile, float, d.rejection_quantile, "--rejection-quantile",
                          "a share in (0, 1]", CalibrationInputError)
    return CompareConfig(
        seeds=seeds, method=d.method if args.method is None else args.method, reference_per_variant=per_variant,
        rejection_quantile=quantile, population_size=args.population_size, max_populations=args.max_populations,
        max_walltime=args.max_walltime, predictive_runs=args.predictive_runs, scale=args.scale,
        households_per_rt=args.households_per_rt, prior=args.prior, out=args.out, executor=args.executor,
        workers=args.workers, scheduler=args.scheduler, command=_command_line(args))


def _command_line(args: argparse.Namespace) -> str:
    """The command as typed (console script), else rebuilt from the flags that differ from the defaults."""
    if sys.argv[1:2] == ["calibrate"]:
        return "bantar-sim " + " ".join(sys.argv[1:])
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    defaults = vars(parser.parse_args([]))
    words = ["bantar-sim", "calibrate"]
    for name, value in vars(args).items():
        if name not in defaults or value == defaults[name]:
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            words.append(flag)
        elif isinstance(value, list):
            words += [w for v in value for w in (flag, str(v))]
        else:
            words += [flag, str(value)]
    return " ".join(words)


def main(args: argparse.Namespace) -> int:
    """Run the command; return its exit code (bad input raises a ParameterError: the CLI root prints it, 2)."""
    try:
        if args.promote is not None:
            done = promote(args.promote)
            print(done.describe())
            return 0
        comparison_flags = {"--reference-per-variant": args.reference_per_variant,
                            "--rejection-quantile": args.rejection_quantile}
        given = [flag for flag, value in comparison_flags.items() if value is not None]
        if given and args.seeds is None:
            raise CalibrationInputError(f"{given[0]} applies only with --compare-models --seeds S1,S2")
        if args.seeds is not None:
            if args.reference is not None or args.accept is not None:
                raise CalibrationInputError(f"{'--reference' if args.reference is not None else '--accept'} applies "
                                            "to a calibration, not to --compare-models --seeds (see "
                                            "--reference-per-variant, --rejection-quantile)")
            if not args.compare_models:
                raise CalibrationInputError("--seeds applies only with --compare-models")
            done = compare_models(compare_config_from_args(args), progress=not args.no_progress)
            print(f"wrote {done.out}/: {' '.join(done.files)}\nmethod {done.method}; largest difference in model "
                  f"probability between seeds: {done.max_abs_difference:.3g}; preferred variant per seed: "
                  + ", ".join(f"{s} {v}" for s, v in done.preferred.items()))
            return 0
        config = config_from_args(args)
        started = time.perf_counter()
        result = run_calibration(config, progress=not args.no_progress)
        elapsed = time.perf_counter() - started
    except OutputFolderError as err:
        raise CalibrationInputError(str(err)) from None
    except (CalibrationUnfinishedError, ReferenceTableError, OutputLockedError, OutputWriteError) as err:
        print(f"bantar-sim calibrate: {err}", file=sys.stderr)
        return 1
    print(result.text)
    if result.mode == "patterns-only":
        print(f"\nwrote {result.out}/: {' '.join(result.files)}")
        return 0
    stored = ("pyabc history" if config.calibration_method == "abc-smc" else "reference table (batch store)")
    print(f"\nwrote {result.out}/: {' '.join(result.files)}\n{stored}: {result.db} (rerun the same command to "
          f"{'continue' if stored == 'pyabc history' else 'reuse'} it)")
    if result.point is not None:
        print(f"this result is not the shipped set; to make it so: bantar-sim calibrate --promote {result.out}")
    print(f"wall-clock of the whole calibration: {elapsed / 60:.1f} minutes ({elapsed:.0f} s)")
    return 0
