"""Phone numbers to E.164 with `phonenumbers` (R13). Issue 4 adds type, reason and speed."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import phonenumbers


@lru_cache(maxsize=500_000)
def to_e164(raw: str | None, default_region: str = "CN") -> str | None:
    """E.164 form of a valid number, or None when it cannot be parsed or is not valid."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", raw).strip()
    if text.startswith("00"):
        # International prefix written as 00 (0086...) rather than +.
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
