"""The app's controls: which parameters a class can set, their ranges, help texts and exact start values.

Why not plain sliders with a step: a slider snaps its value to its step grid, so a calibrated value such as
3.1002 would become 3.0 on the first touch, and Mesa's Reset rebuilt the model from the snapped value — a
run different from the one shown at page load. Here every numeric control is a slider over an explicit list
of values (:func:`slider_values`): the step grid plus the start value (the calibrated one) exactly, so an
untouched control gives back the exact value and Reset with untouched controls reproduces the first run.

The parameter set under the controls (calibration/calibrated.toml, or the status-quo defaults with
``bantar-sim viz --uncalibrated``) is read once when the module is imported (the CLI passes its choice
through the environment).
"""
from __future__ import annotations

import os

import numpy as np

from bantar_sim.model.model import BantarModel
from bantar_sim.model.params import SPECS, ParameterError, check_value
from bantar_sim.studies.inputs import resolve_parameter_set
from bantar_sim.studies.teaching import APP_DEFAULTS, PRESETS, SEED

# `bantar-sim viz --preset/--seed` (validated there) pass the starting city and seed through the environment.
DEFAULT_PRESET = os.environ.get("BANTAR_VIZ_PRESET", "classroom")
DEFAULT_PRESET = DEFAULT_PRESET if DEFAULT_PRESET in PRESETS else "classroom"
DEFAULT_SEED = os.environ.get("BANTAR_VIZ_SEED", str(SEED))
DEFAULT_SEED = DEFAULT_SEED if DEFAULT_SEED.isdigit() else str(SEED)
# `bantar-sim viz --uncalibrated`: start from the status-quo defaults even if a calibrated set exists.
USE_CALIBRATED = os.environ.get("BANTAR_VIZ_UNCALIBRATED") != "1"
PARAMETER_SET = resolve_parameter_set(os.environ.get("BANTAR_VIZ_CALIBRATED") or None,
                                      uncalibrated=not USE_CALIBRATED)

# (parameter, label, slider min, slider max, step, one-line help for students). Ranges lie inside SPECS'
# allowed ranges; a few are narrowed to the part that is useful in class. Booleans become switches,
# strings a select.
CONTROLS = [
    ("end_year", "last simulated year", 2014, 2035, 1, "The run stops after December of this year."),
    ("policy_start_year", "policy levers start (year)", 2014, 2035, 1,
     "The year the levers below (Kencana … dissemination) are switched on."),
    ("kencana", "Kencana tier (needs an RJ house)", None, None, None,
     "A higher award for a few Bantar RTs that build a Restorative Justice house."),
    ("kencana_per_year", "Kencana awards a year (whole city)", 0, 100, 1,
     "Kencana awards the city makes a year; the classroom city (a tenth of Jambi) gets a tenth."),
    ("adoption", "adoption: RTs learn from a Bantar RT", None, None, None,
     "RTs not yet Bantar take a practising Bantar RT of their sub-district as their example."),
    ("monitoring", "participatory monitoring", 0.0, 1.0, 0.05,
     "Residents check awarded RTs: a label kept without practice is found out more often."),
    ("informal_engagement", "engage religious & traditional leaders", 0.0, 1.0, 0.05,
     "How far the programme wins over R and T leaders, who pull their neighbours in."),
    ("youth_regeneration", "youth regeneration", 0.0, 1.0, 0.05,
     "Makes youth leaders (Y) more engaged; young households follow them."),
    ("dissemination_campaign", "dissemination campaign (per month)", 0.0, 0.2, 0.01,
     "Monthly chance that a household not yet aware hears of the programme."),
    ("reward_fund", "reward per award (million IDR)", 0.0, 100.0, 5.0,
     "The money an awarded RT receives for its facilities."),
    ("reward_mode", "reward paid", None, None, None,
     "one_off: all at once; staged: in tranches that continue only while the RT practises."),
    ("social_influence", "social influence of neighbours", 0.0, 12.0, 0.5,
     "How strongly a household follows its neighbours (the weight of their choice in its own)."),
    ("leader_mobilisation", "RT head mobilisation", 0.0, 6.0, 0.25,
     "How strongly the RT head's organising pushes households to take part."),
    ("post_award_waning", "motivation wanes after the assessment", None, None, None,
     "Off: the lift from the campaign and the award never fades."),
    ("waning_half_life", "waning half-life (months)", 1.0, 60.0, 1.0,
     "Months for an RT's lift from the campaign or award to halve."),
    ("assessment_threshold", "assessment standard (mean score)", 0.0, 1.0, 0.05,
     "The mean Clean/Safe/Smart score an RT needs to be awarded."),
    ("practice_standard", "practising: share of households at least", 0.0, 1.0, 0.05,
     "An RT practises if at least this share of its households took part over 12 months."),
]
HELP = {name: text for name, *_, text in CONTROLS}
HELP.update({"preset": "classroom: 162 RTs (10% of each sub-district's); full: all 1,627 RTs.",
             "seed": "The same seed and settings give the same run; change it to see chance at work."})
PRESET_LABELS = {"classroom": "classroom (162 RTs)", "full": "full city (1,627 RTs)"}


