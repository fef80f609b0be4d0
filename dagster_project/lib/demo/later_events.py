"""Monitoring events applied after the regular data is rendered and scheduled.

The first five event types (events.py) are planned before rendering and draw from the main
random stream. These come later on purpose: each draws from a stream of its own (`_stream`) and
only changes records that no regular change touches, by overriding their rendered values and
adding versions to their schedule. Adding one therefore leaves every other value of the demo
byte-identical, which the matching floors and gates measured on the demo rely on.

Definitions (a test checks each against the files):

- `billing_address_changed_2x_month`: one ERP record delivers a different `账单地址` on 2
  distinct days within `EVENT_WINDOW_DAYS`; needs `days >= 3`. Labelled on the second change.
- `name_changed_2x_month`: one CRM or ERP record of a Chinese person, delivered on day one in
  characters exactly as the truth holds the name, is delivered in pinyin on one day and in
  characters again on a later one: the same name in another form (the person still matches),
  retyped twice. Needs `days >= 3`; labelled on the second change.
- `tags_or_level_changed_3x_month`: one CRM record changes its `tags` or `member_level` on 3
  distinct days; needs `days >= 4`. Labelled on the third change.
- `shared_email`: one company mailbox (`finance@...`) replaces the own e-mail of 8-12 unrelated
  people living alone in the CRM `email` or ERP `电子邮箱` column, in the day-one extract. Every
  person in the group is labelled, on day one.
- `birth_date_mismatch_id`: a CRM or ERP record with a valid resident ID delivers a birth date
  other than the ID's. Injected: the year typed one off, on a record that showed the right
  date. The day/month swaps (`rates.CORRUPTION_RATES`) that fall on a record with a valid ID
  show the same disagreement, so they are labelled too. Labelled on the first delivery day of
  the person's earliest such record.
- `no_interaction_for_a_year`: the person's latest call-centre `last_call_at`, over their
  call-centre records as delivered through a day, is more than 365 days before that day.
  Injected: the only call-centre record of a person gets a last call 366-730 days before the
  start. Day-one contacts whose last call ages past a year during the window are labelled too.
  Labelled on the first such day.

Injected events go to people without any other event; the two labelled conditions the regular
data produces as well (a swapped birth date, a contact ageing past a year) may fall on people
with another event.
"""

from __future__ import annotations

import zlib
from datetime import date
from typing import Any

import numpy as np

from .events import EventLabel, EventPlan
from .people import AddressFactory, Draws, People
from .rates import (
    EVENT_RATES,
    EVENT_WINDOW_DAYS,
    SHARED_EMAIL_GROUPS_PER_PERSON,
    SHARED_EMAIL_MAX_PEOPLE,
    SHARED_EMAIL_MIN_PEOPLE,
)
from .schedule import SourceSchedule
from .sources import (
    EMAIL_COLUMN,
    MEMBER_LEVELS,
    TAGS,
    TIMESTAMP_COLUMN,
    Context,
    SourceRecords,
    format_time,
)
from .text import gbk_safe, is_valid_resident_id

STALE_AFTER_DAYS = 365  # the shipped rule no_interaction_for_a_year
# Role mailboxes at company domains: what strangers who share an e-mail usually share.
MAILBOX_ROLES: tuple[str, ...] = ("finance", "office", "service", "hr", "purchase", "accounts")
MAILBOX_DOMAINS: tuple[str, ...] = (
    "huaxin-trading.com",
    "jinqiao-group.cn",
    "hengtai-logistics.com.cn",
    "dongfang-electric.cn",
    "xinyuan-tech.com",
    "zhongbei-foods.com.cn",
    "brightpath-consulting.com",
    "northgate-supplies.co.uk",
)
ID_AND_BIRTH_COLUMNS: dict[str, tuple[str, str]] = {
    "crm": ("id_card_no", "birth_date"),
    "erp_billing": ("身份证号码", "出生日期"),
}
_TIME_STYLE = {"crm": "crm", "erp_billing": "erp", "web_signup": "web"}


def _stream(seed: int, event_type: str) -> np.random.Generator:
    # A stream per event type: changing one event's draws moves no other value.
    return np.random.default_rng([seed, zlib.crc32(event_type.encode())])


def _target_count(rate: float, n_people: int) -> int:
    return max(1, round(rate * n_people))


