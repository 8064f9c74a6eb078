"""What the calibration compares, and against what: Table 3 targets, summary statistics, priors.

Everything here is checked before a single simulation runs (issue 4, "Bad input"): a target file must
name all 11 sub-districts and all years 2014–2020; a prior must name a known numeric parameter with a
non-empty range inside the parameter's allowed range and a reason. Errors are `CalibrationInputError`
(a `ParameterError`, so `bantar-sim calibrate` prints them cleanly and exits with code 2).

Summary statistics (calibration/README.md, "Targets and distance") come in three groups:

- ``city``: city-wide winners per year, 2015 to the last target year (2014, the pilot, is fixed at
  ``pilot_winners`` = 3 and carries no information about the calibrated parameters);
- ``wins``: cumulative winners per sub-district over the target years (11 values);
- ``proposals``: RTs that proposed at least once, per sub-district (11 values). Table 3 gives this for
  2014–2020 only, so a held-out calibration that stops before 2020 leaves this group out (it would leak
  the held-out years).
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from bantar_sim.model.data import SUBDISTRICTS, YEARS, table3
from bantar_sim.model.params import SPECS, ParameterError, check_value, make_params, read_toml

START_YEAR = YEARS[0]
GROUPS = ("city", "wins", "proposals")
PRIORS_FILE = Path(__file__).resolve().parents[3] / "calibration" / "priors.toml"


class CalibrationInputError(ParameterError):
    """A prior, target file or calibration option is not usable (raised before any simulation)."""


def _slug(name: str) -> str:
    return name.replace(" ", "_")


# ------------------------------------------------------------------------------------------ targets
@dataclass(frozen=True)
class Targets:
    """Observed Table 3 columns the calibration uses: winners per sub-district and year, proposals."""
    winners: pd.DataFrame        # index SUBDISTRICTS, columns YEARS (int)
    proposals: pd.Series         # RTs that proposed 2014–2020, per sub-district
    source: str                  # file path or "Table 3 (consistent)"
    sha256: str                  # of the file the numbers came from

    @property
    def city_winners(self) -> pd.Series:
        return self.winners.sum(axis=0)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def default_targets() -> Targets:
    """Table 3, internally consistent version (the yearly columns are identical in the published one)."""
    from bantar_sim.model.data import _data_path
    t3 = table3()
    return Targets(winners=t3.winners.loc[list(SUBDISTRICTS)].astype(float),
                   proposals=t3.consistent["rt_proposals"].loc[list(SUBDISTRICTS)].astype(float),
                   source="Table 3 (consistent version; bantar_sim/data/table3_published.csv)",
                   sha256=_sha256(_data_path("table3_published.csv")))


def load_targets(path: str | Path | None) -> Targets:
    """Targets from a CSV in Table 3's layout (subdistrict, rt_proposals, won_2014 … won_2020; other
    columns and an 'Amount' totals row are ignored). Missing sub-districts or years are errors."""
    if path is None:
        return default_targets()
    path = Path(path)
    where = f"--targets {path}"
    if not path.exists():
        raise CalibrationInputError(f"{where}: file not found")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
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


# ------------------------------------------------------------------------------ summary statistics
@dataclass(frozen=True)
class StatSpec:
    """Which statistics enter the distance: the target years, whether proposals are used, and whether the
    secondary patterns 3 and 4 enter as a fourth group (one statistic, their violation, observed as 0)."""
    last_year: int = YEARS[-1]
    patterns: bool = False

    def __post_init__(self):
        if not 2015 <= self.last_year <= YEARS[-1]:
            raise CalibrationInputError(f"--train-years must end in a year in [2015, {YEARS[-1]}], "
                                        f"got {self.last_year}")
        if self.patterns and self.last_year != YEARS[-1]:
            raise CalibrationInputError("the pattern statistics need runs to 2020: not with --train-years")

    @property
    def city_years(self) -> tuple[int, ...]:
        return tuple(range(START_YEAR + 1, self.last_year + 1))

    @property
    def use_proposals(self) -> bool:
        return self.last_year == YEARS[-1]

    def keys(self) -> list[str]:
        k = [f"city.{y}" for y in self.city_years]
        k += [f"wins.{_slug(s)}" for s in SUBDISTRICTS]
        if self.use_proposals:
            k += [f"proposals.{_slug(s)}" for s in SUBDISTRICTS]
        if self.patterns:
            k.append("pattern.violation")
        return k

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k in self.keys():
            out.setdefault(k.split(".")[0], []).append(k)
        return out

    def group_weights(self) -> dict[str, float]:
        """Fixed weight per statistic, 1/(statistics in its group): each group counts the same."""
        return {k: 1.0 / len(ks) for ks in self.groups().values() for k in ks}


def model_stats(model, spec: StatSpec) -> dict[str, float]:
    """The summary statistics of a finished model run, read from its yearly records."""
    rec, sd = model.rec, model.city.rt_subdistrict
    ny = spec.last_year - START_YEAR + 1
    won = rec["won"][:ny]
    out = {f"city.{y}": float(won[y - START_YEAR].sum()) for y in spec.city_years}
    wins = np.bincount(sd, won.sum(axis=0), minlength=len(SUBDISTRICTS))
    out.update({f"wins.{_slug(s)}": float(wins[i]) for i, s in enumerate(SUBDISTRICTS)})
    if spec.use_proposals:
        prop = np.bincount(sd, rec["proposed"][:ny].any(axis=0), minlength=len(SUBDISTRICTS))
        out.update({f"proposals.{_slug(s)}": float(prop[i]) for i, s in enumerate(SUBDISTRICTS)})
    if spec.patterns:
        from bantar_sim.studies.calibration.patterns import pattern_stats, violation
        out["pattern.violation"] = violation(pattern_stats(model))
    return out


def observed_stats(targets: Targets, spec: StatSpec, scale: float = 1.0) -> dict[str, float]:
    """Targets in the statistics' keys. At scale < 1 (tests) counts shrink with the simulated RTs."""
    from bantar_sim.model.city import rt_counts_at_scale
    ratio = pd.Series(rt_counts_at_scale(scale) / table3().rts.loc[list(SUBDISTRICTS)].to_numpy(),
                      index=list(SUBDISTRICTS))
    w = targets.winners.mul(ratio, axis=0)
    out = {f"city.{y}": float(w[y].sum()) for y in spec.city_years}
    cum = w[[y for y in YEARS if y <= spec.last_year]].sum(axis=1)
    out.update({f"wins.{_slug(s)}": float(cum[s]) for s in SUBDISTRICTS})
    if spec.use_proposals:
        out.update({f"proposals.{_slug(s)}": float(targets.proposals[s] * ratio[s]) for s in SUBDISTRICTS})
    if spec.patterns:
        out["pattern.violation"] = 0.0
    return out


