"""The governance config: one validated file that describes sources, rules and policies.

`load_config` is the only way the rest of the platform reads governance.yaml. A bad file fails
with `ConfigError`, whose message names the file, the key path (``sources[2].mapping.phone``),
what is wrong and what is allowed, so a person can fix it without reading a traceback.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from dagster_project.canonical import (
    CANONICAL_FIELDS,
    MONITORING_FIELDS_BY_KIND,
    REQUIRED_MAPPED_FIELDS,
)

SOURCE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,40}$"


class ConfigError(Exception):
    """The governance config cannot be used; the message says where and why."""


def _reject_unknown_fields(value: dict[str, Any]) -> None:
    # One "<field>: message" line per problem; the error formatter moves the field name into the
    # key path so the person sees `sources[2].mapping.phone`.
    unknown = [field for field in value if field not in CANONICAL_FIELDS]
    if unknown:
        raise ValueError(
            "\n".join(
                f"{field}: not a canonical customer field; allowed: "
                f"{', '.join(CANONICAL_FIELDS)} (dagster_project/canonical.py)"
                for field in unknown
            )
        )


def _reject_repeated(what: str, names: list[str]) -> None:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{what} names must be unique; repeated: {', '.join(repeated)}")


class _Strict(BaseModel):
    # Unknown keys are almost always typos ("trust_rnak"); silently ignoring them would
    # silently disable a setting.
    model_config = ConfigDict(extra="forbid", frozen=True)


class SqlExpression(_Strict):
    """A DuckDB SQL expression over the source's own columns (all text in the raw table)."""

    expr: str = Field(min_length=1)


FieldMapping = Annotated[str, Field(min_length=1)] | SqlExpression


RAW_SUITE_KEY = "raw"
"""In `gates` blocks: every source's raw gate (expectations/raw/{source}__customers.json)."""

GateBound = float | int | str


class GateOverride(_Strict):
    """A shipped gate's expectation adjusted to this company's data, by its Dagster check name.

    Only what a threshold or a bound is may change; which column it judges stays the suite's.
    Keys left out keep the suite's value.
    """

    mostly: float | None = Field(default=None, ge=0, le=1)
    min_value: GateBound | None = None
    max_value: GateBound | None = None
    value_set: list[str | int | float | bool] | None = None
    regex: str | None = None
    severity: Literal["critical", "warning", "info"] | None = None
    enabled: bool = True

    def kwargs(self) -> dict[str, Any]:
        """The expectation arguments this override sets."""
        return {
            key: getattr(self, key)
            for key in ("mostly", "min_value", "max_value", "value_set", "regex")
            if key in self.model_fields_set
        }


# suite ("raw", or "<schema>.<table>") -> check name -> override
GateOverrides = dict[str, dict[str, GateOverride]]


class DeletionMarker(_Strict):
    """A column of the source's own export that marks a row as a deletion, e.g. a CDC feed's
    `op` column holding 'D'. Compared after trimming, case-insensitively."""

    column: str = Field(min_length=1)
    values: list[str] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _values_not_blank(cls, value: list[str]) -> list[str]:
        if any(not item.strip() for item in value):
            raise ValueError("a deletion marker value must not be blank")
        return value


class ExtractConfig(_Strict):
    """What one delivery of the source holds, which decides how a deletion is recognised."""

    kind: Literal["full", "delta"] = Field(
        default="full",
        description="'full': each file holds every record the source still has, so a key "
        "missing from a day's file was deleted that day. 'delta': each file holds only new and "
        "changed records; a record is deleted only when `deleted_when` says so.",
    )
    deleted_when: DeletionMarker | None = Field(
        default=None,
        description="A column and the values in it that mark a row as a deletion (either "
        "kind). A delta source without it never deletes.",
    )
    max_deleted_share: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="A full extract that would delete more than this share of the source's "
        "current records (a truncated export, a wrong filter upstream) stops the day's history "
        "step instead of deleting them; raise it for a day with a real mass deletion.",
    )


