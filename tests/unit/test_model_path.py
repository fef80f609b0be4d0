"""matching.model_path is relative to the config file: training on your own data writes your
own model and never the shipped demo model, which the repository's own config names."""

from __future__ import annotations

from pathlib import Path

import yaml

from dagster_project.config import load_config
from dagster_project.lib.resolve.model_checks import SHIPPED_MODEL_PATH
from dagster_project.settings import PROJECT_ROOT


def _config_with(tmp_path: Path, **matching: str) -> Path:
    document = yaml.safe_load((PROJECT_ROOT / "governance.yaml").read_text(encoding="utf-8"))
    document["matching"].pop("model_path")
    document["matching"].update(matching)
    folder = tmp_path / "company"
    folder.mkdir(exist_ok=True)
    path = folder / "governance.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def test_a_relative_model_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    config = _config_with(tmp_path, model_path="trained/model.json")
    assert Path(load_config(config).matching.model_path) == config.parent / "trained/model.json"


def test_the_default_model_sits_beside_the_config(tmp_path: Path) -> None:
    config = _config_with(tmp_path)
    path = Path(load_config(config).matching.model_path)
    assert path == config.parent / "models" / "customer_model.json"
    assert path != SHIPPED_MODEL_PATH


def test_an_absolute_model_path_is_kept(tmp_path: Path) -> None:
    elsewhere = tmp_path / "shared" / "model.json"
    config = _config_with(tmp_path, model_path=str(elsewhere))
    assert Path(load_config(config).matching.model_path) == elsewhere


def test_the_repositorys_config_names_the_shipped_model() -> None:
    path = Path(load_config(PROJECT_ROOT / "governance.yaml").matching.model_path)
    assert path.resolve() == SHIPPED_MODEL_PATH.resolve()
