"""The archive (R31): inactive customers' personal data moved out of the working warehouse into
an encrypted database of its own, and destroyed there when its time is up.

Moving a customer follows the erasure registry (`erasure_registry`), the one list of which table
holds a person by which key: every row linked to the customer's golden ID or source records is
copied into the same schema and table of the archive, stamped with the day it was archived
(`_archived_on`), then deleted from the warehouse. The warehouse keeps the pseudonymous keys
(`privacy.archived_customers`, `privacy.archived_records`: IDs, the record's raw fingerprint
and dates, never a value), so that

- a source that re-delivers an archived record unchanged does not bring it back (the history
  step compares the fingerprint), while a changed record is live again;
- a legal hold or an erasure can still find the customer.

DuckDB cannot write to two database files in one transaction, so a move is two: the copy into
the archive (which first removes what an interrupted earlier copy of the same day left), then
the delete from the warehouse. A run killed between the two re-runs to the same result.

The archive is encrypted with the key in the environment variable `encryption.key_env`
names (DuckDB's AES, crypto from the httpfs extension the registry package ships).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb

from dagster_project.config import GovernanceConfig
from dagster_project.lib.privacy.archive_keys import ARCHIVED_CUSTOMERS, ARCHIVED_RECORDS, KEYS_DDL
from dagster_project.lib.privacy.compaction import rewrite_database
from dagster_project.lib.privacy.erasure import (
    ErasureTarget,
    ordered_tables,
    row_condition,
    stage_keys,
)
from dagster_project.lib.privacy.erasure_registry import tables_to_erase
from dagster_project.lib.warehouse import (
    KEY_ENV,
    EncryptedFileError,
    attach,
    quote_identifier,
    table_columns,
    table_exists,
    transaction,
)
from dagster_project.lib.warehouse import (
    encryption_key as warehouse_key,
)

ALIAS = "archive"
ARCHIVED_ON = "_archived_on"
# Keys only: a mention in free text (an alert naming a golden ID) stays, as it holds no value.
KEY_LINKS = frozenset({"record_key", "golden_id", "case_id", "source_record"})
# The customer's activity: the latest interaction any source recorded, else its latest update,
# else the day the record was first delivered.
ACTIVITY_SQL = (
    "max(coalesce(records.last_interaction_at::date, records.updated_at::date, "
    "records.first_seen_date))"
)


class ArchiveKeyError(RuntimeError):
    """The archive's encryption key is missing or wrong; the message names the variable."""


def archive_path(warehouse: Path, config: GovernanceConfig) -> Path:
    return Path(warehouse).parent / config.retention.archive_file


def encryption_key() -> str:
    """The archive's key: the one every platform database file is encrypted with."""
    try:
        return warehouse_key()
    except EncryptedFileError as exc:
        raise ArchiveKeyError(str(exc)) from None


