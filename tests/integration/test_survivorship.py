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
from tests.support.database import open_database

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


def _dbt_run(warehouse: Path, tmp_path: Path, config_path: Path | None = None) -> None:
    """Build the golden marts as the daily job does: candidates, then published."""
    config = load_config(config_path or settings.PROJECT_ROOT / "governance.yaml")
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
    with open_database(warehouse) as con:
        publish(con, ["golden_customers", "golden_field_lineage"], run_id="t", partition_key=None)


def _build(path: Path, records: list[dict], cluster_of: dict[str, str]) -> None:
    """A warehouse holding `records` resolved into the clusters `cluster_of` names."""
    with open_database(path) as con:
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
        for record in records:
            _insert(con, "intermediate.int_customer_records",
                    {"latest_partition_date": "2026-11-01", "first_seen_date": "2026-06-01",
                     "last_seen_date": "2026-11-01", **record})  # fmt: skip
        keys = [record["record_key"] for record in records]
        clusters = pa.table({"record_key": keys, "cluster_id": [cluster_of[k] for k in keys]})
        ledger = assign_golden_ids(con, clusters, run_id="run-1", recorded_at=datetime.now(UTC))
        for row in ledger.assignments.to_pylist():
            record_key, golden_id = row["record_key"], row["golden_customer_id"]
            _insert(con, "candidate.customer_source_xref",
                    {"record_key": record_key, "golden_customer_id": golden_id,
                     "source_name": record_key.split(":")[0],
                     "source_record_id": record_key.split(":")[1]})  # fmt: skip
        ensure_review_tables(con)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    _build(path, RECORDS, {record["record_key"]: "crm:1" for record in RECORDS})
    return path


def _golden(path: Path) -> dict:
    with open_database(path, read_only=True) as con:
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

    with open_database(warehouse) as con:
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


def _config_with_rules(tmp_path: Path, **fields: str) -> Path:
    """The repository's governance.yaml with survivorship rules for `fields` changed."""
    config = yaml.safe_load((settings.PROJECT_ROOT / "governance.yaml").read_text("utf-8"))
    config["survivorship"]["fields"].update(fields)
    path = tmp_path / "governance.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def _golden_by_member(path: Path) -> dict[str, dict]:
    """Each golden customer's row, under every record key that belongs to it."""
    with open_database(path, read_only=True) as con:
        cursor = con.execute(
            "select x.record_key, g.* from main.golden_customers g "
            "join candidate.customer_source_xref x using (golden_customer_id)"
        )
        names = [column[0] for column in cursor.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def _record(key: str, trust: int, updated: str, **fields) -> dict:
    source, record_id = key.split(":")
    return {"record_key": key, "source_name": source, "source_record_id": record_id,
            "trust_rank": trust, "updated_at": updated, **fields}  # fmt: skip


def test_a_changed_rule_in_the_config_changes_the_golden_value(
    warehouse: Path, tmp_path: Path
) -> None:
    # Shipped: email valid_first (the web's valid address). By trust rank instead, the CRM's
    # (rank 2; the ERP, rank 1, has none) wins although it is invalid.
    _dbt_run(warehouse, tmp_path, _config_with_rules(tmp_path, email="trust_rank"))
    golden = _golden(warehouse)
    assert golden["email"] == "bad@@example"
    assert golden["_lineage"]["email"] == ("crm:1", "trust_rank", None)


def test_most_frequent_tie_breaks_and_lifecycle_stages(tmp_path: Path) -> None:
    records = [
        # most_frequent: the web's spelling twice beats the CRM's once, whatever the trust.
        _record("crm:a1", 2, "2026-10-01 10:00:00", full_name="李雷"),
        _record("web_signup:a2", 3, "2026-10-02 10:00:00", full_name="李蕾"),
        _record("web_signup:a3", 3, "2026-09-01 10:00:00", full_name="李蕾"),
        # most_frequent, once each: trust rank decides (the ERP, rank 1).
        _record("crm:f1", 2, "2026-10-01 10:00:00", full_name="王五"),
        _record("erp_billing:f2", 1, "2026-09-01 10:00:00", full_name="王伍"),
        # trust_rank (the birth date's default), equal trust: the newer record.
        _record("crm:b1", 2, "2026-05-01 10:00:00", date_of_birth="1980-01-01",
                first_seen_date="2026-01-01"),
        _record("crm:b2", 2, "2026-08-01 10:00:00", date_of_birth="1981-02-02",
                first_seen_date="2026-01-01"),
        # Equal trust and time: the smaller record key, on every run.
        _record("crm:c2", 2, "2026-01-01 10:00:00", date_of_birth="1975-05-05",
                first_seen_date="2025-01-01"),
        _record("crm:c1", 2, "2026-01-01 10:00:00", date_of_birth="1970-07-07",
                first_seen_date="2025-01-01"),
        # First seen 12 days before the as-of date (2026-11-01): new.
        _record("crm:d1", 2, "2026-10-20 10:00:00", first_seen_date="2026-10-20"),
        # Nothing for over a year: churned.
        _record("crm:e1", 2, "2025-06-01 10:00:00", first_seen_date="2024-01-01"),
    ]  # fmt: skip
    cluster_of = {r["record_key"]: r["record_key"].split(":")[1][0] for r in records}
    path = tmp_path / "w.duckdb"
    _build(path, records, cluster_of)
    _dbt_run(path, tmp_path, _config_with_rules(tmp_path, full_name="most_frequent"))
    golden = _golden_by_member(path)

    assert golden["crm:a1"]["full_name"] == "李蕾"
    assert golden["crm:f1"]["full_name"] == "王伍"
    assert golden["crm:b1"]["date_of_birth"].isoformat() == "1981-02-02"
    assert golden["crm:c2"]["date_of_birth"].isoformat() == "1970-07-07"
    stages = {
        key: golden[key]["lifecycle_stage"] for key in ("crm:a1", "crm:c1", "crm:d1", "crm:e1")
    }
    # a: active within 180 days; c: last seen 10 months ago, dormant (within 365 days).
    assert stages == {"crm:a1": "active", "crm:c1": "dormant", "crm:d1": "new", "crm:e1": "churned"}
