"""Stage a CSV file for loading, with the file's records counted independently of the parser.

Why this module exists: DuckDB's CSV reader (strict, with `store_rejects`) says which records it
rejected, but not reliably how many records the file holds. An unclosed quote folds every line
after it into one rejected "record", a blank line is skipped without a trace, and a record with
a quoted newline is one row but several lines. Counting rows from the parser's own output would
let those rows vanish silently. So the file's bytes are scanned once here (with numpy, in the
same read as the SHA-256) to find where each record starts and ends; the loader then checks that
parsed + rejected rows equal that count, numbers every row by the line it starts on, and takes
each quarantined row's raw text from its exact byte span.

`stage_csv` leaves the temp relations the loader reads: `_staged` (the parsed rows, every column
as text, with `_row_number`) and `_rejected` (line_number, raw_text, reason).
"""

from __future__ import annotations

import codecs
import csv
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from dagster_project.config import SourceConfig
from dagster_project.lib.warehouse import load_extensions

MAX_RECORD_BYTES = 1 << 26

# Read as whole lines: no delimiter, no quoting; row_number() is the file's line number.
LINES_OPTIONS = (
    "header=false, auto_detect=false, columns={'line': 'VARCHAR'}, delim='', quote='', "
    f"escape='', strict_mode=false, max_line_size={MAX_RECORD_BYTES}"
)

# DuckDB's `encodings` extension rejects GB18030's four-byte sequences beyond the BMP (𠀀,
# U+20000: rare characters that do occur in names) and fails the whole file; Python's codec
# reads them, so such files are transcoded to UTF-8 before DuckDB reads them. UTF-16 is
# transcoded too: the record scan below works on bytes and needs an ASCII-compatible encoding.
_PYTHON_DECODED_ENCODINGS = frozenset({"gb18030", "utf-16", "utf16", "utf-16le", "utf-16be"})

_SCAN_BLOCK_BYTES = 1 << 24


class CsvStagingError(Exception):
    """The file cannot be staged as it stands; the message says why (never a field's value)."""


class RecordCountMismatchError(CsvStagingError):
    """The parser and the independent record scan disagree about the file's records."""

    def __init__(self, detail: str, rows_in_file: int) -> None:
        super().__init__(detail)
        self.rows_in_file = rows_in_file  # by the scan, for the failed load's log row


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def python_codec(encoding: str) -> str:
    """Python's name for a DuckDB encoding name ('zh_CN.gbk' -> 'gbk'), for raw text."""
    name = encoding.lower().rsplit(".", 1)[-1]
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "utf-8"


@dataclass
class CsvRecords:
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
    has_control_bytes: bool  # see _count_control_bytes

    def blank(self) -> np.ndarray:
        return self.ends == self.starts

    def longest(self) -> int:
        """Bytes in the longest record: no field of it has more characters."""
        return int((self.ends - self.starts).max()) if len(self.starts) else 0


def scan_csv_records(path: Path, quote: str, digest: Any = None) -> CsvRecords:
    quote_byte = quote.encode("ascii")[0]
    newline = ord("\n")
    ends_at: list[np.ndarray] = []  # positions of newlines that end a record
    ends_line: list[np.ndarray] = []  # 0-based index of those newlines among all newlines
    ends_cr: list[np.ndarray] = []  # whether a CR precedes them
    parity, offset, newlines_before, last_byte, control_bytes = 0, 0, 0, 0, 0
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
            control_bytes += _count_control_bytes(data, newline, found)
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
    return CsvRecords(starts, ends, lines, broken_byte, broken_line, offset, control_bytes > 0)


def _count_control_bytes(data: np.ndarray, newline: int, found: np.ndarray) -> int:
    """Bytes of C0 control characters other than tab, LF and CR, and of DEL, in a block.

    A cheap test for the loader's field check: no ASCII-compatible encoding uses these bytes
    inside a multi-byte character, so a file without them has no field holding such a
    character and the SQL check is skipped. Two vector compares in the usual case (LF or CRLF
    line ends, no tab); about +0.1 s per 1M rows of the benchmark's file.
    """
    low = int(np.count_nonzero(data < 0x20))
    allowed = len(found)
    if low > allowed and newline == ord("\n"):
        allowed += int(np.count_nonzero(data[found[found > 0] - 1] == ord("\r")))  # CRLF
    if low > allowed:  # tabs, lone CRs or LFs, or control characters: count exactly
        other_line_end = ord("\r") if newline == ord("\n") else ord("\n")
        allowed = len(found) + int(
            np.count_nonzero(data == other_line_end) + np.count_nonzero(data == 0x09)
        )
    return low - allowed + int(np.count_nonzero(data == 0x7F))


def raw_texts(path: Path, spans: list[tuple[int, int]], encoding: str) -> list[str]:
    # Undecodable bytes become \xNN escapes rather than '?': the quarantined text still says
    # exactly which bytes the file held.
    codec = python_codec(encoding)
    texts = []
    with path.open("rb") as handle:
        for start, end in spans:
            handle.seek(start)
            texts.append(handle.read(end - start).decode(codec, errors="backslashreplace"))
    return texts


