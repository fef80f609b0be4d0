"""The gates' DuckDB evaluation (sql_engine.py) against Great Expectations itself.

The same rows go through GE's pandas path (`outcome_for_frame`) and through `validate_table`
over a DuckDB table; every verdict, share, count, observed value, threshold and failing sample
must agree. The rows hold NULLs, duplicates, out-of-range dates and values outside their sets,
so both passing and failing expectations of every type DuckDB answers are compared.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from dagster_project.lib.quality import sql_engine
from dagster_project.lib.quality.evidence import mask_for_evidence
from dagster_project.lib.quality.gates import table_columns, validate_table
from dagster_project.lib.quality.gx_engine import outcome_for_frame
from dagster_project.lib.quality.outcomes import GateOutcome
from dagster_project.lib.quality.suites import GateSuite, SuiteError, parse_suite
from tests.support.database import open_database

PARAMETERS = {"partition_date": datetime(2026, 11, 1)}


def _suite(expectations: list[dict], **settings) -> GateSuite:
    definition = {"name": "people", "meta": {"custodian": settings}, "expectations": expectations}
    return parse_suite(Path("expectations/main/people.json"), definition, "main", "people")


def _expect(kind: str, severity: str = "critical", **kwargs) -> dict:
    return {"type": kind, "kwargs": kwargs, "severity": severity}


EXPECTATIONS = [
    _expect("expect_table_row_count_to_be_between", min_value=1, max_value=100),
    _expect("expect_table_row_count_to_be_between", "warning", min_value=50),
    _expect("expect_column_values_to_not_be_null", column="email"),
    _expect("expect_column_values_to_not_be_null", "warning", column="email", mostly=0.5),
    _expect("expect_column_values_to_be_unique", column="email"),
    _expect("expect_column_values_to_be_unique", "warning", column="person_id"),
    _expect("expect_column_values_to_be_in_set", column="email_is_valid", value_set=[True]),
    _expect(
        "expect_column_values_to_be_in_set",
        "warning",
        column="email_is_valid",
        value_set=[True],
        mostly=0.7,
    ),
    _expect("expect_column_values_to_be_in_set", column="gender", value_set=["M", "F", "X"]),
    _expect("expect_column_values_to_be_in_set", "warning", column="visits", value_set=[1, 2, 3]),
    _expect(
        "expect_column_values_to_be_between",
        column="date_of_birth",
        min_value="1900-01-01T00:00:00",
        max_value={"$PARAMETER": "partition_date"},
        mostly=0.8,
    ),
    _expect(
        "expect_column_values_to_be_between", "warning", column="score", min_value=0, max_value=1
    ),
    _expect("expect_column_values_to_match_regex", column="country_code", regex="^[A-Z]{2}$"),
    _expect("expect_column_mean_to_be_between", column="score", min_value=0.2),
    _expect("expect_column_mean_to_be_between", "warning", column="visits", max_value=1.5),
    _expect("expect_column_max_to_be_between", column="score", max_value=0.9),
    _expect("expect_column_min_to_be_between", "warning", column="visits", min_value=1),
]

FRAME = pd.DataFrame(
    {
        "person_id": [f"P{n}" for n in range(10)],
        "email": ["a@qq.com", "b@qq.com", "a@qq.com", None, "c@qq.com"] * 2,
        "email_is_valid": [True, True, False, None, True, True, False, True, True, True],
        "gender": ["M", "F", "M", "Q", None, "F", "X", "M", "F", "M"],
        "visits": [1, 2, 3, 4, 1, 2, 3, 1, 1, 2],
        "date_of_birth": pd.to_datetime(
            [
                "1980-05-03",
                "1890-01-01",
                "2030-02-02",
                None,
                "1975-07-07",
                "1999-12-31",
                "2001-01-01",
                "1960-06-06",
                "1955-05-05",
                "1990-09-09",
            ]
        ),
        "score": [0.1, 0.5, 1.2, None, 0.9, 0.3, 0.2, 0.8, 0.4, 0.6],
        "country_code": ["CN", "GB", "cn", "USA", None, "US", "CN", "GB", "1A", "CN"],
    }
)


def _people(con: duckdb.DuckDBPyConnection, dates_as: str = "timestamp") -> None:
    con.register("frame", FRAME)
    con.execute(
        "create table main.people as select * exclude (date_of_birth), "
        f"date_of_birth::{dates_as} as date_of_birth from frame"
    )


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> tuple[GateOutcome, GateOutcome, GateSuite]:
    suite = _suite(EXPECTATIONS)
    by_gx = outcome_for_frame(suite, FRAME, PARAMETERS)
    path = tmp_path_factory.mktemp("sql_engine") / "warehouse.duckdb"
    with open_database(path) as con:
        _people(con, dates_as="date")
        by_sql = validate_table(con, suite, today=PARAMETERS["partition_date"].date())
    return by_gx, by_sql, suite


def test_duckdb_answers_every_expectation_of_the_comparison(tmp_path: Path) -> None:
    # Otherwise the comparison below would compare GE with GE.
    suite = _suite(EXPECTATIONS)
    with open_database(tmp_path / "w.duckdb") as con:
        _people(con)
        projection = {c: (f'"{c}"', t) for c, t in table_columns(con, "main", "people").items()}
        kinds = sql_engine.column_kinds(con, "main.people", projection)
    unanswered = [
        e.check_name
        for e in suite.expectations
        if sql_engine.plan_sql(e, PARAMETERS, projection, kinds) is None
    ]
    assert unanswered == []


def test_verdicts_shares_and_observations_match_great_expectations(both) -> None:
    by_gx, by_sql, suite = both
    gx = {o.check_name: o for o in by_gx.outcomes}
    sql = {o.check_name: o for o in by_sql.outcomes}
    assert set(gx) == set(sql) == {e.check_name for e in suite.expectations}
    for name, expected in gx.items():
        got = sql[name]
        assert got.success == expected.success, name
        assert got.exception is None, name
        assert got.element_count == expected.element_count, name
        if expected.unexpected_percent is None:
            assert got.unexpected_percent is None, name
        else:
            assert got.unexpected_percent == pytest.approx(expected.unexpected_percent), name
        assert got.observed_value == pytest.approx(expected.observed_value), name
        assert got.threshold == expected.threshold, name


def test_both_paths_fail_the_same_rules(both) -> None:
    by_gx, by_sql, _ = both
    failing = sorted(o.check_name for o in by_gx.outcomes if not o.success)
    # The data was built to break these (and only these) rules.
    assert failing == sorted(
        [
            "gx_table_row_count_between__warning",
            "gx_email__not_null__critical",
            "gx_email__unique",
            "gx_email_is_valid__in_set__critical",
            "gx_gender__in_set",
            "gx_visits__in_set",
            "gx_date_of_birth__between",
            "gx_score__between",
            "gx_country_code__match_regex",
            "gx_visits__mean_between",
            "gx_score__max_between",
        ]
    )
    assert sorted(o.check_name for o in by_sql.outcomes if not o.success) == failing


def test_failing_samples_hold_the_same_masked_values(both) -> None:
    by_gx, by_sql, _ = both
    gx = {o.check_name: o for o in by_gx.outcomes}
    for got in by_sql.outcomes:
        expected = gx[got.check_name]
        if got.check_name == "gx_date_of_birth__between":
            # pandas holds dates as timestamps: GE masks "1890-01-01T00:00:00", DuckDB a date.
            assert len(got.sample_masked) == len(expected.sample_masked) == 2
            continue
        assert len(got.sample_masked) == len(expected.sample_masked), got.check_name
        if len(expected.sample_masked) < 5:
            # GE samples the first failing rows in frame order, DuckDB the smallest: with
            # fewer than five failing rows both hold all of them.
            assert sorted(map(json.dumps, got.sample_masked)) == sorted(
                map(json.dumps, expected.sample_masked)
            ), got.check_name
    assert "a@qq.com" not in json.dumps([o.sample_masked for o in by_sql.outcomes])


def test_a_slice_too_small_for_rates_is_not_judged_by_either_path(tmp_path: Path) -> None:
    suite = _suite(
        [
            _expect(
                "expect_column_values_to_be_in_set",
                column="email_is_valid",
                value_set=[True],
                mostly=0.9,
            )
        ],
        min_values_for_rates=20,
    )
    with open_database(tmp_path / "w.duckdb") as con:
        _people(con)
        outcome = validate_table(con, suite)
    assert outcome.outcomes == []
    (not_judged,) = outcome.not_judged
    assert not_judged.reason.startswith("9 value(s) of email_is_valid, fewer than 20")


def test_an_expectation_duckdb_does_not_answer_goes_to_great_expectations(
    tmp_path: Path,
) -> None:
    suite = _suite(
        [
            _expect("expect_column_values_to_not_be_null", column="email", mostly=0.5),
            _expect(
                "expect_compound_columns_to_be_unique", column_list=["email", "email_is_valid"]
            ),
            # A value set of another type than the column's: GE's comparison, not DuckDB's cast.
            _expect("expect_column_values_to_be_in_set", column="visits", value_set=["1", "2"]),
        ],
        key_column="person_id",
    )
    docs = tmp_path / "docs"
    with open_database(tmp_path / "w.duckdb") as con:
        _people(con)
        outcome = validate_table(con, suite, data_docs_dir=docs, run_id="mixed")
    by_name = {o.check_name: o for o in outcome.outcomes}
    assert by_name["gx_email__not_null"].success
    compound = by_name["gx_email__email_is_valid__compound_columns_unique"]
    assert not compound.success
    # (a@qq.com, True) three times, (c@qq.com, True) twice, of 9 rows with an e-mail.
    assert compound.unexpected_percent == pytest.approx(500 / 9)
    assert not by_name["gx_visits__in_set"].success  # integers are not the strings "1", "2"
    # One Data Docs page for the batch, holding DuckDB's and GE's verdicts alike.
    (page,) = outcome.data_docs_pages
    text = page.read_text(encoding="utf-8")
    for column in ("email", "email_is_valid", "visits"):
        assert column in text
    assert "a@qq.com" not in text


def test_failing_rows_are_found_by_key_with_their_evidence(tmp_path: Path) -> None:
    suite = _suite(
        [
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "gender", "value_set": ["M", "F", "X"]},
                "meta": {"evidence_columns": ["email"]},
            }
        ],
        key_column="person_id",
    )
    with open_database(tmp_path / "w.duckdb") as con:
        _people(con)
        (item,) = validate_table(con, suite).outcomes
    assert not item.success
    assert item.unexpected_percent == pytest.approx(100 / 9)
    (row,) = item.sample_masked
    assert row["person_id"] == mask_for_evidence("person_id", "P3")  # the row with "Q"
    assert set(row) == {"person_id", "gender", "email"}
    assert row["email"] is None


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        (
            _expect("expect_column_values_to_be_in_set", column="gender", value_set=["M", None]),
            "NULL in a value set: GE's isin and SQL's IN disagree on it",
        ),
        (
            _expect("expect_column_values_to_match_regex", column="visits", regex="^[0-9]$"),
            "a regex over numbers: GE matches their text",
        ),
        (
            _expect(
                "expect_column_values_to_be_between",
                column="score",
                min_value=0,
                strict_min=True,
            ),
            "row-level strict bounds are left to GE",
        ),
        (
            _expect("expect_column_values_to_not_be_null", column="email", row_condition="x"),
            "row conditions are GE's",
        ),
        (
            _expect("expect_column_values_to_be_in_set", column="no_such_column", value_set=[1]),
            "a missing column: GE names it in its error",
        ),
    ],
)
def test_what_duckdb_does_not_answer_is_left_to_great_expectations(
    tmp_path: Path, entry: dict, why: str
) -> None:
    (expectation,) = _suite([entry]).expectations
    with open_database(tmp_path / "w.duckdb") as con:
        _people(con)
        projection = {c: (f'"{c}"', t) for c, t in table_columns(con, "main", "people").items()}
        kinds = sql_engine.column_kinds(con, "main.people", projection)
    assert sql_engine.plan_sql(expectation, PARAMETERS, projection, kinds) is None, why


def test_a_rule_duckdb_cannot_run_is_judged_by_great_expectations(tmp_path: Path) -> None:
    suite = _suite(
        [
            _expect("expect_table_row_count_to_be_between", min_value=1),
            # A look-ahead: Python's re runs it, DuckDB's RE2 refuses it.
            _expect(
                "expect_column_values_to_match_regex", column="country_code", regex="^(?=C)[A-Z]+$"
            ),
        ]
    )
    with open_database(tmp_path / "w.duckdb") as con:
        _people(con)
        outcome = validate_table(con, suite)
    by_name = {o.check_name: o for o in outcome.outcomes}
    assert by_name["gx_table_row_count_between"].observed_value == 10
    codes = by_name["gx_country_code__match_regex"]
    assert codes.exception is None
    assert not codes.success
    # Of 9 codes only CN, CN, CN start with C and are capitals: 6 of 9 fail.
    assert codes.unexpected_percent == pytest.approx(600 / 9)


def test_an_argument_great_expectations_rejects_is_still_a_suite_error(tmp_path: Path) -> None:
    suite = _suite(
        [
            _expect(
                "expect_column_values_to_be_between",
                column="date_of_birth",
                min_value="the first of January",
            )
        ]
    )
    with open_database(tmp_path / "w.duckdb") as con:
        _people(con)
        with pytest.raises(SuiteError, match=r"people\.json.*min_value"):
            validate_table(con, suite, data_docs_dir=tmp_path / "docs")
