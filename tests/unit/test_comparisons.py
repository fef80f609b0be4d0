"""Comparison levels decide which evidence a pair shows: each case below is evaluated by DuckDB
with the SQL Splink generates for the level, first matching level wins, as in a prediction."""

from __future__ import annotations

import duckdb
import pytest

from dagster_project.lib.resolve.comparisons import date_of_birth_comparison


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