@dataclass
class StagedCsv:
    """What staging learnt about the file besides the rows it left in `_staged`/`_rejected`."""

    rows_read: int  # data records in the file by the independent scan (quarantined included)
    header_fields: list[str]  # line 1 as written ([] without a header or when it is blank)
    columns: list[str]  # the names the columns were loaded under (repeats and blanks renamed)
    # The file the record spans refer to: the landed file, or its UTF-8 transcoding, which
    # lives in the caller's work directory for as long as the load needs raw texts.
    records_path: Path
    records: CsvRecords | None
    encoding: str
    # `_staged` is a view (the parsed rows positionally joined to their line numbers); the
    # parsed table alone holds the same columns and scans faster, in parallel.
    columns_relation: str = "_parsed"

    def may_have_bad_fields(self, max_field_length: int) -> bool:
        """False when the scan rules out a control character or an over-long field."""
        if self.records is None:
            return True
        return self.records.has_control_bytes or self.records.longest() > max_field_length

    def raw_texts(self, line_numbers: Sequence[int]) -> list[str]:
        """The raw text of the loaded records starting on these lines (e.g. a bad field's row)."""
        if self.records is None or not len(line_numbers):
            return []
        index = np.searchsorted(self.records.lines, np.asarray(line_numbers, np.int64))
        spans = zip(
            self.records.starts[index].tolist(), self.records.ends[index].tolist(), strict=True
        )
        return raw_texts(self.records_path, list(spans), self.encoding)


