"""Great Expectations gates over real DuckDB files: batches, slices, evidence, the record.

Great Expectations is real here (pandas batches, as the gates use); its first validation in a
process costs ~10 s of imports. Tables are small and built per test in tmp_path.
"""

from __future__ import annotations

import importlib.util
import json
import re
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from dagster_project.config import GovernanceConfig, load_config
from dagster_project.lib.ingest.loader import ensure_ops_tables
from dagster_project.lib.quality.gates import validate_table
from dagster_project.lib.quality.gx_engine import outcome_for_frame
from dagster_project.lib.quality.outcomes import GateOutcome
from dagster_project.lib.quality.results import ADDED_COLUMNS, ensure_gate_results, record_outcome
from dagster_project.lib.quality.suites import (
    RAW_SUITE_PATTERN,
    GateSuite,
    discover_suites,
    load_suite,
    parse_suite,
)
from dagster_project.settings import PROJECT_ROOT
from tests.support.database import open_database

EXPECTATIONS = PROJECT_ROOT / "expectations"
CONFIG = load_config(PROJECT_ROOT / "governance.yaml")
DAY_1, DAY_2 = "2026-11-01", "2026-11-02"


def _suite(table: str, expectations: list[dict], **settings) -> GateSuite:
    schema, name = table.split(".")
    definition = {"name": name, "meta": {"custodian": settings}, "expectations": expectations}
    return parse_suite(Path(f"expectations/{schema}/{name}.json"), definition, schema, name)


def _warehouse(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = open_database(tmp_path / "warehouse.duckdb")
    for schema in ("raw", "ops", "quarantine", "intermediate", "quality", "candidate"):
        con.execute(f"create schema if not exists {schema}")
    return con


def _by_check(outcome: GateOutcome) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for item in outcome.outcomes:
        grouped.setdefault(item.check_name, []).append(item)
    return grouped


# --- one frame --------------------------------------------------------------------------------

FRAME_SUITE = _suite(
    "main.customers_under_test",
    [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "customer_id"}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "email"}},
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "mobile_phone_e164", "mostly": 0.99},
            "severity": "warning",
        },
    ],
)
FRAME = pd.DataFrame(
    {
        "customer_id": ["C-0001", "C-0001", "C-0002", "C-0003"],
        "email": ["zhangsan@qq.com", "zhangsan@qq.com", "lisi@163.com", "wangwu@example.com"],
        "mobile_phone_e164": ["+8613800138000", None, "+8613912345678", "+8613700137000"],
    }
)


@pytest.fixture(scope="module")
def frame_outcome() -> GateOutcome:
    return outcome_for_frame(FRAME_SUITE, FRAME)


def test_duplicates_are_critical_failures_with_masked_evidence(frame_outcome) -> None:
    failed = {o.check_name for o in frame_outcome.critical_failures}
    assert failed == {"gx_customer_id__unique", "gx_email__unique"}
    (emails,) = _by_check(frame_outcome)["gx_email__unique"]
    assert emails.unexpected_percent == pytest.approx(50.0)
    assert emails.observed_value == pytest.approx(0.5)  # share of values meeting it
    assert emails.sample_masked == ["z***@qq.com", "z***@qq.com"]
    evidence = json.dumps([o.sample_masked for o in frame_outcome.outcomes], ensure_ascii=False)
    for value in ("zhangsan@qq.com", "zhangsan", "C-0001", "13800138000"):
        assert value not in evidence


def test_a_warning_failure_is_reported_but_not_critical(frame_outcome) -> None:
    assert [o.check_name for o in frame_outcome.warnings] == ["gx_mobile_phone_e164__not_null"]
    (phones,) = _by_check(frame_outcome)["gx_mobile_phone_e164__not_null"]
    assert phones.unexpected_percent == pytest.approx(25.0)
    assert phones.threshold == {"mostly": 0.99}
    assert phones.sample_masked == [None], "a missing value is shown as missing, not as 'n**'"
    (rows,) = _by_check(frame_outcome)["gx_table_row_count_between"]
    assert rows.success
    assert rows.observed_value == 4


