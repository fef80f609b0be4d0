"""Great Expectations Data Docs for the gates, as a local folder: one page per validation.

GE's own site builder re-renders every stored validation on each build and needs a stored
(file) context; a gate validates in an ephemeral context in a fresh process. So each
validation's page is rendered here with GE's own renderer (~0.15 s a page), laid out as GE's
file site lays it out (`validations/<suite>/<run>/<time>/<batch>.html`, so the page's relative
links work), with a suite page under `expectations/` and an `index.html` listing the latest
validations, newest first. The results handed in are already masked (`evidence.py`): Data
Docs show no customer's value either.

Styling comes from CDNs the page links to; offline the page is plain but complete.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from dagster_project.lib.quality.evidence import plain
from dagster_project.lib.quality.gx_engine import build_gx_expectation, gx_batch_definition
from dagster_project.lib.quality.suites import GateSuite, load_suite

MANIFEST = "validations.jsonl"
INDEX_ENTRIES = 500


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", part).strip("_") or "batch"


def _suite_dirs(suite: GateSuite) -> list[str]:
    # GE's templates compute relative links from the number of dots in the suite name.
    return [_safe(part) for part in suite.name.split(".")]


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _copy_static_images(docs_dir: Path) -> None:
    target = docs_dir / "static" / "images"
    if target.is_dir():
        return
    import great_expectations

    source = Path(great_expectations.__file__).parent / "render" / "view" / "static" / "images"
    shutil.copytree(source, target, dirs_exist_ok=True)


@cache
def _page_view():
    # One Jinja environment per process: a fresh view recompiles GE's ~100 templates, 0.5 s a
    # page (most of the Data Docs cost: 5 pages a day for int_customer_records alone).
    from great_expectations.render.view import DefaultJinjaPageView

    return DefaultJinjaPageView()


def combined_result(
    suite: GateSuite,
    sql_verdicts: list[tuple[Any, dict[str, Any]]],
    gx_result: Any = None,
) -> Any:
    """One batch's ExpectationSuiteValidationResult: GE's own (when GE validated part of the
    batch) plus the verdicts DuckDB computed (sql_engine.py), each as GE's
    ExpectationValidationResult with its already masked result dict, so the page renders both
    alike."""
    if not sql_verdicts:
        return gx_result
    import great_expectations as gx
    from great_expectations.core import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    results = list(gx_result.results) if gx_result is not None else []
    for verdict, details in sql_verdicts:
        expectation = verdict.expectation
        results.append(
            ExpectationValidationResult(
                success=verdict.success,
                expectation_config=ExpectationConfiguration(
                    type=expectation.type,
                    kwargs=plain(verdict.kwargs),
                    meta={**expectation.meta, "custodian_check": expectation.check_name},
                    description=expectation.description,
                    severity=expectation.severity,
                ),
                result=details,
                exception_info={
                    "raised_exception": False,
                    "exception_traceback": None,
                    "exception_message": None,
                },
            )
        )
    successful = sum(1 for item in results if item.success)
    meta = dict(gx_result.meta) if gx_result is not None else {}
    meta.setdefault("great_expectations_version", gx.__version__)
    meta.setdefault("batch_markers", {})
    return ExpectationSuiteValidationResult(
        success=successful == len(results),
        results=results,
        suite_name=suite.name,
        suite_parameters={},
        statistics={
            "evaluated_expectations": len(results),
            "successful_expectations": successful,
            "unsuccessful_expectations": len(results) - successful,
            "success_percent": successful / len(results) * 100 if results else None,
        },
        meta=meta,
    )


def write_suite_page(docs_dir: Path, suite: GateSuite) -> Path:
    """The suite's expectations page (what the validation pages link to), when stale."""
    from great_expectations.render.renderer import ExpectationSuitePageRenderer

    page = docs_dir / "expectations" / Path(*_suite_dirs(suite)).with_suffix(".html")
    if suite.path.is_file():
        if page.is_file() and page.stat().st_mtime >= suite.path.stat().st_mtime:
            return page
        suite = load_suite(suite.path)  # the whole file, even when a run checked a subset
    gx, _ = gx_batch_definition()
    gx_suite = gx.ExpectationSuite(
        name=suite.name,
        expectations=[build_gx_expectation(suite, e) for e in suite.expectations],
        meta={"notes": f"Gate on {'/'.join(suite.asset_key)}; file {suite.path.name}"},
    )
    document = ExpectationSuitePageRenderer().render(gx_suite)
    _atomic_write(page, _page_view().render(document))
    return page


