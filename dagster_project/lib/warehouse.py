"""The one place a DuckDB connection to the warehouse (or another platform database) is made.

Dagster assets, the dbt plugin, Splink and the CLI all connect through `connect()`, so that
loading extensions (from their registry packages: INSTALL would try to download them) and
attaching the file with its encryption key happen once, in one place.

Encryption at rest (R26): every database file the platform writes (the warehouse, the analyst
database, the archive, backups) is a DuckDB encrypted file (AES-GCM; the crypto comes from the
pip-installed httpfs extension) keyed by `$CUSTODIAN_ENCRYPTION_KEY`. A connection is an
in-memory DuckDB with the file ATTACHed under the catalog name `custodian` and made the default
(`USE`), so SQL written for a plain file works unchanged and dbt's fully qualified names are the
same whatever the file is called. Spill files are encrypted too (`temp_file_encryption`, which
DuckDB leaves off even when an encrypted database is attached) and go beside the file, not into
the current directory as an in-memory database's would.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb

# DuckDB extensions the platform uses, each shipped by the registry package
# duckdb-extension-<name>: encodings reads GBK/GB18030 CSV, httpfs supplies the crypto for
# writing encrypted database files. They load on demand: `encodings` alone takes ~3 s to load,
# which every connection would otherwise pay.
EXTENSIONS = ("encodings", "httpfs")

# The catalog name every platform database is attached under (see the module's docstring).
CATALOG = "custodian"
KEY_ENV = "CUSTODIAN_ENCRYPTION_KEY"
PLAINTEXT_SWITCH = "CUSTODIAN_ENCRYPTION"

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
    path: Path | str,
    *,
    read_only: bool = False,
    timeout: float | None = None,
    key: str | None = None,
    shared: bool = True,
) -> duckdb.DuckDBPyConnection:
    """Open a platform database (the warehouse unless another file is named), decrypted with
    `key` (default: `$CUSTODIAN_ENCRYPTION_KEY`), waiting for another writer's lock to go.
    `shared=False` gives a DuckDB instance of its own (the analyst sandbox locks its settings),
    which cannot open a file another connection of this process has open.

    Raises:
        WarehouseLockedError: the lock was still held after `timeout` seconds, with a message
            naming the file and the process holding it.
        EncryptedFileError: no key, a wrong key, or a file written without encryption; the
            message says which variable to set or which command to run.
        FileNotFoundError: read-only access to a database that does not exist yet.
    """
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(
            f"warehouse {path} does not exist yet: run `custodian run` (or `make demo`) first, "
            "or set CUSTODIAN_WAREHOUSE to an existing file"
        )
    with _CONNECTING:
        # A named in-memory database is one instance per process (DuckDB caches it by name), as
        # `duckdb.connect(path)` of a plain file was: a second connect() to a file already open
        # here shares that instance and its ATTACH (a second ATTACH of the file would fail), and
        # the file is detached, its lock released, when the last connection closes.
        con = duckdb.connect(f":memory:{_instance_name(path)}" if shared else ":memory:")
        try:
            attached = con.execute(
                "select readonly from duckdb_databases() where database_name = ?", [CATALOG]
            ).fetchone()
            if attached is None:
                attach_as_default(con, path, read_only=read_only, timeout=timeout, key=key)
            elif attached[0] and not read_only:
                raise WarehouseLockedError(
                    f"{path} is open read-only in this process: close that connection first"
                )
            else:
                con.execute(f"use {CATALOG}")
        except BaseException:
            con.close()
            raise
    if not read_only:
        for schema in SCHEMAS:
            con.execute(f"create schema if not exists {schema}")
    return con


_CONNECTING = threading.Lock()


def _instance_name(path: Path) -> str:
    return "custodian_" + hashlib.sha256(str(path.resolve()).encode("utf-8")).hexdigest()[:20]


def attach_as_default(
    con: duckdb.DuckDBPyConnection,
    path: Path | str,
    *,
    read_only: bool = False,
    timeout: float | None = None,
    key: str | None = None,
) -> None:
    """Attach the file to `con` (an in-memory DuckDB: ours or dbt's) as `custodian`, decrypted
    with `key` (default: `$CUSTODIAN_ENCRYPTION_KEY`), make it the default catalog, and send
    spills to an encrypted folder beside it. See `connect()` for what it raises."""
    path = Path(path)
    key = encryption_key() if key is None else key
    path.parent.mkdir(parents=True, exist_ok=True)
    encrypt_spills(con, path.with_name(path.name + ".tmp"))
    _attach_waiting_for_lock(con, path, key, read_only, timeout)
    con.execute(f"use {CATALOG}")


def _attach_waiting_for_lock(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    key: str,
    read_only: bool,
    timeout: float | None,
) -> None:
    deadline = time.monotonic() + (lock_timeout_seconds() if timeout is None else timeout)
    delay = 0.2
    while True:
        try:
            attach(con, path, CATALOG, key, read_only=read_only)
            return
        except duckdb.IOException as exc:
            if not LOCK_MESSAGE.search(str(exc)):
                raise EncryptedFileError(f"cannot open {path}: {_first_line(exc)}") from None
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


def scratch_connection(temp_directory: Path | str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose spill files are encrypted, for work on customer data that is
    not kept (Splink training and scoring, checks) and as the base of `connect()`.

    `temp_directory` defaults to a folder in the system's temp directory: an in-memory
    database would otherwise spill to `./.tmp`, wherever the job was started.
    """
    con = duckdb.connect()
    try:
        encrypt_spills(con, temp_directory or Path(tempfile.gettempdir()) / "custodian_spill")
    except BaseException:
        con.close()
        raise
    return con


def encrypt_spills(con: duckdb.DuckDBPyConnection, temp_directory: Path | str) -> None:
    """Spill to `temp_directory`, encrypted (DuckDB leaves temp files in plain text otherwise,
    even with an encrypted database attached; the crypto is httpfs's)."""
    load_extensions(con, ("httpfs",))
    con.execute("set temp_directory = ?", [str(temp_directory)])
    con.execute("set temp_file_encryption = true")


def connect_existing(path: Path | str, *, write: bool) -> duckdb.DuckDBPyConnection:
    """`connect()` for commands that act on a warehouse the runs built: refuses one that does
    not exist instead of creating an empty one; read-only waits 5 s for a writer, a writer
    waits the lock timeout."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"warehouse {path} does not exist yet: run `custodian run` (or `make demo`) first, "
            "or set CUSTODIAN_WAREHOUSE to an existing file"
        )
    return connect(path, read_only=not write, timeout=None if write else 5)


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
    """A database file cannot be opened: no key, a wrong key, a file not encrypted, a damaged
    file. The message says what to do and never quotes the key."""


def encryption_key(variable: str = KEY_ENV) -> str:
    """The key every platform database file is encrypted with, from the environment.

    `CUSTODIAN_ENCRYPTION=off` returns "" (files written and read without encryption): it
    exists so `make bench` can measure what encryption costs, never for customer data.
    """
    if os.environ.get(PLAINTEXT_SWITCH) == "off":
        return ""
    key = os.environ.get(variable, "").strip()
    if not key:
        raise EncryptedFileError(
            f"${variable} is not set: the warehouse and the platform's other database files are "
            f"encrypted at rest with the key it holds. Set it to the key the files were written "
            f"with; `make` writes a local key to .custodian/encryption.key and exports it "
            f"(outside make: export {variable}=$(cat .custodian/encryption.key))"
        )
    return key


def attach(
    con: duckdb.DuckDBPyConnection, path: Path, alias: str, key: str, *, read_only: bool = False
) -> None:
    """Attach an encrypted DuckDB file (created when missing and writable) as `alias`.

    The key goes into the ATTACH statement (DuckDB takes no parameter there); no message raised
    here quotes the statement, so the key is never printed. Raises EncryptedFileError, or
    duckdb.IOException when another process holds the file's lock (`connect()` waits then).
    """
    load_extensions(con, ("httpfs",))
    literal = key.replace("'", "''")
    options = [f"encryption_key '{literal}'"] if key else []
    options += ["read_only"] if read_only else []
    try:
        con.execute(f"attach '{path}' as {alias}" + (f" ({', '.join(options)})" if options else ""))
    except duckdb.IOException as exc:
        if LOCK_MESSAGE.search(str(exc)):
            raise
        raise EncryptedFileError(f"cannot open {path}: {_first_line(exc)}") from None
    except (
        duckdb.InvalidInputException,
        duckdb.CatalogException,
        duckdb.BinderException,
    ) as exc:
        message = _first_line(exc)
        if "is not encrypted" in message:
            raise EncryptedFileError(
                f"{path} was written without encryption; this version keeps every database "
                "file encrypted at rest. Encrypt it once with `custodian encrypt` (it rewrites "
                f"the file with the key in ${KEY_ENV}), then retry."
            ) from None
        if "Wrong encryption key" in message or "without a key" in message:
            raise EncryptedFileError(
                f"cannot open {path}: {message}. Set ${KEY_ENV} to the key the file was "
                "written with."
            ) from None
        raise EncryptedFileError(f"cannot open {path}: {message}") from None


def check_key(path: Path | str) -> None:
    """Fail early (EncryptedFileError, saying what to do) when the key is missing or an existing
    file does not open with it; a file locked by a writer is not checked (the run waits)."""
    key = encryption_key()
    if not Path(path).exists():
        return
    with duckdb.connect() as con, suppress(duckdb.IOException):
        attach(con, Path(path), "key_check", key, read_only=True)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