def test_evidence_and_thresholds_are_json_ready(frame_outcome) -> None:
    # Numpy scalars in evidence once made Dagster reject a check's metadata.
    for item in frame_outcome.outcomes:
        json.dumps([item.sample_masked, item.observed_value, item.threshold])
        assert type(item.observed_value) in (int, float, type(None))


def test_multi_column_samples_are_masked_column_by_column() -> None:
    suite = _suite(
        "main.households",
        [
            {
                "type": "expect_compound_columns_to_be_unique",
                "kwargs": {"column_list": ["family_name", "mobile_phone_e164"]},
            }
        ],
    )
    frame = pd.DataFrame(
        {
            "family_name": ["欧阳", "欧阳", "李"],
            "mobile_phone_e164": ["+8613800138000", "+8613800138000", "+8613912345678"],
        }
    )
    (item,) = outcome_for_frame(suite, frame).outcomes
    assert not item.success
    assert item.sample_masked[0] == {"family_name": "欧*", "mobile_phone_e164": "138****8000"}


# --- partitions, slices and evidence from the warehouse -----------------------------------------

RECORDS_SUITE = _suite(
    "intermediate.records",
    [
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "email_is_valid", "value_set": [True], "mostly": 0.85},
            "severity": "critical",
            "meta": {"evidence_columns": ["email_normalised", "email_invalid_reason"]},
        },
        {
            "type": "expect_column_values_to_be_unique",
            "kwargs": {"column": "record_key"},
            "meta": {"scope": "table"},
        },
    ],
    partition_column="latest_partition_date",
    slice_by="source_name",
    min_slice_rows=50,
    min_values_for_rates=20,
    key_column="record_key",
)


def _records(rows: list[tuple[str, str, int, int]]) -> pd.DataFrame:
    """(source, day, valid e-mails, invalid e-mails) -> canonical-shaped rows."""
    records = []
    for source, day, valid, invalid in rows:
        for n in range(valid + invalid):
            bad = n < invalid
            records.append(
                {
                    "record_key": f"{source}:{day}:{n}",
                    "source_name": source,
                    "latest_partition_date": date.fromisoformat(day),
                    "email_normalised": f"kehu{n}{'@@' if bad else '@'}qq.com",
                    "email_is_valid": not bad,
                    "email_invalid_reason": "double_at" if bad else None,
                }
            )
    return pd.DataFrame(records)


@pytest.fixture
def records_warehouse(tmp_path: Path):
    con = _warehouse(tmp_path)
    frame = _records(
        [
            ("crm", DAY_1, 200, 0),
            ("erp_billing", DAY_1, 200, 0),
            ("crm", DAY_2, 140, 60),  # 30% invalid: the bad day
            ("erp_billing", DAY_2, 196, 4),
            ("call_center", DAY_2, 7, 3),  # 30% of 10 e-mails: too few to judge
        ]
    )
    con.register("frame", frame)
    con.execute("create table intermediate.records as select * from frame")
    yield con
    con.close()


def test_a_bad_source_day_fails_only_its_slice(records_warehouse) -> None:
    outcome = validate_table(records_warehouse, RECORDS_SUITE, partition=(DAY_2, DAY_2))

    email = {o.slice_name: o for o in _by_check(outcome)["gx_email_is_valid__in_set"]}
    assert set(email) == {"source_name=crm", "source_name=erp_billing"}
    assert not email["source_name=crm"].success
    assert email["source_name=crm"].unexpected_percent == pytest.approx(30.0)
    assert email["source_name=erp_billing"].success
    assert [(n.check_name, n.slice_name) for n in outcome.not_judged] == [
        ("gx_email_is_valid__in_set", "source_name=call_center")
    ]
    # Keys are judged over the whole table, not the day.
    (keys,) = _by_check(outcome)["gx_record_key__unique"]
    assert keys.slice_name == "whole table"
    assert keys.element_count == 810
    assert outcome.rows_validated == 810
    assert [o.check_name for o in outcome.critical_failures] == ["gx_email_is_valid__in_set"]


