"""Compare the CSV tables of two output folders: is a refactor behaviour-neutral?

    python benchmarks/compare_outputs.py OLD_DIR NEW_DIR [--renamed OLD=NEW ...]

Every CSV under OLD_DIR is compared with the same path under NEW_DIR and classed as:

- ``identical``: the same bytes;
- ``identical but run_id``: the same once the ``run_id`` column (a content address that includes the model
  version) is dropped;
- ``same rows, other order``: the same rows once sorted;
- ``same after renaming``: identical once the columns named by ``--renamed`` are renamed;
- ``same up to N ulp``: numbers differ only in their last bits (e.g. a mean summed in another order);
- ``DIFFERENT``: anything else (the exit code is then 1).

The check used for issue 12 ("make run and a shipped experiment byte-identical before and after"): run
`bantar-sim run --out OLD/run` and `bantar-sim experiment experiments/kencana.toml --replications 4 --out
OLD/kencana` in a worktree of the old commit, the same into NEW from the new one, then this script.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return list(a.columns) == list(b.columns) and a.shape == b.shape and a.equals(b)


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(list(df.columns), kind="stable", ignore_index=True)


def _max_ulp(a: pd.DataFrame, b: pd.DataFrame) -> float | None:
    """Largest difference in units of the last place over the float columns, if all else is equal."""
    if list(a.columns) != list(b.columns) or a.shape != b.shape:
        return None
    worst = 0.0
    for c in a.columns:
        x, y = a[c], b[c]
        if x.dtype.kind == "f" and y.dtype.kind == "f":
            xv, yv = x.to_numpy(), y.to_numpy()
            both_nan = np.isnan(xv) & np.isnan(yv)
            diff = np.abs(xv - yv)[~both_nan]
            if diff.size and not np.isfinite(diff).all():
                return None
            ulp = np.spacing(np.maximum(np.abs(xv), np.abs(yv)))[~both_nan]
            worst = max(worst, float((diff / np.where(ulp > 0, ulp, 1)).max(initial=0)))
        elif not x.equals(y):
            return None
    return worst


def classify(old: Path, new: Path, renamed: dict[str, str]) -> str:
    """How the CSV at ``new`` relates to the one at ``old`` (see the module docstring)."""
    if not new.exists():
        return "DIFFERENT (missing)"
    if old.read_bytes() == new.read_bytes():
        return "identical"
    a, b = (pd.read_csv(p).drop(columns=["run_id"], errors="ignore") for p in (old, new))
    if _frames_equal(a, b):
        return "identical but run_id"
    a_ren = a.rename(columns=renamed)
    if _frames_equal(a_ren, b):
        return f"same after renaming {sum(k in a.columns for k in renamed)} column(s)"
    if _frames_equal(_sorted(a_ren), _sorted(b)):
        return "same rows, other order"
    ulp = _max_ulp(a_ren, b)
    if ulp is None:
        ulp = _max_ulp(_sorted(a_ren), _sorted(b))
    if ulp is not None and ulp <= 8:
        return f"same up to {ulp:.0f} ulp"
    return "DIFFERENT"


def main(argv: list[str] | None = None) -> int:
    """Compare two folders' CSV tables; exit 1 if any differs beyond order, renames and last bits."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--renamed", action="append", default=[], metavar="OLD=NEW",
                    help="a column renamed on purpose (repeatable)")
    args = ap.parse_args(argv)
    renamed = dict(r.split("=", 1) for r in args.renamed)
    bad = 0
    for f in sorted(args.old.rglob("*.csv")):
        rel = f.relative_to(args.old)
        verdict = classify(f, args.new / rel, renamed)
        bad += verdict.startswith("DIFFERENT")
        print(f"{verdict:<45} {rel}")
    print("RESULT:", "no table differs beyond row order, the renames named and the last bits of a float"
          if not bad else f"{bad} table(s) DIFFERENT")
    print("renamed on purpose:", ", ".join(f"{k} -> {v}" for k, v in renamed.items()) or "none")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
