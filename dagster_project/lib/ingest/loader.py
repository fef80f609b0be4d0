"""Load one source's file for one partition date into `raw.<source>__customers`.

Every source column is kept as text (typing happens in dbt staging, where a bad value becomes a
flagged value rather than a lost row), with lineage columns saying where each row came from.
A partition is replaced in one transaction: re-running a day never doubles or half-writes it.
Rows the reader cannot parse go to `quarantine.rejected_rows` with file, line and reason.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from dagster_project.config import SourceConfig, source_table_name
from dagster_project.lib.warehouse import load_extensions

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


class IngestionError(RuntimeError):
    """A partition cannot be loaded; the message says which file, what is wrong and what to do."""


@dataclass
class LoadResult:
    source_name: str
    partition_date: date
    file_path: Path
    status: str
    file_sha256: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_skipped: int = 0
    extra_columns: list[str] = field(default_factory=list)
    duplicate_of_partition: date | None = None
    duration_s: float = 0.0
    message: str = ""


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _csv_options(source: SourceConfig) -> str:
    return (
        f"encoding={_sql_literal(source.encoding)}, delim={_sql_literal(source.delimiter)}, "
        f"quote={_sql_literal(source.quote)}, escape={_sql_literal(source.quote)}, "
        f"header={str(source.header).lower()}"
    )


# Read as whole lines: no delimiter, no quoting; row_number() is the file's line number.
_LINES_OPTIONS = (
    "header=false, auto_detect=false, columns={'line': 'VARCHAR'}, delim='', quote='', "
    "escape='', strict_mode=false, max_line_size=16777216"
)

# DuckDB's `encodings` extension rejects GB18030's four-byte sequences beyond the BMP (𠀀,
# U+20000: rare characters that do occur in names) and fails the whole file; Python's codec
# reads them, so such files are transcoded to UTF-8 before DuckDB reads them.
_PYTHON_DECODED_ENCODINGS = frozenset({"gb18030"})


def _csv_header(con: duckdb.DuckDBPyConnection, source: SourceConfig, path: Path) -> list[str]:
    # The header is line 1, split with the source's own dialect. DuckDB's sniffer is not used:
    # lenient, it takes the widest line for the header (a row with one field too many became
    # the column names); strict, it gives up on a whole file for one unterminated quote that
    # the read below quarantines alone.
    first = con.execute(
        f"select line from read_csv({_sql_literal(str(path))}, "
        f"encoding={_sql_literal(source.encoding)}, {_LINES_OPTIONS}) limit 1"
    ).fetchone()
    line = first[0] if first and first[0] is not None else ""
    fields = next(csv.reader([line], delimiter=source.delimiter, quotechar=source.quote), [])
    if not source.header or not fields:
        # DuckDB's names for columns without a header: column0.., column00.. from ten on.
        width = len(str(max(len(fields), 1) - 1))
        return [f"column{index:0{width}d}" for index in range(max(len(fields), 1))]
    names: list[str] = []
    for index, field_name in enumerate(fields):
        name = field_name or f"column{index}"
        unique, suffix = name, 1
        while unique in names:
            unique, suffix = f"{name}_{suffix}", suffix + 1
        names.append(unique)
    return names


def _stage_csv(con: duckdb.DuckDBPyConnection, source: SourceConfig, path: Path) -> None:
    if source.encoding.lower() in _PYTHON_DECODED_ENCODINGS:
        with tempfile.TemporaryDirectory(prefix="custodian-") as directory:
            utf8_path = Path(directory) / path.name
            with (
                path.open(encoding=source.encoding, newline="") as original,
                utf8_path.open("w", encoding="utf-8", newline="") as transcoded,
            ):
                shutil.copyfileobj(original, transcoded, 1 << 20)
            _stage_csv(con, source.model_copy(update={"encoding": "utf-8"}), utf8_path)
        return
    # The dialect is always explicit: left to guess quoting, DuckDB's sniffer sometimes decides
    # a file has none and silently splits quoted fields.
    if source.encoding.lower().replace("-", "") not in ("utf8", "utf16", "latin1"):
        # DuckDB reads UTF-8/16 and Latin-1 natively; anything else needs the extension.
        load_extensions(con, ("encodings",))
    options = _csv_options(source)
    header = _csv_header(con, source, path)
    columns = "{" + ", ".join(f"{_sql_literal(name)}: 'VARCHAR'" for name in header) + "}"
    con.execute("drop table if exists _rejects; drop table if exists _rejects_scan")
    con.execute(
        f"""
        create or replace temp table _staged as
        select *, row_number() over () as _row_number
        from read_csv({_sql_literal(str(path))}, {options}, auto_detect=false,
                      columns={columns}, strict_mode=true, store_rejects=true,
                      rejects_table='_rejects', rejects_scan='_rejects_scan')
        """
    )
    con.execute(
        """
        create or replace temp table _rejected as
        select line as line_number,
               any_value(csv_line) as raw_text,
               string_agg(error_type || ': ' || error_message, '; ') as reason
        from _rejects
        group by line
        """
    )


def _stage_jsonl(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    # Raw JSON text per line keeps values exactly as sent (no timestamp or number re-rendering);
    # nested objects stay JSON text for the staging models to unpack. Lines are read as text
    # rather than with read_json_objects, whose row numbers skip blank lines and which keeps no
    # text of a line it cannot parse: a rejected line needs its true number and its raw text.
    con.execute(
        f"""
        create or replace temp table _text_lines as
        select line, row_number() over () as _row_number,
               -- case, not and: json_type raises on invalid JSON; and does not short-circuit
               case when json_valid(line) then json_type(line) = 'OBJECT' else false end
                   as is_object
        from read_csv({_sql_literal(str(path))}, encoding='utf-8', {_LINES_OPTIONS})
        """
    )
    con.execute(
        """
        create or replace temp table _lines as
        select case when is_object then line::json end as json, _row_number
        from _text_lines where trim(coalesce(line, '')) <> ''
        """
    )
    keys = [
        row[0]
        for row in con.execute(
            "select distinct unnest(json_keys(json)) as key from _lines where json is not null "
            "order by key"
        ).fetchall()
    ]
    selects = ", ".join(
        f"json_extract_string(json, {_sql_literal('$.' + _quote_ident(key))}) "
        f"as {_quote_ident(key)}"
        for key in keys
    )
    con.execute(
        f"create or replace temp table _staged as select {selects + ',' if selects else ''} "
        "_row_number from _lines where json is not null"
    )
    con.execute(
        """
        create or replace temp table _rejected as
        select _row_number as line_number, line as raw_text,
               case when json_valid(line) then 'valid JSON but not an object: ' || json_type(line)
                    else 'not valid JSON' end as reason
        from _text_lines where trim(coalesce(line, '')) <> '' and not is_object
        """
    )


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    described = con.execute(
        f"describe select * from read_parquet({_sql_literal(str(path))})"
    ).fetchall()
    selects = ", ".join(
        f"cast({_quote_ident(name)} as varchar) as {_quote_ident(name)}" for name, *_ in described
    )
    con.execute(
        f"""
        create or replace temp table _staged as
        select {selects}, file_row_number + 1 as _row_number
        from read_parquet({_sql_literal(str(path))}, file_row_number=true)
        """
    )
    con.execute(
        "create or replace temp table _rejected as "
        "select null::bigint as line_number, null::varchar as raw_text, null::varchar as reason "
        "where false"
    )


def _staged_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [row[0] for row in con.execute("describe _staged").fetchall() if row[0] != "_row_number"]


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

    Raises:
        IngestionError: the file is missing (and the source says `on_missing: fail`), a mapped
            column is missing from the file, or too many rows could not be parsed.
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

    result.file_sha256 = file_sha256(path)
    result.duplicate_of_partition = _previous_load_of_same_file(
        con, source, result.file_sha256, partition_date
    )

    try:
        if source.format == "csv":
            _stage_csv(con, source, path)
        elif source.format == "jsonl":
            _stage_jsonl(con, path)
        else:
            _stage_parquet(con, path)
    except (duckdb.Error, UnicodeDecodeError) as exc:
        raise IngestionError(
            f"source {source.name!r}, partition {partition_date}: cannot read {path} as "
            f"{source.format} ({source.encoding}): {str(exc).splitlines()[0]}. Check the file "
            "and the source's format/encoding/delimiter in governance.yaml."
        ) from None

    found = _staged_columns(con)
    missing = sorted(source.mapped_columns() - set(found))
    if missing:
        raise IngestionError(
            f"source {source.name!r}, file {path}: mapped column(s) {missing} missing from the "
            f"file (schema drift). Columns found: {found}. Fix the export or the source's "
            "mapping in governance.yaml."
        )

    result.rows_loaded = con.execute("select count(*) from _staged").fetchone()[0]
    result.rows_quarantined = con.execute("select count(*) from _rejected").fetchone()[0]
    result.rows_read = result.rows_loaded + result.rows_quarantined
    table = source_table_name(source.name)

    con.execute("begin transaction")
    try:
        existing = _existing_columns(con, table)
        if existing is None:
            column_ddl = ", ".join(f"{_quote_ident(c)} varchar" for c in found)
            con.execute(
                f"""
                create table {table} ({column_ddl}{", " if column_ddl else ""}
                    _source_name varchar not null, _partition_date date not null,
                    _file_path varchar not null, _file_sha256 varchar not null,
                    _row_number bigint not null, _loaded_at timestamp not null,
                    _run_id varchar)
                """
            )
        else:
            # New columns are kept, not dropped: the table grows a column and the load reports it.
            result.extra_columns = [c for c in found if c not in existing]
            for column in result.extra_columns:
                con.execute(f"alter table {table} add column {_quote_ident(column)} varchar")

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
        skip_duplicate = result.duplicate_of_partition is not None
        if too_many_bad_rows:
            result.status = "rejected"
            result.rows_skipped = result.rows_loaded
            result.rows_loaded = 0
            result.message = (
                f"{result.rows_quarantined} of {result.rows_read} rows ({share:.1%}) could not "
                f"be parsed, above the source's limit of {source.max_quarantine_share:.0%}"
            )
        elif skip_duplicate:
            result.status = "duplicate_skipped"
            result.rows_skipped = result.rows_loaded
            result.rows_loaded = 0
            result.message = (
                f"identical file (same SHA-256) already loaded for {result.duplicate_of_partition}"
            )
        else:
            if result.rows_read == 0:
                result.status = "empty"
                result.message = "file has no data rows"
            column_list = ", ".join(_quote_ident(c) for c in found)
            con.execute(
                f"""
                insert into {table} by name
                select {column_list}{", " if column_list else ""}
                    ? as _source_name, ?::date as _partition_date, ? as _file_path,
                    ? as _file_sha256, _row_number, now()::timestamp as _loaded_at,
                    ? as _run_id
                from _staged
                """,
                [source.name, partition_date, str(path), result.file_sha256, run_id],
            )
        result.duration_s = time.perf_counter() - clock
        _write_log(con, result, run_id, started)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise

    if result.status == "rejected":
        raise IngestionError(
            f"source {source.name!r}, file {path}: {result.message}. The bad rows are in "
            "quarantine.rejected_rows (file, line, reason); fix the export and re-run the "
            "partition, or raise max_quarantine_share for this source in governance.yaml."
        )
    return result


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
    selects = ", ".join(f"{_quote_ident(column)}" for column in columns.values())
    rows = con.execute(
        f"select {selects} from {table} where _partition_date = ? order by _row_number limit 5",
        [partition_date],
    ).fetchall()
    return [
        {field: mask_value(field, value) for field, value in zip(columns, row, strict=True)}
        for row in rows
    ]
