"""Markdown and number formatting shared by the studies' reports."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd


def fmt(x, digits: int = 3) -> str:
    """A number for a report: thousands with separators, others to ``digits`` significant figures, '–' if missing."""
    if x is None or not np.isfinite(x):
        return "–"
    if x != 0 and abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """A Markdown table from a header and rows of cells (cells are str()-ed)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def frame_table(df: pd.DataFrame, formats: Mapping[str, Callable] | None = None) -> str:
    """A Markdown table of a DataFrame; floats to 3 significant figures unless ``formats`` names a column."""
    formats = formats or {}
    cols = list(df.columns)
    rows = []
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if c in formats:
                cells.append(formats[c](v))
            elif isinstance(v, float):
                cells.append(f"{v:.3g}")
            else:
                cells.append(str(v))
        rows.append(cells)
    return markdown_table(cols, rows)
