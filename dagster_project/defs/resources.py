"""Resources shared by every integration: the warehouse and the governance config."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from dagster_project import settings
from dagster_project.config import GovernanceConfig, load_config
from dagster_project.lib import warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. Every asset connects through `lib.warehouse`, never directly."""

    path: str

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connection(self.path, read_only=read_only) as con:
            yield con


class GovernanceResource(dg.ConfigurableResource):
    """governance.yaml, validated."""

    config_path: str

    def load(self) -> GovernanceConfig:
        return load_config(self.config_path)

    def resolve_path(self, path: str) -> Path:
        """A path from the config: relative ones are relative to the repository root."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else settings.PROJECT_ROOT / candidate


def default_resources(config_path: Path) -> dict[str, dg.ConfigurableResource]:
    return {
        "warehouse": WarehouseResource(path=str(settings.warehouse_path().resolve())),
        "governance": GovernanceResource(config_path=str(config_path.resolve())),
    }
