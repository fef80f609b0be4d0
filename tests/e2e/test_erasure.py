"""Erasure from the command line, provably (R28, R29): a canary person with records in two
sources is erased by e-mail, then searched for everywhere the platform writes: every column of
every table of the warehouse and the analyst database, every file under the warehouse
folder (reports, logs, dbt's target), and the raw bytes of the database files. Re-running a day
whose landing files still hold the person must not bring them back.

Out of scope, said here so that nothing passes silently: the landing files themselves (the
source systems' deliveries, which the suppression list answers) and the Dagster instance
folder (run metadata, masked previews), which is not under the warehouse folder.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from pathlib import Path

import pytest

from dagster_project.config import load_config
from dagster_project.lib.backups import BackupError, build_restore, load_manifest
from tests.e2e.support import custodian, demo_environment
from tests.support.database import open_database

pytestmark = pytest.mark.e2e

START = date(2026, 11, 1)
SECOND_DAY = "2026-11-02"
FIELDS = ("full_name", "mobile_phone", "email", "national_id")
STANDARDISED = ("full_name", "mobile_phone_e164", "email_normalised", "national_id")


@pytest.fixture(scope="module")
def erased(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("erasure")
    _, env = demo_environment(root, customers=300, days=2, start=START, seed=11)
    env = {**env, "CUSTODIAN_USER": "admin"}
    env.setdefault("CUSTODIAN_MASKING_SALT", "demo-only-key-set-your-own")
    # A full backup after the first day and an incremental one after the second, both taken
    # before the erasure: restoring either must not bring the person back.
    backups = []
    for command in (("run", "--through", START.isoformat()), ("backup",),
                    ("run", "--date", SECOND_DAY), ("backup", "--incremental")):  # fmt: skip
        done = custodian(env, *command)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        if command[0] == "backup":
            backups.append(done.stdout.split()[1])
    warehouse = root / "warehouse" / "custodian.duckdb"
    with open_database(warehouse, read_only=True) as con:
        golden_id, values, raw_email = _canary(con, load_config(root / "governance.yaml"))
    dry = custodian(env, "erase", "--email", raw_email, "--dry-run")
    erase = custodian(
        env, "erase", "--email", raw_email, "--reason", "erasure request", "--by", "dpo"
    )
    return root, env, golden_id, values, raw_email, dry, erase, backups


def _canary(con, config) -> tuple[str, set[str], str]:
    """A golden customer with records in two or more sources whose name, mobile, e-mail and
    national ID no other customer's record holds (a namesake would stay, rightly), with those
    values as delivered and as standardised."""
    candidates = con.execute(
        """
        select xref.golden_customer_id
        from main.customer_source_xref as xref
        join intermediate.int_customer_records as records using (record_key)
        group by 1
        having count(distinct xref.source_name) >= 2
           and count(records.email_normalised) > 0 and count(records.national_id) > 0
           and count(records.mobile_phone_e164) > 0 and count(records.full_name) > 0
        order by 1
        """
    ).fetchall()
    for (golden_id,) in candidates:
        records = con.execute(
            "select source_name, source_record_id from main.customer_source_xref "
            "where golden_customer_id = ?",
            [golden_id],
        ).fetchall()
        values: set[str] = set()
        for column in STANDARDISED:
            values |= {
                row[0]
                for row in con.execute(
                    f"select {column} from intermediate.int_customer_records "
                    "where record_key in (select record_key from main.customer_source_xref "
                    f"where golden_customer_id = ?) and {column} is not null",
                    [golden_id],
                ).fetchall()
            }
        raw_emails = []
        for source in config.sources:
            ids = [record_id for name, record_id in records if name == source.name]
            if not ids:
                continue
            id_column = source.mapping["source_record_id"]
            for field in FIELDS:
                column = source.mapping.get(field)
                if not isinstance(column, str):
                    continue
                found = {
                    row[0]
                    for row in con.execute(
                        f'select "{column}" from raw.{source.name}__customers '
                        f'where "{id_column}" in (select unnest(?::varchar[])) '
                        f'and "{column}" is not null',
                        [ids],
                    ).fetchall()
                }
                values |= found
                if field == "email":
                    raw_emails += sorted(found)
        values = {value.strip() for value in values if len(value.strip()) >= 3}
        if raw_emails and _nobody_else_holds(con, golden_id, values):
            return golden_id, values, raw_emails[0]
    raise AssertionError("the demo has no canary person with unique values in two sources")


def _nobody_else_holds(con, golden_id: str, values: set[str]) -> bool:
    columns = STANDARDISED
    (others,) = con.execute(
        f"""
        select count(*) from intermediate.int_customer_records
        where record_key not in (
            select record_key from main.customer_source_xref where golden_customer_id = ?)
          and ({" or ".join(f"{column} in (select unnest(?::varchar[]))" for column in columns)})
        """,
        [golden_id, *([sorted(values)] * len(STANDARDISED))],
    ).fetchone()
    return others == 0


def _hits_in_tables(path: Path, values: set[str]) -> dict[str, int]:
    """Every column of every table, cast to text, searched for each value."""
    hits = {}
    with open_database(path, read_only=True) as con:
        con.execute("create temp table _canary (value varchar)")
        con.executemany("insert into _canary values (?)", [(value,) for value in values])
        # Base tables: the views (staging) only read them, and need dbt's Python functions.
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "join information_schema.tables using (table_catalog, table_schema, table_name) "
            "where table_catalog = current_database() and table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, table, column in columns:
            (count,) = con.execute(
                f'select count(*) from "{schema}"."{table}" '
                "where exists (select 1 from _canary "
                f'where contains(cast("{column}" as varchar), value))'
            ).fetchone()
            if count:
                hits[f"{schema}.{table}.{column}"] = count
    return hits


def _files_holding(folder: Path, values: set[str]) -> list[str]:
    needles = [value.encode("utf-8") for value in values]
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and any(needle in path.read_bytes() for needle in needles)
    )


def test_dry_run_lists_tables_and_masks(erased) -> None:
    _, _, golden_id, values, _, dry, _, _ = erased
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would remove" in dry.stdout
    assert "main.golden_customers" in dry.stdout
    assert golden_id in dry.stdout
    assert not [value for value in values if value in dry.stdout + dry.stderr]


def test_erased_person_is_nowhere(erased) -> None:
    root, _, golden_id, values, _, _, erase, _ = erased
    assert erase.returncode == 0, erase.stdout + erase.stderr
    assert not [value for value in values if value in erase.stdout + erase.stderr]
    folder = root / "warehouse"
    assert _hits_in_tables(folder / "custodian.duckdb", values) == {}
    assert _hits_in_tables(folder / "analytics.duckdb", values) == {}
    assert _files_holding(folder, values) == []
    with open_database(folder / "custodian.duckdb", read_only=True) as con:
        record = con.execute(
            "select identifier_kind, identifier_hash, requested_by, golden_customers, "
            "source_records, rows_by_table, compaction from privacy.erasure_requests"
        ).fetchall()
        (status,) = con.execute(
            "select status from er.golden_ids where golden_customer_id = ?", [golden_id]
        ).fetchone()
    assert len(record) == 1
    kind, digest, by, golden_customers, source_records, rows, compaction = record[0]
    assert (kind, by, golden_customers) == ("email", "dpo", 1)
    assert source_records >= 2
    assert digest not in values
    assert json.loads(rows)["main.golden_customers"] == 1
    assert json.loads(rows)["history.customer_record_versions"] >= 2
    # A value the canary shares with another customer (a household landline) stays in the
    # file and is said so; the byte search above proves the canary's own values gone.
    assert compaction.startswith(("checkpointed", "rewritten"))
    # The ledger keeps the ID (never issued again), retired, and no value with it.
    assert status == "retired"


def test_redelivered_day_does_not_bring_them_back(erased) -> None:
    root, env, _golden_id, values, raw_email, _, erase, _ = erased
    assert erase.returncode == 0, erase.stdout + erase.stderr
    rerun = custodian(env, "run", "--date", SECOND_DAY)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    folder = root / "warehouse"
    assert _hits_in_tables(folder / "custodian.duckdb", values) == {}
    assert _hits_in_tables(folder / "analytics.duckdb", values) == {}
    with open_database(folder / "custodian.duckdb", read_only=True) as con:
        suppressed = con.execute(
            "select sum(rows_skipped), string_agg(message, ' ') from ops.load_log "
            "where partition_date = ? and message like '%erased_person_suppressed%' "
            "and started_at > (select max(completed_at) from privacy.erasure_requests)",
            [SECOND_DAY],
        ).fetchone()
    assert (suppressed[0] or 0) >= 1, suppressed
    assert not [value for value in values if value in suppressed[1]]
    again = custodian(env, "erase", "--email", raw_email, "--reason", "again", "--by", "dpo")
    assert again.returncode == 2
    assert "nothing was erased" in again.stderr


def test_a_restored_backup_does_not_bring_the_person_back(erased, tmp_path: Path) -> None:
    root, env, golden_id, values, _, _, erase, (full, incremental) = erased
    assert erase.returncode == 0, erase.stdout + erase.stderr
    folder = root / "warehouse" / "backups"
    manifest = {backup.backup_id: backup for backup in load_manifest(folder)}
    assert manifest[full].kind == "full"
    assert manifest[incremental].parent == full
    assert manifest[incremental].verified
    # The second day changed some tables and not others: only those are in the increment.
    stored = {state.stored_in for state in manifest[incremental].tables.values()}
    assert stored == {full, incremental}
    # A backup file changed after it was written is refused.
    tampered = tmp_path / "backups"
    shutil.copytree(folder, tampered)
    increment = tampered / manifest[incremental].file
    content = bytearray(increment.read_bytes())
    content[len(content) // 2] ^= 0xFF
    increment.write_bytes(bytes(content))
    with pytest.raises(BackupError, match="does not match its checksum"):
        build_restore(tampered, list(manifest.values()), incremental, tmp_path / "out",
                      os.environ["CUSTODIAN_ENCRYPTION_KEY"])  # fmt: skip

    refused = custodian(env, "restore", incremental)
    assert refused.returncode == 2
    assert "--replace" in refused.stderr
    restored = custodian(env, "restore", incremental, "--replace")
    assert restored.returncode == 0, restored.stdout[-3000:] + restored.stderr[-3000:]
    assert "1 later erasure(s) replayed" in " ".join(restored.stdout.split())
    warehouse = root / "warehouse" / "custodian.duckdb"
    assert _hits_in_tables(warehouse, values) == {}
    with open_database(warehouse, read_only=True) as con:
        (golden,) = con.execute(
            "select count(*) from main.golden_customers where golden_customer_id = ?", [golden_id]
        ).fetchone()
        (others,) = con.execute("select count(*) from main.golden_customers").fetchone()
    assert golden == 0
    assert others > 100
    # The restored warehouse runs on.
    rerun = custodian(env, "run", "--date", SECOND_DAY)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert _hits_in_tables(warehouse, values) == {}


def test_a_request_file_is_carried_out_line_by_line(erased, tmp_path: Path) -> None:
    root, env, *_ = erased
    warehouse = root / "warehouse" / "custodian.duckdb"
    with open_database(warehouse, read_only=True) as con:
        (golden_id,) = con.execute(
            "select min(golden_customer_id) from main.golden_customers"
        ).fetchone()
    unknown = "nobody.at.all@example.invalid"
    bad = tmp_path / "bad.csv"
    bad.write_text("kind,identifier\nemail,x@example.cn\n", encoding="utf-8")
    refused = custodian(env, "erase", "--requests", str(bad))
    assert refused.returncode == 2
    assert "missing reason, requested_by" in " ".join(refused.stderr.split())
    requests = tmp_path / "requests.csv"
    requests.write_text(
        "kind,identifier,reason,requested_by\n"
        f"golden_id,{golden_id},art. 17 request,dpo\n"
        f"email,{unknown},art. 17 request,dpo\n",
        encoding="utf-8",
    )
    done = custodian(env, "erase", "--requests", str(requests))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    output = " ".join(done.stdout.split())
    assert "erased" in output
    assert "no match" in output
    assert unknown not in done.stdout + done.stderr
    assert _left_and_completed(warehouse, golden_id, "art. 17 request") == (0, 1)


def test_the_request_feed_carries_out_a_dropped_file_once(erased, monkeypatch) -> None:
    """R29's request feed: the sensor starts the erasure_requests job for each file in
    erasure.requests_folder; a file with a bad line erases nothing and is set aside with the
    reason, a good one is carried out, its results kept without identifiers and itself deleted."""
    import dagster as dg

    from dagster_project.definitions import build_definitions
    from dagster_project.defs.resources import GovernanceResource

    root, env, *_ = erased
    for name in ("CUSTODIAN_CONFIG", "CUSTODIAN_WAREHOUSE", "CUSTODIAN_MASKING_SALT",
                 "DAGSTER_HOME", "CUSTODIAN_ENCRYPTION_KEY"):  # fmt: skip
        monkeypatch.setenv(name, env[name])
    warehouse = root / "warehouse" / "custodian.duckdb"
    with open_database(warehouse, read_only=True) as con:
        (golden_id,) = con.execute(
            "select max(golden_customer_id) from main.golden_customers"
        ).fetchone()
    folder = root / "warehouse" / "erasure_requests"
    folder.mkdir()
    unknown = "nobody.in.the.feed@example.invalid"
    (folder / "bad.csv").write_text("kind,identifier,reason,requested_by\n"
                                    "passport,X1,art. 17,dpo\n", encoding="utf-8")  # fmt: skip
    (folder / "requests.csv").write_text(
        "kind,identifier,reason,requested_by\n"
        f"golden_id,{golden_id},art. 17 via feed,dpo\n"
        f"email,{unknown},art. 17 via feed,dpo\n",
        encoding="utf-8",
    )
    definitions = build_definitions(Path(env["CUSTODIAN_CONFIG"]))
    sensor = definitions.get_sensor_def("erasure_request_feed")
    job = definitions.resolve_job_def("erasure_requests")
    resources = {"governance": GovernanceResource(config_path=env["CUSTODIAN_CONFIG"])}
    with dg.DagsterInstance.ephemeral() as instance:
        tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources=resources))
        assert sorted(r.tags["erasure/request_file"] for r in tick.run_requests) == [
            "bad.csv", "requests.csv"
        ]  # fmt: skip
        runs = {
            request.tags["erasure/request_file"]: job.execute_in_process(
                run_config=request.run_config, instance=instance, raise_on_error=False
            )
            for request in tick.run_requests
        }
        assert not runs["bad.csv"].success
        assert runs["requests.csv"].success
        again = sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, resources=resources)
        )
        assert again.run_requests == []
    assert not (folder / "bad.csv").exists()
    assert "kind must be one of" in (folder / "rejected" / "bad.csv.error.txt").read_text()
    assert not (folder / "requests.csv").exists()
    (result_file,) = (folder / "results").glob("requests.*.csv")
    results = result_file.read_text(encoding="utf-8")
    assert "erased" in results
    assert "no match" in results
    assert unknown not in results
    assert _left_and_completed(warehouse, golden_id, "art. 17 via feed") == (0, 1)


def _left_and_completed(warehouse: Path, golden_id: str, reason: str) -> tuple[int, int]:
    """Rows the golden customer still has, and completion records with the request's reason."""
    with open_database(warehouse, read_only=True) as con:
        (left,) = con.execute(
            "select count(*) from main.golden_customers where golden_customer_id = ?",
            [golden_id],
        ).fetchone()
        (completed,) = con.execute(
            "select count(*) from privacy.erasure_requests where reason = ?", [reason]
        ).fetchone()
    return left, completed
