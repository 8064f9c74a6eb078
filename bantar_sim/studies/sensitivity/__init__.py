"""Global sensitivity analysis of the model with SALib (Morris screening, Sobol indices).

One workflow function, :func:`run_sensitivity`, takes a :class:`SensitivityConfig` and returns a
:class:`SensitivityResult` (indices tables, design, outputs, paths). The package is split by job:

- :mod:`~bantar_sim.studies.sensitivity.spec`: the problem (uncertain parameters, outputs) and its checks;
- :mod:`~bantar_sim.studies.sensitivity.design`: SALib's sample and the check of every design point;
- :mod:`~bantar_sim.studies.sensitivity.compute`: run tasks, outputs read back, SALib's analysis, the
  seed's share of the variance, the convergence check;
- :mod:`~bantar_sim.studies.sensitivity.report`: tables, figures and the Markdown report;
- :mod:`~bantar_sim.studies.sensitivity.workflow`: the function tying them together;
- :mod:`~bantar_sim.studies.sensitivity.toy`: the Ishigami test function (verification, not imported here).

Why the design choices (common random numbers, analysing means, the half-sample convergence check):
docs/sensitivity.md.
"""
from bantar_sim.studies.sensitivity.spec import METHODS, Problem, Uncertain, check_problem, load_problem
from bantar_sim.studies.sensitivity.workflow import (
    SensitivityConfig,
    SensitivityPlan,
    SensitivityResult,
    plan_sensitivity,
    run_sensitivity,
)

__all__ = ["METHODS", "Problem", "Uncertain", "check_problem", "load_problem", "SensitivityConfig", "SensitivityPlan",
           "SensitivityResult", "plan_sensitivity", "run_sensitivity"]
