"""Record history: one day's delivery becomes new versions, tombstones and change-log rows.

`write_day` takes one delivery day of every source (lib/history/days.py decides whether and in
which order a day is applied, and holds the transaction):

1. Each delivered row is fingerprinted over its raw columns (and the standardiser's version);
   the last row of a key in a file wins, as exports append corrections.
2. A key whose fingerprint equals its current version's is a re-sent unchanged record: it is put
   on `history.unchanged_deliveries`, which the staging views leave out, so only new and changed
   records are standardised (a daily full extract of 1M records with 1% changed standardises
   10,000 records, not 1M).
3. The standardised rows are compared with the current versions over every standardised column:
   a difference makes a new version (SCD2) and one change-log row per changed field; a key new
   to the source is an insert; a key missing from a `full` source's delivery, or a row its
   `extract.deleted_when` marks, is a delete (a tombstone version).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb

from dagster_project.config import GovernanceConfig, SourceConfig
from dagster_project.lib.history.schema import (
    CHANGE_LOG,
    PRESENCE,
    RECORD_FIELD,
    UNCHANGED_DELIVERIES,
    VERSION_COLUMNS_DDL,
    VERSIONS,
    add_missing_columns,
)
from dagster_project.lib.privacy.archive_keys import ARCHIVED_RECORDS
from dagster_project.lib.transform.source_models import staging_model_name
from dagster_project.lib.warehouse import one_thread, quote_identifier, table_exists

# Staging columns that say where and when a version was delivered, not what it holds: two
# deliveries differing only here are the same version.
LINEAGE_COLUMNS = (
    "partition_date",
    "source_row_number",
    "source_file_path",
    "loaded_at",
    "trust_rank",
)

# Change-log field -> its standardised value: a staging column, or an expression over the
# columns of `{t}`. A phone that cannot be read as a number keeps its digits, so a change between
# two invalid numbers is still a change.
TRACKED_FIELDS: dict[str, str] = {
    "full_name": "full_name",
    "family_name": "family_name",
    "given_name": "given_name",
    "name_original_script": "name_original_script",
    "gender": "gender",
    "date_of_birth": "cast({t}.date_of_birth as varchar)",
    "national_id": "national_id",
    "mobile_phone": "coalesce({t}.mobile_phone_e164, {t}.mobile_phone_digits)",
    "landline_phone": "coalesce({t}.landline_phone_e164, {t}.landline_phone_digits)",
    "email": "email_normalised",
    "address_line": "address_line",
    "district": "district",
    "city": "city",
    "province": "province",
    "postal_code": "postal_code",
    "country_code": "country_code",
    "billing_address_line": "billing_address_line",
    "company_name": "company_name",
    "customer_tags": "customer_tags",
    "membership_level": "membership_level",
    "consent_marketing": "cast({t}.consent_marketing as varchar)",
    "last_interaction_at": "cast({t}.last_interaction_at as varchar)",
    "updated_at": "cast({t}.updated_at as varchar)",
}


def tracked_value(field: str, table_alias: str) -> str:
    """The SQL of a tracked field's value over the columns of `table_alias`."""
    expression = TRACKED_FIELDS[field]
    if "{t}" in expression:
        return expression.format(t=table_alias)
    return f"{table_alias}.{expression}"


# A full extract deleting fewer records than this is never held back by max_deleted_share:
# a source of five records losing two is not a truncated export.
MIN_DELETIONS_GUARDED = 10

_STANDARDISE_CODE = (
    Path(__file__).parents[1] / "standardise",
    Path(__file__).parents[1] / "transform" / "duckdb_plugin.py",
    Path(__file__).parents[1] / "transform" / "vectorised.py",
)


class HistoryInputError(RuntimeError):
    """A delivery or the config does not allow the day to be applied as it is."""


@dataclass(frozen=True)
class DayResult:
    partition_date: date
    status: str  # applied | reapplied | already_applied | nothing_delivered
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    standardised: int = 0
    field_changes: int = 0


def standardiser_version(dbt_project_dir: Path, source: SourceConfig) -> str:
    """A digest of everything that decides a source's standardised values: the staging macros,
    the Python standardisers, and the source's mapping and region. A change to any of them makes
    every re-sent record of the source count as changed, so it is standardised again."""
    digest = hashlib.sha256()
    paths = sorted((dbt_project_dir / "macros").glob("*.sql"))
    for root in _STANDARDISE_CODE:
        paths.extend(sorted(root.rglob("*.py")) if root.is_dir() else [root])
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(source.model_dump_json(include={"mapping", "default_region"}).encode())
    return digest.hexdigest()[:16]


