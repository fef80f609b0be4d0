"""Blocking: which record pairs the model scores. A key value shared by too many records is
compared in overlapping sorted windows (never dropped, never all pairs), and the keys a data set
uses follow its fields and the comparison budget. DuckDB in memory, no Splink."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from dagster_project.lib.resolve.blocking import (
    BLOCKING_KEYS_BY_NAME,
    choose_blocking_keys,
    with_blocking_keys_sql,
)
from dagster_project.lib.resolve.splink_model import MATCH_COLUMNS

LIST_COLUMNS = {
    "name_tokens",
    "name_token_dob",
    "name_token_year",
    "phone_numbers",
    "phone_tails",
    "invalid_phone_tails",
    "any_phone_tails",
}


def _records(rows: list[dict]) -> pa.Table:
    columns = {}
    for name in MATCH_COLUMNS:
        kind = pa.list_(pa.string()) if name in LIST_COLUMNS else pa.string()
        columns[name] = pa.array([row.get(name) for row in rows], kind)
    return pa.table(columns)


def _match_input(rows: list[dict], budget: int = 100, window: int = 20):
    con = duckdb.connect()
    con.register("_records", _records(rows))
    con.execute(
        "create table match_input as "
        + with_blocking_keys_sql("(select * from _records)", budget, window)
    )
    return con


def _pairs(con, column: str, is_list: bool = False) -> set[tuple[str, str]]:
    value = f"unnest({column})" if is_list else column
    rows = con.execute(
        f"""
        with blocks as (select record_key, {value} as value from match_input)
        select l.record_key, r.record_key from blocks l join blocks r
        on l.value = r.value and l.record_key < r.record_key
        """
    ).fetchall()
    return set(rows)


def _connected(keys: list[str], pairs: set[tuple[str, str]]) -> bool:
    parent = {key: key for key in keys}

    def root(key: str) -> str:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for left, right in pairs:
        parent[root(left)] = root(right)
    return len({root(key) for key in keys}) == 1


def test_a_value_on_more_records_than_the_budget_is_compared_in_overlapping_windows() -> None:
    # One person's 300 records (a heavy repeater), or a switchboard number on 300 strangers.
    rows = [
        {"record_key": f"r{i:03d}", "source_name": "crm", "email_normalised": "x@example.com",
         "name_sorted_key": f"N{i % 37:02d}"}
        for i in range(300)
    ]  # fmt: skip
    con = _match_input(rows, budget=100, window=20)
    pairs = _pairs(con, "block_email") | _pairs(con, "block_email_o")
    # About 20 neighbours each, not 44,850 pairs; yet every record is reachable from every
    # other, so clustering can join a real repeater whole.
    assert 300 * 10 <= len(pairs) <= 300 * 20
    assert _connected([row["record_key"] for row in rows], pairs)


def test_a_value_within_the_budget_is_one_block() -> None:
    rows = [
        {"record_key": f"r{i}", "source_name": "crm", "email_normalised": "y@example.com"}
        for i in range(30)
    ]
    con = _match_input(rows, budget=100, window=20)
    assert len(_pairs(con, "block_email")) == 30 * 29 // 2
    assert con.execute("select count(block_email_o) from match_input").fetchone()[0] == 0


def test_list_keys_are_windowed_per_element() -> None:
    rows = [
        {"record_key": f"r{i:03d}", "source_name": "crm", "any_phone_tails": ["400123456"]}
        for i in range(250)
    ]
    con = _match_input(rows, budget=100, window=20)
    pairs = _pairs(con, "block_phone", is_list=True) | _pairs(con, "block_phone_o", is_list=True)
    assert len(pairs) <= 250 * 20
    assert _connected([row["record_key"] for row in rows], pairs)


def test_keys_follow_the_fields_present_and_the_budget() -> None:
    # Names and birth dates only: no identifier key has anything to block on.
    rows = [
        {"record_key": f"r{i}", "source_name": "crm", "name_sorted_key": f"ANNA {i % 50}",
         "name_token_dob": [f"ANNA|19{i % 90:02d}-01-01"], "date_of_birth": f"19{i % 90:02d}-01-01",
         "name_token_year": [f"ANNA|19{i % 90:02d}"]}
        for i in range(400)
    ]  # fmt: skip
    con = _match_input(rows)
    plan = choose_blocking_keys(con, max_pairs_per_record=25)
    used = {key.name for key in plan.keys}
    assert {"phone", "email", "national_id"} & used == set()
    assert plan.skipped["email"] == "no two records share a value"
    assert "name_token_dob" in used
    # A budget too small for the big name block leaves it out, saying why.
    tight = choose_blocking_keys(con, max_pairs_per_record=2)
    assert "name" not in {key.name for key in tight.keys}
    assert "exceed the budget of 2 per record" in tight.skipped["name"]
    assert BLOCKING_KEYS_BY_NAME["name"].columns == ("name_sorted_key",)
