"""The whole platform from the command line, as a new user runs it: demo data in, golden out.

A small demo (2,000 people, 3 days) goes through `custodian run` into a temp warehouse; the
result is checked against the generator's ground truth.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from dagster_project.lib.monitoring.detection import detection_quality
from dagster_project.lib.resolve.evaluation import pairwise_and_bcubed
from tests.e2e.support import (
    analyst_values_in_clear,
    custodian,
    demo_environment,
    personal_values,
)
from tests.support.database import open_database

pytestmark = pytest.mark.e2e

START = date(2026, 11, 1)
DAYS = 3
PEOPLE = 2000


def _warehouse(root: Path) -> duckdb.DuckDBPyConnection:
    # Closed by `with`: a read-only handle left open (say, by a failed assertion's traceback)
    # would hold the file lock and make the next command's writes wait.
    return open_database(root / "warehouse" / "custodian.duckdb", read_only=True)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("e2e")
    landing, env = demo_environment(root, customers=PEOPLE, days=DAYS, start=START, seed=7)
    through = (START + timedelta(days=DAYS - 1)).isoformat()
    run = custodian(env, "run", "--through", through)
    return root, landing, env, run


def test_run_succeeds_and_prints_summary(demo_run) -> None:
    root, _, _, run = demo_run
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "partitions run: 3/3 succeeded" in run.stdout
    assert "golden customers:" in run.stdout
    assert "warehouse:" in run.stdout
    with _warehouse(root) as con:
        open_pairs = con.execute(
            "select count(*) from er.review_queue where status = 'open'"
        ).fetchone()[0]
    # A steward learns from the summary that pairs wait for a decision, and how many.
    assert (f"review queue: {open_pairs:,} pair(s)" in run.stdout) == (open_pairs > 0)


def test_every_source_record_has_exactly_one_golden_customer(demo_run) -> None:
    root, landing, _, _ = demo_run
    truth = landing / "_truth" / "person_map.csv"
    query = f"""
        with truth as (select * from read_csv('{truth}', all_varchar=true)),
        xref as (
            select source_name, source_record_id, count(*) as copies,
                   count(golden_customer_id) as with_id
            from main.customer_source_xref group by all
        )
        select
            (select count(*) from truth left join xref
                on truth.source = xref.source_name
               and truth.source_record_id = xref.source_record_id
             where xref.source_name is null or xref.with_id = 0),
            (select count(*) from xref where copies > 1),
            (select count(*) from xref anti join truth
                on truth.source = xref.source_name
               and truth.source_record_id = xref.source_record_id)
    """
    with _warehouse(root) as con:
        missing, doubled, unknown = con.execute(query).fetchone()
    assert (missing, doubled, unknown) == (0, 0, 0)


def test_golden_customers_within_ten_percent_of_true_people(demo_run) -> None:
    root, landing, _, _ = demo_run
    truth = landing / "_truth" / "person_map.csv"
    with _warehouse(root) as con:
        people = con.execute(
            f"select count(distinct person_id) from read_csv('{truth}', all_varchar=true)"
        ).fetchone()[0]
        golden = con.execute("select count(*) from main.golden_customers").fetchone()[0]
    assert abs(golden - people) / people <= 0.10, f"{golden} golden vs {people} people"


# A matching regression fails here, not only in `make bench`: the panel measures the demo shape
# at ~0.97 pairwise F1 (bench/results/panel.json); the floor leaves room for this smaller demo.
PAIRWISE_F1_FLOOR = 0.95


def test_matching_accuracy_stays_above_its_floor(demo_run) -> None:
    root, landing, _, _ = demo_run
    truth_file = landing / "_truth" / "person_map.csv"
    with _warehouse(root) as con:
        predicted = con.execute(
            "select source_name || ':' || source_record_id as record_key, golden_customer_id "
            "as cluster_id from main.customer_source_xref"
        ).to_arrow_table()
        truth = con.execute(
            "select source || ':' || trim(source_record_id) as record_key, person_id as entity_id "
            f"from read_csv('{truth_file}', all_varchar=true)"
        ).to_arrow_table()
    scores = pairwise_and_bcubed(predicted, truth)
    assert scores["records_missing_from_prediction"] == 0
    assert scores["f1"] >= PAIRWISE_F1_FLOOR, scores


def test_monitoring_finds_the_injected_events_of_a_short_demo(demo_run) -> None:
    # Three days hold every event type but the address, mobile and tags-or-level ones (they
    # need 4, 5 and 4 days; make bench measures them all on a longer demo).
    root, landing, _, _ = demo_run
    with _warehouse(root) as con:
        found = {d.event_type: d for d in detection_quality(con, landing / "_truth")}
        tiers = dict(
            con.execute(
                "select risk_tier, count(*) from monitoring.customer_risk group by 1"
            ).fetchall()
        )
    labelled = [d for d in found.values() if d.labelled]
    assert {d.event_type for d in labelled} >= {
        "email_became_invalid", "shared_phone", "province_mismatch_id_region",
        "billing_address_changed_2x_month", "name_changed_2x_month", "shared_email",
        "birth_date_mismatch_id", "no_interaction_for_a_year",
    }  # fmt: skip
    for detection in labelled:
        assert detection.recall >= 0.9, detection
        assert detection.precision >= 0.8, detection
    # Each holder of the shared phone has its 10 points: medium risk at least.
    assert tiers.get("medium", 0) + tiers.get("high", 0) >= found["shared_phone"].labelled
    # Analysts query the tier as an attribute of the golden customer.
    _, _, env, _ = demo_run
    analyst = custodian(
        env, "sql", "--format", "json",
        "select risk_tier, count(*) as customers from golden_customers group by 1",
    )  # fmt: skip
    assert analyst.returncode == 0, analyst.stderr
    analyst_tiers = {row["risk_tier"]: row["customers"] for row in json.loads(analyst.stdout)}
    assert {tier: analyst_tiers.get(tier, 0) for tier in ("medium", "high")} == {
        tier: tiers.get(tier, 0) for tier in ("medium", "high")
    }
    assert analyst_tiers["low"] > 0


def test_docs_builds_the_data_dictionary_site_offline(demo_run) -> None:
    root, _, env, _ = demo_run
    docs = custodian(env, "docs", timeout=300)
    assert docs.returncode == 0, docs.stdout[-2000:] + docs.stderr[-2000:]
    assert "data dictionary:" in docs.stdout
    html = (root / "warehouse" / "reports" / "dbt_docs" / "static_index.html").read_text("utf-8")
    # The dictionary's own words for the golden table, in one self-contained page.
    assert "golden_customer_id" in html
    assert "completeness_score" in html
    assert not re.search(r"<script[^>]*\bsrc=[\"']?https?:", html)


def test_gates_ran_and_were_recorded(demo_run) -> None:
    root, _, _, _ = demo_run
    with _warehouse(root) as con:
        rows = con.execute("select distinct suite_name from quality.gate_results").fetchall()
    assert {"golden_customers", "customer_source_xref", "int_customer_records"} <= {
        row[0] for row in rows
    }


def test_monthly_audit_and_retention_run_and_say_what_they_did(demo_run) -> None:
    root, _, env, _ = demo_run
    audit = custodian(env, "audit", "--month", "2026-11")
    assert audit.returncode == 0, audit.stdout[-2000:] + audit.stderr[-2000:]
    assert "audit/quality_metrics" in audit.stdout
    purge = custodian(env, "purge", "--month", "2026-11")
    assert purge.returncode == 0, purge.stdout[-2000:] + purge.stderr[-2000:]
    assert "quarantine_rows" in purge.stdout
    with _warehouse(root) as con:
        sources = con.execute(
            "select count(distinct source_name) from audit.quality_metrics "
            "where audit_month = '2026-11-01'"
        ).fetchone()[0]
    assert sources == 4


def test_sql_reads_the_masked_analyst_database_and_admins_the_warehouse(demo_run) -> None:
    root, _, env, _ = demo_run
    query = "select email, mobile_phone_e164 from golden_customers where email is not null"
    masked = custodian(env, "sql", query + " limit 3")
    assert masked.returncode == 0, masked.stderr
    assert "***@" in masked.stdout
    assert "analyst database (masked at rest)" in masked.stdout
    warehouse_query = query.replace("from ", "from main.") + " limit 3"
    unmasked = custodian(env, "sql", "--unmasked", warehouse_query)
    assert unmasked.returncode == 0, unmasked.stderr
    assert "***@" not in unmasked.stdout
    with _warehouse(root) as con:
        emails = {row[0] for row in con.execute(query).fetchall()}
    # The addresses themselves, not merely no masked ones (an empty output has none either).
    shown = [email for email in emails if email in unmasked.stdout]
    assert shown
    refused = custodian(env, "sql", "delete from golden_customers")
    assert refused.returncode == 2
    assert "only select" in refused.stderr.lower()


def test_no_value_in_the_analyst_database_is_a_raw_name_phone_email_or_id(demo_run) -> None:
    root, _, env, _ = demo_run
    personal, scanned, found = analyst_values_in_clear(
        root / "warehouse", Path(env["CUSTODIAN_CONFIG"])
    )
    assert personal > 10_000  # the demo's people, each with several identifiers
    assert scanned > 10_000
    assert not found, f"personal values in clear in the analyst database: {found}"


def test_database_files_and_temp_files_hold_no_customer_value_in_clear(demo_run) -> None:
    """R26: the warehouse and the analyst database are encrypted at rest, and no temp or spill
    file the run left holds a customer's name, phone, e-mail or ID."""
    root, landing, env, _ = demo_run
    with _warehouse(root) as con:
        personal = sorted(personal_values(con, Path(env["CUSTODIAN_CONFIG"])))
    # A spread of 400 values long enough not to occur by chance in encrypted bytes.
    long_values = [value for value in personal if len(value.encode("utf-8")) >= 6]
    sample = long_values[:: max(1, len(long_values) // 400)]
    needles = [value.encode("utf-8") for value in sample]

    def values_in(paths: list[Path]) -> dict[str, int]:
        found = {}
        for path in paths:
            content = path.read_bytes()
            found[str(path)] = sum(1 for needle in needles if needle in content)
        return found

    delivered = [p for p in landing.rglob("*.csv") if "_truth" not in p.parts]
    # The search sees values where they are in clear: the delivered files.
    assert sum(values_in(delivered).values()) > len(sample) // 4
    database_files = sorted((root / "warehouse").glob("*.duckdb*"))
    assert {"custodian.duckdb", "analytics.duckdb"} <= {p.name for p in database_files}
    temp_files = [p for p in (root / "tmp").rglob("*") if p.is_file()]
    leaks = {path: hits for path, hits in values_in(database_files + temp_files).items() if hits}
    assert leaks == {}


def test_every_column_the_models_produce_is_in_the_data_dictionary(demo_run) -> None:
    import yaml

    from dagster_project import settings
    from dagster_project.config import load_config
    from dagster_project.lib.transform.source_models import source_model_files

    root, _, env, _ = demo_run
    models = settings.dbt_project_dir() / "models"
    texts = [path.read_text(encoding="utf-8") for path in models.rglob("_*.yml")]
    # The staging models' entries are generated per configured source.
    generated = source_model_files(load_config(env["CUSTODIAN_CONFIG"]), settings.dbt_project_dir())
    texts += [text for name, text in generated.items() if name.endswith(".yml")]
    documented: dict[str, list[str]] = {}
    for text in texts:
        for model in (yaml.safe_load(text) or {}).get("models", []):
            documented[model["name"]] = [column["name"] for column in model["columns"]]
    with _warehouse(root) as con:
        produced = dict(
            con.sql(
                "select table_name, list(column_name order by ordinal_position) "
                "from information_schema.columns "
                "where table_schema in ('staging', 'intermediate', 'candidate') "
                "group by table_name"
            ).fetchall()
        )
        published = dict(
            con.sql(
                "select table_name, list(column_name order by ordinal_position) "
                "from information_schema.columns where table_schema = 'main' "
                "group by table_name"
            ).fetchall()
        )
    assert set(produced) == set(documented)
    for model, columns in produced.items():
        assert sorted(columns) == sorted(documented[model]), model
    # What analysts read is the gated candidate, published whole.
    assert set(published) == {"golden_customers", "golden_field_lineage", "customer_source_xref"}
    for table, columns in published.items():
        assert columns == produced[table], table


def test_standardisation_judges_the_demo_corruptions(demo_run) -> None:
    """The generator corrupts known shares of values (demo README): the flags must see them."""
    root = demo_run[0]
    with _warehouse(root) as con:
        rates = dict(
            zip(
                ["email", "mobile", "national_id", "pinyin", "divisions"],
                con.sql(
                    """
                    select
                        avg(case when email_is_valid is not null
                            then (not email_is_valid)::int end),
                        avg(case when mobile_phone_is_valid is not null
                            then (not mobile_phone_is_valid)::int end),
                        avg(case when national_id_is_valid is not null
                            then (not national_id_is_valid)::int end),
                        avg(case when name_script = 'han' then (name_pinyin is not null)::int end),
                        avg(case when country_code = 'CN' and province is not null
                            then (admin_division_code is not null)::int end)
                    from intermediate.int_customer_records
                    """
                ).fetchone(),
                strict=True,
            )
        )
    # Corruption rates are 0.5-3% per source for e-mail, 1-1.5% for mobiles, 2% for ID check
    # digits; placeholders and missing digits add a little. Far above these means valid values
    # are being rejected; zero means the validators are not looking.
    assert 0.005 < rates["email"] < 0.06, rates
    assert 0.003 < rates["mobile"] < 0.04, rates
    assert 0.005 < rates["national_id"] < 0.05, rates
    assert rates["pinyin"] == 1.0, rates
    assert rates["divisions"] > 0.95, rates


def _tables_that_must_not_move(root: Path) -> dict[str, list[tuple]]:
    """Customers, their records and the record history, without the run that wrote them."""
    with _warehouse(root) as con:
        return {
            name: con.execute(query).fetchall()
            for name, query in {
                "xref": "select record_key, golden_customer_id from main.customer_source_xref "
                "order by all",
                "golden": "select * from main.golden_customers order by golden_customer_id",
                "versions": "select * exclude (version_run_id, loaded_at) "
                "from history.customer_record_versions order by record_key, valid_from, is_deleted",
                "changes": "select * exclude (run_id, recorded_at) from history.change_log "
                "where change_level = 'record' order by all",
                "presence": "select * from history.record_presence order by all",
                "applied_by": "select distinct run_id from history.applied_days",
            }.items()
        }


def test_history_holds_the_demo_changes_and_shows_a_customers_history_masked(demo_run) -> None:
    root, _, env, _ = demo_run
    with _warehouse(root) as con:
        applied = con.execute(
            "select partition_date, inserted, updated from history.applied_days order by 1"
        ).fetchall()
        golden_id, old_email, new_email = con.execute(
            "select golden_customer_id, old_value, new_value from history.change_log "
            "where field = 'email' and change_type = 'update' and golden_customer_id is not null "
            "and old_value is not null and new_value is not null order by all limit 1"
        ).fetchone()
    assert [day for day, _, _ in applied] == [START + timedelta(days=n) for n in range(DAYS)]
    # Day one is the full extract (all inserts); later days carry the generator's updates.
    assert applied[0][1] > PEOPLE
    assert applied[0][2] == 0
    assert all(updated > 0 for _, _, updated in applied[1:]), applied
    wide = {**env, "COLUMNS": "400", "CUSTODIAN_USER": "steward"}
    shown = custodian(wide, "history", "--customer", golden_id)
    assert shown.returncode == 0, shown.stderr
    assert "email" in shown.stdout, shown.stdout
    assert " update " in shown.stdout, shown.stdout
    assert old_email not in shown.stdout
    assert new_email not in shown.stdout
    assert "@" in shown.stdout  # masked e-mails keep their domain
    refused = custodian({**wide, "CUSTODIAN_USER": "analyst"}, "history", "--customer", golden_id)
    assert refused.returncode == 3, refused.stderr


def test_a_full_refresh_rebuilds_the_same_customers_and_history(demo_run) -> None:
    root, _, env, _ = demo_run
    before = _tables_that_must_not_move(root)
    through = (START + timedelta(days=DAYS - 1)).isoformat()
    refreshed = custodian(env, "run", "--date", through, "--full-refresh")
    assert refreshed.returncode == 0, refreshed.stdout[-3000:] + refreshed.stderr[-3000:]
    with _warehouse(root) as con:
        rebuilt_by = con.execute("select distinct run_id from history.applied_days").fetchall()
        applied_days = con.execute("select count(*) from history.applied_days").fetchone()[0]
    # Every day was applied again, by the refresh's one run.
    assert applied_days == DAYS
    assert len(rebuilt_by) == 1
    assert rebuilt_by[0] not in before["applied_by"]
    after = _tables_that_must_not_move(root)
    for name in before.keys() - {"applied_by"}:
        assert after[name] == before[name], name


def test_the_current_marketing_consent_is_the_latest_and_withdrawn_hides_contacts(
    demo_run,
) -> None:
    root, *_ = demo_run
    with _warehouse(root) as con:
        (without_source,) = con.execute(
            "select count(*) from main.golden_customers "
            "where consent_marketing is not null and consent_marketing_source is null"
        ).fetchone()
        sources = {
            row[0]
            for row in con.execute(
                "select distinct consent_marketing_source from main.golden_customers "
                "where consent_marketing_source is not null"
            ).fetchall()
        }
        # most_recent: the consent comes from the customer's latest record that states one.
        (not_latest,) = con.execute(
            """
            select count(*) from main.golden_customers as golden
            join (
                select xref.golden_customer_id, max(records.updated_at) as latest
                from main.customer_source_xref as xref
                join intermediate.int_customer_records as records using (record_key)
                where records.consent_marketing is not null
                group by 1
            ) as stated using (golden_customer_id)
            where golden.consent_marketing_source <> 'steward'
              and golden.consent_marketing_updated_at is distinct from stated.latest
            """
        ).fetchone()
    assert without_source == 0
    assert sources
    assert sources <= {"crm", "erp_billing", "web_signup", "call_center", "steward"}
    assert not_latest == 0
    with open_database(root / "warehouse" / "analytics.duckdb", read_only=True) as con:
        withdrawn, shown = con.execute(
            "select count(*), count(email) + count(mobile_phone_e164) + count(address_line) "
            "from golden_customers where consent_marketing = false"
        ).fetchone()
    assert withdrawn > 0
    assert shown == 0
