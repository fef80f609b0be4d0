"""Resolution against a real DuckDB file with the shipped Splink model: linking, the name guard,
the comparison budget, steward decisions as constraints, stable IDs, and model checks."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from dagster_project.config import load_config
from dagster_project.lib.resolve.resolver import resolve_customers
from dagster_project.lib.resolve.review import record_decision
from dagster_project.lib.resolve.splink_model import (
    ModelError,
    load_model,
    match_input_sql,
    predict_pairs,
)
from dagster_project.settings import PROJECT_ROOT
from tests.support.database import open_database

MATCHING = load_config(PROJECT_ROOT / "governance.yaml").matching
MODEL = PROJECT_ROOT / MATCHING.model_path

# The int_customer_records columns matching reads (splink_model.match_input_sql).
COLUMNS = {
    "record_key": "varchar",
    "source_name": "varchar",
    "source_record_id": "varchar",
    "full_name": "varchar",
    "name_original_script": "varchar",
    "name_tokens": "varchar[]",
    "name_sorted_key": "varchar",
    "name_joined_key": "varchar",
    "gender": "varchar",
    "date_of_birth": "date",
    "date_of_birth_is_valid": "boolean",
    "national_id": "varchar",
    "national_id_is_valid": "boolean",
    "national_id_gender": "varchar",
    "mobile_phone_e164": "varchar",
    "mobile_phone_is_valid": "boolean",
    "mobile_phone_digits": "varchar",
    "landline_phone_e164": "varchar",
    "landline_phone_is_valid": "boolean",
    "landline_phone_digits": "varchar",
    "email_normalised": "varchar",
    "email_is_valid": "boolean",
    "email_is_placeholder": "boolean",
    "street_line": "varchar",
    "city_key": "varchar",
    "admin_division_code": "varchar",
    "postal_code": "varchar",
    "postal_code_is_valid": "boolean",
    "company_name": "varchar",
}


def person(key: str, name: str, tokens: list[str], **fields) -> dict:
    source, record_id = key.split(":")
    han = name if any("\u4e00" <= ch <= "\u9fff" for ch in name) else None
    return {
        "record_key": key,
        "source_name": source,
        "source_record_id": record_id,
        "full_name": name,
        "name_original_script": han,
        "name_tokens": tokens,
        "name_sorted_key": " ".join(sorted(tokens)) if len(tokens) > 1 else None,
        "name_joined_key": "".join(tokens) if len(tokens) > 1 else None,
        **fields,
    }


ZHANG = {"date_of_birth": "1990-05-03", "mobile_phone_e164": "+8613800138000",
         "email_normalised": "zhangsan@qq.com", "city_key": "北京", "street_line": "长安街1号",
         "postal_code": "100000"}  # fmt: skip
RECORDS = [
    # One person written three ways in three systems.
    person("crm:1", "张三", ["ZHANG", "SAN"], national_id="11010119900503123X", **ZHANG),
    person("erp_billing:9", "张三", ["ZHANG", "SAN"], national_id="11010119900503123X",
           **{**ZHANG, "email_normalised": None}),
    person("web_signup:w1", "San Zhang", ["SAN", "ZHANG"], **{**ZHANG, "postal_code": None}),
    # Her sister: same flat, same landline and surname, another given name and birthday.
    person("crm:2", "张丽", ["ZHANG", "LI"], date_of_birth="1988-02-11",
           landline_phone_e164="+861065550000", city_key="北京", street_line="长安街1号",
           postal_code="100000", mobile_phone_e164="+8613911112222"),
    person("erp_billing:3", "张丽", ["ZHANG", "LI"], date_of_birth="1988-02-11",
           landline_phone_e164="+861065550000", city_key="北京", street_line="长安街1号",
           postal_code="100000", email_normalised="zhangli@163.com"),
    # A stranger abroad.
    person("crm:3", "John Smith", ["JOHN", "SMITH"], date_of_birth="1970-07-07",
           mobile_phone_e164="+14155550134", email_normalised="john@example.com",
           city_key="SAN FRANCISCO"),
]  # fmt: skip


# Term frequencies come from the data: among six records every name would look common. 300
# unrelated customers give the values realistic frequencies.
def _name(seed: str) -> list[str]:
    """Two name parts unlike anyone else's (numbered names look like typos of each other)."""
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return [
        "".join(chr(65 + int(c, 16)) for c in digest[:6]),
        "".join(chr(65 + int(c, 16)) for c in digest[6:11]),
    ]


FILLER = [
    person(f"web_signup:f{i}", " ".join(_name(f"f{i}")), _name(f"f{i}"),
           date_of_birth=f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}",
           mobile_phone_e164=f"+86139{i:08d}", email_normalised=f"filler{i}@example.org",
           city_key=f"CITY {i % 40}", street_line=f"{i} Filler Road")
    for i in range(300)
]  # fmt: skip