def test_the_previous_day_is_judged_on_its_own_rows(records_warehouse) -> None:
    outcome = validate_table(records_warehouse, RECORDS_SUITE, partition=(DAY_1, DAY_1))
    assert outcome.critical_failures == []
    email = _by_check(outcome)["gx_email_is_valid__in_set"]
    assert sorted(o.element_count for o in email) == [200, 200]


def test_failing_rows_show_masked_evidence_columns(records_warehouse) -> None:
    outcome = validate_table(records_warehouse, RECORDS_SUITE, partition=(DAY_2, DAY_2))
    (crm,) = [o for o in outcome.critical_failures if o.slice_name == "source_name=crm"]

    assert len(crm.sample_masked) == 5
    for row in crm.sample_masked:
        assert set(row) == {
            "record_key",
            "email_is_valid",
            "email_normalised",
            "email_invalid_reason",
        }
        assert row["email_is_valid"] is False
        assert row["email_invalid_reason"] == "double_at"  # a code, shown as it is
        assert re.fullmatch(r"k\*\*\*@@qq\.com", row["email_normalised"]), row
    assert not re.search(r"kehu\d", json.dumps(crm.sample_masked))


def test_small_slices_are_pooled(tmp_path: Path) -> None:
    con = _warehouse(tmp_path)
    try:
        frame = _records([(s, DAY_2, 38, 2) for s in ("crm", "erp_billing", "web_signup")])
        con.register("frame", frame)
        con.execute("create table intermediate.records as select * from frame")
        outcome = validate_table(con, RECORDS_SUITE, partition=(DAY_2, DAY_2))
    finally:
        con.close()
    (email,) = _by_check(outcome)["gx_email_is_valid__in_set"]
    assert email.slice_name == "source_name in (crm, erp_billing, web_signup)"
    assert email.element_count == 120
    assert email.success


def test_dates_outside_pandas_range_still_fail_the_range_check(tmp_path: Path) -> None:
    suite = _suite(
        "intermediate.people",
        [
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {
                    "column": "date_of_birth",
                    "min_value": "1900-01-01T00:00:00",
                    "max_value": {"$PARAMETER": "partition_date"},
                },
            }
        ],
        key_column="person_key",
    )
    con = _warehouse(tmp_path)
    try:
        con.execute(
            "create table intermediate.people as select * from (values "
            "('p1', date '1980-05-03'), ('p2', date '0201-05-03'), ('p3', date '2031-01-01'), "
            "('p4', null)) t(person_key, date_of_birth)"
        )
        outcome = validate_table(con, suite, today=date(2026, 11, 23))
    finally:
        con.close()
    (dob,) = outcome.outcomes
    assert not dob.success
    assert dob.unexpected_percent == pytest.approx(200 / 3)  # of the 3 given dates
    # The real (typo'd) values, looked up by key and masked to their year.
    assert sorted(row["date_of_birth"] for row in dob.sample_masked) == [
        "0201-**-**",
        "2031-**-**",
    ]


def test_a_column_missing_from_the_table_fails_its_expectation_naming_it(tmp_path: Path) -> None:
    suite = _suite(
        "intermediate.people",
        [
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "national_id_is_valid", "value_set": [True]},
            }
        ],
    )
    con = _warehouse(tmp_path)
    try:
        con.execute("create table intermediate.people as select 1 as person_key")
        outcome = validate_table(con, suite)
    finally:
        con.close()
    (item,) = outcome.outcomes
    assert not item.success
    assert "national_id_is_valid" in (item.exception or "")


# --- raw suites: the source's mapping, the partition, the load log --------------------------------

CRM = CONFIG.source("crm")
CRM_SUITE = load_suite(EXPECTATIONS / "raw" / RAW_SUITE_PATTERN, "crm__customers")


