"""The command's contract for mistakes: exit 2 and a message a person can act on."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dagster_project.cli import app
from dagster_project.cli._common import definition_errors_as_bad_input, execute
from dagster_project.cli.pipeline import last_complete_day, planned_partitions
from dagster_project.config import ConfigError, GovernanceConfig, MaskingConfig, load_config
from dagster_project.lib.privacy.masking import configure_masking
from dagster_project.lib.quality.suites import SuiteError
from dagster_project.lib.transform.dbt_project import DbtParseError

runner = CliRunner()


def test_bad_config_exits_2_with_key_path(tmp_path: Path) -> None:
    config = tmp_path / "governance.yaml"
    config.write_text(
        "landing_root: x\nsources:\n  - name: crm\n    system: crm\n    format: xlsx\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 2
    assert "sources[0].format" in result.output
    assert "Traceback" not in result.output


def test_missing_config_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "not found" in result.output


def test_bad_date_exits_2(isolated_env: Path) -> None:
    result = runner.invoke(app, ["run", "--through", "yesterday"])
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output


def test_nothing_landed_exits_2_and_says_where_it_looked(isolated_env: Path) -> None:
    config = (Path(__file__).parents[2] / "governance.yaml").read_text(encoding="utf-8")
    path = isolated_env / "governance.yaml"
    path.write_text(config.replace("landing_root: data/landing", "landing_root: empty"), "utf-8")
    result = runner.invoke(app, ["run", "--config", str(path), "--through", "2026-11-03"])
    assert result.exit_code == 2
    assert "no landed files" in result.output
    assert str(isolated_env / "empty") in result.output.replace("\n", "")


def test_sql_without_warehouse_exits_2(isolated_env: Path) -> None:
    result = runner.invoke(app, ["sql", "select 1"])
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "no analyst database at" in output
    assert "run the daily job first" in output


BAD_CONFIG = "landing_root: x\nsources:\n  - name: crm\n    system: crm\n    format: xlsx\n"

# Every command that reads the governance config, with the other arguments it needs. The config
# is read first, so none of them gets as far as the warehouse or Dagster here.
COMMANDS_READING_CONFIG = {
    "run": ["run"],
    "run --date": ["run", "--date", "2026-11-02"],
    "audit": ["audit", "--month", "2026-11"],
    "purge": ["purge", "--month", "2026-11"],
    "train": ["train"],
    "docs": ["docs"],
    "sql": ["sql", "select 1"],
    "access-log": ["access-log"],
    "history": ["history", "--customer", "GC1"],
    "erase": ["erase", "--golden-id", "GC1", "--reason", "r", "--by", "b"],
    "review list": ["review", "list"],
    "review show": ["review", "show", "RP0000000000000000"],
    "review decide": ["review", "decide", "--pair", "RP1", "--match", "yes", "--by", "ana"],
    "review correct": [
        "review", "correct", "--customer", "GC1", "--field", "email", "--value", "a@b.cn",
        "--by", "ana",
    ],
    "cases list": ["cases", "list"],
    "cases show": ["cases", "show", "C0000000000"],
    "cases assign": ["cases", "assign", "C0000000000", "--to", "ana"],
    "cases resolve": [
        "cases", "resolve", "C0000000000", "--outcome", "verified", "--by", "ana", "--note", "ok",
    ],
    "hold place": ["hold", "place", "--golden-id", "GC1", "--reason", "r", "--by", "b"],
    "hold release": ["hold", "release", "LH1", "--reason", "r", "--by", "b"],
    "hold list": ["hold", "list"],
    "backup": ["backup"],
    "restore": ["restore", "20261201T000000-abcdef"],
    "encrypt": ["encrypt"],
}  # fmt: skip
# Commands that read no governance config: init writes one, demo-data writes landing files.
COMMANDS_WITHOUT_CONFIG = {"init", "demo-data"}


def _one_line(output: str) -> str:
    """The output with the terminal's wrapping undone (rich wraps at 80 columns here)."""
    return " ".join(output.split())


def _leaf_commands(group, prefix: str = ""):
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        if hasattr(command, "commands"):
            yield from _leaf_commands(command, path + " ")
        else:
            yield path, command


def test_every_command_that_reads_config_takes_the_config_option() -> None:
    leaves = dict(_leaf_commands(typer.main.get_command(app)))
    with_option = {
        path
        for path, command in leaves.items()
        if any("--config" in getattr(param, "opts", []) for param in command.params)
    }
    assert with_option == set(leaves) - COMMANDS_WITHOUT_CONFIG
    # ... and the contract below is exercised for each of them.
    assert {key.split(" --")[0] for key in COMMANDS_READING_CONFIG} == with_option


