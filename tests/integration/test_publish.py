"""Write, audit, publish: what analysts read (main.*) changes only all at once, and only from a
candidate that exists, against a real DuckDB file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from dagster_project.lib.publish import last_publication, publish
from dagster_project.lib.warehouse import connect

TABLES = ["customer_source_xref", "golden_customers"]


def _candidates(con, golden: int) -> None:
    con.execute(
        f"create or replace table candidate.golden_customers as "
        f"select 'G' || range as golden_customer_id from range({golden})"
    )
    con.execute(
        "create or replace table candidate.customer_source_xref as "
        "select 'crm:' || golden_customer_id as record_key, golden_customer_id "
        "from candidate.golden_customers"
    )


def test_publish_replaces_every_table_and_logs_it(tmp_path: Path) -> None:
    with connect(tmp_path / "w.duckdb") as con:
        _candidates(con, 3)
        publish(con, TABLES, run_id="r1", partition_key="2026-11-01",
                published_at=datetime(2026, 11, 2, 6))  # fmt: skip
        _candidates(con, 5)
        published = publish(con, TABLES, run_id="r2", partition_key="2026-11-02")
        assert con.execute("select count(*) from main.golden_customers").fetchone()[0] == 5
        assert con.execute("select count(*) from main.customer_source_xref").fetchone()[0] == 5
        assert [p.row_count for p in published] == [5, 5]
        latest = last_publication(con, "golden_customers")
        assert (latest.run_id, latest.partition_key, latest.row_count) == ("r2", "2026-11-02", 5)
        assert con.execute("select count(*) from ops.publish_log").fetchone()[0] == 4


def test_a_missing_candidate_publishes_nothing(tmp_path: Path) -> None:
    with connect(tmp_path / "w.duckdb") as con:
        _candidates(con, 3)
        publish(con, TABLES, run_id="r1", partition_key="2026-11-01")
        _candidates(con, 4)
        con.execute("drop table candidate.customer_source_xref")
        with pytest.raises(LookupError, match=r"candidate\.customer_source_xref"):
            publish(con, TABLES, run_id="r2", partition_key="2026-11-02")
        # Neither table moved: the golden table and its xref never disagree.
        assert con.execute("select count(*) from main.golden_customers").fetchone()[0] == 3
        assert last_publication(con, "golden_customers").run_id == "r1"


def test_a_warehouse_that_never_published_says_so(tmp_path: Path) -> None:
    with connect(tmp_path / "w.duckdb") as con:
        assert last_publication(con, "golden_customers") is None


def test_a_failed_run_says_whether_it_had_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster_project.cli.pipeline import published_marts_note

    monkeypatch.setenv("CUSTODIAN_WAREHOUSE", str(tmp_path / "w.duckdb"))
    with connect(tmp_path / "w.duckdb") as con:
        _candidates(con, 3)
        publish(con, TABLES, run_id="r1", partition_key="2026-11-01")
    # A run that failed after publishing (at the analyst database) did change what is read ...
    after = published_marts_note("r1")
    assert after.startswith("published: this run replaced main.golden_customers")
    assert "analyst database" in after
    # ... one that failed before (a gate) did not.
    before = published_marts_note("r2")
    assert before.startswith("not published: analysts still read main.golden_customers")
