"""Legal holds (R31): a golden customer or one source record kept out of every purge, archive
and erasure until the hold is released.

A hold names what it keeps (a golden ID or a record key `<source>:<source_record_id>`), why and
who placed it; releasing it records who and when and keeps the row as evidence. What a hold
covers is worked out when a purge runs (`held_keys`): a held golden customer holds every record
linked to it, and a held record holds the golden customer it belongs to, so a customer is never
half archived. A hold's table keeps keys, reasons and names of staff, never a customer's value.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import duckdb

from dagster_project.lib.warehouse import table_exists

HOLDS = "privacy.legal_holds"
HOLDS_DDL = f"""
create table if not exists {HOLDS} (
    hold_id varchar not null,
    golden_customer_id varchar,
    record_key varchar,
    reason varchar not null,
    placed_by varchar not null,
    placed_at timestamp not null,
    released_by varchar,
    released_at timestamp,
    release_reason varchar
)
"""
# Where the links between records and golden customers are found: the published xref, and the
# archive's copy of it for customers already archived (attached as `archive` when it is open).
_XREFS = ("main.customer_source_xref", "archive.main.customer_source_xref")


class LegalHoldError(ValueError):
    """A hold request that cannot be carried out; the message says why."""


@dataclass(frozen=True)
class HeldKeys:
    golden_ids: frozenset[str]
    record_keys: frozenset[str]

    def __bool__(self) -> bool:
        return bool(self.golden_ids or self.record_keys)


def place_hold(
    con: duckdb.DuckDBPyConnection,
    *,
    golden_id: str | None,
    record_key: str | None,
    reason: str,
    placed_by: str,
    at: datetime,
) -> str:
    """Place a hold on one golden customer or one source record; return its ID."""
    if (golden_id is None) == (record_key is None):
        raise LegalHoldError("a hold names either a golden ID or a source record, not both")
    if not reason.strip() or not placed_by.strip():
        raise LegalHoldError("a hold needs a reason and the name of who places it")
    if record_key is not None and ":" not in record_key:
        raise LegalHoldError(
            f"source record {record_key!r} is not <source>:<source_record_id> (e.g. crm:C1001)"
        )
    if not _known(con, golden_id, record_key):
        what = f"golden ID {golden_id}" if golden_id else f"source record {record_key}"
        raise LegalHoldError(
            f"{what} is not in the warehouse or the archive: check the ID "
            "(`custodian sql --warehouse` lists main.customer_source_xref)"
        )
    con.execute(HOLDS_DDL)
    hold_id = "LH" + uuid.uuid4().hex[:10].upper()
    con.execute(
        f"insert into {HOLDS} values (?, ?, ?, ?, ?, ?, null, null, null)",
        [hold_id, golden_id, record_key, reason.strip(), placed_by.strip(), at],
    )
    return hold_id


def release_hold(
    con: duckdb.DuckDBPyConnection, hold_id: str, *, released_by: str, reason: str, at: datetime
) -> None:
    con.execute(HOLDS_DDL)
    found = con.execute(f"select released_at from {HOLDS} where hold_id = ?", [hold_id]).fetchone()
    if found is None:
        raise LegalHoldError(f"no legal hold {hold_id}; `custodian hold list` shows them")
    if found[0] is not None:
        raise LegalHoldError(f"legal hold {hold_id} was already released on {found[0]:%Y-%m-%d}")
    con.execute(
        f"update {HOLDS} set released_by = ?, released_at = ?, release_reason = ? "
        "where hold_id = ?",
        [released_by.strip(), at, reason.strip(), hold_id],
    )


def list_holds(con: duckdb.DuckDBPyConnection, *, include_released: bool = False) -> list[tuple]:
    if not table_exists(con, HOLDS):
        return []
    where = "" if include_released else "where released_at is null"
    return con.execute(
        f"select hold_id, golden_customer_id, record_key, reason, placed_by, placed_at, "
        f"released_by, released_at from {HOLDS} {where} order by placed_at, hold_id"
    ).fetchall()


def held_keys(con: duckdb.DuckDBPyConnection) -> HeldKeys:
    """Every golden ID and record key an active hold covers, through the links in the xref."""
    if not table_exists(con, HOLDS):
        return HeldKeys(frozenset(), frozenset())
    golden, records = (
        {row[0] for row in con.execute(f"select {column} from {HOLDS} "
                                       f"where released_at is null and {column} is not null"
                                       ).fetchall()}
        for column in ("golden_customer_id", "record_key")
    )  # fmt: skip
    for xref in _existing(con):
        golden |= _linked(con, xref, "golden_customer_id", "record_key", records)
    for xref in _existing(con):
        records |= _linked(con, xref, "record_key", "golden_customer_id", golden)
    return HeldKeys(frozenset(golden), frozenset(records))


def stage_held_keys(con: duckdb.DuckDBPyConnection, held: HeldKeys) -> None:
    """Temp tables `_held_golden_ids` and `_held_record_keys` for purges to anti-join."""
    con.execute(
        "create or replace temp table _held_golden_ids as "
        "select unnest(?::varchar[]) as golden_customer_id",
        [sorted(held.golden_ids)],
    )
    con.execute(
        "create or replace temp table _held_record_keys as "
        "select unnest(?::varchar[]) as record_key",
        [sorted(held.record_keys)],
    )


def _existing(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [xref for xref in _XREFS if table_exists(con, xref)]


def _linked(con, xref: str, wanted: str, by: str, keys: set[str]) -> set[str]:
    if not keys:
        return set()
    return {
        row[0]
        for row in con.execute(
            f"select distinct {wanted} from {xref} where {by} in (select unnest(?::varchar[]))",
            [sorted(keys)],
        ).fetchall()
    }


def _known(con, golden_id: str | None, record_key: str | None) -> bool:
    column, key = ("golden_customer_id", golden_id) if golden_id else ("record_key", record_key)
    tables = [*_existing(con)]
    if golden_id and table_exists(con, "er.golden_ids"):
        tables.append("er.golden_ids")
    return any(
        con.execute(f"select count(*) from {table} where {column} = ?", [key]).fetchone()[0]
        for table in tables
    )
