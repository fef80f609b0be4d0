"""The monthly retention job's purge, on a DuckDB file: which rows go (older than the cutoff, by
partition date), which stay (the cutoff day itself, newer rows, layers whose action is archive),
what the log says, and that a second run of the same month changes nothing."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb

from dagster_project.config import RetentionPolicy
from dagster_project.lib.ingest.loader import QUARANTINE_DDL
from dagster_project.lib.privacy.retention import apply_retention

AS_OF = date(2026, 11, 30)
POLICIES = [
    RetentionPolicy(name="quarantine_rows", applies_to="quarantine", keep_days=90, action="purge"),
    RetentionPolicy(name="raw_extracts", applies_to="raw", keep_days=730, action="archive"),
]
CUTOFF = AS_OF - timedelta(days=90)  # 2026-09-01


def _warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("create schema quarantine; create schema raw; create schema privacy")
    con.execute(QUARANTINE_DDL)
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
                "('crm', ?, 'crm/x.csv', null, ?, null, ?, 'run', now())",
                [day, line, f"{label}: bad date"],
            )
    con.execute(
        "create table raw.crm__customers as select * from (values "
        "('A1', date '2023-01-05'), ('A2', date '2026-11-02')) t(customer_id, _partition_date)"
    )
    return con


def _reasons(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {row[0] for row in con.execute("select reason from quarantine.rejected_rows").fetchall()}


def test_purge_removes_rows_older_than_the_cutoff_and_logs_how_many(tmp_path: Path) -> None:
    con = _warehouse(tmp_path / "w.duckdb")
    outcomes = {o.policy: o for o in apply_retention(con, POLICIES, AS_OF, run_id="m1")}

    purge = outcomes["quarantine_rows"]
    assert purge.cutoff == CUTOFF
    assert purge.rows == 6  # "old" and "day_before_cutoff", three rows each
    assert purge.outcome == "purged"
    # Rows on the cutoff day itself are kept: older than 90 days means before it.
    assert _reasons(con) == {"cutoff: bad date", "recent: bad date"}
    # Archive is reported, never deleted (archiving arrives with the retention issue).
    archive = outcomes["raw_extracts"]
    assert archive.rows == 1
    assert archive.outcome.startswith("reported")
    assert con.execute("select count(*) from raw.crm__customers").fetchone()[0] == 2

    logged = con.execute(
        "select policy_name, cutoff_date, rows_affected, outcome, run_id "
        "from privacy.retention_log order by policy_name"
    ).fetchall()
    assert logged[0] == ("quarantine_rows", CUTOFF, 6, "purged", "m1")
    assert logged[1][:3] == ("raw_extracts", AS_OF - timedelta(days=730), 1)


def test_running_the_same_month_again_changes_nothing(tmp_path: Path) -> None:
    con = _warehouse(tmp_path / "w.duckdb")
    apply_retention(con, POLICIES, AS_OF, run_id="m1")
    kept = _reasons(con)
    again = {o.policy: o for o in apply_retention(con, POLICIES, AS_OF, run_id="m1-rerun")}
    assert again["quarantine_rows"].rows == 0
    assert _reasons(con) == kept
    assert con.execute(
        "select rows_affected from privacy.retention_log where run_id = 'm1-rerun' "
        "and policy_name = 'quarantine_rows'"
    ).fetchone() == (0,)


def test_a_layer_without_tables_yet_is_logged_not_failed(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    con.execute("create schema privacy")
    (outcome,) = apply_retention(con, POLICIES[:1], AS_OF, run_id="m1")
    assert outcome.rows == 0
    assert outcome.outcome == "no tables for layer 'quarantine' yet"
