"""Model parameters: the table (`SPECS`, kept in `bantar_sim.model.specs`), validation and parameter files.

The table is the single source for validation (clear errors before any work starts), for the
Solara sliders, for experiment/calibration/sensitivity files and for the parameter table in
docs/ODD.md (`python -m bantar_sim.model.params` prints it; a test checks the ODD lists every name).
"""
from __future__ import annotations

import difflib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, make_dataclass
from pathlib import Path
from typing import Any

from bantar_sim.model.specs import SPECS, START_YEAR, Spec

__all__ = ["SPECS", "START_YEAR", "Spec", "BantarParams", "ParameterError", "check_value", "did_you_mean",
           "load_param_file", "make_params", "markdown_table", "read_toml", "PARAM_FILE_TABLES"]


class ParameterError(ValueError):
    """A parameter name, type or value is not allowed; the message names the parameter and its range."""


def _describe(name: str, spec: Spec) -> str:
    """The allowed values of `spec` in words, for error messages."""
    if spec.kind is bool:
        return "true or false"
    if spec.kind is str:
        return "one of " + ", ".join(repr(c) for c in spec.choices)
    kind = "an integer" if spec.kind is int else "a number"
    return f"{kind} in [{spec.low}, {spec.high}]"


def did_you_mean(key: str, allowed, quoted: bool = True) -> str:
    """A "did you mean" hint for a mistyped name: the parameter, experiment and posterior-file errors share it.

    Parameters
    ----------
    key : str
        The name as typed.
    allowed : iterable of str
        The names that would have been accepted.
    quoted : bool
        Quote the suggestions (`'a'`) or not.

    Returns
    -------
    str
        `" (did you mean 'a', 'b'?)"` for up to three close names, or "" if none is close.
    """
    close = difflib.get_close_matches(key, list(allowed), n=3)
    return f" (did you mean {', '.join(repr(c) if quoted else c for c in close)}?)" if close else ""


