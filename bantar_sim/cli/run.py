"""`bantar-sim run`: the calibrated Jambi 2014–2020 simulation, replicated, set beside Table 3.

Parses the command line into a :class:`~bantar_sim.studies.simulation.SimulationConfig`, calls
:func:`~bantar_sim.studies.simulation.run_simulation` and prints its summary. The replications run one
after the other in this process (the tables do not depend on where they run).
"""
from __future__ import annotations

import argparse

from bantar_sim.cli.common import add_parameter_set_arguments
from bantar_sim.studies.simulation import FILES, SimulationConfig, parse_settings, run_simulation


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `bantar-sim run`."""
    parser.add_argument("--seed", type=int, default=2014,
                        help="base seed in [0, 2**64); replications get spawned streams (default 2014)")
    parser.add_argument("--replications", type=int, default=10, help="independent runs, 1–10000 (default 10)")
    parser.add_argument("--end-year", type=int, default=None, help="last simulated year (default 2020)")
    parser.add_argument("--scale", type=float, default=None, help="share of each sub-district's RTs (0–1]")
    parser.add_argument("--params", default=None, help="parameter file (TOML [params] table, or JSON)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override one parameter (repeatable, each parameter once), e.g. --set kencana=true")
    add_parameter_set_arguments(parser)
    parser.add_argument("--out", default="outputs/run", help="output folder (default outputs/run), replaced as a "
                                                               "whole when the run is complete")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> SimulationConfig:
    """The typed config of a parsed command line (``--set`` items parsed, a repeated name refused)."""
    return SimulationConfig(seed=args.seed, replications=args.replications, end_year=args.end_year,
                            scale=args.scale, params_file=args.params, settings=parse_settings(args.set),
                            calibrated=args.calibrated, uncalibrated=args.uncalibrated, out=args.out)


def main(args: argparse.Namespace) -> int:
    """Run the command; 0 done, 1 writing failed or the folder is locked, 2 bad input (nothing written)."""
    result = run_simulation(config_from_args(args), progress=not args.no_progress)
    print(result.summary)
    print(f"\nwrote {result.out}/: {' '.join(FILES)}")
    return 0
