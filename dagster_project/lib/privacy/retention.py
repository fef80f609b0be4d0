"""Retention policies from governance.yaml applied to the warehouse as of a month's end (R31).

Each policy ages one layer out:
- `inactive_customers` / archive: golden customers with no activity for keep_days move to the
  encrypted archive database (lib/privacy/archive.py);
- `archive` / purge: what the archive took in more than keep_days ago is destroyed, and the
  archive file rewritten so no free block keeps it;
- `quarantine` / purge: quarantined rows by partition date;
- `raw` / archive or purge: raw partitions by partition date, only days the history step has
  applied (so every delivery is reflected downstream before its raw copy goes).

A legal hold (lib/privacy/legal_holds.py) exempts its customer and records from all of them.
Every policy is judged against the month's end, never the wall clock, so running a month twice
changes nothing the second time: what the first run moved or deleted is no longer there to be
found. `privacy.retention_log` gets one row per policy and table: counts, run and time, never a
personal value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from dagster_project.config import GovernanceConfig, RetentionPolicy
from dagster_project.lib.history.schema import APPLIED_DAYS
from dagster_project.lib.privacy import archive
from dagster_project.lib.privacy.erasure import ErasureTarget, row_condition, stage_keys
from dagster_project.lib.privacy.erasure_registry import rule_for
from dagster_project.lib.privacy.legal_holds import held_keys, stage_held_keys
from dagster_project.lib.warehouse import table_columns, table_exists, transaction

RETENTION_LOG = "privacy.retention_log"
RETENTION_LOG_DDL = f"""
create table if not exists {RETENTION_LOG} (
    policy_name varchar not null,
    applies_to varchar not null,
    action varchar not null,
    cutoff_date date not null,
    rows_affected bigint not null,
    outcome varchar not null,
    run_id varchar,
    applied_at timestamp not null
);
alter table {RETENTION_LOG} add column if not exists table_name varchar;
alter table {RETENTION_LOG} add column if not exists as_of_date date;
alter table {RETENTION_LOG} add column if not exists rows_held bigint;
"""


@dataclass
class PolicyOutcome:
    policy: str
    action: str
    cutoff: date
    rows: int
    outcome: str
    rows_by_table: dict[str, int] = field(default_factory=dict)
    held: int = 0


def apply_retention(
    con: duckdb.DuckDBPyConnection,
    config: GovernanceConfig,
    as_of: date,
    run_id: str,
    *,
    warehouse: Path,
) -> list[PolicyOutcome]:
    """Apply every policy as of `as_of` and log what each did."""
    con.execute(RETENTION_LOG_DDL)
    policies = config.retention.policies
    uses_archive = any(
        p.applies_to in ("inactive_customers", "archive") or p.action == "archive" for p in policies
    )
    path = archive.archive_path(warehouse, config)
    if uses_archive and not path.exists() and not _has_archive_work(con, config, as_of):
        uses_archive = False  # nothing to archive yet: the key is not needed
    outcomes: list[PolicyOutcome] = []
    if uses_archive:
        key = archive.encryption_key()
        with archive.attached_archive(con, path, key):
            outcomes = _apply_all(con, config, policies, as_of, run_id)
        destroying = {p.name for p in policies if p.applies_to == "archive"}
        if any(o.rows for o in outcomes if o.policy in destroying):
            archive.rewrite_archive(path, key)
    else:
        outcomes = _apply_all(con, config, policies, as_of, run_id)
    applied_at = datetime.now()
    for outcome in outcomes:
        policy = next(p for p in policies if p.name == outcome.policy)
        for table, rows in (outcome.rows_by_table or {"": outcome.rows}).items():
            con.execute(
                f"insert into {RETENTION_LOG} (policy_name, applies_to, action, cutoff_date, "
                "rows_affected, outcome, run_id, applied_at, table_name, as_of_date, rows_held) "
                "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [policy.name, policy.applies_to, policy.action, outcome.cutoff, rows,
                 outcome.outcome, run_id, applied_at, table or None, as_of, outcome.held],
            )  # fmt: skip
    return outcomes


def _stage_holds(con) -> None:
    """The held keys as `_held_golden_ids`/`_held_record_keys` (for the customer and quarantine
    queries) and as the erasure registry's staged keys (for its link conditions)."""
    held = held_keys(con)
    stage_held_keys(con, held)
    stage_keys(con, ErasureTarget(sorted(held.golden_ids), sorted(held.record_keys)))


def _has_archive_work(con, config: GovernanceConfig, as_of: date) -> bool:
    _stage_holds(con)
    for policy in config.retention.policies:
        cutoff = as_of - timedelta(days=policy.keep_days)
        if policy.applies_to == "inactive_customers" and archive.inactive_customers(con, cutoff):
            return True
        if (
            policy.applies_to == "raw"
            and policy.action == "archive"
            and any(_raw_rows(con, config, cutoff).values())
        ):
            return True
    return False


