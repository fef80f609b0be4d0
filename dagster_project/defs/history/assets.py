"""Record history: the day's delivery becomes versions and change-log rows (lib/history)."""

from datetime import UTC, date, datetime

import dagster as dg

from dagster_project import settings
from dagster_project.config import GovernanceConfig
from dagster_project.defs.partitions import WAREHOUSE_POOL, daily_partitions
from dagster_project.defs.resources import GovernanceResource, WarehouseResource
from dagster_project.lib.history.days import HistoryOrderError, apply_through, rebuild_history
from dagster_project.lib.history.golden import record_golden_changes
from dagster_project.lib.history.records import DayResult, HistoryInputError
from dagster_project.lib.transform.source_models import staging_model_name

HISTORY_KEY = dg.AssetKey(["history", "customer_record_versions"])


class HistoryRunConfig(dg.Config):
    full_refresh: bool = False
    """Forget record history and rebuild it from every loaded day in order (after a change to
    standardisation, or to take in a corrected delivery of a past day)."""


def build_history_asset(config: GovernanceConfig) -> dg.AssetsDefinition:
    @dg.asset(
        key=HISTORY_KEY,
        deps=[
            *(dg.AssetKey(["raw", f"{source.name}__customers"]) for source in config.sources),
            *(
                dg.AssetKey(["staging", staging_model_name(source.name)])
                for source in config.sources
            ),
        ],
        group_name="standardisation",
        partitions_def=daily_partitions(config),
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        description=(
            "Record history (SCD2): each delivery day's new and changed records become versions "
            "(history.customer_record_versions), keys a full extract no longer holds or a delta "
            "marks deleted become tombstones, and every changed field is a row of "
            "history.change_log. Only new and changed records are standardised; re-sent "
            "unchanged records only update history.record_presence. Run with config "
            "full_refresh: true to rebuild history from every loaded day."
        ),
    )
    def customer_record_versions(
        context: dg.AssetExecutionContext,
        config: HistoryRunConfig,
        warehouse: WarehouseResource,
        governance: GovernanceResource,
    ) -> dg.MaterializeResult:
        governance_config = governance.load()
        days = sorted(date.fromisoformat(key) for key in context.partition_keys)
        options = {
            "dbt_project_dir": settings.dbt_project_dir(),
            "run_id": context.run.run_id,
            "recorded_at": datetime.now(UTC),
        }
        results: list[DayResult] = []
        with warehouse.connect() as con:
            try:
                if config.full_refresh:
                    context.log.info(f"full refresh: rebuilding record history through {days[-1]}")
                    results = rebuild_history(
                        con, governance_config, days[-1], on_day=_log_day(context), **options
                    )
                else:
                    for day in days:
                        for result in apply_through(con, governance_config, day, **options):
                            _log_day(context)(result)
                            results.append(result)
            except (HistoryOrderError, HistoryInputError) as exc:
                raise dg.Failure(description=str(exc)) from None
        totals = {
            key: sum(getattr(result, key) for result in results)
            for key in (
                "inserted",
                "updated",
                "deleted",
                "unchanged",
                "standardised",
                "field_changes",
            )
        }
        return dg.MaterializeResult(
            metadata={
                "days_applied": ", ".join(
                    f"{result.partition_date} ({result.status})" for result in results
                ),
                "full_refresh": config.full_refresh,
                **{
                    f"records_{key}" if key != "field_changes" else key: value
                    for key, value in totals.items()
                },
            }
        )

    return customer_record_versions


def _log_day(context: dg.AssetExecutionContext):
    def log(result: DayResult) -> None:
        context.log.info(
            f"history {result.partition_date}: {result.status}; {result.inserted} inserted, "
            f"{result.updated} updated, {result.deleted} deleted, {result.unchanged} unchanged, "
            f"{result.standardised} standardised, {result.field_changes} field changes"
        )

    return log


def build_golden_history_asset(config: GovernanceConfig) -> dg.AssetsDefinition:
    @dg.asset(
        key=["history", "golden_customer_versions"],
        deps=[
            dg.AssetKey(["main", "golden_customers"]),
            dg.AssetKey(["main", "customer_source_xref"]),
            dg.AssetKey(["er", "record_clusters"]),
        ],
        group_name="golden",
        partitions_def=daily_partitions(config),
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        description=(
            "Golden-level history: each published golden customer's surviving values as "
            "versions (SCD2), a history.change_log row for each value that changed and for "
            "each ledger event of the run (issued, split, merged, retired), and the golden "
            "customer ID on the day's record-level changes."
        ),
    )
    def golden_customer_versions(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        day = date.fromisoformat(context.partition_key)
        with warehouse.connect() as con:
            result = record_golden_changes(
                con, day, run_id=context.run.run_id, recorded_at=datetime.now(UTC)
            )
        if result.status == "deferred":
            context.log.info(
                f"golden changes of days after {day} are already recorded; changes found now "
                "are recorded with the next day run in order"
            )
        return dg.MaterializeResult(metadata=result.metadata())

    return golden_customer_versions
