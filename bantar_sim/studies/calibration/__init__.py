"""The calibration study: ABC-SMC (pyabc) against Table 3 plus secondary patterns.

Rooms: :mod:`.targets` (targets and priors files), :mod:`.stats` (statistics from a run's tables, the
pattern criteria), :mod:`.config` (:class:`CalibrationConfig`), :mod:`.abc` (the pyabc run),
:mod:`.patterns` (the pattern filter), :mod:`.predictive` (posterior tables and predictive check),
:mod:`.report` (figures, calibrated-set TOML, summary), :mod:`.workflow` (:func:`run_calibration`,
:func:`sample_posterior`), :mod:`.promote` (:func:`promote`: a result becomes the shipped set),
:mod:`.named_effects` (stage 2 of a two-stage calibration: named per-unit effects with the globals fixed).
"""
from bantar_sim.studies.calibration.abc import CalibrationUnfinishedError
from bantar_sim.studies.calibration.compare import CompareConfig, CompareResult, compare_models
from bantar_sim.studies.calibration.config import CalibrationConfig
from bantar_sim.studies.calibration.promote import Promotion, promote
from bantar_sim.studies.calibration.targets import CalibrationInputError
from bantar_sim.studies.calibration.workflow import CalibrationResult, run_calibration, sample_posterior

__all__ = ["CalibrationConfig", "CalibrationResult", "CalibrationInputError", "CalibrationUnfinishedError",
           "CompareConfig", "CompareResult", "Promotion", "compare_models", "promote", "run_calibration",
           "sample_posterior"]
