"""The app's charts: small SVG line and bar charts drawn from the model's monthly and yearly records.

SVG strings rather than matplotlib figures: a repaint is a text update in the browser (milliseconds), and
the charts stay crisp on a projector.
"""
from __future__ import annotations

import math
from functools import lru_cache
from html import escape

import numpy as np

from bantar_sim.model.data import YEARS, table3
from bantar_sim.model.model import ASSESSMENT_MONTH, START_YEAR

# The levers a chart marks with a "policy starts" line when any of them is on.
CHART_H = 190        # plot height in SVG units (a chart card fits under the city at 1280x720)
COMPARE_COLOUR = "#555"
POLICY_LEVERS = ("kencana", "adoption", "monitoring", "informal_engagement", "youth_regeneration",
                 "dissemination_campaign")


def levers_on(p) -> list[str]:
    """List the policy levers that are switched on, so a chart can mark when the policy starts.

    Parameters
    ----------
    p : Params
        The model's parameters.

    Returns
    -------
    list of str
        Names of the levers that are on, plus ``reward_mode=...`` when it is not the default one-off reward.
    """
    on = [name for name in POLICY_LEVERS if getattr(p, name)]
    if p.reward_mode != "one_off":
        on.append(f"reward_mode={p.reward_mode}")
    return on


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= m * exp:
            return m * exp
    return 10 * exp


def _ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    span = hi - lo
    raw = span / target
    exp = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(m * exp for m in (1, 2, 2.5, 5, 10) if m * exp >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + k * step, 10) for k in range(int((hi - first) / step + 1e-9) + 1)]


