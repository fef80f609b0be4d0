"""Steward review against a real DuckDB file: the queue, the CLI (masked), decisions as
clustering constraints and training labels, golden-field corrections."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from rich.console import Console
from typer.testing import CliRunner

from dagster_project import cli
from dagster_project.cli import review as review_commands
from dagster_project.lib.resolve.clustering import cluster_records
from dagster_project.lib.resolve.review import (
    labelled_pairs,
    latest_corrections,
    pair_constraints,
    refresh_review_queue,
)
from tests.support.database import open_database

runner = CliRunner()

# Synthetic people. crm:1 and erp:9 are one person (a review-band pair); crm:1 and web:3 share
# a phone (band); erp:9 and web:3 are auto-linked. crm:2 is a stranger.
RECORDS = [
    ("crm:1", "crm", "1", "张三", "+8613800138000", "zhangsan@qq.com", "1990-05-03"),
    ("erp_billing:9", "erp_billing", "9", "张三", None, "zhang.san@163.com", "1990-05-03"),
    ("web_signup:3", "web_signup", "3", "Zhang San", "+8613800138000", None, None),
    ("crm:2", "crm", "2", "Olivia Booth", "+447700900123", "olivia.booth@example.org", None),
]
RAW_PII = ("13800138000", "zhangsan@qq.com", "zhang.san@163.com", "张三", "Olivia Booth")

WATERFALL = [
    {"comparison": "name", "level": "Exact match on name_sorted_key", "match_weight": 6.1},
    {"comparison": "mobile_phone_e164", "level": "All other comparisons", "match_weight": -2.3},
    {"comparison": "date_of_birth", "level": "Exact match on date_of_birth", "match_weight": 4.4},
]
EXPLANATION_TYPE = "struct(comparison varchar, level varchar, match_weight double)[]"


def _predictions(con: duckdb.DuckDBPyConnection, rows) -> None:
    con.execute(
        f"""
        create or replace table er.pairwise_predictions (
            record_key_l varchar, record_key_r varchar, match_weight double,
            match_probability double, is_auto_linked boolean,
            match_explanation {EXPLANATION_TYPE})
        """
    )
    for left, right, probability, explanation in rows:
        con.execute(
            "insert into er.pairwise_predictions values (?, ?, ?, ?, ?, ?)",
            [left, right, 8.0 * probability, probability, probability >= 0.9, explanation],
        )


BAND = [
    ("erp_billing:9", "crm:1", 0.82, WATERFALL),  # written r/l on purpose: IDs are unordered
    ("crm:1", "web_signup:3", 0.75, WATERFALL[:1]),
    ("erp_billing:9", "web_signup:3", 0.97, None),
]


@pytest.fixture
def warehouse(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Wide enough that table cells are not cut: the assertions read whole values.
    monkeypatch.setattr(review_commands, "console", Console(width=220))
    path = isolated_env / "warehouse" / "custodian.duckdb"
    path.parent.mkdir(parents=True)
    con = open_database(path)
    con.execute("create schema intermediate; create schema er")
    con.execute(
        """
        create table intermediate.int_customer_records (
            record_key varchar, source_name varchar, source_record_id varchar,
            full_name varchar, mobile_phone_e164 varchar, email_normalised varchar,
            date_of_birth date)
        """
    )
    con.executemany(
        "insert into intermediate.int_customer_records values (?, ?, ?, ?, ?, ?, ?)", RECORDS
    )
    con.execute(
        """
        create table main.golden_customers as
        select 'GC0001' as golden_customer_id, 'CN' as country_code, '张三' as full_name
        """
    )
    _predictions(con, BAND)
    refresh_review_queue(con, run_id="run-1", queued_at=datetime(2026, 11, 2, 3, 0))
    con.close()
    return path


def _queue(path: Path) -> dict[tuple[str, str], tuple[str, str]]:
    with open_database(path, read_only=True) as con:
        rows = con.execute(
            "select record_key_l, record_key_r, pair_id, status from er.review_queue"
        ).fetchall()
    return {(left, right): (pair_id, status) for left, right, pair_id, status in rows}


def test_queue_holds_band_pairs_with_stable_ids_and_follows_the_scores(warehouse: Path) -> None:
    queue = _queue(warehouse)
    assert set(queue) == {("crm:1", "erp_billing:9"), ("crm:1", "web_signup:3")}
    assert all(status == "open" for _, status in queue.values())
    pair_id = queue[("crm:1", "erp_billing:9")][0]
    assert pair_id.startswith("RP")
    assert len(pair_id) == 16

    con = open_database(warehouse)
    # Next run: crm:1/web:3 is auto-linked now (withdrawn); the other pair is rescored with
    # its keys in the other order and keeps its ID.
    _predictions(
        con, [("crm:1", "erp_billing:9", 0.85, WATERFALL), ("crm:1", "web_signup:3", 0.95, None)]
    )
    counts = refresh_review_queue(con, run_id="run-2", queued_at=datetime(2026, 11, 3, 3, 0))
    assert (counts.queued, counts.rescored, counts.withdrawn, counts.open_total) == (0, 1, 1, 1)
    probability, scored_run = con.execute(
        "select match_probability, scored_run_id from er.review_queue where pair_id = ?",
        [pair_id],
    ).fetchone()
    assert (probability, scored_run) == (0.85, "run-2")

    # Back in the band: reopened under the same ID, not queued twice.
    _predictions(con, BAND)
    counts = refresh_review_queue(con, run_id="run-3", queued_at=datetime(2026, 11, 4, 3, 0))
    assert (counts.queued, counts.reopened, counts.open_total) == (0, 1, 2)
    assert con.execute("select count(*) from er.review_queue").fetchone()[0] == 2

    # Scored the same again: counted as rescored, but the row keeps the run it was scored in.
    counts = refresh_review_queue(con, run_id="run-4", queued_at=datetime(2026, 11, 5, 3, 0))
    assert (counts.rescored, counts.open_total) == (2, 2)
    assert con.execute(
        "select scored_run_id from er.review_queue where pair_id = ?", [pair_id]
    ).fetchone() == ("run-3",)
    con.close()


def test_list_and_show_are_masked(warehouse: Path) -> None:
    pair_id = _queue(warehouse)[("crm:1", "erp_billing:9")][0]

    listed = runner.invoke(cli.app, ["review", "list"])
    assert listed.exit_code == 0, listed.output
    assert pair_id in listed.output
    assert "0.820" in listed.output
    # Highest probability first.
    assert listed.output.index(pair_id) < listed.output.index(
        _queue(warehouse)[("crm:1", "web_signup:3")][0]
    )
    assert "张*" in listed.output

    shown = runner.invoke(cli.app, ["review", "show", pair_id.lower()])
    assert shown.exit_code == 0, shown.output
    assert "138****8000" in shown.output
    assert "z***@qq.com" in shown.output
    assert "1990-**-**" in shown.output
    # The waterfall, strongest evidence first.
    assert shown.output.index("+6.10") < shown.output.index("+4.40") < shown.output.index("-2.30")
    assert "Exact match on name_sorted_key" in shown.output

    for output in (listed.output, shown.output):
        for raw in RAW_PII:
            assert raw not in output, raw


def test_decide_appends_and_decisions_become_constraints_and_labels(warehouse: Path) -> None:
    queue = _queue(warehouse)
    same_person = queue[("crm:1", "erp_billing:9")][0]
    shared_phone = queue[("crm:1", "web_signup:3")][0]

    first = runner.invoke(
        cli.app,
        ["review", "decide", "--pair", same_person, "--match", "no", "--by", "wei", "--note", "x"],
    )
    assert first.exit_code == 0, first.output
    # The steward changes their mind: a second row, the latest counts.
    second = runner.invoke(
        cli.app, ["review", "decide", "--pair", same_person, "--match", "yes", "--by", "li"]
    )
    assert second.exit_code == 0, second.output
    assert "replaces the earlier decision" in second.output
    third = runner.invoke(
        cli.app, ["review", "decide", "--pair", shared_phone, "--match", "NO", "--by", "li"]
    )
    assert third.exit_code == 0, third.output

    con = open_database(warehouse)
    decisions = con.execute(
        "select pair_id, is_match, decided_by from er.review_decisions order by decision_id"
    ).fetchall()
    assert decisions == [
        (same_person, False, "wei"),
        (same_person, True, "li"),
        (shared_phone, False, "li"),
    ]
    status = con.execute(
        "select status from er.review_queue where pair_id = ?", [same_person]
    ).fetchone()[0]
    assert status == "decided"

    must, cannot = pair_constraints(con)
    assert must.to_pylist() == [{"record_key_l": "crm:1", "record_key_r": "erp_billing:9"}]
    assert cannot.to_pylist() == [{"record_key_l": "crm:1", "record_key_r": "web_signup:3"}]
    assert labelled_pairs(con).to_pylist() == [
        {"record_key_l": "crm:1", "record_key_r": "erp_billing:9", "is_match": True},
        {"record_key_l": "crm:1", "record_key_r": "web_signup:3", "is_match": False},
    ]

    # Decided pairs are not queued again however they score.
    counts = refresh_review_queue(con, run_id="run-2", queued_at=datetime(2026, 11, 3, 3, 0))
    assert (counts.already_decided, counts.open_total) == (2, 0)

    # Applied: crm:1 joins erp:9 below the threshold (must-link) and stays apart from web:3,
    # although erp:9 and web:3 are auto-linked (the cannot-link holds through a third record).
    pairs = con.execute(
        "select record_key_l, record_key_r, match_probability from er.pairwise_predictions"
    ).to_arrow_table()
    keys = con.execute("select record_key from intermediate.int_customer_records").to_arrow_table()
    con.close()
    result = cluster_records(
        keys.column("record_key"), pairs, threshold=0.9, must_link=must, cannot_link=cannot
    )
    clusters = dict(zip(*result.membership.to_pydict().values(), strict=True))
    assert clusters["crm:1"] == clusters["erp_billing:9"]
    assert clusters["web_signup:3"] != clusters["crm:1"]
    assert result.cannot_link_edges_dropped == 1


def test_unknown_pair_and_missing_steward_are_clear_errors(warehouse: Path) -> None:
    result = runner.invoke(
        cli.app, ["review", "decide", "--pair", "RP0000DEADBEEF00", "--match", "yes", "--by", "li"]
    )
    assert result.exit_code == 2
    assert "RP0000DEADBEEF00" in result.output
    assert "custodian review list" in result.output
    assert "Traceback" not in result.output

    shown = runner.invoke(cli.app, ["review", "show", "RP0000DEADBEEF00"])
    assert shown.exit_code == 2
    assert "custodian review list" in shown.output

    no_steward = runner.invoke(cli.app, ["review", "decide", "--pair", "RP1", "--match", "yes"])
    assert no_steward.exit_code == 2
    assert "--by" in no_steward.output

    bad_answer = runner.invoke(
        cli.app, ["review", "decide", "--pair", "RP1", "--match", "maybe", "--by", "li"]
    )
    assert bad_answer.exit_code == 2
    assert "yes or no" in bad_answer.output


def test_review_without_warehouse_exits_2(isolated_env: Path) -> None:
    result = runner.invoke(
        cli.app, ["review", "decide", "--pair", "RP1", "--match", "yes", "--by", "li"]
    )
    assert result.exit_code == 2
    assert "does not exist yet" in result.output
    assert not (isolated_env / "warehouse" / "custodian.duckdb").exists()


def test_corrections_are_validated_standardised_and_latest_wins(warehouse: Path) -> None:
    def correct(field: str, value: str) -> object:
        return runner.invoke(
            cli.app,
            ["review", "correct", "--customer", "GC0001", "--field", field, "--value", value,
             "--by", "wei", "--note", "customer called"],
        )  # fmt: skip

    bad_phone = correct("mobile_phone_e164", "12345")
    assert bad_phone.exit_code == 2
    assert "not a valid phone number" in bad_phone.output
    assert "12345" not in bad_phone.output

    bad_field = correct("source_count", "3")
    assert bad_field.exit_code == 2
    assert "correctable" in bad_field.output
    assert "email" in bad_field.output

    bad_email = correct("email", "zhangsan@@qq.com")
    assert bad_email.exit_code == 2
    assert "zhangsan" not in bad_email.output

    unknown = runner.invoke(
        cli.app,
        ["review", "correct", "--customer", "GC9999", "--field", "email", "--value", "a@b.cn",
         "--by", "wei"],
    )  # fmt: skip
    assert unknown.exit_code == 2
    assert "GC9999" in unknown.output

    assert correct("mobile_phone_e164", "139 1111 2222").exit_code == 0
    ok = correct("mobile_phone_e164", "+86 138-0013-8000")
    assert ok.exit_code == 0, ok.output
    assert "138****8000" in ok.output
    assert "13800138000" not in ok.output
    assert correct("email", " ZhangSan@QQ.com ").exit_code == 0

    with open_database(warehouse, read_only=True) as con:
        latest = latest_corrections(con).order("field").fetchall()
        assert con.execute("select count(*) from er.steward_corrections").fetchone()[0] == 3
    assert [(row[0], row[1], row[2]) for row in latest] == [
        ("GC0001", "email", "zhangsan@qq.com"),
        ("GC0001", "mobile_phone_e164", "+8613800138000"),
    ]


def test_constraints_are_empty_before_any_decision(tmp_path: Path) -> None:
    con = open_database(tmp_path / "w.duckdb")
    must, cannot = pair_constraints(con)
    assert must.num_rows == cannot.num_rows == 0
    assert must.schema == pa.schema([("record_key_l", pa.string()), ("record_key_r", pa.string())])
    assert labelled_pairs(con).num_rows == 0
    assert latest_corrections(con).fetchall() == []
    con.close()


def test_decide_by_record_keys_splits_an_auto_linked_pair(warehouse: Path) -> None:
    con = open_database(warehouse)
    con.execute(
        "create table er.record_clusters as select record_key, 'GC0001' as golden_customer_id "
        "from intermediate.int_customer_records"
    )
    con.close()
    # erp:9 and web:3 scored 0.97: linked automatically, never queued for a steward.
    split = runner.invoke(
        cli.app,
        ["review", "decide", "--records", "web_signup:3", "erp_billing:9", "--match", "no",
         "--by", "li", "--note", "two people"],
    )  # fmt: skip
    assert split.exit_code == 0, split.output
    assert "erp_billing:9 / web_signup:3" in split.output

    con = open_database(warehouse)
    _must, cannot = pair_constraints(con)
    assert cannot.to_pylist() == [{"record_key_l": "erp_billing:9", "record_key_r": "web_signup:3"}]
    pairs = con.execute(
        "select record_key_l, record_key_r, match_probability from er.pairwise_predictions"
    ).to_arrow_table()
    keys = con.execute("select record_key from intermediate.int_customer_records").to_arrow_table()
    con.close()
    result = cluster_records(keys.column("record_key"), pairs, threshold=0.9, cannot_link=cannot)
    clusters = dict(zip(*result.membership.to_pydict().values(), strict=True))
    assert clusters["erp_billing:9"] != clusters["web_signup:3"]

    unknown = runner.invoke(
        cli.app,
        ["review", "decide", "--records", "crm:1", "crm:404", "--match", "no", "--by", "li"],
    )
    assert unknown.exit_code == 2
    assert "crm:404" in unknown.output
    assert "Traceback" not in unknown.output
    same = runner.invoke(
        cli.app, ["review", "decide", "--records", "crm:1", "crm:1", "--match", "no", "--by", "li"]
    )
    assert same.exit_code == 2
    assert "two records" in same.output
    neither = runner.invoke(cli.app, ["review", "decide", "--match", "no", "--by", "li"])
    assert neither.exit_code == 2
    assert "--records" in neither.output


def test_queue_says_which_pairs_the_name_guard_sent(warehouse: Path) -> None:
    con = open_database(warehouse)
    # A queue from before the flag was kept: readable as it is, the next refresh adds the column.
    con.execute("alter table er.review_queue drop column has_name_conflict")
    con.close()
    before = runner.invoke(cli.app, ["review", "list"])
    assert before.exit_code == 0, before.output
    assert "—" in before.output
    assert "in band" not in before.output
    con = open_database(warehouse)
    _predictions(con, BAND)
    con.execute("alter table er.pairwise_predictions add column has_name_conflict boolean")
    con.execute(
        "update er.pairwise_predictions set has_name_conflict = "
        "(record_key_l = 'crm:1' and record_key_r = 'web_signup:3')"
    )
    refresh_review_queue(con, run_id="run-2", queued_at=datetime(2026, 11, 3, 3, 0))
    flags = dict(
        con.execute("select record_key_r, has_name_conflict from er.review_queue").fetchall()
    )
    con.close()
    assert flags == {"erp_billing:9": False, "web_signup:3": True}

    queue = _queue(warehouse)
    listed = runner.invoke(cli.app, ["review", "list"])
    assert listed.exit_code == 0, listed.output
    lines = {line for line in listed.output.splitlines() if "RP" in line}
    guard_pair, band_pair = (
        queue[("crm:1", "web_signup:3")][0],
        queue[("crm:1", "erp_billing:9")][0],
    )
    assert any(guard_pair in line and "names differ" in line for line in lines)
    assert any(band_pair in line and "in band" in line for line in lines)
    shown = runner.invoke(cli.app, ["review", "show", guard_pair])
    assert "name guard" in shown.output
    shown = runner.invoke(cli.app, ["review", "show", band_pair])
    assert "in the review band" in shown.output
