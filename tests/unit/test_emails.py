"""E-mail addresses: normal form, syntax validity (email-validator) and placeholders."""

from __future__ import annotations

from unittest import mock

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dagster_project.lib.demo.reference import PLACEHOLDER_EMAILS
from dagster_project.lib.demo.text import INVALID_EMAIL_KINDS, invalid_email
from dagster_project.lib.standardise import emails
from dagster_project.lib.standardise.emails import (
    DISPOSABLE_DOMAINS,
    INVALID_REASONS,
    EmailResult,
    standardise_email,
)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("zhang.wei@163.com", "zhang.wei@163.com"),
        ("John.Smith@Gmail.COM", "john.smith@gmail.com"),
        ("JOHN.SMITH@GMAIL.COM", "john.smith@gmail.com"),
        ("  zhangsan@qq.com \t", "zhangsan@qq.com"),
        ("38291765@qq.com", "38291765@qq.com"),  # QQ number as local part
        ("ｚｈａｎｇｓａｎ＠ｑｑ．ｃｏｍ", "zhangsan@qq.com"),  # full-width, incl. the @
        ("a+shop@gmail.com", "a+shop@gmail.com"),  # plus addressing kept
        ("first.last@mail.company.co.uk", "first.last@mail.company.co.uk"),
        ("o'brien@t-online.de", "o'brien@t-online.de"),
        ("mary_jane-w@my-domain.fr", "mary_jane-w@my-domain.fr"),
        ("Hans@Bücher.DE", "hans@bücher.de"),  # internationalised domain, kept in Unicode
        ("hans@xn--bcher-kva.de", "hans@bücher.de"),  # its Punycode form meets it
        ("张三@例子.中国", "张三@例子.中国"),  # internationalised local part (SMTPUTF8)
        ("ab--cd@example-mail.com", "ab--cd@example-mail.com"),
    ],
)
def test_valid_addresses(raw: str, normalised: str) -> None:
    result = standardise_email(raw)
    assert result.email_normalised == normalised
    assert result.email_is_valid is True
    assert result.email_invalid_reason is None
    assert result.email_is_placeholder is False


@pytest.mark.parametrize(
    ("raw", "normalised", "reason"),
    [
        ("a@@b.com", "a@@b.com", "multiple_at"),
        ("zhang@san@qq.com", "zhang@san@qq.com", "multiple_at"),
        ("zhangsan@", "zhangsan@", "empty_domain"),
        ("@qq.com", "@qq.com", "empty_local_part"),
        ("zhangsanqq.com", "zhangsanqq.com", "missing_at"),
        ("Zhang San@QQ.com", "zhang san@qq.com", "bad_characters"),
        ("zhangsan@ qq.com", "zhangsan@ qq.com", "bad_characters"),
        ("zhang,san@qq.com", "zhang,san@qq.com", "bad_characters"),
        ("John <john@gmail.com>", "john <john@gmail.com>", "bad_characters"),
        ("zhangsan@q_q.com", "zhangsan@q_q.com", "bad_characters"),
        ("zhangsan@qq", "zhangsan@qq", "missing_tld"),
        ("zhangsan@qq.123", "zhangsan@qq.123", "missing_tld"),
        ("zhangsan@qq.com.", "zhangsan@qq.com.", "bad_dots"),
        ("zhang..san@qq.com", "zhang..san@qq.com", "bad_dots"),
        ("zhangsan@qq..com", "zhangsan@qq..com", "bad_dots"),
        (".zhangsan@qq.com", ".zhangsan@qq.com", "bad_dots"),
        ("zhangsan.@qq.com", "zhangsan.@qq.com", "bad_dots"),
        ("zhangsan@-qq.com", "zhangsan@-qq.com", "bad_domain"),
        ("zhangsan@ab--cd.com", "zhangsan@ab--cd.com", "bad_domain"),
        ("zhangsan@" + "q" * 64 + ".com", "zhangsan@" + "q" * 64 + ".com", "bad_domain"),
        ("zhangsan@shop.test", "zhangsan@shop.test", "reserved_domain"),
        ("zhangsan@printer.local", "zhangsan@printer.local", "reserved_domain"),
        ("z" * 250 + "@qq.com", "z" * 250 + "@qq.com", "too_long"),
        ("ZHANGSAN", "zhangsan", "missing_at"),
    ],
)
def test_invalid_addresses(raw: str, normalised: str, reason: str) -> None:
    result = standardise_email(raw)
    assert result.email_normalised == normalised  # kept, trimmed and lower-cased, for stewards
    assert result.email_is_valid is False
    assert result.email_invalid_reason == reason
    assert reason in INVALID_REASONS


@pytest.mark.parametrize(
    ("raw", "is_valid"),
    [
        # The demo's placeholder list: all syntactically valid, all placeholders.
        *[(value, True) for value in PLACEHOLDER_EMAILS],
        ("NoEmail@Test.com", True),
        ("no-reply@company.com", True),
        ("a@a.com", True),
        ("qq@qq.com", True),
        ("123@qq.com", True),
        ("123456@qq.com", True),
        ("xxx@163.com", True),
        ("test+1@gmail.com", True),
        ("zhang@example.com", True),  # documentation domain: valid syntax, placeholder
        ("zhang@mail.example.org", True),
        ("zhang@mailinator.com", True),
        ("zhang@guerrillamail.com", True),
        ("zhang@10minutemail.com", True),
        ("zhang@yopmail.com", True),
        ("zhang@temp-mail.org", True),
        ("zhang@bccto.me", True),
        ("zhang@shop.test", False),  # reserved: invalid and a placeholder
        ("zhang@none.invalid", False),
        ("noemail@", False),
        ("n/a", False),
        ("N/A", False),
        ("none", False),
        ("无", False),
        ("-", False),
    ],
)
def test_placeholders(raw: str, is_valid: bool) -> None:
    result = standardise_email(raw)
    assert result.email_is_placeholder is True
    assert result.email_is_valid is is_valid


