"""Model choice from an amortised reference table: ABC random forests and a rejection cross-check.

Why not ABC-SMC model selection? pyabc's model selection shares one population of a few hundred
particles among all the variants: a variant that loses a few particles early by chance is perturbed less
often, loses more, and dies out, so the last generation's model probabilities land near 0 or 1 and two
seeds of the same model version preferred opposite variants (issue 15, item 3). The standard amortised
alternative (Pudlo et al. 2016, "Reliable ABC model choice via random forests", Bioinformatics 32(6),
859–866) spends the same simulations on a fixed **reference table** instead:

1. :func:`plan_reference` — for every variant, ``per_variant`` parameter sets drawn from that variant's
   own uniform priors, each simulated once with its own seed at the variant's settings (equal numbers per
   variant = equal prior model probabilities). Draws and seeds come from the SeedSequence of (base seed,
   variant name) through :mod:`~bantar_sim.studies.calibration.sbc`'s draw, so run ``i`` of a variant keeps
   its parameters and seed when ``per_variant`` grows or the variants change.
2. :func:`reference_table` — the simulations go through the batch engine exactly as the coverage study's
   do (:class:`~bantar_sim.studies.calibration.sbc.StatsRun`: a one-row ``stats`` table per run,
   content-addressed by parameters, seed and model version), so an interrupted table resumes and a larger
   one reuses the smaller one's runs.
3. :func:`forest_choice` — a random forest classifier (scikit-learn, 500 trees, the statistics plus their
   linear discriminant axes, as the ``abcrf`` package does) learns variant from statistics; the chosen
   variant is the majority of the trees' votes at the observed statistics. Vote shares are not posterior
   probabilities (Pudlo et al., section 2.4); the posterior probability of the chosen variant is
   1 - E[out-of-bag misclassification | statistics], estimated by a second, regression forest trained on
   the out-of-bag error indicator and evaluated at the observed statistics. The out-of-bag confusion
   matrix gives the prior error rate: how often the forest confuses the variants at all.
4. :func:`rejection_choice` — a cross-check on the same table: keep the closest ``quantile`` of all
   simulations under the calibration's distance shape (L1, each statistic divided by its MAD over the
   table, each group of statistics weighted to count the same); a variant's posterior probability is its
   share of the accepted simulations.

:func:`toy_choice_simulator` is a problem whose true model is known, on which both are tested.
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bantar_sim.engine.batch import BatchSummary, run_batch
from bantar_sim.engine.storage import list_tables, load_table
from bantar_sim.engine.task import RunTask
from bantar_sim.studies.calibration.sbc import PARAM_PREFIX, StatsRun, _draw, stat_scales
from bantar_sim.studies.calibration.stats import group_weights as stats_group_weights
from bantar_sim.studies.calibration.targets import Prior, Variant

__all__ = ["ModelChoice", "ReferenceRun", "ReferenceTableError", "plan_reference", "reference_table", "forest_choice",
           "rejection_choice", "choose_model", "group_weights", "forest_seeds", "toy_choice_simulator",
           "toy_choice_priors", "TREES"]

Simulator = Callable[[Mapping[str, Any], int], Mapping[str, float]]
TREES = 500                       # abcrf's default; Pudlo et al. found 500 enough for stable votes
TAGS = ("base_seed", "variant", "index")


class ReferenceTableError(RuntimeError):
    """Too few simulations of the reference table finished to choose a model (failed runs are retried by a rerun)."""


# --------------------------------------------------------------------------------- the reference table
def _name_key(name: str) -> int:
    """A stable 64-bit integer of a variant's name (its SeedSequence entropy; never Python's salted hash)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")


