"""Checks of one staged file before any of it is loaded: its column names and its fields.

Each failure names the file, the column and what to change in governance.yaml or the export;
none quotes a field's value (a quarantined row's value is in its raw_text, and nowhere else).
A repeated column name the mapping uses fails the load (which one to load?), as does an
`{expr: ...}` mapping that does not bind to the file's columns; rows with a control character
or a field above `max_field_length` are quarantined, not loaded.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pyarrow as pa

from dagster_project.config import SourceConfig
from dagster_project.lib.ingest.csv_records import sql_literal
from dagster_project.lib.ingest.load_result import IngestionError
from dagster_project.lib.ingest.readers import Staged, quote_ident

# C0 control characters except tab, LF and CR, and DEL. None belongs in a customer field: a NUL
# ends the string in C-based tools downstream (the value silently shortens), the others are
# invisible and make two equal-looking names differ.
_CONTROL_CHARACTER = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]"

# Single-quoted SQL strings, removed before an expression is searched for column names: the
# '$.city' in json_extract_string(address, '$.city') is a JSON path, not a column.
_SQL_STRING = re.compile(r"'(?:[^']|'')*'")


def quarantine_bad_fields(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, staged: Staged, columns: list[str]
) -> int:
    """Move rows with a control character or an over-long field into `_rejected`.

    Returns how many; their line numbers are left in `_bad_fields` for the load to leave out.
    The reason names the column and the problem, never the value (which is in raw_text).
    """
    limit = source.max_field_length
    if not columns or (staged.may_have_bad_fields and not staged.may_have_bad_fields(limit)):
        return 0
    control = sql_literal(_CONTROL_CHARACTER)
    quoted = [quote_ident(column) for column in columns]
    # One cheap pass over every row: a regex over the row's fields concatenated, and byte
    # lengths (strlen is O(1); a field of more characters than the limit has at least as many
    # bytes). Only the rows it flags are examined field by field, counting characters.
    candidate = (
        f"regexp_matches(concat({', '.join(quoted)}), {control}) "
        f"or greatest({', '.join(f'strlen({column})' for column in quoted)}) > {limit}"
    )
    too_long = sql_literal(f" characters, above max_field_length {limit:,} (governance.yaml)")
    problems = []
    for name, column in zip(columns, quoted, strict=True):
        label = f'field "{name}"'
        problems.append(
            f"case when length({column}) > {limit} then {sql_literal(label + ' is ')} "
            f"|| format('{{:,}}', length({column})) || {too_long} end"
        )
        problems.append(
            f"case when regexp_matches({column}, {control}) then "
            f"{sql_literal(label + ' holds a control character (')} "
            f"|| printf('U+%04X', unicode(regexp_extract({column}, {control}))) || ')' end"
        )
    # The common case, no bad field anywhere, costs this one scan. For CSV it reads the parsed
    # table rather than the `_staged` view, whose positional join runs on one thread (about
    # twice as slow on the 1M-row benchmark).
    if not con.execute(
        f"select exists (select 1 from {staged.columns_relation} where {candidate})"
    ).fetchone()[0]:
        return 0
    # Reasons are worked out for the flagged rows only: in one statement with the filter,
    # DuckDB computes each length() for every row once, ahead of the filter.
    con.execute(
        f"create or replace temp table _field_candidates as "
        f"select _row_number from _staged where {candidate}"
    )
    con.execute(
        f"""
        create or replace temp table _bad_fields as
        select line_number, reason
        from (
            select _row_number as line_number,
                   nullif(concat_ws('; ', {", ".join(problems)}), '') as reason
            from _staged
            semi join _field_candidates using (_row_number)
        )
        where reason is not null
        """
    )
    bad_rows = con.execute("select line_number, reason from _bad_fields order by 1").fetchall()
    if not bad_rows:
        return 0
    if staged.raw_texts is not None:
        # The raw text is kept whole, however long (a 10 MB note is 10 MB of quarantine): it is
        # the only copy of the row that was not loaded, and nothing may be lost.
        line_numbers = [line for line, _ in bad_rows]
        con.register(
            "_bad_fields_arrow",
            pa.table(
                {
                    "line_number": pa.array(line_numbers, pa.int64()),
                    "raw_text": pa.array(staged.raw_texts(line_numbers), pa.string()),
                    "reason": pa.array([reason for _, reason in bad_rows], pa.string()),
                }
            ),
        )
        con.execute("insert into _rejected select * from _bad_fields_arrow")
        con.unregister("_bad_fields_arrow")
    elif staged.raw_text_sql is not None:
        relation, line_column, raw_text = staged.raw_text_sql
        con.execute(
            f"""
            insert into _rejected
            select bad.line_number, {raw_text}, bad.reason
            from _bad_fields as bad
            join {relation} as staged_row on staged_row.{line_column} = bad.line_number
            """
        )
    return len(bad_rows)


def check_expressions(
    con: duckdb.DuckDBPyConnection, source: SourceConfig, path: Path, found: list[str]
) -> None:
    """Every `{expr: ...}` mapping binds to the file's columns, or the load fails naming it.

    Found here, the mistake (a misspelt column, a function DuckDB lacks) names the mapping key
    that holds it; found later it is a dbt or gate error about a model.
    """
    for field, mapped in source.mapping.items():
        if isinstance(mapped, str):
            continue
        try:
            # describe binds and types the expression without evaluating a row.
            con.execute(f"describe select ({mapped.expr}) from _staged")
        except duckdb.Error as exc:
            reason = str(exc).splitlines()[0]
            raise IngestionError(
                f"source {source.name!r}, file {path}: mapping.{field} {{expr: {mapped.expr}}} "
                f"does not work on the file's columns ({reason}). Columns found: {found}. Fix "
                "the expression in governance.yaml."
            ) from None


def mapping_uses(source: SourceConfig, column: str) -> bool:
    """Whether governance.yaml maps this column by name or mentions it in an expression."""
    name = column.lower()
    expressions = []
    for mapped in source.mapping.values():
        if isinstance(mapped, str):
            if mapped.lower() == name:
                return True
        else:
            expressions.append(_SQL_STRING.sub("''", mapped.expr).lower())
    quoted = quote_ident(name)
    bare = re.compile(rf'(?<![\w"]){re.escape(name)}(?![\w"])')
    return any(quoted in text or bare.search(text) for text in expressions)


def _listed(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _in_quotes(names: list[str]) -> list[str]:
    return [f'"{name}"' for name in names]


def repeated_columns(source: SourceConfig, path: Path, staged: Staged) -> list[str]:
    """Notes on repeated column names; raises when the mapping uses one (which to load?)."""
    by_name: dict[str, list[int]] = {}
    for position, name in enumerate(staged.file_columns):
        if name:  # blank names are named by position (column4), never repeated
            by_name.setdefault(name.lower(), []).append(position)
    ambiguous, notes = [], []
    for positions in (positions for positions in by_name.values() if len(positions) > 1):
        spellings = [staged.file_columns[position] for position in positions]
        times = "twice" if len(positions) == 2 else f"{len(positions)} times"
        numbers = _listed([str(position + 1) for position in positions])
        # Email and email are one name to DuckDB, whose identifiers ignore case.
        as_spelled = f", as {_listed(_in_quotes(spellings))}" if len(set(spellings)) > 1 else ""
        described = (
            f'column "{spellings[0]}" appears {times} in {staged.columns_are_in} '
            f"(columns {numbers}{as_spelled})"
        )
        if any(mapping_uses(source, spelling) for spelling in spellings):
            ambiguous.append(
                f"{described}; governance.yaml maps it, so which one to load is ambiguous: "
                "fix the export or rename one"
            )
        else:
            loaded = _listed(_in_quotes([staged.loaded_as[position] for position in positions]))
            every = "both" if len(positions) == 2 else "all"
            notes.append(f"{described}; not mapped, so {every} are loaded, as {loaded}")
    if ambiguous:
        raise IngestionError(f"source {source.name!r}, file {path}: {'; '.join(ambiguous)}.")
    return notes
