"""Shared fixtures: every test points the platform at its own files, never at ./warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_project.settings import PROJECT_ROOT


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp warehouse and the shipped governance.yaml; returns the temp folder."""
    monkeypatch.setenv("CUSTODIAN_WAREHOUSE", str(tmp_path / "warehouse" / "custodian.duckdb"))
    monkeypatch.setenv("CUSTODIAN_CONFIG", str(PROJECT_ROOT / "governance.yaml"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return tmp_path
