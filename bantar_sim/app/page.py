"""The teaching app: Jambi's RTs and one RT's households, live in a browser (Mesa SolaraViz).

`bantar-sim viz` serves this module with Solara on 127.0.0.1; `page` is the SolaraViz page. What a class
sees:
- the city: every RT a tile, grouped by sub-district, coloured by Bantar status (click a tile to pick it);
- the picked RT: its households as a network, those taking part lit, leaders marked by kind;
- charts that grow as the model runs: winners per year beside the published Table 3 counts, household
  participation, Bantar RTs (holding the label, still practising, lapsed, Kencana);
- sliders and switches for the policy levers and key parameters (they take effect on Reset).

Everything drawn per step is plain SVG built from the model's arrays, and the geometry comes from
`bantar_sim.app.layouts` (cached), so a step only ships new colours: see benchmarks/bench_app.py for the
redraw time per step of the classroom and full presets.
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from html import escape
from urllib.parse import parse_qs

import ipyvuetify as v
import mesa.visualization.solara_viz as mesa_viz
import numpy as np
import solara
import traitlets
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from bantar_sim.app.charts import bantar_chart, levers_on, participation_chart, winners_chart
from bantar_sim.app.layouts import city_layout, node_radius, rt_network_layout
from bantar_sim.model.agents import BANTAR, KENCANA, STATUS_NAMES
from bantar_sim.model.city import LEADER_KINDS
from bantar_sim.model.data import SUBDISTRICTS
from bantar_sim.model.model import START_YEAR, BantarModel
from bantar_sim.model.params import SPECS, ParameterError, check_value
from bantar_sim.studies.inputs import resolve_parameter_set
from bantar_sim.studies.teaching import APP_DEFAULTS, PRESETS

# ------------------------------------------------------------------------------------- presets
# The city presets and the default end year are shared with docs/teaching.md's generated numbers.
# `bantar-sim viz --preset/--seed` (validated there) pass the starting city and seed through the environment.
DEFAULT_PRESET = os.environ.get("BANTAR_VIZ_PRESET", "classroom")
DEFAULT_PRESET = DEFAULT_PRESET if DEFAULT_PRESET in PRESETS else "classroom"
DEFAULT_SEED = os.environ.get("BANTAR_VIZ_SEED", "2014")
DEFAULT_SEED = DEFAULT_SEED if DEFAULT_SEED.isdigit() else "2014"
# `bantar-sim viz --uncalibrated`: start from the status-quo defaults even if a calibrated set exists.
USE_CALIBRATED = os.environ.get("BANTAR_VIZ_UNCALIBRATED") != "1"
# The parameter set under the controls (`bantar-sim viz --calibrated FILE` passes its file).
PARAMETER_SET = resolve_parameter_set(os.environ.get("BANTAR_VIZ_CALIBRATED") or None,
                                      uncalibrated=not USE_CALIBRATED)


def base_overrides() -> dict:
    """The parameter set under the app's controls: calibration/calibrated.toml's, unless --uncalibrated."""
    return dict(PARAMETER_SET.params)

# (parameter, label, slider min, slider max, step) — ranges lie inside SPECS' allowed ranges; a few
# are narrowed to the part that is useful in class. Booleans become switches, strings a select.
CONTROLS = [
    ("end_year", "last simulated year", 2014, 2035, 1),
    ("policy_start_year", "policy levers start (year)", 2014, 2035, 1),
    ("kencana", "Kencana tier (needs an RJ house)", None, None, None),
    ("adoption", "adoption: RTs not yet Bantar learn from a Bantar RT", None, None, None),
    ("monitoring", "participatory monitoring (0–1)", 0.0, 1.0, 0.05),
    ("informal_engagement", "engage religious & traditional leaders (0–1)", 0.0, 1.0, 0.05),
    ("youth_regeneration", "youth regeneration (0–1)", 0.0, 1.0, 0.05),
    ("dissemination_campaign", "dissemination campaign (per month)", 0.0, 0.2, 0.01),
    ("reward_fund", "reward fund per award (million IDR)", 0.0, 100.0, 5.0),
    ("reward_mode", "reward paid", None, None, None),
    ("social_influence", "social influence of neighbours (logit)", 0.0, 12.0, 0.5),
    ("leader_mobilisation", "RT head mobilisation (logit)", 0.0, 6.0, 0.25),
    ("post_award_waning", "motivation wanes after the assessment", None, None, None),
    ("waning_half_life", "waning half-life (months)", 1.0, 60.0, 1.0),
    ("assessment_threshold", "assessment standard (mean score)", 0.0, 1.0, 0.05),
    ("practice_standard", "practising: participation at least", 0.0, 1.0, 0.05),
]

# Okabe–Ito colours (safe for colour-blind students): never, proposed, Bantar, Kencana, lapsed.
STATUS_COLOURS = ("#d4d4d4", "#56B4E9", "#009E73", "#E6C200", "#D55E00")
LIT, UNLIT = "#FFC20A", "#e3e3e3"
LEADER_STYLE = {"rt_head": ("H", "#000000", "RT head"), "religious": ("R", "#0072B2", "religious leader"),
                "traditional": ("T", "#CC79A7", "traditional (adat) leader"),
                "youth": ("Y", "#E69F00", "youth leader")}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")


def default_values(overrides: dict | None = None) -> dict:
    """Slider start values: the calibrated set if calibration/calibrated.toml exists, else SPECS defaults."""
    base = {name: SPECS[name].default for name, *_ in CONTROLS}
    cal = base_overrides()
    base.update({k: v for k, v in cal.items() if k in base})
    base.update(APP_DEFAULTS)
    base.update(overrides or {})
    return base


def make_model_params(preset: str = DEFAULT_PRESET, seed: str = DEFAULT_SEED) -> dict:
    """SolaraViz `model_params`: a city preset, a seed, and the CONTROLS; they apply on Reset."""
    values = default_values()
    params: dict = {
        "preset": {"type": "Select", "value": preset, "values": list(PRESETS),
                   "label": "city: classroom (10% of RTs) or full (all 1,627)"},
        "seed": {"type": "InputText", "value": str(seed), "label": "random seed (whole number)"},
    }
    for name, label, lo, hi, step in CONTROLS:
        spec = SPECS[name]
        if spec.kind is bool:
            params[name] = {"type": "Checkbox", "value": bool(values[name]), "label": label}
        elif spec.kind is str:
            params[name] = {"type": "Select", "value": values[name], "values": list(spec.choices), "label": label}
        else:
            for bound in (lo, hi):  # a slider must never offer a value the model rejects
                check_value(name, bound, "app slider range")
            params[name] = {"type": "SliderInt" if spec.kind is int else "SliderFloat", "value": values[name],
                            "min": lo, "max": hi, "step": step, "label": f"{label} [{name}]"}
    return params


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
    # The calibrated set (if calibration/calibrated.toml exists) under the controls, the preset on top.
    kwargs = {k: v for k, v in base_overrides().items() if k not in PRESETS[preset]}
    kwargs.update({name: check_value(name, value, "app") for name, value in params.items()})
    kwargs.update(PRESETS[preset])
    return {"rng": rng, **kwargs}


class AppModel(BantarModel):
    """BantarModel as the app builds it: a preset and a seed, and a clear message instead of a crash.

    SolaraViz's Reset calls `type(model)(**slider_values)`. A combination the model rejects (e.g.
    assessment_threshold above kencana_threshold) must not end in a stack trace: the model is rebuilt
    with the last accepted settings of this browser session and `rejected` says what was wrong.
    `session_class()` makes one subclass per session, so sessions never share their last settings.
    """

    last_accepted: dict | None = None
    builds = 0          # models built in this session: the page shows it, so a test can see a Reset land

    def __init__(self, preset: str = DEFAULT_PRESET, seed: str | int = DEFAULT_SEED, scenario=None, **params):
        # Mesa's Reset also passes its default (empty) `scenario`: this model's settings are its parameters
        # (bantar_sim.model.params), so the scenario object carries nothing and is not passed on.
        self.rejected = None
        try:
            kwargs = resolve(preset, seed, params)
            BantarModel.__init__(self, **kwargs)      # validates before building anything
            type(self).last_accepted = {"preset": preset, "seed": seed, **params}
        except ParameterError as err:
            fallback = type(self).last_accepted or {"preset": DEFAULT_PRESET, "seed": DEFAULT_SEED,
                                                    **default_values()}
            fb = dict(fallback)
            kwargs = resolve(fb.pop("preset"), fb.pop("seed"), fb)
            BantarModel.__init__(self, **kwargs)
            self.rejected = str(err)
            preset, seed = fallback["preset"], fallback["seed"]
        self.preset = preset
        self.seed_used = kwargs["rng"]
        self.calibrated = bool(base_overrides())
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


# ----------------------------------------------------------------------------------- city tiles
# Per step only two short strings change (one character per RT), so the server's diff and the message
# to the browser stay small even for the full city; the geometry (JSON) is sent once per city.
CITY_TEMPLATE = """
<template>
  <svg :viewBox="'0 0 ' + width + ' ' + height" xmlns="http://www.w3.org/2000/svg" data-testid="city-map"
       role="img" aria-label="RTs of Jambi City coloured by Bantar status"
       :style="'width:100%; max-height:' + max_height + 'px; display:block; margin:auto'">
    <text v-for="b in geo.blocks" :key="'label-' + b.name" :x="b.label_x" :y="b.label_y" :font-size="geo.font"
          font-family="sans-serif" fill="#222">{{ b.name }}</text>
    <rect v-for="(t, i) in geo.tiles" :key="i" :x="t[0]" :y="t[1]" :width="geo.tile" :height="geo.tile"
          :fill="colours[status[i]]" :fill-opacity="faded[i] === '1' ? 0.4 : 1"
          :stroke="i === picked ? '#000' : 'none'" :stroke-width="geo.tile * 0.22"
          :data-rt="i" :data-status="status[i]" class="rt-tile" style="cursor:pointer" @click="pick(i)">
      <title>{{ 'RT ' + i + ' (' + geo.sd_names[geo.sd[i]] + '): ' + names[status[i]]
                + (faded[i] === '1' ? ', no longer practising' : '') + ' - click to see its households' }}</title>
    </rect>
  </svg>
