"""Steward review: the queue of uncertain pairs, match decisions and golden-field corrections.

Three tables in `er`:
- `er.review_queue`: one row per record pair that ever scored in the review band (between the
  review and the auto-link threshold). `pair_id` derives from the ordered key pair, so the same
  two records keep the same ID across runs and model versions.
- `er.review_decisions`: append-only; a steward's "same customer" / "different customers" per
  pair. The latest decision per pair counts: a steward may change their mind, and the history
  stays for audit. Decisions become must-link / cannot-link constraints on the next clustering
  and labelled pairs for training (Splink's `estimate_m_from_pairwise_labels`).
- `er.steward_corrections`: append-only; a steward's value for one golden field, which wins
  over every survivorship rule (R22). The latest per (golden customer, field) counts.

Queue lifecycle, decided here: a pair is `open` while it scores in the band and has no
decision; `decided` once a steward decided it (it is never queued again: the decision is the
answer, whatever the model later says); `withdrawn` when a run no longer scores it in the band
(it is auto-linked now, fell below the review threshold, or a record is gone). Withdrawn rows
are kept rather than deleted so a steward who had the pair open can still show and decide it,
and a pair that returns to the band is reopened with its new score under the same ID.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime

import duckdb
import pyarrow as pa

from dagster_project.lib.warehouse import table_exists

QUEUE_TABLE = "er.review_queue"
DECISIONS_TABLE = "er.review_decisions"
CORRECTIONS_TABLE = "er.steward_corrections"
PREDICTIONS_TABLE = "er.pairwise_predictions"
RECORDS_TABLE = "intermediate.int_customer_records"
GOLDEN_TABLE = "main.golden_customers"
CLUSTERS_TABLE = "er.record_clusters"

EXPLANATION_TYPE = "struct(comparison varchar, level varchar, match_weight double)[]"

_DDL = (
    f"""
    create table if not exists {QUEUE_TABLE} (
        pair_id varchar not null,
        record_key_l varchar not null,
        record_key_r varchar not null,
        match_probability double,
        match_weight double,
        match_explanation {EXPLANATION_TYPE},
        status varchar not null,
        queued_run_id varchar,
        queued_at timestamp,
        -- The run whose score the row holds: a run that scores the pair the same leaves it.
        scored_run_id varchar,
        status_changed_at timestamp,
        -- Queued by the name guard (full names disagree), whatever the probability, rather
        -- than for a probability in the band.
        has_name_conflict boolean
    )
    """,
    # Queues created before the name-guard flag was kept.
    f"alter table {QUEUE_TABLE} add column if not exists has_name_conflict boolean",
    "create sequence if not exists er.review_decision_id_seq start 1",
    f"""
    create table if not exists {DECISIONS_TABLE} (
        decision_id bigint not null default nextval('er.review_decision_id_seq'),
        pair_id varchar not null,
        record_key_l varchar not null,
        record_key_r varchar not null,
        is_match boolean not null,
        decided_by varchar not null,
        note varchar,
        decided_at timestamp not null
    )
    """,
    "create sequence if not exists er.steward_correction_id_seq start 1",
    f"""
    create table if not exists {CORRECTIONS_TABLE} (
        correction_id bigint not null default nextval('er.steward_correction_id_seq'),
        golden_customer_id varchar not null,
        field varchar not null,
        corrected_value varchar not null,
        corrected_by varchar not null,
        note varchar,
        corrected_at timestamp not null
    )
    """,
)

QUEUE_STATUSES = ("open", "decided", "withdrawn")


def pair_id_sql(left: str, right: str) -> str:
    """SQL for a pair's ID: the same two records give the same ID in either order."""
    return (
        f"'RP' || upper(substr(sha256(least({left}, {right}) || chr(31) || "
        f"greatest({left}, {right})), 1, 14))"
    )


