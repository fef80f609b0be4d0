"""Cases (R22): a medium or high event opens one; stewards assign and resolve it.

`monitoring.cases` holds one row per case, written once when it opens; everything that happens
to it is appended to `monitoring.case_actions` (who, when, what), never updated in place, so a
case's status is its latest action: opened, assigned (to whom), escalated, resolved (outcome).

Outcomes:
- `verified`: the change is real; the case closes.
- `corrected`: the steward's values (`field=value`) are recorded as golden-field corrections
  (lib/resolve/review.py, the mechanism `custodian review correct` uses), which survivorship
  applies on the next run; the case closes.
- `dismissed`: not a risk; the case closes.
Whatever the outcome, the event is marked resolved: its points stop counting towards the
customer's risk on the next run, and the same rule with the same evidence on the same customer
does not open an event (or alert) again; new evidence (another change) does.

Open cases older than `escalate_after_days` are escalated once, with an alert
(lib/monitoring/events.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import duckdb

from dagster_project.lib.resolve.review import record_correction

CASES = "monitoring.cases"
CASE_ACTIONS = "monitoring.case_actions"
RISK_EVENTS = "monitoring.risk_events"
OUTCOMES = ("verified", "corrected", "dismissed")
CASE_SEVERITIES = ("medium", "high")

CASES_DDL = (
    f"""create table if not exists {CASES} (
        case_id varchar, event_id varchar, golden_customer_id varchar, rule varchar,
        severity varchar, evidence varchar, opened_on date, opened_at timestamptz)""",
    f"""create table if not exists {CASE_ACTIONS} (
        case_id varchar, action varchar, actor varchar, acted_at timestamptz,
        assignee varchar, outcome varchar, note varchar, correction_ids bigint[])""",
)

# Each case with its latest state, from the append-only actions.
CASE_STATUS_SQL = f"""
    select
        cases.*,
        coalesce(resolved.outcome is not null, false) as is_resolved,
        case
            when resolved.outcome is not null then 'resolved'
            when assigned.assignee is not null then 'assigned'
            else 'open'
        end as status,
        assigned.assignee,
        resolved.outcome,
        escalated.acted_at is not null as is_escalated,
        risk.risk_tier
    from {CASES} as cases
    left join (
        select distinct on (case_id) case_id, assignee from {CASE_ACTIONS}
        where action = 'assigned' order by case_id, acted_at desc
    ) as assigned using (case_id)
    left join (
        select distinct on (case_id) case_id, outcome from {CASE_ACTIONS}
        where action = 'resolved' order by case_id, acted_at desc
    ) as resolved using (case_id)
    left join (
        select case_id, min(acted_at) as acted_at from {CASE_ACTIONS}
        where action = 'escalated' group by 1
    ) as escalated using (case_id)
    left join monitoring.customer_risk as risk using (golden_customer_id)
