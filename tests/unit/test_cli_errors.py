"""The command's contract for mistakes: exit 2 and a message a person can act on."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from dagster_project.cli import app

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
    assert "does not exist yet" in result.output
