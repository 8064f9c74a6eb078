"""The generated passages of the project's documents: which block, in which file, from which result files.

Every number README.md, calibration/README.md and docs/ quote from a result is a generated block
(:mod:`bantar_sim.reporting.blocks`) listed in :data:`DOC_BLOCKS`; ``bantar-sim docs`` rewrites them from the
committed result files and ``bantar-sim docs --check`` (and ``tests/test_generated_docs.py``) lists the stale
ones. Result files come from their own commands (``make calibrate`` + promote, ``make baseline``,
``make benchmark``, ``make compare-models``, ``make sbc``, ``make sensitivity``); this module only reads them.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bantar_sim.engine.outputs import write_text_atomic
from bantar_sim.engine.task import spawn_seeds
from bantar_sim.model.model import BantarModel
from bantar_sim.reporting.blocks import BlockError, read_block, replace_block
from bantar_sim.reporting.markdown import fmt, markdown_table
from bantar_sim.studies.calibration.readme import calibration_results_markdown
from bantar_sim.studies.calibration.sbc_publish import identification_markdown
from bantar_sim.studies.inputs import read_calibrated
from bantar_sim.studies.sensitivity.published import sensitivity_results_markdown
from bantar_sim.studies.teaching import presets_markdown, teaching_markdown


def benchmark_markdown(path: Path) -> str:
    """README.md's speed paragraph from ``benchmarks/results/bench_model.json`` (``make benchmark``)."""
    r = json.loads(path.read_text(encoding="utf-8"))
    fc, rf = r["full_city"], r["reference"]
    text = (f"Measured {r['date'][:10]} on this {r['cpus']}-core machine (`{r['command'].strip()}`, medians of "
            f"{r['repeats']}, model {r['model_version']}): full city ({fc['households']:,} households) "
            f"{fc['model_s']:.3f} s (build {fc['build_s']:.3f} s, run {fc['run_s']:.3f} s, "
            f"{fc['per_tick_ms']:.1f} ms per monthly tick) against the {fc['target_s']} s target "
            f"({'met' if fc['meets_target'] else 'NOT met'}); per-agent reference {rf['reference_s']:.1f} s on "
            f"{rf['households']:,} households, speed-up {rf['speedup_median_of_ratios']:.0f}× (target "
            f"{rf['target_speedup']}×).")
    if "scaling" in r:
        s = r["scaling"]
        big = s["series"][-1]
        text += (f" Time is linear in households (log-log slope {s['loglog_slope_100k_to_1M']:.2f} from 100k to 1M; "
                 f"{big['households']:,} households {big['model_s']:.1f} s).")
    text += (f" Peak memory of a fresh process: full-city run {r['peak_rss_mib_full_city']:.0f} MiB, of which "
             f"{r['peak_rss_mib_imports']:.0f} MiB is the interpreter with Mesa, numpy and scipy imported.")
    return text


def uncertain_benchmark_markdown(path: Path) -> str:
    """experiments/README.md's speed paragraph for an experiment over scenarios, from
    ``benchmarks/results/bench_uncertain.json`` (``make bench-uncertain``; issue 16, item 8).
    """
    r = json.loads(path.read_text(encoding="utf-8"))
    total = r["total_s"]
    return (f"Measured {r['date'][:10]} on this {r['cpus']}-core machine (`{r['command'].strip()}`, model "
            f"{r['model_version']}): `{r['file']}` as shipped, {r['scenarios']} scenarios × {r['arms']} arms = "
            f"{r['runs']:,} runs at {r['households_per_rt']:g} households per RT to {r['horizon']}, "
            f"{r['executor']} executor × {r['workers']} workers, into an empty folder: batch {r['batch_s'] / 60:.1f} "
            f"min ({r['runs_per_s']:.2f} runs/s), analysis, PRIM and figures {r['analysis_and_report_s'] / 60:.1f} "
            f"min, total {total / 60:.1f} min against the {r['target_s'] / 60:.0f}-minute target "
            f"({'met' if r['meets_target'] else 'NOT met'}). A second run of the same command finds every run on "
            "disk and only re-analyses.")


