"""The model room: parameters, data, city, household rule, the Mesa model, its tables and metrics.

Nothing here imports from the rooms above (engine, studies, reporting, CLI, app).
"""
