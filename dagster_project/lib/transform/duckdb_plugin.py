"""dbt-duckdb plugin: registers the platform's Python UDFs on dbt's DuckDB connection.

Named in dbt/profiles.yml; dbt calls `configure_connection` for each connection it opens.
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from dagster_project.lib.standardise.countries import to_iso_country
from dagster_project.lib.standardise.names import clean_name, name_tokens, to_pinyin
from dagster_project.lib.standardise.phones import to_e164


def register_udfs(conn: DuckDBPyConnection) -> None:
    """The Python functions SQL models call, under `custodian_*` names."""
    conn.create_function(
        "custodian_clean_name", clean_name, ["VARCHAR"], "VARCHAR", null_handling="special"
    )
    conn.create_function(
        "custodian_pinyin", to_pinyin, ["VARCHAR"], "VARCHAR", null_handling="special"
    )
    conn.create_function(
        "custodian_country_code", to_iso_country, ["VARCHAR"], "VARCHAR", null_handling="special"
    )
    conn.create_function(
        "custodian_name_tokens", name_tokens, ["VARCHAR"], "VARCHAR[]", null_handling="special"
    )
    conn.create_function(
        "custodian_phone_e164",
        to_e164,
        ["VARCHAR", "VARCHAR"],
        "VARCHAR",
        null_handling="special",
    )


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self.config = plugin_config

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        register_udfs(conn)
