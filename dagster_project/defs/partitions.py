"""Partitions shared by the jobs: daily for loads and the daily pipeline, monthly for audits."""

from __future__ import annotations

import dagster as dg

from dagster_project.config import GovernanceConfig


def daily_partitions(config: GovernanceConfig) -> dg.DailyPartitionsDefinition:
    # One definition for every source (from the earliest start date): Dagster runs one job over
    # one partition set, and a source whose own start_date is later simply has no file to load
    # for earlier days (see the ingestion asset).
    return dg.DailyPartitionsDefinition(
        start_date=config.pipeline_start_date.isoformat(),
        timezone=config.schedule.timezone,
    )


def monthly_partitions(config: GovernanceConfig) -> dg.MonthlyPartitionsDefinition:
    # end_offset=1 includes the month in progress, so a month-to-date audit can be run by hand;
    # the schedules still pick the month that has just ended (see pipeline.py).
    return dg.MonthlyPartitionsDefinition(
        start_date=config.pipeline_start_date.replace(day=1).isoformat(),
        timezone=config.schedule.timezone,
        end_offset=1,
    )


WAREHOUSE_POOL = "warehouse"
"""Every asset and check that writes the DuckDB file shares this pool: one writer at a time."""