class _Overlay:
    def __init__(
        self,
        ctx: Context,
        seed: int,
        records: dict[str, SourceRecords],
        base: dict[str, dict[str, list[Any]]],
        schedules: dict[str, SourceSchedule],
        plan: EventPlan,
    ):
        self.ctx = ctx
        self.seed = seed
        self.records = records
        self.base = base
        self.schedules = schedules
        self.plan = plan
        self.window = min(ctx.days - 1, EVENT_WINDOW_DAYS)

    def untouched(self, source: str) -> list[int]:
        """Day-one records without regular changes or events, of people without an event."""
        recs = self.records[source]
        changed = self.schedules[source].overrides
        return [
            i
            for i in np.flatnonzero((recs.first_day == 0) & ~recs.locked).tolist()
            if i not in changed and int(recs.person[i]) not in self.plan.persons
        ]

    def pick(
        self, rng: np.random.Generator, candidates: list[tuple[str, int]], count: int
    ) -> list[tuple[str, int]]:
        """Up to `count` candidates in random order, one per person; they now have an event."""
        chosen: list[tuple[str, int]] = []
        for k in rng.permutation(len(candidates)).tolist():
            if len(chosen) == count:
                break
            source, rec = candidates[k]
            person = int(self.records[source].person[rec])
            if person in self.plan.persons:
                continue
            self.plan.persons.add(person)
            self.records[source].locked[rec] = True
            chosen.append((source, rec))
        return chosen

    def change_days(self, rng: np.random.Generator, k: int) -> list[int]:
        return np.sort(rng.choice(np.arange(1, self.window + 1), size=k, replace=False)).tolist()

    def change(
        self, rng: np.random.Generator, source: str, rec: int, day: int, update: dict[str, Any]
    ) -> None:
        """A new version of `rec` on `day`, stamped like a regular change."""
        ts = self.ctx.start_epoch + day * 86400 + int(rng.integers(8 * 3600, 22 * 3600))
        stamped = {**update, TIMESTAMP_COLUMN[source]: format_time(ts, _TIME_STYLE[source])}
        schedule = self.schedules[source]
        schedule.overrides.setdefault(rec, {}).setdefault(day, {}).update(stamped)
        schedule.changed.setdefault(day, set()).add(rec)

    def label(self, source: str, rec: int, event_type: str, day: int) -> None:
        person = int(self.records[source].person[rec])
        self.plan.labels.append(EventLabel(person, event_type, day))

    def count(self, event_type: str) -> int:
        return _target_count(EVENT_RATES[event_type], len(self.ctx.people))


def add_later_events(
    ctx: Context,
    seed: int,
    records: dict[str, SourceRecords],
    base: dict[str, dict[str, list[Any]]],
    schedules: dict[str, SourceSchedule],
    plan: EventPlan,
) -> None:
    """Inject and label the event types of this module; `base` and `schedules` are changed in
    place and the labels added to `plan`."""
    overlay = _Overlay(ctx, seed, records, base, schedules, plan)
    # Order matters only for who is still free: each event's draws are its own.
    _billing_address_changes(overlay)
    _name_changes(overlay)
    _tags_or_level_changes(overlay)
    _shared_emails(overlay)
    _birth_date_mismatches(overlay)
    _no_interaction_for_a_year(overlay)
    plan.labels.sort(key=lambda e: (e.day, e.event_type, e.person))


def _billing_address_changes(overlay: _Overlay) -> None:
    event = "billing_address_changed_2x_month"
    if overlay.window < 2:
        return
    ctx, people = overlay.ctx, overlay.ctx.people
    rng = _stream(overlay.seed, event)
    # New addresses come from this event's own stream too; the book only grows at its end.
    factory = AddressFactory(Draws(rng), ctx.book, ctx.addresses.pools)
    column = overlay.base["erp_billing"]["账单地址"]
    candidates = [("erp_billing", i) for i in overlay.untouched("erp_billing")]
    for source, rec in overlay.pick(rng, candidates, overlay.count(event)):
        p = int(overlay.records[source].person[rec])
        current = column[rec]
        days = overlay.change_days(rng, 2)
        for day in days:
            value = current
            while value == current:
                moved = factory.moved(people.address[p], people.locale[p])
                value = gbk_safe(ctx.book.full_address(moved))
            overlay.change(rng, source, rec, day, {"账单地址": value})
            current = value
        overlay.label(source, rec, event, days[-1])


