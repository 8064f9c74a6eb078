"""Scenario discovery (issue 16): where an arm fails, as boxes over the uncertain inputs, with PRIM.

Why PRIM: a robust conclusion needs no explanation, a fragile one does — "the arm helps unless
kencana_prestige < 0.3 and base_utility is low" tells a city official which assumption the answer rests
on. The Patient Rule Induction Method (Friedman & Fisher 1999; Bryant & Lempert 2010) peels a box around
the scenarios of interest (here: the arm's paired effect on the file's metric below its threshold).
The implementation is EMA Workbench's (:class:`ema_workbench.analysis.prim.Prim`), not our own.

Each box reports coverage (share of all failures inside it), density (share of the box's scenarios that
fail), mass (share of scenarios inside) and the inputs that bound it with their limits. Along the peeling
trajectory PRIM trades coverage for density; the box chosen is the one of highest coverage with density at
least ``min_density`` (default 0.8, a common choice in scenario discovery), else the densest one.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

MIN_DENSITY = 0.8
MAX_BOXES = 2


@dataclass
class PrimResult:
    """PRIM on one arm: the boxes found, each box's limits and the peeling trajectories.

    Attributes
    ----------
    arm : str
        The arm.
    n_scenarios, n_fail : int
        Scenarios analysed and those where the arm fails (effect < threshold).
    status : str
        'boxes' when PRIM found at least one box, else why not ('never fails', 'always fails', 'no box').
    boxes : pandas.DataFrame
        One row per box: box, coverage, density, mass, res_dim, trajectory point chosen.
    limits : pandas.DataFrame
        One row per box and bounding input: input, min, max, the input's full range.
    trajectory : pandas.DataFrame
        Per box, every peeling step: coverage, density, mass, res_dim, id.
    """

    arm: str
    n_scenarios: int
    n_fail: int
    status: str
    boxes: pd.DataFrame = field(default_factory=pd.DataFrame)
    limits: pd.DataFrame = field(default_factory=pd.DataFrame)
    trajectory: pd.DataFrame = field(default_factory=pd.DataFrame)


def choose_point(traj: pd.DataFrame, min_density: float = MIN_DENSITY) -> int:
    """The trajectory step of highest coverage whose density is at least ``min_density`` (else the densest)."""
    ok = traj[traj["density"] >= min_density]
    if ok.empty:
        return int(traj["density"].astype(float).idxmax())
    return int(ok.sort_values(["coverage", "density"], ascending=False).index[0])


def discover(x: pd.DataFrame, fails: np.ndarray, *, arm: str = "", min_density: float = MIN_DENSITY,
             max_boxes: int = MAX_BOXES, mass_min: float = 0.05) -> PrimResult:
    """Run EMA Workbench's PRIM on inputs ``x`` (one row per scenario, numeric columns) and the boolean
    ``fails``; keep up to ``max_boxes`` boxes whose chosen density is at least ``min_density``.

    Columns with a single value are dropped (they cannot bound a box).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # ema_workbench warns at import about optional parallel back-ends
        from ema_workbench.analysis import prim

    logging.getLogger("EMA").setLevel(logging.WARNING)
    x = x.reset_index(drop=True).astype(float)
    x = x.loc[:, x.nunique() > 1]
    y = np.asarray(fails, bool)
    n, k = len(y), int(y.sum())
    if k == 0:
        return PrimResult(arm, n, k, "never fails")
    if k == n:
        return PrimResult(arm, n, k, "always fails")
    if x.shape[1] == 0:
        return PrimResult(arm, n, k, "no box (no varying input)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)   # pandas deprecations inside ema_workbench
        warnings.filterwarnings("ignore", message=".*inplace.*")
        return _peel(prim.Prim(x, y.astype(int), mass_min=mass_min), x, arm, n, k, min_density, max_boxes)


def _peel(alg, x: pd.DataFrame, arm: str, n: int, k: int, min_density: float, max_boxes: int) -> PrimResult:
    """Find up to ``max_boxes`` boxes with PRIM ``alg`` (see :func:`discover`)."""
    full = pd.DataFrame({"min": x.min(), "max": x.max()})
    box_rows, limit_rows, traj_parts = [], [], []
    for b in range(max_boxes):
        box = alg.find_box()
        if box is None:
            break
        traj = box.peeling_trajectory.reset_index(drop=True)
        i = choose_point(traj, min_density)
        if b > 0 and traj.loc[i, "density"] < min_density:
            break
        t = traj[["coverage", "density", "mass", "res_dim", "id"]].copy()
        t.insert(0, "box", b + 1)
        t["chosen"] = t.index == i
        traj_parts.append(t)
        lims = box.box_lims[i]
        bound = [c for c in x.columns if lims.loc[0, c] > full.loc[c, "min"] or lims.loc[1, c] < full.loc[c, "max"]]
        box_rows.append({"box": b + 1, "coverage": float(traj.loc[i, "coverage"]),
                         "density": float(traj.loc[i, "density"]), "mass": float(traj.loc[i, "mass"]),
                         "res_dim": len(bound), "step": i, "bounded_by": ", ".join(bound)})
        for c in bound:
            limit_rows.append({"box": b + 1, "input": c, "min": float(lims.loc[0, c]), "max": float(lims.loc[1, c]),
                               "range_min": float(full.loc[c, "min"]), "range_max": float(full.loc[c, "max"])})
        box.select(i)
    if not box_rows:
        return PrimResult(arm, n, k, "no box")
    return PrimResult(arm, n, k, "boxes", pd.DataFrame(box_rows), pd.DataFrame(limit_rows,
                      columns=["box", "input", "min", "max", "range_min", "range_max"]),
                      pd.concat(traj_parts, ignore_index=True))


def describe_box(res: PrimResult, box: int = 1) -> str:
    """A box in words: 'effect < threshold in 40 of 50 scenarios where a in [0, 0.3] and b in [...]
    (coverage 0.9, density 0.85)'.
    """
    if res.status != "boxes":
        return res.status
    row = res.boxes[res.boxes["box"] == box].iloc[0]
    lim = res.limits[res.limits["box"] == box]
    cond = " and ".join(f"{r['input']} in [{r['min']:.3g}, {r['max']:.3g}]" for _, r in lim.iterrows())
    return (f"{cond or 'anywhere'} (coverage {row['coverage']:.2f}, density {row['density']:.2f}, "
            f"mass {row['mass']:.2f})")
