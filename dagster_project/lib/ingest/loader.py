"""Load one source's file for one partition date into `raw.<source>__customers`.

Every source column is kept as text (typing happens in dbt staging, where a bad value becomes a
flagged value rather than a lost row), with lineage columns saying where each row came from.
A partition is replaced in one transaction: re-running a day never doubles or half-writes it.
Rows the reader cannot parse go to `quarantine.rejected_rows` with file, line and reason.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

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
    # max_line_size: DuckDB's default (2 MB) refuses a file with one long field (a 10 MB note
    # pasted into a CRM); 64 MB still stops a runaway unterminated quote from eating memory.
    return (
        f"encoding={_sql_literal(source.encoding)}, delim={_sql_literal(source.delimiter)}, "
        f"quote={_sql_literal(source.quote)}, escape={_sql_literal(source.quote)}, "
        f"header={str(source.header).lower()}, max_line_size={_MAX_RECORD_BYTES}"
    )


_MAX_RECORD_BYTES = 1 << 26

# Read as whole lines: no delimiter, no quoting; row_number() is the file's line number.
_LINES_OPTIONS = (
    "header=false, auto_detect=false, columns={'line': 'VARCHAR'}, delim='', quote='', "
    "escape='', strict_mode=false, max_line_size=67108864"
)

# DuckDB's `encodings` extension rejects GB18030's four-byte sequences beyond the BMP (𠀀,
# U+20000: rare characters that do occur in names) and fails the whole file; Python's codec
# reads them, so such files are transcoded to UTF-8 before DuckDB reads them. UTF-16 is
# transcoded too: the record scan below works on bytes and needs an ASCII-compatible encoding.
_PYTHON_DECODED_ENCODINGS = frozenset({"gb18030", "utf-16", "utf16", "utf-16le", "utf-16be"})

_SCAN_BLOCK_BYTES = 1 << 24


def _python_codec(encoding: str) -> str:
    """Python's name for a DuckDB encoding name ('zh_CN.gbk' -> 'gbk'), for raw text."""
    name = encoding.lower().rsplit(".", 1)[-1]
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "utf-8"


@dataclass
class _CsvRecords:
    """Where each record of a CSV file lies, found from the file's bytes, not by the parser.

    A record ends at a newline outside quotes: a newline is inside a quoted field exactly when
    an odd number of quote characters precede it (an escaped quote is doubled, so it never
    changes the parity). This holds in every ASCII-compatible encoding DuckDB reads (UTF-8,
    GBK, GB18030, Big5, Shift-JIS...): none uses the bytes of '"' or newline inside a
    multi-byte character. Counted with numpy over 16 MB blocks, in the same pass as the
    SHA-256: about as fast as reading the file.
    """

    starts: np.ndarray  # byte offset of each record's first byte (header included)
    ends: np.ndarray  # byte offset just past each record's text (its newline, CR excluded)
    lines: np.ndarray  # 1-based physical line on which each record starts
    # An opened quote that is never closed: from its record to the end nothing can be split
    # into records, so each physical line from there on counts as one row.
    broken_from_byte: int | None
    broken_from_line: int | None
    size: int

    def blank(self) -> np.ndarray:
        return self.ends == self.starts


def _scan_csv_records(path: Path, quote: str, digest: Any = None) -> _CsvRecords:
    quote_byte = quote.encode("ascii")[0]
    newline = ord("\n")
    ends_at: list[np.ndarray] = []  # positions of newlines that end a record
    ends_line: list[np.ndarray] = []  # 0-based index of those newlines among all newlines
    ends_cr: list[np.ndarray] = []  # whether a CR precedes them
    parity, offset, newlines_before, last_byte = 0, 0, 0, 0
    with path.open("rb") as handle:
        first = True
        while block := handle.read(_SCAN_BLOCK_BYTES):
            if digest is not None:
                digest.update(block)
            if first and b"\n" not in block and b"\r" in block:
                newline = ord("\r")  # classic Mac line ends
            first = False
            data = np.frombuffer(block, np.uint8)
            found = np.flatnonzero(data == newline)
            quotes = np.flatnonzero(data == quote_byte)
            if len(quotes):
                outside = ((parity + np.searchsorted(quotes, found)) & 1) == 0
                ending = found[outside]
                ending_index = np.flatnonzero(outside)
            elif parity:
                ending = ending_index = found[:0]
            else:
                ending, ending_index = found, np.arange(len(found))
            before = np.where(ending > 0, data[np.maximum(ending - 1, 0)], last_byte)
            ends_at.append(ending + offset)
            ends_line.append(ending_index + newlines_before)
            ends_cr.append((before == ord("\r")) & (newline == ord("\n")))
            parity = (parity + len(quotes)) & 1
            newlines_before += len(found)
            offset += len(block)
            last_byte = int(data[-1])
    ending = np.concatenate([*ends_at, np.zeros(0, np.int64)]).astype(np.int64)
    ending_line = np.concatenate([*ends_line, np.zeros(0, np.int64)]).astype(np.int64)
    ending_cr = np.concatenate([*ends_cr, np.zeros(0, bool)])
    starts = np.concatenate([[0], ending + 1])
    lines = np.concatenate([[1], ending_line + 2])
    ends = np.concatenate([ending - ending_cr, [offset]])
    broken_byte = broken_line = None
    if parity:
        broken_byte, broken_line = int(starts[-1]), int(lines[-1])
        starts, lines, ends = starts[:-1], lines[:-1], ends[:-1]
    elif starts[-1] >= offset:  # the file ends with a newline (or is empty)
        starts, lines, ends = starts[:-1], lines[:-1], ends[:-1]
    return _CsvRecords(starts, ends, lines, broken_byte, broken_line, offset)


