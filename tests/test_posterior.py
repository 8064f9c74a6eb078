"""The one reader of calibration/posterior.csv (bantar_sim.studies.posterior) behind calibrate.sample_posterior and
experiments' posterior_draws."""
import numpy as np
import pytest

from bantar_sim.studies.posterior import PosteriorFileError, read_posterior

CSV = "base_utility,waning_half_life,weight,passes_patterns\n-4.0,3.0,5.0,False\n-5.0,4.0,1.0,True\n-4.6,2.5,3.0,True\n"


def test_failing_particles_keep_their_row_but_get_no_weight(tmp_path):
    path = tmp_path / "posterior.csv"
    path.write_text(CSV)
    post = read_posterior(path)
    assert list(post.rows[0]) == ["base_utility", "waning_half_life"]
    assert np.allclose(post.weights, [0.0, 0.25, 0.75])
    picks = {post.index_for(u) for u in np.random.default_rng(1).random(400)}
    assert picks == {1, 2}
    assert post.row(2) == {"base_utility": -4.6, "waning_half_life": 2.5}


def test_both_callers_draw_only_passing_particles(tmp_path):
    from bantar_sim.studies.calibration import sample_posterior
    from bantar_sim.studies.experiment.spec import draw_posterior
    path = tmp_path / "posterior.csv"
    path.write_text(CSV)
    by_calibrate = {d["base_utility"] for d in sample_posterior(200, seed=3, path=path)}
    by_experiment = {row["base_utility"] for _, row in draw_posterior(path, 3, 200)}
    assert by_calibrate == by_experiment == {-5.0, -4.6}


@pytest.mark.parametrize("text, message", [
    ("base_utility,weight,passes_patterns\n-4.0,1.0,maybe\n", r"row 2: 'passes_patterns' must be True or False"),
    ("base_utility,weight\n-4.0,-1.0\n", r"'weight' must be finite numbers >= 0"),
    ("base_utility\n-4.0\n", r"no 'weight' column"),
    ("base_utility,weight,passes_patterns\n-4.0,0.0,True\n-5.0,1.0,False\n", r"zero total weight"),
])
def test_bad_posterior_files_name_the_file_and_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "posterior.csv"
    path.write_text(text)
    with pytest.raises(PosteriorFileError, match=message) as err:
        read_posterior(path)
    assert str(path) in str(err.value)


def test_a_column_the_caller_sets_itself_is_rejected(tmp_path):
    path = tmp_path / "posterior.csv"
    path.write_text("scale,weight\n0.5,1.0\n")
    with pytest.raises(PosteriorFileError, match="column 'scale' is set by the experiment"):
        read_posterior(path, not_drawn={"scale": "the experiment"})