def check_value(name: str, value: Any, where: str = "") -> Any:
    """Validate one parameter value against SPECS and coerce it to the parameter's kind.

    Every input path (keywords, TOML and JSON files, the app, study files) goes through here, so a bad
    value is refused before any simulation starts, with the parameter and its range named.

    Parameters
    ----------
    name : str
        Parameter name.
    value : Any
        Value to check (a whole float is accepted for an int parameter; numpy scalars are accepted).
    where : str
        Prefix for the error message, e.g. the file being read.

    Returns
    -------
    Any
        The value as float, int, bool or str.

    Raises
    ------
    ParameterError
        Unknown name (with a "did you mean"), wrong type, value out of range or not among the choices.
    """
    prefix = f"{where}: " if where else ""
    if name not in SPECS:
        raise ParameterError(f"{prefix}unknown parameter '{name}'{did_you_mean(name, SPECS, quoted=False)}; "
                             "see `python -m bantar_sim.model.params` for the list")
    spec = SPECS[name]
    allowed = _describe(name, spec)
    if spec.kind is bool:
        if isinstance(value, bool):
            return value
        if type(value).__name__ == "bool_":
            return bool(value)
        raise ParameterError(f"{prefix}parameter '{name}' must be {allowed}, got {value!r}")
    if spec.kind is str:
        if not isinstance(value, str) or value not in spec.choices:
            raise ParameterError(f"{prefix}parameter '{name}' must be {allowed}, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise ParameterError(f"{prefix}parameter '{name}' must be {allowed}, got {value!r} ({type(value).__name__})")
    if isinstance(value, str):
        raise ParameterError(f"{prefix}parameter '{name}' must be {allowed}, got {value!r} (str)")
    fval = float(value)
    if spec.kind is int:
        if fval != int(fval):
            raise ParameterError(f"{prefix}parameter '{name}' must be {allowed}, got {value!r} (not whole)")
        value = int(fval)
    else:
        value = fval
    if fval != fval or (spec.low is not None and fval < spec.low) or (spec.high is not None and fval > spec.high):
        raise ParameterError(f"{prefix}parameter '{name}' = {value!r} is out of range: must be {allowed}")
    return value


def _build_params_class():
    return make_dataclass("BantarParams", [(n, s.kind, s.default) for n, s in SPECS.items()], frozen=True)


BantarParams = _build_params_class()
BantarParams.__doc__ = ("Validated, immutable parameter set of one model run: one field per entry of "
                        "bantar_sim.model.params.SPECS (build it with make_params).")


def make_params(overrides: Mapping[str, Any] | None = None, *, base: Any = None, where: str = "") -> Any:
    """A validated, immutable parameter set: `overrides` on top of `base` (or of the SPECS defaults).

    Immutable so that a run's parameters cannot change under it; the joint constraints (age shares,
    lapse below assessment threshold, even ring degree) are checked here as well as each value.

    Parameters
    ----------
    overrides : mapping, optional
        Parameter name -> value.
    base : BantarParams, optional
        Starting set (default: the SPECS defaults).
    where : str
        Prefix for error messages (e.g. the file the overrides came from).

    Returns
    -------
    BantarParams
        The full parameter set.

    Raises
    ------
    ParameterError
        A value or a combination of values is not allowed.
    """
    values = asdict(base) if base is not None else {n: s.default for n, s in SPECS.items()}
    for name, value in (overrides or {}).items():
        values[name] = check_value(name, value, where)
    _check_joint(values, where)
    return BantarParams(**values)


def _check_joint(v: dict, where: str) -> None:
    """Constraints between parameters that a single range cannot express."""
    prefix = f"{where}: " if where else ""
    if v["youth_share"] + v["elder_share"] > 1:
        raise ParameterError(f"{prefix}youth_share + elder_share = {v['youth_share'] + v['elder_share']:.3g} "
                             "must be at most 1")
    if v["kencana_threshold"] < v["assessment_threshold"]:
        raise ParameterError(f"{prefix}kencana_threshold ({v['kencana_threshold']}) must not be below "
                             f"assessment_threshold ({v['assessment_threshold']}): Kencana is the higher tier")
    if v["policy_end_year"] < v["policy_start_year"]:
        raise ParameterError(f"{prefix}policy_end_year ({v['policy_end_year']}) must not be before policy_start_year "
                             f"({v['policy_start_year']}): allowed policy_end_year in [policy_start_year, 2100]")
    if v["ring_degree"] % 2:
        raise ParameterError(f"{prefix}parameter 'ring_degree' must be an even integer in [2, 30], "
                             f"got {v['ring_degree']}")


def read_toml(path: Path, missing: str, error: type[ParameterError] = ParameterError) -> dict:
    """Read a TOML input file, with errors that name the file (experiment, sensitivity and priors files).

    Parameters
    ----------
    path : Path
        The file.
    missing : str
        Message raised if `path` is not a file.
    error : type of ParameterError
        Exception class to raise (each study has its own subclass).

    Returns
    -------
    dict
        The parsed TOML table.

    Raises
    ------
    ParameterError
        (or `error`) The file is missing, is not UTF-8 or is not valid TOML.
    """
    if not path.is_file():
        raise error(missing)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise error(f"{path}: not valid TOML: {err}") from None
    except UnicodeDecodeError as err:
        raise error(f"{path}: not a UTF-8 text file: {err}") from None


# Tables a parameter file may hold: the parameters, and a [provenance] note (ignored), as calibrated.toml has.
PARAM_FILE_TABLES = ("params", "provenance")


def load_param_file(path: str | Path, where: str | None = None) -> dict:
    """Read parameter overrides from a TOML or JSON file, strictly, and validate them before any run.

    Allowed: parameters at the top level, or under a ``[params]`` table (JSON: an object, or
    ``{"params": {...}}``); a ``[provenance]`` table is ignored. An empty file, a binary file, a folder,
    an unknown table, a nested value, or a parameter both at top level and under ``[params]`` is an error
    naming the file (nothing is silently ignored).

    Parameters
    ----------
    path : str or Path
        The file; JSON if its suffix is ``.json``, else TOML.
    where : str, optional
        How the user named the file, for messages (e.g. ``"--params FILE"``; default: the path).

    Returns
    -------
    dict
        Parameter name -> value as written in the file.

    Raises
    ------
    ParameterError
        Naming the file and what is allowed.
    """
    path = Path(path)
    where = where or str(path)
    allowed = ("allowed: a TOML file with parameters under [params] (or at top level), or a JSON object of "
               "parameters")
    if path.is_dir():
        raise ParameterError(f"{where}: is a folder; {allowed}")
    if not path.is_file():
        raise ParameterError(f"{where}: parameter file not found")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ParameterError(f"{where}: cannot be read ({err.strerror}); {allowed}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ParameterError(f"{where}: not a text file (not UTF-8); {allowed}") from None
    if "\x00" in text:
        raise ParameterError(f"{where}: a binary file (NUL bytes); {allowed}")
    is_json = path.suffix.lower() == ".json"
    try:
        data = json.loads(text) if is_json else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise ParameterError(f"{where}: not valid {'JSON' if is_json else 'TOML'}: {' '.join(str(err).split())}") \
            from None
    if not isinstance(data, dict):
        raise ParameterError(f"{where}: holds a {type(data).__name__}; {allowed}")
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    unknown = [k for k in tables if k not in PARAM_FILE_TABLES]
    if unknown:
        hint = did_you_mean(unknown[0], PARAM_FILE_TABLES)
        raise ParameterError(f"{where}: unknown table [{unknown[0]}]{hint}; {allowed} (a [provenance] table is "
                             "ignored)")
    top = {k: v for k, v in data.items() if not isinstance(v, dict)}
    params = dict(tables.get("params", {}))
    both = [k for k in top if k in params]
    if both:
        raise ParameterError(f"{where}: parameter '{both[0]}' is set twice, at top level and under [params]")
    params.update(top)
    if not params:
        raise ParameterError(f"{where}: sets no parameter (empty file or empty [params]); {allowed}")
    nested = [k for k, v in params.items() if isinstance(v, (dict, list))]
    if nested:
        raise ParameterError(f"{where}: '{nested[0]}' must be a single value; {allowed}")
    make_params(params, where=where)
    return params


def markdown_table() -> str:
    """The parameter table of docs/ODD.md, generated from SPECS so the ODD cannot drift from the code.

    Returns
    -------
    str
        A Markdown table, one row per parameter (name, group, default, range, unit, source, meaning).
    """
    lines = ["| parameter | group | default | range | unit | source | meaning |", "|---|---|---|---|---|---|---|"]
    for name, s in SPECS.items():
        rng = (" / ".join(s.choices) if s.kind is str else "true / false" if s.kind is bool
               else f"[{s.low}, {s.high}]")
        default = str(s.default).lower() if s.kind is bool else s.default
        lines.append(f"| `{name}` | {s.group} | {default} | {rng} | {s.unit} | {s.source} | {s.doc} |")
    return "\n".join(lines)


def _replace_block(text: str, name: str, content: str) -> str:
    start = text.index(f"<!-- {name}")
    start = text.index("\n", start) + 1
    end = text.index(f"<!-- end of {name} -->")
    return text[:start] + content + "\n" + text[end:]


def update_odd(path: str | Path) -> None:
    """Rewrite the generated blocks of an ODD file (``docs/ODD.md``): the parameter and the metric table.

    Both are generated from the code (:data:`SPECS`, :data:`bantar_sim.model.metrics.METRICS`) so the
    description cannot drift from the model; ``tests/test_docs.py`` fails when a block is stale.
    """
    from bantar_sim.model.metrics import metrics_markdown
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    text = _replace_block(text, "parameter table", markdown_table())
    text = _replace_block(text, "metric table", metrics_markdown())
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    import sys
    if "--update-odd" in sys.argv:
        update_odd("docs/ODD.md")
    else:
        print(markdown_table())