class SourceConfig(_Strict):
    """One source system's export: where it lands, how to read it, how it maps to the canon."""

    name: str = Field(pattern=SOURCE_NAME_PATTERN)
    system: Literal["crm", "erp", "web", "call_center", "marketing", "other"]
    description: str = ""
    path: str = Field(
        description="Path under the landing root, formatted with the partition date, "
        "e.g. 'crm/{date:%Y-%m-%d}/crm_customers_{date:%Y%m%d}.csv'."
    )
    format: Literal["csv", "jsonl", "parquet"]
    encoding: str = "utf-8"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quote: str = Field(default='"', min_length=1, max_length=1)
    header: bool = True
    start_date: date
    trust_rank: int = Field(ge=1, description="1 is the most trusted source for survivorship.")
    default_region: str = Field(
        default="CN",
        pattern=r"^[A-Z]{2}$",
        description="ISO 3166-1 alpha-2 region used to parse phone numbers written "
        "without a country code.",
    )
    on_missing: Literal["fail", "skip"] = "fail"
    on_duplicate_file: Literal["skip", "load"] = Field(
        default="skip",
        description="What to do when the file for a day is byte-for-byte identical (same "
        "SHA-256) to one already loaded for another day, which usually means the export job "
        "re-sent an old file. 'skip' (default): load nothing for the day, report the day it "
        "duplicates in ops.load_log (status duplicate_skipped, rows_skipped). 'load': load it "
        "anyway and still report the duplicate, for sources whose data really can repeat.",
    )
    max_quarantine_share: float = Field(default=0.05, ge=0, le=1)
    max_field_length: int = Field(
        default=10_000,
        ge=1,
        description="Characters one field of a row may hold. A longer field (a 10 MB note "
        "pasted into a name, a runaway export) sends its row to quarantine rather than into "
        "every layer downstream; raise it for sources with long free-text columns.",
    )
    mapping: dict[str, FieldMapping]
    extract: ExtractConfig = Field(default_factory=ExtractConfig)
    gates: GateOverrides = Field(
        default_factory=dict,
        description="This source's gates: `raw` (its raw table's gate) or a suite judged per "
        "source (intermediate.int_customer_records), then check name, then the settings "
        "that differ for this source, e.g. {intermediate.int_customer_records: "
        "{gx_mobile_phone_is_valid__in_set__critical: {mostly: 0.7}}}.",
    )

    @field_validator("path")
    @classmethod
    def _path_has_date(cls, value: str) -> str:
        if "{date" not in value:
            raise ValueError(
                "must contain the partition date placeholder, e.g. '{date:%Y-%m-%d}', "
                "so each day's drop has its own file"
            )
        try:
            value.format(date=date(2000, 1, 2))
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                f"is not a valid pattern ({exc}); only the placeholder {{date:<strftime>}} "
                "is allowed"
            ) from exc
        if Path(value).is_absolute() or ".." in Path(value).parts:
            raise ValueError("must be relative to landing_root and stay inside it")
        return value

    @field_validator("mapping", mode="before")
    @classmethod
    def _mapping_values_have_a_shape(cls, value: Any) -> Any:
        # Checked before pydantic's union matching, which would report one error per branch.
        if not isinstance(value, dict):
            return value
        for field, source in value.items():
            is_column = isinstance(source, str) and source.strip()
            is_expression = (
                isinstance(source, dict)
                and set(source) == {"expr"}
                and isinstance(source["expr"], str)
                and source["expr"].strip()
            )
            if not (is_column or is_expression):
                raise ValueError(
                    f"{field}: must be a source column name (text) or {{expr: <DuckDB SQL over "
                    f"the source's columns>}}, got {source!r}"
                )
        return value

    @field_validator("mapping")
    @classmethod
    def _mapping_uses_canonical_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        _reject_unknown_fields(value)
        missing = [field for field in REQUIRED_MAPPED_FIELDS if field not in value]
        if missing:
            raise ValueError(f"must map {', '.join(missing)}: every record needs its source key")
        return value

    def path_for(self, partition_date: date) -> str:
        """The file's path under the landing root for one partition date."""
        return self.path.format(date=partition_date)

    def mapped_columns(self) -> set[str]:
        """Source columns named directly by the mapping (expressions are checked by DuckDB)."""
        return {v for v in self.mapping.values() if isinstance(v, str)}


