"""The daily monitoring report (R20, R23): what a steward reads each morning, HTML and Markdown.

`write_monitoring_report` reads the monitoring tables after the day is monitored and writes
`<reports>/monitoring/<day>.html` and `<day>.md` (and `latest.html`, a copy of the newest day):
events by rule and severity, customers by risk tier, the day's new and closed cases, the
customers with the most risk points, change volumes with their anomalies, other anomalies
(address concentrations), the open cases older than `monitoring.escalate_after_days` (7 by
default: the weekly review, the same cases escalation picks) and the day's alerts by kind and
channel. The pages are rendered by report_pages.py.

Masked throughout: a customer appears by golden customer ID (not personal) and a name masked by
its data-dictionary class (lib/privacy/masking.py); no phone, e-mail, address or national ID is
read at all. Event evidence is written without values (lib/monitoring/events.py), so it is
shown; a steward's free-text note on a case is not (it may quote a value).

Counts of open events and tiers are the tables' current state, which is the day's state when the
report is written right after the day's run (the Dagster asset does that; an earlier day's
report is left as it was written). Cases count as closed on the day of the steward's action in
the schedule's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from dagster_project.config import GovernanceConfig
from dagster_project.lib.monitoring.cases import CASE_ACTIONS, CASE_STATUS_SQL, CASES
from dagster_project.lib.monitoring.events import (
    ALERTS,
    ANOMALIES,
    CHANGE_VOLUMES,
    CUSTOMER_RISK,
    RISK_EVENTS,
    ensure_monitoring_tables,
)
from dagster_project.lib.monitoring.report_pages import (
    Section,
    atomic_write,
    render_html,
    render_markdown,
)
from dagster_project.lib.privacy.masking import (
    classified_masker,
    configure_masking,
    model_column_classes,
)
from dagster_project.lib.warehouse import table_columns

GOLDEN_CUSTOMERS = "main.golden_customers"
NAME_COLUMN = "full_name"
TOP_CUSTOMERS = 20
# The HTML lists at most this many rows a section (the Markdown fewer: report_pages.py).
HTML_ROWS = 500
TIERS = ("high", "medium", "low")


@dataclass(frozen=True)
class MonitoringReport:
    day: date
    html_path: Path
    markdown_path: Path
    markdown: str
    counts: dict[str, int]


def write_monitoring_report(
    con: duckdb.DuckDBPyConnection,
    config: GovernanceConfig,
    day: date,
    reports_dir: Path,
    *,
    generated_at: datetime | None = None,
) -> MonitoringReport:
    """Write the day's report as HTML and Markdown under `reports_dir/monitoring`.

    Raises:
        MaskingError: the masking settings hash names but their key is not set.
    """
    ensure_monitoring_tables(con)  # a warehouse never monitored gives a report of "none"
    configure_masking(config.masking)
    params = {"day": day}
    counts: dict[str, int] = {}
    sections = [
        _events(con, config, params, counts),
        _tiers(con, counts),
        *_cases(con, config, params, counts),
        _top_customers(con),
        _change_volumes(con, params, counts),
        _other_anomalies(con, params, counts),
        _overdue_cases(con, config, params, counts),
        _alerts(con, params, counts),
    ]
    generated_at = generated_at or datetime.now(UTC)
    title = f"Custodian monitoring report, {day}"
    summary = _summary(counts)
    markdown = render_markdown(title, summary, sections, generated_at)
    folder = reports_dir / "monitoring"
    html_path, markdown_path = folder / f"{day}.html", folder / f"{day}.md"
    page = render_html(title, summary, sections, generated_at)
    atomic_write(markdown_path, markdown)
    atomic_write(html_path, page)
    newest = max(path.stem for path in folder.glob("????-??-??.html"))
    if newest == day.isoformat():
        atomic_write(folder / "latest.html", page)
    return MonitoringReport(day, html_path, markdown_path, markdown, counts)


def _rows(
    con: duckdb.DuckDBPyConnection, query: str, params: dict, order_by: str
) -> tuple[list[tuple], int]:
    """The first HTML_ROWS rows of `query` and how many it has."""
    (total,) = con.execute(f"select count(*) from ({query})", params).fetchone()
    rows = con.execute(f"{query} order by {order_by} limit {HTML_ROWS}", params).fetchall()
    return rows, total


def _events(
    con: duckdb.DuckDBPyConnection, config: GovernanceConfig, params: dict, counts: dict
) -> Section:
    found = con.execute(
        f"""
        select rule, severity,
            count(*) filter (where status = 'open'),
            count(*) filter (where first_detected = $day),
            count(*) filter (where cleared_on = $day)
        from {RISK_EVENTS}
        group by all
        having count(*) filter (where status = 'open' or first_detected = $day
            or cleared_on = $day) > 0
        """,
        params,
    ).fetchall()
    by_rule = {(rule, severity): numbers for rule, severity, *numbers in found}
    # A rule that found nothing is news too: it ran and the customers are clear of it.
    for rule in config.monitoring.rules:
        if rule.enabled:
            by_rule.setdefault((rule.name, rule.severity), [0, 0, 0])
    rows = [(rule, severity, *map(str, n)) for (rule, severity), n in sorted(by_rule.items())]
    counts["events_open"] = sum(n[0] for n in by_rule.values())
    counts["events_opened"] = sum(n[1] for n in by_rule.values())
    counts["events_cleared"] = sum(n[2] for n in by_rule.values())
    return Section(
        "Events by rule and severity",
        ("rule", "severity", "open", "opened today", "cleared today"),
        rows,
        len(rows),
        empty="None: no monitoring rule is enabled and no event is open.",
    )


def _tiers(con: duckdb.DuckDBPyConnection, counts: dict) -> Section:
    found = {
        tier: (customers, points, as_of)
        for tier, customers, points, as_of in con.execute(
            f"select risk_tier, count(*), sum(risk_points), max(as_of_date) from {CUSTOMER_RISK} "
            "group by 1"
        ).fetchall()
    }
    rows = []
    for tier in TIERS:
        customers, points, _ = found.get(tier, (0, 0, None))
        counts[f"customers_{tier}"] = customers
        rows.append((tier, str(customers), str(points or 0)))
    as_of = max((as_of for _, _, as_of in found.values()), default=None)
    return Section(
        "Customers by risk tier",
        ("tier", "customers", "risk points"),
        rows,
        len(rows),
        note="Customers with open events only; everyone else is low with no points"
        + (f" (scored as of {as_of})." if as_of else "."),
    )


def _cases(
    con: duckdb.DuckDBPyConnection, config: GovernanceConfig, params: dict, counts: dict
) -> list[Section]:
    opened, counts["cases_opened"] = _rows(
        con,
        f"select case_id, golden_customer_id, rule, severity, status, coalesce(assignee, '') "
        f"from ({CASE_STATUS_SQL}) where opened_on = $day",
        params,
        "severity = 'high' desc, case_id",
    )
    closed, counts["cases_closed"] = _rows(
        con,
        f"""
        select cases.case_id, cases.golden_customer_id, cases.rule, action.outcome,
            action.actor, coalesce(len(action.correction_ids), 0)
        from {CASE_ACTIONS} as action inner join {CASES} as cases using (case_id)
        where action.action = 'resolved'
            and cast(timezone($timezone, action.acted_at) as date) = $day
        """,
        {**params, "timezone": config.schedule.timezone},
        "case_id",
    )
    return [
        Section(
            "New cases",
            ("case", "golden customer", "rule", "severity", "status", "assignee"),
            _text(opened),
            counts["cases_opened"],
        ),
        Section(
            "Cases closed today",
            ("case", "golden customer", "rule", "outcome", "by", "corrections"),
            _text(closed),
            counts["cases_closed"],
            note=f"Resolved on {params['day']} ({config.schedule.timezone}); notes are not shown "
            "(they may quote a customer's values): `custodian cases show <case>`.",
        ),
    ]


def _top_customers(con: duckdb.DuckDBPyConnection) -> Section:
    has_name = NAME_COLUMN in table_columns(con, GOLDEN_CUSTOMERS)
    name = f"golden.{NAME_COLUMN}" if has_name else "null"
    joined = (
        f"left join {GOLDEN_CUSTOMERS} as golden using (golden_customer_id)" if has_name else ""
    )
    found = con.execute(
        f"""
        select risk.golden_customer_id, {name}, risk.risk_tier, risk.risk_points,
            array_to_string(risk.rules, ', ')
        from {CUSTOMER_RISK} as risk {joined}
        order by risk.risk_points desc, risk.golden_customer_id
        limit {TOP_CUSTOMERS}
        """
    ).fetchall()
    # Fails closed: a name column the data dictionary does not class is masked as a direct
    # identifier.
    pii_class = model_column_classes().get("golden_customers", {}).get(NAME_COLUMN)
    mask_name = classified_masker(NAME_COLUMN, pii_class)
    rows = [
        (golden_id, mask_name(full_name) if full_name else "", tier, str(points), rules)
        for golden_id, full_name, tier, points, rules in found
    ]
    return Section(
        f"Top {TOP_CUSTOMERS} customers by risk points",
        ("golden customer", "name (masked)", "tier", "points", "rules"),
        rows,
        len(rows),
        note="" if has_name else f"{GOLDEN_CUSTOMERS} has no {NAME_COLUMN}: no names.",
    )


def _change_volumes(con: duckdb.DuckDBPyConnection, params: dict, counts: dict) -> Section:
    found, total = _rows(
        con,
        f"""
        select volume.source_name, volume.field, volume.changes, volume.records,
            volume.baseline_median, volume.robust_z,
            volume.is_anomaly or anomaly.anomaly_id is not null as is_anomaly, volume.reason
        from {CHANGE_VOLUMES} as volume
        left join {ANOMALIES} as anomaly
            on anomaly.partition_date = volume.partition_date and anomaly.kind = 'change_volume'
            and anomaly.source_name = volume.source_name and anomaly.field = volume.field
        where volume.partition_date = $day
        """,
        params,
        "is_anomaly desc, source_name, field",
    )
    (counts["change_volume_anomalies"],) = con.execute(
        f"select count(*) from {ANOMALIES} where partition_date = $day and kind = 'change_volume'",
        params,
    ).fetchone()
    rows = [
        (source, field_name, str(changes), str(records), _number(median), _number(z),
         f"ANOMALY: {reason}" if is_anomaly else "")
        for source, field_name, changes, records, median, z, is_anomaly, reason in found
    ]  # fmt: skip
    return Section(
        "Change volumes per source and field",
        ("source", "field", "changes", "records", "baseline median", "robust z", "anomaly"),
        rows,
        total,
        note=f"Anomalies: {counts['change_volume_anomalies']}. Their changes do not count "
        "towards customers' change rules; check the source's export of the day.",
        marked=[bool(is_anomaly) for *_, is_anomaly, _ in found],
    )


def _other_anomalies(con: duckdb.DuckDBPyConnection, params: dict, counts: dict) -> Section:
    """Anomalies that are not a source's change volume (an address shared by unusually many
    customers: lib/monitoring/concentrations.py); their messages name keys, counts and golden
    IDs, never a value."""
    found, counts["other_anomalies"] = _rows(
        con,
        f"select kind, coalesce(source_name, ''), coalesce(field, ''), changes, message "
        f"from {ANOMALIES} where partition_date = $day and kind <> 'change_volume'",
        params,
        "kind, message",
    )
    return Section(
        "Other anomalies", ("kind", "source", "field", "count", "message"), _text(found),
        counts["other_anomalies"],
    )  # fmt: skip


def _overdue_cases(
    con: duckdb.DuckDBPyConnection, config: GovernanceConfig, params: dict, counts: dict
) -> Section:
    after_days = config.monitoring.escalate_after_days
    # The escalation's own condition (lib/monitoring/cases.py), so the review lists what it
    # escalated.
    found, counts["cases_overdue"] = _rows(
        con,
        f"""
        select case_id, golden_customer_id, rule, severity, opened_on, $day - opened_on,
            status, coalesce(assignee, ''), case when is_escalated then 'yes' else 'no' end
        from ({CASE_STATUS_SQL})
        where not is_resolved and opened_on <= $day - {after_days}
        """,
        params,
        "opened_on, case_id",
    )
    return Section(
        f"Open cases older than {after_days} days (weekly review)",
        ("case", "golden customer", "rule", "severity", "opened", "days open", "status",
         "assignee", "escalated"),
        _text(found),
        counts["cases_overdue"],
        note=f"Open {after_days} days or more (monitoring.escalate_after_days).",
    )  # fmt: skip


def _alerts(con: duckdb.DuckDBPyConnection, params: dict, counts: dict) -> Section:
    found = con.execute(
        f"select kind, channel, status, count(*) from {ALERTS} where partition_date = $day "
        "group by all order by all",
        params,
    ).fetchall()
    (counts["alerts"],) = con.execute(
        f"select count(distinct alert_id) from {ALERTS} where partition_date = $day", params
    ).fetchone()
    return Section(
        "Alerts by kind and channel",
        ("kind", "channel", "status", "alerts"),
        _text(found),
        len(found),
        note="One row per alert and channel; failed rows are sent again on the next run.",
    )


def _summary(counts: dict[str, int]) -> str:
    return (
        f"Open events {counts['events_open']} ({counts['events_opened']} opened, "
        f"{counts['events_cleared']} cleared today) · high-risk customers "
        f"{counts['customers_high']} · medium-risk {counts['customers_medium']} · new cases "
        f"{counts['cases_opened']} · closed {counts['cases_closed']} · open past the review age "
        f"{counts['cases_overdue']} · anomalies "
        f"{counts['change_volume_anomalies'] + counts['other_anomalies']} · alerts "
        f"{counts['alerts']}"
    )


def _text(rows: list[tuple]) -> list[tuple[str, ...]]:
    return [tuple("" if cell is None else str(cell) for cell in row) for row in rows]


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"
