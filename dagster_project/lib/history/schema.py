"""The history schema: record versions (SCD2), the field-level change log, and their bookkeeping.

- history.customer_record_versions: one row per source record per version. valid_from is the
  delivery day the version arrived, valid_to the day it was replaced (null while current);
  is_current marks the version in force; is_deleted marks a tombstone (the record left its
  source that day; its values are not copied). Every standardised column of the staging models
  is kept, so the current versions are the canonical records (int_customer_records reads them).
- history.record_presence: one row per record key ever delivered: first and last delivery day
  and how many days delivered it (re-sent unchanged records make no version, only presence).
- history.change_log: one row per changed field per version, and per golden-level event (see
  lib/history/golden.py). Values are standardised values of personal data: the table stays in
  the restricted warehouse and every display masks it.
- history.applied_days: one row per delivery day applied, with what was delivered (each
  source's file checksum), so a re-run of a day can tell a repeat from a changed delivery.
- history.unchanged_deliveries: the work list of the day being applied: raw rows the history
  step found unchanged (or superseded within their file), which the staging views leave out so
  that only new and changed records are standardised. Created by dbt's on-run-start hook
  (dbt/dbt_project.yml), since the staging views read it and must bind to it.
"""

from __future__ import annotations

import duckdb

from dagster_project.lib.warehouse import quote_identifier, table_columns, table_exists

VERSIONS = "history.customer_record_versions"
PRESENCE = "history.record_presence"
CHANGE_LOG = "history.change_log"
APPLIED_DAYS = "history.applied_days"
UNCHANGED_DELIVERIES = "history.unchanged_deliveries"
# Golden IDs of record-level changes, kept while a rebuild re-creates the change log.
CARRIED_GOLDEN_IDS = "history.carried_golden_ids"

# Columns the history step adds to the staging models' own columns.
VERSION_COLUMNS_DDL = """
    record_key varchar not null,
    valid_from date not null,
    valid_to date,
    is_current boolean not null,
    is_deleted boolean not null,
    raw_fingerprint varchar,
    content_hash varchar,
    version_run_id varchar
"""

_DDL = (
    "create schema if not exists history",
    f"""
    create table if not exists {PRESENCE} (
        record_key varchar primary key,
        source_name varchar not null,
        first_seen_date date not null,
        last_seen_date date not null,
        delivery_count bigint not null,
        previous_last_seen_date date
    )
    """,
    f"""
    create table if not exists {CHANGE_LOG} (
        partition_date date not null,
        run_id varchar,
        change_level varchar not null,
        record_key varchar,
        golden_customer_id varchar,
        field varchar not null,
        change_type varchar not null,
        old_value varchar,
        new_value varchar,
        related_golden_customer_id varchar,
        recorded_at timestamp not null
    )
    """,
    f"""
    create table if not exists {APPLIED_DAYS} (
        partition_date date primary key,
        run_id varchar,
        applied_at timestamp not null,
        delivery_checksum varchar not null,
        standardiser_version varchar not null,
        inserted bigint not null,
        updated bigint not null,
        deleted bigint not null,
        unchanged bigint not null,
        standardised bigint not null
    )
    """,
)

RECORD_FIELD = "_record"
"""The change log's field for a change of the whole record: an insert or a delete."""


def ensure_history_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the history tables that do not depend on the staging columns."""
    for statement in _DDL:
        con.execute(statement)


def add_missing_columns(
    con: duckdb.DuckDBPyConnection, qualified_name: str, columns: list[tuple[str, str]]
) -> None:
    """Widen a history table to hold new (name, type) columns: a standardiser or a golden mart
    that learned a column; older versions hold null in it."""
    present = set(table_columns(con, qualified_name))
    for name, kind in columns:
        if name not in present:
            con.execute(f"alter table {qualified_name} add column {quote_identifier(name)} {kind}")


def drop_history(con: duckdb.DuckDBPyConnection) -> None:
    """Forget every record version and record-level change (a full refresh rebuilds them from
    raw). Golden-level changes stay: the golden IDs and their ledger are not rebuilt."""
    for table in (VERSIONS, PRESENCE, APPLIED_DAYS):
        con.execute(f"drop table if exists {table}")
    if table_exists(con, CHANGE_LOG):
        con.execute(f"delete from {CHANGE_LOG} where change_level = 'record'")
    if table_exists(con, UNCHANGED_DELIVERIES):
        con.execute(f"delete from {UNCHANGED_DELIVERIES}")


HISTORY_COLUMNS = (
    "partition_date",
    "change_level",
    "record_key",
    "golden_customer_id",
    "field",
    "change_type",
    "old_value",
    "new_value",
    "related_golden_customer_id",
)


def customer_history(
    con: duckdb.DuckDBPyConnection,
    *,
    golden_customer_id: str | None = None,
    record_key: str | None = None,
    since: object = None,
    limit: int | None = None,
) -> list[tuple]:
    """The change-log rows of one golden customer (its own changes, ID events naming it, and
    every change of a record it holds now or held that day) or of one source record, oldest
    first, in HISTORY_COLUMNS order. Values as stored: the caller masks them."""
    if (golden_customer_id is None) == (record_key is None):
        raise ValueError("give exactly one of golden_customer_id and record_key")
    if golden_customer_id is not None:
        held_now = (
            "or record_key in (select record_key from main.customer_source_xref "
            "where golden_customer_id = $id)"
            if table_exists(con, "main.customer_source_xref")
            else ""
        )
        match = f"(golden_customer_id = $id or related_golden_customer_id = $id {held_now})"
        params: dict[str, object] = {"id": golden_customer_id}
    else:
        match = "record_key = $id"
        params = {"id": record_key}
    if since is not None:
        match += " and partition_date >= $since"
        params["since"] = since
    return con.execute(
        f"""
        select {", ".join(HISTORY_COLUMNS)}
        from {CHANGE_LOG}
        where {match}
        order by partition_date, change_level desc, record_key nulls first, field, recorded_at
        {"limit " + str(int(limit)) if limit else ""}
        """,
        params,
    ).fetchall()
