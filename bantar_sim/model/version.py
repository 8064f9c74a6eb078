"""The package version and the model version that batch run ids and outputs record.

``MODEL_VERSION`` follows the model: it is ``MODEL_LINEAGE`` plus the first 10 hex digits of a sha256
over the model room's source files (``bantar_sim/model/**/*.py``) and data files (``data/*.csv``), each
as its path relative to ``bantar_sim/model`` and its raw bytes, in sorted order. The batch engine puts
the version in every run id, so a stored run is reused only by the exact code that computed it: an
edited model can never pick up stale runs.

Hashing raw bytes is deliberately conservative: an edit that cannot change a result (a comment, a
docstring, whitespace) also gives a new version and so recomputes stored runs. That costs compute time,
never correctness, and needs no parser that could miss a real change.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["__version__", "MODEL_LINEAGE", "MODEL_VERSION", "model_source_digest"]

__version__ = "0.1.0"
# The human-readable part: bump it when a change alters simulated results on purpose (a model release).
MODEL_LINEAGE = "0.2.2"

_MODEL_DIR = Path(__file__).resolve().parent


def model_source_digest(model_dir: Path = _MODEL_DIR) -> str:
    """Hex sha256 of the model room's sources and data (relative path and bytes of each file, sorted).

    Parameters
    ----------
    model_dir : Path
        The ``bantar_sim/model`` folder to hash (default: this package's).

    Returns
    -------
    str
        64 hex digits. Any change to a ``.py`` file under ``model_dir`` or to ``data/*.csv`` changes it.
    """
    files = [p for p in model_dir.rglob("*.py") if "__pycache__" not in p.parts]
    files += list((model_dir / "data").glob("*.csv"))
    h = hashlib.sha256()
    for rel in sorted(p.relative_to(model_dir).as_posix() for p in files):
        data = (model_dir / rel).read_bytes()
        # length-prefixed, so no two different file sets can give the same byte stream
        h.update(f"{rel}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()


MODEL_VERSION = f"{MODEL_LINEAGE}+{model_source_digest()[:10]}"
