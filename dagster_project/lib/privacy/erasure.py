"""Erasing a person from the warehouse, provably (R28, R29).

1. Resolve. The request's identifier is standardised as staging does it and looked up in the
   standardised records, record history and golden customers; the records found lead through
   the xref and clusters to their golden customers, and those to every linked source record.
2. Erase, in one transaction: every table the warehouse holds is looked up in the registry
   (`erasure_registry`; an unknown table refuses the erasure) and the person's rows deleted by
   record key, golden ID, case, source record ID or mention. The golden IDs are retired in the
   ledger, which keeps the IDs and no value. Identifiers no remaining record holds, and every
   erased record key, go to the suppression list as keyed hashes; the completion record
   (`privacy.erasure_requests`) is written with counts per table.
3. Leave no trace: report files holding one of the person's values are deleted, the analyst
   database is rebuilt into a new file, and the warehouse is checkpointed and, when free blocks
   may still hold deleted bytes, rewritten into a new file (`compaction.compact_database`).

Nothing here prints or raises with a personal value in it: messages name tables, kinds and
counts. The person's values exist in memory only, to search for them.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from dagster_project.config import GovernanceConfig
from dagster_project.lib.privacy.erasure_registry import Link, TableRule, tables_to_erase
from dagster_project.lib.privacy.legal_holds import held_keys
from dagster_project.lib.privacy.suppression import (
    SUPPRESSED_FIELDS,
    add_suppressions,
    standardise_for_suppression,
    suppression_hash,
)
from dagster_project.lib.warehouse import (
    mapping_sql,
    quote_identifier,
    table_columns,
    table_exists,
    transaction,
)

IDENTIFIER_KINDS = ("email", "phone", "national_id", "golden_id")
REQUESTS = "privacy.erasure_requests"
REQUESTS_DDL = f"""
create table if not exists {REQUESTS} (
    request_id varchar not null,
    identifier_kind varchar not null,
    identifier_hash varchar not null,
    reason varchar not null,
    requested_by varchar not null,
    completed_at timestamp not null,
    golden_customers bigint not null,
    source_records bigint not null,
    rows_by_table json not null,
    files_removed varchar[] not null,
    suppressions_added bigint not null,
    compaction varchar
)
"""

# Standardised columns that identify a person, wherever a table of records or golden values
# has them: the identifiers a request may name, and the values searched for afterwards.
_IDENTIFIER_COLUMNS = {
    "email": ("email_normalised", "email"),
    "phone": ("mobile_phone_e164", "landline_phone_e164"),
    "national_id": ("national_id",),
}
_RECORD_TABLES = ("intermediate.int_customer_records", "history.customer_record_versions")
_GOLDEN_TABLES = ("main.golden_customers", "candidate.golden_customers")
_XREF_TABLES = ("main.customer_source_xref", "candidate.customer_source_xref", "er.record_clusters")
# A customer the retention job archived is found, and erased, in the archive database too, when
# the caller has attached it under this name (lib/privacy/archive.py).
ARCHIVE_CATALOG = "archive"


def _and_archived(tables: tuple[str, ...]) -> tuple[str, ...]:
    return tables + tuple(f"{ARCHIVE_CATALOG}.{table}" for table in tables)


# Whole identifying values only: a family name ("Gao"), a given name or a shared address is
# also other people's, and would be "found" in their rows and in the file's bytes.
_VALUE_COLUMNS = (
    "full_name", "name_original_script", "national_id", "mobile_phone_e164",
    "landline_phone_e164", "email_normalised", "email",
)  # fmt: skip
_VALUE_FIELDS = (
    "full_name", "name_original_script", "national_id", "mobile_phone", "landline_phone", "email",
)  # fmt: skip
# Shorter values ("M", "张") identify nobody alone and would match everywhere.
MIN_SEARCHED_LENGTH = 3
# Free-text columns are searched for IDs and identifiers of at least this length: shorter record
# IDs ("C17") occur inside unrelated text.
MIN_MENTION_LENGTH = 5


class ErasureError(RuntimeError):
    """The request cannot be carried out as asked; the message says why, without values."""


class NobodyMatchedError(ErasureError):
    """No record or golden customer has the identifier."""


@dataclass
class ErasureTarget:
    """Whom a request resolved to. `identifiers` and `values` are personal data: never print
    them."""

    golden_ids: list[str]
    record_keys: list[str]
    identifiers: set[tuple[str, str]] = field(default_factory=set)  # (kind, standardised)
    values: set[str] = field(default_factory=set)  # raw and standardised, for the searches;
    # not the keys: record and golden IDs are pseudonymous and the ledger keeps the IDs


@dataclass
class ErasureOutcome:
    request_id: str
    rows_by_table: dict[str, int]
    golden_customers: int
    source_records: int
    suppressions_added: int = 0
    files_removed: list[str] = field(default_factory=list)


def standardise_request(kind: str, value: str, config: GovernanceConfig) -> list[str]:
    """The request's identifier as staging stores it; a phone without a country code is read
    in each source's default region. Raises ErasureError when it has no standard form."""
    if kind not in IDENTIFIER_KINDS:
        raise ErasureError(f"unknown identifier kind {kind!r}; one of {IDENTIFIER_KINDS}")
    if kind == "golden_id":
        return [value.strip()]
    regions = sorted({source.default_region for source in config.sources}) or ["CN"]
    found = {standardise_for_suppression(kind, value, region) for region in regions}
    found.discard(None)
    if not found:
        raise ErasureError(f"the {kind.replace('_', ' ')} given is not valid: nothing to match")
    return sorted(found)


