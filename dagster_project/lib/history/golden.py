"""Golden-level history: what happened to each golden customer, beside the record changes.

After the marts are published, one call of `record_golden_changes`:

1. gives the day's record-level change rows the golden customer ID the records hold now (a
   deleted record keeps the ID it had the day before, filled in by the history step);
2. compares each published golden customer's surviving values with its current version in
   `history.golden_customer_versions` (SCD2): a changed value is a change-log row
   (change_level 'golden', change_type 'update');
3. copies the ledger's events of the run (issued, split_from, merged_into, retired, with the
   related ID) into the change log (field '_golden_id'), so "what happened to customer G this
   month" is one query over history.change_log.

Values are compared as published. Counters that move with every delivery (last_seen_date,
source_record_count, completeness ...) are not surviving values and are left out.

A re-run of the latest day replaces that day's golden changes. A re-run of an earlier day
(`custodian run` re-runs every landed day) records no field changes under that day: the
comparison is with the stored versions, so whatever changed is recorded on the next day run in
order. Ledger events are recorded once per run, whichever day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import duckdb

from dagster_project.lib.history.schema import (
    CHANGE_LOG,
    add_missing_columns,
    ensure_history_tables,
)
from dagster_project.lib.warehouse import quote_identifier, table_exists

GOLDEN_VERSIONS = "history.golden_customer_versions"
PUBLISHED_GOLDEN = "main.golden_customers"
PUBLISHED_XREF = "main.customer_source_xref"
GOLDEN_ID_FIELD = "_golden_id"

# Golden columns that are counts and dates of deliveries, not surviving values.
NOT_TRACKED = (
    "golden_customer_id",
    "first_seen_date",
    "last_seen_date",
    "source_record_count",
    "sources_present",
    "source_count",
    "completeness_score",
    # When the consent's source record last changed: a delivery date, not a surviving value.
    "consent_marketing_updated_at",
)


@dataclass(frozen=True)
class GoldenChanges:
    status: str  # recorded | deferred | nothing_published
    field_changes: int = 0
    id_events: int = 0
    record_changes_with_id: int = 0

    def metadata(self) -> dict[str, int | str]:
        return {
            "golden_history_status": self.status,
            "golden_field_changes": self.field_changes,
            "golden_id_events": self.id_events,
        }


def _tracked_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return [
        (name, kind)
        for name, kind in con.execute(
            "select column_name, data_type from duckdb_columns() "
            "where schema_name = 'main' and table_name = 'golden_customers' "
            "order by column_index"
        ).fetchall()
        if name not in NOT_TRACKED
    ]


def latest_golden_day(con: duckdb.DuckDBPyConnection) -> date | None:
    if not table_exists(con, GOLDEN_VERSIONS):
        return None
    return con.execute(f"select max(valid_from) from {GOLDEN_VERSIONS}").fetchone()[0]


def record_golden_changes(
    con: duckdb.DuckDBPyConnection,
    day: date,
    *,
    run_id: str | None,
    recorded_at: datetime,
) -> GoldenChanges:
    """Record the day's golden-level changes in one transaction; see the module docstring."""
    ensure_history_tables(con)
    if not table_exists(con, PUBLISHED_GOLDEN):
        return GoldenChanges("nothing_published")
    con.execute("begin transaction")
    try:
        result = _record(con, day, run_id, recorded_at)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return result