def plan_reference(variants: Sequence[Variant], per_variant: int, seed: int,
                   extra: Mapping[str, Any] | None = None) -> list[RunTask]:
    """The tasks of one reference table: ``per_variant`` prior draws of every variant.

    Parameters
    ----------
    variants : sequence of Variant
        Each with its settings and priors (:meth:`CalibrationConfig.resolve`'s ``variants``).
    per_variant : int
        Simulations per variant: equal numbers make the prior model probabilities equal.
    seed : int
        Base seed of the table; each variant draws from ``SeedSequence([seed, key(name)])``.
    extra : mapping, optional
        Settings added to every variant's (e.g. ``end_year``).

    Returns
    -------
    list of RunTask
        Tagged ``base_seed``, ``variant``, ``index``; each keeps the one ``stats`` table.
    """
    tasks = []
    for v in variants:
        ss = np.random.SeedSequence([int(seed), _name_key(v.name)])
        for i, child in enumerate(ss.spawn(int(per_variant))):
            vals, run_seed = _draw(v.priors, child)
            tasks.append(RunTask({**v.settings, **dict(extra or {}), **vals}, run_seed,
                                 {"base_seed": int(seed), "variant": v.name, "index": i}, tables=("stats",)))
    return tasks


@dataclass(frozen=True)
class ReferenceRun:
    """Batch-engine run function of a reference table: :class:`StatsRun` with the task's variant's parameters.

    The variants calibrate different parameters (the quota variant has its own, others drop some), so the
    parameter columns stored beside each run's statistics are those of the variant its tag names.
    """

    simulator: Simulator
    names: tuple[tuple[str, tuple[str, ...]], ...]      # (variant, its calibrated parameters)

    @classmethod
    def of(cls, simulator: Simulator, variants: Sequence[Variant]) -> ReferenceRun:
        """The run function of these variants."""
        return cls(simulator, tuple((v.name, tuple(p.name for p in v.priors)) for v in variants))

    def __call__(self, task: RunTask) -> dict[str, pd.DataFrame]:
        """``{"stats": one-row DataFrame}`` of the task's simulation."""
        return StatsRun(self.simulator, dict(self.names)[task.tags["variant"]])(task)


def reference_table(tasks: Sequence[RunTask], run_fn: ReferenceRun, store: str | Path,
                    executor: cf.Executor | None, model_version: str, keys: Sequence[str],
                    progress: bool = True, description: str = "reference table") -> tuple[pd.DataFrame, BatchSummary]:
    """Simulate (or find stored) every task of a table and return its statistics, in plan order.

    Parameters
    ----------
    tasks : sequence of RunTask
        From :func:`plan_reference`.
    run_fn : ReferenceRun
        The simulator wrapped for the batch engine.
    store : path
        The batch store (shared by every table of a study; runs are found again by their content).
    executor : concurrent.futures.Executor, optional
        Where the simulations run (None: a process pool made by the batch engine).
    model_version : str
        Part of every run id.
    keys : sequence of str
        The statistics; runs that failed or gave a missing value are left out.
    progress : bool
        Show the batch engine's progress bar.
    description : str
        The bar's label.

    Returns
    -------
    (DataFrame, BatchSummary)
        One row per finished run — ``base_seed, variant, index``, the ``param.*`` columns and the
        statistics — ordered by the tasks' order (the forest's result depends on row order, so it must not
        depend on how the store happens to be laid out).

    Raises
    ------
    ReferenceTableError
        No run finished, or the stored table lacks a statistic.
    """
    summary = run_batch(list(tasks), run_fn, store, executor, model_version=model_version, progress=progress,
                        description=description)
    if "stats" not in list_tables(store):
        raise ReferenceTableError(f"no simulation of the reference table finished ({summary.n_failed} failed; their "
                                  f"errors are in {store}/manifest); rerun the same command to retry them")
    stats = load_table(store, "stats")
    order = {t.run_id(model_version): i for i, t in enumerate(tasks)}
    stats = stats[stats["run_id"].isin(order)].copy()
    stats["_order"] = stats["run_id"].map(order)
    missing = [k for k in keys if k not in stats.columns]
    if missing:
        raise ReferenceTableError(f"the stored reference table in {store} lacks the statistics {missing[:3]}")
    stats = stats.dropna(subset=list(keys)).sort_values("_order", kind="stable")
    cols = [*TAGS, *[c for c in stats.columns if c.startswith(PARAM_PREFIX)], *keys]
    return stats[cols].reset_index(drop=True), summary


