"""What every command shares: consoles, exit codes, the config, the Dagster instance, running a
job with a progress bar and saying why it failed.

Heavy modules (dagster, duckdb, great_expectations) are imported inside functions, so
`custodian --help` and the input checks answer in about a second.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dagster_project import settings
from dagster_project.config import ConfigError, GovernanceConfig, load_config

if TYPE_CHECKING:
    from dagster import DagsterInstance, ExecuteInProcessResult, JobDefinition

console = Console()
err_console = Console(stderr=True)

EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3

AsOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Act as this user (default: $CUSTODIAN_USER, else your login name); their role in "
        "governance.yaml (access.users) decides what is allowed.",
    ),
]

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="governance.yaml to use (default: $CUSTODIAN_CONFIG, else ./governance.yaml).",
    ),
]

# A step's error is printed whole up to this many lines; a longer one (dbt's log tail, a Python
# traceback in a message) shows its first lines and points at the run log, which has it all.
MAX_ERROR_LINES = 20
SHOWN_LINES_OF_LONG_ERROR = 12


def fail(message: str, code: int) -> typer.Exit:
    """Print `error: message` to stderr; return the Exit to raise (`raise fail(...)`)."""
    # Escaped: a message quoting SQL or dbt output may hold "[...]", which is not markup.
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def load_governance(config_option: Path | None) -> tuple[Path, GovernanceConfig]:
    """The config's path and the validated config, its gate settings checked against the
    suites; a bad one exits 2 with the text that says where and why."""
    from dagster_project.lib.privacy.masking import configure_masking
    from dagster_project.lib.quality.overrides import check_gate_settings

    path = settings.config_path(config_option)
    with definition_errors_as_bad_input():
        config = load_config(path)
        check_gate_settings(config, settings.expectations_dir(), path)
        # Everything this command prints is masked as the config says.
        configure_masking(config.masking)
    return path, config


def authorise_or_refuse(
    config: GovernanceConfig, right: str, action: str, detail: str, as_user: str | None
):
    """The acting user (as lib.privacy.access.Actor) if their role holds `right`; else the
    refusal is logged and the command exits 3 naming the roles that hold the right."""
    from dagster_project.lib.privacy.access import AccessDeniedError, Actor, authorise, role_of

    user = as_user or settings.current_user()
    try:
        return authorise(config.access, user, right)
    except AccessDeniedError as exc:
        log_access(Actor(user, role_of(config.access, user)), action, detail, "refused")
        raise fail(str(exc), EXIT_REFUSED) from None


def log_access(actor, action: str, detail: str, outcome: str, rows: int | None = None) -> None:
    """Append to the access log (who, role, when, what, outcome, rows returned)."""
    from dagster_project.lib.privacy.access import append_access

    append_access(
        settings.access_log_path(),
        actor=actor,
        action=action,
        detail=detail,
        outcome=outcome,
        rows=rows,
    )


def progress_bar() -> Progress:
    # Bound to the stream of the moment: runs then redirect sys.stdout/sys.stderr (dbt's and
    # Splink's chatter) to a log file while the bar keeps drawing on the terminal.
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=sys.stdout),
        transient=False,
    )


def prepare_dagster_home(home: Path) -> Path:
    """Create the instance folder and give it the repository's dagster.yaml if it has none.

    That file limits the `warehouse` pool to one step at a time across all runs (DuckDB takes
    one writer), so `custodian run` and a backfill from the UI queue instead of colliding. An
    existing dagster.yaml is the operator's and is never replaced.
    """
    home.mkdir(parents=True, exist_ok=True)
    shipped = settings.PROJECT_ROOT / "dagster.yaml"
    if shipped.is_file():
        # "x": two commands starting at once must not both write it.
        with contextlib.suppress(FileExistsError), (home / "dagster.yaml").open("xb") as target:
            target.write(shipped.read_bytes())
    return home


def dagster_instance() -> DagsterInstance:
    """The persistent instance at `settings.dagster_home()`: the one `make ui` shows, so runs
    started here appear in the UI's run list and asset history."""
    from dagster import DagsterInstance
    from dagster._core.errors import DagsterInvalidConfigError

    home = prepare_dagster_home(settings.dagster_home())
    try:
        return DagsterInstance.from_config(str(home))
    except DagsterInvalidConfigError as exc:
        # The operator's own dagster.yaml there (kept, never replaced) is theirs to fix.
        message = f"{home / 'dagster.yaml'}: invalid Dagster instance config: {exc}"
        raise fail(message, EXIT_BAD_INPUT) from None


