"""The numbers docs/teaching.md quotes from its screenshots, computed from the model the app builds.

The screenshots (docs/img/, refreshed by the browser test with BANTAR_UPDATE_DOC_IMAGES=1) show the
app's classroom city at seed 2014 with the status-quo defaults (`bantar-sim viz --uncalibrated`), run to
December 2025. The app's presets and default end year live here (the app imports them), so the app builds
exactly `BantarModel(rng=2014, **APP_DEFAULTS, **PRESETS["classroom"])` and the counts its legend shows can
be computed without a browser; `bantar-sim docs` writes them into teaching.md and a test checks the block
is current.
"""
from __future__ import annotations

from bantar_sim.model.agents import KENCANA, LAPSED, labelled
from bantar_sim.model.model import BantarModel
from bantar_sim.reporting.markdown import markdown_table

#: The app's city presets (`bantar_sim.app.page` uses these).
PRESETS = {
    # ~160 RTs of 40 households: each step redraws in a few milliseconds, play looks smooth on a projector.
    "classroom": {"scale": 0.1, "households_per_rt": 40.0},
    # Table 3's 1,627 RTs, with households per RT as calibrated (else the default, 90: ~146,000 households).
    "full": {"scale": 1.0},
}
#: The app runs past 2020 by default so that the policy levers (from policy_start_year 2021) show.
APP_DEFAULTS = {"end_year": 2025}

#: The screenshots of teaching.md: name -> (what it shows, the settings on top of the defaults).
SCREENSHOTS = {
    "status-quo-2025.png": ("status quo", {}),
    "kencana-2025.png": ("Kencana tier from 2021", {"kencana": True}),
    "social-influence-6.png": ("social influence of neighbours 6", {"social_influence": 6.0}),
}
SEED = 2014


def screenshot_counts(settings: dict) -> dict:
    """Legend counts of the classroom city at seed 2014 in December of the app's default end year."""
    m = BantarModel(rng=SEED, **APP_DEFAULTS, **PRESETS["classroom"], **settings).run()
    status = m.rt_state.status
    holding = labelled(status)
    return {"rts": m.city.n_rts, "label": int(holding.sum()), "pale": int((holding & ~m.practising_mask()).sum()),
            "lapsed": int((status == LAPSED).sum()), "kencana": int((status == KENCANA).sum()),
            "participation": m.participation}


def teaching_numbers_markdown() -> str:
    """The table of screenshot numbers for docs/teaching.md's generated block."""
    rows = []
    for name, (what, settings) in SCREENSHOTS.items():
        c = screenshot_counts(settings)
        rows.append((f"`{name}` ({what})", c["label"], c["pale"], c["lapsed"], c["kencana"],
                     f"{c['participation']:.2f}"))
    end = APP_DEFAULTS["end_year"]
    return (f"Classroom city ({c['rts']} RTs), seed {SEED}, status-quo defaults (`bantar-sim viz --uncalibrated`), "
            f"December {end}:\n\n"
            + markdown_table(("screenshot", "RTs holding the label", "of them pale (not practising)",
                              "lapsed (orange)", "Kencana (gold)", "share of households taking part"), rows))
