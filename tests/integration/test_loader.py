"""Loading landed files into `raw.<source>__customers`, against real DuckDB files in tmp_path.

Each test writes the bytes a source system would deliver (BOMs, GBK, broken quoting, drifting
headers) and checks what reaches the raw table, the quarantine and the load log.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagster_project.config import SourceConfig
from dagster_project.lib.ingest.load_result import IngestionError
from dagster_project.lib.ingest.loader import (
    LINEAGE_COLUMNS,
    ensure_ops_tables,
    load_partition,
)
from dagster_project.lib.warehouse import WarehouseLockedError, connect

DAY_1 = date(2026, 11, 1)
DAY_2 = date(2026, 11, 2)
DROP = "'; DROP TABLE raw.crm__customers; --"


def _source(**overrides: object) -> SourceConfig:
    fields: dict[str, object] = {
        "name": "crm",
        "system": "crm",
        "path": "crm/{date:%Y-%m-%d}/crm_customers_{date:%Y%m%d}.csv",
        "format": "csv",
        "encoding": "utf-8",
        "start_date": DAY_1,
        "trust_rank": 1,
        "mapping": {"source_record_id": "customer_id", "full_name": "name"},
    }
    return SourceConfig(**(fields | overrides))


def _land(root: Path, source: SourceConfig, day: date, content: bytes) -> Path:
    path = root / source.path_for(day)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    root.mkdir()
    return root


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect(tmp_path / "warehouse.duckdb", timeout=5)
    yield connection
    connection.close()


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def _column_types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    return {row[0]: row[1] for row in _rows(con, f"describe {table}")}


def _quarantine(con: duckdb.DuckDBPyConnection, day: date) -> list[tuple]:
    return _rows(
        con,
        "select file_path, line_number, raw_text, reason from quarantine.rejected_rows "
        "where partition_date = ? order by line_number",
        [day],
    )


def _log(con: duckdb.DuckDBPyConnection, day: date) -> list[dict]:
    cursor = con.execute(
        "select * from ops.load_log where partition_date = ? order by started_at", [day]
    )
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_utf8_csv_with_bom_loads_as_text_with_lineage_and_a_log_row(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source()
    content = (
        "\ufeffcustomer_id,name,mobile,vip_since\r\n"
        "00042,张三,13800138000,2020-01-01\r\n"
        'C2,"Smith, John",+86 139 1234 5678,\r\n'
    ).encode()
    path = _land(landing, source, DAY_1, content)

    result = load_partition(con, source, landing, DAY_1, "run-1")

    assert (result.status, result.rows_read, result.rows_loaded) == ("loaded", 2, 2)
    assert result.rows_quarantined == 0
    assert result.file_sha256 == hashlib.sha256(content).hexdigest()
    types = _column_types(con, "raw.crm__customers")
    source_columns = [c for c in types if c not in LINEAGE_COLUMNS]
    assert source_columns == ["customer_id", "name", "mobile", "vip_since"]
    assert not source_columns[0].startswith("\ufeff")
    # Leading zeros, phone numbers and dates stay exactly as sent: typing happens in dbt.
    assert all(types[c] == "VARCHAR" for c in source_columns)
    assert set(LINEAGE_COLUMNS) <= set(types)

    rows = _rows(
        con,
        "select customer_id, name, mobile, _source_name, _partition_date, _file_path, "
        "_file_sha256, _row_number, _run_id, _loaded_at from raw.crm__customers "
        "order by _row_number",
    )
    assert [row[:3] for row in rows] == [
        ("00042", "张三", "13800138000"),
        ("C2", "Smith, John", "+86 139 1234 5678"),
    ]
    # _row_number is the file line the record starts on (the header is line 1), as in quarantine.
    for line_number, row in enumerate(rows, start=2):
        assert row[3:9] == ("crm", DAY_1, str(path), result.file_sha256, line_number, "run-1")
        assert isinstance(row[9], datetime)

    (log,) = _log(con, DAY_1)
    assert log["status"] == "loaded"
    assert (log["rows_read"], log["rows_loaded"], log["rows_quarantined"]) == (2, 2, 0)
    assert log["file_path"] == str(path)
    assert log["file_sha256"] == result.file_sha256
    assert log["run_id"] == "run-1"


def test_gbk_csv_with_chinese_headers_round_trips_exactly(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(
        name="erp_billing",
        system="erp",
        path="erp/{date:%Y%m%d}/客户.csv",
        encoding="zh_CN.gbk",
        mapping={"source_record_id": "客户编号", "full_name": "客户名称"},
    )
    names = ["张三", "欧阳娜娜", "司马懿"]
    addresses = ["北京市海淀区中关村大街１号", "上海市浦东新区世纪大道100号", "广州市天河区"]
    text = "客户编号,客户名称,开票地址\n" + "".join(
        f"E{i},{name},{address}\n"
        for i, (name, address) in enumerate(zip(names, addresses, strict=True))
    )
    content = text.encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")  # the fixture really is GBK, not UTF-8 by accident
    _land(landing, source, DAY_1, content)

    result = load_partition(con, source, landing, DAY_1, "run-1")

    assert result.rows_loaded == 3
    assert list(_column_types(con, "raw.erp_billing__customers"))[:3] == [
        "客户编号",
        "客户名称",
        "开票地址",
    ]
    rows = _rows(
        con,
        'select "客户名称", "开票地址" from raw.erp_billing__customers order by _row_number',
    )
    assert rows == list(zip(names, addresses, strict=True))


@pytest.mark.parametrize(
    "beyond_gbk",
    [
        "㐀",  # U+3400, CJK extension A: a four-byte GB18030 sequence
        "𠀀",  # U+20000, CJK extension B, outside the BMP
    ],
)
def test_gb18030_keeps_characters_gbk_cannot_encode(
    con: duckdb.DuckDBPyConnection, landing: Path, beyond_gbk: str
) -> None:
    with pytest.raises(UnicodeEncodeError):
        beyond_gbk.encode("gbk")
    source = _source(
        name="erp_billing",
        system="erp",
        path="erp/{date:%Y%m%d}.csv",
        encoding="gb18030",
        mapping={"source_record_id": "编号", "full_name": "姓名"},
    )
    name = f"张{beyond_gbk}丰"
    _land(landing, source, DAY_1, f"编号,姓名\n1,{name}\n2,李四\n".encode("gb18030"))

    result = load_partition(con, source, landing, DAY_1, "run-1")

    assert result.rows_loaded == 2
    assert _rows(con, 'select "姓名" from raw.erp_billing__customers order by _row_number') == [
        (name,),
        ("李四",),
    ]


def test_gb18030_file_with_invalid_bytes_is_refused_naming_the_file(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(
        name="erp_billing",
        system="erp",
        path="erp/{date:%Y%m%d}.csv",
        encoding="gb18030",
        mapping={"source_record_id": "id"},
    )
    path = _land(landing, source, DAY_1, b"id,name\n1,\xff\xfe\xfd\n")

    with pytest.raises(IngestionError) as caught:
        load_partition(con, source, landing, DAY_1, "run-1")

    assert str(path) in str(caught.value)
    assert "gb18030" in str(caught.value)


def test_jsonl_keeps_nested_objects_as_json_and_quarantines_bad_lines(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(
        name="web_signup",
        system="web",
        path="web/{date:%Y-%m-%d}.jsonl",
        format="jsonl",
        mapping={"source_record_id": "id", "full_name": "name"},
        max_quarantine_share=0.5,
    )
    first = {
        "id": "W1",
        "name": "张三",
        "address": {"city": "北京", "postcode": "100080", "lines": ["中关村大街1号"]},
        "signup_at": "2026-11-01T08:30:00.120+08:00",
        "age": 30,
    }
    lines = [
        json.dumps(first, ensure_ascii=False),
        "",  # blank lines are not records, and must not shift the line numbers
        '{"id": "W2", "name": "broken',
        json.dumps({"id": "W3", "name": "Li Si", "address": None}),
        "[1, 2]",
    ]
    path = _land(landing, source, DAY_1, ("\n".join(lines) + "\n").encode())

    result = load_partition(con, source, landing, DAY_1, "run-1")

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (4, 2, 2)
    rows = _rows(
        con,
        "select id, name, address, signup_at, age, _row_number from raw.web_signup__customers "
        "order by _row_number",
    )
    assert [(row[0], row[1], row[5]) for row in rows] == [("W1", "张三", 1), ("W3", "Li Si", 4)]
    assert json.loads(rows[0][2]) == first["address"]
    # Timestamps and numbers as sent, not re-rendered.
    assert rows[0][3:5] == ("2026-11-01T08:30:00.120+08:00", "30")
    assert rows[1][2:5] == (None, None, None)
    types = _column_types(con, "raw.web_signup__customers")
    source_columns = {c: t for c, t in types.items() if c not in LINEAGE_COLUMNS}
    assert source_columns == dict.fromkeys(["address", "age", "id", "name", "signup_at"], "VARCHAR")

    quarantined = _quarantine(con, DAY_1)
    assert [(row[0], row[1], row[2]) for row in quarantined] == [
        (str(path), 3, lines[2]),
        (str(path), 5, lines[4]),
    ]
    assert all(row[3] for row in quarantined)


def test_parquet_columns_of_any_type_are_stored_as_text(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(
        name="call_center",
        system="call_center",
        path="cc/{date:%Y-%m-%d}.parquet",
        format="parquet",
        mapping={"source_record_id": "ticket_id"},
    )
    table = pa.table(
        {
            "ticket_id": pa.array([1001, 1002], pa.int64()),
            "called_at": pa.array([datetime(2026, 11, 1, 9, 15, 30), None], pa.timestamp("us")),
            "is_callback": pa.array([True, False], pa.bool_()),
            "caller_name": pa.array(["王先生", None], pa.string()),
        }
    )
    path = landing / source.path_for(DAY_1)
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)

    result = load_partition(con, source, landing, DAY_1, "run-1")

    assert result.rows_loaded == 2
    types = _column_types(con, "raw.call_center__customers")
    assert {c: types[c] for c in table.column_names} == dict.fromkeys(table.column_names, "VARCHAR")
    assert _rows(
        con,
        "select ticket_id, called_at, is_callback, caller_name, _row_number "
        "from raw.call_center__customers order by _row_number",
    ) == [("1001", "2026-11-01 09:15:30", "true", "王先生", 1), ("1002", None, "false", None, 2)]


def test_reloading_a_partition_replaces_it_and_other_days_stay(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(max_quarantine_share=0.5)
    _land(landing, source, DAY_1, b"customer_id,name\n1,A\n2,B\n3,C,extra\n")

    for run in ("run-1", "run-2"):
        result = load_partition(con, source, landing, DAY_1, run)
        assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    assert _rows(con, "select count(*), min(_run_id) from raw.crm__customers") == [(2, "run-2")]
    assert len(_quarantine(con, DAY_1)) == 1, "quarantine rows are replaced too, not doubled"
    assert [log["status"] for log in _log(con, DAY_1)] == ["loaded", "loaded"]

    _land(landing, source, DAY_2, b"customer_id,name\n4,D\n")
    load_partition(con, source, landing, DAY_2, "run-3")
    counts = _rows(
        con,
        "select _partition_date, count(*) from raw.crm__customers group by 1 order by 1",
    )
    assert counts == [(DAY_1, 2), (DAY_2, 1)]

    # A corrected re-delivery of day 1 replaces day 1 only.
    _land(landing, source, DAY_1, b"customer_id,name\n1,A\n2,B\n3,C\n")
    load_partition(con, source, landing, DAY_1, "run-4")
    counts = _rows(
        con,
        "select _partition_date, count(*) from raw.crm__customers group by 1 order by 1",
    )
    assert counts == [(DAY_1, 3), (DAY_2, 1)]
    assert _quarantine(con, DAY_1) == []


def test_malformed_csv_lines_go_to_quarantine_and_good_rows_load(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(max_quarantine_share=0.9)
    lines = [
        "customer_id,name,city",
        "C1,Alice,Beijing",
        "C2,Bob,Shanghai,extra",  # too many fields
        "C3,Carol",  # too few fields
        'C4,"Dan, Jr",Shenzhen',
        'C5,"Eve,Hangzhou',  # unbalanced quote on the last line
    ]
    path = _land(landing, source, DAY_1, ("\n".join(lines) + "\n").encode())

    result = load_partition(con, source, landing, DAY_1, "run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (2, 3)
    assert result.rows_read == result.rows_loaded + result.rows_quarantined == 5
    assert _rows(con, "select customer_id, name, city from raw.crm__customers order by 1") == [
        ("C1", "Alice", "Beijing"),
        ("C4", "Dan, Jr", "Shenzhen"),
    ]
    quarantined = _quarantine(con, DAY_1)
    assert [(row[0], row[1]) for row in quarantined] == [
        (str(path), 3),
        (str(path), 4),
        (str(path), 6),
    ]
    assert [row[2].rstrip("\r\n") for row in quarantined] == [lines[2], lines[3], lines[5]]
    reasons = [row[3].lower() for row in quarantined]
    assert "too many columns" in reasons[0]
    assert "missing columns" in reasons[1]
    assert "quote" in reasons[2]
    (log,) = _log(con, DAY_1)
    assert log["rows_read"] == log["rows_loaded"] + log["rows_quarantined"] == 5


def test_header_is_line_one_even_when_a_later_row_is_wider(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    # DuckDB's lenient sniffer once took the widest row ("3,C,extra") for the header, turning
    # one bad row into a schema-drift failure of the whole partition.
    source = _source(max_quarantine_share=0.5, mapping={"source_record_id": "customer_id"})
    _land(landing, source, DAY_1, b'customer_id,"name, as given"\n1,A\n2,B\n3,C,extra\n')

    result = load_partition(con, source, landing, DAY_1, "run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    columns = [c for c in _column_types(con, "raw.crm__customers") if c not in LINEAGE_COLUMNS]
    assert columns == ["customer_id", "name, as given"]
    assert [row[1] for row in _quarantine(con, DAY_1)] == [4]


def test_source_without_a_header_row_gets_positional_column_names(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(header=False, mapping={"source_record_id": "column0", "full_name": "column1"})
    _land(landing, source, DAY_1, "1,张三\n2,李四\n".encode())

    result = load_partition(con, source, landing, DAY_1, "run-1")

    assert result.rows_loaded == 2
    assert _rows(con, "select column0, column1 from raw.crm__customers order by 1") == [
        ("1", "张三"),
        ("2", "李四"),
    ]


def test_unterminated_quote_mid_file_loses_no_text(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    # A quote opened and never closed swallows the lines after it into one field. How many
    # records those lines were cannot be known, but none of their text may be lost.
    source = _source(max_quarantine_share=0.9)
    lines = ["customer_id,name", "C1,Alice", 'C2,"Bob', "C3,Carol", "C4,Dan"]
    _land(landing, source, DAY_1, ("\n".join(lines) + "\n").encode())

    result = load_partition(con, source, landing, DAY_1, "run-1")

    assert result.rows_read == result.rows_loaded + result.rows_quarantined
    loaded = _rows(con, "select customer_id || ',' || name from raw.crm__customers")
    quarantined_text = "\n".join(row[2] for row in _quarantine(con, DAY_1))
    for line in lines[1:]:
        assert (line,) in loaded or line in quarantined_text, f"{line!r} was lost"


def test_too_many_bad_rows_reject_the_partition_after_quarantining_them(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source()  # default max_quarantine_share: 5%
    _land(landing, source, DAY_2, b"customer_id,name\n9,Zed\n")
    load_partition(con, source, landing, DAY_2, "run-1")
    path = _land(landing, source, DAY_1, b"customer_id,name\n1,A\n2,B,x\n3\n")

    with pytest.raises(IngestionError) as caught:
        load_partition(con, source, landing, DAY_1, "run-2")

    message = str(caught.value)
    assert str(path) in message
    assert "quarantine.rejected_rows" in message
    assert "max_quarantine_share" in message
    assert [row[1] for row in _quarantine(con, DAY_1)] == [3, 4]
    day_1_rows = "select count(*) from raw.crm__customers where _partition_date = ?"
    assert _rows(con, day_1_rows, [DAY_1]) == [(0,)]
    assert _rows(con, "select customer_id from raw.crm__customers") == [("9",)]
    (log,) = _log(con, DAY_1)
    assert (log["status"], log["rows_loaded"], log["rows_skipped"]) == ("rejected", 0, 1)
    assert log["rows_quarantined"] == 2


def test_missing_file_fails_naming_the_expected_path(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source()
    expected = landing / source.path_for(DAY_1)

    with pytest.raises(IngestionError) as caught:
        load_partition(con, source, landing, DAY_1, "run-1")

    assert str(expected) in str(caught.value)
    assert "on_missing: skip" in str(caught.value)
    assert _log(con, DAY_1)[0]["status"] == "missing"


def test_missing_file_with_on_missing_skip_is_reported_not_raised(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(on_missing="skip")

    result = load_partition(con, source, landing, DAY_1, "run-1")

    assert result.status == "missing"
    assert result.rows_loaded == 0
    assert str(landing / source.path_for(DAY_1)) in result.message
    assert _log(con, DAY_1)[0]["status"] == "missing"


def test_mapped_column_missing_from_the_file_is_schema_drift(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source()
    path = _land(landing, source, DAY_1, b"customer_id,full_name\n1,A\n")

    with pytest.raises(IngestionError) as caught:
        load_partition(con, source, landing, DAY_1, "run-1")

    message = str(caught.value)
    assert "'crm'" in message
    assert str(path) in message
    assert "['name']" in message, "names the missing column"
    assert "customer_id" in message
    assert "full_name" in message, "lists the columns that were found"
    tables = _rows(con, "select table_name from information_schema.tables where table_schema='raw'")
    assert tables == []


def test_unexpected_new_column_is_kept_and_reported(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source()
    _land(landing, source, DAY_1, b"customer_id,name\n1,A\n")
    _land(landing, source, DAY_2, b"customer_id,wechat_id,name\n2,wx_b,B\n")
    load_partition(con, source, landing, DAY_1, "run-1")

    result = load_partition(con, source, landing, DAY_2, "run-2")

    assert result.extra_columns == ["wechat_id"]
    assert _log(con, DAY_2)[0]["extra_columns"] == ["wechat_id"]
    assert _column_types(con, "raw.crm__customers")["wechat_id"] == "VARCHAR"
    assert _rows(con, "select customer_id, name, wechat_id from raw.crm__customers order by 1") == [
        ("1", "A", None),
        ("2", "B", "wx_b"),
    ]


def test_identical_file_redelivered_for_another_day_is_skipped(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source()
    content = b"customer_id,name\n1,A\n2,B\n"
    _land(landing, source, DAY_1, content)
    _land(landing, source, DAY_2, content)
    load_partition(con, source, landing, DAY_1, "run-1")

    result = load_partition(con, source, landing, DAY_2, "run-2")

    assert result.status == "duplicate_skipped"
    assert result.duplicate_of_partition == DAY_1
    assert (result.rows_loaded, result.rows_skipped) == (0, 2)
    assert str(DAY_1) in result.message
    assert _rows(con, "select distinct _partition_date from raw.crm__customers") == [(DAY_1,)]
    (log,) = _log(con, DAY_2)
    assert (log["status"], log["duplicate_of_partition"], log["rows_skipped"]) == (
        "duplicate_skipped",
        DAY_1,
        2,
    )
    # Re-running day 1 itself is a reload, not a duplicate of itself.
    assert load_partition(con, source, landing, DAY_1, "run-3").status == "loaded"


def test_header_only_csv_is_an_empty_partition_not_an_error(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source()
    _land(landing, source, DAY_1, b"customer_id,name\n")

    result = load_partition(con, source, landing, DAY_1, "run-1")

    assert result.status == "empty"
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (0, 0, 0)
    assert _rows(con, "select count(*) from raw.crm__customers") == [(0,)]
    (log,) = _log(con, DAY_1)
    assert (log["status"], log["rows_read"], log["rows_loaded"], log["rows_quarantined"]) == (
        "empty",
        0,
        0,
        0,
    )
    assert log["message"] == "file has no data rows"


def test_sql_in_values_names_and_paths_is_stored_verbatim(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    landing = tmp_path / "o'neil's landing"
    source = _source()
    content = (
        'customer_id,name,"note"";drop table ops.load_log;--"\n'
        f"1,{DROP},plain\n"
        f'2,"x{DROP.replace(chr(39), chr(39) * 2)}",\'\n'
    ).encode()
    _land(landing, source, DAY_1, content)

    result = load_partition(con, source, landing, DAY_1, "run'); drop table raw.crm__customers;--")

    assert result.rows_loaded == 2
    assert _rows(con, "select name from raw.crm__customers order by _row_number") == [
        (DROP,),
        ("x" + DROP.replace("'", "''"),),
    ]
    assert 'note";drop table ops.load_log;--' in _column_types(con, "raw.crm__customers")
    assert _rows(con, "select count(*) from ops.load_log") == [(1,)]
    assert _rows(con, "select distinct _run_id from raw.crm__customers") == [
        ("run'); drop table raw.crm__customers;--",)
    ]


def test_ensure_ops_tables_is_idempotent(con: duckdb.DuckDBPyConnection) -> None:
    ensure_ops_tables(con)
    ensure_ops_tables(con)
    tables = _rows(
        con,
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_schema in ('ops', 'quarantine') order by 1",
    )
    assert tables == [("ops.load_log",), ("quarantine.rejected_rows",)]


def test_locked_warehouse_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\n"
            "from dagster_project.lib.warehouse import connect\n"
            f"con = connect({str(path)!r})\n"
            "print('ready', flush=True)\n"
            "time.sleep(3)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"

        with pytest.raises(WarehouseLockedError) as caught:
            connect(path, timeout=0.5)

        message = str(caught.value)
        assert str(path) in message
        assert f"PID {holder.pid}" in message
        assert "wait" in message
        assert "retry" in message
        assert "CUSTODIAN_LOCK_TIMEOUT" in message
    finally:
        holder.terminate()
        holder.wait(timeout=10)
    # Once the holder is gone the same call succeeds: the lock, not the file, was the problem.
    connect(path, timeout=5).close()


# --- The fault battery: one fixture per kind of broken delivery. Each checks that every row of
# the file is accounted for (rows in file = loaded + quarantined + skipped) and none is lost.


def _assert_accounted(result, rows_in_file: int) -> None:
    assert result.rows_read == rows_in_file
    loaded_or_skipped = result.rows_loaded + result.rows_skipped
    assert loaded_or_skipped + result.rows_quarantined == rows_in_file


def test_embedded_newlines_and_delimiters_in_quoted_fields_are_one_row_numbered_by_first_line(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(max_quarantine_share=0.5)
    content = (
        "customer_id,name,address\r\n"
        'C1,"Smith, John","Room 3, Building 5\r\nChaoyang, Beijing"\r\n'
        "C2,Li,Shanghai\r\n"
        "\r\n"  # a blank line is not a row, but it is a line
        'C3,"Wang ""Big"" Wei","line one\nline two\nline three"\r\n'
        'C4,"x\ny",too,many\r\n'  # a multi-line record with a field too many
        "C5,Zhao,Shenzhen\r\n"
    )
    path = _land(landing, source, DAY_1, content.encode())

    result = load_partition(con, source, landing, DAY_1, "run-1")

    _assert_accounted(result, 5)
    assert (result.rows_loaded, result.rows_quarantined) == (4, 1)
    rows = _rows(
        con, "select customer_id, name, address, _row_number from raw.crm__customers order by 4"
    )
    assert rows == [
        ("C1", "Smith, John", "Room 3, Building 5\r\nChaoyang, Beijing", 2),
        ("C2", "Li", "Shanghai", 4),
        ("C3", 'Wang "Big" Wei', "line one\nline two\nline three", 6),
        ("C5", "Zhao", "Shenzhen", 11),
    ]
    # The quarantined record is found by the same kind of number: the line it starts on.
    assert [(row[0], row[1], row[2]) for row in _quarantine(con, DAY_1)] == [
        (str(path), 9, 'C4,"x\ny",too,many')
    ]
    lines = content.split("\n")
    assert lines[9 - 1].startswith("C4")
    assert lines[11 - 1].startswith("C5")


def test_unterminated_quote_mid_file_quarantines_every_following_line_by_number(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    # What one "row" is once quoting breaks: a quote that never closes leaves no way to split
    # the rest of the file into records, so each physical line from the broken record to the end
    # is counted as one row and quarantined with its own number and text. The rows before it
    # load as usual.
    source = _source(max_quarantine_share=0.9)
    lines = ["customer_id,name", "C1,Alice", 'C2,"Bob', "C3,Carol", "", "C4,Dan"]
    path = _land(landing, source, DAY_1, ("\n".join(lines) + "\n").encode())

    result = load_partition(con, source, landing, DAY_1, "run-1")

    _assert_accounted(result, 5)
    assert (result.rows_loaded, result.rows_quarantined) == (1, 4)
    assert _rows(con, "select customer_id, _row_number from raw.crm__customers") == [("C1", 2)]
    quarantined = _quarantine(con, DAY_1)
    assert [(row[0], row[1], row[2]) for row in quarantined] == [
        (str(path), 3, 'C2,"Bob'),
        (str(path), 4, "C3,Carol"),
        (str(path), 5, ""),
        (str(path), 6, "C4,Dan"),
    ]
    assert all("line 3" in row[3] and "never closed" in row[3] for row in quarantined)
    (log,) = _log(con, DAY_1)
    assert (log["rows_read"], log["rows_loaded"], log["rows_quarantined"]) == (5, 1, 4)


def test_utf8_declared_file_that_is_gbk_quarantines_every_undecodable_row_with_its_bytes(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    # Chosen handling: each row that does not decode is quarantined with the reason and its
    # exact bytes (as \xNN escapes); rows that do decode (pure ASCII) load. Nothing is lost, and
    # when too many rows are bad the partition is rejected by max_quarantine_share as usual.
    source = _source(max_quarantine_share=0.9)
    text = "customer_id,name\n1,Alice\n2,张三\n3,李四\n4,Bob\n"
    path = _land(landing, source, DAY_1, text.encode("gbk"))

    result = load_partition(con, source, landing, DAY_1, "run-1")

    _assert_accounted(result, 4)
    assert (result.rows_loaded, result.rows_quarantined) == (2, 2)
    assert _rows(con, "select customer_id, _row_number from raw.crm__customers order by 2") == [
        ("1", 2),
        ("4", 5),
    ]
    quarantined = _quarantine(con, DAY_1)
    assert [(row[0], row[1]) for row in quarantined] == [(str(path), 3), (str(path), 4)]
    for row, name in zip(quarantined, ["张三", "李四"], strict=True):
        escaped = name.encode("gbk").decode("utf-8", errors="backslashreplace")
        assert row[2] == row[2].split(",")[0] + "," + escaped
        assert "utf-8" in row[3].lower() or "unicode" in row[3].lower()

    # With the default limit the same file is refused, naming the file, after quarantining.
    strict = _source()
    with pytest.raises(IngestionError) as caught:
        load_partition(con, strict, landing, DAY_1, "run-2")
    assert str(path) in str(caught.value)
    assert len(_quarantine(con, DAY_1)) == 2


def test_ragged_rows_are_each_quarantined_and_counted(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(max_quarantine_share=0.9)
    lines = ["customer_id,name,city", "1,A,X", "2,B", "3,C,Y,extra,more", "4", "5,E,Z"]
    _land(landing, source, DAY_1, ("\n".join(lines)).encode())  # no final newline

    result = load_partition(con, source, landing, DAY_1, "run-1")

    _assert_accounted(result, 5)
    assert [row[1] for row in _quarantine(con, DAY_1)] == [3, 4, 5]
    assert [row[2] for row in _quarantine(con, DAY_1)] == lines[2:5]
    assert _rows(con, "select _row_number from raw.crm__customers order by 1") == [(2,), (6,)]


def test_a_ten_megabyte_field_is_quarantined_and_loads_whole_with_a_raised_limit(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    note = "备注" * (5 * 2**20 // 3) + "x" * 7  # a little over 10 MB of UTF-8
    assert len(note.encode()) > 10 * 2**20
    record = f'1,A,"{note}"'
    content = f"customer_id,name,note\n{record}\n2,B,short\n".encode()

    # Default max_field_length (10,000 characters): the row goes to quarantine, whole.
    source = _source(max_quarantine_share=0.5)
    path = _land(landing, source, DAY_1, content)
    result = load_partition(con, source, landing, DAY_1, "run-1")

    _assert_accounted(result, 2)
    assert (result.status, result.rows_loaded, result.rows_quarantined) == ("loaded", 1, 1)
    assert _rows(con, "select customer_id, _row_number from raw.crm__customers") == [("2", 3)]
    ((file_path, line, raw, reason),) = _quarantine(con, DAY_1)
    assert (file_path, line) == (str(path), 2)
    assert raw == record, "the raw text is kept whole"
    assert reason == (
        f'field "note" is {len(note):,} characters, above max_field_length 10,000 (governance.yaml)'
    )
    (log,) = _log(con, DAY_1)
    assert (log["status"], log["rows_read"], log["rows_loaded"], log["rows_quarantined"]) == (
        "loaded",
        2,
        1,
        1,
    )
    assert "1 row(s) quarantined for a field" in log["message"]
    assert "max_field_length 10,000" in log["message"]

    # A source with long free text raises the limit, and the field loads whole.
    roomy = _source(max_field_length=20 * 2**20)
    result = load_partition(con, roomy, landing, DAY_1, "run-2")

    _assert_accounted(result, 2)
    assert (result.rows_loaded, result.rows_quarantined) == (2, 0)
    assert _rows(
        con, "select note = ?, _row_number from raw.crm__customers order by 2", [note]
    ) == [
        (True, 2),
        (False, 3),
    ]
    assert _quarantine(con, DAY_1) == []


def test_repeated_unmapped_header_names_load_both_columns_and_say_so(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source()
    _land(landing, source, DAY_1, b"customer_id,name,phone,phone,\n1,A,139,010,z\n")

    result = load_partition(con, source, landing, DAY_1, "run-1")

    _assert_accounted(result, 1)
    assert result.status == "loaded"
    columns = [c for c in _column_types(con, "raw.crm__customers") if c not in LINEAGE_COLUMNS]
    assert columns == ["customer_id", "name", "phone", "phone_1", "column4"]
    assert _rows(con, "select phone, phone_1, column4 from raw.crm__customers") == [
        ("139", "010", "z")
    ]
    expected = (
        'column "phone" appears twice in the header (columns 3 and 4); not mapped, so both are '
        'loaded, as "phone" and "phone_1"'
    )
    assert result.message == expected
    assert result.extra_columns == ["phone", "phone_1", "column4"]
    (log,) = _log(con, DAY_1)
    assert (log["status"], log["message"]) == ("loaded", expected)
    assert log["extra_columns"] == ["phone", "phone_1", "column4"]


def test_non_utf8_bytes_in_jsonl_quarantine_that_line_only(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(
        name="web_signup",
        system="web",
        path="web/{date:%Y-%m-%d}.jsonl",
        format="jsonl",
        mapping={"source_record_id": "id"},
        max_quarantine_share=0.5,
    )
    content = b'{"id": "W1"}\n{"id": "W2", "name": "\xd5\xc5\xc8\xfd"}\n\n{"id": "W3"}\n'
    path = _land(landing, source, DAY_1, content)

    result = load_partition(con, source, landing, DAY_1, "run-1")

    _assert_accounted(result, 3)
    assert _rows(con, "select id, _row_number from raw.web_signup__customers order by 2") == [
        ("W1", 1),
        ("W3", 4),
    ]
    ((file_path, line, raw, reason),) = _quarantine(con, DAY_1)
    assert (file_path, line) == (str(path), 2)
    assert raw == '{"id": "W2", "name": "\\xd5\\xc5\\xc8\\xfd"}'
    assert "utf-8" in reason.lower()


def test_truncated_parquet_fails_naming_the_file(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(
        name="call_center",
        system="call_center",
        path="cc/{date:%Y-%m-%d}.parquet",
        format="parquet",
        mapping={"source_record_id": "ticket_id"},
    )
    path = landing / source.path_for(DAY_1)
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table({"ticket_id": [str(i) for i in range(1000)]}), path)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])

    with pytest.raises(IngestionError) as caught:
        load_partition(con, source, landing, DAY_1, "run-1")

    assert str(path) in str(caught.value)
    assert "parquet" in str(caught.value)
    tables = _rows(con, "select table_name from information_schema.tables where table_schema='raw'")
    assert tables == []


def test_sql_in_values_is_stored_verbatim_in_raw_and_in_quarantine(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(max_quarantine_share=0.9)
    content = f"customer_id,name\n1,{DROP}\n2,{DROP},extra\n".encode()
    _land(landing, source, DAY_1, content)

    result = load_partition(con, source, landing, DAY_1, "run-1")

    _assert_accounted(result, 2)
    assert _rows(con, "select name from raw.crm__customers") == [(DROP,)]
    assert [row[2] for row in _quarantine(con, DAY_1)] == [f"2,{DROP},extra"]
    assert _rows(con, "select count(*) from ops.load_log") == [(1,)]


def test_bom_header_only_and_empty_files_count_no_rows(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(mapping={"source_record_id": "customer_id"})
    for day, content in [(DAY_1, b"\xef\xbb\xbfcustomer_id,name\r\n"), (DAY_2, b"customer_id")]:
        _land(landing, source, day, content)
        result = load_partition(con, source, landing, day, "run-1")
        _assert_accounted(result, 0)
        assert result.status == "empty"


def test_identical_file_with_on_duplicate_file_load_is_loaded_and_reported(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(on_duplicate_file="load")
    content = b"customer_id,name\n1,A\n2,B\n"
    _land(landing, source, DAY_1, content)
    _land(landing, source, DAY_2, content)
    load_partition(con, source, landing, DAY_1, "run-1")

    result = load_partition(con, source, landing, DAY_2, "run-2")

    assert (result.status, result.duplicate_of_partition) == ("loaded", DAY_1)
    _assert_accounted(result, 2)
    assert (result.rows_loaded, result.rows_skipped) == (2, 0)
    assert "on_duplicate_file: load" in result.message
    counts = _rows(
        con, "select _partition_date, count(*) from raw.crm__customers group by 1 order by 1"
    )
    assert counts == [(DAY_1, 2), (DAY_2, 2)]
    (log,) = _log(con, DAY_2)
    assert (log["status"], log["duplicate_of_partition"]) == ("loaded", DAY_1)


def test_on_duplicate_file_defaults_to_skip_and_is_documented() -> None:
    field = SourceConfig.model_fields["on_duplicate_file"]
    assert field.default == "skip"
    assert "SHA-256" in (field.description or "")
    with pytest.raises(ValueError, match="on_duplicate_file"):
        _source(on_duplicate_file="sometimes")


# --- The bad-input battery, second round: each case checks the outcome, the ops.load_log row
# (status, counts, a message naming the file, column or reason) and the quarantine rows.

SECRET = "Zhang-San-13800138000"  # a customer value no log message may repeat

JSONL = {
    "name": "web_signup",
    "system": "web",
    "path": "web/{date:%Y-%m-%d}.jsonl",
    "format": "jsonl",
    "mapping": {"source_record_id": "id", "full_name": "name"},
}
PARQUET = {
    "name": "call_center",
    "system": "call_center",
    "path": "cc/{date:%Y-%m-%d}.parquet",
    "format": "parquet",
    "mapping": {"source_record_id": "ticket_id", "full_name": "name"},
}


def _land_parquet(root: Path, source: SourceConfig, day: date, table: pa.Table) -> Path:
    path = root / source.path_for(day)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def _raw_tables(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return _rows(con, "select table_name from information_schema.tables where table_schema='raw'")


@pytest.mark.parametrize("overrides", [{}, JSONL, PARQUET], ids=["csv", "jsonl", "parquet"])
def test_zero_byte_file_is_an_empty_partition_without_a_phantom_column(
    con: duckdb.DuckDBPyConnection, landing: Path, overrides: dict
) -> None:
    source = _source(**overrides)
    path = _land(landing, source, DAY_1, b"")

    result = load_partition(con, source, landing, DAY_1, "run-1")

    assert (result.status, result.message) == ("empty", "file is empty (0 bytes)")
    _assert_accounted(result, 0)
    assert result.extra_columns == []
    # No table of lineage columns alone: the staging model treats a missing table as no rows.
    assert _raw_tables(con) == []
    (log,) = _log(con, DAY_1)
    assert (log["status"], log["message"], log["file_path"]) == (
        "empty",
        "file is empty (0 bytes)",
        str(path),
    )
    assert (log["rows_read"], log["rows_loaded"], log["rows_quarantined"]) == (0, 0, 0)
    assert log["file_sha256"] == hashlib.sha256(b"").hexdigest()
    assert log["extra_columns"] == []


def test_zero_byte_redelivery_empties_the_day_and_adds_no_column(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source()
    _land(landing, source, DAY_1, b"customer_id,name\n1,A\n")
    load_partition(con, source, landing, DAY_1, "run-1")
    _land(landing, source, DAY_1, b"")

    result = load_partition(con, source, landing, DAY_1, "run-2")

    assert result.status == "empty"
    assert _rows(con, "select count(*) from raw.crm__customers") == [(0,)]
    columns = [c for c in _column_types(con, "raw.crm__customers") if c not in LINEAGE_COLUMNS]
    assert columns == ["customer_id", "name"]
    assert [log["status"] for log in _log(con, DAY_1)] == ["loaded", "empty"]


@pytest.mark.parametrize("content", [b"\xef\xbb\xbf", b"\n\r\n\n"], ids=["bom-only", "blank-lines"])
def test_csv_of_blank_lines_only_is_empty(
    con: duckdb.DuckDBPyConnection, landing: Path, content: bytes
) -> None:
    source = _source()
    _land(landing, source, DAY_1, content)

    result = load_partition(con, source, landing, DAY_1, "run-1")

    assert (result.status, result.message) == ("empty", "file has no data rows")
    assert result.extra_columns == []
    assert _raw_tables(con) == []
    assert _log(con, DAY_1)[0]["status"] == "empty"


def test_blank_header_above_data_rows_fails_saying_so(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source()
    path = _land(landing, source, DAY_1, f"\n1,{SECRET}\n".encode())

    with pytest.raises(IngestionError) as caught:
        load_partition(con, source, landing, DAY_1, "run-1")

    assert "line 1, where the header should be, is blank" in str(caught.value)
    (log,) = _log(con, DAY_1)
    assert (log["status"], log["message"]) == ("failed", str(caught.value))
    assert str(path) in log["message"]
    assert SECRET not in log["message"]


def test_control_characters_in_csv_fields_quarantine_the_row_naming_column_and_code_point(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(max_quarantine_share=0.9)
    records = [
        "1,Li\x00Wei,ok",  # NUL
        "2,Wang,esc\x1b[0m",  # ESC
        "3,Zhao\x7f,bell\x07",  # DEL and BEL, in two fields
        '4,"tab\tand\r\nnewline",fine',  # tab, CR and LF are text, not control
        "5,Chen,plain",
    ]
    content = ("customer_id,name,note\n" + "\n".join(records) + "\n").encode()
    path = _land(landing, source, DAY_1, content)

    result = load_partition(con, source, landing, DAY_1, "run-1")

    _assert_accounted(result, 5)
    assert (result.status, result.rows_loaded, result.rows_quarantined) == ("loaded", 2, 3)
    assert _rows(
        con, "select customer_id, name, _row_number from raw.crm__customers order by 1"
    ) == [
        ("4", "tab\tand\r\nnewline", 5),
        ("5", "Chen", 7),
    ]
    assert _quarantine(con, DAY_1) == [
        (str(path), 2, records[0], 'field "name" holds a control character (U+0000)'),
        (str(path), 3, records[1], 'field "note" holds a control character (U+001B)'),
        (
            str(path),
            4,
            records[2],
            'field "name" holds a control character (U+007F); '
            'field "note" holds a control character (U+0007)',
        ),
    ]
    (log,) = _log(con, DAY_1)
    assert (log["status"], log["rows_read"], log["rows_loaded"], log["rows_quarantined"]) == (
        "loaded",
        5,
        2,
        3,
    )
    assert log["message"].startswith("3 row(s) quarantined for a field holding a control character")


def test_nul_in_a_jsonl_field_quarantines_that_line(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(**JSONL, max_quarantine_share=0.5)
    lines = ['{"id": "W1", "name": "Li\\u0000Wei"}', "", '{"id": "W2", "name": "Wang"}']
    path = _land(landing, source, DAY_1, ("\n".join(lines) + "\n").encode())

    result = load_partition(con, source, landing, DAY_1, "run-1")

    _assert_accounted(result, 2)
    assert _rows(con, "select id, _row_number from raw.web_signup__customers") == [("W2", 3)]
    assert _quarantine(con, DAY_1) == [
        (str(path), 1, lines[0], 'field "name" holds a control character (U+0000)')
    ]
    (log,) = _log(con, DAY_1)
    assert (log["rows_read"], log["rows_loaded"], log["rows_quarantined"]) == (2, 1, 1)


def test_bad_parquet_fields_quarantine_the_row_by_row_number(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(**PARQUET, max_quarantine_share=0.9, max_field_length=5)
    table = pa.table(
        {
            "ticket_id": pa.array([1, 2, 3], pa.int64()),
            "name": pa.array(["Li", "Wang\x00", "Zhao-Zhao"], pa.string()),
        }
    )
    path = _land_parquet(landing, source, DAY_1, table)

    result = load_partition(con, source, landing, DAY_1, "run-1")

    _assert_accounted(result, 3)
    assert _rows(con, "select ticket_id, _row_number from raw.call_center__customers") == [("1", 1)]
    quarantined = _quarantine(con, DAY_1)
    assert [(row[0], row[1], row[3]) for row in quarantined] == [
        (str(path), 2, 'field "name" holds a control character (U+0000)'),
        (str(path), 3, 'field "name" is 9 characters, above max_field_length 5 (governance.yaml)'),
    ]
    # No raw text exists for a Parquet row: the row's values as staged, as JSON.
    assert json.loads(quarantined[1][2]) == {"ticket_id": "3", "name": "Zhao-Zhao"}


def test_field_length_counts_characters_not_bytes(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(max_field_length=4)
    _land(landing, source, DAY_1, "customer_id,name\n1,欧阳娜娜\n".encode())  # 12 bytes

    result = load_partition(con, source, landing, DAY_1, "run-1")

    assert (result.rows_loaded, result.rows_quarantined) == (1, 0)


def test_bad_field_rows_count_towards_max_quarantine_share(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source()  # 5%
    _land(landing, source, DAY_1, b"customer_id,name\n1,A\x00\n2,B\n")

    with pytest.raises(IngestionError, match="max_quarantine_share"):
        load_partition(con, source, landing, DAY_1, "run-1")

    (log,) = _log(con, DAY_1)
    assert (log["status"], log["rows_quarantined"], log["rows_skipped"]) == ("rejected", 1, 1)
    assert "1 of 2 rows (50.0%) were quarantined" in log["message"]
    assert [row[1] for row in _quarantine(con, DAY_1)] == [2]


def _drift(landing: Path) -> tuple[SourceConfig, Path]:
    source = _source()
    return source, _land(landing, source, DAY_1, f"customer_id,full_name\n1,{SECRET}\n".encode())


def _wrong_encoding(landing: Path) -> tuple[SourceConfig, Path]:
    source = _source(encoding="gb18030", mapping={"source_record_id": "id"})
    return source, _land(landing, source, DAY_1, b"id,name\n1,\xff\xfe\xfd\n")


def _truncated_parquet(landing: Path) -> tuple[SourceConfig, Path]:
    source = _source(**PARQUET)
    table = pa.table({"ticket_id": [str(i) for i in range(1000)], "name": [SECRET] * 1000})
    path = _land_parquet(landing, source, DAY_1, table)
    path.write_bytes(path.read_bytes()[:2000])
    return source, path


def _repeated_mapped_header(landing: Path) -> tuple[SourceConfig, Path]:
    source = _source(mapping={"source_record_id": "customer_id", "email": "email"})
    content = f"customer_id,name,mobile,x,email,a,b,c,email\n1,{SECRET},1,2,a@x,3,4,5,b@x\n"
    return source, _land(landing, source, DAY_1, content.encode())


@pytest.mark.parametrize(
    ("deliver", "message_part", "rows_read"),
    [
        (_drift, "mapped column(s) ['name'] missing from the file (schema drift)", 1),
        (_wrong_encoding, "cannot read", 0),
        (_truncated_parquet, "as parquet", 0),
        (
            _repeated_mapped_header,
            'column "email" appears twice in the header (columns 5 and 9); governance.yaml '
            "maps it, so which one to load is ambiguous: fix the export or rename one",
            1,
        ),
    ],
    ids=["schema-drift", "wrong-encoding", "truncated-parquet", "repeated-mapped-header"],
)
def test_a_failed_load_leaves_a_failed_log_row_and_the_previous_day_intact(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    deliver: Callable[[Path], tuple[SourceConfig, Path]],
    message_part: str,
    rows_read: int,
) -> None:
    source, path = deliver(landing)
    # An earlier good delivery of the same day, as CSV with the mapped columns: what a failed
    # re-run must leave in place.
    earlier = _source(name=source.name, path="earlier/{date:%Y-%m-%d}.csv", mapping=source.mapping)
    columns = list(dict.fromkeys(source.mapping.values()))
    _land(
        landing, earlier, DAY_1, f"{','.join(columns)}\n{','.join('v' * len(columns))}\n".encode()
    )
    assert load_partition(con, earlier, landing, DAY_1, "r0").status == "loaded"

    with pytest.raises(IngestionError) as caught:
        load_partition(con, source, landing, DAY_1, "run-1")

    message = str(caught.value)
    assert message_part in message
    assert str(path) in message
    assert SECRET not in message
    loaded, failed = _log(con, DAY_1)
    assert loaded["status"] == "loaded"
    assert (failed["status"], failed["message"], failed["run_id"]) == ("failed", message, "run-1")
    assert failed["file_path"] == str(path)
    assert failed["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (failed["rows_read"], failed["rows_loaded"], failed["rows_quarantined"]) == (
        rows_read,
        0,
        0,
    )
    assert failed["rows_skipped"] == rows_read
    # The failure rolled nothing forward: the day's earlier rows are still there.
    table = f"raw.{source.name}__customers"
    assert _rows(con, f"select count(*), min(_run_id) from {table}") == [(1, "r0")]


def test_repeated_mapped_header_fails_whatever_the_case_or_mapping_kind(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(mapping={"source_record_id": "customer_id", "full_name": {"expr": "Name"}})
    _land(landing, source, DAY_1, b"customer_id,Name,name\n1,A,B\n")

    with pytest.raises(IngestionError) as caught:
        load_partition(con, source, landing, DAY_1, "run-1")

    assert (
        'column "Name" appears twice in the header (columns 2 and 3, as "Name" and "name"); '
        "governance.yaml maps it"
    ) in str(caught.value)
    assert _raw_tables(con) == []
    assert _log(con, DAY_1)[0]["status"] == "failed"


def test_repeated_mapped_parquet_column_fails_naming_it(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(**PARQUET)
    names = ["ticket_id", "name", "name"]
    table = pa.Table.from_arrays([pa.array(["1"]), pa.array(["A"]), pa.array(["B"])], names=names)
    _land_parquet(landing, source, DAY_1, table)

    with pytest.raises(IngestionError) as caught:
        load_partition(con, source, landing, DAY_1, "run-1")

    assert 'column "name" appears twice in the file\'s schema (columns 2 and 3)' in str(
        caught.value
    )
    assert _log(con, DAY_1)[0]["status"] == "failed"


def test_record_count_mismatch_leaves_a_failed_log_row(
    con: duckdb.DuckDBPyConnection, landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The parser and the scan agree on every real file the tests know; a scan that counts one
    # record too many stands in for the day they do not.
    from dagster_project.lib.ingest import csv_records

    real_scan = csv_records.scan_csv_records

    def scan_with_a_phantom_record(*args, **kwargs):
        records = real_scan(*args, **kwargs)
        records.starts = np.append(records.starts, records.size)
        records.ends = np.append(records.ends, records.size + 1)
        records.lines = np.append(records.lines, records.lines[-1] + 1)
        return records

    monkeypatch.setattr(csv_records, "scan_csv_records", scan_with_a_phantom_record)
    source = _source()
    _land(landing, source, DAY_1, b"customer_id,name\n1,A\n")

    with pytest.raises(IngestionError) as caught:
        load_partition(con, source, landing, DAY_1, "run-1")

    assert "independent record count disagrees" in str(caught.value)
    (log,) = _log(con, DAY_1)
    assert (log["status"], log["message"], log["rows_read"]) == ("failed", str(caught.value), 2)
    assert log["rows_skipped"] == 2


def test_each_distinct_reason_appears_once_per_line(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(max_quarantine_share=0.9, mapping={"source_record_id": "a"})
    content = (
        b"a,b,c\n"
        + b'1,"x"y,"p"q\n'  # two unterminated-quote errors in one record
        + b"2,2,3,4,5,6\n"  # three fields too many: DuckDB reports Found: 4, 5 and 6
        + "3,张三,李四\n".encode("gbk")  # two undecodable fields
        + b"4,x,y\n"
    )
    _land(landing, source, DAY_1, content)

    result = load_partition(con, source, landing, DAY_1, "run-1")

    _assert_accounted(result, 4)
    reasons = {row[1]: row[3] for row in _quarantine(con, DAY_1)}
    assert set(reasons) == {2, 3, 4}
    for reason in reasons.values():
        parts = reason.split("; ")
        kinds = [part.split(":")[0] for part in parts]
        assert len(kinds) == len(set(kinds)), reason
    assert reasons[2].count("UNQUOTED VALUE") == 1
    assert reasons[3] == "TOO MANY COLUMNS: Expected Number of Columns: 3 Found: 6"
    assert reasons[4].count("INVALID ENCODING") == 1


def test_extra_columns_are_reported_on_a_first_load_and_new_ones_named_later(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(
        mapping={
            "source_record_id": "customer_id",
            "full_name": "name",
            "city": {"expr": "json_extract_string(address, '$.city')"},
            "email": {"expr": 'lower("E-Mail")'},
        }
    )
    # `city` is only a JSON path inside a string in the expression: not a use of the column.
    header = 'customer_id,name,address,E-Mail,wechat_id,city\n1,A,"{}",a@x,wx,Beijing\n'
    _land(landing, source, DAY_1, header.encode())

    first = load_partition(con, source, landing, DAY_1, "run-1")

    assert first.extra_columns == ["wechat_id", "city"]
    assert first.message == ""
    (log,) = _log(con, DAY_1)
    assert log["extra_columns"] == ["wechat_id", "city"]

    _land(landing, source, DAY_2, (header.split("\n")[0] + ",vip\n2,B,,b@x,wx2,SH,gold\n").encode())
    second = load_partition(con, source, landing, DAY_2, "run-2")

    assert second.extra_columns == ["wechat_id", "city", "vip"]
    assert second.message == "new column(s) since the last load: vip"
    (log,) = _log(con, DAY_2)
    assert (log["extra_columns"], log["message"]) == (
        ["wechat_id", "city", "vip"],
        "new column(s) since the last load: vip",
    )


def test_a_mapping_expression_the_file_cannot_bind_fails_naming_its_field(
    con: duckdb.DuckDBPyConnection, landing: Path
) -> None:
    source = _source(
        mapping={"source_record_id": "customer_id", "city": {"expr": "upper(ortt)"}},
    )
    path = _land(landing, source, DAY_1, b"customer_id,ort\nC1,Berlin\n")
    with pytest.raises(IngestionError) as caught:
        load_partition(con, source, landing, DAY_1, "run-1")
    message = str(caught.value)
    assert "mapping.city {expr: upper(ortt)} does not work on the file's columns" in message
    assert str(path) in message
    assert "Berlin" not in message
    ((status,),) = _rows(con, "select status from ops.load_log")
    assert status == "failed"
