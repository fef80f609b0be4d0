"""`custodian erase`: remove a person from the warehouse, the analyst database and the reports,
and keep them out of later deliveries (R28, R29; lib/privacy/erasure.py).

The identifier given is personal data: it is never printed or logged, only its kind. Needs the
`erase` right (admin), and the masking key (masking.hash_salt_env) for the suppression hashes.
"""

from __future__ import annotations

import csv
import os
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
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

REQUEST_COLUMNS = ("kind", "identifier", "reason", "requested_by")


@dataclass
class _Request:
    """One erasure request. `value` is personal data: never printed or logged."""

    line: int | None  # in the request file; None for a request given on the command line
    kind: str
    value: str
    reason: str
    by: str


@dataclass
class _Result:
    request: _Request
    status: str  # erased | would erase | no match | refused
    message: str = ""
    request_id: str = ""
    rows: int = 0
    suppressed: int = 0


def _one_identifier(**given: str | None) -> tuple[str, str]:
    named = {kind: value for kind, value in given.items() if value}
    if len(named) != 1:
        options = "--email, --phone, --national-id, --golden-id or --requests"
        raise fail(f"give exactly one of {options}", EXIT_BAD_INPUT)
    return next(iter(named.items()))


def _read_requests(path: Path) -> list[_Request]:
    """The request file: CSV with the header kind,identifier,reason,requested_by (UTF-8).
    Exits 2 naming the line and what is wrong, never the identifier."""
    from dagster_project.lib.privacy.erasure import IDENTIFIER_KINDS

    if not path.is_file():
        raise fail(f"request file {path} does not exist", EXIT_BAD_INPUT)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUEST_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise fail(
                f"{path}: the header must name {','.join(REQUEST_COLUMNS)}; missing "
                f"{', '.join(missing)}",
                EXIT_BAD_INPUT,
            )
        requests, problems = [], []
        for row in reader:
            line = reader.line_num
            kind = (row["kind"] or "").strip().lower().replace("-", "_")
            fields = {c: (row[c] or "").strip() for c in REQUEST_COLUMNS}
            if kind not in IDENTIFIER_KINDS:
                problems.append(f"line {line}: kind must be one of {', '.join(IDENTIFIER_KINDS)}")
            elif not all(fields[c] for c in ("identifier", "reason", "requested_by")):
                problems.append(f"line {line}: identifier, reason and requested_by are required")
            else:
                requests.append(_Request(line, kind, fields["identifier"], fields["reason"],
                                         fields["requested_by"]))  # fmt: skip
    if problems:
        raise fail(f"{path}: nothing was erased, fix these lines first:\n" + "\n".join(problems),
                   EXIT_BAD_INPUT)  # fmt: skip
    if not requests:
        raise fail(f"{path} holds no request", EXIT_BAD_INPUT)
    return requests


