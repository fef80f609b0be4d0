"""The pseudonymous keys the warehouse keeps of archived customers (lib/privacy/archive.py):
their own module, so that the history step can read them without importing the archive."""

ARCHIVED_CUSTOMERS = "privacy.archived_customers"
ARCHIVED_RECORDS = "privacy.archived_records"
KEYS_DDL = f"""
create table if not exists {ARCHIVED_CUSTOMERS} (
    golden_customer_id varchar not null,
    last_activity_date date,
    archived_on date not null,
    run_id varchar,
    destroyed_on date
);
create table if not exists {ARCHIVED_RECORDS} (
    record_key varchar not null,
    source_name varchar not null,
    golden_customer_id varchar not null,
    raw_fingerprint varchar,
    archived_on date not null,
    run_id varchar,
    destroyed_on date
)
"""
