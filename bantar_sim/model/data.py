"""The paper's tables (2, 3, 4) as shipped data files, validated on load.

Table 3 is the calibration target. It is kept exactly as printed; the loader derives an internally
consistent version and lists every place where the printed numbers disagree with each other, so that
no correction is silent (see data/SOURCES.md and docs/ODD.md, "Input data").
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import pandas as pd

YEARS = tuple(range(2014, 2021))
TABLE3_COLUMNS = ["subdistrict", "rts", "rt_proposals", *[f"won_{y}" for y in YEARS], "amount"]
TOTALS_ROW = "Amount"
SUBDISTRICTS = (
    "Jambi Timur", "Telanaipura", "Danau Sipin", "Pelayangan", "Danau Teluk", "Pasar",
    "Kota Baru", "Alam Barajo", "Jelutung", "Jambi Selatan", "Paal Merah",
)


class DataFileError(ValueError):
    """A data file does not have the shape or values the loader expects.

    The message names the file, the row and the column, so a transcription error can be found in the file
    at once.

    Parameters
    ----------
    path : str or Path
        The file.
    row : int
        1-based line number (1 is the header; 0 when the file itself is missing).
    column : str
        Column name, or "-" when the whole row or file is at fault.
    message : str
        What is wrong.
    """

    def __init__(self, path, row, column, message):
        self.path, self.row, self.column = str(path), row, column
        super().__init__(f"{path}: row {row}, column '{column}': {message}")


@dataclass(frozen=True)
class Discrepancy:
    """One place where the printed table disagrees with itself, and which number the model uses.

    Reported rather than silently fixed, so every reading of the source is visible (docs/ODD.md, section 6).

    Parameters
    ----------
    table : str
        Which table ("Table 3").
    row, column : str
        Where in the table.
    printed : float
        The number as printed.
    derived : float
        The number derived from the rest of the table (the one used).
    note : str
        Which reading is taken, and why.
    """

    table: str
    row: str
    column: str
    printed: float
    derived: float
    note: str

    def __str__(self):
        return (f"{self.table} [{self.row}, {self.column}]: printed {self.printed:g}, "
                f"derived {self.derived:g} — {self.note}")


@dataclass(frozen=True)
class Table3:
    """Table 3 of the paper: RTs, proposing RTs and winners per sub-district and year, 2014–2020.

    Kept both as printed and as the internally consistent version the model is calibrated against.

    Parameters
    ----------
    published : pandas.DataFrame
        As printed, indexed by sub-district, totals row included.
    consistent : pandas.DataFrame
        The 11 sub-districts; `amount` = sum of the yearly winners; no totals row.
    discrepancies : list of Discrepancy
        Every disagreement between printed numbers.
    """

    published: pd.DataFrame   # as printed, indexed by sub-district, totals row included
    consistent: pd.DataFrame  # 11 sub-districts; `amount` = sum of yearly winners; no totals row
    discrepancies: list[Discrepancy] = field(default_factory=list)

    @property
    def rts(self) -> pd.Series:
        """RTs per sub-district (the column printed as "Number of households"; see docs/ODD.md, section 6)."""
        return self.consistent["rts"]

    @property
    def winners(self) -> pd.DataFrame:
        """Winners per sub-district (rows) and year (columns, int)."""
        w = self.consistent[[f"won_{y}" for y in YEARS]].copy()
        w.columns = list(YEARS)
        return w

    @property
    def city_winners(self) -> pd.Series:
        """Winners per year, city-wide (3, 109, 88, 60, 88, 154, 112)."""
        return self.winners.sum(axis=0).rename("winners")

    def long(self) -> pd.DataFrame:
        """Tidy (subdistrict, year, winners) rows, the shape the model's outputs take."""
        w = self.winners.stack().rename("winners").reset_index()
        w.columns = ["subdistrict", "year", "winners"]
        return w


def _data_path(name: str) -> Path:
    """Path of a shipped data file (package data, so a non-editable install finds it too)."""
    return Path(str(resources.files("bantar_sim.model") / "data" / name))