@contextlib.contextmanager
def definition_errors_as_bad_input() -> Iterator[None]:
    """Mistakes in what the Definitions are built from exit 2 with their message, no traceback.

    A bad governance.yaml, a suite file that cannot be used and a dbt project that does not
    parse are the person's to fix, like a bad option: their messages name the file and why.
    """
    from dagster_project.lib.privacy.masking import MaskingError
    from dagster_project.lib.quality.suites import SuiteError
    from dagster_project.lib.transform.dbt_project import DbtParseError

    try:
        yield
    except (ConfigError, SuiteError, DbtParseError, MaskingError) as exc:
        raise fail(str(exc).strip(), EXIT_BAD_INPUT) from None


def job_log_path(job_name: str) -> Path:
    """Where a job's dbt and Splink output and its full failure texts go."""
    return settings.warehouse_path().resolve().parent / "logs" / f"{job_name}.log"


_QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def execute(
    job_name: str,
    config_path: Path,
    partition_keys: Sequence[str | None],
    label: str,
    first_run_ops_config: dict | None = None,
) -> list[tuple[str | None, ExecuteInProcessResult]]:
    """Run a job in-process for each partition, with a progress bar; stop at the first failure.

    `first_run_ops_config` is op config for the first partition's run only (a full refresh
    rebuilds once, then the days run as usual).

    Runs go to the persistent Dagster instance (`settings.dagster_home()`), so they appear in
    the UI beside scheduled runs and backfills.
    """
    from dagster_project.lib.warehouse import EncryptedFileError, check_key

    try:
        # Before any step: a missing or wrong key would otherwise fail the first step's run.
        check_key(settings.warehouse_path())
    except EncryptedFileError as exc:
        raise fail(str(exc), EXIT_BAD_INPUT) from None
    with definition_errors_as_bad_input():
        from dagster_project.definitions import build_definitions

        definitions = build_definitions(config_path)
    job = definitions.resolve_job_def(job_name)
    log_path = job_log_path(job_name)
    with one_command_at_a_time(settings.dagster_home()), dagster_instance() as instance:
        for run_id in release_abandoned_runs(instance):
            err_console.print(
                f"run {run_id} was left unfinished by a custodian command that was killed; "
                "marked failed and its warehouse slot given back",
                highlight=False,
                markup=False,
            )
        results = run_partitions(
            job, instance, partition_keys, label, log_path, first_run_ops_config
        )
    console.print(f"run log: {log_path}", highlight=False)
    return results


STARTED_BY_TAG = "custodian/started_by"
"""Tag of the runs a `custodian` command starts, so a later command can tell its own orphans."""