def ensure_review_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the review tables if missing (idempotent); the `er` schema too."""
    con.execute("create schema if not exists er")
    for statement in _DDL:
        con.execute(statement)


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection, *, own: bool = True) -> Iterator[None]:
    """A transaction of our own, or none when the caller holds one (`own=False`).

    DuckDB has no nested transactions and cannot say whether one is open, and a refused BEGIN
    aborts the caller's transaction, so the caller has to say.
    """
    if not own:
        yield
        return
    con.execute("begin transaction")
    try:
        yield
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


@dataclass(frozen=True)
class QueueRefresh:
    """What one refresh did to the queue."""

    queued: int  # pairs queued for the first time
    rescored: int  # open pairs still in the band, score and explanation updated
    reopened: int  # withdrawn pairs back in the band
    withdrawn: int  # open pairs no longer in the band
    already_decided: int  # pairs in the band that a steward decided before: not queued
    open_total: int  # open pairs after the refresh


def refresh_review_queue(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    queued_at: datetime,
    own_transaction: bool = True,
) -> QueueRefresh:
    """Bring the queue in line with this run's `er.pairwise_predictions`.

    The band is the pairs with `is_auto_linked = false` (the predictions table holds only pairs
    at or above the review threshold). When the predictions carry no `match_explanation`
    column yet, pairs are queued without one.

    Args:
        con: a writable warehouse connection.
        run_id: recorded on queued and rescored pairs.
        queued_at: the run's time (UTC, naive), recorded on new and changed rows.
        own_transaction: False when the caller already holds a transaction (for example the
            one replacing er.pairwise_predictions); the refresh then runs inside it.
    """
    explanation = _column_or_null(
        con, PREDICTIONS_TABLE, "match_explanation", EXPLANATION_TYPE, cast=True
    )
    name_conflict = _column_or_null(con, PREDICTIONS_TABLE, "has_name_conflict", "boolean")
    with _transaction(con, own=own_transaction):
        ensure_review_tables(con)
        # One row per unordered pair (the highest score if a pair was scored twice).
        con.execute(
            f"""
            create or replace temp table _review_band as
            select
                {pair_id_sql("record_key_l", "record_key_r")} as pair_id,
                least(record_key_l, record_key_r) as record_key_l,
                greatest(record_key_l, record_key_r) as record_key_r,
                match_probability,
                match_weight,
                {explanation},
                {name_conflict}
            from {PREDICTIONS_TABLE}
            where is_auto_linked = false and record_key_l <> record_key_r
            qualify row_number() over (
                partition by least(record_key_l, record_key_r), greatest(record_key_l, record_key_r)
                order by match_probability desc nulls last
            ) = 1
            """
        )
        already_decided = _count(
            con,
            f"select count(*) from _review_band where pair_id in "
            f"(select pair_id from {DECISIONS_TABLE})",
        )
        con.execute(
            f"delete from _review_band where pair_id in (select pair_id from {DECISIONS_TABLE})"
        )
        withdrawn = _count(
            con,
            f"select count(*) from {QUEUE_TABLE} where status = 'open' "
            "and pair_id not in (select pair_id from _review_band)",
        )
        con.execute(
            f"""
            update {QUEUE_TABLE} set status = 'withdrawn', status_changed_at = ?
            where status = 'open' and pair_id not in (select pair_id from _review_band)
            """,
            [queued_at],
        )
        rescored, reopened = con.execute(
            f"""
            select count(*) filter (where q.status = 'open'),
                   count(*) filter (where q.status = 'withdrawn')
            from {QUEUE_TABLE} as q join _review_band as b using (pair_id)
            """
        ).fetchone()
        # Only rows whose score changed are written: DuckDB rewrites a row to update its list
        # column (the explanation), and on a day without a new model most scores are the same.
        con.execute(
            f"""
            update {QUEUE_TABLE} as q set
                match_probability = b.match_probability,
                match_weight = b.match_weight,
                match_explanation = b.match_explanation,
                has_name_conflict = b.has_name_conflict,
                scored_run_id = ?,
                status_changed_at = if(q.status = 'open', q.status_changed_at, ?),
                status = 'open'
            from _review_band as b
            where q.pair_id = b.pair_id
              and (q.status = 'withdrawn' or (
                  q.status = 'open' and (
                      q.match_probability is distinct from b.match_probability
                      or q.match_weight is distinct from b.match_weight
                      or q.match_explanation is distinct from b.match_explanation
                      or q.has_name_conflict is distinct from b.has_name_conflict)))
            """,
            [run_id, queued_at],
        )
        queued = _count(
            con,
            f"select count(*) from _review_band where pair_id not in "
            f"(select pair_id from {QUEUE_TABLE})",
        )
        con.execute(
            f"""
            insert into {QUEUE_TABLE} (
                pair_id, record_key_l, record_key_r, match_probability, match_weight,
                match_explanation, status, queued_run_id, queued_at, scored_run_id,
                status_changed_at, has_name_conflict)
            select pair_id, record_key_l, record_key_r, match_probability, match_weight,
                   match_explanation, 'open', ?, ?, ?, ?, has_name_conflict
            from _review_band
            where pair_id not in (select pair_id from {QUEUE_TABLE})
            order by pair_id
            """,
            [run_id, queued_at, run_id, queued_at],
        )
        con.execute("drop table _review_band")
        open_total = _count(con, f"select count(*) from {QUEUE_TABLE} where status = 'open'")
    return QueueRefresh(
        queued=queued,
        rescored=rescored,
        reopened=reopened,
        withdrawn=withdrawn,
        already_decided=already_decided,
        open_total=open_total,
    )


def _column_or_null(
    con: duckdb.DuckDBPyConnection, table: str, column: str, sql_type: str, *, cast: bool = False
) -> str:
    """`column` (cast to `sql_type` if asked), or a typed null under its name when `table` was
    written before the column existed (predictions without explanations, an older queue)."""
    columns = {row[0] for row in con.execute(f"describe {table}").fetchall()}
    if column not in columns:
        return f"null::{sql_type} as {column}"
    return f"{column}::{sql_type} as {column}" if cast else column


def _count(con: duckdb.DuckDBPyConnection, query: str) -> int:
    return int(con.execute(query).fetchone()[0])


class UnknownPairError(LookupError):
    """A pair ID that the review queue has never held."""


@dataclass(frozen=True)
class Decision:
    decision_id: int
    pair_id: str
    record_key_l: str
    record_key_r: str
    is_match: bool
    supersedes: bool  # the pair had an earlier decision, which this one replaces


class UnknownRecordError(LookupError):
    """A record key that no resolution run has published (not in er.record_clusters)."""


def record_decision(
    con: duckdb.DuckDBPyConnection,
    *,
    pair_id: str | None = None,
    record_keys: tuple[str, str] | None = None,
    is_match: bool,
    decided_by: str,
    note: str | None,
    decided_at: datetime,
) -> Decision:
    """Append a decision for a pair and mark the pair decided if it is queued.

    The pair is either a queued one (`pair_id`) or any two published records (`record_keys`):
    the way to split a golden customer the model linked automatically (no) or to join two records
    the model never compared (yes). Either way the pair gets the queue's pair ID.

    Raises:
        UnknownPairError: `pair_id` was never in the queue.
        UnknownRecordError: a record key is not in er.record_clusters.
        ValueError: `decided_by` is blank, the two keys are one record, or not exactly one of
            `pair_id` and `record_keys` is given.
    """
    if not decided_by or not decided_by.strip():
        raise ValueError("a decision needs the steward's name (decided_by)")
    if (pair_id is None) == (record_keys is None):
        raise ValueError("give either a queued pair's ID or two record keys")
    ensure_review_tables(con)
    with _transaction(con):
        pair_id, left, right = (
            _published_pair(con, record_keys)
            if record_keys is not None
            else _queued_pair(con, pair_id)
        )
        earlier = con.execute(
            f"select count(*) from {DECISIONS_TABLE} where pair_id = ?", [pair_id]
        ).fetchone()[0]
        decision_id = con.execute(
            f"""
            insert into {DECISIONS_TABLE} (
                pair_id, record_key_l, record_key_r, is_match, decided_by, note, decided_at)
            values (?, ?, ?, ?, ?, ?, ?)
            returning decision_id
            """,
            [pair_id, left, right, is_match, decided_by.strip(), note, decided_at],
        ).fetchone()[0]
        con.execute(
            f"update {QUEUE_TABLE} set status = 'decided', status_changed_at = ? where pair_id = ?",
            [decided_at, pair_id],
        )
    return Decision(decision_id, pair_id, left, right, is_match, earlier > 0)


def _queued_pair(con: duckdb.DuckDBPyConnection, pair_id: str) -> tuple[str, str, str]:
    """(pair_id, record_key_l, record_key_r) of a pair the queue holds or held."""
    pair_id = pair_id.strip().upper()
    row = con.execute(
        f"select record_key_l, record_key_r from {QUEUE_TABLE} where pair_id = ?", [pair_id]
    ).fetchone()
    if row is None:
        raise UnknownPairError(pair_id)
    return pair_id, *row


def _published_pair(
    con: duckdb.DuckDBPyConnection, record_keys: tuple[str, str]
) -> tuple[str, str, str]:
    """(pair_id, record_key_l, record_key_r) for two published records, keys ordered."""
    left, right = sorted(key.strip() for key in record_keys)
    if left == right:
        raise ValueError(f"both record keys are {left!r}: a decision needs two records")
    published = set()
    if table_exists(con, CLUSTERS_TABLE):
        published = {
            row[0]
            for row in con.execute(
                f"select record_key from {CLUSTERS_TABLE} where record_key in (?, ?)",
                [left, right],
            ).fetchall()
        }
    for key in (left, right):
        if key not in published:
            raise UnknownRecordError(key)
    (pair_id,) = con.execute(
        f"select {pair_id_sql('l', 'r')} from (select ?::varchar as l, ?::varchar as r)",
        [left, right],
    ).fetchone()
    return pair_id, left, right


def _latest_decisions_sql() -> str:
    # decision_id comes from a sequence, so it orders decisions even within one timestamp.
    return f"""
        select record_key_l, record_key_r, is_match
        from {DECISIONS_TABLE}
        qualify row_number() over (
            partition by least(record_key_l, record_key_r), greatest(record_key_l, record_key_r)
            order by decided_at desc, decision_id desc
        ) = 1
    """


_PAIR_SCHEMA = pa.schema([("record_key_l", pa.string()), ("record_key_r", pa.string())])


def pair_constraints(con: duckdb.DuckDBPyConnection) -> tuple[pa.Table, pa.Table]:
    """(must_link, cannot_link) from the latest decision per unordered pair, for clustering.

    Empty tables when no steward has decided anything (or the tables do not exist yet, so a
    read-only connection works too).
    """
    if not table_exists(con, DECISIONS_TABLE):
        return _PAIR_SCHEMA.empty_table(), _PAIR_SCHEMA.empty_table()
    latest = con.execute(_latest_decisions_sql() + " order by record_key_l, record_key_r")
    table = latest.to_arrow_table()
    pairs = table.select(["record_key_l", "record_key_r"]).cast(_PAIR_SCHEMA)
    is_match = table.column("is_match").to_pylist()
    must = pairs.filter(pa.array(is_match, pa.bool_()))
    cannot = pairs.filter(pa.array([not value for value in is_match], pa.bool_()))
    return must, cannot


def labelled_pairs(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """(record_key_l, record_key_r, is_match) from the latest decision per pair.

    For Splink's `estimate_m_from_pairwise_labels`, which reads every row as a true match:
    keep `is_match` rows and rename the keys to `unique_id_l` / `unique_id_r`.
    """
    schema = _PAIR_SCHEMA.append(pa.field("is_match", pa.bool_()))
    if not table_exists(con, DECISIONS_TABLE):
        return schema.empty_table()
    query = _latest_decisions_sql() + " order by record_key_l, record_key_r"
    return con.execute(query).to_arrow_table().cast(schema)


def latest_corrections(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyRelation:
    """The latest correction per (golden_customer_id, field): what survivorship must apply.

    Columns: golden_customer_id, field, corrected_value (text; cast by the field's type when
    applied), corrected_by, corrected_at, correction_id.
    """
    if not table_exists(con, CORRECTIONS_TABLE):
        return con.sql(
            "select null::varchar as golden_customer_id, null::varchar as field, "
            "null::varchar as corrected_value, null::varchar as corrected_by, "
            "null::timestamp as corrected_at, null::bigint as correction_id limit 0"
        )
    return con.sql(
        f"""
        select golden_customer_id, field, corrected_value, corrected_by, corrected_at,
               correction_id
        from {CORRECTIONS_TABLE}
        qualify row_number() over (
            partition by golden_customer_id, field order by corrected_at desc, correction_id desc
        ) = 1
        """
    )


# Golden fields a steward may correct, with how the value is checked. Keys, lineage and
# aggregates (golden_customer_id, first/last_seen_date, source counts, sources_present,
# last_interaction_at) describe the records, not the person, and derived codes
# (admin_division_code) follow the address: correcting them would contradict their sources.
CORRECTABLE_FIELDS: dict[str, str] = {
    "full_name": "name",
    "name_original_script": "text",
    "name_pinyin": "text",
    "gender": "gender",
    "date_of_birth": "date",
    "national_id": "national_id",
    "mobile_phone_e164": "mobile_phone",
    "landline_phone_e164": "landline_phone",
    "email": "email",
    "address_line": "text",
    "district": "text",
    "city": "text",
    "province": "text",
    "postal_code": "text",
    "country_code": "country",
    "billing_address_line": "text",
    "company_name": "text",
    "customer_tags": "text",
    "membership_level": "text",
    "consent_marketing": "yes_no",
}

_GENDERS = {"m": "M", "male": "M", "男": "M", "f": "F", "female": "F", "女": "F", "x": "X"}
_YES_NO = {"yes": "true", "y": "true", "true": "true", "1": "true", "是": "true",
           "no": "false", "n": "false", "false": "false", "0": "false", "否": "false"}  # fmt: skip


class InvalidCorrectionError(ValueError):
    """A correction's field or value is not acceptable; the message never contains the value."""


