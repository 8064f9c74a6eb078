"""The teaching app: Jambi's RTs and one RT's households, live in a browser (a Mesa model served by Solara).

`bantar-sim viz` serves this module with Solara on 127.0.0.1. One screen (1280×720 and up; it stacks on a
phone): a sidebar with the run controls and the parameters (each with its value and a one-line help), and
a main area with a Model tab — monitors, the city (click a tile), the chosen RT's households and three
charts, with the previous or a pinned run drawn faintly and CSV/PNG downloads — and a Guide tab for
students (bantar_sim.app.guide) whose exercise buttons set their parameters and start a new run.

The frame is the app's own rather than Mesa's SolaraViz: SolaraViz's sidebar offers what students do not
need (a "Use Threads" box, a "Page 0" tab, an "Information" card), its sliders snap calibrated values to
their step grid (so Reset did not reproduce the first run), its render interval takes only odd values and
its play button stayed a greyed pause when a run ended. The stepping follows SolaraViz's: Mesa's
`update_counter`/`force_update` make the one dashboard component redraw per step.
"""
from __future__ import annotations

import os
import tempfile
import time
from html import escape
from pathlib import Path
from urllib.parse import parse_qs

import solara
import solara.lab
from mesa.visualization.utils import force_update, update_counter
from solara import v

from bantar_sim.app import views
from bantar_sim.app.charts import bantar_chart, levers_on, participation_chart, winners_chart
from bantar_sim.app.controls import (
    CONTROLS,
    DEFAULT_PRESET,
    DEFAULT_SEED,
    HELP,
    PARAMETER_SET,
    numeric_controls,
    parameter_set_label,
    session_class,
    show_value,
    start_settings,
)
from bantar_sim.app.guide import Guide
from bantar_sim.app.records import csv_text, png_bytes, run_record
from bantar_sim.model.params import SPECS
from bantar_sim.studies.teaching import EXERCISE_BY_KEY, PRESETS, guide_numbers_note

TITLE = "Kampung Bantar: citizen participation in Jambi"
MONTHS_PER_CLICK = (1, 3, 6, 12)
HELP_STYLE = {"font-size": "11px", "color": "#555", "line-height": "1.25"}
PAUSES_MS = (0, 50, 100, 150, 250, 500, 1000)

# One screen at 1280x720: a 300 px sidebar, a dense app bar, and a grid that fills the rest of the height
# (monitors; city | RT; three charts). Below 960 px the grid becomes one column and the page scrolls; the
# sidebar then slides over the page and closes with its ✕ (or the ☰ in the bar, or a tap beside it).
CSS = """
.bantar-nav { width: 300px !important; max-width: 85vw !important; }
.bantar-nav .v-navigation-drawer__content { padding: 8px 10px; }
.bantar-main { height: calc(100vh - 48px); overflow: auto; padding: 6px 8px; box-sizing: border-box; }
.bantar-dash { display: grid; height: 100%; gap: 6px; grid-template-columns: minmax(0, 7fr) minmax(0, 5fr);
  grid-template-rows: auto minmax(0, 1fr) auto; }
.bantar-top { grid-column: 1 / span 2; display: flex; flex-wrap: wrap; align-items: center; gap: 6px; }
.bantar-card { background: #fff; border-radius: 4px; box-shadow: 0 1px 3px rgba(0,0,0,.25); padding: 4px 8px;
  min-height: 0; display: flex; flex-direction: column; overflow: hidden; }
.bantar-grow { flex: 1 1 auto; min-height: 0; display: flex; }
.bantar-grow > div, .bantar-grow svg { width: 100%; height: 100%; }
.bantar-charts { grid-column: 1 / span 2; display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 6px; }
.bantar-charts svg { max-height: 31vh; }
.control { margin-bottom: 10px; }
.control .help { font-size: 11px; color: #555; line-height: 1.25; }
.control .v-input { margin-top: 0 !important; padding-top: 0 !important; }
.control .v-messages { display: none; }
.close-sidebar { display: none !important; }
@media (max-width: 959px) {
  .bantar-dash { display: block; height: auto; }
  .bantar-card { margin-bottom: 6px; }
  .bantar-grow { display: block; height: auto; }
  .bantar-grow svg { height: auto; }
  .bantar-charts { display: block; }
  .bantar-charts svg { max-height: none; }
  .close-sidebar { display: inline-flex !important; }
  .bantar-main { height: auto; }
}
"""


