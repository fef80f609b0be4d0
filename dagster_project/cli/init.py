"""`custodian init`: a commented starter governance config to describe the first source in."""

from __future__ import annotations

import json
import shlex
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from dagster_project import settings
from dagster_project.cli._common import EXIT_BAD_INPUT, console, fail, load_governance

STARTER_TEMPLATE = ("templates", "governance.starter.yaml")


def starter_config_text() -> str:
    """The starter config as shipped in the package."""
    return (
        resources.files("dagster_project").joinpath(*STARTER_TEMPLATE).read_text(encoding="utf-8")
    )


def starter_config_for(user: str) -> str:
    """The starter config with `user` as its admin: whoever sets the platform up administers
    it until they list the others."""
    login = json.dumps(user, ensure_ascii=False)
    return starter_config_text().replace(
        "  users: {}\n", f"  users:\n    {login}: admin   # you, when you ran custodian init\n", 1
    )


def init(
    path: Annotated[
        Path, typer.Argument(help="Where to write the config (default: ./governance.yaml).")
    ] = Path("governance.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Replace the file if it exists.")] = False,
) -> None:
    """Write a commented starter governance config with one example source, then say what next.

    Every key is shown with its default and why it is there; the example source is a daily CSV
    export to rename and adapt.
    """
    if path.is_dir():
        raise fail(
            f"{path} is a folder; give the config file's path, e.g. {path / 'governance.yaml'}",
            EXIT_BAD_INPUT,
        )
    if path.exists() and not force:
        raise fail(
            f"{path} already exists; not overwriting it (pass --force to replace it with the "
            "starter config)",
            EXIT_BAD_INPUT,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    text = starter_config_for(settings.current_user())
    try:
        # "x" unless --force: a file that appeared since the check above is still not replaced.
        with path.open("w" if force else "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise fail(f"{path} already exists; not overwriting it", EXIT_BAD_INPUT) from None
    _, config = load_governance(path)
    source = config.sources[0]
    example_day = date.today() - timedelta(days=1)
    uses_default = path.resolve() == settings.config_path().resolve()
    config_arg = "" if uses_default else f" --config {shlex.quote(str(path))}"
    console.print(
        f"wrote {path}: a starter config with one example source, {source.name}",
        highlight=False,
        markup=False,
    )
    console.print(
        "next:\n"
        "  1. edit the source block under `sources:` for your first export: name, path,\n"
        "     format, and which column is which canonical field (listed in the file)\n"
        "  2. deliver a day's file where `path` says, e.g.\n"
        f"     {config.landing_root / source.path_for(example_day)}\n"
        f"  3. custodian run{config_arg}\n"
        "     (every landed day through yesterday; the runs appear in the Dagster UI)",
        highlight=False,
        markup=False,
    )
