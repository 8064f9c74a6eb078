"""The teaching app: its parts without a browser, `bantar-sim viz` input checks, and a real-browser run.

The browser test starts `bantar-sim viz` as `make viz` does (the shipped calibrated set) and drives Debian's
headless Chromium with Playwright, making the checks a teacher would make (issue 17): one screen at 1280x720,
exact Reset, compare overlay, CSV/PNG export, the Guide's exercise buttons, no console warning, a phone.
Every request that leaves 127.0.0.1 is blocked and recorded (the app must work offline). Screenshots go to
outputs/test-artifacts/app/; with BANTAR_UPDATE_DOC_IMAGES=1 the ones docs/teaching.md shows are also copied
(palette-reduced) to docs/img/ with a stamp of the model version and parameter set.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bantar_sim.app import charts, controls, records, views
from bantar_sim.app import page as app
from bantar_sim.app.layouts import city_layout, node_radius, rt_network_layout
from bantar_sim.cli import main as cli_main
from bantar_sim.model.agents import BANTAR, KENCANA
from bantar_sim.model.data import SUBDISTRICTS
from bantar_sim.model.model import BantarModel
from bantar_sim.model.params import SPECS
from bantar_sim.model.version import MODEL_VERSION
from bantar_sim.studies import teaching

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "outputs" / "test-artifacts" / "app"
DOC_IMAGES = REPO / "docs" / "img"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]
SMALL = {"preset": "classroom", "seed": "7", "end_year": 2016}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- parts, no browser
def test_city_layout_is_cached_and_places_every_rt_once():
    counts = (19, 13, 15, 5, 4, 6, 17, 21, 23, 15, 24)
    geo = city_layout(counts, SUBDISTRICTS)
    assert city_layout(counts, SUBDISTRICTS) is geo            # computed once per city size
    assert len(geo.tiles) == sum(counts) and len(geo.blocks) == 11
    assert len(set(geo.tiles)) == len(geo.tiles)                # no two RTs on one tile
    xs, ys = np.array(geo.tiles).T
    assert xs.min() >= 0 and ys.min() > 0 and xs.max() + geo.tile <= geo.width and ys.max() + geo.tile <= geo.height
    # RT i is drawn inside its own sub-district's block
    sd = np.repeat(np.arange(11), counts)
    for i, (x, y) in enumerate(geo.tiles):
        b = geo.blocks[sd[i]]
        assert b["x"] <= x < b["x"] + b["w"] and b["y"] <= y < b["y"] + b["h"], (i, b["name"])
    with pytest.raises(ValueError, match="sub-districts"):
        city_layout(counts[:3], SUBDISTRICTS)


def test_rt_network_layout_is_cached_leaders_inside_street_outside():
    pos = rt_network_layout(40, 4)
    assert rt_network_layout(40, 4) is pos and not pos.flags.writeable
    r = np.hypot(*pos.T)
    assert np.all(r[:4] < 0.5) and np.allclose(r[4:], 1.0)
    assert node_radius(500) < node_radius(40)
    with pytest.raises(ValueError, match="leaders"):
        rt_network_layout(3, 5)


def small_model(**overrides):
    return controls.session_class()(**{**controls.start_settings(), **SMALL, **overrides})


def test_app_model_uses_preset_and_seed_and_is_reproducible():
    a, b = small_model(), small_model()
    hh = controls.PARAMETER_SET.params.get("households_per_rt", SPECS["households_per_rt"].default)
    assert a.city.n_rts == 162 and a.p.households_per_rt == hh and a.seed_used == 7 and a.rejected is None
    for m in (a, b):
        for _ in range(14):
            m.step()
    assert np.array_equal(a.households.x, b.households.x)
    assert views.city_state(a)["status"] == views.city_state(b)["status"]


def test_rejected_settings_rebuild_last_accepted_with_a_message():
    cls = controls.session_class()
    good = cls(**{**controls.start_settings(), **SMALL, "social_influence": 5.0})
    above = round(good.p.kencana_threshold + 0.05, 2)
    bad = cls(**{**controls.start_settings(), **SMALL, "assessment_threshold": above})
    assert (f"kencana_threshold ({good.p.kencana_threshold}) must not be below assessment_threshold ({above}): "
            "Kencana is the higher tier") in bad.rejected
    assert bad.p.social_influence == 5.0 and bad.p.assessment_threshold == good.p.assessment_threshold
    assert bad.settings["assessment_threshold"] == good.p.assessment_threshold     # the label tells what runs
    assert "assessment_threshold" not in controls.parameter_set_label(bad)
    bad_seed = cls(**{**controls.start_settings(), **SMALL, "seed": "twelve"})
    assert "random seed must be a whole number" in bad_seed.rejected
    fresh = controls.session_class()(**{**controls.start_settings(), **SMALL, "preset": "nowhere"})
    assert "city preset must be one of classroom, full" in fresh.rejected and fresh.p.social_influence != 5.0


def test_practice_standard_control_reaches_the_model_and_the_legend_partitions_the_rts():
    lax, strict = small_model(practice_standard=0.0), small_model(practice_standard=1.0)
    for m in (lax, strict):
        for _ in range(23):
            m.step()
    assert lax.practising_mask().all() and views.city_state(lax)["n_faded"] == 0
    assert strict.practising_mask().sum() < lax.practising_mask().sum()
    labelled = np.isin(strict.rt_state.status, (BANTAR, KENCANA))
    st = views.city_state(strict)
    assert st["n_faded"] == int((labelled & ~strict.practising_mask()).sum())
    # the legend's categories partition the RTs: every RT counted once, the pale ones apart from the practising
    assert sum(st["legend"]) == strict.city.n_rts and st["legend"][3] > 0
    html = views.city_legend_html(st)
    assert [int(n) for n in re.findall(r'data-count="(\d+)"', html)] == st["legend"]


def test_controls_hold_the_calibrated_values_exactly_and_show_them():
    """Issue 17: sliders snapped 5.437 -> 5.5 and Reset used the snapped value. Each numeric control's values
    hold its start value exactly, so an untouched control (or one moved back) gives the parameter set's value."""
    start = controls.start_settings()
    grids = controls.numeric_controls(start)
    for name, *_ in controls.CONTROLS:
        assert controls.HELP[name] and len(controls.HELP[name]) < 120, name       # a one-line help
        if name in grids:
            assert start[name] in grids[name], name
            assert grids[name] == sorted(grids[name]) and len(set(grids[name])) == len(grids[name])
            for v in grids[name]:
                controls.check_value(name, v, "test")
    for name, value in controls.PARAMETER_SET.params.items():
        if name in grids:
            assert start[name] == value, name                                      # not snapped
    assert controls.show_value(3.100197) == "3.100" and controls.show_value(0.5) == "0.5"
    assert controls.show_value(2025) == "2025"


