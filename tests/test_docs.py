"""docs/ODD.md documents every parameter with its current default (regenerate the table when SPECS change)."""
from pathlib import Path

from bantar_sim.model.metrics import METRICS, metrics_markdown
from bantar_sim.model.params import SPECS, markdown_table

ODD = Path(__file__).resolve().parents[1] / "docs" / "ODD.md"


def test_odd_parameter_table_is_current():
    text = ODD.read_text(encoding="utf-8")
    missing = [n for n in SPECS if f"| `{n}` |" not in text]
    assert not missing, f"parameters missing from docs/ODD.md: {missing}"
    stale = [ln for ln in markdown_table().splitlines()[2:] if ln not in text]
    assert not stale, "docs/ODD.md parameter rows differ from SPECS (defaults/ranges); regenerate: " + stale[0]


def test_odd_has_the_seven_elements():
    text = ODD.read_text(encoding="utf-8")
    for heading in ("Purpose and patterns", "Entities, state variables and scales", "Process overview and scheduling",
                    "Design concepts", "Initialisation", "Input data", "Submodels"):
        assert heading in text


def test_odd_metric_table_is_the_registry():
    """Every metric of the registry is described in the ODD, with the registry's label, unit and window."""
    text = ODD.read_text(encoding="utf-8")
    block = text[text.index("<!-- metric table"):text.index("<!-- end of metric table -->")]
    assert metrics_markdown() in block, "docs/ODD.md metric table differs from model/metrics.py; run make odd"
    assert all(f"| `{n}` |" in block for n in METRICS)