def household_count_markdown(results: Path, low: str = "household_count_30", high: str = "household_count_90") -> str:
    """experiments/README.md's comparison of the same experiment at 30 and 90 households per RT (issue 14, item 5).

    Each effect is a paired mean over its own replications; the two experiments are independent, so the
    difference of the effects has standard error sqrt(se_30² + se_90²) (se = sd of the paired differences /
    sqrt(pairs), from effects.csv), and the
    two agree when the 95% interval of the difference contains 0.
    """
    a = pd.read_csv(results / low / "effects.csv")
    b = pd.read_csv(results / high / "effects.csv")
    meta = {n: json.loads((results / n / "experiment.json").read_text(encoding="utf-8")) for n in (low, high)}
    m = a.merge(b, on=["arm", "metric"], suffixes=("_a", "_b"))
    headline = meta[high].get("headline") or list(dict.fromkeys(m["metric"]))
    m = m[m["metric"].isin(headline)]
    m = m.assign(_order=m["metric"].map({k: i for i, k in enumerate(headline)})).sort_values(["arm", "_order"],
                                                                                              kind="stable")
    rows, agree = [], 0
    for r in m.itertuples():
        d = r.effect_b - r.effect_a
        # each effect's standard error is the sd of its paired differences over sqrt(pairs)
        sed = math.hypot(r.sd_diff_a / math.sqrt(r.n_pairs_a), r.sd_diff_b / math.sqrt(r.n_pairs_b))
        lo, hi = d - 1.96 * sed, d + 1.96 * sed
        ok = lo <= 0 <= hi
        agree += ok
        rows.append((r.arm, r.label_a, f"{fmt(r.effect_a)} [{fmt(r.ci_low_a)}, {fmt(r.ci_high_a)}]",
                     f"{fmt(r.effect_b)} [{fmt(r.ci_low_b)}, {fmt(r.ci_high_b)}]", f"{fmt(d)} [{fmt(lo)}, {fmt(hi)}]",
                     "yes" if ok else "**no**"))
    ma, mb = meta[low], meta[high]
    head = (f"`{low}` ({ma.get('households_per_rt')} households per RT) against `{high}` "
            f"({mb.get('households_per_rt')}), {ma.get('replications')} paired replications each, horizon "
            f"{ma.get('horizon')}, model {mb.get('model_version')}: the effects agree (95% interval of their "
            f"difference contains 0) in **{agree} of {len(rows)}** arm × headline-metric pairs.")
    return head + "\n\n" + markdown_table(("arm", "metric", "effect at 30", "effect at 90", "difference (90 − 30)",
                                            "agree"), rows)


#: The tipping check: the calibrated households with the programme switched off, started low and high.
TIPPING = {"starts": (0.05, 0.9), "seeds": (1, 2, 3), "scale": 0.1, "end_year": 2030,
           "off": {"proposal_intercept": -10.0, "pilot_winners": 0}}


