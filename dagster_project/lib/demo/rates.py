"""Every rate the demo data promises, in one place.

Tests measure these from the written files against `_truth/`, so changing a number here changes
what the tests expect. Rates are probabilities per record unless said otherwise.
"""

from __future__ import annotations

SOURCES: tuple[str, ...] = ("crm", "erp_billing", "web_signup", "call_center")

# Share of people who are mainland Chinese; the rest are split over INTL_LOCALES.
CHINESE_SHARE = 0.60
INTL_LOCALES: dict[str, float] = {
    "en_US": 0.30,
    "en_GB": 0.25,
    "de_DE": 0.15,
    "fr_FR": 0.15,
    "en_AU": 0.15,
}

# Probability that a person has a record in a source. People drawn into none are given one
# source at random (weighted by these numbers), so everybody is in at least one.
PRESENCE: dict[str, float] = {
    "crm": 0.70,
    "erp_billing": 0.50,
    "web_signup": 0.45,
    "call_center": 0.40,
}

# Share of a source's people who have a second record in the same source.
DUPLICATE_RATES: dict[str, float] = {
    "crm": 0.05,
    "erp_billing": 0.03,
    "web_signup": 0.015,
    "call_center": 0.04,
}

# Daily activity after the day-one full extract, as shares of the source's records.
NEW_RECORD_RATE_PER_DAY = 0.02  # records first delivered on a later day
CHANGE_RATE_PER_DAY = 0.03  # existing records delivered again with changed values
RESEND_RATE_PER_DAY = 0.01  # existing records delivered again unchanged

# Hard negatives: distinct people who look alike.
HOUSEHOLD_SIZE_WEIGHTS: dict[int, float] = {1: 0.86, 2: 0.09, 3: 0.035, 4: 0.015}  # per household
TWIN_PAIRS_PER_PERSON = 0.003  # twin pairs (same surname, birth date, address) per person
COMMON_NAME_RATE = 0.015  # people given a very common full name (王伟, John Smith ...)
COMPOUND_SURNAME_SHARE = 0.008  # Chinese people with a two-character surname (欧阳, 司马 ...)
SINGLE_CHAR_GIVEN_NAME_SHARE = 0.25  # Chinese given names of one character (张伟 vs 张子涵)
STALE_ADDRESS_RATE = 0.05  # people in 2+ records of whom one record keeps an older address
LANDLINE_SHARE = {"CN": 0.5, "INTL": 0.4}  # households with a landline
COMPANY_SHARE = 0.25  # people with an employer on record (ERP 公司名称)

# Corruption kind -> source -> rate. Denominators (what the rate is "of") are in the README.
CORRUPTION_RATES: dict[str, dict[str, float]] = {
    # of records of Chinese people: name written in pinyin instead of characters
    "pinyin_instead_of_hanzi": {
        "crm": 0.08,
        "erp_billing": 0.05,
        "web_signup": 0.75,
        "call_center": 0.05,
    },
    # of records: family and given name swapped (columns swapped, or "San Zhang" order)
    "name_order_swapped": {"crm": 0.03, "erp_billing": 0.03, "web_signup": 0.05},
    # of records: one character of the given name substituted (homophone for 汉字)
    "name_typo": {"crm": 0.02, "erp_billing": 0.015, "web_signup": 0.02, "call_center": 0.02},
    # of records: two adjacent characters of the given name transposed
    "name_transposed": {"crm": 0.01, "erp_billing": 0.01, "web_signup": 0.01},
    # of records: leading, trailing or doubled spaces in the name or address
    "stray_spaces": {"crm": 0.03, "erp_billing": 0.02, "web_signup": 0.03, "call_center": 0.03},
    # of non-empty mobile values: digits written full-width (１３８...)
    "full_width_digits": {"crm": 0.03, "web_signup": 0.01, "call_center": 0.06},
    # of non-empty mobile values: too short (2-3 trailing digits lost)
    "invalid_phone": {"crm": 0.015, "erp_billing": 0.01, "web_signup": 0.01, "call_center": 0.01},
    # of non-empty e-mail values: syntactically invalid or a placeholder (noemail@test.com)
    "invalid_email": {"crm": 0.03, "erp_billing": 0.02, "web_signup": 0.005, "call_center": 0.02},
    # of non-empty resident ID values: wrong check digit
    "bad_id_check_digit": {"crm": 0.02, "erp_billing": 0.02},
    # of non-empty birth dates whose day is <= 12 and differs from the month: day/month swapped
    "dob_day_month_swapped": {
        "crm": 0.02,
        "erp_billing": 0.01,
        "web_signup": 0.01,
        "call_center": 0.01,
    },
    # of non-empty street lines: a typo (letter substituted, digits of the number transposed)
    "street_typo": {"crm": 0.02, "erp_billing": 0.015, "web_signup": 0.02},
}

# Field -> source -> share of records where the value is missing (empty / null).
MISSING_RATES: dict[str, dict[str, float]] = {
    "gender": {"crm": 0.05, "erp_billing": 0.03, "web_signup": 0.25},
    "birth_date": {"crm": 0.05, "erp_billing": 0.15, "web_signup": 0.30, "call_center": 0.55},
    "national_id": {"crm": 0.15, "erp_billing": 0.25},  # of Chinese people's records
    "mobile": {"crm": 0.04, "erp_billing": 0.05, "web_signup": 0.10},
    "email": {"crm": 0.10, "erp_billing": 0.20, "web_signup": 0.0, "call_center": 0.90},
    "address": {"crm": 0.04, "erp_billing": 0.02, "web_signup": 0.20},
    "postcode": {"crm": 0.10, "erp_billing": 0.05, "web_signup": 0.15},
    "province": {"crm": 0.05, "erp_billing": 0.02},
    "country": {"crm": 0.05},
    "city": {"call_center": 0.30},
    "caller_name": {"call_center": 0.05},
}

# Injected monitoring events, as a share of people (at least one of each when feasible).
EVENT_RATES: dict[str, float] = {
    "address_changed_3x_month": 0.003,
    "mobile_changed_4x": 0.002,
    "email_became_invalid": 0.004,
    "province_mismatch_id_region": 0.004,
    # later_events.py: injected after the regular data, each from its own random stream.
    "billing_address_changed_2x_month": 0.003,
    "name_changed_2x_month": 0.001,  # low: a renamed record is a harder match
    "tags_or_level_changed_3x_month": 0.003,
    "birth_date_mismatch_id": 0.002,  # injected; swapped birth dates on valid IDs come on top
    "no_interaction_for_a_year": 0.002,  # injected; contacts ageing past a year come on top
}
SHARED_PHONE_GROUPS_PER_PERSON = 0.0001  # groups of >= SHARED_PHONE_MIN_PEOPLE people
SHARED_PHONE_MIN_PEOPLE = 10
SHARED_PHONE_MAX_PEOPLE = 15
SHARED_EMAIL_GROUPS_PER_PERSON = 0.0001  # groups of >= SHARED_EMAIL_MIN_PEOPLE people
SHARED_EMAIL_MIN_PEOPLE = 8
SHARED_EMAIL_MAX_PEOPLE = 12
EVENT_WINDOW_DAYS = 30  # "within a month": change events are placed inside 30 days

EVENT_TYPES: tuple[str, ...] = (
    "address_changed_3x_month",
    "mobile_changed_4x",
    "shared_phone",
    "email_became_invalid",
    "province_mismatch_id_region",
    "billing_address_changed_2x_month",
    "name_changed_2x_month",
    "tags_or_level_changed_3x_month",
    "shared_email",
    "birth_date_mismatch_id",
    "no_interaction_for_a_year",
)
