"""Golden-level history: changed surviving values, ledger events and the golden ID on record
changes, over published tables in a DuckDB file."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from dagster_project.lib.history.golden import record_golden_changes
from dagster_project.lib.history.schema import ensure_history_tables
from tests.support.database import open_database

DAY_1, DAY_2, DAY_3 = date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 3)
AT = datetime(2026, 5, 9, tzinfo=UTC)


@pytest.fixture
def con(tmp_path: Path):
    connection = open_database(tmp_path / "w.duckdb")
    connection.execute("create schema er")
    connection.execute(
        "create table main.golden_customers (golden_customer_id varchar, full_name varchar, "
        "email varchar, last_seen_date date, source_record_count bigint)"
    )
    connection.execute(
        "create table main.customer_source_xref (record_key varchar, golden_customer_id varchar)"
    )
    connection.execute(
        "create table er.golden_id_ledger (run_id varchar, recorded_at timestamp, event varchar, "
        "golden_customer_id varchar, related_golden_customer_id varchar, record_count bigint)"
    )
    ensure_history_tables(connection)
    yield connection
    connection.close()


def _publish(con, golden: list[tuple], xref: list[tuple]) -> None:
    con.execute("delete from main.golden_customers")
    con.execute("delete from main.customer_source_xref")
    con.executemany("insert into main.golden_customers values (?, ?, ?, ?, ?)", golden)
    con.executemany("insert into main.customer_source_xref values (?, ?)", xref)


def _changes(con, day: date) -> list[tuple]:
    return con.execute(
        "select change_level, golden_customer_id, field, change_type, old_value, new_value, "
        "related_golden_customer_id from history.change_log where partition_date = ? "
        "order by all",
        [day],
    ).fetchall()


def test_changed_values_ledger_events_and_ids_on_record_changes(con) -> None:
    _publish(
        con,
        [("G1", "Anna Schmidt", "anna@example.de", DAY_1, 1),
         ("G2", "Bernd Meier", None, DAY_1, 1)],
        [("shop:A", "G1"), ("shop:B", "G2")],
    )  # fmt: skip
    con.execute(
        "insert into er.golden_id_ledger values ('run-1', ?, 'issued', 'G1', null, 1), "
        "('run-1', ?, 'issued', 'G2', null, 1)",
        [AT, AT],
    )
    first = record_golden_changes(con, DAY_1, run_id="run-1", recorded_at=AT)
    assert (first.status, first.field_changes, first.id_events) == ("recorded", 0, 2)

    # Day 2: G1's e-mail changed; B's record joined G1 (G2 merged into it); only the delivery
    # counters moved for nobody else. The record change of B is attributed to G1.
    _publish(
        con,
        [("G1", "Anna Schmidt", "anna.schmidt@example.de", DAY_2, 2)],
        [("shop:A", "G1"), ("shop:B", "G1")],
    )  # fmt: skip
    con.execute(
        "insert into history.change_log (partition_date, run_id, change_level, record_key, "
        "golden_customer_id, field, change_type, recorded_at) "
        "values (?, 'run-2', 'record', 'shop:B', 'G2', 'email', 'update', ?)",
        [DAY_2, AT],
    )
    con.execute(
        "insert into er.golden_id_ledger values ('run-2', ?, 'merged_into', 'G2', 'G1', 1)", [AT]
    )
    second = record_golden_changes(con, DAY_2, run_id="run-2", recorded_at=AT)
    assert (second.field_changes, second.id_events) == (1, 1)
    assert _changes(con, DAY_2) == [
        ("golden", "G1", "email", "update", "anna@example.de", "anna.schmidt@example.de", None),
        ("golden", "G2", "_golden_id", "merged_into", None, None, "G1"),
        ("record", "G1", "email", "update", None, None, None),
    ]
    versions = con.execute(
        "select golden_customer_id, valid_from, valid_to, is_current, email "
        "from history.golden_customer_versions order by all"
    ).fetchall()
    assert versions == [
        ("G1", DAY_1, DAY_2, False, "anna@example.de"),
        ("G1", DAY_2, None, True, "anna.schmidt@example.de"),
        ("G2", DAY_1, DAY_2, False, None),
    ]

    # The same day again (a re-run after a steward corrected the e-mail): the day's golden
    # changes are replaced, measured from day 1's values, not added to.
    _publish(
        con,
        [("G1", "Anna Schmidt", "a.schmidt@example.de", DAY_2, 2)],
        [("shop:A", "G1"), ("shop:B", "G1")],
    )  # fmt: skip
    again = record_golden_changes(con, DAY_2, run_id="run-2", recorded_at=AT)
    assert again.status == "recorded"
    assert _changes(con, DAY_2) == [
        ("golden", "G1", "email", "update", "anna@example.de", "a.schmidt@example.de", None),
        ("golden", "G2", "_golden_id", "merged_into", None, None, "G1"),
        ("record", "G1", "email", "update", None, None, None),
    ]

    # An earlier day re-run after day 2: no field changes under day 1; they wait for the next
    # day in order, which compares with the stored versions.
    _publish(con, [("G1", "Anna S.", "a.schmidt@example.de", DAY_2, 2)], [("shop:A", "G1")])
    earlier = record_golden_changes(con, DAY_1, run_id="run-3", recorded_at=AT)
    assert earlier.status == "deferred"
    assert [row for row in _changes(con, DAY_1) if row[2] == "full_name"] == []
    later = record_golden_changes(con, DAY_3, run_id="run-4", recorded_at=AT)
    assert later.field_changes == 1
    assert _changes(con, DAY_3) == [
        ("golden", "G1", "full_name", "update", "Anna Schmidt", "Anna S.", None)
    ]
