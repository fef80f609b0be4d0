"""Survivorship, steward corrections and field lineage: the real dbt models over a warehouse
holding a few resolved records (the upstream tables are built from the data dictionary's types).
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import yaml

from dagster_project import settings
from dagster_project.config import load_config
from dagster_project.lib.publish import publish
from dagster_project.lib.resolve.ledger import assign_golden_ids
from dagster_project.lib.resolve.review import ensure_review_tables, record_correction
from dagster_project.lib.transform.dbt_project import (
    dbt_environment,
    dbt_executable,
    dbt_project_for,
)
from dagster_project.lib.transform.dbt_vars import dbt_vars_arg

MODELS = settings.dbt_project_dir() / "models"

# One customer in three systems. CRM (trust 2) has the address with all its parts; ERP (trust 1,
# most trusted) has a newer address line without a district; the web record's e-mail is the
# only valid one.
RECORDS = [
    {"record_key": "crm:1", "source_name": "crm", "source_record_id": "1", "trust_rank": 2,
     "full_name": "张三丰", "email_normalised": "bad@@example", "email_is_valid": False,
     "address_line": "长安街1号", "district": "东城区", "city": "北京市", "province": "北京市",
     "postal_code": "100010", "updated_at": "2026-10-01 10:00:00"},
    {"record_key": "erp_billing:9", "source_name": "erp_billing", "source_record_id": "9",
     "trust_rank": 1, "full_name": "张三", "email_normalised": None, "email_is_valid": None,
     "address_line": "人民路8号", "district": None, "city": "上海市", "province": "上海市",
     "postal_code": "200001", "updated_at": "2026-09-01 10:00:00"},
    {"record_key": "web_signup:w1", "source_name": "web_signup", "source_record_id": "w1",
     "trust_rank": 3, "full_name": "San Zhang", "email_normalised": "zhangsan@example.com",
     "email_is_valid": True, "address_line": None, "district": None, "city": "杭州",
     "province": None, "postal_code": None, "updated_at": "2026-11-01 10:00:00"},
]  # fmt: skip


def _create_from_dictionary(con: duckdb.DuckDBPyConnection, yml: Path, model: str, table: str):
    models = yaml.safe_load(yml.read_text(encoding="utf-8"))["models"]
    (spec,) = [entry for entry in models if entry["name"] == model]
    columns = ", ".join(f'"{c["name"]}" {c["data_type"]}' for c in spec["columns"])
    con.execute(f"create table {table} ({columns})")


def _insert(con: duckdb.DuckDBPyConnection, table: str, row: dict) -> None:
    names = ", ".join(row)
    marks = ", ".join("?" * len(row))
    con.execute(f"insert into {table} ({names}) values ({marks})", list(row.values()))


def _dbt_run(warehouse: Path, tmp_path: Path) -> None:
    """Build the golden marts as the daily job does: candidates, then published."""
    config = load_config(settings.PROJECT_ROOT / "governance.yaml")
    project_dir = dbt_project_for(config, warehouse, settings.dbt_project_dir())
    completed = subprocess.run(
        [
            dbt_executable(), "run", "--select",
            "int_steward_corrections__latest golden_customers golden_field_lineage",
            "--profiles-dir", str(project_dir), "--project-dir", str(project_dir),
            "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
            *dbt_vars_arg(config),
        ],
        cwd=project_dir, env={**os.environ, **dbt_environment(warehouse)},
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-4000:]
    with duckdb.connect(str(warehouse)) as con:
        publish(con, ["golden_customers", "golden_field_lineage"], run_id="t", partition_key=None)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema intermediate; create schema er; create schema candidate")
        con.execute("create schema ops")
        _create_from_dictionary(
            con,
            MODELS / "intermediate" / "_intermediate__models.yml",
            "int_customer_records",
            "intermediate.int_customer_records",
        )
        _create_from_dictionary(
            con, MODELS / "marts" / "_marts__models.yml", "customer_source_xref",
            "candidate.customer_source_xref",
        )  # fmt: skip
        for record in RECORDS:
            _insert(con, "intermediate.int_customer_records",
                    {**record, "latest_partition_date": "2026-11-01",
                     "first_seen_date": "2026-06-01", "last_seen_date": "2026-11-01"})  # fmt: skip
        clusters = pa.table({"record_key": [r["record_key"] for r in RECORDS],
                             "cluster_id": ["crm:1"] * len(RECORDS)})  # fmt: skip
        ledger = assign_golden_ids(con, clusters, run_id="run-1", recorded_at=datetime.now(UTC))
        for row in ledger.assignments.to_pylist():
            record_key, golden_id = row["record_key"], row["golden_customer_id"]
            _insert(con, "candidate.customer_source_xref",
                    {"record_key": record_key, "golden_customer_id": golden_id,
                     "source_name": record_key.split(":")[0],
                     "source_record_id": record_key.split(":")[1]})  # fmt: skip
        ensure_review_tables(con)
    return path


def _golden(path: Path) -> dict:
    with duckdb.connect(str(path), read_only=True) as con:
        cursor = con.execute("select * from main.golden_customers")
        names = [column[0] for column in cursor.description]
        (row,) = cursor.fetchall()
        lineage = con.execute(
            "select field, record_key, rule, corrected_by from main.golden_field_lineage"
        ).fetchall()
    return dict(zip(names, row, strict=True)) | {
        "_lineage": {field: (key, rule, by) for field, key, rule, by in lineage}
    }


def test_rules_address_as_a_unit_and_a_correction_that_wins(warehouse: Path, tmp_path: Path):
    _dbt_run(warehouse, tmp_path)
    golden = _golden(warehouse)
    lineage = golden["_lineage"]
    # trust_rank: the ERP (rank 1) name.
    assert golden["full_name"] == "张三"
    assert lineage["full_name"] == ("erp_billing:9", "trust_rank", None)
    # valid_first: the web e-mail, the only valid one, beats the CRM's higher trust.
    assert golden["email"] == "zhangsan@example.com"
    assert lineage["email"] == ("web_signup:w1", "valid_first", None)
    # most_recent address line (CRM, updated 2026-10-01); its parts come with it, including
    # the district the ERP record lacks and not the ERP's more trusted city.
    assert golden["address_line"] == "长安街1号"
    assert (golden["district"], golden["city"], golden["postal_code"]) == (
        "东城区", "北京市", "100010")  # fmt: skip
    assert lineage["city"] == ("crm:1", "with_address_line", None)
    assert golden["source_count"] == 3
    # First seen in June, updated in November: past "new", still active.
    assert golden["lifecycle_stage"] == "active"
    assert golden["first_seen_date"].isoformat() == "2026-06-01"

    with duckdb.connect(str(warehouse)) as con:
        record_correction(
            con, golden_customer_id=golden["golden_customer_id"], field="email",
            value=" ZhangSan@Example.ORG ", corrected_by="steward.li", note="confirmed by phone",
            corrected_at=datetime(2026, 11, 2, 9, 0),
        )  # fmt: skip
    _dbt_run(warehouse, tmp_path)
    corrected = _golden(warehouse)
    assert corrected["email"] == "zhangsan@example.org"
    assert corrected["_lineage"]["email"] == (None, "steward_correction", "steward.li")
    assert corrected["full_name"] == "张三", "other fields keep their rules"
