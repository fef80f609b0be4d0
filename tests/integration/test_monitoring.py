"""Daily monitoring on a hand-made warehouse: each rule kind, one event for a condition that lasts,
tiers and alerts, and a mass change in one source as one anomaly instead of a flood of events.

The config holds none of the demo's sources: a Dutch shop with names, e-mails, mobiles,
addresses and a last visit, and a loyalty app with names and mobiles only."""

from __future__ import annotations

import shutil
import zlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml

from dagster_project import settings
from dagster_project.config import ConfigError, GovernanceConfig, load_config
from dagster_project.defs.monitoring.assets import build_monitoring_assets
from dagster_project.defs.quality.checks import build_gate_checks
from dagster_project.defs.resources import GovernanceResource, WarehouseResource
from dagster_project.lib.monitoring.events import monitor_day
from tests.support.database import open_database

DAY = date(2026, 5, 20)
AT = datetime(2026, 5, 21, tzinfo=UTC)

RULES = [
    {"name": "address_changed_often", "field": "address_line", "kind": "change_count",
     "threshold": 3, "window_days": 30, "points": 5, "severity": "medium"},
    {"name": "email_undeliverable", "field": "email", "kind": "invalid_value", "points": 10},
    {"name": "address_far_from_id_region", "field": "province", "kind": "consistency",
     "points": 6},
    {"name": "shared_mobile", "field": "mobile_phone", "kind": "shared_contact", "threshold": 5,
     "points": 10, "severity": "high"},
    {"name": "unreachable", "field": ["mobile_phone", "email"], "kind": "missing", "points": 4},
    {"name": "gone_quiet", "field": "last_interaction_at", "kind": "stale", "window_days": 180,
     "points": 1, "severity": "low"},
    {"name": "tags_changed", "field": "customer_tags", "kind": "change_count", "points": 1},
]  # fmt: skip


def config_with(tmp_path: Path, rules: list[dict], **monitoring) -> GovernanceConfig:
    document = {
        "landing_root": str(tmp_path / "landing"),
        "sources": [
            {
                "name": "winkel", "system": "web", "path": "winkel/{date:%Y-%m-%d}.csv",
                "format": "csv", "start_date": "2026-05-01", "default_region": "NL",
                "trust_rank": 1,
                "mapping": {"source_record_id": "id", "full_name": "naam", "email": "mail",
                            "mobile_phone": "mobiel", "address_line": "straat", "city": "plaats",
                            "province": "provincie", "national_id": "bsn",
                            "last_interaction_at": "laatste_bezoek"},
            },
            {
                "name": "app", "system": "marketing", "trust_rank": 2,
                "path": "app/{date:%Y-%m-%d}.csv",
                "format": "csv", "start_date": "2026-05-01",
                "mapping": {"source_record_id": "uid", "full_name": "name",
                            "mobile_phone": "phone"},
            },
        ],
        "monitoring": {"rules": rules, **monitoring},
    }  # fmt: skip
    path = tmp_path / "governance.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return load_config(path)


OWN = "<one of their own>"