def test_first_run_equals_reset_with_untouched_controls():
    cls = controls.session_class()
    first, again = cls(**controls.start_settings()), cls(**controls.start_settings())
    for m in (first, again):
        for _ in range(30):
            m.step()
    assert np.array_equal(first.households.x, again.households.x)
    assert records.csv_text(first) == records.csv_text(again)
    assert controls.parameter_set_label(first) in ("calibrated parameters", "status-quo default parameters")
    changed = cls(**{**controls.start_settings(), "social_influence": 1.0})
    assert "changed: social_influence 1" in controls.parameter_set_label(changed)


def test_every_exercise_can_be_set_in_the_app_and_the_app_builds_what_the_lesson_computes():
    start = controls.start_settings()
    grids = controls.numeric_controls(start)
    for ex in teaching.EXERCISES:
        for settings in [ex.settings] + [s for _, s in ex.runs]:
            for name, value in settings.items():
                spec = SPECS[name]
                if spec.kind is bool:
                    assert isinstance(value, bool)
                elif spec.kind is str:
                    assert value in spec.choices
                else:
                    assert value in grids[name], (ex.key, name, value)   # on the slider: students can set it
    # the app's model for an exercise is the lesson's (same kwargs): numbers in docs/teaching.md hold in the app
    ex = teaching.EXERCISE_BY_KEY["kencana"]
    app_model = controls.session_class()(**{**start, **ex.settings, "end_year": 2017})
    lesson = BantarModel(**teaching.app_model_kwargs(controls.PARAMETER_SET, {**ex.settings, "end_year": 2017}))
    app_model.run()
    lesson.run()
    assert np.array_equal(app_model.households.x, lesson.households.x)
    assert teaching.legend_counts(app_model) == teaching.legend_counts(lesson)


