"""The Ishigami test function as a sensitivity "model": it verifies the pipeline against known indices.

Not on the library's main path (nothing imports it but the tests and whoever wants to try the workflow
in seconds): :func:`ishigami_problem` builds a :class:`~bantar_sim.studies.sensitivity.spec.Problem` whose
runs are made by :func:`ishigami_run` instead of the model, through the same batch engine, analysis and
report as the model's::

    from bantar_sim.studies.sensitivity import SensitivityConfig, run_sensitivity
    from bantar_sim.studies.sensitivity.toy import ishigami_problem, ishigami_run
    res = run_sensitivity(SensitivityConfig(ishigami_problem(), method="sobol", n=256, out="/tmp/sa",
                                            run_fn=ishigami_run, model_version="ishigami"))
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bantar_sim.engine.task import RunTask
from bantar_sim.studies.sensitivity.spec import Problem, Uncertain, check_problem

__all__ = ["ISHIGAMI_A", "ISHIGAMI_B", "ishigami_indices", "ishigami_run", "ishigami_problem"]

ISHIGAMI_A, ISHIGAMI_B = 7.0, 0.1


def ishigami_indices(a: float = ISHIGAMI_A, b: float = ISHIGAMI_B) -> dict:
    """Analytic S1, ST and variance of the Ishigami function (x_i uniform on [-pi, pi]).

    Returns
    -------
    dict
        ``{"S1": array(3), "ST": array(3), "variance": float}``.
    """
    pi = math.pi
    v1 = 0.5 * (1 + b * pi ** 4 / 5) ** 2
    v2 = a ** 2 / 8
    v13 = b ** 2 * pi ** 8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return {"S1": np.array([v1, v2, 0.0]) / v, "ST": np.array([v1 + v13, v2, v13]) / v, "variance": v}


def ishigami_run(task: RunTask) -> dict[str, pd.DataFrame]:
    """The Ishigami function as a batch run: ``{"metrics": DataFrame(y=[...])}``.

    Parameters
    ----------
    task : RunTask
        Params ``x1``, ``x2``, ``x3``; optional ``noise_sd`` adds seed noise that differs between design
        points, ``common_noise_sd`` seed noise that is the same at every point (what common random
        numbers give).
    """
    p = task.params
    x1, x2, x3 = float(p["x1"]), float(p["x2"]), float(p["x3"])
    y = math.sin(x1) + ISHIGAMI_A * math.sin(x2) ** 2 + ISHIGAMI_B * x3 ** 4 * math.sin(x1)
    if p.get("noise_sd"):
        bits = np.array([x1, x2, x3], dtype=np.float64).view(np.uint64)
        y += float(p["noise_sd"]) * np.random.default_rng([task.seed, *map(int, bits)]).standard_normal()
    if p.get("common_noise_sd"):
        y += float(p["common_noise_sd"]) * np.random.default_rng(task.seed).standard_normal()
    return {"metrics": pd.DataFrame({"y": [y]})}


def ishigami_problem(name: str = "ishigami", replications: int = 2, n: int = 1024, seed: int = 12345,
                     fixed: dict | None = None) -> Problem:
    """The Ishigami problem: x1, x2, x3 uniform on [-pi, pi], output ``y``.

    Parameters
    ----------
    name : str
        Names the result folder.
    replications : int
        Runs per design point.
    n : int
        The Sobol N (Morris uses 40 trajectories).
    seed : int
        Base seed.
    fixed : dict, optional
        Extra run parameters, e.g. ``{"noise_sd": 1.0}``.
    """
    pi = math.pi
    prob = Problem(name=name, parameters=[Uncertain(f"x{i}", -pi, pi, "Ishigami test function") for i in (1, 2, 3)],
                   outputs=["y"], fixed=dict(fixed or {}), replications=replications, seed=seed, end_year=None,
                   morris={"n": 40, "levels": 4}, sobol={"n": n}, output_info={"y": ("Ishigami function", "-")},
                   description="Verification: the Ishigami function has known Sobol indices.", source="<ishigami>",
                   model=False)
    return check_problem(prob)
