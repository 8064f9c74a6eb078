"""Data dictionaries of the output tables: every column's unit and definition, written as ``datapackage.json``.

`bantar-sim run` and `bantar-sim experiment` write CSV tables; beside them they write a Frictionless
Data Package (https://datapackage.org/) whose Table Schema gives each column its type, unit and
definition, so a researcher (or a validator such as ``frictionless validate``) can read a table without
the code. Definitions come from one place each:

- the columns of the model's tables (``city_year``, ``subdistrict_year``, ``rt_year``) from
  :data:`bantar_sim.model.tables.COLUMNS`, next to the code that makes them;
- metric columns from the metric registry (:data:`bantar_sim.model.metrics.METRICS`);
- the columns a study adds (replicate, seed, effects, ...) from the study's own dictionary, passed in.

A column without a definition is written with the text :data:`UNDEFINED`, which the tests look for.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bantar_sim.model.metrics import METRICS
from bantar_sim.model.tables import COLUMNS as MODEL_COLUMNS

UNDEFINED = "(no definition recorded)"


@dataclass(frozen=True)
class Resource:
    """One CSV of a data package.

    Parameters
    ----------
    name : str
        Resource name (lower case, ``[a-z0-9._-]``).
    path : str
        File name relative to the package folder.
    frame : pandas.DataFrame
        The table as written (column order and types are taken from it).
    description : str
        What one row is.
    columns : mapping
        Column -> (unit, definition) for the columns this table adds; the model's and the metric
        registry's columns are found by name.
    index : bool
        The frame was written with its index (``to_csv(index=True)``): the index is the first column.
    """

    name: str
    path: str
    frame: pd.DataFrame
    description: str
    columns: Mapping[str, tuple[str, str]] = None
    index: bool = False


def _type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_numeric_dtype(series):
        return "number"
    return "string"


def column_definition(name: str, extra: Mapping[str, tuple[str, str]] | None = None) -> tuple[str, str]:
    """(unit, definition) of a column: the table's own dictionary, then the metric registry, then the model's."""
    if extra and name in extra:
        return extra[name]
    if name in METRICS:
        m = METRICS[name]
        return m.unit, f"{m.label}: {m.doc} (window: {m.window})"
    if name in MODEL_COLUMNS:
        return MODEL_COLUMNS[name]
    return "", UNDEFINED


def table_schema(frame: pd.DataFrame, columns: Mapping[str, tuple[str, str]] | None = None,
                 index: bool = False) -> dict:
    """The Frictionless Table Schema of a table: one field per column with type, unit and definition.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table as written.
    columns : mapping, optional
        Column -> (unit, definition) for columns not in the model's or the metric registry's dictionary.
    index : bool
        Include the frame's (named) index as the first field.

    Returns
    -------
    dict
        ``{"fields": [{"name", "type", "description", "unit"}, ...]}``; ``unit`` is a custom property (the
        description also names it, for readers that ignore custom properties).
    """
    fields = []
    cols = [(frame.index.name or "index", frame.index.to_series())] if index else []
    cols += [(c, frame[c]) for c in frame.columns]
    for name, series in cols:
        unit, doc = column_definition(str(name), columns)
        desc = f"{doc} [unit: {unit}]" if unit else doc
        field = {"name": str(name), "type": _type(series), "description": desc}
        if unit:
            field["unit"] = unit
        fields.append(field)
    return {"fields": fields, "missingValues": [""]}


def write_datapackage(folder: str | Path, name: str, title: str, resources: Sequence[Resource],
                      description: str = "", extra: Mapping | None = None) -> Path:
    """Write ``datapackage.json`` describing the CSV tables of a result folder.

    Parameters
    ----------
    folder : str or Path
        The folder holding the tables (the package's base path).
    name : str
        Package name (``[a-z0-9._-]``).
    title, description : str
        Human-readable title and description.
    resources : sequence of Resource
        The tables.
    extra : mapping, optional
        Further top-level properties (e.g. the parameter set used).

    Returns
    -------
    Path
        The file written.
    """
    pkg = {"profile": "tabular-data-package", "name": name, "title": title,
           "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    if description:
        pkg["description"] = description
    pkg.update(dict(extra or {}))
    pkg["resources"] = [{"name": r.name, "path": r.path, "profile": "tabular-data-resource", "format": "csv",
                         "mediatype": "text/csv", "encoding": "utf-8", "description": r.description,
                         "schema": table_schema(r.frame, r.columns, r.index)} for r in resources]
    path = Path(folder) / "datapackage.json"
    path.write_text(json.dumps(pkg, indent=2, default=str) + "\n", encoding="utf-8")
    return path
