"""The monthly quality audit, one partition per calendar month."""

from datetime import date

import dagster as dg

from dagster_project.config import GovernanceConfig
from dagster_project.defs.partitions import WAREHOUSE_POOL, monthly_partitions
from dagster_project.defs.resources import WarehouseResource
from dagster_project.lib.audit.monthly import run_monthly_audit


def build_audit_assets(config: GovernanceConfig) -> list[dg.AssetsDefinition]:
    @dg.asset(
        key=["audit", "quality_metrics"],
        deps=[dg.AssetKey(["intermediate", "int_customer_records"])],
        partitions_def=monthly_partitions(config),
        group_name="audit",
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        description="Completeness and validity per source and field for one month (R5, R23).",
    )
    def quality_metrics(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        window = context.partition_time_window
        month_start, month_end = (
            date.fromisoformat(window.start.date().isoformat()),
            window.end.date(),
        )
        with warehouse.connect() as con:
            written = run_monthly_audit(con, month_start, month_end, context.run_id)
            summary = con.execute(
                """
                select dimension, field_name, round(sum(passing) / nullif(sum(records), 0), 4)
                from audit.quality_metrics where audit_month = ?
                group by all order by all
                """,
                [month_start],
            ).fetchall()
        context.log.info(f"audit {month_start:%Y-%m}: {written} metric rows written")
        return dg.MaterializeResult(
            metadata={
                "metric_rows": written,
                "rates": dg.MetadataValue.md(
                    "| dimension | field | rate |\n|---|---|---|\n"
                    + "\n".join(f"| {d} | {f} | {r} |" for d, f, r in summary)
                ),
            }
        )

    return [quality_metrics]


def build_audit_job(config: GovernanceConfig) -> dg.JobDefinition:
    return dg.define_asset_job(
        "monthly_quality_audit",
        selection=dg.AssetSelection.groups("audit"),
        description="Monthly quality audit across every source and field, kept for trends.",
    )