class MatchingConfig(_Strict):
    """Entity-resolution thresholds (match probabilities from the Splink model)."""

    auto_link_threshold: float = Field(default=0.90, gt=0, lt=1)
    review_threshold: float = Field(default=0.70, gt=0, lt=1)
    # The trained Splink model, relative to this config file's folder: training on your own
    # data writes your own model and never the shipped demo model. Until `custodian train` has
    # written it, the daily run uses the shipped demo model and says so.
    model_path: str = "models/customer_model.json"
    # A blocking key value shared by more records than this (a switchboard number, a person
    # with hundreds of records, a common name in one city) is compared in sorted windows of
    # `block_window` records instead of all pairs.
    max_records_per_block_key: int = Field(default=100, ge=2, le=10_000)
    # Full names that disagree beyond typos (陈薇 / 陈梓蕾) are sent to a steward however high the
    # pair scores: relatives share an address, a landline and a surname. Switch off only for
    # data without households, where a different given name is a data-entry error.
    review_name_conflicts: bool = True
    # A block larger than max_records_per_block_key is compared in sorted windows of this many
    # records (overlapping by half) instead of all pairs: a person with 800 records is still
    # compared, a switchboard number cannot make 44,850 pairs.
    block_window: int = Field(default=20, ge=2, le=1_000)
    # Blocking keys are used in order (identifiers first, fuzzy keys last) while the pairs they
    # generate stay below this many per record: data without identifiers gets the fuzzy keys,
    # data with them does not pay for keys that would add little.
    max_pairs_per_record: float = Field(default=8, gt=0, le=10_000)
    # Above 0, a daily run where at most this share of the records changed scores only the
    # pairs of new and changed records and keeps the earlier scores of the others
    # (lib/resolve/incremental.py). Off (0, every pair every day) by default: a kept score does
    # not follow value frequencies and large-block windows as other records arrive, and on the
    # demo (2,000 people, 3 days) 4 of 4,343 records ended in other customers than a full run
    # gives.
    rescore_all_above_changed_share: float = Field(default=0.0, ge=0, le=1)

    @model_validator(mode="after")
    def _review_below_auto(self) -> MatchingConfig:
        if self.review_threshold > self.auto_link_threshold:
            raise ValueError(
                f"review_threshold ({self.review_threshold}) must not exceed "
                f"auto_link_threshold ({self.auto_link_threshold})"
            )
        return self


SurvivorshipRule = Literal["trust_rank", "most_recent", "most_frequent", "valid_first"]


class SurvivorshipConfig(_Strict):
    """Which rule picks each golden field's value; fields not listed use the default."""

    default_rule: SurvivorshipRule = "trust_rank"
    # Consent is the customer's latest word in any system (R28): a withdrawal recorded in a
    # less trusted system still wins over an older yes.
    fields: dict[str, SurvivorshipRule] = Field(
        default_factory=lambda: {"consent_marketing": "most_recent"}
    )

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        _reject_unknown_fields(value)
        return value