def stage_csv(
    con: duckdb.DuckDBPyConnection,
    source: SourceConfig,
    path: Path,
    workdir: Path,
    digest: Any = None,
) -> StagedCsv:
    """Parse `path` into `_staged` and `_rejected`, checked against the independent count.

    Raises:
        CsvStagingError: the header is blank above data rows, or the parser and the record
            scan disagree (rows could be lost or misnumbered).
        duckdb.Error, UnicodeDecodeError, OSError: the file cannot be read as configured.
    """
    if source.encoding.lower() in _PYTHON_DECODED_ENCODINGS:
        utf8_path = workdir / f"utf8-{path.name}"
        with (
            path.open(encoding=source.encoding, newline="") as original,
            utf8_path.open("w", encoding="utf-8", newline="") as transcoded,
        ):
            shutil.copyfileobj(original, transcoded, 1 << 20)
        if digest is not None:
            with path.open("rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
        utf8_source = source.model_copy(update={"encoding": "utf-8"})
        return stage_csv(con, utf8_source, utf8_path, workdir)
    # The dialect is always explicit: left to guess quoting, DuckDB's sniffer sometimes decides
    # a file has none and silently splits quoted fields.
    if source.encoding.lower().replace("-", "") not in ("utf8", "utf16", "latin1"):
        # DuckDB reads UTF-8/16 and Latin-1 natively; anything else needs the extension.
        load_extensions(con, ("encodings",))
    records = scan_csv_records(path, source.quote, digest)
    header_fields, columns = _csv_header(con, source, path)
    is_data = ~records.blank()
    if source.header and len(is_data):
        is_data[0] = False
    if not columns:
        if is_data.any() or records.broken_from_byte is not None:
            raise CsvStagingError(
                "line 1, where the header should be, is blank, but data rows follow; "
                "the columns cannot be named"
            )
        # Nothing but blank lines (or a BOM): an empty delivery, with no columns to report.
        stage_no_rows(con)
        return StagedCsv(0, [], [], path, None, source.encoding, columns_relation="_staged")

    with tempfile.TemporaryDirectory(prefix="custodian-", dir=workdir) as directory:
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
        _parse_csv(con, source, parse_path, columns)

    # DuckDB reports an error per field it trips over, so one bad record can carry the same
    # kind of error several times ("Found: 4", "Found: 5", "Found: 6" for a record with three
    # fields too many). Each kind appears once per line, with the message of the last field,
    # which for column-count errors is the record's true field count.
    rejected = con.execute(
        """
        select line, string_agg(reason, '; ' order by first_byte, reason)
        from (
            select line, min(coalesce(byte_position, 0)) as first_byte,
                   error_type || ': ' || arg_max(error_message, coalesce(column_idx, 0))
                       as reason
            from _rejects
            group by line, error_type
        )
        group by line
        order by line
        """
    ).fetchall()
    # DuckDB numbers records, not physical lines (a record with a quoted newline is one line,
    # the header is line 1, blank lines are counted and skipped): record index = line - 1.
    rejected_index = np.array([line - 1 for line, _ in rejected], np.int64)
    tail_lines = _tail_lines(path, records)
    rows_in_file = int(is_data.sum()) + len(tail_lines)
    if len(rejected_index) and (
        rejected_index.max() >= len(is_data) or not is_data[rejected_index].all()
    ):
        raise RecordCountMismatchError(
            "a rejected record is not a data record of the file", rows_in_file
        )
    is_loaded = is_data.copy()
    is_loaded[rejected_index] = False
    loaded_lines = records.lines[is_loaded]
    parsed = con.execute("select count(*) from _parsed").fetchone()[0]
    if parsed != len(loaded_lines):
        raise RecordCountMismatchError(
            f"the parser returned {parsed} rows, the record scan expects {len(loaded_lines)}",
            rows_in_file,
        )

    line_numbers: list[int] = records.lines[rejected_index].tolist()
    starts, ends = records.starts[rejected_index], records.ends[rejected_index]
    spans = list(zip(starts.tolist(), ends.tolist(), strict=True))
    texts = raw_texts(path, spans, source.encoding)
    reasons = [reason for _, reason in rejected]
    if tail_lines:
        codec = python_codec(source.encoding)
        reason = (
            f"UNTERMINATED QUOTE: a quoted field opened on line {records.broken_from_line} is "
            "never closed, so the lines from there to the end of the file cannot be split into "
            "records; each line is quarantined as it stands"
        )
        for offset, raw in enumerate(tail_lines):
            line_numbers.append(records.broken_from_line + offset)
            texts.append(raw.removesuffix(b"\r").decode(codec, errors="backslashreplace"))
            reasons.append(reason)
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
    return StagedCsv(
        rows_read=rows_in_file,
        header_fields=header_fields,
        columns=columns,
        records_path=path,
        records=records,
        encoding=source.encoding,
    )


def _tail_lines(path: Path, records: CsvRecords) -> list[bytes]:
    """The physical lines from an unclosed quote to the end, each counted as one row."""
    if records.broken_from_byte is None:
        return []
    with path.open("rb") as handle:
        handle.seek(records.broken_from_byte)
        tail_lines = handle.read().split(b"\n")
    if tail_lines and tail_lines[-1] == b"":
        tail_lines.pop()
    return tail_lines


def stage_no_rows(con: duckdb.DuckDBPyConnection) -> None:
    """An empty `_staged` (no columns) and `_rejected`: a delivery with nothing in it."""
    con.execute(
        "create or replace temp table _staged as select null::bigint as _row_number limit 0"
    )
    con.execute(
        "create or replace temp table _rejected as select null::bigint as line_number, "
        "null::varchar as raw_text, null::varchar as reason limit 0"
    )


def _csv_options(source: SourceConfig) -> str:
    # max_line_size: DuckDB's default (2 MB) refuses a file with one long field (a 10 MB note
    # pasted into a CRM); 64 MB still stops a runaway unterminated quote from eating memory.
    # Fields above the source's max_field_length are quarantined after parsing, by the loader.
    return (
        f"encoding={sql_literal(source.encoding)}, delim={sql_literal(source.delimiter)}, "
        f"quote={sql_literal(source.quote)}, escape={sql_literal(source.quote)}, "
        f"header={str(source.header).lower()}, max_line_size={MAX_RECORD_BYTES}"
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
        raw = handle.readline(MAX_RECORD_BYTES)
    try:
        text = raw.decode("utf-8-sig" if codec == "utf-8" else codec)
    except UnicodeDecodeError:
        return None
    return text.split("\n", 1)[0].split("\r", 1)[0]  # LF, CRLF or classic Mac CR endings


def _csv_header(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, path: Path
) -> tuple[list[str], list[str]]:
    """Line 1 as written, and the names its columns are loaded under.

    The header is line 1, split with the source's own dialect. DuckDB's sniffer is not used:
    lenient, it takes the widest line for the header (a row with one field too many became the
    column names); strict, it gives up on a whole file for one unterminated quote that the read
    quarantines alone. With a header, a blank line 1 gives no names at all.
    """
    line = _first_line(path, source.encoding)
    if line is None:
        first = con.execute(
            f"select line from read_csv({sql_literal(str(path))}, "
            f"encoding={sql_literal(source.encoding)}, {LINES_OPTIONS}) limit 1"
        ).fetchone()
        line = first[0] if first and first[0] is not None else ""
    fields = next(csv.reader([line], delimiter=source.delimiter, quotechar=source.quote), [])
    if not source.header:
        # DuckDB's names for columns without a header: column0.., column00.. from ten on.
        width = len(str(max(len(fields), 1) - 1))
        return [], [f"column{index:0{width}d}" for index in range(max(len(fields), 1))]
    if not line.strip():
        return [], []
    names: list[str] = []
    taken: set[str] = set()  # DuckDB's identifiers ignore case: Email and email collide
    for index, field_name in enumerate(fields):
        name = field_name or f"column{index}"
        unique, suffix = name, 1
        while unique.lower() in taken:
            unique, suffix = f"{name}_{suffix}", suffix + 1
        names.append(unique)
        taken.add(unique.lower())
    return fields, names


def _parse_csv(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, path: Path, header: list[str]
) -> None:
    options = _csv_options(source)
    columns = "{" + ", ".join(f"{sql_literal(name)}: 'VARCHAR'" for name in header) + "}"
    con.execute("drop table if exists _rejects; drop table if exists _rejects_scan")
    con.execute(
        f"""
        create or replace temp table _parsed as
        select *
        from read_csv({sql_literal(str(path))}, {options}, auto_detect=false,
                      columns={columns}, strict_mode=true, store_rejects=true,
                      rejects_table='_rejects', rejects_scan='_rejects_scan')
        """
    )