# ----------------------------------------------------------------------------------- the forests
def group_weights(keys: Sequence[str], weights: Mapping[str, float] | None = None) -> np.ndarray:
    """Per-statistic weights as an array in the order of ``keys``: ``weights`` (e.g.
    :meth:`StatSpec.group_weights`, with the priors file's pattern weight) or, without it,
    :func:`bantar_sim.studies.calibration.stats.group_weights` (every group the same).
    """
    w = weights if weights is not None else stats_group_weights(keys)
    return np.array([w[k] for k in keys])


def forest_seeds(seed: int) -> tuple[int, int]:
    """The classifier's and the regression forest's ``random_state``, derived from the table's seed."""
    a, b = np.random.SeedSequence([int(seed), 0xF0435]).generate_state(2)
    return int(a), int(b)


def _features(x: np.ndarray, y: np.ndarray, obs: np.ndarray, lda: bool) -> tuple[np.ndarray, np.ndarray]:
    """The statistics plus their linear discriminant axes (Pudlo et al.: a cheap, informative summary)."""
    if not lda or len(np.unique(y)) < 2:
        return x, obs
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # collinear statistics (e.g. wins sum to the city total)
        lda_fit = LinearDiscriminantAnalysis(solver="svd").fit(x, y)
        return np.column_stack([x, lda_fit.transform(x)]), np.concatenate([obs, lda_fit.transform(obs[None])[0]])


def forest_choice(stats: np.ndarray, labels: np.ndarray, observed: np.ndarray, n_models: int, seed: int,
                  trees: int = TREES, lda: bool = True) -> dict[str, Any]:
    """ABC random forest model choice (Pudlo et al. 2016) on one reference table.

    Parameters
    ----------
    stats : ndarray, shape (N, k)
        The table's statistics.
    labels : ndarray of int, shape (N,)
        Each row's model, 0 … n_models - 1.
    observed : ndarray, shape (k,)
        The statistics to choose a model for.
    n_models : int
        Models compared (a model without rows gets no votes).
    seed : int
        Seeds both forests (:func:`forest_seeds`): the same table and seed give the same answer.
    trees : int
        Trees per forest.
    lda : bool
        Add the linear discriminant axes to the statistics.

    Returns
    -------
    dict
        ``votes`` (share of trees voting for each model at ``observed``), ``chosen`` (index: the most
        votes, ties to the first), ``probability`` (posterior probability of the chosen model:
        1 - predicted out-of-bag error), ``prior_error_rate`` (out-of-bag misclassification over the table),
        ``confusion`` (n_models x n_models out-of-bag counts, rows the true model).
    """
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    x, y = np.asarray(stats, float), np.asarray(labels, int)
    xo = np.asarray(observed, float)
    x, xo = _features(x, y, xo, lda)
    rs_class, rs_reg = forest_seeds(seed)
    clf = RandomForestClassifier(n_estimators=trees, max_features="sqrt", oob_score=True, random_state=rs_class)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # "some inputs do not have OOB scores" with very few trees
        clf.fit(x, y)
    classes = clf.classes_.astype(int)
    per_tree = np.array([t.predict(xo[None])[0] for t in clf.estimators_]).astype(int)
    votes = np.zeros(n_models)
    np.add.at(votes, classes[per_tree], 1.0)
    votes /= votes.sum()
    chosen = int(np.argmax(votes))
    oob = np.nan_to_num(clf.oob_decision_function_)
    seen = oob.sum(axis=1) > 0                   # rows in every tree's bootstrap have no out-of-bag vote
    oob_pred = classes[np.argmax(np.where(seen[:, None], oob, 0.0), axis=1)]
    error = (oob_pred != y).astype(float)
    confusion = np.zeros((n_models, n_models), dtype=int)
    np.add.at(confusion, (y[seen], oob_pred[seen]), 1)
    reg = RandomForestRegressor(n_estimators=trees, max_features="sqrt", min_samples_leaf=5, random_state=rs_reg)
    reg.fit(x[seen], error[seen])
    p_error = float(np.clip(reg.predict(xo[None])[0], 0.0, 1.0))
    return {"votes": votes, "chosen": chosen, "probability": 1.0 - p_error,
            "prior_error_rate": float(error[seen].mean()), "confusion": confusion}


