"""One model run as a task: what a run computes (parameters, seed, which tables to keep) and the one
function that computes it.

:class:`RunTask` is the unit of work of the batch engine (:func:`bantar_sim.engine.batch.run_batch`) and
is content-addressed: :meth:`RunTask.run_id` hashes its parameters, seed, tags, kept tables and the model
version, so the same task is stored once and found again on a rerun. :func:`run_model` is the one place
that builds and runs a :class:`~bantar_sim.model.model.BantarModel`; every study calls it (directly or
through :func:`run_task`).

Which tables a run keeps is the task's ``tables`` field, never a parameter: it does not enter the model's
parameter set (``RunTask.params``), though it is part of the run id because it changes what is stored.
"""
from __future__ import annotations

import hashlib
import json
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bantar_sim.model.model import BantarModel
from bantar_sim.model.tables import model_tables

__all__ = [
    "DEFAULT_TABLES",
    "SEED_MAX",
    "RunTask",
    "TaskValidationError",
    "run_model",
    "run_task",
    "seed_from",
    "spawn_seeds",
    "canonical_json",
]

# Tables a run keeps by default; "rt_year" (one row per RT and year) is large and opt-in.
DEFAULT_TABLES: tuple[str, ...] = ("city_year", "subdistrict_year", "metrics")
SEED_MAX = 2**64  # seeds are ints in [0, 2**64)
TABLE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
RESERVED_TABLES = frozenset({"manifest"})  # a folder of the batch store, not a table
RESERVED_COLUMNS = frozenset({"run_id"})  # the column the batch engine adds to every stored table


class TaskValidationError(ValueError, TypeError):
    """A task definition is invalid (raised before any run starts)."""


# --- validation --------------------------------------------------------------------------------
_JSON_HINT = "allowed: dict with str keys, list/tuple, str, int, finite float, bool, None"


def _where(root: str, path: tuple) -> str:
    return root + "".join(f"[{k!r}]" for k in path)


def _check_json(value: Any, root: str, path: tuple = ()) -> None:
    """Raise TaskValidationError naming the path of the first value JSON cannot represent exactly."""
    t = type(value)
    if t is str or t is int or t is bool or value is None:  # fast path for the common scalars
        return
    if t is float or isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            raise TaskValidationError(
                f"{_where(root, path)} = {value!r} is not JSON-serialisable (non-finite float; {_JSON_HINT})")
        return
    if len(path) > 64:
        raise TaskValidationError(f"{_where(root, path)} is nested more than 64 levels deep")
    if isinstance(value, Mapping):
        for k, v in value.items():
            if type(k) is not str:
                raise TaskValidationError(
                    f"{_where(root, path)} has a key {k!r} of type {type(k).__name__}; keys must be str ({_JSON_HINT})"
                )
            _check_json(v, root, path + (k,))
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_json(v, root, path + (i,))
        return
    if isinstance(value, (str, bool, np.bool_)) or (isinstance(value, numbers.Integral)):
        return
    raise TaskValidationError(
        f"{_where(root, path)} = {value!r} of type {type(value).__name__} is not JSON-serialisable ({_JSON_HINT})"
    )


def json_default(o: Any) -> Any:
    """``json.dumps`` fallback: numpy scalars as Python scalars, mappings as dicts."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Mapping):
        return dict(o)
    raise TypeError(f"{type(o).__name__} is not JSON-serialisable")


def canonical_json(obj: Any) -> str:
    """The canonical JSON text of ``obj`` (sorted keys, no spaces, ASCII): what run ids hash.

    Parameters
    ----------
    obj : Any
        JSON-serialisable data (numpy scalars allowed).

    Returns
    -------
    str
        The same text for equal data, whatever the key order.
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False,
                      default=json_default)


def _normalise_seed(seed: Any) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TaskValidationError(
            f"RunTask.seed must be an int in [0, 2**64), got {seed!r} of type {type(seed).__name__}"
        )
    s = int(seed)
    if not 0 <= s < SEED_MAX:
        raise TaskValidationError(f"RunTask.seed must be an int in [0, 2**64), got {s}")
    return s


