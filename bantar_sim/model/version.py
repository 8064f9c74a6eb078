"""The package version and the model version that batch run ids and outputs record."""
__version__ = "0.1.0"
# Bump when a change alters simulated results: batch run ids include it, so stale runs are not reused.
MODEL_VERSION = "0.1.0-m3"
