"""Entity resolution: Splink links the standardised records into golden customers; a separate
training job refits the model (never part of the daily run)."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from dagster_project import settings
from dagster_project.config import GovernanceConfig
from dagster_project.defs.partitions import WAREHOUSE_POOL
from dagster_project.defs.resources import GovernanceResource, WarehouseResource
from dagster_project.lib.resolve.model_checks import (
    DEFAULT_MAX_CLUSTER_SIZE,
    ModelValidationError,
    model_for_run,
)
from dagster_project.lib.resolve.resolver import SOURCE_RELATION, resolve_customers
from dagster_project.lib.resolve.review import labelled_pairs
from dagster_project.lib.resolve.training import train_and_report


def _config_and_model_path(governance: GovernanceResource) -> tuple[GovernanceConfig, Path]:
    config = governance.load()
    return config, governance.resolve_path(config.matching.model_path)


class ResolutionRunConfig(dg.Config):
    full_refresh: bool = False
    """Score every candidate pair, not only those of new and changed records."""


@dg.asset(
    key=["er", "record_clusters"],
    deps=[dg.AssetKey(["intermediate", "int_customer_records"])],
    group_name="resolution",
    pool=WAREHOUSE_POOL,
    kinds={"splink", "duckdb"},
    description=(
        "One row per source record with its stable golden customer ID: Splink scores candidate "
        "pairs with the saved model (er.pairwise_predictions), auto-linked pairs and steward "
        "decisions form clusters, and the ledger (er.golden_id_ledger, er.golden_ids) keeps IDs "
        "stable as clusters grow, merge and split. Pairs in the review band go to "
        "er.review_queue."
    ),
)
def record_clusters(
    context: dg.AssetExecutionContext,
    config: ResolutionRunConfig,
    warehouse: WarehouseResource,
    governance: GovernanceResource,
) -> dg.MaterializeResult:
    governance_config, model_path = _config_and_model_path(governance)
    # A config that has not trained its own model yet runs with the shipped demo model.
    model_path, model_warning = model_for_run(model_path)
    if model_warning:
        context.log.warning(model_warning)
    matching = governance_config.matching
    with warehouse.connect() as con:
        result = resolve_customers(
            con,
            model_path=model_path,
            review_threshold=matching.review_threshold,
            auto_link_threshold=matching.auto_link_threshold,
            max_records_per_block_key=matching.max_records_per_block_key,
            review_name_conflicts=matching.review_name_conflicts,
            block_window=matching.block_window,
            max_pairs_per_record=matching.max_pairs_per_record,
            # The shipped model's weights came from the demo: value frequencies from these data.
            model_fits_data=model_warning is None,
            full_refresh=config.full_refresh,
            rescore_all_above=matching.rescore_all_above_changed_share,
            run_id=context.run_id,
            recorded_at=datetime.now(UTC),
        )
    if result.clustering.conflict_count:
        context.log.warning(
            f"{result.clustering.conflict_count} must-link decision(s) contradict a cannot-link "
            "decision; the cannot-link holds"
        )
    return dg.MaterializeResult(
        metadata={
            "records": result.records,
            "scoring": f"{result.scoring_mode}: {result.scoring_reason}",
            "records_rescored": result.records_rescored,
            "pairs_scored": result.pairs_scored,
            "auto_linked_pairs": result.auto_linked_pairs,
            "name_conflict_pairs": result.name_conflict_pairs,
            "golden_customers": result.golden_customers,
            "largest_cluster": result.largest_cluster,
            "cannot_link_edges_dropped": result.clustering.cannot_link_edges_dropped,
            "decision_conflicts": result.clustering.conflict_count,
            "review_queue_open": result.queue.open_total,
            "review_queue_new": result.queue.queued,
            **result.ledger.metadata(),
            **{f"seconds_{stage}": seconds for stage, seconds in result.stage_seconds.items()},
            **{
                key: value
                for key, value in result.expected_accuracy.items()
                if key.startswith("expected_") and value is not None
            },
            "blocking_keys_used": ", ".join(
                f"{row['key']} ({row['pairs']:,})" for row in result.blocking_plan if row["used"]
            )
            or "none",
            "blocking_keys_left_out": dg.MetadataValue.json(
                {row["key"]: row["reason"] for row in result.blocking_plan if not row["used"]}
            ),
            "model": dg.MetadataValue.path(str(model_path)),
            **({"model_warning": model_warning} if model_warning else {}),
            **({"prior_from_data": result.prior_from_data} if result.prior_from_data else {}),
        }
    )


@dg.asset(
    key=["er", "match_model"],
    deps=[dg.AssetKey(["intermediate", "int_customer_records"])],
    group_name="resolution_training",
    pool=WAREHOUSE_POOL,
    kinds={"splink"},
    description=(
        "The Splink match model (JSON at matching.model_path, relative to the config file): the "
        "prior from deterministic rules that hold on the data, u by random sampling with a fixed "
        "seed, m by EM over the blocks the data's fields allow, and m from steward labels once "
        "there are enough. It replaces the working model only after validation (usable "
        "parameters; a trial prediction on a sample links a plausible share without a runaway "
        "cluster); a failed validation fails this asset and leaves the working model. What "
        "training worked around is listed in training_warnings. Charts (match weights, m/u "
        "parameters, blocking analysis) are written as offline HTML under the reports folder. "
        "Run by the retrain_match_model job, never by the daily pipeline."
    ),
)
def match_model(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    governance: GovernanceResource,
) -> dg.MaterializeResult:
    config, model_path = _config_and_model_path(governance)
    matching = config.matching
    with warehouse.connect(read_only=True) as con:
        try:
            outcome = train_and_report(
                con,
                source_relation=SOURCE_RELATION,
                labels=labelled_pairs(con),
                model_path=model_path,
                charts_dir=settings.reports_dir() / "splink",
                max_records_per_block_key=matching.max_records_per_block_key,
                auto_link_threshold=matching.auto_link_threshold,
                review_name_conflicts=matching.review_name_conflicts,
                max_cluster_size=_largest_customer_allowed(config),
                # The trial prediction blocks as the daily run does.
                prediction_options={
                    "block_window": matching.block_window,
                    "max_pairs_per_record": matching.max_pairs_per_record,
                },
            )
        except ModelValidationError as exc:
            raise dg.Failure(description=str(exc)) from None
    for warning in outcome.warnings:
        context.log.warning(warning)
    context.log.info(f"match model validated and saved to {model_path}")
    return dg.MaterializeResult(metadata=outcome.metadata())


def _largest_customer_allowed(config: GovernanceConfig) -> int | None:
    """The golden_customers gate's bound on records per customer, as governance.yaml sets it:
    a trained model whose trial clusters exceed it would fail that gate every day."""
    override = config.quality.gates.get("candidate.golden_customers", {}).get(
        "gx_source_record_count__between__critical"
    )
    if override is None:
        return DEFAULT_MAX_CLUSTER_SIZE
    if not override.enabled:
        return None
    bound = override.kwargs().get("max_value")
    try:
        return int(bound) if bound is not None else DEFAULT_MAX_CLUSTER_SIZE
    except (TypeError, ValueError):  # a bound written as a SQL expression: keep the default
        return DEFAULT_MAX_CLUSTER_SIZE


retrain_match_model_job = dg.define_asset_job(
    "retrain_match_model",
    selection=dg.AssetSelection.assets(match_model),
    description="Refit the Splink match model from the current records and steward labels.",
)
