"""What every end-to-end test starts from: demo drops and a private config and warehouse."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import yaml

from dagster_project.settings import PROJECT_ROOT
from tests.support.database import open_database

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
    # Temp and spill files of every process the test starts land here, where a test can look.
    (root / "tmp").mkdir(exist_ok=True)
    env["TMPDIR"] = str(root / "tmp")
    generated = custodian(
        env, "demo-data", "--out", str(landing), "--customers", str(customers),
        "--days", str(days), "--start", start.isoformat(), "--seed", str(seed), timeout=300,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stdout[-3000:] + generated.stderr[-3000:]
    return landing, env


def _distinct_text(con: duckdb.DuckDBPyConnection, table: str, column: str) -> set[str]:
    """A column's distinct non-null values, as text."""
    return {
        row[0]
        for row in con.execute(
            f'select distinct cast("{column}" as varchar) from {table} where "{column}" is not null'
        ).fetchall()
    }


def personal_values(con: duckdb.DuckDBPyConnection, config_path: Path) -> set[str]:
    """Every name, phone, e-mail and ID the warehouse holds: as delivered in the raw tables
    (whatever each source calls the column) and as standardised."""
    from dagster_project.config import load_config

    # Whole names, not their parts: a family name alone ("Cohen") is also a company's name, a
    # given name ("Kent") also a county, and neither says who someone is.
    fields = ("full_name", "name_original_script", "mobile_phone", "landline_phone", "email",
              "national_id")  # fmt: skip
    values: set[str] = set()
    for source in load_config(config_path).sources:
        for field, mapping in source.mapping.items():
            column = getattr(mapping, "column", mapping if isinstance(mapping, str) else None)
            if field in fields and column:
                values |= _distinct_text(con, f"raw.{source.name}__customers", column)
    standardised = ("full_name", "name_original_script", "mobile_phone_e164",
                    "landline_phone_e164", "email_normalised", "national_id")  # fmt: skip
    for column in standardised:
        values |= _distinct_text(con, "intermediate.int_customer_records", column)
    # One- and two-character strings ("M", "张") are not identifying on their own.
    return {value.strip() for value in values if len(value.strip()) >= 3}


def analyst_values_in_clear(
    warehouse_dir: Path, config_path: Path
) -> tuple[int, int, dict[str, int]]:
    """Every distinct value of every analyst table looked up among the warehouse's personal
    values: (personal values, analyst values scanned, hits by table.column)."""
    with open_database(warehouse_dir / "custodian.duckdb", read_only=True) as con:
        personal = personal_values(con, config_path)
    with open_database(warehouse_dir / "analytics.duckdb", read_only=True) as analytics:
        columns = analytics.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = 'main'"
        ).fetchall()
        assert {table for table, _ in columns} == {
            "golden_customers", "customer_source_xref", "golden_field_lineage"
        }  # fmt: skip
        scanned, found = 0, {}
        for table, column in columns:
            values = _distinct_text(analytics, table, column)
            scanned += len(values)
            hits = [value for value in values if value.strip() in personal]
            if hits:
                found[f"{table}.{column}"] = len(hits)
    return len(personal), scanned, found
