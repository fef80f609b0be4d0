"""The erasure registry fails closed, and the suppression list hashes and matches identifiers
(lib/privacy/erasure_registry.py, lib/privacy/suppression.py), on real DuckDB files."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from dagster_project.config import MaskingConfig, load_config
from dagster_project.lib.privacy.erasure import ErasureTarget, row_condition, stage_keys
from dagster_project.lib.privacy.erasure_registry import UnregisteredTableError, tables_to_erase
from dagster_project.lib.privacy.masking import configure_masking
from dagster_project.lib.privacy.suppression import (
    add_suppressions,
    mark_suppressed_rows,
    standardise_for_suppression,
    suppression_hash,
)
from dagster_project.settings import PROJECT_ROOT
from tests.support.database import open_database

KEY_VARIABLE = "CUSTODIAN_MASKING_SALT"


@pytest.fixture
def config():
    return load_config(PROJECT_ROOT / "governance.yaml")


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(KEY_VARIABLE, "test-key-one")
    configure_masking(MaskingConfig())


def _warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    con = open_database(path)
    con.execute("create schema if not exists ops")
    con.execute("create table main.golden_customers (golden_customer_id varchar, email varchar)")
    con.execute("create table ops.load_log (source_name varchar, status varchar)")
    return con


def test_known_tables_pass_and_views_are_skipped(tmp_path: Path, config) -> None:
    with _warehouse(tmp_path / "w.duckdb") as con:
        con.execute("create view ops.a_view as select 'x' as text_value")
        con.execute("create table ops.numbers_only (n bigint)")
        found = tables_to_erase(con, config)
    assert set(found) == {"main.golden_customers", "ops.load_log"}
    assert found["main.golden_customers"][0].treatment == "delete"
    assert found["ops.load_log"][0].treatment == "no_personal_data"


def test_unknown_table_with_text_refuses_naming_it(tmp_path: Path, config) -> None:
    with _warehouse(tmp_path / "w.duckdb") as con:
        con.execute("create schema monitoring")
        con.execute("create table monitoring.watch_list (note varchar, points int)")
        with pytest.raises(UnregisteredTableError, match=r"monitoring\.watch_list"):
            tables_to_erase(con, config)


def test_raw_table_of_a_removed_source_is_matched_on_its_rows_text(tmp_path: Path, config) -> None:
    # No mapping names its record ID any more: neither refused (that would block every erasure
    # and retention run after a source is removed) nor skipped, but searched row by row.
    with _warehouse(tmp_path / "w.duckdb") as con:
        con.execute("create schema raw")
        con.execute(
            "create table raw.old_shop__customers as select * from (values "
            "('S-10017', 'anna@example.de'), ('S-10018', 'bernd@example.de')) t(shop_id, mail)"
        )
        tables = tables_to_erase(con, config)
        rule, columns = tables["raw.old_shop__customers"]
        stage_keys(con, ErasureTarget([], ["old_shop:S-10017"]))
        condition = row_condition("raw.old_shop__customers", rule, columns)
        con.execute(f"delete from raw.old_shop__customers where {condition}")
        assert con.execute("select shop_id from raw.old_shop__customers").fetchall() == [
            ("S-10018",)
        ]


def test_suppression_hash_same_value_same_hash(keyed) -> None:
    assert suppression_hash("+8613800138000") == suppression_hash("+8613800138000")
    assert suppression_hash("+8613800138000") != suppression_hash("+8613800138001")
    assert "13800138000" not in suppression_hash("+8613800138000")


def test_suppression_hash_depends_on_the_key(keyed, monkeypatch: pytest.MonkeyPatch) -> None:
    first = suppression_hash("li.lei@example.cn")
    monkeypatch.setenv(KEY_VARIABLE, "test-key-two")
    assert suppression_hash("li.lei@example.cn") != first


def test_identifiers_are_standardised_before_hashing() -> None:
    assert standardise_for_suppression("phone", "138 0013 8000", "CN") == "+8613800138000"
    assert standardise_for_suppression("phone", "+86 138-0013-8000", "CN") == "+8613800138000"
    assert standardise_for_suppression("email", "  Li.Lei@Example.CN ", None) == (
        standardise_for_suppression("email", "li.lei@example.cn", None)
    )


def test_staged_rows_of_erased_people_are_marked(tmp_path: Path, config, keyed) -> None:
    crm = next(source for source in config.sources if source.name == "crm")
    id_column, phone_column = crm.mapping["source_record_id"], crm.mapping["mobile_phone"]
    with open_database(tmp_path / "w.duckdb") as con:
        con.execute("create schema privacy")
        assert mark_suppressed_rows(con, crm) == 0  # nobody erased yet: nothing read
        # The other mapped identifier columns are there, empty, as in a real delivery.
        others = [
            crm.mapping[field]
            for field in ("landline_phone", "email", "national_id")
            if isinstance(crm.mapping.get(field), str)
        ]
        columns = ", ".join(f'"{column}"' for column in [id_column, phone_column, *others])
        nulls = ", null" * len(others)
        con.execute(
            f"create temp table _staged as select * from (values "
            f"(1, 'C1', '138 0013 8000'{nulls}), (2, 'C2', '139 0000 0000'{nulls}), "
            f"(3, 'C3', null{nulls})) as t(_row_number, {columns})"
        )
        add_suppressions(
            con, [("phone", "+8613800138000"), ("record_key", "crm:C3")], "ER1", datetime.now()
        )
        assert mark_suppressed_rows(con, crm) == 2
        marked = con.execute("select _row_number from _suppressed_rows order by 1").fetchall()
    assert marked == [(1,), (3,)]