def _raw_columns(con: duckdb.DuckDBPyConnection, source_name: str) -> list[str]:
    return [
        name
        for (name,) in con.execute(
            "select column_name from duckdb_columns() where schema_name = 'raw' "
            "and table_name = ? and column_name not like '\\_%' escape '\\' order by column_index",
            [f"{source_name}__customers"],
        ).fetchall()
    ]


def _day_rows_sql(con: duckdb.DuckDBPyConnection, source: SourceConfig, version: str) -> str:
    """SQL of a source's rows delivered on the day ($day): key, row, fingerprint, delete mark."""
    columns = _raw_columns(con, source.name)
    fingerprint = ", ".join(
        f"coalesce(raw.{quote_identifier(column)}, chr(0))" for column in columns
    )
    marker = source.extract.deleted_when
    if marker is None:
        deleted = "false"
    else:
        if marker.column not in columns:
            raise HistoryInputError(
                f"source {source.name}: extract.deleted_when.column {marker.column!r} is not a "
                f"column of its deliveries (columns: {', '.join(columns)}). Fix the column name "
                "in governance.yaml, or remove deleted_when if the source has no such column."
            )
        values = ", ".join("'" + v.strip().upper().replace("'", "''") + "'" for v in marker.values)
        deleted = (
            f"coalesce(upper(trim(raw.{quote_identifier(marker.column)})) in ({values}), false)"
        )
    staging = f"staging.{staging_model_name(source.name)}"
    return f"""
        select
            '{source.name}' as source_name,
            staged.source_record_id,
            staged.source_row_number as row_number,
            md5(concat_ws(chr(31), '{version}', {fingerprint})) as raw_fingerprint,
            {deleted} as is_marked_deleted
        from {staging} as staged
        inner join raw.{quote_identifier(source.name + "__customers")} as raw
            on raw._partition_date = staged.partition_date
            and raw._row_number = staged.source_row_number
        where staged.partition_date = $day
    """


