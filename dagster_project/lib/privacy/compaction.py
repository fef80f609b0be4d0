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

import duckdb

from dagster_project.lib.warehouse import attach_encrypted


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
    with duckdb.connect(str(path)) as con:
        con.execute("checkpoint")
        (free_blocks,) = con.execute("select free_blocks from pragma_database_size()").fetchone()
    if not free_blocks and not file_holds_any(path, values):
        return "checkpointed"
    rewrite_database(path)
    if file_holds_any(path, values):
        # Only a value another customer also holds (a namesake) can remain after a rewrite.
        return "rewritten; a value shared with another customer remains"
    return "rewritten"


def rewrite_database(path: Path, key: str | None = None) -> None:
    """Copy the database into a new file (encrypted with `key` when given, as the old one was)
    and rename it over the old one atomically: deleted rows leave no free block behind.
    Needs the only connection to the file."""
    rewritten = path.with_name(path.name + ".compacting")
    for stale in (rewritten, rewritten.with_name(rewritten.name + ".wal")):
        stale.unlink(missing_ok=True)
    with duckdb.connect() as con:
        if key is None:
            con.execute(f"attach '{path}' as rewrite_source (read_only)")
            con.execute(f"attach '{rewritten}' as rewrite_target")
        else:
            attach_encrypted(con, path, "rewrite_source", key, read_only=True)
            attach_encrypted(con, rewritten, "rewrite_target", key)
        con.execute("copy from database rewrite_source to rewrite_target")
        con.execute("detach rewrite_source")
        con.execute("checkpoint rewrite_target")
        con.execute("detach rewrite_target")
    with rewritten.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(rewritten, path)
