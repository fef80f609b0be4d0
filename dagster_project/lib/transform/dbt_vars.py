"""The vars every dbt invocation runs with, derived from governance.yaml.

Staging models read their column mapping and survivorship reads trust ranks from here, so the
config file stays the one place a source or rule is described.
"""

from __future__ import annotations

import json
from typing import Any

from dagster_project.canonical import CANONICAL_FIELDS
from dagster_project.config import GovernanceConfig, SqlExpression


def dbt_vars(config: GovernanceConfig) -> dict[str, Any]:
    return {
        "custodian_canonical_fields": list(CANONICAL_FIELDS),
        "custodian_sources": {
            source.name: {
                "trust_rank": source.trust_rank,
                "default_region": source.default_region,
                "mapping": {
                    field: (
                        {"expr": value.expr}
                        if isinstance(value, SqlExpression)
                        else {"column": value}
                    )
                    for field, value in source.mapping.items()
                },
            }
            for source in config.sources
        },
        # Source timestamps without an offset are local time in the platform's time zone.
        "custodian_timezone": config.schedule.timezone,
        "custodian_survivorship": {
            "default_rule": config.survivorship.default_rule,
            "fields": dict(config.survivorship.fields),
        },
    }


def dbt_vars_arg(config: GovernanceConfig) -> list[str]:
    """`--vars <json>` for the dbt CLI."""
    return ["--vars", json.dumps(dbt_vars(config), ensure_ascii=False)]
