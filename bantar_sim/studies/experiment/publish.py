"""Published experiment results: the small result files of each experiment kept in the repository, and the
README block of numbers written from them.

The project rule is "no stale number": a number quoted in ``experiments/README.md`` must come from a
result file in the repository, written by code, and a test must notice when the model changed after it.
So :func:`publish_results` copies the small tables of every finished experiment output folder
(``outputs/<name>/``: ``effects.csv``, ``levels.csv``, ``dose_response.csv`` and a trimmed
``experiment.json`` naming the model version, the parameter set's sha256 and the date) into
``experiments/results/<name>/``, then rewrites the block between :data:`START` and :data:`END` in the
README from those copies alone (:func:`render_results_block`). ``tests/test_experiment_publish.py``
regenerates the block and compares, and checks that every result's model version is the current one.

Every write goes through a temporary sibling and ``os.replace``: a failure never leaves a half-written file.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bantar_sim.engine.outputs import write_bytes_atomic, write_text_atomic
from bantar_sim.engine.storage import load_manifest
from bantar_sim.model.params import ParameterError
from bantar_sim.reporting.blocks import BlockError, find_between, replace_between
from bantar_sim.reporting.markdown import fmt, markdown_table
from bantar_sim.studies.experiment.robust import no_effect_arms
from bantar_sim.studies.experiment.spec import BASELINE, NAME_RE

START = "<!-- results:start -->"
END = "<!-- results:end -->"
#: The tables copied from an experiment's output folder (dose_response.csv only when it has sweeps).
RESULT_FILES = ("effects.csv", "levels.csv", "dose_response.csv")
#: The small robust tables of an [uncertain] experiment (issue 16), copied when present.
ROBUST_FILES = ("robust_effects.csv", "regret.csv", "beats.csv", "variance_shares.csv", "prim_boxes.csv",
                "prim_limits.csv", "cost_effectiveness.csv", "break_even.csv", "half_life.csv", "persistence.csv",
                "scenarios.csv")
REQUIRED_FILES = ("effects.csv", "experiment.json")
NO_RESULTS = ("No published results yet: `make experiments` runs every experiment file and then "
              "`bantar-sim publish-experiments`, which writes this block.")


class PublishError(ParameterError):
    """The folders or the README given to publish are not usable (nothing written)."""


@dataclass(frozen=True)
class PublishConfig:
    """What :func:`publish_experiments` does.

    Parameters
    ----------
    outputs_dir : Path
        Where the experiment output folders are (``outputs/``; each with effects.csv and experiment.json).
    results_dir : Path
        Where the published copies go, one folder per experiment (``experiments/results/``).
    readme : Path
        The README whose block between :data:`START` and :data:`END` is rewritten.
    only : tuple of str
        Publish only these experiments (experiment or output-folder names); empty: every one found.
    check : bool
        Copy and write nothing: only say whether the README block matches ``results_dir``.
    """

    outputs_dir: Path = Path("outputs")
    results_dir: Path = Path("experiments/results")
    readme: Path = Path("experiments/README.md")
    only: tuple[str, ...] = ()
    check: bool = False


@dataclass
class PublishResult:
    """What :func:`publish_results` did.

    Attributes
    ----------
    published : dict
        Experiment name -> the output folder copied into ``results_dir`` by this call.
    experiments : list of str
        Every experiment of ``results_dir`` (the block's tables, in this order).
    block : str
        The README block as generated from ``results_dir``.
    readme : Path
        The README.
    changed : bool
        The README block differed from ``block`` (and was rewritten, unless checking).
    """

    published: dict[str, Path] = field(default_factory=dict)
    experiments: list[str] = field(default_factory=list)
    block: str = ""
    readme: Path = Path("experiments/README.md")
    changed: bool = False


# ---------------------------------------------------------------------------------------- copying

def _read_json(path: Path) -> dict:
    """An experiment.json (one-line error when it is not a JSON object with a 'name')."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PublishError(f"{path}: not a readable experiment.json ({err})") from None
    if not isinstance(meta, dict) or "name" not in meta:
        raise PublishError(f"{path}: not an experiment.json (no 'name')")
    return meta


def experiment_outputs(outputs_dir: Path) -> list[Path]:
    """The experiment output folders directly under ``outputs_dir`` (those with effects.csv and experiment.json)."""
    if not outputs_dir.is_dir():
        return []
    return sorted(p for p in outputs_dir.iterdir() if p.is_dir() and all((p / f).is_file() for f in REQUIRED_FILES))


def _relative(path: str | None) -> str | None:
    """A path as the repository names it (relative to the working directory when inside it)."""
    if not path:
        return None
    p = Path(path)
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return p.as_posix()


def _run_provenance(folder: Path) -> dict:
    """Model version(s), date and status counts of an output folder's runs (runs.csv and the batch manifest)."""
    out: dict = {}
    runs = pd.read_csv(folder / "runs.csv", dtype={"run_id": str}) if (folder / "runs.csv").is_file() else None
    if runs is not None:
        out["runs_ok"] = int((runs["status"] == "ok").sum())
        out["runs_not_ok"] = int((runs["status"] != "ok").sum())
    if runs is not None and (folder / "runs" / "manifest").is_dir():
        man = load_manifest(folder / "runs")
        man = man[man["run_id"].isin(set(runs["run_id"])) & (man["status"] == "ok")]
        if len(man):
            out["model_version"] = ", ".join(sorted({str(v) for v in man["model_version"].dropna()}))
            if "end_time" in man:
                out["date"] = str(man["end_time"].dropna().max())[:10]
    return out


def trimmed_meta(folder: Path) -> dict:
    """The published experiment.json of one output folder: what the README block and its test need.

    The model version and date come from experiment.json (written since the sweeps' release) or else from
    the batch manifest of the folder's runs.
    """
    meta = _read_json(folder / "experiment.json")
    prov = _run_provenance(folder)
    pset = meta.get("parameter_set") or {}
    written = meta.get("written")
    date = (written[:10] if written else prov.get("date")) or dt.date.fromtimestamp(
        (folder / "effects.csv").stat().st_mtime).isoformat()
    return {
        "name": meta["name"], "description": meta.get("description", ""), "file": _relative(meta.get("file")),
        "replications": meta.get("replications"), "horizon": meta.get("horizon"),
        "window_start": meta.get("window_start"), "scale": meta.get("scale"),
        "households_per_rt": (meta.get("city") or {}).get("households_per_rt", meta.get("households_per_rt")),
        "base_seed": meta.get("base_seed"),
        "parameters": meta.get("parameters"),
        "parameter_set": {"name": pset.get("name"), "file": _relative(pset.get("path")), "sha256": pset.get("sha256"),
                          "model_version": pset.get("model_version")},
        "posterior": _relative(meta.get("posterior")),
        "model_version": meta.get("model_version") or prov.get("model_version"),
        "package_version": meta.get("package_version"), "date": date,
        "runs_ok": prov.get("runs_ok"), "runs_not_ok": prov.get("runs_not_ok"),
        "headline": meta.get("headline", []),
        "uncertain": {k: (meta.get("uncertain") or {}).get(k) for k in ("scenarios", "seed_repeats", "sampling",
                                                                         "posterior", "metric", "threshold", "price")}
        if meta.get("uncertain") else None,
        "arms": [{"name": a["name"], "description": a.get("description", ""), "sweep": a.get("sweep"),
                  "value": a.get("value")} for a in meta.get("arms", [])],
        "sweeps": [{k: s.get(k) for k in ("name", "lever", "values", "set", "description")}
                   for s in meta.get("sweeps", [])],
    }


def copy_results(folder: Path, results_dir: Path) -> str:
    """Copy one output folder's small result files into ``results_dir/<name>/`` (atomically, file by file)."""
    meta = trimmed_meta(folder)
    name = meta["name"]
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise PublishError(f"{folder / 'experiment.json'}: 'name' = {name!r} is not an experiment name")
    dest = results_dir / name
    dest.mkdir(parents=True, exist_ok=True)
    for f in RESULT_FILES + ROBUST_FILES:
        if (folder / f).is_file():
            write_bytes_atomic(dest / f, (folder / f).read_bytes())
        elif (dest / f).exists():
            (dest / f).unlink()          # e.g. a sweep removed from the file: its old table must go
    write_text_atomic(dest / "experiment.json", json.dumps(meta, indent=2, default=str) + "\n")
    return name


# ------------------------------------------------------------------------------------------ the block
def _effect(effect: float, lo: float, hi: float) -> str:
    if not np.isfinite(effect):
        return "–"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return fmt(effect)
    star = " *" if lo > 0 or hi < 0 else ""
    return f"{fmt(effect)} [{fmt(lo)}, {fmt(hi)}]{star}"


def _settings(d: dict) -> str:
    return ", ".join(f"`{k} = {json.dumps(v)}`" for k, v in (d or {}).items())


def result_folders(results_dir: Path) -> list[Path]:
    """The published experiments of ``results_dir`` (folders with experiment.json and effects.csv), by name."""
    return experiment_outputs(results_dir)


def _experiment_block(folder: Path) -> list[str]:
    meta = _read_json(folder / "experiment.json")
    eff = pd.read_csv(folder / "effects.csv")
    lev = pd.read_csv(folder / "levels.csv") if (folder / "levels.csv").is_file() else pd.DataFrame(
        columns=["arm", "metric", "mean"])
    headline = [m for m in meta.get("headline", []) if m in set(eff["metric"])] or list(dict.fromkeys(eff["metric"]))
    info = eff.drop_duplicates("metric").set_index("metric")
    label = {m: f"{info.loc[m, 'label']} ({info.loc[m, 'unit']})" for m in headline}
    base = lev[lev["arm"] == BASELINE].set_index("metric")["mean"]
    base_cells = [fmt(base[m]) if m in base.index else "–" for m in headline]
    pset = meta.get("parameter_set") or {}
    where = pset.get("file") or pset.get("name") or meta.get("parameters")
    sha = f", sha256 `{pset['sha256'][:12]}`" if pset.get("sha256") else ""
    window = meta.get("window_start")
    L = ["", f"### `{meta['name']}`" + (f": {meta['description']}" if meta.get("description") else ""), "",
         f"`{meta.get('file')}`: {meta.get('replications')} replications, horizon {meta.get('horizon')}"
         + (f" (effects over {window}–{meta.get('horizon')})" if window else "")
         + f", households per RT {meta.get('households_per_rt') or 'model default'}, "
         f"base seed {meta.get('base_seed')}; parameter set {meta.get('parameters')} ({where}{sha})"
         + (f"; posterior draws from `{meta['posterior']}`" if meta.get("posterior") else "")
         + f"; model {meta.get('model_version')}, {meta.get('date')}"
         + (f"; **{meta['runs_not_ok']} run(s) failed or missing**" if meta.get("runs_not_ok") else "") + ".", ""]
    if (folder / "robust_effects.csv").is_file():
        L += _robust_lead(folder, meta, headline, label)
    arms = meta.get("arms") or []
    explicit = [a for a in arms if a.get("sweep") is None and a["name"] != BASELINE]
    if not arms:   # an experiment.json without arms: every arm of effects.csv
        explicit = [{"name": a, "description": ""} for a in dict.fromkeys(eff["arm"])]
    if explicit:
        rows = [["baseline (level)"] + base_cells]
        for a in explicit:
            cells = []
            for m in headline:
                e = eff[(eff["arm"] == a["name"]) & (eff["metric"] == m)]
                cells.append(_effect(*e.iloc[0][["effect", "ci_low", "ci_high"]]) if len(e) else "–")
            rows.append([f"`{a['name']}`" + (f": {a['description']}" if a.get("description") else "")] + cells)
        L.append(markdown_table(["arm"] + [label[m] for m in headline], rows))
    dose_file = folder / "dose_response.csv"
    if meta.get("sweeps") and dose_file.is_file():
        dose = pd.read_csv(dose_file)
        for sw in meta["sweeps"]:
            d = dose[dose["sweep"] == sw["name"]]
            with_ = _settings(sw.get("set"))
            L += ["", f"Dose-response `{sw['name']}` (lever `{sw['lever']}`" + (f", with {with_}" if with_ else "")
                  + "): effect vs baseline by value", ""]
            rows = [["baseline (level)"] + base_cells]
            for arm in dict.fromkeys(d["arm"]):
                da = d[d["arm"] == arm]
                same = bool(da["same_as_baseline"].astype(str).eq("True").any()) if "same_as_baseline" in da else False
                cells = []
                for m in headline:
                    e = da[da["metric"] == m]
                    cells.append(_effect(*e.iloc[0][["effect", "ci_low", "ci_high"]]) if len(e) else "–")
                value = str(arm).split("=", 1)[-1]
                rows.append([f"{value}" + (" (= baseline)" if same else "")] + cells)
            L.append(markdown_table([sw["lever"]] + [label[m] for m in headline], rows))
    return L


def _distribution_cell(dist: pd.DataFrame, arm: str, metric: str, *, bold: bool) -> str:
    """One arm × metric cell of robust_effects.csv: median [5–95%], P(effect > 0); *no effect* when the effect
    is 0 in every scenario; in bold (``bold``) when the sign is robust.
    """
    r = dist[(dist["arm"] == arm) & (dist["metric"] == metric)]
    if r.empty:
        return "–"
    r = r.iloc[0]
    if str(r.get("no_effect", False)) == "True":
        return "*no effect*"
    text = f"{fmt(r['median'])} [{fmt(r['q05'])}, {fmt(r['q95'])}], P {r['p_positive']:.2f}"
    return f"**{text}**" if bold and str(r["robust"]) == "True" else text


def _robust_lead(folder: Path, meta: dict, headline: list[str], label: dict[str, str]) -> list[str]:
    """An [uncertain] experiment's lead: each arm's headline effects as median [5–95%] over the scenarios with
    P(effect > 0), the robust ones (P(effect > 0) ≥ 0.9 or P(effect < 0) ≥ 0.9) in bold, *no effect* where it is 0
    in every scenario, and where each arm fails (PRIM box).
    """
    dist = pd.read_csv(folder / "robust_effects.csv")
    unc = meta.get("uncertain") or {}
    n = unc.get("scenarios") or (int(dist["n_scenarios"].max()) if len(dist) else 0)
    drawn = " × ".join(x for x, on in (("posterior draw", unc.get("posterior", True)),
                                      ("lever strengths", bool(unc.get("ranges")))) if on) or "seeds only"
    L = [f"Over **{n} scenarios** ({drawn}; every arm on every scenario with the same "
         "seeds): median paired effect [5–95% over scenarios], P(effect > 0); **bold** = robust (P(effect > 0) "
         "≥ 0.9 or P(effect < 0) ≥ 0.9: the sign holds whatever the uncertain inputs); *no effect* = exactly 0 in "
         "every scenario.", ""]
    rows = []
    for arm in dict.fromkeys(dist["arm"]):
        rows.append([f"`{arm}`"] + [_distribution_cell(dist, arm, m, bold=True) for m in headline])
    L += [markdown_table(["arm"] + [label[m] for m in headline], rows), ""]
    boxes = folder / "prim_boxes.csv"
    limits = folder / "prim_limits.csv"
    if boxes.is_file():
        b = pd.read_csv(boxes)
        if "box" not in b:
            b["box"] = np.nan   # no arm has a box: one status row per arm
        lim = pd.read_csv(limits) if limits.is_file() else pd.DataFrame()
        if not {"arm", "box", "input", "min", "max"} <= set(lim.columns):
            lim = pd.DataFrame(columns=["arm", "box", "input", "min", "max"])
        parts = []
        flat = no_effect_arms(dist, unc.get("metric", "participating_household_years_policy"))
        for _, r in b[b["box"].isna() | (b["box"] == 1)].iterrows():
            if r["arm"] in flat:
                parts.append(f"`{r['arm']}`: no effect in any scenario")
                continue
            li = lim[(lim["arm"] == r["arm"]) & (lim["box"] == 1)]
            cond = " and ".join(f"`{x['input']}` in [{fmt(x['min'])}, {fmt(x['max'])}]" for _, x in li.iterrows())
            parts.append(f"`{r['arm']}` fails where {cond} (coverage {r['coverage']:.2f}, density "
                         f"{r['density']:.2f})" if r.get("status") == "boxes" else f"`{r['arm']}`: {r['status']}")
        if parts:
            L += [f"Where the effect on {unc.get('metric', 'the metric')} is below {unc.get('threshold', 0)} "
                  "(PRIM): " + "; ".join(parts) + ".", ""]
    L.append("Means over the scenarios with 95% t intervals:")
    L.append("")
    return L


def render_results_block(results_dir: str | Path) -> str:
    """The README block (without its markers), generated from the published result files alone.

    Parameters
    ----------
    results_dir : str or Path
        ``experiments/results/``: one folder per experiment (effects.csv, levels.csv, dose_response.csv,
        experiment.json).

    Returns
    -------
    str
        A header naming the model version(s) and date(s), then per experiment its headline effects
        (arm, effect [95% CI], baseline level) and the dose-response tables of its sweeps.
    """
    results_dir = Path(results_dir)
    folders = result_folders(results_dir)
    if not folders:
        return NO_RESULTS
    metas = {f.name: _read_json(f / "experiment.json") for f in folders}
    versions: dict[str, list[str]] = {}
    dates: dict[str, list[str]] = {}
    for name, m in metas.items():
        versions.setdefault(str(m.get("model_version")), []).append(name)
        dates.setdefault(str(m.get("date")), []).append(name)

    def listing(d: dict[str, list[str]]) -> str:
        if len(d) == 1:
            return next(iter(d))
        return "; ".join(f"{k} ({', '.join(v)})" for k, v in sorted(d.items()))

    src = f"{results_dir.parent.name}/{results_dir.name}/"
    L = [f"<!-- generated by `bantar-sim publish-experiments` from {src}; do not edit by hand "
         "(tests/test_experiment_publish.py checks it) -->",
         f"**Published results: model {listing(versions)}; run on {listing(dates)}.** Generated from the result "
         f"files in `{src}` (copied from `outputs/` by `bantar-sim publish-experiments`, the last step of "
         "`make experiments`). Effects are mean paired differences vs the baseline over the policy period with "
         "95% t intervals (`*`: the interval excludes 0); baseline levels are means over the replications."]
    L += _robust_overview(folders)
    for f in folders:
        L += _experiment_block(f)
    return "\n".join(L)


#: The people metrics of the overview (issue 14: outcomes are people).
OVERVIEW_METRICS = ("practising_rt_years_policy", "participating_household_years_policy")


def _robust_overview(folders: list[Path]) -> list[str]:
    """One table over every [uncertain] experiment without sweeps: each arm's effect on the people metrics as
    median [5–95% over its scenarios] with P(effect > 0), and its min–max regret rank in its file — the
    answers that say how sure they are, before the per-file blocks (issue 16).
    """
    rows = []
    for f in folders:
        meta = _read_json(f / "experiment.json")
        if meta.get("sweeps") or not (f / "robust_effects.csv").is_file():
            continue
        dist = pd.read_csv(f / "robust_effects.csv")
        regret = pd.read_csv(f / "regret.csv").set_index("arm") if (f / "regret.csv").is_file() else None
        n_arms = len(regret) if regret is not None else 0
        for arm in dict.fromkeys(dist["arm"]):
            cells = [_distribution_cell(dist, arm, m, bold=False) for m in OVERVIEW_METRICS]
            metric = (meta.get("uncertain") or {}).get("metric", OVERVIEW_METRICS[1])
            rank = (f"{int(regret.loc[arm, 'rank'])} of {n_arms} (P(best) {regret.loc[arm, 'p_best']:.2f})"
                    + ("" if metric == OVERVIEW_METRICS[1] else f" on `{metric}`")
                    if regret is not None and arm in regret.index else "–")
            n = int(dist.loc[dist["arm"] == arm, "n_scenarios"].max())
            rows.append([f"`{meta['name']}`", f"`{arm}`", str(n), *cells, rank])
    if not rows:
        return []
    unc_metric = "participating household-years (unless the row names another metric)"
    return ["", "### Over the uncertain inputs: every arm's effect on people", "",
            "Median paired effect over the policy period [5–95% over the scenarios] and P(effect > 0) over the "
            "scenarios (posterior draw × lever strengths, every arm on every scenario with the same seeds); "
            f"rank: the arm's min–max regret rank on {unc_metric} among its file's arms and the baseline, with the "
            "share of scenarios where it is the best. Written from each folder's `robust_effects.csv` and "
            "`regret.csv`.", "",
            markdown_table(["file", "arm", "scenarios", "practising RT-years", "participating household-years",
                            "regret rank"], rows)]


def read_block(text: str, where: str = "README") -> str | None:
    """The text between the markers (None when the README has none); an error if only one is there."""
    try:
        return find_between(text, START, END)
    except BlockError:
        raise PublishError(f"{where}: needs exactly one '{START}' followed by one '{END}'") from None


def replace_block(text: str, block: str, where: str = "README") -> str:
    """``text`` with its block replaced by ``block`` (the markers appended at the end when absent)."""
    if read_block(text, where) is None:
        return text.rstrip("\n") + f"\n\n{START}\n{block}\n{END}\n"
    return replace_between(text, START, END, block)


# ------------------------------------------------------------------------------------------ workflow
def publish_results(outputs_dir: str | Path, results_dir: str | Path, readme_path: str | Path, *,
                    only: tuple[str, ...] = (), check: bool = False) -> PublishResult:
    """Copy every finished experiment's small result files into ``results_dir`` and rewrite the README block.

    Parameters
    ----------
    outputs_dir : str or Path
        The experiment output folders (``outputs/``): each folder with effects.csv and experiment.json.
    results_dir : str or Path
        ``experiments/results/``: ``<name>/`` per experiment receives effects.csv, levels.csv,
        dose_response.csv (if any) and a trimmed experiment.json. Experiments not in ``outputs_dir`` keep
        their earlier copies (the block shows each one's model version and date).
    readme_path : str or Path
        The README; the text between ``<!-- results:start -->`` and ``<!-- results:end -->`` is replaced
        (the markers are appended at its end when absent).
    only : tuple of str
        Publish only these experiments (experiment or output-folder names).
    check : bool
        Write nothing; ``changed`` says whether the README block differs from what ``results_dir`` gives.

    Returns
    -------
    PublishResult

    Raises
    ------
    PublishError
        A missing README or outputs folder, an unknown ``only`` name, two output folders holding the same
        experiment, or malformed markers (before anything is written).
    """
    outputs_dir, results_dir, readme = Path(outputs_dir), Path(results_dir), Path(readme_path)
    if not readme.is_file():
        raise PublishError(f"--readme: {readme} is not a file")
    text = readme.read_text(encoding="utf-8")
    read_block(text, str(readme))
    result = PublishResult(readme=readme)
    if not check:
        if not outputs_dir.is_dir():
            raise PublishError(f"--outputs: {outputs_dir} is not a folder (run the experiments first: "
                               "make experiments)")
        folders = experiment_outputs(outputs_dir)
        names = {f: _read_json(f / "experiment.json").get("name") for f in folders}
        if only:
            unknown = [o for o in only if o not in names.values() and o not in {f.name for f in folders}]
            if unknown:
                raise PublishError(f"--only: no experiment output folder '{unknown[0]}' in {outputs_dir}; found: "
                                   f"{', '.join(sorted(str(n) for n in names.values())) or 'none'}")
            # an output-folder name picks that folder; an experiment name every folder holding it
            folders = [f for f in folders if f.name in only or (names[f] in only and not any(
                g.name == names[f] for g in folders if g.name in only))]
        seen: dict[str, Path] = {}
        for f in folders:
            if names[f] in seen:
                raise PublishError(f"{seen[names[f]]} and {f} both hold experiment '{names[f]}'; publish one of "
                                   "them with --only FOLDER")
            seen[names[f]] = f
        results_dir.mkdir(parents=True, exist_ok=True)
        for f in folders:
            result.published[copy_results(f, results_dir)] = f
    result.experiments = [f.name for f in result_folders(results_dir)]
    result.block = render_results_block(results_dir)
    result.changed = read_block(text, str(readme)) != result.block
    if result.changed and not check:
        write_text_atomic(readme, replace_block(text, result.block, str(readme)))
    return result


def publish_experiments(config: PublishConfig) -> PublishResult:
    """The workflow of ``bantar-sim publish-experiments``: :func:`publish_results` with a typed config."""
    return publish_results(config.outputs_dir, config.results_dir, config.readme, only=tuple(config.only),
                           check=config.check)