def write_records(con: duckdb.DuckDBPyConnection, records: list[dict]) -> None:
    con.execute("create schema if not exists intermediate; create schema if not exists er")
    columns = ", ".join(f"{name} {kind}" for name, kind in COLUMNS.items())
    con.execute(f"create or replace table intermediate.int_customer_records ({columns})")
    for record in records:
        values = [record.get(name) for name in COLUMNS]
        con.execute(
            "insert into intermediate.int_customer_records values "
            f"({', '.join('?' * len(values))})",
            values,
        )


@pytest.fixture
def warehouse(tmp_path: Path):
    con = open_database(tmp_path / "w.duckdb")
    write_records(con, RECORDS + FILLER)
    yield con
    con.close()


def resolve(
    con: duckdb.DuckDBPyConnection, run: int = 1, model: Path = MODEL, rescore_all_above=0.0
):
    return resolve_customers(
        con,
        rescore_all_above=rescore_all_above,
        model_path=model,
        review_threshold=MATCHING.review_threshold,
        auto_link_threshold=MATCHING.auto_link_threshold,
        max_records_per_block_key=MATCHING.max_records_per_block_key,
        run_id=f"run-{run}",
        recorded_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=run),
    )


def clusters(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(
        con.execute("select record_key, golden_customer_id from er.record_clusters").fetchall()
    )


def test_links_one_person_across_systems_keeps_relatives_apart_and_ids_stable(warehouse):
    result = resolve(warehouse)
    ids = clusters(warehouse)
    assert ids["crm:1"] == ids["erp_billing:9"] == ids["web_signup:w1"]
    assert ids["crm:2"] == ids["erp_billing:3"], "the sister's two records are one person"
    assert len({ids["crm:1"], ids["crm:2"], ids["crm:3"]}) == 3
    assert result.golden_customers == 3 + len(FILLER)
    assert set(result.stage_seconds) == {"input", "predict", "cluster", "ledger", "publish"}

    # The sisters share flat, landline and surname: whatever the score, never auto-linked.
    conflicts = warehouse.execute(
        "select count(*), count(*) filter (where is_auto_linked) from er.pairwise_predictions "
        "where has_name_conflict"
    ).fetchone()
    assert conflicts[1] == 0

    # Identical input, identical IDs, and the ledger recorded nothing new.
    events = warehouse.execute("select count(*) from er.golden_id_ledger").fetchone()[0]
    again = resolve(warehouse, run=2)
    assert clusters(warehouse) == ids
    assert again.ledger.issued == 0
    assert again.ledger.split == again.ledger.merged == 0
    assert warehouse.execute("select count(*) from er.golden_id_ledger").fetchone()[0] == events


def test_a_switchboard_number_on_many_records_is_compared_in_windows_and_links_no_one(
    warehouse,
):
    strangers = [
        person(f"call_center:{i}", " ".join(_name(f"c{i}")), _name(f"c{i}"),
               mobile_phone_e164="+8640012345678")
        for i in range(MATCHING.max_records_per_block_key + 20)
    ]  # fmt: skip
    write_records(warehouse, RECORDS + FILLER + strangers)
    result = resolve(warehouse)
    # 120 callers sharing the switchboard number would be 7,140 candidate pairs; the block is
    # compared in windows (about 20 neighbours each), and a shared number with nothing else in
    # common links nobody.
    phone = {row["key"]: row for row in result.blocking_plan}["phone"]
    assert phone["used"]
    assert phone["pairs"] < 120 * MATCHING.block_window
    assert result.pairs_scored < 50
    assert result.largest_cluster <= 3
    assert len(set(clusters(warehouse).values())) == 3 + len(FILLER) + len(strangers)


def test_steward_decisions_hold_on_the_next_run(warehouse):
    resolve(warehouse)
    ids = clusters(warehouse)
    # Cannot-link web_signup:w1 from crm:1 although erp_billing:9 links to both.
    warehouse.execute(
        "insert into er.review_queue (pair_id, record_key_l, record_key_r, match_probability, "
        "status, queued_run_id, queued_at) values ('RPTEST1', 'crm:1', 'web_signup:w1', 0.8, "
        "'open', 'run-1', now())"
    )
    record_decision(warehouse, pair_id="RPTEST1", is_match=False, decided_by="steward",
                    note="different people", decided_at=datetime(2026, 11, 2))  # fmt: skip
    result = resolve(warehouse, run=2)
    after = clusters(warehouse)
    assert after["crm:1"] != after["web_signup:w1"]
    parts: dict[str, list[str]] = {}
    for key in ("crm:1", "erp_billing:9", "web_signup:w1"):
        parts.setdefault(after[key], []).append(key)
    larger, smaller = sorted(parts, key=lambda golden_id: -len(parts[golden_id]))
    assert larger == ids["crm:1"], "the larger part keeps the golden ID"
    assert result.ledger.split == 1
    assert result.clustering.cannot_link_edges_dropped >= 1
    split_from = warehouse.execute(
        "select related_golden_customer_id from er.golden_id_ledger "
        "where event = 'split_from' and golden_customer_id = ?",
        [smaller],
    ).fetchone()
    assert split_from == (larger,)
    # The decision holds against the model: the pair still scores as a certain link. (That a
    # decided pair is never queued again is test_review's: this pair never reaches the band.)
    scored = warehouse.execute(
        "select match_probability, is_auto_linked from er.pairwise_predictions "
        "where record_key_l = 'crm:1' and record_key_r = 'web_signup:w1'"
    ).fetchone()
    assert scored is not None
    probability, is_auto_linked = scored
    assert probability >= MATCHING.auto_link_threshold
    assert is_auto_linked


def test_a_must_link_decision_joins_two_customers_on_the_next_run(warehouse):
    # Zhang San's sister and the stranger abroad share nothing: the model keeps them apart.
    resolve(warehouse)
    before = clusters(warehouse)
    assert before["crm:2"] != before["crm:3"]
    record_decision(warehouse, record_keys=("crm:2", "crm:3"), is_match=True,
                    decided_by="steward", note="one customer, moved abroad",
                    decided_at=datetime(2026, 11, 2))  # fmt: skip
    result = resolve(warehouse, run=2)
    after = clusters(warehouse)
    # Both of the sister's records join the stranger's: the decision links the two records,
    # clustering carries it to everything linked to either.
    joined = {after[key] for key in ("crm:2", "erp_billing:3", "crm:3")}
    assert len(joined) == 1
    assert after["crm:1"] not in joined
    # One of the two IDs survives; the other is retired into it in the ledger.
    assert joined <= {before["crm:2"], before["crm:3"]}
    assert result.ledger.merged == 1


def test_model_missing_or_stale_fails_with_what_to_do(warehouse, tmp_path: Path):
    with pytest.raises(ModelError, match="custodian train"):
        resolve(warehouse, model=tmp_path / "absent.json")
    stale = json.loads(MODEL.read_text(encoding="utf-8"))
    stale["blocking_rules_to_generate_predictions"].append(
        {"blocking_rule": 'l."customer_shoe_size" = r."customer_shoe_size"'}
    )
    stale_path = tmp_path / "stale.json"
    stale_path.write_text(json.dumps(stale), encoding="utf-8")
    with pytest.raises(ModelError, match="customer_shoe_size"):
        load_model(stale_path)


# Twins in one flat: same surname, birth date, street, postcode and landline; passports issued
# together carry consecutive numbers. And one customer whose given name was mistyped into
# another name in one system, with a transposition in her passport number.
HOUSEHOLD = {"date_of_birth": "1985-06-01", "landline_phone_e164": "+861065551234",
             "street_line": "建国路88号", "city_key": "北京", "postal_code": "100022"}  # fmt: skip
GUARD_RECORDS = [
    person("crm:twin1", "Ming Li", ["MING", "LI"], national_id="E12345678", **HOUSEHOLD),
    person("erp_billing:twin2", "Hua Li", ["HUA", "LI"], national_id="E12345679", **HOUSEHOLD),
    person("crm:m1", "Mei Zhou", ["MEI", "ZHOU"], national_id="E55501234",
           **{**HOUSEHOLD, "landline_phone_e164": None, "mobile_phone_e164": "+8613722223333"}),
    person("erp_billing:m2", "Ling Zhou", ["LING", "ZHOU"], national_id="E55510234",
           **{**HOUSEHOLD, "landline_phone_e164": None, "mobile_phone_e164": "+8613722223333"}),
    # The same with a social security number the Chinese ID check rejects (FEBRL's soc_sec_id).
    person("crm:s1", "Sophie Procter", ["SOPHIE", "PROCTER"], national_id="4063636",
           national_id_is_valid=False,
           **{**HOUSEHOLD, "landline_phone_e164": None, "mobile_phone_e164": "+8613799998888"}),
    person("erp_billing:s2", "Hayley Procter", ["HAYLEY", "PROCTER"], national_id="4063636",
           national_id_is_valid=False,
           **{**HOUSEHOLD, "landline_phone_e164": None, "mobile_phone_e164": "+8613799998888"}),
]  # fmt: skip


def guard_pairs(con: duckdb.DuckDBPyConnection, *, review_name_conflicts: bool) -> dict:
    write_records(con, GUARD_RECORDS + FILLER)
    records = con.execute(match_input_sql("intermediate.int_customer_records")).to_arrow_table()
    pairs = predict_pairs(
        records,
        load_model(MODEL),
        review_threshold=MATCHING.review_threshold,
        auto_link_threshold=MATCHING.auto_link_threshold,
        review_name_conflicts=review_name_conflicts,
    ).to_pylist()
    return {(pair["record_key_l"], pair["record_key_r"]): pair for pair in pairs}


def test_name_guard_holds_for_consecutive_ids_yields_to_a_mistyped_one(warehouse):
    pairs = guard_pairs(warehouse, review_name_conflicts=True)
    twins = pairs[("crm:twin1", "erp_billing:twin2")]
    assert twins["match_probability"] >= MATCHING.auto_link_threshold, "test premise"
    assert twins["has_name_conflict"]
    assert not twins["is_auto_linked"]
    assert twins["match_explanation"], "a steward sees why the pair scored"
    # E55501234 / E55510234: one transposition, the same passport mistyped.
    same_passport = pairs[("crm:m1", "erp_billing:m2")]
    assert not same_passport["has_name_conflict"]
    assert same_passport["is_auto_linked"]
    # An ID number is an ID number, whether or not it passes the Chinese check.
    same_number = pairs[("crm:s1", "erp_billing:s2")]
    assert not same_number["has_name_conflict"]
    assert same_number["is_auto_linked"]


def test_name_guard_switched_off_lets_the_probability_decide(warehouse):
    pairs = guard_pairs(warehouse, review_name_conflicts=False)
    twins = pairs[("crm:twin1", "erp_billing:twin2")]
    assert twins["has_name_conflict"], "still reported"
    assert twins["is_auto_linked"]


def test_an_incremental_run_scores_only_new_and_changed_records_and_links_as_a_full_one(
    tmp_path: Path,
) -> None:
    import shutil

    day_1, day_2 = "2026-11-01", "2026-11-02"
    COLUMNS["version_valid_from"] = "date"
    try:
        first = [{**record, "version_valid_from": day_1} for record in RECORDS + FILLER]
        incremental = open_database(tmp_path / "incremental.duckdb")
        write_records(incremental, first)
        assert resolve(incremental, rescore_all_above=0.2).scoring_mode == "full"  # the first run
        # Day 2: John Smith's second record arrives, the sister's CRM record gets a new mobile,
        # her ERP record leaves its source.
        second = [r for r in first if r["record_key"] != "erp_billing:3"]
        second = [
            {**r, "mobile_phone_e164": "+8613911113333", "version_valid_from": day_2}
            if r["record_key"] == "crm:2" else r
            for r in second
        ] + [
            person("web_signup:w2", "John Smith", ["JOHN", "SMITH"], date_of_birth="1970-07-07",
                   mobile_phone_e164="+14155550134", email_normalised="john@example.com",
                   version_valid_from=day_2)
        ]  # fmt: skip
        write_records(incremental, second)
        incremental.close()
        shutil.copy(tmp_path / "incremental.duckdb", tmp_path / "full.duckdb")
        incremental = open_database(tmp_path / "incremental.duckdb")
        full = open_database(tmp_path / "full.duckdb")

        result = resolve(incremental, run=2, rescore_all_above=0.2)
        assert result.scoring_mode == "incremental", result.scoring_reason
        assert result.records_rescored == 2
        everything = resolve_customers(
            full, model_path=MODEL, review_threshold=MATCHING.review_threshold,
            auto_link_threshold=MATCHING.auto_link_threshold,
            max_records_per_block_key=MATCHING.max_records_per_block_key,
            run_id="run-2", recorded_at=datetime(2026, 11, 3, tzinfo=UTC), full_refresh=True,
        )  # fmt: skip
        assert everything.scoring_mode == "full"
        assert everything.records_rescored == len(second)

        ids = clusters(incremental)
        assert ids == clusters(full)
        assert ids["web_signup:w2"] == ids["crm:3"]
        assert "erp_billing:3" not in ids
        pairs = "select record_key_l, record_key_r, is_auto_linked from er.pairwise_predictions"
        assert sorted(incremental.execute(pairs).fetchall()) == sorted(
            full.execute(pairs).fetchall()
        )
        assert not incremental.execute(
            "select count(*) from er.pairwise_predictions "
            "where 'erp_billing:3' in (record_key_l, record_key_r)"
        ).fetchone()[0]
        # Nothing changed since: nothing is scored, and nothing moves.
        again = resolve(incremental, run=3, rescore_all_above=0.2)
        assert (again.scoring_mode, again.records_rescored) == ("incremental", 0)
        assert clusters(incremental) == ids
        # Off unless configured: every pair scored.
        assert resolve(incremental, run=4).scoring_mode == "full"
        incremental.close()
        full.close()
    finally:
        COLUMNS.pop("version_valid_from")
