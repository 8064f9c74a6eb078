"""Policy experiments: an experiment file (TOML) of named arms run through the batch engine, then analysed.

>>> from bantar_sim.studies.experiment import ExperimentConfig, run_experiment
>>> result = run_experiment(ExperimentConfig("experiments/kencana.toml", replications=4))   # doctest: +SKIP
>>> result.effects.query("metric == 'kencana_final'")                                      # doctest: +SKIP

Rooms: :mod:`.spec` (the file with its [[arm]]s and dose-response [[sweep]]s, its checks, the run tasks),
:mod:`.compute` (metrics from the registry, paired effects, dose-response, bands), :mod:`.figures` and
:mod:`.report` (figures, tables, report.md, data dictionary), :mod:`.workflow` (plan, run, analyse, write),
:mod:`.publish` (result files copied into experiments/results and the README block written from them).
Under uncertainty (issue 16, an optional [uncertain] table): :mod:`.uncertain` (scenarios = posterior draw ×
lever-strength design, default ranges, seeds), :mod:`.robust` (distributions, P(A beats B), regret, variance
shares), :mod:`.robust_curves` (dose-response over strengths, break-even, cost-effectiveness, persistence),
:mod:`.prim` (scenario discovery with EMA Workbench's PRIM), :mod:`.robust_figures` and :mod:`.robust_report`.
"""
from __future__ import annotations

from bantar_sim.studies.experiment.spec import Experiment, ExperimentConfig, ExperimentError, load_experiment
from bantar_sim.studies.experiment.workflow import ExperimentPlan, ExperimentResult, plan_experiment, run_experiment

__all__ = ["Experiment", "ExperimentConfig", "ExperimentError", "ExperimentPlan", "ExperimentResult",
           "load_experiment", "plan_experiment", "run_experiment"]