</template>
<script>
module.exports = {
  computed: {
    geo() { return JSON.parse(this.geometry); },
  },
};
</script>
"""


class CityTilesWidget(v.VuetifyTemplate):
    """The city as SVG tiles rendered by Vue in the browser: geometry is sent once, colours per step."""

    template = traitlets.Unicode(CITY_TEMPLATE).tag(sync=True)
    geometry = traitlets.Unicode("{}").tag(sync=True)       # JSON: tiles, blocks, sd, sd_names, font, tile
    width = traitlets.Float(1.0).tag(sync=True)
    height = traitlets.Float(1.0).tag(sync=True)
    max_height = traitlets.Int(390).tag(sync=True)
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


picked_rt = solara.reactive(None)   # per browser session (solara keeps module reactives per session)


def city_state(model) -> dict:
    """What changes per step in the city picture: status per RT, and which labelled RTs stopped practising."""
    status = model.rt_state.status
    labelled = np.isin(status, (BANTAR, KENCANA))
    faded = labelled & ~model.practising_mask()
    counts = np.bincount(status, minlength=len(STATUS_NAMES))
    return {"status": (status.astype(np.uint8) + ord("0")).tobytes().decode("ascii"),
            "faded": (faded.astype(np.uint8) + ord("0")).tobytes().decode("ascii"),
            "counts": counts.tolist(), "n_faded": int(faded.sum())}


@lru_cache(maxsize=16)
def _geometry_json(rt_counts: tuple[int, ...]) -> tuple[str, float, float]:
    geo = city_layout(rt_counts, SUBDISTRICTS, columns=4)
    sd = np.repeat(np.arange(len(rt_counts)), rt_counts).tolist()
    payload = {"tiles": [list(t) for t in geo.tiles], "blocks": list(geo.blocks), "sd": sd,
               "sd_names": list(SUBDISTRICTS), "font": geo.font, "tile": geo.tile}
    return json.dumps(payload, separators=(",", ":")), geo.width, geo.height


def city_geometry(model) -> tuple[str, float, float]:
    """The tile grid as JSON (cached per city size: a Reset of the same preset reuses it)."""
    return _geometry_json(tuple(int(c) for c in model.city.rt_counts))


def month_label(model) -> str:
    """'Step 14 of 144: February 2015 simulated' — the month the last step finished."""
    total = model.n_years * 12
    if model.tick == 0:
        return f"Step 0 of {total}: January {START_YEAR} not yet simulated"
    done = model.tick - 1
    return f"Step {model.tick} of {total}: {MONTHS[done % 12]} {START_YEAR + done // 12} simulated"


def panel(height: int | None = None):
    """A card: a single vuetify sheet (solara.Card costs several elements per redraw)."""
    size = f"height:{height}px; " if height else f"height:{TOP_HEIGHT}px; "
    return solara.v.Sheet(elevation=2, class_="pa-3", style_=size + "overflow:auto")


def status_banner(model):
    """Plain messages a class can read: rejected settings, finished run, levers that cannot act.

    A plain function drawn inside CityView (not a component of its own): every component that listens
    to the step counter costs the server one more render pass per step.
    """
    if getattr(model, "rejected", None):
        solara.Error(f"Reset refused: {model.rejected}. The city was rebuilt with the previous accepted "
                     "settings; move the slider(s) named here and press Reset again.", dense=True)
    if not model.running:
        solara.Success(f"Finished: the run reached December {model.p.end_year} (end_year). Press Reset to "
                       "start again, or raise 'last simulated year' and press Reset.", dense=True)
    on = levers_on(model.p)
    if on and model.p.policy_start_year > model.p.end_year:
        solara.Warning(f"Policy levers on ({', '.join(on)}) start in {model.p.policy_start_year}, after the "
                       f"last simulated year {model.p.end_year}: they change nothing in this run.", dense=True)


@solara.component
def CityView(model, tick: int = 0):
    """Every RT a tile, grouped by sub-district, coloured by status; click a tile to pick the RT.

    `tick` (the step counter) is passed only so that the view redraws when the model steps.
    """
    geometry, width, height = city_geometry(model)
    state = city_state(model)
    pick = picked_rt.value if picked_rt.value is not None and picked_rt.value < model.city.n_rts else -1
    with panel():
        status_banner(model)
        p = model.p
        on = levers_on(p)
        levers = (f"levers: {', '.join(on)} from {p.policy_start_year}" if on else "status quo (no policy lever on)")
        taking_part = float(model.households.x.mean())
        solara.HTML(tag="div", unsafe_innerHTML=escape(f"{month_label(model)}; {taking_part:.0%} taking part"),
                    attributes={"data-testid": "step-counter", "data-build": str(getattr(model, "build", 0)),
                                "data-participation": f"{taking_part:.4f}",
                                "style": "font-weight:600; font-size:15px"})
        solara.HTML(tag="div", unsafe_innerHTML=escape(
            f"{model.city.n_rts:,} RTs, {model.city.n_households:,} households ({model.preset} city, scale "
            f"{p.scale:g}), seed {model.seed_used}, {'calibrated' if model.calibrated else 'default'} "
            f"parameters; {levers}"),
            attributes={"data-testid": "city-summary", "style": "font-size:12px; color:#555"})
        CityTilesWidget.element(
            geometry=geometry, width=width, height=height,
            status=state["status"], faded=state["faded"], picked=int(pick),
            pick_handler=lambda i: picked_rt.set(i))
        solara.HTML(tag="div", unsafe_innerHTML=city_legend_html(state), attributes={"data-testid": "city-legend"})


def city_legend_html(state: dict) -> str:
    """Build the city map's legend as HTML, with the count of RTs in each status so the map can be read.

    Parameters
    ----------
    state : dict
        The city state from :func:`city_state` (``counts`` per status and ``n_faded``).

    Returns
    -------
    str
        The legend as an HTML string.
    """
    items = []
    for k, (name, colour) in enumerate(zip(STATUS_NAMES, STATUS_COLOURS)):
        items.append(f'<span style="margin-right:12px; white-space:nowrap"><span style="display:inline-block; '
                     f'width:12px; height:12px; background:{colour}; vertical-align:middle; margin-right:4px">'
                     f'</span>{escape(name)} ({state["counts"][k]})</span>')
    items.append(f'<span style="white-space:nowrap"><span style="display:inline-block; width:12px; height:12px; '
                 f'background:{STATUS_COLOURS[BANTAR]}; opacity:0.4; vertical-align:middle; margin-right:4px">'
                 f'</span>faded: holds the label but no longer practising ({state["n_faded"]})</span>')
    return '<div style="font-size:12px; line-height:1.8; margin-top:6px">' + " ".join(items) + "</div>"


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
    return ('<div style="font-size:12px; line-height:1.9">'
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


@solara.component
def NetworkView(model, tick: int = 0):
    """The picked RT's households: the street ring outside, the RT head and informal leaders inside."""
    n_rts = model.city.n_rts
    rt = picked_rt.value if picked_rt.value is not None and 0 <= picked_rt.value < n_rts else None
    structure = solara.use_memo(lambda: rt_structure(model, rt) if rt is not None else None, [model, rt])
    with panel():
        solara.HTML(tag="div", unsafe_innerHTML="One RT's households",
                    attributes={"style": "font-weight:600; font-size:15px"})
        solara.SliderInt("RT number (or click a tile)", value=rt if rt is not None else 0,
                         on_value=lambda i: picked_rt.set(int(i)), min=0, max=n_rts - 1)
        if rt is None:
            solara.Info("Click an RT tile in the city (or move the slider) to see its households and leaders.",
                        dense=True)
            return
        solara.HTML(tag="div", unsafe_innerHTML=escape(rt_summary(model, rt, structure)),
                    attributes={"data-testid": "rt-summary", "style": "font-size:12px"})
        solara.HTML(tag="div", unsafe_innerHTML=network_svg(model, rt, structure))
        solara.HTML(tag="div", unsafe_innerHTML=network_legend_html())


