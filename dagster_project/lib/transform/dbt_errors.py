"""What a failed dbt build says to a person: which model or test failed, and dbt's reason.

dagster-dbt's own error names the command and its exit code and leaves the cause in a log; a
person at the terminal saw `step dbt_standardisation: ^`. The cause is in `run_results.json`
(one entry per model and test, with dbt's message) or, when dbt stopped before running anything
(a project that does not parse), in the error lines dbt logged.

DuckDB quotes the offending value in its errors ("Could not convert string '张三' to INT32"):
quoted literals are hidden before the message goes anywhere, since messages reach terminals,
logs and Dagster's event log.
"""

from __future__ import annotations

import re
from typing import Any

# Statuses of run_results entries that mean "this node did not do its job".
_FAILED = {"error", "fail", "runtime error"}
_QUOTED_VALUE = re.compile(r"'(?:[^']|'')*'")
MAX_LINES_PER_NODE = 6


def hide_values(message: str) -> str:
    """dbt/DuckDB text with every single-quoted literal replaced: values are personal data."""
    return _QUOTED_VALUE.sub("'…'", message)


def _node_label(unique_id: str) -> str:
    # model.custodian.stg_crm__customers -> model stg_crm__customers
    parts = unique_id.split(".")
    kind = parts[0] if parts else "node"
    name = parts[-1] if len(parts) > 2 else unique_id
    if kind == "test" and len(parts) > 3:
        name = parts[2]
    return f"{kind.replace('_', ' ')} {name}"


def failed_nodes(run_results: dict[str, Any] | None) -> list[str]:
    """One line block per failed model or test: its kind and name, then dbt's message."""
    lines = []
    for result in (run_results or {}).get("results", []):
        status = str(result.get("status", "")).lower()
        if status not in _FAILED:
            continue
        message = hide_values(str(result.get("message") or status)).strip().splitlines()
        body = "\n    ".join(line.strip() for line in message[:MAX_LINES_PER_NODE] if line.strip())
        lines.append(f"{_node_label(str(result.get('unique_id', '?')))} ({status}): {body}")
    return lines


def failure_description(
    step: str, run_results: dict[str, Any] | None, logged_errors: str | None
) -> str:
    """The text of the Failure a dbt step raises."""
    nodes = failed_nodes(run_results)
    if nodes:
        return f"dbt {step}: {len(nodes)} model(s)/test(s) failed:\n  " + "\n  ".join(nodes)
    detail = hide_values(logged_errors or "").strip()
    marker = "Errors parsed from dbt logs:"
    if marker in detail:
        detail = detail.split(marker, 1)[1].strip()
    return f"dbt {step} failed before running any model:\n  " + (
        "\n  ".join(detail.splitlines()[:20]) or "(dbt logged no error; see the run log)"
    )
