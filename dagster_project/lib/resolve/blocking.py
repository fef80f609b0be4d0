"""Blocking: which pairs of records are compared at all.

Pairs are only scored when they share a blocking key (BLOCKING_KEYS). Each run keeps the keys,
in order, while the pairs they generate stay within a budget per record (choose_blocking_keys),
so a data set is compared by the keys its fields allow. A key value shared by more than
`max_records_per_block_key` records is not one block but overlapping windows of neighbours
(with_blocking_keys_sql): a placeholder (a call-centre switchboard number on 300 records,
1900-01-01) would otherwise put 300 x 299 / 2 = 44,850 pairs of strangers into one block and
chain them into one "customer".

The keys are `block_<name>` columns added to the match input; Splink's blocking rules compare
those columns (blocking_rules, blocking_rule_dicts). Nothing here knows the model's weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
from splink import block_on


@dataclass(frozen=True)
class BlockingKey:
    """Records sharing a value of `columns` (all present) are compared.

    `is_list`: the column holds a list and a record joins one block per element (any phone of
    one record equal to any phone of the other; any name part with the birth date, which finds
    周女士 born 1970-07-16 for 周凤妍 born that day).
    """

    name: str
    columns: tuple[str, ...]
    is_list: bool = False


# Pairs are scored when they share a key. Each finds matches the others miss; they are tried in
# this order and kept while the comparisons they add stay within the budget of pairs per record
# (`choose_blocking_keys`), so a data set uses the keys its fields allow: with phones and
# e-mails the first few find nearly everything, with names and birth dates only the fuzzy ones
# at the end do the work.
BLOCKING_KEYS: tuple[BlockingKey, ...] = (
    # Identifiers, each alone: any phone (valid or not, last nine digits), e-mail, ID number.
    BlockingKey("phone", ("any_phone_tails",), is_list=True),
    BlockingKey("email", ("email_normalised",)),
    BlockingKey("national_id", ("national_id_any",)),
    # A name part with the full birth date: survives a typo or a change in the other parts.
    BlockingKey("name_token_dob", ("name_token_dob",), is_list=True),
    BlockingKey("name_city", ("name_sorted_key", "city_key")),
    BlockingKey("dob_postcode", ("date_of_birth", "postal_code")),
    BlockingKey("dob_city", ("date_of_birth", "city_key")),
    BlockingKey("street_postcode", ("street_line", "postal_code")),
    BlockingKey("house_postcode", ("house_number", "postal_code")),
    BlockingKey("name_postcode", ("name_sorted_key", "postal_code")),
    BlockingKey("street_city", ("street_line", "city_key")),
    # Fuzzy keys, for data whose exact keys miss: a name part with the birth year survives a
    # typo in the day or month; the names' consonant skeleton with the birth date or the place
    # survives a typo in a name; the name with the employer, or alone, finds the same person
    # in another city.
    BlockingKey("name_token_year", ("name_token_year",), is_list=True),
    BlockingKey("skeleton_dob", ("name_skeleton", "date_of_birth")),
    BlockingKey("skeleton_city", ("name_skeleton", "city_key")),
    BlockingKey("name_company", ("name_sorted_key", "company_name")),
    BlockingKey("name", ("name_sorted_key",)),
)
BLOCKING_KEYS_BY_NAME = {key.name: key for key in BLOCKING_KEYS}
DEFAULT_MAX_RECORDS_PER_BLOCK_KEY = 100
# A block larger than max_records_per_block_key is not dropped but compared in windows of this
# many records, sorted so that likely matches sit together (name, birth date, place), each
# window overlapping the next by half: a person with 800 records is compared along a chain
# that clustering closes, and a switchboard number on 300 records costs ~300 x 20 pairs, not
# 44,850, scored on their own merits (a shared number alone does not reach auto-link).
DEFAULT_BLOCK_WINDOW = 20
# The comparison budget: keys are used in order while the pairs they generate stay below this
# many per record. Data sets of a few thousand records use every key within it (FEBRL4: 4.6);
# at 1M demo records it keeps the exact keys and drops the fuzzy ones whose blocks grow with the
# data (a surname with a birth year: ~14 pairs per record there). 25 scored 14.5M pairs at 1M
# and took the resolution stage from 71 s to 445 s (bench/bench_resolution.py).
DEFAULT_MAX_PAIRS_PER_RECORD = 8
# The order records take inside an oversized block.
_WINDOW_ORDER = "name_sorted_key, date_of_birth, postal_code, city_key, record_key"


def block_column(name: str) -> str:
    return f"block_{name}"


def _windowed(value: str, partition: str, window: int, offset: int) -> str:
    """A record's window of an oversized block: `<value>#<n>`, or `<value>#o<n>` shifted."""
    position = f"row_number() over (partition by {partition} order by {_WINDOW_ORDER}) - 1"
    tag = "o" if offset else ""
    return f"{value} || '#{tag}' || cast(({position} + {offset}) // {window} as varchar)"


