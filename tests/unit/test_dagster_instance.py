"""The shipped dagster.yaml is a valid instance config that serialises warehouse writers."""

from __future__ import annotations

import shutil
from pathlib import Path

from dagster import DagsterInstance

from dagster_project.settings import PROJECT_ROOT


def test_shipped_instance_config_limits_the_warehouse_pool(tmp_path: Path) -> None:
    shutil.copy(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = DagsterInstance.from_config(str(tmp_path))
    try:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    finally:
        instance.dispose()
