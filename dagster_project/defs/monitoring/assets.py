"""Daily monitoring after the golden table: risk events, customer risk and alerts
(lib/monitoring)."""

from collections.abc import Iterator
from datetime import UTC, date, datetime

import dagster as dg

from dagster_project import settings
from dagster_project.config import GovernanceConfig
from dagster_project.defs.partitions import WAREHOUSE_POOL, daily_partitions
from dagster_project.defs.resources import GovernanceResource, WarehouseResource
from dagster_project.lib.monitoring.alerts import deliver_alerts
from dagster_project.lib.monitoring.events import ALERTS_LISTED_IN_LOG, monitor_day
from dagster_project.lib.monitoring.report import write_monitoring_report

RISK_EVENTS_KEY = dg.AssetKey(["monitoring", "risk_events"])
CUSTOMER_RISK_KEY = dg.AssetKey(["monitoring", "customer_risk"])


def build_monitoring_assets(config: GovernanceConfig) -> dg.AssetsDefinition:
    deps = [
        dg.AssetKey(["history", "golden_customer_versions"]),
        dg.AssetKey(["main", "golden_customers"]),
        dg.AssetKey(["main", "customer_source_xref"]),
        dg.AssetKey(["intermediate", "int_customer_records"]),
    ]

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                RISK_EVENTS_KEY,
                deps=deps,
                group_name="monitoring",
                kinds={"duckdb"},
                description=(
                    "One row per monitoring rule hit on a golden customer (governance.yaml "
                    "monitoring.rules): points, severity, masked evidence, first detected, last "
                    "seen, open or cleared. The same condition on later days updates its event. "
                    "Also monitoring.change_volumes and monitoring.anomalies: a source's daily "
                    "count of changes per field against its own history."
                ),
            ),
            dg.AssetSpec(
                CUSTOMER_RISK_KEY,
                deps=[RISK_EVENTS_KEY],
                group_name="monitoring",
                kinds={"duckdb"},
                description=(
                    "Per golden customer with open events: the points seen within "
                    "monitoring.score_window_days and the risk tier (monitoring.risk_tiers). "
                    "Customers entering the high tier, new high-severity events and new "
                    "anomalies are rows of monitoring.alerts and warnings in the run's log."
                ),
            ),
        ],
        partitions_def=daily_partitions(config),
        pool=WAREHOUSE_POOL,
    )
    def monitoring(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        governance: GovernanceResource,
    ) -> Iterator[dg.MaterializeResult]:
        day = date.fromisoformat(context.partition_key)
        config = governance.load()
        with warehouse.connect() as con:
            result = monitor_day(
                con, config, day, run_id=context.run.run_id, recorded_at=datetime.now(UTC)
            )
            # After the day's transaction: a channel that is down fails no data.
            delivery = deliver_alerts(con, config.monitoring, datetime.now(UTC))
            # An earlier day's report was written when that day ran: rewriting it from today's
            # tables would mix today's open events into it.
            report = None
            if result.status != "earlier_day":
                report = write_monitoring_report(con, config, day, settings.reports_dir())
        if report is None:
            context.log.info(f"the monitoring report of {day} stays as it was written")
        else:
            context.log.info(f"monitoring report: {report.html_path}")
        for channel, why in delivery.failed.items():
            context.log.warning(
                f"alerts not delivered by {channel} (kept, tried again on the next run): {why}"
            )
        if result.status == "earlier_day":
            context.log.info(
                f"monitoring has run for a day after {day}: its events stand as they are (an "
                "earlier day is not monitored again)"
            )
        for rule, lacking in result.skipped_rules.items():
            context.log.warning(f"monitoring rule {rule} skipped: {lacking}")
        for anomaly in result.anomalies:
            context.log.warning(f"change-volume anomaly: {anomaly.message(day)}")
        for concentration in result.concentrations[:ALERTS_LISTED_IN_LOG]:
            context.log.warning(f"address concentration: {concentration.message()}")
        for kind, severity, message in result.new_alerts[:ALERTS_LISTED_IN_LOG]:
            context.log.warning(f"alert ({kind}, {severity}): {message}")
        if len(result.new_alerts) > ALERTS_LISTED_IN_LOG:
            context.log.warning(
                f"... and {len(result.new_alerts) - ALERTS_LISTED_IN_LOG} more alerts: "
                "select * from monitoring.alerts where partition_date = "
                f"'{day}'"
            )
        metadata = result.metadata()
        yield dg.MaterializeResult(
            asset_key=RISK_EVENTS_KEY,
            metadata={
                key: metadata[key]
                for key in (
                    "status",
                    "events_opened",
                    "events_updated",
                    "events_cleared",
                    "hits_by_rule",
                    "change_volume_anomalies",
                    "address_concentrations",
                    "skipped_rules",
                )
            },
        )
        yield dg.MaterializeResult(
            asset_key=CUSTOMER_RISK_KEY,
            metadata={
                "customers_by_tier": metadata["customers_by_tier"],
                "new_alerts": metadata["new_alerts"],
                "alerts_delivered": dict(delivery.sent),
                "alert_channels_failed": dict(delivery.failed),
                **(
                    {
                        "report": dg.MetadataValue.path(str(report.html_path)),
                        "report_markdown": dg.MetadataValue.md(report.markdown),
                    }
                    if report
                    else {}
                ),
            },
        )

    return monitoring
