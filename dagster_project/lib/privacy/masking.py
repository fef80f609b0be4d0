"""Masking personal data for display: logs, Dagster metadata, reports and errors (R24).

Masking follows the canonical field's sensitivity class (dagster_project/canonical.py) and the
`masking` section of governance.yaml, one mode per class (configure_masking):
- partial (the default): direct identifiers keep just enough to recognise the shape
  (138****8000, z***@qq.com, 张*), quasi-identifiers their coarse part (the year of a birth date);
- hash: a keyed HMAC-SHA256 pseudonym (16 hex characters), equal for equal values so they stay
  comparable, the key from the environment variable `hash_salt_env` names (required);
- redact: the value is replaced by *** whatever it is;
- none (quasi-identifiers only): shown as they are.
A column the data dictionary classes `sensitive` is never shown partially: partial becomes
redact for it. Fields of class none pass through.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import phonenumbers
import yaml

from dagster_project import settings
from dagster_project.canonical import CANONICAL_FIELDS


def _mask_middle(text: str, keep_start: int, keep_end: int) -> str:
    if len(text) <= keep_start + keep_end:
        return "*" * len(text)
    # Not text[-keep_end:]: with keep_end == 0 that is the whole value, appended unmasked.
    end = text[len(text) - keep_end :]
    return text[:keep_start] + "*" * (len(text) - keep_start - keep_end) + end


def mask_phone(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if text.startswith(("+", "00")):
        # The country code is not part of the number's shape: +86 138 0013 8000 -> 138****8000.
        # Country codes are prefix-free (1-3 digits): the first known prefix is the code. A
        # lookup, not phonenumbers.parse: the analyst database masks millions of numbers.
        international = digits.removeprefix("00") if text.startswith("00") else digits
        for length in (1, 2, 3):
            if int(international[:length] or 0) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                digits = international[length:]
                break
    if len(digits) < 7:
        return "*" * len(digits)
    # At least four digits stay hidden whatever the length (138****8000, 62****78): a fixed
    # 3 + 4 kept would show every digit of a 7-digit landline.
    keep_start = min(3, (len(digits) - 4) // 2)
    keep_end = min(4, len(digits) - 4 - keep_start)
    return digits[:keep_start] + "****" + digits[-keep_end:]


def mask_email(value: str) -> str:
    local, sep, domain = value.partition("@")
    if not sep:
        return _mask_middle(value, 1, 0)
    return (local[:1] + "***" if local else "***") + "@" + domain


def mask_name(value: str) -> str:
    value = value.strip()
    if not value:
        return value
    # Han names: keep the family name's first character; Latin: keep initials.
    if any("\u4e00" <= ch <= "\u9fff" for ch in value):
        return value[0] + "*" * (len(value) - 1)
    return " ".join(part[:1] + "." for part in value.split())


def mask_national_id(value: str) -> str:
    return _mask_middle(value.strip(), 3, 2)


def mask_date(value: str) -> str:
    # A year is enough to recognise a plausible birth date and is not identifying alone.
    return value[:4] + "-**-**" if len(value) >= 4 else "****"


REDACTED = "***"


class MaskingError(ValueError):
    """The masking settings cannot be applied (a hash mode without its key)."""


@dataclass(frozen=True)
class MaskingPolicy:
    direct: str = "partial"
    quasi: str = "partial"
    hash_salt_env: str = "CUSTODIAN_MASKING_SALT"


_policy = MaskingPolicy()


def configure_masking(config: object) -> None:
    """Apply governance.yaml's `masking` section (config.MaskingConfig) to every display in this
    process. A hash mode needs its key: without it this raises, rather than hash with a key
    anyone can read (a phone number's pseudonym under a known key is found by trying them all).
    """
    global _policy
    policy = MaskingPolicy(config.direct, config.quasi, config.hash_salt_env)
    if "hash" in (policy.direct, policy.quasi) and not os.environ.get(policy.hash_salt_env):
        hashed = "direct identifiers" if policy.direct == "hash" else "quasi-identifiers"
        raise MaskingError(
            f"masking hashes {hashed} (governance.yaml masking), but the environment variable "
            f"{policy.hash_salt_env} that holds the key is not set: set it to a secret of your "
            "own, or choose partial or redact"
        )
    _policy = policy


def masking_policy() -> MaskingPolicy:
    return _policy


def pseudonym(value: str) -> str:
    """A keyed hash (HMAC-SHA256, the key from the policy's environment variable): equal values
    stay joinable without being readable.

    Raises:
        MaskingError: the key is not set.
    """
    return pseudonymiser()(value)


def pseudonym_key() -> bytes:
    """The pseudonyms' key, from the environment variable the policy names.

    Raises:
        MaskingError: the key is not set.
    """
    key = os.environ.get(_policy.hash_salt_env)
    if not key:
        raise MaskingError(f"{_policy.hash_salt_env} is not set: no key to hash with")
    return key.encode("utf-8")


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC-SHA256's inner and outer padded keys (RFC 2104), for computing the same pseudonym
    in SQL: sha256(opad || sha256(ipad || message))."""
    block = hashlib.sha256(key).digest() if len(key) > 64 else key
    block = block.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def pseudonymiser() -> Callable[[str], str]:
    """`pseudonym` with the key read once, for many values.

    Raises:
        MaskingError: the key is not set.
    """
    keyed = hmac.new(pseudonym_key(), digestmod=hashlib.sha256)

    def hash_one(value: str) -> str:
        digest = keyed.copy()
        digest.update(value.encode("utf-8"))
        return digest.hexdigest()[:16]

    return hash_one


_BY_FIELD = {
    "mobile_phone": mask_phone,
    "landline_phone": mask_phone,
    "email": mask_email,
    "full_name": mask_name,
    "given_name": mask_name,
    "family_name": mask_name,
    "name_original_script": mask_name,
    "national_id": mask_national_id,
    "date_of_birth": mask_date,
}


# Pseudo-fields for values classed by the data dictionary rather than a canonical field.
_QUASI = "_quasi"
_SENSITIVE = "_sensitive"


def _sensitivity(field: str) -> str:
    if field == _QUASI:
        return "quasi"
    if field == _SENSITIVE:
        return "sensitive"
    return CANONICAL_FIELDS.get(field, ("", "direct"))[1]


def _unchanged(text: str) -> str:
    return text


def _redacted(_text: str) -> str:
    return REDACTED


def _mask_quasi(text: str) -> str:
    return _mask_middle(text, 2, 0) if len(text) > 4 else text


def _mask_other(text: str) -> str:
    return _mask_middle(text, 2, 0)


def masker(field: str) -> Callable[[str], str]:
    """How one canonical field's text is masked under the policy in force, decided once (the
    analyst database masks millions of values of one column)."""
    sensitivity = _sensitivity(field)
    if sensitivity == "none":
        return _unchanged
    mode = _policy.quasi if sensitivity == "quasi" else _policy.direct
    if sensitivity == "sensitive" and mode == "partial":
        mode = "redact"
    if mode == "none":
        return _unchanged
    if mode == "redact":
        return _redacted
    if mode == "hash":
        return pseudonymiser()
    if field in _BY_FIELD:
        return _BY_FIELD[field]
    return _mask_quasi if sensitivity == "quasi" else _mask_other


def mask_value(field: str, value: object) -> object:
    """Mask one canonical field's value for display by its sensitivity class and the policy."""
    if value is None:
        return None
    return masker(field)(str(value))


# Warehouse column names that carry a canonical field's value under another name.
_COLUMN_SUFFIXES = ("_e164", "_digits", "_normalised", "_clean", "_joined", "_key")
_COLUMN_ALIASES = {"name_pinyin": "full_name", "name_sorted": "full_name", "email_address": "email"}


@cache
def model_column_classes() -> dict[str, dict[str, str]]:
    """Model name -> column name -> PII class, from the dbt models' property files
    (dbt/models/**/_*.yml, meta.pii)."""
    classes: dict[str, dict[str, str]] = {}
    for path in sorted((settings.dbt_project_dir() / "models").rglob("_*.yml")):
        for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models", []):
            classes[model["name"]] = _column_classes(model.get("columns"))
    return classes


def _column_classes(columns: list[dict] | None) -> dict[str, str]:
    return {
        column["name"].lower(): (column.get("meta") or {})["pii"]
        for column in columns or []
        if (column.get("meta") or {}).get("pii")
    }


@cache
def dictionary_classes() -> dict[str, str]:
    """Column name -> PII class, from the dbt data dictionary (the models' property files and
    dbt/dictionary/*.yml, meta.pii).

    A name means the same thing in every model, so one class per name; where two models
    disagree the stricter class wins.
    """
    strictness = {"none": 0, "quasi-identifier": 1, "direct identifier": 2, "sensitive": 3}
    per_model = list(model_column_classes().values())
    # The staging models' columns: their entries are generated from this list per source.
    for path in sorted((settings.dbt_project_dir() / "dictionary").glob("*.yml")):
        dictionary = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        per_model.append(_column_classes(dictionary.get("columns")))
    classes: dict[str, str] = {}
    for model_classes in per_model:
        for name, pii in model_classes.items():
            if pii in strictness and strictness[pii] >= strictness.get(
                classes.get(name, "none"), 0
            ):
                classes[name] = pii
    return classes


def _mask_by_class(pii: str, value: object) -> object:
    if pii == "none":
        return value
    field = {"quasi-identifier": _QUASI, "sensitive": _SENSITIVE}.get(pii, "")
    return mask_value(field, value)


def field_for_column(column: str) -> str | None:
    """The canonical field a warehouse column holds, if it holds personal data of one."""
    name = column.lower()
    for suffix in _COLUMN_SUFFIXES:
        name = name.removesuffix(suffix)
    name = _COLUMN_ALIASES.get(name, name)
    if name in CANONICAL_FIELDS and CANONICAL_FIELDS[name][1] != "none":
        return name
    return None


def classified_masker(column: str, pii_class: str | None) -> Callable[[str], str]:
    """How a column's text is masked by the class the data dictionary gives it, failing
    closed: a column with no class (None) is masked as a direct identifier. The column's
    canonical field, where it has one of the same class, chooses the shape (138****8000,
    z***@qq.com)."""
    if pii_class == "none":
        return _unchanged
    if pii_class == "sensitive":
        return masker(_SENSITIVE)
    field = field_for_column(column)
    if pii_class == "quasi-identifier":
        quasi_field = field if field and CANONICAL_FIELDS[field][1] == "quasi" else None
        return masker(quasi_field or _QUASI)
    direct_field = field if field and CANONICAL_FIELDS[field][1] == "direct" else None
    return masker(direct_field or "")


# Keys and flags that identify records inside the platform but say nothing about the person.
_SAFE_COLUMNS = frozenset(
    {"record_key", "golden_customer_id", "source_name", "source_record_id", "suite_name"}
)
_SAFE_SUFFIXES = ("_is_valid", "_count", "_date", "_at", "_rate", "_score")


def mask_evidence(column: str | None, value: object) -> object:
    """Mask a value shown as evidence (failing samples, previews): unknown columns are masked.

    A column this module cannot classify is treated as personal data: evidence goes to metadata
    and reports that many people read.
    """
    if value is None or column is None:
        return value if column is not None else mask_value("", value)
    field = field_for_column(column)
    if field is not None:
        return mask_value(field, value)
    name = column.lower()
    if name in dictionary_classes():
        return _mask_by_class(dictionary_classes()[name], value)
    if (
        name in _SAFE_COLUMNS
        or name.endswith(_SAFE_SUFFIXES)
        or name.startswith(("is_", "has_"))
        or CANONICAL_FIELDS.get(name, ("", "direct"))[1] == "none"
    ):
        return value
    return mask_value("", value)