def _normalise_tables(tables: Any) -> tuple[str, ...]:
    if isinstance(tables, str) or not isinstance(tables, Sequence):
        raise TaskValidationError(
            f"RunTask.tables must be a sequence of table names such as {DEFAULT_TABLES}, got {tables!r}")
    out = tuple(tables)
    for name in out:
        if not isinstance(name, str) or not TABLE_NAME_RE.match(name) or name in RESERVED_TABLES:
            raise TaskValidationError(
                f"RunTask.tables has an invalid table name {name!r}; names must match {TABLE_NAME_RE.pattern} "
                f"and not be one of {sorted(RESERVED_TABLES)}")
    if len(set(out)) != len(out):
        raise TaskValidationError(f"RunTask.tables names a table twice: {list(out)}")
    if not out:
        raise TaskValidationError("RunTask.tables is empty: a run must keep at least one table")
    return out


def validate_fields(params: Any, seed: Any, tags: Any, tables: Any) -> tuple[dict, int, dict, tuple[str, ...]]:
    """Check and normalise the fields of a :class:`RunTask`.

    Returns
    -------
    tuple
        ``(params, seed, tags, tables)`` as ``dict``, ``int``, ``dict``, ``tuple[str, ...]``.

    Raises
    ------
    TaskValidationError
        Naming the field (and the path inside it) that is invalid.
    """
    if not isinstance(params, Mapping):
        raise TaskValidationError(f"RunTask.params must be a dict, got {type(params).__name__}")
    if "_tables" in params:
        raise TaskValidationError(
            "RunTask.params has the key '_tables': which tables a run keeps is not a parameter; "
            "give them as RunTask(..., tables=(...))")
    if tags is None:
        tags = {}
    if not isinstance(tags, Mapping):
        raise TaskValidationError(f"RunTask.tags must be a dict, got {type(tags).__name__}")
    _check_json(params, "RunTask.params")
    _check_json(tags, "RunTask.tags")
    for k in tags:
        if k in RESERVED_COLUMNS:
            raise TaskValidationError(f"RunTask.tags may not use the key {k!r}: it is a column the batch engine adds")
    return (params if isinstance(params, dict) else dict(params), _normalise_seed(seed),
            tags if isinstance(tags, dict) else dict(tags), _normalise_tables(tables))


# --- the task ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunTask:
    """One model run: parameter overrides, seed, descriptive tags and the tables to keep.

    Validated on construction: ``params`` and ``tags`` must be JSON-serialisable dicts with str keys
    (numpy scalars are accepted; NaN/inf are not), ``seed`` an int in ``[0, 2**64)`` (numpy ints are
    converted to ``int``), ``tables`` a non-empty sequence of distinct table names (stored as a tuple).

    Parameters
    ----------
    params : dict
        Parameter overrides for the model (``BantarModel(**params)``); for other run functions, whatever
        they read. Never holds which tables to keep.
    seed : int
        The run's random seed.
    tags : dict, optional
        Descriptive columns added to every stored row, e.g. ``{"arm": "kencana", "replicate": 3}``.
    tables : sequence of str, optional
        Which of the model's tables the run keeps (default :data:`DEFAULT_TABLES`).

    Raises
    ------
    TaskValidationError
        A ValueError (and TypeError) naming the invalid field.
    """

    params: dict
    seed: int
    tags: dict = field(default_factory=dict)
    tables: tuple[str, ...] = DEFAULT_TABLES

    def __post_init__(self) -> None:
        params, seed, tags, tables = validate_fields(self.params, self.seed, self.tags, self.tables)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "seed", seed)
        object.__setattr__(self, "tags", tags)
        object.__setattr__(self, "tables", tables)

    def canonical_json(self, model_version: str) -> str:
        """The canonical JSON that :meth:`run_id` hashes.

        Parameters
        ----------
        model_version : str
            The model version the run is computed with (e.g. ``MODEL_VERSION``).

        Returns
        -------
        str
            JSON of params, seed, tags, the sorted table names and the model version.
        """
        return canonical_json({"params": self.params, "seed": self.seed, "tags": self.tags,
                               "tables": sorted(self.tables), "model_version": str(model_version)})

    def run_id(self, model_version: str) -> str:
        """The content address of this run under ``model_version``.

        Parameters
        ----------
        model_version : str
            The model version; a new version gives every task a new id, so stale runs are never reused.

        Returns
        -------
        str
            First 16 hex characters of the sha256 of :meth:`canonical_json`.
        """
        return hashlib.sha256(self.canonical_json(model_version).encode("ascii")).hexdigest()[:16]