def standardise_correction(field: str, value: str, *, country_code: str | None = None) -> str:
    """The value as the golden table stores it, or InvalidCorrectionError saying why.

    Args:
        field: a golden_customers column in CORRECTABLE_FIELDS.
        value: what the steward typed.
        country_code: the customer's country (ISO alpha-2), for phone numbers written without
            a country code; CN when unknown, as for the mainland sources.
    """
    kind = CORRECTABLE_FIELDS.get(field)
    if kind is None:
        raise InvalidCorrectionError(
            f"{field!r} is not a correctable golden field; correctable: "
            + ", ".join(sorted(CORRECTABLE_FIELDS))
        )
    text = value.strip()
    if not text:
        raise InvalidCorrectionError(f"{field}: the corrected value is empty")
    if kind in ("mobile_phone", "landline_phone"):
        from dagster_project.lib.standardise.phones import standardise_phone

        phone = standardise_phone(text, country_code or "CN")
        if not phone.is_valid or phone.e164 is None:
            raise InvalidCorrectionError(
                f"{field}: not a valid phone number ({phone.invalid_reason}); write it with its "
                "country code, e.g. +86 ..."
            )
        if kind == "mobile_phone" and phone.phone_type not in ("mobile", "fixed_line_or_mobile"):
            raise InvalidCorrectionError(f"{field}: a valid number, but a {phone.phone_type}")
        return phone.e164
    if kind == "email":
        from dagster_project.lib.standardise.emails import standardise_email

        email = standardise_email(text)
        if not email.email_is_valid or email.email_normalised is None:
            raise InvalidCorrectionError(
                f"{field}: not a valid e-mail address ({email.email_invalid_reason})"
            )
        return email.email_normalised
    if kind == "national_id":
        from dagster_project.lib.standardise.national_id import standardise_national_id

        national_id = standardise_national_id(text)
        if not national_id.is_valid or national_id.national_id is None:
            raise InvalidCorrectionError(
                f"{field}: not a valid resident ID number ({national_id.invalid_reason})"
            )
        return national_id.national_id
    if kind == "date":
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise InvalidCorrectionError(f"{field}: not a date; use YYYY-MM-DD") from None
        if not date(1900, 1, 1) <= day <= date.today():
            raise InvalidCorrectionError(f"{field}: must be between 1900-01-01 and today")
        return day.isoformat()
    if kind == "gender":
        if text.lower() not in _GENDERS:
            raise InvalidCorrectionError(f"{field}: use M, F or X")
        return _GENDERS[text.lower()]
    if kind == "yes_no":
        if text.lower() not in _YES_NO:
            raise InvalidCorrectionError(f"{field}: use yes or no")
        return _YES_NO[text.lower()]
    if kind == "country":
        from dagster_project.lib.standardise.countries import to_iso_country

        code = to_iso_country(text)
        if code is None:
            raise InvalidCorrectionError(f"{field}: not a country code or name known to ISO 3166")
        return code
    if kind == "name":
        from dagster_project.lib.standardise.names import standardise_name

        name = standardise_name(text)
        if not name.name_is_valid or name.full_name is None:
            raise InvalidCorrectionError(f"{field}: not a usable name ({name.name_invalid_reason})")
        return name.full_name
    return text


