"""`bantar-sim docs`: rewrite the generated passages of README.md, calibration/README.md and docs/ from result files."""
from __future__ import annotations

import argparse
import sys

from bantar_sim.studies.docs import DOC_BLOCKS, update_docs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of `bantar-sim docs`."""
    parser.add_argument("--check", action="store_true",
                        help="write nothing; list the blocks that differ from what the result files give (exit 1)")
    parser.add_argument("--root", default=".", help="project root (default: the working directory)")


def main(args: argparse.Namespace) -> int:
    """Rewrite (or check) every generated block; 0 when all are current, 1 when some are stale or unmakeable."""
    res = update_docs(args.root, check=args.check)
    for e in res.errors:
        print(f"bantar-sim docs: cannot generate {e}", file=sys.stderr)
    verb = "stale" if args.check else "rewritten"
    for s in res.stale:
        print(f"{verb}: {s}")
    if not res.stale and not res.errors:
        print(f"all {len(DOC_BLOCKS)} generated blocks are current")
    return 1 if res.errors or (args.check and res.stale) else 0