def write_day(
    con: duckdb.DuckDBPyConnection,
    config: GovernanceConfig,
    day: date,
    delivered: set[str],
    *,
    dbt_project_dir: Path,
    run_id: str | None,
    recorded_at: datetime,
) -> tuple[DayResult, dict[str, str]]:
    """Write one day's versions, changes and presence (inside the caller's transaction, after
    lib/history/days.py has checked the order); return the counts and each delivered source's
    standardiser version.

    Raises:
        HistoryInputError: a delivery or setting makes the day unsafe to apply as it is.
    """
    con.execute(f"delete from {UNCHANGED_DELIVERIES}")
    sources = [
        source
        for source in config.sources
        if source.name in delivered and table_exists(con, f"raw.{source.name}__customers")
    ]
    versions = {source.name: standardiser_version(dbt_project_dir, source) for source in sources}
    if not sources:
        # The versions table still gets its columns: int_customer_records reads it.
        shape = " union all by name ".join(
            f"select * from staging.{staging_model_name(s.name)} where false"
            for s in config.sources
        )
        con.execute(f"create or replace temp table _standardised as {shape}")
        _ensure_versions_table(con)
        return DayResult(day, "nothing_delivered"), versions

    day_rows = " union all ".join(_day_rows_sql(con, s, versions[s.name]) for s in sources)
    con.execute(f"create or replace temp table _day_rows as {day_rows}", {"day": day})
    # The last row of a key in the file wins: exports append corrections.
    con.execute(
        """
        create or replace temp table _day_latest as
        select *, source_name || ':' || source_record_id as record_key
        from _day_rows
        where source_record_id is not null
        qualify row_number() over (
            partition by source_name, source_record_id order by row_number desc
        ) = 1
        """
    )
    has_versions = table_exists(con, VERSIONS)
    source_list = ", ".join(f"'{s.name}'" for s in sources)
    current = (
        f"select record_key, source_name, source_record_id, is_deleted, raw_fingerprint "
        f"from {VERSIONS} where is_current and source_name in ({source_list})"
        if has_versions
        else "select null::varchar as record_key, null::varchar as source_name, "
        "null::varchar as source_record_id, null::boolean as is_deleted, "
        "null::varchar as raw_fingerprint where false"
    )
    full_sources = ", ".join(f"'{s.name}'" for s in sources if s.extract.kind == "full") or "''"
    con.execute(
        f"""
        create or replace temp table _plan as
        with current_versions as ({current})
        select
            coalesce(day.record_key, cur.record_key) as record_key,
            coalesce(day.source_name, cur.source_name) as source_name,
            coalesce(day.source_record_id, cur.source_record_id) as source_record_id,
            day.row_number,
            day.raw_fingerprint,
            case
                when day.record_key is null then 'delete'
                when day.is_marked_deleted then
                    case when cur.record_key is not null and not cur.is_deleted
                        then 'delete' else 'ignore' end
                when cur.record_key is not null and not cur.is_deleted
                    and cur.raw_fingerprint = day.raw_fingerprint then 'unchanged'
                else 'standardise'
            end as action
        from _day_latest as day
        full outer join current_versions as cur on day.record_key = cur.record_key
        -- A key missing from the day's delivery is deleted only by a full extract.
        where day.record_key is not null
            or (cur.source_name in ({full_sources}) and not cur.is_deleted)
        """
    )
    _guard_mass_deletion(con, sources)
    if table_exists(con, ARCHIVED_RECORDS):
        # A record the retention job archived, delivered again exactly as it was archived (a
        # full extract re-sends it every day), stays archived; a changed one is live again.
        con.execute(
            f"""
            update _plan set action = 'archived'
            where action = 'standardise' and exists (
                select 1 from {ARCHIVED_RECORDS} as archived
                where archived.record_key = _plan.record_key
                    and archived.raw_fingerprint = _plan.raw_fingerprint
            )
            """
        )
    con.execute(
        f"""
        insert into {UNCHANGED_DELIVERIES}
        select source_name, $day, row_number from _day_rows as delivered
        where not exists (
            select 1 from _plan
            where _plan.action = 'standardise' and _plan.source_name = delivered.source_name
                and _plan.row_number = delivered.row_number
        )
        """,
        {"day": day},
    )
    staged = " union all by name ".join(
        f"select * from staging.{staging_model_name(s.name)} where partition_date = $day"
        for s in sources
    )
    with one_thread(con):
        con.execute(f"create or replace temp table _standardised as {staged}", {"day": day})
    standardised = con.execute("select count(*) from _standardised").fetchone()[0]
    content_columns = _ensure_versions_table(con)
    content = ", ".join(
        f"coalesce(cast(staged.{quote_identifier(c)} as varchar), chr(0))" for c in content_columns
    )
    con.execute(
        f"""
        create or replace temp table _new_versions as
        select
            staged.source_name || ':' || staged.source_record_id as record_key,
            plan.raw_fingerprint,
            md5(concat_ws(chr(31), {content})) as content_hash,
            staged.*
        from _standardised as staged
        inner join _plan as plan
            on plan.source_name = staged.source_name
            and plan.row_number = staged.source_row_number
        """
    )
    con.execute(
        f"""
        create or replace temp table _compared as
        select
            new.record_key,
            case
                when old.record_key is null or old.is_deleted then 'insert'
                when old.content_hash = new.content_hash then 'same'
                else 'update'
            end as change_type
        from _new_versions as new
        left join (select * from {VERSIONS} where is_current) as old
            on old.record_key = new.record_key
        """
    )
    counts = dict(con.execute("select change_type, count(*) from _compared group by 1").fetchall())
    deleted = con.execute("select count(*) from _plan where action = 'delete'").fetchone()[0]
    unchanged = con.execute("select count(*) from _plan where action = 'unchanged'").fetchone()[0]
    field_changes = _write_changes(con, day, run_id, recorded_at)
    _write_versions(con, day, run_id)
    _write_presence(con, day)
    result = DayResult(
        day,
        "applied",
        inserted=counts.get("insert", 0),
        updated=counts.get("update", 0),
        deleted=deleted,
        unchanged=unchanged + counts.get("same", 0),
        standardised=standardised,
        field_changes=field_changes,
    )
    return result, versions


def _guard_mass_deletion(con: duckdb.DuckDBPyConnection, sources: list[SourceConfig]) -> None:
    for source in sources:
        if source.extract.kind != "full" or not table_exists(con, VERSIONS):
            continue
        deleting, live = con.execute(
            f"""
            select
                (select count(*) from _plan where source_name = $source and action = 'delete'
                    and row_number is null),
                (select count(*) from {VERSIONS}
                    where source_name = $source and is_current and not is_deleted)
            """,
            {"source": source.name},
        ).fetchone()
        share = source.extract.max_deleted_share
        if deleting >= MIN_DELETIONS_GUARDED and deleting > share * live:
            raise HistoryInputError(
                f"source {source.name}: its full extract of this day lacks {deleting:,} of its "
                f"{live:,} current records ({deleting / live:.0%}), more than its "
                f"extract.max_deleted_share ({share:.0%}) allows. A truncated export or a wrong "
                "filter upstream looks like this; nothing was deleted and the day's history was "
                "not applied. If the deletions are real, raise max_deleted_share for the source "
                "in governance.yaml and re-run the day; if the file is wrong, replace it and "
                "re-run."
            )