@dataclass(frozen=True)
class Correction:
    correction_id: int
    golden_customer_id: str
    field: str
    corrected_value: str


def record_correction(
    con: duckdb.DuckDBPyConnection,
    *,
    golden_customer_id: str,
    field: str,
    value: str,
    corrected_by: str,
    note: str | None,
    corrected_at: datetime,
) -> Correction:
    """Validate and append a steward's correction of one golden field.

    Raises:
        InvalidCorrectionError: unknown field or unacceptable value (message without the value).
        LookupError: no golden customer with that ID (or no golden table yet).
        ValueError: `corrected_by` is blank.
    """
    if not corrected_by or not corrected_by.strip():
        raise ValueError("a correction needs the steward's name (corrected_by)")
    if field not in CORRECTABLE_FIELDS:
        standardise_correction(field, value)  # raises, naming the correctable fields
    if not table_exists(con, GOLDEN_TABLE):
        raise LookupError(f"no {GOLDEN_TABLE} yet: run the pipeline first (`custodian run`)")
    found = con.execute(
        f"select country_code from {GOLDEN_TABLE} where golden_customer_id = ?",
        [golden_customer_id],
    ).fetchone()
    if found is None:
        raise LookupError(f"no golden customer {golden_customer_id!r} in {GOLDEN_TABLE}")
    standard = standardise_correction(field, value, country_code=found[0])
    ensure_review_tables(con)
    correction_id = con.execute(
        f"""
        insert into {CORRECTIONS_TABLE} (
            golden_customer_id, field, corrected_value, corrected_by, note, corrected_at)
        values (?, ?, ?, ?, ?, ?)
        returning correction_id
        """,
        [golden_customer_id, field, standard, corrected_by.strip(), note, corrected_at],
    ).fetchone()[0]
    return Correction(correction_id, golden_customer_id, field, standard)