def _existing(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...]) -> list[str]:
    return [table for table in tables if table_exists(con, table)]


def _values_in(con, table: str, columns: list[str], key: str, keys: list[str]) -> set[str]:
    if not columns or not keys:
        return set()
    selects = " union ".join(
        f"select cast({quote_identifier(column)} as varchar) from {table} "
        f"where {key} in (select unnest(?::varchar[]))"
        for column in columns
    )
    return {row[0] for row in con.execute(selects, [keys] * len(columns)).fetchall() if row[0]}


def resolve_target(
    con: duckdb.DuckDBPyConnection, config: GovernanceConfig, kind: str, value: str
) -> ErasureTarget:
    """The golden customers and source records the identifier leads to, with their values.

    Raises:
        NobodyMatchedError: no record or golden customer has it.
    """
    wanted = standardise_request(kind, value, config)
    record_keys: set[str] = set()
    golden_ids: set[str] = set()
    if kind == "golden_id":
        golden_ids |= set(wanted)
        if table_exists(con, "er.golden_ids"):
            # An old (merged) ID stands for the customer it was merged into.
            golden_ids |= {
                row[0]
                for row in con.execute(
                    "select resolved_golden_customer_id from er.golden_ids "
                    "where golden_customer_id in (select unnest(?::varchar[]))",
                    [wanted],
                ).fetchall()
            }
    else:
        for table in _existing(con, _and_archived(_RECORD_TABLES + _GOLDEN_TABLES)):
            columns = set(table_columns(con, table))
            key = "record_key" if "record_key" in columns else "golden_customer_id"
            for column in _IDENTIFIER_COLUMNS[kind]:
                if column in columns:
                    found = {
                        row[0]
                        for row in con.execute(
                            f"select {key} from {table} "
                            f"where {column} in (select unnest(?::varchar[]))",
                            [wanted],
                        ).fetchall()
                    }
                    (record_keys if key == "record_key" else golden_ids).update(found)
    xrefs = _existing(con, _and_archived(_XREF_TABLES))
    golden_ids, record_keys = _widen(con, golden_ids, record_keys)
    if kind == "golden_id":
        known = set()
        for table in xrefs + _existing(con, ("er.golden_ids",)):
            known |= _values_in(
                con, table, ["golden_customer_id"], "golden_customer_id", sorted(golden_ids)
            )
        golden_ids &= known
    if not record_keys and not golden_ids:
        raise NobodyMatchedError(
            f"no golden customer or source record has that {kind.replace('_', ' ')}: "
            "nothing was erased"
        )
    target = ErasureTarget(sorted(golden_ids), sorted(record_keys))
    _refuse_if_held(con, target)
    _collect_values(con, config, target)
    return target


