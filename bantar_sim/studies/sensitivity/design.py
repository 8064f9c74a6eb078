"""The design: SALib's sample of the uncertain parameters, the parameters every run shares, and the check
that every design point is a valid parameter set before any run starts.

Why SALib's samplers as they are: Saltelli's scheme on a scrambled Sobol' sequence
(``ProblemSpec.sample_sobol``) and Morris trajectories (``ProblemSpec.sample_morris``) with a fixed seed
are prefixes of each other, so the design for N is the first half of the design for 2N; the
convergence check and the reuse of stored runs when N doubles rest on that (docs/sensitivity.md).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from bantar_sim.model.city import counts_ok
from bantar_sim.model.params import ParameterError, make_params
from bantar_sim.studies.inputs import ParameterSet
from bantar_sim.studies.sensitivity.spec import Problem, Uncertain

__all__ = ["Design", "salib_spec", "sample_design", "base_overrides", "check_design"]


@dataclass
class Design:
    """SALib's sample for one method and N.

    Attributes
    ----------
    method : str
        ``morris`` or ``sobol``.
    n : int
        Trajectories (Morris) or base sample size (Sobol).
    parameters : list of Uncertain
        The parameters the method varies, in the design's column order.
    X : numpy.ndarray
        The sample as SALib drew it (what the analysis is given).
    values : numpy.ndarray
        The values run (integer parameters rounded).
    block : int
        Rows per trajectory (Morris, k + 1) or per base point (Sobol, 2k + 2 or k + 2).
    settings : dict
        The method's settings used.
    """

    method: str
    n: int
    parameters: list[Uncertain]
    X: np.ndarray
    values: np.ndarray
    block: int
    settings: dict

    @property
    def names(self) -> list[str]:
        """The varied parameters' names."""
        return [p.name for p in self.parameters]

    @property
    def n_points(self) -> int:
        """Rows of the design."""
        return len(self.X)

    def half_rows(self) -> int:
        """Rows of the design for N/2: the N design starts with it (same seed; see docs/sensitivity.md)."""
        return (self.n // 2) * self.block

    def point(self, i: int) -> dict:
        """Design point ``i`` as parameter overrides (ints for integer parameters)."""
        return {p.name: (int(v) if p.integer else float(v)) for p, v in zip(self.parameters, self.values[i])}


def salib_spec(parameters: list[Uncertain], outputs: list[str] | None = None):
    """A SALib ``ProblemSpec`` for the parameters (uniform on their ranges) and, optionally, outputs."""
    from SALib import ProblemSpec
    spec = {"names": [p.name for p in parameters], "bounds": [[p.low, p.high] for p in parameters]}
    if outputs:
        spec["outputs"] = list(outputs)
    return ProblemSpec(spec)


def sample_design(problem: Problem, method: str, n: int) -> Design:
    """SALib's sampler: Morris trajectories, or Saltelli's scheme on a scrambled Sobol' sequence.

    Parameters
    ----------
    problem : Problem
        A checked problem (its seed is the sampler seed).
    method : str
        ``morris`` or ``sobol``.
    n : int
        Checked with :func:`bantar_sim.studies.sensitivity.spec.check_n`.

    Returns
    -------
    Design
    """
    settings = dict(problem.settings(method))
    params = problem.method_parameters(method)
    k = len(params)
    sp = salib_spec(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        if method == "sobol":
            sp.sample_sobol(n, calc_second_order=settings["second_order"], scramble=True, seed=problem.seed)
            block = 2 * k + 2 if settings["second_order"] else k + 2
        else:
            sp.sample_morris(n, num_levels=settings["levels"], seed=problem.seed)
            block = k + 1
    X = np.asarray(sp.samples, dtype=float)
    values = X.copy()
    for j, p in enumerate(params):
        if p.integer:
            values[:, j] = np.clip(np.rint(values[:, j]), math.ceil(p.low), math.floor(p.high))
    if len(X) != n * block:
        raise RuntimeError(f"SALib returned {len(X)} design points for N={n}, expected {n * block}")
    return Design(method, n, params, X, values, block, settings)


def base_overrides(problem: Problem, parameter_set: ParameterSet | None) -> dict:
    """What every run shares: the parameter set's values, then the file's ``[fixed]``, then the horizon.

    Parameters
    ----------
    problem : Problem
        Its ``fixed`` table and ``end_year``.
    parameter_set : ParameterSet or None
        The set the study starts from (None for a test function: nothing but ``fixed``).

    Returns
    -------
    dict
    """
    base = dict(parameter_set.params) if parameter_set is not None else {}
    base.update(problem.fixed)
    if problem.end_year is not None:
        base["end_year"] = problem.end_year
    return base


def check_design(problem: Problem, design: Design, base: dict) -> None:
    """Every design point must be a valid parameter set (joint rules too) before any run starts.

    Raises
    ------
    ParameterError
        Naming the problem file and the first invalid design point, and saying to narrow the ranges.
    """
    where = problem.source
    base_params = make_params(base, where=f"{where} [fixed]")
    counts_ok(base_params)
    for i in range(design.n_points):
        point = design.point(i)
        try:
            make_params(point, base=base_params)
        except ParameterError as err:
            raise ParameterError(f"{where}: design point {i} ({', '.join(f'{k}={v:.4g}' for k, v in point.items())}) "
                                 f"is not a valid parameter set: {err}. Narrow the [[parameters]] ranges so "
                                 "every combination is allowed.") from None
