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
    # joint constraints: Kencana is the higher tier (default kencana_threshold 0.65); shares of households
    ({"assessment_threshold": 0.7},
     "kencana_threshold (0.65) must not be below assessment_threshold (0.7): Kencana is the higher tier"),
    ({"kencana_threshold": 0.4, "assessment_threshold": 0.45}, "kencana_threshold (0.4) must not be below"),
    ({"youth_share": 0.6, "elder_share": 0.5}, "youth_share + elder_share = 1.1 must be at most 1"),
    # parameters model 0.2 removed (issue 14) are refused, not silently ignored
    *[({name: 0.3}, f"unknown parameter '{name}'") for name in
      ("lapse_threshold", "kencana_prospect", "monitoring_motivation", "adoption_mentor_motivation",
       "regeneration_effect")],
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


# --- every coefficient is in the parameter table (issue 12, item 7) ---------------------------------------
# The model's equations live in these files; a numeric literal in their arithmetic is a coefficient the
# parameter table (and so the ODD, the sensitivity analysis and the calibration) cannot see.
EQUATION_FILES = ("model.py", "city.py", "rules.py", "assessment.py", "incentives.py")
# Allowed anywhere: neutral elements and bounds of shares and probabilities (0, 1, clip(x, 0, 1), 1 - p),
# the -1 "none" sentinel, and 1e-9 guards against division by zero.
ALLOWED_ANYWHERE = {0, 1, -1, 1e-9}
# Allowed only in the named function, each for a structural reason (not a behavioural coefficient).
ALLOWED_IN = {
    ("model.py", "step", 12): "months in a year (calendar)",
    ("model.py", "_year_end", 12): "months in a year (yearly mean of monthly participation)",
    ("model.py", "__init__", 2): "2**63: the range of the household stream's seed",
    ("model.py", "__init__", 63): "2**63: the range of the household stream's seed",
    ("model.py", "_init_records", 12): "months in a year (the ring of the last 12 months' participation)",
    ("model.py", "_rt_step", 12): "months in a year (the ring of the last 12 months' participation)",
    ("model.py", "recent_participation", 12): "months in a year (practising: participation over 12 months)",
    ("assessment.py", "_award_budget", 2): "lognormal with mean 1: exp(sigma z - sigma**2 / 2)",
    ("model.py", "_init_households", 2.0): "poverty line above any cost (costs are in [0, 1]) when poverty_share = 0",
    ("city.py", "build_city", 2): "ring ties on each side (ring_degree // 2), two ends per tie, gamma shape 1/cv**2",
    ("city.py", "build_city", 0.5): "a cross-RT tie goes to the previous or the next RT with equal chance",
    ("city.py", "counts_ok", 0.5): "np.rint rounds up from one half (smallest scale that keeps an RT)",
    ("rules.py", "uniform_pair", 8): "float32 from the top 24 bits of a 32-bit word (bit layout)",
    ("rules.py", "uniform_pair", 2.0): "2**-24: float32 from the top 24 bits of a 32-bit word",
    ("rules.py", "uniform_pair", -24): "2**-24: float32 from the top 24 bits of a 32-bit word",
}
# Keyword arguments that are array options, not coefficients (np.bincount(minlength=5), lru_cache(maxsize=1)).
OPTION_KEYWORDS = {"minlength", "axis", "maxsize"}


def _stray_literals(source: str, filename: str) -> list[str]:
    """Numeric literals in the functions of `source` that are neither allowed nor indices/keyword options."""
    import ast
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)):
        for node in ast.walk(fn):
            if not (isinstance(node, ast.Constant) and type(node.value) in (int, float)):
                continue
            parent = parents[node]
            value = -node.value if isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.USub) else node.value
            if isinstance(parent, ast.UnaryOp):
                parent = parents[parent]
            # Indices (drive[1], scores[3, rt], x[:0]), options (minlength=5, axis=0) and range() bounds are not
            # coefficients.
            index_of = parents.get(parent) if isinstance(parent, (ast.Tuple, ast.Slice)) else parent
            if isinstance(index_of, ast.Subscript) and index_of.value is not node:
                continue
            if isinstance(parent, ast.keyword) and parent.arg in OPTION_KEYWORDS:
                continue
            if isinstance(parent, ast.Call) and getattr(parent.func, "id", None) == "range":
                continue
            # The base of a half-life decay, 0.5 ** (1 / half_life).
            half_life_base = isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Pow) and parent.left is node
            if value == 0.5 and half_life_base:
                continue
            if value in ALLOWED_ANYWHERE or (filename, fn.name, value) in ALLOWED_IN:
                continue
            found.append(f"{filename}:{node.lineno} in {fn.name}(): {value!r}")
    return found


def test_every_coefficient_is_in_the_parameter_table():
    from pathlib import Path

    import bantar_sim.model
    room = Path(bantar_sim.model.__file__).parent
    stray = [s for f in EQUATION_FILES for s in _stray_literals((room / f).read_text(encoding="utf-8"), f)]
    assert not stray, ("numeric literals in the model's equations; make each a parameter in "
                       "bantar_sim/model/specs.py (default, range, unit, source) or, if structural, add it to "
                       "ALLOWED_IN with the reason:\n" + "\n".join(stray))


def test_the_coefficient_scan_finds_a_hard_coded_coefficient():
    src = ("def _rt_step(self):\n    self.facilities *= 0.99\n    x = 0.6 * part + 0.4 * other\n"
           "    y = 0.5 ** (1.0 / h)\n    z = drive[2] + np.clip(a, 0, 1) + np.bincount(s, minlength=5)[0]\n"
           "    w = rng.normal(0.0, scale=0.1) + q[np.minimum(k, 0.3)]\n")
    stray = _stray_literals(src, "model.py")
    assert sorted(s.split(": ")[-1] for s in stray) == ["0.1", "0.3", "0.4", "0.6", "0.99"], stray
