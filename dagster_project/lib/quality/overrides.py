"""Gates that fit the data: governance.yaml adjusts the shipped suites' thresholds and bounds.

The suites under `expectations/` hold defaults chosen on the demo. A company whose customers
legitimately hold 99 records, or one source whose mobiles are 24% invalid by design, changes the
threshold in governance.yaml, not in a suite every source shares:

    quality:
      gates:                                    # for every source
        candidate.golden_customers:
          gx_source_record_count__between__critical: {max_value: 120}
    sources:
      - name: registry
        gates:                                  # this source only
          raw: {gx_quarantine_share: {max_value: 0.05}}
          intermediate.int_customer_records:
            gx_mobile_phone_is_valid__in_set__critical: {mostly: 0.70}

A suite is named `raw` (every source's raw gate) or `<schema>.<table>`; a check by its Dagster
check name. An override may set `mostly`, `min_value`, `max_value`, `value_set`, `regex` (the
arguments the expectation takes), `severity` (not per source for a shared table: one check has
one severity) and `enabled: false`. Every name is validated against the suites, so a typo fails
the config instead of silently keeping the demo's threshold.

The second half decides what a slice of a per-source suite is judged by: its source's
overrides, and never an expectation on a field the source does not map (a source without
e-mails has no e-mail validity to judge: "not judged", not "failed").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from dagster_project.canonical import source_fields_for
from dagster_project.config import (
    RAW_SUITE_KEY,
    ConfigError,
    GateOverride,
    GovernanceConfig,
    SourceConfig,
)
from dagster_project.lib.quality.suites import (
    GateSuite,
    SuiteExpectation,
    discover_suites,
    raw_source_name,
)

SOURCE_SLICE_COLUMN = "source_name"


def suite_key(suite: GateSuite) -> str:
    """How governance.yaml names the suite: `raw`, or `<schema>.<table>`."""
    return RAW_SUITE_KEY if suite.is_raw else f"{suite.schema}.{suite.table}"


def is_per_source(suite: GateSuite) -> bool:
    """Whether the suite judges each source's rows on their own (slices by source_name)."""
    return suite.slice_by == SOURCE_SLICE_COLUMN


def _accepts(expectation: SuiteExpectation, key: str) -> bool:
    """Whether the expectation type takes this argument (GE checks the value when it runs)."""
    kind = expectation.type
    if key in expectation.kwargs:
        return True
    if key == "mostly":
        return kind.startswith(("expect_column_values_", "expect_column_pair_values_"))
    if key in ("min_value", "max_value"):
        return kind.endswith("_to_be_between")
    return False


def _override_problems(
    where: str, suite: GateSuite, overrides: dict[str, GateOverride], *, per_source: bool
) -> list[str]:
    problems = []
    checks = suite.by_check_name()
    for check_name, override in overrides.items():
        expectation = checks.get(check_name)
        if expectation is None:
            problems.append(
                f"{where}.{check_name}: no such check in {suite.path}; its checks: "
                f"{', '.join(checks)}"
            )
            continue
        for key in override.kwargs():
            if not _accepts(expectation, key):
                problems.append(
                    f"{where}.{check_name}.{key}: {expectation.type} takes no {key} "
                    f"(its arguments: {', '.join(expectation.kwargs) or 'none'})"
                )
        if per_source and ("severity" in override.model_fields_set):
            problems.append(
                f"{where}.{check_name}.severity: one check has one severity for every source; "
                f"set it under quality.gates.{suite_key(suite)}"
            )
    return problems


def gate_config_problems(config: GovernanceConfig, suites: Iterable[GateSuite]) -> list[str]:
    """Everything wrong with the config's gate overrides, as `key.path: what and what to do`."""
    by_key: dict[str, GateSuite] = {}
    for suite in suites:
        # Every source's raw suite has the same checks unless one has a file of its own; the
        # first stands for all when naming checks.
        by_key.setdefault(suite_key(suite), suite)
    known = ", ".join(sorted(by_key))
    problems = []
    for key, overrides in config.quality.gates.items():
        if key not in by_key:
            problems.append(f"quality.gates.{key}: no such suite; suites: {known}")
            continue
        problems += _override_problems(
            f"quality.gates.{key}", by_key[key], overrides, per_source=False
        )
    per_source = sorted(
        k for k, suite in by_key.items() if k == RAW_SUITE_KEY or is_per_source(suite)
    )
    for index, source in enumerate(config.sources):
        for key, overrides in source.gates.items():
            where = f"sources[{index}].gates.{key}"
            if key not in by_key or key not in per_source:
                problems.append(
                    f"{where}: a source's gates apply to {', '.join(per_source)} (suites judged "
                    "per source); other suites are set under quality.gates"
                )
                continue
            problems += _override_problems(
                where, by_key[key], overrides, per_source=key != RAW_SUITE_KEY
            )
    return problems


