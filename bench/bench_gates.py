"""Benchmark: every quality gate (Great Expectations suite) at 1,000,000 source records.

Run with `uv run python bench/bench_gates.py [--records N]`. It builds, with DuckDB SQL, a
warehouse shaped as the daily pipeline leaves it on the heaviest day, day one (a full extract:
every record is in the day's partition):

- raw.<source>__customers for the four sources of governance.yaml, N records in all, with the
  sources' own column names, lineage columns and an ops.load_log row each;
- intermediate.int_customer_records, N rows with the columns of issue 4 and realistic invalid
  shares (3% invalid e-mails, 1.5% invalid mobiles, 2% bad ID check digits ...);
- candidate.customer_source_xref (N rows) and candidate.golden_customers (0.46 N customers,
  clusters of 1-8 records).

Then it runs each shipped suite's gate as the Dagster check does (`validate_table` for the
partition, Data Docs pages written, results recorded in quality.gate_results) and writes
per-suite seconds and rows/s to `bench/results/gates.json`. Great Expectations' import and
context set-up (once per process) is reported apart. The warehouse goes to a temporary directory
that is removed.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from dagster_project.config import load_config
from dagster_project.lib.ingest.loader import ensure_ops_tables
from dagster_project.lib.monitoring.events import monitor_day
from dagster_project.lib.quality.gates import validate_table
from dagster_project.lib.quality.gx_engine import gx_batch_definition
from dagster_project.lib.quality.results import record_outcome
from dagster_project.lib.quality.suites import discover_suites
from dagster_project.lib.warehouse import connect as warehouse_connect
from dagster_project.settings import PROJECT_ROOT

RESULTS = Path(__file__).parent / "results" / "gates.json"
DAY = date(2026, 11, 1)
# Shares of records per source, from the demo generator's presence rates (0.70/0.50/0.45/0.40).
SOURCE_SHARES = {"crm": 0.34, "erp_billing": 0.24, "web_signup": 0.22, "call_center": 0.20}


def _chance(i: str, salt: str, per_thousand: float) -> str:
    """A deterministic pseudo-random event with the given rate, per row."""
    return f"(hash({i}, '{salt}') % 100000) < {int(per_thousand * 100)}"


def _validity(column: str, missing_per_thousand: float, invalid_per_thousand: float) -> str:
    """A `<field>_is_valid` flag: NULL when not given, FALSE when invalid, else TRUE."""
    return (
        f"case when {_chance('i', column + 'm', missing_per_thousand)} then null "
        f"when {_chance('i', column, invalid_per_thousand)} then false else true end"
    )


def _raw_table(con: duckdb.DuckDBPyConnection, source: str, columns: list[str], rows: int) -> None:
    text = {
        column: f"'{source}-' || {column!r} || '-' || (i % 9973)::varchar" for column in columns
    }
    ids = {
        "crm": "'CRM' || lpad(i::varchar, 8, '0')",
        "erp_billing": "'ERP-' || lpad(i::varchar, 9, '0')",
        "web_signup": "'W-' || md5(i::varchar)[:12]",
        "call_center": "'CC-' || lpad(i::varchar, 8, '0')",
    }
    key_column = {
        "crm": "customer_no",
        "erp_billing": "客户编号",
        "web_signup": "user_id",
        "call_center": "contact_id",
    }[source]
    text[key_column] = ids[source]
    if source == "web_signup":
        text["address"] = (
            """'{"line1": "' || (i % 999)::varchar || ' High St", "city": "London", """
            """"region": "LDN", "postcode": "E1 6AN", "country": "GB"}'"""
        )
    if source == "call_center":
        text.update(
            dob_year="(1950 + i % 50)::varchar",
            dob_month="(1 + i % 12)::varchar",
            dob_day="(1 + i % 28)::varchar",
        )
    selects = ", ".join(f'{expression} as "{column}"' for column, expression in text.items())
    con.execute(
        f"""
        create table raw.{source}__customers as
        select {selects},
            '{source}' as _source_name, date '{DAY}' as _partition_date,
            'landing/{source}/{DAY}.file' as _file_path, md5('{source}') as _file_sha256,
            i + 2 as _row_number, now()::timestamp as _loaded_at, 'bench' as _run_id
        from range({rows}) t(i)
        """
    )
    con.execute(
        """
        insert into ops.load_log values
        ('bench', ?, ?, 'landing', 'sha', 'loaded', ?, ?, ?, 0, [], null,
         now()::timestamp, now()::timestamp, 1000, null)
        """,
        [source, DAY, rows + rows // 500, rows, rows // 500],
    )


def build_warehouse(path: Path, records: int) -> dict[str, int]:
    """The day-one warehouse described in the module docstring; returns rows per table."""
    config = load_config(PROJECT_ROOT / "governance.yaml")
    from dagster_project.lib.demo.sources import COLUMNS

    counts: dict[str, int] = {}
    with warehouse_connect(path) as con:
        for schema in ("raw", "ops", "quarantine", "intermediate", "quality", "candidate"):
            con.execute(f"create schema if not exists {schema}")
        ensure_ops_tables(con)
        for source in config.sources:
            rows = int(records * SOURCE_SHARES[source.name])
            _raw_table(con, source.name, list(COLUMNS[source.name]), rows)
            counts[f"raw.{source.name}__customers"] = rows

        source_case = (
            "case when i % 100 < 34 then 'crm' when i % 100 < 58 then 'erp_billing' "
            "when i % 100 < 80 then 'web_signup' else 'call_center' end"
        )
        con.execute(
            f"""
            create table intermediate.int_customer_records as
            with base as (select i, {source_case} as source_name from range({records}) t(i))
            select
                source_name || ':' || i as record_key, source_name, i::varchar as source_record_id,
                (i % 4 + 1)::integer as trust_rank,
                '张' || (i % 977)::varchar as full_name, '张' as family_name, '三' as given_name,
                case when i % 10 < 6 then 'han' else 'latin' end as name_script,
                {_validity("name_is_valid", 5, 5)} as name_is_valid,
                case when i % 3 = 0 then 'M' when i % 3 = 1 then 'F' end as gender,
                (date '1950-01-01' + (i % 20000)::integer) as date_of_birth,
                {_validity("date_of_birth_is_valid", 150, 10)} as date_of_birth_is_valid,
                '1101011990' || lpad((i % 100000000)::varchar, 8, '0') as national_id,
                {_validity("national_id_is_valid", 400, 20)} as national_id_is_valid,
                case when {_chance("i", "nidob", 20)} then false else true end
                    as national_id_matches_date_of_birth,
                '+86138' || lpad((i % 100000000)::varchar, 8, '0') as mobile_phone_e164,
                {_validity("mobile_phone_is_valid", 50, 15)} as mobile_phone_is_valid,
                case when not mobile_phone_is_valid then 'too_short' end
                    as mobile_phone_invalid_reason,
                {_validity("landline_phone_is_valid", 500, 20)} as landline_phone_is_valid,
                'user' || i || '@qq.com' as email_normalised,
                {_validity("email_is_valid", 100, 30)} as email_is_valid,
                case when not email_is_valid then 'no_domain' end as email_invalid_reason,
                case when {_chance("i", "ph", 5)} then true else false end as email_is_placeholder,
                '天河路' || (i % 999)::varchar || '号' as address_line,
                {_validity("postal_code_is_valid", 100, 10)} as postal_code_is_valid,
                case when i % 10 < 6 then 'CN' when i % 10 < 8 then 'GB' else 'US' end
                    as country_code,
                {_validity("country_code_is_valid", 50, 5)} as country_code_is_valid,
                case when source_name = 'crm' then
                    ['Bronze', 'Silver', 'Gold', 'Platinum', null][i % 5 + 1] end
                    as membership_level,
                timestamp '2026-10-31 22:00:00' - to_seconds((i % 86400000)::bigint)
                    as updated_at,
                case when source_name = 'call_center' then
                    timestamp '2026-10-31 22:00:00' - to_seconds((i % 3000000)::bigint) end
                    as last_interaction_at,
                ((i % 10) + 1) / 10.0 as completeness_score,
                date '{DAY}' as first_seen_date, date '{DAY}' as last_seen_date,
                1 as delivery_count, date '{DAY}' as latest_partition_date,
                i + 2 as source_row_number
            from base
            """
        )
        counts["intermediate.int_customer_records"] = records
        # Golden customers: 0.46 per record (demo: 460,000 people per 1,000,000 records).
        con.execute(
            """
            create table candidate.customer_source_xref as
            select record_key, 'G' || lpad((floor(i * 0.46))::bigint::varchar, 9, '0')
                as golden_customer_id, source_name, source_record_id
            from (select row_number() over () - 1 as i, * from intermediate.int_customer_records)
            """
        )
        con.execute(
            """
            create table candidate.golden_customers as
            select golden_customer_id, any_value(full_name) as full_name,
                any_value(email_normalised) as email,
                any_value(mobile_phone_e164) as mobile_phone_e164,
                any_value(date_of_birth) as date_of_birth, count(*) as source_record_count,
                list_sort(list_distinct(list(xref.source_name))) as sources_present,
                len(list_distinct(list(xref.source_name))) as source_count
            from candidate.customer_source_xref xref
            join intermediate.int_customer_records using (record_key)
            group by golden_customer_id
            """
        )
        for table in ("candidate.customer_source_xref", "candidate.golden_customers"):
            counts[table] = con.execute(f"select count(*) from {table}").fetchone()[0]
        # Monitoring's tables, as its asset leaves them on a day with nothing published yet
        # (every rule waits for main.*): their suites run on what the day has.
        monitor_day(con, config, DAY, run_id="bench", recorded_at=datetime(2026, 11, 2, tzinfo=UTC))
        for table in ("monitoring.risk_events", "monitoring.customer_risk"):
            counts[table] = con.execute(f"select count(*) from {table}").fetchone()[0]
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--build-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        print(json.dumps(build_warehouse(args.build_only, args.records)))
        return
    config = load_config(PROJECT_ROOT / "governance.yaml")
    suites = discover_suites(PROJECT_ROOT / "expectations", [s.name for s in config.sources])
    workdir = Path(tempfile.mkdtemp(prefix="bench_gates_"))
    try:
        warehouse = workdir / "warehouse.duckdb"
        clock = time.perf_counter()
        # Built in a child process, so this process's peak memory is the gates' alone.
        built = subprocess.run(
            [sys.executable, __file__, "--records", str(args.records), "--build-only", warehouse],
            capture_output=True,
            text=True,
            check=True,
        )
        counts = json.loads(built.stdout.strip().splitlines()[-1])
        build_s = time.perf_counter() - clock
        print(f"warehouse built in {build_s:.1f}s: {counts}", flush=True)

        clock = time.perf_counter()
        gx_batch_definition()
        gx_setup_s = time.perf_counter() - clock

        per_suite = {}
        partition = (DAY.isoformat(), DAY.isoformat())
        for suite in suites:
            with warehouse_connect(warehouse) as con:
                clock = time.perf_counter()
                outcome = validate_table(
                    con,
                    suite,
                    partition=partition,
                    config=config,
                    run_id="bench",
                    data_docs_dir=workdir / "data_docs",
                )
                record_outcome(con, outcome, "bench", partition[0])
                seconds = time.perf_counter() - clock
            key = "/".join(suite.asset_key)
            failed = [f"{o.check_name}[{o.slice_name}]" for o in outcome.outcomes if not o.success]
            per_suite[key] = {
                "seconds": round(seconds, 2),
                "rows": outcome.rows_validated,
                "rows_per_s": round(outcome.rows_validated / seconds) if seconds else None,
                "expectations": len(suite.expectations),
                "verdicts": len(outcome.outcomes),
                "data_docs_pages": len(outcome.data_docs_pages),
                "failed": failed,
            }
            print(f"{key}: {per_suite[key]}", flush=True)
        total = sum(entry["seconds"] for entry in per_suite.values())
        results = {
            "benchmark": f"quality gates, day one of {args.records:,} source records",
            "records": args.records,
            "rows_per_table": counts,
            "great_expectations_import_and_context_s": round(gx_setup_s, 2),
            "per_suite": per_suite,
            "all_gates_s": round(total, 2),
            "all_gates_with_gx_setup_s": round(total + gx_setup_s, 2),
            "peak_rss_mib_gates_process": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            ),
            "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        print(f"all gates: {total:.1f}s (+{gx_setup_s:.1f}s GE set-up); results in {RESULTS}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
