"""The monthly retention job on a warehouse the demo pipeline built (R31): inactive customers
move to the encrypted archive database and out of every warehouse table, a legal hold keeps its
customer where it is, running the month again changes nothing, destruction empties the archive
of what is past its time except what a hold covers, and the archive's bytes hold no value in
clear. The config's inactivity period is shortened so that the demo has inactive customers."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest
import yaml

from dagster_project.config import load_config
from dagster_project.lib.privacy import archive
from dagster_project.lib.privacy.erasure_registry import REGISTRY
from dagster_project.lib.privacy.retention import apply_retention
from dagster_project.lib.warehouse import load_extensions
from tests.e2e.support import custodian, demo_environment
from tests.support.database import open_database

pytestmark = pytest.mark.e2e

START = date(2026, 11, 1)
MONTH_END = date(2026, 11, 30)
INACTIVE_DAYS = 700
KEY = "test-archive-key-not-a-secret"


@pytest.fixture(scope="module")
def retained(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("retention")
    _, env = demo_environment(root, customers=200, days=2, start=START, seed=5)
    config_path = root / "governance.yaml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    for policy in config["retention"]["policies"]:
        if policy["applies_to"] == "inactive_customers":
            policy["keep_days"] = INACTIVE_DAYS
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    env = {**env, "CUSTODIAN_USER": "admin", "CUSTODIAN_ENCRYPTION_KEY": KEY}
    run = custodian(env, "run", "--through", "2026-11-02")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    warehouse = root / "warehouse" / "custodian.duckdb"
    with open_database(warehouse, read_only=True) as con:
        inactive = _inactive(con)
    assert len(inactive) >= 3, "the demo should have customers inactive for 700 days"
    held_id, held_record = inactive[0], _records(warehouse, inactive[0])[0]
    placed = custodian(
        env, "hold", "place", "--golden-id", held_id, "--reason", "litigation 2026-17",
        "--by", "legal",
    )  # fmt: skip
    assert placed.returncode == 0, placed.stdout + placed.stderr
    values = _values(warehouse, inactive[1])
    purge = custodian(env, "purge", "--month", "2026-11")
    return root, env, warehouse, inactive, held_id, held_record, values, purge


def _inactive(con) -> list[str]:
    return [
        row[0]
        for row in con.execute(
            f"""
            select xref.golden_customer_id
            from main.customer_source_xref as xref
            join intermediate.int_customer_records as records using (record_key)
            group by 1
            having {archive.ACTIVITY_SQL} < date '{MONTH_END}' - {INACTIVE_DAYS}
            order by 1
            """
        ).fetchall()
    ]


def _records(warehouse: Path, golden_id: str) -> list[str]:
    with open_database(warehouse, read_only=True) as con:
        return [
            row[0]
            for row in con.execute(
                "select record_key from main.customer_source_xref where golden_customer_id = ? "
                "order by 1",
                [golden_id],
            ).fetchall()
        ]


def _values(warehouse: Path, golden_id: str) -> set[str]:
    with open_database(warehouse, read_only=True) as con:
        rows = con.execute(
            "select full_name, mobile_phone_e164, email_normalised from "
            "intermediate.int_customer_records where record_key in (select record_key from "
            "main.customer_source_xref where golden_customer_id = ?)",
            [golden_id],
        ).fetchall()
    return {value for row in rows for value in row if value and len(value) >= 6}


def _rows_of(con, golden_ids: list[str], record_keys: list[str], catalog: str = "") -> int:
    """Rows of the customers in any table with a golden_customer_id or record_key column, but
    the ID ledger's (which keeps IDs, never values, on purpose) and the retention keys."""
    prefix = f"{catalog}." if catalog else ""
    catalog_sql = f"'{catalog}'" if catalog else "current_database()"
    tables = con.execute(
        f"""
        select table_schema, table_name, list(column_name)
        from information_schema.columns
        join information_schema.tables using (table_catalog, table_schema, table_name)
        where table_type = 'BASE TABLE' and table_catalog = {catalog_sql}
          and column_name in ('golden_customer_id', 'record_key')
          and table_schema <> 'privacy'
        group by all
        """
    ).fetchall()
    found = 0
    for schema, table, columns in tables:
        rule = REGISTRY.get(f"{schema}.{table}")
        if rule is not None and rule.treatment == "keep_ids":
            continue
        for column in columns:
            keys = golden_ids if column == "golden_customer_id" else record_keys
            found += con.execute(
                f'select count(*) from {prefix}"{schema}"."{table}" '
                f"where {column} in (select unnest(?::varchar[]))",
                [keys],
            ).fetchone()[0]
    return found