def _fix_solara_navigator() -> None:
    """Solara 1.64's router widget writes `modules.export` for `module.exports`: Vue then logs "Failed to evaluate
    Vue script" on every page load. Serve a corrected copy of that one template (same code, the typo fixed).
    """
    from solara.widgets import widgets as solara_widgets

    nav = solara_widgets.Navigator
    source = Path(nav.template_file) if isinstance(nav.template_file, str) else None
    if source is None or not source.is_file():
        return
    text = source.read_text(encoding="utf-8")
    if "modules.export =" not in text:
        return
    fixed = Path(tempfile.gettempdir()) / f"bantar-sim-solara-navigator-{os.getuid()}.vue"
    new = text.replace("modules.export =", "module.exports =", 1)
    if not fixed.is_file() or fixed.read_text(encoding="utf-8") != new:
        fixed.write_text(new, encoding="utf-8")
    nav.template_file = str(fixed)


_fix_solara_navigator()


def preset_from_query(search: str | None) -> str:
    """`/?preset=full` opens the full city (the CLI's --preset sets the default)."""
    values = parse_qs(search or "").get("preset", [])
    return values[0] if values and values[0] in PRESETS else DEFAULT_PRESET


# ------------------------------------------------------------------------------------- sidebar
@solara.component
def Control(name: str, label: str, value, on_value, values: list | None = None):
    """One parameter: its name and current value, a one-line help, and its input (slider, switch or select)."""
    spec = SPECS[name]
    with solara.Div(classes=["control"], attributes={"data-control": name, "data-value": show_value(value)}):
        solara.HTML(tag="div", unsafe_innerHTML=f"{escape(label)}: <b>{escape(show_value(value))}</b>",
                    attributes={"style": "font-size:13px"})
        if spec.kind is bool:
            solara.Switch(label="on" if value else "off", value=bool(value), on_value=on_value)
        elif spec.kind is str:
            solara.Select(label="", value=value, values=list(spec.choices), on_value=on_value)
        else:
            index = min(range(len(values)), key=lambda k: abs(values[k] - value))
            solara.SliderInt("", value=index, min=0, max=len(values) - 1, thumb_label=False,
                             on_value=lambda k: on_value(values[int(k)]))
        solara.HTML(tag="div", unsafe_innerHTML=escape(HELP[name]), style=HELP_STYLE)


