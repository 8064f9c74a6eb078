"""`bantar-sim params`: the parameter table (the same one docs/ODD.md carries), or write it into the ODD."""
from __future__ import annotations

import argparse
from pathlib import Path

from bantar_sim.model.metrics import METRICS
from bantar_sim.model.params import SPECS, ParameterError, did_you_mean, markdown_table, update_odd


def groups() -> list[str]:
    """Return the parameter groups in the order the table first shows them.

    Returns
    -------
    list of str
        Each group of ``SPECS`` once (city, network, ...).
    """
    return list(dict.fromkeys(spec.group for spec in SPECS.values()))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `bantar-sim params`.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    """
    parser.add_argument("--group", default=None,
                        help=f"only this group ({', '.join(groups())})")
    parser.add_argument("--update-odd", metavar="ODD_MD", nargs="?", const="docs/ODD.md", default=None,
                        help="rewrite the generated parameter table inside this Markdown file instead of printing "
                             "(default docs/ODD.md, relative to the working directory; `make odd` uses it)")


def main(args: argparse.Namespace) -> int:
    """Print the parameter table (optionally one group), or rewrite it inside docs/ODD.md.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed options: ``group`` and ``update_odd``.

    Returns
    -------
    int
        0 when done.

    Raises
    ------
    ParameterError
        An unknown group (the message lists the allowed ones), or an ODD file that does not exist or
        carries no generated-table markers.
    """
    if args.update_odd is not None:
        if args.group:
            raise ParameterError("--group and --update-odd do not combine: the ODD carries the whole table")
        path = Path(args.update_odd)
        if not path.is_file():
            raise ParameterError(f"--update-odd: no file {path} (run from the repository root, or give the path "
                                 "of docs/ODD.md)")
        try:
            update_odd(path)
        except ValueError:      # str.index: a marker is missing
            raise ParameterError(f"--update-odd: {path} lacks the markers of a generated block; allowed: a file "
                                 "with '<!-- parameter table' ... '<!-- end of parameter table -->' and '<!-- "
                                 "metric table' ... '<!-- end of metric table -->'") from None
        print(f"bantar-sim params: parameter and metric tables of {path} updated ({len(SPECS)} parameters, "
              f"{len(METRICS)} metrics)")
        return 0
    lines = markdown_table().splitlines()
    if args.group:
        allowed = groups()
        if args.group not in allowed:
            raise ParameterError(f"--group {args.group!r} is not a parameter group{did_you_mean(args.group, allowed)}; "
                                 f"allowed: {', '.join(allowed)}")
        # markdown_table writes one row per SPECS entry, in SPECS order, after its two header lines.
        rows = [row for row, spec in zip(lines[2:], SPECS.values(), strict=True) if spec.group == args.group]
        lines = lines[:2] + rows
    print("\n".join(lines))
    return 0
