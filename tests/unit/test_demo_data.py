"""The demo-data generator: formats, truth coverage, promised rates, events and faults.

Rates are measured from the written files against `_truth/`, never from generator internals,
so these tests say what a pipeline engineer can rely on when reading the drops.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
import re
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import phonenumbers
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagster_project.lib.demo import CORRUPTION_RATES, DemoSummary, generate_demo_data
from dagster_project.lib.demo.rates import DUPLICATE_RATES, PRESENCE, SOURCES
from dagster_project.lib.demo.reference import (
    DIVISION_BY_CODE,
    PLACEHOLDER_EMAILS,
    POLYPHONIC_SURNAMES,
    PROVINCE_SHORT,
)
from dagster_project.lib.demo.sources import CRM_COLUMNS, ERP_COLUMNS, WEB_COLUMNS
from dagster_project.lib.demo.text import has_full_width_digit, is_valid_resident_id

START = date(2026, 11, 1)
DAYS = 5
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
PROVINCE_FULL = {short: full for full, short in PROVINCE_SHORT.items()}
ADDRESS_COLUMNS = {
    "crm": ("address", "district", "city", "province", "zip_code"),
    "erp_billing": ("联系地址", "省份", "城市", "区县", "邮政编码"),
    "web_signup": ("address",),
}
MOBILE_COLUMN = {
    "crm": "mobile",
    "erp_billing": "手机号码",
    "web_signup": "phone",
    "call_center": "phone_number",
}
EMAIL_COLUMN = {"crm": "email", "erp_billing": "电子邮箱", "web_signup": "email"}


# --- Fixtures and readers --------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoSummary, Path]:
    out = tmp_path_factory.mktemp("demo")
    return generate_demo_data(out, customers=2000, days=DAYS, start=START, seed=42), out


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoSummary, Path]:
    out = tmp_path_factory.mktemp("faulty")
    return generate_demo_data(out, customers=600, days=DAYS, start=START, seed=7, faults=True), out


def _days() -> list[str]:
    return [(START + timedelta(days=d)).isoformat() for d in range(DAYS)]


def _file(out: Path, source: str, day: str) -> Path:
    ymd = day.replace("-", "")
    name = {
        "crm": f"crm_customers_{ymd}.csv",
        "erp_billing": f"khzl_{ymd}.csv",
        "web_signup": f"signups_{ymd}.jsonl",
        "call_center": f"contacts_{ymd}.parquet",
    }[source]
    return out / source / day / name


def read_rows(out: Path, source: str, day: str) -> list[dict[str, Any]]:
    path = _file(out, source, day)
    if source == "crm":
        with path.open(encoding="utf-8-sig", newline="") as f:
            return list(csv.DictReader(f))
    if source == "erp_billing":
        with path.open(encoding="gbk", newline="") as f:
            return list(csv.DictReader(f))
    if source == "web_signup":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return pq.read_table(path).to_pylist()


def record_id(source: str, row: dict[str, Any]) -> str:
    return row[
        {"crm": "customer_no", "erp_billing": "客户编号", "web_signup": "user_id"}.get(
            source, "contact_id"
        )
    ]


@pytest.fixture(scope="module")
def deliveries(
    demo: tuple[DemoSummary, Path],
) -> dict[str, dict[str, list[tuple[int, dict[str, Any]]]]]:
    """source -> record id -> [(day index, row)] in delivery order."""
    _, out = demo
    result: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]] = {}
    for source in SOURCES:
        by_record: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        for d, day in enumerate(_days()):
            for row in read_rows(out, source, day):
                by_record[record_id(source, row)].append((d, row))
        result[source] = dict(by_record)
    return result


def read_truth(out: Path, name: str) -> list[dict[str, str]]:
    with (out / "_truth" / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def truth(demo: tuple[DemoSummary, Path]) -> dict[str, Any]:
    _, out = demo
    person_map = read_truth(out, "person_map.csv")
    people = {r["person_id"]: r for r in read_truth(out, "people.csv")}
    return {
        "map": {(r["source"], r["source_record_id"]): r["person_id"] for r in person_map},
        "map_rows": person_map,
        "people": people,
        "events": read_truth(out, "events.csv"),
    }


def first_versions(
    deliveries: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]], source: str
) -> list[tuple[str, dict[str, Any]]]:
    return [(rid, versions[0][1]) for rid, versions in deliveries[source].items()]


def assert_rate(measured_hits: int, n: int, expected: float, label: str) -> None:
    """Binomial tolerance of three standard deviations (the generator is seeded: the same data
    every run, so no run is unlucky). The sample must be large enough that a generator which
    never applied the rate (or applied it twice) fails: the tolerance stays below the rate."""
    assert n > 0, label
    measured = measured_hits / n
    tolerance = 3 * math.sqrt(expected * (1 - expected) / n)
    assert tolerance < expected or expected == 0, (
        f"{label}: {n} values cannot tell a rate of {expected} from none (+- {tolerance:.4f})"
    )
    assert abs(measured - expected) <= tolerance, (
        f"{label}: measured {measured:.4f} over {n}, expected {expected} +- {tolerance:.4f}"
    )


def digits(value: str | None) -> str:
    if not value:
        return ""
    half = value.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    only = re.sub(r"\D", "", half)
    for prefix in ("0086", "86"):
        if only.startswith(prefix) and len(only) - len(prefix) == 11:
            return only[len(prefix) :]
    return only


def email_valid(value: str | None) -> bool:
    return bool(value) and bool(EMAIL_RE.match(value)) and value.lower() not in PLACEHOLDER_EMAILS


def _hash_tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# --- Determinism -----------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    kwargs = {"customers": 300, "days": 3, "start": START, "faults": True}
    generate_demo_data(tmp_path / "a", seed=1, **kwargs)
    generate_demo_data(tmp_path / "b", seed=1, **kwargs)
    generate_demo_data(tmp_path / "c", seed=2, **kwargs)
    a, b, c = (_hash_tree(tmp_path / x) for x in "abc")
    assert a == b
    assert len(a) == 3 * len(SOURCES) + 4
    data_files = [k for k in a if not k.startswith("_truth")]
    assert all(a[k] != c[k] for k in data_files)


# --- Formats ---------------------------------------------------------------------------------


def test_crm_is_utf8_with_bom_and_exact_header(demo: tuple[DemoSummary, Path]) -> None:
    _, out = demo
    raw = _file(out, "crm", _days()[0]).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    header = raw[3:].split(b"\r\n", 1)[0].decode("utf-8")
    assert header.split(",") == list(CRM_COLUMNS)


def test_erp_is_gbk_not_utf8_with_chinese_header(demo: tuple[DemoSummary, Path]) -> None:
    _, out = demo
    for day in _days():
        raw = _file(out, "erp_billing", day).read_bytes()
        text = raw.decode("gbk")
        assert text.split("\r\n", 1)[0].split(",") == list(ERP_COLUMNS)
        assert re.search(r"[\u4e00-\u9fff]", text.split("\r\n", 1)[1])
        with pytest.raises(UnicodeDecodeError):
            raw.decode("utf-8")


def test_web_jsonl_parses_line_by_line_with_nested_address(demo: tuple[DemoSummary, Path]) -> None:
    _, out = demo
    for day in _days():
        for line in _file(out, "web_signup", day).read_text(encoding="utf-8").splitlines():
            obj = json.loads(line)
            assert list(obj) == list(WEB_COLUMNS)
            assert obj["user_id"].startswith("W-")
            assert isinstance(obj["newsletter_opt_in"], bool)
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", obj["updated_at"])
            if obj["address"] is not None:
                assert set(obj["address"]) == {
                    "line1",
                    "line2",
                    "city",
                    "region",
                    "postcode",
                    "country",
                }
            if obj["birthday"] is not None:
                assert re.fullmatch(r"\d{4}-?\d\d-?\d\d", obj["birthday"])


def test_call_center_parquet_schema(demo: tuple[DemoSummary, Path]) -> None:
    _, out = demo
    expected = {
        "contact_id": pa.string(),
        "caller_name": pa.string(),
        "phone_number": pa.string(),
        "alt_phone": pa.string(),
        "email": pa.string(),
        "city": pa.string(),
        "dob_year": pa.int32(),
        "dob_month": pa.int32(),
        "dob_day": pa.int32(),
        "last_call_at": pa.timestamp("us"),
        "call_count": pa.int32(),
        "vip_flag": pa.bool_(),
    }
    for day in _days():
        table = pq.read_table(_file(out, "call_center", day))
        assert {f.name: f.type for f in table.schema} == expected
        assert list(table.schema.names) == list(expected)
        assert table.column("phone_number").null_count == 0
        assert all(v.startswith("CC-") for v in table.column("contact_id").to_pylist())


def test_without_faults_every_csv_line_has_the_header_field_count(
    demo: tuple[DemoSummary, Path],
) -> None:
    summary, out = demo
    assert summary.faults == []
    assert read_truth(out, "faults.csv") == []
    for source, encoding in (("crm", "utf-8-sig"), ("erp_billing", "gbk")):
        for day in _days():
            with _file(out, source, day).open(encoding=encoding, newline="") as f:
                rows = list(csv.reader(f, strict=True))
            assert {len(r) for r in rows} == {len(rows[0])}
    web = [_file(out, "web_signup", d).read_bytes() for d in _days()]
    assert all(a != b for a, b in itertools.pairwise(web))


# --- Truth coverage --------------------------------------------------------------------------


def test_person_map_covers_every_record_exactly_once(
    deliveries: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]], truth: dict[str, Any]
) -> None:
    rows = truth["map_rows"]
    keys = [(r["source"], r["source_record_id"]) for r in rows]
    assert len(keys) == len(set(keys))
    in_files = {(s, rid) for s in SOURCES for rid in deliveries[s]}
    assert in_files == set(keys)
    assert set(truth["map"].values()) <= set(truth["people"])


def test_summary_counts_match_files(
    demo: tuple[DemoSummary, Path],
    deliveries: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]],
    truth: dict[str, Any],
) -> None:
    summary, out = demo
    assert summary.people == len(truth["people"]) == 2000
    for source in SOURCES:
        assert summary.records_per_source[source] == len(deliveries[source])
        for day in _days():
            assert summary.rows_per_source_day[(source, day)] == len(read_rows(out, source, day))
    assert summary.events == {
        **dict.fromkeys(summary.events, 0),
        **Counter(e["event_type"] for e in truth["events"]),
    }
    assert all(p.exists() for p in summary.files)


# --- Promised distributions ------------------------------------------------------------------


def test_chinese_share_and_presence(truth: dict[str, Any]) -> None:
    people = truth["people"]
    chinese = sum(p["locale"] == "zh_CN" for p in people.values()) / len(people)
    assert abs(chinese - 0.60) <= 0.05
    persons_by_source: dict[str, set[str]] = defaultdict(set)
    for (source, _), person in truth["map"].items():
        persons_by_source[source].add(person)
    nowhere = math.prod(1 - PRESENCE[s] for s in SOURCES)
    total = sum(PRESENCE.values())
    for source in SOURCES:
        expected = PRESENCE[source] + nowhere * PRESENCE[source] / total
        assert_rate(len(persons_by_source[source]), len(people), expected, f"presence {source}")
    everybody = set().union(*persons_by_source.values())
    assert everybody == set(people)


def test_within_source_duplicates(truth: dict[str, Any]) -> None:
    for source in SOURCES:
        counts = Counter(person for (s, _), person in truth["map"].items() if s == source)
        doubled = sum(c >= 2 for c in counts.values())
        assert_rate(doubled, len(counts), DUPLICATE_RATES[source], f"duplicates {source}")


def test_full_width_digits_rate(
    deliveries: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]],
) -> None:
    for source in ("crm", "call_center"):
        values = [row[MOBILE_COLUMN[source]] for _, row in first_versions(deliveries, source)]
        values = [v for v in values if v]
        hits = sum(has_full_width_digit(v) for v in values)
        assert_rate(hits, len(values), CORRUPTION_RATES["full_width_digits"][source], source)


def test_invalid_email_rate(
    deliveries: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]],
) -> None:
    for source in ("crm", "erp_billing"):
        values = [row[EMAIL_COLUMN[source]] for _, row in first_versions(deliveries, source)]
        values = [v for v in values if v]
        hits = sum(not email_valid(v) for v in values)
        assert_rate(hits, len(values), CORRUPTION_RATES["invalid_email"][source], source)


def test_bad_id_check_digit_rate(
    deliveries: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]],
) -> None:
    for source, column in (("crm", "id_card_no"), ("erp_billing", "身份证号码")):
        values = [row[column] for _, row in first_versions(deliveries, source) if row[column]]
        hits = sum(not is_valid_resident_id(v) for v in values)
        assert_rate(hits, len(values), CORRUPTION_RATES["bad_id_check_digit"][source], source)


def _norm(value: str) -> str:
    return value.replace(" ", "").casefold()


def test_name_script_and_order_rates(
    deliveries: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]], truth: dict[str, Any]
) -> None:
    people = truth["people"]
    pinyin = swapped = chinese = total = 0
    for rid, row in first_versions(deliveries, "crm"):
        person = people[truth["map"][("crm", rid)]]
        family, given = person["family_name"], person["given_name"]
        if person["locale"] == "zh_CN":
            chinese += 1
            pinyin += row["family_name"].strip().isascii()
            py_family, py_given = person["name_pinyin"].split(" ")
            family_forms = {_norm(family), _norm(py_family)}
            given_forms = {_norm(given), _norm(py_given)}
        else:
            family_forms, given_forms = {_norm(family)}, {_norm(given)}
        total += 1
        if family_forms & given_forms:
            continue
        swapped += (
            _norm(row["family_name"]) in given_forms and _norm(row["given_name"]) in family_forms
        )
    rates = CORRUPTION_RATES
    assert_rate(pinyin, chinese, rates["pinyin_instead_of_hanzi"]["crm"], "crm pinyin")
    # Typos on the swapped given name hide a few swaps: allow the measured rate to sit lower.
    assert_rate(swapped, total, rates["name_order_swapped"]["crm"] * 0.97, "crm order swapped")


def test_day_month_swap_rate(
    deliveries: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]], truth: dict[str, Any]
) -> None:
    hits = eligible = 0
    for rid, row in first_versions(deliveries, "crm"):
        person = truth["people"][truth["map"][("crm", rid)]]
        dob = date.fromisoformat(person["date_of_birth"])
        if not row["birth_date"] or dob.day > 12 or dob.day == dob.month:
            continue
        eligible += 1
        hits += row["birth_date"] == f"{dob.year:04d}-{dob.day:02d}-{dob.month:02d}"
    assert_rate(hits, eligible, CORRUPTION_RATES["dob_day_month_swapped"]["crm"], "dob swap")


def test_pinyin_vs_characters_across_sources(
    deliveries: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]], truth: dict[str, Any]
) -> None:
    """The same Chinese person appears in characters in the CRM and in pinyin on the web."""
    people = truth["people"]
    hanzi_crm = {
        truth["map"][("crm", rid)]
        for rid, row in first_versions(deliveries, "crm")
        if re.search(r"[\u4e00-\u9fff]", row["family_name"])
    }
    pinyin_web = {
        truth["map"][("web_signup", rid)]
        for rid, row in first_versions(deliveries, "web_signup")
        if row["last_name"]
        and row["last_name"].isascii()
        and people[truth["map"][("web_signup", rid)]]["locale"] == "zh_CN"
    }
    assert len(hanzi_crm & pinyin_web) >= 100


# --- Identity numbers, phones and hard negatives ---------------------------------------------


def test_valid_ids_match_truth_birth_date_and_region(
    deliveries: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]], truth: dict[str, Any]
) -> None:
    checked = 0
    for source, column in (("crm", "id_card_no"), ("erp_billing", "身份证号码")):
        for rid, versions in deliveries[source].items():
            person = truth["people"][truth["map"][(source, rid)]]
            for _, row in versions:
                value = row[column]
                if value and is_valid_resident_id(value):
                    checked += 1
                    assert value[6:14] == person["date_of_birth"].replace("-", "")
                    assert value.upper() == person["national_id"]
    assert checked > 500
    for person in truth["people"].values():
        nid = person["national_id"]
        if person["locale"] != "zh_CN":
            assert nid == ""
            continue
        assert is_valid_resident_id(nid)
        assert nid[:6] in DIVISION_BY_CODE
        assert nid[6:14] == person["date_of_birth"].replace("-", "")
        assert int(nid[16]) % 2 == (1 if person["gender"] == "M" else 0)


def test_truth_phones_are_valid_numbers(truth: dict[str, Any]) -> None:
    for person in truth["people"].values():
        for column in ("mobile_e164", "landline_e164"):
            if person[column]:
                number = phonenumbers.parse(person[column])
                assert phonenumbers.is_valid_number(number), person[column]
        if person["locale"] == "zh_CN":
            assert re.fullmatch(r"\+861[3-9]\d{9}", person["mobile_e164"])


def test_hard_negatives_exist(truth: dict[str, Any]) -> None:
    people = list(truth["people"].values())
    households: dict[str, list[dict[str, str]]] = defaultdict(list)
    for p in people:
        if p["household_id"]:
            households[p["household_id"]].append(p)
    assert len(households) >= 50
    shared_address = sum(
        len({(m["address_line"], m["city"]) for m in members}) == 1
        for members in households.values()
    )
    assert shared_address >= 0.8 * len(households)
    twins = [p for p in people if p["twin_of"]]
    assert twins
    for p in twins:
        other = truth["people"][p["twin_of"]]
        assert other["twin_of"] == p["person_id"]
        assert other["date_of_birth"] == p["date_of_birth"]
        assert other["family_name"] == p["family_name"]
        assert other["given_name"] != p["given_name"]
        if p["locale"] == "zh_CN":
            assert other["national_id"] != p["national_id"]
            assert other["national_id"][:14] == p["national_id"][:14]
    names = Counter(p["full_name"] for p in people)
    common = [n for n in ("王伟", "张伟", "李娜", "王芳", "John Smith") if names[n] >= 2]
    assert common
    for name in common:
        births = [p["date_of_birth"] for p in people if p["full_name"] == name]
        assert len(set(births)) > 1
    compound = [p for p in people if p["locale"] == "zh_CN" and len(p["family_name"]) == 2]
    assert compound


def test_polyphonic_surnames_use_surname_readings(truth: dict[str, Any]) -> None:
    readings = {"单": "SHAN", "曾": "ZENG", "仇": "QIU", "解": "XIE", "查": "ZHA", "区": "OU"}
    readings |= {"覃": "QIN", "翟": "ZHAI", "缪": "MIAO", "朴": "PIAO"}
    assert set(readings) == set(POLYPHONIC_SURNAMES)
    found = [p for p in truth["people"].values() if p["family_name"] in readings]
    assert found
    for p in found:
        assert p["name_pinyin"].split(" ")[0] == readings[p["family_name"]]


# --- Events ----------------------------------------------------------------------------------


def _change_days(versions: list[tuple[int, dict[str, Any]]], key: Any) -> list[int]:
    days = []
    previous = key(versions[0][1])
    for day, row in versions[1:]:
        value = key(row)
        if value != previous:
            days.append(day)
        previous = value
    return days


def _address_key(source: str) -> Any:
    columns = ADDRESS_COLUMNS[source]
    return lambda row: json.dumps([row[c] for c in columns], ensure_ascii=False, sort_keys=True)


def _day_index(iso: str) -> int:
    return (date.fromisoformat(iso) - START).days


def test_every_event_type_is_injected(demo: tuple[DemoSummary, Path]) -> None:
    summary, _ = demo
    assert all(count > 0 for count in summary.events.values()), summary.events
    assert summary.events["shared_phone"] >= 10


def test_change_count_events_are_visible_and_only_where_labelled(
    deliveries: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]], truth: dict[str, Any]
) -> None:
    labelled: dict[str, dict[str, int]] = defaultdict(dict)
    for e in truth["events"]:
        labelled[e["event_type"]][e["person_id"]] = _day_index(e["date"])
    seen: dict[str, dict[str, list[int]]] = defaultdict(dict)
    for source in ("crm", "erp_billing", "web_signup"):
        for rid, versions in deliveries[source].items():
            person = truth["map"][(source, rid)]
            address_days = _change_days(versions, _address_key(source))
            mobile_days = _change_days(versions, lambda r, s=source: digits(r[MOBILE_COLUMN[s]]))
            if len(address_days) >= 3:
                seen["address_changed_3x_month"][person] = address_days
            if len(mobile_days) >= 4:
                seen["mobile_changed_4x"][person] = mobile_days
    for event, threshold in (("address_changed_3x_month", 3), ("mobile_changed_4x", 4)):
        assert set(seen[event]) == set(labelled[event]), event
        for person, days in seen[event].items():
            assert len(set(days)) >= threshold
            assert days[threshold - 1] == labelled[event][person]


def test_email_became_invalid_is_visible_and_only_where_labelled(
    deliveries: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]], truth: dict[str, Any]
) -> None:
    labelled = {
        e["person_id"]: _day_index(e["date"])
        for e in truth["events"]
        if e["event_type"] == "email_became_invalid"
    }
    seen: dict[str, int] = {}
    for source in ("crm", "erp_billing", "web_signup"):
        for rid, versions in deliveries[source].items():
            was_valid = False
            for day, row in versions:
                value = row[EMAIL_COLUMN[source]]
                if email_valid(value):
                    was_valid = True
                elif was_valid and value is not None:
                    seen[truth["map"][(source, rid)]] = day
                    break
    assert seen == labelled


def test_shared_phone_groups_are_visible_and_only_where_labelled(
    deliveries: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]], truth: dict[str, Any]
) -> None:
    labelled = {e["person_id"] for e in truth["events"] if e["event_type"] == "shared_phone"}
    assert all(
        e["date"] == START.isoformat() for e in truth["events"] if e["event_type"] == "shared_phone"
    )
    flagged: set[str] = set()
    for source in ("crm", "call_center"):
        holders: dict[str, set[str]] = defaultdict(set)
        for rid, versions in deliveries[source].items():
            for day, row in versions:
                number = digits(row[MOBILE_COLUMN[source]])
                if number and day == 0:
                    holders[number].add(truth["map"][(source, rid)])
        for persons in holders.values():
            if len(persons) >= 10:
                flagged |= persons
    assert flagged == labelled


def test_province_mismatch_is_visible_and_only_where_labelled(
    deliveries: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]], truth: dict[str, Any]
) -> None:
    labelled = {
        e["person_id"]: _day_index(e["date"])
        for e in truth["events"]
        if e["event_type"] == "province_mismatch_id_region"
    }
    first_seen: dict[str, int] = {}
    for source, id_column, province_column in (
        ("crm", "id_card_no", "province"),
        ("erp_billing", "身份证号码", "省份"),
    ):
        for rid, versions in deliveries[source].items():
            for day, row in versions:
                nid, province = row[id_column], row[province_column]
                if not nid or not province:
                    continue
                province = PROVINCE_FULL.get(province, province)
                if DIVISION_BY_CODE[nid[:6]].province != province:
                    person = truth["map"][(source, rid)]
                    first_seen[person] = min(first_seen.get(person, day), day)
    assert first_seen == labelled
    for person in labelled:
        p = truth["people"][person]
        assert DIVISION_BY_CODE[p["national_id"][:6]].province != p["province"]


def test_events_need_enough_days(tmp_path: Path) -> None:
    summary = generate_demo_data(tmp_path, customers=300, days=3, start=START, seed=3)
    assert summary.events["address_changed_3x_month"] == 0
    assert summary.events["mobile_changed_4x"] == 0
    assert summary.events["email_became_invalid"] > 0
    assert summary.events["shared_phone"] >= 10


# --- Faults ----------------------------------------------------------------------------------


def test_faults_are_exactly_those_listed(faulty: tuple[DemoSummary, Path]) -> None:
    summary, out = faulty
    listed = read_truth(out, "faults.csv")
    assert Counter(f["fault_kind"] for f in listed) == {
        "too_many_fields": 1,
        "too_few_fields": 1,
        "unbalanced_quote": 1,
        "unexpected_column": 1,
        "redelivered_file": 1,
    }
    assert len(summary.faults) == len(listed)
    bad_lines: set[tuple[str, int]] = set()
    for day in _days():
        path = _file(out, "crm", day)
        lines = path.read_bytes().decode("utf-8-sig").split("\r\n")[:-1]
        for number, line in enumerate(lines, start=1):
            fields = next(csv.reader([line]))
            if line.count('"') % 2 or len(fields) != len(CRM_COLUMNS):
                bad_lines.add((str(path.relative_to(out)), number))
    expected_lines = {(f["file"], int(f["line"])) for f in listed if f["source"] == "crm"}
    assert bad_lines == expected_lines
    crm_ids = {f["source_record_id"] for f in listed if f["source"] == "crm"}
    assert all(re.fullmatch(r"CRM\d{7}", rid) for rid in crm_ids)

    extra = [f for f in listed if f["fault_kind"] == "unexpected_column"]
    for day in _days():
        path = _file(out, "erp_billing", day)
        header = path.read_bytes().decode("gbk").split("\r\n", 1)[0].split(",")
        if str(path.relative_to(out)) == extra[0]["file"]:
            assert header.index("会员积分") == ERP_COLUMNS.index("更新时间")
            assert [h for h in header if h != "会员积分"] == list(ERP_COLUMNS)
        else:
            assert header == list(ERP_COLUMNS)

    redelivered = [f for f in listed if f["fault_kind"] == "redelivered_file"]
    days = _days()
    identical = {
        str(_file(out, "web_signup", b).relative_to(out))
        for a, b in itertools.pairwise(days)
        if _file(out, "web_signup", a).read_bytes() == _file(out, "web_signup", b).read_bytes()
    }
    assert identical == {redelivered[0]["file"]}


def test_faulty_run_still_maps_every_record(faulty: tuple[DemoSummary, Path]) -> None:
    _, out = faulty
    keys = {(r["source"], r["source_record_id"]) for r in read_truth(out, "person_map.csv")}
    found: set[tuple[str, str]] = set()
    for day in _days():
        text = _file(out, "crm", day).read_bytes().decode("utf-8-sig")
        found |= {("crm", line.split(",", 1)[0]) for line in text.split("\r\n")[1:] if line}
        for row in read_rows(out, "erp_billing", day):
            found.add(("erp_billing", row["客户编号"]))
        for source in ("web_signup", "call_center"):
            found |= {(source, record_id(source, row)) for row in read_rows(out, source, day)}
    assert found == keys
