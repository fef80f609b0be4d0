"""`custodian erase`: remove a person from the warehouse, the analyst database and the reports,
and keep them out of later deliveries (R28, R29; lib/privacy/erasure.py).

The identifier given is personal data: it is never printed or logged, only its kind. Needs the
`erase` right (admin), and the masking key (masking.hash_salt_env) for the suppression hashes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from dagster_project.cli._common import (
    EXIT_BAD_INPUT,
    AsOption,
    ConfigOption,
    authorise_or_refuse,
    console,
    fail,
    load_governance,
    log_access,
)


def _one_identifier(**given: str | None) -> tuple[str, str]:
    named = {kind: value for kind, value in given.items() if value}
    if len(named) != 1:
        options = "--email, --phone, --national-id, --golden-id or --requests"
        raise fail(f"give exactly one of {options}", EXIT_BAD_INPUT)
    return next(iter(named.items()))


def _read_requests(path: Path) -> list:
    """The request file's requests; exits 2 naming the lines that are wrong."""
    from dagster_project.lib.privacy.requests import RequestFileError, read_request_file

    try:
        return read_request_file(path)
    except RequestFileError as exc:
        raise fail(str(exc), EXIT_BAD_INPUT) from None


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

    from dagster_project.lib.privacy.requests import ErasureRequest, finish

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
        requests = [ErasureRequest(None, kind, value, reason.strip(), by.strip())]
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
        summary = finish(governance, erased, values, archive_touched)
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


def _carry_out(governance, actor, detail: str, requests: list, *, dry_run: bool,
               all_matching: bool) -> tuple[list, set[str], bool]:  # fmt: skip
    """lib.privacy.requests.carry_out, its refusals (no archive key, an unregistered table) as
    a logged refusal that exits 2."""
    from dagster_project.lib.privacy.archive import ArchiveKeyError
    from dagster_project.lib.privacy.erasure_registry import UnregisteredTableError
    from dagster_project.lib.privacy.requests import carry_out

    try:
        return carry_out(governance, requests, dry_run=dry_run, all_matching=all_matching,
                         show_counts=_print_counts)  # fmt: skip
    except (ArchiveKeyError, UnregisteredTableError) as exc:
        log_access(actor, "erase", detail, "refused")
        raise fail(str(exc), EXIT_BAD_INPUT) from None
    except (FileNotFoundError, RuntimeError) as exc:  # no warehouse, a lock, a key
        raise fail(str(exc), EXIT_BAD_INPUT) from None


def _print_results(results: list) -> None:
    table = Table()
    for column in ("line", "kind", "outcome", "request", "rows"):
        table.add_column(column, no_wrap=column in ("request",))
    for result in results:
        row = result.as_row()
        table.add_row(row["line"], row["kind"], row["outcome"], row["request_id"],
                      f"{result.rows:,}")  # fmt: skip
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