def _apply_all(con, config, policies: list[RetentionPolicy], as_of: date, run_id: str):
    outcomes = []
    for policy in policies:
        # Holds are read before each policy: an earlier policy may have moved their keys.
        _stage_holds(con)
        cutoff = as_of - timedelta(days=policy.keep_days)
        if policy.applies_to in ("inactive_customers", "archive") and not archive.is_attached(con):
            # Nothing to archive (the caller checked) and no archive yet to destroy from.
            outcomes.append(
                PolicyOutcome(policy.name, policy.action, cutoff, 0, "nothing to do: no archive")
            )
        elif policy.applies_to == "inactive_customers":
            outcomes.append(_archive_inactive(con, config, policy, cutoff, as_of, run_id))
        elif policy.applies_to == "archive":
            destroyed = archive.destroy_archived(con, config, cutoff, as_of)
            outcomes.append(
                PolicyOutcome(policy.name, policy.action, cutoff, sum(destroyed.values()),
                              "destroyed" if destroyed else "nothing past its time", destroyed)
            )  # fmt: skip
        elif policy.applies_to == "quarantine":
            outcomes.append(_purge_quarantine(con, policy, cutoff))
        else:
            outcomes.append(_age_raw(con, config, policy, cutoff, as_of, run_id))
    return outcomes


def _archive_inactive(con, config, policy, cutoff: date, as_of: date, run_id: str):
    customers = archive.inactive_customers(con, cutoff)
    moved = archive.move_customers(con, config, customers, archived_on=as_of, run_id=run_id)
    held = con.execute("select count(*) from _held_golden_ids").fetchone()[0]
    outcome = f"archived {len(customers)} golden customers" if customers else "none inactive"
    return PolicyOutcome(policy.name, policy.action, cutoff, len(customers), outcome, moved, held)


def _purge_quarantine(con, policy: RetentionPolicy, cutoff: date) -> PolicyOutcome:
    table = "quarantine.rejected_rows"
    if not table_exists(con, table):
        return PolicyOutcome(policy.name, policy.action, cutoff, 0, "no quarantine table yet")
    # A quarantined line has no parsed key: a hold covers it when the line quotes a held
    # record's ID (at least 5 characters, so "C1" does not match every line).
    exempt = """
        exists (select 1 from _held_record_keys as held
                where rejected.source_name = split_part(held.record_key, ':', 1)
                  and length(split_part(held.record_key, ':', 2)) >= 5
                  and contains(rejected.raw_text, split_part(held.record_key, ':', 2)))
    """
    (held,) = con.execute(
        f"select count(*) from {table} as rejected where partition_date < ? and {exempt}",
        [cutoff],
    ).fetchone()
    (deleted,) = con.execute(
        f"delete from {table} as rejected where partition_date < ? and not {exempt}", [cutoff]
    ).fetchone()
    return PolicyOutcome(
        policy.name, policy.action, cutoff, deleted, "purged", {table: deleted}, held
    )


def _raw_tables(con, config: GovernanceConfig) -> list[str]:
    """Every raw table, a retired source's too: its deliveries age like the others."""
    return [
        row[0]
        for row in con.execute(
            "select 'raw.' || table_name from information_schema.tables "
            "where table_catalog = current_database() and table_schema = 'raw' "
            "and table_type = 'BASE TABLE' and suffix(table_name, '__customers') "
            "order by 1"
        ).fetchall()
    ]


def _raw_condition(con, config: GovernanceConfig, table: str) -> str:
    """Rows past $cutoff of a day the history step applied, unless a hold covers the record (by
    the erasure registry's link of the raw table to its source records)."""
    # A retired source's table names no record ID column: its rows quoting a held ID are kept.
    held = row_condition(table, rule_for(table, config), table_columns(con, table),
                         kinds=archive.KEY_LINKS | {"row_mentions"})  # fmt: skip
    return (
        f"_partition_date < $cutoff "
        f"and _partition_date in (select partition_date from {APPLIED_DAYS}) "
        f"and not coalesce({held}, false)"
    )


def _raw_rows(con, config, cutoff: date) -> dict[str, int]:
    if not table_exists(con, APPLIED_DAYS):
        return {}
    return {
        table: con.execute(
            f"select count(*) from {table} where {_raw_condition(con, config, table)}",
            {"cutoff": cutoff},
        ).fetchone()[0]
        for table in _raw_tables(con, config)
    }


def _age_raw(con, config, policy: RetentionPolicy, cutoff: date, as_of: date, run_id: str):
    if not table_exists(con, APPLIED_DAYS):
        return PolicyOutcome(policy.name, policy.action, cutoff, 0, "no day applied yet")
    counts: dict[str, int] = {}
    for table in _raw_tables(con, config):
        condition = _raw_condition(con, config, table)
        if policy.action == "archive" and not archive.is_attached(con):
            continue  # no raw row past its age (the caller checked): no archive opened
        if policy.action == "archive":
            archived = archive.archive_table(con, table)
            with transaction(con):
                # Rows an interrupted run copied but did not delete are replaced, not doubled.
                con.execute(
                    f"delete from {archived} where {archive.ARCHIVED_ON} = $as_of and "
                    f"(_partition_date, _file_path, _row_number) in (select _partition_date, "
                    f"_file_path, _row_number from {table} where {condition})",
                    {"as_of": as_of, "cutoff": cutoff},
                )
                con.execute(
                    f"insert into {archived} by name select *, $as_of::date as "
                    f"{archive.ARCHIVED_ON}, $run as _archive_run_id from {table} "
                    f"where {condition}",
                    {"as_of": as_of, "run": run_id, "cutoff": cutoff},
                )
            con.execute(f"checkpoint {archive.ALIAS}")
        counts[table] = con.execute(
            f"delete from {table} where {condition}", {"cutoff": cutoff}
        ).fetchone()[0]
    rows = sum(counts.values())
    verb = "archived" if policy.action == "archive" else "purged"
    return PolicyOutcome(
        policy.name, policy.action, cutoff, rows, verb if rows else "nothing past its age",
        {t: n for t, n in counts.items() if n},
    )  # fmt: skip