def open_pairs(con: duckdb.DuckDBPyConnection, *, limit: int) -> tuple[list[dict], int]:
    """Open pairs, highest probability first, with both records' names; and how many are open.

    Values are as stored (unmasked): the caller masks them for display.
    """
    if not table_exists(con, QUEUE_TABLE):
        return [], 0
    total = _count(con, f"select count(*) from {QUEUE_TABLE} where status = 'open'")
    has_records = table_exists(con, RECORDS_TABLE)
    # A queue from before the flag was kept, read before the next run adds the column.
    name_conflict = _column_or_null(con, QUEUE_TABLE, "has_name_conflict", "boolean")
    names = (
        "l.full_name as full_name_l, r.full_name as full_name_r"
        if has_records
        else "null as full_name_l, null as full_name_r"
    )
    joins = (
        f"left join {RECORDS_TABLE} as l on l.record_key = q.record_key_l "
        f"left join {RECORDS_TABLE} as r on r.record_key = q.record_key_r"
        if has_records
        else ""
    )
    cursor = con.execute(
        f"""
        select q.pair_id, q.match_probability, q.match_weight, {name_conflict},
               q.record_key_l, q.record_key_r, {names}, q.queued_at
        from {QUEUE_TABLE} as q {joins}
        where q.status = 'open'
        order by q.match_probability desc nulls last, q.pair_id
        limit ?
        """,
        [limit],
    )
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()], total


