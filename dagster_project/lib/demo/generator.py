"""`generate_demo_data`: people -> source records -> daily drops -> ground truth."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from .events import EventPlan, plan_events
from .later_events import add_later_events
from .people import People, build_people
from .pools import locale_pools
from .rates import EVENT_TYPES, SOURCES, STALE_ADDRESS_RATE
from .schedule import Scheduler, SourceSchedule
from .sources import (
    COLUMNS,
    RENDERERS,
    Context,
    SourceRecords,
    build_records,
    draw_presence,
)
from .text import e164
from .writers import (
    FAULT_COLUMNS,
    Fault,
    add_erp_column,
    break_crm_lines,
    day_path,
    write_rows,
    write_truth_csv,
)

ProgressCallback = Callable[[str, int, int], None]
PEOPLE_COLUMNS: tuple[str, ...] = (
    "person_id",
    "full_name",
    "name_pinyin",
    "gender",
    "date_of_birth",
    "national_id",
    "mobile_e164",
    "email",
    "province",
    "city",
    "district",
    "postal_code",
    "country_code",
    "locale",
    "household_id",
    "twin_of",
    # Beyond the promised columns: handy when checking standardisation and survivorship.
    "family_name",
    "given_name",
    "address_line",
    "landline_e164",
    "company_name",
)
WEB_REDELIVERY_DAY = 1  # with faults, this day's web file repeats the previous day's


@dataclass
class DemoSummary:
    """What was generated; counts are exact, taken while writing."""

    out_dir: Path
    people: int
    records_per_source: dict[str, int]
    rows_per_source_day: dict[tuple[str, str], int]
    files: list[Path]
    events: dict[str, int]
    faults: list[Fault] = field(default_factory=list)
    start: date = date(2026, 11, 1)
    days: int = 1
    seed: int = 42

    @property
    def total_records(self) -> int:
        return sum(self.records_per_source.values())

    @property
    def total_rows(self) -> int:
        return sum(self.rows_per_source_day.values())


def generate_demo_data(
    out_dir: Path,
    customers: int = 5000,
    days: int = 5,
    start: date = date(2026, 11, 1),
    seed: int = 42,
    faults: bool = False,
    progress: ProgressCallback | None = None,
) -> DemoSummary:
    """Write day-partitioned source drops and ground truth for `customers` people.

    Files go to `<out_dir>/<source>/<YYYY-MM-DD>/<file>` and `<out_dir>/_truth/` (formats in
    README.md beside this module). Existing files with the same names are overwritten and
    nothing else is removed, so use a fresh directory when changing `days` or `start`.

    Args:
        out_dir: Root of the landing area to write.
        customers: Number of people; each has about 2.2 distinct source records, so
            1,000,000 records need about 455,000 people.
        days: Number of daily drops; day one is the full extract.
        start: Date of the first drop.
        seed: Everything derives from it: the same arguments give byte-identical files.
        faults: Also inject file faults (malformed CRM lines, an extra ERP column, a
            re-delivered web file), listed in `_truth/faults.csv`.
        progress: Called as `progress(step, done, total)` at the start and end of each step
            ("people", "render", "changes", "write <source>" per day, "truth").

    Returns:
        Exact counts of what was written.
    """
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if days < 1:
        raise ValueError("days must be at least 1")
    report = progress or (lambda step, done, total: None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    fault_rng = np.random.default_rng([seed, 1])

    report("people", 0, 1)
    people, book, addresses, mobiles, emails = build_people(
        rng, customers, start, locale_pools(seed)
    )
    ctx = Context(rng, people, book, addresses, mobiles, emails, start, days)
    report("people", 1, 1)

    quiet = {"web_signup": WEB_REDELIVERY_DAY} if faults and days > WEB_REDELIVERY_DAY else {}
    presence = draw_presence(rng, customers)
    records: dict[str, SourceRecords] = {}
    for k, source in enumerate(SOURCES):
        persons = np.flatnonzero(presence[:, k])
        records[source] = build_records(ctx, source, persons, quiet_day=quiet.get(source, -1))
    plan = plan_events(ctx, records)
    _assign_stale_addresses(ctx, records, plan.persons)

    base: dict[str, dict[str, list[Any]]] = {}
    for k, source in enumerate(SOURCES):
        report("render", k, len(SOURCES))
        base[source] = RENDERERS[source](ctx, records[source])
    report("render", len(SOURCES), len(SOURCES))

    report("changes", 0, 1)
    schedules = Scheduler(ctx, records, base, quiet=quiet).run(plan)
    add_later_events(ctx, seed, records, base, schedules, plan)
    report("changes", 1, 1)

    files: list[Path] = []
    rows_per_day: dict[tuple[str, str], int] = {}
    for source in SOURCES:
        for day in range(days):
            report(f"write {source}", day, days)
            iso = (start + timedelta(days=day)).isoformat()
            path = day_path(out_dir, source, iso)
            if quiet.get(source) == day:
                previous_iso = (start + timedelta(days=day - 1)).isoformat()
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(day_path(out_dir, source, previous_iso).read_bytes())
                rows_per_day[(source, iso)] = rows_per_day[(source, previous_iso)]
            else:
                rows = _rows_for_day(records[source], base[source], schedules[source], source, day)
                write_rows(source, path, rows)
                rows_per_day[(source, iso)] = len(rows)
            files.append(path)
        report(f"write {source}", days, days)

    injected = _inject_faults(out_dir, start, days, quiet, fault_rng) if faults else []
    report("truth", 0, 1)
    files.extend(_write_truth(out_dir, people, ctx, records, plan, start, injected))
    report("truth", 1, 1)

    counts = Counter(label.event_type for label in plan.labels)
    return DemoSummary(
        out_dir=out_dir,
        people=customers,
        records_per_source={s: len(records[s]) for s in SOURCES},
        rows_per_source_day=rows_per_day,
        files=sorted(files),
        events={event: counts.get(event, 0) for event in EVENT_TYPES},
        faults=injected,
        start=start,
        days=days,
        seed=seed,
    )


def _rows_for_day(
    recs: SourceRecords,
    base: dict[str, list[Any]],
    schedule: SourceSchedule,
    source: str,
    day: int,
) -> list[tuple[Any, ...]]:
    columns = COLUMNS[source]
    if day == 0:
        # Day one is a prefix of the records (they are sorted by first delivery day).
        k = int(np.searchsorted(recs.first_day, 1))
        return list(zip(*(base[c][:k] for c in columns), strict=True))
    position = {c: i for i, c in enumerate(columns)}
    rows = []
    for rec in schedule.rows_for_day(recs, day):
        row = [base[c][rec] for c in columns]
        versions = schedule.overrides.get(rec)
        if versions:
            for version_day in sorted(versions):
                if version_day > day:
                    break
                for column, value in versions[version_day].items():
                    row[position[column]] = value
        rows.append(tuple(row))
    return rows


def _assign_stale_addresses(
    ctx: Context, records: dict[str, SourceRecords], excluded: set[int]
) -> None:
    """People who moved: one of their records (in any source) still shows the old address."""
    people = ctx.people
    n = len(people)
    persons = np.concatenate([records[s].person for s in SOURCES])
    source_of = np.concatenate([np.full(len(records[s]), k) for k, s in enumerate(SOURCES)])
    rec_of = np.concatenate([np.arange(len(records[s])) for s in SOURCES])
    counts = np.bincount(persons, minlength=n)
    moved = (ctx.rng.random(n) < STALE_ADDRESS_RATE) & (counts >= 2)
    if excluded:
        moved[np.fromiter(excluded, dtype=np.int64)] = False
    key = ctx.rng.random(len(persons))
    order = np.lexsort((key, persons))
    sorted_persons = persons[order]
    first = order[np.r_[True, sorted_persons[1:] != sorted_persons[:-1]]]
    for g in first.tolist():
        p = int(persons[g])
        if not moved[p]:
            continue
        anchor = people.id_division[p] if people.locale[p] == "zh_CN" else -1
        old = ctx.addresses.moved(people.address[p], people.locale[p], same_province_as=anchor)
        records[SOURCES[int(source_of[g])]].address[int(rec_of[g])] = old


def _inject_faults(
    out_dir: Path, start: date, days: int, quiet: dict[str, int], rng: np.random.Generator
) -> list[Fault]:
    def iso(day: int) -> str:
        return (start + timedelta(days=day)).isoformat()

    # Day two's CRM file, unless it is too small to break three lines of; then day one's.
    injected: list[Fault] = []
    for crm_day in dict.fromkeys((min(1, days - 1), 0)):
        path = day_path(out_dir, "crm", iso(crm_day))
        injected = break_crm_lines(path, out_dir, iso(crm_day), rng)
        if injected:
            break
    erp_day = min(2, days - 1)
    injected += add_erp_column(
        day_path(out_dir, "erp_billing", iso(erp_day)), out_dir, iso(erp_day), rng
    )
    for source, day in quiet.items():
        path = day_path(out_dir, source, iso(day))
        previous = day_path(out_dir, source, iso(day - 1))
        injected.append(
            Fault(
                source,
                iso(day),
                str(path.relative_to(out_dir)),
                None,
                "",
                "redelivered_file",
                "",
                f"byte-identical to {previous.relative_to(out_dir)}",
            )
        )
    return injected


def _write_truth(
    out_dir: Path,
    people: People,
    ctx: Context,
    records: dict[str, SourceRecords],
    plan: EventPlan,
    start: date,
    faults: list[Fault],
) -> list[Path]:
    truth = out_dir / "_truth"
    book = ctx.book
    person_map = truth / "person_map.csv"
    write_truth_csv(
        person_map,
        ("source", "source_record_id", "person_id"),
        (
            (source, rid, people.person_id[p])
            for source in SOURCES
            for rid, p in zip(records[source].ids, records[source].person.tolist(), strict=True)
        ),
    )
    events = truth / "events.csv"
    write_truth_csv(
        events,
        ("person_id", "event_type", "date"),
        (
            (people.person_id[e.person], e.event_type, (start + timedelta(days=e.day)).isoformat())
            for e in plan.labels
        ),
    )
    people_path = truth / "people.csv"

    def person_row(p: int) -> tuple[str, ...]:
        a = people.address[p]
        twin = people.twin_of[p]
        return (
            people.person_id[p],
            people.full_name(p),
            people.name_pinyin(p),
            "M" if people.male[p] else "F",
            people.dob[p].isoformat(),
            people.national_id[p],
            e164(people.country[p], people.mobile[p]),
            people.email[p],
            book.province[a],
            book.city[a],
            book.district[a],
            book.postcode[a],
            people.country[p],
            people.locale[p],
            people.household_id(p),
            people.person_id[twin] if twin >= 0 else "",
            people.family[p],
            people.given[p],
            book.street_line(a),
            e164(people.country[p], people.landline[p]),
            people.company[p],
        )

    write_truth_csv(people_path, PEOPLE_COLUMNS, (person_row(p) for p in range(len(people))))
    faults_path = truth / "faults.csv"
    write_truth_csv(faults_path, FAULT_COLUMNS, (f.row() for f in faults))
    return [person_map, events, people_path, faults_path]
