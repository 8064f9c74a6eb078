"""Redraw time per step of the teaching app, classroom and full presets.

    .venv/bin/python benchmarks/bench_app.py              # server side: render passes after a step
    .venv/bin/python benchmarks/bench_app.py --browser    # also in headless Chromium: Step click -> city redrawn
    .venv/bin/python benchmarks/bench_app.py --uncalibrated   # status-quo defaults (full city: ~90 households/RT)

Server side: the dashboard (monitors, city, RT, charts) is rendered once (solara.render, no browser); then per step the
model steps and the page re-renders as in the app (Mesa's force_update). The time of that re-render is the
server's redraw cost; the model step is timed apart. The per-part lines time the functions that build
each picture.
Browser: `bantar-sim viz` in a subprocess; inside headless Chromium a script clicks Step and waits until
the step counter shows the new month and the next frame is painted (the city, network and charts arrive
in the same update); that is what a class sees (server step + render + websocket + Vue/SVG paint).
Medians of several steps; the machine is shared, so expect noise.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]


def server_side(preset: str, steps: int, warmup: int) -> dict:
    import solara
    from mesa.visualization.utils import force_update

    import bantar_sim.app.page as page
    from bantar_sim.app import charts, controls
    from bantar_sim.app import views as app

    model = controls.session_class()(**controls.start_settings(preset))
    picked = solara.reactive(min(3, model.city.n_rts - 1))
    t0 = time.perf_counter()
    _, rc = solara.render(page.Dashboard(model, None, picked, solara.reactive(None), lambda: None),
                          handle_error=False)
    first = time.perf_counter() - t0
    step_t, redraw_t = [], []
    parts = {"city_state": [], "network_svg": [], "winners_chart": [], "participation_chart": [], "bantar_chart": []}
    structure = app.rt_structure(model, picked.value)
    for k in range(warmup + steps):
        t0 = time.perf_counter()
        model.step()
        t1 = time.perf_counter()
        force_update()
        t2 = time.perf_counter()
        for name, fn in (("city_state", lambda: app.city_state(model)),
                         ("network_svg", lambda: app.network_svg(model, picked.value, structure)),
                         ("winners_chart", lambda: charts.winners_chart(model)),
                         ("participation_chart", lambda: charts.participation_chart(model)),
                         ("bantar_chart", lambda: charts.bantar_chart(model))):
            a = time.perf_counter()
            fn()
            parts[name].append(time.perf_counter() - a)
        if k >= warmup:
            step_t.append(t1 - t0)
            redraw_t.append(t2 - t1)
    rc.close()
    ms = lambda xs: 1000 * statistics.median(xs)  # noqa: E731
    return {"preset": preset, "rts": model.city.n_rts, "households": model.city.n_households,
            "first_render_ms": 1000 * first, "model_step_ms": ms(step_t), "redraw_ms": ms(redraw_t),
            "redraw_max_ms": 1000 * max(redraw_t), "parts_ms": {k: ms(v[warmup:]) for k, v in parts.items()}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser_side(preset: str, steps: int, uncalibrated: bool) -> dict:
    from playwright.sync_api import sync_playwright

    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "bantar_sim.cli", "viz", "--port", str(port), "--no-open",
                             "--preset", preset] + (["--uncalibrated"] if uncalibrated else []),
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            # First paint as a class sees it: from opening the page to the city drawn. The first load also
            # warms the server (imports, first model), so it is reported apart; the target is on the median
            # of the next three loads (issue 17: first paint <= 2 s).
            loads = []
            for _ in range(4):
                page = browser.new_page(viewport={"width": 1280, "height": 720})
                t0 = time.perf_counter()
                page.goto(f"http://127.0.0.1:{port}/", wait_until="commit", timeout=90_000)
                page.wait_for_selector("[data-testid=city-map] rect", timeout=90_000)
                loads.append(time.perf_counter() - t0)
                page.close()
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("[data-testid=city-map] rect", timeout=90_000)
            page.locator("[data-testid=city-map] rect").nth(3).click()
            page.wait_for_selector("[data-testid=rt-network]")
            times = []
            for k in range(1, steps + 1):
                # Timed inside the page: click Step, then wait until the counter shows step k and the
                # next animation frame has been painted (the city is redrawn in the same update).
                ms = page.evaluate("""async k => {
                    const button = [...document.querySelectorAll('button')].find(b => b.textContent.trim() === 'Step');
                    const counter = () => document.querySelector('[data-testid=step-counter]');
                    const t0 = performance.now();
                    button.click();
                    await new Promise(resolve => {
                        const check = () => (counter() && counter().textContent.startsWith('Step ' + k + ' '))
                            ? requestAnimationFrame(() => resolve()) : requestAnimationFrame(check);
                        check();
                    });
                    return performance.now() - t0;
                }""", k)
                times.append(ms / 1000)
                page.wait_for_timeout(50)
            browser.close()
        return {"preset": preset, "browser_step_ms": 1000 * statistics.median(times[2:]),
                "browser_step_max_ms": 1000 * max(times[2:]), "first_load_ms": 1000 * loads[0],
                "first_paint_ms": 1000 * statistics.median(loads[1:])}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=24, help="timed steps per preset (default 24)")
    ap.add_argument("--browser", action="store_true", help="also time a Step click in headless Chromium")
    ap.add_argument("--uncalibrated", action="store_true", help="status-quo defaults, not calibration/calibrated.toml")
    args = ap.parse_args(argv)
    if args.uncalibrated:
        os.environ["BANTAR_VIZ_UNCALIBRATED"] = "1"     # read when bantar_sim.app.page is imported
    for preset in ("classroom", "full"):
        r = server_side(preset, args.steps, warmup=3)
        parts = ", ".join(f"{k} {v:.2f}" for k, v in r["parts_ms"].items())
        print(f"{preset:9s} {r['rts']:5d} RTs {r['households']:7d} households"
              f" | first render {r['first_render_ms']:.0f} ms"
              f" | model step {r['model_step_ms']:.1f} ms | server redraw per step: median {r['redraw_ms']:.1f} ms,"
              f" max {r['redraw_max_ms']:.1f} ms | parts (ms): {parts}", flush=True)
        if args.browser:
            b = browser_side(preset, min(args.steps, 15), args.uncalibrated)
            print(f"{preset:9s} browser: Step click -> new month painted: median {b['browser_step_ms']:.0f} ms,"
                  f" max {b['browser_step_max_ms']:.0f} ms | page open -> city drawn: first load "
                  f"{b['first_load_ms']:.0f} ms, then median {b['first_paint_ms']:.0f} ms of 3 "
                  f"(target <= 2000 ms)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
