"""`custodian backup` and `custodian restore` (R32; lib/backups.py): encrypted full and
incremental backups of the warehouse, verified after writing, and a restore that replays every
later erasure before the restored warehouse is used; `custodian encrypt` (R26) encrypts files
written before encryption at rest. All need the `backup` right (admin)."""

from __future__ import annotations

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
)


def _folder(governance) -> Path:
    from dagster_project.lib.backups import backup_folder

    return backup_folder(settings.warehouse_path(), governance)


def _key() -> str:
    from dagster_project.lib.warehouse import EncryptedFileError, encryption_key

    try:
        return encryption_key()
    except EncryptedFileError as exc:
        raise fail(str(exc), EXIT_BAD_INPUT) from None


def backup(
    incremental: Annotated[
        bool,
        typer.Option("--incremental", help="Only the tables changed since the last backup."),
    ] = False,
    list_backups: Annotated[
        bool, typer.Option("--list", help="List the backups instead of taking one.")
    ] = False,
    config: ConfigOption = None,
    as_user: AsOption = None,
) -> None:
    """Back the warehouse up, encrypted, into the backup folder (backup.directory): a full copy,
    or with --incremental the tables changed since the last backup. Each backup is restored into
    a temporary file and compared table by table before it counts. Needs the `backup` right."""
    from dagster_project.lib.backups import BackupError, load_manifest, take_backup

    _, governance = load_governance(config)
    folder = _folder(governance)
    if list_backups:
        authorise_or_refuse(governance, "backup", "backup list", "", as_user)
        _print_backups(load_manifest(folder))
        return
    kind = "incremental" if incremental else "full"
    actor = authorise_or_refuse(governance, "backup", "backup", kind, as_user)
    warehouse = settings.warehouse_path()
    if not warehouse.exists():
        raise fail(f"warehouse {warehouse} does not exist: nothing to back up", EXIT_BAD_INPUT)
    key = _key()
    try:
        taken = take_backup(
            warehouse, folder, key, kind=kind, at=datetime.now(UTC).replace(tzinfo=None)
        )
    except BackupError as exc:
        log_access(actor, "backup", kind, "failed")
        raise fail(str(exc), EXIT_BAD_INPUT) from None
    except Exception as exc:  # a run holding the warehouse's lock, a full disk
        log_access(actor, "backup", kind, "failed")
        raise fail(f"backup failed: {str(exc).splitlines()[0]}", EXIT_BAD_INPUT) from None
    log_access(actor, "backup", f"{kind} {taken.backup_id}", "ok")
    copied = sum(1 for state in taken.tables.values() if state.stored_in == taken.backup_id)
    console.print(
        f"backup {taken.backup_id} ({kind}): {copied} of {len(taken.tables)} tables written to "
        f"{folder / taken.file}, verified by a test restore",
        highlight=False,
    )


def _print_backups(backups) -> None:
    if not backups:
        console.print("no backups yet (`custodian backup` takes a full one)")
        return
    table = Table()
    for column in ("backup", "kind", "parent", "taken (UTC)", "tables", "verified"):
        table.add_column(column, no_wrap=column in ("backup", "parent"))
    for b in backups:
        table.add_row(b.backup_id, b.kind, b.parent or "", b.created_at[:19],
                      str(len(b.tables)), "yes" if b.verified else "no")  # fmt: skip
    console.print(table)


def restore(
    backup_id: Annotated[str, typer.Argument(help="The backup (`custodian backup --list`).")],
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Replace the existing warehouse (kept as <file>.before-restore)."
        ),
    ] = False,
    config: ConfigOption = None,
    as_user: AsOption = None,
) -> None:
    """Restore the warehouse from a backup: the backup's chain is rebuilt into a new file and
    checked table by table, every erasure completed after the backup is replayed on it, and only
    then is it put in place. Needs the `backup` right."""
    from dagster_project.lib.backups import BackupError
    from dagster_project.lib.backups import restore as restore_backup

    _, governance = load_governance(config)
    actor = authorise_or_refuse(governance, "backup", "restore", backup_id, as_user)
    key = _key()
    try:
        done = restore_backup(
            settings.warehouse_path(), _folder(governance), backup_id, key, governance,
            replace=replace, at=datetime.now(UTC).replace(tzinfo=None),
        )  # fmt: skip
    except BackupError as exc:
        log_access(actor, "restore", backup_id, "refused")
        raise fail(str(exc), EXIT_BAD_INPUT) from None
    log_access(actor, "restore", backup_id, "ok", rows=done.rows_erased)
    console.print(
        f"restored backup {done.backup.backup_id} (taken {done.backup.created_at[:19]} UTC) to "
        f"{settings.warehouse_path()}; {len(done.replayed)} later erasure(s) replayed "
        f"({done.rows_erased:,} rows removed)"
        + (f"; the replaced warehouse is {done.previous}" if done.previous else ""),
        highlight=False,
    )


def encrypt(
    config: ConfigOption = None,
    as_user: AsOption = None,
) -> None:
    """Encrypt the warehouse and the analyst database if they were written without encryption
    (by a version before encryption at rest), with the key in $CUSTODIAN_ENCRYPTION_KEY: each is
    rewritten into a new encrypted file that replaces it. Files already encrypted are left as
    they are. Needs the `backup` right; stop the Dagster runs first (it needs the files' locks)."""
    from dagster_project.lib.privacy.compaction import encrypt_in_place

    _, governance = load_governance(config)
    actor = authorise_or_refuse(governance, "backup", "encrypt", "", as_user)
    key = _key()
    for path in (settings.warehouse_path(), settings.analytics_path()):
        if not path.exists():
            continue
        try:
            changed = encrypt_in_place(path, key)
        except Exception as exc:  # a wrong key, a run holding the lock, a damaged file
            raise fail(
                f"cannot encrypt {path}: {str(exc).splitlines()[0]}", EXIT_BAD_INPUT
            ) from None
        console.print(f"{path}: {'encrypted' if changed else 'already encrypted'}", highlight=False)
    log_access(actor, "encrypt", "", "ok")
