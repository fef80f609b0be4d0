"""What each later day delivers: changed records, re-sent records, and their new values.

A record's later versions are stored as overrides of its base rendering:
`overrides[record][day] = {column: value}`. Person-level changes (a move, a new mobile, a new
e-mail) also update the truth in `People`, so `_truth/people.csv` holds the latest values; the
other systems that never heard of the change keep the old value, as real systems do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .events import EventPlan
from .rates import CHANGE_RATE_PER_DAY, RESEND_RATE_PER_DAY, SOURCES
from .sources import (
    EMAIL_COLUMN,
    MEMBER_LEVELS,
    TAGS,
    TIMESTAMP_COLUMN,
    Context,
    SourceRecords,
    address_columns,
    format_time,
    mobile_columns,
)
from .text import gbk_safe, invalid_email

# Regular change kinds per source and their weights.
CHANGE_KINDS: dict[str, tuple[tuple[str, float], ...]] = {
    "crm": (
        ("address", 0.20),
        ("mobile", 0.15),
        ("email", 0.10),
        ("tags", 0.20),
        ("member_level", 0.20),
        ("consent", 0.15),
    ),
    "erp_billing": (
        ("address", 0.25),
        ("mobile", 0.20),
        ("email", 0.10),
        ("company", 0.15),
        ("billing", 0.30),
    ),
    "web_signup": (
        ("address", 0.30),
        ("mobile", 0.30),
        ("newsletter", 0.30),
        ("display_name", 0.10),
    ),
    "call_center": (("call", 1.0),),
}
# Outside injected events a record changes each of these at most once, so that no record
# accidentally looks like a monitoring event.
CAPPED_KINDS = frozenset({"address", "mobile", "email"})


@dataclass
class SourceSchedule:
    overrides: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)
    changed: dict[int, set[int]] = field(default_factory=dict)  # day -> records
    resent: dict[int, set[int]] = field(default_factory=dict)

    def rows_for_day(self, recs: SourceRecords, day: int) -> list[int]:
        """Record indices delivered on `day`, in record order."""
        new = np.flatnonzero(recs.first_day == day).tolist()
        extra = self.changed.get(day, set()) | self.resent.get(day, set())
        return sorted(set(new) | extra)

    def value(self, base: dict[str, list[Any]], column: str, rec: int, day: int) -> Any:
        """The value of `column` in the version of `rec` current on `day`."""
        versions = self.overrides.get(rec)
        if versions:
            for d in sorted(versions, reverse=True):
                if d <= day and column in versions[d]:
                    return versions[d][column]
        return base[column][rec]


class Scheduler:
    def __init__(
        self,
        ctx: Context,
        records: dict[str, SourceRecords],
        base: dict[str, dict[str, list[Any]]],
        *,
        quiet: dict[str, int],
    ):
        self.ctx = ctx
        self.records = records
        self.base = base
        self.quiet = quiet
        self.schedules = {s: SourceSchedule() for s in SOURCES}
        self._used: dict[str, set[tuple[int, str]]] = {s: set() for s in SOURCES}

    def run(self, plan: EventPlan) -> dict[str, SourceSchedule]:
        rng = self.ctx.rng
        for day in range(1, self.ctx.days):
            for source in SOURCES:
                if self.quiet.get(source) == day:
                    continue
                recs = self.records[source]
                n = len(recs)
                existing = recs.first_day < day
                kinds = CHANGE_KINDS[source]
                weights = np.array([w for _, w in kinds])
                changing = (rng.random(n) < CHANGE_RATE_PER_DAY) & existing & ~recs.locked
                idx = np.flatnonzero(changing).tolist()
                picks = rng.choice(len(kinds), size=len(idx), p=weights / weights.sum()).tolist()
                times = self.ctx.day_time(day, len(idx)).tolist()
                for rec, pick, ts in zip(idx, picks, times, strict=True):
                    kind = kinds[pick][0]
                    if kind in CAPPED_KINDS:
                        if (rec, kind) in self._used[source]:
                            continue
                        self._used[source].add((rec, kind))
                    self._change(source, rec, day, kind, ts)
            for source, rec, kind in plan.changes.get(day, []):
                self._change(source, rec, day, kind, self.ctx.one_day_time(day))
            for source in SOURCES:
                if self.quiet.get(source) == day:
                    continue
                recs = self.records[source]
                changed = self.schedules[source].changed.get(day, set())
                resend = (rng.random(len(recs)) < RESEND_RATE_PER_DAY) & (recs.first_day < day)
                picked = {i for i in np.flatnonzero(resend).tolist() if i not in changed}
                if picked:
                    self.schedules[source].resent[day] = picked
        return self.schedules

    def _current(self, source: str, column: str, rec: int, day: int) -> Any:
        return self.schedules[source].value(self.base[source], column, rec, day)

    def _change(self, source: str, rec: int, day: int, kind: str, ts: int) -> None:
        ctx = self.ctx
        people = ctx.people
        u = ctx.draws.one
        p = int(self.records[source].person[rec])
        update: dict[str, Any] = {}
        if kind == "address":
            new = ctx.addresses.moved(people.address[p], people.locale[p])
            people.address[p] = new
            update = address_columns(ctx, source, new)
        elif kind == "mobile":
            number = ctx.mobiles.one(people.country[p])
            people.mobile[p] = number
            update = mobile_columns(source, people.country[p], number, u())
        elif kind == "email":
            email = ctx.emails.one(
                people.family_py[p], people.given_py[p], people.dob[p].year, people.locale[p]
            )
            people.email[p] = email
            update = {EMAIL_COLUMN[source]: email}
        elif kind == "email_invalid":
            update = {EMAIL_COLUMN[source]: invalid_email(people.email[p], u(), u())}
        elif kind == "tags":
            current = self._current(source, "tags", rec, day)
            tags = [t for t in TAGS if t in current.split(";")]
            toggle = TAGS[int(u() * len(TAGS))]
            tags = [t for t in tags if t != toggle] if toggle in tags else [*tags, toggle]
            update = {"tags": ";".join(t for t in TAGS if t in tags)}
        elif kind == "member_level":
            current = self._current(source, "member_level", rec, day)
            options = [m for m in MEMBER_LEVELS if m and m != current]
            update = {"member_level": options[int(u() * len(options))]}
        elif kind == "consent":
            current = self._current(source, "marketing_consent", rec, day)
            update = {"marketing_consent": "N" if current == "Y" else "Y"}
        elif kind == "company":
            other = int(u() * len(people))
            people.company[p] = people.company[other]
            people.company_address[p] = people.company_address[other]
            update = {"公司名称": gbk_safe(people.company[p])}
        elif kind == "billing":
            office = people.company_address[p]
            target = office if office >= 0 else people.address[p]
            update = {"账单地址": gbk_safe(ctx.book.full_address(target))}
        elif kind == "newsletter":
            current = self._current(source, "newsletter_opt_in", rec, day)
            update = {"newsletter_opt_in": not current}
        elif kind == "display_name":
            number = 1 + int(u() * 999)
            update = {"display_name": f"{people.family_py[p]}{people.given_py[p]}{number}".lower()}
        elif kind == "call":
            count = self._current(source, "call_count", rec, day)
            update = {"call_count": int(count) + 1}
            if u() < 0.1:
                update["vip_flag"] = not self._current(source, "vip_flag", rec, day)

        stamp_column = TIMESTAMP_COLUMN[source]
        if source == "call_center":
            update[stamp_column] = ts
        else:
            style = {"crm": "crm", "erp_billing": "erp", "web_signup": "web"}[source]
            update[stamp_column] = format_time(ts, style)
        schedule = self.schedules[source]
        versions = schedule.overrides.setdefault(rec, {})
        merged = versions.setdefault(day, {})
        merged.update(update)
        schedule.changed.setdefault(day, set()).add(rec)
