"""The published coverage study: copied into ``calibration/results/sbc/``, labelled, and quoted by the docs.

Why a separate step: ``bantar-sim sbc`` writes into its own result folder (``outputs/calibration/sbc/``,
never committed, with the batch store of every simulation). What the repository states about the
calibration's coverage — calibration/README.md's results and the ODD's identification passage — must come
from files that are committed beside the calibrated set, so :func:`publish_sbc` copies the study's small
files (``bantar-sim sbc --publish``, ``make sbc``) into ``calibration/results/sbc/``, all at once
(:func:`bantar_sim.engine.outputs.output_folder`), and refuses a study that is incomplete or was made by
another model version than the code's: a stale coverage result cannot be published as current.

:func:`identification` is THE labelling rule of issue 15 applied to a coverage table
(:func:`~bantar_sim.studies.calibration.sbc_report.label`, with the reason in words);
:func:`sbc_results_markdown` and :func:`identification_markdown` write the two generated passages from
the published files (``bantar-sim docs``; ``tests/test_generated_docs.py`` compares).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from bantar_sim.model.version import MODEL_VERSION
from bantar_sim.reporting.markdown import fmt, markdown_table
from bantar_sim.studies.calibration.published import publish_result
from bantar_sim.studies.calibration.sbc_report import FIGURE, LABELS, label, methods_markdown
from bantar_sim.studies.calibration.targets import CalibrationInputError, load_priors

#: What a published study keeps (the batch store ``runs/`` stays in outputs/).
PUBLISHED_FILES = ("report.md", "coverage.csv", "ranks.csv", "methods.csv", FIGURE, "sbc.json")
#: The published study's folder inside the calibration folder.
RESULTS_RELATIVE = Path("results") / "sbc"
#: Truths issue 15 asks of the coverage study.
MIN_TRUTHS = 100
#: Columns of coverage.csv the labels and the passages read.
COVERAGE_COLUMNS = ("parameter", "truths", "coverage50", "coverage50_low", "coverage50_high", "coverage90",
                    "coverage90_low", "coverage90_high", "width90_rel", "rank_chi2_p")
#: Below this p-value a rank histogram is named as departing from uniform.
RANK_P = 0.01


# --------------------------------------------------------------------------------------- labels
def identification(coverage: pd.DataFrame) -> pd.DataFrame:
    """Issue 15's label of every parameter of a coverage table, with the reason in words.

    The rule (one place: :func:`~bantar_sim.studies.calibration.sbc_report.label`): **recovered** when the
    95% binomial interval of the 90% intervals' coverage contains 0.9 AND the mean 90% interval is
    narrower than half the prior; **weakly identified** when the coverage is fine but the intervals are
    wider; **not identified / miscalibrated** when the binomial interval excludes 0.9 — below it the
    posterior is overconfident (intervals too narrow or off-centre), above it too cautious. Labels are
    recomputed from the numbers, not read from the table's ``label`` column, so a published table is
    judged by the current rule.

    Parameters
    ----------
    coverage : DataFrame
        One row per parameter with ``parameter``, ``coverage90``, ``coverage90_low``, ``coverage90_high``
        and ``width90_rel`` (:func:`~bantar_sim.studies.calibration.sbc.coverage_table`).

    Returns
    -------
    DataFrame
        ``parameter``, ``label`` (one of :data:`LABELS`), ``reason``, in the table's order.
    """
    rows = []
    for r in coverage.itertuples():
        lab = label(r.coverage90_low, r.coverage90_high, r.width90_rel)
        cov = f"90% coverage {r.coverage90:.2f} {_ci(r.coverage90_low, r.coverage90_high)}"
        if lab == LABELS[2]:
            side = ("below 0.9: intervals too narrow or off-centre (overconfident)" if r.coverage90_high < 0.9
                    else "above 0.9: intervals too wide (too cautious)")
            reason = f"{cov}, {side}"
        else:
            size = "narrower" if lab == LABELS[0] else "not narrower"
            reason = f"{cov} contains 0.9; intervals {r.width90_rel:.2f} of the prior, {size} than half"
        rows.append({"parameter": r.parameter, "label": lab, "reason": reason})
    return pd.DataFrame(rows, columns=["parameter", "label", "reason"])


def _ci(low: float, high: float) -> str:
    """A coverage's binomial interval, to 3 decimals where 2 would round an end onto 0.9."""
    d = 3 if any(round(v, 2) == 0.9 and v != 0.9 for v in (low, high)) else 2
    return f"[{low:.{d}f}, {high:.{d}f}]"


