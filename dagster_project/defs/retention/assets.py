"""The monthly retention run: governance.yaml's retention policies applied to the warehouse."""

from datetime import timedelta
from pathlib import Path

import dagster as dg

from dagster_project.config import GovernanceConfig
from dagster_project.defs.partitions import WAREHOUSE_POOL, monthly_partitions
from dagster_project.defs.resources import GovernanceResource, WarehouseResource
from dagster_project.lib.privacy.retention import apply_retention


def build_retention_assets(config: GovernanceConfig) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=["privacy", "retention_log"],
        partitions_def=monthly_partitions(config),
        group_name="retention",
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        description="Applies retention policies as of the month's end (archive inactive "
        "customers, destroy old archive, purge quarantine and raw; legal holds exempt) and logs "
        "what each did.",
    )
    def retention_log(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        governance: GovernanceResource,
    ) -> dg.MaterializeResult:
        # The month's last day: the window ends at the next month's first midnight.
        as_of = context.partition_time_window.end.date() - timedelta(days=1)
        with warehouse.connect() as con:
            outcomes = apply_retention(
                con, governance.load(), as_of, context.run_id, warehouse=Path(warehouse.path)
            )
        for outcome in outcomes:
            context.log.info(
                f"{outcome.policy}: {outcome.action} before {outcome.cutoff}: "
                f"{outcome.rows} rows, {outcome.outcome}"
            )
        return dg.MaterializeResult(
            metadata={
                "as_of": as_of.isoformat(),
                "policies": dg.MetadataValue.json(
                    [
                        {
                            "policy": o.policy,
                            "action": o.action,
                            "cutoff": o.cutoff.isoformat(),
                            "rows": o.rows,
                            "outcome": o.outcome,
                            "tables": o.rows_by_table,
                            "held": o.held,
                        }
                        for o in outcomes
                    ]
                ),
            }
        )

    return [retention_log]


def build_retention_job(config: GovernanceConfig) -> dg.JobDefinition:
    return dg.define_asset_job(
        "monthly_retention_purge",
        selection=dg.AssetSelection.groups("retention"),
        description="Monthly archive and purge by retention policy (R31).",
    )
