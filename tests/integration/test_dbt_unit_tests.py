"""dbt's own unit tests of the standardisation (tests/dbt/stg_customers__unit_tests.yml).

They run the staging SQL and the Python UDFs of the dbt plugin on tricky fixture rows, through
the staging model generated for the one source of tests/dbt/governance.yaml; the daily
pipeline never sees them because they test code, not data.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from dagster_project import settings
from dagster_project.config import load_config
from dagster_project.lib.transform.dbt_project import (
    dbt_environment,
    dbt_executable,
    dbt_project_for,
)
from dagster_project.lib.transform.dbt_vars import dbt_vars_arg

FIXTURES = Path(__file__).parents[1] / "dbt"


def test_dbt_unit_tests_of_the_standardisation_pass(tmp_path) -> None:
    config = load_config(FIXTURES / "governance.yaml")
    unit_tests = FIXTURES / "stg_customers__unit_tests.yml"
    warehouse = tmp_path / "unit.duckdb"
    project_dir = dbt_project_for(
        config,
        warehouse,
        settings.dbt_project_dir(),
        extra_model_files={unit_tests.name: unit_tests.read_text(encoding="utf-8")},
    )
    completed = subprocess.run(
        [
            dbt_executable(), "test", "--select", "test_type:unit",
            "--profiles-dir", str(project_dir), "--project-dir", str(project_dir),
            # A private target folder: another dbt process may be using the shared one.
            "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
            *dbt_vars_arg(config),
        ],
        cwd=project_dir, env={**os.environ, **dbt_environment(warehouse)}, capture_output=True,
        text=True, timeout=600, check=False,
    )  # fmt: skip
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-6000:]
    passed = re.search(r"PASS=(\d+)", output)
    assert passed, output[-3000:]
    assert int(passed.group(1)) >= 4, output[-3000:]
