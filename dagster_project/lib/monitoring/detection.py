"""How well monitoring finds the demo's injected events (its truth files), per event type.

The demo generator labels people with events (`_truth/events.csv`) and maps every source record
to its person (`_truth/person_map.csv`). A rule's detections are the people behind the golden
customers it raised an event for (open or cleared: found once is found); recall is the share of
labelled people detected, precision the share of detected people labelled with the event.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

# The demo's event types and the shipped rule (governance.yaml) that should find each.
RULE_FOR_EVENT: dict[str, str] = {
    "address_changed_3x_month": "address_changed_often",
    "mobile_changed_4x": "mobile_changed_often",
    "email_became_invalid": "email_became_undeliverable",
    "shared_phone": "contact_shared_by_strangers",
    "province_mismatch_id_region": "address_far_from_id_region",
    "billing_address_changed_2x_month": "billing_address_changed_often",
    "name_changed_2x_month": "name_changed_often",
    "tags_or_level_changed_3x_month": "tags_or_level_changed_often",
    "shared_email": "email_shared_by_strangers",
    "birth_date_mismatch_id": "birth_date_disagrees_with_id",
    "no_interaction_for_a_year": "no_interaction_for_a_year",
}


@dataclass(frozen=True)
class Detection:
    event_type: str
    rule: str
    labelled: int
    detected: int
    found: int

    @property
    def recall(self) -> float | None:
        return self.found / self.labelled if self.labelled else None

    @property
    def precision(self) -> float | None:
        return self.found / self.detected if self.detected else None

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "recall": self.recall, "precision": self.precision}


def detection_quality(
    con: duckdb.DuckDBPyConnection,
    truth_dir: Path,
    rule_for_event: dict[str, str] = RULE_FOR_EVENT,
) -> list[Detection]:
    """Recall and precision of each event type's rule over the warehouse's risk events."""
    con.execute(
        "create or replace temp table _labels as select * from read_csv(?, all_varchar = true)",
        [str(truth_dir / "events.csv")],
    )
    con.execute(
        "create or replace temp table _person_of as select source || ':' || source_record_id "
        "as record_key, person_id from read_csv(?, all_varchar = true)",
        [str(truth_dir / "person_map.csv")],
    )
    results = []
    for event_type, rule in rule_for_event.items():
        labelled, detected, found = con.execute(
            """
            with labelled as (select distinct person_id from _labels where event_type = $event),
            detected as (
                select distinct person.person_id
                from monitoring.risk_events as event
                inner join main.customer_source_xref as xref using (golden_customer_id)
                inner join _person_of as person using (record_key)
                where event.rule = $rule
            )
            select
                (select count(*) from labelled),
                (select count(*) from detected),
                (select count(*) from detected where person_id in (select * from labelled))
            """,
            {"event": event_type, "rule": rule},
        ).fetchone()
        results.append(Detection(event_type, rule, labelled, detected, found))
    return results
