"""A company's own data, as a new user brings it: `custodian init`, a config with two sources of
its own (none of the demo's), `custodian run`, and nothing else edited.

The two exports differ as real ones do: a shop's customers as a Latin-1 CSV with `;` and CRLF,
"Family, Given" names and German dates; a support desk's tickets as JSON Lines with a quarter of
the phone numbers too short to be valid (the desk types what callers say), which the config
accepts for that source alone. Then, in the same warehouse:

1. day one runs and publishes a gated golden table (a third source, configured ahead of its
   first delivery, sends nothing and breaks nothing);
2. day two with a golden gate the data fails (set in governance.yaml) is refused and the
   published golden table stays exactly as it was, readable;
3. day two again, with the gate as shipped and the support desk removed from the config,
   publishes, and nothing of the support desk is left but its loaded raw data.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from dagster_project.lib.transform.dbt_project import dbt_state_dir
from dagster_project.settings import PROJECT_ROOT
from tests.e2e.support import analyst_values_in_clear, custodian
from tests.support.database import open_database

pytestmark = pytest.mark.e2e

DAY_1, DAY_2 = date(2026, 11, 1), date(2026, 11, 2)
FIRST = ["Anna", "Lukas", "Marie", "Jonas", "Lea", "Felix", "Sophie", "Paul", "Emma", "Ben"]
LAST = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker"]
CITIES = ["Berlin", "München", "Köln", "Hamburg", "Leipzig"]
THROWAWAY_PERSON = 6
CORRECTED_EMAIL = "sophie.6@beispiel.de"


def _land(landing: Path, day: date, people: int) -> None:
    shop = landing / "shop" / day.isoformat() / "kunden.csv"
    support = landing / "support" / f"tickets_{day:%Y%m%d}.jsonl"
    shop.parent.mkdir(parents=True, exist_ok=True)
    support.parent.mkdir(parents=True, exist_ok=True)
    lines = ["kundennr;name;mail;geburtstag"]
    tickets = []
    for i in range(people):
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
        # Person 6 gave the shop a throw-away mailbox (and has no ticket): a monitoring case.
        domain = "mailinator.com" if i == THROWAWAY_PERSON else "beispiel.de"
        email = f"{first.lower()}.{i}@{domain}"
        born = date(1950, 1, 1) + timedelta(days=(i * 397) % 20000)
        lines.append(f"S{i};{last}, {first};{email};{born:%d.%m.%Y}")
        if i % 3:
            # A quarter of the desk's numbers miss digits.
            phone = "+49 30 12" if i % 4 == 0 else f"+49 30 {2000000 + i * 7919 % 7000000}"
            tickets.append(
                {"ticket_user": f"T{i}", "who": f"{first} {last}", "tel": phone,
                 "ort": CITIES[i % len(CITIES)], "email": email.upper()}
            )  # fmt: skip
    shop.write_bytes(("\r\n".join(lines) + "\r\n").encode("latin-1"))
    support.write_text(
        "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in tickets), encoding="utf-8"
    )


def _sources() -> list[dict]:
    return [
        {
            "name": "shop",
            "system": "web",
            "description": "Web shop customers.",
            "path": "shop/{date:%Y-%m-%d}/kunden.csv",
            "format": "csv",
            "encoding": "latin-1",
            "delimiter": ";",
            "start_date": DAY_1.isoformat(),
            "trust_rank": 1,
            "default_region": "DE",
            "mapping": {
                "source_record_id": "kundennr",
                "full_name": "name",
                "email": "mail",
                "date_of_birth": "geburtstag",
            },
        },
        {
            "name": "support",
            "system": "call_center",
            "path": "support/tickets_{date:%Y%m%d}.jsonl",
            "format": "jsonl",
            "start_date": DAY_1.isoformat(),
            "trust_rank": 2,
            "default_region": "DE",
            "mapping": {
                "source_record_id": "ticket_user",
                "full_name": "who",
                "mobile_phone": "tel",
                "city": "ort",
                "email": "email",
            },
            "gates": {
                "intermediate.int_customer_records": {
                    "gx_mobile_phone_is_valid__in_set__critical": {"mostly": 0.7}
                }
            },
        },
        {
            # Configured ahead of its first delivery: nothing lands, nothing breaks.
            "name": "newsletter",
            "system": "marketing",
            "path": "newsletter/{date:%Y-%m-%d}.parquet",
            "format": "parquet",
            "start_date": DAY_1.isoformat(),
            "trust_rank": 3,
            "on_missing": "skip",
            "mapping": {"source_record_id": "subscriber", "email": {"expr": "lower(addr)"}},
        },
    ]


def _project_files() -> str:
    """A digest of every file a user could have had to edit: models, macros, suites."""
    digest = hashlib.sha256()
    for folder in ("dbt/models", "dbt/macros", "dbt/dictionary", "expectations"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def _write(path: Path, config: dict) -> None:
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _golden(warehouse: Path) -> tuple[int, str, int, dict[str, int]]:
    """Published golden rows, a digest of their content, the candidate's rows and the published
    source records per source."""
    with open_database(warehouse, read_only=True) as con:
        rows = con.execute("select * from main.golden_customers order by all").fetchall()
        candidate = con.execute("select count(*) from candidate.golden_customers").fetchone()[0]
        sources = dict(
            con.execute(
                "select source_name, count(*) from main.customer_source_xref group by all"
            ).fetchall()
        )
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest(), candidate, sources


def _case_of_throwaway_person(warehouse: Path) -> dict:
    """The throw-away mailbox's case, its customer's golden e-mail, events and risk."""
    with open_database(warehouse, read_only=True) as con:
        golden_id, email = con.execute(
            "select golden_customer_id, email from main.golden_customers where "
            "golden_customer_id = (select golden_customer_id from main.customer_source_xref "
            f"where source_record_id = 'S{THROWAWAY_PERSON}')"
        ).fetchone()
        cases = con.execute(
            "select case_id, rule from monitoring.cases where golden_customer_id = ?", [golden_id]
        ).fetchall()
        events = con.execute(
            "select rule, status from monitoring.risk_events where golden_customer_id = ? "
            "order by first_detected",
            [golden_id],
        ).fetchall()
        risk = con.execute(
            "select risk_tier from monitoring.customer_risk where golden_customer_id = ?",
            [golden_id],
        ).fetchall()
        opened = con.execute(
            "select count(*) from monitoring.cases where golden_customer_id != ?", [golden_id]
        ).fetchone()[0]
    return {
        "case_id": cases[0][0] if cases else "",
        "cases": cases,
        "email": email,
        "events": events,
        "risk": risk,
        "other_cases": opened,
    }


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("own_data")
    warehouse = root / "warehouse" / "custodian.duckdb"
    env = {
        **os.environ,
        "CUSTODIAN_WAREHOUSE": str(warehouse),
        "DAGSTER_HOME": str(root / "dagster_home"),
    }
    env.pop("CUSTODIAN_CONFIG", None)
    config_path = root / "governance.yaml"
    steps: dict = {"project_before": _project_files(), "warehouse": warehouse}
    steps["init"] = custodian(env, "init", str(config_path))
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["landing_root"] = "landing"
    config["schedule"]["timezone"] = "Europe/Berlin"
    config["sources"] = _sources()
    config["monitoring"]["rules"] = [
        {"name": "mailbox_undeliverable", "description": "A throw-away or invalid e-mail.",
         "field": "email", "kind": "invalid_value", "points": 10, "severity": "medium"}
    ]  # fmt: skip
    _write(config_path, config)
    _land(root / "landing", DAY_1, 160)
    _land(root / "landing", DAY_2, 200)
    run = ("run", "--config", str(config_path))

    steps["day_1"] = custodian(env, *run, "--date", DAY_1.isoformat())
    steps["after_day_1"] = _golden(warehouse)
    with open_database(warehouse, read_only=True) as con:
        # People (S7 and T7 are person 7) and (person, golden customer) pairs.
        steps["people_day_1"] = con.execute(
            "select count(distinct substr(source_record_id, 2)), "
            "count(distinct (substr(source_record_id, 2), golden_customer_id)) "
            "from main.customer_source_xref"
        ).fetchone()
    # What an analyst sees of this shop, and who may see it: init made its runner (admin).
    sql = ("sql", "--config", str(config_path))
    steps["sql_day_1"] = custodian(
        env, *sql, "--format", "json",
        "select count(*) as customers, count(distinct email) as emails from golden_customers",
    )  # fmt: skip
    steps["sql_stranger"] = custodian(env, *sql, "--as", "stranger", "select 1")
    steps["analyst_scan_day_1"] = analyst_values_in_clear(warehouse.parent, config_path)
    # A steward works the throw-away mailbox's case: calls the customer, corrects the e-mail.
    steps["case_day_1"] = _case_of_throwaway_person(warehouse)
    steps["case_resolved"] = custodian(
        env, "cases", "resolve", steps["case_day_1"]["case_id"], "--config", str(config_path),
        "--outcome", "corrected", "--by", "Jana Kurz", "--note", "called; new address given",
        "--set", f"email={CORRECTED_EMAIL}",
    )  # fmt: skip

    strict = json.loads(json.dumps(config))
    strict["quality"] = {
        "gates": {"candidate.golden_customers": {"gx_table_row_count_between": {"max_value": 5}}}
    }
    _write(config_path, strict)
    steps["refused"] = custodian(env, *run, "--date", DAY_2.isoformat())
    steps["after_refused"] = _golden(warehouse)
    with open_database(warehouse, read_only=True) as con:
        steps["alerts_after_refused"] = con.execute(
            "select partition_date, channel, message from monitoring.alerts "
            "where kind = 'gate_failed'"
        ).fetchall()

    # The gate as shipped again, and the support desk gone from the config: one run shows both
    # that the refused day now publishes and that a removed source leaves nothing behind.
    config["sources"] = [s for s in config["sources"] if s["name"] != "support"]
    _write(config_path, config)
    steps["day_2"] = custodian(env, *run, "--date", DAY_2.isoformat())
    steps["after_day_2"] = _golden(warehouse)
    steps["case_day_2"] = _case_of_throwaway_person(warehouse)
    steps["project_after"] = _project_files()

    # The lifecycle on this config: a hold, the retention job archiving everyone without
    # activity in the last day of November (all of the shop's customers), a backup.
    with open_database(warehouse, read_only=True) as con:
        steps["golden_before_purge"] = sorted(
            row[0] for row in con.execute("select golden_customer_id from main.golden_customers")
            .fetchall()
        )  # fmt: skip
    steps["held"] = steps["golden_before_purge"][0]
    admin = ("--config", str(config_path), "--as", "admin")
    steps["hold"] = custodian(env, "hold", "place", "--golden-id", steps["held"], "--reason",
                              "Rechtsstreit 4711", "--by", "legal", *admin)  # fmt: skip
    config["retention"]["policies"] = [
        {"name": "inactive", "applies_to": "inactive_customers", "keep_days": 1,
         "action": "archive"},
        {"name": "quarantine", "applies_to": "quarantine", "keep_days": 1, "action": "purge"},
    ]  # fmt: skip
    _write(config_path, config)
    steps["purge"] = custodian(env, "purge", "--month", "2026-11", "--config", str(config_path))
    with open_database(warehouse, read_only=True) as con:
        steps["golden_after_purge"] = sorted(
            row[0] for row in con.execute("select golden_customer_id from main.golden_customers")
            .fetchall()
        )  # fmt: skip
    steps["backup"] = custodian(env, "backup", *admin)
    return steps


def _ok(result) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_init_and_the_config_are_all_it_takes(journey: dict) -> None:
    _ok(journey["init"])
    _ok(journey["day_1"])
    assert "partitions run: 1/1 succeeded" in journey["day_1"].stdout
    # No model, suite or dictionary entry was added, edited or deleted along the way.
    assert journey["project_after"] == journey["project_before"]


def test_day_one_publishes_a_gated_golden_table_of_both_sources(journey: dict) -> None:
    rows, _, candidate, sources = journey["after_day_1"]
    # 160 people sharing 80 names in pairs, a desk ticket from two in three of them: with the
    # shipped demo model (this config has trained none) each person is one customer, namesakes
    # are not merged and a ticket joins its shop record.
    assert rows == candidate == 160
    with open_database(journey["warehouse"], read_only=True) as con:
        gated = {
            row[0]
            for row in con.execute("select distinct asset_key from quality.gate_results").fetchall()
        }
        published = con.execute("select count(*) from ops.publish_log").fetchone()[0]
    assert sources == {"shop": 160, "support": 106}
    assert journey["people_day_1"] == (160, 160)
    assert {
        "raw/shop__customers",
        "raw/support__customers",
        "intermediate/int_customer_records",
        "candidate/golden_customers",
        "candidate/customer_source_xref",
    } <= gated
    assert published >= 3


def test_the_analyst_database_of_an_unfamiliar_config_is_masked_and_role_gated(
    journey: dict,
) -> None:
    _ok(journey["sql_day_1"])
    (counts,) = json.loads(journey["sql_day_1"].stdout)
    assert counts["customers"] == 160
    personal, scanned, found = journey["analyst_scan_day_1"]
    assert personal >= 160  # at least a name per person
    assert scanned > 160
    assert not found, f"personal values in clear in the analyst database: {found}"
    stranger = journey["sql_stranger"]
    assert stranger.returncode == 3
    assert "has no role" in " ".join(stranger.stderr.split())


def test_a_failed_golden_gate_keeps_the_published_table_readable_and_unchanged(
    journey: dict,
) -> None:
    refused = journey["refused"]
    assert refused.returncode == 1, refused.stdout[-2000:] + refused.stderr[-2000:]
    stderr = " ".join(refused.stderr.split())
    assert "check candidate/golden_customers:gx_table_row_count_between failed (ERROR)" in stderr
    assert "not published: analysts still read main.golden_customers" in stderr
    assert f"for {DAY_1}" in stderr
    rows_1, digest_1, _, _ = journey["after_day_1"]
    rows, digest, candidate, _ = journey["after_refused"]
    assert (rows, digest) == (rows_1, digest_1)
    # The rejected build is there to look at, and it held day two's new customers.
    assert candidate > rows


def test_the_failed_gate_alerted_without_a_personal_value(journey: dict) -> None:
    ((day, channel, message),) = journey["alerts_after_refused"]
    assert (day, channel) == (DAY_2, "log")
    assert message.startswith(f"quality gate golden_customers failed for {DAY_2} (run ")
    assert "gx_table_row_count_between" in message
    assert "@" not in message


def test_a_case_corrected_by_a_steward_changes_the_golden_value_on_the_next_run(
    journey: dict,
) -> None:
    before, after = journey["case_day_1"], journey["case_day_2"]
    # Day one: the throw-away mailbox opened the one medium case, and the customer is medium.
    assert [rule for _, rule in before["cases"]] == ["mailbox_undeliverable"]
    assert before["other_cases"] == 0
    assert before["events"] == [("mailbox_undeliverable", "open")]
    assert before["risk"] == [("medium",)]
    assert before["email"] != CORRECTED_EMAIL
    resolved = journey["case_resolved"]
    _ok(resolved)
    assert "apply when golden_customers is next built" in " ".join(resolved.stdout.split())
    assert CORRECTED_EMAIL not in resolved.stdout + resolved.stderr
    # Day two: the golden table holds the steward's value; the shop still sends the throw-away
    # mailbox, but the resolved evidence raises nothing again and the risk is gone.
    assert after["email"] == CORRECTED_EMAIL
    assert after["cases"] == before["cases"]
    assert after["events"] == [("mailbox_undeliverable", "resolved")]
    assert after["risk"] == []


def test_the_same_day_publishes_once_the_gate_fits(journey: dict) -> None:
    _ok(journey["day_2"])
    rows, digest, candidate, sources = journey["after_day_2"]
    assert sources == {"shop": 200}
    assert rows == candidate
    assert digest != journey["after_day_1"][1]


def test_a_source_removed_from_the_config_is_gone_without_an_error(journey: dict) -> None:
    result = journey["day_2"]
    _ok(result)
    assert "support" not in result.stdout.split("partitions run")[0]
    with open_database(journey["warehouse"], read_only=True) as con:
        sources = {
            row[0]
            for row in con.execute(
                "select distinct source_name from main.customer_source_xref"
            ).fetchall()
        }
        views = {
            row[0]
            for row in con.execute(
                "select view_name from duckdb_views() where schema_name = 'staging'"
            ).fetchall()
        }
    assert sources == {"shop"}
    generated = dbt_state_dir(journey["warehouse"]) / "project" / "source_models"
    assert sorted(path.name for path in generated.glob("stg_*.sql")) == [
        "stg_newsletter__customers.sql",
        "stg_shop__customers.sql",
    ]
    assert "stg_shop__customers" in views
    assert "stg_support__customers" not in views


def test_retention_and_backup_work_on_a_config_unlike_the_demo(journey: dict) -> None:
    for step in ("hold", "purge", "backup"):
        _ok(journey[step])
    before, after = journey["golden_before_purge"], journey["golden_after_purge"]
    assert len(before) > 50
    # Every customer was inactive on 30 November; the held one stays.
    assert after == [journey["held"]]
    archive = journey["warehouse"].parent / "archive.duckdb"
    assert archive.exists()
    assert "verified by a test restore" in " ".join(journey["backup"].stdout.split())
