"""Python standardisers as DuckDB UDFs: same answers as calling them row by row, once per
distinct input."""

from __future__ import annotations

import datetime
from typing import NamedTuple

import duckdb
import pytest

from dagster_project.lib.transform import vectorised


class Shape(NamedTuple):
    text: str | None
    length: int | None
    is_long: bool | None
    day: datetime.date | None
    parts: list[str] | None


def shape(value: str | None, region: str | None) -> Shape:
    if value is None:
        return Shape(None, None, None, None, None)
    return Shape(
        f"{value}@{region}", len(value), len(value) > 3, datetime.date(2020, 1, 1), value.split()
    )


@pytest.fixture
def con():
    with duckdb.connect() as connection:
        yield connection


def test_struct_results_equal_row_by_row_calls_with_each_distinct_input_computed_once(con) -> None:
    values = ["a b", "a b", None, "", "long value", "a b", "x"] * 700  # spans several vectors
    regions = ["CN", "CN", "CN", None, "GB", "GB", None] * 700
    con.execute("create table t (i int, v varchar, r varchar)")
    con.executemany(
        "insert into t values (?, ?, ?)",
        list(zip(range(len(values)), values, regions, strict=True)),
    )
    udf = vectorised.register(con, "shape", shape, Shape, 2)
    rows = con.sql("select shape(v, r) from t order by i").fetchall()
    expected = [shape(v, r) for v, r in zip(values, regions, strict=True)]
    assert [row[0] for row in rows] == [s._asdict() for s in expected]
    # ("a b","CN"), (None,"CN"), ("",None), ("long value","GB"), ("a b","GB"), ("x",None)
    assert udf.calls == 6
    assert udf.rows == len(values)


def test_null_and_empty_arguments_are_different_inputs(con) -> None:
    seen = []

    def record(a: str | None, b: str | None) -> str:
        seen.append((a, b))
        return f"{a!r}/{b!r}"

    vectorised.register(con, "record", record, str, 2)
    result = con.sql(
        "select record(a, b) from (values (null, 'x'), ('', 'x'), (null, null), ('', '')) v(a, b)"
    ).fetchall()
    assert [r[0] for r in result] == ["None/'x'", "''/'x'", "None/None", "''/''"]
    assert len(seen) == 4


def test_scalar_result_type(con) -> None:
    vectorised.register(con, "upper_py", lambda v: None if v is None else v.upper(), str, 1)
    assert con.sql("select upper_py('abc'), upper_py(null)").fetchone() == ("ABC", None)


def test_cache_is_bounded(con, monkeypatch) -> None:
    monkeypatch.setattr(vectorised, "CACHE_LIMIT", 100)
    udf = vectorised.register(con, "shape", shape, Shape, 2)
    con.sql("select count(shape(i::varchar, null).text) from range(5000) r(i)").fetchone()
    # Emptied before a vector that would overflow it: at most the limit plus one vector.
    assert len(udf.cache) <= 100 + 2048
    assert udf.calls == 5000


def test_unsupported_result_field_type_is_refused() -> None:
    class Bad(NamedTuple):
        value: dict | None

    with pytest.raises(TypeError, match=r"Bad\.value"):
        vectorised.DistinctCachedUDF(lambda v: Bad(None), Bad, 1)
