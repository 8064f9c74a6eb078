"""bantar-sim: agent-based simulation of citizen participation in Jambi's Kampung Bantar programme."""
__version__ = "0.1.0"
# Bump when a change alters simulated results: batch run ids include it, so stale runs are not reused.
MODEL_VERSION = "0.1.0-m1"

from .model import BantarModel  # noqa: E402
from .params import SPECS, BantarParams, ParameterError, make_params  # noqa: E402

__all__ = ["BantarModel", "BantarParams", "SPECS", "ParameterError", "make_params", "__version__", "MODEL_VERSION"]
