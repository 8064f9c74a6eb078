"""The calibrated parameters' ranges of a sensitivity problem file, kept equal to the calibration's posterior.

experiments/sensitivity.toml varies each calibrated parameter over its ABC posterior's 5–95% interval
(calibration/posterior_summary.csv). A recalibration moves those intervals, so the file's bounds are written
by :func:`sync_calibrated_ranges` (``make sensitivity-ranges``) and checked by a test: the sensitivity analysis
never runs on the ranges of an older calibration.
"""
from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path

import pandas as pd

from bantar_sim.engine.outputs import write_text_atomic

CALIBRATED_REASON = "calibrated: the ABC posterior's 5–95% interval (calibration/posterior_summary.csv)"


def _round(x: float, digits: int = 3) -> float:
    """``x`` to ``digits`` significant figures (what the file shows)."""
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, -int(math.floor(math.log10(abs(x)))) + digits - 1)


def posterior_ranges(summary_csv: str | Path) -> dict[str, tuple[float, float]]:
    """Parameter -> (5%, 95%) of the posterior, rounded outward-safe to 3 significant figures."""
    s = pd.read_csv(summary_csv)
    return {r.parameter: (_round(float(r.q05)), _round(float(r.q95))) for r in s.itertuples()}


def stale_ranges(problem: str | Path, summary_csv: str | Path) -> list[str]:
    """The calibrated parameters whose bounds in ``problem`` differ from the posterior's (empty when in step)."""
    data = tomllib.loads(Path(problem).read_text(encoding="utf-8"))
    want = posterior_ranges(summary_csv)
    out = []
    for p in data.get("parameters", []):
        if p["name"] in want and (p["min"], p["max"]) != want[p["name"]]:
            out.append(f"{p['name']}: file [{p['min']}, {p['max']}], posterior {list(want[p['name']])}")
    missing = sorted(set(want) - {p["name"] for p in data.get("parameters", [])})
    out += [f"{m}: calibrated but not varied" for m in missing]
    return out


def sync_calibrated_ranges(problem: str | Path, summary_csv: str | Path) -> list[str]:
    """Rewrite the min/max (and reason) of every calibrated parameter's [[parameters]] table in ``problem``.

    A calibrated parameter the file does not vary yet (a recalibration added it) gets its own table, after
    the last calibrated one: every parameter the calibration leaves uncertain enters the analysis.

    Returns
    -------
    list of str
        The parameters whose bounds changed or that were added.
    """
    path = Path(problem)
    text = path.read_text(encoding="utf-8")
    changed = []
    reason_line = f'reason = "{CALIBRATED_REASON}"\n'
    for name, (lo, hi) in posterior_ranges(summary_csv).items():
        pat = re.compile(r'(\[\[parameters\]\]\nname = "' + re.escape(name) + r'"\n)min = [^\n]*\nmax = [^\n]*\n'
                         r'reason = [^\n]*\n')
        bounds = f'min = {lo}\nmax = {hi}\n{reason_line}'
        new, n = pat.subn(lambda m, b=bounds: m.group(1) + b, text)
        if n and new != text:
            changed.append(name)
        elif not n and not re.search(r'\nname = "' + re.escape(name) + r'"\n', text):
            block = f'\n[[parameters]]\nname = "{name}"\n{bounds}'
            last = text.rfind(reason_line)
            at = last + len(reason_line) if last >= 0 else len(text)
            new = text[:at] + block + text[at:]
            changed.append(name)
        text = new
    write_text_atomic(path, text)
    return changed


#: A parameter enters the Sobol subset when its Morris mu* reaches this share of the largest on some output.
SOBOL_SHARE = 0.3


def sobol_subset(morris_csv: str | Path, share: float = SOBOL_SHARE) -> list[str]:
    """The parameters whose Morris mu* reaches ``share`` of the largest mu* on at least one output.

    Morris screens every parameter cheaply; Sobol's variance decomposition costs N × (2k + 2) design points,
    so it runs on the parameters the screening found influential (Saltelli et al. 2008, ch. 3). Ordered by
    their largest relative mu*, the most influential first.

    Parameters
    ----------
    morris_csv : str or Path
        ``morris_indices.csv`` of a Morris run (columns output, parameter, mu_star).
    share : float
        The threshold, relative to each output's largest mu*.
    """
    d = pd.read_csv(morris_csv)
    rel = d["mu_star"] / d.groupby("output")["mu_star"].transform("max")
    best = d.assign(rel=rel).groupby("parameter")["rel"].max().sort_values(ascending=False, kind="stable")
    return [str(p) for p, r in best.items() if r >= share]


def sync_sobol_subset(problem: str | Path, morris_csv: str | Path, share: float = SOBOL_SHARE) -> list[str]:
    """Rewrite the ``[sobol] parameters`` list of ``problem`` from a Morris screening (``make sensitivity``).

    The list is written by code from the screening's result file, never by hand, so the Sobol stage always
    analyses what the current model's screening found. The design-size comment above it is rewritten too.

    Returns
    -------
    list of str
        The subset written.
    """
    path = Path(problem)
    text = path.read_text(encoding="utf-8")
    subset = sobol_subset(morris_csv, share)
    listed = ", ".join(f'"{p}"' for p in subset)
    new, n = re.subn(r"(?m)^parameters = \[[^\]]*\]$", lambda m: f"parameters = [{listed}]", text, count=1)
    if not n:
        raise ValueError(f"{path}: no [sobol] 'parameters = [...]' line to rewrite")
    data = tomllib.loads(new)
    sob = data.get("sobol", {})
    if "n" in sob:
        k = len(subset)
        pts = sob["n"] * (2 * k + 2 if sob.get("second_order", True) else k + 2)
        new = re.sub(r"(?m)^# experiments/results/sensitivity/morris/\)\. .*$",
                     f"# experiments/results/sensitivity/morris/). {sob['n']} x (2 x {k} + 2) = {pts:,} design "
                     "points x 2 replications.", new, count=1)
    write_text_atomic(path, new)
    return subset
