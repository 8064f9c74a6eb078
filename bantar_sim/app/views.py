"""What the app draws from a model: the city's tiles, one RT's households, the legend, monitors and captions.

Everything drawn per step is plain SVG or HTML built from the model's arrays; the geometry comes from
`bantar_sim.app.layouts` (cached), so a step only ships new colours (benchmarks/bench_app.py measures it).
"""
from __future__ import annotations

import json
from functools import lru_cache
from html import escape

import ipyvuetify as v
import numpy as np
import traitlets

from bantar_sim.app.charts import assessments_done
from bantar_sim.app.layouts import city_layout, node_radius, rt_network_layout
from bantar_sim.model.agents import BANTAR, KENCANA, LAPSED, STATUS_NAMES
from bantar_sim.model.city import LEADER_KINDS
from bantar_sim.model.data import SUBDISTRICTS
from bantar_sim.model.model import START_YEAR

# Okabe–Ito colours (safe for colour-blind students): never, proposed, Bantar, Kencana, lapsed.
STATUS_COLOURS = ("#d4d4d4", "#56B4E9", "#009E73", "#E6C200", "#D55E00")
PALE = 0.35          # opacity of a tile that holds the label but no longer practises
LIT, UNLIT = "#FFC20A", "#e3e3e3"
LEADER_STYLE = {"rt_head": ("H", "#000000", "RT head"), "religious": ("R", "#0072B2", "religious leader"),
                "traditional": ("T", "#CC79A7", "traditional (adat) leader"),
                "youth": ("Y", "#E69F00", "youth leader")}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")

# ----------------------------------------------------------------------------------- city tiles
# Per step only two short strings change (one character per RT), so the server's diff and the message
# to the browser stay small even for the full city; the geometry is sent once per city. No <script>
# section: the geometry arrives as a ready object (a script block made Vue log a warning on every load).
CITY_TEMPLATE = """
<template>
  <svg :viewBox="'0 0 ' + width + ' ' + height" xmlns="http://www.w3.org/2000/svg" data-testid="city-map"
       role="img" aria-label="RTs of Jambi City coloured by Bantar status"
       :style="'width:100%; height:100%; max-height:' + max_height + 'px; display:block; margin:auto'">
    <text v-for="b in geo.blocks" :key="'label-' + b.name" :x="b.label_x" :y="b.label_y" :font-size="geo.font"
          font-family="sans-serif" fill="#222">{{ b.name }}</text>
    <rect v-for="(t, i) in geo.tiles" :key="i" :x="t[0]" :y="t[1]" :width="geo.tile" :height="geo.tile"
          :fill="colours[status[i]]" :fill-opacity="faded[i] === '1' ? pale : 1"
          :stroke="i === picked ? '#000' : 'none'" :stroke-width="geo.tile * 0.22"
          :data-rt="i" :data-status="status[i]" :data-faded="faded[i]" class="rt-tile" style="cursor:pointer"
          @click="pick(i)">
      <title>{{ 'RT ' + i + ' (' + geo.sd_names[geo.sd[i]] + '): ' + names[status[i]]
                + (faded[i] === '1' ? ', no longer practising' : '') + ' - click to see its households' }}</title>
    </rect>
  </svg>
</template>
"""


class CityTilesWidget(v.VuetifyTemplate):
    """The city as SVG tiles rendered by Vue in the browser: geometry is sent once, colours per step."""

    template = traitlets.Unicode(CITY_TEMPLATE).tag(sync=True)
    geo = traitlets.Dict({"blocks": [], "tiles": [], "sd": [], "sd_names": [], "font": 1, "tile": 1}).tag(sync=True)
    width = traitlets.Float(1.0).tag(sync=True)
    height = traitlets.Float(1.0).tag(sync=True)
    max_height = traitlets.Int(390).tag(sync=True)
    pale = traitlets.Float(PALE).tag(sync=True)
    colours = traitlets.List(list(STATUS_COLOURS)).tag(sync=True)
    names = traitlets.List(list(STATUS_NAMES)).tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)           # one digit per RT: its status code
    faded = traitlets.Unicode("").tag(sync=True)            # one digit per RT: 1 = label held, not practising
    picked = traitlets.Int(-1).tag(sync=True)
    pick_handler = traitlets.Any(None, allow_none=True)

    def vue_pick(self, index):
        """Pass a tile click from the browser to the page's handler, so the network view shows that RT.

        Parameters
        ----------
        index : int or str
            The clicked RT's index, as sent by Vue.
        """
        if self.pick_handler is not None:
            self.pick_handler(int(index))


