"""Carrying out erasure requests (R28, R29): one from `custodian erase`, or many from a request
file given to `custodian erase --requests` or dropped into the request folder the Dagster
sensor watches (`erasure.requests_folder`).

A request file is CSV (UTF-8) with the header `kind,identifier,reason,requested_by`; kind is
email, phone, national_id or golden_id. A bad line erases nothing and is named. Each request is
resolved and erased on one connection (the archive attached when there is one), journalled for
restores, and gets its own completion record; then, once for all, report files holding an
erased value are deleted, the analyst database is rebuilt and the warehouse (and the archive)
compacted. Identifiers are personal data: nothing here prints, logs or raises with one.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dagster_project import settings
from dagster_project.config import GovernanceConfig

REQUEST_COLUMNS = ("kind", "identifier", "reason", "requested_by")
RESULT_COLUMNS = ("line", "kind", "outcome", "request_id", "rows")


class RequestFileError(ValueError):
    """A request file that cannot be carried out as it is; the message names the lines."""


@dataclass
class ErasureRequest:
    """One erasure request. `value` is personal data: never printed or logged."""

    line: int | None  # in the request file; None for a request given on the command line
    kind: str
    value: str
    reason: str
    by: str


@dataclass
class RequestResult:
    request: ErasureRequest
    status: str  # erased | would erase | no match | refused
    message: str = ""
    request_id: str = ""
    rows: int = 0
    suppressed: int = 0

    def as_row(self) -> dict[str, str]:
        """The result as the result file and the CLI's table show it: no identifier."""
        return {
            "line": str(self.request.line),
            "kind": self.request.kind,
            "outcome": self.status + (f": {self.message}" if self.status == "refused" else ""),
            "request_id": self.request_id,
            "rows": str(self.rows),
        }


