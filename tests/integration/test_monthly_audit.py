"""The monthly audit's numbers on records whose completeness and validity are known: each rate
is passing / population for its source, validity counts only records that have the value, a
record last delivered in another month is not measured, and re-running a month replaces it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from dagster_project.lib.audit.monthly import run_monthly_audit
from tests.support.database import open_database

NOVEMBER = (date(2026, 11, 1), date(2026, 12, 1))


def _warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    con = open_database(path)
    con.execute("create schema intermediate; create schema audit")
    con.execute(
        """
        create table intermediate.int_customer_records as
        select * from (values
            -- crm: 4 in November; e-mail on 3, valid on 2; a mobile on 1, a landline on 1
            ('crm', date '2026-11-02', 'a@x.cn', true,  '+8613800000001', null, true),
            ('crm', date '2026-11-03', 'b@x',    false, null, '+861065550000', null),
            ('crm', date '2026-11-30', 'c@x.cn', true,  null, null, null),
            ('crm', date '2026-11-30', null,     null,  null, null, null),
            -- October: not November's
            ('crm', date '2026-10-31', null,     null,  null, null, null),
            -- web: 2 in November, both e-mails invalid
            ('web_signup', date '2026-11-05', 'x@', false, null, null, null),
            ('web_signup', date '2026-11-06', 'y@', false, null, null, null)
        ) t(source_name, latest_partition_date, email_normalised, email_is_valid,
            mobile_phone_e164, landline_phone_e164, mobile_phone_is_valid)
        """
    )
    # The other columns the audit reads, all missing.
    for column in ("full_name", "date_of_birth", "address_line"):
        con.execute(f"alter table intermediate.int_customer_records add column {column} varchar")
    for field in ("name", "gender", "date_of_birth", "national_id", "landline_phone",
                  "postal_code", "country_code"):  # fmt: skip
        con.execute(
            f"alter table intermediate.int_customer_records add column {field}_is_valid boolean"
        )
    return con


def _metrics(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str, str], tuple]:
    rows = con.execute(
        "select source_name, dimension, field_name, records, passing, rate "
        "from audit.quality_metrics where audit_month = date '2026-11-01'"
    ).fetchall()
    return {(s, d, f): (records, passing, rate) for s, d, f, records, passing, rate in rows}


def test_rates_are_passing_over_population_per_source_and_month(tmp_path: Path) -> None:
    con = _warehouse(tmp_path / "w.duckdb")
    written = run_monthly_audit(con, *NOVEMBER, run_id="audit-1")
    metrics = _metrics(con)
    assert written == len(metrics)
    assert metrics["crm", "completeness", "email"] == (4, 3, pytest.approx(0.75))
    # Mobile or landline counts as a phone.
    assert metrics["crm", "completeness", "mobile_phone"] == (4, 2, pytest.approx(0.5))
    assert metrics["crm", "completeness", "full_name"] == (4, 0, 0.0)
    # Validity over the records that have an e-mail: 2 of 3, not 2 of 4.
    assert metrics["crm", "validity", "email"] == (3, 2, pytest.approx(2 / 3))
    assert metrics["web_signup", "validity", "email"] == (2, 0, 0.0)
    # No crm record has a national ID: no validity row rather than a rate of 0 / 0.
    assert ("crm", "validity", "national_id") not in metrics


def test_rerunning_a_month_replaces_its_metrics(tmp_path: Path) -> None:
    con = _warehouse(tmp_path / "w.duckdb")
    run_monthly_audit(con, *NOVEMBER, run_id="audit-1")
    first = _metrics(con)
    con.execute(
        "update intermediate.int_customer_records set email_is_valid = true "
        "where source_name = 'web_signup'"
    )
    run_monthly_audit(con, *NOVEMBER, run_id="audit-2")
    second = _metrics(con)
    assert second.keys() == first.keys()
    assert second["web_signup", "validity", "email"] == (2, 2, 1.0)
    runs = con.execute("select distinct run_id from audit.quality_metrics").fetchall()
    assert runs == [("audit-2",)]
