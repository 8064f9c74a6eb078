"""Which parameter set a study runs on, found from the working directory or given explicitly.

The shipped calibrated set is ``calibration/calibrated.toml`` of the project folder. A study looks for it
in the working directory and its parents (so commands work from anywhere inside a clone, and an
installed package works in any folder that holds a ``calibration/``), or takes a path given explicitly.
It never reads files through the package's own location, so a non-editable install behaves the same.

A calibrated set must be complete: a ``[params]`` table and a ``[provenance]`` table that records the
model version it was made on and the names of the calibrated parameters, each of which ``[params]``
sets. A missing, partial or malformed file is an error naming the file and what is wrong; the
status-quo defaults are used only when asked for explicitly (``uncalibrated=True``).
"""
from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bantar_sim.model.params import ParameterError, make_params

CALIBRATED_RELATIVE = Path("calibration") / "calibrated.toml"
POSTERIOR_RELATIVE = Path("calibration") / "posterior.csv"
PRIORS_RELATIVE = Path("calibration") / "priors.toml"


class ParameterSetError(ParameterError):
    """The calibrated parameter set is missing, partial or malformed."""


def project_file(relative: Path, start: str | Path | None = None) -> Path | None:
    """The first ``<folder>/<relative>`` that exists, from ``start`` (default: the working directory) upwards."""
    here = Path(start or Path.cwd()).absolute()
    for folder in (here, *here.parents):
        if (folder / relative).is_file():
            return folder / relative
    return None


def default_calibrated_path(start: str | Path | None = None) -> Path:
    """The shipped calibrated set's path, or a :class:`ParameterSetError` saying where it was looked for."""
    found = project_file(CALIBRATED_RELATIVE, start)
    if found is None:
        here = Path(start or Path.cwd()).absolute()
        raise ParameterSetError(
            f"no calibrated parameter set: {CALIBRATED_RELATIVE} not found in {here} or its parents; run from "
            "the project folder, give the file explicitly (--calibrated FILE), or ask for the status-quo "
            "defaults (--uncalibrated)")
    return found


def default_posterior_path(start: str | Path | None = None) -> Path:
    """``calibration/posterior.csv`` of the project folder (the path may not exist: readers say so)."""
    return project_file(POSTERIOR_RELATIVE, start) or Path.cwd() / POSTERIOR_RELATIVE


def default_priors_path(start: str | Path | None = None) -> Path:
    """``calibration/priors.toml`` of the project folder (the path may not exist: readers say so)."""
    return project_file(PRIORS_RELATIVE, start) or Path.cwd() / PRIORS_RELATIVE


@dataclass(frozen=True)
class ParameterSet:
    """A named parameter set and where it came from, as outputs record it.

    Attributes
    ----------
    name : str
        ``"calibrated"`` or ``"status-quo defaults"``.
    params : dict
        The parameter overrides (validated).
    path, sha256, model_version :
        The file, its sha256 and the model version it was made on (None for the defaults).
    calibrated : tuple of str
        The names of the calibrated parameters.
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    sha256: str | None = None
    model_version: str | None = None
    calibrated: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for printed headers and summaries."""
        if self.path is None:
            return "parameter set: status-quo defaults (no calibration; asked for with --uncalibrated)"
        return (f"parameter set: calibrated, {self.path} (sha256 {self.sha256[:12]}, made on model "
                f"{self.model_version})")

    def provenance(self) -> dict[str, Any]:
        """What outputs record about the set (JSON-ready)."""
        return {"name": self.name, "path": str(self.path) if self.path else None, "sha256": self.sha256,
                "model_version": self.model_version, "calibrated_parameters": list(self.calibrated)}


STATUS_QUO = ParameterSet("status-quo defaults")


def read_calibrated(path: str | Path) -> ParameterSet:
    """Read and check a calibrated set file.

    Raises
    ------
    ParameterSetError
        Not a file, not UTF-8 TOML, no ``[params]``/``[provenance]``, no recorded model version or
        calibrated parameter names, a calibrated parameter missing from ``[params]``, or a value out of range.
    """
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise ParameterSetError(f"{where}: calibrated parameter set not found (not a file)")
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ParameterSetError(f"{where}: not a UTF-8 text file; allowed: a TOML file with [params] and "
                                "[provenance] tables") from None
    except tomllib.TOMLDecodeError as err:
        raise ParameterSetError(f"{where}: not valid TOML: {err}") from None
    params, prov = data.get("params"), data.get("provenance")
    if not isinstance(params, dict) or not params:
        raise ParameterSetError(f"{where}: no [params] table (or it is empty); a calibrated set needs the "
                                "calibrated parameters under [params]")
    if not isinstance(prov, dict):
        raise ParameterSetError(f"{where}: no [provenance] table; a calibrated set records the model version "
                                "and the calibrated parameters it was made with")
    names = prov.get("calibrated_parameters")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ParameterSetError(f"{where}: [provenance] calibrated_parameters must be a non-empty list of "
                                "parameter names")
    missing = [n for n in names if n not in params]
    if missing:
        raise ParameterSetError(f"{where}: partial calibrated set: [params] lacks {', '.join(missing)} "
                                f"(calibrated_parameters lists {len(names)})")
    version = prov.get("model_version")
    if not isinstance(version, str) or not version:
        raise ParameterSetError(f"{where}: [provenance] model_version must name the model version the set "
                                "was calibrated on")
    nested = [k for k, v in params.items() if isinstance(v, dict)]
    if nested:
        raise ParameterSetError(f"{where}: [params] holds tables ({', '.join(nested)}); allowed: parameter = value")
    make_params(params, where=f"{where} [params]")
    return ParameterSet("calibrated", dict(params), path, hashlib.sha256(raw).hexdigest(), version, tuple(names))


def resolve_parameter_set(path: str | Path | None = None, *, uncalibrated: bool = False) -> ParameterSet:
    """The parameter set a study starts from: the status-quo defaults if asked, else the calibrated set.

    Parameters
    ----------
    path : str or Path, optional
        An explicit calibrated set file; default: ``calibration/calibrated.toml`` found from the working
        directory upwards.
    uncalibrated : bool
        Use the status-quo defaults of the parameter table instead (``path`` must then be None).
    """
    if uncalibrated:
        if path is not None:
            raise ParameterSetError("--uncalibrated and --calibrated FILE exclude each other; give one")
        return STATUS_QUO
    return read_calibrated(path if path is not None else default_calibrated_path())