def tipping_markdown(root: Path) -> str:
    """docs/ODD.md's answer to "does the calibrated model tip between two states?", computed now.

    The calibrated set with the programme switched off (no RT proposes, no pilot awards: no campaigns, awards
    or incentives), started with few or with most households taking part; if the household rule has two stable
    states at the calibrated parameters, the two starts end apart. A small city (30% of the RTs), a few seeds:
    it runs in a few seconds, so the ODD states what the current model and calibrated set do.
    """
    pset = read_calibrated(root / "calibration" / "calibrated.toml")
    t = TIPPING
    base = {**pset.params, **t["off"], "scale": t["scale"], "end_year": t["end_year"]}
    finals = {}
    seeds = spawn_seeds(2014, len(t["seeds"]))
    for x0 in t["starts"]:
        finals[x0] = [BantarModel(rng=sd, **base, initial_participation=x0).run().participation for sd in seeds]
    lo, hi = (sum(finals[x]) / len(finals[x]) for x in t["starts"])
    gap = hi - lo
    verdict = ("the two starts end far apart: the calibrated households have two stable states (tipping)"
               if gap > 0.1 else "the two starts end close together: at the calibrated parameters the household "
               "rule has one stable state, so the model does not tip between low and high participation and an "
               "effect lasts only while its cause does")
    return (f"Tipping check (`bantar_sim.studies.docs.tipping_markdown`, model {pset.model_version} calibrated set; "
            f"programme off: {', '.join(f'{k} = {v}' for k, v in t['off'].items())}; {t['scale']:.0%} of the RTs; "
            f"{len(seeds)} seeds; to December {t['end_year']}): households taking part at the end, started from "
            f"{t['starts'][0]:.0%} taking part, {fmt(lo)} (runs {fmt(min(finals[t['starts'][0]]))}–"
            f"{fmt(max(finals[t['starts'][0]]))}); started from {t['starts'][1]:.0%}, {fmt(hi)} "
            f"(runs {fmt(min(finals[t['starts'][1]]))}–{fmt(max(finals[t['starts'][1]]))}); difference {fmt(gap)}: "
            f"{verdict}.")


@dataclass(frozen=True)
class DocBlock:
    """One generated block: the file (relative to the project root), the block's name, its generator."""

    file: str
    name: str
    make: Callable[[Path], str]      # project root -> Markdown


DOC_BLOCKS = (
    DocBlock("calibration/README.md", "calibration-results",
             lambda root: calibration_results_markdown(root / "calibration")),
    DocBlock("README.md", "benchmark", lambda root: benchmark_markdown(root / "benchmarks/results/bench_model.json")),
    DocBlock("experiments/README.md", "uncertain-benchmark",
             lambda root: uncertain_benchmark_markdown(root / "benchmarks/results/bench_uncertain.json")),
    DocBlock("experiments/README.md", "household-count",
             lambda root: household_count_markdown(root / "experiments/results")),
    DocBlock("docs/ODD.md", "tipping", tipping_markdown),
    DocBlock("docs/ODD.md", "identification", lambda root: identification_markdown(root / "calibration")),
    DocBlock("docs/teaching.md", "teaching-presets", presets_markdown),
    DocBlock("docs/teaching.md", "teaching-exercises", teaching_markdown),
    DocBlock("docs/sensitivity.md", "sensitivity-results",
             lambda root: sensitivity_results_markdown(root / "experiments/results/sensitivity")),
)


@dataclass
class DocsResult:
    """What :func:`update_docs` found: blocks rewritten (or, with ``check``, stale) and blocks it could not make."""

    stale: list[str]
    errors: list[str]


def update_docs(root: str | Path = ".", check: bool = False) -> DocsResult:
    """Rewrite (or with ``check`` only compare) every generated block of :data:`DOC_BLOCKS`.

    Parameters
    ----------
    root : str or Path
        The project root.
    check : bool
        Write nothing; report the blocks whose text differs from what the result files give.

    Returns
    -------
    DocsResult
        ``stale``: "file#block" of blocks that differ (rewritten unless ``check``); ``errors``: blocks whose
        file, markers or result files are missing, with the reason.
    """
    root = Path(root)
    stale, errors = [], []
    for b in DOC_BLOCKS:
        path = root / b.file
        key = f"{b.file}#{b.name}"
        try:
            text = path.read_text(encoding="utf-8")
            current = read_block(text, b.name)
            new = b.make(root).strip()
        except (OSError, BlockError, KeyError, ValueError) as err:
            errors.append(f"{key}: {err}")
            continue
        if current.strip() != new:
            stale.append(key)
            if not check:
                write_text_atomic(path, replace_block(text, b.name, new))
    return DocsResult(stale, errors)
