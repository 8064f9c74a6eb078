"""bantar-sim: agent-based simulation of citizen participation in Jambi's Kampung Bantar programme."""
from bantar_sim.model.version import MODEL_VERSION, __version__

__all__ = ["BantarModel", "BantarParams", "SPECS", "ParameterError", "make_params", "__version__", "MODEL_VERSION"]


def __getattr__(name):
    # Imported on first use: batch workers that only need the version start without loading Mesa.
    if name == "BantarModel":
        from bantar_sim.model.model import BantarModel
        return BantarModel
    if name in ("SPECS", "BantarParams", "ParameterError", "make_params"):
        from bantar_sim.model import params
        return getattr(params, name)
    raise AttributeError(f"module 'bantar_sim' has no attribute {name!r}")
