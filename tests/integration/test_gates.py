"""Great Expectations gates: the shipped suites, validation with masked evidence, the record.

Great Expectations is real here (pandas batches, as the gates use); its first validation in a
process costs ~10 s of imports, so the frames are validated once per module.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from dagster_project.config import load_config
from dagster_project.lib.quality.gates import (
    GateOutcome,
    GateSuite,
    SuiteError,
    discover_suites,
    record_outcome,
    validate_frame,
    validate_table,
)
from dagster_project.lib.warehouse import connect
from dagster_project.settings import PROJECT_ROOT

EXPECTATIONS = PROJECT_ROOT / "expectations"
DBT = PROJECT_ROOT / "dbt"


def _dagster_produced_tables() -> set[tuple[str, str]]:
    """Tables written by Dagster assets rather than dbt models."""
    sources = load_config(PROJECT_ROOT / "governance.yaml").sources
    return {("er", "record_clusters")} | {("raw", f"{s.name}__customers") for s in sources}


def _dbt_model(table: str) -> Path | None:
    matches = sorted((DBT / "models").rglob(f"{table}.sql"))
    assert len(matches) <= 1, f"two dbt models named {table}: {matches}"
    return matches[0] if matches else None


def _dbt_schema(model: Path) -> str:
    """The schema a model lands in: its own config(schema=...), else its folder's +schema."""
    explicit = re.search(r"schema\s*=\s*['\"](\w+)['\"]", model.read_text(encoding="utf-8"))
    if explicit:
        return explicit.group(1)
    project = yaml.safe_load((DBT / "dbt_project.yml").read_text(encoding="utf-8"))
    folder = model.relative_to(DBT / "models").parts[0]
    return project["models"]["custodian"][folder]["+schema"]


# --- the shipped suites -------------------------------------------------------------------------


def test_the_project_ships_suites_for_its_gated_tables() -> None:
    keys = {tuple(suite.asset_key) for suite in discover_suites(EXPECTATIONS)}
    assert {
        ("intermediate", "int_customer_records"),
        ("main", "golden_customers"),
        ("main", "customer_source_xref"),
    } <= keys


def test_no_suite_file_is_left_out_of_discovery() -> None:
    # A suite one folder too deep, or saved as .JSON/.yaml, would gate nothing, silently.
    discovered = {suite.path for suite in discover_suites(EXPECTATIONS)}
    on_disk = {
        path
        for path in EXPECTATIONS.rglob("*")
        if path.is_file() and not path.name.startswith(".") and path.suffix.lower() != ".md"
    }
    assert on_disk - discovered == set()


@pytest.mark.parametrize(
    "suite", discover_suites(EXPECTATIONS), ids=lambda suite: "/".join(suite.asset_key)
)
def test_every_suite_names_a_table_the_project_defines(suite: GateSuite) -> None:
    relative = suite.path.relative_to(EXPECTATIONS)
    assert suite.asset_key == [relative.parts[0], relative.stem]
    assert suite.asset_key == [suite.schema, suite.table]
    model = _dbt_model(suite.table)
    if model is None:
        assert (suite.schema, suite.table) in _dagster_produced_tables(), (
            f"{relative} gates {suite.schema}.{suite.table}, which no dbt model or Dagster "
            "asset produces: a typo in the file name would disable the gate"
        )
        return
    assert suite.schema == _dbt_schema(model), (
        f"{relative}: dbt puts {suite.table} in schema {_dbt_schema(model)!r}, not {suite.schema!r}"
    )
    # Every column the suite reads is one the model (or a macro it uses) writes.
    dbt_text = "\n".join(
        path.read_text(encoding="utf-8")
        for path in [model, *model.parent.glob("*.yml"), *(DBT / "macros").rglob("*.sql")]
    )
    for column in suite.columns:
        assert re.search(rf"\b{re.escape(column)}\b", dbt_text), (
            f"{relative}: column {column!r} appears nowhere in {model.relative_to(DBT)}"
        )


@pytest.mark.parametrize(
    "suite", discover_suites(EXPECTATIONS), ids=lambda suite: "/".join(suite.asset_key)
)
def test_every_shipped_suite_runs_in_great_expectations(suite: GateSuite) -> None:
    # A misspelt expectation type or argument raises SuiteError here, not in the nightly run.
    expectations = suite.definition["expectations"]
    assert expectations, f"{suite.path} has no expectations"
    assert suite.is_blocking, f"{suite.path}: a gate with no critical expectation blocks nothing"
    frame = pd.DataFrame({column: ["a", "b"] for column in suite.columns})
    result = validate_frame(suite, frame)
    assert [o.expectation_type for o in result.outcomes] == [e["type"] for e in expectations]