def test_what_each_exercise_relies_on_holds_in_the_shipped_model():
    """Issue 17: exercise 4's promised jump did not exist in the calibrated app. What the steps take for granted
    (a gold tile to click, pale and orange tiles, ...) is checked on the lesson's own runs of the shipped set."""
    for ex in teaching.EXERCISES:
        if ex.key not in teaching.CLAIMS:
            continue
        rows = teaching.exercise_numbers(controls.PARAMETER_SET, ex)
        for text, ok in teaching.check_claims(ex, rows):
            assert ok, f"exercise {ex.key!r}: {text!r} does not hold in the shipped model"


def test_monitors_and_counter_agree_with_the_charts_from_step_0():
    m = small_model()
    assert [v for _, _, v in views.monitors(m)] == ["–"] * 4 and "not yet simulated" in views.month_label(m)
    for _ in range(23):
        m.step()
    mons = {t: v for t, _, v in views.monitors(m)}
    assert mons["monitor-participation"] == f"{m.datacollector.model_vars['participation'][-1]:.0%}"
    assert mons["monitor-winners"] == str(int(m.rec["won"][1].sum()))
    assert mons["monitor-lapsed"] == str(int(m.lapsed))
    assert views.month_label(m) == "Step 23 of 36: November 2015"


def test_charts_draw_the_compared_run_and_export_the_same_data():
    m = small_model()
    for _ in range(23):
        m.step()
    svg = charts.winners_chart(m)
    assert svg.count('class="bar"') == 2 and "Table 3 × 0.1" in svg and svg.count('class="point"') == 7
    assert "compare" not in svg
    prev = records.run_record(m, "previous run")
    m.step()
    assert prev["steps"] == 23                                   # detached: the model moved on, the record not
    for draw in (charts.winners_chart, charts.participation_chart, charts.bantar_chart):
        out = draw(m, prev)
        assert "previous run" in out and ('class="compare"' in out or 'class="compare-bar"' in out)
    rows = list(csv.DictReader(io.StringIO(records.csv_text(m))))
    assert len(rows) == 24 and float(rows[-1]["participation"]) == pytest.approx(m.participation, rel=1e-5)
    assert [r["winners_october"] for r in rows if r["month"] == "10"] == [str(int(w)) for w in m.rec["won"][:2].sum(1)]
    assert records.png_bytes(m, prev)[:8] == b"\x89PNG\r\n\x1a\n"


def test_network_view_follows_the_model():
    m = small_model()
    for _ in range(23):
        m.step()
    s = views.rt_structure(m, 5)
    net = views.network_svg(m, 5, s)
    n = int(m.city.rt_size[5])
    assert net.count('class="household"') + net.count('class="leader"') == n
    assert f'data-taking-part="{int(m.households.x[s["start"]:s["start"] + n].sum())}"' in net
    assert net.count('data-kind="rt_head"') == 1
    rs = m.rt_state
    assert f"motivation {rs.motivation[5]:.2f}, incentive {rs.incentive[5]:.2f}" in views.rt_summary(m, 5, s)


def test_preset_from_query():
    assert app.preset_from_query("preset=full") == "full"
    assert app.preset_from_query("preset=moon") == controls.DEFAULT_PRESET
    assert app.preset_from_query(None) == controls.DEFAULT_PRESET


def test_doc_screenshots_come_from_the_current_model_and_parameter_set():
    """docs/teaching.md's screenshots are refreshed by the browser test (BANTAR_UPDATE_DOC_IMAGES=1), which stamps
    the model version and parameter set it ran; after a model change or recalibration this fails until redone."""
    stamp = json.loads((DOC_IMAGES / "screenshots.json").read_text(encoding="utf-8"))
    assert stamp["model_version"] == MODEL_VERSION and stamp["parameter_set_sha256"] == controls.PARAMETER_SET.sha256, (
        "docs/img screenshots are stale: run BANTAR_UPDATE_DOC_IMAGES=1 pytest tests/test_app.py -k browser")
    for name in stamp["images"]:
        assert (DOC_IMAGES / name).is_file()


# ------------------------------------------------------------------------------ bantar-sim viz
@pytest.mark.parametrize("port", ["0", "70000", "-5"])
def test_viz_rejects_invalid_port(port, capsys):
    assert cli_main(["viz", "--port", port, "--no-open"]) == 2
    assert "--port must be a whole number in [1, 65535]" in capsys.readouterr().err


