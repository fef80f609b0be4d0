"""Keeping dbt's manifest in step with the models and governance.yaml.

dagster-dbt builds the asset graph from `target/manifest.json`. Which staging models
int_customer_records unions depends on the configured sources (a dbt var), so the manifest is
re-parsed whenever the models or the vars change, not only under `dagster dev`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from dagster_project.config import GovernanceConfig
from dagster_project.lib.transform.dbt_vars import dbt_vars_arg


class DbtParseError(RuntimeError):
    """dbt could not parse the project."""


def dbt_executable() -> str:
    return str(Path(sys.executable).with_name("dbt"))


def _fingerprint(project_dir: Path, vars_arg: list[str], warehouse_path: Path) -> str:
    # The warehouse path is part of dbt's profile: when it changes, dbt ignores the saved
    # partial parse and re-parses the whole project on every invocation, so parse once here.
    digest = hashlib.sha256(json.dumps([vars_arg, str(warehouse_path)]).encode("utf-8"))
    for folder in ("models", "macros"):
        for path in sorted((project_dir / folder).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(project_dir)).encode())
                digest.update(path.read_bytes())
    digest.update((project_dir / "dbt_project.yml").read_bytes())
    return digest.hexdigest()


def ensure_manifest(project_dir: Path, config: GovernanceConfig, warehouse_path: Path) -> Path:
    """Parse the project if the manifest is missing or stale; return the manifest's path."""
    manifest = project_dir / "target" / "manifest.json"
    stamp = project_dir / "target" / ".custodian_fingerprint"
    vars_arg = dbt_vars_arg(config)
    fingerprint = _fingerprint(project_dir, vars_arg, warehouse_path)
    if manifest.is_file() and stamp.is_file() and stamp.read_text() == fingerprint:
        return manifest
    env = {**os.environ, "CUSTODIAN_WAREHOUSE": str(warehouse_path)}
    completed = subprocess.run(
        [dbt_executable(), "parse", "--quiet", "--profiles-dir", str(project_dir), *vars_arg],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0 or not manifest.is_file():
        raise DbtParseError(
            f"dbt parse failed in {project_dir} (exit {completed.returncode}):\n"
            f"{completed.stdout[-4000:]}{completed.stderr[-4000:]}"
        )
    stamp.write_text(fingerprint)
    return manifest
