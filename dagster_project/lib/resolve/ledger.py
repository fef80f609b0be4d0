"""The golden-ID ledger: stable golden_customer_ids over a daily re-clustering (issue 5).

Splink's cluster IDs are arbitrary labels that change whenever a cluster changes. Downstream
systems hold golden_customer_ids for years, so each day's clustering is mapped onto the IDs
already issued, in DuckDB SQL: one overlap table (previous ID x current cluster, with counts) and
hash aggregates, no Python loop over records. 1,000,000 records in 590k clusters cost ~8 s of CPU
(measured on 2 busy shared cores: 21-25 s wall with the machine at load 7).

1. Overlap. Every current record that had a golden ID in the previous run counts towards the pair
   (previous ID, current cluster).
2. Grow and split. Each previous ID follows its *keeper* cluster: the one holding most of its
   previous records (tie: the part holding the smallest of those record keys). Records added to
   the cluster do not count, so a cluster that grows keeps its ID, and when one splits the larger
   part keeps the ID.
3. Merge. When several previous IDs have the same keeper cluster, the oldest survives (earliest
   `issued_at`, tie: smallest ID); the others are retired with `merged_into` the survivor. If the
   larger part of a split is merged into an older ID, the split-off parts still get new IDs.
4. New IDs. A cluster nobody keeps gets a new ID. It is `split_from` the previous ID that gave it
   most records (tie: smallest record key), or plainly `issued` when all its records are new.
5. Retire. A previous ID none of whose records remain (erasure, purge) is `retired`.

New IDs keep the pre-ledger format, 'GC' || upper(substr(sha256(anchor_key), 1, 14)), where the
anchor is the cluster's smallest record_key, so a fresh warehouse fed the same input issues the
same IDs. An ID is never issued twice: when that ID was ever issued before (a split part anchored
on the old cluster's anchor, an erased record coming back) or clashes with another new ID of the
same run, the anchor is salted, sha256(anchor_key || '#' || salt) with salt 1, 2, ..., until the
ID is unused. Salting depends only on the ledger's history, so identical inputs still give
identical IDs.

Tables (schema `er`; created on the first run):

- er.golden_id_ledger: one row per event on a golden ID, append-only.
    event: 'issued' (new ID, all records new) | 'split_from' (new ID for a part split off
           `related_golden_customer_id`) | 'merged_into' (retired; its cluster merged into
           the older `related_golden_customer_id`) | 'retired' (retired; no records left) |
           'adopted' (an ID found in er.record_clusters that the ledger had not issued: a
           warehouse that predates the ledger).
    record_count: records holding the ID at the event; for the two retiring events, the records
                  it held in the previous run.
    IDs that are merely kept (grown or shrunk) write no row: ~600k rows a day would say nothing.
- er.golden_ids: one row per golden ID ever issued, with its current state (status active |
  retired, issued_at, issued_run_id, retired_at, retired_run_id, merged_into, split_from) and
  `resolved_golden_customer_id`, the end of its merged_into chain, kept up to date on every merge
  so following an ID is a single lookup however long the chain.
- er.golden_id_resolution (view): golden_customer_id -> active_golden_customer_id (NULL when the
  customer is gone). Join on it to map old IDs held downstream to current ones; a view works
  whatever name the warehouse is attached under.
- er.resolve_golden_customer_id(id) (macro): the same for one ID. Macros bind by search path, so
  it works only where the warehouse is the default database (not under a dbt ATTACH alias).

Transactions: if `con` is inside a transaction, every write joins it and nothing is committed or
rolled back here, also on error (the caller rolls back). The caller should replace
er.record_clusters in that same transaction so the ledger and the published assignment never
disagree. Otherwise this module opens its own transaction and commits it (or rolls it back on
error); if the publish then fails, the next run heals: published IDs the ledger has since retired
are followed to their survivor, and active IDs nobody holds are retired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

GOLDEN_ID_SQL = "'GC' || upper(substr(sha256({key}), 1, 14))"

# Salting converges in one or two rounds (a clash needs a reused anchor or a 56-bit hash
# collision); the cap turns an impossible endless loop into an error.
MAX_SALT_ROUNDS = 64

_INPUT_VIEW = "_ledger_input"
_TEMP_TABLES = (
    "_ledger_clusters",
    "_ledger_current",
    "_ledger_previous",
    "_ledger_previous_ids",
    "_ledger_overlap",
    "_ledger_claims",
    "_ledger_fresh",
    "_ledger_clashes",
    "_ledger_retiring",
    "_ledger_events",
    "_ledger_cluster_ids",
)

_CREATE_TABLES = """
create table if not exists er.golden_ids (
    golden_customer_id varchar not null,
    status varchar not null,
    issued_at timestamp not null,
    issued_run_id varchar not null,
    retired_at timestamp,
    retired_run_id varchar,
    merged_into varchar,
    split_from varchar,
    resolved_golden_customer_id varchar not null
);
create table if not exists er.golden_id_ledger (
    run_id varchar not null,
    recorded_at timestamp not null,
    event varchar not null,
    golden_customer_id varchar not null,
    related_golden_customer_id varchar,
    record_count bigint not null
);
create or replace view er.golden_id_resolution as
select ids.golden_customer_id,
       ids.status,
       case when resolved.status = 'active' then resolved.golden_customer_id end
           as active_golden_customer_id
