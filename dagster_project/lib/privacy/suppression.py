"""The suppression list: erased people stay erased when an old file is delivered again (R29).

An erasure stores keyed hashes (HMAC-SHA256 under the masking key, `masking.pseudonymiser`) of
the person's identifiers: standardised e-mail, phone in E.164, national ID, and the record key
of every erased source record. The loader drops a delivered row whose identifiers hash to a
suppressed value before it reaches the raw table, and counts it as skipped in ops.load_log with
the reason `erased_person_suppressed`; the values themselves are never stored or logged.

Identifiers are standardised the way staging does (lib/standardise), with the source's
default region for phone numbers, so `138 0013 8000` and `+86 138-0013-8000` are one number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

import duckdb

from dagster_project.config import SourceConfig
from dagster_project.lib.privacy.masking import pseudonymiser
from dagster_project.lib.standardise.emails import standardise_email
from dagster_project.lib.standardise.national_id import standardise_national_id
from dagster_project.lib.standardise.phones import to_e164
from dagster_project.lib.warehouse import mapping_sql, table_exists

SUPPRESSIONS = "privacy.erasure_suppressions"
SUPPRESSION_REASON = "erased_person_suppressed"

SUPPRESSIONS_DDL = f"""
create table if not exists {SUPPRESSIONS} (
    identifier_kind varchar not null,
    identifier_hash varchar not null,
    request_id varchar not null,
    suppressed_at timestamp not null
)
"""

# Canonical field -> the identifier kind its standardised value is suppressed under.
SUPPRESSED_FIELDS = {
    "email": "email",
    "mobile_phone": "phone",
    "landline_phone": "phone",
    "national_id": "national_id",
}


def standardise_for_suppression(kind: str, value: str | None, region: str | None) -> str | None:
    """An identifier as staging standardises it, or None when it has no standard form."""
    if value is None or not str(value).strip():
        return None
    if kind == "email":
        return standardise_email(value).email_normalised
    if kind == "phone":
        return to_e164(value, region)
    if kind == "national_id":
        return standardise_national_id(value).national_id
    if kind == "record_key":
        return str(value)
    raise ValueError(f"unknown identifier kind {kind!r}")


def suppression_hash(value: str, hasher: Callable[[str], str] | None = None) -> str:
    """The keyed hash a suppressed identifier is stored and matched under.

    Raises:
        MaskingError: the masking key is not set.
    """
    return (hasher or pseudonymiser())(value)


def add_suppressions(
    con: duckdb.DuckDBPyConnection,
    identifiers: Iterable[tuple[str, str]],
    request_id: str,
    at: datetime,
) -> int:
    """Store (kind, standardised value) pairs as hashes; returns how many were new."""
    hasher = pseudonymiser()
    con.execute(SUPPRESSIONS_DDL)
    rows = sorted({(kind, suppression_hash(value, hasher)) for kind, value in identifiers})
    known = set(
        con.execute(f"select identifier_kind, identifier_hash from {SUPPRESSIONS}").fetchall()
    )
    new = [(kind, digest, request_id, at) for kind, digest in rows if (kind, digest) not in known]
    if new:
        con.executemany(f"insert into {SUPPRESSIONS} values (?, ?, ?, ?)", new)
    return len(new)


def suppressed_hashes(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Identifier kind -> suppressed hashes; empty when nobody was ever erased."""
    if not table_exists(con, SUPPRESSIONS):
        return {}
    hashes: dict[str, set[str]] = {}
    for kind, digest in con.execute(
        f"select identifier_kind, identifier_hash from {SUPPRESSIONS}"
    ).fetchall():
        hashes.setdefault(kind, set()).add(digest)
    return hashes


def mark_suppressed_rows(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, staged: str = "_staged"
) -> int:
    """Fill temp table `_suppressed_rows(_row_number)` with the staged rows of erased people;
    returns their count. Costs nothing while the suppression list is empty."""
    con.execute("create or replace temp table _suppressed_rows (_row_number bigint)")
    suppressed = suppressed_hashes(con)
    if not suppressed:
        return 0
    fields = {"source_record_id": "record_key"} | {
        field: kind for field, kind in SUPPRESSED_FIELDS.items() if field in source.mapping
    }
    selected = ", ".join(
        f"cast({mapping_sql(source.mapping[field])} as varchar)" for field in fields
    )
    hasher = pseudonymiser()
    region = source.default_region
    dropped = []
    for row_number, *values in con.execute(
        f"select _row_number, {selected} from {staged}"
    ).fetchall():
        for (field, kind), value in zip(fields.items(), values, strict=True):
            if field == "source_record_id":
                value = f"{source.name}:{value}" if value is not None else None
            standard = standardise_for_suppression(kind, value, region)
            if standard is not None and hasher(standard) in suppressed.get(kind, ()):
                dropped.append((row_number,))
                break
    if dropped:
        con.executemany("insert into _suppressed_rows values (?)", dropped)
    return len(dropped)
