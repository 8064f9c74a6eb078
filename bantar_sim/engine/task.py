"""One simulation as a pure function of (parameters, seed): what batches, calibration and tests call."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pandas as pd

from bantar_sim.model.model import BantarModel

# Tables a batch run keeps by default; "rt_year" (one row per RT and year) is large and opt-in.
DEFAULT_TABLES = ("city_year", "subdistrict_year", "metrics")


def seed_from(entropy: int | np.random.SeedSequence) -> int:
    """A 64-bit integer seed from a SeedSequence (or an int), the form recorded in outputs."""
    ss = entropy if isinstance(entropy, np.random.SeedSequence) else np.random.SeedSequence(entropy)
    return int(ss.generate_state(1, dtype=np.uint64)[0])


def spawn_seeds(base_seed: int, n: int) -> list[int]:
    """Independent streams for n replications (numpy SeedSequence.spawn), as recordable ints."""
    return [seed_from(child) for child in np.random.SeedSequence(base_seed).spawn(n)]


def simulate(params: Mapping[str, Any] | None = None, seed: int = 0,
             tables: tuple[str, ...] = DEFAULT_TABLES) -> dict[str, pd.DataFrame]:
    model = BantarModel(rng=seed, **dict(params or {}))
    model.run()
    out = model.tables()
    return {k: out[k] for k in tables}


def run_task(task) -> dict[str, pd.DataFrame]:
    """Batch-engine entry point: `task` is a bantar_sim.engine.batch.RunTask (params, seed, tags)."""
    params = dict(task.params)
    tables = tuple(params.pop("_tables", DEFAULT_TABLES))
    return simulate(params, task.seed, tables)
