"""Figure helpers shared by the studies' reports.

Figures are built on :class:`matplotlib.figure.Figure` directly, not through ``pyplot``: no library
function selects or changes the matplotlib backend (a notebook user's stays as it is), no global figure
state is kept, and saving works without a display.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

OBSERVED_COLOUR = "black"
BASELINE_COLOUR = "0.25"


def new_figure(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] = (8, 5), squeeze: bool = True,
               **subplot_kw):
    """A figure and its axes, without pyplot.

    Parameters
    ----------
    nrows, ncols : int
        Grid of axes.
    figsize : tuple of float
        Inches.
    squeeze : bool
        As in :meth:`matplotlib.figure.Figure.subplots`.
    **subplot_kw
        Passed to :meth:`~matplotlib.figure.Figure.subplots` (e.g. ``sharex``).

    Returns
    -------
    (matplotlib.figure.Figure, axes)
    """
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize)
    axes = fig.subplots(nrows, ncols, squeeze=squeeze, **subplot_kw)
    return fig, axes


def save_figure(fig, path: str | Path, *, dpi: int = 120) -> Path:
    """Save a figure as PNG (tight layout) and release it; returns the path."""
    path = Path(path)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def colormap(name: str):
    """A matplotlib colormap by name (``tab10``, ``viridis``, ...)."""
    import matplotlib
    return matplotlib.colormaps[name]


def arm_colours(arms: Sequence[str], baseline: str = "baseline") -> dict[str, object]:
    """One colour per arm: the baseline dark grey, the others from tab10 (tab20 beyond ten arms)."""
    cmap = colormap("tab10" if len(arms) <= 10 else "tab20")
    colours: dict[str, object] = {baseline: BASELINE_COLOUR}
    i = 0
    for a in arms:
        if a != baseline:
            colours[a] = cmap(i % cmap.N)
            i += 1
    return colours


def observed_winners(rt_share: float = 1.0) -> dict[str, pd.Series]:
    """Table 3's city winners per year and their cumulative sum, scaled to a simulated city's RT share.

    The cumulative sum equals the RTs ever awarded when no RT wins twice (the model's default).
    """
    from bantar_sim.model.data import table3
    w = table3().city_winners.astype(float) * rt_share
    return {"winners": w, "awarded_rts_cumulative": w.cumsum()}