@contextlib.contextmanager
def one_command_at_a_time(home: Path) -> Iterator[None]:
    """Jobs started from the command line run one command at a time per Dagster instance.

    Two commands would only queue behind DuckDB's single writer anyway; the lock also proves
    that no command is running, so a run a command left marked as started is an orphan.
    """
    import fcntl

    home.mkdir(parents=True, exist_ok=True)
    with (home / "custodian-command.lock").open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            err_console.print(
                f"waiting for another custodian command using {home} to finish ...",
                highlight=False,
                markup=False,
            )
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def release_abandoned_runs(instance: DagsterInstance) -> list[str]:
    """Mark failed the runs an earlier command started and never finished; free their slots.

    A command killed with SIGKILL (or a machine that lost power) cannot record its run's end:
    the run stays "started" and keeps its `warehouse` pool slot, and every later run would wait
    for that slot for ever. Call only while holding `one_command_at_a_time`.
    """
    from dagster import DagsterRunStatus, RunsFilter

    unfinished = instance.get_runs(
        filters=RunsFilter(
            statuses=[
                DagsterRunStatus.NOT_STARTED,
                DagsterRunStatus.STARTING,
                DagsterRunStatus.STARTED,
            ],
            tags={STARTED_BY_TAG: "cli"},
        )
    )
    for run in unfinished:
        instance.report_run_failed(
            run, "The custodian command that started this run ended without finishing it."
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return [run.run_id for run in unfinished]


def run_partitions(
    job: JobDefinition,
    instance: DagsterInstance,
    partition_keys: Sequence[str | None],
    label: str,
    log_path: Path,
    first_run_ops_config: dict | None = None,
) -> list[tuple[str | None, ExecuteInProcessResult]]:
    """Execute `job` for each key in order until one fails; the failure's full text goes to
    `log_path` (the terminal shows it shortened)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    results = []
    with progress_bar() as progress, log_path.open("a", encoding="utf-8") as log:
        task = progress.add_task(label, total=len(partition_keys))
        for index, key in enumerate(partition_keys):
            run_config = _QUIET_RUN_CONFIG
            if index == 0 and first_run_ops_config:
                run_config = {**_QUIET_RUN_CONFIG, "ops": first_run_ops_config}
            progress.update(task, description=f"{label} {key or ''}".rstrip())
            # dbt's event stream and Splink's training notes go to the log, not the terminal.
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                result = job.execute_in_process(
                    partition_key=key,
                    instance=instance,
                    run_config=run_config,
                    raise_on_error=False,
                    tags={STARTED_BY_TAG: "cli"},
                )
            results.append((key, result))
            if not result.success:
                log.write(full_failure_text(result, key))
                break
            progress.advance(task)
    return results


def full_failure_text(result: ExecuteInProcessResult, partition_key: str | None) -> str:
    """Every failed step's whole error (description, message, stack, causes) for the run log."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    partition = f" partition {partition_key}" if partition_key else ""
    parts = [f"\n=== {when} run {result.run_id} of {result.job_def.name}{partition} failed ===\n"]
    for step_key, error, description in _failures(result):
        parts.append(f"--- step {step_key or '(run)'} ---\n")
        if description:
            parts.append(description.rstrip() + "\n\n")
        parts.append(error.to_string() if error else "(no error recorded)\n")
    return "".join(parts) + "\n"


def _failures(result: ExecuteInProcessResult) -> list[tuple[str | None, Any, str | None]]:
    """(step key, SerializableErrorInfo, Failure description) per failed step; the run's own
    error when no step failed (a resource that would not start, a bad run config)."""
    steps, run_errors = [], []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            data = event.event_specific_data
            user_failure = getattr(data, "user_failure_data", None)
            description = getattr(user_failure, "description", None)
            steps.append((event.step_key, data.error, description))
        elif event.event_type_value == "RUN_FAILURE":
            error = getattr(event.event_specific_data, "error", None)
            if error is not None:
                run_errors.append((None, error, None))
    return steps or run_errors


def _is_generic_wrapper(error: Any) -> bool:
    # Dagster wraps whatever a step raised ("Error occurred while executing op ..."); the cause
    # is what the person can act on.
    return bool(error.cause) and (error.cls_name or "").startswith("Dagster")


def _own_message(error: Any) -> str:
    # "duckdb.duckdb.IOException: IO Error: ..." -> "IOException: IO Error: ..."
    message = error.message.strip()
    if error.cls_name:
        message = re.sub(rf"^(?:\w+\.)+(?={re.escape(error.cls_name)}\b)", "", message)
    return message


def step_error_text(error: Any, description: str | None = None) -> str:
    """What a failed step's error says to a person, whole.

    A `dagster.Failure`'s description is the step's own account (the dbt step's names the
    model and dbt's error). Otherwise Dagster's generic wrappers are skipped and the first
    real exception is shown, with what caused it.
    """
    if description and description.strip():
        return description.strip()
    if error is None:
        return "unknown error"
    while _is_generic_wrapper(error):
        error = error.cause
    lines = [_own_message(error)]
    cause = error.cause
    while cause is not None:
        lines.append(f"caused by: {_own_message(cause)}")
        cause = cause.cause
    return "\n".join(lines)


def shortened(text: str, log_path: Path | None) -> list[str]:
    """`text`'s lines, or its first lines and where the rest is when it is long."""
    lines = text.splitlines() or [""]
    if len(lines) <= MAX_ERROR_LINES:
        return lines
    where = f"full text in {log_path}" if log_path else "full text in the Dagster run's logs"
    hidden = len(lines) - SHOWN_LINES_OF_LONG_ERROR
    return [*lines[:SHOWN_LINES_OF_LONG_ERROR], f"... ({hidden} more lines; {where})"]


def failure_summary(result: ExecuteInProcessResult, log_path: Path | None = None) -> str:
    """Each failed step with its error (whole when short) and each failed check, for stderr."""
    lines = []
    for step_key, error, description in _failures(result):
        first, *rest = shortened(step_error_text(error, description), log_path)
        lines.append(f"  {'step ' + step_key if step_key else 'run'}: {first}")
        lines.extend(f"    {line}" for line in rest)
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            lines.append(
                f"  check {evaluation.asset_key.to_user_string()}:{evaluation.check_name} failed"
                f" ({evaluation.severity.value}): {evaluation.description or ''}"
            )
    return "\n".join(lines) or "  (no step failure recorded; see the Dagster run logs)"


def steward_connection(*, write: bool):
    """The warehouse for steward commands (review, cases): read-only to look, the write lock to
    record. Refuses a warehouse that does not exist yet instead of creating an empty one."""
    from dagster_project.lib.warehouse import connect_existing

    try:
        return connect_existing(settings.warehouse_path(), write=write)
    except (FileNotFoundError, RuntimeError) as exc:
        raise fail(str(exc), EXIT_BAD_INPUT) from None
