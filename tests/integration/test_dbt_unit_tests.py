"""dbt's own unit tests of the standardisation (dbt/models/staging/_staging__unit_tests.yml).

They run the staging SQL and the Python UDFs of the dbt plugin on tricky fixture rows; the
daily pipeline skips them because they test code, not data.
"""

from __future__ import annotations

import os
import re
import subprocess

from dagster_project import settings
from dagster_project.config import load_config
from dagster_project.lib.transform.dbt_project import dbt_executable
from dagster_project.lib.transform.dbt_vars import dbt_vars_arg


def test_dbt_unit_tests_of_the_standardisation_pass(tmp_path) -> None:
    project_dir = settings.dbt_project_dir()
    env = {**os.environ, "CUSTODIAN_WAREHOUSE": str(tmp_path / "unit.duckdb")}
    completed = subprocess.run(
        [
            dbt_executable(), "test", "--select", "test_type:unit",
            "--profiles-dir", str(project_dir), "--project-dir", str(project_dir),
            # A private target folder: another dbt process may be using the shared one.
            "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
            *dbt_vars_arg(load_config(settings.PROJECT_ROOT / "governance.yaml")),
        ],
        cwd=project_dir, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-6000:]
    passed = re.search(r"PASS=(\d+)", output)
    assert passed, output[-3000:]
    assert int(passed.group(1)) >= 4, output[-3000:]
