"""The `custodian` command: a starter config, demo data, pipeline runs, steward review and
read-only queries.

Every command that reads the governance config takes `--config PATH` (default:
$CUSTODIAN_CONFIG, else ./governance.yaml). Runs are recorded in the Dagster instance at
$DAGSTER_HOME (default ./.dagster, the one `make ui` serves), so they appear in the UI.

Exit codes: 0 ok, 1 a run failed, 2 bad usage or config, 3 refused (the acting user's role
lacks the right; governance.yaml `access`).

One module per command group; this one only assembles them. Heavy imports (dagster, duckdb,
great_expectations) stay inside the commands so `custodian --help` is quick.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable

import typer

from dagster_project.cli import (
    backup,
    cases,
    data,
    erase,
    history,
    holds,
    init,
    pipeline,
    query,
    review,
)
from dagster_project.cli._common import EXIT_BAD_INPUT, EXIT_REFUSED, EXIT_RUN_FAILED

__all__ = ["EXIT_BAD_INPUT", "EXIT_REFUSED", "EXIT_RUN_FAILED", "app", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Custodian: govern customer records from many systems into one golden table. "
    "Runs appear in the Dagster UI (`make ui`).",
)


def _help(command: Callable) -> str:
    # The docstring as help, its paragraphs unwrapped: typer keeps a docstring's line breaks,
    # which then break lines mid-sentence on the terminal.
    paragraphs = inspect.cleandoc(command.__doc__ or "").split("\n\n")
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)


for name, command in {
    "init": init.init,
    "demo-data": data.demo_data,
    "run": pipeline.run,
    "audit": pipeline.audit,
    "purge": pipeline.purge,
    "train": pipeline.train,
    "docs": pipeline.docs,
    "sql": query.sql,
    "access-log": query.access_log,
    "history": history.history,
    "erase": erase.erase,
    "backup": backup.backup,
    "restore": backup.restore,
    "encrypt": backup.encrypt,
}.items():
    app.command(name, help=_help(command))(command)
app.add_typer(review.review_app, name="review")
app.add_typer(cases.cases_app, name="cases")
app.add_typer(holds.hold_app, name="hold")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
