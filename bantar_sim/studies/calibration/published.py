"""Publishing a check's result into ``calibration/results/<name>/``: one copy step shared by every check.

Why: the checks of issue 15 (coverage, rolling-origin forecasts, the calibrated point across seeds) write
into their own result folders under ``outputs/`` (not committed, with every simulation). What the
repository states about them — calibration/README.md's results block, the ODD — must come from committed
files, made by the code's model version. :func:`publish_result` copies a finished study's small files into
the calibration folder all at once (:func:`bantar_sim.engine.outputs.output_folder`: the previous copy
stays if anything fails) and refuses an incomplete study or one made by another model version.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

from bantar_sim.engine.outputs import output_folder
from bantar_sim.model.version import MODEL_VERSION
from bantar_sim.studies.calibration.targets import CalibrationInputError


def publish_result(study: str | Path, calibration_folder: str | Path, name: str, files: Sequence[str],
                   meta_file: str, where: str, rerun: str) -> Path:
    """Copy ``files`` of a finished study into ``calibration_folder/results/<name>/`` (replaced as a whole).

    Parameters
    ----------
    study : str or Path
        The study's result folder.
    calibration_folder : str or Path
        The calibration folder (``calibration/``).
    name : str
        The published folder's name under ``results/``.
    files : sequence of str
        The files to copy (all must exist); ``meta_file`` among them.
    meta_file : str
        The JSON file holding the study's ``model_version``.
    where : str
        How the user named the step, for messages (``"sbc --publish FOLDER"``).
    rerun : str
        The command that remakes the study (``"make sbc"``), for the refusal message.

    Returns
    -------
    Path
        The published folder.

    Raises
    ------
    CalibrationInputError
        A file missing, the metadata unreadable, or the study made by another model version than the
        code's; nothing is written.
    OutputLockedError, OutputWriteError
        Another process publishes, or writing failed (the previous copy is kept).
    """
    study = Path(study)
    if not study.is_dir():
        raise CalibrationInputError(f"{where}: not a folder; allowed: a finished study's result folder")
    missing = [f for f in files if not (study / f).is_file()]
    if missing:
        raise CalibrationInputError(f"{where}: not a finished study: missing {', '.join(missing)}")
    try:
        version = json.loads((study / meta_file).read_text(encoding="utf-8")).get("model_version")
    except (ValueError, UnicodeDecodeError, OSError, AttributeError) as err:
        raise CalibrationInputError(f"{where}: {meta_file} unreadable: {err}") from None
    if version != MODEL_VERSION:
        raise CalibrationInputError(f"{where}: refused: the study ran on model version {version}, the code's is "
                                    f"{MODEL_VERSION}; rerun `{rerun}`")
    dest = Path(calibration_folder) / "results" / name
    with output_folder(dest, flag=f"calibration/results/{name}") as stage:
        for f in files:
            shutil.copyfile(study / f, stage / f)
    return dest


def stale_note(version: str, rerun: str) -> str:
    """'' when ``version`` is the code's model version, else a bold sentence saying the result is stale."""
    if version == MODEL_VERSION:
        return ""
    return f" **Made on model {version}, not the current {MODEL_VERSION}: stale until `{rerun}` is rerun.**"