class MonitoringRule(_Strict):
    """One monitoring rule (R16): what it watches, its threshold and its score (R18).

    `field` is a canonical field, or a list of them: a `change_count` rule then counts the
    changes of any, a `missing` rule fires when all are absent. Which fields a kind can watch is
    MONITORING_FIELDS_BY_KIND (dagster_project/canonical.py).
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    field: str | list[str]
    kind: Literal[
        "change_count", "invalid_value", "consistency", "shared_contact", "missing", "stale"
    ]
    threshold: int = Field(
        default=1,
        ge=1,
        description="change_count: changes (days with a change) in the window that fire the "
        "rule; shared_contact: households sharing one value; other kinds ignore it.",
    )
    window_days: int = Field(
        default=30, ge=1, description="change_count: the window; stale: the quiet period."
    )
    count_per: Literal["record", "customer"] = Field(
        default="record",
        description="change_count: count the days with a change per source record (one system "
        "changing the value again and again), or per customer over all its records.",
    )
    trigger: Literal["state", "change"] = Field(
        default="state",
        description="invalid_value and consistency: `state` fires while a record holds the "
        "value; `change` only when the field changed to it within window_days (an e-mail that "
        "became undeliverable).",
    )
    points: int = Field(ge=0)
    severity: Literal["low", "medium", "high"] = "medium"
    enabled: bool = True

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.field,) if isinstance(self.field, str) else tuple(self.field)

    @model_validator(mode="after")
    def _fields_fit_the_kind(self) -> MonitoringRule:
        allowed = MONITORING_FIELDS_BY_KIND[self.kind]
        unknown = [field for field in self.fields if field not in allowed]
        if not self.fields or unknown:
            raise ValueError(
                f"rule {self.name}: a {self.kind} rule cannot watch "
                f"{', '.join(unknown) or 'no field'}; allowed: {', '.join(allowed)} "
                "(MONITORING_FIELDS_BY_KIND in dagster_project/canonical.py)"
            )
        if self.trigger == "change" and self.kind not in ("invalid_value", "consistency"):
            raise ValueError(
                f"rule {self.name}: trigger: change applies to invalid_value and consistency "
                f"rules, not {self.kind}; remove it"
            )
        return self


class RiskTiers(_Strict):
    """Score boundaries: a customer's summed points at or above a floor fall in that tier."""

    medium: int = Field(default=10, ge=1)
    high: int = Field(default=20, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> RiskTiers:
        if self.high <= self.medium:
            raise ValueError(f"high ({self.high}) must be greater than medium ({self.medium})")
        return self


class ChangeVolumeAnomalies(_Strict):
    """When a source's daily count of changes to one field is an anomaly (R19): then it is one
    source-level anomaly, and that source's changes of the day do not count towards customers'
    change_count rules (a bad import rewriting every address is not 100,000 customer events)."""

    changed_share: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="Flag a day on which more than this share of the source's current records "
        "changed the field, whatever its history.",
    )
    robust_z: float = Field(
        default=6.0,
        gt=0,
        description="Flag a day whose count lies more than this many robust standard deviations "
        "(1.4826 x the median absolute deviation) above the median of the previous days.",
    )
    history_days: int = Field(
        default=7, ge=3, description="Previous days with changes needed before robust_z applies."
    )
    min_changes: int = Field(
        default=20, ge=1, description="Fewer changes than this are never an anomaly."
    )


class ConcentrationAnomalies(_Strict):
    """When many golden customers share one address (R19: unusual clusters of customers at one
    address): a mail drop, an agent's office, or records made up in bulk. Households are a few
    people; the cut-offs are relative to this warehouse's own addresses."""

    enabled: bool = True
    min_customers: int = Field(
        default=6,
        ge=2,
        description="Fewer customers at one address are never an anomaly.",
    )
    robust_z: float = Field(
        default=4.0,
        gt=0,
        description="Flag an address whose customer count lies more than this many robust "
        "standard deviations (1.4826 x MAD, at least 1) above the median address's count.",
    )


class EmailAlerts(_Strict):
    """Alerts by e-mail (SMTP). The password comes from an environment variable only."""

    host: str
    port: int = Field(default=25, ge=1, le=65535)
    sender: str
    recipients: list[str] = Field(min_length=1)
    starttls: bool = False
    username_env: str | None = Field(
        default=None, description="Environment variable holding the SMTP user name."
    )
    password_env: str | None = Field(
        default=None, description="Environment variable holding the SMTP password."
    )
    timeout_seconds: float = Field(default=10.0, gt=0)


class WebhookAlerts(_Strict):
    """Alerts posted as JSON to an incoming webhook. Its URL carries the token, so it comes from
    an environment variable only."""

    url_env: str = Field(description="Environment variable holding the webhook's URL.")
    format: Literal["slack", "wecom", "dingtalk"] = Field(
        default="slack",
        description='slack: {"text": ...}; wecom and dingtalk robots: '
        '{"msgtype": "text", "text": {"content": ...}}.',
    )
    timeout_seconds: float = Field(default=10.0, gt=0)


class AlertChannels(_Strict):
    """Where alerts go besides the run's log and monitoring.alerts (R21)."""

    email: EmailAlerts | None = None
    webhook: WebhookAlerts | None = None
    digest_after: int = Field(
        default=10,
        ge=1,
        description="More new alerts than this for one channel in a run: one digest message.",
    )


