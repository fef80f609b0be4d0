"""Injected monitoring events: who gets them, on which record, and when they become visible.

Definitions (a test checks each against the files):

- `address_changed_3x_month`: one CRM or ERP record delivers a different address on 3 distinct
  days within `EVENT_WINDOW_DAYS`; needs `days >= 4` (day one plus three change days). Labelled
  on the day of the third change.
- `mobile_changed_4x`: one CRM or ERP record delivers a different mobile on 4 distinct days;
  needs `days >= 5`. Labelled on the day of the fourth change.
- `email_became_invalid`: a CRM or ERP record delivered with a valid e-mail on day one is later
  delivered with an invalid one; needs `days >= 2`. Labelled on the day of the change.
- `shared_phone`: one mainland mobile number is recorded against 10-15 unrelated people (people
  living alone, one record each) in the CRM `mobile` or call-centre `phone_number` column, all in
  the day-one extract. Every person in the group is labelled, on day one.
- `province_mismatch_id_region`: a Chinese person living alone whose address is in another
  province than the region of their resident ID. Their earliest CRM/ERP record carries a valid ID
  and a province; labelled on that record's first delivery day.

People get at most one event. Regular daily changes never produce these patterns: a record
changes its address, mobile or e-mail at most once outside events, and moves stay within the
ID-card province.

The event types added later (billing address, name, tags or level, shared e-mail, birth date,
no interaction) are in later_events.py: they are applied after rendering, from their own random
streams, so that adding them left the data of these five as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .people import DIVISIONS_BY_PROVINCE, landline_number
from .rates import (
    EVENT_RATES,
    EVENT_WINDOW_DAYS,
    SHARED_PHONE_GROUPS_PER_PERSON,
    SHARED_PHONE_MAX_PEOPLE,
    SHARED_PHONE_MIN_PEOPLE,
)
from .reference import DIVISIONS
from .sources import Context, SourceRecords

CHANGE_EVENT_SOURCES: tuple[str, ...] = ("crm", "erp_billing")


@dataclass(frozen=True)
class EventLabel:
    person: int
    event_type: str
    day: int


@dataclass
class EventPlan:
    labels: list[EventLabel] = field(default_factory=list)
    # day -> (source, record index, change kind)
    changes: dict[int, list[tuple[str, int, str]]] = field(default_factory=dict)
    persons: set[int] = field(default_factory=set)

    def add_change(self, day: int, source: str, rec: int, kind: str) -> None:
        self.changes.setdefault(day, []).append((source, rec, kind))


def _target_count(rate: float, n_people: int) -> int:
    return max(1, round(rate * n_people))


def _candidates(
    records: dict[str, SourceRecords], sources: tuple[str, ...], used: set[int], *, day_one: bool
) -> list[tuple[str, int]]:
    out = []
    for source in sources:
        recs = records[source]
        mask = ~recs.locked
        if day_one:
            mask &= recs.first_day == 0
        for i in np.flatnonzero(mask).tolist():
            if int(recs.person[i]) not in used:
                out.append((source, i))
    return out


def plan_events(ctx: Context, records: dict[str, SourceRecords]) -> EventPlan:
    """Choose event targets and constrain their records; must run before rendering."""
    rng = ctx.rng
    people = ctx.people
    n_people = len(people)
    plan = EventPlan()
    window = min(ctx.days - 1, EVENT_WINDOW_DAYS)

    _plan_province_mismatch(ctx, records, plan)

    def pick(sources: tuple[str, ...], count: int) -> list[tuple[str, int]]:
        chosen: list[tuple[str, int]] = []
        candidates = _candidates(records, sources, plan.persons, day_one=True)
        order = rng.permutation(len(candidates)).tolist()
        for k in order:
            source, rec = candidates[k]
            person = int(records[source].person[rec])
            if person in plan.persons:
                continue
            plan.persons.add(person)
            records[source].locked[rec] = True
            chosen.append((source, rec))
            if len(chosen) == count:
                break
        return chosen

    if window >= 3:
        count = _target_count(EVENT_RATES["address_changed_3x_month"], n_people)
        for source, rec in pick(CHANGE_EVENT_SOURCES, count):
            days = np.sort(rng.choice(np.arange(1, window + 1), size=3, replace=False)).tolist()
            for d in days:
                plan.add_change(d, source, rec, "address")
            person = int(records[source].person[rec])
            plan.labels.append(EventLabel(person, "address_changed_3x_month", days[-1]))

    if window >= 4:
        count = _target_count(EVENT_RATES["mobile_changed_4x"], n_people)
        for source, rec in pick(CHANGE_EVENT_SOURCES, count):
            records[source].clean_mobile[rec] = True
            days = np.sort(rng.choice(np.arange(1, window + 1), size=4, replace=False)).tolist()
            for d in days:
                plan.add_change(d, source, rec, "mobile")
            person = int(records[source].person[rec])
            plan.labels.append(EventLabel(person, "mobile_changed_4x", days[-1]))

    if window >= 1:
        count = _target_count(EVENT_RATES["email_became_invalid"], n_people)
        for source, rec in pick(CHANGE_EVENT_SOURCES, count):
            records[source].clean_email[rec] = True
            day = int(rng.integers(1, window + 1))
            plan.add_change(day, source, rec, "email_invalid")
            person = int(records[source].person[rec])
            plan.labels.append(EventLabel(person, "email_became_invalid", day))

    _plan_shared_phones(ctx, records, plan)
    plan.labels.sort(key=lambda e: (e.day, e.event_type, e.person))
    return plan


def _plan_province_mismatch(
    ctx: Context, records: dict[str, SourceRecords], plan: EventPlan
) -> None:
    rng = ctx.rng
    people = ctx.people
    # Earliest CRM/ERP record per person: the witness that shows ID and province together.
    witness: dict[int, tuple[int, str, int]] = {}
    for source in ("crm", "erp_billing"):
        recs = records[source]
        for i, (p, day) in enumerate(
            zip(recs.person.tolist(), recs.first_day.tolist(), strict=True)
        ):
            key = (day, source, i)
            if p not in witness or key < witness[p]:
                witness[p] = key
    candidates = [
        p
        for p in sorted(witness)
        if people.is_cn[p] and people.household_size[p] == 1 and people.twin_of[p] < 0
    ]
    if not candidates:
        return
    count = min(
        len(candidates), _target_count(EVENT_RATES["province_mismatch_id_region"], len(people))
    )
    chosen = np.sort(rng.choice(len(candidates), size=count, replace=False)).tolist()
    new_addresses: dict[int, int] = {}
    for k in chosen:
        p = candidates[k]
        id_province = DIVISIONS[people.id_division[p]].province
        others = [
            i for prov, divs in DIVISIONS_BY_PROVINCE.items() if prov != id_province for i in divs
        ]
        new_division = others[int(rng.integers(len(others)))]
        new_address = ctx.addresses.cn(np.array([new_division]))[0]
        people.address[p] = new_address
        new_addresses[p] = new_address
        if people.landline[p]:
            # The landline follows the home: its area code is the new city's.
            people.landline[p] = landline_number("CN", new_division, *rng.random(3).tolist())
        day, source, rec = witness[p]
        records[source].clean_id_province[rec] = True
        plan.persons.add(p)
        plan.labels.append(EventLabel(p, "province_mismatch_id_region", day))
    keys = np.array(sorted(new_addresses), dtype=np.int64)
    for recs in records.values():
        for i in np.flatnonzero(np.isin(recs.person, keys)).tolist():
            recs.address[i] = new_addresses[int(recs.person[i])]


def _plan_shared_phones(ctx: Context, records: dict[str, SourceRecords], plan: EventPlan) -> None:
    rng = ctx.rng
    people = ctx.people
    groups = max(1, round(SHARED_PHONE_GROUPS_PER_PERSON * len(people)))
    # One shuffled queue of eligible records per source, consumed group after group.
    queues: dict[str, list[int]] = {}
    for source in ("crm", "call_center"):
        recs = records[source]
        eligible = np.flatnonzero((recs.first_day == 0) & ~recs.locked)
        alone = people.household_size[recs.person[eligible]] == 1
        eligible = eligible[alone]
        queues[source] = eligible[rng.permutation(len(eligible))].tolist()
    for g in range(groups):
        source = ("crm", "call_center")[g % 2]
        recs = records[source]
        size = int(rng.integers(SHARED_PHONE_MIN_PEOPLE, SHARED_PHONE_MAX_PEOPLE + 1))
        queue = queues[source]
        chosen: list[int] = []
        seen: set[int] = set()
        while queue and len(chosen) < size:
            rec = queue.pop()
            person = int(recs.person[rec])
            if person in seen or person in plan.persons:
                continue
            seen.add(person)
            chosen.append(rec)
        if len(chosen) < SHARED_PHONE_MIN_PEOPLE:
            continue
        number = ctx.mobiles.one("CN")
        for rec in chosen:
            person = int(recs.person[rec])
            recs.mobile_override[rec] = number
            recs.locked[rec] = True
            plan.persons.add(person)
            plan.labels.append(EventLabel(person, "shared_phone", 0))