from er.golden_ids as ids
join er.golden_ids as resolved
    on resolved.golden_customer_id = ids.resolved_golden_customer_id;
create or replace macro er.resolve_golden_customer_id(golden_id) as (
    select active_golden_customer_id
    from er.golden_id_resolution
    where golden_customer_id = golden_id
);
"""


class LedgerInputError(ValueError):
    """The clusters table breaks the contract: a record missing a key or cluster, or twice."""


@dataclass(frozen=True)
class LedgerResult:
    """One run of the ledger.

    Attributes:
        assignments: (record_key, golden_customer_id), one row per input record.
        issued: new IDs for clusters of entirely new records.
        split: new IDs for parts split off a previous ID.
        kept: previous IDs that are still active.
        merged: previous IDs retired into an older one.
        retired: previous IDs retired because none of their records remain.
        adopted: IDs found in er.record_clusters that the ledger had not issued (first run on a
            warehouse that predates the ledger).
        unchanged_record_share: of the records present in both runs, the share whose golden ID
            did not change (None on the first run). Below ~0.99 on a normal day is worth a look.
    """

    assignments: pa.Table
    issued: int
    split: int
    kept: int
    merged: int
    retired: int
    adopted: int
    unchanged_record_share: float | None

    @property
    def active_ids(self) -> int:
        return self.kept + self.issued + self.split

    def metadata(self) -> dict[str, int | float]:
        """Counts for Dagster's MaterializeResult metadata."""
        counts: dict[str, int | float] = {
            "golden_ids_active": self.active_ids,
            "golden_ids_issued": self.issued,
            "golden_ids_split": self.split,
            "golden_ids_kept": self.kept,
            "golden_ids_merged": self.merged,
            "golden_ids_retired": self.retired,
            "golden_ids_adopted": self.adopted,
        }
        if self.unchanged_record_share is not None:
            counts["unchanged_record_share"] = round(self.unchanged_record_share, 6)
        return counts


def assign_golden_ids(
    con: duckdb.DuckDBPyConnection,
    clusters: pa.Table,
    *,
    run_id: str,
    recorded_at: datetime,
) -> LedgerResult:
    """Map today's clusters onto stable golden IDs and record what changed.

    Args:
        con: warehouse connection; schema `er` must exist. The previous run's assignment is read
            from er.record_clusters (record_key, golden_customer_id) when that table exists.
        clusters: (record_key, cluster_id) with every current record exactly once; cluster_id
            is any label.
        run_id: stored on every ledger row and new ID (e.g. the Dagster run ID).
        recorded_at: the run's timestamp; stored as naive UTC (a naive value is taken as UTC).
            It orders IDs for merges, so it should not go backwards between runs.

    Returns:
        The assignment for every input record and the counts of what happened.

    Raises:
        LedgerInputError: a null or duplicated record_key, or a null cluster_id.
    """
    missing = {"record_key", "cluster_id"} - set(clusters.column_names)
    if missing:
        raise LedgerInputError(f"clusters lacks column(s) {sorted(missing)}")
    recorded_at_utc = (
        recorded_at.astimezone(UTC).replace(tzinfo=None) if recorded_at.tzinfo else recorded_at
    )
    owns_transaction = not _in_transaction(con)
    con.register(_INPUT_VIEW, clusters.select(["record_key", "cluster_id"]))
    try:
        if owns_transaction:
            con.execute("begin transaction")
        try:
            result = _run(con, run_id, recorded_at_utc)
            for table in _TEMP_TABLES:
                con.execute(f"drop table if exists temp.{table}")
            if owns_transaction:
                con.execute("commit")
        except BaseException:
            if owns_transaction:
                con.execute("rollback")
            raise
    finally:
        con.unregister(_INPUT_VIEW)
    return result