def test_viz_rejects_port_in_use(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert cli_main(["viz", "--port", str(port), "--no-open"]) == 2
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is already in use" in err and "Traceback" not in err


def test_viz_rejects_unknown_host(capsys):
    assert cli_main(["viz", "--host", "no.such.host.invalid", "--port", "8765", "--no-open"]) == 2
    assert "--host" in capsys.readouterr().err


# ------------------------------------------------------------------------------ real browser
@pytest.fixture(scope="module")
def server():
    """`bantar-sim viz` as `make viz` runs it: the shipped (calibrated) parameter set, seed 2014."""
    port = free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / "app-server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "bantar_sim.cli", "viz", "--port", str(port), "--no-open",
                             "--seed", "2014"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    deadline = time.time() + 180          # a loaded 2-core machine can take a minute to import and serve
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"bantar-sim viz did not start; see {log.name}")
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


class AppDriver:
    """Small helpers over a Playwright page showing the app."""

    def __init__(self, page):
        self.page = page

    def counter(self) -> str:
        return self.page.inner_text("[data-testid=step-counter]")

    def attr(self, name: str) -> str:
        return self.page.get_attribute("[data-testid=step-counter]", name)

    def step(self):
        before = int(self.attr("data-step"))
        self.page.get_by_role("button", name="Step").click()
        self.page.wait_for_function("b => +document.querySelector('[data-testid=step-counter]').dataset.step > b",
                                    arg=before, timeout=30_000)

    def play_to_end(self):
        """▶ with 12 months per click and no pause; the run ends and the button must come back to ▶."""
        self.page.locator("[data-testid=play]").click()
        self.page.wait_for_function("() => document.body.innerText.includes('Finished: the run reached')",
                                    timeout=60_000)
        self.page.wait_for_function("() => document.querySelector('[data-testid=play]').innerText.trim() === '▶'",
                                    timeout=10_000)
        assert self.page.locator("[data-testid=play]").is_disabled()

    def legend(self) -> list[int]:
        return [int(x) for x in self.page.eval_on_selector_all("[data-testid=city-legend] .legend-item",
                                                                "es => es.map(e => e.dataset.count)")]

    def control(self, name: str) -> str:
        return self.page.get_attribute(f"[data-control={name}]", "data-value")

    def press(self, name: str, key: str, times: int, expect: str):
        thumb = self.page.locator(f"[data-control={name}] [role=slider]")
        thumb.focus()
        for _ in range(times):
            thumb.press(key)
        self.page.wait_for_selector(f'[data-control={name}][data-value="{expect}"]', timeout=10_000)

    def reset(self, button: str = "Reset"):
        build = self.attr("data-build")
        self.page.get_by_role("button", name=button, exact=True).click()
        self.wait_build(build)

    def wait_build(self, build: str):
        self.page.wait_for_function(
            "b => { const e = document.querySelector('[data-testid=step-counter]');"
            " return e && e.dataset.build !== b && e.dataset.step === '0'; }", arg=build, timeout=30_000)

    def inside_viewport(self, selector: str, w: int, h: int) -> bool:
        box = self.page.locator(selector).bounding_box()
        return box is not None and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= w + 1 \
            and box["y"] + box["height"] <= h + 1

    def shot(self, name: str, selector: str | None = None) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        (self.page.locator(selector) if selector else self.page).screenshot(path=str(path))
        return path


def _copy_to_docs(paths: list[Path]) -> None:
    """Refresh docs/img from this run (BANTAR_UPDATE_DOC_IMAGES=1): 256-colour PNGs, and a stamp of the model
    version and parameter set they show (checked by test_doc_screenshots_come_from_the_current_model...)."""
    if os.environ.get("BANTAR_UPDATE_DOC_IMAGES") != "1":
        return
    from PIL import Image
    DOC_IMAGES.mkdir(parents=True, exist_ok=True)
    for p in paths:
        Image.open(p).convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(
            DOC_IMAGES / p.name, optimize=True)
    stamp = {"model_version": MODEL_VERSION, "parameter_set_sha256": controls.PARAMETER_SET.sha256,
             "images": sorted(p.name for p in paths)}
    (DOC_IMAGES / "screenshots.json").write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")


def _expected(settings: dict) -> dict:
    """What the lesson computes for the app's default city and seed with these settings (no browser)."""
    return teaching.legend_counts(BantarModel(**teaching.app_model_kwargs(controls.PARAMETER_SET, settings)).run())


