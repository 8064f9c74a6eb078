"""Stage 2 of the calibration: the 11 sub-districts' named effects at the chosen point (issue 14, item 4).

Stage 1 (rejection ABC on a reference table, :mod:`.reference`, or ABC-SMC, :mod:`.abc`) calibrates the global
parameters with the sub-district effects drawn per run (``subdistrict_effects = "random"``: z_s, u_s ~ N(0, 1)),
so its posterior is that of the hierarchical model with the named effects integrated out. Stage 2 holds the
chosen point's globals fixed and fits each sub-district's standardised leadership effect ``leadership_z_<s>``
and screening effort ``screening_u_<s>`` to its two Table 3 statistics (RTs proposed to the city 2014–2020,
winners 2014–2020), with the N(0, 1) prior as a penalty
(:func:`bantar_sim.studies.calibration.named_effects.fit_named_effects`). The calibrated set then runs with
``subdistrict_effects = "named"`` (docs/ODD.md 7.4, 7.5).

Both statistics get 0.5 added (observed and simulated) before the logs: a small sub-district can have no
winner in a reduced-scale run.
"""
from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable

import numpy as np
import pandas as pd

from bantar_sim.model.data import SUBDISTRICTS
from bantar_sim.model.specs import subdistrict_slug
from bantar_sim.studies.calibration.named_effects import (
    Block,
    NamedEffectsConfig,
    NamedEffectsResult,
    fit_named_effects,
)
from bantar_sim.studies.calibration.predictive import observed_arrays, predictive_run
from bantar_sim.studies.calibration.targets import Targets

#: Added to both counts before the logs (a sub-district with no winner at a reduced scale).
OFFSET = 0.5


def effect_names(slug: str) -> tuple[str, str]:
    """The two named effects of a sub-district (its parameter-name form)."""
    return f"leadership_z_{slug}", f"screening_u_{slug}"


def subdistrict_blocks() -> list[Block]:
    """One block per sub-district: its two effects; statistics k (proposals) and 11 + k (winners)."""
    n = len(SUBDISTRICTS)
    return [Block(s, effect_names(subdistrict_slug(s)), (k, n + k)) for k, s in enumerate(SUBDISTRICTS)]


def _stats(result: dict) -> np.ndarray:
    return np.concatenate([result["proposals"], result["won"].sum(axis=0)]).astype(float) + OFFSET


def fit_subdistrict_effects(values: dict, targets: Targets, executor: cf.Executor, *, seed: int,
                            settings: dict | None = None, progress: Callable[[str], None] | None = None
                            ) -> tuple[dict, NamedEffectsResult, pd.DataFrame]:
    """Fit the named sub-district effects at the calibrated point ``values`` (settings and globals).

    Parameters
    ----------
    values : dict
        The stage-1 calibrated set (what :func:`.predictive.calibrated_values` returns).
    targets : Targets
        Table 3 (scaled to the simulated city by each sub-district's share of RTs).
    executor : concurrent.futures.Executor
        Runs the simulations (``predictive_run`` tasks), in parallel if it has workers.
    seed : int
        The fit's seed (its seeds are spawned from it and recorded in the result).
    settings : dict, optional
        ``rounds``, ``seeds_per_round``, ``jacobian_seeds``, ``penalty`` (priors file's [named_effects]).
    progress : callable, optional
        Called with one line per stage of the fit.

    Returns
    -------
    (dict, NamedEffectsResult, pandas.DataFrame)
        The calibrated set with ``subdistrict_effects = "named"`` and the 22 effects; the fit; one row per
        sub-district with its effects and published and simulated statistics (the mean of the fit's check
        at the fitted effects).
    """
    base = {**values, "subdistrict_effects": "named"}

    def simulate(points: list[dict[str, float]], seeds: list[int]) -> np.ndarray:
        tasks = [({**base, **pt}, s) for pt in points for s in seeds]
        out = np.stack([_stats(r) for r in executor.map(predictive_run, tasks)])
        return out.reshape(len(points), len(seeds), -1)

    first = predictive_run((base, seed))           # the simulated city's RTs per sub-district (scale)
    obs = observed_arrays(targets, first["rts"])
    observed = np.concatenate([obs["proposals"], obs["won"].sum(axis=0)]) + OFFSET
    config = NamedEffectsConfig(seed=seed, **(settings or {}))
    fit = fit_named_effects(simulate, subdistrict_blocks(), observed, config, progress=progress)
    fit.n_simulations += 1
    n = len(SUBDISTRICTS)
    last = np.asarray(fit.final["simulated"]) - OFFSET
    rows = []
    for k, s in enumerate(SUBDISTRICTS):
        z, u = effect_names(subdistrict_slug(s))
        rows.append({"subdistrict": s, "leadership_z": fit.effects[z], "screening_u": fit.effects[u],
                     "proposals_published": observed[k] - OFFSET, "proposals_simulated": last[k],
                     "winners_published": observed[n + k] - OFFSET, "winners_simulated": last[n + k]})
    return {**base, **fit.effects}, fit, pd.DataFrame(rows)