@contextmanager
def attached_archive(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    key: str,
    *,
    read_only: bool = False,
) -> Iterator[str]:
    """Attach the encrypted archive as `archive` (created on first use); detach afterwards."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        attach(con, path, ALIAS, key, read_only=read_only)
    except EncryptedFileError as exc:
        raise ArchiveKeyError(
            f"{exc}. Is ${KEY_ENV} the key the archive was written with?"
        ) from None
    try:
        yield ALIAS
    finally:
        con.execute(f"detach {ALIAS}")


def is_attached(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(
        con.execute(
            "select count(*) from duckdb_databases() where database_name = ?", [ALIAS]
        ).fetchone()[0]
    )


def inactive_customers(
    con: duckdb.DuckDBPyConnection, cutoff: date
) -> list[tuple[str, date | None]]:
    """Published golden customers whose last activity is before `cutoff`, not under a hold
    (`_held_golden_ids`, staged by the caller)."""
    if not (
        table_exists(con, "main.customer_source_xref")
        and table_exists(con, "intermediate.int_customer_records")
    ):
        return []
    return con.execute(
        f"""
        select xref.golden_customer_id, {ACTIVITY_SQL} as last_activity
        from main.customer_source_xref as xref
        join intermediate.int_customer_records as records using (record_key)
        where xref.golden_customer_id not in (select golden_customer_id from _held_golden_ids)
        group by 1
        having {ACTIVITY_SQL} < ?
        order by 1
        """,
        [cutoff],
    ).fetchall()


def _record_keys(con: duckdb.DuckDBPyConnection, golden_ids: list[str]) -> list[str]:
    keys: set[str] = set()
    for table in ("main.customer_source_xref", "er.record_clusters"):
        if table_exists(con, table):
            keys |= {
                row[0]
                for row in con.execute(
                    f"select record_key from {table} "
                    "where golden_customer_id in (select unnest(?::varchar[]))",
                    [golden_ids],
                ).fetchall()
            }
    return sorted(keys)


def archive_table(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """The archive's copy of `table`, created or widened to the warehouse table's columns."""
    archived = f"{ALIAS}.{table}"
    if not table_exists(con, archived):
        con.execute(f"create schema if not exists {ALIAS}.{table.split('.', 1)[0]}")
        con.execute(
            f"create table {archived} as select *, null::date as {ARCHIVED_ON}, "
            f"null::varchar as _archive_run_id from {table} where false"
        )
        return archived
    have = set(table_columns(con, archived))
    for name, data_type in con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = current_database() and table_schema || '.' || table_name = ? "
        "order by ordinal_position",
        [table],
    ).fetchall():
        if name not in have:
            con.execute(f"alter table {archived} add column {quote_identifier(name)} {data_type}")
    return archived


def move_customers(
    con: duckdb.DuckDBPyConnection,
    config: GovernanceConfig,
    customers: list[tuple[str, date | None]],
    *,
    archived_on: date,
    run_id: str,
) -> dict[str, int]:
    """Move the customers' rows from every registered table into the attached archive; return
    the rows moved per table. The archive must be attached (`attached_archive`)."""
    if not customers:
        return {}
    golden_ids = [golden_id for golden_id, _ in customers]
    record_keys = _record_keys(con, golden_ids)
    stage_keys(con, ErasureTarget(golden_ids, record_keys))
    tables = tables_to_erase(con, config)
    conditions = {
        table: condition
        for table in ordered_tables(tables)
        if table not in (ARCHIVED_CUSTOMERS, ARCHIVED_RECORDS)
        and (condition := row_condition(table, *tables[table], kinds=KEY_LINKS))
    }
    with transaction(con):
        for table, condition in conditions.items():
            archived = archive_table(con, table)
            # What an interrupted copy of the same day left is replaced, not doubled.
            con.execute(f"delete from {archived} where {ARCHIVED_ON} = ? and ({condition})",
                        [archived_on])  # fmt: skip
            con.execute(
                f"insert into {archived} by name "
                f"select *, ?::date as {ARCHIVED_ON}, ? as _archive_run_id from {table} "
                f"where {condition}",
                [archived_on, run_id],
            )
    con.execute(f"checkpoint {ALIAS}")
    con.execute(KEYS_DDL)
    moved: dict[str, int] = {}
    with transaction(con):
        _keep_keys(con, customers, archived_on, run_id)
        for table, condition in conditions.items():
            moved[table] = con.execute(f"delete from {table} where {condition}").fetchone()[0]
    return {table: count for table, count in moved.items() if count}


def _keep_keys(con, customers, archived_on: date, run_id: str) -> None:
    con.execute(
        "create or replace temp table _archiving (golden_customer_id varchar, last_activity date)"
    )
    con.executemany("insert into _archiving values (?, ?)", customers)
    con.execute(
        f"insert into {ARCHIVED_CUSTOMERS} "
        "select golden_customer_id, last_activity, ?, ?, null from _archiving",
        [archived_on, run_id],
    )
    if table_exists(con, "history.customer_record_versions"):
        con.execute(
            f"""
            insert into {ARCHIVED_RECORDS}
            select versions.record_key, versions.source_name, keys.golden_customer_id,
                   versions.raw_fingerprint, ?, ?, null
            from history.customer_record_versions as versions
            join (select record_key, golden_customer_id from main.customer_source_xref
                  where golden_customer_id in (select golden_customer_id from _archiving)) as keys
                using (record_key)
            where versions.is_current
            """,
            [archived_on, run_id],
        )


def destroy_archived(
    con: duckdb.DuckDBPyConnection, config: GovernanceConfig, cutoff: date, on: date
) -> dict[str, int]:
    """Delete what the archive took in before `cutoff`, except what a hold covers (its keys
    staged by the caller with `erasure.stage_keys` and `legal_holds.stage_held_keys`); return
    rows per table."""
    tables = tables_to_erase(con, config)
    destroyed: dict[str, int] = {}
    with transaction(con):
        for table in ordered_tables(tables):
            archived = f"{ALIAS}.{table}"
            if not table_exists(con, archived):
                continue
            held = row_condition(table, *tables[table], kinds=KEY_LINKS)
            count = con.execute(
                f"delete from {archived} where {ARCHIVED_ON} < ?"
                + (f" and not coalesce({held}, false)" if held else ""),
                [cutoff],
            ).fetchone()[0]
            if count:
                destroyed[table] = count
    if destroyed and table_exists(con, ARCHIVED_CUSTOMERS):
        for keys in (ARCHIVED_CUSTOMERS, ARCHIVED_RECORDS):
            con.execute(
                f"update {keys} set destroyed_on = ? where destroyed_on is null "
                "and archived_on < ? and golden_customer_id not in "
                "(select golden_customer_id from _held_golden_ids)",
                [on, cutoff],
            )
    return destroyed


def rewrite_archive(path: Path, key: str) -> None:
    """Rewrite the archive into a new encrypted file so destroyed rows leave no free block
    behind (DuckDB keeps deleted bytes until a block is reused)."""
    rewrite_database(path, key)
