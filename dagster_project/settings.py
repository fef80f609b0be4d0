"""Paths and environment. Read inside functions, never at import time, so tests and the CLI can
point the whole platform elsewhere by setting environment variables before they call in."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def config_path(explicit: str | Path | None = None) -> Path:
    """`--config`, else `$CUSTODIAN_CONFIG`, else `./governance.yaml`."""
    if explicit:
        return Path(explicit)
    if env := os.environ.get("CUSTODIAN_CONFIG"):
        return Path(env)
    return Path.cwd() / "governance.yaml"


def warehouse_path() -> Path:
    """The DuckDB warehouse file: `$CUSTODIAN_WAREHOUSE`, default `./warehouse/custodian.duckdb`."""
    return Path(
        os.environ.get("CUSTODIAN_WAREHOUSE", Path.cwd() / "warehouse" / "custodian.duckdb")
    )


def analytics_path() -> Path:
    """The analyst database, masked at rest: `$CUSTODIAN_ANALYTICS`, default beside the
    warehouse (`analytics.duckdb`). A separate file, so it can be shared (and its permissions
    set) apart from the restricted warehouse."""
    if env := os.environ.get("CUSTODIAN_ANALYTICS"):
        return Path(env)
    return warehouse_path().parent / "analytics.duckdb"


def access_log_path() -> Path:
    """The append-only access log: `$CUSTODIAN_ACCESS_LOG`, default beside the warehouse."""
    if env := os.environ.get("CUSTODIAN_ACCESS_LOG"):
        return Path(env)
    return warehouse_path().parent / "access_log.jsonl"


def current_user() -> str:
    """Who is acting: `$CUSTODIAN_USER`, else the login name."""
    import getpass

    return os.environ.get("CUSTODIAN_USER") or getpass.getuser()


def reports_dir() -> Path:
    """Where HTML/Markdown reports and Data Docs go: beside the warehouse unless overridden."""
    if env := os.environ.get("CUSTODIAN_REPORTS"):
        return Path(env)
    return warehouse_path().parent / "reports"


def data_docs_dir() -> Path:
    """Great Expectations Data Docs of the quality gates' validations: `<reports>/data_docs`."""
    return reports_dir() / "data_docs"


def dbt_project_dir() -> Path:
    return PROJECT_ROOT / "dbt"


def expectations_dir() -> Path:
    return PROJECT_ROOT / "expectations"


def dagster_home() -> Path:
    """The Dagster instance folder: `$DAGSTER_HOME`, else `./.dagster`.

    The default is the folder `make ui` uses when run from the repository root, so runs started
    with `custodian` appear in the UI, and both share one pool limit on warehouse writers.
    """
    if env := os.environ.get("DAGSTER_HOME"):
        # Dagster wants it absolute; a relative value means relative to where the command runs.
        return Path(env).expanduser().absolute()
    return Path.cwd() / ".dagster"