@pytest.mark.parametrize("argv", COMMANDS_READING_CONFIG.values(), ids=COMMANDS_READING_CONFIG)
def test_every_command_rejects_a_bad_config_with_exit_2(
    isolated_env: Path, argv: list[str]
) -> None:
    config = isolated_env / "bad.yaml"
    config.write_text(BAD_CONFIG, encoding="utf-8")
    result = runner.invoke(app, [*argv, "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert "sources[0].format" in result.output
    assert "Traceback" not in result.output


def test_without_config_option_the_environment_names_the_config(isolated_env: Path) -> None:
    config = isolated_env / "bad.yaml"
    config.write_text(BAD_CONFIG, encoding="utf-8")
    result = runner.invoke(app, ["review", "list"], env={"CUSTODIAN_CONFIG": str(config)})
    assert result.exit_code == 2
    assert "sources[0].format" in result.output


def test_date_and_through_together_exit_2(isolated_env: Path) -> None:
    result = runner.invoke(app, ["run", "--date", "2026-11-02", "--through", "2026-11-03"])
    assert result.exit_code == 2
    assert "--date and --through cannot be combined" in _one_line(result.output)


def test_bad_date_option_exits_2(isolated_env: Path) -> None:
    result = runner.invoke(app, ["run", "--date", "2 Nov"])
    assert result.exit_code == 2
    assert "--date '2 Nov' is not a date; use YYYY-MM-DD" in _one_line(result.output)


def _config_with_landing(root: Path, landing: str) -> Path:
    config = (Path(__file__).parents[2] / "governance.yaml").read_text(encoding="utf-8")
    path = root / "governance.yaml"
    path.write_text(config.replace("landing_root: data/landing", f"landing_root: {landing}"))
    return path


def test_date_without_landed_files_exits_2_naming_where_it_looked(isolated_env: Path) -> None:
    path = _config_with_landing(isolated_env, "empty")
    result = runner.invoke(app, ["run", "--config", str(path), "--date", "2026-11-02"])
    assert result.exit_code == 2
    assert "no landed file for 2026-11-02" in _one_line(result.output)
    unwrapped = result.output.replace("\n", "")
    assert str(isolated_env / "empty" / "crm" / "2026-11-02" / "crm_customers_20261102.csv") in (
        unwrapped
    )


def test_date_before_any_source_starts_exits_2(isolated_env: Path) -> None:
    result = runner.invoke(app, ["run", "--date", "2025-01-01"])
    assert result.exit_code == 2
    assert "the first daily partition is 2026-11-01" in _one_line(result.output)


def test_date_of_a_day_not_over_yet_exits_2(isolated_env: Path) -> None:
    result = runner.invoke(app, ["run", "--date", "2999-01-01"])
    assert result.exit_code == 2
    assert "not a daily partition yet" in _one_line(result.output)


def _land(config: GovernanceConfig, day: date, source: str = "crm") -> None:
    file = config.landing_root / config.source(source).path_for(day)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("customer_no\n1\n", encoding="utf-8")


def test_date_plans_exactly_that_day_even_when_later_days_landed(isolated_env: Path) -> None:
    config = load_config(_config_with_landing(isolated_env, "landing"))
    days = [date(2026, 11, 1) + timedelta(days=offset) for offset in range(3)]
    for day in days:
        _land(config, day)
    assert planned_partitions(config, day="2026-11-02") == [days[1]]
    assert planned_partitions(config, through="2026-11-03") == days


def test_through_leaves_out_a_day_that_is_not_over(isolated_env: Path) -> None:
    config = load_config(_config_with_landing(isolated_env, "landing"))
    yesterday = last_complete_day(config)
    _land(config, yesterday)
    _land(config, yesterday + timedelta(days=1))
    # Dagster has no partition for a day in progress: running it would be a traceback.
    through = (yesterday + timedelta(days=3)).isoformat()
    assert planned_partitions(config, through=through) == [yesterday]


def test_a_config_error_while_building_the_definitions_exits_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # build_definitions reads the config itself; here it is gone by the time the job starts.
    with pytest.raises(typer.Exit) as exit_info:
        execute("daily_customer_pipeline", tmp_path / "gone.yaml", ["2026-11-01"], "daily")
    assert exit_info.value.exit_code == 2
    stderr = _one_line(capsys.readouterr().err)
    assert "gone.yaml: governance config not found" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    "error",
    [
        ConfigError("governance.yaml: invalid governance config"),
        SuiteError("expectations/raw/shop__customers.json: not valid JSON (line 3)"),
        DbtParseError("dbt parse failed in dbt (exit 2):\nCompilation Error in model x"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_mistakes_in_what_the_definitions_are_built_from_exit_2(
    error: Exception, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit) as exit_info, definition_errors_as_bad_input():
        raise error
    assert exit_info.value.exit_code == 2
    stderr = capsys.readouterr().err
    assert str(error).splitlines()[0] in stderr
    assert "Traceback" not in stderr


def test_other_errors_while_building_the_definitions_are_not_hidden() -> None:
    with pytest.raises(ZeroDivisionError), definition_errors_as_bad_input():
        raise ZeroDivisionError("a bug, not a mistake in the input")


def test_a_hash_masking_mode_without_its_key_exits_2_naming_the_variable(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MY_MASKING_KEY", raising=False)
    config = (Path(__file__).parents[2] / "governance.yaml").read_text(encoding="utf-8")
    config = config.replace(
        "masking:\n  direct: partial", "masking:\n  direct: hash\n  hash_salt_env: MY_MASKING_KEY"
    )
    path = isolated_env / "governance.yaml"
    path.write_text(config, encoding="utf-8")
    try:
        result = runner.invoke(app, ["sql", "--config", str(path), "select 1"])
    finally:
        configure_masking(MaskingConfig())  # the process's default again for later tests
    assert result.exit_code == 2
    assert "MY_MASKING_KEY" in result.output
    assert "Traceback" not in result.output
