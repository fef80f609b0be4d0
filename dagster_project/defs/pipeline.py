"""The daily pipeline job and every schedule: what runs when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from dagster_project.config import GovernanceConfig

DAILY_GROUPS = ("ingestion", "standardisation", "resolution", "golden", "monitoring", "analytics")


def build_daily_job(config: GovernanceConfig) -> dg.JobDefinition:
    return dg.define_asset_job(
        "daily_customer_pipeline",
        selection=dg.AssetSelection.groups(*DAILY_GROUPS),
        description=(
            "Loads one day's drops from every source, standardises, resolves and rebuilds the "
            "golden customer table, gated by Great Expectations checks, monitors the day's "
            "changes and risks, then builds the masked analyst database."
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
        _previous_month_schedule(by_name["monthly_quality_audit"], config, day_of_month=1),
        _previous_month_schedule(by_name["monthly_retention_purge"], config, day_of_month=2),
    ]


def _previous_month_schedule(
    job: dg.JobDefinition, config: GovernanceConfig, day_of_month: int
) -> dg.ScheduleDefinition:
    """Runs on `day_of_month` for the month that has just ended (the monthly partitions also
    include the month in progress, which a schedule must not pick)."""
    hour, minute = (int(part) for part in config.schedule.daily_at.split(":"))

    @dg.schedule(
        name=f"{job.name}_schedule",
        job=job,
        cron_schedule=f"{minute} {hour} {day_of_month} * *",
        execution_timezone=config.schedule.timezone,
    )
    def previous_month(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        scheduled = context.scheduled_execution_time or datetime.now(UTC)
        first_of_previous = (scheduled.replace(day=1) - timedelta(days=1)).replace(day=1)
        return dg.RunRequest(partition_key=first_of_previous.strftime("%Y-%m-%d"))

    return previous_month
