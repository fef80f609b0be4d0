"""What a failing check may show: customers' values masked, lineage and counts as they are.

A gate's outcomes, its Data Docs pages and its `gate_results` rows all carry what Great
Expectations or DuckDB reported about failing rows: observed values, the first few unexpected
values, value counts, the failing rows looked up by key. Those are customers' values, so each is
masked by its column's sensitivity class (`privacy.masking.mask_evidence`; a column it does not
know is treated as personal data) before it leaves the gate. Both engines' results pass through
`sanitise_result` (DuckDB's in `gates.py`, GE's in `gx_engine.py`), so neither shows a value
the other would have masked.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any

import pandas as pd

from dagster_project.lib.ingest import loader
from dagster_project.lib.privacy.masking import mask_evidence
from dagster_project.lib.quality.suites import SuiteExpectation

# Lineage and load facts the platform writes itself: line numbers, dates, paths and counts,
# never a customer's value, so evidence shows them as they are.
LINEAGE_COLUMNS = frozenset(loader.LINEAGE_COLUMNS)
LOAD_FACT_COLUMNS = frozenset(
    {"_load_status", "_rows_read", "_rows_loaded", "_rows_quarantined", "_quarantine_share"}
)
_REASON_CODE = re.compile(r"^[a-z][a-z0-9_]{2,39}$")

# Failing values (and failing rows) an outcome shows as evidence.
SAMPLE_SIZE = 5
_COUNT_FIELDS = (
    "element_count",
    "missing_count",
    "missing_percent",
    "unexpected_count",
    "unexpected_percent",
    "unexpected_percent_total",
    "unexpected_percent_nonmissing",
)


def mask_for_evidence(column: str | None, value: Any) -> Any:
    """A value safe to show: lineage and load facts as they are, everything else masked by the
    column's sensitivity class (unknown columns are treated as personal data)."""
    value = plain(value)
    if value is None:
        return None
    if column in LINEAGE_COLUMNS or column in LOAD_FACT_COLUMNS:
        return value
    if column and column.endswith("_invalid_reason") and _is_reason_code(value):
        return value
    if isinstance(value, list):
        return [mask_for_evidence(column, item) for item in value]
    if isinstance(value, dict):
        return {key: mask_for_evidence(column, item) for key, item in value.items()}
    return mask_evidence(column or "", value) if column else value


def _is_reason_code(value: Any) -> bool:
    # `<field>_invalid_reason` holds the standardiser's codes (no_domain, bad_check_digit,
    # before_1900; declared `pii: none` in dbt), which say why without saying what. Anything
    # that does not look like such a code is masked like the field itself would be.
    return isinstance(value, str) and bool(_REASON_CODE.match(value))


def _mask_observed(column: str | None, value: Any) -> Any:
    # Table-level observations are counts and column names; a column aggregate (its minimum,
    # its most common value) can be a customer's value and is masked like one. Numbers and
    # flags pass: a count or a share says nothing about a person.
    value = plain(value)
    if column is None or value is None or isinstance(value, bool | int | float):
        return value
    return mask_for_evidence(column, value)


def plain(value: Any) -> Any:
    """JSON-ready Python values: evidence goes into Dagster metadata, which must serialise."""
    if value is None:
        return None
    # Exact Python types: numpy's float64 is a float, yet GE's renderers and JSON encoders
    # that check types reject it.
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, float):
        return None if math.isnan(value) else float(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, datetime | date | pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return plain(value.item())
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    return str(value)


def _mask_for(expectation: SuiteExpectation, value: Any) -> Any:
    """Mask a value GE reports for an expectation: by its column; a multi-column expectation's
    rows ({column: value}) column by column; anything else it reads as personal data."""
    if isinstance(value, dict) and expectation.column is None:
        return {str(k): mask_for_evidence(str(k), v) for k, v in value.items()}
    if expectation.column is not None:
        return mask_for_evidence(expectation.column, value)
    if expectation.columns:
        return plain(value) if value is None else mask_evidence("", plain(value))
    return plain(value)  # table-level: counts and column names


def sanitise_result(expectation: SuiteExpectation, result: dict[str, Any]) -> dict[str, Any]:
    """GE's result dict with every customer value masked, for metadata and Data Docs alike."""
    clean: dict[str, Any] = {}
    for key, value in result.items():
        if key in _COUNT_FIELDS:
            clean[key] = plain(value)
        elif key == "observed_value":
            clean[key] = _mask_observed(expectation.column, value)
        elif key == "partial_unexpected_list":
            clean[key] = [_mask_for(expectation, v) for v in value or []]
        elif key == "partial_unexpected_counts":
            clean[key] = [
                {"value": _mask_for(expectation, item.get("value")), "count": item.get("count")}
                for item in value or []
            ]
        elif key in ("partial_unexpected_index_list", "unexpected_index_column_names"):
            clean[key] = plain(value)  # row labels of the pandas batch, not values
        elif key in ("unexpected_list", "unexpected_index_list", "unexpected_index_query"):
            continue  # full lists are never requested; drop them if GE adds them anyway
        elif key == "details" and expectation.column is None and not expectation.columns:
            clean[key] = plain(value)  # table shape: which columns are missing
        else:
            # `details` and anything GE adds later: value counts can hold customers' values.
            clean[key] = _mask_nested(expectation, value)
    return clean


def _mask_nested(expectation: SuiteExpectation, value: Any) -> Any:
    value = plain(value)
    if isinstance(value, dict):
        return {k: _mask_nested(expectation, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_nested(expectation, v) for v in value]
    if isinstance(value, str):
        return _mask_for(expectation, value)
    return value
