"""Baselines over the standardised records (intermediate.int_customer_records), so every method
sees exactly the data the pipeline saw. Each returns one row per record: record_key, cluster_id.

- exact_name: one customer per name_sorted_key (the name parts in any order and script).
- exact_name_dob: one customer per (name_sorted_key, date_of_birth).
- identifier_union: connected components over records sharing any equal identifier: mobile,
  landline, e-mail, national ID. Values flagged invalid count too (an ID with a bad check digit
  is still the same typed number); phones the validator rejected have no E.164 form and are
  compared on their digits when the warehouse keeps them.
- splink_default: what a Splink 5 user would write first: the comparison library's defaults on
  the populated columns, u by random sampling, m by EM on two blocks, links at 0.9.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

import duckdb
import pyarrow as pa

RECORD_COLUMNS = (
    "record_key",
    "name_sorted_key",
    "name_joined_key",
    "date_of_birth",
    "city_key",
    "postal_code",
    "email_normalised",
    "email_is_placeholder",
    "mobile_phone_e164",
    "landline_phone_e164",
    "mobile_phone_digits",
    "landline_phone_digits",
    "national_id",
    "company_name",
)


def read_records(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """The columns the baselines use; one the warehouse lacks (an older build) is null."""
    present = {
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'intermediate' and table_name = 'int_customer_records'"
        ).fetchall()
    }
    columns = [c if c in present else f"null::varchar as {c}" for c in RECORD_COLUMNS]
    return con.execute(
        f"select {', '.join(columns)} from intermediate.int_customer_records"
    ).to_arrow_table()


def components(record_keys: Sequence[str], key_lists: Iterable[Sequence[Any]]) -> pa.Table:
    """Connected components: records sharing a non-null value in any of `key_lists` (one value
    per record each) are one customer. Union-find with path halving."""
    parent = list(range(len(record_keys)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for values in key_lists:
        first_with: dict[Any, int] = {}
        for i, value in enumerate(values):
            if value is None:
                continue
            j = first_with.setdefault(value, i)
            root_i, root_j = find(i), find(j)
            if root_i != root_j:
                parent[root_i] = root_j
    return pa.table(
        {
            "record_key": list(record_keys),
            "cluster_id": [record_keys[find(i)] for i in range(len(record_keys))],
        }
    )


def _column(records: pa.Table, name: str) -> list[Any]:
    return records.column(name).to_pylist()


def exact_name(records: pa.Table) -> pa.Table:
    return components(_column(records, "record_key"), [_column(records, "name_sorted_key")])


def exact_name_dob(records: pa.Table) -> pa.Table:
    names, dobs = _column(records, "name_sorted_key"), _column(records, "date_of_birth")
    keys = [
        f"{n}|{d}" if n is not None and d is not None else None
        for n, d in zip(names, dobs, strict=True)
    ]
    return components(_column(records, "record_key"), [keys])


def _phone_keys(e164: list[str | None], digits: list[str | None]) -> list[str | None]:
    # A valid number by its E.164 form; a rejected one by its last nine digits, which survive
    # the +86 / 0086 / trunk-0 a source may or may not write.
    return [
        e if e is not None else (f"digits:{d[-9:]}" if d and len(d) >= 7 else None)
        for e, d in zip(e164, digits, strict=True)
    ]


def identifier_union(records: pa.Table) -> tuple[pa.Table, dict[str, Any]]:
    placeholder = _column(records, "email_is_placeholder")
    # noemail@test.com is on strangers' records by design: not an identifier.
    emails = [
        e if not p else None
        for e, p in zip(_column(records, "email_normalised"), placeholder, strict=True)
    ]
    mobile_digits = _column(records, "mobile_phone_digits")
    landline_digits = _column(records, "landline_phone_digits")
    key_lists = [
        _phone_keys(_column(records, "mobile_phone_e164"), mobile_digits),
        _phone_keys(_column(records, "landline_phone_e164"), landline_digits),
        emails,
        _column(records, "national_id"),
    ]
    details = {
        "invalid_phones_compared_on_digits": any(d is not None for d in mobile_digits)
        or any(d is not None for d in landline_digits),
    }
    return components(_column(records, "record_key"), key_lists), details


# --- Splink with a default config -----------------------------------------------------------------

IDENTIFIERS = ("mobile_phone_e164", "landline_phone_e164", "email_normalised", "national_id")


def splink_default(records: pa.Table, seed: int = 42) -> tuple[pa.Table, dict[str, Any]]:
    """A first Splink 5 model: comparison-library defaults on the columns this data set fills.

    Every record is one input (dedupe_only over the union of sources). Blocking: each populated
    identifier, name + birth date, name + city. The prior from the identifier and name + birth
    date rules (recall 0.7) when there are any, else Splink's default; u by random sampling; m by
    EM on a name block and a birth date (else city) block. Pairs at >= 0.9 are linked and
    clustered by Splink's connected components.
    """
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    started = time.perf_counter()
    con = duckdb.connect()
    try:
        con.register("_records", records)
        con.execute(
            "create table records as select record_key, name_joined_key, date_of_birth, "
            "city_key, postal_code, case when email_is_placeholder then null "
            "else email_normalised end as email_normalised, mobile_phone_e164, "
            "landline_phone_e164, national_id, nullif(upper(trim(company_name)), '') "
            "as company_name from _records"
        )
        counts = con.execute(
            "select " + ", ".join(f"count({c})" for c in _SPLINK_COLUMNS) + " from records"
        ).fetchone()
        populated = {c for c, n in zip(_SPLINK_COLUMNS, counts, strict=True) if n}
        comparisons = []
        if "name_joined_key" in populated:
            comparisons.append(cl.NameComparison("name_joined_key"))
        if "date_of_birth" in populated:
            comparisons.append(cl.DateOfBirthComparison("date_of_birth", input_is_string=False))
        for column in ("city_key", "postal_code", "company_name"):
            if column in populated:
                comparisons.append(cl.ExactMatch(column))
        if "email_normalised" in populated:
            comparisons.append(cl.EmailComparison("email_normalised"))
        for column in ("mobile_phone_e164", "landline_phone_e164"):
            if column in populated:
                comparisons.append(cl.ExactMatch(column))
        if "national_id" in populated:
            comparisons.append(cl.LevenshteinAtThresholds("national_id"))
        identifiers = [c for c in IDENTIFIERS if c in populated]
        name_keys = [
            ("name_joined_key", other)
            for other in ("date_of_birth", "city_key")
            if {"name_joined_key", other} <= populated
        ]
        identifier_rules = [block_on(c) for c in identifiers]
        name_rules = [block_on(*columns) for columns in name_keys]
        settings = SettingsCreator(
            link_type="dedupe_only",
            unique_id_column_name="record_key",
            comparisons=comparisons,
            blocking_rules_to_generate_predictions=identifier_rules + name_rules,
        )
        linker = Linker(DuckDBAPI(con).register("records"), settings, log_level=logging.ERROR)
        notes: list[str] = []
        # Name + birth date is near-deterministic; name + city is not (frequent names).
        deterministic = identifier_rules + [
            block_on(*columns) for columns in name_keys if "date_of_birth" in columns
        ]
        if deterministic:
            linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
        else:
            notes.append("no deterministic rule: Splink's default prior")
        linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
        em_blocks = [("name_joined_key",)]
        em_blocks.append(("date_of_birth",) if "date_of_birth" in populated else ("city_key",))
        trained = []
        for columns in em_blocks:
            if not set(columns) <= populated:
                continue
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(
                    block_on(*columns)
                )
                trained.append("+".join(columns))
            except Exception as exc:  # a failed EM block is reported, the model still scores
                notes.append(f"EM on {'+'.join(columns)} failed: {str(exc)[:300]}")
        predictions = linker.inference.predict(threshold_match_probability=0.9)
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=0.9
        )
        membership = con.execute(
            f"select record_key, cluster_id from {clusters.physical_name}"
        ).to_arrow_table()
        pairs = con.execute(f"select count(*) from {predictions.physical_name}").fetchone()[0]
    finally:
        con.close()
    return membership, {
        "columns_compared": sorted(populated),
        "blocking_rules": identifiers + ["+".join(columns) for columns in name_keys],
        "em_blocks": trained,
        "pairs_at_or_above_0.9": int(pairs),
        "notes": notes,
        "seconds": round(time.perf_counter() - started, 2),
    }


_SPLINK_COLUMNS = (
    "name_joined_key",
    "date_of_birth",
    "city_key",
    "postal_code",
    "company_name",
    "email_normalised",
    "mobile_phone_e164",
    "landline_phone_e164",
    "national_id",
)