@solara.component
def Sidebar(settings, grids, run, playing, running, per_click, pause, on_reset, on_defaults, on_close):
    """Run controls (Reset, ▶/❚❚, Step, months per click, speed) and the parameters, each with help."""
    s = settings.value

    def set_param(name):
        return lambda value: settings.set({**settings.value, name: value})

    with solara.Div(attributes={"data-testid": "sidebar"}):
        with solara.Row(justify="space-between", style={"align-items": "center"}):
            solara.HTML(tag="b", unsafe_innerHTML="Run")
            solara.Button("✕ close", text=True, small=True, on_click=on_close, classes=["close-sidebar"],
                          attributes={"data-testid": "close-sidebar"})
        with solara.Row(gap="6px"):
            solara.Button("Reset", color="primary", on_click=on_reset,
                          attributes={"title": "new run with the settings below"})
            solara.Button("❚❚" if playing.value else "▶", color="primary", disabled=not running.value,
                          on_click=lambda: playing.set(not playing.value),
                          attributes={"data-testid": "play", "title": "play / pause"})
            solara.Button("Step", color="primary", disabled=playing.value or not running.value,
                          on_click=lambda: run(per_click.value), attributes={"title": "advance by months per click"})
        solara.HTML(tag="div", unsafe_innerHTML=f"months per click: <b>{per_click.value}</b>",
                    attributes={"style": "font-size:13px; margin-top:4px"})
        solara.ToggleButtonsSingle(value=per_click.value, values=list(MONTHS_PER_CLICK), on_value=per_click.set,
                                   dense=True, classes=["per-click"])
        solara.HTML(tag="div", unsafe_innerHTML=f"pause between steps when playing: <b>{pause.value} ms</b>",
                    attributes={"style": "font-size:13px; margin-top:4px", "data-testid": "pause-value"})
        with solara.Div(attributes={"data-testid": "pause-slider"}):
            solara.SliderInt("", value=PAUSES_MS.index(pause.value), min=0, max=len(PAUSES_MS) - 1,
                             thumb_label=False, on_value=lambda k: pause.set(PAUSES_MS[int(k)]))
        solara.Button("Calibrated defaults + Reset", small=True, outlined=True, on_click=on_defaults,
                      attributes={"data-testid": "defaults",
                                  "title": "every control back to its start value (exact calibrated values), new run"})
        solara.HTML(tag="div", unsafe_innerHTML="<b>Parameters</b> <span style='font-size:11px; color:#555'>"
                    "(take effect on Reset)</span>", attributes={"style": "margin-top:8px"})
        with solara.Div(classes=["control"], attributes={"data-control": "preset", "data-value": s["preset"]},
                        style={"margin-top": "10px"}):
            solara.Select(label="city", value=s["preset"], values=list(PRESETS), on_value=set_param("preset"))
            solara.HTML(tag="div", unsafe_innerHTML=escape(HELP["preset"]), style=HELP_STYLE)
        with solara.Div(classes=["control"], attributes={"data-control": "seed", "data-value": str(s["seed"])}):
            solara.InputText("random seed (whole number)", value=str(s["seed"]), on_value=set_param("seed"))
            solara.HTML(tag="div", unsafe_innerHTML=escape(HELP["seed"]), style=HELP_STYLE)
        for name, label, *_ in CONTROLS:
            Control(name, label, s[name], set_param(name), grids.get(name))


# ------------------------------------------------------------------------------------ main area
@solara.component
def Toolbar(model, compare, pinned, on_pin):
    """Pin/unpin a run for comparison, and the downloads (their data functions are kept per model and compared
    run, so a download stays armed while the model steps).
    """
    compare_name = compare["name"] if compare else ""
    csv_data = solara.use_memo(lambda: (lambda: csv_text(model)), [model])
    png_data = solara.use_memo(lambda: (lambda: png_bytes(model, compare)), [model, id(compare)])
    with solara.Row(gap="4px", style={"align-items": "center", "margin-left": "auto"}):
        solara.Button("unpin" if pinned.value else "pin this run", icon_name="mdi-pin", small=True, outlined=True,
                      on_click=on_pin,
                      attributes={"data-testid": "pin", "title": "keep this run faint on the charts"})
        solara.FileDownload(csv_data, filename="bantar-run.csv", label="CSV", mime_type="text/csv")
        solara.FileDownload(png_data, filename="bantar-charts.png", label="PNG", mime_type="image/png")
        if compare_name:
            solara.HTML(tag="span", unsafe_innerHTML=f"faint: {escape(compare_name)}",
                        attributes={"style": "font-size:11px; color:#555", "data-testid": "compare-name"})


BANNER = ('<div data-testid="banner-{0}" style="font-size:12px; line-height:1.3; padding:2px 6px; margin-bottom:2px; '
          'border-radius:3px; background:{1}; color:#111">{2}</div>')


def status_banner(model):
    """Plain one-line messages a class can read: rejected settings, finished run, levers that cannot act."""
    if getattr(model, "rejected", None):
        solara.HTML(tag="div", unsafe_innerHTML=BANNER.format(
            "rejected", "#f8d7da", escape(f"Reset refused: {model.rejected}. The city was rebuilt with the previous "
                                          "accepted settings; change the control(s) named here and press Reset "
                                          "again.")))
    if not model.running:
        solara.HTML(tag="div", unsafe_innerHTML=BANNER.format(
            "finished", "#d4edda", escape(f"Finished: the run reached December {model.p.end_year}. Press Reset to "
                                          "start again, or raise 'last simulated year' and press Reset.")))
    on = levers_on(model.p)
    if on and model.p.policy_start_year > model.p.end_year:
        solara.HTML(tag="div", unsafe_innerHTML=BANNER.format(
            "levers-late", "#fff3cd", escape(f"Policy levers on ({', '.join(on)}) start in "
                                             f"{model.p.policy_start_year}, after the last simulated year "
                                             f"{model.p.end_year}: they change nothing in this run.")))


