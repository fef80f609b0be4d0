"""Writing the day files in each system's own format, and breaking a few on purpose.

Every writer is deterministic: rows go out in record order, JSON keys in a fixed order, and
nothing carries a wall-clock time (Parquet metadata only names the pyarrow version).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .sources import COLUMNS, CRM_COLUMNS, ERP_COLUMNS, WEB_COLUMNS

PARQUET_SCHEMA = pa.schema(
    [
        ("contact_id", pa.string()),
        ("caller_name", pa.string()),
        ("phone_number", pa.string()),
        ("alt_phone", pa.string()),
        ("email", pa.string()),
        ("city", pa.string()),
        ("dob_year", pa.int32()),
        ("dob_month", pa.int32()),
        ("dob_day", pa.int32()),
        ("last_call_at", pa.timestamp("us")),
        ("call_count", pa.int32()),
        ("vip_flag", pa.bool_()),
    ]
)
FILE_NAMES: dict[str, str] = {
    "crm": "crm_customers_{ymd}.csv",
    "erp_billing": "khzl_{ymd}.csv",
    "web_signup": "signups_{ymd}.jsonl",
    "call_center": "contacts_{ymd}.parquet",
}
EXTRA_ERP_COLUMN = "会员积分"  # loyalty points: the column an ERP upgrade added one day


def day_path(out_dir: Path, source: str, iso_day: str) -> Path:
    ymd = iso_day.replace("-", "")
    return out_dir / source / iso_day / FILE_NAMES[source].format(ymd=ymd)


def write_rows(source: str, path: Path, rows: Sequence[Sequence[Any]]) -> None:
    """Write rows (values in `COLUMNS[source]` order) as the source's file format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if source == "crm":
        _write_csv(path, CRM_COLUMNS, rows, "utf-8-sig")
    elif source == "erp_billing":
        _write_csv(path, ERP_COLUMNS, rows, "gbk")
    elif source == "web_signup":
        with path.open("w", encoding="utf-8", newline="\n") as f:
            for row in rows:
                obj = dict(zip(WEB_COLUMNS, row, strict=True))
                f.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
                f.write("\n")
    else:
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in COLUMNS[source]]
        arrays = []
        for field, values in zip(PARQUET_SCHEMA, columns, strict=True):
            if field.name == "last_call_at":
                seconds = np.asarray(values, dtype=np.int64)
                arrays.append(pa.array(seconds.astype("datetime64[s]").astype("datetime64[us]")))
            else:
                arrays.append(pa.array(list(values), type=field.type))
        pq.write_table(pa.Table.from_arrays(arrays, schema=PARQUET_SCHEMA), path)


def _write_csv(
    path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]], encoding: str
) -> None:
    # newline="" lets the csv module write RFC 4180 CRLF line ends itself.
    with path.open("w", encoding=encoding, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def write_truth_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


# --- Faults ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    source: str
    date: str
    file: str  # relative to the output directory
    line: int | None  # 1-based physical line (the header is line 1)
    column: str
    fault_kind: str
    source_record_id: str
    detail: str

    def row(self) -> list[str]:
        return [
            self.source,
            self.date,
            self.file,
            "" if self.line is None else str(self.line),
            self.column,
            self.fault_kind,
            self.source_record_id,
            self.detail,
        ]


FAULT_COLUMNS = (
    "source",
    "date",
    "file",
    "line",
    "column",
    "fault_kind",
    "source_record_id",
    "detail",
)


def _csv_line(fields: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(fields)
    return buffer.getvalue()


def break_crm_lines(
    path: Path, out_dir: Path, iso_day: str, rng: np.random.Generator
) -> list[Fault]:
    """Replace three rows of a CRM file by malformed lines.

    too_many_fields: the address lost its quotes and its comma splits it (20 fields).
    too_few_fields: the line was cut off after 12 fields.
    unbalanced_quote: an opening quote before the family name that never closes. It is the
    last line so that it swallows nothing after it; readers that honour quotes see one broken
    line, not a corrupted remainder.
    """
    text = path.read_bytes().decode("utf-8-sig")
    # Values never contain line breaks, so CRLF separates records exactly.
    lines = [line + "\r\n" for line in text.split("\r\n")[:-1]]
    data = list(range(1, len(lines)))
    if len(data) < 4:
        return []
    rel = str(path.relative_to(out_dir))
    quote_free = [i for i in data if '"' not in lines[i]]
    if not quote_free:
        return []
    last_clean = quote_free[-1]
    # Move a quote-free row to the end so the unbalanced quote cannot pair with a later one.
    if last_clean != data[-1]:
        row = lines.pop(last_clean)
        lines.append(row)
    picks = rng.choice(np.arange(1, len(lines) - 1), size=2, replace=False).tolist()
    faults = []
    for kind, i in zip(("too_many_fields", "too_few_fields"), sorted(picks), strict=True):
        fields = next(csv.reader([lines[i]]))
        if kind == "too_many_fields":
            address = fields[9] or "N/A"
            cut = address.find(",")
            if cut <= 0:
                cut = max(1, len(address) // 2)
            parts = [address[:cut], address[cut:].lstrip(",")]
            lines[i] = _csv_line([*fields[:9], *parts, *fields[10:]])
            detail = f"{len(CRM_COLUMNS) + 1} fields, header has {len(CRM_COLUMNS)}"
        else:
            lines[i] = _csv_line(fields[:12])
            detail = f"12 fields, header has {len(CRM_COLUMNS)}"
        faults.append(Fault("crm", iso_day, rel, i + 1, "", kind, fields[0], detail))
    last = len(lines) - 1
    fields = next(csv.reader([lines[last]]))
    lines[last] = fields[0] + ',"' + _csv_line(fields[1:])
    faults.append(
        Fault(
            "crm",
            iso_day,
            rel,
            last + 1,
            "",
            "unbalanced_quote",
            fields[0],
            "opening quote never closed",
        )
    )
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        f.write("".join(lines))
    faults.sort(key=lambda fault: fault.line or 0)
    return faults


def add_erp_column(
    path: Path, out_dir: Path, iso_day: str, rng: np.random.Generator
) -> list[Fault]:
    """Insert an unexpected column before 更新时间, as after an unannounced ERP upgrade."""
    with path.open(encoding="gbk", newline="") as f:
        rows = list(csv.reader(f))
    position = ERP_COLUMNS.index("更新时间")
    points = rng.integers(0, 20000, size=len(rows)).tolist()
    for k, row in enumerate(rows):
        row.insert(position, EXTRA_ERP_COLUMN if k == 0 else str(points[k]))
    with path.open("w", encoding="gbk", newline="") as f:
        csv.writer(f).writerows(rows)
    rel = str(path.relative_to(out_dir))
    return [
        Fault(
            "erp_billing",
            iso_day,
            rel,
            None,
            EXTRA_ERP_COLUMN,
            "unexpected_column",
            "",
            f"inserted before 更新时间 (position {position + 1})",
        )
    ]
