"""Open a platform database file in a test as the platform does: encrypted at rest (the test key
from conftest.py), attached under the `custodian` catalog and made the default. Unlike
`lib.warehouse.connect` it creates no schema, so a test sees exactly the file it made."""

from __future__ import annotations

from pathlib import Path

import duckdb

from dagster_project.lib import warehouse


def open_database(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    try:
        warehouse.attach_as_default(con, path, read_only=read_only, timeout=0)
    except BaseException:
        con.close()
        raise
    return con
