"""Jinja context for sqlfluff: `var()` answers with the vars dbt really runs with.

dbt models read source mappings and survivorship rules from vars built from governance.yaml;
sqlfluff's stand-in `var()` returns a placeholder string, which cannot render them.
"""

from dagster_project.config import load_config
from dagster_project.lib.transform.dbt_vars import dbt_vars
from dagster_project.settings import PROJECT_ROOT

_VARS = dbt_vars(load_config(PROJECT_ROOT / "governance.yaml"))


def var(name, default=None):
    return _VARS.get(name, default)


class _Adapter:
    """The one adapter method the models use: identifier quoting, as dbt-duckdb does it."""

    @staticmethod
    def quote(identifier):
        return '"' + identifier.replace('"', '""') + '"'


adapter = _Adapter()