# --- validating a frame -------------------------------------------------------------------------

SUITE = GateSuite(
    path=Path("expectations/main/customers_under_test.json"),
    schema="main",
    table="customers_under_test",
    definition={
        "name": "customers_under_test",
        "expectations": [
            {
                "type": "expect_table_row_count_to_be_between",
                "kwargs": {"min_value": 1},
                "severity": "critical",
            },
            {
                "type": "expect_column_values_to_be_unique",
                "kwargs": {"column": "customer_id"},
                "severity": "critical",
            },
            {
                "type": "expect_column_values_to_be_unique",
                "kwargs": {"column": "email"},
                "severity": "critical",
            },
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "mobile_phone_e164", "mostly": 0.99},
                "severity": "warning",
            },
        ],
    },
)

FRAME = pd.DataFrame(
    {
        "customer_id": ["C-0001", "C-0001", "C-0002", "C-0003"],
        "email": ["zhangsan@qq.com", "zhangsan@qq.com", "lisi@163.com", "wangwu@example.com"],
        "mobile_phone_e164": ["+8613800138000", None, "+8613912345678", "+8613700137000"],
    }
)


@pytest.fixture(scope="module")
def outcome() -> GateOutcome:
    return validate_frame(SUITE, FRAME)


def _by_column(outcome: GateOutcome) -> dict[str | None, object]:
    return {o.column: o for o in outcome.outcomes}


def test_duplicate_ids_are_a_critical_failure(outcome: GateOutcome) -> None:
    failed = {(o.expectation_type, o.column) for o in outcome.critical_failures}
    assert failed == {
        ("expect_column_values_to_be_unique", "customer_id"),
        ("expect_column_values_to_be_unique", "email"),
    }
    ids = _by_column(outcome)["customer_id"]
    assert ids.severity == "critical"
    assert ids.unexpected_percent == pytest.approx(50.0)
    assert ids.element_count == 4
    assert ids.sample_masked, "the failure carries evidence"
    assert all(value != "C-0001" for value in ids.sample_masked)


def test_failure_evidence_is_masked(outcome: GateOutcome) -> None:
    emails = _by_column(outcome)["email"]
    assert emails.sample_masked == ["z***@qq.com", "z***@qq.com"]
    evidence = json.dumps([o.sample_masked for o in outcome.outcomes], ensure_ascii=False)
    for value in ("zhangsan@qq.com", "zhangsan", "C-0001", "13800138000"):
        assert value not in evidence


def test_a_warning_failure_is_reported_but_does_not_block(outcome: GateOutcome) -> None:
    assert [(o.expectation_type, o.column) for o in outcome.warnings] == [
        ("expect_column_values_to_not_be_null", "mobile_phone_e164")
    ]
    assert all(o.column != "mobile_phone_e164" for o in outcome.critical_failures)
    phones = _by_column(outcome)["mobile_phone_e164"]
    assert phones.unexpected_percent == pytest.approx(25.0)
    assert phones.sample_masked == [None], "a missing value is shown as missing, not as 'n**'"
    row_count = _by_column(outcome)[None]
    assert row_count.success
    assert row_count.observed_value == 4


def test_a_clean_frame_passes_every_expectation() -> None:
    clean = FRAME.drop_duplicates("customer_id").drop_duplicates("email").fillna("+8613600136000")
    result = validate_frame(SUITE, clean)
    assert result.critical_failures == []
    assert result.warnings == []
    assert all(o.success for o in result.outcomes)


def test_validate_table_reads_the_warehouse_table(tmp_path: Path) -> None:
    con = connect(tmp_path / "warehouse.duckdb", timeout=5)
    try:
        con.register("frame", FRAME)
        con.execute("create table main.customers_under_test as select * from frame")
        result = validate_table(con, SUITE)
    finally:
        con.close()
    assert {(o.column, o.success) for o in result.outcomes} == {
        (None, True),
        ("customer_id", False),
        ("email", False),
        ("mobile_phone_e164", False),
    }


