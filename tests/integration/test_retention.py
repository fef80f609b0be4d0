"""The monthly retention job's purges, on a DuckDB file: which rows go (older than the cutoff,
by partition date; raw rows only of days the history step applied), which stay (the cutoff day
itself, newer rows, rows a legal hold covers), what the log says, and that a second run of the
same month changes nothing. Archiving customers is tested on a real pipeline's warehouse
(tests/e2e/test_retention.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from dagster_project.config import GovernanceConfig, RetentionPolicy, load_config
from dagster_project.lib.history.schema import ensure_history_tables
from dagster_project.lib.ingest.loader import QUARANTINE_DDL
from dagster_project.lib.privacy.archive import ArchiveKeyError
from dagster_project.lib.privacy.legal_holds import HOLDS_DDL, LegalHoldError, place_hold
from dagster_project.lib.privacy.retention import apply_retention
from dagster_project.lib.warehouse import attach
from dagster_project.settings import PROJECT_ROOT
from tests.support.database import open_database

AS_OF = date(2026, 11, 30)
POLICIES = [
    RetentionPolicy(name="quarantine_rows", applies_to="quarantine", keep_days=90, action="purge"),
    RetentionPolicy(name="raw_extracts", applies_to="raw", keep_days=730, action="purge"),
]
CUTOFF = AS_OF - timedelta(days=90)  # 2026-09-01
RAW_CUTOFF = AS_OF - timedelta(days=730)


def _config(policies: list[RetentionPolicy] = POLICIES) -> GovernanceConfig:
    config = load_config(PROJECT_ROOT / "governance.yaml")
    return config.model_copy(
        update={"retention": config.retention.model_copy(update={"policies": policies})}
    )


def _warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    con = open_database(path)
    for schema in ("quarantine", "raw", "privacy", "history"):
        con.execute(f"create schema {schema}")
    con.execute(QUARANTINE_DDL)
    ensure_history_tables(con)
    days = {
        "old": CUTOFF - timedelta(days=40),
        "day_before_cutoff": CUTOFF - timedelta(days=1),
        "cutoff": CUTOFF,
        "recent": AS_OF - timedelta(days=3),
    }
    for label, day in days.items():
        for line in range(3):
            con.execute(
                "insert into quarantine.rejected_rows values "
                "('crm', ?, 'crm/x.csv', null, ?, ?, ?, 'run', now())",
                [day, line, f"CRM{label.upper()}{line},bad date", f"{label}: bad date"],
            )
    con.execute(
        "create table raw.crm__customers as select * from (values "
        "('CRM001', date '2023-01-05', 'crm/a.csv', 1), "
        "('CRM002', date '2023-01-06', 'crm/b.csv', 1), "
        "('CRM003', date '2023-01-07', 'crm/c.csv', 1), "
        "('CRM004', date '2026-11-02', 'crm/d.csv', 1)"
        ") t(customer_no, _partition_date, _file_path, _row_number)"
    )
    # The history step applied the first two old days, not the third.
    for day in ("2023-01-05", "2023-01-06", "2026-11-02"):
        con.execute(
            "insert into history.applied_days values (?, 'r', now(), 'c', 'v', 0, 0, 0, 0, 0)",
            [day],
        )
    return con


def _reasons(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {row[0] for row in con.execute("select reason from quarantine.rejected_rows").fetchall()}


def _raw_ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute("select customer_no from raw.crm__customers order by 1").fetchall()
    return [row[0] for row in rows]


def _apply(con, run_id: str, tmp_path: Path, policies=POLICIES):
    outcomes = apply_retention(
        con, _config(policies), AS_OF, run_id, warehouse=tmp_path / "w.duckdb"
    )
    return {o.policy: o for o in outcomes}


def test_purge_removes_rows_older_than_the_cutoff_and_logs_how_many(tmp_path: Path) -> None:
    con = _warehouse(tmp_path / "w.duckdb")
    outcomes = _apply(con, "m1", tmp_path)

    purge = outcomes["quarantine_rows"]
    assert purge.cutoff == CUTOFF
    assert purge.rows == 6  # "old" and "day_before_cutoff", three rows each
    assert purge.outcome == "purged"
    # Rows on the cutoff day itself are kept: older than 90 days means before it.
    assert _reasons(con) == {"cutoff: bad date", "recent: bad date"}
    # Raw rows go once past their age and applied downstream: CRM003's day was never applied.
    raw = outcomes["raw_extracts"]
    assert (raw.rows, raw.cutoff) == (2, RAW_CUTOFF)
    assert _raw_ids(con) == ["CRM003", "CRM004"]

    logged = con.execute(
        "select policy_name, table_name, cutoff_date, rows_affected, outcome, run_id, as_of_date "
        "from privacy.retention_log order by policy_name"
    ).fetchall()
    assert logged == [
        ("quarantine_rows", "quarantine.rejected_rows", CUTOFF, 6, "purged", "m1", AS_OF),
        ("raw_extracts", "raw.crm__customers", RAW_CUTOFF, 2, "purged", "m1", AS_OF),
    ]


def test_a_legal_hold_on_a_source_record_survives_every_purge(tmp_path: Path) -> None:
    con = _warehouse(tmp_path / "w.duckdb")
    con.execute(
        "create table main.customer_source_xref as select 'G1' as golden_customer_id, "
        "'crm:CRM001' as record_key, 'crm' as source_name, 'CRM001' as source_record_id "
        "union all select 'G2', 'crm:CRMOLD1', 'crm', 'CRMOLD1'"
    )
    con.execute(HOLDS_DDL)
    with pytest.raises(LegalHoldError, match="not in the warehouse"):
        place_hold(con, golden_id=None, record_key="crm:NOPE", reason="x", placed_by="y",
                   at=datetime(2026, 11, 1))  # fmt: skip
    place_hold(con, golden_id="G1", record_key=None, reason="litigation", placed_by="legal",
               at=datetime(2026, 11, 1))  # fmt: skip
    # The quarantined line quoting a held record's ID stays with it.
    place_hold(con, golden_id=None, record_key="crm:CRMOLD1", reason="audit", placed_by="legal",
               at=datetime(2026, 11, 1))  # fmt: skip
    outcomes = _apply(con, "m1", tmp_path)

    assert _raw_ids(con) == ["CRM001", "CRM003", "CRM004"]
    assert outcomes["quarantine_rows"].held == 1
    assert outcomes["quarantine_rows"].rows == 5
    assert con.execute(
        "select raw_text from quarantine.rejected_rows where partition_date < ?", [CUTOFF]
    ).fetchall() == [("CRMOLD1,bad date",)]


def test_running_the_same_month_again_changes_nothing(tmp_path: Path) -> None:
    con = _warehouse(tmp_path / "w.duckdb")
    _apply(con, "m1", tmp_path)
    kept, raw = _reasons(con), _raw_ids(con)
    again = _apply(con, "m1-rerun", tmp_path)
    assert again["quarantine_rows"].rows == 0
    assert again["raw_extracts"].rows == 0
    assert (_reasons(con), _raw_ids(con)) == (kept, raw)
    assert con.execute(
        "select sum(rows_affected) from privacy.retention_log where run_id = 'm1-rerun'"
    ).fetchone() == (0,)


def test_a_layer_without_tables_yet_is_logged_not_failed(tmp_path: Path) -> None:
    con = open_database(tmp_path / "empty.duckdb")
    con.execute("create schema privacy")
    outcomes = _apply(con, "m1", tmp_path)
    assert outcomes["quarantine_rows"].rows == 0
    assert outcomes["quarantine_rows"].outcome == "no quarantine table yet"
    assert outcomes["raw_extracts"].outcome == "no day applied yet"


def test_holds_are_placed_listed_and_released_from_the_command_line(isolated_env: Path) -> None:
    from typer.testing import CliRunner

    from dagster_project import cli

    warehouse = isolated_env / "warehouse" / "custodian.duckdb"
    warehouse.parent.mkdir()
    with open_database(warehouse) as con:
        con.execute(
            "create table main.customer_source_xref as "
            "select 'G1' as golden_customer_id, 'crm:C1' as record_key"
        )
    runner = CliRunner()

    def custodian(*args: str):
        return runner.invoke(cli.app, ["hold", *args])

    refused = custodian("place", "--golden-id", "G1", "--reason", "x", "--by", "y", "--as",
                        "analyst")  # fmt: skip
    assert refused.exit_code == 3
    missing = custodian("place", "--golden-id", "G9", "--reason", "case 7", "--by", "legal")
    assert missing.exit_code == 2
    assert "not in the warehouse or the archive" in missing.output
    placed = custodian("place", "--golden-id", "G1", "--reason", "case 7", "--by", "legal")
    assert placed.exit_code == 0, placed.output
    hold_id = placed.output.split()[2]
    listed = custodian("list")
    assert hold_id in listed.output
    assert "case 7" in listed.output
    released = custodian("release", hold_id, "--reason", "case closed", "--by", "legal")
    assert released.exit_code == 0, released.output
    assert "no legal holds in force" in custodian("list").output
    again = custodian("release", hold_id, "--reason", "case closed", "--by", "legal")
    assert again.exit_code == 2
    assert "already released" in again.output


def test_the_shipped_policies_archive_old_raw_days_and_need_the_key_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    con = _warehouse(tmp_path / "w.duckdb")
    shipped = load_config(PROJECT_ROOT / "governance.yaml").retention.policies
    monkeypatch.delenv("CUSTODIAN_ENCRYPTION_KEY", raising=False)
    with pytest.raises(ArchiveKeyError, match=r"\$CUSTODIAN_ENCRYPTION_KEY is not set"):
        _apply(con, "m1", tmp_path, shipped)
    # Refused before any policy ran.
    assert con.execute("select count(*) from quarantine.rejected_rows").fetchone() == (12,)

    monkeypatch.setenv("CUSTODIAN_ENCRYPTION_KEY", "test-key")
    outcomes = _apply(con, "m1", tmp_path, shipped)
    assert outcomes["inactive_customers"].outcome == "none inactive"
    assert outcomes["archived_customers"].rows == 0
    assert outcomes["raw_extracts"].outcome == "archived"
    assert _raw_ids(con) == ["CRM003", "CRM004"]
    archived = duckdb.connect()
    attach(archived, tmp_path / "archive.duckdb", "archive", "test-key", read_only=True)
    assert archived.execute(
        "select customer_no, _archived_on from archive.raw.crm__customers order by 1"
    ).fetchall() == [("CRM001", AS_OF), ("CRM002", AS_OF)]
