"""docs/tutorial.ipynb runs top to bottom in this venv's Python, so the tutorial never goes stale.

The executed copy (with outputs and figures) is written to outputs/test-artifacts/notebook/; the file in
docs/ is kept without outputs.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client import KernelManager
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "docs" / "tutorial.ipynb"
ARTIFACTS = REPO / "outputs" / "test-artifacts" / "notebook"


@pytest.mark.timeout(120)
def test_tutorial_notebook_executes():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
        "keep docs/tutorial.ipynb without outputs (the executed copy is a test artifact)"
    km = KernelManager(kernel_name="python3")
    # The kernel must be this venv's Python (where bantar_sim is installed), not whatever `python` is on PATH.
    assert km.format_kernel_cmd()[0] == sys.executable
    client = NotebookClient(nb, km=km, timeout=90, kernel_name="python3", resources={"metadata": {"path": str(REPO)}})
    client.execute()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, ARTIFACTS / "tutorial.ipynb")

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert len(figures) == 2, "the winners/participation figure and the policy comparison figure"
    text = "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "162 RTs" in text and "status quo" in text and "monitoring 0.8" in text
    assert "active Bantar RTs in 2025, monitoring minus status quo, per seed:" in text
