"""What a gate reports: each expectation's verdict per slice, and the suite's as a whole.

These types sit below both engines and above nothing but the suites: `gates.py` fills them
from DuckDB's verdicts, `gx_engine.py` from Great Expectations' results, `results.py` records
them in `gate_results`, and the Dagster asset checks report them. `outcome_from_result` builds
one from a result in GE's format (already masked), whichever engine computed it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster_project.lib.quality.evidence import SAMPLE_SIZE, plain
from dagster_project.lib.quality.suites import GateSuite, SuiteExpectation

_THRESHOLD_EXCLUDED = {"column", "column_list", "column_A", "column_B", "batch_id"}


@dataclass
class ExpectationOutcome:
    """One expectation's verdict on one slice of one batch."""

    expectation: SuiteExpectation
    slice_name: str
    success: bool
    observed_value: Any = None
    unexpected_percent: float | None = None
    element_count: int | None = None
    threshold: dict[str, Any] = field(default_factory=dict)
    sample_masked: list[Any] = field(default_factory=list)
    exception: str | None = None
    data_docs_page: Path | None = None
    # Keys of failing rows, to look evidence up; never shown.
    failing_keys: list[Any] = field(default_factory=list, repr=False)

    @property
    def check_name(self) -> str:
        return self.expectation.check_name

    @property
    def expectation_type(self) -> str:
        return self.expectation.type

    @property
    def column(self) -> str | None:
        return self.expectation.column

    @property
    def severity(self) -> str:
        return self.expectation.severity


@dataclass(frozen=True)
class NotJudged:
    check_name: str
    slice_name: str
    reason: str


@dataclass
class GateOutcome:
    """A suite's validation: every expectation's outcome per slice."""

    suite: GateSuite
    outcomes: list[ExpectationOutcome]
    partition: tuple[str, str] | None = None
    not_judged: list[NotJudged] = field(default_factory=list)
    skipped_reason: str | None = None
    rows_validated: int = 0
    seconds: float = 0.0
    data_docs_pages: list[Path] = field(default_factory=list)

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "critical"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity != "critical"]

    @property
    def partition_label(self) -> str | None:
        if self.partition is None:
            return None
        start, end = self.partition
        return start if start == end else f"{start}..{end}"

    def for_check(self, check_name: str) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if o.check_name == check_name]


def _observed(details: dict[str, Any]) -> Any:
    """GE's observed value; per-row expectations have none, so the share of non-missing values
    that met the expectation stands in (comparable with `mostly`)."""
    if "observed_value" in details:
        return details["observed_value"]
    percent = details.get("unexpected_percent")
    if percent is None:
        return None
    return round(1 - percent / 100, 6)


def _threshold(kwargs: dict[str, Any]) -> dict[str, Any]:
    threshold = {}
    for key, value in kwargs.items():
        if key in _THRESHOLD_EXCLUDED or value is None:
            continue
        value = plain(value)
        if isinstance(value, list) and len(value) > 20:
            value = [*value[:20], f"... {len(value) - 20} more"]
        threshold[key] = value
    return threshold


def outcome_from_result(
    expectation: SuiteExpectation,
    slice_name: str,
    success: bool,
    details: dict[str, Any],
    kwargs: dict[str, Any],
    failing_keys: list[Any],
    exception: str | None = None,
) -> ExpectationOutcome:
    """An outcome from a GE-format result (already masked), however it was computed."""
    sample = list(details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE]
    if not success and not sample and details.get("details"):
        # Aggregates and table shapes have no failing rows; GE's details say what was off
        # (the columns missing from a table), already masked.
        sample = [details["details"]]
    return ExpectationOutcome(
        expectation=expectation,
        slice_name=slice_name,
        success=success,
        observed_value=_observed(details),
        unexpected_percent=plain(details.get("unexpected_percent")),
        element_count=plain(details.get("element_count")),
        threshold=_threshold(kwargs),
        sample_masked=sample,
        exception=exception,
        failing_keys=failing_keys,
    )