@solara.component
def Chart(draw, model, tick: int = 0):
    """One chart card; `draw(model)` returns its SVG, `tick` makes it redraw on every step."""
    with panel(height=CHART_HEIGHT):
        solara.HTML(tag="div", unsafe_innerHTML=draw(model))


TOP_HEIGHT, CHART_HEIGHT = 670, 370


@solara.component
def Dashboard(model):
    """The whole main area as one component: city and network on top, the three charts below.

    One component listening to the step counter means one server render pass per step; five separate
    grid components cost five passes (each walks the whole page), which doubled the redraw time.
    """
    tick = update_counter.get()
    with solara.Columns([7, 5], gutters_dense=True):
        CityView(model, tick)
        NetworkView(model, tick)
    with solara.Columns([1, 1, 1], gutters_dense=True):
        for draw in (winners_chart, participation_chart, bantar_chart):
            Chart(draw, model, tick)


COMPONENTS = [Dashboard]


# --------------------------------------------------------------------------------------- layout
def grid_layout(num_components: int) -> list[dict]:
    """The dashboard fills the main area (12 columns of Mesa's grid, 40 px rows)."""
    if num_components != len(COMPONENTS):
        return _mesa_grid_layout(num_components)
    return [{"i": 0, "x": 0, "y": 0, "w": 12, "h": (TOP_HEIGHT + CHART_HEIGHT + 60) // 40, "moved": False}]


# Mesa's SolaraViz puts every component in a half-width cell; this app's own arrangement replaces its
# initial layout (users can still drag and resize the cells). Both replacements below are looked up by
# SolaraViz at render time and only change how its parts are arranged and labelled.
_mesa_grid_layout = mesa_viz.make_initial_grid_layout
mesa_viz.make_initial_grid_layout = grid_layout


@solara.component
def LabelledSlider(label, value, min, max, step, on_value, integer=False, name=""):
    """A slider whose current value is always written next to its name (a class must see the setting)."""
    current, set_current = solara.use_state(value)

    def changed(new):
        set_current(new)
        on_value(new)

    shown = f"{current:d}" if integer else f"{current:g}"
    with solara.Column(gap="0px", style={"margin-bottom": "4px"}):
        solara.HTML(tag="div", unsafe_innerHTML=f"{escape(label)}: <b>{shown}</b>",
                    attributes={"style": "font-size:13px", "data-param": name, "data-value": shown})
        (solara.SliderInt if integer else solara.SliderFloat)(
            "", value=current, on_value=changed, min=min, max=max, step=step)


@solara.component
def UserInputs(user_params, on_change=None):
    """Mesa's parameter inputs, but sliders show their value; other inputs are Mesa's own."""
    for name, options in user_params.items():
        def change_handler(value, name=name):
            on_change(name, value)

        if not isinstance(options, dict) or options.get("type") not in ("SliderInt", "SliderFloat"):
            _mesa_user_inputs({name: options}, on_change=on_change)
            continue
        LabelledSlider(options.get("label", name), options.get("value"), options.get("min"), options.get("max"),
                       options.get("step"), change_handler, integer=options["type"] == "SliderInt", name=name)


_mesa_user_inputs = mesa_viz.UserInputs
mesa_viz.UserInputs = UserInputs


# ----------------------------------------------------------------------------------------- page
def preset_from_query(search: str | None) -> str:
    """`/?preset=full` opens the full city (the CLI's --preset sets the default)."""
    values = parse_qs(search or "").get("preset", [])
    return values[0] if values and values[0] in PRESETS else DEFAULT_PRESET


@solara.component
def Page():
    """One model per browser session, built from the same values the sliders start at."""
    router = solara.use_router()
    preset = preset_from_query(router.search)
    cls = solara.use_memo(session_class, [])
    params = solara.use_memo(lambda: make_model_params(preset, DEFAULT_SEED), [preset])
    model = solara.use_memo(
        lambda: cls(**{k: o["value"] if isinstance(o, dict) else o for k, o in params.items()}), [params])
    return SolaraViz(model, components=COMPONENTS, model_params=params,
                     name="Kampung Bantar: citizen participation in Jambi (teaching app)", play_interval=150)


page = Page()
