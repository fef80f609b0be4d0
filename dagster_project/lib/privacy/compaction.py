"""Leaving no trace on disk after personal data was deleted (R29, R31).

DuckDB keeps deleted rows in free blocks until they are reused, and compresses strings, so a
byte search alone cannot prove them gone: a database that held erased or destroyed rows is
checkpointed and, when free blocks remain or a value is still found, rewritten into a new file
(COPY FROM DATABASE, then an atomic rename). Files the platform wrote are searched for the
values and deleted when they hold one.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster_project.lib.warehouse import (
    EncryptedFileError,
    attach,
    connect,
    encryption_key,
    scratch_connection,
)


def files_holding(root: Path, values: set[str], skip: set[Path]) -> list[Path]:
    """Files under `root` (not those in `skip`) whose bytes contain one of the values."""
    needles = [value.encode("utf-8") for value in values]
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.resolve() in skip:
            continue
        content = path.read_bytes()
        if any(needle in content for needle in needles):
            found.append(path)
    return found


def file_holds_any(path: Path, values: set[str]) -> bool:
    content = path.read_bytes() if path.exists() else b""
    return any(value.encode("utf-8") in content for value in values)


def compact_database(path: Path, values: set[str]) -> str:
    """Checkpoint the file; rewrite it into a new file when deleted bytes may survive.

    DuckDB leaves deleted rows in free blocks until they are reused, and compresses strings,
    so a byte search alone cannot prove them gone: any free block, or a value still found,
    means a rewrite (COPY FROM DATABASE into a new file, then an atomic rename). Needs the only
    connection to the file. Returns what was done, for the completion record.
    """
    with connect(path) as con:
        con.execute("checkpoint")
        (free_blocks,) = con.execute("select free_blocks from pragma_database_size()").fetchone()
    if not free_blocks and not file_holds_any(path, values):
        return "checkpointed"
    rewrite_database(path)
    if file_holds_any(path, values):
        # Only a value another customer also holds (a namesake) can remain after a rewrite.
        return "rewritten; a value shared with another customer remains"
    return "rewritten"


def rewrite_database(path: Path, key: str | None = None, *, source_key: str | None = None) -> None:
    """Copy the database into a new file encrypted with `key` (default: the platform's key) and
    rename it over the old one atomically: deleted rows leave no free block behind. The old file
    is read with `source_key` (default: `key`; "" for a file written without encryption, which
    is how `custodian encrypt` encrypts one). Needs the only connection to the file."""
    key = encryption_key() if key is None else key
    source_key = key if source_key is None else source_key
    rewritten = path.with_name(path.name + ".compacting")
    for stale in (rewritten, rewritten.with_name(rewritten.name + ".wal")):
        stale.unlink(missing_ok=True)
    with scratch_connection(path.with_name(path.name + ".tmp")) as con:
        attach(con, path, "rewrite_source", source_key, read_only=True)
        attach(con, rewritten, "rewrite_target", key)
        con.execute("copy from database rewrite_source to rewrite_target")
        con.execute("detach rewrite_source")
        con.execute("checkpoint rewrite_target")
        con.execute("detach rewrite_target")
    with rewritten.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(rewritten, path)


def encrypt_in_place(path: Path, key: str) -> bool:
    """Encrypt a database file written without encryption (by a version before encryption at
    rest) with `key`; False when it already opens with that key. Needs the only connection."""
    with scratch_connection(path.with_name(path.name + ".tmp")) as con:
        try:
            attach(con, path, "probe", key, read_only=True)
            return False
        except EncryptedFileError as exc:
            if "without encryption" not in str(exc):
                raise
        # Checkpoint the plain file first: a WAL left beside it would be replayed onto the new one.
        attach(con, path, "plain", "")
        con.execute("checkpoint plain")
        con.execute("detach plain")
    rewrite_database(path, key, source_key="")
    return True
