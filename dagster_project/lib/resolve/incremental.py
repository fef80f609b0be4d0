"""Which records a resolution run scores again, and which earlier scores it keeps.

A daily run scores only the candidate pairs with at least one record whose current version it
has not scored yet (new and changed records: record history's `version_valid_from`); a pair of
two records scored before and unchanged since keeps its score in er.pairwise_predictions, and
the pairs of records that left (deleted, or their source removed) are dropped. Clusters, the
ledger and the review queue are then rebuilt from all the pairs, as in a full run.

Everything is scored again when a score could differ for a pair nobody changed:
- a full refresh (`custodian run --full-refresh`), or the first run;
- the model, the thresholds or the blocking settings changed (a digest in er.resolution_state),
  or the blocking keys the budget chose for today's records differ from the last run's;
- the model was trained on other data: its prior and value frequencies are then these records'
  own, which move with every delivery;
- more than `matching.rescore_all_above_changed_share` of the records changed (0, the
  default, scores every pair every day).
What a kept score does not follow is the drift of value frequencies and large-block windows as
other records arrive; a full refresh re-scores everything when that matters (README).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

from dagster_project.lib.warehouse import table_columns, table_exists

SCORED_RECORDS = "er.scored_records"
RESOLUTION_STATE = "er.resolution_state"
PAIRS = "er.pairwise_predictions"
VERSION_COLUMN = "version_valid_from"
# Incremental scoring is off unless configured (config.MatchingConfig explains why).
DEFAULT_RESCORE_ALL_ABOVE = 0.0


@dataclass(frozen=True)
class ScoringPlan:
    mode: str  # full | incremental
    reason: str
    changed_keys: pa.Array | None = None  # records to score pairs of (incremental)
    dropped_keys: pa.Array | None = None  # records whose earlier pairs go (changed or gone)
    previous_blocking_keys: str | None = None


def settings_digest(model: dict, options: dict) -> str:
    """A digest of everything besides the records that decides a pair's score and link."""
    text = json.dumps([model, options], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> set[str]:
    return set(table_columns(con, relation))


def plan_scoring(
    con: duckdb.DuckDBPyConnection,
    source_relation: str,
    digest: str,
    *,
    full_refresh: bool,
    model_fits_data: bool,
    rescore_all_above: float,
) -> ScoringPlan:
    """Full or incremental, with the records to score and the earlier pairs to drop."""
    if full_refresh:
        return ScoringPlan("full", "full refresh")
    if rescore_all_above <= 0:
        return ScoringPlan("full", "incremental scoring is off (rescore_all_above_changed_share)")
    if not model_fits_data:
        return ScoringPlan("full", "the model was trained on other data")
    if VERSION_COLUMN not in _columns(con, source_relation):
        return ScoringPlan("full", f"{source_relation} has no {VERSION_COLUMN}")
    if not all(table_exists(con, t) for t in (SCORED_RECORDS, RESOLUTION_STATE, PAIRS)):
        return ScoringPlan("full", "first run")
    state = con.execute(f"select settings_digest, blocking_keys from {RESOLUTION_STATE}").fetchone()
    if state is None or state[0] != digest:
        return ScoringPlan("full", "the model, thresholds or blocking settings changed")
    changed = (
        con.execute(
            f"""
        select record_key from {source_relation} as records
        where not exists (
            select 1 from {SCORED_RECORDS} as scored
            where scored.record_key = records.record_key
                and scored.{VERSION_COLUMN} is not distinct from records.{VERSION_COLUMN}
        )
        """
        )
        .to_arrow_table()
        .column("record_key")
    )
    gone = (
        con.execute(
            f"""
        select record_key from {SCORED_RECORDS}
        where record_key not in (select record_key from {source_relation})
        """
        )
        .to_arrow_table()
        .column("record_key")
    )
    records = con.execute(f"select count(*) from {source_relation}").fetchone()[0]
    share = (len(changed) + len(gone)) / max(records, 1)
    if share > rescore_all_above:
        return ScoringPlan(
            "full",
            f"{share:.0%} of the records changed, more than rescore_all_above_changed_share "
            f"({rescore_all_above:.0%})",
        )
    dropped = pa.concat_arrays([changed.combine_chunks(), gone.combine_chunks()])
    return ScoringPlan(
        "incremental",
        f"{len(changed):,} new or changed and {len(gone):,} gone of {records:,} records",
        changed_keys=changed.combine_chunks(),
        dropped_keys=dropped,
        previous_blocking_keys=state[1],
    )


def kept_pairs(con: duckdb.DuckDBPyConnection, dropped_keys: pa.Array) -> pa.Table:
    """The earlier pairs of two records that neither changed nor left."""
    con.register("_dropped", pa.table({"record_key": dropped_keys}))
    try:
        return con.execute(
            f"""
            select * from {PAIRS}
            where record_key_l not in (select record_key from _dropped)
                and record_key_r not in (select record_key from _dropped)
            """
        ).to_arrow_table()
    finally:
        con.unregister("_dropped")


def record_scoring_state(
    con: duckdb.DuckDBPyConnection,
    source_relation: str,
    digest: str,
    blocking_keys: str,
    *,
    mode: str,
    run_id: str,
    recorded_at: datetime,
) -> None:
    """What this run scored, for the next run to compare with (in the caller's transaction)."""
    version = (
        VERSION_COLUMN
        if VERSION_COLUMN in _columns(con, source_relation)
        else f"null::date as {VERSION_COLUMN}"
    )
    con.execute(
        f"create or replace table {SCORED_RECORDS} as "
        f"select record_key, {version} from {source_relation}"
    )
    con.execute(
        f"""
        create or replace table {RESOLUTION_STATE} as
        select ? as settings_digest, ? as blocking_keys, ? as mode, ? as run_id,
            ? as recorded_at
        """,
        [digest, blocking_keys, mode, run_id, recorded_at],
    )