# --------------------------------------------------------------------------------------- publish
def _read_study(folder: Path, where: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """A study folder's sbc.json and coverage.csv, checked; CalibrationInputError naming what is wrong."""
    if not folder.is_dir():
        raise CalibrationInputError(f"{where}: not a folder; allowed: a result folder of `bantar-sim sbc`")
    missing = [f for f in PUBLISHED_FILES if not (folder / f).is_file()]
    if missing:
        raise CalibrationInputError(f"{where}: not a finished coverage study: missing {', '.join(missing)}")
    try:
        meta = json.loads((folder / "sbc.json").read_text(encoding="utf-8"))
        cov = pd.read_csv(folder / "coverage.csv")
    except (ValueError, UnicodeDecodeError, OSError) as err:
        raise CalibrationInputError(f"{where}: sbc.json or coverage.csv unreadable: {err}") from None
    need = ("model_version", "seed", "command", "git_commit", "n_truths", "n_reference", "settings",
            "priors_ranges")
    lacking = [k for k in need if k not in meta]
    cols = [c for c in COVERAGE_COLUMNS if c not in cov.columns]
    if lacking or cols or not isinstance(meta.get("priors_ranges"), dict):
        raise CalibrationInputError(f"{where}: not a coverage study of `bantar-sim sbc`: sbc.json lacks "
                                    f"{lacking or '-'}, coverage.csv lacks {cols or '-'}")
    if sorted(cov["parameter"]) != sorted(meta["priors_ranges"]):
        raise CalibrationInputError(f"{where}: coverage.csv's parameters {sorted(cov['parameter'])} are not the "
                                    f"study's {sorted(meta['priors_ranges'])}")
    return meta, cov


def publish_sbc(study: str | Path, calibration_folder: str | Path) -> Path:
    """Copy a finished coverage study's tables, figure and report into ``calibration/results/sbc/``.

    Parameters
    ----------
    study : str or Path
        A result folder of :func:`~bantar_sim.studies.calibration.sbc.run_sbc` on the model.
    calibration_folder : str or Path
        The calibration folder (``calibration/``); the study goes to its ``results/sbc/``, replaced as a
        whole.

    Returns
    -------
    Path
        The published folder.

    Raises
    ------
    CalibrationInputError
        The study is incomplete or unreadable, or it ran on another model version than the code's
        (a toy simulator's study included); nothing is written.
    OutputLockedError, OutputWriteError
        Another process publishes, or writing failed (the previous copy is kept).
    """
    study = Path(study)
    where = f"sbc --publish {study}"
    _read_study(study, where)
    return publish_result(study, calibration_folder, "sbc", PUBLISHED_FILES, "sbc.json", where, "make sbc")


# ------------------------------------------------------------------------------------- Markdown
def _published(calibration_folder: Path) -> tuple[dict[str, Any], pd.DataFrame] | None:
    folder = Path(calibration_folder) / RESULTS_RELATIVE
    if not (folder / "sbc.json").exists():
        return None
    return _read_study(folder, str(folder))


def _version_note(meta: dict[str, Any]) -> str:
    if meta["model_version"] == MODEL_VERSION:
        return f"model version **{meta['model_version']}** (the current model)"
    return (f"model version **{meta['model_version']}**, **not the current model ({MODEL_VERSION}): stale until "
            "`make sbc` is rerun**")


def _setting_notes(meta: dict[str, Any], calibration_folder: Path) -> list[str]:
    """How the study's settings, priors file and parameters compare with the current priors.toml."""
    priors_file = Path(calibration_folder) / "priors.toml"
    if not priors_file.exists():
        return []
    pf = load_priors(priors_file)
    notes = []
    ran = {k: v for k, v in meta["settings"].items() if k != "end_year"}
    prod = dict(pf.settings)
    if all(ran.get(k) == v for k, v in prod.items()):
        notes.append("at the production settings of `priors.toml` ("
                     + ", ".join(f"{k} = {v}" for k, v in prod.items()) + ")")
    else:
        diff = [f"{k} {ran.get(k, 'default')} (production {v})" for k, v in prod.items() if ran.get(k) != v]
        notes.append("**not at the production settings**: " + ", ".join(diff))
    sha = re.search(r"sha256 ([0-9a-f]+)", str(meta.get("priors", "")))
    if sha and not pf.sha256.startswith(sha.group(1)):
        notes.append(f"**with another priors file than the current `priors.toml`** (sha256 {sha.group(1)} vs "
                     f"{pf.sha256[:12]})")
    if sorted(meta["priors_ranges"]) != sorted(pf.names):
        gone = sorted(set(meta["priors_ranges"]) - set(pf.names))
        new = sorted(set(pf.names) - set(meta["priors_ranges"]))
        notes.append("**calibrating other parameters than `priors.toml` now does**"
                     + (f" (no longer calibrated: {', '.join(gone)})" if gone else "")
                     + (f" (not in the study: {', '.join(new)})" if new else ""))
    return notes


def sbc_results_markdown(calibration_folder: str | Path) -> list[str]:
    """calibration/README.md's coverage passage (inside the results block), from ``results/sbc/``.

    States the command, seed, commit, model version (flagged when it is not the code's), size, settings
    and wall-clock of the published study, the coverage table with each parameter's label and its reason,
    and the rank histograms that depart from uniform; without a published study, one line saying so.

    Returns
    -------
    list of str
        Markdown lines.
    """
    calibration_folder = Path(calibration_folder)
    found = _published(calibration_folder)
    if found is None:
        return [f"Simulation-based calibration (coverage): not yet published for model {MODEL_VERSION} "
                "(`make sbc` runs it and copies its tables to `results/sbc/`)."]
    meta, cov = found
    ids = identification(cov)
    n_t, batch = int(meta["n_truths"]), meta.get("batch", {})
    n_ind = int(meta.get("n_independent_truths", n_t))
    size = f"{n_t} truths" + (f" ({n_ind} independent, {n_t - n_ind} members of the reference table each left out "
                              "of it for its own posterior)" if n_ind < n_t else "")
    size += f" (**fewer than the {MIN_TRUTHS} independent truths issue 15 asks**)" if n_ind < MIN_TRUTHS else ""
    clock = f"simulations {fmt(batch.get('elapsed_s'))} s wall-clock"
    if batch.get("reused"):
        clock += f" ({batch['reused']} of {batch.get('runs')} simulations reused from an earlier run, not counted)"
    if "wall_clock_s" in meta:
        clock = f"{fmt(meta['wall_clock_s'])} s wall-clock in all; " + clock
    notes = _setting_notes(meta, calibration_folder)
    adjusted = ("with a local-linear regression adjustment" if meta.get("adjusted", True) else
                "without regression adjustment (too few accepted simulations per coefficient)")
    out = [f"Simulation-based calibration (`results/sbc/`, `make sbc`): `{meta['command']}` (seed {meta['seed']}, "
           f"git commit {str(meta['git_commit'])[:10]}), {_version_note(meta)}; {size} drawn from the prior, each "
           f"simulated with its own seed and calibrated by rejection ABC (closest {fmt(meta.get('accept'))} of ONE "
           f"reference table of {int(meta['n_reference']):,} prior simulations) {adjusted}; {clock}"
           + ("; " + "; ".join(notes) if notes else "") + ".", ""]
    rows = []
    for r, i in zip(cov.itertuples(), ids.itertuples()):
        rows.append((f"`{r.parameter}`", f"{r.coverage50:.2f} [{r.coverage50_low:.2f}, {r.coverage50_high:.2f}]",
                     f"{r.coverage90:.2f} {_ci(r.coverage90_low, r.coverage90_high)}",
                     f"{r.width90_rel:.2f}", f"{r.rank_chi2_p:.3g}",
                     i.label if i.label != LABELS[2] else f"**{i.label}**"))
    out.append(markdown_table(("parameter", "50% coverage [95% CI]", "90% coverage [95% CI]", "90% width / prior",
                               "rank χ² p", "label"), rows))
    out += ["", "Labels (issue 15): **recovered** = the 90% coverage's binomial interval contains 0.9 and the mean "
            "90% interval is narrower than half the prior; **weakly identified** = coverage fine, interval at least "
            "half the prior; **not identified / miscalibrated** = the binomial interval excludes 0.9. "
            + _label_sentence(ids)]
    methods_file = calibration_folder / RESULTS_RELATIVE / "methods.csv"
    methods = pd.read_csv(methods_file) if methods_file.is_file() and methods_file.stat().st_size > 1 else None
    if methods is not None and not methods.empty:
        out += ["", "Which posterior is honest here (`results/sbc/methods.csv`: the same truths, the same reference "
                "table, other posteriors; *honest* = 90% coverage's binomial interval contains 0.9):", "",
                methods_markdown(methods)]
    bad_ranks = cov.loc[cov["rank_chi2_p"] < RANK_P, "parameter"].tolist()
    out += ["", f"Rank histograms (`results/sbc/{FIGURE}`): "
            + (f"departing from uniform (χ² p < {RANK_P}): {', '.join(f'`{p}`' for p in bad_ranks)}."
               if bad_ranks else f"none departs from uniform at χ² p < {RANK_P}.")]
    return out


def _label_sentence(ids: pd.DataFrame) -> str:
    """'Recovered: a, b. Weakly identified: c. Not identified / miscalibrated: d (reason).' ('none' if empty)."""
    parts = []
    for lab in LABELS:
        sel = ids[ids["label"] == lab]
        if lab == LABELS[2]:
            names = [f"`{r.parameter}` ({r.reason})" for r in sel.itertuples()]
        else:
            names = [f"`{p}`" for p in sel["parameter"]]
        parts.append(f"{lab.capitalize()} ({len(sel)}): {', '.join(names) if names else 'none'}.")
    return " ".join(parts)


def _shipped_method_note(folder: Path, meta: dict) -> str:
    """Whether the shipped set was made by the method the study checks (issue 15: the default since then)."""
    import tomllib
    try:
        prov = tomllib.loads((folder / "calibrated.toml").read_text(encoding="utf-8"))["provenance"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return ""
    if prov.get("method") == "reference":
        return (f": the method of the default calibration, which made `calibrated.toml` "
                f"({prov.get('reference_simulations')} simulations, {fmt(prov.get('accept'))} accepted)")
    return ", not the ABC-SMC run that made `calibrated.toml` (made before the reference table became the default)"


def identification_markdown(calibration_folder: str | Path) -> str:
    """docs/ODD.md's identification passage: each calibrated parameter's label from the published study.

    Returns
    -------
    str
        One paragraph (no trailing newline).
    """
    found = _published(Path(calibration_folder))
    if found is None:
        return (f"Identification of the calibrated parameters: not yet established for model {MODEL_VERSION} "
                "(the coverage study, `make sbc`, has not been published to `calibration/results/sbc/`).")
    meta, cov = found
    ids = identification(cov)
    return (f"Identification of the calibrated parameters (simulation-based calibration, Talts et al. 2018: "
            f"{int(meta['n_truths'])} parameter sets drawn from the prior, each simulated and calibrated; "
            f"`calibration/results/sbc/`, {_version_note(meta)}; numbers in calibration/README.md). The posterior "
            "checked is the study's amortised one (rejection ABC on one reference table, with the default "
            f"calibration's priors and statistics){_shipped_method_note(Path(calibration_folder), meta)}. "
            + _label_sentence(ids)
            + " A weakly identified parameter keeps posterior intervals at least half as wide as its prior: the "
              "data narrow it little, and results that depend on it carry that width; a miscalibrated one's "
              "intervals do not hold the truth as often as their level says.")
