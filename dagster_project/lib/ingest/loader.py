"""Load one source's file for one partition date into `raw.<source>__customers`.

Every source column is kept as text (typing happens in dbt staging, where a bad value becomes a
flagged value rather than a lost row), with lineage columns saying where each row came from.
A partition is replaced in one transaction: re-running a day never doubles or half-writes it.
Rows the reader cannot parse, and rows with a field no later layer should carry (a control
character, or more characters than the source's `max_field_length`), go to
`quarantine.rejected_rows` with file, line and reason. Every attempt leaves one `ops.load_log`
row, a failed one included. This module orchestrates: the formats are read in `readers` (the
CSV record scan in `csv_records`), and the file's columns and fields checked in `file_checks`.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from dagster_project.config import SourceConfig, source_table_name
from dagster_project.lib.ingest.file_checks import (
    check_expressions,
    mapping_uses,
    quarantine_bad_fields,
    repeated_columns,
)
from dagster_project.lib.ingest.load_result import IngestionError, LoadResult, RecordCountError
from dagster_project.lib.ingest.readers import (
    drop_staged,
    file_sha256,
    quote_ident,
    stage,
    staged_columns,
)
from dagster_project.lib.privacy.suppression import SUPPRESSION_REASON, mark_suppressed_rows

LINEAGE_COLUMNS = (
    "_source_name",
    "_partition_date",
    "_file_path",
    "_file_sha256",
    "_row_number",
    "_loaded_at",
    "_run_id",
)

QUARANTINE_DDL = """
create table if not exists quarantine.rejected_rows (
    source_name varchar not null,
    partition_date date not null,
    file_path varchar not null,
    file_sha256 varchar,
    line_number bigint,
    raw_text varchar,
    reason varchar not null,
    run_id varchar,
    quarantined_at timestamp not null
)
"""

LOAD_LOG_DDL = """
create table if not exists ops.load_log (
    run_id varchar,
    source_name varchar not null,
    partition_date date not null,
    file_path varchar,
    file_sha256 varchar,
    status varchar not null,
    rows_read bigint not null,
    rows_loaded bigint not null,
    rows_quarantined bigint not null,
    rows_skipped bigint not null,
    extra_columns varchar[],
    duplicate_of_partition date,
    started_at timestamp not null,
    finished_at timestamp not null,
    duration_ms bigint not null,
    message varchar
)
"""


def _previous_load_of_same_file(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, digest: str, partition_date: date
) -> date | None:
    row = con.execute(
        """
        select min(partition_date) from ops.load_log
        where source_name = ? and file_sha256 = ? and partition_date <> ?
          and status = 'loaded'
        """,
        [source.name, digest, partition_date],
    ).fetchone()
    return row[0] if row else None


def _write_log(con: duckdb.DuckDBPyConnection, result: LoadResult, run_id: str, started: datetime):
    finished = datetime.now(UTC).replace(tzinfo=None)
    con.execute(
        "insert into ops.load_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            result.source_name,
            result.partition_date,
            str(result.file_path),
            result.file_sha256,
            result.status,
            result.rows_read,
            result.rows_loaded,
            result.rows_quarantined,
            result.rows_skipped,
            result.extra_columns,
            result.duplicate_of_partition,
            started,
            finished,
            int(result.duration_s * 1000),
            result.message,
        ],
    )


def ensure_ops_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(QUARANTINE_DDL)
    con.execute(LOAD_LOG_DDL)


def load_partition(
    con: duckdb.DuckDBPyConnection,
    source: SourceConfig,
    landing_root: Path,
    partition_date: date,
    run_id: str,
) -> LoadResult:
    """Replace one partition of `raw.<source>__customers` with the file that landed for it.

    Every call writes one `ops.load_log` row, whatever the outcome; a failed load writes it
    (status `failed`, the error's text as message) after the partition's transaction has been
    rolled back, so the row survives the failure.

    Raises:
        IngestionError: the file is missing (and the source says `on_missing: fail`), cannot
            be read as configured, a mapped column is missing from the file or named twice in
            it, the record count does not add up, or too many rows were quarantined.
    """
    clock = time.perf_counter()
    started = datetime.now(UTC).replace(tzinfo=None)
    path = landing_root / source.path_for(partition_date)
    result = LoadResult(source.name, partition_date, path, status="loaded")
    ensure_ops_tables(con)

    if not path.is_file():
        result.status = "missing"
        result.message = f"no file at {path}"
        _write_log(con, result, run_id, started)
        if source.on_missing == "skip":
            return result
        raise IngestionError(
            f"source {source.name!r}, partition {partition_date}: expected file {path} has not "
            "landed. Deliver it and re-run the partition, or set `on_missing: skip` for this "
            "source in governance.yaml if days without a file are normal."
        )

    try:
        _load_file(con, source, run_id, result, clock, started)
    except Exception as exc:
        _log_failure(con, result, run_id, started, clock, exc)
        raise

    if result.status == "rejected":  # its log row and quarantined rows are committed
        raise IngestionError(
            f"source {source.name!r}, file {path}: {result.message}. The bad rows are in "
            "quarantine.rejected_rows (file, line, reason); fix the export and re-run the "
            "partition, or raise max_quarantine_share for this source in governance.yaml."
        )
    return result


def _load_file(
    con: duckdb.DuckDBPyConnection,
    source: SourceConfig,
    run_id: str,
    result: LoadResult,
    clock: float,
    started: datetime,
) -> None:
    path, partition_date = result.file_path, result.partition_date
    notes: list[str] = []
    drop_staged(con)
    # The work directory holds a transcoded copy of the file (GB18030, UTF-16) for as long as
    # raw texts may be read from it.
    with tempfile.TemporaryDirectory(prefix="custodian-") as workdir:
        staged = stage(con, source, path, Path(workdir), result)
        found = staged_columns(con)
        staged_rows = con.execute("select count(*) from _staged").fetchone()[0]
        rejected_rows = con.execute("select count(*) from _rejected").fetchone()[0]
        result.rows_read = (
            staged.rows_in_file if staged.rows_in_file is not None else staged_rows + rejected_rows
        )
        notes += repeated_columns(source, path, staged)
        # A file with neither columns nor parsed rows (0 bytes, blank lines, JSONL with no
        # object) says nothing about its schema: it is empty, or rejected for its bad rows.
        if found or staged_rows:
            missing = sorted(source.mapped_columns() - set(found))
            if missing:
                raise IngestionError(
                    f"source {source.name!r}, file {path}: mapped column(s) {missing} missing "
                    f"from the file (schema drift). Columns found: {found}. Fix the export or "
                    "the source's mapping in governance.yaml."
                )
            check_expressions(con, source, path, found)
        if result.rows_read != staged_rows + rejected_rows:
            raise RecordCountError(
                path,
                f"{result.rows_read} rows in the file, {staged_rows} parsed and "
                f"{rejected_rows} quarantined",
            )
        bad_field_rows = quarantine_bad_fields(con, source, staged, found)

    result.rows_loaded = staged_rows - bad_field_rows
    result.rows_quarantined = rejected_rows + bad_field_rows
    if bad_field_rows:
        notes.append(
            f"{bad_field_rows} row(s) quarantined for a field holding a control character or "
            f"above max_field_length {source.max_field_length:,}"
        )
    result.extra_columns = [column for column in found if not mapping_uses(source, column)]
    result.duplicate_of_partition = _previous_load_of_same_file(
        con, source, result.file_sha256, partition_date
    )
    table = source_table_name(source.name)
    loadable = "_staged"
    if bad_field_rows:
        loadable = (
            "(select * from _staged where _row_number not in (select line_number from _bad_fields))"
        )
    # Erased people stay erased: their rows in a re-delivered file are counted, never loaded.
    suppressed_rows = mark_suppressed_rows(con, source, loadable) if found else 0
    if suppressed_rows:
        result.rows_loaded -= suppressed_rows
        result.rows_skipped += suppressed_rows
        notes.append(f"{suppressed_rows} row(s) skipped: {SUPPRESSION_REASON}")
        loadable = (
            f"(select * from {loadable} "
            "where _row_number not in (select _row_number from _suppressed_rows))"
        )

    con.execute("begin transaction")
    try:
        existing = _existing_columns(con, table)
        if existing is None and found:
            column_ddl = ", ".join(f"{quote_ident(c)} varchar" for c in found)
            con.execute(
                f"""
                create table {table} ({column_ddl},
                    _source_name varchar not null, _partition_date date not null,
                    _file_path varchar not null, _file_sha256 varchar not null,
                    _row_number bigint not null, _loaded_at timestamp not null,
                    _run_id varchar)
                """
            )
        elif existing is not None:
            # New columns are kept, not dropped: the table grows a column and the load says so.
            known = {column.lower() for column in existing}
            new_columns = [column for column in found if column.lower() not in known]
            for column in new_columns:
                con.execute(f"alter table {table} add column {quote_ident(column)} varchar")
            if new_columns:
                notes.append(f"new column(s) since the last load: {', '.join(new_columns)}")
        # A delivery with no columns and no table yet creates none: a table of lineage columns
        # only would break the staging model, which handles a missing table.
        has_table = existing is not None or bool(found)

        if has_table:
            con.execute(f"delete from {table} where _partition_date = ?", [partition_date])
        con.execute(
            "delete from quarantine.rejected_rows where source_name = ? and partition_date = ?",
            [source.name, partition_date],
        )
        con.execute(
            """
            insert into quarantine.rejected_rows
            select ?, ?, ?, ?, line_number, raw_text, reason, ?, now()::timestamp from _rejected
            """,
            [source.name, partition_date, str(path), result.file_sha256, run_id],
        )

        share = result.rows_quarantined / result.rows_read if result.rows_read else 0.0
        too_many_bad_rows = share > source.max_quarantine_share
        is_duplicate = result.duplicate_of_partition is not None
        skip_duplicate = is_duplicate and source.on_duplicate_file == "skip"
        outcome = ""
        if too_many_bad_rows:
            result.status = "rejected"
            result.rows_skipped += result.rows_loaded
            result.rows_loaded = 0
            outcome = (
                f"{result.rows_quarantined} of {result.rows_read} rows ({share:.1%}) were "
                "quarantined (unparsable, or a field with a control character or above "
                "max_field_length), above the source's limit of "
                f"{source.max_quarantine_share:.0%}"
            )
        elif skip_duplicate:
            result.status = "duplicate_skipped"
            result.rows_skipped += result.rows_loaded
            result.rows_loaded = 0
            outcome = (
                f"identical file (same SHA-256) already loaded for {result.duplicate_of_partition}"
            )
        else:
            if result.rows_read == 0:
                result.status = "empty"
                outcome = (
                    "file is empty (0 bytes)" if staged.is_empty_file else "file has no data rows"
                )
            elif is_duplicate:
                outcome = (
                    "identical file (same SHA-256) already loaded for "
                    f"{result.duplicate_of_partition}; loaded again (on_duplicate_file: load)"
                )
            if has_table:
                column_list = ", ".join(quote_ident(c) for c in found)
                con.execute(
                    f"""
                    insert into {table} by name
                    select {column_list}{", " if column_list else ""}
                        ? as _source_name, ?::date as _partition_date, ? as _file_path,
                        ? as _file_sha256, _row_number, now()::timestamp as _loaded_at,
                        ? as _run_id
                    from {loadable}
                    """,
                    [source.name, partition_date, str(path), result.file_sha256, run_id],
                )
        result.message = "; ".join(part for part in [outcome, *notes] if part)
        result.duration_s = time.perf_counter() - clock
        _write_log(con, result, run_id, started)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def _log_failure(
    con: duckdb.DuckDBPyConnection,
    result: LoadResult,
    run_id: str,
    started: datetime,
    clock: float,
    error: Exception,
) -> None:
    """The load-log row of a load that raised, written after its transaction rolled back.

    Nothing was loaded or quarantined (the transaction never committed), so every row read is
    counted as skipped: rows_read = rows_loaded + rows_quarantined + rows_skipped still holds.
    """
    result.status = "failed"
    result.rows_skipped = result.rows_read
    result.rows_loaded = result.rows_quarantined = 0
    result.extra_columns = []
    result.duplicate_of_partition = None
    if isinstance(error, IngestionError):
        result.message = str(error)
    else:
        # An unexpected error's text may quote a value from the file; the log keeps only its
        # kind, and the traceback is in the run's own log.
        result.message = (
            f"unexpected {type(error).__name__} while loading {result.file_path}; the "
            "traceback is in the run's log"
        )
    if result.file_sha256 is None:
        with contextlib.suppress(OSError):
            result.file_sha256 = file_sha256(result.file_path)
    result.duration_s = time.perf_counter() - clock
    try:
        _write_log(con, result, run_id, started)
    except duckdb.Error as log_error:
        error.add_note(f"the failure could not be written to ops.load_log: {log_error}")


def _existing_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str] | None:
    schema, name = table.split(".")
    rows = con.execute(
        "select column_name from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, name],
    ).fetchall()
    return [row[0] for row in rows] or None


def masked_preview(con: duckdb.DuckDBPyConnection, source: SourceConfig, partition_date: date):
    """A few loaded rows of the mapped fields, masked, for Dagster metadata."""
    from dagster_project.lib.privacy.masking import mask_value

    table = source_table_name(source.name)
    columns = {field: column for field, column in source.mapping.items() if isinstance(column, str)}
    selects = ", ".join(f"{quote_ident(column)}" for column in columns.values())
    rows = con.execute(
        f"select {selects} from {table} where _partition_date = ? order by _row_number limit 5",
        [partition_date],
    ).fetchall()
    return [
        {field: mask_value(field, value) for field, value in zip(columns, row, strict=True)}
        for row in rows
    ]
