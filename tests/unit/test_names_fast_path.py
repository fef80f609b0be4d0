"""The Han fast paths of standardise_name give exactly what the general path gives."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from dagster_project.lib.standardise import names
from dagster_project.lib.standardise.names import standardise_name

# Characters that steer the general path: honorific and familiar-prefix characters (王先生, 小王),
# compound surnames and surnames with a surname reading (欧阳, 单), placeholders (未知, 某某, 客户),
# the middle dot, plus ordinary given-name characters and a few non-Han ones.
_HAN = "王李张刘陈欧阳司马单曾长乐小老先生女士总哥姐某未知无客户测试明娜伟芳三丰爱新觉罗"
_OTHER = " ·-'NnAa/,Jo\u3000\u3400\uf900１"
_han_text = st.text(alphabet=_HAN, min_size=0, max_size=6)
_any_text = st.text(alphabet=_HAN + _OTHER, min_size=0, max_size=6)
_field = st.one_of(st.none(), _han_text, _any_text)


def _same(full: str | None, family: str | None, given_name: str | None) -> None:
    expected = names._general_standardise(full, family, given_name)
    assert standardise_name(full, family, given_name) == expected


@settings(max_examples=1500, deadline=None)
@given(full=_field)
@example(full="未知")
@example(full="王先生")
@example(full="小王")
@example(full="欧阳")
@example(full="欧阳娜娜")
@example(full="单")
@example(full="某某")
def test_han_full_name_alone(full: str | None) -> None:
    _same(full, None, None)


@settings(max_examples=1500, deadline=None)
@given(family=_field, given_name=_field)
@example(family="欧", given_name="阳明")
@example(family="欧阳", given_name="娜娜")
@example(family="某", given_name="某")
@example(family="未知", given_name="明")
@example(family="先", given_name="生")
@example(family="王", given_name="先生")
@example(family="张", given_name="")
def test_han_family_and_given_fields(family: str | None, given_name: str | None) -> None:
    _same(None, family, given_name)


@settings(max_examples=500, deadline=None)
@given(full=_field, family=_field, given_name=_field)
def test_other_shapes_take_the_general_path(
    full: str | None, family: str | None, given_name: str | None
) -> None:
    _same(full, family, given_name)


def test_long_han_values_keep_their_too_long_verdict() -> None:
    _same("张" * 101, None, None)
    _same(None, "张" * 60, "三" * 41)
    assert standardise_name(None, "张" * 60, "三" * 41).name_invalid_reason == "too_long"