def _load_crm(con, day: str, ids: list[str], *, quarantined: int = 0, status: str = "loaded"):
    columns = sorted(CRM.mapped_columns())
    if not con.execute(
        "select count(*) from information_schema.tables where table_name = 'crm__customers'"
    ).fetchone()[0]:
        column_ddl = ", ".join(f'"{c}" varchar' for c in columns)
        con.execute(
            f"create table raw.crm__customers ({column_ddl}, _source_name varchar, "
            "_partition_date date, _file_path varchar, _row_number bigint)"
        )
    for line, record_id in enumerate(ids, start=2):
        values = dict.fromkeys(columns, f"v{line}") | {"customer_no": record_id}
        values["email"] = f"kehu{line}@qq.com"
        placeholders = ", ".join("?" for _ in columns)
        con.execute(
            f"insert into raw.crm__customers ({', '.join(columns)}, _source_name, "
            f"_partition_date, _file_path, _row_number) values ({placeholders}, 'crm', ?, 'f', ?)",
            [values[c] for c in columns] + [day, line],
        )
    ensure_ops_tables(con)
    con.execute(
        "insert into ops.load_log values ('run', 'crm', ?, 'f', 'sha', ?, ?, ?, ?, 0, [], null, "
        "now()::timestamp, now()::timestamp, 1, null)",
        [day, status, len(ids) + quarantined, len(ids), quarantined],
    )


def _raw_outcome(con, day: str) -> GateOutcome:
    return validate_table(con, CRM_SUITE, partition=(day, day), config=CONFIG)


def test_a_clean_raw_partition_passes_the_shipped_suite(tmp_path: Path) -> None:
    con = _warehouse(tmp_path)
    try:
        _load_crm(con, DAY_1, [f"CRM{n:07d}" for n in range(60)])
        # Day two repeats day one's keys: uniqueness holds within a partition, not across.
        _load_crm(con, DAY_2, [f"CRM{n:07d}" for n in range(60)])
        outcome = _raw_outcome(con, DAY_2)
    finally:
        con.close()
    assert [o.check_name for o in outcome.outcomes if not o.success] == []
    assert {o.check_name for o in outcome.outcomes} == {
        e.check_name for e in CRM_SUITE.expectations
    }
    (rows,) = _by_check(outcome)["gx_table_row_count_between"]
    assert rows.observed_value == 60


def test_raw_duplicates_warn_and_a_doubled_export_blocks(tmp_path: Path) -> None:
    con = _warehouse(tmp_path)
    try:
        _load_crm(con, DAY_1, [f"CRM{n:07d}" for n in range(98)] + ["CRM0000001", "CRM0000002"])
        _load_crm(con, DAY_2, [f"CRM{n:07d}" for n in range(50)] * 2)
        correction_day, doubled_day = _raw_outcome(con, DAY_1), _raw_outcome(con, DAY_2)
    finally:
        con.close()
    assert [o.check_name for o in correction_day.warnings] == [
        "gx_source_record_id__unique__warning"
    ]
    assert correction_day.critical_failures == []
    assert "gx_source_record_id__unique__critical" in {
        o.check_name for o in doubled_day.critical_failures
    }


def test_a_missing_mapped_column_fails_naming_it(tmp_path: Path) -> None:
    con = _warehouse(tmp_path)
    try:
        _load_crm(con, DAY_1, [f"CRM{n:07d}" for n in range(60)])
        con.execute('alter table raw.crm__customers drop column "email"')
        outcome = _raw_outcome(con, DAY_1)
    finally:
        con.close()
    (columns,) = _by_check(outcome)["gx_mapped_columns_present"]
    assert not columns.success
    assert columns.severity == "critical"
    (details,) = columns.sample_masked
    assert details["mismatched"]["missing"] == ["email"]


def test_the_quarantined_share_comes_from_the_load_log(tmp_path: Path) -> None:
    con = _warehouse(tmp_path)
    try:
        _load_crm(con, DAY_1, [f"CRM{n:07d}" for n in range(95)], quarantined=5)
        outcome = _raw_outcome(con, DAY_1)
    finally:
        con.close()
    (share,) = _by_check(outcome)["gx_quarantine_share"]
    assert not share.success
    assert share.severity == "warning"
    assert share.observed_value == pytest.approx(0.05)
    assert share.threshold == {"max_value": 0.01}