def erase(
    email: Annotated[str | None, typer.Option("--email", help="The person's e-mail.")] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="The person's phone.")] = None,
    national_id: Annotated[
        str | None, typer.Option("--national-id", help="The person's national ID.")
    ] = None,
    golden_id: Annotated[
        str | None, typer.Option("--golden-id", help="The person's golden_customer_id.")
    ] = None,
    requests_file: Annotated[
        Path | None,
        typer.Option(
            "--requests",
            help="A CSV of requests (header kind,identifier,reason,requested_by; kind is "
            "email, phone, national_id or golden_id), each carried out and reported by line.",
        ),
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
    """Erase one person (or each person a request file names): every source record and golden
    customer the identifier leads to, from every table, the archive, the analyst database and
    report files; the warehouse file is compacted so no deleted bytes remain, and their
    identifiers are suppressed at ingestion. Needs the `erase` right; writes a completion record
    per request to privacy.erasure_requests."""

    kind, value = _one_identifier(
        email=email, phone=phone, national_id=national_id, golden_id=golden_id,
        requests=str(requests_file) if requests_file else None,
    )  # fmt: skip
    if kind == "requests":
        requests = _read_requests(Path(value))
    else:
        if not dry_run and (not reason.strip() or not by.strip()):
            raise fail(
                "--reason and --by are required (they are the erasure's evidence)",
                EXIT_BAD_INPUT,
            )
        requests = [_Request(None, kind, value, reason.strip(), by.strip())]
    _, governance = load_governance(config)
    detail = (f"kind={kind}" if kind != "requests" else f"requests={len(requests)}") + (
        " dry-run" if dry_run else ""
    )
    actor = authorise_or_refuse(governance, "erase", "erase", detail, as_user)
    if not os.environ.get(governance.masking.hash_salt_env):
        raise fail(
            f"erasure hashes the person's identifiers for the suppression list with the key in "
            f"{governance.masking.hash_salt_env}, which is not set: set it (the same key the "
            "daily runs use)",
            EXIT_BAD_INPUT,
        )
    results, values, archive_touched = _carry_out(
        governance, actor, detail, requests, dry_run=dry_run, all_matching=all_matching
    )
    erased = [r for r in results if r.status == "erased"]
    single = requests[0].line is None
    if single and results[0].status in ("no match", "refused"):
        log_access(actor, "erase", detail, results[0].status)
        raise fail(results[0].message, EXIT_BAD_INPUT)
    summary = ""
    if erased:
        summary = _finish(governance, erased, values, archive_touched)
    log_access(actor, "erase", detail, "ok", rows=sum(r.rows for r in results))
    if single and erased:
        outcome = erased[0]
        console.print(f"request {outcome.request_id}: {outcome.rows:,} row(s) removed, "
                      + summary, highlight=False)  # fmt: skip
    elif not single:
        _print_results(results)
        if summary:
            console.print(summary, highlight=False)
        if any(r.status == "refused" for r in results):
            raise typer.Exit(1)


def _carry_out(governance, actor, detail: str, requests: list[_Request], *, dry_run: bool,
               all_matching: bool) -> tuple[list[_Result], set[str], bool]:  # fmt: skip
    """Resolve and erase (or count) each request on one connection, the archive attached when
    there is one. Returns each request's result, the erased values (for the file and byte
    searches) and whether the archive changed."""
    from dagster_project.lib.backups import backup_folder, journal_erasure
    from dagster_project.lib.privacy import archive, erasure
    from dagster_project.lib.privacy.erasure_registry import UnregisteredTableError
    from dagster_project.lib.privacy.suppression import suppression_hash

    con = steward_connection(write=not dry_run)
    opened = ExitStack()
    archive_file = archive.archive_path(settings.warehouse_path(), governance)
    results: list[_Result] = []
    values: set[str] = set()
    archive_touched = False
    try:
        if archive_file.exists():
            # An archived customer is erased from the archive too (it needs the archive's key).
            opened.enter_context(
                archive.attached_archive(
                    con, archive_file, archive.encryption_key(), read_only=dry_run
                )
            )  # fmt: skip
        for request in requests:
            try:
                target = erasure.resolve_target(con, governance, request.kind, request.value)
                if len(target.golden_ids) > 1 and not all_matching:
                    raise erasure.ErasureError(
                        f"the {request.kind.replace('_', ' ')} leads to "
                        f"{len(target.golden_ids)} golden customers "
                        f"({', '.join(target.golden_ids)}): erase one with --golden-id, or all "
                        "of them with --all-matching"
                    )
            except erasure.NobodyMatchedError as exc:
                results.append(_Result(request, "no match", str(exc)))
                continue
            except erasure.ErasureError as exc:
                results.append(_Result(request, "refused", str(exc)))
                continue
            if dry_run:
                counts = erasure.count_rows(con, governance, target)
                results.append(_Result(request, "would erase", rows=sum(counts.values())))
                if request.line is None:
                    _print_counts(target, counts, dry_run)
                continue
            completed_at = datetime.now(UTC).replace(tzinfo=None)
            outcome = erasure.erase(
                con, governance, target, kind=request.kind, value=request.value,
                reason=request.reason, requested_by=request.by, at=completed_at,
            )  # fmt: skip
            # Where a restore finds it, so that no backup brings the person back.
            journal_erasure(
                backup_folder(settings.warehouse_path(), governance), outcome.request_id,
                completed_at,
                [suppression_hash(key) for key in target.record_keys], target.golden_ids,
            )  # fmt: skip
            rows = sum(outcome.rows_by_table.values())
            results.append(_Result(request, "erased", request_id=outcome.request_id, rows=rows,
                                   suppressed=outcome.suppressions_added))  # fmt: skip
            values |= target.values
            archive_touched |= any(
                t.startswith(f"{archive.ALIAS}.") and n for t, n in outcome.rows_by_table.items()
            )
            if request.line is None:
                _print_counts(target, outcome.rows_by_table, dry_run)
    except (archive.ArchiveKeyError, UnregisteredTableError) as exc:
        log_access(actor, "erase", detail, "refused")
        raise fail(str(exc), EXIT_BAD_INPUT) from None
    finally:
        opened.close()
        con.close()
    return results, values, archive_touched


def _finish(governance, erased: list[_Result], values: set[str], archive_touched: bool) -> str:
    """After the erasures committed: files holding an erased value deleted, the analyst
    database rebuilt, the warehouse (and the archive) compacted; the completion records say so."""
    from dagster_project.lib.privacy import archive, compaction, erasure

    con = steward_connection(write=True)
    try:
        files, analytics = _clean_up_after_commit(con, governance, values)
    finally:
        con.close()
    compaction = compaction.compact_database(settings.warehouse_path(), values)
    if archive_touched:
        archive.rewrite_archive(
            archive.archive_path(settings.warehouse_path(), governance),
            archive.encryption_key(),
        )
        compaction += "; archive rewritten"
    con = steward_connection(write=True)
    try:
        for result in erased:
            erasure.record_followup(con, result.request_id, [str(f) for f in files], compaction)
    finally:
        con.close()
    return (
        f"{len(files)} file(s) deleted, analyst database {analytics}, warehouse {compaction}, "
        f"{sum(r.suppressed for r in erased)} identifier hash(es) added to the suppression list "
        "(privacy.erasure_requests holds the record)"
    )


def _print_results(results: list[_Result]) -> None:
    table = Table()
    for column in ("line", "kind", "outcome", "request", "rows"):
        table.add_column(column, no_wrap=column in ("request",))
    for result in results:
        table.add_row(
            str(result.request.line), result.request.kind,
            result.status + (f": {result.message}" if result.status == "refused" else ""),
            result.request_id, f"{result.rows:,}",
        )  # fmt: skip
    console.print(table)


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


def _clean_up_after_commit(con, governance, values: set[str]) -> tuple[list, str]:
    """Delete report files holding the person's values and rebuild the analyst database from
    the erased marts (a new file replaces the old, so none of its bytes stay)."""
    from dagster_project.lib.privacy.analytics import build_analytics_database
    from dagster_project.lib.privacy.compaction import files_holding
    from dagster_project.lib.warehouse import table_exists

    warehouse = settings.warehouse_path().resolve()
    analytics_path = settings.analytics_path().resolve()
    databases = {warehouse, analytics_path, settings.access_log_path().resolve()}
    databases |= {path.with_name(path.name + ".wal") for path in (warehouse, analytics_path)}
    roots = {warehouse.parent, settings.reports_dir().resolve()}
    files = sorted(
        {path for root in roots if root.is_dir() for path in files_holding(root, values, databases)}
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
