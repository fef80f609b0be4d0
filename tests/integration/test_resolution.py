"""Splink resolution over a small hand-made set of canonical records, with the shipped model."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from dagster_project.config import load_config
from dagster_project.lib.resolve.splink_model import MATCH_COLUMNS, resolve_customers
from dagster_project.settings import PROJECT_ROOT

# (record_key, name tokens, dob, national id, mobile, email, city): records 1-3 are one person
# written three ways; 4 shares her household's city but nothing personal; 5 is a stranger.
RECORDS = [
    ("crm:1", ["ZHANG", "SAN"], "1990-05-03", "11010119900503123X", "+8613800138000",
     "zhangsan@qq.com", "BEIJING"),
    ("erp_billing:9", ["ZHANG", "SAN"], "1990-05-03", "11010119900503123X", "+8613800138000",
     None, "BEIJING"),
    ("web_signup:w1", ["SAN", "ZHANG"], "1990-05-03", None, "+8613800138000",
     "zhangsan@qq.com", "BEIJING"),
    ("crm:2", ["LI", "SI"], "1985-01-02", "110101198501021234", "+8613911112222",
     "lisi@163.com", "BEIJING"),
    ("crm:3", ["JOHN", "SMITH"], "1970-07-07", None, "+14155550134",
     "john@example.com", "SAN FRANCISCO"),
]  # fmt: skip


@pytest.fixture
def warehouse(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("create schema intermediate; create schema er")
    con.execute(
        """
        create table intermediate.int_customer_records (
            record_key varchar, source_name varchar, source_record_id varchar,
            name_tokens varchar[], name_sorted_key varchar, name_joined_key varchar,
            date_of_birth date, national_id varchar, mobile_phone_e164 varchar,
            landline_phone_e164 varchar, email_normalised varchar, city_key varchar,
            postal_code varchar)
        """
    )
    for key, tokens, dob, national_id, mobile, email, city in RECORDS:
        source, record_id = key.split(":")
        con.execute(
            "insert into intermediate.int_customer_records values "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, null, ?, ?, null)",
            [key, source, record_id, tokens, " ".join(sorted(tokens)), "".join(tokens),
             dob, national_id, mobile, email, city],
        )  # fmt: skip
    yield con
    con.close()


def _clusters(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(
        con.execute("select record_key, golden_customer_id from er.record_clusters").fetchall()
    )


def test_links_one_person_across_systems_and_keeps_others_apart(warehouse) -> None:
    matching = load_config(PROJECT_ROOT / "governance.yaml").matching
    model = PROJECT_ROOT / matching.model_path
    assert set(MATCH_COLUMNS) <= {
        row[0] for row in warehouse.execute("describe intermediate.int_customer_records").fetchall()
    }
    result = resolve_customers(
        warehouse, model, matching.review_threshold, matching.auto_link_threshold
    )
    assert not result.model_trained, "the shipped model is used, not retrained"
    clusters = _clusters(warehouse)
    assert clusters["crm:1"] == clusters["erp_billing:9"] == clusters["web_signup:w1"]
    assert len({clusters["crm:1"], clusters["crm:2"], clusters["crm:3"]}) == 3
    assert result.clusters == 3

    # Identical input, identical IDs.
    resolve_customers(warehouse, model, matching.review_threshold, matching.auto_link_threshold)
    assert _clusters(warehouse) == clusters
