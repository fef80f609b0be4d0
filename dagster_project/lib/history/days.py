"""Record history day by day: in order, each day whole or not at all, re-runs safe.

A day is applied in one transaction with its bookkeeping (`history.applied_days`, which keeps
what each source delivered: its latest load's status and file checksum), so a killed run leaves
either the whole day or none of it. Days are applied in order:

- re-running the latest day undoes it first, then applies it again (same result);
- re-running an earlier day whose delivery is unchanged is a no-op (`custodian run` re-runs every
  landed day);
- a loaded day history does not hold yet, before the day asked for, is applied first
  (`apply_through`): the first run after upgrading, a rebuild that was interrupted;
- an earlier day whose delivery changed cannot be applied in place without rewriting every later
  version, so it is refused with the command that rebuilds history
  (`custodian run --full-refresh`, `rebuild_history`).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from pathlib import Path

import duckdb

from dagster_project.config import GovernanceConfig
from dagster_project.lib.history.records import DayResult, write_day
from dagster_project.lib.history.schema import (
    APPLIED_DAYS,
    CARRIED_GOLDEN_IDS,
    CHANGE_LOG,
    PRESENCE,
    VERSIONS,
    drop_history,
    ensure_history_tables,
)
from dagster_project.lib.transform.duckdb_plugin import register_udfs
from dagster_project.lib.warehouse import table_exists

DELIVERED_STATUSES = ("loaded", "empty")


class HistoryOrderError(RuntimeError):
    """A day cannot be applied without rewriting history that later days built on."""


def _delivery_checksum(con: duckdb.DuckDBPyConnection, day: date) -> tuple[str, dict[str, str]]:
    """What each source delivered on `day` (its latest load's status and file checksum)."""
    if not table_exists(con, "ops.load_log"):
        return "", {}
    rows = con.execute(
        """
        select source_name, status, coalesce(file_sha256, '')
        from ops.load_log
        where partition_date = ?
        qualify row_number() over (partition by source_name order by finished_at desc) = 1
        order by source_name
        """,
        [day],
    ).fetchall()
    delivered = {name: sha for name, status, sha in rows if status in DELIVERED_STATUSES}
    return ";".join(f"{name}:{status}:{sha}" for name, status, sha in rows), delivered


def latest_applied_day(con: duckdb.DuckDBPyConnection) -> date | None:
    if not table_exists(con, APPLIED_DAYS):
        return None
    return con.execute(f"select max(partition_date) from {APPLIED_DAYS}").fetchone()[0]


def _check_order(con: duckdb.DuckDBPyConnection, day: date, checksum: str) -> str:
    """'skip', 'apply' or 'reapply' for `day`, or raise when applying it would be wrong."""
    row = con.execute(
        f"select delivery_checksum from {APPLIED_DAYS} where partition_date = ?", [day]
    ).fetchone()
    if row is not None and row[0] == checksum:
        return "skip"
    latest = latest_applied_day(con)
    if latest is not None and day < latest:
        raise HistoryOrderError(
            f"the delivery of {day} differs from the one record history was built from, and "
            f"history already holds later days (through {latest}). Applying {day} now would "
            "leave every later version built on the old delivery. Rebuild history from every "
            "loaded day in order: `custodian run --full-refresh` (in the Dagster UI: launch the "
            "daily job with the history asset's config full_refresh: true)."
        )
    if latest is not None and day > latest and table_exists(con, "ops.load_log"):
        skipped = [
            found
            for (found,) in con.execute(
                f"""
                select distinct partition_date from ops.load_log
                where partition_date > ? and partition_date < ?
                  and status in {DELIVERED_STATUSES}
                  and partition_date not in (select partition_date from {APPLIED_DAYS})
                order by 1
                """,
                [latest, day],
            ).fetchall()
        ]
        if skipped:
            raise HistoryOrderError(
                f"deliveries of {', '.join(map(str, skipped))} were loaded but are not in record "
                f"history yet; history takes days in order. Run them first: `custodian run "
                f"--through {day}` runs every landed day up to {day} in order."
            )
    return "reapply" if row is not None else "apply"


def undo_day(con: duckdb.DuckDBPyConnection, day: date) -> None:
    """Take the latest applied day back out of history (inside the caller's transaction)."""
    latest = latest_applied_day(con)
    if latest != day:
        raise HistoryOrderError(f"only the latest applied day ({latest}) can be undone, not {day}")
    if table_exists(con, VERSIONS):
        con.execute(f"delete from {VERSIONS} where valid_from = ?", [day])
        con.execute(
            f"update {VERSIONS} set valid_to = null, is_current = true where valid_to = ?", [day]
        )
    con.execute(
        f"delete from {CHANGE_LOG} where partition_date = ? and change_level = 'record'", [day]
    )
    con.execute(f"delete from {PRESENCE} where last_seen_date = ? and delivery_count = 1", [day])
    con.execute(
        f"""
        update {PRESENCE}
        set last_seen_date = previous_last_seen_date, previous_last_seen_date = null,
            delivery_count = delivery_count - 1
        where last_seen_date = ?
        """,
        [day],
    )
    con.execute(f"delete from {APPLIED_DAYS} where partition_date = ?", [day])


def apply_day(
    con: duckdb.DuckDBPyConnection,
    config: GovernanceConfig,
    day: date,
    *,
    dbt_project_dir: Path,
    run_id: str | None,
    recorded_at: datetime,
) -> DayResult:
    """Apply one delivery day to record history in one transaction; see the module docstring.

    Needs the staging views (dbt's staging models) to exist.

    Raises:
        HistoryOrderError: the day cannot be applied in order (the message says what to run).
        HistoryInputError: a delivery or setting makes the day unsafe to apply as it is.
    """
    ensure_history_tables(con)
    # The staging views call the Python standardisers, registered as dbt's plugin does.
    register_udfs(con)
    checksum, delivered = _delivery_checksum(con, day)
    con.execute("begin transaction")
    try:
        action = _check_order(con, day, checksum)
        if action == "skip":
            con.execute("rollback")
            return DayResult(day, "already_applied")
        if action == "reapply":
            undo_day(con, day)
        result, versions = write_day(
            con,
            config,
            day,
            set(delivered),
            dbt_project_dir=dbt_project_dir,
            run_id=run_id,
            recorded_at=recorded_at,
        )
        _record_applied_day(con, day, run_id, recorded_at, checksum, versions, result)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return dataclasses.replace(result, status="reapplied") if action == "reapply" else result


def _record_applied_day(
    con: duckdb.DuckDBPyConnection,
    day: date,
    run_id: str | None,
    recorded_at: datetime,
    checksum: str,
    versions: dict[str, str],
    result: DayResult,
) -> None:
    version = ";".join(f"{name}:{digest}" for name, digest in sorted(versions.items()))
    con.execute(
        f"insert into {APPLIED_DAYS} values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            day,
            run_id,
            recorded_at,
            checksum,
            version,
            result.inserted,
            result.updated,
            result.deleted,
            result.unchanged,
            result.standardised,
        ],
    )


