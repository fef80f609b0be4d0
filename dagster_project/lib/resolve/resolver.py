"""One resolution run: score pairs, cluster with steward decisions, keep golden IDs stable.

Stages, each timed for Dagster metadata and `make bench`:
  input     read the standardised records (splink_model.match_input_sql)
  predict   Splink blocking and scoring with the saved model (splink_model.predict_pairs)
  cluster   connected components over auto-linked pairs, must-/cannot-links from stewards
  ledger    map clusters onto stable golden IDs (ledger.assign_golden_ids)
  publish   write er.pairwise_predictions, er.record_clusters and the review queue in one
            transaction, so the ledger, the published assignment and the queue never disagree
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from dagster_project.lib.resolve.blocking import (
    DEFAULT_BLOCK_WINDOW,
    DEFAULT_MAX_PAIRS_PER_RECORD,
    DEFAULT_MAX_RECORDS_PER_BLOCK_KEY,
)
from dagster_project.lib.resolve.clustering import (
    ClusteringResult,
    auto_linked_edges,
    cluster_records,
)
from dagster_project.lib.resolve.estimation import prior_from_deterministic_rules
from dagster_project.lib.resolve.incremental import (
    DEFAULT_RESCORE_ALL_ABOVE,
    ScoringPlan,
    kept_pairs,
    plan_scoring,
    record_scoring_state,
    settings_digest,
)
from dagster_project.lib.resolve.ledger import LedgerResult, assign_golden_ids
from dagster_project.lib.resolve.review import (
    QueueRefresh,
    ensure_review_tables,
    pair_constraints,
    refresh_review_queue,
)
from dagster_project.lib.resolve.splink_model import load_model, match_input_sql, predict_pairs

logger = logging.getLogger(__name__)

SOURCE_RELATION = "intermediate.int_customer_records"


@dataclass
class ResolutionResult:
    records: int
    pairs_scored: int
    auto_linked_pairs: int
    name_conflict_pairs: int
    golden_customers: int
    largest_cluster: int
    clustering: ClusteringResult
    ledger: LedgerResult
    queue: QueueRefresh
    stage_seconds: dict[str, float] = field(default_factory=dict)
    # One row per blocking key: pairs, used, why not (blocking.choose_blocking_keys).
    blocking_plan: list[dict] = field(default_factory=list)
    # What the model expects of the thresholds (splink_model.expected_accuracy).
    expected_accuracy: dict = field(default_factory=dict)
    # Where the prior came from when the model was trained on other data (else None).
    prior_from_data: str | None = None
    # full: every pair scored; incremental: the pairs of new and changed records (why).
    scoring_mode: str = "full"
    scoring_reason: str = ""
    records_rescored: int = 0


@contextmanager
def _timed(stage_seconds: dict[str, float], stage: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    stage_seconds[stage] = round(time.perf_counter() - started, 3)


def resolve_customers(
    warehouse: duckdb.DuckDBPyConnection,
    *,
    model_path: Path,
    review_threshold: float,
    auto_link_threshold: float,
    run_id: str,
    recorded_at: datetime,
    max_records_per_block_key: int = DEFAULT_MAX_RECORDS_PER_BLOCK_KEY,
    review_name_conflicts: bool = True,
    source_relation: str = SOURCE_RELATION,
    block_window: int = DEFAULT_BLOCK_WINDOW,
    max_pairs_per_record: float = DEFAULT_MAX_PAIRS_PER_RECORD,
    model_fits_data: bool = True,
    full_refresh: bool = False,
    rescore_all_above: float = DEFAULT_RESCORE_ALL_ABOVE,
) -> ResolutionResult:
    """Resolve every record in `source_relation` into golden customers (see module docstring).

    `model_fits_data` is False when `model_path` was trained on other data (the shipped demo
    model on a deployment that has not trained its own): the prior then comes from these
    records' deterministic rules (`estimation.prior_from_deterministic_rules`) and value
    frequencies from these records (`splink_model.splink_linker`); m and u stay the model's.

    Only the pairs of new and changed records are scored when the earlier scores still hold
    (lib/resolve/incremental.py); `full_refresh` scores every pair.

    Raises:
        ModelError: no saved model at `model_path`, or one that no longer fits the columns.
    """
    stages: dict[str, float] = {}
    blocking_plan: list[dict] = []
    estimates: dict = {}
    model = load_model(model_path)
    prior_from_data = None
    with _timed(stages, "input"):
        records = warehouse.execute(match_input_sql(source_relation)).to_arrow_table()
    if not model_fits_data:
        # A prior is a share of its own training set's pairs: these records' rules give theirs.
        found = prior_from_deterministic_rules(records)
        if found is not None:
            model = {**model, "probability_two_random_records_match": found[0]}
            prior_from_data = f"{found[0]:.3g} from {found[1]}"
    options = {
        "review_threshold": review_threshold,
        "auto_link_threshold": auto_link_threshold,
        "max_records_per_block_key": max_records_per_block_key,
        "review_name_conflicts": review_name_conflicts,
        "block_window": block_window,
        "max_pairs_per_record": max_pairs_per_record,
        "model_fits_data": model_fits_data,
    }
    digest = settings_digest(model, options)
    plan = plan_scoring(
        warehouse,
        source_relation,
        digest,
        full_refresh=full_refresh,
        model_fits_data=model_fits_data,
        rescore_all_above=rescore_all_above,
    )
    with _timed(stages, "predict"):
        pairs, plan = _scored_pairs(
            warehouse, records, model, options, plan, blocking_plan, estimates
        )
    with _timed(stages, "cluster"):
        ensure_review_tables(warehouse)
        must_link, cannot_link = pair_constraints(warehouse)
        auto_linked = auto_linked_edges(pairs)
        clustering = cluster_records(
            records.column("record_key"),
            auto_linked,
            threshold=auto_link_threshold,
            must_link=must_link,
            cannot_link=cannot_link,
        )
    if clustering.conflict_count:
        logger.warning(
            "%d must-link decision(s) contradict a cannot-link decision; the cannot-link holds. "
            "List them with `custodian review list`.",
            clustering.conflict_count,
        )
    warehouse.register("_pairs", pairs)
    warehouse.execute("begin transaction")
    try:
        with _timed(stages, "ledger"):
            ledger = assign_golden_ids(
                warehouse, clustering.membership, run_id=run_id, recorded_at=recorded_at
            )
        with _timed(stages, "publish"):
            _publish(warehouse, ledger.assignments, source_relation)
            record_scoring_state(
                warehouse,
                source_relation,
                digest,
                _used_keys(blocking_plan),
                mode=plan.mode,
                run_id=run_id,
                recorded_at=recorded_at,
            )
            queue = refresh_review_queue(
                warehouse, run_id=run_id, queued_at=recorded_at, own_transaction=False
            )
        warehouse.execute("commit")
    except BaseException:
        warehouse.execute("rollback")
        raise
    finally:
        warehouse.unregister("_pairs")
        warehouse.unregister("_assignments")
    golden, largest = warehouse.execute(
        "select count(*), coalesce(max(n), 0) from ("
        "select count(*) as n from er.record_clusters group by golden_customer_id)"
    ).fetchone()
    return ResolutionResult(
        records=records.num_rows,
        pairs_scored=pairs.num_rows,
        auto_linked_pairs=auto_linked.num_rows,
        name_conflict_pairs=pc.sum(pairs.column("has_name_conflict")).as_py() or 0,
        golden_customers=golden,
        largest_cluster=largest,
        clustering=clustering,
        ledger=ledger,
        queue=queue,
        stage_seconds=stages,
        blocking_plan=blocking_plan,
        expected_accuracy=estimates,
        prior_from_data=prior_from_data,
        scoring_mode=plan.mode,
        scoring_reason=plan.reason,
        records_rescored=records.num_rows if plan.changed_keys is None else len(plan.changed_keys),
    )


def _used_keys(blocking_plan: list[dict]) -> str:
    return ",".join(row["key"] for row in blocking_plan if row["used"])


def _scored_pairs(
    warehouse: duckdb.DuckDBPyConnection,
    records: pa.Table,
    model: dict,
    options: dict,
    plan: ScoringPlan,
    blocking_plan: list[dict],
    estimates: dict,
) -> tuple[pa.Table, ScoringPlan]:
    """Every pair at or above the review threshold: all scored now (a full run), or the new
    and changed records' pairs scored now with the earlier pairs of the others."""

    def predict(changed_keys: pa.Array | None) -> pa.Table:
        blocking_plan.clear()
        return predict_pairs(
            records,
            model,
            blocking_plan=blocking_plan,
            estimates=estimates,
            changed_keys=changed_keys,
            **options,
        )

    if plan.mode == "full":
        return _in_key_order(predict(None)), plan
    fresh = predict(plan.changed_keys)
    if _used_keys(blocking_plan) != plan.previous_blocking_keys:
        # The budget chose other keys for today's records: yesterday's pairs came from others.
        full = ScoringPlan("full", "the blocking keys chosen for the records changed")
        return _in_key_order(predict(None)), full
    warehouse.register("_fresh_pairs", fresh)
    try:
        kept = kept_pairs(warehouse, plan.dropped_keys)
        warehouse.register("_kept_pairs", kept)
        combined = warehouse.execute(
            "select * from _fresh_pairs union all by name select * from _kept_pairs"
        ).to_arrow_table()
    finally:
        warehouse.unregister("_fresh_pairs")
        warehouse.unregister("_kept_pairs")
    return _in_key_order(combined), plan


def _in_key_order(pairs: pa.Table) -> pa.Table:
    # One order whichever way the pairs were gathered, so clustering sees the same input.
    return pairs.sort_by([("record_key_l", "ascending"), ("record_key_r", "ascending")])


def _publish(
    warehouse: duckdb.DuckDBPyConnection, assignments: pa.Table, source_relation: str
) -> None:
    warehouse.execute(
        """
        create or replace table er.pairwise_predictions as
        select record_key_l, record_key_r, match_weight, match_probability, is_auto_linked,
               has_name_conflict, match_explanation
        from _pairs
        """
    )
    warehouse.register("_assignments", assignments)
    warehouse.execute(
        f"""
        create or replace table er.record_clusters as
        select assignments.record_key, records.source_name, records.source_record_id,
               assignments.golden_customer_id
        from _assignments as assignments
        join {source_relation} as records using (record_key)
        order by assignments.golden_customer_id, assignments.record_key
        """
    )
