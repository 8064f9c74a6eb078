"""A run's chart data, kept for comparison and exported: a faint previous/pinned run, CSV and PNG downloads.

A class compares runs by eye: after a Reset the run before it is kept (`run_record`) and drawn faintly on
every chart, or a run pinned on purpose is. The same numbers the charts draw can be downloaded as CSV (one
row per simulated month) and the three charts as one PNG (drawn with matplotlib from the same series).
"""
from __future__ import annotations

import csv
import io

import numpy as np

from bantar_sim.app.charts import assessments_done, published_winners
from bantar_sim.model.data import YEARS
from bantar_sim.model.model import START_YEAR

MONTHLY = ("participation", "awareness", "bantar_label", "active_bantar", "lapsed", "kencana")


def run_record(model, name: str) -> dict:
    """What the charts draw of a run, detached from the model (a later Reset does not change it).

    Parameters
    ----------
    model : BantarModel
        The run to keep.
    name : str
        How the charts' legends call it ("previous run", "pinned run").

    Returns
    -------
    dict
        ``xs`` (fractional years), one list per monthly series, ``winner_years``/``winners``, ``end_year`` and
        ``scale`` (counts of a classroom run and of a full-city run are not comparable).
    """
    mv = model.datacollector.model_vars
    n = len(mv.get("participation", []))
    ny = assessments_done(model)
    rec = {"name": name, "xs": [START_YEAR + (k + 1) / 12 for k in range(n)], "end_year": int(model.p.end_year),
           "winner_years": list(range(START_YEAR, START_YEAR + ny)),
           "winners": model.rec["won"][:ny].sum(axis=1).tolist(), "steps": n,
           "scale": float(model.p.scale)}
    for col in MONTHLY:
        rec[col] = [float(x) for x in mv.get(col, [])]
    return rec


def csv_text(model) -> str:
    """The charts' data as CSV: one row per simulated month, winners and Table 3's in each October row."""
    mv = model.datacollector.model_vars
    n = len(mv.get("participation", []))
    won = model.rec["won"].sum(axis=1)
    pub = dict(zip(YEARS, published_winners() * model.p.scale))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["step", "year", "month", *MONTHLY, "winners_october", "table3_winners_scaled"])
    for k in range(n):
        year, month = START_YEAR + k // 12, k % 12 + 1
        october = month == 10
        w.writerow([k + 1, year, month, *(f"{float(mv[c][k]):.6g}" for c in MONTHLY),
                    int(won[k // 12]) if october else "",
                    f"{pub[year]:.6g}" if october and year in pub else ""])
    return buf.getvalue()


def png_bytes(model, compare: dict | None = None) -> bytes:
    """The three charts as one PNG (matplotlib, no display needed), with the compared run faint."""
    from matplotlib.figure import Figure

    this = run_record(model, "this run")
    fig = Figure(figsize=(12, 3.6), dpi=110, layout="constrained")
    a, b, c = fig.subplots(1, 3)
    if compare:       # underneath, wider and faint: this run's bars stay readable on top
        a.bar(compare["winner_years"], compare["winners"], width=0.9, color="#555", alpha=0.3, label=compare["name"])
    a.bar(this["winner_years"], this["winners"], width=0.55, color="#0072B2", label="this run")
    scale = model.p.scale
    a.plot(list(YEARS), published_winners() * scale, "ks--", ms=4,
           label="Table 3" + ("" if scale >= 1 else f" × {scale:g}"))
    a.set(title="Winners per year (October)", xlabel="year", ylabel="winning RTs")
    b.plot(this["xs"], 100 * np.asarray(this["participation"]), color="#009E73", label="taking part")
    b.plot(this["xs"], 100 * np.asarray(this["awareness"]), "--", color="#888", label="aware")
    if compare:
        b.plot(compare["xs"], 100 * np.asarray(compare["participation"]), color="#009E73", lw=3, alpha=0.3,
               label=compare["name"])
    b.set(title="Households taking part", xlabel="year", ylabel="share of households (%)")
    for col, colour, label in (("bantar_label", "#009E73", "holding label"), ("active_bantar", "#0072B2", "practising"),
                               ("lapsed", "#D55E00", "lapsed"), ("kencana", "#B89B00", "Kencana")):
        c.plot(this["xs"], this[col], color=colour, label=label)
    if compare:
        c.plot(compare["xs"], compare["bantar_label"], color="#009E73", lw=3, alpha=0.3, label=compare["name"])
    c.set(title="Bantar RTs", xlabel="year", ylabel="RTs (count)")
    for ax in (a, b, c):
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
