"""Read-only SQL for people: one SELECT, on a connection that can reach nothing but its file.

`custodian sql` runs what a person types. DuckDB can read any file the process can (`read_csv`,
`'/etc/passwd'`, ATTACH), write files (COPY, EXPORT DATABASE) and load code (INSTALL, LOAD);
here the (decrypted) file is attached read-only, then external access is disabled and the
configuration locked, so none of that is possible whatever the query, and the statement must be
a single SELECT (WITH ... SELECT, a VALUES list and EXPLAIN are SELECTs too) before it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.lib.warehouse import WarehouseLockedError, connect

SANDBOX_SETTINGS = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    # Last: once locked, no SET in the query can undo the settings above.
    "lock_configuration": True,
}


class QueryRefusedError(ValueError):
    """The query is empty, not valid SQL, or not a single SELECT."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple]
    truncated: bool


def check_query(query: str) -> None:
    """Refuse anything but one SELECT statement, saying what was wrong.

    Raises:
        QueryRefusedError: with a message a person can act on.
    """
    if not query.strip().strip(";").strip():
        raise QueryRefusedError("the query is empty: give one SELECT statement")
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise QueryRefusedError(f"not valid SQL: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise QueryRefusedError(f"{len(statements)} statements given: run one SELECT at a time")
    kind = statements[0].type
    if kind not in (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN):
        raise QueryRefusedError(
            f"only SELECT queries are allowed here; this is a {kind.name} statement"
        )


def sandboxed_connection(path: Path) -> duckdb.DuckDBPyConnection:
    """`path` opened read-only with no file, network or extension access.

    Raises:
        FileNotFoundError: no such database.
        RuntimeError: a writer holds the file's lock.
    """
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        con = connect(path, read_only=True, timeout=0, shared=False)
    except WarehouseLockedError:
        raise RuntimeError(
            f"{path} is locked by a process writing it (a daily run): retry when it ends"
        ) from None
    # Set after the file is attached (it needs file access to open) and before any query.
    for name, value in SANDBOX_SETTINGS.items():
        con.execute(f"set {name} = {value}")
    return con


def run_query(path: Path, query: str, limit: int | None) -> QueryResult:
    """Run one SELECT in the sandbox; at most `limit` rows (None: all).

    Raises:
        QueryRefusedError: not one SELECT, or DuckDB rejected it (the message says why).
    """
    check_query(query)
    con = sandboxed_connection(path)
    try:
        cursor = con.execute(query)
        columns = [column[0] for column in cursor.description or []]
        rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit + 1)
    except duckdb.Error as exc:
        raise QueryRefusedError(f"query failed: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    truncated = limit is not None and len(rows) > limit
    return QueryResult(columns, rows[:limit] if truncated else rows, truncated)
