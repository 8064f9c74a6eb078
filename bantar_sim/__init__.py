"""bantar-sim: agent-based simulation of citizen participation in Jambi's Kampung Bantar programme."""
__version__ = "0.1.0"
# Bump when a change alters simulated results: batch run ids include it, so stale runs are not reused.
MODEL_VERSION = "0.1.0-m3"

__all__ = ["BantarModel", "BantarParams", "SPECS", "ParameterError", "make_params", "__version__", "MODEL_VERSION"]


def __getattr__(name):
    # Imported on first use: batch workers that only need the version start without loading Mesa.
    if name == "BantarModel":
        from .model import BantarModel
        return BantarModel
    if name in ("SPECS", "BantarParams", "ParameterError", "make_params"):
        from . import params
        return getattr(params, name)
    raise AttributeError(f"module 'bantar_sim' has no attribute {name!r}")
