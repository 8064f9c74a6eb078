"""The engine room: one run task, the batch engine, result storage, executors, provenance, atomic outputs."""