class Warehouse:
    """The tables monitoring reads, written by hand: current records, the xref, golden customers,
    record versions and the change log."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.con = open_database(path)
        self.con.execute("""
            create schema intermediate; create schema history;
            create table intermediate.int_customer_records (
                record_key varchar, source_name varchar, validity_failures varchar[],
                email_normalised varchar, email_is_valid boolean,
                email_is_placeholder boolean, email_invalid_reason varchar,
                mobile_phone_e164 varchar, mobile_phone_is_valid boolean,
                mobile_phone_invalid_reason varchar, landline_phone_e164 varchar,
                landline_phone_is_valid boolean, national_id_matches_province boolean,
                national_id_matches_date_of_birth boolean);
            create table main.customer_source_xref (record_key varchar,
                golden_customer_id varchar);
            create table main.golden_customers (golden_customer_id varchar,
                address_line varchar, city varchar, mobile_phone_e164 varchar,
                landline_phone_e164 varchar, email varchar,
                last_interaction_at timestamp, country_code varchar);
            create table history.customer_record_versions (record_key varchar,
                source_name varchar, is_current boolean, is_deleted boolean);
            create table history.change_log (partition_date date, run_id varchar,
                change_level varchar, record_key varchar, golden_customer_id varchar,
                field varchar, change_type varchar, old_value varchar, new_value varchar,
                related_golden_customer_id varchar, recorded_at timestamptz);
        """)  # fmt: skip

    def customer(
        self,
        golden_id: str,
        record_key: str,
        *,
        mobile: str | None = OWN,
        email: str | None = OWN,
        address: str | None = None,
        failures: tuple[str, ...] = (),
        placeholder_email: bool = False,
        province_matches_id: bool | None = None,
        last_interaction: datetime | None = datetime(2026, 5, 1),
    ) -> None:
        address = address if address is not None else f"Straat {golden_id}"
        # By default everyone has a phone and an e-mail of their own.
        mobile = f"+316{zlib.crc32(golden_id.encode()) % 10**8:08d}" if mobile is OWN else mobile
        email = f"{golden_id.lower()}@example.nl" if email is OWN else email
        con = self.con
        con.execute(
            "insert into intermediate.int_customer_records values "
            "(?, ?, ?, ?, ?, ?, null, ?, ?, null, null, null, ?, null)",
            [record_key, record_key.split(":")[0], list(failures), email,
             email is not None and "email" not in failures, placeholder_email,
             mobile, mobile is not None, province_matches_id],
        )  # fmt: skip
        con.execute("insert into main.customer_source_xref values (?, ?)", [record_key, golden_id])
        con.execute(
            "insert into main.golden_customers values (?, ?, 'Utrecht', ?, null, ?, ?, 'NL')",
            [golden_id, address, mobile, email, last_interaction],
        )
        con.execute(
            "insert into history.customer_record_versions values (?, ?, true, false)",
            [record_key, record_key.split(":")[0]],
        )

    def change(self, day: date, record_key: str, field: str = "address_line") -> None:
        self.con.execute(
            "insert into history.change_log values (?, 'r', 'record', ?, null, ?, 'update', "
            "'old', 'new', null, ?)",
            [day, record_key, field, AT],
        )

    def rows(self, query: str, parameters: list | None = None) -> list[tuple]:
        return self.con.execute(query, parameters or []).fetchall()

    def monitor(self, config: GovernanceConfig, day: date = DAY):
        return monitor_day(self.con, config, day, run_id=f"run-{day}", recorded_at=AT)


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    built = Warehouse(tmp_path / "custodian.duckdb")
    yield built
    built.con.close()


def events(warehouse: Warehouse) -> list[tuple]:
    return warehouse.rows(
        "select rule, golden_customer_id, status, first_detected, last_seen "
        "from monitoring.risk_events order by all"
    )


def test_each_rule_kind_finds_its_customer_and_no_other(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    config = config_with(tmp_path, RULES)
    warehouse.customer("G-calm", "winkel:0")
    # Address changed on three days of the month: change_count.
    warehouse.customer("G-moves", "winkel:1")
    for days_ago in (20, 9, 1):
        warehouse.change(DAY - timedelta(days=days_ago), "winkel:1")
    # Two changes in the month and one 40 days ago: under the threshold within the window.
    warehouse.customer("G-moved-long-ago", "winkel:2")
    for days_ago in (40, 10, 2):
        warehouse.change(DAY - timedelta(days=days_ago), "winkel:2")
    warehouse.customer("G-bad-mail", "winkel:3", email="x@mailinator.com", placeholder_email=True)
    warehouse.customer("G-far", "winkel:4", province_matches_id=False)
    warehouse.customer("G-none", "app:5", mobile=None, email=None)
    warehouse.customer("G-quiet", "winkel:6", last_interaction=datetime(2025, 10, 1))

    result = warehouse.monitor(config)

    assert result.status == "monitored"
    assert events(warehouse) == [
        ("address_changed_often", "G-moves", "open", DAY, DAY),
        ("address_far_from_id_region", "G-far", "open", DAY, DAY),
        ("email_undeliverable", "G-bad-mail", "open", DAY, DAY),
        ("gone_quiet", "G-quiet", "open", DAY, DAY),
        ("unreachable", "G-none", "open", DAY, DAY),
    ]
    evidence = dict(warehouse.rows("select rule, evidence from monitoring.risk_events"))
    assert evidence["address_changed_often"] == (
        "address_line changed on 3 days within 30 days "
        "(2026-04-30, 2026-05-11, 2026-05-19; records winkel:1)"
    )
    assert evidence["email_undeliverable"] == "winkel:3 email: placeholder"
    assert evidence["gone_quiet"] == "last interaction on 2025-10-01, 231 days before 2026-05-20"
    # Evidence never holds a value: not the e-mail, not the phone.
    assert not warehouse.rows(
        "select * from monitoring.risk_events where evidence like '%mailinator%' "
        "or evidence like '%+316%'"
    )


def test_one_contact_on_five_households_is_shared_but_not_within_one_household(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    config = config_with(tmp_path, RULES)
    for n in range(5):  # five strangers, one phone
        warehouse.customer(f"G-s{n}", f"app:s{n}", mobile="+31600000001")
    for n in range(6):  # six people of one household, one phone
        warehouse.customer(f"G-h{n}", f"winkel:h{n}", mobile="+31600000002", address="Dorp 1")
    warehouse.monitor(config)
    shared = warehouse.rows(
        "select golden_customer_id, evidence from monitoring.risk_events "
        "where rule = 'shared_mobile' order by 1"
    )
    assert [golden for golden, _ in shared] == [f"G-s{n}" for n in range(5)]
    assert {evidence for _, evidence in shared} == {
        "one mobile_phone on 5 customers in 5 households"
    }


def test_a_condition_lasting_three_days_is_one_event_cleared_when_it_ends(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    config = config_with(tmp_path, RULES)
    warehouse.customer("G-moves", "winkel:1")
    for days_ago in (25, 12, 0):
        warehouse.change(DAY - timedelta(days=days_ago), "winkel:1")
    for offset in range(3):
        warehouse.monitor(config, DAY + timedelta(days=offset))
    assert events(warehouse) == [
        ("address_changed_often", "G-moves", "open", DAY, DAY + timedelta(days=2))
    ]
    # Day 25 ago leaves the 30-day window six days later: two changes remain, the event clears.
    later = DAY + timedelta(days=6)
    result = warehouse.monitor(config, later)
    assert result.cleared == 1
    assert warehouse.rows("select status, cleared_on from monitoring.risk_events") == [
        ("cleared", later)
    ]
    # An earlier day after a later one changes nothing and says so.
    assert warehouse.monitor(config, DAY).status == "earlier_day"


def test_points_make_tiers_and_entering_high_alerts_once(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    config = config_with(tmp_path, RULES, risk_tiers={"medium": 10, "high": 20})
    # 10 (undeliverable e-mail) + 6 (far from the ID's region) + 5 (moves) = 21: high.
    warehouse.customer(
        "G-risky", "winkel:1", email="x@mailinator.com", placeholder_email=True,
        province_matches_id=False,
    )  # fmt: skip
    for days_ago in (20, 9, 1):
        warehouse.change(DAY - timedelta(days=days_ago), "winkel:1")
    warehouse.customer("G-medium", "winkel:2", email="y@mailinator.com", placeholder_email=True)
    warehouse.customer("G-low", "winkel:3", province_matches_id=False)
    warehouse.monitor(config)
    assert warehouse.rows(
        "select golden_customer_id, risk_points, risk_tier, rules from monitoring.customer_risk "
        "order by 1"
    ) == [
        ("G-low", 6, "low", ["address_far_from_id_region"]),
        ("G-medium", 10, "medium", ["email_undeliverable"]),
        ("G-risky", 21, "high",
         ["address_changed_often", "address_far_from_id_region", "email_undeliverable"]),
    ]  # fmt: skip
    alerts = warehouse.rows("select kind, subject, channel, status from monitoring.alerts")
    assert alerts == [("high_risk_customer", "G-risky", "log", "sent")]
    # Re-running the day changes nothing and alerts nobody again.
    before = warehouse.rows("select * exclude (updated_at) from monitoring.risk_events order by 1")
    result = warehouse.monitor(config)
    assert result.new_alerts == []
    assert (result.opened, result.cleared) == (0, 0)
    assert (
        warehouse.rows("select * exclude (updated_at) from monitoring.risk_events order by 1")
        == before
    )
    assert warehouse.rows("select count(*) from monitoring.alerts") == [(1,)]


def test_a_mass_change_in_one_source_is_one_anomaly_not_a_flood_of_events(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    config = config_with(tmp_path, RULES)
    for n in range(120):
        warehouse.customer(f"G-{n}", f"winkel:{n}")
        # Two ordinary changes earlier in the month ...
        for days_ago in (15, 8):
            warehouse.change(DAY - timedelta(days=days_ago), f"winkel:{n}")
        # ... then a bad import rewrites every address on the day.
        warehouse.change(DAY, f"winkel:{n}")
    result = warehouse.monitor(config)
    assert [(a.source_name, a.field, a.changes) for a in result.anomalies] == [
        ("winkel", "address_line", 120)
    ]
    assert "100.0% of the source's 120 records" in result.anomalies[0].message(DAY)
    # Without the held-back day every customer would have three changes: no events at all.
    assert result.hits_by_rule["address_changed_often"] == 0
    assert warehouse.rows("select kind, source_name, field from monitoring.anomalies") == [
        ("change_volume", "winkel", "address_line")
    ]
    assert warehouse.rows("select kind from monitoring.alerts") == [("change_volume_anomaly",)]


def test_many_customers_at_one_address_are_one_anomaly_alerted_the_day_it_appears(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    config = config_with(tmp_path, [])
    for n in range(40):
        warehouse.customer(f"G-{n:02d}", f"winkel:{n}")  # an address of their own
    for n in range(4):
        warehouse.customer(f"G-family-{n}", f"winkel:f{n}", address="Dorpsstraat 3")
    for n in range(9):
        warehouse.customer(f"G-drop-{n}", f"winkel:d{n}", address=" Postbus 100")
    result = warehouse.monitor(config)
    ((drop,),) = [result.concentrations]
    assert drop.customers == 9
    assert drop.golden_ids == tuple(f"G-drop-{n}" for n in range(5))
    message = drop.message()
    assert message.startswith("9 golden customers share one address (key ")
    assert "G-drop-0, G-drop-1, G-drop-2, G-drop-3, G-drop-4 and 4 more" in message
    assert "Postbus" not in message  # the address is named by its key only
    assert warehouse.rows("select kind, field, changes, subject from monitoring.anomalies") == [
        ("address_concentration", "address_line", 9, drop.address_key)
    ]
    assert warehouse.rows("select kind, subject from monitoring.alerts") == [
        ("address_concentration", drop.address_key)
    ]
    # The next day it is still there: an anomaly of that day too, but no second alert.
    assert len(warehouse.monitor(config, DAY + timedelta(days=1)).concentrations) == 1
    assert warehouse.rows("select count(*) from monitoring.anomalies") == [(2,)]
    assert warehouse.rows("select count(*) from monitoring.alerts") == [(1,)]
    # The cut-off is the warehouse's own: switched off, or set above the count, nothing.
    off = config_with(tmp_path, [], concentration={"min_customers": 10})
    assert warehouse.monitor(off, DAY + timedelta(days=2)).concentrations == []


def test_rules_on_fields_no_source_maps_are_skipped_and_said(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    rules = [{"name": "no_landline", "field": "landline_phone", "kind": "missing", "points": 1}]
    warehouse.customer("G-1", "winkel:1")
    result = warehouse.monitor(config_with(tmp_path, rules))
    assert result.skipped_rules == {"no_landline": "no source maps landline_phone"}
    assert result.status == "no_rules"
    assert events(warehouse) == []


@pytest.mark.parametrize(
    ("rule", "said"),
    [
        ({"name": "r", "field": "shoe_size", "kind": "missing", "points": 1},
         "a missing rule cannot watch shoe_size; allowed: full_name"),
        ({"name": "r", "field": "city", "kind": "shared_contact", "points": 1},
         "a shared_contact rule cannot watch city; allowed: mobile_phone, landline_phone, email"),
        ({"name": "r", "field": "email", "kind": "often", "points": 1},
         "'change_count', 'invalid_value', 'consistency', 'shared_contact', 'missing' or 'stale'"),
    ],
)  # fmt: skip
def test_a_rule_naming_an_unknown_field_or_kind_fails_with_the_allowed_list(
    tmp_path: Path, rule: dict, said: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        config_with(tmp_path, [rule])
    assert said in str(caught.value)
    assert "monitoring.rules[0]" in str(caught.value)


def test_the_monitoring_assets_run_in_dagster_gated_by_their_suites(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    config = config_with(tmp_path, RULES)
    warehouse.customer("G-far", "winkel:4", province_matches_id=False)
    warehouse.con.close()
    suites = tmp_path / "expectations"
    shutil.copytree(settings.expectations_dir() / "monitoring", suites / "monitoring")
    assets = build_monitoring_assets(config)
    checks = build_gate_checks([assets], config, expectations_dir=suites)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [assets, *checks],
        instance=instance,
        partition_key=DAY.isoformat(),
        resources={
            "warehouse": WarehouseResource(path=str(warehouse.path)),
            "governance": GovernanceResource(config_path=str(tmp_path / "governance.yaml")),
        },
    )
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert {e.asset_key.to_user_string() for e in evaluations} == {
        "monitoring/risk_events", "monitoring/customer_risk",
    }  # fmt: skip
    assert all(e.passed for e in evaluations)
    (events_materialization,) = result.asset_materializations_for_node("monitoring")[:1]
    assert events_materialization.metadata["events_opened"].value == 1
    warehouse.con = open_database(warehouse.path)


def test_changes_count_per_record_unless_the_rule_counts_per_customer(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    # One person, two systems, each recording one move on its own day: two days with a change
    # for the customer, one for each record.
    warehouse.customer("G-two-systems", "winkel:1")
    warehouse.con.execute("insert into main.customer_source_xref values ('app:1', 'G-two-systems')")
    warehouse.change(DAY - timedelta(days=3), "winkel:1")
    warehouse.change(DAY - timedelta(days=1), "app:1")
    rule = {"name": "moves", "field": "address_line", "kind": "change_count", "threshold": 2,
            "points": 5}  # fmt: skip
    per_record = warehouse.monitor(config_with(tmp_path, [rule]))
    assert per_record.hits_by_rule == {"moves": 0}
    per_customer = warehouse.monitor(config_with(tmp_path, [{**rule, "count_per": "customer"}]))
    assert per_customer.hits_by_rule == {"moves": 1}
    assert warehouse.rows("select evidence from monitoring.risk_events") == [
        ("address_line changed on 2 days within 30 days (2026-05-17, 2026-05-19; "
         "records app:1, winkel:1)",)
    ]  # fmt: skip


def test_a_change_trigger_fires_only_for_a_value_that_changed_within_the_window(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    rule = {"name": "became_bad", "field": "email", "kind": "invalid_value", "trigger": "change",
            "window_days": 7, "points": 5}  # fmt: skip
    warehouse.customer("G-always", "winkel:1", email="a@mailinator.com", placeholder_email=True)
    warehouse.customer("G-became", "winkel:2", email="b@mailinator.com", placeholder_email=True)
    warehouse.change(DAY - timedelta(days=2), "winkel:2", field="email")
    warehouse.customer("G-long-ago", "winkel:3", email="c@mailinator.com", placeholder_email=True)
    warehouse.change(DAY - timedelta(days=20), "winkel:3", field="email")
    warehouse.monitor(config_with(tmp_path, [rule]))
    assert [golden for _, golden, *_ in events(warehouse)] == ["G-became"]


def test_a_change_trigger_on_a_kind_it_does_not_apply_to_is_refused(tmp_path: Path) -> None:
    rule = {"name": "r", "field": "email", "kind": "missing", "trigger": "change", "points": 1}
    with pytest.raises(ConfigError, match="trigger: change applies to invalid_value and"):
        config_with(tmp_path, [rule])