def with_blocking_keys_sql(
    relation: str,
    max_records_per_block_key: int,
    window: int = DEFAULT_BLOCK_WINDOW,
    keys: tuple[BlockingKey, ...] = BLOCKING_KEYS,
) -> str:
    """Add per key a `block_<name>` column and a `block_<name>_o` column.

    A value shared by at most `max_records_per_block_key` records is one block (`_o` null).
    A value shared more widely is split into sorted windows of `window` records (`block_<name>`)
    and the same windows shifted by half (`block_<name>_o`), so every record is compared with
    about `window` neighbours and consecutive windows overlap. List keys do the same per element.
    """
    budget, window = int(max_records_per_block_key), max(2, int(window))
    half = window // 2
    scalar, ctes, joins, list_columns = [], [], [], []
    for key in keys:
        main, shifted = block_column(key.name), f"{block_column(key.name)}_o"
        if key.is_list:
            (column,) = key.columns
            ctes.append(
                f"""{key.name}_blocks as (
                    select record_key,
                        list(case when n <= {budget} then element
                             else element || '#' || cast(position // {window} as varchar) end
                             order by element) as {main},
                        list(element || '#o' || cast((position + {half}) // {window} as varchar)
                             order by element) filter (where n > {budget}) as {shifted}
                    from (
                        select record_key, element,
                            count(*) over (partition by element) as n,
                            row_number() over (partition by element order by {_WINDOW_ORDER})
                                - 1 as position
                        from (
                            select *, unnest({column}) as element from {relation}
                        )
                        where element is not null
                    )
                    group by record_key
                )"""
            )
            joins.append(f"left join {key.name}_blocks using (record_key)")
            list_columns += [main, shifted]
            continue
        present = " and ".join(f"{column} is not null" for column in key.columns)
        value = " || '|' || ".join(f"cast({column} as varchar)" for column in key.columns)
        partition = ", ".join(key.columns)
        size = f"count(*) over (partition by {partition})"
        scalar.append(
            f"case when {present} then case when {size} <= {budget} then {value} "
            f"else {_windowed(value, partition, window, 0)} end end as {main}"
        )
        scalar.append(
            f"case when {present} and {size} > {budget} "
            f"then {_windowed(value, partition, window, half)} end as {shifted}"
        )
    with_clause = ("with " + ", ".join(ctes)) if ctes else ""
    return (
        f"{with_clause} select records.*, {', '.join(scalar)}"
        + "".join(f", {column}" for column in list_columns)
        + f" from {relation} as records {' '.join(joins)}"
    )


def block_columns(key: BlockingKey) -> tuple[str, str]:
    return block_column(key.name), f"{block_column(key.name)}_o"


def blocking_rules(key: BlockingKey) -> list:
    """The two Splink blocking rules of a key: its blocks, and the shifted windows."""
    return [
        block_on(column, arrays_to_explode=[column]) if key.is_list else block_on(column)
        for column in block_columns(key)
    ]


# With it, a rule pairs only records of which at least one is marked changed (the column
# splink_model adds to match_input for an incremental run): the join still runs on the key, the
# pairs of two unchanged records are dropped before Splink compares anything.
CHANGED_COLUMN = "is_changed"


def blocking_rule_dicts(keys: list[BlockingKey], *, only_changed: bool = False) -> list[dict]:
    """The keys' rules as a saved model holds them (`blocking_rules_to_generate_predictions`);
    `only_changed`: only the pairs involving a changed record (see CHANGED_COLUMN)."""
    changed = f' and (l."{CHANGED_COLUMN}" or r."{CHANGED_COLUMN}")' if only_changed else ""
    rules = []
    for key in keys:
        for column in block_columns(key):
            rule = {
                "blocking_rule": f'l."{column}" = r."{column}"{changed}',
                "sql_dialect": "duckdb",
            }
            if key.is_list:
                rule["arrays_to_explode"] = [column]
            rules.append(rule)
    return rules


@dataclass(frozen=True)
class BlockingPlan:
    """The keys a data set is compared by, and the ones left out with why."""

    keys: list[BlockingKey]
    pairs_by_key: dict[str, int]
    skipped: dict[str, str]
    records: int


def choose_blocking_keys(
    con: duckdb.DuckDBPyConnection,
    max_pairs_per_record: float = DEFAULT_MAX_PAIRS_PER_RECORD,
    keys: tuple[BlockingKey, ...] = BLOCKING_KEYS,
) -> BlockingPlan:
    """Keys in order while the pairs they generate (counted from `match_input`'s block
    columns, before Splink removes the pairs two keys share) stay within the budget.

    A key whose columns are empty in this data generates nothing and is left out as unused.
    """
    records = con.execute("select count(*) from match_input").fetchone()[0]
    allowance = max_pairs_per_record * max(records, 1)
    chosen, counts, skipped, total = [], {}, {}, 0
    for key in keys:
        pairs = 0
        for column in block_columns(key):
            values = f"unnest({column})" if key.is_list else column
            pairs += con.execute(
                f"select coalesce(sum(n * (n - 1) // 2), 0) from ("
                f"select count(*) as n from (select {values} as value from match_input) "
                "where value is not null group by value)"
            ).fetchone()[0]
        counts[key.name] = int(pairs)
        if not pairs:
            skipped[key.name] = "no two records share a value"
        elif total + pairs > allowance:
            skipped[key.name] = (
                f"{pairs:,} pairs would exceed the budget of {max_pairs_per_record:g} per record"
            )
        else:
            chosen.append(key)
            total += pairs
    return BlockingPlan(chosen, counts, skipped, records)


def pairs_sharing(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    columns: tuple[str, ...],
    max_records_per_value: int | None = None,
) -> int:
    """Pairs of rows of `relation` equal on all `columns` (none null); with
    `max_records_per_value`, values shared more widely (a placeholder) count none."""
    present = " and ".join(f"{column} is not null" for column in columns)
    within = "" if max_records_per_value is None else f"where n <= {int(max_records_per_value)}"
    return con.execute(
        f"""
        select coalesce(sum(n * (n - 1) // 2), 0) from (
            select count(*) as n from {relation} where {present} group by {", ".join(columns)}
        ) {within}
        """
    ).fetchone()[0]