def read_request_file(path: Path) -> list[ErasureRequest]:
    """The requests of a CSV request file. Raises RequestFileError naming the file and every
    line that is wrong (never the identifier)."""
    from dagster_project.lib.privacy.erasure import IDENTIFIER_KINDS

    if not path.is_file():
        raise RequestFileError(f"request file {path} does not exist")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUEST_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise RequestFileError(
                f"{path}: the header must name {','.join(REQUEST_COLUMNS)}; missing "
                f"{', '.join(missing)}"
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
                requests.append(ErasureRequest(line, kind, fields["identifier"], fields["reason"],
                                               fields["requested_by"]))  # fmt: skip
    if problems:
        raise RequestFileError(
            f"{path}: nothing was erased, fix these lines first:\n" + "\n".join(problems)
        )
    if not requests:
        raise RequestFileError(f"{path} holds no request")
    return requests


def write_results(path: Path, results: list[RequestResult]) -> None:
    """The results as CSV, one row per request (line, kind, outcome, request ID, rows)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        writer.writerows(result.as_row() for result in results)


def open_warehouse(*, write: bool):
    from dagster_project.lib.warehouse import connect_existing

    return connect_existing(settings.warehouse_path(), write=write)


def carry_out(
    governance: GovernanceConfig,
    requests: list[ErasureRequest],
    *,
    dry_run: bool,
    all_matching: bool,
    show_counts: Callable | None = None,
) -> tuple[list[RequestResult], set[str], bool]:
    """Resolve and erase (or count) each request on one connection, the archive attached when
    there is one. Returns each request's result, the erased values (for the file and byte
    searches) and whether the archive changed. `show_counts(target, counts, dry_run)` is called
    for a single request given on the command line.

    Raises ArchiveKeyError or UnregisteredTableError before anything is erased."""
    from dagster_project.lib.backups import backup_folder, journal_erasure
    from dagster_project.lib.privacy import archive, erasure
    from dagster_project.lib.privacy.suppression import suppression_hash

    con = open_warehouse(write=not dry_run)
    opened = ExitStack()
    archive_file = archive.archive_path(settings.warehouse_path(), governance)
    results: list[RequestResult] = []
    values: set[str] = set()
    archive_touched = False
    try:
        if archive_file.exists():
            # An archived customer is erased from the archive too (it needs the archive's key).
            opened.enter_context(
                archive.attached_archive(
                    con, archive_file, archive.encryption_key(), read_only=dry_run
                )
            )
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
                results.append(RequestResult(request, "no match", str(exc)))
                continue
            except erasure.ErasureError as exc:
                results.append(RequestResult(request, "refused", str(exc)))
                continue
            if dry_run:
                counts = erasure.count_rows(con, governance, target)
                results.append(RequestResult(request, "would erase", rows=sum(counts.values())))
                if request.line is None and show_counts:
                    show_counts(target, counts, dry_run)
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
            results.append(
                RequestResult(
                    request,
                    "erased",
                    request_id=outcome.request_id,
                    rows=rows,
                    suppressed=outcome.suppressions_added,
                )
            )
            values |= target.values
            archive_touched |= any(
                t.startswith(f"{archive.ALIAS}.") and n for t, n in outcome.rows_by_table.items()
            )
            if request.line is None and show_counts:
                show_counts(target, outcome.rows_by_table, dry_run)
    finally:
        opened.close()
        con.close()
    return results, values, archive_touched


def finish(
    governance: GovernanceConfig,
    erased: list[RequestResult],
    values: set[str],
    archive_touched: bool,
) -> str:
    """After the erasures committed: files holding an erased value deleted, the analyst
    database rebuilt, the warehouse (and the archive) compacted; the completion records say so.
    Returns the summary."""
    from dagster_project.lib.privacy import archive, compaction, erasure

    con = open_warehouse(write=True)
    try:
        files, analytics = _clean_up_after_commit(con, governance, values)
    finally:
        con.close()
    compacted = compaction.compact_database(settings.warehouse_path(), values)
    if archive_touched:
        archive.rewrite_archive(
            archive.archive_path(settings.warehouse_path(), governance),
            archive.encryption_key(),
        )
        compacted += "; archive rewritten"
    con = open_warehouse(write=True)
    try:
        for result in erased:
            erasure.record_followup(con, result.request_id, [str(f) for f in files], compacted)
    finally:
        con.close()
    return (
        f"{len(files)} file(s) deleted, analyst database {analytics}, warehouse {compacted}, "
        f"{sum(r.suppressed for r in erased)} identifier hash(es) added to the suppression list "
        "(privacy.erasure_requests holds the record)"
    )


def _clean_up_after_commit(con, governance: GovernanceConfig, values: set[str]) -> tuple[list, str]:
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


@dataclass
class FeedOutcome:
    results: list[RequestResult]
    result_file: Path
    summary: str


def requests_folder(governance: GovernanceConfig) -> Path:
    """The folder the request feed watches: erasure.requests_folder, relative to the
    warehouse's folder."""
    return settings.warehouse_path().parent / governance.erasure.requests_folder


def process_request_file(
    governance: GovernanceConfig, path: Path, *, at: datetime | None = None
) -> FeedOutcome:
    """Carry out a request file from the feed: every request, then the clean-up once; the
    results (no identifier) go to `<folder>/results/<name>.<time>.csv` and the request file,
    which holds identifiers, is deleted. A file with a bad line erases nothing: it is moved to
    `<folder>/rejected/` beside `<name>.error.txt` saying which lines, and RequestFileError
    raised. A request that matches nobody or several customers is reported, not erased."""
    at = at or datetime.now(UTC).replace(tzinfo=None)
    try:
        requests = read_request_file(path)
    except RequestFileError as exc:
        if path.is_file():
            rejected = path.parent / "rejected"
            rejected.mkdir(exist_ok=True)
            path.replace(rejected / path.name)
            (rejected / f"{path.name}.error.txt").write_text(f"{exc}\n", encoding="utf-8")
        raise
    results, values, archive_touched = carry_out(
        governance, requests, dry_run=False, all_matching=False
    )
    erased = [r for r in results if r.status == "erased"]
    summary = finish(governance, erased, values, archive_touched) if erased else "nothing erased"
    result_dir = path.parent / "results"
    result_dir.mkdir(exist_ok=True)
    result_file = result_dir / f"{path.stem}.{at:%Y%m%dT%H%M%S}.csv"
    write_results(result_file, results)
    # Holds the identifiers; finish() already removed it if it held an erased person's value.
    path.unlink(missing_ok=True)
    return FeedOutcome(results, result_file, summary)
