"""The shipped sensitivity results: copied from a study folder into the repository, and their Markdown.

``publish_sensitivity`` copies the small tables of one finished study folder, through the engine's atomic,
locked :func:`~bantar_sim.engine.outputs.output_folder`,
(``outputs/sensitivity/<name>/<method>/n<N>/``) into ``experiments/results/sensitivity/<method>/``;
``sensitivity_results_markdown`` writes docs/sensitivity.md's results block from those copies, so the
document quotes only numbers a file holds (``bantar-sim docs`` rewrites it, a test compares).
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd

from bantar_sim.engine.outputs import output_folder
from bantar_sim.model.metrics import METRICS
from bantar_sim.reporting.markdown import fmt

#: What a published study keeps (the rest — design, runs — stays in outputs/).
PUBLISHED_FILES = ("sensitivity.json", "morris_indices.csv", "sobol_indices.csv", "seed_variance.csv",
                   "convergence_summary.csv")


def publish_sensitivity(study: str | Path, dest_root: str | Path = "experiments/results/sensitivity") -> Path:
    """Copy a finished study's tables into ``dest_root/<method>/`` (the folder is replaced as a whole).

    Parameters
    ----------
    study : str or Path
        A study folder holding ``sensitivity.json``.
    dest_root : str or Path
        Where published studies live; one sub-folder per method.

    Returns
    -------
    Path
        The published folder.

    Raises
    ------
    FileNotFoundError
        ``study`` has no ``sensitivity.json`` (not a finished study).
    OutputLockedError, OutputWriteError
        Another process publishes the same method, or writing failed (the previous copy is kept).
    """
    study = Path(study)
    meta = json.loads((study / "sensitivity.json").read_text(encoding="utf-8"))
    dest = Path(dest_root) / meta["method"]
    with output_folder(dest, flag="the published sensitivity folder") as stage:
        for name in PUBLISHED_FILES:
            if (study / name).exists():
                shutil.copyfile(study / name, stage / name)
    return dest


def publish_latest(problem_folder: str | Path, dest_root: str | Path = "experiments/results/sensitivity") -> list[Path]:
    """Publish, for each method, the finished study with the largest N under ``problem_folder/<method>/n<N>/``.

    Returns
    -------
    list of Path
        The published folders (empty when nothing is finished).
    """
    done = []
    for method_dir in sorted(Path(problem_folder).iterdir()) if Path(problem_folder).is_dir() else []:
        studies = [d for d in method_dir.glob("n*") if (d / "sensitivity.json").exists()]
        if studies:
            best = max(studies, key=lambda d: int(d.name[1:]) if d.name[1:].isdigit() else -1)
            done.append(publish_sensitivity(best, dest_root))
    return done


def _label(output: str) -> str:
    return METRICS[output].label if output in METRICS else output


def sensitivity_results_markdown(root: str | Path) -> str:
    """The results block of docs/sensitivity.md from ``root/<method>/`` (morris and sobol, when present)."""
    root = Path(root)
    out: list[str] = []
    for method, index, conf in (("morris", "mu_star", "mu_star_conf"), ("sobol", "ST", "ST_conf")):
        folder = root / method
        if not (folder / "sensitivity.json").exists():
            out += [f"*{method.capitalize()}: not published yet* (`make sensitivity`).", ""]
            continue
        meta = json.loads((folder / "sensitivity.json").read_text(encoding="utf-8"))
        table = pd.read_csv(folder / f"{method}_indices.csv")
        outputs = list(dict.fromkeys(table["output"]))
        batch = meta.get("batch", {})
        rate = batch.get("runs_per_second")
        runs_line = (f"{meta['runs']:,} runs ({meta['design_points']:,} design points × {meta['replications']} "
                     f"replications), N = {meta['n']}, seed {meta['base_seed']}")
        if rate:
            runs_line += f", {rate:.2f} runs/s"
        pset = re.sub(r"\S*/(calibration/calibrated\.toml)", r"\1", meta.get("parameter_set_line", ""))
        what = ("mu* (mean absolute elementary effect, output units per parameter range) ± 95% CI"
                if method == "morris" else "total index ST ± 95% CI (first-order S1 in brackets)")
        out += [f"**{method.capitalize()}** — model {meta['model_version']}; {pset}; {runs_line}. {what}:", ""]
        head = "| parameter | " + " | ".join(_label(o) for o in outputs) + " |"
        out += [head, "|" + "---|" * (len(outputs) + 1)]
        params = list(table.groupby("parameter")[index].max().sort_values(ascending=False).index)
        for p in params:
            cells = []
            for o in outputs:
                r = table[(table["output"] == o) & (table["parameter"] == p)]
                if r.empty:
                    cells.append("–")
                    continue
                r = r.iloc[0]
                cell = f"{fmt(r[index])} ± {fmt(r[conf], 2)}"
                if method == "sobol":
                    cell += f" ({r['S1']:.2f})"
                cells.append(cell)
            out.append(f"| `{p}` | " + " | ".join(cells) + " |")
        seeds = folder / "seed_variance.csv"
        if seeds.exists():
            sv = pd.read_csv(seeds)
            out += ["", "Share of a single run's variance due to the seed: " + "; ".join(
                f"{_label(r.output)} {r.seed_share_single_run:.1%}" for r in sv.itertuples()) + "."]
        conv = folder / "convergence_summary.csv"
        if conv.exists():
            cv = pd.read_csv(conv)
            out += ["", "Convergence (N/2 against N): Spearman rank correlation of the index " + "; ".join(
                f"{_label(r.output)} {r.spearman_rank_correlation:.2f}" for r in cv.itertuples()) + "."]
        out.append("")
    return "\n".join(out).rstrip()