def _raw_texts(path: Path, spans: list[tuple[int, int]], encoding: str) -> list[str]:
    # Undecodable bytes become \xNN escapes rather than '?': the quarantined text still says
    # exactly which bytes the file held.
    codec = _python_codec(encoding)
    texts = []
    with path.open("rb") as handle:
        for start, end in spans:
            handle.seek(start)
            texts.append(handle.read(end - start).decode(codec, errors="backslashreplace"))
    return texts


@dataclass
class _StagedCounts:
    rows_read: int


def _stage_csv(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, path: Path, digest: Any = None
) -> _StagedCounts:
    if source.encoding.lower() in _PYTHON_DECODED_ENCODINGS:
        if digest is not None:
            digest.update(path.read_bytes())
        with tempfile.TemporaryDirectory(prefix="custodian-") as directory:
            utf8_path = Path(directory) / path.name
            with (
                path.open(encoding=source.encoding, newline="") as original,
                utf8_path.open("w", encoding="utf-8", newline="") as transcoded,
            ):
                shutil.copyfileobj(original, transcoded, 1 << 20)
            return _stage_csv(con, source.model_copy(update={"encoding": "utf-8"}), utf8_path)
    # The dialect is always explicit: left to guess quoting, DuckDB's sniffer sometimes decides
    # a file has none and silently splits quoted fields.
    if source.encoding.lower().replace("-", "") not in ("utf8", "utf16", "latin1"):
        # DuckDB reads UTF-8/16 and Latin-1 natively; anything else needs the extension.
        load_extensions(con, ("encodings",))
    records = _scan_csv_records(path, source.quote, digest)
    with tempfile.TemporaryDirectory(prefix="custodian-") as directory:
        parse_path = path
        if records.broken_from_byte is not None:
            # DuckDB would fold the lines after an unclosed quote into one rejected record;
            # it parses only the records before it, and those lines are quarantined one by one.
            parse_path = Path(directory) / path.name
            with path.open("rb") as original, parse_path.open("wb") as prefix:
                remaining = records.broken_from_byte
                while remaining > 0:
                    chunk = original.read(min(remaining, 1 << 20))
                    prefix.write(chunk)
                    remaining -= len(chunk)
        _parse_csv(con, source, parse_path)

    rejected = con.execute(
        "select line, string_agg(error_type || ': ' || error_message, '; ') "
        "from _rejects group by line order by line"
    ).fetchall()
    # DuckDB numbers records, not physical lines (a record with a quoted newline is one line,
    # the header is line 1, blank lines are counted and skipped): record index = line - 1.
    rejected_index = np.array([line - 1 for line, _ in rejected], np.int64)
    is_data = ~records.blank()
    if source.header and len(is_data):
        is_data[0] = False
    if len(rejected_index) and (
        rejected_index.max() >= len(is_data) or not is_data[rejected_index].all()
    ):
        raise _RecordCountMismatchError(path, "a rejected record is not a data record of the file")
    is_loaded = is_data.copy()
    is_loaded[rejected_index] = False
    loaded_lines = records.lines[is_loaded]
    parsed = con.execute("select count(*) from _parsed").fetchone()[0]
    if parsed != len(loaded_lines):
        raise _RecordCountMismatchError(
            path, f"the parser returned {parsed} rows, the record scan expects {len(loaded_lines)}"
        )

    line_numbers: list[int] = records.lines[rejected_index].tolist()
    starts, ends = records.starts[rejected_index], records.ends[rejected_index]
    spans = list(zip(starts.tolist(), ends.tolist(), strict=True))
    texts = _raw_texts(path, spans, source.encoding)
    reasons = [reason for _, reason in rejected]
    tail = 0
    if records.broken_from_byte is not None:
        with path.open("rb") as handle:
            handle.seek(records.broken_from_byte)
            tail_lines = handle.read().split(b"\n")
        if tail_lines and tail_lines[-1] == b"":
            tail_lines.pop()
        codec = _python_codec(source.encoding)
        reason = (
            f"UNTERMINATED QUOTE: a quoted field opened on line {records.broken_from_line} is "
            "never closed, so the lines from there to the end of the file cannot be split into "
            "records; each line is quarantined as it stands"
        )
        for offset, raw in enumerate(tail_lines):
            line_numbers.append(records.broken_from_line + offset)
            texts.append(raw.removesuffix(b"\r").decode(codec, errors="backslashreplace"))
            reasons.append(reason)
        tail = len(tail_lines)
    con.register(
        "_rejected_arrow",
        pa.table(
            {
                "line_number": pa.array(line_numbers, pa.int64()),
                "raw_text": pa.array(texts, pa.string()),
                "reason": pa.array(reasons, pa.string()),
            }
        ),
    )
    con.execute("create or replace temp table _rejected as select * from _rejected_arrow")
    con.unregister("_rejected_arrow")
    con.register("_line_numbers_arrow", pa.table({"_row_number": loaded_lines}))
    con.execute("create or replace temp table _line_numbers as select * from _line_numbers_arrow")
    con.unregister("_line_numbers_arrow")
    # Both tables hold the records in file order (DuckDB preserves insertion order), so the
    # n-th parsed row is the n-th loaded record of the scan.
    con.execute(
        "create or replace temp view _staged as select * from _parsed positional join _line_numbers"
    )
    return _StagedCounts(rows_read=int(is_data.sum()) + tail)