def test_a_partition_that_loaded_nothing_is_not_validated(tmp_path: Path) -> None:
    con = _warehouse(tmp_path)
    try:
        _load_crm(con, DAY_1, [f"CRM{n:07d}" for n in range(60)])
        _load_crm(con, DAY_2, [], status="duplicate_skipped")
        outcome = _raw_outcome(con, DAY_2)
    finally:
        con.close()
    assert outcome.outcomes == []
    assert "duplicate_skipped" in outcome.skipped_reason


def test_a_source_that_has_not_started_yet_is_not_validated(tmp_path: Path) -> None:
    # Before a source's start_date its asset loads nothing: no load-log row, maybe no table.
    con = _warehouse(tmp_path)
    try:
        ensure_ops_tables(con)
        outcome = _raw_outcome(con, DAY_1)
    finally:
        con.close()
    assert outcome.outcomes == []
    assert "not_loaded" in outcome.skipped_reason


# --- the golden table and the cross-reference -------------------------------------------------


def test_an_orphan_xref_row_fails_with_its_keys_as_evidence(tmp_path: Path) -> None:
    con = _warehouse(tmp_path)
    try:
        con.execute(
            "create table candidate.golden_customers as select 'G1' as golden_customer_id "
            "union all select 'G2'"
        )
        con.execute(
            "create table candidate.customer_source_xref as select * from (values "
            "('crm:1', 'G1', 'crm', '1'), ('erp_billing:7', 'G2', 'erp_billing', '7'), "
            "('web_signup:9', 'G9', 'web_signup', '9')) "
            "t(record_key, golden_customer_id, source_name, source_record_id)"
        )
        outcome = validate_table(
            con, load_suite(EXPECTATIONS / "candidate" / "customer_source_xref.json")
        )
    finally:
        con.close()
    assert [o.check_name for o in outcome.critical_failures] == ["gx_no_orphan_rows"]
    (orphans,) = outcome.critical_failures
    assert orphans.sample_masked == [
        {
            "record_key": "web_signup:9",
            "has_golden_customer": False,
            "golden_customer_id": "G9",
            "source_name": "web_signup",
        }
    ]


# --- the shipped suites on a realistic warehouse -----------------------------------------------