def delivered_days(con: duckdb.DuckDBPyConnection, through: date) -> list[date]:
    """Every day up to `through` on which some source's delivery was loaded, in order."""
    if not table_exists(con, "ops.load_log"):
        return []
    return [
        day
        for (day,) in con.execute(
            f"""
            select distinct partition_date from ops.load_log
            where partition_date <= ? and status in {DELIVERED_STATUSES}
            order by 1
            """,
            [through],
        ).fetchall()
    ]


def apply_through(
    con: duckdb.DuckDBPyConnection,
    config: GovernanceConfig,
    day: date,
    *,
    dbt_project_dir: Path,
    run_id: str | None,
    recorded_at: datetime,
) -> list[DayResult]:
    """Apply `day`, after any loaded day before it that history does not hold yet.

    Days loaded but never applied (the first run after upgrading to record history, a rebuild
    that was interrupted, a day loaded from the UI without the rest of the job) are caught up in
    order instead of being skipped, which would leave their changes out of history.
    """
    ensure_history_tables(con)
    latest = latest_applied_day(con)
    applied = {
        found for (found,) in con.execute(f"select partition_date from {APPLIED_DAYS}").fetchall()
    }
    missed = [
        found
        for found in delivered_days(con, day)
        if found < day and found not in applied and (latest is None or found > latest)
    ]
    results = [
        apply_day(
            con,
            config,
            each,
            dbt_project_dir=dbt_project_dir,
            run_id=run_id,
            recorded_at=recorded_at,
        )
        for each in [*missed, day]
    ]
    # After the days an interrupted rebuild left unapplied, the golden IDs it carried.
    _restore_carried_golden_ids(con)
    return results


def rebuild_history(
    con: duckdb.DuckDBPyConnection,
    config: GovernanceConfig,
    through: date,
    *,
    dbt_project_dir: Path,
    run_id: str | None,
    recorded_at: datetime,
    on_day=None,
) -> list[DayResult]:
    """Forget record history and apply every loaded day up to `through` again, in order.

    What a full refresh does: after a standardiser changed (every record is standardised
    again), or to apply a corrected delivery of a past day. Each day commits on its own, so an
    interrupted rebuild leaves a consistent history up to some day; re-running the rebuild
    starts over (or `apply_through` catches up the days left).
    """
    ensure_history_tables(con)
    con.execute("begin transaction")
    # The golden customer a changed record belonged to on each day is history too; the rebuild
    # cannot re-derive it (resolution ran on that day's records), so it is carried over in a
    # table committed with the drop: a rebuild killed half-way has already emptied the change
    # log, and its re-run takes the IDs from the table the killed one left.
    if not table_exists(con, CARRIED_GOLDEN_IDS):
        con.execute(
            f"""
            create table {CARRIED_GOLDEN_IDS} as
            select distinct on (partition_date, record_key)
                partition_date, record_key, golden_customer_id
            from {CHANGE_LOG}
            where change_level = 'record' and golden_customer_id is not null
            """
        )
    drop_history(con)
    ensure_history_tables(con)
    con.execute("commit")
    results = []
    for day in [*delivered_days(con, through)] or [through]:
        result = apply_day(
            con,
            config,
            day,
            dbt_project_dir=dbt_project_dir,
            run_id=run_id,
            recorded_at=recorded_at,
        )
        results.append(result)
        if on_day is not None:
            on_day(result)
    _restore_carried_golden_ids(con)
    return results


def _restore_carried_golden_ids(con: duckdb.DuckDBPyConnection) -> None:
    """Put the golden IDs a rebuild carried back on the rebuilt change log; drop them once
    every loaded day is applied again (a backfill of an early day leaves later ones to come)."""
    if not table_exists(con, CARRIED_GOLDEN_IDS):
        return
    applied = {
        day for (day,) in con.execute(f"select partition_date from {APPLIED_DAYS}").fetchall()
    }
    con.execute("begin transaction")
    con.execute(
        f"""
        update {CHANGE_LOG} as change set golden_customer_id = known.golden_customer_id
        from {CARRIED_GOLDEN_IDS} as known
        where change.change_level = 'record' and change.partition_date = known.partition_date
            and change.record_key = known.record_key
        """
    )
    if set(delivered_days(con, date.max)) <= applied:
        con.execute(f"drop table {CARRIED_GOLDEN_IDS}")
    con.execute("commit")