@solara.component
def Dashboard(model, compare, picked, pinned, on_pin):
    """Monitors, city, the chosen RT and the three charts: one component, so one render pass per step."""
    update_counter.get()
    state = views.city_state(model)
    geo, width, height = views.city_geometry(model)
    n_rts = model.city.n_rts
    rt = picked.value if picked.value is not None and 0 <= picked.value < n_rts else None
    structure = solara.use_memo(lambda: views.rt_structure(model, rt) if rt is not None else None, [model, rt])
    part = views.last_recorded(model, "participation")
    p = model.p
    on = levers_on(p)
    levers = f"levers: {', '.join(on)} from {p.policy_start_year}" if on else "status quo (no policy lever on)"
    with solara.Div(classes=["bantar-dash"]) as root:
        with solara.Div(classes=["bantar-top"]):
            solara.HTML(tag="div", unsafe_innerHTML=views.monitors_html(model), attributes={"data-testid": "monitors"})
            Toolbar(model, compare, pinned, on_pin)
        DashboardBody(model, compare, picked, state, geo, width, height, rt, structure, part, levers)
    return root


def DashboardBody(model, compare, picked, state, geo, width, height, rt, structure, part, levers):
    """The city, RT and chart cards (a plain function: drawn inside Dashboard's grid, no render pass of its own)."""
    n_rts = model.city.n_rts
    with solara.Div(classes=["bantar-card", "city-card"]):
        status_banner(model)
        solara.HTML(tag="div", unsafe_innerHTML=escape(
            f"{views.month_label(model)} · {'–' if part is None else f'{part:.0%}'} of households taking part"),
            attributes={"data-testid": "step-counter", "data-build": str(getattr(model, "build", 0)),
                        "data-step": str(model.tick), "data-participation": "" if part is None else f"{part:.4f}",
                        "style": "font-weight:600; font-size:15px"})
        solara.HTML(tag="div", unsafe_innerHTML=escape(
            f"{n_rts:,} RTs, {model.city.n_households:,} households ({model.preset} city), seed {model.seed_used}, "
            f"{parameter_set_label(model)}; {levers}"),
            attributes={"data-testid": "city-summary", "style": "font-size:11px; color:#444"})
        with solara.Div(classes=["bantar-grow"]):
            views.CityTilesWidget.element(geo=geo, width=width, height=height, max_height=2000,
                                          status=state["status"], faded=state["faded"], picked=-1 if rt is None else rt,
                                          pick_handler=lambda i: picked.set(i))
        solara.HTML(tag="div", unsafe_innerHTML=views.city_legend_html(state),
                    attributes={"data-testid": "city-legend"})
    with solara.Div(classes=["bantar-card", "rt-card"]):
        if rt is None:
            solara.HTML(tag="div", unsafe_innerHTML="<b>One RT's households</b>: click a tile in the city to see "
                        "its households and leaders.", attributes={"data-testid": "rt-hint", "style": "font-size:13px"})
        else:
            solara.HTML(tag="div", unsafe_innerHTML=escape(views.rt_summary(model, rt, structure))
                        + " <i style='color:#555'>(click a tile to show another RT)</i>",
                        attributes={"data-testid": "rt-summary", "style": "font-size:11px; line-height:1.3"})
            with solara.Div(classes=["bantar-grow"]):
                solara.HTML(tag="div", unsafe_innerHTML=views.network_svg(model, rt, structure))
            solara.HTML(tag="div", unsafe_innerHTML=views.network_legend_html())
    with solara.Div(classes=["bantar-charts"]):
        for draw in (winners_chart, participation_chart, bantar_chart):
            with solara.Div(classes=["bantar-card"]):
                solara.HTML(tag="div", unsafe_innerHTML=draw(model, compare))


