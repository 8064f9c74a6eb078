"""Making a calibration result the shipped calibrated set: an explicit step, never a side effect.

``bantar-sim calibrate`` writes into its own result folder (``outputs/calibration/<mode>/`` or ``--out``).
:func:`promote` (``bantar-sim calibrate --promote RESULT_FOLDER``) copies a default-mode result into the
project's ``calibration/`` folder, which ``bantar-sim run``, experiments and the app read. It refuses a
result that is not a complete default-mode calibration, and one in which no particle passes the
secondary patterns. The new ``calibrated.toml`` records what it replaced (``[promotion]``: the old
file's sha256 and model version, the result folder, the date). The whole folder is swapped in at once
(:func:`bantar_sim.engine.outputs.output_folder`), so a failure leaves the old set in place.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bantar_sim.engine.outputs import output_folder
from bantar_sim.model.version import MODEL_VERSION
from bantar_sim.studies.calibration.config import default_calibration_folder
from bantar_sim.studies.calibration.report import toml_value
from bantar_sim.studies.calibration.targets import CalibrationInputError
from bantar_sim.studies.inputs import ParameterSetError, read_calibrated
from bantar_sim.studies.posterior import PosteriorFileError, read_posterior

#: The files of the shipped set (calibration/README.md lists what each holds).
SHIPPED_FILES = ("calibrated.toml", "posterior.csv", "posterior_summary.csv", "patterns.csv", "fit_metrics.csv",
                 "calibration.json", "summary.txt", "fit_history.png", "posterior_pairs.png",
                 "predictive_city.png", "predictive_subdistrict.png")
#: Shipped when the result has them (stage 2's named sub-district effects; the fit of the calibrated set alone,
#: written since issue 15's method change); removed from the shipped set when the promoted result has none, so
#: that no file of an older calibration stays beside the new one.
OPTIONAL_FILES = ("subdistrict_effects.csv", "fit_metrics_point.csv", "point_pool.csv")


@dataclass(frozen=True)
class Promotion:
    """What :func:`promote` did.

    Attributes
    ----------
    result, dest : Path
        The result folder promoted and the calibration folder written.
    replaced_sha256, replaced_model_version : str or None
        The replaced ``calibrated.toml``'s sha256 and model version (None if there was none).
    particles_passing : int
        Particles of the result that pass the pattern filter.
    """

    result: Path
    dest: Path
    replaced_sha256: str | None
    replaced_model_version: str | None
    particles_passing: int

    def describe(self) -> str:
        """One line for the command's output."""
        old = (f"replaced calibrated.toml sha256 {self.replaced_sha256[:12]} (model {self.replaced_model_version})"
               if self.replaced_sha256 else "no calibrated.toml before")
        return (f"promoted {self.result} to {self.dest}/ ({self.particles_passing} particle(s) pass the patterns); "
                f"{old}")


def check_promotable(result: str | Path) -> tuple[dict, int]:
    """Check a result folder can become the shipped set.

    Returns
    -------
    (dict, int)
        Its calibrated.toml's ``[provenance]`` and the number of particles that pass the patterns.

    Raises
    ------
    CalibrationInputError
        Not a folder, files missing, a file unreadable, not a default-mode calibration, not checked against
        the patterns, or no particle passes them.
    """
    result = Path(result)
    where = f"--promote {result}"
    if not result.is_dir():
        raise CalibrationInputError(f"{where}: not a folder; allowed: a result folder of `bantar-sim calibrate`")
    missing = [f for f in SHIPPED_FILES if not (result / f).is_file()]
    if missing:
        raise CalibrationInputError(f"{where}: not a complete default-mode calibration result: missing "
                                    f"{', '.join(missing)}")
    try:
        read_calibrated(result / "calibrated.toml")
    except ParameterSetError as err:
        raise CalibrationInputError(f"{where}: {err}") from None
    prov = tomllib.loads((result / "calibrated.toml").read_text(encoding="utf-8"))["provenance"]
    if prov.get("mode", "calibrate") != "calibrate":
        raise CalibrationInputError(f"{where}: a '{prov.get('mode')}' result; only the default calibration "
                                    "can become the shipped set")
    passing = prov.get("particles_passing_patterns")
    if not isinstance(passing, int):
        raise CalibrationInputError(f"{where}: the result was not checked against the secondary patterns "
                                    "(--no-pattern-filter); run `bantar-sim calibrate --patterns-only --out "
                                    f"{result}` first")
    if passing < 1:
        raise CalibrationInputError(f"{where}: refused: no particle passes the secondary patterns (0 of the "
                                    "posterior); the shipped set is unchanged")
    if prov.get("point_passes_patterns") is False:
        raise CalibrationInputError(f"{where}: refused: the calibrated point does not show the secondary patterns "
                                    "when re-simulated; the shipped set is unchanged")
    try:
        read_posterior(result / "posterior.csv")
    except (PosteriorFileError, ValueError, OSError) as err:
        raise CalibrationInputError(f"{where}: posterior.csv cannot be drawn from: {err}") from None
    return prov, passing


def promote(result: str | Path, dest: str | Path | None = None) -> Promotion:
    """Make a calibration result the shipped calibrated set.

    Parameters
    ----------
    result : str or Path
        A result folder written by :func:`~bantar_sim.studies.calibration.run_calibration` (default mode).
    dest : str or Path, optional
        The calibration folder to write (default: the project's ``calibration/``, found from the working
        directory).

    Returns
    -------
    Promotion

    Raises
    ------
    CalibrationInputError
        The result cannot be promoted (see :func:`check_promotable`); nothing is written.
    """
    result = Path(result)
    _, passing = check_promotable(result)
    dest = Path(dest) if dest is not None else default_calibration_folder()
    old_path = dest / "calibrated.toml"
    old_sha = old_version = None
    if old_path.is_file():
        raw = old_path.read_bytes()
        old_sha = hashlib.sha256(raw).hexdigest()
        try:
            old_version = str(tomllib.loads(raw.decode("utf-8")).get("provenance", {}).get("model_version",
                                                                                           "unrecorded"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError):
            old_version = "unreadable"
    text = (result / "calibrated.toml").read_text(encoding="utf-8")
    promotion = {"promoted_from": str(result.absolute()),
                 "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                 "promoted_on_model_version": MODEL_VERSION,
                 "replaced_sha256": old_sha or "none", "replaced_model_version": old_version or "none"}
    text += "\n[promotion]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in promotion.items())
    with output_folder(dest, flag="calibration folder") as stage:
        if dest.is_dir():
            shutil.copytree(dest, stage, dirs_exist_ok=True, symlinks=True)
        for name in SHIPPED_FILES[1:]:
            shutil.copy2(result / name, stage / name)
        for name in OPTIONAL_FILES:
            if (result / name).is_file():
                shutil.copy2(result / name, stage / name)
            else:
                (stage / name).unlink(missing_ok=True)
        (stage / "calibrated.toml").write_text(text, encoding="utf-8")
        read_calibrated(stage / "calibrated.toml")
    return Promotion(result, dest, old_sha, old_version, passing)
