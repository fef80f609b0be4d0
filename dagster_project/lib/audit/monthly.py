"""The monthly quality audit: completeness and validity per source and field.

Issue 7+ deepens this (all five dimensions, per-record scores, trends, the board); the skeleton
measures what the canonical records already carry so the job has real numbers from day one.
"""

from __future__ import annotations

from datetime import date

import duckdb

from dagster_project.canonical import VALIDATED_FIELDS

QUALITY_METRICS_DDL = """
create table if not exists audit.quality_metrics (
    audit_month date not null,
    source_name varchar not null,
    dimension varchar not null,
    field_name varchar not null,
    records bigint not null,
    passing bigint not null,
    rate double,
    run_id varchar,
    measured_at timestamp not null
)
"""

# Completeness: field -> "this field is present", over all records.
COMPLETENESS = {
    "full_name": "full_name is not null",
    "date_of_birth": "date_of_birth is not null",
    "mobile_phone": "mobile_phone_e164 is not null or landline_phone_e164 is not null",
    "email": "email_normalised is not null",
    "address_line": "address_line is not null",
}
# Validity: field -> (present, valid). Measured over records that have a value, so a missing
# e-mail counts against completeness only, not twice.
# Every standardised field carries <field>_is_valid, null when the value was not given.
VALIDITY = {
    field: (f"{field}_is_valid is not null", f"{field}_is_valid")
    for field in VALIDATED_FIELDS.values()
}


def run_monthly_audit(
    con: duckdb.DuckDBPyConnection, month_start: date, month_end: date, run_id: str
) -> int:
    """Measure records last delivered in [month_start, month_end); returns metric rows written."""
    con.execute(QUALITY_METRICS_DDL)
    con.execute("begin transaction")
    con.execute("delete from audit.quality_metrics where audit_month = ?", [month_start])
    measures = [("completeness", f, "true", p) for f, p in COMPLETENESS.items()] + [
        ("validity", f, present, valid) for f, (present, valid) in VALIDITY.items()
    ]
    for dimension, field_name, population, predicate in measures:
        con.execute(
            f"""
            insert into audit.quality_metrics
            select ?::date, source_name, ?, ?, count(*),
                   count(*) filter (where {predicate}),
                   count(*) filter (where {predicate}) / nullif(count(*), 0),
                   ?, now()::timestamp
            from intermediate.int_customer_records
            where latest_partition_date >= ? and latest_partition_date < ?
              and ({population})
            group by source_name
            """,
            [month_start, dimension, field_name, run_id, month_start, month_end],
        )
    written = con.execute(
        "select count(*) from audit.quality_metrics where audit_month = ?", [month_start]
    ).fetchone()[0]
    con.execute("commit")
    return written
