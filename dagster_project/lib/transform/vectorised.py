"""Python standardisers as vectorised DuckDB UDFs, computed once per distinct input.

A standardiser (lib/standardise) is a plain function from raw text to a NamedTuple. DuckDB calls
an Arrow UDF with one vector of rows at a time (2,048), so a million-row model makes ~500 calls
instead of a million. Within a vector the inputs are de-duplicated in Arrow (C++), and across
vectors a bounded cache remembers results, so the Python function runs once per distinct input:
customer data repeats heavily (one person's phone in every source, re-sent records every day,
common surnames), which is what makes library-grade parsing (phonenumbers, email-validator,
pypinyin) affordable inside SQL.
"""

from __future__ import annotations

import datetime
import gc
import inspect
import time
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Results kept per function before the cache is emptied and starts again (checked before each
# vector, so it can hold one vector more): ~500 bytes a result, ~250 MB per function at most; a
# run over more distinct values than this re-computes some.
CACHE_LIMIT = 500_000

_NULL_MARKER = "\x00<null>\x00"
_KEY_SEPARATOR = "\x00|\x00"

_ARROW_TYPES: dict[Any, tuple[pa.DataType, str]] = {
    str: (pa.string(), "VARCHAR"),
    bool: (pa.bool_(), "BOOLEAN"),
    int: (pa.int64(), "BIGINT"),
    float: (pa.float64(), "DOUBLE"),
    datetime.date: (pa.date32(), "DATE"),
    list[str]: (pa.list_(pa.string()), "VARCHAR[]"),
}


def _field_types(result_type: type[NamedTuple]) -> dict[str, tuple[pa.DataType, str]]:
    """Arrow and DuckDB types of a NamedTuple's fields (`X | None` is X, nullable anyway)."""
    fields = {}
    for name, annotation in typing.get_type_hints(result_type).items():
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
            annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
        if annotation not in _ARROW_TYPES:
            raise TypeError(f"{result_type.__name__}.{name}: unsupported type {annotation!r}")
        fields[name] = _ARROW_TYPES[annotation]
    return fields


@dataclass
class DistinctCachedUDF:
    """An Arrow UDF wrapping `function(*args) -> result_type`, called once per distinct input."""

    function: Callable[..., Any]
    result_type: Any  # a NamedTuple class (-> STRUCT) or one of the scalar types above
    arity: int

    def __post_init__(self) -> None:
        self.is_struct = isinstance(self.result_type, type) and issubclass(self.result_type, tuple)
        if self.is_struct:
            self.fields = _field_types(self.result_type)
            self.arrow_type = pa.struct([(name, t[0]) for name, t in self.fields.items()])
        else:
            self.arrow_type = _ARROW_TYPES[self.result_type][0]
        self.cache: dict[tuple, Any] = {}
        # For benchmarks: distinct inputs computed, rows seen, seconds spent in this UDF.
        self.calls = 0
        self.rows = 0
        self.seconds = 0.0

    @property
    def duckdb_type(self) -> Any:
        if not self.is_struct:
            return duckdb.sqltype(_ARROW_TYPES[self.result_type][1])
        return duckdb.struct_type({name: t[1] for name, t in self.fields.items()})

    def _results_for(self, keys: list) -> list:
        # The hot loop of every standardisation: locals and no method call per key, because at
        # a million rows each microsecond here is a second of the run.
        cache, function, unpack = self.cache, self.function, self.arity > 1
        if len(cache) + len(keys) > CACHE_LIMIT:
            cache.clear()
        results = []
        append = results.append
        computed_before = self.calls
        for key in keys:
            result = cache.get(key)
            if result is None:
                result = function(*key) if unpack else function(key)
                cache[key] = result
                self.calls += 1
            append(result)
        if self.calls != computed_before:
            # Cached results live until the cache is cleared and hold no reference cycles; left
            # to the cyclic garbage collector, its full passes re-scan millions of them (a third
            # of the UDF time at a million rows). Freezing moves them out of its sight.
            gc.freeze()
        return results

    def __call__(self, *columns: pa.Array | pa.ChunkedArray) -> pa.Array:
        started = time.perf_counter()
        try:
            return self._standardise(*columns)
        finally:
            self.seconds += time.perf_counter() - started
            self.rows += len(columns[0])

    def _standardise(self, *columns: pa.Array | pa.ChunkedArray) -> pa.Array:
        columns = tuple(
            c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c for c in columns
        )
        if len(columns) == 1:
            key_column = columns[0]
        else:
            # Arrow cannot dictionary-encode several columns at once: join them into one key
            # (nulls spelled out, so (NULL, 'a') and ('', 'a') stay apart).
            key_column = pc.binary_join_element_wise(
                *[pc.cast(c, pa.string()) for c in columns],
                _KEY_SEPARATOR,
                null_handling="replace",
                null_replacement=_NULL_MARKER,
            )
        encoded = pc.dictionary_encode(key_column, null_encoding="encode")
        indices = encoded.indices.to_numpy(zero_copy_only=False)
        _, first_rows = np.unique(indices, return_index=True)
        distinct_args = [c.take(pa.array(first_rows)).to_pylist() for c in columns]
        keys = distinct_args[0] if len(columns) == 1 else list(zip(*distinct_args, strict=True))
        results = self._results_for(keys)
        if not self.is_struct:
            return pa.array(results, type=self.arrow_type).take(encoded.indices)
        by_field = list(zip(*results, strict=True)) if results else [[] for _ in self.fields]
        distinct = pa.StructArray.from_arrays(
            [
                pa.array(values, type=arrow_type)
                for values, (arrow_type, _) in zip(by_field, self.fields.values(), strict=True)
            ],
            fields=list(self.arrow_type),
        )
        # np.unique sorted the dictionary indices, so position i holds dictionary entry i.
        return distinct.take(encoded.indices)


def register(
    con: duckdb.DuckDBPyConnection,
    name: str,
    function: Callable[..., Any],
    result_type: Any,
    arity: int,
) -> DistinctCachedUDF:
    """Register `function` on `con` as SQL function `name` of `arity` texts.

    It returns a STRUCT with the fields of `result_type` when that is a NamedTuple, else the
    scalar SQL type of `result_type` (str, bool, int, float, date, list[str]).
    """
    udf = DistinctCachedUDF(function, result_type, arity)

    def call(*columns: pa.Array) -> pa.Array:
        return udf(*columns)

    # DuckDB reads the parameter count from the signature, which *columns does not give.
    call.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(f"arg{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(arity)]
    )
    con.create_function(
        name,
        call,
        ["VARCHAR"] * arity,
        udf.duckdb_type,
        type="arrow",
        null_handling="special",
        side_effects=False,
    )
    return udf