def _launch(pw):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: the browser test needs Debian's chromium, which `make test` installs "
                    "(apt-get install -y chromium); it is never skipped")
    return pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.mark.browser
@pytest.mark.timeout(600)          # ~40 s on an idle 2-core machine; minutes when a calibration runs
def test_app_in_headless_chromium_as_a_teacher_checks_it(server):
    from playwright.sync_api import sync_playwright

    outside: list[str] = []

    def only_local(route):
        url = route.request.url
        if url.startswith(server) or url.startswith("data:") or url.startswith("blob:"):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    docs: list[Path] = []
    with sync_playwright() as pw:
        browser = _launch(pw)
        page = browser.new_page(viewport={"width": 1280, "height": 720}, accept_downloads=True)
        page.route("**/*", only_local)
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}") if m.type in ("warning", "error") else None)
        page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
        ui = AppDriver(page)
        try:
            page.set_default_timeout(60_000)           # generous: the machine may be busy with a calibration
            page.goto(server + "/", timeout=90_000)
            page.wait_for_selector("[data-testid=city-map] rect", timeout=90_000)
            # 1. one screen at 1280x720: the controls, the city and the three charts, no scrolling, no badge
            assert ui.counter().startswith("Step 0 of 144") and "–" in ui.counter()
            for sel in ("[data-testid=city-map]", "[data-testid=winners-chart]", "[data-testid=participation-chart]",
                        "[data-testid=bantar-chart]", "[data-testid=monitors]", "[data-testid=play]",
                        "[data-testid=rt-network]", "[data-testid=city-legend]"):
                assert ui.inside_viewport(sel, 1280, 720), sel
            assert page.evaluate("document.scrollingElement.scrollHeight <= innerHeight + 1")
            assert "runs on Solara" not in page.inner_text("body")
            for t in ("Page 0", "Use Threads", "Information"):
                assert t not in page.inner_text("body"), t
            # no theme toggle (the dark theme made labels and chart text unreadable: removed)
            assert page.locator(".mdi-brightness-auto, .mdi-weather-night, .mdi-white-balance-sunny").count() == 0
            # nothing lies over a chart title: the element at its centre is the chart's own text
            for chart in ("winners-chart", "participation-chart", "bantar-chart"):
                assert page.evaluate(f"""() => {{ const t = document.querySelector('[data-testid={chart}] text');
                    const r = t.getBoundingClientRect();
                    return t.closest('svg').contains(document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2));
                }}""")
            assert "calibrated parameters" in page.inner_text("[data-testid=city-summary]")
            labels = page.eval_on_selector_all("[data-testid=city-map] text", "ts => ts.map(t => t.textContent)")
            assert labels == list(SUBDISTRICTS)

            # 2. a year per click, then play to the end: the button comes back to ▶; numbers = the lesson's
            page.locator(".per-click button", has_text="12").click()
            ui.step()
            assert ui.counter().startswith("Step 12 of 144: December 2014")
            page.locator("[data-testid=pause-slider] [role=slider]").focus()
            page.keyboard.press("Home")
            page.wait_for_selector("[data-testid=pause-value] >> text=0 ms")
            ui.play_to_end()
            assert ui.counter().startswith("Step 144 of 144: December 2025")
            first = (ui.attr("data-participation"), ui.legend())
            exp = _expected({})
            assert sum(first[1]) == exp["rts"] == 162
            assert first[1][2] + first[1][3] + first[1][4] == exp["label"] and first[1][5] == exp["lapsed"]
            assert first[1][3] == exp["pale"] and float(first[0]) == pytest.approx(exp["participation"], abs=1e-4)
            assert page.locator("[data-testid=winners-chart] rect.bar").count() == 12
            docs.append(ui.shot("status-quo-2025.png"))

            # 3. pick an RT: its households, leaders marked by kind
            statuses = page.eval_on_selector_all("[data-testid=city-map] rect", "rs => rs.map(r => r.dataset.status)")
            rt = statuses.index("2")
            page.locator("[data-testid=city-map] rect").nth(rt).click()
            net = page.locator(f"[data-testid=rt-network][data-rt='{rt}']")
            net.wait_for(timeout=15_000)
            n = int(net.get_attribute("data-households"))
            assert net.locator("circle.household").count() + net.locator("g.leader").count() == n
            assert net.locator("g.leader").evaluate_all("gs => gs.map(g => g.dataset.kind)")[0] == "rt_head"
            docs.append(ui.shot("rt-network.png", ".rt-card"))

            # 4. CSV export returns the charts' data (one row per month, the counter's participation last)
            with page.expect_download() as dl:
                page.get_by_role("button", name="CSV").click()
            rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text(encoding="utf-8"))))
            assert len(rows) == 144 and abs(float(rows[-1]["participation"]) - float(first[0])) < 1e-4
            with page.expect_download() as dl:
                page.get_by_role("button", name="PNG").click()
            assert Path(dl.value.path()).read_bytes()[:4] == b"\x89PNG"

            # 5. Reset with untouched controls reproduces the first run exactly; the first run stays faint
            ui.reset()
            assert page.inner_text("[data-testid=compare-name]") == "faint: previous run"
            ui.play_to_end()
            assert (ui.attr("data-participation"), ui.legend()) == first
            assert page.locator("[data-testid=participation-chart] polyline.compare").count() == 1

            # 6. pin, then the Guide: an exercise button sets its parameters and starts a new run
            page.locator("[data-testid=pin]").click()
            page.wait_for_selector("[data-testid=compare-name] >> text=pinned run")
            page.locator("[data-testid=tab-guide]").click()
            page.wait_for_selector("[data-testid=guide]")
            assert page.locator("[data-testid^=exercise-]").count() == len(teaching.EXERCISES)
            docs.append(ui.shot("guide.png"))
            page.locator("[data-testid=exercise-3]").click()
            ui.wait_build("none")          # the Model tab is back, showing a new model at step 0
            assert ui.control("kencana") == "True"
            assert "levers: kencana from 2021" in page.inner_text("[data-testid=city-summary]")
            ui.play_to_end()
            exp = _expected({"kencana": True, "kencana_per_year": 40})
            assert ui.legend()[4] == exp["kencana"] and float(ui.attr("data-participation")) == pytest.approx(
                exp["participation"], abs=1e-4)
            assert page.locator("[data-testid=bantar-chart] polyline.compare").count() == 1   # the pinned run
            docs.append(ui.shot("kencana-2025.png"))

            # 7. a slider shows its value; a combination the model rejects gives a clear message
            ui.reset("Calibrated defaults + Reset")
            assert ui.control("kencana") == "False" and ui.control("social_influence") == controls.show_value(
                controls.start_settings()["social_influence"])
            start_thr = controls.start_settings()["assessment_threshold"]
            grid = controls.numeric_controls(controls.start_settings())["assessment_threshold"]
            k = grid.index(start_thr)
            target = next(j for j in range(k, len(grid)) if grid[j] > 0.65)
            ui.press("assessment_threshold", "ArrowRight", target - k, controls.show_value(grid[target]))
            ui.reset()
            body = page.inner_text("body")
            assert "Reset refused: kencana_threshold (0.65) must not be below assessment_threshold" in body
            assert "Traceback" not in body
            ui.press("assessment_threshold", "ArrowLeft", target - k, controls.show_value(start_thr))

            assert outside == [], f"the app tried to reach the network: {outside[:5]}"
            server_log = (ARTIFACTS / "app-server.log").read_text(encoding="utf-8")
            assert "Could not load URL" not in server_log, "the server tried to fetch from a CDN for the page"
            assert console == [], console

            # 8. a phone: the sidebar covers the page at first and closes; the city shows
            phone = browser.new_page(viewport={"width": 390, "height": 844})
            phone.route("**/*", only_local)
            phone.set_default_timeout(60_000)
            phone.goto(server + "/", timeout=90_000)
            phone.wait_for_selector("[data-testid=city-map] rect", timeout=90_000)
            phone.locator("[data-testid=close-sidebar]").click()
            phone.wait_for_function("() => document.querySelector('[data-testid=sidebar]').getBoundingClientRect()"
                                    ".right <= 0")
            city = phone.locator("[data-testid=city-map]").bounding_box()
            assert city["width"] > 300 and city["x"] >= 0
            phone.locator("[data-testid=menu]").click()
            phone.wait_for_function("() => document.querySelector('[data-testid=sidebar]').getBoundingClientRect()"
                                    ".left >= 0")
            path = ARTIFACTS / "phone.png"
            phone.locator("[data-testid=close-sidebar]").click()
            phone.wait_for_timeout(500)
            phone.screenshot(path=str(path))
            docs.append(path)
        finally:
            ui.shot("last-state.png")
            browser.close()
    _copy_to_docs(docs)