def _in_transaction(con: duckdb.DuckDBPyConnection) -> bool:
    # DuckDB has no "am I in a transaction" query, and a probing BEGIN would abort the caller's
    # transaction. In auto-commit mode every statement gets a fresh transaction ID; inside an
    # explicit transaction the ID stays put.
    first = con.execute("select txid_current()").fetchone()[0]
    second = con.execute("select txid_current()").fetchone()[0]
    return first == second


def _has_previous_assignment(con: duckdb.DuckDBPyConnection) -> bool:
    columns = {
        row[0]
        for row in con.execute(
            """
            select column_name from information_schema.columns
            where table_catalog = current_database()
              and table_schema = 'er' and table_name = 'record_clusters'
            """
        ).fetchall()
    }
    if columns and not {"record_key", "golden_customer_id"} <= columns:
        raise LedgerInputError(
            "er.record_clusters exists but lacks record_key or golden_customer_id; "
            "the ledger cannot tell which IDs were published"
        )
    return bool(columns)


def _run(con: duckdb.DuckDBPyConnection, run_id: str, recorded_at: datetime) -> LedgerResult:
    _load_current(con)
    con.execute(_CREATE_TABLES)
    has_previous = _has_previous_assignment(con)
    _load_previous(con, has_previous)
    _collect_unknown_ids(con)
    _match_clusters(con, recorded_at)
    _issue_fresh_ids(con)
    _collect_events(con)
    counts = dict(
        con.execute("select event, count(*) from _ledger_events group by event").fetchall()
    )
    _write_ledger(con, run_id, recorded_at, counts)

    kept = con.execute("select count(*) from _ledger_claims where is_survivor").fetchone()[0]
    # Read off the overlap rather than joining 1M records again; it compares with the previous
    # IDs as the ledger normalised them, which differ from the published ones only after a
    # failed publish.
    share = con.execute(
        """
        select sum(overlap.shared_count)
                   filter (where overlap.previous_id = ids.golden_customer_id)
               / sum(overlap.shared_count)
        from _ledger_overlap as overlap
        join _ledger_cluster_ids as ids using (anchor_key)
        """
    ).fetchone()[0]
    # Unordered: sorting 1M keys costs ~0.3 s and the caller sorts its table anyway.
    assignments = con.execute(
        """
        select current.record_key, ids.golden_customer_id
        from _ledger_current as current
        join _ledger_cluster_ids as ids using (anchor_key)
        """
    ).to_arrow_table()
    return LedgerResult(
        assignments=assignments,
        issued=counts.get("issued", 0),
        split=counts.get("split_from", 0),
        kept=kept,
        merged=counts.get("merged_into", 0),
        retired=counts.get("retired", 0),
        adopted=counts.get("adopted", 0),
        unchanged_record_share=float(share) if share is not None else None,
    )


def _load_current(con: duckdb.DuckDBPyConnection) -> None:
    records, distinct_keys, incomplete = con.execute(
        f"""
        select count(*), count(distinct record_key),
               count(*) filter (where record_key is null or cluster_id is null)
        from {_INPUT_VIEW}
        """
    ).fetchone()
    if incomplete:
        raise LedgerInputError(f"{incomplete} clusters rows lack a record_key or cluster_id")
    if distinct_keys != records:
        raise LedgerInputError(
            f"{records - distinct_keys} record_keys appear more than once in clusters"
        )
    # The anchor (smallest record_key) names a cluster from here on: cluster_id labels are
    # arbitrary, the anchor is the same for the same set of records.
    con.execute(
        f"""
        create or replace temp table _ledger_clusters as
        select cluster_id, min(record_key::varchar) as anchor_key, count(*) as record_count
        from {_INPUT_VIEW}
        group by cluster_id
        """
    )
    con.execute(
        f"""
        create or replace temp table _ledger_current as
        select input.record_key::varchar as record_key, clusters.anchor_key
        from {_INPUT_VIEW} as input
        join _ledger_clusters as clusters using (cluster_id)
        """
    )