class MonitoringConfig(_Strict):
    rules: list[MonitoringRule] = Field(default_factory=list)
    risk_tiers: RiskTiers = RiskTiers()
    score_window_days: int = Field(
        default=30,
        ge=1,
        description="A customer's risk score sums the points of the events seen within it.",
    )
    change_volume: ChangeVolumeAnomalies = ChangeVolumeAnomalies()
    concentration: ConcentrationAnomalies = ConcentrationAnomalies()
    alerts: AlertChannels = AlertChannels()
    escalate_after_days: int = Field(
        default=7, ge=1, description="Cases open longer than this are escalated in an alert."
    )

    @field_validator("rules")
    @classmethod
    def _unique_rule_names(cls, value: list[MonitoringRule]) -> list[MonitoringRule]:
        _reject_repeated("rule", [rule.name for rule in value])
        return value


# Which actions each layer's policy may take: customers inactive for keep_days are archived;
# archived data past keep_days is destroyed (purge); raw partitions are archived or purged.
RETENTION_ACTIONS = {
    "inactive_customers": ("archive",),
    "archive": ("purge",),
    "quarantine": ("purge",),
    "raw": ("archive", "purge"),
}


class RetentionPolicy(_Strict):
    """How long one kind of data is kept before it is archived or destroyed (R31)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    applies_to: Literal["inactive_customers", "archive", "quarantine", "raw"] = Field(
        description="inactive_customers: golden customers by their last activity (interaction, "
        "else the latest update); archive: what the archive database holds, by the day it was "
        "archived; quarantine and raw: rows by their partition date."
    )
    keep_days: int = Field(ge=1)
    action: Literal["archive", "purge"]

    @model_validator(mode="after")
    def _action_fits_layer(self) -> RetentionPolicy:
        allowed = RETENTION_ACTIONS[self.applies_to]
        if self.action not in allowed:
            raise ValueError(
                f"policy {self.name!r}: {self.applies_to} can only be "
                f"{' or '.join(allowed)}d, not {self.action}d"
            )
        return self


class RetentionConfig(_Strict):
    policies: list[RetentionPolicy] = Field(default_factory=list)
    archive_file: str = Field(
        default="archive.duckdb",
        description="The encrypted archive database, relative to the warehouse's folder.",
    )

    @field_validator("policies")
    @classmethod
    def _unique_policy_names(cls, value: list[RetentionPolicy]) -> list[RetentionPolicy]:
        _reject_repeated("retention policy", [policy.name for policy in value])
        return value


class ErasureConfig(_Strict):
    """Erasure requests (R29) from the request feed: CSV files dropped into a folder."""

    requests_folder: str = Field(
        default="erasure_requests",
        description="Folder the `erasure_request_feed` sensor watches for request files (CSV, "
        "header kind,identifier,reason,requested_by), relative to the warehouse's folder. Each "
        "file is carried out once and deleted; results go to its results/ subfolder, a file "
        "with a bad line to rejected/.",
    )


class BackupConfig(_Strict):
    """Encrypted backups of the warehouse (R32): `custodian backup` / `custodian restore`."""

    directory: str = Field(
        default="backups", description="Where backups go, relative to the warehouse's folder."
    )


class MaskingConfig(_Strict):
    """How personal data is shown to people: by sensitivity class (R24)."""

    direct: Literal["partial", "hash", "redact"] = "partial"
    quasi: Literal["partial", "hash", "redact", "none"] = "partial"
    hash_salt_env: str = "CUSTODIAN_MASKING_SALT"


# What a role may do. Each right guards one kind of access to personal data; a command checks
# the right it needs and names the roles that hold it when it refuses.
RIGHTS = {
    "query_analytics": "query the masked analyst database (`custodian sql`)",
    "query_warehouse": "query the restricted warehouse, masked on display (`custodian sql "
    "--warehouse`)",
    "view_unmasked": "see the warehouse's personal data unmasked (`custodian sql --unmasked`)",
    "review": "work the review queue: see pairs, record decisions and corrections",
    "read_access_log": "read and verify the access log (`custodian access-log`)",
    "erase": "erase a person from the warehouse, the analyst database and reports "
    "(`custodian erase`)",
    "hold": "place, release and list legal holds (`custodian hold`)",
    "backup": "take, list and restore encrypted backups of the warehouse (`custodian backup`, "
    "`custodian restore`) and encrypt files written without encryption (`custodian encrypt`)",
}
Right = Literal[tuple(RIGHTS)]  # the names above, so a right is named once
DEFAULT_ROLES: dict[str, list[str]] = {
    "analyst": ["query_analytics"],
    "steward": ["query_analytics", "review"],
    "engineer": ["query_analytics", "query_warehouse"],
    "admin": list(RIGHTS),
}


class AccessConfig(_Strict):
    """Who may read what (R25): users map to roles, roles to rights. A user not listed is
    refused everything that touches personal data."""

    users: dict[str, str] = Field(
        default_factory=dict,
        description="User name (CUSTODIAN_USER, else the login name, or `--as`) -> role.",
    )
    roles: dict[str, list[Right]] = Field(default_factory=lambda: dict(DEFAULT_ROLES))

    @model_validator(mode="after")
    def _users_have_known_roles(self) -> AccessConfig:
        unknown = {user: role for user, role in self.users.items() if role not in self.roles}
        if unknown:
            raise ValueError(
                "\n".join(
                    f"users.{user}: unknown role {role!r}; roles: {', '.join(sorted(self.roles))}"
                    for user, role in sorted(unknown.items())
                )
            )
        return self

    def roles_with(self, right: str) -> list[str]:
        return sorted(role for role, rights in self.roles.items() if right in rights)


class AnalyticsConfig(_Strict):
    """The analyst database: which published marts it holds and how their columns are made
    safe at rest, beyond masking each column by its class in the data dictionary (R24)."""

    marts: list[str] = Field(
        default_factory=lambda: [
            "golden_customers",
            "customer_source_xref",
            "golden_field_lineage",
        ],
        min_length=1,
    )
    pseudonymise: list[str] = Field(
        default_factory=lambda: ["golden_customer_id", "record_key", "source_record_id"],
        description="Join keys replaced by keyed HMAC-SHA256 pseudonyms (the key from "
        "masking.hash_salt_env): equal keys stay joinable across the marts, and cannot be "
        "joined back to the warehouse.",
    )
    generalise: dict[str, str] = Field(
        default_factory=lambda: {
            "date_of_birth": "year",
            "city": "province",
            "district": "province",
        },
        description="Column -> `year` (a date becomes <column>_year) or another column of the "
        "same mart whose coarser value replaces it (city -> province).",
    )
    withhold_without_marketing_consent: list[str] = Field(
        default_factory=lambda: [
            "email",
            "mobile_phone_e164",
            "landline_phone_e164",
            "address_line",
            "billing_address_line",
        ],
        description="Columns of a mart with consent_marketing that the analyst database leaves "
        "empty for a customer whose current marketing consent is withdrawn (false), R28.",
    )


class ScheduleConfig(_Strict):
    timezone: str = "Asia/Shanghai"
    daily_at: str = Field(default="06:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class QualityConfig(_Strict):
    """Gate settings that differ from the shipped suites, for every source (R5-R7)."""

    gates: GateOverrides = Field(
        default_factory=dict,
        description="Suite (`raw` for every source's raw gate, else `<schema>.<table>`, e.g. "
        "candidate.golden_customers), then check name, then the settings to change.",
    )


class GovernanceConfig(_Strict):
    """The whole governance.yaml."""

    landing_root: Path
    schedule: ScheduleConfig = ScheduleConfig()
    sources: list[SourceConfig] = Field(min_length=1)
    matching: MatchingConfig = MatchingConfig()
    survivorship: SurvivorshipConfig = SurvivorshipConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    retention: RetentionConfig = RetentionConfig()
    backup: BackupConfig = BackupConfig()
    erasure: ErasureConfig = ErasureConfig()
    masking: MaskingConfig = MaskingConfig()
    analytics: AnalyticsConfig = AnalyticsConfig()
    access: AccessConfig = AccessConfig()
    quality: QualityConfig = QualityConfig()

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, value: list[SourceConfig]) -> list[SourceConfig]:
        _reject_repeated("source", [source.name for source in value])
        return value

    @property
    def pipeline_start_date(self) -> date:
        """The first day any source has data: where the daily partitions begin."""
        return min(source.start_date for source in self.sources)

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(f"no source named {name!r}; configured: {[s.name for s in self.sources]}")


def _key_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def _describe(error: dict[str, Any], model_fields: dict[str, list[str]]) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        parent = ".".join(str(p) for p in error["loc"][:-1] if not isinstance(p, int))
        allowed = model_fields.get(parent)
        names = [str(p) for p in error["loc"]]
        if allowed is None and "gates" in names and len(names) - names.index("gates") == 4:
            allowed = list(GateOverride.model_fields)  # gates.<suite>.<check>.<key>
        message = "unknown key" + (f"; allowed keys here: {', '.join(allowed)}" if allowed else "")
    elif error["type"] == "missing":
        message = "required key is missing"
    return message


def _allowed_keys() -> dict[str, list[str]]:
    # Where an unknown key appears, list the keys that are allowed at that level.
    return {
        "": list(GovernanceConfig.model_fields),
        "sources": list(SourceConfig.model_fields),
        "matching": list(MatchingConfig.model_fields),
        "survivorship": list(SurvivorshipConfig.model_fields),
        "monitoring": list(MonitoringConfig.model_fields),
        "monitoring.rules": list(MonitoringRule.model_fields),
        "monitoring.risk_tiers": list(RiskTiers.model_fields),
        "monitoring.change_volume": list(ChangeVolumeAnomalies.model_fields),
        "monitoring.alerts": list(AlertChannels.model_fields),
        "monitoring.alerts.email": list(EmailAlerts.model_fields),
        "monitoring.alerts.webhook": list(WebhookAlerts.model_fields),
        "retention": list(RetentionConfig.model_fields),
        "retention.policies": list(RetentionPolicy.model_fields),
        "backup": list(BackupConfig.model_fields),
        "erasure": list(ErasureConfig.model_fields),
        "masking": list(MaskingConfig.model_fields),
        "analytics": list(AnalyticsConfig.model_fields),
        "access": list(AccessConfig.model_fields),
        "schedule": list(ScheduleConfig.model_fields),
        "quality": list(QualityConfig.model_fields),
    }


def _format_validation_error(path: Path, exc: ValidationError) -> str:
    allowed = _allowed_keys()
    lines = []
    for error in exc.errors():
        key = _key_path(error["loc"])
        for message in _describe(error, allowed).split("\n"):
            # Validators of a whole mapping say "<field>: ..."; that field belongs in the path.
            field, sep, rest = message.partition(": ")
            if sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", field):
                lines.append(f"  {key}.{field}: {rest}")
            else:
                lines.append(f"  {key}: {message}")
    return f"{path}: invalid governance config ({len(lines)} problem(s)):\n" + "\n".join(lines)


def load_config(path: Path | str) -> GovernanceConfig:
    """Read and validate governance.yaml; relative paths in it are relative to the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{path}: governance config not found. Pass --config PATH, set CUSTODIAN_CONFIG, "
            "or run from a folder with governance.yaml."
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: must be UTF-8 text ({exc.reason})") from None
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: expected a mapping at the top level (landing_root, sources, ...), "
            f"got {type(raw).__name__}"
        )
    try:
        config = GovernanceConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(path, exc)) from None
    if not config.landing_root.is_absolute():
        config = config.model_copy(update={"landing_root": path.parent / config.landing_root})
    if not Path(config.matching.model_path).is_absolute():
        # Absolute, so no reader resolves it against the working directory or the repository.
        model_path = str(path.resolve().parent / config.matching.model_path)
        matching = config.matching.model_copy(update={"model_path": model_path})
        config = config.model_copy(update={"matching": matching})
    return config


def source_table_name(source_name: str) -> str:
    """The raw table's name for a source: `raw.<source>__customers`."""
    if not re.match(SOURCE_NAME_PATTERN, source_name):
        raise ValueError(f"invalid source name {source_name!r}")
    return f"raw.{source_name}__customers"