def _name_changes(overlay: _Overlay) -> None:
    event = "name_changed_2x_month"
    if overlay.window < 2:
        return
    people = overlay.ctx.people
    rng = _stream(overlay.seed, event)
    crm, erp = overlay.base["crm"], overlay.base["erp_billing"]
    candidates: list[tuple[str, int]] = []
    for source in ("crm", "erp_billing"):
        recs = overlay.records[source]
        for i in overlay.untouched(source):
            p = int(recs.person[i])
            if not people.is_cn[p]:
                continue
            # Only a record showing the true name in characters: the change is the form alone.
            if source == "crm":
                as_truth = (crm["family_name"][i], crm["given_name"][i]) == (
                    people.family[p],
                    people.given[p],
                )
            else:
                as_truth = erp["客户名称"][i] == gbk_safe(people.family[p] + people.given[p])
            if as_truth:
                candidates.append((source, i))
    for source, rec in overlay.pick(rng, candidates, overlay.count(event)):
        p = int(overlay.records[source].person[rec])
        in_pinyin, in_characters = _name_columns(source, people, p)
        days = overlay.change_days(rng, 2)
        overlay.change(rng, source, rec, days[0], in_pinyin)
        overlay.change(rng, source, rec, days[1], in_characters)
        overlay.label(source, rec, event, days[-1])


def _name_columns(source: str, people: People, p: int) -> tuple[dict[str, str], dict[str, str]]:
    """The name columns of `source` in pinyin and in characters."""
    if source == "crm":
        return (
            {"family_name": people.family_py[p], "given_name": people.given_py[p]},
            {"family_name": people.family[p], "given_name": people.given[p]},
        )
    # The ERP types pinyin in capitals, family name first (as its base rendering does).
    pinyin = f"{people.family_py[p].upper()} {people.given_py[p].upper()}"
    return {"客户名称": pinyin}, {"客户名称": gbk_safe(people.family[p] + people.given[p])}


def _tags_or_level_changes(overlay: _Overlay) -> None:
    event = "tags_or_level_changed_3x_month"
    if overlay.window < 3:
        return
    rng = _stream(overlay.seed, event)
    crm = overlay.base["crm"]
    candidates = [("crm", i) for i in overlay.untouched("crm")]
    for source, rec in overlay.pick(rng, candidates, overlay.count(event)):
        tags = [t for t in crm["tags"][rec].split(";") if t]
        level = crm["member_level"][rec]
        days = overlay.change_days(rng, 3)
        for day in days:
            if rng.random() < 0.5:
                toggle = TAGS[int(rng.integers(len(TAGS)))]
                tags = [t for t in tags if t != toggle] if toggle in tags else [*tags, toggle]
                update = {"tags": ";".join(t for t in TAGS if t in tags)}
            else:
                options = [m for m in MEMBER_LEVELS if m and m != level]
                level = options[int(rng.integers(len(options)))]
                update = {"member_level": level}
            overlay.change(rng, source, rec, day, update)
        overlay.label(source, rec, event, days[-1])


def _shared_emails(overlay: _Overlay) -> None:
    event = "shared_email"
    people = overlay.ctx.people
    rng = _stream(overlay.seed, event)
    sources = ("crm", "erp_billing")
    queues: dict[str, list[int]] = {}
    for source in sources:
        recs, column = overlay.records[source], overlay.base[source][EMAIL_COLUMN[source]]
        # People living alone, whose record holds their own e-mail as the truth has it.
        eligible = [
            i
            for i in overlay.untouched(source)
            if people.household_size[recs.person[i]] == 1
            and column[i] == people.email[int(recs.person[i])]
        ]
        queues[source] = [eligible[k] for k in rng.permutation(len(eligible)).tolist()]
    taken = set(people.email)
    groups = max(1, round(SHARED_EMAIL_GROUPS_PER_PERSON * len(people)))
    for g in range(groups):
        source = sources[g % 2]
        recs, queue = overlay.records[source], queues[source]
        size = int(rng.integers(SHARED_EMAIL_MIN_PEOPLE, SHARED_EMAIL_MAX_PEOPLE + 1))
        chosen: list[int] = []
        seen: set[int] = set()
        while queue and len(chosen) < size:
            rec = queue.pop()
            person = int(recs.person[rec])
            if person in seen or person in overlay.plan.persons:
                continue
            seen.add(person)
            chosen.append(rec)
        if len(chosen) < SHARED_EMAIL_MIN_PEOPLE:
            continue
        role = MAILBOX_ROLES[int(rng.integers(len(MAILBOX_ROLES)))]
        domain = MAILBOX_DOMAINS[int(rng.integers(len(MAILBOX_DOMAINS)))]
        mailbox = f"{role}@{domain}"
        if mailbox in taken:
            # Another group drew the same mailbox: the group number keeps each group's own.
            mailbox = f"{role}{g + 1}@{domain}"
        taken.add(mailbox)
        for rec in chosen:
            overlay.base[source][EMAIL_COLUMN[source]][rec] = mailbox
            recs.locked[rec] = True
            overlay.plan.persons.add(int(recs.person[rec]))
            overlay.label(source, rec, event, 0)


