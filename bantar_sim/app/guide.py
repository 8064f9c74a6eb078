"""The app's Guide tab, written for students: what the model is, how it works, what to notice, things to try.

The exercises are :data:`bantar_sim.studies.teaching.EXERCISES` — the same text docs/teaching.md prints with
the numbers the shipped model gives — and each has a button that sets its parameters and starts a new run.
"""
from __future__ import annotations

from html import escape

import markdown
import solara

from bantar_sim.studies.teaching import EXERCISES, SEED

WHAT = """
**What it is.** Jambi City (Indonesia) asks its neighbourhoods — *RTs*, about {per_rt:g} households each — to keep
their streets **Clean, Safe and Smart** (*Kampung Bantar*). Every year, RTs propose themselves in April and
the city assesses them in October; the best are awarded the *Bantar* label and a reward. The programme
lives on volunteering (*gotong royong*): it works only as long as households keep taking part. This model
follows every household and every RT month by month from 2014, and compares its winners with the
published counts (Table 3 of the paper).
"""

HOW = """
**How it works.**

- Each month a **household** decides whether to take part. It leans towards what its neighbours did last
  month (*social influence*), is pushed by its **RT head** (H) and pulled by informal leaders: religious (R),
  traditional (T) and youth (Y). It must first have **heard of** the programme.
- An **RT**'s scores (Clean, Safe, Smart) grow with the share of its households taking part. Its
  **motivation** jumps with the campaign before the October assessment and with an award, then
  **fades** (the *waning half-life*). Its **incentive** is what it still stands to gain or lose.
- An RT **practises** if enough of its households took part over the last 12 months (the *practice
  standard*). A Bantar RT that stops practising keeps its label on paper (a **pale** tile) until a check
  finds it out: then it **lapses** (orange).
- The **policy levers** (Kencana tier, adoption, monitoring, leaders, youth, dissemination, rewards) switch
  on in the *policy start* year. Every control says in one line what it changes.
"""

NOTICE = """
**What to notice.** The city's tiles (one per RT, grouped by sub-district) and the three charts grow as the
model runs; the monitors give this month's numbers. Compare *holding the label* with *practising*: the gap
is the programme's problem. Click a tile to see that RT's households (lit = taking part this month). After a
**Reset**, the previous run stays faint on the charts; pin a run ("pin this run") to keep it as the comparison.
Settings take effect when you press **Reset**; the same seed and settings always give the same run
(seed {seed} at the start).
"""


def md(text: str) -> str:
    """Markdown to HTML on the server. Not solara.Markdown: it fetches KaTeX from a CDN (through the Solara
    server) on every page, which fails offline and slows the page down.
    """
    return markdown.markdown(text)


@solara.component
def Guide(on_exercise, note: str = "", per_rt: float = 90.0):
    """The Guide tab: the model in plain words, then the exercises, each with a button that sets it up.

    Parameters
    ----------
    on_exercise : callable
        Called with an exercise's key when its button is pressed (the page sets its parameters and resets).
    note : str
        Which parameter set and model version this app runs.
    per_rt : float
        Households per RT in the parameter set (the model's RTs, as the text describes them).
    """
    with solara.Div(classes=["guide"], style={"max-width": "980px", "margin": "0 auto"}):
        with solara.Div(attributes={"data-testid": "guide"}):
            solara.HTML(tag="div", unsafe_innerHTML=md(WHAT.format(per_rt=per_rt)))
            solara.HTML(tag="div", unsafe_innerHTML=md(HOW))
            solara.HTML(tag="div", unsafe_innerHTML=md(NOTICE.format(seed=SEED)))
            solara.HTML(tag="div", unsafe_innerHTML=md(
                "**Things to try.** Each exercise's button sets its parameters (all others back to the defaults), "
                "starts a new run and takes you to the model; the steps say what to do."))
        for k, ex in enumerate(EXERCISES, 1):
            with solara.Card(margin=0, classes=["exercise-card"], style={"margin-bottom": "8px"}):
                solara.HTML(tag="div", unsafe_innerHTML=f"<b>Exercise {k} — {escape(ex.title)}</b> "
                            f"<span style='color:#555'>({ex.minutes} min; the paper: “{escape(ex.quote)}”)</span>")
                solara.Button(f"Set up exercise {k}", color="primary", small=True,
                              on_click=lambda key=ex.key: on_exercise(key),
                              attributes={"data-testid": f"exercise-{k}"})
                steps = "".join(f"<li>{escape(s)}</li>" for s in ex.steps)
                solara.HTML(tag="div", unsafe_innerHTML=f"<ol style='margin:4px 0'>{steps}</ol>"
                            f"<div><b>Discuss.</b> {escape(ex.discuss)}</div>")
        if note:
            solara.HTML(tag="div", unsafe_innerHTML=escape(f"This app runs the {note}; docs/teaching.md gives each "
                                                           "exercise's numbers for the shipped set (`make docs`)."),
                        attributes={"style": "font-size:12px; color:#555"})
