"""Publishing the gated marts: `candidate.<table>` -> `main.<table>`, all at once.

The publish asset depends on every candidate mart, whose Great Expectations suites and dbt
tests are blocking checks: when one fails, Dagster does not run this step, so `main` keeps the
version of the last run that passed (lib/publish.py).
"""

import dagster as dg

from dagster_project.defs.partitions import WAREHOUSE_POOL
from dagster_project.defs.resources import WarehouseResource
from dagster_project.lib.publish import CANDIDATE_SCHEMA, PUBLISHED_SCHEMA, publish


def build_publish_asset(candidates: list[dg.AssetKey]) -> dg.AssetsDefinition:
    """One step publishing every candidate mart (asset keys `candidate/<table>`)."""
    tables = sorted(key.path[-1] for key in candidates)
    specs = [
        dg.AssetSpec(
            key=[PUBLISHED_SCHEMA, table],
            deps=[dg.AssetKey([CANDIDATE_SCHEMA, table])],
            group_name="golden",
            kinds={"duckdb"},
            description=(
                f"The published {table}: what analysts read. A copy of "
                f"{CANDIDATE_SCHEMA}.{table}, replaced only when every blocking check of every "
                "candidate mart passed, in one transaction with the other marts."
            ),
        )
        for table in tables
    ]

    @dg.multi_asset(specs=specs, name="publish_marts", pool=WAREHOUSE_POOL)
    def publish_marts(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        partition = context.run.tags.get("dagster/partition")
        with warehouse.connect() as con:
            publications = publish(con, tables, run_id=context.run.run_id, partition_key=partition)
        for publication in publications:
            yield dg.MaterializeResult(
                asset_key=publication.table_name.split("."),
                metadata={
                    "rows": publication.row_count,
                    "from": publication.candidate_table,
                    "published_at": publication.published_at.isoformat(timespec="seconds"),
                },
            )

    return publish_marts
