"""Entity resolution: Splink links the standardised records into golden customers."""

import dagster as dg

from dagster_project.defs.partitions import WAREHOUSE_POOL
from dagster_project.defs.resources import GovernanceResource, WarehouseResource
from dagster_project.lib.resolve.splink_model import resolve_customers


@dg.asset(
    key=["er", "record_clusters"],
    deps=[dg.AssetKey(["intermediate", "int_customer_records"])],
    group_name="resolution",
    pool=WAREHOUSE_POOL,
    kinds={"splink", "duckdb"},
    description=(
        "One row per source record with the golden customer it resolves to: Splink scores "
        "candidate pairs (er.pairwise_predictions) and clusters those at or above the "
        "auto-link threshold from governance.yaml."
    ),
)
def record_clusters(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    governance: GovernanceResource,
) -> dg.MaterializeResult:
    config = governance.load()
    model_path = governance.resolve_path(config.matching.model_path)
    with warehouse.connect() as con:
        result = resolve_customers(
            con,
            model_path=model_path,
            review_threshold=config.matching.review_threshold,
            auto_link_threshold=config.matching.auto_link_threshold,
        )
    if result.model_trained:
        context.log.warning(f"no match model was saved; trained one and saved it to {model_path}")
    return dg.MaterializeResult(
        metadata={
            "records": result.records,
            "pairs_scored": result.pairs_scored,
            "golden_customers": result.clusters,
            "model": dg.MetadataValue.path(str(model_path)),
            "model_trained_this_run": result.model_trained,
        }
    )