def write_validation_page(
    docs_dir: Path,
    result: Any,
    *,
    suite: GateSuite,
    batch_label: str,
    run_id: str,
    validated_at: datetime,
    partition: str | None,
) -> Path:
    """Render one (masked) ExpectationSuiteValidationResult; returns the page's path."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer

    run_time = validated_at.strftime("%Y%m%dT%H%M%S.%fZ")
    result.meta["run_id"] = {"run_name": run_id, "run_time": validated_at.isoformat()}
    # Shown in the page's info table: which rows this validation judged.
    result.meta["batch_spec"] = {
        "table": suite.qualified_table,
        "asset": "/".join(suite.asset_key),
        "partition": partition or "(whole table)",
        "batch": batch_label,
    }
    for item in result.results:
        # Tracebacks can quote the data they choked on; the first line says what went wrong.
        info = item.exception_info or {}
        if info.get("exception_traceback"):
            item.exception_info = {
                "raised_exception": True,
                "exception_message": (
                    str(info.get("exception_message") or "").splitlines() or [""]
                )[0],
                "exception_traceback": None,
            }
    page = (
        docs_dir
        / "validations"
        / Path(*_suite_dirs(suite))
        / _safe(run_id)
        / run_time
        / f"{_safe(batch_label)}.html"
    )
    document = ValidationResultsPageRenderer().render(result)
    _atomic_write(page, _page_view().render(document))
    _copy_static_images(docs_dir)
    write_suite_page(docs_dir, suite)
    entry = {
        "asset": "/".join(suite.asset_key),
        "suite": suite.name,
        "partition": partition,
        "batch": batch_label,
        "run_id": run_id,
        "validated_at": validated_at.isoformat(timespec="seconds"),
        "success": bool(result.success),
        "failed": sum(1 for item in result.results if not item.success),
        "evaluated": len(result.results),
        "page": page.relative_to(docs_dir).as_posix(),
    }
    with (docs_dir / MANIFEST).open("a", encoding="utf-8") as manifest:
        manifest.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return page


def write_index(docs_dir: Path) -> Path:
    """`index.html`: the latest validations, newest first, failures marked."""
    manifest = docs_dir / MANIFEST
    lines = manifest.read_text(encoding="utf-8").splitlines() if manifest.is_file() else []
    entries = [json.loads(line) for line in lines[-INDEX_ENTRIES:] if line.strip()]
    rows = []
    for entry in reversed(entries):
        verdict = "passed" if entry["success"] else f"{entry['failed']} failed"
        cells = [
            entry["validated_at"],
            entry["asset"],
            entry.get("partition") or "",
            entry["batch"],
            f'<a href="{html.escape(entry["page"])}">{verdict} of {entry["evaluated"]}</a>',
            entry["run_id"],
        ]
        style = "" if entry["success"] else ' style="background:#fde2e1"'
        rows.append(
            f"<tr{style}>"
            + "".join(
                f"<td>{cell if i == 4 else html.escape(str(cell))}</td>"
                for i, cell in enumerate(cells)
            )
            + "</tr>"
        )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Custodian quality gates: Data Docs</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:4px 10px;text-align:left}}
tr:nth-child(even){{background:#f4f4f4}}</style></head>
<body><h1>Quality gates: Great Expectations validations</h1>
<p>Latest {len(entries)} validations, newest first. Failing values are masked.</p>
<table><tr><th>validated (UTC)</th><th>asset</th><th>partition</th><th>batch</th>
<th>result</th><th>Dagster run</th></tr>
{chr(10).join(rows)}
</table></body></html>
"""
    index = docs_dir / "index.html"
    _atomic_write(index, page)
    return index