# ----------------------------------------------------------------------------------------- page
@solara.component
def Page():
    """One model per browser session, built from exactly the values the controls start at."""
    router = solara.use_router()
    preset = preset_from_query(router.search)
    cls = solara.use_memo(session_class, [])
    start = solara.use_memo(lambda: start_settings(preset, DEFAULT_SEED), [preset])
    grids = solara.use_memo(lambda: numeric_controls(start), [start])
    settings = solara.use_reactive(start)
    model = solara.use_reactive(solara.use_memo(lambda: cls(**start), [start]))
    previous, pinned = solara.use_reactive(None), solara.use_reactive(None)
    picked = solara.use_reactive(0)          # an RT is always shown; a click on a tile picks another
    playing, running = solara.use_reactive(False), solara.use_reactive(True)
    per_click, pause = solara.use_reactive(1), solara.use_reactive(150)
    tab, sidebar_open = solara.use_reactive(0), solara.use_reactive(True)

    def run(months: int):
        m = model.value
        for _ in range(months):
            m.step()
            if not m.running:
                break
        if not m.running and m is model.value:       # (a Reset may have replaced the model meanwhile)
            # running first: setting playing ends this play task (solara may cancel the thread right there)
            running.set(False)
            playing.set(False)
        force_update()

    def play_loop():
        while playing.value and model.value.running:
            time.sleep(pause.value / 1000)
            if not playing.value:
                break
            run(per_click.value)

    solara.lab.use_task(play_loop, dependencies=[playing.value], prefer_threaded=True)

    def reset(new_settings: dict | None = None):
        playing.set(False)
        if new_settings is not None:
            settings.set(new_settings)
        old = model.value
        if old.tick > 0:
            previous.set(run_record(old, "previous run"))
        model.set(cls(**settings.value))
        running.set(True)

    def exercise(key: str):
        reset({**start, **EXERCISE_BY_KEY[key].settings})
        tab.set(0)

    def pin():
        pinned.set(None if pinned.value else run_record(model.value, "pinned run"))

    compare = pinned.value or previous.value
    if compare is not None and compare["scale"] != model.value.p.scale:
        compare = None          # a classroom run's counts beside the full city's would mislead
    with v.Html(tag="div", style_="height: 100vh") as main:
        solara.Style(CSS)
        with v.NavigationDrawer(app=True, clipped=True, v_model=sidebar_open.value, on_v_model=sidebar_open.set,
                                mobile_break_point=960, class_="bantar-nav", width=300):
            Sidebar(settings, grids, run, playing, running, per_click, pause, on_reset=lambda: reset(),
                    on_defaults=lambda: reset(dict(start)), on_close=lambda: sidebar_open.set(False))
        with v.AppBar(app=True, dense=True, dark=True, color="primary", clipped_left=True):
            solara.Button(icon_name="mdi-menu", icon=True, on_click=lambda: sidebar_open.set(not sidebar_open.value),
                          attributes={"data-testid": "menu", "title": "show / hide the controls"})
            v.ToolbarTitle(children=[TITLE], class_="hidden-sm-and-down")
            v.Spacer()
            for k, name in enumerate(("Model", "Guide")):
                solara.Button(name, text=tab.value != k, outlined=tab.value == k, dark=True,
                              on_click=lambda k=k: tab.set(k), attributes={"data-testid": f"tab-{name.lower()}"})
        with v.Content():
            with solara.Div(classes=["bantar-main"]):
                if tab.value == 0:
                    Dashboard(model.value, compare, picked, pinned, pin)
                else:
                    Guide(exercise, note=guide_numbers_note(PARAMETER_SET),
                          per_rt=float(model.value.p.households_per_rt))
    return main


@solara.component
def Layout(children=[]):  # noqa: B006 - Solara's layout signature
    """The page draws its own app bar and sidebar: no Solara AppLayout around it."""
    return solara.Div(children=children)


page = Page()
