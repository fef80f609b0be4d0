"""The one place a DuckDB connection to the warehouse is made.

Dagster assets, the dbt plugin, Splink and the CLI all connect through `connect()`, so that
loading extensions (from their registry packages: INSTALL would try to download them) and, later,
attaching the file with an encryption key happen once, in one place.
"""

from __future__ import annotations

import importlib
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

# DuckDB extensions the platform uses, each shipped by the registry package
# duckdb-extension-<name>: encodings reads GBK/GB18030 CSV, httpfs supplies the crypto for
# writing encrypted database files. They load on demand: `encodings` alone takes ~3 s to load,
# which every connection would otherwise pay.
EXTENSIONS = ("encodings", "httpfs")

SCHEMAS = (
    "raw",
    "quarantine",
    "ops",
    "history",
    "er",
    "quality",
    "candidate",
    "monitoring",
    "audit",
    "privacy",
)

# DuckDB's words when another process holds a database file's lock.
LOCK_MESSAGE = re.compile(r"Could not set lock on file|Conflicting lock", re.IGNORECASE)


class WarehouseLockedError(RuntimeError):
    """Another process holds the warehouse's write lock."""


def extension_path(name: str) -> Path:
    """Path of a DuckDB extension binary shipped by `duckdb-extension-<name>`."""
    package = importlib.import_module(f"duckdb_extension_{name}")
    path = (
        Path(package.__path__[0])
        / "extensions"
        / f"v{duckdb.__version__}"
        / f"{name}.duckdb_extension"
    )
    if not path.is_file():
        raise RuntimeError(
            f"DuckDB extension {name!r} for DuckDB {duckdb.__version__} not found at {path}. "
            f"Install duckdb-extension-{name}=={duckdb.__version__} (run `make install`)."
        )
    return path


def load_extensions(con: duckdb.DuckDBPyConnection, names: tuple[str, ...] = EXTENSIONS) -> None:
    """Load extensions from their registry packages (never INSTALL: that would download)."""
    unknown = set(names) - set(EXTENSIONS)
    if unknown:
        raise ValueError(f"unknown extension(s) {sorted(unknown)}; known: {EXTENSIONS}")
    loaded = {
        row[0]
        for row in con.execute(
            "select extension_name from duckdb_extensions() where loaded"
        ).fetchall()
    }
    for name in names:
        if name not in loaded:
            con.execute(f"LOAD '{extension_path(name)}'")


def lock_timeout_seconds() -> float:
    # A daily run and a backfill partition can overlap; waiting a minute lets the shorter one
    # finish instead of failing the run outright.
    return float(os.environ.get("CUSTODIAN_LOCK_TIMEOUT", "60"))


def connect(
    path: Path | str, *, read_only: bool = False, timeout: float | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse with extensions loaded, waiting for another writer's lock to go.

    Raises:
        WarehouseLockedError: the lock was still held after `timeout` seconds, with a message
            naming the file and the process holding it.
        FileNotFoundError: read-only access to a warehouse that does not exist yet.
    """
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(
            f"warehouse {path} does not exist yet: run `custodian run` (or `make demo`) first, "
            "or set CUSTODIAN_WAREHOUSE to an existing file"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + (lock_timeout_seconds() if timeout is None else timeout)
    delay = 0.2
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if not LOCK_MESSAGE.search(str(exc)):
                raise
            if time.monotonic() >= deadline:
                holder = re.search(r"\(PID (\d+)\)", str(exc))
                raise WarehouseLockedError(
                    f"warehouse {path} is locked by another process"
                    f"{' (PID ' + holder.group(1) + ')' if holder else ''}. DuckDB allows one "
                    "writer at a time: wait for that run to finish (see the Dagster UI's runs "
                    "page) or stop it, then retry. Set CUSTODIAN_LOCK_TIMEOUT to wait longer."
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
    if not read_only:
        for schema in SCHEMAS:
            con.execute(f"create schema if not exists {schema}")
    return con


@contextmanager
def connection(path: Path | str, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """`connect()` as a context manager that always closes, releasing the write lock."""
    con = connect(path, read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def quote_identifier(name: str) -> str:
    """A table or column name as a DuckDB identifier, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


def mapping_sql(mapping) -> str:
    """SQL of a field mapping from governance.yaml: the quoted column, or `(expr)`."""
    return quote_identifier(mapping) if isinstance(mapping, str) else f"({mapping.expr})"


def _table_filter(qualified_name: str) -> tuple[str, list[str]]:
    """information_schema filter for `schema.table` (in the connection's own database, not an
    attached one such as the archive) or `catalog.schema.table`."""
    parts = qualified_name.split(".", 2)
    if len(parts) == 3:
        return "table_catalog = ? and table_schema = ? and table_name = ?", parts
    schema, _, table = qualified_name.partition(".")
    return "table_catalog = current_database() and table_schema = ? and table_name = ?", [
        schema,
        table,
    ]


def table_exists(con: duckdb.DuckDBPyConnection, qualified_name: str) -> bool:
    """Whether `schema.table` (or `catalog.schema.table`) exists; a layer's table appears on its
    first load."""
    where, params = _table_filter(qualified_name)
    return bool(
        con.execute(
            f"select count(*) from information_schema.tables where {where}", params
        ).fetchone()[0]
    )


def table_columns(con: duckdb.DuckDBPyConnection, qualified_name: str) -> list[str]:
    """The columns of `schema.table` or `catalog.schema.table` (or a view), in order; empty if
    it does not exist."""
    where, params = _table_filter(qualified_name)
    return [
        name
        for (name,) in con.execute(
            f"select column_name from information_schema.columns where {where} "
            "order by ordinal_position",
            params,
        ).fetchall()
    ]


@contextmanager
def one_thread(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the statements inside on one DuckDB thread, then restore the connection's setting.

    For statements whose cost is Python UDFs (the standardisers): they hold the GIL, so a second
    DuckDB thread only waits for it, and the hand-over between the two threads costs more than
    the SQL around the UDFs gains. Measured on the 2-core build machine, standardising demo
    records: 108,968 in 23.8 s on two threads, 16.8 s on one; 999,735 in 127 s and 109 s.
    """
    (threads,) = con.execute("select current_setting('threads')").fetchone()
    con.execute("set threads = 1")
    try:
        yield
    finally:
        con.execute(f"set threads = {int(threads)}")


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Everything inside commits together or not at all."""
    con.execute("begin transaction")
    try:
        yield
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


class EncryptedFileError(RuntimeError):
    """An encrypted database file cannot be opened (no key, a wrong key, a damaged file)."""


def attach_encrypted(
    con: duckdb.DuckDBPyConnection, path: Path, alias: str, key: str, *, read_only: bool = False
) -> None:
    """Attach an encrypted DuckDB file (created when missing and writable) as `alias`.

    The key goes into the ATTACH statement (DuckDB takes no parameter there); no message raised
    here quotes the statement, so the key is never printed. Raises EncryptedFileError.
    """
    load_extensions(con, ("httpfs",))
    literal = key.replace("'", "''")
    options = f"encryption_key '{literal}'" + (", read_only" if read_only else "")
    try:
        con.execute(f"attach '{path}' as {alias} ({options})")
    except (
        duckdb.InvalidInputException,
        duckdb.CatalogException,
        duckdb.BinderException,
        duckdb.IOException,
    ) as exc:
        raise EncryptedFileError(f"cannot open {path}: {str(exc).splitlines()[0]}") from None