def _load_previous(con: duckdb.DuckDBPyConnection, has_previous: bool) -> None:
    # The published IDs pass through the ledger: one the ledger already retired (a publish that
    # failed after the ledger committed) follows its merged_into chain to the active ID, or is
    # dropped when the customer is gone, so only active IDs can ever be kept.
    source = (
        """
        select published.record_key::varchar as record_key,
               case
                   when known.golden_customer_id is null then published.golden_customer_id
                   when known.status = 'active' then known.golden_customer_id
                   else resolution.active_golden_customer_id
               end as golden_customer_id,
               known.golden_customer_id is null as is_unknown_to_ledger
        from er.record_clusters as published
        left join er.golden_ids as known
            on known.golden_customer_id = published.golden_customer_id
        left join (
            select golden_customer_id, active_golden_customer_id
            from er.golden_id_resolution
            where status = 'retired'
        ) as resolution
            on resolution.golden_customer_id = published.golden_customer_id
        where published.golden_customer_id is not null
        """
        if has_previous
        else "select null::varchar as record_key, null::varchar as golden_customer_id, "
        "false as is_unknown_to_ledger where false"
    )
    con.execute(
        f"""
        create or replace temp table _ledger_previous as
        select * from ({source}) where golden_customer_id is not null
        """
    )


def _collect_unknown_ids(con: duckdb.DuckDBPyConnection) -> None:
    # Adopted IDs are written to er.golden_ids together with this run's new IDs, in one insert
    # (see _write_ledger for why only one).
    con.execute(
        """
        create or replace temp table _ledger_events as
        select 'adopted' as event, golden_customer_id,
               null::varchar as related_golden_customer_id, count(*) as record_count
        from _ledger_previous
        where is_unknown_to_ledger
        group by golden_customer_id
        """
    )


def _match_clusters(con: duckdb.DuckDBPyConnection, recorded_at: datetime) -> None:
    # Every active ID is a previous ID, including one whose records were never published (a
    # publish that failed after the ledger committed): with no records left it is retired.
    con.execute(
        """
        create or replace temp table _ledger_previous_ids as
        select golden_customer_id, issued_at
        from er.golden_ids
        where status = 'active'
        union all
        select golden_customer_id, ?::timestamp
        from _ledger_events
        where event = 'adopted'
        """,
        [recorded_at],
    )
    con.execute(
        """
        create or replace temp table _ledger_overlap as
        select previous.golden_customer_id as previous_id, current.anchor_key,
               count(*) as shared_count, min(current.record_key) as first_shared_key
        from _ledger_current as current
        join _ledger_previous as previous using (record_key)
        group by all
        """
    )
    con.execute(
        """
        create or replace temp table _ledger_claims as
        with keepers as (
            -- Most shared records wins; tie: the part holding the smallest record_key.
            select previous_id,
                   arg_min(anchor_key, (-shared_count, first_shared_key)) as anchor_key
            from _ledger_overlap
            group by previous_id
        ),
        claims as (
            select keepers.previous_id, keepers.anchor_key, ids.issued_at
            from keepers
            join _ledger_previous_ids as ids on ids.golden_customer_id = keepers.previous_id
        ),
        survivors as (
            select anchor_key, arg_min(previous_id, (issued_at, previous_id)) as survivor_id
            from claims
            group by anchor_key
        )
        select claims.previous_id, claims.anchor_key, survivors.survivor_id,
               claims.previous_id = survivors.survivor_id as is_survivor
        from claims
        join survivors using (anchor_key)
        """
    )


def _issue_fresh_ids(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"""
        create or replace temp table _ledger_fresh as
        with unclaimed as (
            select anchor_key, record_count
            from _ledger_clusters
            anti join (select anchor_key from _ledger_claims where is_survivor) using (anchor_key)
        ),
        donors as (
            select anchor_key,
                   arg_min(previous_id, (-shared_count, first_shared_key)) as split_from
            from _ledger_overlap
            semi join unclaimed using (anchor_key)
            group by anchor_key
        )
        select unclaimed.anchor_key, unclaimed.record_count, donors.split_from, 0 as salt,
               {GOLDEN_ID_SQL.format(key="unclaimed.anchor_key")} as golden_customer_id
        from unclaimed
        left join donors using (anchor_key)
        """
    )
    # Almost every round-0 ID is free (day one: all; a normal day: all but the few split parts
    # anchored on an old anchor), so only the clashing rows are ever updated.
    for _ in range(MAX_SALT_ROUNDS):
        con.execute(
            """
            create or replace temp table _ledger_clashes as
            select fresh.anchor_key
            from _ledger_fresh as fresh
            semi join (
                select golden_customer_id from er.golden_ids
                union all
                select golden_customer_id from _ledger_events where event = 'adopted'
            ) as ever using (golden_customer_id)
            union
            -- Two new clusters wanting the same ID: the smaller anchor gets it.
            select fresh.anchor_key
            from _ledger_fresh as fresh
            join (
                select golden_customer_id, min(anchor_key) as first_anchor_key
                from _ledger_fresh
                group by golden_customer_id
                having count(*) > 1
            ) as shared using (golden_customer_id)
            where fresh.anchor_key <> shared.first_anchor_key
            """
        )
        if not con.execute("select count(*) from _ledger_clashes").fetchone()[0]:
            return
        con.execute(
            f"""
            update _ledger_fresh
            set salt = salt + 1,
                golden_customer_id = {GOLDEN_ID_SQL.format(key="anchor_key || '#' || (salt + 1)")}
            where anchor_key in (select anchor_key from _ledger_clashes)
            """
        )
    raise RuntimeError(f"golden IDs still clash after {MAX_SALT_ROUNDS} salting rounds")


