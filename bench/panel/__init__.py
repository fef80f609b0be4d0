"""Data builders, the user's-path runner and the baselines of the entity-resolution panel
(bench/bench_panel.py)."""
