"""Cases worked to closure through `custodian cases`: opened by medium and high events, assigned,
resolved as corrected (a steward correction for the next golden build) or dismissed, never
reopened on the same evidence, escalated once when left open; every action appended."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from dagster_project import cli
from dagster_project.cli import cases as cases_commands
from tests.integration.test_monitoring import DAY, RULES, Warehouse, config_with
from tests.support.database import open_database

runner = CliRunner()


@pytest.fixture
def warehouse(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Warehouse]:
    monkeypatch.setattr(cases_commands, "console", Console(width=220))
    (isolated_env / "warehouse").mkdir()
    built = Warehouse(isolated_env / "warehouse" / "custodian.duckdb")
    built.customer("G-bad-mail", "winkel:1", email="x@mailinator.com", placeholder_email=True)
    built.customer("G-far", "winkel:2", province_matches_id=False)
    built.customer("G-quiet", "winkel:3", last_interaction=DAY.replace(year=2025))
    yield built
    built.con.close()


def cli_as_steward(warehouse: Warehouse, *args: str):
    """Run `custodian cases ...` as the shipped config's steward, the warehouse closed meanwhile
    (the command takes the write lock)."""
    warehouse.con.close()
    try:
        return runner.invoke(cli.app, ["cases", *args, "--as", "steward"])
    finally:
        warehouse.con = open_database(warehouse.path)


def case_of(warehouse: Warehouse, golden_id: str) -> str:
    ((case_id,),) = warehouse.rows(
        "select case_id from monitoring.cases where golden_customer_id = ?", [golden_id]
    )
    return case_id


def test_medium_and_high_events_open_cases_that_are_worked_to_closure(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    config = config_with(tmp_path, RULES)
    result = warehouse.monitor(config)
    # The undeliverable e-mail and the address far from the ID's region are medium; the quiet
    # customer's rule is low and opens no case.
    assert result.cases_opened == 2
    bad_mail, far = case_of(warehouse, "G-bad-mail"), case_of(warehouse, "G-far")

    listed = cli_as_steward(warehouse, "list", "--status", "open")
    assert listed.exit_code == 0, listed.output
    assert bad_mail in listed.output
    assert far in listed.output
    assert "email_undeliverable" in listed.output

    assigned = cli_as_steward(warehouse, "assign", bad_mail, "--to", "wang.fang")
    assert assigned.exit_code == 0, assigned.output
    resolved = cli_as_steward(
        warehouse, "resolve", bad_mail, "--outcome", "corrected", "--set",
        "email=wang.fang@example.cn", "--by", "wang.fang", "--note", "called the customer",
    )  # fmt: skip
    assert resolved.exit_code == 0, resolved.output
    assert "resolved: corrected; corrections #" in resolved.output
    # The correction waits for the next golden build, like `custodian review correct`'s.
    assert warehouse.rows(
        "select golden_customer_id, field, corrected_value, corrected_by "
        "from er.steward_corrections"
    ) == [("G-bad-mail", "email", "wang.fang@example.cn", "wang.fang")]
    shown = cli_as_steward(warehouse, "show", bad_mail)
    assert shown.exit_code == 0, shown.output
    for said in ("opened by custodian", "assigned by steward", "to wang.fang",
                 "outcome corrected", "note: called the customer"):  # fmt: skip
        assert said in shown.output
    assert "wang.fang@example.cn" not in shown.output  # a value is never shown in a case

    # Nothing is updated in place: one row per action.
    assert warehouse.rows(
        "select action from monitoring.case_actions where case_id = ? order by acted_at",
        [bad_mail],
    ) == [("opened",), ("assigned",), ("resolved",)]

    dismissed = cli_as_steward(
        warehouse, "resolve", far, "--outcome", "dismissed", "--by", "wang.fang", "--note",
        "moved for work; the ID is old",
    )  # fmt: skip
    assert dismissed.exit_code == 0, dismissed.output

    # The next day the same evidence is still there: no event, no case, no points.
    again = warehouse.monitor(config, DAY + timedelta(days=1))
    assert (again.opened, again.cases_opened) == (0, 0)
    assert warehouse.rows("select golden_customer_id from monitoring.customer_risk") == [
        ("G-quiet",)
    ]


def test_a_case_left_open_is_escalated_once(warehouse: Warehouse, tmp_path: Path) -> None:
    config = config_with(tmp_path, RULES, escalate_after_days=7)
    warehouse.monitor(config)
    assert warehouse.monitor(config, DAY + timedelta(days=6)).cases_escalated == 0
    week_later = warehouse.monitor(config, DAY + timedelta(days=7))
    assert week_later.cases_escalated == 2
    assert sorted(kind for kind, _, _ in week_later.new_alerts) == [
        "case_escalated", "case_escalated",
    ]  # fmt: skip
    assert warehouse.monitor(config, DAY + timedelta(days=8)).cases_escalated == 0


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["resolve", "{case}", "--outcome", "corrected", "--by", "x", "--note", "n"],
         "--outcome corrected needs the correct values: --set field=value"),
        (["resolve", "{case}", "--outcome", "fixed", "--by", "x", "--note", "n"],
         "--outcome must be one of verified, corrected, dismissed, not 'fixed'"),
        (["resolve", "{case}", "--outcome", "corrected", "--set", "shoe_size=42", "--by", "x",
          "--note", "n"], "shoe_size"),
        (["show", "C0000000000"], "no case 'C0000000000'"),
    ],
)  # fmt: skip
def test_a_case_command_that_cannot_be_done_says_why(
    warehouse: Warehouse, tmp_path: Path, args: list[str], said: str
) -> None:
    warehouse.monitor(config_with(tmp_path, RULES))
    case = case_of(warehouse, "G-far")
    result = cli_as_steward(warehouse, *[arg.format(case=case) for arg in args])
    assert result.exit_code == 2, result.output
    assert said in " ".join(result.output.split())
    # A refused resolution leaves the case open.
    assert warehouse.rows(
        "select count(*) from monitoring.case_actions where action = 'resolved'"
    ) == [(0,)]
