"""Bad input is refused before any work starts, with the parameter and its allowed range named."""
import pytest

from bantar_sim import BantarModel, ParameterError
from bantar_sim.cli import main
from bantar_sim.model.params import SPECS, load_param_file, make_params


@pytest.mark.parametrize("overrides,needle", [
    ({"households_per_rtt": 50}, "unknown parameter 'households_per_rtt'"),
    ({"social_influence": "strong"}, "'social_influence' must be a number in [0.0, 20.0]"),
    ({"ring_degree": 2.5}, "'ring_degree' must be an integer in [2, 30]"),
    ({"kencana": "yes"}, "'kencana' must be true or false"),
    ({"assessment_mode": "lottery"}, "one of 'standard', 'quota'"),
    ({"monitoring": 1.5}, "'monitoring' = 1.5 is out of range: must be a number in [0.0, 1.0]"),
    ({"households_per_rt": 2}, "'households_per_rt' = 2.0 is out of range"),
    ({"lapse_threshold": 0.9, "assessment_threshold": 0.5}, "lapse_threshold"),
])
def test_bad_parameters_are_named_with_their_range(overrides, needle):
    with pytest.raises(ParameterError) as err:
        BantarModel(**overrides)
    assert needle in str(err.value)


def test_scale_that_leaves_a_subdistrict_without_rts():
    with pytest.raises(ParameterError) as err:
        BantarModel(scale=0.005)
    msg = str(err.value)
    assert "scale" in msg and "no RT" in msg and "[0.0114, 1.0]" in msg


def test_every_spec_default_is_valid_and_documented():
    p = make_params()
    for name, spec in SPECS.items():
        assert getattr(p, name) == spec.default
        assert spec.doc and spec.source, name


def test_param_file_errors_name_the_file(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text("[params]\nsocial_influence = 50\n")
    with pytest.raises(ParameterError, match=str(f)):
        load_param_file(f)


def test_cli_rejects_bad_input_before_writing_anything(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--set", "scale=0.001", "--out", str(out)]) == 2
    assert "scale" in capsys.readouterr().err
    assert not out.exists()
    assert main(["run", "--set", "no_such=1", "--out", str(out)]) == 2
    assert not out.exists()
