"""The replicated simulation's computation: the runs (through the one run function) and the tables.

Replication ``i`` is the task ``RunTask(overrides, seeds[i], {"replicate": i}, tables)`` computed by
:func:`bantar_sim.engine.task.run_task`; replicate 0 also keeps ``rt_year``. The tables depend on the
tasks only, never on the executor that computed them, so any executor gives the same tables.
"""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor

import pandas as pd

from bantar_sim.engine.task import RunTask, run_task
from bantar_sim.model.data import SUBDISTRICTS, YEARS, table3
from bantar_sim.studies.simulation.spec import TABLES_FIRST, TABLES_OTHERS, ResolvedSimulation

#: The columns of Table 3 compared with the simulation (besides ``rts``).
TABLE3_COLUMNS = ("rt_proposals", *[f"won_{y}" for y in YEARS], "amount")


def build_tasks(resolved: ResolvedSimulation) -> list[RunTask]:
    """One task per replication (replicate 0 also keeps the per-RT table ``rt_year``)."""
    return [RunTask(params=dict(resolved.overrides), seed=seed, tags={"replicate": i},
                    tables=TABLES_FIRST if i == 0 else TABLES_OTHERS)
            for i, seed in enumerate(resolved.seeds)]


def run_replications(tasks: Sequence[RunTask], executor: Executor | None = None,
                     progress: bool = True) -> list[dict[str, pd.DataFrame]]:
    """Compute the tasks, in order: in this process (``executor=None``) or through ``executor.map``.

    Parameters
    ----------
    tasks : sequence of RunTask
        The replications.
    executor : concurrent.futures.Executor, optional
        Where to compute them; ``None`` runs them one after the other in this process.
    progress : bool
        Show a progress bar (tqdm).

    Returns
    -------
    list of dict
        The tables of each replication, in the order of ``tasks``.
    """
    from tqdm import tqdm

    results = map(run_task, tasks) if executor is None else executor.map(run_task, tasks)
    return list(tqdm(results, total=len(tasks), desc="replications", unit="run", disable=not progress))


def stack(runs: Sequence[dict[str, pd.DataFrame]], seeds: Sequence[int], name: str) -> pd.DataFrame:
    """One table of every replication, with ``replicate`` and ``seed`` (as text: it exceeds int64) columns."""
    return pd.concat([r[name].assign(replicate=i, seed=str(seeds[i])) for i, r in enumerate(runs)],
                     ignore_index=True)


def compare_with_table3(t3_runs: pd.DataFrame) -> pd.DataFrame:
    """Published (consistent version) vs simulated MEAN over the replications, per sub-district.

    Columns ``<column>_published`` and ``<column>_simulated_mean`` for the RTs, the distinct proposing
    RTs, the winners of each year and their total (``amount``). Only years the run covers are compared;
    when the run ends before 2020 the published ``amount`` is the sum of the compared years and
    ``rt_proposals`` (a 2014–2020 count) is left out.
    """
    obs = table3().consistent
    sim = t3_runs.groupby("subdistrict").mean(numeric_only=True).reindex(SUBDISTRICTS)
    years = [y for y in YEARS if f"won_{y}" in sim]
    full = len(years) == len(YEARS)
    out = pd.DataFrame(index=pd.Index(SUBDISTRICTS, name="subdistrict"))
    out["rts_published"] = obs["rts"]
    out["rts_simulated_mean"] = sim["rts"]
    for c in TABLE3_COLUMNS:
        if c not in sim or (c == "rt_proposals" and not full):
            continue
        published = obs[c] if (c != "amount" or full) else obs[[f"won_{y}" for y in years]].sum(axis=1)
        out[f"{c}_published"] = published
        out[f"{c}_simulated_mean"] = sim[c].round(2)
    return out


def rt_share(subdistrict_year: pd.DataFrame) -> float:
    """The simulated city's RTs as a share of Table 3's 1,627 (what published counts are scaled by)."""
    first = subdistrict_year[subdistrict_year["replicate"] == 0]
    rts = first.groupby("subdistrict", observed=True)["rts"].first().sum()
    return float(rts / table3().rts.sum())
