"""The dbt project one warehouse and one governance config run with.

dbt cannot declare sources or models from a variable, and a configured source needs both
(`source_models.py`). So each warehouse gets its own dbt project beside it,
`<warehouse>_dbt/project/`: the repository's models, macros and settings linked in, plus the
config's generated `source_models/`. Every dbt call (the daily assets, `custodian docs`, tests,
benchmarks) runs there, through `dbt_project_for`. Two configs or two warehouses never share
generated files, a parse or a target folder, and the repository's own `dbt/` folder is never
written to.

(dbt writes each compiled model to `target/.../<the model's path>`: a model path outside the
project, absolute, made dbt overwrite the generated model file itself with its compiled SQL.
Links keep every path inside the project.)

dagster-dbt builds the asset graph from the manifest. Which staging models exist and which
int_customer_records unions depends on the configured sources, so the manifest is re-parsed
whenever the models, the dictionary or the config change, not only under `dagster dev`.
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
from dagster_project.lib.transform.source_models import write_source_models

# What a warehouse's project links from the repository's dbt folder.
_LINKED = ("dbt_project.yml", "profiles.yml", "models", "macros")
GENERATED_FOLDER = "source_models"


class DbtParseError(RuntimeError):
    """dbt could not parse the project."""


def dbt_executable() -> str:
    return str(Path(sys.executable).with_name("dbt"))


def dbt_state_dir(warehouse_path: Path) -> Path:
    """dbt's files for one warehouse: `warehouse/custodian.duckdb` -> `warehouse/custodian_dbt`."""
    warehouse_path = Path(warehouse_path).resolve()
    return warehouse_path.with_name(f"{warehouse_path.stem}_dbt")


def _link(link: Path, target: Path) -> None:
    if link.is_symlink() and link.resolve() == target.resolve():
        return
    if link.is_symlink() or link.is_file():
        link.unlink()
    try:
        link.symlink_to(target, target_is_directory=target.is_dir())
    except FileExistsError:
        # Another process (a parallel Dagster step) linked it a moment ago.
        if link.resolve() != target.resolve():
            raise


def dbt_project_for(
    config: GovernanceConfig,
    warehouse_path: Path,
    repository_project: Path,
    extra_model_files: dict[str, str] | None = None,
) -> Path:
    """The warehouse's dbt project, with the config's source models written; returns its path.

    `extra_model_files` are added to the generated folder (the dbt unit tests of the
    standardisation, which name the sources of a config of their own).
    """
    project = dbt_state_dir(warehouse_path) / "project"
    project.mkdir(parents=True, exist_ok=True)
    for name in _LINKED:
        _link(project / name, repository_project / name)
    write_source_models(config, repository_project, project / GENERATED_FOLDER, extra_model_files)
    return project


def dbt_environment(warehouse_path: Path) -> dict[str, str]:
    """Variables every dbt call needs: the profile finds the warehouse through one."""
    return {"CUSTODIAN_WAREHOUSE": str(Path(warehouse_path).resolve())}


def _fingerprint(project: Path, vars_arg: list[str], env: dict[str, str]) -> str:
    # The warehouse path is part of dbt's profile: when it changes, dbt ignores the saved
    # partial parse and re-parses the whole project on every invocation, so parse once here.
    digest = hashlib.sha256(json.dumps([vars_arg, env], sort_keys=True).encode("utf-8"))
    for folder in ("models", "macros", GENERATED_FOLDER):
        root = (project / folder).resolve()
        for path in sorted(root.rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
    digest.update((project / "dbt_project.yml").read_bytes())
    return digest.hexdigest()


def ensure_manifest(
    repository_project: Path, config: GovernanceConfig, warehouse_path: Path
) -> tuple[Path, Path]:
    """The warehouse's dbt project, parsed if its manifest is missing or stale.

    Returns the project folder and its manifest.

    Raises:
        DbtParseError: dbt cannot parse the project for this config (its message says why).
    """
    project = dbt_project_for(config, warehouse_path, repository_project)
    env = dbt_environment(warehouse_path)
    manifest = project / "target" / "manifest.json"
    stamp = project / "target" / ".custodian_fingerprint"
    vars_arg = dbt_vars_arg(config)
    fingerprint = _fingerprint(project, vars_arg, env)
    if manifest.is_file() and stamp.is_file() and stamp.read_text() == fingerprint:
        return project, manifest
    completed = subprocess.run(
        [dbt_executable(), "parse", "--quiet", "--profiles-dir", str(project), *vars_arg],
        cwd=project,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0 or not manifest.is_file():
        raise DbtParseError(
            f"dbt could not parse the project for this governance config ({project}, exit "
            f"{completed.returncode}):\n{completed.stdout[-4000:]}{completed.stderr[-4000:]}"
        )
    stamp.write_text(fingerprint)
    return project, manifest
