"""Retention policies from governance.yaml applied to the warehouse (R31).

The skeleton purges what is safe to purge outright (quarantined rows past their keep period) and
reports archive candidates; archiving, legal holds and erasure requests arrive with the
retention issue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb

from dagster_project.config import RetentionPolicy
from dagster_project.lib.warehouse import table_exists

RETENTION_LOG_DDL = """
create table if not exists privacy.retention_log (
    policy_name varchar not null,
    applies_to varchar not null,
    action varchar not null,
    cutoff_date date not null,
    rows_affected bigint not null,
    outcome varchar not null,
    run_id varchar,
    applied_at timestamp not null
)
"""

# layer -> (table, date column) the layer's age is measured on
LAYERS = {
    "quarantine": [("quarantine.rejected_rows", "partition_date")],
}


@dataclass
class PolicyOutcome:
    policy: str
    action: str
    cutoff: date
    rows: int
    outcome: str


def _tables_for(con: duckdb.DuckDBPyConnection, layer: str) -> list[tuple[str, str]]:
    if layer == "raw":
        rows = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema = 'raw' order by 1"
        ).fetchall()
        return [(row[0], "_partition_date") for row in rows]
    return LAYERS.get(layer, [])


def apply_retention(
    con: duckdb.DuckDBPyConnection, policies: list[RetentionPolicy], as_of: date, run_id: str
) -> list[PolicyOutcome]:
    con.execute(RETENTION_LOG_DDL)
    outcomes = []
    for policy in policies:
        cutoff = as_of - timedelta(days=policy.keep_days)
        tables = [
            (table, column)
            for table, column in _tables_for(con, policy.applies_to)
            if table_exists(con, table)
        ]
        rows = sum(
            con.execute(f"select count(*) from {table} where {column} < ?", [cutoff]).fetchone()[0]
            for table, column in tables
        )
        if policy.action == "purge":
            con.execute("begin transaction")
            for table, column in tables:
                con.execute(f"delete from {table} where {column} < ?", [cutoff])
            con.execute("commit")
            outcome = "purged"
        else:
            outcome = "reported: archiving is not implemented yet, rows kept"
        if not tables:
            outcome = f"no tables for layer {policy.applies_to!r} yet"
        con.execute(
            "insert into privacy.retention_log values (?, ?, ?, ?, ?, ?, ?, now()::timestamp)",
            [policy.name, policy.applies_to, policy.action, cutoff, rows, outcome, run_id],
        )
        outcomes.append(PolicyOutcome(policy.name, policy.action, cutoff, rows, outcome))
    return outcomes
