"""What every end-to-end test starts from: demo drops and a private config and warehouse."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import yaml

from dagster_project.settings import PROJECT_ROOT

# A command other than a pipeline run (sql, audit, init, demo-data) takes seconds on the e2e
# demo; a run of 2,000 people over three days ~2 minutes on 2 busy cores. Each limit is about
# five times that: a hang fails the test with the command named, not the whole suite.
COMMAND_TIMEOUT_S = 120
RUN_TIMEOUT_S = 600


def custodian(
    env: dict[str, str], *args: str, timeout: int | None = None
) -> subprocess.CompletedProcess:
    """Run the `custodian` command as a user would, from the repository root."""
    if timeout is None:
        timeout = RUN_TIMEOUT_S if args[:1] == ("run",) else COMMAND_TIMEOUT_S
    return subprocess.run(
        [str(Path(sys.executable).with_name("custodian")), *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def demo_environment(
    root: Path, *, customers: int, days: int, start: date, seed: int
) -> tuple[Path, dict[str, str]]:
    """Generate demo drops under root/landing; return it and an env naming root's config,
    warehouse and Dagster instance folder (root/.dagster, created by the first run), so no run
    lands in the developer's ./.dagster. A test may point DAGSTER_HOME elsewhere."""
    landing = root / "landing"
    config = yaml.safe_load((PROJECT_ROOT / "governance.yaml").read_text(encoding="utf-8"))
    config["landing_root"] = str(landing)
    # The copy lives elsewhere; model_path is relative to the config: keep the shipped model.
    config["matching"]["model_path"] = str(PROJECT_ROOT / config["matching"]["model_path"])
    config_path = root / "governance.yaml"
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    env = {
        **os.environ,
        "CUSTODIAN_CONFIG": str(config_path),
        "CUSTODIAN_WAREHOUSE": str(root / "warehouse" / "custodian.duckdb"),
    }
    env["DAGSTER_HOME"] = str(root / ".dagster")
    generated = custodian(
        env, "demo-data", "--out", str(landing), "--customers", str(customers),
        "--days", str(days), "--start", start.isoformat(), "--seed", str(seed), timeout=300,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout[-3000:] + generated.stderr[-3000:]
    return landing, env