def target_of_keys(
    con: duckdb.DuckDBPyConnection,
    config: GovernanceConfig,
    golden_ids: set[str],
    record_keys: set[str],
) -> ErasureTarget:
    """The target of an erasure already decided (a replay after a restore): the keys given,
    widened through the xref, with their values; no hold is consulted (the erasure was done)."""
    golden_ids, record_keys = _widen(con, set(golden_ids), set(record_keys))
    target = ErasureTarget(sorted(golden_ids), sorted(record_keys))
    _collect_values(con, config, target)
    return target


def _widen(con, golden_ids: set[str], record_keys: set[str]) -> tuple[set[str], set[str]]:
    """Records lead through the xref to their golden customers, and those to all their records."""
    xrefs = _existing(con, _and_archived(_XREF_TABLES))
    for table in xrefs:
        golden_ids |= _values_in(
            con, table, ["golden_customer_id"], "record_key", sorted(record_keys)
        )
    for table in xrefs:
        record_keys |= _values_in(
            con, table, ["record_key"], "golden_customer_id", sorted(golden_ids)
        )
    return golden_ids, record_keys


def record_keys_present(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Every record key the warehouse's record and xref tables hold."""
    keys: set[str] = set()
    for table in _existing(con, _RECORD_TABLES + _XREF_TABLES):
        keys |= {
            row[0] for row in con.execute(f"select distinct record_key from {table}").fetchall()
        }
    return keys


def _refuse_if_held(con: duckdb.DuckDBPyConnection, target: ErasureTarget) -> None:
    """A customer under a legal hold must be kept (GDPR art. 17(3)(e)): refuse, naming how to
    see and release the hold."""
    held = held_keys(con)
    covered = (set(target.golden_ids) & held.golden_ids) | (
        set(target.record_keys) & held.record_keys
    )
    if covered:
        raise ErasureError(
            f"erasure refused: {len(covered)} of the person's golden IDs or records are under a "
            "legal hold (`custodian hold list`); the hold must be released first "
            "(`custodian hold release HOLD_ID`), or the request answered as held"
        )


def _collect_values(con, config: GovernanceConfig, target: ErasureTarget) -> None:
    """The person's identifiers (for the suppression list) and every identifying value, raw and
    standardised (for the mention deletes, the file and byte searches)."""
    # Keys are not personal values: the ledger keeps the golden IDs on purpose.
    values: set[str] = set()
    for table in _existing(con, _and_archived(_RECORD_TABLES)):
        columns = set(table_columns(con, table))
        for kind, kind_columns in _IDENTIFIER_COLUMNS.items():
            found = _values_in(
                con, table, [c for c in kind_columns if c in columns], "record_key",
                target.record_keys,
            )  # fmt: skip
            target.identifiers |= {(kind, value) for value in found}
        picked = [column for column in _VALUE_COLUMNS if column in columns]
        values |= _values_in(con, table, picked, "record_key", target.record_keys)
    golden_tables = _existing(
        con, _and_archived((*_GOLDEN_TABLES, "history.golden_customer_versions"))
    )
    for table in golden_tables:
        picked = [column for column in _VALUE_COLUMNS if column in table_columns(con, table)]
        values |= _values_in(con, table, picked, "golden_customer_id", target.golden_ids)
    raw_tables = [
        (source, table)
        for source in config.sources
        for table in _and_archived((f"raw.{source.name}__customers",))
    ]
    for source, raw_table in raw_tables:
        ids = [
            key.split(":", 1)[1] for key in target.record_keys if key.startswith(f"{source.name}:")
        ]
        if not ids or not table_exists(con, raw_table):
            continue
        id_sql = mapping_sql(source.mapping["source_record_id"])
        for name in _VALUE_FIELDS:
            if name not in source.mapping:
                continue
            found = {
                row[0]
                for row in con.execute(
                    f"select cast({mapping_sql(source.mapping[name])} as varchar) "
                    f"from {raw_table} where {id_sql} in (select unnest(?::varchar[]))",
                    [ids],
                ).fetchall()
                if row[0]
            }
            values |= found
            kind = SUPPRESSED_FIELDS.get(name)
            for raw in found if kind else ():
                standard = standardise_for_suppression(kind, raw, source.default_region)
                if standard:
                    target.identifiers.add((kind, standard))
    target.values = {value.strip() for value in values if len(value.strip()) >= MIN_SEARCHED_LENGTH}


def stage_keys(con: duckdb.DuckDBPyConnection, target: ErasureTarget) -> None:
    """Temp tables the deletes join against, so no value is ever written into SQL text."""
    # unnest of a bound list, not executemany: a request may stage no key of a kind.
    con.execute(
        "create or replace temp table _erase_record_keys as "
        "select unnest(?::varchar[]) as record_key",
        [target.record_keys],
    )
    con.execute(
        "create or replace temp table _erase_golden_ids as "
        "select unnest(?::varchar[]) as golden_customer_id",
        [target.golden_ids],
    )
    con.execute(
        "create or replace temp table _erase_source_records as "
        "select record_key[:strpos(record_key, ':') - 1] as source_name, "
        "record_key[strpos(record_key, ':') + 1:] as source_record_id from _erase_record_keys"
    )
    needles = set(target.golden_ids) | set(target.record_keys)
    needles |= {key.split(":", 1)[1] for key in target.record_keys}
    needles |= {value for _, value in target.identifiers}
    needles |= {
        value for value in target.values if any(ch.isdigit() for ch in value) or "@" in value
    }
    con.execute(
        "create or replace temp table _erase_mentions as select unnest(?::varchar[]) as needle",
        [sorted(needle for needle in needles if len(needle) >= MIN_MENTION_LENGTH)],
    )
    con.execute("create or replace temp table _erase_case_ids (case_id varchar)")
    if table_exists(con, "monitoring.cases"):
        con.execute(
            "insert into _erase_case_ids select case_id from monitoring.cases "
            "where golden_customer_id in (select golden_customer_id from _erase_golden_ids)"
        )


def _link_condition(table: str, link: Link, columns: list[str]) -> str:
    if link.kind == "source_record":
        source = table.split(".", 1)[1].removesuffix("__customers")
        return (
            f"cast({link.column} as varchar) in (select source_record_id "
            f"from _erase_source_records where source_name = '{source}')"
        )
    if link.kind == "row_mentions":
        # The table's name as a column is the whole row (a struct), cast to text.
        row = quote_identifier(table.split(".", 1)[1])
        return (
            f"exists (select 1 from _erase_mentions where contains(cast({row} as varchar), needle))"
        )
    if link.column not in columns:
        # A registered link column that is gone means the registry no longer describes the
        # table: refuse rather than guess.
        raise ErasureError(
            f"erasure refused: {table} has no column {link.column!r} that the erasure registry "
            "links it by; update dagster_project/lib/privacy/erasure_registry.py"
        )
    column = quote_identifier(link.column)
    if link.kind == "record_key":
        return f"{column} in (select record_key from _erase_record_keys)"
    if link.kind == "golden_id":
        return f"{column} in (select golden_customer_id from _erase_golden_ids)"
    if link.kind == "case_id":
        return f"{column} in (select case_id from _erase_case_ids)"
    return f"exists (select 1 from _erase_mentions where contains({column}, needle))"


def row_condition(
    table: str, rule: TableRule, columns: list[str], kinds: frozenset[str] | None = None
) -> str | None:
    """SQL condition for the rows of `table` that belong to the keys `stage_keys` staged, by the
    registry's links (those of `kinds` only, when given); None when nothing of it can be."""
    links = [link for link in rule.links if kinds is None or link.kind in kinds]
    if rule.treatment != "delete" or not links:
        return None
    return " or ".join(f"({_link_condition(table, link, columns)})" for link in links)


def ordered_tables(tables: dict) -> list[str]:
    # Case actions are found through their cases: delete them first.
    return sorted(tables, key=lambda table: (table != "monitoring.case_actions", table))


def count_rows(
    con: duckdb.DuckDBPyConnection, config: GovernanceConfig, target: ErasureTarget
) -> dict[str, int]:
    """What an erasure would delete: rows per table (a dry run changes nothing)."""
    tables = tables_to_erase(con, config)
    stage_keys(con, target)
    counts = {}
    for table in ordered_tables(tables):
        rule, columns = tables[table]
        condition = row_condition(table, rule, columns)
        if not condition:
            continue
        for copy in _and_archived((table,)):
            if table_exists(con, copy):
                counts[copy] = con.execute(
                    f"select count(*) from {copy} where {condition}"
                ).fetchone()[0]
    return counts


def _retire_golden_ids(con, target: ErasureTarget, run_id: str, at: datetime) -> None:
    """The ledger keeps the IDs (never issued again) and retires them; no value is kept."""
    if not table_exists(con, "er.golden_ids"):
        return
    con.execute(
        """
        insert into er.golden_id_ledger
        select ?, ?, 'retired', golden_customer_id, null, 0 from er.golden_ids
        where status = 'active' and golden_customer_id in (select unnest(?::varchar[]))
        """,
        [run_id, at, target.golden_ids],
    )
    con.execute(
        """
        update er.golden_ids set status = 'retired', retired_at = ?, retired_run_id = ?
        where status = 'active' and golden_customer_id in (select unnest(?::varchar[]))
        """,
        [at, run_id, target.golden_ids],
    )


def _still_held(con, identifiers: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Identifiers another (not erased) record still holds: suppressing them would drop that
    other person's future deliveries."""
    held = set()
    for table in _existing(con, _RECORD_TABLES):
        columns = set(table_columns(con, table))
        for kind, kind_columns in _IDENTIFIER_COLUMNS.items():
            wanted = sorted(value for k, value in identifiers if k == kind)
            for column in (c for c in kind_columns if c in columns):
                if wanted:
                    held |= {
                        (kind, row[0])
                        for row in con.execute(
                            f"select distinct {column} from {table} "
                            f"where {column} in (select unnest(?::varchar[]))",
                            [wanted],
                        ).fetchall()
                    }
    return held


def erase(
    con: duckdb.DuckDBPyConnection,
    config: GovernanceConfig,
    target: ErasureTarget,
    *,
    kind: str,
    value: str,
    reason: str,
    requested_by: str,
    at: datetime,
) -> ErasureOutcome:
    """Delete the person everywhere, retire their IDs, suppress their identifiers and write the
    completion record, in one transaction (all or nothing)."""
    request_id = "ER" + uuid.uuid4().hex[:14].upper()
    tables = tables_to_erase(con, config)
    stage_keys(con, target)
    # The archive first, in its own transaction (DuckDB writes one file per transaction): should
    # the warehouse's then fail, nothing of the person is left in the archive either.
    counts = _erase_archived(con, tables)
    con.execute("begin transaction")
    try:
        for table in ordered_tables(tables):
            rule, columns = tables[table]
            condition = row_condition(table, rule, columns)
            if condition:
                counts[table] = con.execute(f"delete from {table} where {condition}").fetchone()[0]
        _retire_golden_ids(con, target, f"erasure:{request_id}", at)
        suppressed = (target.identifiers - _still_held(con, target.identifiers)) | {
            ("record_key", key) for key in target.record_keys
        }
        added = add_suppressions(con, suppressed, request_id, at)
        con.execute(REQUESTS_DDL)
        identifier = standardise_request(kind, value, config)[0]
        con.execute(
            f"insert into {REQUESTS} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, null)",
            [
                request_id, kind, suppression_hash(identifier), reason, requested_by, at,
                len(target.golden_ids), len(target.record_keys),
                json.dumps({t: n for t, n in counts.items() if n}, sort_keys=True), [], added,
            ],
        )  # fmt: skip
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return ErasureOutcome(
        request_id, counts, len(target.golden_ids), len(target.record_keys), added
    )


def _erase_archived(con: duckdb.DuckDBPyConnection, tables: dict) -> dict[str, int]:
    """Delete the staged person from the archive's copies of the registered tables, when the
    archive is attached; rows per `archive.<table>`."""
    counts: dict[str, int] = {}
    archived = [
        table for table in ordered_tables(tables)
        if table_exists(con, f"{ARCHIVE_CATALOG}.{table}")
    ]  # fmt: skip
    if not archived:
        return counts
    with transaction(con):
        for table in archived:
            rule, columns = tables[table]
            condition = row_condition(table, rule, columns)
            if condition:
                counts[f"{ARCHIVE_CATALOG}.{table}"] = con.execute(
                    f"delete from {ARCHIVE_CATALOG}.{table} where {condition}"
                ).fetchone()[0]
    return counts


def record_followup(
    con: duckdb.DuckDBPyConnection, request_id: str, files_removed: list[str], compaction: str
) -> None:
    """Add what happened after the commit (files deleted, how the file was compacted)."""
    con.execute(
        f"update {REQUESTS} set files_removed = ?, compaction = ? where request_id = ?",
        [files_removed, compaction, request_id],
    )
