"""One day of monitoring: rule hits become risk events, events become customer risk and alerts.

`monitor_day` runs after the golden table is published, in one transaction:

1. change volumes per source and field (lib/monitoring/volumes.py): anomalies are recorded in
   `monitoring.anomalies` and hold back that source's changes of that field and day; so are
   addresses shared by unusually many golden customers (lib/monitoring/concentrations.py);
2. every enabled rule's hits (lib/monitoring/rules.py);
3. `monitoring.risk_events`: a hit with an open event of the same rule, customer and evidence key
   updates it (last_seen, evidence, points); a new hit opens an event, unless a steward resolved
   the same evidence; an open event of an evaluated rule that is no longer hit is cleared
   (status 'cleared', cleared_on). The same condition on later days is one event, not one a day;
4. `monitoring.customer_risk`: per golden customer the points of its open events seen within
   `score_window_days`, and the tier (`risk_tiers`: low below medium);
5. cases for new medium and high events, and escalation of cases open too long
   (lib/monitoring/cases.py);
6. `monitoring.alerts`: a customer entering the high tier, a new high-severity event, a new
   anomaly (a concentration only when the previous monitored day did not have it), an
   escalated case; one row each per channel: 'log' (the run's log shows them, a
   digest past ALERTS_LISTED_IN_LOG) and each configured channel, 'pending' until
   lib/monitoring/alerts.py delivers it after the transaction. A re-run of the day adds none
   twice.

Days run forward: a re-run of the latest day gives the same tables; an earlier day is not
monitored again (its state is gone), the result says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import duckdb

from dagster_project.config import GovernanceConfig, MonitoringRule
from dagster_project.lib.monitoring.alerts import configured_channels
from dagster_project.lib.monitoring.cases import ensure_case_tables, escalate_cases, open_cases
from dagster_project.lib.monitoring.concentrations import Concentration, address_concentrations
from dagster_project.lib.monitoring.rules import HIT_COLUMNS, missing_inputs, rule_hits
from dagster_project.lib.monitoring.volumes import VolumeAnomaly, anomalies, change_volumes

RISK_EVENTS = "monitoring.risk_events"
CUSTOMER_RISK = "monitoring.customer_risk"
CHANGE_VOLUMES = "monitoring.change_volumes"
ANOMALIES = "monitoring.anomalies"
ALERTS = "monitoring.alerts"
MONITORED_DAYS = "monitoring.monitored_days"
ALERTS_LISTED_IN_LOG = 20

_DDL = (
    "create schema if not exists monitoring",
    f"""create table if not exists {RISK_EVENTS} (
        event_id varchar, rule varchar, kind varchar, fields varchar,
        golden_customer_id varchar, evidence_key varchar, evidence varchar,
        points integer, severity varchar, status varchar,
        first_detected date, last_seen date, cleared_on date,
        first_run_id varchar, last_run_id varchar, updated_at timestamptz)""",
    f"""create table if not exists {CUSTOMER_RISK} (
        golden_customer_id varchar, as_of_date date, risk_points integer,
        open_events integer, risk_tier varchar, rules varchar[], computed_at timestamptz)""",
    f"""create table if not exists {CHANGE_VOLUMES} (
        partition_date date, source_name varchar, field varchar, changes bigint,
        records bigint, baseline_days bigint, baseline_median double, robust_z double,
        is_anomaly boolean, reason varchar)""",
    f"""create table if not exists {ANOMALIES} (
        anomaly_id varchar, partition_date date, kind varchar, source_name varchar,
        field varchar, changes bigint, message varchar, run_id varchar,
        recorded_at timestamptz)""",
    # What the anomaly is about beyond its source and field (a concentration's address key).
    f"alter table {ANOMALIES} add column if not exists subject varchar",
    f"""create table if not exists {ALERTS} (
        alert_id varchar, partition_date date, kind varchar, subject varchar,
        severity varchar, message varchar, channel varchar, status varchar,
        run_id varchar, created_at timestamptz, attempts integer, last_error varchar,
        sent_at timestamptz)""",
    f"""create table if not exists {MONITORED_DAYS} (
        partition_date date, run_id varchar, monitored_at timestamptz)""",
)


@dataclass
class MonitoringResult:
    status: str  # monitored | earlier_day | no_rules
    hits_by_rule: dict[str, int] = field(default_factory=dict)
    opened: int = 0
    updated: int = 0
    cleared: int = 0
    customers_by_tier: dict[str, int] = field(default_factory=dict)
    anomalies: list[VolumeAnomaly] = field(default_factory=list)
    concentrations: list[Concentration] = field(default_factory=list)
    skipped_rules: dict[str, str] = field(default_factory=dict)  # rule -> what it lacks
    new_alerts: list[tuple[str, str, str]] = field(default_factory=list)  # kind, severity, text
    cases_opened: int = 0
    cases_escalated: int = 0

    def metadata(self) -> dict[str, object]:
        return {
            "status": self.status,
            "events_opened": self.opened,
            "events_updated": self.updated,
            "events_cleared": self.cleared,
            "hits_by_rule": dict(self.hits_by_rule),
            "customers_by_tier": dict(self.customers_by_tier),
            "change_volume_anomalies": len(self.anomalies),
            "address_concentrations": len(self.concentrations),
            "new_alerts": len(self.new_alerts),
            "cases_opened": self.cases_opened,
            "cases_escalated": self.cases_escalated,
            "skipped_rules": dict(self.skipped_rules),
        }


def ensure_monitoring_tables(con: duckdb.DuckDBPyConnection) -> None:
    for statement in _DDL:
        con.execute(statement)
    ensure_case_tables(con)


def monitor_day(
    con: duckdb.DuckDBPyConnection,
    config: GovernanceConfig,
    day: date,
    *,
    run_id: str | None,
    recorded_at: datetime,
) -> MonitoringResult:
    """Monitor `day` in one transaction; see the module docstring."""
    ensure_monitoring_tables(con)
    (latest,) = con.execute(f"select max(partition_date) from {MONITORED_DAYS}").fetchone()
    if latest is not None and day < latest:
        return MonitoringResult("earlier_day")
    con.execute("begin transaction")
    try:
        result = _monitor(con, config, day, run_id, recorded_at)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return result


def _monitor(
    con: duckdb.DuckDBPyConnection,
    config: GovernanceConfig,
    day: date,
    run_id: str | None,
    recorded_at: datetime,
) -> MonitoringResult:
    monitoring = config.monitoring
    params = {"day": day, "run_id": run_id, "at": recorded_at}
    result = MonitoringResult("monitored")
    volumes = change_volumes(con, day, monitoring.change_volume)
    result.anomalies = anomalies(volumes)
    con.execute(f"delete from {CHANGE_VOLUMES} where partition_date = $day", {"day": day})
    if not volumes.is_empty():
        con.register("_volumes", volumes)
        con.execute(f"insert into {CHANGE_VOLUMES} select $day, * from _volumes", {"day": day})
        con.unregister("_volumes")
    con.execute(f"delete from {ANOMALIES} where partition_date = $day", {"day": day})
    con.execute(
        "create or replace temp table _held_back_changes "
        "(source_name varchar, field varchar, partition_date date)"
    )
    for anomaly in result.anomalies:
        con.execute(
            f"insert into {ANOMALIES} by name select md5(concat_ws('|', $day, 'change_volume', "
            "$source, $field)) as anomaly_id, $day as partition_date, 'change_volume' as kind, "
            "$source as source_name, $field as field, $changes as changes, $message as message, "
            "$run_id as run_id, $at as recorded_at",
            {**params, "source": anomaly.source_name, "field": anomaly.field,
             "changes": anomaly.changes, "message": anomaly.message(day)},
        )  # fmt: skip
    result.concentrations, why_not = address_concentrations(con, monitoring.concentration)
    if why_not and monitoring.concentration.enabled:
        result.skipped_rules["address concentration"] = why_not
    for concentration in result.concentrations:
        con.execute(
            f"insert into {ANOMALIES} by name select md5(concat_ws('|', $day, "
            "'address_concentration', $key)) as anomaly_id, $day as partition_date, "
            "'address_concentration' as kind, 'address_line' as field, $customers as changes, "
            "$message as message, $run_id as run_id, $at as recorded_at, $key as subject",
            {**params, "key": concentration.address_key, "customers": concentration.customers,
             "message": concentration.message()},
        )  # fmt: skip
    # Every anomaly recorded within the longest window holds back its changes, not only today's.
    con.execute(
        f"""
        insert into _held_back_changes
        select source_name, field, partition_date from {ANOMALIES}
        where kind = 'change_volume' and partition_date <= $day
        """,
        {"day": day},
    )

    con.execute(f"create or replace temp table _hits (rule varchar, {HIT_COLUMNS})")
    evaluated: list[MonitoringRule] = []
    for rule in monitoring.rules:
        if not rule.enabled:
            continue
        unmapped = [f for f in rule.fields if not any(f in s.mapping for s in config.sources)]
        if len(unmapped) == len(rule.fields):
            # A rule written for other data: `missing` would flag every customer.
            result.skipped_rules[rule.name] = "no source maps " + ", ".join(unmapped)
            continue
        lacking = missing_inputs(con, rule)
        if lacking:
            result.skipped_rules[rule.name] = "the warehouse has no " + ", ".join(lacking)
            continue
        result.hits_by_rule[rule.name] = rule_hits(con, rule, day)
        evaluated.append(rule)
    if not evaluated:
        result.status = "no_rules"
    _update_events(con, evaluated, params, result)
    result.cases_opened = open_cases(con, day, recorded_at)
    escalated = escalate_cases(con, day, recorded_at, monitoring.escalate_after_days)
    result.cases_escalated = len(escalated)
    con.execute("create or replace temp table _escalated (case_id varchar, message varchar)")
    if escalated:
        con.executemany("insert into _escalated values (?, ?)", [list(e) for e in escalated])
    _score_customers(con, config, params, result)
    _raise_alerts(con, configured_channels(monitoring), params, result)
    con.execute(f"delete from {MONITORED_DAYS} where partition_date = $day", {"day": day})
    con.execute(f"insert into {MONITORED_DAYS} values ($day, $run_id, $at)", params)
    return result


def _rules_table(con: duckdb.DuckDBPyConnection, rules: list[MonitoringRule]) -> None:
    con.execute(
        "create or replace temp table _rules (rule varchar, kind varchar, fields varchar, "
        "points integer, severity varchar)"
    )
    if rules:
        con.executemany(
            "insert into _rules values (?, ?, ?, ?, ?)",
            [[r.name, r.kind, ",".join(r.fields), r.points, r.severity] for r in rules],
        )


def _update_events(
    con: duckdb.DuckDBPyConnection,
    evaluated: list[MonitoringRule],
    params: dict,
    result: MonitoringResult,
) -> None:
    _rules_table(con, evaluated)
    # One row per (rule, customer, evidence key): a rule's query may list a customer once per
    # record, and the first evidence in key order is kept.
    con.execute(
        """
        create or replace temp table _today as
        select distinct on (rule, golden_customer_id, evidence_key) hits.*, _rules.* exclude (rule)
        from _hits as hits inner join _rules using (rule)
        order by rule, golden_customer_id, evidence_key, evidence
        """
    )
    open_events = f"(select * from {RISK_EVENTS} where status = 'open')"
    result.updated = con.execute(
        f"""
        update {RISK_EVENTS} as event set
            last_seen = $day, evidence = today.evidence, points = today.points,
            severity = today.severity, last_run_id = $run_id, updated_at = $at
        from _today as today
        where event.status = 'open' and event.rule = today.rule
            and event.golden_customer_id = today.golden_customer_id
            and event.evidence_key = today.evidence_key
        """,
        params,
    ).fetchone()[0]
    result.opened = con.execute(
        f"""
        insert into {RISK_EVENTS}
        select
            md5(concat_ws('|', today.rule, today.golden_customer_id, today.evidence_key, $day)),
            today.rule, today.kind, today.fields, today.golden_customer_id, today.evidence_key,
            today.evidence, today.points, today.severity, 'open', $day, $day, null, $run_id,
            $run_id, $at
        from _today as today
        where not exists (
            select 1 from {open_events} as event
            where event.rule = today.rule and event.golden_customer_id = today.golden_customer_id
                and event.evidence_key = today.evidence_key
        )
        -- A steward resolved this very evidence (lib/monitoring/cases.py): not again.
        and not exists (
            select 1 from {RISK_EVENTS} as event
            where event.status = 'resolved' and event.rule = today.rule
                and event.golden_customer_id = today.golden_customer_id
                and event.evidence_key = today.evidence_key and event.evidence = today.evidence
        )
        """,
        params,
    ).fetchone()[0]
    result.cleared = con.execute(
        f"""
        update {RISK_EVENTS} as event set
            status = 'cleared', cleared_on = $day, last_run_id = $run_id, updated_at = $at
        where event.status = 'open' and event.rule in (select rule from _rules)
            and not exists (
                select 1 from _today as today
                where event.rule = today.rule
                    and event.golden_customer_id = today.golden_customer_id
                    and event.evidence_key = today.evidence_key
            )
        """,
        params,
    ).fetchone()[0]


def _score_customers(
    con: duckdb.DuckDBPyConnection, config: GovernanceConfig, params: dict, result: MonitoringResult
) -> None:
    monitoring = config.monitoring
    enabled = [rule.name for rule in monitoring.rules if rule.enabled]
    tiers = monitoring.risk_tiers
    con.execute(
        f"create or replace temp table _previous_tiers as "
        f"select golden_customer_id, risk_tier from {CUSTOMER_RISK}"
    )
    con.execute(f"delete from {CUSTOMER_RISK}")
    con.execute(
        f"""
        insert into {CUSTOMER_RISK}
        select
            golden_customer_id, $day, sum(points), count(*),
            case when sum(points) >= {tiers.high} then 'high'
                when sum(points) >= {tiers.medium} then 'medium' else 'low' end,
            list(distinct rule order by rule), $at
        from {RISK_EVENTS}
        where status = 'open' and last_seen > $day - {monitoring.score_window_days}
            and list_contains($enabled, rule)
        group by golden_customer_id
        """,
        {"day": params["day"], "at": params["at"], "enabled": enabled},
    )
    result.customers_by_tier = dict(
        con.execute(f"select risk_tier, count(*) from {CUSTOMER_RISK} group by 1").fetchall()
    )


def _raise_alerts(
    con: duckdb.DuckDBPyConnection, channels: list[str], params: dict, result: MonitoringResult
) -> None:
    con.execute(
        f"""
        create or replace temp table _alerts as
        select 'high_risk_customer' as kind, risk.golden_customer_id as subject,
            'high' as severity,
            'customer ' || risk.golden_customer_id || ' entered the high risk tier with '
                || risk.risk_points || ' points (' || array_to_string(risk.rules, ', ') || ')'
                as message
        from {CUSTOMER_RISK} as risk
        left join _previous_tiers as previous using (golden_customer_id)
        where risk.risk_tier = 'high' and previous.risk_tier is distinct from 'high'
        union all
        select 'high_severity_event', event_id, 'high',
            'rule ' || rule || ' on customer ' || golden_customer_id || ': ' || evidence
        from {RISK_EVENTS}
        where status = 'open' and severity = 'high' and first_detected = $day
        union all
        select 'change_volume_anomaly', anomaly_id, 'high', message
        from {ANOMALIES} where partition_date = $day and kind = 'change_volume'
        union all
        -- A concentration lasts: alerted on the day it appears, not again every day.
        select 'address_concentration', subject, 'high', message
        from {ANOMALIES} as today
        where partition_date = $day and kind = 'address_concentration'
            and not exists (
                select 1 from {ANOMALIES} as before
                where before.kind = today.kind and before.subject = today.subject
                    and before.partition_date = (
                        select max(partition_date) from {MONITORED_DAYS}
                        where partition_date < $day)
            )
        union all
        select 'case_escalated', case_id, 'high', message from _escalated
        """,
        {"day": params["day"]},
    )
    rows = _append_alerts(con, channels, params)
    result.new_alerts = [tuple(row[:3]) for row in rows if row[3] == "log"]


def _append_alerts(
    con: duckdb.DuckDBPyConnection, channels: list[str], params: dict
) -> list[tuple]:
    """The temp table `_alerts` (kind, subject, severity, message) into monitoring.alerts, one
    row per alert and channel, none twice for one day; returns (kind, severity, message,
    channel) of the rows added. The log has an alert once the run ends ('sent'); e-mail and
    webhook rows wait for lib/monitoring/alerts.py to deliver them ('pending')."""
    return con.execute(
        f"""
        insert into {ALERTS}
        select md5(concat_ws('|', $day, kind, subject)), $day, kind, subject, severity, message,
            channel, case when channel = 'log' then 'sent' else 'pending' end, $run_id, $at,
            case when channel = 'log' then 1 else 0 end, null,
            case when channel = 'log' then $at end
        from _alerts cross join unnest($channels) as channels(channel)
        where not exists (
            select 1 from {ALERTS} as sent
            where sent.partition_date = $day and sent.kind = _alerts.kind
                and sent.subject = _alerts.subject and sent.channel = channels.channel
        )
        returning kind, severity, message, channel
        """,
        {**params, "channels": channels},
    ).fetchall()


def record_alert(
    con: duckdb.DuckDBPyConnection,
    config: GovernanceConfig,
    *,
    kind: str,
    subject: str,
    message: str,
    day: date,
    run_id: str,
    at: datetime,
) -> int:
    """One high-severity alert outside the day's monitoring (a failed job or gate), one row
    per configured channel, once per day and subject; returns the rows added. The caller
    delivers it (lib/monitoring/alerts.py). `message` must hold no personal value."""
    ensure_monitoring_tables(con)
    con.execute(
        "create or replace temp table _alerts as select $kind as kind, $subject as subject, "
        "'high' as severity, $message as message",
        {"kind": kind, "subject": subject, "message": message},
    )
    return len(
        _append_alerts(
            con,
            configured_channels(config.monitoring),
            {"day": day, "run_id": run_id, "at": at},
        )
    )


def record_job_failure(
    con: duckdb.DuckDBPyConnection,
    config: GovernanceConfig,
    *,
    run_id: str,
    partition: str | None,
    job_name: str,
    reason: str,
    at: datetime,
) -> None:
    """An alert that a run of the daily job failed (R35)."""
    record_alert(
        con,
        config,
        kind="job_failed",
        subject=run_id,
        message=f"{job_name} failed for {partition or 'no partition'} (run {run_id}): {reason}",
        day=date.fromisoformat(partition) if partition else at.date(),
        run_id=run_id,
        at=at,
    )


def record_gate_failure(
    con: duckdb.DuckDBPyConnection,
    config: GovernanceConfig,
    *,
    suite: str,
    failed_checks: list[str],
    partition: str | None,
    run_id: str,
    at: datetime,
) -> int:
    """An alert that a gate's critical expectations failed (R21): the run stops before the
    table it guards is published, and someone must look today. Once per suite and day."""
    shown = ", ".join(sorted(set(failed_checks))[:10])
    more = len(set(failed_checks)) - 10
    return record_alert(
        con,
        config,
        kind="gate_failed",
        subject=f"{suite}|{partition or ''}",
        message=(
            f"quality gate {suite} failed for {partition or 'the whole table'} (run {run_id}): "
            f"{len(set(failed_checks))} critical expectation(s) not met: {shown}"
            + (f" and {more} more" if more > 0 else "")
            + "; the table it guards was not published"
        ),
        day=date.fromisoformat(partition) if partition else at.date(),
        run_id=run_id,
        at=at,
    )