def task_run_id(task: Any, model_version: str, position: int | None = None) -> str:
    """Validate a task again (its dicts may have been mutated since construction) and return its run id.

    Parameters
    ----------
    task : RunTask
        The task.
    model_version : str
        The model version for the id.
    position : int, optional
        The task's position in the input, named in the error.

    Raises
    ------
    TaskValidationError
        ``task`` is not a RunTask or no longer valid.
    """
    where = f"task #{position}" if position is not None else "task"
    if not isinstance(task, RunTask):
        raise TaskValidationError(f"{where}: expected a RunTask, got {type(task).__name__}")
    try:
        validate_fields(task.params, task.seed, task.tags, task.tables)
        return task.run_id(model_version)
    except TaskValidationError as e:
        raise TaskValidationError(f"{where} (tags {task.tags!r}): {e}") from None
    except (TypeError, ValueError) as e:  # anything json itself rejects
        raise TaskValidationError(f"{where} (tags {task.tags!r}): not JSON-serialisable: {e}") from None


# --- seeds -------------------------------------------------------------------------------------
def seed_from(entropy: int | np.random.SeedSequence) -> int:
    """A 64-bit integer seed from a SeedSequence (or an int), the form recorded in outputs.

    Parameters
    ----------
    entropy : int or numpy.random.SeedSequence
        Where the seed comes from.

    Returns
    -------
    int
        In ``[0, 2**64)``.
    """
    ss = entropy if isinstance(entropy, np.random.SeedSequence) else np.random.SeedSequence(entropy)
    return int(ss.generate_state(1, dtype=np.uint64)[0])


def spawn_seeds(base_seed: int, n: int) -> list[int]:
    """Seeds of ``n`` independent streams (numpy ``SeedSequence.spawn``), as recordable ints.

    Parameters
    ----------
    base_seed : int
        The seed the replications derive from.
    n : int
        How many.

    Returns
    -------
    list of int
        The same list for the same ``base_seed``; replication ``i`` keeps its seed when ``n`` grows.
    """
    return [seed_from(child) for child in np.random.SeedSequence(base_seed).spawn(n)]


# --- the one run function ----------------------------------------------------------------------
def run_model(params: Mapping[str, Any] | None, seed: int,
              tables: Sequence[str] = DEFAULT_TABLES) -> dict[str, pd.DataFrame]:
    """Build and run one model and return the tables asked for: the one run function of the package.

    Parameters
    ----------
    params : mapping
        Parameter overrides (``BantarModel(rng=seed, **params)``); checked by the model's parameter table.
    seed : int
        The random seed.
    tables : sequence of str
        Which tables to return (names of :data:`bantar_sim.model.tables.TABLES`).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``{name: table}`` in the order of ``tables``.

    Raises
    ------
    bantar_sim.model.params.ParameterError
        A parameter is unknown or out of range.
    KeyError
        A table name is unknown (the message lists the known ones).
    """
    model = BantarModel(rng=seed, **dict(params or {}))
    model.run()
    return model_tables(model, tuple(tables))


def run_task(task: RunTask) -> dict[str, pd.DataFrame]:
    """Compute one :class:`RunTask` with :func:`run_model`: the ``run_fn`` the studies give the batch engine.

    Parameters
    ----------
    task : RunTask
        Its params, seed and tables.

    Returns
    -------
    dict of str to pandas.DataFrame
        The tables named by ``task.tables``.
    """
    return run_model(task.params, task.seed, task.tables)

