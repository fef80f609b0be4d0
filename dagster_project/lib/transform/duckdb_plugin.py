"""dbt-duckdb plugin: registers the platform's Python standardisers on dbt's DuckDB connection.

Named in dbt/profiles.yml; dbt calls `configure_connection` for each connection it opens. Each
standardiser runs once per distinct input (lib/transform/vectorised.py), which is what keeps
library-grade parsing affordable over millions of rows.
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from dagster_project.lib import warehouse
from dagster_project.lib.standardise.addresses import AddressResult, standardise_address
from dagster_project.lib.standardise.countries import to_iso_country
from dagster_project.lib.standardise.emails import EmailResult, standardise_email
from dagster_project.lib.standardise.names import NameResult, standardise_name
from dagster_project.lib.standardise.national_id import (
    NationalIdResult,
    standardise_national_id,
)
from dagster_project.lib.standardise.phones import PhoneResult, standardise_phone
from dagster_project.lib.transform import vectorised

# SQL name -> (function, result type, number of text arguments)
STANDARDISERS: dict[str, tuple[Any, Any, int]] = {
    "custodian_standardise_name": (standardise_name, NameResult, 3),
    "custodian_standardise_phone": (standardise_phone, PhoneResult, 2),
    "custodian_standardise_email": (standardise_email, EmailResult, 1),
    "custodian_standardise_national_id": (standardise_national_id, NationalIdResult, 1),
    "custodian_standardise_address": (standardise_address, AddressResult, 6),
    "custodian_country_code": (to_iso_country, str, 1),
}


def register_udfs(conn: DuckDBPyConnection) -> dict[str, vectorised.DistinctCachedUDF]:
    """The Python functions SQL models call, under `custodian_*` names.

    dbt-duckdb may configure the same database connection more than once (it re-opens handles
    to one in-process database), so functions already there are left as they are.
    """
    registered = {
        name
        for (name,) in conn.execute(
            "select function_name from duckdb_functions() where function_name like 'custodian_%'"
        ).fetchall()
    }
    return {
        name: vectorised.register(conn, name, function, result_type, arity)
        for name, (function, result_type, arity) in STANDARDISERS.items()
        if name not in registered
    }


class Plugin(BasePlugin):
    """Also opens the warehouse for dbt: dbt-duckdb configures plugins before its own ATTACH,
    so the file is attached here through `lib.warehouse` (decrypted with the platform's key,
    spills encrypted) and the profile's `ATTACH IF NOT EXISTS` of the same alias does nothing.
    The key never appears in profiles.yml or in dbt's logs."""

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.config = plugin_config

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        attached = {
            name
            for (name,) in conn.execute("select database_name from duckdb_databases()").fetchall()
        }
        if warehouse.CATALOG not in attached:
            warehouse.attach_as_default(conn, self.config["warehouse"])
        register_udfs(conn)

    def configure_cursor(self, cursor: DuckDBPyConnection) -> None:
        # A cursor starts on the in-memory catalog; SQL that names no catalog means the warehouse.
        cursor.execute(f"use {warehouse.CATALOG}")
