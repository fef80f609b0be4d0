"""Shared fixtures: every test points the platform at its own files, never at ./warehouse or
the developer's ./.dagster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dagster_project.settings import PROJECT_ROOT


@pytest.fixture(scope="session", autouse=True)
def _session_dagster_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """No test records runs in the developer's Dagster instance (`make test` exports
    DAGSTER_HOME=./.dagster, and the CLI's default is ./.dagster too)."""
    home = tmp_path_factory.mktemp("dagster_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home))
        # Nor writes into ./warehouse (`make test` exports CUSTODIAN_WAREHOUSE): building the
        # Definitions writes the warehouse's dbt project beside it.
        warehouse = tmp_path_factory.mktemp("session_warehouse") / "custodian.duckdb"
        patch.setenv("CUSTODIAN_WAREHOUSE", str(warehouse))
        # The analyst database pseudonymises keys with this key; the daily job needs it.
        patch.setenv("CUSTODIAN_MASKING_SALT", "test-key-not-a-secret")
        # The archive database is encrypted with this key (encryption.key_env).
        patch.setenv("CUSTODIAN_ENCRYPTION_KEY", "test-archive-key-not-a-secret")
        # Commands on personal data need a role: the shipped config's admin, unless a test
        # acts as someone else (--as) to check a refusal.
        patch.setenv("CUSTODIAN_USER", "admin")
        yield home


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp warehouse, a temp Dagster instance folder and the shipped governance.yaml;
    returns the temp folder."""
    monkeypatch.setenv("CUSTODIAN_WAREHOUSE", str(tmp_path / "warehouse" / "custodian.duckdb"))
    monkeypatch.setenv("CUSTODIAN_CONFIG", str(PROJECT_ROOT / "governance.yaml"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return tmp_path