#: The legend's categories: together they partition the RTs (each RT is in exactly one).
LEGEND = (("never proposed", STATUS_COLOURS[0], 1.0), ("proposed", STATUS_COLOURS[1], 1.0),
          ("Bantar, practising", STATUS_COLOURS[BANTAR], 1.0),
          ("Bantar, not practising (pale)", STATUS_COLOURS[BANTAR], PALE),
          ("Kencana", STATUS_COLOURS[KENCANA], 1.0), ("lapsed: label lost", STATUS_COLOURS[LAPSED], 1.0))


def city_state(model) -> dict:
    """What changes per step in the city picture, and the legend's counts (a partition of the RTs)."""
    status = model.rt_state.status
    labelled = np.isin(status, (BANTAR, KENCANA))
    faded = labelled & ~model.practising_mask()
    counts = np.bincount(status, minlength=len(STATUS_NAMES))
    pale_bantar = int((faded & (status == BANTAR)).sum())
    legend = [int(counts[0]), int(counts[1]), int(counts[BANTAR]) - pale_bantar, pale_bantar,
              int(counts[KENCANA]), int(counts[LAPSED])]
    return {"status": (status.astype(np.uint8) + ord("0")).tobytes().decode("ascii"),
            "faded": (faded.astype(np.uint8) + ord("0")).tobytes().decode("ascii"),
            "counts": counts.tolist(), "n_faded": int(faded.sum()), "legend": legend}


@lru_cache(maxsize=16)
def _geometry(rt_counts: tuple[int, ...]) -> tuple[str, float, float]:
    geo = city_layout(rt_counts, SUBDISTRICTS, columns=4)
    sd = np.repeat(np.arange(len(rt_counts)), rt_counts).tolist()
    payload = {"tiles": [list(t) for t in geo.tiles], "blocks": list(geo.blocks), "sd": sd,
               "sd_names": list(SUBDISTRICTS), "font": geo.font, "tile": geo.tile}
    return json.dumps(payload, separators=(",", ":")), geo.width, geo.height


def city_geometry(model) -> tuple[dict, float, float]:
    """The tile grid (cached per city size as JSON: a Reset of the same preset reuses it) and its size."""
    text, w, h = _geometry(tuple(int(c) for c in model.city.rt_counts))
    return _geometry_dict(text), w, h


@lru_cache(maxsize=16)
def _geometry_dict(text: str) -> dict:
    return json.loads(text)


def month_label(model) -> str:
    """'Step 14 of 144: February 2015' — the month the last step finished."""
    total = model.n_years * 12
    if model.tick == 0:
        return f"Step 0 of {total}: January {START_YEAR} not yet simulated"
    done = model.tick - 1
    return f"Step {model.tick} of {total}: {MONTHS[done % 12]} {START_YEAR + done // 12}"


def last_recorded(model, column: str):
    """The latest monthly value of a chart's series (None before the first step): the monitors show the same
    numbers as the charts' last points, from step 0 on.
    """
    vals = model.datacollector.model_vars.get(column, [])
    return vals[-1] if vals else None


def monitors(model) -> list[tuple[str, str, str]]:
    """The numbers that matter, as (test id, label, value): winners this year, taking part, practising, lapsed."""
    ny = assessments_done(model)
    won = int(model.rec["won"][ny - 1].sum()) if ny else None
    part = last_recorded(model, "participation")
    active = last_recorded(model, "active_bantar")
    lapsed = last_recorded(model, "lapsed")
    dash = "–"
    return [("monitor-winners", f"winners {START_YEAR + ny - 1}" if ny else "winners this year",
             dash if won is None else f"{won}"),
            ("monitor-participation", "taking part", dash if part is None else f"{part:.0%}"),
            ("monitor-practising", "Bantar RTs practising", dash if active is None else f"{int(active)}"),
            ("monitor-lapsed", "lapsed RTs", dash if lapsed is None else f"{int(lapsed)}")]