def _bench_module():
    spec = importlib.util.spec_from_file_location(
        "bench_gates", PROJECT_ROOT / "bench" / "bench_gates.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def realistic_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Day one of 4,000 records with the demo's invalid shares (bench/bench_gates.py)."""
    path = tmp_path_factory.mktemp("realistic") / "warehouse.duckdb"
    _bench_module().build_warehouse(path, 4000)
    return path


def _run_shipped(path: Path, docs: Path | None = None) -> dict[str, GateOutcome]:
    outcomes = {}
    with open_database(path) as con:
        for suite in discover_suites(EXPECTATIONS, [source.name for source in CONFIG.sources]):
            outcomes["/".join(suite.asset_key)] = validate_table(
                con,
                suite,
                partition=(DAY_1, DAY_1),
                config=CONFIG,
                data_docs_dir=docs,
                today=date(2026, 11, 2),
            )
    return outcomes


def test_the_shipped_suites_pass_a_realistic_day(realistic_warehouse: Path) -> None:
    outcomes = _run_shipped(realistic_warehouse)
    failures = {
        key: [f"{o.check_name}[{o.slice_name}]: {o.exception or o.observed_value}" for o in failed]
        for key, outcome in outcomes.items()
        if (failed := outcome.critical_failures + outcome.warnings)
    }
    assert failures == {}
    assert len(outcomes) == 9


def test_thirty_percent_invalid_emails_in_one_source_fail_its_critical_gate(
    realistic_warehouse: Path, tmp_path: Path
) -> None:
    corrupted = tmp_path / "corrupted.duckdb"
    corrupted.write_bytes(realistic_warehouse.read_bytes())
    with open_database(corrupted) as con:
        con.execute(
            "update intermediate.int_customer_records set email_is_valid = false, "
            "email_invalid_reason = 'no_domain' "
            "where source_name = 'crm' and email_is_valid is not null and hash(record_key) % 10 < 3"
        )
    outcome = _run_shipped(corrupted)["intermediate/int_customer_records"]

    failed = sorted((o.check_name, o.slice_name) for o in outcome.critical_failures)
    assert failed == [("gx_email_is_valid__in_set__critical", "source_name=crm")]
    assert {(o.check_name, o.slice_name) for o in outcome.warnings} == {
        ("gx_email_is_valid__in_set__warning", "source_name=crm")
    }
    (crm,) = outcome.critical_failures
    assert 28 < crm.unexpected_percent < 40
    assert crm.threshold == {"mostly": 0.85, "value_set": [True]}
    # The evidence shows masked failing values, never the addresses themselves.
    emails = [row["email_normalised"] for row in crm.sample_masked]
    assert emails
    assert all(email.startswith("u***@") for email in emails if email is not None)
    assert any(email is not None for email in emails)


# --- Data Docs ---------------------------------------------------------------------------------


def test_data_docs_pages_are_written_masked_and_linked(records_warehouse, tmp_path: Path) -> None:
    docs = tmp_path / "data_docs"
    outcome = validate_table(
        records_warehouse,
        RECORDS_SUITE,
        partition=(DAY_2, DAY_2),
        run_id="run-7",
        data_docs_dir=docs,
    )
    (crm,) = outcome.critical_failures
    page = crm.data_docs_page
    assert page is not None
    assert page.is_file()
    assert page in outcome.data_docs_pages
    assert page.relative_to(docs).parts[:3] == ("validations", "records", "run-7")
    text = page.read_text(encoding="utf-8")
    assert "source_name=crm" in text
    assert "email_is_valid" in text
    assert not re.search(r"kehu\d", text), "Data Docs must not show customers' values"
    # GE's relative links (the index, the suite's page, images) resolve inside the folder; its
    # favicon link is one level short in GE's own site layout too, so it is not checked.
    links = [
        link for link in re.findall(r'(?:href|src)="(\.\.[^"]+)"', text) if "favicon" not in link
    ]
    assert any(link.endswith("index.html") for link in links)
    assert any("/expectations/" in link for link in links)
    for link in links:
        assert (page.parent / link).resolve().exists(), link
    index = (docs / "index.html").read_text(encoding="utf-8")
    assert page.relative_to(docs).as_posix() in index
    assert "1 failed of 1" in index


# --- quality.gate_results ----------------------------------------------------------------------


def test_results_are_recorded_one_row_per_verdict(records_warehouse) -> None:
    outcome = validate_table(records_warehouse, RECORDS_SUITE, partition=(DAY_2, DAY_2))
    written = record_outcome(records_warehouse, outcome, "run-42")
    cursor = records_warehouse.execute(
        "select * from quality.gate_results order by check_name, slice_name"
    )
    names = [column[0] for column in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    assert written == len(rows) == 3  # e-mails for two slices, keys for the whole table
    crm = next(r for r in rows if r["slice_name"] == "source_name=crm")
    assert crm["asset_key"] == "intermediate/records"
    assert crm["partition_key"] == DAY_2
    assert crm["run_id"] == "run-42"
    assert crm["suite_name"] == "records"
    assert crm["check_name"] == "gx_email_is_valid__in_set"
    assert crm["expectation_type"] == "expect_column_values_to_be_in_set"
    assert (crm["severity"], crm["success"]) == ("critical", False)
    assert json.loads(crm["observed_value"]) == pytest.approx(0.7)
    assert json.loads(crm["threshold"]) == {"mostly": 0.85, "value_set": [True]}
    assert crm["unexpected_percent"] == pytest.approx(30.0)
    sample = json.loads(crm["failing_sample_masked"])
    assert len(sample) == 5
    assert not re.search(r"kehu\d", crm["failing_sample_masked"])
    assert crm["validated_at"] is not None


def test_an_existing_gate_results_table_gains_the_new_columns(tmp_path: Path) -> None:
    con = _warehouse(tmp_path)
    try:
        # The table as the first release created it, with one row.
        con.execute(
            "create table quality.gate_results (asset_key varchar not null, partition_key "
            "varchar, suite_name varchar not null, expectation_type varchar not null, "
            "column_name varchar, severity varchar not null, success boolean not null, "
            "observed_value varchar, unexpected_percent double, element_count bigint, "
            "run_id varchar, validated_at timestamp not null)"
        )
        con.execute(
            "insert into quality.gate_results values ('main/golden_customers', null, "
            "'golden_customers', 'expect_table_row_count_to_be_between', null, 'critical', true, "
            "'12', null, null, 'old-run', now()::timestamp)"
        )
        ensure_gate_results(con)
        ensure_gate_results(con)  # idempotent
        record_outcome(con, outcome_for_frame(FRAME_SUITE, FRAME), "new-run")
        columns = [row[0] for row in con.execute("describe quality.gate_results").fetchall()]
        rows = con.execute(
            "select run_id, check_name from quality.gate_results order by run_id, check_name"
        ).fetchall()
    finally:
        con.close()
    assert columns[12:] == [name for name, _ in ADDED_COLUMNS]
    assert rows[0] == ("new-run", "gx_customer_id__unique")
    assert ("old-run", None) in rows
    assert len(rows) == 5


# --- governance.yaml fits the gates to the data ------------------------------------------------


def _sources_config(crm_gates: dict | None = None) -> GovernanceConfig:
    def source(name: str, mapping: dict, gates: dict | None = None) -> dict:
        return {
            "name": name,
            "system": "other",
            "path": f"{name}/{{date:%Y%m%d}}.csv",
            "format": "csv",
            "start_date": DAY_1,
            "trust_rank": 1,
            "mapping": {"source_record_id": "id", **mapping},
            "gates": gates or {},
        }

    return GovernanceConfig.model_validate(
        {
            "landing_root": "/tmp",
            "sources": [
                source("crm", {"email": "mail"}, crm_gates),
                source("erp_billing", {"email": "mail"}),
                source("web_signup", {"full_name": "name"}),  # no e-mail at all
            ],
        }
    )


def test_a_source_with_its_own_threshold_is_judged_by_it_alone(records_warehouse) -> None:
    check = "gx_email_is_valid__in_set"
    config = _sources_config({"intermediate.records": {check: {"mostly": 0.6}}})
    outcome = validate_table(
        records_warehouse, RECORDS_SUITE, partition=(DAY_2, DAY_2), config=config
    )
    email = {o.slice_name: o for o in _by_check(outcome)[check]}
    # 30% invalid: above the suite's 15%, within the 40% this source is allowed.
    assert email["source_name=crm"].success
    assert email["source_name=crm"].threshold["mostly"] == 0.6
    assert email["source_name=erp_billing"].threshold["mostly"] == 0.85
    assert outcome.critical_failures == []
    # Without the override the same day fails, so the override is what let it through.
    plain = validate_table(
        records_warehouse, RECORDS_SUITE, partition=(DAY_2, DAY_2), config=_sources_config()
    )
    assert [o.slice_name for o in plain.critical_failures] == ["source_name=crm"]


def test_a_field_a_source_does_not_map_is_reported_not_judged(tmp_path: Path) -> None:
    con = _warehouse(tmp_path)
    try:
        frame = _records([("crm", DAY_2, 190, 10), ("web_signup", DAY_2, 0, 0)])
        web = pd.DataFrame(
            {
                "record_key": [f"web_signup:{n}" for n in range(150)],
                "source_name": "web_signup",
                "latest_partition_date": date.fromisoformat(DAY_2),
                "email_normalised": None,
                "email_is_valid": None,
                "email_invalid_reason": None,
            }
        )
        con.register("frame", pd.concat([frame, web]))
        con.execute("create table intermediate.records as select * from frame")
        outcome = validate_table(
            con, RECORDS_SUITE, partition=(DAY_2, DAY_2), config=_sources_config()
        )
    finally:
        con.close()
    assert {o.slice_name for o in _by_check(outcome)["gx_email_is_valid__in_set"]} == {
        "source_name=crm"
    }
    assert (
        "gx_email_is_valid__in_set",
        "source_name=web_signup",
        "web_signup does not map email (governance.yaml): nothing to judge",
    ) in [(n.check_name, n.slice_name, n.reason) for n in outcome.not_judged]
    assert outcome.critical_failures == []
