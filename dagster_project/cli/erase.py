"""`custodian erase`: remove a person from the warehouse, the analyst database and the reports,
and keep them out of later deliveries (R28, R29; lib/privacy/erasure.py).

The identifier given is personal data: it is never printed or logged, only its kind. Needs the
`erase` right (admin), and the masking key (masking.hash_salt_env) for the suppression hashes.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from dagster_project import settings
from dagster_project.cli._common import (
    EXIT_BAD_INPUT,
    AsOption,
    ConfigOption,
    authorise_or_refuse,
    console,
    fail,
    load_governance,
    log_access,
    steward_connection,
)


def _one_identifier(**given: str | None) -> tuple[str, str]:
    named = {kind: value for kind, value in given.items() if value}
    if len(named) != 1:
        options = "--email, --phone, --national-id or --golden-id"
        raise fail(f"give exactly one of {options}", EXIT_BAD_INPUT)
    return next(iter(named.items()))


def erase(
    email: Annotated[str | None, typer.Option("--email", help="The person's e-mail.")] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="The person's phone.")] = None,
    national_id: Annotated[
        str | None, typer.Option("--national-id", help="The person's national ID.")
    ] = None,
    golden_id: Annotated[
        str | None, typer.Option("--golden-id", help="The person's golden_customer_id.")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept as evidence).")] = "",
    by: Annotated[str, typer.Option("--by", help="Who asked for the erasure.")] = "",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be removed; change nothing.")
    ] = False,
    all_matching: Annotated[
        bool,
        typer.Option(
            "--all-matching",
            help="Erase every golden customer the identifier leads to when there are several "
            "(a shared e-mail or phone); without it such a request is refused.",
        ),
    ] = False,
    config: ConfigOption = None,
    as_user: AsOption = None,
) -> None:
    """Erase one person: every source record and golden customer the identifier leads to, from
    every table, the analyst database and report files; the warehouse file is compacted so no
    deleted bytes remain, and their identifiers are suppressed at ingestion. Needs the `erase`
    right; writes a completion record to privacy.erasure_requests."""
    from dagster_project.lib.privacy import erasure
    from dagster_project.lib.privacy.erasure_registry import UnregisteredTableError

    kind, value = _one_identifier(
        email=email, phone=phone, national_id=national_id, golden_id=golden_id
    )
    if not dry_run and (not reason.strip() or not by.strip()):
        raise fail(
            "--reason and --by are required (they are the erasure's evidence)", EXIT_BAD_INPUT
        )
    _, governance = load_governance(config)
    detail = f"kind={kind}{' dry-run' if dry_run else ''}"
    actor = authorise_or_refuse(governance, "erase", "erase", detail, as_user)
    if not os.environ.get(governance.masking.hash_salt_env):
        raise fail(
            f"erasure hashes the person's identifiers for the suppression list with the key in "
            f"{governance.masking.hash_salt_env}, which is not set: set it (the same key the "
            "daily runs use)",
            EXIT_BAD_INPUT,
        )
    con = steward_connection(write=not dry_run)
    try:
        target = erasure.resolve_target(con, governance, kind, value)
        if len(target.golden_ids) > 1 and not all_matching:
            raise erasure.ErasureError(
                f"the {kind.replace('_', ' ')} leads to {len(target.golden_ids)} golden "
                f"customers ({', '.join(target.golden_ids)}): erase one with --golden-id, or "
                "all of them with --all-matching"
            )
        if dry_run:
            counts = erasure.count_rows(con, governance, target)
        else:
            outcome = erasure.erase(
                con, governance, target, kind=kind, value=value, reason=reason.strip(),
                requested_by=by.strip(), at=datetime.now(UTC).replace(tzinfo=None),
            )  # fmt: skip
            counts = outcome.rows_by_table
    except erasure.NobodyMatchedError as exc:
        con.close()
        log_access(actor, "erase", detail, "no match")
        raise fail(str(exc), EXIT_BAD_INPUT) from None
    except (erasure.ErasureError, UnregisteredTableError) as exc:
        con.close()
        log_access(actor, "erase", detail, "refused")
        raise fail(str(exc), EXIT_BAD_INPUT) from None
    except BaseException:
        con.close()
        raise
    _print_counts(target, counts, dry_run)
    if dry_run:
        con.close()
        log_access(actor, "erase", detail, "ok", rows=sum(counts.values()))
        return
    try:
        files, analytics = _clean_up_after_commit(con, governance, target)
        erasure.record_followup(con, outcome.request_id, [str(f) for f in files], "pending")
    finally:
        con.close()
    compaction = erasure.compact_database(settings.warehouse_path(), target.values)
    con = steward_connection(write=True)
    try:
        erasure.record_followup(con, outcome.request_id, [str(f) for f in files], compaction)
    finally:
        con.close()
    log_access(actor, "erase", detail, "ok", rows=sum(counts.values()))
    console.print(
        f"request {outcome.request_id}: {sum(counts.values()):,} row(s) removed, "
        f"{len(files)} file(s) deleted, analyst database {analytics}, warehouse {compaction}, "
        f"{outcome.suppressions_added} identifier hash(es) added to the suppression list "
        "(privacy.erasure_requests holds the record)",
        highlight=False,
    )


def _print_counts(target, counts: dict[str, int], dry_run: bool) -> None:
    verb = "would remove" if dry_run else "removed"
    console.print(
        f"{len(target.golden_ids)} golden customer(s) ({', '.join(target.golden_ids) or '-'}) "
        f"and {len(target.record_keys)} source record(s); {verb}:",
        highlight=False,
    )
    table = Table()
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in sorted(counts.items()):
        if rows:
            table.add_row(name, f"{rows:,}")
    console.print(table)


def _clean_up_after_commit(con, governance, target) -> tuple[list, str]:
    """Delete report files holding the person's values and rebuild the analyst database from
    the erased marts (a new file replaces the old, so none of its bytes stay)."""
    from dagster_project.lib.privacy.analytics import build_analytics_database
    from dagster_project.lib.privacy.erasure import files_holding
    from dagster_project.lib.warehouse import table_exists

    warehouse = settings.warehouse_path().resolve()
    analytics_path = settings.analytics_path().resolve()
    databases = {warehouse, analytics_path, settings.access_log_path().resolve()}
    databases |= {path.with_name(path.name + ".wal") for path in (warehouse, analytics_path)}
    roots = {warehouse.parent, settings.reports_dir().resolve()}
    files = sorted(
        {
            path
            for root in roots
            if root.is_dir()
            for path in files_holding(root, target.values, databases)
        }
    )
    for path in files:
        path.unlink(missing_ok=True)
    if not analytics_path.exists() or not table_exists(con, "main.golden_customers"):
        return files, "not present"
    build = build_analytics_database(con, analytics_path, governance.analytics, governance.masking)
    if build.passed:
        return files, "rebuilt"
    # A rejected rebuild would leave yesterday's file, with the person in it: remove it; the
    # next daily run builds it again.
    analytics_path.unlink()
    return files, "removed (its rebuild failed a check; the next `custodian run` rebuilds it)"
