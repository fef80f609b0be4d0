"""E-mail addresses: normal form, syntax validity and placeholder detection (R13).

`standardise_email(raw)` gives the normal form used for matching and display, whether the
address is syntactically valid (email-validator, no DNS), why not, and whether it is a
placeholder or throw-away address that identifies nobody.

Decisions:
- Normal form: NFKC (full-width `ＡＢＣ＠ｑｑ．ｃｏｍ` becomes ASCII), trimmed, all lower case,
  including the local part. RFC 5321 lets the part before the @ be case-sensitive, but virtually
  no provider treats it so (the large ones here, QQ, 163, Gmail, Outlook, do not), and in these
  sources case differs only by typing (3% all caps, 5% capitalised in the demo data), so
  folding case merges the same mailbox instead of splitting it. Plus tags (`a+shop@`) and Gmail
  dots are kept: removing them is provider-specific and would merge different mailboxes.
- Invalid values keep their normal form too (trimmed, NFKC, lower case), so stewards see what
  was given and validity rates can be measured on it.
- Validity is email-validator 2's syntax check with `check_deliverability=False` (no network),
  `allow_smtputf8=True` (internationalised local parts and domains are valid; the domain is kept
  in Unicode, not Punycode, and `xn--` input is shown in Unicode), other options at their
  defaults: a domain needs a dot (`a@qq` is invalid), and quoted local parts, display names
  (`John <a@b.com>`) and IP literals (`a@[1.2.3.4]`) are invalid (`bad_characters`).
  email-validator rejects special-use domains (`.test`, `.invalid`, `.localhost`, `.local`,
  `.onion`, `.arpa`); those count as invalid (`reserved_domain`). It does NOT reject
  `example.com/.net/.org` (RFC 6761 asks applications not to), so those are valid syntax and
  flagged by `email_is_placeholder`: validity and placeholder are independent questions, and a
  placeholder can be valid (test@test.com) or invalid (noemail, n/a).
- Placeholders (`email_is_placeholder`, decided for every given value, valid or not): a value
  meaning "none" (`无`, `n/a`, `-`); a local part (without its +tag) in PLACEHOLDER_LOCAL_PARTS,
  one character repeated (`xx@`, `0000@`), a keyboard run (`123@`, `123456@`, `abc@`,
  `qwerty@`), or digits shorter than a QQ number (5 digits); a local part equal to the domain's
  first label (`test@test.com`, `a@a.com`); a domain in PLACEHOLDER_DOMAINS or
  DISPOSABLE_DOMAINS (subdomains included) or under a reserved TLD (.example .test .invalid
  .localhost).
- Fast path: plain ASCII `local@domain.tld` (letters, digits, `._+-` in the local part; LDH
  labels; alphabetic TLD; no `--` in the domain; not a special-use domain; at most 254
  characters) is accepted without email-validator. tests/unit/test_emails.py checks with
  Hypothesis that every address the fast path accepts is accepted by email-validator with the
  same normal form, and that the whole result is the same with the fast path switched off.

Speed (2-core build machine shared with other jobs, min of 3 runs over 5,000-20,000 distinct
addresses): plain addresses 4-7 µs per call cold (fast path, including normalisation and the
placeholder checks), invalid ones ~20 µs, internationalised domains ~180 µs (IDNA inside
email-validator), email-validator alone on plain addresses 33-36 µs; a repeated input 0.2 µs
(LRU cache of 65,536 inputs; the result holds no mutable value, so it is shared safely).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email


class EmailResult(NamedTuple):
    email_normalised: str | None
    email_is_valid: bool | None
    email_invalid_reason: str | None
    email_is_placeholder: bool | None


# `email_invalid_reason` codes, a finite set that dbt tests check accepted values against.
# email-validator's messages are mapped onto them in `_reason`; one it does not know maps to
# `other` (tests fail if a known kind of mistake lands there).
INVALID_REASONS: tuple[str, ...] = (
    "missing_at",  # no @ at all: "ab.com"
    "multiple_at",  # more than one @: "a@@b.com" (quoted local parts are not accepted)
    "empty_local_part",  # nothing before the @: "@qq.com"
    "empty_domain",  # nothing after the @: "a@"
    "bad_characters",  # a character not allowed: spaces, commas, brackets, control characters
    "bad_dots",  # a period first, last or doubled: ".a@b.com", "a.@b.com", "a..b@c.com"
    "missing_tld",  # domain without a period or without an alphabetic TLD: "a@qq", "a@b.123"
    "bad_domain",  # other domain errors: hyphens at label ends, bad IDNA, label over 63
    "reserved_domain",  # special-use domain: .test .invalid .localhost .local .onion .arpa
    "too_long",  # over 254 bytes in UTF-8 (RFC 5321), or a part over its limit
    "other",
)

# Local parts that mean "no address": typed to get past a mandatory field. From the demo
# corruption list (noemail@test.com, none@none.com, test@test.com, na@na.com, no@email.com)
# and common CRM habits. Compared with the local part without a +tag. Extend with lowercase
# strings; keep real role mailboxes (info, sales, admin) out.
PLACEHOLDER_LOCAL_PARTS: frozenset[str] = frozenset(
    {
        "test",
        "testing",
        "tester",
        "test1",
        "test123",
        "noemail",
        "no-email",
        "no_email",
        "no.email",
        "nomail",
        "no-mail",
        "no_mail",
        "noreply",
        "no-reply",
        "no_reply",
        "donotreply",
        "do-not-reply",
        "do_not_reply",
        "none",
        "null",
        "nil",
        "na",
        "n.a",
        "n/a",
        "no",
        "nobody",
        "noone",
        "no-one",
        "nothing",
        "unknown",
        "example",
        "sample",
        "dummy",
        "fake",
        "fakeemail",
        "asdf",
        "qwerty",
        "xxx",
        "email",
        "user",
        "customer",
        "client",
        "guest",
        "anonymous",
        "placeholder",
        "invalid",
        "notprovided",
        "notgiven",
        "noaddress",
    }
)

# Domains that hold no customer's mailbox: RFC 2606 documentation domains (example.com/.net/.org,
# email-validator accepts them), and domains people type as filler (test.com, none.com, ...).
# Subdomains match too (mail.example.com). Extend with lowercase domains.
PLACEHOLDER_DOMAINS: frozenset[str] = frozenset(
    {
        "example.com",
        "example.net",
        "example.org",
        "example.cn",
        "test.com",
        "test.cn",
        "test.org",
        "test.net",
        "none.com",
        "noemail.com",
        "nomail.com",
        "no-email.com",
        "null.com",
        "na.com",
        "unknown.com",
        "fake.com",
        "fakeemail.com",
        "domain.com",
        "yourdomain.com",
        "email.example",
        "xxx.com",
        "abc.com",
        "qq.qq",
    }
)
# Reserved top-level names for tests and documentation (RFC 2606, RFC 6761): any address under
# them is a placeholder (and, except .example, invalid per email-validator).
PLACEHOLDER_TLDS: frozenset[str] = frozenset({"example", "test", "invalid", "localhost"})

# Throw-away mailbox services. A hand-picked subset of the most used services, each of them
# listed in the community blocklist github.com/disposable-email-domains/disposable-email-domains
# (disposable_email_blocklist.conf, ~5,000 entries, CC0), including the Chinese ones (bccto.me,
# chacuo.net, linshiyouxiang.net, 027168.com). Not the whole list on purpose: it also holds
# real providers (21cn.com is a Chinese ISP's mail). Extend with lowercase domains; for full
# coverage vendor that file as a data file and load it into this set.
DISPOSABLE_DOMAINS: frozenset[str] = frozenset(
    {
        "mailinator.com",
        "mailinator.net",
        "mailinator.org",
        "guerrillamail.com",
        "guerrillamail.net",
        "guerrillamail.org",
        "guerrillamail.biz",
        "guerrillamail.de",
        "guerrillamail.info",
        "guerrillamailblock.com",
        "sharklasers.com",
        "grr.la",
        "pokemail.net",
        "spam4.me",
        "10minutemail.com",
        "10minutemail.net",
        "yopmail.com",
        "yopmail.fr",
        "yopmail.net",
        "temp-mail.org",
        "temp-mail.ru",
        "tempmail.de",
        "tempmailo.com",
        "tempail.com",
        "tempr.email",
        "mytemp.email",
        "throwawaymail.com",
        "trashmail.com",
        "trashmail.de",
        "trashmail.net",
        "trashmail.me",
        "dispostable.com",
        "discard.email",
        "maildrop.cc",
        "getnada.com",
        "mailnesia.com",
        "mintemail.com",
        "mohmal.com",
        "fakeinbox.com",
        "emailondeck.com",
        "emailfake.com",
        "mailcatch.com",
        "getairmail.com",
        "moakt.com",
        "crazymailing.com",
        "inboxkitten.com",
        "mailsac.com",
        "jetable.org",
        "bccto.me",
        "chacuo.net",
        "linshiyouxiang.net",
        "027168.com",
    }
)

# Values typed instead of an address: "无", "n/a", "-". Placeholders whatever their validity.
_NO_ADDRESS_VALUES = frozenset(
    {"无", "没有", "暂无", "未知", "不详", "空", "-", "--", ".", "?", "/"}
)

# The fast path's shape: see the module docstring; every label 1-63 characters.
_PLAIN_ADDRESS = re.compile(
    r"[a-z0-9_+\-]+(?:\.[a-z0-9_+\-]+)*@"
    r"(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}",
    re.ASCII,
)
_MAX_ADDRESS_BYTES = 254  # RFC 5321 4.5.3.1.3 with errata 1690, email-validator's limit
# Keyboard runs typed as a local part (123@, 123456@, abc@, qwerty@): every prefix of 3+ keys.
_KEY_RUNS = frozenset(
    run[:end]
    for run in ("1234567890", "abcdefghijklmnopqrstuvwxyz", "qwertyuiop", "asdfghjkl")
    for end in range(3, len(run) + 1)
)
# email-validator's list, read (never changed) at import: ".test" matches a.test and a.b.test.
_SPECIAL_USE_SUFFIXES = tuple("." + name for name in SPECIAL_USE_DOMAIN_NAMES)
_PLACEHOLDER_OR_DISPOSABLE = PLACEHOLDER_DOMAINS | DISPOSABLE_DOMAINS
_NO_EMAIL = EmailResult(None, None, None, None)


def _normal_form(raw: str) -> str:
    """NFKC, trimmed, lower case; NFKC again because lower-casing can leave a decomposed form."""
    text = unicodedata.normalize("NFKC", raw).strip().lower()
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).strip()
    return text


def _is_plain_valid(text: str) -> bool:
    """The fast path: shapes email-validator is proved (by Hypothesis) to accept unchanged."""
    if _PLAIN_ADDRESS.fullmatch(text) is None:
        return False
    domain = text[text.index("@") + 1 :]
    return "--" not in domain and not ("." + domain).endswith(_SPECIAL_USE_SUFFIXES)


def _reason(message: str, text: str) -> str:
    """email-validator's message mapped onto INVALID_REASONS (messages of email-validator 2.x)."""
    if text.count("@") > 1:
        return "multiple_at"
    if "must have an @-sign" in message or ("at-sign" in message and "instead of" in message):
        return "missing_at"
    if "something before the @-sign" in message:
        return "empty_local_part"
    if "something after the @-sign" in message:
        return "empty_domain"
    if "too long" in message:
        return "too_long"
    if "should have a period" in message or "top-level domain" in message:
        return "missing_tld"
    if "special-use or reserved" in message:
        return "reserved_domain"
    if "so many characters" in message:  # a domain label over 63 characters
        return "bad_domain"
    if "hyphen" in message or "dashes" in message:  # "-b.com", "ab--cd.com", "a.-b.com"
        return "bad_domain"
    if "period" in message:
        return "bad_dots"
    if "invalid characters" in message or "unsafe characters" in message:
        return "bad_characters"
    if (
        "not supported" in message
        or "display name" in message
        or "angle bracket" in message
        or "Quoting" in message
        or "quote" in message
        or "bracketed" in message
        or "after the email address" in message
    ):
        return "bad_characters"
    if "IDNA" in message or "invalid (" in message:
        return "bad_domain"
    return "other"