def monitors_html(model) -> str:
    """The monitor row as HTML (compact boxes, large numbers)."""
    box = ('<div data-testid="{0}" style="display:inline-block; min-width:92px; padding:2px 10px; margin-right:6px;'
           ' border:1px solid #ccc; border-radius:6px; background:#fafafa"><div style="font-size:11px; color:#444">'
           '{1}</div><div class="monitor-value" style="font-size:20px; font-weight:700; line-height:1.1">{2}</div>'
           '</div>')
    return "".join(box.format(t, escape(label), escape(value)) for t, label, value in monitors(model))


def city_legend_html(state: dict) -> str:
    """Build the city map's legend as HTML: one swatch per category, with its count (the counts add up to the RTs).

    Parameters
    ----------
    state : dict
        The city state from :func:`city_state`.

    Returns
    -------
    str
        The legend as an HTML string.
    """
    items = []
    for (name, colour, opacity), n in zip(LEGEND, state["legend"]):
        items.append(f'<span class="legend-item" data-count="{n}" style="margin-right:10px; white-space:nowrap">'
                     f'<span class="swatch" style="display:inline-block; width:11px; height:11px; background:{colour}; '
                     f'opacity:{opacity}; vertical-align:middle; margin-right:3px; border:1px solid #bbb"></span>'
                     f'{escape(name)} ({n})</span>')
    return '<div style="font-size:12px; line-height:1.6; margin-top:2px">' + " ".join(items) + "</div>"
# ----------------------------------------------------------------------------------- RT network
def rt_structure(model, rt: int) -> dict:
    """The RT's households, ties among them and leader kinds: fixed for a model, so computed once per RT."""
    c = model.city
    start, n = int(c.rt_start[rt]), int(c.rt_size[rt])
    block = c.adjacency[start:start + n]
    inside = block[:, start:start + n].tocoo()
    keep = inside.row < inside.col
    edges = np.column_stack([inside.row[keep], inside.col[keep]]).astype(int)
    cross = int(block.nnz - inside.nnz)
    kinds = {0: "rt_head"}
    mine = np.flatnonzero(c.leader_rt == rt)
    for i in mine:
        kinds[int(c.leader_node[i]) - start] = LEADER_KINDS[int(c.leader_kind[i])]
    n_leaders = 1 + mine.size
    return {"start": start, "n": n, "edges": edges, "cross": cross, "kinds": kinds,
            "pos": rt_network_layout(n, n_leaders), "subdistrict": SUBDISTRICTS[int(c.rt_subdistrict[rt])]}


