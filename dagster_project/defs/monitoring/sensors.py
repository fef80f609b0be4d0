"""An alert when the daily job itself fails (R35), through the monitoring alert channels."""

from datetime import UTC, datetime

import dagster as dg

from dagster_project.defs.resources import GovernanceResource, WarehouseResource
from dagster_project.lib.monitoring.alerts import deliver_alerts
from dagster_project.lib.monitoring.events import record_job_failure

DAILY_JOB = "daily_customer_pipeline"


@dg.run_failure_sensor(
    name="daily_job_failure_alert",
    monitor_all_code_locations=False,
    description=(
        "When a run of the daily job fails: an alert in monitoring.alerts, sent by the "
        "configured e-mail and webhook channels (governance.yaml monitoring.alerts)."
    ),
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def daily_job_failure_alert(
    context: dg.RunFailureSensorContext,
    warehouse: WarehouseResource,
    governance: GovernanceResource,
) -> None:
    run = context.dagster_run
    if run.job_name != DAILY_JOB:
        return
    config = governance.load()
    now = datetime.now(UTC)
    with warehouse.connect() as con:
        record_job_failure(
            con,
            config,
            run_id=run.run_id,
            partition=run.tags.get("dagster/partition"),
            job_name=run.job_name,
            reason=context.failure_event.message or "the run failed",
            at=now,
        )
        delivery = deliver_alerts(con, config.monitoring, now)
    for channel, why in delivery.failed.items():
        context.log.warning(f"job-failure alert not delivered by {channel}: {why}")