def rejection_choice(stats: np.ndarray, labels: np.ndarray, observed: np.ndarray, weights: np.ndarray,
                     n_models: int, quantile: float) -> dict[str, Any]:
    """Rejection ABC model choice on the same table: accepted share per model.

    Parameters
    ----------
    stats, labels, observed, n_models :
        As :func:`forest_choice`.
    weights : ndarray, shape (k,)
        Weight of each statistic in the distance (:func:`group_weights`).
    quantile : float
        Share of the table accepted (the closest; at least one simulation).

    Returns
    -------
    dict
        ``probabilities`` (accepted share per model), ``accepted`` (how many), ``threshold`` (the largest
        accepted distance). The distance is L1 with each statistic divided by its MAD over the table (its
        sd where the MAD is 0; statistics constant over the table are left out).
    """
    s, y = np.asarray(stats, float), np.asarray(labels, int)
    scales = stat_scales(s)
    use = scales > 0
    d = (np.abs(s[:, use] - np.asarray(observed, float)[use]) / scales[use] * np.asarray(weights)[use]).sum(axis=1)
    k = min(len(d), max(1, math.ceil(quantile * len(d))))
    keep = np.argsort(d, kind="stable")[:k]
    probs = np.bincount(y[keep], minlength=n_models) / k
    return {"probabilities": probs.astype(float), "accepted": int(k), "threshold": float(d[keep].max())}


@dataclass
class ModelChoice:
    """What one reference table says about the variants (one seed of the comparison)."""

    names: list[str]
    n: np.ndarray                 # simulations of each variant in the table
    votes: np.ndarray             # share of the forest's trees voting for each variant
    chosen: str                   # the forest's choice
    probability: float            # its posterior probability (Pudlo et al.)
    prior_error_rate: float       # out-of-bag misclassification over the table
    confusion: np.ndarray         # out-of-bag counts, rows true variant, columns predicted
    rejection: np.ndarray         # rejection ABC: accepted share per variant
    accepted: int                 # simulations accepted by the rejection step

    @property
    def probabilities(self) -> np.ndarray:
        """Per variant: the chosen one's posterior probability; the rest (its predicted error) shared in
        proportion to the other variants' votes (equally if they have none), so the column sums to 1.

        Pudlo et al. estimate only the chosen variant's probability; the split of the remainder is a
        convention to give every variant a number, not an estimate.
        """
        c = self.names.index(self.chosen)
        others = np.delete(self.votes, c)
        share = others / others.sum() if others.sum() > 0 else np.full(len(others), 1.0 / max(len(others), 1))
        return np.insert(share * (1.0 - self.probability), c, self.probability)

    @property
    def rejection_preferred(self) -> str:
        """The variant with the largest accepted share (ties to the first)."""
        return self.names[int(np.argmax(self.rejection))]

    def frame(self, seed: int) -> pd.DataFrame:
        """One row per variant: ``seed, variant, method, probability, votes, chosen, rejection_probability,
        simulations``.
        """
        return pd.DataFrame({"seed": int(seed), "variant": self.names, "method": "random forest",
                             "probability": self.probabilities, "votes": self.votes,
                             "chosen": [v == self.chosen for v in self.names],
                             "rejection_probability": self.rejection, "simulations": self.n.astype(int)})

    def confusion_frame(self, seed: int) -> pd.DataFrame:
        """The out-of-bag confusion matrix as row shares: per true variant, the share predicted as each."""
        rows = self.confusion.sum(axis=1, keepdims=True)
        shares = np.divide(self.confusion, rows, out=np.zeros(self.confusion.shape), where=rows > 0)
        out = pd.DataFrame(shares, columns=[f"predicted {v}" for v in self.names])
        out.insert(0, "out_of_bag", rows[:, 0])
        out.insert(0, "variant", self.names)
        out.insert(0, "seed", int(seed))
        out["class_error"] = 1.0 - np.diag(shares)
        return out


