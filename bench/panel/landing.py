"""Reading and rewriting the demo generator's landing files in their own formats.

Each source keeps the dialect governance.yaml states for it (CRM: UTF-8 with BOM; ERP: GBK;
web: JSON Lines; call centre: Parquet), so a rewritten file is read by the pipeline exactly as
the generator's own would be.
"""

from __future__ import annotations

import csv
import json
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from panel.common import repository_sources

# The demo generator's file columns per source (dagster_project/lib/demo/README.md).
RECORD_ID = {
    "crm": "customer_no",
    "erp_billing": "客户编号",
    "web_signup": "user_id",
    "call_center": "contact_id",
}
NAME_COLUMNS = {
    "crm": ("family_name", "given_name"),
    "erp_billing": ("客户名称",),
    "web_signup": ("display_name", "first_name", "last_name"),
    "call_center": ("caller_name",),
}
DOB_COLUMNS = {
    "crm": ("birth_date",),
    "erp_billing": ("出生日期",),
    "web_signup": ("birthday",),
    "call_center": ("dob_year", "dob_month", "dob_day"),
}
PHONE_COLUMNS = {
    "crm": ("mobile", "home_phone"),
    "erp_billing": ("手机号码", "固定电话"),
    "web_signup": ("phone",),
    "call_center": ("phone_number", "alt_phone"),
}
EMAIL_COLUMNS = {
    "crm": ("email",),
    "erp_billing": ("电子邮箱",),
    "web_signup": ("email",),
    "call_center": ("email",),
}
PLACE_COLUMNS = {
    "crm": ("district", "city", "province"),
    "erp_billing": ("省份", "城市", "区县"),
    "web_signup": ("address",),  # nested: only city and region are kept
    "call_center": ("city",),
}
COMPANY_COLUMN = {"erp_billing": "公司名称"}
SOURCES = tuple(RECORD_ID)
_CSV_ENCODING = {"crm": "utf-8-sig", "erp_billing": "gbk"}


@dataclass
class SourceFile:
    source: str
    day: date
    path: Path
    columns: list[str]
    rows: list[dict[str, Any]]
    schema: pa.Schema | None = None  # Parquet only: the generator's column types


def day_range(first: date, days: int) -> list[date]:
    return [first + timedelta(days=offset) for offset in range(days)]


def landing_files(landing: Path, days: list[date]) -> Iterator[tuple[str, date, Path]]:
    sources = repository_sources()
    for source in SOURCES:
        for day in days:
            path = landing / sources[source]["path"].format(date=day)
            if path.is_file():
                yield source, day, path


def read(source: str, day: date, path: Path) -> SourceFile:
    if source in _CSV_ENCODING:
        with path.open(encoding=_CSV_ENCODING[source], newline="") as file:
            reader = csv.DictReader(file)
            rows = list(reader)
            return SourceFile(source, day, path, list(reader.fieldnames or []), rows)
    if source == "web_signup":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        columns = list(rows[0]) if rows else []
        return SourceFile(source, day, path, columns, rows)
    table = pq.read_table(path)
    return SourceFile(source, day, path, table.column_names, table.to_pylist(), table.schema)


def fitted(value: object, encoding: str) -> object:
    """Böhm -> Bohm where the encoding (GBK) cannot hold the letter, as the generator does."""
    if not isinstance(value, str):
        return value
    try:
        value.encode(encoding)
    except UnicodeEncodeError:
        decomposed = unicodedata.normalize("NFKD", value)
        folded = "".join(c for c in decomposed if not unicodedata.combining(c))
        return folded.encode(encoding, "ignore").decode(encoding)
    return value


def write(file: SourceFile) -> None:
    if file.source in _CSV_ENCODING:
        encoding = _CSV_ENCODING[file.source]
        with file.path.open("w", encoding=encoding, newline="") as out:
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow(file.columns)
            for row in file.rows:
                writer.writerow(
                    [
                        "" if row.get(c) is None else fitted(row.get(c), encoding)
                        for c in file.columns
                    ]
                )
        return
    if file.source == "web_signup":
        lines = (
            json.dumps({c: row.get(c) for c in file.columns}, ensure_ascii=False)
            for row in file.rows
        )
        file.path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return
    assert file.schema is not None
    # Columns the generator wrote keep their types; columns added here are text.
    fields = [
        file.schema.field(c) if c in file.schema.names else pa.field(c, pa.string())
        for c in file.columns
    ]
    schema = pa.schema(fields)
    table = pa.Table.from_pylist([{c: r.get(c) for c in file.columns} for r in file.rows], schema)
    pq.write_table(table, file.path)


def rewrite_all(
    landing: Path, days: list[date], change: Callable[[SourceFile], None]
) -> dict[str, int]:
    """Apply `change` to every landed file in place; records per source after the change."""
    records: dict[str, int] = {}
    for source, day, path in landing_files(landing, days):
        file = read(source, day, path)
        change(file)
        write(file)
        records[source] = records.get(source, 0) + len(file.rows)
    return records


def keep_columns(file: SourceFile, keep: tuple[str, ...] | list[str]) -> None:
    file.columns = [c for c in file.columns if c in keep]


def read_person_map(landing: Path) -> dict[tuple[str, str], str]:
    """(source, source_record_id) -> person_id, from the generator's ground truth."""
    with (landing / "_truth" / "person_map.csv").open(encoding="utf-8", newline="") as file:
        return {
            (row["source"], row["source_record_id"].strip()): row["person_id"]
            for row in csv.DictReader(file)
        }


def read_people(landing: Path) -> dict[str, dict[str, str]]:
    with (landing / "_truth" / "people.csv").open(encoding="utf-8", newline="") as file:
        return {row["person_id"]: row for row in csv.DictReader(file)}
