"""Splink model for customer records: settings, training, prediction and clustering.

Splink works in its own in-memory DuckDB so its many intermediate `__splink__*` tables never land
in the warehouse file; only the results are written back (see `resolve_customers`).
Issue 5 deepens this (link_and_dedupe per source, pair budgets, steward labels, ledger).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

# The standardised columns matching reads from int_customer_records.
MATCH_COLUMNS = (
    "record_key",
    "source_name",
    "source_record_id",
    "name_tokens",
    "name_sorted_key",
    "name_joined_key",
    "date_of_birth",
    "national_id",
    "mobile_phone_e164",
    "landline_phone_e164",
    "email_normalised",
    "city_key",
    "postal_code",
)

# Pairs are only scored when they share one of these; each catches matches the others miss
# (a changed phone still shares e-mail, a typo'd e-mail still shares phone, ...).
PREDICTION_BLOCKING_RULES = (
    block_on("mobile_phone_e164"),
    block_on("email_normalised"),
    block_on("national_id"),
    block_on("name_sorted_key", "date_of_birth"),
    block_on("name_sorted_key", "city_key"),
    block_on("date_of_birth", "postal_code"),
)

logger = logging.getLogger(__name__)


def name_comparison() -> cl.CustomComparison:
    """Names in any script and order; a surname alone (王先生, Ms Booth) is weaker evidence."""
    return cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("name_tokens"),
            cll.ExactMatchLevel("name_sorted_key").configure(
                tf_adjustment_column="name_sorted_key"
            ),
            cll.JaroWinklerLevel("name_joined_key", 0.92),
            cll.CustomLevel(
                "list_has_any(name_tokens_l, name_tokens_r)",
                label_for_charts="Share a name part (surname or given name)",
            ),
            cll.ElseLevel(),
        ],
    )


def build_settings() -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_key",
        comparisons=[
            name_comparison(),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=False),
            cl.ExactMatch("national_id"),
            cl.ExactMatch("mobile_phone_e164").configure(term_frequency_adjustments=True),
            cl.ExactMatch("landline_phone_e164"),
            cl.EmailComparison("email_normalised"),
            cl.ExactMatch("city_key"),
            cl.ExactMatch("postal_code"),
        ],
        blocking_rules_to_generate_predictions=list(PREDICTION_BLOCKING_RULES),
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


@dataclass
class ResolutionResult:
    records: int
    pairs_scored: int
    clusters: int
    model_trained: bool
    model_path: Path


def _linker(records: pa.Table, settings: SettingsCreator | dict) -> Linker:
    db_api = DuckDBAPI(duckdb.connect())
    frame = db_api.register(records, table_name="customer_records")
    return Linker(frame, settings, log_level=logging.WARNING)


def train_model(records: pa.Table, model_path: Path, seed: int = 42) -> dict:
    """Estimate u by random sampling (fixed seed) and m by EM over two blocking rules."""
    linker = _linker(records, build_settings())
    training = linker.training
    training.estimate_probability_two_random_records_match(
        [block_on("national_id"), block_on("email_normalised"), block_on("mobile_phone_e164")],
        recall=0.8,
    )
    training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
    # Two blocks so every comparison is estimated in at least one: names+DOB block leaves the
    # contact fields free, the phone block leaves names and dates free.
    training.estimate_parameters_using_expectation_maximisation(
        block_on("name_sorted_key", "date_of_birth"), record_sample_proportion=1.0
    )
    training.estimate_parameters_using_expectation_maximisation(
        block_on("mobile_phone_e164"), record_sample_proportion=1.0
    )
    model = linker.misc.save_model_to_json()
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model_path.write_text(json.dumps(model, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return model


def resolve_customers(
    warehouse: duckdb.DuckDBPyConnection,
    model_path: Path,
    review_threshold: float,
    auto_link_threshold: float,
    source_relation: str = "intermediate.int_customer_records",
) -> ResolutionResult:
    """Score pairs, cluster at the auto-link threshold and write `er.*` tables."""
    columns = ", ".join(MATCH_COLUMNS)
    records = warehouse.execute(f"select {columns} from {source_relation}").to_arrow_table()
    trained = False
    if model_path.is_file():
        settings: SettingsCreator | dict = json.loads(model_path.read_text(encoding="utf-8"))
    else:
        logger.warning("no match model at %s: training one from the current records", model_path)
        settings = train_model(records, model_path)
        trained = True

    linker = _linker(records, settings)
    predictions = linker.inference.predict(threshold_match_probability=review_threshold)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=auto_link_threshold
    )
    pairs = (
        predictions.as_duckdbpyrelation()
        .select("record_key_l, record_key_r, match_weight, match_probability")
        .to_arrow_table()
    )
    membership = clusters.as_duckdbpyrelation().select("record_key, cluster_id").to_arrow_table()

    warehouse.register("_pairs", pairs)
    warehouse.register("_membership", membership)
    warehouse.execute("begin transaction")
    try:
        warehouse.execute(
            """
            create or replace table er.pairwise_predictions as
            select record_key_l, record_key_r, match_weight, match_probability,
                   match_probability >= ? as is_auto_linked
            from _pairs
            """,
            [auto_link_threshold],
        )
        # A cluster's ID derives from its smallest member key, so identical input gives
        # identical IDs. The ledger that keeps IDs stable as clusters grow, merge and split
        # is still to come (issue 5).
        warehouse.execute(
            f"""
            create or replace table er.record_clusters as
            with clustered as (
                select m.record_key, m.cluster_id, r.source_name, r.source_record_id,
                       min(m.record_key) over (partition by m.cluster_id) as anchor_key
                from _membership as m
                join {source_relation} as r using (record_key)
            )
            select record_key, source_name, source_record_id,
                   'GC' || upper(substr(sha256(anchor_key), 1, 14)) as golden_customer_id
            from clustered
            order by golden_customer_id, record_key
            """
        )
        warehouse.execute("commit")
    except BaseException:
        warehouse.execute("rollback")
        raise
    finally:
        warehouse.unregister("_pairs")
        warehouse.unregister("_membership")
    cluster_count = warehouse.execute(
        "select count(distinct golden_customer_id) from er.record_clusters"
    ).fetchone()[0]
    return ResolutionResult(
        records=records.num_rows,
        pairs_scored=pairs.num_rows,
        clusters=cluster_count,
        model_trained=trained,
        model_path=model_path,
    )