def _archive(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    load_extensions(con, ("httpfs",))
    con.execute(f"attach '{path}' as archive (encryption_key '{KEY}', read_only)")
    return con


def test_inactive_customers_leave_the_warehouse_for_the_encrypted_archive(retained) -> None:
    root, _, warehouse, inactive, held_id, _, values, purge = retained
    assert purge.returncode == 0, purge.stdout[-3000:] + purge.stderr[-3000:]
    moved = [golden_id for golden_id in inactive if golden_id != held_id]
    with open_database(warehouse, read_only=True) as con:
        record_keys = [
            row[0]
            for row in con.execute(
                "select record_key from privacy.archived_records "
                "where golden_customer_id in (select unnest(?::varchar[]))",
                [moved],
            ).fetchall()
        ]
        assert record_keys, "the archived customers' record keys stay, pseudonymous"
        assert _rows_of(con, moved, record_keys) == 0
        kept = {
            row[0]
            for row in con.execute(
                "select golden_customer_id from privacy.archived_customers"
            ).fetchall()
        }
        assert kept == set(moved)
    path = root / "warehouse" / "archive.duckdb"
    with _archive(path) as con:
        assert _rows_of(con, moved, record_keys, catalog="archive") > 0
        (golden,) = con.execute(
            "select count(*) from archive.main.golden_customers "
            "where golden_customer_id in (select unnest(?::varchar[]))",
            [moved],
        ).fetchone()
        assert golden == len(moved)
    content = path.read_bytes()
    assert values
    assert not any(value.encode() in content for value in values)


def test_a_held_customer_stays_and_the_log_says_so(retained) -> None:
    _, _, warehouse, _, held_id, held_record, _, _ = retained
    with open_database(warehouse, read_only=True) as con:
        assert (
            con.execute(
                "select count(*) from main.golden_customers where golden_customer_id = ?", [held_id]
            ).fetchone()[0]
            == 1
        )
        assert (
            con.execute(
                "select count(*) from intermediate.int_customer_records where record_key = ?",
                [held_record],
            ).fetchone()[0]
            == 1
        )
        logged = con.execute(
            "select table_name, rows_affected, rows_held from privacy.retention_log "
            "where policy_name = 'inactive_customers'"
        ).fetchall()
    assert any(table == "main.golden_customers" for table, _, _ in logged)
    assert all(held == 1 for _, _, held in logged)


def test_running_the_month_again_changes_nothing(retained) -> None:
    root, env, warehouse, *_ = retained
    path = root / "warehouse" / "archive.duckdb"
    with _archive(path) as con:
        before = _archive_counts(con)
    again = custodian(env, "purge", "--month", "2026-11")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    with open_database(warehouse, read_only=True) as con:
        second = con.execute(
            "select policy_name, sum(rows_affected) from privacy.retention_log "
            "where run_id = (select max_by(run_id, applied_at) from privacy.retention_log) "
            "group by 1"
        ).fetchall()
    assert second
    assert all(rows == 0 for _, rows in second), second
    with _archive(path) as con:
        assert _archive_counts(con) == before


def _archive_counts(con) -> dict[str, int]:
    tables = con.execute(
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_catalog = 'archive' order by 1"
    ).fetchall()
    return {
        table: con.execute(f"select count(*) from archive.{table}").fetchone()[0]
        for (table,) in tables
    }


def test_the_daily_run_goes_on_after_the_archive_without_bringing_anyone_back(retained) -> None:
    _, env, warehouse, inactive, held_id, *_ = retained
    rerun = custodian(env, "run", "--date", "2026-11-02")
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    with open_database(warehouse, read_only=True) as con:
        golden = {
            row[0]
            for row in con.execute(
                "select golden_customer_id from main.golden_customers"
            ).fetchall()
        }
        statuses = dict(
            con.execute(
                "select golden_customer_id, status from er.golden_ids "
                "where golden_customer_id in (select unnest(?::varchar[]))",
                [inactive],
            ).fetchall()
        )
    assert held_id in golden
    assert not (set(inactive) - {held_id}) & golden
    # The ledger retires the archived customers' IDs: never issued to anyone else.
    assert {statuses[g] for g in inactive if g != held_id} == {"retired"}


def test_a_held_customer_cannot_be_erased_and_an_archived_one_is_erased_from_the_archive(
    retained,
) -> None:
    root, env, warehouse, inactive, held_id, _, _, _ = retained
    refused = custodian(env, "erase", "--golden-id", held_id, "--reason", "request", "--by", "dpo")
    assert refused.returncode == 2
    assert "legal hold" in refused.stdout + refused.stderr
    archived_id = inactive[2]
    erased = custodian(
        env, "erase", "--golden-id", archived_id, "--reason", "request", "--by", "dpo"
    )
    assert erased.returncode == 0, erased.stdout[-3000:] + erased.stderr[-3000:]
    assert "archive.main.golden_customers" in erased.stdout
    with open_database(warehouse, read_only=True) as con:
        for keys in ("privacy.archived_customers", "privacy.archived_records"):
            assert (
                con.execute(
                    f"select count(*) from {keys} where golden_customer_id = ?", [archived_id]
                ).fetchone()[0]
                == 0
            )
    with _archive(root / "warehouse" / "archive.duckdb") as con:
        assert _rows_of(con, [archived_id], [], catalog="archive") == 0
        assert _rows_of(con, [inactive[1]], [], catalog="archive") > 0


def test_destruction_spares_what_a_hold_covers_and_a_wrong_key_is_refused(
    retained, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _, warehouse, inactive, held_id, _, _, _ = retained
    config = load_config(root / "governance.yaml")
    # Years later everything archived in November is past its five years, except a customer
    # one of whose records is put under a hold now.
    survivor = next(golden_id for golden_id in inactive if golden_id != held_id)
    with open_database(warehouse) as con:
        (record,) = con.execute(
            "select min(record_key) from privacy.archived_records where golden_customer_id = ?",
            [survivor],
        ).fetchone()
        con.execute(
            "insert into privacy.legal_holds values ('LHTEST', null, ?, 'audit', 'legal', "
            "now()::timestamp, null, null, null)",
            [record],
        )
        monkeypatch.setenv("CUSTODIAN_ENCRYPTION_KEY", "not-the-key")
        with pytest.raises(archive.ArchiveKeyError, match="CUSTODIAN_ENCRYPTION_KEY"):
            apply_retention(con, config, date(2032, 1, 31), "late", warehouse=warehouse)
        monkeypatch.setenv("CUSTODIAN_ENCRYPTION_KEY", KEY)
        outcomes = {
            o.policy: o
            for o in apply_retention(con, config, date(2032, 1, 31), "late", warehouse=warehouse)
        }
    assert outcomes["archived_customers"].rows > 0
    with _archive(root / "warehouse" / "archive.duckdb") as con:
        left = {
            row[0]
            for row in con.execute(
                "select distinct golden_customer_id from archive.main.golden_customers"
            ).fetchall()
        }
    archived_in_november = {g for g in inactive if g not in (held_id, inactive[2])}
    assert left & archived_in_november == {survivor}