def base_overrides() -> dict:
    """The parameter set under the app's controls: calibration/calibrated.toml's, unless --uncalibrated."""
    return dict(PARAMETER_SET.params)


def default_values(overrides: dict | None = None) -> dict:
    """The controls' start values: the parameter set's exact values (not snapped), the app defaults, overrides."""
    base = {name: SPECS[name].default for name, *_ in CONTROLS}
    base.update({k: v for k, v in base_overrides().items() if k in base})
    base.update(APP_DEFAULTS)
    base.update(overrides or {})
    return base


def start_settings(preset: str = DEFAULT_PRESET, seed: str = DEFAULT_SEED) -> dict:
    """Everything the sidebar holds at page load: preset, seed and every control's exact start value."""
    return {"preset": preset, "seed": str(seed), **default_values()}


def slider_values(name: str, lo: float, hi: float, step: float, start) -> list:
    """The values a slider offers: its step grid from lo to hi, plus `start` exactly (a calibrated value).

    Raises
    ------
    ParameterError
        A bound the model would reject (a slider must never offer an invalid value).
    """
    for bound in (lo, hi):
        check_value(name, bound, "app slider range")
    n = int(round((hi - lo) / step))
    grid = [lo + k * step for k in range(n + 1)]
    if SPECS[name].kind is int:
        grid = [int(round(g)) for g in grid]
    else:
        grid = [round(g, 10) for g in grid]
    if start is not None and lo <= start <= hi and not any(abs(g - start) < 1e-12 for g in grid):
        grid.append(start)
    return sorted(grid)


def numeric_controls(start: dict) -> dict[str, list]:
    """Each numeric control's list of values, holding its start value exactly."""
    return {name: slider_values(name, lo, hi, step, start.get(name))
            for name, _, lo, hi, step, _ in CONTROLS if lo is not None}


def show_value(value) -> str:
    """A control's value as students read it: grid values plainly, off-grid (calibrated) ones to 3 decimals."""
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if isinstance(value, int | np.integer):
        return f"{int(value)}"
    v = float(value)
    return f"{v:g}" if abs(v - round(v, 2)) < 1e-9 else f"{v:.3f}"


def resolve(preset, seed, params: dict) -> dict:
    """Keyword arguments for BantarModel from the app's controls, validated (ParameterError if not)."""
    if preset not in PRESETS:
        raise ParameterError(f"city preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    try:
        rng = int(str(seed).strip())
    except ValueError:
        raise ParameterError(f"random seed must be a whole number >= 0, got {seed!r}") from None
    if rng < 0:
        raise ParameterError(f"random seed must be a whole number >= 0, got {rng}")
    kwargs = {k: v for k, v in base_overrides().items() if k not in PRESETS[preset]}
    kwargs.update({name: check_value(name, value, "app") for name, value in params.items()})
    kwargs.update(PRESETS[preset])
    return {"rng": rng, **kwargs}


class AppModel(BantarModel):
    """BantarModel as the app builds it: a preset and a seed, and a clear message instead of a crash.

    A combination the model rejects (e.g. assessment_threshold above kencana_threshold) must not end in a
    stack trace: the model is rebuilt with the last accepted settings of this browser session and
    `rejected` says what was wrong. `session_class()` makes one subclass per session, so sessions never share
    their last settings.
    """

    last_accepted: dict | None = None
    builds = 0          # models built in this session: the page shows it, so a test can see a Reset land

    def __init__(self, preset: str = DEFAULT_PRESET, seed: str | int = DEFAULT_SEED, **params):
        self.rejected = None
        try:
            kwargs = resolve(preset, seed, params)
            BantarModel.__init__(self, **kwargs)      # validates before building anything
            type(self).last_accepted = {"preset": preset, "seed": seed, **params}
        except ParameterError as err:
            fallback = type(self).last_accepted or start_settings()
            fb = dict(fallback)
            kwargs = resolve(fb.pop("preset"), fb.pop("seed"), fb)
            BantarModel.__init__(self, **kwargs)
            self.rejected = str(err)
            preset, seed, params = fallback["preset"], fallback["seed"], fb   # what this model really runs
        self.preset = preset
        self.seed_used = kwargs["rng"]
        self.calibrated = PARAMETER_SET.sha256 is not None
        self.settings = {"preset": preset, "seed": str(seed), **params}
        type(self).builds += 1
        self.build = type(self).builds


def session_class() -> type:
    """Make a fresh AppModel subclass for one browser session, so sessions never share their last settings.

    Returns
    -------
    type
        A subclass of :class:`AppModel` with its own ``last_accepted`` and ``builds`` counters.
    """
    return type("AppModel", (AppModel,), {"last_accepted": None, "builds": 0})


def parameter_set_label(model) -> str:
    """Which parameter set runs, and whether the controls still hold its exact values (honest labels)."""
    start = default_values()
    changed = [n for n, *_ in CONTROLS if n in model.settings and model.settings[n] != start[n]]
    basis = "calibrated parameters" if model.calibrated else "status-quo default parameters"
    if not changed:
        return basis
    return basis + " changed: " + ", ".join(f"{n} {show_value(model.settings[n])}" for n in changed)
