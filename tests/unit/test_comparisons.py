"""Comparison levels decide which evidence a pair shows: each case below is evaluated by DuckDB
with the SQL Splink generates for the level, first matching level wins, as in a prediction."""

from __future__ import annotations

import duckdb
import pytest

from dagster_project.lib.resolve.comparisons import (
    NAME_PARTS_DISAGREE_MACRO,
    date_of_birth_comparison,
    name_comparison,
)


def birth_date_level(left: str, right: str) -> str:
    comparison = date_of_birth_comparison().get_comparison("duckdb")
    cases = " ".join(
        f"when {level.sql_condition} then '{level.label_for_charts}'"
        for level in comparison.comparison_levels
        if level.sql_condition != "ELSE"
    )
    return duckdb.sql(
        f"select case {cases} else 'else' end from "
        f"(select ?::date as date_of_birth_l, ?::date as date_of_birth_r)",
        params=[left, right],
    ).fetchone()[0]


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        ("1981-10-08", "1981-10-08", "Exact match on date of birth"),
        ("1981-10-08", "1981-10-09", "Levenshtein distance <= 1"),
        # Day and month written the other way round: two characters differ, not one.
        ("1981-10-08", "1981-08-10", "Day and month swapped"),
        ("1981-03-12", "1981-12-03", "Day and month swapped"),
        # Swapped, but another year: not the same date written two ways.
        ("1981-10-08", "1982-08-10", "Abs date difference <= 1 year"),
        ("1981-10-08", "1981-10-31", "Abs date difference <= 1 month"),
        ("1981-10-08", "1995-10-08", "else"),
    ],
)
def test_birth_date_levels(left: str, right: str, level: str) -> None:
    assert birth_date_level(left, right) == level


def name_level(left: tuple[str | None, list[str]], right: tuple[str | None, list[str]]) -> str:
    """The name level of two names, each (original script or None, pinyin / Latin tokens)."""
    comparison = name_comparison().get_comparison("duckdb")
    cases = " ".join(
        f"when {level.sql_condition} then '{level.label_for_charts}'"
        for level in comparison.comparison_levels
        if level.sql_condition != "ELSE"
    )
    con = duckdb.connect()
    con.execute(NAME_PARTS_DISAGREE_MACRO)
    columns = []
    params = []
    for side, (script, tokens) in (("l", left), ("r", right)):
        columns += [
            f"?::varchar as name_original_script_{side}",
            f"?::varchar[] as name_tokens_{side}",
            f"?::varchar as name_sorted_key_{side}",
            f"?::varchar as name_joined_key_{side}",
        ]
        params += [script, tokens, " ".join(sorted(tokens)), "".join(tokens)]
    return con.execute(
        f"select case {cases} else 'else' end from (select {', '.join(columns)})", params
    ).fetchone()[0]


ONE_CHARACTER_APART = "All but one character of the original script"
SHARE_A_PART = "Share a name part (surname or given name)"
SAME_SCRIPT = "Same name in the original script"


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        # One character of a given name mistyped: a whole pinyin syllable changes.
        (("梁嘉振", ["JIAZHEN", "LIANG"]), ("梁嘉晶", ["JIAJING", "LIANG"]), ONE_CHARACTER_APART),
        # One character too many, and two swapped.
        (("纪江平家", ["JI", "JIANGPINGJIA"]), ("纪家平", ["JI", "JIAPING"]), ONE_CHARACTER_APART),
        # Two-character names sharing the surname only: relatives as often as typos, not this
        # level (DuckDB's levenshtein would count the UTF-8 bytes of 伟 and 强 instead).
        (("王伟", ["WEI", "WANG"]), ("王强", ["QIANG", "WANG"]), SHARE_A_PART),
        (("陈梓蕾", ["ZILEI", "CHEN"]), ("陈薇", ["WEI", "CHEN"]), SHARE_A_PART),
        (("梁嘉振", ["JIAZHEN", "LIANG"]), ("梁嘉振", ["JIAZHEN", "LIANG"]), SAME_SCRIPT),
    ],
)  # fmt: skip
def test_name_levels_for_chinese_typos(left, right, level: str) -> None:
    assert name_level(left, right) == level
