"""The daily monitoring report on a hand-made warehouse (tests/integration/test_monitoring.py):
what it lists, that no personal value reaches either file, that a config with nothing to
report still writes one, that the Dagster asset attaches it, and how chromium renders it."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.config import GovernanceConfig
from dagster_project.defs.monitoring.assets import build_monitoring_assets
from dagster_project.defs.resources import GovernanceResource, WarehouseResource
from dagster_project.lib.monitoring.cases import resolve_case
from dagster_project.lib.monitoring.report import MonitoringReport, write_monitoring_report
from tests.integration.test_monitoring import DAY, RULES, Warehouse, config_with
from tests.support.browser import rendered_dom, screenshot
from tests.support.database import open_database

# The top customer's personal values: none may appear in the report, whole or in part.
RAW_NAME = "Anna Jansen"
RAW_EMAIL = "anna.jansen@mailinator.com"
RAW_MOBILE = "+31612345678"
RAW_ADDRESS = "Keizersgracht 123"
RAW_VALUES = (RAW_NAME, "Jansen", RAW_EMAIL, "anna.jansen", RAW_MOBILE, "12345678", RAW_ADDRESS)
WEEK_AGO = DAY - timedelta(days=8)


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    built = Warehouse(tmp_path / "custodian.duckdb")
    yield built
    built.con.close()


def a_monitored_fortnight(warehouse: Warehouse, tmp_path: Path) -> GovernanceConfig:
    """A high-risk customer with a name, cases from a week ago (one still open, one dismissed
    today), a mass change in the app and an ordinary one in the shop, monitored on DAY."""
    config = config_with(tmp_path, RULES, risk_tiers={"medium": 10, "high": 20})
    # 10 (undeliverable e-mail) + 6 (far from the ID's region) + 5 (moves) = 21: high.
    warehouse.customer(
        "G-risky", "winkel:1", email=RAW_EMAIL, mobile=RAW_MOBILE, address=RAW_ADDRESS,
        placeholder_email=True, province_matches_id=False,
    )  # fmt: skip
    for days_ago in (20, 9, 1):
        warehouse.change(DAY - timedelta(days=days_ago), "winkel:1")
    warehouse.customer("G-medium", "winkel:2", email="y@mailinator.com", placeholder_email=True)
    warehouse.customer("G-low", "winkel:3", province_matches_id=False)
    warehouse.change(DAY, "winkel:2")  # one shop address change today: no anomaly
    for n in range(30):  # the app re-sends every name today: an anomaly
        warehouse.customer(f"G-app{n:02}", f"app:{n}")
        warehouse.change(DAY, f"app:{n}", field="full_name")
    # The helper's golden table has no names; this one does.
    warehouse.con.execute(
        "alter table main.golden_customers add column if not exists full_name varchar"
    )
    warehouse.con.execute(
        "update main.golden_customers set full_name = ? where golden_customer_id = 'G-risky'",
        [RAW_NAME],
    )
    warehouse.monitor(config, WEEK_AGO)
    warehouse.monitor(config, DAY)
    # Another kind of anomaly, as lib/monitoring/concentrations.py records one.
    warehouse.con.execute(
        "insert into monitoring.anomalies (anomaly_id, partition_date, kind, field, changes, "
        "message) values ('a1', ?, 'address_concentration', 'address_line', 12, "
        "'12 customers at address 0123abcd4567')",
        [DAY],
    )
    ((medium_case,),) = warehouse.rows(
        "select case_id from monitoring.cases where golden_customer_id = 'G-medium'"
    )
    resolve_case(
        warehouse.con, medium_case, outcome="dismissed", by="wang.fang",
        note=f"called {RAW_MOBILE}: a test address", corrections={},
        at=datetime(2026, 5, 20, 9, tzinfo=UTC),  # 17:00 on DAY in Shanghai
    )  # fmt: skip
    return config


def report_of(warehouse: Warehouse, config: GovernanceConfig, tmp_path: Path) -> MonitoringReport:
    return write_monitoring_report(
        warehouse.con,
        config,
        DAY,
        tmp_path / "reports",
        generated_at=datetime(2026, 5, 21, tzinfo=UTC),
    )


def section(markdown: str, title_start: str) -> str:
    """One `## ` section of the Markdown, its heading included."""
    (found,) = [part for part in markdown.split("\n## ") if part.startswith(title_start)]
    return found


def case_of(warehouse: Warehouse, golden_id: str, rule: str) -> str:
    ((case_id,),) = warehouse.rows(
        "select case_id from monitoring.cases where golden_customer_id = ? and rule = ?",
        [golden_id, rule],
    )
    return case_id


def test_the_report_lists_events_tiers_cases_anomalies_and_masks_every_name(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    config = a_monitored_fortnight(warehouse, tmp_path)
    report = report_of(warehouse, config, tmp_path)
    markdown, page = report.markdown, report.html_path.read_text(encoding="utf-8")
    assert report.markdown_path.read_text(encoding="utf-8") == markdown
    assert (tmp_path / "reports" / "monitoring" / "latest.html").read_text(encoding="utf-8") == page

    events = section(markdown, "Events by rule and severity")
    # open, opened today, cleared today; a rule that found nobody is listed with zeros.
    assert "| address_changed_often | medium | 1 | 1 | 0 |" in events
    # G-medium's was dismissed today: resolved, no longer open.
    assert "| email_undeliverable | medium | 1 | 0 | 0 |" in events
    assert "| address_far_from_id_region | medium | 2 | 0 | 0 |" in events
    assert "| shared_mobile | high | 0 | 0 | 0 |" in events
    tiers = section(markdown, "Customers by risk tier")
    for row in ("| high | 1 | 21 |", "| medium | 1 | 10 |", "| low | 1 | 6 |"):
        assert row in tiers

    top = section(markdown, "Top 20 customers by risk points").splitlines()
    first_row = next(line for line in top if line.startswith("| G-"))
    assert first_row == (
        "| G-risky | A. J. | high | 21 | "
        "address_changed_often, address_far_from_id_region, email_undeliverable |"
    )
    for text in (markdown, page):
        for raw in RAW_VALUES:
            assert raw not in text

    new_cases = section(markdown, "New cases")
    assert case_of(warehouse, "G-risky", "address_changed_often") in new_cases
    closed = section(markdown, "Cases closed today")
    assert f"| {case_of(warehouse, 'G-medium', 'email_undeliverable')} | G-medium |" in closed
    assert "| dismissed | wang.fang | 0 |" in closed

    volumes = section(markdown, "Change volumes per source and field")
    assert "| app | full_name | 30 | 30 |" in volumes
    (app_row,) = [line for line in volumes.splitlines() if line.startswith("| app ")]
    assert "ANOMALY: " in app_row
    (shop_row,) = [line for line in volumes.splitlines() if line.startswith("| winkel ")]
    assert shop_row.endswith("|  |")  # listed, not marked
    assert page.count('<tr class="anomaly">') == 1

    assert "| address_concentration |  | address_line | 12 | 12 customers at address" in (
        section(markdown, "Other anomalies")
    )
    weekly = section(markdown, "Open cases older than 7 days (weekly review)")
    still_open = case_of(warehouse, "G-low", "address_far_from_id_region")
    assert f"| {still_open} | G-low | address_far_from_id_region | medium | {WEEK_AGO} | 8 |" in (
        weekly
    )
    assert "G-medium" not in weekly  # dismissed today
    alerts = section(markdown, "Alerts by kind and channel")
    for kind in ("change_volume_anomaly", "high_risk_customer", "case_escalated"):
        assert f"| {kind} | log | sent |" in alerts
    assert report.counts["change_volume_anomalies"] == 1
    assert (report.counts["cases_closed"], report.counts["customers_high"]) == (1, 1)


def test_a_config_with_no_rules_on_an_empty_warehouse_still_writes_a_report(
    tmp_path: Path,
) -> None:
    config = config_with(tmp_path, [])
    con = open_database(tmp_path / "empty.duckdb")
    try:
        report = write_monitoring_report(con, config, DAY, tmp_path / "reports")
    finally:
        con.close()
    assert report.html_path.is_file()
    assert "None: no monitoring rule is enabled" in section(report.markdown, "Events by rule")
    assert "main.golden_customers has no full_name: no names." in report.markdown
    assert "| high | 0 | 0 |" in report.markdown
    assert set(report.counts.values()) == {0}


def test_markup_and_pipes_in_a_value_are_escaped(warehouse: Warehouse, tmp_path: Path) -> None:
    config = config_with(tmp_path, RULES)
    warehouse.customer("G-<i>x</i>|y", "winkel:1", province_matches_id=False)
    warehouse.monitor(config)
    report = report_of(warehouse, config, tmp_path)
    page = report.html_path.read_text(encoding="utf-8")
    assert "<i>" not in page
    assert "<td>G-&lt;i&gt;x&lt;/i&gt;|y</td>" in page
    assert "| G-<i>x</i>\\|y |" in report.markdown


def test_the_dagster_asset_attaches_the_report(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTODIAN_REPORTS", str(tmp_path / "reports"))
    config = config_with(tmp_path, RULES)
    warehouse.customer("G-far", "winkel:4", province_matches_id=False)
    warehouse.con.close()
    result = dg.materialize(
        [build_monitoring_assets(config)],
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=DAY.isoformat(),
        resources={
            "warehouse": WarehouseResource(path=str(warehouse.path)),
            "governance": GovernanceResource(config_path=str(tmp_path / "governance.yaml")),
        },
    )
    warehouse.con = open_database(warehouse.path)
    assert result.success
    (risk,) = [
        m
        for m in result.asset_materializations_for_node("monitoring")
        if m.asset_key.to_user_string() == "monitoring/customer_risk"
    ]
    html_path = Path(risk.metadata["report"].value)
    assert html_path == tmp_path / "reports" / "monitoring" / f"{DAY}.html"
    assert html_path.is_file()
    markdown = risk.metadata["report_markdown"].value
    assert markdown.startswith(f"# Custodian monitoring report, {DAY}")
    assert "| address_far_from_id_region | medium | 1 | 1 | 0 |" in markdown


def test_chromium_renders_the_report_with_its_sections_and_rows(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    config = a_monitored_fortnight(warehouse, tmp_path)
    report = report_of(warehouse, config, tmp_path)
    dom = rendered_dom(report.html_path, tmp_path / "profile")
    for heading in (
        "Events by rule and severity", "Customers by risk tier", "New cases",
        "Cases closed today", "Top 20 customers by risk points",
        "Change volumes per source and field", "Other anomalies",
        "Open cases older than 7 days (weekly review)",
        "Alerts by kind and channel",
    ):  # fmt: skip
        assert f"<h2>{heading}</h2>" in dom
    assert "<td>G-risky</td><td>A. J.</td><td>high</td><td>21</td>" in "".join(dom.split("\n"))
    assert '<tr class="anomaly">' in dom
    for raw in RAW_VALUES:
        assert raw not in dom

    png = screenshot(report.html_path, tmp_path / "report.png", tmp_path / "profile")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert (width, height) == (1280, 1800)
    # A blank page of that size compresses to a few kilobytes; tables and text do not.
    assert len(data) > 40_000
