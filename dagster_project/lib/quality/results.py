"""`quality.gate_results`: every expectation's verdict, kept for audits and trends.

One row per expectation per slice per validation. The table grew columns after its first
release; `ensure_gate_results` adds them to an existing warehouse (DuckDB's `add column if not
exists`), so older rows keep NULL there and nothing is rewritten.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import duckdb

from dagster_project.lib.quality.outcomes import GateOutcome

GATE_RESULTS_DDL = """
create table if not exists quality.gate_results (
    asset_key varchar not null,
    partition_key varchar,
    suite_name varchar not null,
    expectation_type varchar not null,
    column_name varchar,
    severity varchar not null,
    success boolean not null,
    observed_value varchar,
    unexpected_percent double,
    element_count bigint,
    run_id varchar,
    validated_at timestamp not null
)
"""

# Added after the first release, in this order; older warehouses get them by migration.
ADDED_COLUMNS = (
    ("check_name", "varchar"),  # the Dagster check: the expectation's stable name
    ("slice_name", "varchar"),  # e.g. source_name=crm; 'whole table'
    ("threshold", "varchar"),  # JSON: mostly, min_value, max_value ... as validated
    ("failing_sample_masked", "varchar"),  # JSON: at most 5 failing rows, masked
    ("exception", "varchar"),  # why GE could not evaluate it (a missing column ...)
    ("data_docs_path", "varchar"),  # the Data Docs page of this validation
)


def ensure_gate_results(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists quality")
    con.execute(GATE_RESULTS_DDL)
    for column, kind in ADDED_COLUMNS:
        con.execute(f"alter table quality.gate_results add column if not exists {column} {kind}")


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)


def record_outcome(
    con: duckdb.DuckDBPyConnection,
    outcome: GateOutcome,
    run_id: str,
    partition_key: str | None = None,
) -> int:
    """Insert one row per expectation outcome; returns the number of rows written.

    `partition_key` is the run's partition when the gate itself is not partition-filtered (the
    golden table's gate in the run for 2026-11-02), so an audit can tie results to daily runs.
    """
    ensure_gate_results(con)
    now = datetime.now(UTC).replace(tzinfo=None)
    columns = [
        "asset_key",
        "partition_key",
        "suite_name",
        "expectation_type",
        "column_name",
        "severity",
        "success",
        "observed_value",
        "unexpected_percent",
        "element_count",
        "run_id",
        "validated_at",
        *(name for name, _ in ADDED_COLUMNS),
    ]
    rows = [
        [
            "/".join(outcome.suite.asset_key),
            outcome.partition_label or partition_key,
            outcome.suite.name,
            item.expectation_type,
            item.column,
            item.severity,
            item.success,
            _json(item.observed_value),
            item.unexpected_percent,
            item.element_count,
            run_id,
            now,
            item.check_name,
            item.slice_name,
            _json(item.threshold),
            _json(item.sample_masked),
            item.exception,
            None if item.data_docs_page is None else str(item.data_docs_page),
        ]
        for item in outcome.outcomes
    ]
    if rows:
        placeholders = ", ".join("?" for _ in columns)
        con.executemany(
            f"insert into quality.gate_results ({', '.join(columns)}) values ({placeholders})",
            rows,
        )
    return len(rows)