def _is_placeholder(text: str) -> bool:
    if text in _NO_ADDRESS_VALUES:
        return True
    at = text.rfind("@")
    local, domain = (text, "") if at < 0 else (text[:at], text[at + 1 :])
    plus = local.find("+")
    base = local if plus < 0 else local[:plus]
    if base in PLACEHOLDER_LOCAL_PARTS or text in PLACEHOLDER_LOCAL_PARTS or base in _KEY_RUNS:
        return True
    if len(base) >= 2 and base == base[0] * len(base):  # aa@..., xxx@..., 0000@...
        return True
    if base.isdigit() and len(base) < 5:  # 12@...; QQ numbers, used as local parts, have 5+
        return True
    if not domain:
        return False
    dot = domain.find(".")
    if dot < 0:
        return domain in PLACEHOLDER_TLDS
    if domain[:dot] == base:  # test@test.com, a@a.com, qq@qq.com
        return True
    if domain[domain.rfind(".") + 1 :] in PLACEHOLDER_TLDS:
        return True
    # The domain and each parent with a dot: mail.example.com -> example.com.
    while dot >= 0:
        if domain in _PLACEHOLDER_OR_DISPOSABLE:
            return True
        domain = domain[dot + 1 :]
        dot = domain.find(".")
    return False


@lru_cache(maxsize=65_536)  # ~220 bytes a result: ~14 MB
def standardise_email(raw: str | None) -> EmailResult:
    """Normal form, validity and placeholder flag of one e-mail address. Never raises.

    Args:
        raw: the address as a source sent it, or None.

    Returns:
        An EmailResult; all fields None when nothing was given (None, empty, whitespace).
    """
    if raw is None:
        return _NO_EMAIL
    text = _normal_form(raw)
    if not text:
        return _NO_EMAIL
    placeholder = _is_placeholder(text)
    if len(text.encode("utf-8", "surrogatepass")) > _MAX_ADDRESS_BYTES:
        # Invalid whatever else is wrong; also bounds email-validator's cost on pasted text.
        return EmailResult(text, False, "too_long", placeholder)
    if _is_plain_valid(text):
        return EmailResult(text, True, None, placeholder)
    try:
        validated = validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as error:
        return EmailResult(text, False, _reason(str(error), text), placeholder)
    normalised = _normal_form(validated.normalized)
    return EmailResult(normalised, True, None, _is_placeholder(normalised))
