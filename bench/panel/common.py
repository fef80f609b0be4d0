"""What every panel data set is made of: landing files, a governance.yaml of its own and the
truth, all inside one work folder."""

from __future__ import annotations

import copy
import csv
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REPOSITORY_CONFIG = PROJECT_ROOT / "governance.yaml"
GOLDEN_SUITE = PROJECT_ROOT / "expectations" / "candidate" / "golden_customers.json"

# The golden gate's critical cluster-size check, as governance.yaml names it for an override.
GOLDEN_SUITE_KEY = "candidate.golden_customers"
CLUSTER_SIZE_CHECK = "gx_source_record_count__between__critical"


@dataclass
class BuiltDataset:
    """One data set on disk, ready for `custodian run --config config_path`."""

    config_path: Path
    first_day: date
    last_day: date
    truth: pa.Table  # record_key (source:source_record_id) -> entity_id
    # How the data were made: sizes, what was injected and how often, gate overrides and why.
    facts: dict[str, Any] = field(default_factory=dict)
    # Parts of the truth scored apart as well (name -> truth rows), e.g. everybody but the few
    # people with hundreds of records, whose pairs would otherwise dominate pairwise scores.
    truth_subsets: dict[str, pa.Table] = field(default_factory=dict)


def truth_table(rows: list[tuple[str, str, str]]) -> pa.Table:
    """(source, source_record_id, entity) rows as the truth evaluation.pairwise_and_bcubed reads."""
    return pa.table(
        {
            "record_key": [f"{source}:{record_id.strip()}" for source, record_id, _ in rows],
            "entity_id": [str(entity) for _, _, entity in rows],
        }
    )


def write_truth(truth: pa.Table, path: Path) -> None:
    """Kept beside the data so a run can be re-scored or inspected by hand."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["record_key", "entity_id"])
        writer.writerows(
            zip(*(truth.column(c).to_pylist() for c in truth.column_names), strict=True)
        )


def entity_sizes(truth: pa.Table) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for entity in truth.column("entity_id").to_pylist():
        sizes[entity] = sizes.get(entity, 0) + 1
    return sizes


def truth_summary(truth: pa.Table) -> dict[str, int]:
    sizes = entity_sizes(truth).values()
    return {
        "records": truth.num_rows,
        "true_entities": len(sizes),
        "true_pairs": sum(n * (n - 1) // 2 for n in sizes),
        "largest_true_entity": max(sizes, default=0),
    }


def repository_config() -> dict[str, Any]:
    """The shipped governance.yaml as plain data, so a data set's config starts from it."""
    return yaml.safe_load(REPOSITORY_CONFIG.read_text(encoding="utf-8"))


def repository_sources() -> dict[str, dict[str, Any]]:
    return {source["name"]: source for source in repository_config()["sources"]}


def matching_block(work: Path) -> dict[str, Any]:
    """The shipped matching settings (thresholds, name guard as shipped) with the model in the
    work folder, so `custodian train` never writes the repository's model.

    Absolute, because governance.yaml's model_path is resolved against the repository root, not
    against the config file.
    """
    matching = copy.deepcopy(repository_config().get("matching", {}))
    matching["model_path"] = str((work / "model" / "customer_model.json").resolve())
    return matching


def write_config(path: Path, config: dict[str, Any], header: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.splitlines())
    body = yaml.safe_dump(config, allow_unicode=True, sort_keys=False, width=100)
    path.write_text(comment + body, encoding="utf-8")


def source_block(
    base: dict[str, Any], keep_fields: set[str], extra_mapping: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A shipped source block with its mapping cut to the canonical fields the data still has."""
    block = copy.deepcopy(base)
    block["mapping"] = {k: v for k, v in block["mapping"].items() if k in keep_fields}
    block["mapping"].update(extra_mapping or {})
    block.pop("description", None)
    return block


def cluster_bound(config: dict[str, Any]) -> int:
    """The golden gate's bound on records per customer: the config's override, else the suite's.

    Read from the files rather than hard-coded, so a changed suite changes what is reported.
    """
    override = (
        config.get("quality", {})
        .get("gates", {})
        .get(GOLDEN_SUITE_KEY, {})
        .get(CLUSTER_SIZE_CHECK, {})
        .get("max_value")
    )
    if override is not None:
        return int(override)
    suite = json.loads(GOLDEN_SUITE.read_text(encoding="utf-8"))
    for expectation in suite["expectations"]:
        kwargs = expectation["kwargs"]
        if (
            expectation.get("severity") == "critical"
            and kwargs.get("column") == "source_record_count"
            and "max_value" in kwargs
        ):
            return int(kwargs["max_value"])
    raise RuntimeError(f"{GOLDEN_SUITE}: no critical bound on source_record_count")