# ----------------------------------------------------------------------------------------- priors
@dataclass(frozen=True)
class Prior:
    name: str
    low: float
    high: float
    reason: str

    @property
    def integer(self) -> bool:
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
    path: str
    sha256: str
    settings: dict[str, Any]          # fixed simulation settings (scale, households_per_rt, ...)
    priors: tuple[Prior, ...]         # the calibrated parameters of the baseline model
    variants: tuple[Variant, ...] = field(default_factory=tuple)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.priors]

    def baseline(self) -> Variant:
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
    """Joint constraints (e.g. lapse_threshold <= assessment_threshold) must hold across the prior box."""
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
    path = Path(path) if path else PRIORS_FILE
    where = str(path)
    data = read_toml(path, f"--prior {path}: file not found", CalibrationInputError)
    unknown = set(data) - {"settings", "params", "variants"}
    if unknown:
        raise CalibrationInputError(f"{where}: unknown tables {sorted(unknown)}; allowed: settings, params, variants")
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
            raise CalibrationInputError(f"{vw}: unknown keys {sorted(bad)}; allowed: description, settings, drop, params")
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
    return PriorFile(str(path), _sha256(path), settings, priors, tuple(variants))


def fingerprint(obj: Any) -> str:
    """Short hash of a JSON-able configuration (stored in the pyabc run to refuse a mismatched resume)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
