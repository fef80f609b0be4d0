"""The demo generator's later event types (lib/demo/later_events.py), checked in the files.

Each event is visible in the drops exactly where `_truth/events.csv` labels it, and injecting
them leaves every other record as it was (they draw from their own random streams).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import dagster_project.lib.demo.generator as generator_module
from dagster_project.lib.demo import DemoSummary, generate_demo_data
from dagster_project.lib.demo.rates import SOURCES
from dagster_project.lib.demo.text import is_valid_resident_id
from dagster_project.lib.standardise.emails import standardise_email
from tests.unit.test_demo_data import _change_days, read_rows, read_truth, record_id

START = date(2026, 11, 1)
DAYS = 5
LATER_EVENTS = (
    "billing_address_changed_2x_month",
    "name_changed_2x_month",
    "tags_or_level_changed_3x_month",
    "shared_email",
    "birth_date_mismatch_id",
    "no_interaction_for_a_year",
)
EMAIL_COLUMN = {"crm": "email", "erp_billing": "电子邮箱", "web_signup": "email"}
Deliveries = dict[str, dict[str, list[tuple[int, dict[str, Any]]]]]


@pytest.fixture(scope="module")
def later(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoSummary, Path]:
    out = tmp_path_factory.mktemp("later")
    return generate_demo_data(out, customers=2000, days=DAYS, start=START, seed=42), out


@pytest.fixture(scope="module")
def delivered(later: tuple[DemoSummary, Path]) -> Deliveries:
    """source -> record id -> [(day index, row)] in delivery order."""
    _, out = later
    result: Deliveries = {}
    for source in SOURCES:
        by_record: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        for d in range(DAYS):
            for row in read_rows(out, source, (START + timedelta(days=d)).isoformat()):
                by_record[record_id(source, row)].append((d, row))
        result[source] = dict(by_record)
    return result


@pytest.fixture(scope="module")
def person_of(later: tuple[DemoSummary, Path]) -> dict[tuple[str, str], str]:
    _, out = later
    return {
        (r["source"], r["source_record_id"]): r["person_id"]
        for r in read_truth(out, "person_map.csv")
    }


def labelled(out: Path, event_type: str) -> dict[str, int]:
    """Labelled person -> day index of the label."""
    return {
        e["person_id"]: (date.fromisoformat(e["date"]) - START).days
        for e in read_truth(out, "events.csv")
        if e["event_type"] == event_type
    }


def test_every_later_event_type_is_injected(later: tuple[DemoSummary, Path]) -> None:
    summary, _ = later
    assert all(summary.events[event] > 0 for event in LATER_EVENTS), summary.events
    assert summary.events["shared_email"] >= 8


def test_billing_address_changes_are_visible_and_only_where_labelled(
    later: tuple[DemoSummary, Path], delivered: Deliveries, person_of: dict[tuple[str, str], str]
) -> None:
    seen = {}
    for rid, versions in delivered["erp_billing"].items():
        days = _change_days(versions, lambda row: row["账单地址"])
        if len(days) >= 2:
            seen[person_of[("erp_billing", rid)]] = days[1]
    assert seen == labelled(later[1], "billing_address_changed_2x_month")


def test_name_changes_are_the_same_name_in_another_form(
    later: tuple[DemoSummary, Path], delivered: Deliveries, person_of: dict[tuple[str, str], str]
) -> None:
    people = {p["person_id"]: p for p in read_truth(later[1], "people.csv")}
    seen = {}
    for source, name in (
        ("crm", lambda row: f"{row['family_name']} {row['given_name']}"),
        ("erp_billing", lambda row: row["客户名称"]),
    ):
        for rid, versions in delivered[source].items():
            days = _change_days(versions, name)
            if len(days) < 2:
                continue
            person = people[person_of[(source, rid)]]
            seen[person["person_id"]] = days[1]
            # Characters, then pinyin, then characters again: never somebody else's name.
            forms = [name(row) for _, row in versions]
            in_characters = (
                f"{person['family_name']} {person['given_name']}"
                if source == "crm"
                else person["full_name"]
            )
            assert forms[0] == forms[-1] == in_characters
            others = {form for form in forms if form != in_characters}
            assert others
            assert all(form.upper() == person["name_pinyin"] for form in others)
    assert seen == labelled(later[1], "name_changed_2x_month")


def test_tags_or_level_changes_are_visible_and_only_where_labelled(
    later: tuple[DemoSummary, Path], delivered: Deliveries, person_of: dict[tuple[str, str], str]
) -> None:
    seen = {}
    for rid, versions in delivered["crm"].items():
        days = _change_days(versions, lambda row: (row["tags"], row["member_level"]))
        if len(days) >= 3:
            seen[person_of[("crm", rid)]] = days[2]
    assert seen == labelled(later[1], "tags_or_level_changed_3x_month")


def test_shared_emails_are_visible_and_only_where_labelled(
    later: tuple[DemoSummary, Path], delivered: Deliveries, person_of: dict[tuple[str, str], str]
) -> None:
    people = {p["person_id"]: p for p in read_truth(later[1], "people.csv")}
    holders: dict[str, set[str]] = defaultdict(set)
    for source in SOURCES:
        for rid, versions in delivered[source].items():
            for _, row in versions:
                value = row[EMAIL_COLUMN.get(source, "email")]
                result = standardise_email(value)
                # Placeholders (noemail@test.com) are typed by many: they are nobody's mailbox.
                if result.email_is_valid and not result.email_is_placeholder:
                    holders[result.email_normalised].add(person_of[(source, rid)])
    groups = [persons for persons in holders.values() if len(persons) >= 5]
    assert groups
    assert all(8 <= len(persons) <= 12 for persons in groups)
    flagged = set().union(*groups)
    assert labelled(later[1], "shared_email") == dict.fromkeys(flagged, 0)
    assert all(people[p]["household_id"] == "" for p in flagged)


def test_birth_date_mismatches_are_visible_and_only_where_labelled(
    later: tuple[DemoSummary, Path], delivered: Deliveries, person_of: dict[tuple[str, str], str]
) -> None:
    people = {p["person_id"]: p for p in read_truth(later[1], "people.csv")}
    first_seen: dict[str, int] = {}
    kinds: set[str] = set()
    for source, id_column, birth_column in (
        ("crm", "id_card_no", "birth_date"),
        ("erp_billing", "身份证号码", "出生日期"),
    ):
        for rid, versions in delivered[source].items():
            for day, row in versions:
                nid, birth = row[id_column], re.sub(r"\D", "", row[birth_column])
                if not nid or not birth or not is_valid_resident_id(nid) or nid[6:14] == birth:
                    continue
                person = person_of[(source, rid)]
                first_seen[person] = min(first_seen.get(person, day), day)
                true = people[person]["date_of_birth"].replace("-", "")
                if birth[4:] == true[6:] + true[4:6]:
                    kinds.add("day/month swapped")
                elif abs(int(birth[:4]) - int(true[:4])) == 1:
                    kinds.add("year one off")
                else:
                    kinds.add("other")
    assert first_seen == labelled(later[1], "birth_date_mismatch_id")
    assert kinds == {"day/month swapped", "year one off"}


def test_no_interaction_for_a_year_is_visible_and_only_where_labelled(
    later: tuple[DemoSummary, Path], delivered: Deliveries, person_of: dict[tuple[str, str], str]
) -> None:
    first_seen: dict[str, int] = {}
    for d in range(DAYS):
        latest: dict[str, datetime] = {}
        for rid, versions in delivered["call_center"].items():
            current = [row for day, row in versions if day <= d]
            if current:
                person = person_of[("call_center", rid)]
                value = current[-1]["last_call_at"]
                latest[person] = max(latest.get(person, value), value)
        quiet_since = START + timedelta(days=d - 365)
        for person, value in latest.items():
            if person not in first_seen and value.date() < quiet_since:
                first_seen[person] = d
    assert first_seen == labelled(later[1], "no_interaction_for_a_year")
    # Both kinds: quiet for over a year at the start (injected), and ageing past it.
    assert 0 in first_seen.values()
    assert any(day > 0 for day in first_seen.values())


def test_events_need_enough_days(tmp_path: Path) -> None:
    summary = generate_demo_data(tmp_path, customers=300, days=3, start=START, seed=3)
    assert summary.events["tags_or_level_changed_3x_month"] == 0
    for event in LATER_EVENTS:
        if event != "tags_or_level_changed_3x_month":
            assert summary.events[event] > 0, event


def _rows(out: Path, source: str, day: str) -> set[str]:
    return {
        json.dumps(row, default=str, ensure_ascii=False, sort_keys=True)
        for row in read_rows(out, source, day)
    }


def test_later_events_leave_every_other_record_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kwargs = {"customers": 800, "days": DAYS, "start": START, "seed": 5}
    generate_demo_data(tmp_path / "with", **kwargs)
    monkeypatch.setattr(generator_module, "add_later_events", lambda *args: None)
    generate_demo_data(tmp_path / "without", **kwargs)
    with_events, without = tmp_path / "with", tmp_path / "without"
    for name in ("person_map.csv", "people.csv"):
        assert read_truth(with_events, name) == read_truth(without, name)
    events = read_truth(with_events, "events.csv")
    assert [e for e in events if e["event_type"] not in LATER_EVENTS] == read_truth(
        without, "events.csv"
    )
    later_people = {e["person_id"] for e in events if e["event_type"] in LATER_EVENTS}
    person_of = {
        (r["source"], r["source_record_id"]): r["person_id"]
        for r in read_truth(with_events, "person_map.csv")
    }
    changed = 0
    for source in SOURCES:
        for d in range(DAYS):
            day = (START + timedelta(days=d)).isoformat()
            for text in _rows(with_events, source, day) ^ _rows(without, source, day):
                assert person_of[(source, record_id(source, json.loads(text)))] in later_people
                changed += 1
    assert changed > 0