def validate_gate_config(
    config: GovernanceConfig, suites: Iterable[GateSuite], config_path: Path | str | None = None
) -> None:
    """Raise ConfigError naming every override that matches no suite, check or argument."""
    problems = gate_config_problems(config, suites)
    if problems:
        where = f"{config_path}: " if config_path else ""
        raise ConfigError(
            f"{where}invalid gate settings ({len(problems)} problem(s)):\n  "
            + "\n  ".join(problems)
        )


def check_gate_settings(
    config: GovernanceConfig, expectations_dir: Path, config_path: Path | str | None = None
) -> None:
    """The suites this config runs can be read and its gate settings name real checks.

    Raises:
        SuiteError: a suite file cannot be used (the message names the file).
        ConfigError: a gate setting names no suite, check or argument (the key path says which).
    """
    suites = discover_suites(expectations_dir, [source.name for source in config.sources])
    validate_gate_config(config, suites, config_path)


def _overridden(expectation: SuiteExpectation, override: GateOverride | None, origin: str):
    if override is None:
        return expectation
    return dataclasses.replace(
        expectation,
        kwargs={**expectation.kwargs, **override.kwargs()},
        severity=override.severity or expectation.severity,
        disabled=None if override.enabled else f"switched off in governance.yaml ({origin})",
    )


def _with(suite: GateSuite, overrides: dict[str, GateOverride], origin: str) -> GateSuite:
    if not overrides:
        return suite
    return dataclasses.replace(
        suite,
        expectations=tuple(
            _overridden(e, overrides.get(e.check_name), f"{origin}.{e.check_name}")
            for e in suite.expectations
        ),
    )


def apply_gate_overrides(config: GovernanceConfig, suites: Iterable[GateSuite]) -> list[GateSuite]:
    """The suites as this config runs them: quality.gates, then a raw suite's source's own."""
    applied = []
    for suite in suites:
        key = suite_key(suite)
        suite = _with(suite, config.quality.gates.get(key, {}), f"quality.gates.{key}")
        source_name = raw_source_name(suite)
        if source_name is not None and source_name in {s.name for s in config.sources}:
            source = config.source(source_name)
            own = source.gates.get(RAW_SUITE_KEY, {})
            suite = _with(suite, own, f"sources.{source_name}.gates.raw")
        applied.append(suite)
    return applied


def sources_with_own_gates(config: GovernanceConfig, suite: GateSuite) -> set[str]:
    """Sources whose slice of a per-source suite differs from the others' (never pooled)."""
    return {source.name for source in config.sources if suite_key(suite) in source.gates}


def _unmapped(expectation: SuiteExpectation, sources: list[SourceConfig]) -> list[str]:
    """Sources among `sources` that map none of the fields the expectation's column needs."""
    needed = expectation.meta.get("source_fields") or (
        source_fields_for(expectation.column) if expectation.column else None
    )
    if not needed:
        return []
    return [s.name for s in sources if not set(needed) & set(s.mapping)]


def expectations_for_slice(
    suite: GateSuite,
    expectations: list[SuiteExpectation],
    config: GovernanceConfig | None,
    source_names: list[str] | None,
) -> tuple[list[SuiteExpectation], dict[str, str]]:
    """What one slice is judged by, and why the rest is not judged there (check -> reason).

    `source_names`: the sources whose rows the slice holds (None: every configured source).
    """
    if config is None:
        return expectations, {}
    known = {source.name: source for source in config.sources}
    names = [n for n in (source_names or list(known)) if n in known]
    sources = [known[n] for n in names]
    own: dict[str, GateOverride] = {}
    if len(sources) == 1 and is_per_source(suite):
        own = sources[0].gates.get(suite_key(suite), {})
    judged, not_judged = [], {}
    for expectation in expectations:
        expectation = _overridden(
            expectation,
            own.get(expectation.check_name),
            f"sources.{names[0]}.gates.{suite_key(suite)}.{expectation.check_name}" if own else "",
        )
        if expectation.disabled:
            not_judged[expectation.check_name] = expectation.disabled
            continue
        unmapped = _unmapped(expectation, sources)
        # A slice of one source's rows (or of a few pooled sources) is judged only where every
        # source in it can have the value: one source lacking the field would count its nulls
        # against the others. A table built from every source (the golden table) is judged
        # when any source supplies the field.
        slice_of_sources = suite.is_raw or is_per_source(suite)
        if unmapped and (slice_of_sources or len(unmapped) == len(sources)):
            fields = list(
                expectation.meta.get("source_fields")
                or source_fields_for(expectation.column or "")
                or []
            )
            which = " or ".join([", ".join(fields[:-1]), fields[-1]] if len(fields) > 1 else fields)
            verb = "does" if len(unmapped) == 1 else "do"
            not_judged[expectation.check_name] = (
                f"{', '.join(unmapped)} {verb} not map {which} (governance.yaml): nothing to judge"
            )
            continue
        judged.append(expectation)
    return judged, not_judged
