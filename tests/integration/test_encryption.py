"""Encryption at rest (R26): every platform database file is encrypted with the key in
$CUSTODIAN_ENCRYPTION_KEY, spills are encrypted, a missing or wrong key says what to set, and a
file written before encryption is encrypted by `custodian encrypt`."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dagster_project import cli
from dagster_project.lib.privacy import sandbox
from dagster_project.lib.warehouse import (
    EncryptedFileError,
    attach,
    connect,
    scratch_connection,
)

CANARY = "CanaryZhangSanfeng"
runner = CliRunner()


def _plain_database(path: Path) -> None:
    """A database file as a version before encryption at rest wrote it."""
    with scratch_connection() as con:
        attach(con, path, "plain", "")
        # A few rows: many would be compressed (FSST) and their text no longer found in bytes.
        con.execute(f"create table plain.customers as select '{CANARY}' || range as name "
                    "from range(3)")  # fmt: skip


def test_the_warehouse_file_is_encrypted_and_opens_again_with_its_key(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        con.execute(f"create table raw.people as select '{CANARY}' || range as name from range(3)")
        con.execute("checkpoint")
    assert path.stat().st_size > 0
    assert CANARY.encode() not in path.read_bytes()
    with connect(path, read_only=True) as con:
        assert con.execute("select count(*) from raw.people").fetchone()[0] == 3
        assert con.execute("select current_database()").fetchone()[0] == "custodian"
    # The same bytes in a plain file are there to find: the search above could have seen them.
    plain = tmp_path / "plain.duckdb"
    _plain_database(plain)
    assert CANARY.encode() in plain.read_bytes()


def test_a_missing_key_names_the_variable_to_set(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("CUSTODIAN_ENCRYPTION_KEY")
    with pytest.raises(EncryptedFileError) as caught:
        connect(tmp_path / "w.duckdb")
    assert "$CUSTODIAN_ENCRYPTION_KEY is not set" in str(caught.value)
    assert ".custodian/encryption.key" in str(caught.value)
    assert not (tmp_path / "w.duckdb").exists()


def test_a_wrong_key_names_the_variable_and_never_prints_a_key(tmp_path, monkeypatch) -> None:
    path = tmp_path / "w.duckdb"
    connect(path).close()
    monkeypatch.setenv("CUSTODIAN_ENCRYPTION_KEY", "another-key-1234")
    with pytest.raises(EncryptedFileError) as caught:
        connect(path, read_only=True)
    message = str(caught.value)
    assert "Wrong encryption key" in message
    assert "$CUSTODIAN_ENCRYPTION_KEY" in message
    assert "another-key-1234" not in message
    assert os.environ["CUSTODIAN_ENCRYPTION_KEY"] not in message


def test_a_plain_file_is_refused_naming_custodian_encrypt(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    _plain_database(path)
    with pytest.raises(EncryptedFileError) as caught:
        connect(path, read_only=True)
    assert "written without encryption" in str(caught.value)
    assert "custodian encrypt" in str(caught.value)


def test_custodian_encrypt_encrypts_the_plain_warehouse_and_keeps_its_rows(isolated_env) -> None:
    warehouse = isolated_env / "warehouse" / "custodian.duckdb"
    warehouse.parent.mkdir()
    _plain_database(warehouse)
    done = runner.invoke(cli.app, ["encrypt"])
    assert done.exit_code == 0, done.output
    assert f"{warehouse}:encrypted" in "".join(done.output.split())
    assert CANARY.encode() not in warehouse.read_bytes()
    assert not list(warehouse.parent.glob("*.compacting*"))
    with connect(warehouse, read_only=True) as con:
        assert con.execute("select count(*) from customers").fetchone()[0] == 3
    again = runner.invoke(cli.app, ["encrypt"])
    assert again.exit_code == 0, again.output
    assert "already encrypted" in again.output


def test_a_run_without_the_key_stops_before_any_step_saying_what_to_set(
    isolated_env, monkeypatch
) -> None:
    monkeypatch.delenv("CUSTODIAN_ENCRYPTION_KEY")
    done = runner.invoke(cli.app, ["audit", "--month", "2026-10"])
    assert done.exit_code == 2, done.output
    assert "$CUSTODIAN_ENCRYPTION_KEY is not set" in " ".join(done.output.split())
    assert "Traceback" not in done.output


def test_spill_files_are_encrypted(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    spill = tmp_path / "w.duckdb.tmp"
    with connect(path) as con:
        con.execute("set memory_limit = '40MB'; set threads = 1; "
                    "set preserve_insertion_order = false")  # fmt: skip
        con.execute(f"create temp table big as select '{CANARY}' || range as name, random() as r "
                    "from range(3000000)")  # fmt: skip
        result = con.execute("select name from big order by r")  # spills to sort
        spilled = [Path(f) for f in glob.glob(str(spill / "*"))]
        contents = [f.read_bytes() for f in spilled]
        result.fetchone()
    assert spilled, "nothing spilled: the test no longer exercises spill files"
    assert not [
        f for f, content in zip(spilled, contents, strict=True) if CANARY.encode() in content
    ]


def test_the_analyst_sandbox_reads_an_encrypted_file_and_reaches_nothing_else(tmp_path) -> None:
    path = tmp_path / "analytics.duckdb"
    with connect(path) as con:
        con.execute("create table golden_customers as select 'GC1' as golden_customer_id")
    assert sandbox.run_query(path, "select * from golden_customers", None).rows == [("GC1",)]
    with pytest.raises(sandbox.QueryRefusedError, match="disabled"):
        sandbox.run_query(path, "select * from read_csv('/etc/passwd')", None)


def test_a_second_connection_in_the_same_process_shares_the_open_one(tmp_path: Path) -> None:
    # DuckDB lets one instance attach a file; a second connect() here must not fail on it.
    path = tmp_path / "w.duckdb"
    first = connect(path)
    second = connect(path, timeout=0)
    reader = connect(path, read_only=True, timeout=0)
    second.execute("create table raw.t as select 1 as x")
    assert first.execute("select count(*) from raw.t").fetchone()[0] == 1
    first.close()
    assert reader.execute("select x from raw.t").fetchone()[0] == 1
    second.close()
    reader.close()
    # Every connection closed: the file is free again, for a new read-only open too.
    with connect(path, read_only=True, timeout=0) as again:
        assert again.execute("select x from raw.t").fetchone()[0] == 1