def _ensure_versions_table(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create or widen the versions table to hold every staging column; return the columns
    whose values make up a version's content."""
    staged = con.execute(
        "select column_name, data_type from duckdb_columns() "
        "where table_name = '_standardised' and database_name = 'temp' order by column_index"
    ).fetchall()
    if not table_exists(con, VERSIONS):
        columns = ",\n".join(f"{quote_identifier(name)} {kind}" for name, kind in staged)
        con.execute(f"create table {VERSIONS} ({VERSION_COLUMNS_DDL}, {columns})")
    else:
        add_missing_columns(con, VERSIONS, staged)
    return [name for name, _ in staged if name not in LINEAGE_COLUMNS]


def _write_changes(
    con: duckdb.DuckDBPyConnection, day: date, run_id: str | None, recorded_at: datetime
) -> int:
    """One change-log row per inserted or deleted record and per changed field of an update,
    in one INSERT (see ARCHITECTURE: one write per table per transaction)."""
    golden = (
        "select record_key, golden_customer_id from main.customer_source_xref"
        if table_exists(con, "main.customer_source_xref")
        else "select null::varchar as record_key, null::varchar as golden_customer_id where false"
    )
    field_rows = " union all ".join(
        f"""
        select new.record_key, '{field}' as field, {tracked_value(field, "old")} as old_value,
            {tracked_value(field, "new")} as new_value
        from _new_versions as new
        inner join _compared using (record_key)
        inner join (select * from {VERSIONS} where is_current) as old using (record_key)
        where _compared.change_type = 'update'
            and {tracked_value(field, "old")} is distinct from {tracked_value(field, "new")}
        """
        for field in TRACKED_FIELDS
    )
    con.execute(
        f"""
        create or replace temp table _changes as
        with golden as ({golden}),
        changes as (
            select record_key, '{RECORD_FIELD}' as field, 'insert' as change_type,
                null::varchar as old_value, null::varchar as new_value
            from _compared where change_type = 'insert'
            union all
            select record_key, '{RECORD_FIELD}', 'delete', null, null
            from _plan where action = 'delete'
            union all
            select record_key, field, 'update', old_value, new_value from ({field_rows})
        )
        select
            $day as partition_date, $run_id as run_id, 'record' as change_level,
            changes.record_key, golden.golden_customer_id, changes.field, changes.change_type,
            changes.old_value, changes.new_value, null::varchar as related_golden_customer_id,
            $recorded_at as recorded_at
        from changes left join golden using (record_key)
        """,
        {"day": day, "run_id": run_id, "recorded_at": recorded_at},
    )
    con.execute(f"insert into {CHANGE_LOG} by name select * from _changes")
    return con.execute("select count(*) from _changes").fetchone()[0]


def _write_versions(con: duckdb.DuckDBPyConnection, day: date, run_id: str | None) -> None:
    # A re-standardised record whose values did not change keeps its version; the new raw
    # fingerprint is recorded so that tomorrow's identical row skips standardisation.
    con.execute(
        f"""
        update {VERSIONS} as v set raw_fingerprint = new.raw_fingerprint
        from _new_versions as new
        where v.is_current and v.record_key = new.record_key
          and new.record_key in (select record_key from _compared where change_type = 'same')
        """
    )
    con.execute(
        f"""
        update {VERSIONS} set valid_to = $day, is_current = false
        where is_current and record_key in (
            select record_key from _compared where change_type in ('insert', 'update')
            union all
            select record_key from _plan where action = 'delete'
        )
        """,
        {"day": day},
    )
    con.execute(
        f"""
        insert into {VERSIONS} by name
        select
            new.* exclude (raw_fingerprint, content_hash),
            new.raw_fingerprint, new.content_hash,
            $day as valid_from, null::date as valid_to, true as is_current,
            false as is_deleted, $run_id as version_run_id
        from _new_versions as new
        where new.record_key in (
            select record_key from _compared where change_type in ('insert', 'update')
        )
        union all by name
        select
            record_key, source_name, source_record_id, $day as partition_date,
            $day as valid_from, null::date as valid_to, true as is_current, true as is_deleted,
            $run_id as version_run_id
        from _plan where action = 'delete'
        """,
        {"day": day, "run_id": run_id},
    )


def _write_presence(con: duckdb.DuckDBPyConnection, day: date) -> None:
    delivered = (
        "select record_key, source_name from _plan "
        "where row_number is not null and action in ('unchanged', 'standardise')"
    )
    con.execute(
        f"""
        update {PRESENCE} as p
        set previous_last_seen_date = p.last_seen_date, last_seen_date = $day,
            delivery_count = p.delivery_count + 1
        from ({delivered}) as d
        where p.record_key = d.record_key and p.last_seen_date < $day
        """,
        {"day": day},
    )
    con.execute(
        f"""
        insert into {PRESENCE}
        select record_key, source_name, $day, $day, 1, null
        from ({delivered}) as d
        where record_key not in (select record_key from {PRESENCE})
        """,
        {"day": day},
    )