@dataclass(frozen=True)
class PairReview:
    """Everything a steward sees for one pair; values unmasked, for the caller to mask."""

    pair: dict
    record_l: dict | None  # None when the record is gone (retention) or no records table
    record_r: dict | None
    explanation: list[dict]  # comparison, level, match_weight; strongest evidence first
    latest_decision: dict | None


def pair_for_review(con: duckdb.DuckDBPyConnection, pair_id: str) -> PairReview:
    """The queue row, both records and the waterfall of one pair.

    Raises:
        UnknownPairError: the queue has never held `pair_id`.
    """
    pair_id = pair_id.strip().upper()
    if not table_exists(con, QUEUE_TABLE):
        raise UnknownPairError(pair_id)
    cursor = con.execute(f"select * from {QUEUE_TABLE} where pair_id = ?", [pair_id])
    row = cursor.fetchone()
    if row is None:
        raise UnknownPairError(pair_id)
    pair = dict(zip([column[0] for column in cursor.description], row, strict=True))
    records: dict[str, dict] = {}
    if table_exists(con, RECORDS_TABLE):
        cursor = con.execute(
            f"select * from {RECORDS_TABLE} where record_key in (?, ?)",
            [pair["record_key_l"], pair["record_key_r"]],
        )
        columns = [column[0] for column in cursor.description]
        for values in cursor.fetchall():
            record = dict(zip(columns, values, strict=True))
            records[record["record_key"]] = record
    explanation = sorted(
        pair.get("match_explanation") or [],
        key=lambda step: (-(step.get("match_weight") or 0.0), step.get("comparison") or ""),
    )
    latest = None
    if table_exists(con, DECISIONS_TABLE):
        cursor = con.execute(
            f"select decision_id, is_match, decided_by, decided_at from {DECISIONS_TABLE} "
            "where pair_id = ? order by decided_at desc, decision_id desc limit 1",
            [pair_id],
        )
        found = cursor.fetchone()
        if found is not None:
            latest = dict(zip([column[0] for column in cursor.description], found, strict=True))
    return PairReview(
        pair=pair,
        record_l=records.get(pair["record_key_l"]),
        record_r=records.get(pair["record_key_r"]),
        explanation=explanation,
        latest_decision=latest,
    )