def _record(
    con: duckdb.DuckDBPyConnection, day: date, run_id: str | None, recorded_at: datetime
) -> GoldenChanges:
    params = {"day": day, "run_id": run_id, "recorded_at": recorded_at}
    with_id = 0
    if table_exists(con, PUBLISHED_XREF):
        con.execute(
            f"""
            update {CHANGE_LOG} as change set golden_customer_id = xref.golden_customer_id
            from {PUBLISHED_XREF} as xref
            where change.partition_date = $day and change.change_level = 'record'
                and change.record_key = xref.record_key
            """,
            {"day": day},
        )
        with_id = con.execute(
            f"select count(*) from {CHANGE_LOG} where partition_date = ? "
            "and change_level = 'record' and golden_customer_id is not null",
            [day],
        ).fetchone()[0]
    id_events = _record_ledger_events(con, params)
    latest = latest_golden_day(con)
    if latest is not None and day < latest:
        return GoldenChanges("deferred", 0, id_events, with_id)
    columns = _tracked_columns(con)
    _ensure_versions_table(con, columns)
    if latest == day:
        _undo_golden_day(con, day)
    content = ", ".join(
        f"coalesce(cast({quote_identifier(name)} as varchar), chr(0))" for name, _ in columns
    )
    con.execute(
        f"""
        create or replace temp table _golden_today as
        select golden_customer_id, md5(concat_ws(chr(31), {content})) as content_hash,
            {", ".join(quote_identifier(name) for name, _ in columns)}
        from {PUBLISHED_GOLDEN}
        """
    )
    current = f"(select * from {GOLDEN_VERSIONS} where is_current)"
    # The customers whose values changed, old and new side by side, joined once; each field's
    # rows are then read from this small table.
    side_by_side = ", ".join(
        f"cast(old.{quote_identifier(name)} as varchar) as {quote_identifier('old_' + name)}, "
        f"cast(today.{quote_identifier(name)} as varchar) as {quote_identifier('new_' + name)}"
        for name, _ in columns
    )
    con.execute(
        f"""
        create or replace temp table _golden_changed as
        select today.golden_customer_id, {side_by_side}
        from _golden_today as today inner join {current} as old using (golden_customer_id)
        where old.content_hash <> today.content_hash
        """
    )
    field_rows = " union all ".join(
        f"""
        select golden_customer_id, '{name}' as field,
            {quote_identifier("old_" + name)} as old_value,
            {quote_identifier("new_" + name)} as new_value
        from _golden_changed
        where {quote_identifier("old_" + name)} is distinct from {quote_identifier("new_" + name)}
        """
        for name, _ in columns
    )
    field_changes = 0
    if field_rows:
        con.execute(
            f"""
            create or replace temp table _golden_changes as
            select $day as partition_date, $run_id as run_id, 'golden' as change_level,
                null::varchar as record_key, golden_customer_id, field, 'update' as change_type,
                old_value, new_value, null::varchar as related_golden_customer_id,
                $recorded_at as recorded_at
            from ({field_rows})
            """,
            params,
        )
        con.execute(f"insert into {CHANGE_LOG} by name select * from _golden_changes")
        field_changes = con.execute("select count(*) from _golden_changes").fetchone()[0]
    # New versions for changed and new customers; customers no longer published are closed.
    con.execute(
        f"""
        update {GOLDEN_VERSIONS} as old set valid_to = $day, is_current = false
        where old.is_current and not exists (
            select 1 from _golden_today as today
            where today.golden_customer_id = old.golden_customer_id
                and today.content_hash = old.content_hash
        )
        """,
        {"day": day},
    )
    con.execute(
        f"""
        insert into {GOLDEN_VERSIONS} by name
        select today.*, $day as valid_from, null::date as valid_to, true as is_current,
            $run_id as version_run_id
        from _golden_today as today
        where not exists (
            select 1 from {GOLDEN_VERSIONS} as old
            where old.is_current and old.golden_customer_id = today.golden_customer_id
        )
        """,
        {"day": day, "run_id": run_id},
    )
    return GoldenChanges("recorded", field_changes, id_events, with_id)


def _record_ledger_events(con: duckdb.DuckDBPyConnection, params: dict) -> int:
    """The run's ledger events as change-log rows, once per run (a re-run has its own)."""
    if params["run_id"] is None or not table_exists(con, "er.golden_id_ledger"):
        return 0
    already = con.execute(
        f"select count(*) from {CHANGE_LOG} where run_id = $run_id and field = '{GOLDEN_ID_FIELD}'",
        {"run_id": params["run_id"]},
    ).fetchone()[0]
    if already:
        return already
    con.execute(
        f"""
        insert into {CHANGE_LOG} by name
        select $day as partition_date, $run_id as run_id, 'golden' as change_level,
            golden_customer_id, '{GOLDEN_ID_FIELD}' as field, event as change_type,
            related_golden_customer_id, $recorded_at as recorded_at
        from er.golden_id_ledger
        where run_id = $run_id and event in ('issued', 'split_from', 'merged_into', 'retired')
        """,
        params,
    )
    return con.execute(
        f"select count(*) from {CHANGE_LOG} where run_id = $run_id and field = '{GOLDEN_ID_FIELD}'",
        {"run_id": params["run_id"]},
    ).fetchone()[0]


def _ensure_versions_table(con: duckdb.DuckDBPyConnection, columns: list[tuple[str, str]]) -> None:
    tracked = ", ".join(f"{quote_identifier(name)} {kind}" for name, kind in columns)
    con.execute(
        f"""
        create table if not exists {GOLDEN_VERSIONS} (
            golden_customer_id varchar not null,
            valid_from date not null,
            valid_to date,
            is_current boolean not null,
            content_hash varchar not null,
            version_run_id varchar,
            {tracked}
        )
        """
    )
    add_missing_columns(con, GOLDEN_VERSIONS, columns)


def _undo_golden_day(con: duckdb.DuckDBPyConnection, day: date) -> None:
    con.execute(
        f"delete from {CHANGE_LOG} where partition_date = ? and change_level = 'golden' "
        f"and field <> '{GOLDEN_ID_FIELD}'",
        [day],
    )
    con.execute(f"delete from {GOLDEN_VERSIONS} where valid_from = ?", [day])
    con.execute(
        f"update {GOLDEN_VERSIONS} set valid_to = null, is_current = true where valid_to = ?",
        [day],
    )