def test_record_outcome_writes_one_row_per_expectation(
    tmp_path: Path, outcome: GateOutcome
) -> None:
    con = connect(tmp_path / "warehouse.duckdb", timeout=5)
    try:
        record_outcome(con, outcome, "run-42", "2026-11-01")
        cursor = con.execute(
            "select asset_key, partition_key, suite_name, expectation_type, column_name, "
            "severity, success, observed_value, unexpected_percent, element_count, run_id, "
            "validated_at from quality.gate_results order by expectation_type, column_name"
        )
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()

    assert len(rows) == len(SUITE.definition["expectations"])
    assert {r["asset_key"] for r in rows} == {"main/customers_under_test"}
    assert {r["suite_name"] for r in rows} == {"customers_under_test"}
    assert {(r["partition_key"], r["run_id"]) for r in rows} == {("2026-11-01", "run-42")}
    assert all(r["validated_at"] is not None for r in rows)
    summary = [(r["expectation_type"], r["column_name"], r["severity"], r["success"]) for r in rows]
    assert summary == [
        ("expect_column_values_to_be_unique", "customer_id", "critical", False),
        ("expect_column_values_to_be_unique", "email", "critical", False),
        ("expect_column_values_to_not_be_null", "mobile_phone_e164", "warning", False),
        ("expect_table_row_count_to_be_between", None, "critical", True),
    ]
    row_count = rows[-1]
    assert json.loads(row_count["observed_value"]) == 4
    assert rows[0]["unexpected_percent"] == pytest.approx(50.0)
    assert rows[0]["element_count"] == 4


# --- suite files that cannot be used ------------------------------------------------------------


def _suite_dir(tmp_path: Path, text: str, name: str = "main/golden_customers.json") -> Path:
    root = tmp_path / "expectations"
    path = root / name
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"expectations": [', "not valid JSON"),
        ('{"expectations": [{"type": "expect_column_values_to_be_unique",}]}', "not valid JSON"),
        (
            json.dumps(
                {
                    "expectations": [
                        {"type": "expect_table_row_count_to_be_between", "kwargs": {}},
                        {"type": "expect_column_values_to_be_unique", "severity": "blocker"},
                    ]
                }
            ),
            "expectations[1].severity must be critical, warning or info",
        ),
        ('{"name": "golden_customers"}', "needs an 'expectations' list"),
        ("[]", "needs an 'expectations' list"),
        ('{"expectations": [{"kwargs": {"column": "x"}}]}', "expectations[0] needs a 'type'"),
    ],
)
def test_unusable_suite_file_raises_suite_error_naming_it(
    tmp_path: Path, text: str, problem: str
) -> None:
    root = _suite_dir(tmp_path, text)

    with pytest.raises(SuiteError) as caught:
        discover_suites(root)

    message = str(caught.value)
    assert str(root / "main" / "golden_customers.json") in message
    assert problem in message


@pytest.mark.parametrize(
    ("expectation", "problem"),
    [
        (
            {"type": "expect_column_values_to_be_uniqe", "kwargs": {"column": "x"}},
            "unknown expectation type 'expect_column_values_to_be_uniqe'",
        ),
        (
            {"type": "expect_column_values_to_be_unique", "kwargs": {"colum": "x"}},
            "invalid kwargs",
        ),
    ],
)
def test_suite_with_a_misspelt_expectation_names_the_file(
    tmp_path: Path, expectation: dict, problem: str
) -> None:
    root = _suite_dir(tmp_path, json.dumps({"expectations": [expectation]}))
    (suite,) = discover_suites(root)

    with pytest.raises(SuiteError) as caught:
        validate_frame(suite, pd.DataFrame({"x": [1]}))

    assert str(suite.path) in str(caught.value)
    assert problem in str(caught.value)


def test_evidence_is_json_ready_for_dagster_metadata() -> None:
    # Numpy booleans in a failing sample once made Dagster reject the check's metadata.
    suite = GateSuite(
        Path("expectations/intermediate/flags.json"),
        "intermediate",
        "flags",
        {
            "expectations": [
                {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": "email_is_valid", "value_set": [True], "mostly": 0.5},
                    "severity": "warning",
                }
            ]
        },
    )
    frame = pd.DataFrame({"email_is_valid": [True, True, True, False, None]})
    outcome = validate_frame(suite, frame)
    (item,) = outcome.outcomes
    assert item.success
    assert item.sample_masked == [False]
    json.dumps([item.sample_masked, item.observed_value, item.unexpected_percent])
