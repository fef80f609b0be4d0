"""The daily pipeline job and every schedule: what runs when."""

from __future__ import annotations

import dagster as dg

from dagster_project.config import GovernanceConfig
from dagster_project.defs.partitions import daily_partitions

DAILY_GROUPS = ("ingestion", "standardisation", "resolution", "golden")


def build_daily_job(config: GovernanceConfig) -> dg.JobDefinition:
    return dg.define_asset_job(
        "daily_customer_pipeline",
        selection=dg.AssetSelection.groups(*DAILY_GROUPS),
        partitions_def=daily_partitions(config),
        description=(
            "Loads one day's drops from every source, standardises, resolves and rebuilds the "
            "golden customer table, gated by Great Expectations checks."
        ),
    )


def build_schedules(
    config: GovernanceConfig, jobs: list[dg.JobDefinition]
) -> list[dg.ScheduleDefinition]:
    hour, minute = (int(part) for part in config.schedule.daily_at.split(":"))
    by_name = {job.name: job for job in jobs}
    return [
        # Partitioned schedules run the most recent complete partition: yesterday's drops.
        dg.build_schedule_from_partitioned_job(
            by_name["daily_customer_pipeline"], hour_of_day=hour, minute_of_hour=minute
        ),
        dg.build_schedule_from_partitioned_job(
            by_name["monthly_quality_audit"],
            day_of_month=1,
            hour_of_day=hour + 1 if hour < 23 else hour,
        ),
        dg.build_schedule_from_partitioned_job(
            by_name["monthly_retention_purge"], day_of_month=2, hour_of_day=hour
        ),
    ]
