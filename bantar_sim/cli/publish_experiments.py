"""`bantar-sim publish-experiments`: copy finished experiments' result files into the repository and
rewrite the results block of experiments/README.md from them.

Parses the command line into a :class:`~bantar_sim.studies.experiment.publish.PublishConfig` and calls
:func:`~bantar_sim.studies.experiment.publish.publish_experiments`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bantar_sim.studies.experiment.publish import PublishConfig, publish_experiments

EPILOG = """\
For every experiment output folder under --outputs (one with effects.csv and experiment.json, as
`bantar-sim experiment` writes), effects.csv, levels.csv, dose_response.csv (if any) and a trimmed
experiment.json (name, replications, horizon, households per RT, base seed, model version, the
parameter set's sha256, date) are copied into --results/<name>/ (each file written to a temporary
sibling, then renamed). The block between <!-- results:start --> and <!-- results:end --> of --readme
is then regenerated from --results alone (appended at the end if the README has no markers):
a header naming the model version(s) and date(s), per experiment its headline effects [95% CI] and
baseline levels, and the dose-response tables of its sweeps. tests/test_experiment_publish.py checks
that the block matches the files and that their model version is the current one.
`make experiments` runs every experiment file and then this command.

exit codes: 0 done (or, with --check, the block is up to date), 1 with --check: the block is stale,
2 bad input (nothing written)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `bantar-sim publish-experiments`."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("--outputs", default="outputs", help="folder of the experiment output folders "
                        "(default: outputs)")
    parser.add_argument("--results", default="experiments/results",
                        help="where the published copies go, one folder per experiment (default: experiments/results)")
    parser.add_argument("--readme", default="experiments/README.md",
                        help="the README whose results block is rewritten (default: experiments/README.md)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="publish only this experiment (experiment or output-folder name; repeatable)")
    parser.add_argument("--check", action="store_true",
                        help="copy and write nothing; exit 1 if the README block differs from what --results gives")


def main(args: argparse.Namespace) -> int:
    """Run the command; 0 done / up to date, 1 stale (--check), 2 bad input."""
    config = PublishConfig(Path(args.outputs), Path(args.results), Path(args.readme), tuple(args.only), args.check)
    result = publish_experiments(config)
    if args.check:
        if result.changed:
            print(f"{result.readme}: the results block is stale (it differs from {args.results}); run "
                  "`bantar-sim publish-experiments`", file=sys.stderr)
            return 1
        print(f"{result.readme}: the results block matches {args.results} ({len(result.experiments)} experiments)")
        return 0
    for name, folder in result.published.items():
        print(f"published {folder} -> {Path(args.results) / name}")
    print(f"{result.readme}: results block {'rewritten' if result.changed else 'unchanged'} "
          f"({len(result.experiments)} experiments: {', '.join(result.experiments) or 'none'})")
    return 0