def choose_model(table: pd.DataFrame, names: Sequence[str], keys: Sequence[str], observed: Mapping[str, float],
                 seed: int, quantile: float, trees: int = TREES, lda: bool = True,
                 weights: Mapping[str, float] | None = None) -> ModelChoice:
    """Both methods on one reference table (:func:`forest_choice`, :func:`rejection_choice`).

    Parameters
    ----------
    table : DataFrame
        From :func:`reference_table`: a ``variant`` column and the statistics ``keys``.
    names : sequence of str
        The variants, in the order the results are reported.
    keys : sequence of str
        The statistics used.
    observed : mapping
        The observed value of every statistic.
    seed : int
        Seeds the forests.
    quantile : float
        The rejection step's accepted share.
    trees : int
        Trees per forest.
    lda : bool
        Add the linear discriminant axes to the forest's statistics.
    weights : mapping of str to float, optional
        The rejection distance's weight per statistic (the calibration's, with its pattern weight); default
        every group the same.

    Raises
    ------
    ReferenceTableError
        Fewer than 2 simulations of some variant (e.g. most runs failed).
    """
    names = list(names)
    labels = table["variant"].map({v: i for i, v in enumerate(names)}).to_numpy()
    n = np.bincount(labels.astype(int), minlength=len(names))
    if n.min() < 2:
        raise ReferenceTableError(f"too few finished simulations per variant ({dict(zip(names, n.tolist()))}); "
                                  "rerun the same command to retry failed runs")
    s = table[list(keys)].to_numpy(float)
    obs = np.array([float(observed[k]) for k in keys])
    f = forest_choice(s, labels, obs, len(names), seed, trees, lda)
    r = rejection_choice(s, labels, obs, group_weights(keys, weights), len(names), quantile)
    return ModelChoice(names, n, f["votes"], names[f["chosen"]], f["probability"], f["prior_error_rate"],
                       f["confusion"], r["probabilities"], r["accepted"])


# ------------------------------------------------------------------------------------- a toy problem
def toy_choice_simulator(params: Mapping[str, Any], seed: int) -> dict[str, float]:
    """Three models with a known answer: 200 values from a normal, Laplace or uniform distribution.

    ``params["toy_shape"]`` names the model (``normal``, ``laplace``, ``uniform``); location ``toy_mu`` and
    standard deviation ``toy_sigma`` (priors :func:`toy_choice_priors`) are shared, so only the shape —
    kurtosis, the ratio of mean absolute deviation to sd — tells the models apart, and two variants with the
    same shape cannot be told apart at all. ``noise.x`` is unrelated to everything.
    """
    rng = np.random.default_rng(seed)
    mu, sd, shape = float(params["toy_mu"]), float(params["toy_sigma"]), params["toy_shape"]
    if shape == "normal":
        z = rng.standard_normal(200)
    elif shape == "laplace":
        z = rng.laplace(0.0, 1.0 / math.sqrt(2.0), 200)
    elif shape == "uniform":
        z = rng.uniform(-math.sqrt(3.0), math.sqrt(3.0), 200)
    else:
        raise ValueError(f"toy_shape must be normal, laplace or uniform, got {shape!r}")
    x = mu + sd * z
    c = x - x.mean()
    s = float(x.std())
    q75, q25 = np.percentile(x, [75, 25])
    return {"loc.mean": float(x.mean()), "loc.median": float(np.median(x)), "spread.sd": s,
            "spread.iqr": float(q75 - q25), "shape.kurtosis": float((c ** 4).mean() / s ** 4 - 3.0),
            "shape.mad_ratio": float(np.abs(c).mean() / s), "noise.x": float(rng.standard_normal())}


def toy_choice_priors() -> tuple[Prior, ...]:
    """Uniform priors of :func:`toy_choice_simulator`: toy_mu ~ U(-1, 1), toy_sigma ~ U(0.5, 2)."""
    return (Prior("toy_mu", -1.0, 1.0, "toy"), Prior("toy_sigma", 0.5, 2.0, "toy"))
