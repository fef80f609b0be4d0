"""One day of demo data and a governance.yaml pointing at it, for the benchmarks."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml

from dagster_project import settings
from dagster_project.lib.demo import generate_demo_data

DAY = date(2026, 11, 1)


def demo_day(work: Path, customers: int, seed: int, days: int = 1) -> tuple[Path, Path]:
    """Generate `days` days (from DAY) of demo drops under work/landing; return it and the
    config path."""
    landing = work / "landing"
    generate_demo_data(landing, customers=customers, days=days, start=DAY, seed=seed)
    config = yaml.safe_load((settings.PROJECT_ROOT / "governance.yaml").read_text("utf-8"))
    config["landing_root"] = str(landing)
    # The copy lives elsewhere; model_path is relative to the config: keep the shipped model.
    config["matching"]["model_path"] = str(settings.PROJECT_ROOT / config["matching"]["model_path"])
    config_path = work / "governance.yaml"
    config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return landing, config_path
