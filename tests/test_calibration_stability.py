"""Issue 15, item 6: the calibrated point's spread across seeds of the default calibration.

The table's arithmetic on a hand-made case (spread against a quarter of the 90% interval), then the whole
study tiny (2 seeds, 4 particles, 1 generation, scale 0.05, 10 households per RT) through the CLI, published
into a calibration folder and quoted by calibration/README.md's passage; bad input refused before any work.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from bantar_sim import cli
from bantar_sim.model.version import MODEL_VERSION
from bantar_sim.studies.calibration.stability import (
    PUBLISHED_FILES,
    STABLE_SHARE,
    publish_stability,
    stability_markdown,
    stability_table,
)
from bantar_sim.studies.calibration.targets import CalibrationInputError, load_priors

REPO = Path(__file__).resolve().parents[1]


def _summary(rows):
    return pd.DataFrame(rows, columns=["parameter", "median", "q05", "q95", "prior_low", "prior_high"])


def test_stability_table_sets_the_spread_against_the_interval():
    points = {1: {"a": 1.0, "b": 0.0, "scale": 1.0}, 2: {"a": 1.2, "b": 3.0, "scale": 1.0},
              3: {"a": 1.1, "b": 1.0, "scale": 1.0}}
    summaries = {1: _summary([("a", 1.0, 0.0, 1.0, -5, 5), ("b", 0.0, -2.0, 2.0, -10, 10)]),
                 2: _summary([("a", 1.1, 0.0, 1.0, -5, 5), ("b", 1.0, -2.0, 2.0, -10, 10)]),
                 3: _summary([("a", 1.0, 0.0, 1.0, -5, 5), ("b", 0.5, -1.0, 3.0, -10, 10)])}
    t = stability_table(points, summaries).set_index("parameter")
    assert list(t.index) == ["a", "b"]                               # settings (scale) are not parameters
    assert t.loc["a", "point_spread"] == pytest.approx(0.2) and t.loc["a", "width90_mean"] == pytest.approx(1.0)
    assert t.loc["a", "stable"] and t.loc["a", "spread_over_width"] < STABLE_SHARE
    assert t.loc["b", "point_spread"] == pytest.approx(3.0) and t.loc["b", "width90_mean"] == pytest.approx(4.0)
    assert not t.loc["b", "stable"]                                  # 0.75 of the interval
    assert t.loc["b", "median_spread"] == pytest.approx(1.0) and t.loc["b", "prior_width"] == 20
    assert t.loc["b", "point_2"] == 3.0


def test_tiny_study_end_to_end_and_published(tmp_path, capsys, monkeypatch):
    (tmp_path / "calibration").mkdir()
    shutil.copyfile(REPO / "calibration" / "priors.toml", tmp_path / "calibration" / "priors.toml")
    monkeypatch.chdir(tmp_path)            # --publish finds calibration/ from the working directory
    out = tmp_path / "stab"
    code = cli.main(["calibration-stability", "--seeds", "1,2", "--reference", "40",
                     "--predictive-runs", "4", "--pattern-reps", "1", "--scale", "0.05", "--households-per-rt", "10",
                     "--executor", "serial", "--no-progress", "--out", str(out), "--publish"])
    assert code == 0, capsys.readouterr().err
    table = pd.read_csv(out / "stability.csv")
    names = load_priors(REPO / "calibration" / "priors.toml").names
    assert list(table["parameter"]) == names and {"point_1", "point_2"} <= set(table.columns)
    assert (out / "seed_1" / "calibrated.toml").is_file() and (out / "seed_2" / "calibrated.toml").is_file()
    meta = json.loads((out / "stability.json").read_text())
    assert meta["model_version"] == MODEL_VERSION and meta["seeds"] == [1, 2]
    pub = tmp_path / "calibration" / "results" / "stability"
    assert sorted(p.name for p in pub.iterdir()) == sorted(PUBLISHED_FILES)
    text = "\n".join(stability_markdown(tmp_path / "calibration"))
    assert "seeds 1, 2" in text and MODEL_VERSION in text and "stale" not in text
    for n in names:
        assert f"`{n}` | " in text
    # another model version: flagged in the passage, refused by the publisher (nothing overwritten)
    meta["model_version"] = "0.0.0+old"
    (out / "stability.json").write_text(json.dumps(meta))
    with pytest.raises(CalibrationInputError, match="model version"):
        publish_stability(out, tmp_path / "calibration")
    (pub / "stability.json").write_text(json.dumps(meta))
    assert "stale until `make calibration-stability`" in "\n".join(stability_markdown(tmp_path / "calibration"))


@pytest.mark.parametrize("args, words", [(["--seeds", "1"], "--seeds"), (["--seeds", "1,1"], "twice"),
                                         (["--seeds", "a,b"], "--seeds"), (["--population-size", "1"], "population")])
def test_bad_input_exit_2_nothing_written(args, words, tmp_path, capsys):
    out = tmp_path / "stab"
    code = cli.main(["calibration-stability", *args, "--out", str(out), "--executor", "serial"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and words in err, err
    assert not out.exists() and not list(tmp_path.glob("*.db"))


def test_passage_without_a_published_study(tmp_path):
    assert "not yet published" in stability_markdown(tmp_path)[0]
