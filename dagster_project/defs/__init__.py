"""Dagster wiring only: assets, checks, jobs, schedules and resources built on `lib/`."""
