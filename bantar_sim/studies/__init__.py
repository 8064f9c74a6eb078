"""The studies room: replicated run, policy experiment, sensitivity analysis, calibration.

Each study has its inputs (a typed config), its computation (runs through the engine, metrics from the
model's registry) and its report, and one workflow function that a notebook, a script or the CLI calls.
"""
