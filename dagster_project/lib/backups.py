"""Encrypted backups of the warehouse and their restore (R32), which never brings back an erased
person.

- A **full** backup is the whole warehouse copied (`COPY FROM DATABASE`: tables, views, macros)
  into a new DuckDB file encrypted with the key in `encryption.key_env`.
- An **incremental** backup holds only the tables whose content changed since the previous
  backup of the chain (a checksum per table: its row count and the sum of its rows' hashes),
  and names, for every other table, the backup that holds it.
- Every backup is **verified** after writing: it is restored into a temporary file, whose
  checksums must equal the warehouse's as it was read; then the temporary file is deleted.
  `manifest.json` beside the files lists each backup with its parent, time, tables, checksums,
  file SHA-256 and verification.

**Restore** rebuilds the warehouse of one backup from its chain (the full backup, then each
incremental's tables), checks every table's checksum against the manifest, and then replays
every erasure completed after the backup was taken before the file is put in place: the
erasure journal (`erasure_journal.jsonl` in the backup folder, written by `custodian erase`)
holds the keyed hashes of each erased record key and the retired golden IDs, never a value, so
the restored warehouse's records are matched by hash and erased again through the same registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from dagster_project.lib.warehouse import (
    EncryptedFileError,
    attach,
    quote_identifier,
    scratch_connection,
)

MANIFEST = "manifest.json"
JOURNAL = "erasure_journal.jsonl"
# Internal schemas DuckDB keeps in every file: not the warehouse's data.
_SYSTEM_SCHEMAS = ("information_schema", "pg_catalog")


def backup_folder(warehouse: Path, config) -> Path:
    """Where the backups and the erasure journal live: backup.directory, beside the warehouse."""
    return Path(warehouse).parent / config.backup.directory


class BackupError(RuntimeError):
    """A backup or restore that cannot be carried out; the message says what to do."""


@dataclass
class TableState:
    rows: int
    checksum: str
    stored_in: str  # the backup ID whose file holds this table's rows


@dataclass
class Backup:
    backup_id: str
    kind: str  # full | incremental
    parent: str | None
    created_at: str  # ISO time, UTC, naive
    file: str  # relative to the backup folder
    tables: dict[str, TableState] = field(default_factory=dict)
    sha256: str = ""
    verified: bool = False

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)


def load_manifest(folder: Path) -> list[Backup]:
    path = folder / MANIFEST
    if not path.exists():
        return []
    backups = []
    for entry in json.loads(path.read_text(encoding="utf-8")):
        tables = {name: TableState(**state) for name, state in entry.pop("tables").items()}
        backups.append(Backup(**entry, tables=tables))
    return backups


def _save_manifest(folder: Path, backups: list[Backup]) -> None:
    path = folder / MANIFEST
    written = path.with_name(path.name + ".new")
    written.write_text(json.dumps([asdict(b) for b in backups], indent=2), encoding="utf-8")
    os.replace(written, path)


def table_checksums(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, tuple[int, str]]:
    """`schema.table` -> (rows, checksum) for every base table of the attached `catalog`."""
    tables = con.execute(
        "select table_schema || '.' || table_name from information_schema.tables "
        "where table_catalog = ? and table_type = 'BASE TABLE' "
        "and table_schema not in (select unnest(?::varchar[])) order by 1",
        [catalog, list(_SYSTEM_SCHEMAS)],
    ).fetchall()
    sums = {}
    for (table,) in tables:
        schema, name = table.split(".", 1)
        rows, checksum = con.execute(
            f"select count(*), coalesce(sum(hash(t)::hugeint), 0)::varchar "
            f"from {quote_identifier(catalog)}.{quote_identifier(schema)}."
            f"{quote_identifier(name)} as t"
        ).fetchone()
        sums[table] = (rows, checksum)
    return sums


def _attach(con, path: Path, alias: str, key: str, *, read_only: bool = False) -> None:
    try:
        attach(con, path, alias, key, read_only=read_only)
    except EncryptedFileError as exc:
        raise BackupError(
            f"{exc}. Is the encryption key the one the backups were written with?"
        ) from None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def take_backup(warehouse: Path, folder: Path, key: str, *, kind: str, at: datetime) -> Backup:
    """Write a full or incremental backup of the warehouse file (which must not be written
    meanwhile: the caller holds its lock), verify it and add it to the manifest."""
    if kind not in ("full", "incremental"):
        raise BackupError(f"unknown backup kind {kind!r}: full or incremental")
    folder.mkdir(parents=True, exist_ok=True)
    backups = load_manifest(folder)
    parent = backups[-1] if backups else None
    if kind == "incremental" and parent is None:
        raise BackupError("no backup to be incremental to yet: take a full backup first")
    backup_id = at.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    file = f"{backup_id}-{kind}.duckdb"
    target = folder / file
    with scratch_connection(folder / ".spill") as con:
        attach(con, warehouse, "warehouse", key, read_only=True)
        current = table_checksums(con, "warehouse")
        _attach(con, target, "backup", key)
        if kind == "full":
            con.execute("copy from database warehouse to backup")
            stored = dict.fromkeys(current, backup_id)
        else:
            stored = {}
            for table, state in current.items():
                before = parent.tables.get(table)
                if before and (before.rows, before.checksum) == state:
                    stored[table] = before.stored_in
                    continue
                schema, name = (quote_identifier(part) for part in table.split(".", 1))
                con.execute(f"create schema if not exists backup.{schema}")
                con.execute(f"create table backup.{schema}.{name} as "
                            f"select * from warehouse.{schema}.{name}")  # fmt: skip
                stored[table] = backup_id
        con.execute("checkpoint backup")
    backup = Backup(
        backup_id, kind, parent.backup_id if parent else None, at.isoformat(), file,
        {t: TableState(rows, checksum, stored[t]) for t, (rows, checksum) in current.items()},
        _sha256(target),
    )  # fmt: skip
    verify_folder = folder / f".verify-{backup_id}"
    try:
        build_restore(folder, [*backups, backup], backup_id, verify_folder, key)
    finally:
        shutil.rmtree(verify_folder, ignore_errors=True)
    backup.verified = True
    _save_manifest(folder, [*backups, backup])
    return backup


def chain(backups: list[Backup], backup_id: str) -> list[Backup]:
    """The full backup and the incrementals up to `backup_id`, oldest first."""
    by_id = {backup.backup_id: backup for backup in backups}
    if backup_id not in by_id:
        known = ", ".join(b.backup_id for b in backups) or "none"
        raise BackupError(f"no backup {backup_id!r}; backups: {known} (`custodian backup list`)")
    links = [by_id[backup_id]]
    while links[-1].parent is not None:
        links.append(by_id[links[-1].parent])
    return links[::-1]


def build_restore(
    folder: Path,
    backups: list[Backup],
    backup_id: str,
    out_folder: Path,
    key: str,
    name: str = "custodian.duckdb",
) -> Path:
    """The warehouse of `backup_id`, rebuilt from its chain into a new file in `out_folder`
    (encrypted with `key`), every table's checksum checked against the manifest. Returns its
    path."""
    links = chain(backups, backup_id)
    wanted = links[-1]
    for link in links:
        path = folder / link.file
        if not path.exists():
            raise BackupError(f"backup file {path} is missing: the chain to {backup_id} is broken")
        if _sha256(path) != link.sha256:
            raise BackupError(f"backup file {path} does not match its checksum: it was changed")
    out_folder.mkdir(parents=True, exist_ok=True)
    restored = out_folder / name
    for stale in (restored, restored.with_name(restored.name + ".wal")):
        stale.unlink(missing_ok=True)
    with scratch_connection(out_folder / ".spill") as con:
        attach(con, restored, "restored", key)
        _attach(con, folder / links[0].file, "full_backup", key, read_only=True)
        con.execute("copy from database full_backup to restored")
        con.execute("detach full_backup")
        for link in links[1:]:
            _attach(con, folder / link.file, "increment", key, read_only=True)
            for table, state in wanted.tables.items():
                if state.stored_in != link.backup_id:
                    continue
                schema, name = (quote_identifier(part) for part in table.split(".", 1))
                con.execute(f"create schema if not exists restored.{schema}")
                con.execute(f"create or replace table restored.{schema}.{name} as "
                            f"select * from increment.{schema}.{name}")  # fmt: skip
            con.execute("detach increment")
        found = table_checksums(con, "restored")
        for table in set(found) - set(wanted.tables):
            # A table dropped after the full backup.
            schema, name = (quote_identifier(part) for part in table.split(".", 1))
            con.execute(f"drop table restored.{schema}.{name}")
            del found[table]
        expected = {t: (s.rows, s.checksum) for t, s in wanted.tables.items()}
        if found != expected:
            differing = sorted(t for t in set(found) | set(expected)
                               if found.get(t) != expected.get(t))  # fmt: skip
            raise BackupError(
                f"backup {backup_id} does not restore to what was backed up: "
                f"{len(differing)} table(s) differ ({', '.join(differing[:5])})"
            )
        con.execute("checkpoint restored")
    return restored


def journal_erasure(
    folder: Path,
    request_id: str,
    completed_at: datetime,
    record_key_hashes: list[str],
    golden_ids: list[str],
) -> None:
    """Note a completed erasure where restores find it: keyed hashes and IDs, never a value."""
    folder.mkdir(parents=True, exist_ok=True)
    entry = {
        "request_id": request_id,
        "completed_at": completed_at.isoformat(),
        "record_key_hashes": sorted(record_key_hashes),
        "golden_ids": sorted(golden_ids),
    }
    with (folder / JOURNAL).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def erasures_after(folder: Path, taken_at: datetime) -> list[dict]:
    path = folder / JOURNAL
    if not path.exists():
        return []
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [e for e in entries if datetime.fromisoformat(e["completed_at"]) >= taken_at]


@dataclass
class Restored:
    backup: Backup
    replayed: list[str]  # request IDs of the erasures replayed
    rows_erased: int
    previous: Path | None  # where the warehouse that was replaced went


def restore(
    warehouse: Path,
    folder: Path,
    backup_id: str,
    key: str,
    config,
    *,
    replace: bool,
    at: datetime,
) -> Restored:
    """Put the warehouse of `backup_id` in place, every later erasure replayed first.

    The warehouse that was there is kept as `<name>.before-restore` (replace=True); without
    `replace` an existing warehouse refuses the restore.
    """
    if warehouse.exists() and not replace:
        raise BackupError(
            f"warehouse {warehouse} exists: restoring replaces it (it is kept as "
            f"{warehouse.name}.before-restore); add --replace to go ahead"
        )
    backups = load_manifest(folder)
    wanted = chain(backups, backup_id)[-1]
    work = warehouse.parent / f".restore-{wanted.backup_id}"
    try:
        restored = build_restore(folder, backups, wanted.backup_id, work, key, warehouse.name)
        replayed, erased_rows = _replay_erasures(
            restored, erasures_after(folder, wanted.created), config, wanted.backup_id, at
        )
    except BaseException:
        # The half-restored file may still hold people erased since the backup: never left.
        shutil.rmtree(work, ignore_errors=True)
        raise
    previous = None
    if warehouse.exists():
        previous = warehouse.with_name(warehouse.name + ".before-restore")
        os.replace(warehouse, previous)
        wal = warehouse.with_name(warehouse.name + ".wal")
        if wal.exists():
            os.replace(wal, previous.with_name(previous.name + ".wal"))
    os.replace(restored, warehouse)
    shutil.rmtree(work, ignore_errors=True)
    return Restored(wanted, replayed, erased_rows, previous)


def _replay_erasures(
    restored: Path, entries: list[dict], config, backup_id: str, at: datetime
) -> tuple[list[str], int]:
    """Erase again, in the restored file, everyone the journal's entries erased; return the
    request IDs replayed and the rows removed."""
    from dagster_project.lib.privacy import erasure
    from dagster_project.lib.privacy.compaction import compact_database
    from dagster_project.lib.privacy.masking import pseudonymiser
    from dagster_project.lib.warehouse import connection

    replayed, erased_rows, values = [], 0, set()
    with connection(restored) as con:
        hasher = pseudonymiser()
        # Each key hashed once, whatever the number of entries.
        key_by_hash = {hasher(key): key for key in erasure.record_keys_present(con)}
        for entry in entries:
            keys = {key_by_hash[h] for h in entry["record_key_hashes"] if h in key_by_hash}
            target = erasure.target_of_keys(con, config, set(entry["golden_ids"]), keys)
            if not target.record_keys and not target.golden_ids:
                continue
            outcome = erasure.erase(
                con, config, target, kind="golden_id",
                value=(target.golden_ids or target.record_keys)[0],
                reason=f"replay of {entry['request_id']} after restoring {backup_id}",
                requested_by="custodian restore", at=at,
            )  # fmt: skip
            replayed.append(entry["request_id"])
            erased_rows += sum(outcome.rows_by_table.values())
            values |= target.values
    if replayed:
        compact_database(restored, values)
    return replayed, erased_rows