def svg_chart(*, title: str, xlabel: str, ylabel: str, xlim: tuple, series: list[dict], testid: str,
              ymax: float | None = None, vlines: tuple = (), width: int = 330, height: int = CHART_H) -> str:
    """A small line/bar chart as SVG: title, labelled axes with units, legend below the plot.

    series: {"label", "x", "y", "colour", "kind": "line"|"bars"|"points", "dash": bool, "compare": bool}; a
    compare series (a previous or pinned run) is drawn faint, under this run's.
    """
    left, right, top, bottom = 46, 16, 24, 34
    longest = max((len(s["label"]) for s in series), default=0)
    per_row = 3 if longest <= 15 else 2 if longest <= 26 else 1
    rows = math.ceil(len(series) / per_row)
    total_h = height + 16 * rows + 14
    pw, ph = width - left - right, height - top - bottom
    ys = [float(y) for s in series for y in s["y"]]
    ytop = _nice_max(max(ys + [ymax or 0, 1e-9]) * 1.05)
    x0, x1 = xlim

    def sx(x):
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y):
        return top + ph - y / ytop * ph

    out = [f'<svg viewBox="0 0 {width} {total_h}" xmlns="http://www.w3.org/2000/svg" data-testid="{testid}" '
           f'style="width:100%; display:block" font-family="sans-serif">',
           f'<text x="{width / 2}" y="16" font-size="13" font-weight="bold" text-anchor="middle">'
           f'{escape(title)}</text>']
    for t in _ticks(0, ytop):
        y = sy(t)
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                   f'<text x="{left - 4}" y="{y + 3:.1f}" font-size="10" text-anchor="end">{t:g}</text>')
    span = x1 - x0
    xstep = 1 if span <= 7 else 2 if span <= 14 else 5
    for t in range(math.ceil(x0), math.floor(x1) + 1):
        if t % xstep:
            continue
        out.append(f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{top + ph}" y2="{top + ph + 4}" stroke="#333"/>'
                   f'<text x="{sx(t):.1f}" y="{top + ph + 15}" font-size="10" text-anchor="middle">{t}</text>')
    out.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="#333"/>'
               f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" stroke="#333"/>')
    out.append(f'<text x="{left + pw / 2}" y="{top + ph + 30}" font-size="11" text-anchor="middle">'
               f'{escape(xlabel)}</text>'
               f'<text transform="translate(12 {top + ph / 2}) rotate(-90)" font-size="11" text-anchor="middle">'
               f'{escape(ylabel)}</text>')
    for xv, label in vlines:
        if x0 <= xv <= x1:
            out.append(f'<line x1="{sx(xv):.1f}" x2="{sx(xv):.1f}" y1="{top}" y2="{top + ph}" stroke="#777" '
                       f'stroke-dasharray="2 3"/><text x="{sx(xv) + 3:.1f}" y="{top + 9}" font-size="9" fill="#555">'
                       f'{escape(label)}</text>')
    bar_w = pw / (x1 - x0) * 0.6
    for s in sorted(series, key=lambda s: not s.get("compare")):
        xs, yv, col = list(s["x"]), [float(y) for y in s["y"]], s["colour"]
        if not xs:
            continue
        faint = s.get("compare")
        if s.get("kind") == "bars":
            cls, w, op = ("compare-bar", bar_w * 1.5, 0.3) if faint else ("bar", bar_w, 0.85)
            for xv, yvv in zip(xs, yv):
                out.append(f'<rect x="{sx(xv) - w / 2:.1f}" y="{sy(yvv):.1f}" width="{w:.1f}" '
                           f'height="{sy(0) - sy(yvv):.1f}" fill="{col}" fill-opacity="{op}" class="{cls}"/>')
            continue
        pts = " ".join(f"{sx(a):.1f},{sy(b):.1f}" for a, b in zip(xs, yv))
        dash = ' stroke-dasharray="5 3"' if s.get("dash") else ""
        extra = ' stroke-opacity="0.35" class="compare"' if faint else ""
        out.append(f'<polyline points="{pts}" fill="none" stroke="{col}" stroke-width="{3 if faint else 1.8}"'
                   f'{dash}{extra}/>')
        if s.get("kind") == "points":
            out += [f'<rect x="{sx(a) - 3:.1f}" y="{sy(b) - 3:.1f}" width="6" height="6" fill="{col}" class="point"/>'
                    for a, b in zip(xs, yv)]
    for k, s in enumerate(series):
        lx, ly = 8 + (k % per_row) * ((width - 8) / per_row), height + 16 * (k // per_row) + 12
        if s.get("kind") == "bars":
            op = 0.3 if s.get("compare") else 1
            mark = f'<rect x="{lx}" y="{ly - 8}" width="14" height="9" fill="{s["colour"]}" fill-opacity="{op}"/>'
        else:
            dash = ' stroke-dasharray="5 3"' if s.get("dash") else ""
            op = ' stroke-opacity="0.35" stroke-width="3"' if s.get("compare") else ' stroke-width="2"'
            mark = (f'<line x1="{lx}" x2="{lx + 14}" y1="{ly - 4}" y2="{ly - 4}" stroke="{s["colour"]}"'
                    f'{op}{dash}/>')
            if s.get("kind") == "points":
                mark += f'<rect x="{lx + 4}" y="{ly - 7}" width="6" height="6" fill="{s["colour"]}"/>'
        out.append(mark + f'<text x="{lx + 18}" y="{ly}" font-size="10">{escape(s["label"])}</text>')
    out.append("</svg>")
    return "".join(out)


@lru_cache(maxsize=1)
def published_winners() -> np.ndarray:
    """Table 3's city winners per year 2014–2020 (consistent version)."""
    return table3().city_winners.reindex(list(YEARS)).to_numpy(dtype=float)


def _policy_vline(model) -> tuple:
    p = model.p
    if levers_on(p) and p.policy_start_year <= p.end_year:
        return ((p.policy_start_year, "levers on"),)
    return ()


def _published_label(model) -> str:
    s = model.p.scale
    return "Table 3" if s >= 1 else f"Table 3 × {s:g}"


def assessments_done(model) -> int:
    """Years whose October assessment has been simulated (year y's is in step 12·(y-2014)+10)."""
    return 0 if model.tick < ASSESSMENT_MONTH else min(model.n_years, (model.tick - ASSESSMENT_MONTH) // 12 + 1)


def winners_chart(model, compare: dict | None = None) -> str:
    """Chart the simulated winners per year against Table 3's, so a run can be checked against the paper.

    Parameters
    ----------
    model : BantarModel
        The (possibly still running) model; only assessed years are drawn.
    compare : dict, optional
        A previous or pinned run (:func:`bantar_sim.app.records.run_record`), drawn faintly.

    Returns
    -------
    str
        The chart as an SVG string.
    """
    ny = assessments_done(model)
    years = list(range(START_YEAR, START_YEAR + ny))
    sim = model.rec["won"][:ny].sum(axis=1).tolist()
    pub = published_winners()
    series = [{"label": "this run", "x": years, "y": sim, "colour": "#0072B2", "kind": "bars"},
              {"label": _published_label(model), "x": list(YEARS), "y": (pub * model.p.scale).round(1).tolist(),
               "colour": "#000", "kind": "points", "dash": True}]
    if compare:
        series.append({"label": compare["name"], "x": compare["winner_years"], "y": compare["winners"],
                       "colour": COMPARE_COLOUR, "kind": "bars", "compare": True})
    end = max(model.p.end_year, compare["end_year"] if compare else 0)
    return svg_chart(title="Winners per year (October)", xlabel="year", ylabel="winning RTs",
                     xlim=(START_YEAR - 0.6, end + 0.6), testid="winners-chart", vlines=_policy_vline(model),
                     series=series)


def _monthly(model, column: str) -> tuple[list, list]:
    vals = model.datacollector.model_vars.get(column, [])
    xs = [START_YEAR + (k + 1) / 12 for k in range(len(vals))]
    return xs, vals


def participation_chart(model, compare: dict | None = None) -> str:
    """Chart the monthly share of households taking part and aware, to show how the programme spreads.

    Parameters
    ----------
    model : BantarModel
        The (possibly still running) model.
    compare : dict, optional
        A previous or pinned run, drawn faintly.

    Returns
    -------
    str
        The chart as an SVG string.
    """
    xs, part = _monthly(model, "participation")
    _, aware = _monthly(model, "awareness")
    series = [{"label": "taking part", "x": xs, "y": [100 * a for a in part], "colour": "#009E73"},
              {"label": "aware", "x": xs, "y": [100 * a for a in aware], "colour": "#888", "dash": True}]
    if compare:
        series.append({"label": compare["name"], "x": compare["xs"], "y": [100 * a for a in compare["participation"]],
                       "colour": "#009E73", "compare": True})
    end = max(model.p.end_year, compare["end_year"] if compare else 0)
    return svg_chart(title="Households taking part", xlabel="year", ylabel="share of households (%)",
                     xlim=(START_YEAR, end + 1), testid="participation-chart", ymax=10,
                     vlines=_policy_vline(model), series=series)


def bantar_chart(model, compare: dict | None = None) -> str:
    """Chart the monthly count of labelled, practising, lapsed and Kencana RTs against the published winners.

    Parameters
    ----------
    model : BantarModel
        The (possibly still running) model.
    compare : dict, optional
        A previous or pinned run, drawn faintly.

    Returns
    -------
    str
        The chart as an SVG string.
    """
    xs, label = _monthly(model, "bantar_label")
    _, active = _monthly(model, "active_bantar")
    _, lapsed = _monthly(model, "lapsed")
    _, kencana = _monthly(model, "kencana")
    pub = np.cumsum(published_winners()) * model.p.scale
    series = [{"label": "holding label", "x": xs, "y": label, "colour": "#009E73"},
              {"label": "practising", "x": xs, "y": active, "colour": "#0072B2", "dash": True},
              {"label": "lapsed", "x": xs, "y": lapsed, "colour": "#D55E00"},
              {"label": "Kencana", "x": xs, "y": kencana, "colour": "#B89B00"},
              {"label": "Table 3 total" + ("" if model.p.scale >= 1 else f" × {model.p.scale:g}"),
               "x": [y + 10 / 12 for y in YEARS], "y": pub.round(1).tolist(), "colour": "#000", "kind": "points",
               "dash": True}]
    if compare:
        series.append({"label": compare["name"] + ": label", "x": compare["xs"], "y": compare["bantar_label"],
                       "colour": "#009E73", "compare": True})
    end = max(model.p.end_year, compare["end_year"] if compare else 0)
    return svg_chart(title="Bantar RTs", xlabel="year", ylabel="RTs (count)", xlim=(START_YEAR, end + 1),
                     testid="bantar-chart", series=series, vlines=_policy_vline(model))
