"""The canonical customer record: the one vocabulary every source is mapped onto.

Every source in governance.yaml maps its own columns onto these fields; every later layer
(standardisation, matching, survivorship, monitoring, audits, masking) speaks only this vocabulary.
Adding a field here is the one change needed before a mapping may use it.
"""

from __future__ import annotations

# field name -> (description, sensitivity class used later for masking and the data dictionary)
CANONICAL_FIELDS: dict[str, tuple[str, str]] = {
    "source_record_id": ("The record's own key in its source system; unique per source.", "none"),
    "full_name": (
        "The name as one string, in whatever script and order the source holds.",
        "direct",
    ),
    "given_name": ("Given (first) name when the source splits names.", "direct"),
    "family_name": ("Family name (surname) when the source splits names.", "direct"),
    "name_original_script": (
        "The name in its original script (e.g. Han) when given separately.",
        "direct",
    ),
    "gender": ("Gender as the source writes it (M/F, 男/女, male/female ...).", "quasi"),
    "date_of_birth": ("Date of birth in the source's own format.", "quasi"),
    "national_id": ("National identity number (mainland resident ID: 18 digits).", "direct"),
    "mobile_phone": ("Mobile phone number as written by the source.", "direct"),
    "landline_phone": ("Landline phone number as written by the source.", "direct"),
    "email": ("E-mail address.", "direct"),
    "address_line": ("Mailing address: street, number, building and room.", "direct"),
    "district": ("District or county of the mailing address.", "quasi"),
    "city": ("City of the mailing address.", "quasi"),
    "province": ("Province, state or region of the mailing address.", "quasi"),
    "postal_code": ("Postal code of the mailing address.", "quasi"),
    "country_code": (
        "Country of the mailing address (code or name as the source writes it).",
        "none",
    ),
    "billing_address_line": (
        "Billing address when the source keeps one apart from mailing.",
        "direct",
    ),
    "company_name": ("Employer or company the customer buys for.", "none"),
    "customer_tags": ("Business tags such as VIP, new, churn_risk; ';'-separated.", "none"),
    "membership_level": ("Loyalty or membership tier.", "none"),
    "last_interaction_at": ("When the customer last interacted with the source system.", "none"),
    "consent_marketing": (
        "Whether the customer consented to marketing (source's own yes/no).",
        "none",
    ),
    "updated_at": ("When the source last changed the record.", "none"),
}

REQUIRED_MAPPED_FIELDS = ("source_record_id",)

SENSITIVITY_CLASSES = {
    "direct": "direct identifier",
    "quasi": "quasi-identifier",
    "sensitive": "sensitive",
    "none": "none",
}

# Canonical fields a standardised column is computed from, where its name alone does not say
# (a column named `<field>` or `<field>_<suffix>` comes from that field).
_NAME_FIELDS = ("full_name", "given_name", "family_name", "name_original_script")
_ADDRESS_FIELDS = ("address_line", "district", "city", "province", "postal_code")
_DERIVED_FROM: dict[str, tuple[str, ...]] = {
    "street_line": ("address_line",),
    "province_code": _ADDRESS_FIELDS,
    "admin_division_code": _ADDRESS_FIELDS,
    "city_key": ("city",),
}


def source_fields_for(column: str) -> tuple[str, ...] | None:
    """The canonical fields a warehouse column's values come from: a source that maps none of
    them cannot have a value there, so a gate on the column says nothing about that source.

    None for columns the platform computes for every record (keys, counts, scores).
    """
    if column in _DERIVED_FROM:
        return _DERIVED_FROM[column]
    if column in _NAME_FIELDS or column.startswith("name_"):
        return _NAME_FIELDS
    matches = [
        field for field in CANONICAL_FIELDS if column == field or column.startswith(field + "_")
    ]
    if not matches or "source_record_id" in matches:
        return None
    return (max(matches, key=len),)


# Canonical fields standardisation judges valid or not, and the name of that judgement in the
# standardised columns (`<name>_is_valid`, `<name>_invalid_reason`, `validity_failures`).
VALIDATED_FIELDS: dict[str, str] = {
    "full_name": "name",
    "gender": "gender",
    "date_of_birth": "date_of_birth",
    "national_id": "national_id",
    "mobile_phone": "mobile_phone",
    "landline_phone": "landline_phone",
    "email": "email",
    "postal_code": "postal_code",
    "country_code": "country_code",
}

# --- Monitoring (R16): the canonical fields each kind of rule can watch ---------------------------

_CHANGEABLE = tuple(field for field in CANONICAL_FIELDS if field != "source_record_id")
MONITORING_FIELDS_BY_KIND: dict[str, tuple[str, ...]] = {
    # A field changed on more than `threshold` days within `window_days` (the change log).
    "change_count": _CHANGEABLE,
    # A current record holds a value standardisation found invalid (e-mail also: a placeholder
    # or throw-away mailbox, which cannot be delivered to).
    "invalid_value": tuple(VALIDATED_FIELDS),
    # A cross-field check standardisation computes against the national ID: `province` is the
    # mailing address's province against the ID's issuing region, `date_of_birth` the birth date
    # against the ID's.
    "consistency": ("province", "date_of_birth"),
    # One contact value on records of `threshold` or more customers of different households.
    "shared_contact": ("mobile_phone", "landline_phone", "email"),
    # The golden customer has none of the fields (several fields: all of them absent).
    "missing": tuple(field for field in _CHANGEABLE if field != "updated_at"),
    # No interaction within `window_days` (the churn-risk tag).
    "stale": ("last_interaction_at",),
}