"""


class CaseError(ValueError):
    """A case command that cannot be carried out; the message says why and what to do."""


@dataclass(frozen=True)
class Resolution:
    case_id: str
    outcome: str
    correction_ids: tuple[int, ...]


def ensure_case_tables(con: duckdb.DuckDBPyConnection) -> None:
    for statement in CASES_DDL:
        con.execute(statement)


def open_cases(con: duckdb.DuckDBPyConnection, day: date, at: datetime) -> int:
    """A case for every open medium or high event without one; return how many opened."""
    ensure_case_tables(con)
    opened = con.execute(
        f"""
        insert into {CASES}
        select 'C' || upper(substr(event.event_id, 1, 10)), event.event_id,
            event.golden_customer_id, event.rule, event.severity, event.evidence, $day, $at
        from {RISK_EVENTS} as event
        where event.status = 'open' and event.severity in {CASE_SEVERITIES}
            and not exists (select 1 from {CASES} as known where known.event_id = event.event_id)
        returning case_id
        """,
        {"day": day, "at": at},
    ).fetchall()
    if opened:
        con.executemany(
            f"insert into {CASE_ACTIONS} values (?, 'opened', 'custodian', ?, null, null, null, "
            "null)",
            [[case_id, at] for (case_id,) in opened],
        )
    return len(opened)


def escalate_cases(
    con: duckdb.DuckDBPyConnection, day: date, at: datetime, after_days: int
) -> list[tuple[str, str]]:
    """Escalate, once, the cases open longer than `after_days`; return (case_id, message)."""
    ensure_case_tables(con)
    due = con.execute(
        f"""
        select case_id, golden_customer_id, rule, opened_on, status, assignee
        from ({CASE_STATUS_SQL})
        where not is_resolved and not is_escalated and opened_on <= $day - {after_days}
        order by case_id
        """,
        {"day": day},
    ).fetchall()
    if due:
        con.executemany(
            f"insert into {CASE_ACTIONS} values (?, 'escalated', 'custodian', ?, null, null, "
            "null, null)",
            [[case_id, at] for case_id, *_ in due],
        )
    escalated = []
    for case_id, golden, rule, opened_on, status, assignee in due:
        owner = f"assigned to {assignee}" if status == "assigned" else "unassigned"
        escalated.append(
            (
                case_id,
                f"case {case_id} ({rule}, customer {golden}) open since {opened_on}, {owner}: "
                f"older than {after_days} days",
            )
        )
    return escalated


def _case(con: duckdb.DuckDBPyConnection, case_id: str) -> tuple:
    ensure_case_tables(con)
    found = con.execute(
        f"select case_id, golden_customer_id, event_id, is_resolved, outcome "
        f"from ({CASE_STATUS_SQL}) where case_id = ?",
        [case_id],
    ).fetchone()
    if found is None:
        raise CaseError(f"no case {case_id!r}: list them with `custodian cases list`")
    return found


def assign_case(
    con: duckdb.DuckDBPyConnection, case_id: str, *, to: str, by: str, at: datetime
) -> None:
    if not to.strip():
        raise CaseError("--to must name who takes the case")
    _, _, _, is_resolved, outcome = _case(con, case_id)
    if is_resolved:
        raise CaseError(f"case {case_id} is already resolved ({outcome})")
    con.execute(
        f"insert into {CASE_ACTIONS} values (?, 'assigned', ?, ?, ?, null, null, null)",
        [case_id, by.strip(), at, to.strip()],
    )


def resolve_case(
    con: duckdb.DuckDBPyConnection,
    case_id: str,
    *,
    outcome: str,
    by: str,
    note: str,
    corrections: dict[str, str],
    at: datetime,
) -> Resolution:
    """Resolve a case in one transaction: corrections, the action, the event marked resolved.

    Raises:
        CaseError: unknown or resolved case, unknown outcome, missing or misplaced values.
        InvalidCorrectionError, LookupError: a correction's field or value is not accepted
            (lib/resolve/review.py; the message names the field, not the value).
    """
    if outcome not in OUTCOMES:
        raise CaseError(f"--outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    if not by.strip() or not note.strip():
        raise CaseError("--by and --note must say who resolved the case and why")
    if outcome == "corrected" and not corrections:
        raise CaseError("--outcome corrected needs the correct values: --set field=value")
    if outcome != "corrected" and corrections:
        raise CaseError("--set records corrections: use it with --outcome corrected")
    _, golden_customer_id, event_id, is_resolved, previous = _case(con, case_id)
    if is_resolved:
        raise CaseError(f"case {case_id} is already resolved ({previous})")
    con.execute("begin transaction")
    try:
        ids = tuple(
            record_correction(
                con, golden_customer_id=golden_customer_id, field=field, value=value,
                corrected_by=by, note=f"case {case_id}: {note}", corrected_at=at,
            ).correction_id
            for field, value in corrections.items()
        )  # fmt: skip
        con.execute(
            f"insert into {CASE_ACTIONS} values (?, 'resolved', ?, ?, null, ?, ?, ?)",
            [case_id, by.strip(), at, outcome, note, list(ids) or None],
        )
        con.execute(
            f"update {RISK_EVENTS} set status = 'resolved', updated_at = ? where event_id = ?",
            [at, event_id],
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return Resolution(case_id, outcome, ids)


def case_rows(
    con: duckdb.DuckDBPyConnection, *, status: str | None, tier: str | None
) -> list[dict]:
    """Cases with their latest state (needs the monitoring tables: a run has monitored)."""
    filters, parameters = [], []
    if status:
        filters.append("status = ?")
        parameters.append(status)
    if tier:
        filters.append("risk_tier = ?")
        parameters.append(tier)
    where = f"where {' and '.join(filters)}" if filters else ""
    cursor = con.execute(
        f"select * from ({CASE_STATUS_SQL}) {where} order by opened_on, case_id", parameters
    )
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def case_actions(con: duckdb.DuckDBPyConnection, case_id: str) -> list[dict]:
    cursor = con.execute(
        f"select * from {CASE_ACTIONS} where case_id = ? order by acted_at, action", [case_id]
    )
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