def _collect_events(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        create or replace temp table _ledger_retiring as
        select claims.previous_id as golden_customer_id, 'merged_into' as event,
               claims.survivor_id as related_golden_customer_id
        from _ledger_claims as claims
        where not claims.is_survivor
        union all
        select golden_customer_id, 'retired', null
        from _ledger_previous_ids
        anti join (select previous_id as golden_customer_id from _ledger_overlap)
            using (golden_customer_id)
        """
    )
    # Counted here, for the few retiring IDs only, rather than grouping 1M previous records.
    con.execute(
        """
        insert into _ledger_events
        select case when split_from is null then 'issued' else 'split_from' end,
               golden_customer_id, split_from, record_count
        from _ledger_fresh
        union all
        select retiring.event, retiring.golden_customer_id,
               retiring.related_golden_customer_id, coalesce(previous.record_count, 0)
        from _ledger_retiring as retiring
        left join (
            select golden_customer_id, count(*) as record_count
            from _ledger_previous
            semi join _ledger_retiring using (golden_customer_id)
            group by golden_customer_id
        ) as previous using (golden_customer_id)
        """
    )
    con.execute(
        """
        create or replace temp table _ledger_cluster_ids as
        select anchor_key, previous_id as golden_customer_id
        from _ledger_claims where is_survivor
        union all
        select anchor_key, golden_customer_id from _ledger_fresh
        """
    )


def _write_ledger(
    con: duckdb.DuckDBPyConnection, run_id: str, recorded_at: datetime, counts: dict[str, int]
) -> None:
    # DuckDB 1.5.5 bug: inside a transaction, an INSERT of zero rows into a table followed by an
    # INSERT of a row group or more (122,880 rows) into the same table leaves those rows
    # invisible to this connection until it reconnects. So each table gets at most one insert
    # per run, and only when there is something to insert.
    if counts.get("adopted", 0) + counts.get("issued", 0) + counts.get("split_from", 0):
        con.execute(
            """
            insert into er.golden_ids (golden_customer_id, status, issued_at, issued_run_id,
                                       split_from, resolved_golden_customer_id)
            select golden_customer_id, 'active', ?, ?, related_golden_customer_id,
                   golden_customer_id
            from _ledger_events
            where event in ('adopted', 'issued', 'split_from')
            """,
            [recorded_at, run_id],
        )
    if sum(counts.values()):
        con.execute(
            """
            insert into er.golden_id_ledger
            select ?, ?, event, golden_customer_id, related_golden_customer_id, record_count
            from _ledger_events
            """,
            [run_id, recorded_at],
        )
    if counts.get("merged_into", 0) + counts.get("retired", 0):
        con.execute(
            """
            update er.golden_ids
            set status = 'retired', retired_at = ?, retired_run_id = ?,
                merged_into = events.related_golden_customer_id
            from _ledger_events as events
            where events.event in ('merged_into', 'retired')
              and er.golden_ids.golden_customer_id = events.golden_customer_id
            """,
            [recorded_at, run_id],
        )
    if counts.get("merged_into", 0):
        # Path compression: everything that resolved to a newly merged ID now resolves to its
        # survivor, which is active, so resolving stays one lookup however many merges pile up.
        con.execute(
            """
            update er.golden_ids
            set resolved_golden_customer_id = events.related_golden_customer_id
            from _ledger_events as events
            where events.event = 'merged_into'
              and er.golden_ids.resolved_golden_customer_id = events.golden_customer_id
            """
        )
