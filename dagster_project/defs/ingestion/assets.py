"""One daily-partitioned asset per configured source, generated from governance.yaml."""

from datetime import date

import dagster as dg

from dagster_project.config import GovernanceConfig, SourceConfig
from dagster_project.defs.partitions import WAREHOUSE_POOL, daily_partitions
from dagster_project.defs.resources import GovernanceResource, WarehouseResource
from dagster_project.lib.ingest.loader import load_partition, masked_preview


def _source_asset(source: SourceConfig, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=["raw", f"{source.name}__customers"],
        group_name="ingestion",
        partitions_def=partitions,
        pool=WAREHOUSE_POOL,
        kinds={"duckdb", source.format},
        tags={"custodian/system": source.system},
        description=(
            f"{source.description or source.name} Loaded from "
            f"`{source.path}` ({source.format}, {source.encoding}); every column kept as text "
            "with lineage columns; unparsable rows go to quarantine.rejected_rows."
        ),
    )
    def load_source(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        governance: GovernanceResource,
    ) -> dg.MaterializeResult:
        config = governance.load()
        partition_date = date.fromisoformat(context.partition_key)
        this_source = config.source(source.name)
        with warehouse.connect() as con:
            if partition_date < this_source.start_date:
                context.log.info(
                    f"{source.name} has no data before its start_date {this_source.start_date}"
                )
                return dg.MaterializeResult(metadata={"status": "before_start_date"})
            result = load_partition(
                con, this_source, config.landing_root, partition_date, context.run_id
            )
            preview = masked_preview(con, this_source, partition_date) if result.rows_loaded else []
        context.log.info(
            f"{source.name} {partition_date}: {result.status}, {result.rows_loaded} loaded, "
            f"{result.rows_quarantined} quarantined, {result.rows_skipped} skipped"
        )
        metadata: dict[str, dg.MetadataValue | str | int | float] = {
            "status": result.status,
            "file": dg.MetadataValue.path(str(result.file_path)),
            "file_sha256": result.file_sha256 or "",
            "rows_read": result.rows_read,
            "rows_loaded": result.rows_loaded,
            "rows_quarantined": result.rows_quarantined,
            "rows_skipped": result.rows_skipped,
            "duration_s": round(result.duration_s, 3),
            "extra_columns": ", ".join(result.extra_columns) or "none",
            "preview_masked": dg.MetadataValue.json(preview),
        }
        if result.duplicate_of_partition:
            metadata["duplicate_of_partition"] = result.duplicate_of_partition.isoformat()
        if result.message:
            metadata["message"] = result.message
        return dg.MaterializeResult(metadata=metadata)

    return load_source


def build_ingestion_assets(config: GovernanceConfig) -> list[dg.AssetsDefinition]:
    partitions = daily_partitions(config)
    return [_source_asset(source, partitions) for source in config.sources]
