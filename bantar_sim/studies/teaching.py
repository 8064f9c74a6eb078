"""The teaching app's lesson: presets, the five exercises, and their numbers computed from the model that ships.

One source for three readers: the app's Guide tab shows :data:`EXERCISES` (each with a button that sets its
``settings``), docs/teaching.md's generated blocks print the same text with the numbers the shipped model
gives (``bantar-sim docs``), and tests/test_app.py checks that every value an exercise asks for is on the
app's controls and that the app, driven in a browser, shows the numbers printed here. Nothing in the lesson
is typed by hand: after a recalibration (calibration/calibrated.toml) or a model change, ``make docs``
rewrites the numbers and the test of generated blocks fails until it has.

The app builds exactly :func:`app_model_kwargs` (the parameter set, the app's default end year, the classroom
preset, the exercise's settings, seed :data:`SEED`), so every number here can be computed without a browser.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bantar_sim.model.agents import BANTAR, KENCANA, LAPSED, labelled
from bantar_sim.model.model import BantarModel
from bantar_sim.model.version import MODEL_VERSION
from bantar_sim.reporting.markdown import markdown_table
from bantar_sim.studies.inputs import ParameterSet, resolve_parameter_set

#: The app's city presets (`bantar_sim.app` uses these). Households per RT come from the parameter set
#: (the calibrated set was fitted at 90 per RT; a smaller RT would change what social influence does).
PRESETS = {
    # 10% of each sub-district's RTs (162): a step redraws in milliseconds, play looks smooth on a projector.
    "classroom": {"scale": 0.1},
    # Table 3's 1,627 RTs.
    "full": {"scale": 1.0},
}
#: The app runs past 2020 by default so that the policy levers (from policy_start_year 2021) show.
APP_DEFAULTS = {"end_year": 2025}
SEED = 2014


@dataclass(frozen=True)
class Exercise:
    """One exercise of the lesson: the app's button sets ``settings``; ``runs`` are the rows of its numbers.

    ``runs`` pairs a row label with settings on top of the defaults; every value there must be one the app's
    controls can take (tests/test_app.py checks it), so students can reproduce each row.
    """

    key: str
    title: str
    minutes: int
    quote: str
    settings: dict
    steps: tuple[str, ...]
    discuss: str
    runs: tuple[tuple[str, dict], ...] = field(default_factory=tuple)


#: Social influence values exercise 4 asks for (all on the app slider's 0.5 grid).
SWEEP = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0)

EXERCISES = (
    Exercise(
        "lapse", "Why do awarded RTs stop practising?", 20,
        "after an assessment … they no longer apply the Bantar concept",
        {},
        ("Press the exercise button (the calibrated defaults), choose 12 months per click and click Step to "
         "December 2025 (or press ▶).",
         "Watch the city: tiles turn blue (proposed) in April and green (awarded) in October. Some green tiles "
         "turn pale: they hold the label but fewer of their households take part than the practice standard "
         "asks. Some turn orange: a check found them not practising and the label was lost.",
         "In the Bantar RTs chart compare 'holding the label' with 'still practising': the gap is the RTs that "
         "keep the label on paper only.",
         "Click a pale or orange tile and look at its households: how many are lit (taking part)? Compare its "
         "motivation with a practising green tile's.",
         "Pin this run ('pin this run'), switch off 'motivation wanes after the assessment', Reset and run "
         "again: both runs are on the charts. Then switch it back on and try a waning half-life of 3 and of 24 "
         "months."),
        "Where does the motivation to take part come from in the model (the campaign before the October "
        "assessment, the award, what the RT would lose if found out), and what happens to it afterwards? Why "
        "can the count of Bantar RTs keep growing while some stop practising?",
        (("defaults", {}), ("no waning after the assessment", {"post_award_waning": False}),
         ("waning half-life 3 months", {"waning_half_life": 3.0}),
         ("waning half-life 24 months", {"waning_half_life": 24.0}))),
    Exercise(
        "leaders", "What do leaders do?", 15,
        "structural leaders (the RT head) organise; non-structural leaders (religious, traditional, youth) "
        "influence",
        {},
        ("Press the exercise button (the defaults) and step to about October 2016. Click a green tile: H is "
         "the RT head, R a religious, T a traditional (adat) and Y a youth leader; their ties reach across "
         "the street. When two households that are tied both take part, their tie is drawn in orange.",
         "With 1 month per click, step through a year: does the RT light up before the October assessment "
         "and dim after it? The RT line's 'motivation' shows the campaign's lift and its fading.",
         "Set 'RT head mobilisation' to 0, Reset and run; then to 4. Compare the share taking part.",
         "Raise 'engage religious & traditional leaders' to 0.8 (from "
         "2021); separately 'youth regeneration' to 0.8. Compare participation after 2021 with a pinned "
         "run of the defaults."),
        "The paper explains uneven uptake across sub-districts by uneven leadership and social capital: which "
        "sub-districts have the most green tiles, and does that hold when you change the seed? Why might the "
        "paper insist that volunteering pass to the young?",
        (("defaults", {}), ("RT head mobilisation 0", {"leader_mobilisation": 0.0}),
         ("RT head mobilisation 4", {"leader_mobilisation": 4.0}),
         ("engage informal leaders 0.8", {"informal_engagement": 0.8}),
         ("youth regeneration 0.8", {"youth_regeneration": 0.8}))),
    Exercise(
        "kencana", "What does Kencana change?", 15,
        "Kampung Bantar Kencana, a higher tier for RTs already awarded, reached by few, requires a "
        "Restorative Justice (RJ) house",
        {"kencana": True, "kencana_per_year": 40},
        ("Run the defaults to 2025 and pin the run ('pin this run'). Note the legend's counts.",
         "Press the exercise button (Kencana tier from 2021, 40 awards a year city-wide) and run to 2025. The "
         "classroom city is a tenth of Jambi: the announced 10 a year would be 1 here, and by 2025 often none; "
         "40 (4 here) lets gold tiles show within the lesson. Try 10 afterwards.",
         "Compare label holders, pale tiles, lapsed and gold (Kencana) RTs with the pinned run.",
         "Click a gold tile: the RT line says it has an RJ house. Compare the incentive of green tiles with "
         "high and with low scores."),
        "Who does a tier for a few RTs motivate, and who not? What would it cost (rewards, RJ houses), and how "
        "would you check it against data?",
        (("defaults", {}), ("Kencana tier from 2021, 40 a year", {"kencana": True, "kencana_per_year": 40}),
         ("Kencana tier from 2021, 10 a year (as announced)", {"kencana": True, "kencana_per_year": 10}))),
    Exercise(
        "influence", "Social influence: gradual or steep?", 15,
        "people join because their neighbours do (gotong royong; a logit choice with social interactions)",
        {"social_influence": 0.0},
        ("Press the exercise button (social influence 0) and run to 2025: note the share taking part (the "
         "'taking part' monitor).",
         "Try " + ", ".join(f"{v:g}" for v in SWEEP[1:]) + " in turn (same seed; Reset after each). Plot on the "
         "board the share taking part in December 2025 against the slider.",
         "Where is the response gradual, and between which two values does it rise fastest?",
         "At a value in that steep stretch, change only the seed a few times: does the same city sometimes "
         "take off and sometimes not?",
         "Instead, try a dissemination campaign of 0.05 from 2021: it raises awareness (grey dashed line); "
         "does it raise participation as much?"),
        "When everybody's choice leans on the neighbours', a small change in that lean can move many people "
        "at once: why? What does that mean for a programme that relies on volunteering?",
        tuple((f"social influence {v:g}", {"social_influence": v}) for v in SWEEP)),
    Exercise(
        "adoption", "Learning from a Bantar neighbour: adoption", 10,
        "RTs that are not yet in Kampung Bantar can adopt other RTs that have already done Kampung Bantar",
        {"adoption": True},
        ("Press the exercise button (adoption from 2021) and run to 2025; compare with a pinned run of the "
         "defaults.",
         "Each October, RTs that are not yet Bantar take a practising Bantar RT of their sub-district as their "
         "example for a year: more of their households hear of the programme, their RT head organises a "
         "little more, and they learn how to pass the assessment, in proportion to how many take part in the "
         "example.",
         "Compare the winners and the blue tiles after 2021 with the pinned run."),
        "Which RTs gain most from adoption, and which Bantar RTs make good examples? Could a sub-district "
        "with few practising Bantar RTs use it?",
        (("defaults", {}), ("adoption from 2021", {"adoption": True}))),
)
EXERCISE_BY_KEY = {e.key: e for e in EXERCISES}

#: What an exercise's steps take for granted in the shipped model (e.g. "click a gold tile" needs a gold tile):
#: key -> ((claim, test on the exercise's rows), ...). tests/test_app.py checks them; the lesson prints them.
CLAIMS = {
    "lapse": (("with the defaults, by December 2025 some RTs hold the label without practising (pale) and some "
               "have lapsed (orange)", lambda rows: rows[0]["pale"] > 0 and rows[0]["lapsed"] > 0),),
    "leaders": (("the RT head's mobilisation matters: more at 4 than at 0 take part",
                 lambda rows: rows[2]["participation"] > rows[1]["participation"]),),
    "kencana": (("with the tier, some RTs reach Kencana (gold tiles)", lambda rows: rows[1]["kencana"] > 0),),
    "influence": (("the share taking part grows with social influence over the slider's range",
                   lambda rows: rows[-1]["participation"] > rows[0]["participation"]),),
}


def check_claims(ex: Exercise, rows: list[dict]) -> list[tuple[str, bool]]:
    """Each claim the exercise's steps rely on, and whether the shipped model's rows bear it out."""
    return [(text, bool(test(rows))) for text, test in CLAIMS.get(ex.key, ())]


def app_model_kwargs(pset: ParameterSet, settings: dict | None = None, preset: str = "classroom",
                     seed: int = SEED) -> dict:
    """The keyword arguments the app gives BantarModel for a preset, seed and settings (its controls untouched).

    Parameters
    ----------
    pset : ParameterSet
        The parameter set under the app's controls (the calibrated set, as ``make viz`` runs it).
    settings : dict, optional
        Settings on top of the defaults (an exercise's).
    preset, seed :
        The city preset and the random seed.

    Returns
    -------
    dict
        Keyword arguments for :class:`BantarModel`, ``rng`` included.
    """
    kw = {k: v for k, v in pset.params.items() if k not in PRESETS[preset]}
    kw.update(APP_DEFAULTS)
    kw.update(settings or {})
    kw.update(PRESETS[preset])
    return {"rng": seed, **kw}


def legend_counts(m: BantarModel) -> dict:
    """What the app's legend and monitors show for a model: the RT categories (a partition) and the shares."""
    status = m.rt_state.status
    practising = m.practising_mask()
    holding = labelled(status)
    return {"rts": m.city.n_rts, "households": m.city.n_households, "label": int(holding.sum()),
            "pale": int((holding & ~practising).sum()),
            "bantar_practising": int(((status == BANTAR) & practising).sum()),
            "lapsed": int((status == LAPSED).sum()), "kencana": int((status == KENCANA).sum()),
            "winners": int(m.rec["won"].sum()), "participation": float(m.participation)}


def exercise_numbers(pset: ParameterSet, ex: Exercise, seed: int = SEED) -> list[dict]:
    """Run every row of an exercise as the app would (classroom city, ``seed``) to the end; its legend counts."""
    rows = []
    for label, settings in ex.runs:
        m = BantarModel(**app_model_kwargs(pset, settings, seed=seed)).run()
        rows.append({"run": label, "settings": settings, **legend_counts(m)})
    return rows


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def exercise_table(rows: list[dict]) -> str:
    """The Markdown table of an exercise's rows."""
    return markdown_table(("run", "taking part, Dec", "RTs holding the label", "of them not practising (pale)",
                           "lapsed", "Kencana", "winners (all years)"),
                          [(r["run"], _pct(r["participation"]), r["label"], r["pale"], r["lapsed"], r["kencana"],
                            r["winners"]) for r in rows])


def steepest_rise(rows: list[dict]) -> tuple[float, float, float, float]:
    """The consecutive pair of sweep values with the largest rise in participation: (a, b, share_a, share_b)."""
    part = [r["participation"] for r in rows]
    k = int(np.argmax(np.diff(part)))
    return SWEEP[k], SWEEP[k + 1], part[k], part[k + 1]


def influence_finding(pset: ParameterSet, rows: list[dict]) -> str:
    """Exercise 4's answer in words, from the sweep: where the rise is steepest and how seeds spread there."""
    a, b, pa, pb = steepest_rise(rows)
    mid = round((a + b) / 2 * 2) / 2
    seeds = (1, 2, 3, 4, 5)
    shares = [BantarModel(**app_model_kwargs(pset, {"social_influence": mid}, seed=s)).run().participation
              for s in seeds]
    lo, hi = rows[0]["participation"], rows[-1]["participation"]
    total = hi - lo
    share_of_rise = (pb - pa) / total if total > 0 else 0.0
    return (f"From {SWEEP[0]:g} to {SWEEP[-1]:g} the share taking part in December "
            f"{APP_DEFAULTS['end_year']} goes from {_pct(lo)} to {_pct(hi)}. The steepest step is between "
            f"{a:g} and {b:g} ({_pct(pa)} → {_pct(pb)}: {_pct(share_of_rise)} of the whole rise in one step of "
            f"the sweep). At {mid:g}, seeds {', '.join(map(str, seeds))} give "
            f"{', '.join(_pct(s) for s in shares)}.")


def exercise_markdown(ex: Exercise, number: int) -> str:
    """One exercise as Markdown: the same text as the app's Guide tab."""
    steps = "\n".join(f"{k}. {s}" for k, s in enumerate(ex.steps, 1))
    button = ", ".join(f"`{k}` = {v}" for k, v in ex.settings.items()) or "the defaults"
    return (f"### Exercise {number} — {ex.title} ({ex.minutes} min)\n\n*The paper: \"{ex.quote}\".*\n\n"
            f"In the app: Guide tab → *Set up exercise {number}* ({button}).\n\n{steps}\n\n**Discuss.** {ex.discuss}")


def teaching_markdown(root: str | Path = ".") -> str:
    """docs/teaching.md's generated exercises: text, and each exercise's numbers from the shipped model.

    Parameters
    ----------
    root : str or Path
        The project root (its calibration/calibrated.toml is the set the app runs by default).

    Returns
    -------
    str
        Markdown for the ``teaching-exercises`` block.
    """
    pset = resolve_parameter_set(Path(root) / "calibration" / "calibrated.toml")
    probe = BantarModel(**app_model_kwargs(pset))
    head = (f"Numbers: the classroom city ({probe.city.n_rts} RTs, {probe.city.n_households:,} households, "
            f"{pset.params.get('households_per_rt', 90):g} per RT), seed {SEED}, the calibrated set "
            f"(sha256 {pset.sha256[:12]}), model {MODEL_VERSION}, each run to December "
            f"{APP_DEFAULTS['end_year']} — what the app shows after the exercise's button and the row's "
            "settings. Written by `bantar-sim docs` (`make docs`); a test fails when they are stale.")
    parts = [head]
    for k, ex in enumerate(EXERCISES, 1):
        rows = exercise_numbers(pset, ex)
        parts.append(exercise_markdown(ex, k))
        parts.append("**What the shipped model gives.**\n\n" + exercise_table(rows))
        claims = check_claims(ex, rows)
        if claims:
            parts.append("Checked by tests/test_app.py: " + "; ".join(
                f"{text} ({'holds' if ok else 'DOES NOT HOLD: rewrite this exercise'})" for text, ok in claims) + ".")
        if ex.key == "influence":
            parts.append(influence_finding(pset, rows))
    return "\n\n".join(parts)


def presets_markdown(root: str | Path = ".") -> str:
    """docs/teaching.md's sentence on the two city presets: RTs and households as the app builds them."""
    pset = resolve_parameter_set(Path(root) / "calibration" / "calibrated.toml")
    parts = []
    for name in PRESETS:
        c = BantarModel(**app_model_kwargs(pset, preset=name)).city
        parts.append(f"*{name}* {c.n_rts:,} RTs and {c.n_households:,} households")
    per_rt = pset.params.get("households_per_rt", 90)
    return (f"With the calibrated set ({per_rt:g} households per RT on average, as it was fitted at), seed {SEED}: "
            + "; ".join(parts) + ".")


def guide_numbers_note(pset: ParameterSet) -> str:
    """One line for the Guide tab: which parameter set and model version the app runs."""
    if pset.sha256:
        return f"calibrated set (sha256 {pset.sha256[:12]}) on model {MODEL_VERSION}"
    return f"status-quo defaults on model {MODEL_VERSION}"