def _read_int_table(path: Path, columns: list[str], key: str) -> list[dict]:
    """Rows of a CSV file with the exact header `columns`: a text key, then non-negative numbers."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, 0, "-", "file not found (or not a file)")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise DataFileError(path, 0, "-", "not a UTF-8 text (CSV) file") from None
    if "\0" in text:
        raise DataFileError(path, 0, "-", "not a text (CSV) file: it holds NUL bytes")
    with io.StringIO(text, newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise DataFileError(path, 1, "-", "file is empty") from None
        header = [h.strip() for h in header]
        if header != columns:
            missing = [c for c in columns if c not in header]
            extra = [c for c in header if c not in columns]
            col = (missing or extra or ["-"])[0]
            raise DataFileError(path, 1, col, f"header must be {columns}; missing {missing}, unexpected {extra}")
        rows = []
        for lineno, raw in enumerate(reader, start=2):
            if not any(cell.strip() for cell in raw):
                continue
            if len(raw) != len(columns):
                raise DataFileError(path, lineno, "-", f"expected {len(columns)} fields, found {len(raw)}")
            rec = {key: raw[0].strip()}
            for col, cell in zip(columns[1:], raw[1:]):
                cell = cell.strip()
                try:
                    value = float(cell)
                except ValueError:
                    raise DataFileError(path, lineno, col, f"'{cell}' is not a number") from None
                if value < 0:
                    raise DataFileError(path, lineno, col, f"{cell} is negative; counts must be >= 0")
                rec[col] = value
            rec["_line"] = lineno
            rows.append(rec)
    return rows


def load_table3(path: str | Path | None = None) -> Table3:
    """Load Table 3, check its shape and bounds, derive the consistent version, report discrepancies.

    Parameters
    ----------
    path : str or Path, optional
        A CSV file in the shape of `data/table3_published.csv` (default: the shipped file).

    Returns
    -------
    Table3
        The table as printed, its consistent version and the list of discrepancies.

    Raises
    ------
    DataFileError
        A missing file, wrong header, non-number, negative or fractional count, unknown or repeated
        sub-district, missing row, or more proposals or winners than RTs (file, row and column named).
    """
    path = Path(path) if path else _data_path("table3_published.csv")
    rows = _read_int_table(path, TABLE3_COLUMNS, "subdistrict")
    for rec in rows:
        for col in TABLE3_COLUMNS[1:]:
            if rec[col] != int(rec[col]):
                raise DataFileError(path, rec["_line"], col, f"{rec[col]} is not a whole number")
    names = [r["subdistrict"] for r in rows]
    for rec in rows:
        if rec["subdistrict"] not in (*SUBDISTRICTS, TOTALS_ROW):
            raise DataFileError(path, rec["_line"], "subdistrict",
                                f"unknown sub-district '{rec['subdistrict']}'; allowed: {', '.join(SUBDISTRICTS)}")
        if names.count(rec["subdistrict"]) > 1:
            raise DataFileError(path, rec["_line"], "subdistrict", f"'{rec['subdistrict']}' appears twice")
    for sd in (*SUBDISTRICTS, TOTALS_ROW):
        if sd not in names:
            raise DataFileError(path, len(rows) + 2, "subdistrict", f"row '{sd}' is missing")
    published = pd.DataFrame([{k: v for k, v in r.items() if k != "_line"} for r in rows]).set_index("subdistrict")
    published = published.astype("int64")
    lines = {r["subdistrict"]: r["_line"] for r in rows}

    # Bounds that hold whatever the reading: winners and proposals per sub-district within its RTs.
    for sd in SUBDISTRICTS:
        row = published.loc[sd]
        if row["rt_proposals"] > row["rts"]:
            raise DataFileError(path, lines[sd], "rt_proposals",
                                f"{row['rt_proposals']} proposals exceed the {row['rts']} RTs of {sd}")
        for y in YEARS:
            if row[f"won_{y}"] > row["rts"]:
                raise DataFileError(path, lines[sd], f"won_{y}",
                                    f"{row[f'won_{y}']} winners exceed the {row['rts']} RTs of {sd}")

    body = published.loc[list(SUBDISTRICTS)]
    totals = published.loc[TOTALS_ROW]
    disc: list[Discrepancy] = []
    year_cols = [f"won_{y}" for y in YEARS]
    yearly_sum = body[year_cols].sum(axis=1)
    for sd in SUBDISTRICTS:
        if body.at[sd, "amount"] != yearly_sum[sd]:
            disc.append(Discrepancy("Table 3", sd, "amount", body.at[sd, "amount"], yearly_sum[sd],
                                    "printed total differs from the sum of the yearly winners; the sum is used"))
    for col in ["rts", "rt_proposals", *year_cols]:
        if totals[col] != body[col].sum():
            note = ("column sum differs from the printed total; the sum of the rows is used"
                    if col != "rts" else
                    "RT column sums to a different city total than printed; the sub-district rows are used")
            disc.append(Discrepancy("Table 3", TOTALS_ROW, col, totals[col], body[col].sum(), note))
    if totals["amount"] != body["amount"].sum():
        disc.append(Discrepancy("Table 3", TOTALS_ROW, "amount (sum of printed Amount column)",
                                totals["amount"], body["amount"].sum(),
                                "the printed Amount column does not add up to its printed total"))
    if totals["amount"] != yearly_sum.sum():
        disc.append(Discrepancy("Table 3", TOTALS_ROW, "amount (sum of yearly winners)", totals["amount"],
                                yearly_sum.sum(), "printed grand total differs from the sum of all yearly winners"))
    consistent = body.copy()
    consistent["amount"] = yearly_sum
    for sd in SUBDISTRICTS:
        if consistent.at[sd, "amount"] > consistent.at[sd, "rt_proposals"]:
            disc.append(Discrepancy("Table 3", sd, "amount vs rt_proposals", consistent.at[sd, "rt_proposals"],
                                    consistent.at[sd, "amount"],
                                    "more wins than proposing RTs: only possible if RTs win more than once"))
    return Table3(published=published, consistent=consistent, discrepancies=disc)


def _load_series(name: str, column: str, path: str | Path | None) -> pd.Series:
    """A (year, value) data file as a Series indexed by year, checked like Table 3."""
    path = Path(path) if path else _data_path(name)
    rows = _read_int_table(path, ["year", column], "year")
    out = {}
    for rec in rows:
        try:
            year = int(rec["year"])
        except ValueError:
            raise DataFileError(path, rec["_line"], "year", f"'{rec['year']}' is not a year") from None
        if not 2000 <= year <= 2100 or year in out:
            raise DataFileError(path, rec["_line"], "year", f"{year} is out of range 2000–2100 or repeated")
        out[year] = rec[column]
    return pd.Series(out, name=column).sort_index()


def load_poverty(path=None) -> pd.Series:
    """Table 2: number of poor people in Jambi City, 2015–2021 (context, not a calibration target).

    Parameters
    ----------
    path : str or Path, optional
        A CSV file with columns year, poor_people (default: the shipped file).

    Returns
    -------
    pandas.Series
        Poor people by year.

    Raises
    ------
    DataFileError
        The file is missing or malformed (row and column named).
    """
    return _load_series("table2_poverty.csv", "poor_people", path)


def load_hdi(path=None) -> pd.Series:
    """Table 4: Jambi's Human Development Index, 2015–2021 (context, not a calibration target).

    Parameters
    ----------
    path : str or Path, optional
        A CSV file with columns year, hdi (default: the shipped file).

    Returns
    -------
    pandas.Series
        HDI by year.

    Raises
    ------
    DataFileError
        The file is missing or malformed (row and column named).
    """
    return _load_series("table4_hdi.csv", "hdi", path)


@lru_cache(maxsize=1)
def table3() -> Table3:
    """The shipped Table 3, loaded once per process (the model asks for it on every construction).

    Returns
    -------
    Table3
        As `load_table3()`.
    """
    return load_table3()


@lru_cache(maxsize=8)
def observed_award_budget(until: int) -> dict[int, float]:
    """The city's award budget of each published year 2015..`until`, relative to those years' mean.

    The reward fund is city money and the paper ties the programme to "limited funding" and the city's
    "political momentum"; Table 3's city winners (109, 88, 60, 88, 154, 112 in 2015–2020) are the only
    record of how much the city could award each year. With b_y = W_y / mean(W_2015..until) the model's
    city awards in year y are `awards_per_year × b_y` (docs/ODD.md, 7.5): the yearly totals become an input,
    and the fit is judged on what is left (sub-districts, proposals, post-award waning).

    Parameters
    ----------
    until : int
        Last year read (`award_budget_observed_until`); a held-out calibration passes its origin, so no
        year after it is read. Before 2015 the result is empty.

    Returns
    -------
    dict of int to float
        Year → budget factor (mean 1 over the years read).
    """
    years = [y for y in YEARS if 2015 <= y <= until]
    if not years:
        return {}
    won = table3().consistent[[f"won_{y}" for y in years]].sum(axis=0).to_numpy(float)
    return {y: float(w / won.mean()) for y, w in zip(years, won)}
