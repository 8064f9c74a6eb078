"""What the calibration compares, and against what: Table 3 targets, summary statistics, priors.

Everything here is checked before a single simulation runs (issue 4, "Bad input"): a target file must
name all 11 sub-districts and all years 2014–2020; a prior must name a known numeric parameter with a
non-empty range inside the parameter's allowed range and a reason. Errors are `CalibrationInputError`
(a `ParameterError`, so `bantar-sim calibrate` prints them cleanly and exits with code 2).

The summary statistics these targets are compared with are computed in
:mod:`bantar_sim.studies.calibration.stats`.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bantar_sim.model.data import SUBDISTRICTS, YEARS, _data_path, table3
from bantar_sim.model.params import SPECS, ParameterError, check_value, make_params, read_toml
from bantar_sim.studies.inputs import default_priors_path

START_YEAR = YEARS[0]
GROUPS = ("city", "wins", "proposals")


class CalibrationInputError(ParameterError):
    """A prior, target file or calibration option is not usable (raised before any simulation)."""


def _slug(name: str) -> str:
    return name.replace(" ", "_")


# ------------------------------------------------------------------------------------------ targets
@dataclass(frozen=True)
class Targets:
    """Observed Table 3 columns the calibration uses: winners per sub-district and year, proposals."""

    winners: pd.DataFrame        # index SUBDISTRICTS, columns YEARS (int)
    proposals: pd.Series         # RT proposals 2014–2020 (RTs proposed to the city), per sub-district
    source: str                  # file path or "Table 3 (consistent)"
    sha256: str                  # of the file the numbers came from

    @property
    def city_winners(self) -> pd.Series:
        """City-wide winners per year."""
        return self.winners.sum(axis=0)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def default_targets() -> Targets:
    """Table 3, internally consistent version (the yearly columns are identical in the published one)."""
    t3 = table3()
    return Targets(winners=t3.winners.loc[list(SUBDISTRICTS)].astype(float),
                   proposals=t3.consistent["rt_proposals"].loc[list(SUBDISTRICTS)].astype(float),
                   source="Table 3 (consistent version; bantar_sim/data/table3_published.csv)",
                   sha256=_sha256(_data_path("table3_published.csv")))


def load_targets(path: str | Path | None) -> Targets:
    """Targets from a CSV in Table 3's layout (subdistrict, rt_proposals, won_2014 … won_2020; other
    columns and an 'Amount' totals row are ignored). Missing sub-districts or years are errors.
    """
    if path is None:
        return default_targets()
    path = Path(path)
    where = f"--targets {path}"
    if not path.exists():
        raise CalibrationInputError(f"{where}: file not found")
    if not path.is_file():
        raise CalibrationInputError(f"{where}: not a file; allowed: a CSV file in Table 3's layout")
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError:
        raise CalibrationInputError(f"{where}: not a UTF-8 text file; allowed: a CSV file in Table 3's "
                                    "layout") from None
    except csv.Error as err:
        raise CalibrationInputError(f"{where}: not a readable CSV file ({err}); allowed: a CSV file in Table 3's "
                                    "layout") from None
    if not rows:
        raise CalibrationInputError(f"{where}: file is empty")
    header = [h.strip() for h in rows[0]]
    need = ["subdistrict", "rt_proposals", *[f"won_{y}" for y in YEARS]]
    missing = [c for c in need if c not in header]
    if missing:
        years = [c[4:] for c in missing if c.startswith("won_")]
        what = (f"missing years {', '.join(years)} (columns won_{years[0]} …); " if years else "")
        raise CalibrationInputError(f"{where}: {what}missing columns {missing}; a target file needs the "
                                    f"columns {need} (Table 3 layout, years {YEARS[0]}–{YEARS[-1]})")
    col = {c: header.index(c) for c in need}
    data: dict[str, dict[str, float]] = {}
    for lineno, raw in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in raw):
            continue
        name = raw[col["subdistrict"]].strip()
        if name == "Amount":
            continue
        if name not in SUBDISTRICTS:
            raise CalibrationInputError(f"{where}: row {lineno}: unknown sub-district '{name}'; allowed: "
                                        f"{', '.join(SUBDISTRICTS)}")
        if name in data:
            raise CalibrationInputError(f"{where}: row {lineno}: sub-district '{name}' appears twice")
        rec = {}
        for c in need[1:]:
            cell = raw[col[c]].strip() if col[c] < len(raw) else ""
            try:
                v = float(cell)
            except ValueError:
                raise CalibrationInputError(f"{where}: row {lineno} ({name}), column '{c}': '{cell}' is not "
                                            "a number (counts must be whole numbers >= 0)") from None
            if v < 0 or v != int(v):
                raise CalibrationInputError(f"{where}: row {lineno} ({name}), column '{c}': {cell} must be a "
                                            "whole number >= 0")
            rec[c] = v
        data[name] = rec
    absent = [s for s in SUBDISTRICTS if s not in data]
    if absent:
        raise CalibrationInputError(f"{where}: missing sub-districts {', '.join(absent)}; a target file needs "
                                    f"one row for each of the 11: {', '.join(SUBDISTRICTS)}")
    winners = pd.DataFrame({y: [data[s][f"won_{y}"] for s in SUBDISTRICTS] for y in YEARS},
                           index=pd.Index(SUBDISTRICTS, name="subdistrict"))
    proposals = pd.Series([data[s]["rt_proposals"] for s in SUBDISTRICTS], index=winners.index,
                          name="rt_proposals")
    return Targets(winners=winners, proposals=proposals, source=str(path), sha256=_sha256(path))


# ----------------------------------------------------------------------------------------- priors
@dataclass(frozen=True)
class Prior:
    """A uniform prior on one parameter: its range and the reason for it."""

    name: str
    low: float
    high: float
    reason: str

    @property
    def integer(self) -> bool:
        """Whether the parameter is an integer (its draws are rounded)."""
        return SPECS[self.name].kind is int


@dataclass(frozen=True)
class Variant:
    """A structural variant of the model for pyabc's model selection."""

    name: str
    description: str
    settings: dict[str, Any]
    priors: tuple[Prior, ...]


