"""Read a landed file into the temp relations a load works from, whatever its format.

`stage` leaves `_staged` (every source column as text, with `_row_number`: the line or row the
record came from) and `_rejected` (line_number, raw_text, reason: what could not be read), and
says in `Staged` what else it learnt: the file's own column names, and how to get a row's raw
text back for quarantine. CSV is staged by `csv_records` (with its independent record scan),
JSON Lines and Parquet here. A file that cannot be read becomes an `IngestionError` naming the
file and the settings to check.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from dagster_project.config import SourceConfig
from dagster_project.lib.ingest.csv_records import (
    LINES_OPTIONS,
    CsvStagingError,
    RecordCountMismatchError,
    sql_literal,
    stage_csv,
    stage_no_rows,
)
from dagster_project.lib.ingest.load_result import IngestionError, LoadResult, RecordCountError


@dataclass
class Staged:
    """What staging learnt besides the rows it left in `_staged` and `_rejected`."""

    rows_in_file: int | None = None  # CSV: the independent record count
    is_empty_file: bool = False  # 0 bytes
    # The file's own column names in order, and the names they were loaded under (a repeated
    # name is loaded as name_1...); both empty where names come from the rows (JSONL).
    file_columns: list[str] = field(default_factory=list)
    loaded_as: list[str] = field(default_factory=list)
    columns_are_in: str = "the header"
    # Raw text of staged rows by line number: a Python lookup (CSV: the record's bytes), or a
    # relation, its line-number column and an SQL expression of the raw text over it.
    raw_texts: Callable[[Sequence[int]], list[str]] | None = None
    raw_text_sql: tuple[str, str, str] | None = None
    # The same source columns as `_staged`, in a relation that is quicker to scan.
    columns_relation: str = "_staged"
    # A cheap test that rules out bad fields without SQL (CSV: from the record scan).
    may_have_bad_fields: Callable[[int], bool] | None = None


def quote_ident(name: str) -> str:
    """A column name as a DuckDB identifier: source headers hold spaces, quotes, any script."""
    return '"' + name.replace('"', '""') + '"'


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stage(
    con: duckdb.DuckDBPyConnection,
    source: SourceConfig,
    path: Path,
    workdir: Path,
    result: LoadResult,
) -> Staged:
    """Stage the file as `_staged` and `_rejected`, taking its SHA-256 into `result` (and, when
    the record count disagrees, the count into `result.rows_read`)."""
    try:
        if path.stat().st_size == 0:
            # Not a CSV with a phantom column0, nor an unreadable Parquet file: an empty delivery.
            result.file_sha256 = hashlib.sha256().hexdigest()
            stage_no_rows(con)
            return Staged(is_empty_file=True)
        if source.format == "csv":
            # The SHA-256 is taken in the same read of the file as the record count.
            digest = hashlib.sha256()
            staged_csv = stage_csv(con, source, path, workdir, digest)
            result.file_sha256 = digest.hexdigest()
            return Staged(
                rows_in_file=staged_csv.rows_read,
                file_columns=staged_csv.header_fields,
                loaded_as=staged_csv.columns,
                raw_texts=staged_csv.raw_texts,
                columns_relation=staged_csv.columns_relation,
                may_have_bad_fields=staged_csv.may_have_bad_fields,
            )
        result.file_sha256 = file_sha256(path)
        if source.format == "jsonl":
            _stage_jsonl(con, path)
            return Staged(raw_text_sql=("_text_lines", "_row_number", "staged_row.line"))
        file_columns = _stage_parquet(con, path)
        loaded_as = staged_columns(con)
        # No raw text exists for a Parquet row: its values as staged (text), as a JSON object.
        row_json = ", ".join(
            f"{sql_literal(name)}: staged_row.{quote_ident(name)}" for name in loaded_as
        )
        return Staged(
            file_columns=file_columns,
            loaded_as=loaded_as,
            columns_are_in="the file's schema",
            raw_text_sql=("_staged", "_row_number", f"to_json({{{row_json}}})::varchar"),
        )
    except RecordCountMismatchError as exc:
        result.rows_read = exc.rows_in_file
        raise RecordCountError(path, str(exc)) from None
    except CsvStagingError as exc:
        raise IngestionError(
            f"source {source.name!r}, file {path}: {exc}. Fix the export, or the source's "
            "header setting in governance.yaml."
        ) from None
    except (duckdb.Error, UnicodeDecodeError, OSError, pa.ArrowException) as exc:
        raise IngestionError(
            f"source {source.name!r}, partition {result.partition_date}: cannot read {path} as "
            f"{source.format} ({source.encoding}): {str(exc).splitlines()[0]}. Check the file "
            "and the source's format/encoding/delimiter in governance.yaml."
        ) from None


def drop_staged(con: duckdb.DuckDBPyConnection) -> None:
    # `_staged` is a view for CSV and a table otherwise; a connection may load both kinds.
    for (kind,) in con.execute(
        "select table_type from information_schema.tables "
        "where table_name = '_staged' and table_schema = 'main' and table_catalog = 'temp'"
    ).fetchall():
        con.execute(f"drop {'view' if kind == 'VIEW' else 'table'} _staged")


def _stage_jsonl(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    try:
        _stage_jsonl_text(con, path)
        return
    except duckdb.InvalidInputException as exc:
        if "invalid unicode" not in str(exc).lower():
            raise
    # JSON is UTF-8 by definition. A line that is not is quarantined with its bytes shown as
    # \xNN escapes; a blank line takes its place in a UTF-8 copy of the file, so the other
    # lines keep their numbers (blank lines are not records).
    undecodable: list[tuple[int, str]] = []
    with tempfile.TemporaryDirectory(prefix="custodian-") as directory:
        utf8_path = Path(directory) / path.name
        with path.open("rb") as original, utf8_path.open("wb") as cleaned:
            for line_number, raw in enumerate(original, start=1):
                try:
                    raw.decode("utf-8")
                    cleaned.write(raw)
                except UnicodeDecodeError:
                    text = raw.rstrip(b"\r\n").decode("utf-8", errors="backslashreplace")
                    undecodable.append((line_number, text))
                    cleaned.write(b"\n")
        _stage_jsonl_text(con, utf8_path)
    con.executemany(
        "insert into _rejected values (?, ?, 'not valid UTF-8 (JSON text must be UTF-8)')",
        undecodable,
    )


def _stage_jsonl_text(con: duckdb.DuckDBPyConnection, path: Path) -> None:
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
        from read_csv({sql_literal(str(path))}, encoding='utf-8', {LINES_OPTIONS})
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
        f"json_extract_string(json, {sql_literal('$.' + quote_ident(key))}) as {quote_ident(key)}"
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


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """Stage the file's columns as text; returns its own column names (repeats not renamed)."""
    described = con.execute(
        f"describe select * from read_parquet({sql_literal(str(path))})"
    ).fetchall()
    selects = ", ".join(
        f"cast({quote_ident(name)} as varchar) as {quote_ident(name)}" for name, *_ in described
    )
    con.execute(
        f"""
        create or replace temp table _staged as
        select {selects}, file_row_number + 1 as _row_number
        from read_parquet({sql_literal(str(path))}, file_row_number=true)
        """
    )
    con.execute(
        "create or replace temp table _rejected as "
        "select null::bigint as line_number, null::varchar as raw_text, null::varchar as reason "
        "where false"
    )
    # DuckDB renames a repeated column (email, email_1) without a word; the schema says which.
    return pq.read_schema(path).names


def staged_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The source columns of `_staged`, in order (its `_row_number` left out)."""
    return [row[0] for row in con.execute("describe _staged").fetchall() if row[0] != "_row_number"]