def _agrees(national_id: str, birth: str) -> bool | None:
    """Whether a record's birth date is its resident ID's; None without both or a valid ID,
    as the consistency rule has nothing to compare then."""
    if not national_id or not birth or not is_valid_resident_id(national_id):
        return None
    return national_id[6:14] == "".join(c for c in birth if c.isdigit())


def _birth_date_mismatches(overlay: _Overlay) -> None:
    event = "birth_date_mismatch_id"
    rng = _stream(overlay.seed, event)
    candidates: list[tuple[str, int]] = []
    for source, (id_column, birth_column) in ID_AND_BIRTH_COLUMNS.items():
        recs, columns = overlay.records[source], overlay.base[source]
        for i in np.flatnonzero(~recs.locked).tolist():
            nid, birth = columns[id_column][i], columns[birth_column][i]
            if int(recs.person[i]) not in overlay.plan.persons and _agrees(nid, birth):
                candidates.append((source, i))
    for source, rec in overlay.pick(rng, candidates, overlay.count(event)):
        birth_column = ID_AND_BIRTH_COLUMNS[source][1]
        column = overlay.base[source][birth_column]
        column[rec] = _year_typo(column[rec], 1 if rng.random() < 0.5 else -1)
    # Label every record that disagrees with its ID: the injected ones and the swaps.
    first: dict[int, int] = {}
    for source, (id_column, birth_column) in ID_AND_BIRTH_COLUMNS.items():
        recs, columns = overlay.records[source], overlay.base[source]
        pairs = zip(columns[id_column], columns[birth_column], strict=True)
        for i, (nid, birth) in enumerate(pairs):
            if _agrees(nid, birth) is False:
                p, day = int(recs.person[i]), int(recs.first_day[i])
                first[p] = min(first.get(p, day), day)
    overlay.plan.labels.extend(EventLabel(p, event, day) for p, day in first.items())


def _year_typo(text: str, step: int) -> str:
    """`text` (YYYY-MM-DD or YYYY/MM/DD) with the year `step` off; 29 February becomes the 28th."""
    separator = text[4]
    year, month, day = (int(part) for part in text.split(separator))
    if month == 2 and day == 29:
        day = 28
    moved = date(year + step, month, day)
    return f"{moved.year:04d}{separator}{moved.month:02d}{separator}{moved.day:02d}"


def _no_interaction_for_a_year(overlay: _Overlay) -> None:
    event = "no_interaction_for_a_year"
    ctx = overlay.ctx
    rng = _stream(overlay.seed, event)
    recs = overlay.records["call_center"]
    last_call = overlay.base["call_center"]["last_call_at"]
    # The golden record's last interaction is the latest of the person's contacts: only a
    # person with one contact record goes quiet when that record does.
    contacts = np.bincount(recs.person, minlength=len(ctx.people))
    candidates = [
        ("call_center", i)
        for i in overlay.untouched("call_center")
        if contacts[recs.person[i]] == 1
    ]
    for _, rec in overlay.pick(rng, candidates, overlay.count(event)):
        days_back = int(rng.integers(STALE_AFTER_DAYS + 1, 2 * STALE_AFTER_DAYS + 1))
        last_call[rec] = (
            ctx.start_epoch - days_back * 86400 + int(rng.integers(8 * 3600, 22 * 3600))
        )
    # Label everybody the rule should find on some day, injected or aged past the year.
    schedule = overlay.schedules["call_center"]
    base_values = np.asarray(last_call, dtype=np.int64)
    never = np.iinfo(np.int64).min
    labelled = np.zeros(len(ctx.people), dtype=bool)
    for day in range(ctx.days):
        values = base_values.copy()
        for i in schedule.overrides:  # a new call moves the record's last call forward
            values[i] = schedule.value(overlay.base["call_center"], "last_call_at", i, day)
        present = recs.first_day <= day
        latest = np.full(len(ctx.people), never, dtype=np.int64)
        np.maximum.at(latest, recs.person[present], values[present])
        quiet_since = ctx.start_epoch // 86400 + day - STALE_AFTER_DAYS
        quiet = (latest != never) & (latest // 86400 < quiet_since) & ~labelled
        for p in np.flatnonzero(quiet).tolist():
            overlay.plan.labels.append(EventLabel(p, event, day))
        labelled |= quiet