@dataclass(frozen=True)
class PriorFile:
    """A checked priors file: fixed settings, the baseline's priors and the structural variants."""

    path: str
    sha256: str
    settings: dict[str, Any]          # fixed simulation settings (scale, households_per_rt, ...)
    priors: tuple[Prior, ...]         # the calibrated parameters of the baseline model
    variants: tuple[Variant, ...] = field(default_factory=tuple)
    pattern_weight: float = 1.0       # [distance] pattern_weight: the pattern group's weight in the distance
    named_effects: dict[str, Any] | None = None   # [named_effects]: stage 2 settings (None: no stage 2)

    @property
    def names(self) -> list[str]:
        """The calibrated parameters of the baseline model."""
        return [p.name for p in self.priors]

    def baseline(self) -> Variant:
        """The baseline model as a :class:`Variant`."""
        return Variant("baseline", "the baseline model (settings above)", dict(self.settings), self.priors)


def _parse_prior(name: str, entry: Any, where: str, settings: Mapping[str, Any]) -> Prior:
    if not isinstance(entry, dict):
        raise CalibrationInputError(f"{where}: [params.{name}] must be a table with low, high and reason")
    if name not in SPECS:
        check_value(name, 0.0, where)       # raises 'unknown parameter' with close matches
    spec = SPECS[name]
    if spec.kind not in (int, float):
        raise CalibrationInputError(f"{where}: parameter '{name}' is {spec.kind.__name__}; only numeric "
                                    "parameters can be calibrated (set it under [settings] instead)")
    if name in settings:
        raise CalibrationInputError(f"{where}: parameter '{name}' is both fixed under [settings] and calibrated")
    for key in ("low", "high"):
        v = entry.get(key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise CalibrationInputError(f"{where}: [params.{name}] needs a finite number '{key}', got {v!r}")
    low, high = float(entry["low"]), float(entry["high"])
    allowed = f"[{spec.low}, {spec.high}]"
    if not low < high:
        kind = "empty" if low == high else "inverted"
        raise CalibrationInputError(f"{where}: prior range of '{name}' is {kind} (low = {low:g}, high = {high:g}); "
                                    f"low must be below high, within the allowed range {allowed}")
    if (spec.low is not None and low < spec.low) or (spec.high is not None and high > spec.high):
        raise CalibrationInputError(f"{where}: prior range of '{name}' [{low:g}, {high:g}] leaves the allowed "
                                    f"range {allowed}")
    reason = entry.get("reason", "")
    if not isinstance(reason, str) or not reason.strip():
        raise CalibrationInputError(f"{where}: [params.{name}] needs a 'reason' for its range")
    extra = set(entry) - {"low", "high", "reason"}
    if extra:
        raise CalibrationInputError(f"{where}: [params.{name}] has unknown keys {sorted(extra)}; "
                                    "allowed: low, high, reason")
    return Prior(name, low, high, reason.strip())


def _check_corners(priors: tuple[Prior, ...], settings: Mapping[str, Any], where: str) -> None:
    """Joint constraints (e.g. assessment_threshold <= kencana_threshold) must hold across the prior box."""
    for corner in ("low", "high"):
        vals = {p.name: (round(getattr(p, corner)) if p.integer else getattr(p, corner)) for p in priors}
        try:
            make_params({**settings, **vals}, where=f"{where} (every prior at its {corner} end)")
        except ParameterError as err:
            raise CalibrationInputError(str(err)) from None


def _parse_settings(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise CalibrationInputError(f"{where}: [settings] must be a table of parameter values")
    return {k: check_value(k, v, f"{where} [settings]") for k, v in raw.items()}


def load_priors(path: str | Path | None = None) -> PriorFile:
    """Read and check a priors file (calibration/priors.toml layout; see calibration/README.md)."""
    path = Path(path) if path else default_priors_path()
    where = str(path)
    data = read_toml(path, f"--prior {path}: file not found", CalibrationInputError)
    unknown = set(data) - {"settings", "params", "variants", "provenance", "distance", "named_effects"}
    if unknown:
        raise CalibrationInputError(f"{where}: unknown tables {sorted(unknown)}; allowed: settings, params, variants, "
                                    "distance, named_effects, provenance")
    pattern_weight = _parse_distance(data.get("distance"), where)
    named = _parse_named_effects(data.get("named_effects"), where)
    settings = _parse_settings(data.get("settings"), where)
    raw = data.get("params") or {}
    if not isinstance(raw, dict) or not raw:
        raise CalibrationInputError(f"{where}: no [params.NAME] tables: at least one parameter must be calibrated")
    priors = tuple(_parse_prior(n, e, where, settings) for n, e in raw.items())
    _check_corners(priors, settings, where)
    variants = []
    for vname, v in (data.get("variants") or {}).items():
        vw = f"{where} [variants.{vname}]"
        if not isinstance(v, dict):
            raise CalibrationInputError(f"{vw}: must be a table")
        bad = set(v) - {"description", "settings", "drop", "params"}
        if bad:
            raise CalibrationInputError(f"{vw}: unknown keys {sorted(bad)}; allowed: description, settings, "
                                        "drop, params")
        vset = {**settings, **_parse_settings(v.get("settings"), vw)}
        drop = v.get("drop", [])
        names = [p.name for p in priors]
        for d in drop:
            if d not in names:
                raise CalibrationInputError(f"{vw}: drop names '{d}', which is not a calibrated parameter "
                                            f"({', '.join(names)})")
        kept = [p for p in priors if p.name not in drop and p.name not in vset]
        extra = [_parse_prior(n, e, vw, vset) for n, e in (v.get("params") or {}).items()]
        vpri = tuple(kept + [e for e in extra if e.name not in {k.name for k in kept}])
        _check_corners(vpri, vset, vw)
        variants.append(Variant(vname, str(v.get("description", "")), vset, vpri))
    return PriorFile(str(path), _sha256(path), settings, priors, tuple(variants), pattern_weight, named)


#: [named_effects] keys -> what is allowed (stage 2, :mod:`bantar_sim.studies.calibration.named_effects`).
NAMED_EFFECTS_KEYS = {"rounds": "an integer >= 1", "seeds_per_round": "an integer >= 1",
                      "jacobian_seeds": "an integer >= 1", "penalty": "a number >= 0", "reason": "text (required)"}


def _parse_named_effects(raw: Any, where: str) -> dict[str, Any] | None:
    """The ``[named_effects]`` table: stage 2 of the calibration (named sub-district effects fitted at the chosen
    point with the globals fixed); absent = no stage 2.
    """
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise CalibrationInputError(f"{where}: [named_effects] must be a table with "
                                    f"{', '.join(NAMED_EFFECTS_KEYS)}")
    extra = set(raw) - set(NAMED_EFFECTS_KEYS)
    if extra:
        raise CalibrationInputError(f"{where}: [named_effects] has unknown keys {sorted(extra)}; allowed: "
                                    f"{', '.join(NAMED_EFFECTS_KEYS)}")
    out: dict[str, Any] = {}
    for key in ("rounds", "seeds_per_round", "jacobian_seeds"):
        v = raw.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise CalibrationInputError(f"{where}: [named_effects] {key} must be {NAMED_EFFECTS_KEYS[key]}, got {v!r}")
        out[key] = v
    if "penalty" in raw:
        v = raw["penalty"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise CalibrationInputError(f"{where}: [named_effects] penalty must be a number >= 0, got {v!r}")
        out["penalty"] = float(v)
    reason = raw.get("reason", "")
    if not isinstance(reason, str) or not reason.strip():
        raise CalibrationInputError(f"{where}: [named_effects] needs a 'reason'")
    return out


def _parse_distance(raw: Any, where: str) -> float:
    """The ``[distance]`` table: ``pattern_weight`` (a number in (0, 100], default 1) and its ``reason``."""
    if raw is None:
        return 1.0
    if not isinstance(raw, dict):
        raise CalibrationInputError(f"{where}: [distance] must be a table with pattern_weight and reason")
    extra = set(raw) - {"pattern_weight", "reason"}
    if extra:
        raise CalibrationInputError(f"{where}: [distance] has unknown keys {sorted(extra)}; allowed: pattern_weight, "
                                    "reason")
    w = raw.get("pattern_weight", 1.0)
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not (0 < w <= 100):
        raise CalibrationInputError(f"{where}: [distance] pattern_weight must be a number in (0, 100], got {w!r}")
    reason = raw.get("reason", "")
    if not isinstance(reason, str) or not reason.strip():
        raise CalibrationInputError(f"{where}: [distance] needs a 'reason' for its pattern_weight")
    return float(w)


def fingerprint(obj: Any) -> str:
    """Short hash of a JSON-able configuration (stored in the pyabc run to refuse a mismatched resume)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
