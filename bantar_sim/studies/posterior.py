"""The ABC posterior sample (``calibration/posterior.csv``): one reader for everything that draws from it.

``bantar_sim.studies.calibration.sample_posterior`` and experiments with ``posterior_draws`` both read it
here. A row is a particle: one column per calibrated parameter, its ``weight``, and (after the pattern
filter) ``passes_patterns``. Particles that fail the secondary patterns keep their row but get zero
weight, so row numbers stay those of the file and a failing particle is never drawn.
"""
from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from bantar_sim.model.params import SPECS, check_value, did_you_mean
from bantar_sim.studies.inputs import default_posterior_path

_TRUE, _FALSE = ("true", "1", "1.0", "yes"), ("false", "0", "0.0", "no")


class PosteriorFileError(ValueError):
    """A posterior file that cannot be drawn from; the message names the file, and the column or row."""


@dataclass(frozen=True)
class Posterior:
    """A checked posterior sample: the particles' values (file order) and their normalised weights."""

    path: Path
    rows: list[dict]          # each particle's parameter values, checked (file order)
    weights: np.ndarray       # normalised; 0 for particles that fail the pattern filter

    def row(self, i: int) -> dict:
        """Particle i's parameter values (a copy: callers add their own settings to it)."""
        return dict(self.rows[i])

    @cached_property
    def _cdf(self) -> np.ndarray:
        return np.cumsum(self.weights)

    def index_for(self, u: float) -> int:
        """The particle a uniform u in [0, 1) picks (inverse CDF of the weights)."""
        return int(min(np.searchsorted(self._cdf, u, side="right"), len(self._cdf) - 1))


def _checked_row(df: pd.DataFrame, i: int, names: list[str], where: str) -> dict:
    """Row i's values coerced to each parameter's kind and range-checked; the error names the file row."""
    out = {}
    for c in names:
        v = df.at[i, c]
        v = v.item() if hasattr(v, "item") else v
        kind = SPECS[c].kind
        if kind is bool and isinstance(v, str):
            v = True if v.strip().lower() in _TRUE else False if v.strip().lower() in _FALSE else v
        elif kind is int and isinstance(v, float) and np.isfinite(v):
            v = int(round(v))
        out[c] = check_value(c, v, f"{where}: row {i + 2}")
    return out


def _passes(col: pd.Series, where: str) -> np.ndarray:
    text = col.astype(str).str.strip().str.lower()
    bad = ~text.isin(_TRUE + _FALSE)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise PosteriorFileError(f"{where}: row {i + 2}: 'passes_patterns' must be True or False, got {col.iloc[i]!r}")
    return text.isin(_TRUE).to_numpy()


def read_posterior(path: str | Path | None = None, *, not_drawn: Mapping[str, str] | None = None) -> Posterior:
    """Read and check a posterior file before any run starts. `not_drawn`: parameter columns a caller
    sets itself (column -> what sets it), rejected if present.
    """
    path = Path(path) if path else default_posterior_path()
    where = str(path)
    if not path.is_file():
        raise PosteriorFileError(f"{where}: posterior file not found (run `bantar-sim calibrate` to write it, or give "
                                 "a CSV with one column per parameter and a 'weight' column)")
    try:
        df = pd.read_csv(io.StringIO(path.read_bytes().decode("utf-8")))
    except UnicodeDecodeError:
        raise PosteriorFileError(f"{where}: not a UTF-8 text (CSV) file; allowed: a CSV with one column per "
                                 "parameter and a 'weight' column") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
        msg = " ".join(str(err).split()) or type(err).__name__
        raise PosteriorFileError(f"{where}: not a readable CSV ({msg}); allowed: a CSV with one column per "
                                 "parameter and a 'weight' column") from None
    if "weight" not in df.columns:
        raise PosteriorFileError(f"{where}: no 'weight' column; columns must be model parameters and 'weight'")
    keep = _passes(df.pop("passes_patterns"), where) if "passes_patterns" in df.columns else np.ones(len(df), bool)
    names = [c for c in df.columns if c != "weight"]
    if not names or len(df) == 0:
        raise PosteriorFileError(f"{where}: needs at least one parameter column and one row")
    for c in names:
        if c not in SPECS:
            raise PosteriorFileError(f"{where}: unknown parameter column {str(c)!r}{did_you_mean(str(c), SPECS)}; "
                                     f"allowed: {', '.join(sorted(SPECS))}")
        if not_drawn and c in not_drawn:
            raise PosteriorFileError(f"{where}: column '{c}' is set by {not_drawn[c]}, not per posterior draw")
    w = pd.to_numeric(df["weight"], errors="coerce").to_numpy(float)
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise PosteriorFileError(f"{where}: 'weight' must be finite numbers >= 0 with a positive sum")
    if not keep.any():
        raise PosteriorFileError(f"{where}: no row passes the pattern filter ('passes_patterns' all false)")
    w = np.where(keep, w, 0.0)
    if w.sum() <= 0:
        raise PosteriorFileError(f"{where}: the rows that pass the pattern filter have zero total weight")
    # Every row checked now, before any run, not when its draw comes up.
    rows = [_checked_row(df, i, names, where) for i in range(len(df))]
    return Posterior(path=path, rows=rows, weights=w / w.sum())
