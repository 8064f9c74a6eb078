"""The teaching app: its parts without a browser, `bantar-sim viz` input checks, and a real-browser run.

The browser test starts `bantar-sim viz` on a free port and drives Debian's headless Chromium with
Playwright: every request that leaves 127.0.0.1 is blocked and recorded (the app must work offline).
Screenshots go to outputs/test-artifacts/app/; with BANTAR_UPDATE_DOC_IMAGES=1 the ones docs/teaching.md
shows are also copied (palette-reduced) to docs/img/.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bantar_sim.app import charts
from bantar_sim.app import page as app
from bantar_sim.app.layouts import city_layout, node_radius, rt_network_layout
from bantar_sim.cli import main as cli_main
from bantar_sim.model.agents import BANTAR, KENCANA
from bantar_sim.model.data import SUBDISTRICTS

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


def small_model(**overrides):
    return app.session_class()(**{**app.default_values(), **SMALL, **overrides})


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


def test_app_model_uses_preset_and_seed_and_is_reproducible():
    a, b = small_model(), small_model()
    assert a.city.n_rts == 162 and a.p.households_per_rt == 40 and a.seed_used == 7 and a.rejected is None
    for m in (a, b):
        for _ in range(14):
            m.step()
    assert np.array_equal(a.households.x, b.households.x)
    assert app.city_state(a)["status"] == app.city_state(b)["status"]


def test_rejected_settings_rebuild_last_accepted_with_a_message():
    cls = app.session_class()
    good = cls(**{**app.default_values(), **SMALL, "social_influence": 5.0})
    # assessment_threshold is a slider, kencana_threshold is not: a standard above the Kencana standard is
    # the invalid combination a class can reach.
    above = round(good.p.kencana_threshold + 0.05, 2)
    bad = cls(**{**app.default_values(), **SMALL, "assessment_threshold": above})
    assert (f"kencana_threshold ({good.p.kencana_threshold}) must not be below assessment_threshold ({above}): "
            "Kencana is the higher tier") in bad.rejected
    assert bad.p.social_influence == 5.0 and bad.p.assessment_threshold == good.p.assessment_threshold
    bad_seed = cls(**{**app.default_values(), **SMALL, "seed": "twelve"})
    assert "random seed must be a whole number" in bad_seed.rejected
    # a new session never inherits another session's settings
    fresh = app.session_class()(**{**app.default_values(), **SMALL, "preset": "nowhere"})
    assert "city preset must be one of classroom, full" in fresh.rejected and fresh.p.social_influence != 5.0


def test_practice_standard_slider_reaches_the_model():
    """The practice_standard slider sets what "practising" means: 0 makes every RT practising (none faded);
    at 1 only an RT whose households all took part for 12 months would practise."""
    lax, strict = small_model(practice_standard=0.0), small_model(practice_standard=1.0)
    for m in (lax, strict):
        for _ in range(23):
            m.step()
    assert lax.p.practice_standard == 0.0 and strict.p.practice_standard == 1.0
    assert lax.practising_mask().all() and app.city_state(lax)["n_faded"] == 0
    assert np.array_equal(strict.practising_mask(), strict.recent_participation() >= 1.0)
    assert strict.practising_mask().sum() < lax.practising_mask().sum()
    labelled = np.isin(strict.rt_state.status, (BANTAR, KENCANA))
    assert app.city_state(strict)["n_faded"] == int((labelled & ~strict.practising_mask()).sum())


def test_sliders_stay_inside_the_allowed_ranges():
    params = app.make_model_params("classroom", "3")
    assert params["preset"]["value"] == "classroom" and params["seed"]["value"] == "3"
    assert params["end_year"]["max"] == 2035 and params["end_year"]["value"] == 2025
    for name in ("kencana", "adoption", "monitoring", "informal_engagement", "youth_regeneration",
                 "dissemination_campaign", "reward_fund", "reward_mode", "social_influence", "leader_mobilisation",
                 "waning_half_life", "post_award_waning", "policy_start_year", "end_year", "practice_standard"):
        assert name in params, name
    # model 0.2: practising is a share of households taking part, not a score (no lapse_threshold)
    assert "lapse_threshold" not in params
    ps = params["practice_standard"]
    assert ps["type"] == "SliderFloat" and (ps["min"], ps["max"]) == (0.0, 1.0) and "participation" in ps["label"]
    assert params["kencana"]["type"] == "Checkbox" and params["reward_mode"]["values"] == ["one_off", "staged"]


def test_charts_and_network_follow_the_model():
    m = small_model()
    assert charts.assessments_done(m) == 0 and "Step 0 of 36" in app.month_label(m)
    for _ in range(23):
        m.step()
    assert charts.assessments_done(m) == 2 and app.month_label(m) == "Step 23 of 36: November 2015 simulated"
    svg = charts.winners_chart(m)
    assert svg.count('class="bar"') == 2 and "× 0.1 (the city scale)" in svg
    assert svg.count('class="point"') == 7                  # the published 2014–2020 counts, beside the bars
    assert "winning RTs (count)" in svg and "year (assessment in October)" in svg
    s = app.rt_structure(m, 5)
    net = app.network_svg(m, 5, s)
    n = int(m.city.rt_size[5])
    assert net.count('class="household"') + net.count('class="leader"') == n
    assert f'data-taking-part="{int(m.households.x[s["start"]:s["start"] + n].sum())}"' in net
    assert net.count('class="leader"') == 1 + int((m.city.leader_rt == 5).sum())
    assert net.count('data-kind="rt_head"') == 1
    # the caption shows the RT's incentive beside its motivation (model 0.2 keeps them apart)
    rs = m.rt_state
    summary = app.rt_summary(m, 5, s)
    assert f"motivation {rs.motivation[5]:.2f}, incentive {rs.incentive[5]:.2f}" in summary
    assert ("(practising)" if m.practising_mask()[5] else "(not practising)") in summary
    while m.running:
        m.step()
    assert charts.assessments_done(m) == 3 and "36 of 36" in app.month_label(m)


def test_reset_in_the_page_applies_switches_and_sliders():
    """The SolaraViz page rendered in-process: toggling Kencana and pressing Reset builds a Kencana model."""
    import ipyvuetify as v
    import solara
    from mesa.visualization import SolaraViz

    params = app.make_model_params("classroom", "7")
    params["end_year"]["value"] = 2016
    model = app.session_class()(**{k: o["value"] for k, o in params.items()})
    _, rc = solara.render(solara.AppLayout(children=[SolaraViz(model, components=app.COMPONENTS,
                                                                model_params=params)]), handle_error=False)

    def texts():
        return " ".join(w.unsafe_innerHTML or "" for w in rc.find(solara.widgets.HTML).widgets)

    assert "status quo (no policy lever on)" in texts() and "Step 0 of 36" in texts()
    kencana = [c for c in rc.find(v.Checkbox).widgets if c.label.startswith("Kencana")][0]
    kencana.v_model = True
    rc.find(v.Btn, children=["Step"]).widget.click()
    assert "Step 1 of 36" in texts()
    rc.find(v.Btn, children=["Reset"]).widget.click()
    assert "levers: kencana from 2021" in texts() and "Step 0 of 36" in texts()
    assert "Reset refused" not in texts()
    rc.close()


def test_preset_from_query():
    assert app.preset_from_query("preset=full") == "full"
    assert app.preset_from_query("preset=moon") == app.DEFAULT_PRESET
    assert app.preset_from_query(None) == app.DEFAULT_PRESET


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
    port = free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / "app-server.log", "w")
    # --uncalibrated: what the browser checks (lapses under the status quo, fewer with Kencana, ...) must not
    # move whenever calibration/calibrated.toml is refitted; the docs' screenshots say they use it.
    proc = subprocess.Popen([sys.executable, "-m", "bantar_sim.cli", "viz", "--port", str(port), "--no-open",
                             "--seed", "2014", "--uncalibrated"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    deadline = time.time() + 60
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

    def step_number(self) -> int:
        return int(re.match(r"Step (\d+) of", self.counter()).group(1))

    def wait_counter(self, pattern: str, timeout=30_000):
        self.page.wait_for_function(
            "p => { const e = document.querySelector('[data-testid=step-counter]'); "
            "return e && new RegExp(p).test(e.textContent); }",
            arg=pattern, timeout=timeout)

    def step(self, times=1):
        """Click Step and wait until the counter moved (the app ignores clicks while redrawing)."""
        for _ in range(times):
            before = self.step_number()
            self.page.get_by_role("button", name="Step").click()
            self.page.wait_for_function(
                "b => { const e = document.querySelector('[data-testid=step-counter]');"
                " const m = e && e.textContent.match(/Step (\\d+) of/); return m && +m[1] > b; }",
                arg=before, timeout=30_000)

    def run_to_end(self):
        while "Finished" not in self.page.inner_text("body"):
            self.step()

    def statuses(self) -> list[str]:
        return self.page.eval_on_selector_all("[data-testid=city-map] rect", "rs => rs.map(r => r.dataset.status)")

    def slider(self, name: str, key: str, presses: int, expect: str):
        thumb = self.page.locator(f'[data-param="{name}"] + .v-input [role=slider]')
        thumb.focus()
        for _ in range(presses):
            thumb.press(key)
        self.page.wait_for_selector(f'[data-param="{name}"][data-value="{expect}"]', timeout=10_000)

    def reset(self):
        """Click Reset and wait until the page shows the newly built model (its build number changes)."""
        build = self.page.get_attribute("[data-testid=step-counter]", "data-build")
        self.page.get_by_role("button", name="Reset").click()
        self.page.wait_for_function(
            "b => { const e = document.querySelector('[data-testid=step-counter]');"
            " return e && e.dataset.build !== b && e.textContent.startsWith('Step 0 of '); }", arg=build,
            timeout=30_000)

    def shot(self, name: str, selector: str | None = None) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        (self.page.locator(selector) if selector else self.page).screenshot(path=str(path))
        return path


def _copy_to_docs(paths: list[Path]) -> None:
    """Refresh docs/img from this run (BANTAR_UPDATE_DOC_IMAGES=1): 256-colour PNGs, under 100 KB each."""
    if os.environ.get("BANTAR_UPDATE_DOC_IMAGES") != "1":
        return
    from PIL import Image
    DOC_IMAGES.mkdir(parents=True, exist_ok=True)
    for p in paths:
        Image.open(p).convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(
            DOC_IMAGES / p.name, optimize=True)


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_app_in_headless_chromium(server):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: the browser test needs Debian's chromium, which `make test` installs "
                    "(apt-get install -y chromium); it is never skipped")
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
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        page.route("**/*", only_local)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        app_ui = AppDriver(page)
        try:
            page.goto(server + "/")
            page.wait_for_selector("[data-testid=city-map] rect", timeout=90_000)
            # 1. loads offline: the classroom city, all 11 sub-districts labelled, a legend
            assert app_ui.counter().startswith("Step 0 of 144")
            assert len(app_ui.statuses()) == 162 and set(app_ui.statuses()) == {"0"}
            labels = page.eval_on_selector_all("[data-testid=city-map] text", "ts => ts.map(t => t.textContent)")
            assert labels == list(SUBDISTRICTS)
            legend = page.inner_text("[data-testid=city-legend]")
            for name in ("never proposed", "proposed", "Bantar", "Kencana", "lapsed"):
                assert name in legend
            before = page.locator("[data-testid=city-map]").screenshot()
            app_ui.shot("01-start.png")

            # 2. step: the counter moves one month per click, then in jumps of the render interval
            app_ui.step(3)
            assert app_ui.counter().startswith("Step 3 of 144: March 2014")
            thumb = page.locator(".v-input:has(label:text('Render Interval')) [role=slider]")
            thumb.focus()
            for _ in range(5):                  # 1 -> 11 months per click
                thumb.press("ArrowRight")
            page.wait_for_selector(".v-input:has(label:text('Render Interval')) [aria-valuenow='11']", state="attached")
            while app_ui.step_number() < 58:
                app_ui.step()
            assert app_ui.step_number() == 58                   # 3 + 5 x 11
            statuses = app_ui.statuses()
            assert {"1", "2"} <= set(statuses), "after four assessments some RTs have proposed and won"
            assert page.locator("[data-testid=city-map]").screenshot() != before
            assert page.locator("[data-testid=winners-chart] rect.bar").count() == 5   # October 2014–2018 assessed
            assert "Bantar (" in page.inner_text("[data-testid=city-legend]")

            # 3. pick an RT: its households appear, leaders marked by kind
            bantar_rt = statuses.index("2")
            page.locator("[data-testid=city-map] rect").nth(bantar_rt).click()
            net = page.locator(f"[data-testid=rt-network][data-rt='{bantar_rt}']")
            net.wait_for(timeout=15_000)
            n = int(net.get_attribute("data-households"))
            assert net.locator("circle.household").count() + net.locator("g.leader").count() == n
            kinds = net.locator("g.leader").evaluate_all("gs => gs.map(g => g.dataset.kind)")
            assert kinds[0] == "rt_head" and {"religious", "traditional", "youth"} <= set(kinds)
            lit = net.locator("[data-part='1']").count()
            assert lit == int(net.get_attribute("data-taking-part"))
            assert f"RT {bantar_rt}," in page.inner_text("[data-testid=rt-summary]")
            docs.append(app_ui.shot("rt-network.png", "[data-testid=rt-network] >> xpath=../.."))

            # 4. run to the end: the app says so plainly and Step is disabled
            app_ui.run_to_end()
            assert app_ui.counter().startswith("Step 144 of 144: December 2025")
            assert page.get_by_role("button", name="Step").is_disabled()
            assert "Finished: the run reached December 2025" in page.inner_text("body")
            assert int(re.search(r"lapsed \((\d+)\)", page.inner_text("[data-testid=city-legend]")).group(1)) > 0
            docs.append(app_ui.shot("status-quo-2025.png"))
            taking_part_j3 = float(page.get_attribute("[data-testid=step-counter]", "data-participation"))

            # 5. a switch and Reset: Kencana from 2021 takes effect in the new model
            page.get_by_text("Kencana tier (needs an RJ house)").click()
            app_ui.reset()
            assert "levers: kencana from 2021" in page.inner_text("[data-testid=city-summary]")
            app_ui.run_to_end()
            kencana = int(re.search(r"Kencana \((\d+)\)", page.inner_text("[data-testid=city-legend]")).group(1))
            assert kencana > 0
            docs.append(app_ui.shot("kencana-2025.png"))

            # 5b. Kencana off, neighbours' influence doubled (3 -> 6): participation tips much higher
            page.get_by_text("Kencana tier (needs an RJ house)").click()
            app_ui.slider("social_influence", "ArrowRight", 6, "6")
            app_ui.reset()
            assert "status quo (no policy lever on)" in page.inner_text("[data-testid=city-summary]")
            app_ui.run_to_end()
            taking_part_j6 = float(page.get_attribute("[data-testid=step-counter]", "data-participation"))
            assert taking_part_j6 > taking_part_j3 + 0.1, (taking_part_j3, taking_part_j6)
            docs.append(app_ui.shot("social-influence-6.png"))

            # 6. a slider and Reset: a shorter run (end_year 2025 -> 2022 = 9 years of months)
            app_ui.slider("end_year", "ArrowLeft", 3, "2022")
            app_ui.reset()
            assert app_ui.counter().startswith("Step 0 of 108")

            # 7. a combination the model rejects: a clear message, not a stack trace
            #    (the assessment standard 0.45 -> 0.7, above the Kencana standard 0.65: Kencana is the higher tier)
            app_ui.slider("assessment_threshold", "ArrowRight", 5, "0.7")
            app_ui.reset()
            body = page.inner_text("body")
            assert "Reset refused: kencana_threshold (0.65) must not be below assessment_threshold" in body
            assert "Kencana is the higher tier" in body
            assert "Traceback" not in body
            assert app_ui.counter().startswith("Step 0 of 108")      # previous accepted settings, from the start
            docs.append(app_ui.shot("rejected-settings.png"))
            app_ui.slider("assessment_threshold", "ArrowLeft", 5, "0.45")
            app_ui.reset()
            assert "Reset refused" not in page.inner_text("body")

            assert outside == [], f"the app tried to reach the network: {outside[:5]}"
            assert errors == [], errors
        finally:
            app_ui.shot("last-state.png")
            browser.close()
    _copy_to_docs(docs)