@pytest.mark.parametrize(
    "raw",
    ["58213@qq.com", "zhangsan@qq.com", "info@company.com", "john.doe@gmail.com", "a@gmail.com"],
)
def test_ordinary_addresses_are_not_placeholders(raw: str) -> None:
    assert standardise_email(raw).email_is_placeholder is False


@pytest.mark.parametrize("raw", [None, "", "   ", "\u3000", "\n"])
def test_no_address(raw: str | None) -> None:
    assert standardise_email(raw) == EmailResult(None, None, None, None)


def test_case_variants_of_one_address_meet() -> None:
    variants = ["Zhang.San@QQ.com", "ZHANG.SAN@QQ.COM", " zhang.san@qq.com", "Zhang.san@qq.com"]
    assert {standardise_email(v).email_normalised for v in variants} == {"zhang.san@qq.com"}


@pytest.mark.parametrize("kind", range(len(INVALID_EMAIL_KINDS)))
def test_every_demo_corruption_is_invalid_or_a_placeholder(kind: int) -> None:
    u1 = (kind + 0.5) / len(INVALID_EMAIL_KINDS)
    for email in ["zhang.wei88@163.com", "john.smith@gmail.com", "1234567890@qq.com"]:
        for u2 in (0.1, 0.5, 0.9):
            corrupted = invalid_email(email, u1, u2)
            result = standardise_email(corrupted)
            if INVALID_EMAIL_KINDS[kind] == "placeholder":
                assert result.email_is_placeholder is True, corrupted
            else:
                assert result.email_is_valid is False, corrupted


def test_disposable_list_is_lowercase_domains() -> None:
    for domain in DISPOSABLE_DOMAINS:
        assert domain == domain.lower().strip()
        assert "." in domain
        assert standardise_email(f"someone@{domain}").email_is_placeholder is True


# --- Properties ---------------------------------------------------------------------------------

EMAIL_PIECES = [
    *"ab@.-_+ AZ09\"'<>()[],;:\\",
    *("ü", "Ａ", "＠", "．", "\u3000", "张", "İ", "ß", "\u0301", "\x00", "xn--", "--"),
    *(".com", "@qq.com", "@example.com", "test", "123"),
]
any_text = st.text(max_size=60)
email_like = st.lists(st.sampled_from(EMAIL_PIECES), max_size=14).map("".join)


def _validator_accepts(text: str) -> bool:
    try:
        validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        return False
    return True


@given(st.one_of(any_text, email_like))
@example("İ@b.com")
@example("a@@b.com")
@example("\x00@qq.com")
@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_standardise_email_never_raises_is_idempotent_and_agrees_with_email_validator(
    raw: str,
) -> None:
    result = standardise_email(raw)
    assert isinstance(result, EmailResult)
    if result.email_is_valid is None:
        assert result == EmailResult(None, None, None, None)
        return
    assert isinstance(result.email_is_placeholder, bool)
    assert (result.email_invalid_reason is None) is result.email_is_valid
    if result.email_invalid_reason is not None:
        assert result.email_invalid_reason in INVALID_REASONS
        assert result.email_invalid_reason != "other"  # every known mistake has its own code
    # Validity is email-validator's verdict on the normal form, nothing more or less.
    assert result.email_is_valid is _validator_accepts(result.email_normalised)
    assert standardise_email(result.email_normalised) == result


label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True)
local_part = st.from_regex(r"[a-zA-Z0-9_+\-]{1,8}(\.[a-zA-Z0-9_+\-]{1,8}){0,2}", fullmatch=True)
top_level = st.one_of(
    st.sampled_from(["com", "cn", "de", "co", "c", "test", "local", "onion", "arpa", "xn"]),
    st.from_regex(r"[a-z0-9-]{1,5}", fullmatch=True),
)
plain_shaped = st.builds(
    lambda local, labels, tld: f"{local}@{'.'.join([*labels, tld])}",
    local_part,
    st.lists(label, min_size=1, max_size=3),
    top_level,
)


@given(st.one_of(plain_shaped, plain_shaped.map(lambda v: v.replace(".", "--", 1)), email_like))
@example("a@b.co")
@example("a@xn--bcher-kva.de")
@example("a@ab--cd.com")
@example("a@b.localhost")
@example("a@" + "b" * 63 + ".com")
@example("a@" + "b" * 64 + ".com")
@example("x" * 240 + "@qq.com")
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fast_path_agrees_with_email_validator(raw: str) -> None:
    """Every address the fast path accepts, email-validator accepts with the same normal form;
    and the whole result is the same with the fast path switched off."""
    text = emails._normal_form(raw)
    if emails._is_plain_valid(text):
        validated = validate_email(text, check_deliverability=False, allow_smtputf8=True)
        assert validated.normalized == text
    fast = standardise_email.__wrapped__(raw)
    with mock.patch.object(emails, "_is_plain_valid", return_value=False):
        slow = standardise_email.__wrapped__(raw)
    assert fast == slow