def network_svg(model, rt: int, structure: dict | None = None) -> str:
    """One RT's households as a network: lit = taking part this month, hollow = not yet aware."""
    s = structure or rt_structure(model, rt)
    start, n, pos = s["start"], s["n"], s["pos"]
    x = model.households.x[start:start + n] > 0
    aware = model.households.aware[start:start + n]
    r = node_radius(n)
    e = s["edges"]
    lit_edge = x[e[:, 0]] & x[e[:, 1]] if len(e) else np.zeros(0, bool)
    out = ['<svg viewBox="-1.12 -1.12 2.24 2.24" xmlns="http://www.w3.org/2000/svg" data-testid="rt-network" '
           f'data-rt="{rt}" data-households="{n}" data-taking-part="{int(x.sum())}" '
           'style="width:100%; max-height:400px; display:block; margin:auto">']
    for group, colour, width, opacity in ((~lit_edge, "#9a9a9a", 0.006, 0.45), (lit_edge, "#E69F00", 0.01, 0.8)):
        segs = e[group]
        if len(segs):
            p0, p1 = pos[segs[:, 0]], pos[segs[:, 1]]
            d = " ".join(f"M{a:.3f} {b:.3f}L{c_:.3f} {d_:.3f}" for a, b, c_, d_ in np.hstack([p0, p1]))
            out.append(f'<path d="{d}" stroke="{colour}" stroke-width="{width}" stroke-opacity="{opacity}" '
                       'fill="none"/>')
    kinds = s["kinds"]
    for i in range(n):
        if i in kinds:
            continue
        fill = LIT if x[i] else (UNLIT if aware[i] else "#ffffff")
        out.append(f'<circle cx="{pos[i, 0]:.3f}" cy="{pos[i, 1]:.3f}" r="{r:.4f}" fill="{fill}" stroke="#666" '
                   f'stroke-width="{r * 0.25:.4f}" class="household" data-part="{int(x[i])}"/>')
    lr = 0.085
    for i, kind in sorted(kinds.items()):
        letter, colour, label = LEADER_STYLE[kind]
        fill = LIT if x[i] else (UNLIT if aware[i] else "#ffffff")
        out.append(f'<g class="leader" data-kind="{kind}" data-part="{int(x[i])}"><title>{label}, household '
                   f'{start + i}{", taking part" if x[i] else ""}</title>'
                   f'<circle cx="{pos[i, 0]:.3f}" cy="{pos[i, 1]:.3f}" r="{lr}" fill="{fill}" stroke="{colour}" '
                   f'stroke-width="0.03"/><text x="{pos[i, 0]:.3f}" y="{pos[i, 1] + 0.032:.3f}" font-size="0.09" '
                   f'text-anchor="middle" font-family="sans-serif" font-weight="bold" fill="{colour}">{letter}'
                   '</text></g>')
    out.append("</svg>")
    return "".join(out)


def network_legend_html() -> str:
    """Build the RT network's legend as HTML, explaining node fills, leader letters and lit ties.

    Returns
    -------
    str
        The legend as an HTML string.
    """
    sw = ('<span style="display:inline-block; width:11px; height:11px; border-radius:50%; border:1px solid #666; '
          'background:{}; vertical-align:middle; margin-right:4px"></span>')
    items = [sw.format(LIT) + "taking part this month", sw.format(UNLIT) + "aware, not taking part",
             sw.format("#fff") + "not yet aware of the programme"]
    for letter, colour, label in LEADER_STYLE.values():
        items.append(f'<b style="color:{colour}; border:2px solid {colour}; border-radius:50%; padding:0 4px; '
                     f'margin-right:4px">{letter}</b>{label}')
    items.append('<span style="display:inline-block; width:16px; border-top:2px solid #E69F00; vertical-align:middle; '
                 'margin-right:4px"></span>tie between two households taking part')
    return ('<div style="font-size:11px; line-height:1.6">'
            + " ".join(f'<span style="margin-right:12px; white-space:nowrap">{i}</span>' for i in items) + "</div>")


def rt_summary(model, rt: int, s: dict) -> str:
    """Describe one RT in a sentence (status, households taking part, scores, motivation and incentive).

    It captions the RT's network: the motivation (waning campaign/award part) and the incentive (standing
    stakes: cost of stopping, tranches, Kencana prospect) are shown apart, as the model keeps them.

    Parameters
    ----------
    model : BantarModel
        The running model.
    rt : int
        The RT's index.
    s : dict
        The RT's structure from :func:`rt_structure`.

    Returns
    -------
    str
        One line of plain text.
    """
    rs = model.rt_state
    status = STATUS_NAMES[int(rs.status[rt])]
    since = f", awarded {int(rs.award_year[rt])}" if rs.award_year[rt] >= 0 else ""
    practising = "practising" if model.practising_mask()[rt] else "not practising"
    n = s["n"]
    taking = int((model.households.x[s["start"]:s["start"] + n] > 0).sum())
    sc = rs.scores[:, rt]
    return (f"RT {rt}, {s['subdistrict']}: {status}{since} ({practising}); {n} households, {taking} taking part "
            f"({taking / n:.0%}); scores clean {sc[0]:.2f}, safe {sc[1]:.2f}, smart {sc[2]:.2f}; "
            f"motivation {rs.motivation[rt]:.2f}, incentive {rs.incentive[rt]:.2f}; "
            f"RJ house {'yes' if rs.rj_house[rt] else 'no'}; "
            f"{s['cross']} ties to a neighbouring RT (not drawn)")