class _RecordCountMismatchError(IngestionError):
    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            f"file {path}: the independent record count disagrees with DuckDB's CSV parser "
            f"({detail}); rows could be lost or misnumbered, so nothing is loaded. Check the "
            "file's quoting and the source's quote/delimiter settings in governance.yaml."
        )


def _first_line(path: Path, encoding: str) -> str | None:
    # Decoded by Python where it knows the encoding: DuckDB's line reader fails the whole read
    # when any byte in its first buffer does not decode (a GBK file declared UTF-8), while the
    # header itself is usually plain ASCII and the bad rows are quarantined one by one.
    try:
        codec = codecs.lookup(encoding.lower().rsplit(".", 1)[-1]).name
    except LookupError:
        return None
    with path.open("rb") as handle:
        raw = handle.readline(_MAX_RECORD_BYTES)
    try:
        text = raw.decode("utf-8-sig" if codec == "utf-8" else codec)
    except UnicodeDecodeError:
        return None
    return text.split("\n", 1)[0].split("\r", 1)[0]  # LF, CRLF or classic Mac CR endings


def _csv_header(con: duckdb.DuckDBPyConnection, source: SourceConfig, path: Path) -> list[str]:
    # The header is line 1, split with the source's own dialect. DuckDB's sniffer is not used:
    # lenient, it takes the widest line for the header (a row with one field too many became
    # the column names); strict, it gives up on a whole file for one unterminated quote that
    # the read below quarantines alone.
    line = _first_line(path, source.encoding)
    if line is None:
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


def _parse_csv(con: duckdb.DuckDBPyConnection, source: SourceConfig, path: Path) -> None:
    options = _csv_options(source)
    header = _csv_header(con, source, path)
    columns = "{" + ", ".join(f"{_sql_literal(name)}: 'VARCHAR'" for name in header) + "}"
    con.execute("drop table if exists _rejects; drop table if exists _rejects_scan")
    con.execute(
        f"""
        create or replace temp table _parsed as
        select *
        from read_csv({_sql_literal(str(path))}, {options}, auto_detect=false,
                      columns={columns}, strict_mode=true, store_rejects=true,
                      rejects_table='_rejects', rejects_scan='_rejects_scan')
        """
    )


def _drop_staged(con: duckdb.DuckDBPyConnection) -> None:
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

    rows_in_file = None
    _drop_staged(con)
    try:
        if source.format == "csv":
            # The SHA-256 is taken in the same read of the file as the record count.
            digest = hashlib.sha256()
            rows_in_file = _stage_csv(con, source, path, digest).rows_read
            result.file_sha256 = digest.hexdigest()
        else:
            result.file_sha256 = file_sha256(path)
            if source.format == "jsonl":
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
    if rows_in_file is not None and rows_in_file != result.rows_read:
        raise _RecordCountMismatchError(
            path,
            f"{rows_in_file} rows in the file, {result.rows_loaded} parsed and "
            f"{result.rows_quarantined} quarantined",
        )
    result.duplicate_of_partition = _previous_load_of_same_file(
        con, source, result.file_sha256, partition_date
    )
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
        is_duplicate = result.duplicate_of_partition is not None
        skip_duplicate = is_duplicate and source.on_duplicate_file == "skip"
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
            elif is_duplicate:
                result.message = (
                    "identical file (same SHA-256) already loaded for "
                    f"{result.duplicate_of_partition}; loaded again (on_duplicate_file: load)"
                )
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
