from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whatsapp_core.errors import InvalidInput
from whatsapp_core.policies.templates import (
    TemplateButton,
    TemplateCategory,
    TemplateComponents,
    placeholders,
    render,
    render_header,
    validate_definition,
    validate_parameters,
    validate_template_name,
)

pytestmark = pytest.mark.unit

TEXT = st.text(alphabet="abcXYZ019 .,!?:-é", min_size=1, max_size=20).filter(str.strip)
VALUE = st.text(alphabet="abcXYZ019 .,!?:-é@", min_size=1, max_size=30).filter(
    lambda v: v.strip() and "     " not in v
)
NAMED = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)


@st.composite
def bodies(draw: st.DrawFn, named: bool = False) -> tuple[str, list[str]]:
    """A well-formed body and its placeholder names in order of first appearance."""
    if named:
        names = draw(st.lists(NAMED, max_size=5, unique=True))
    else:
        names = [str(i) for i in draw(st.permutations(range(1, draw(st.integers(0, 5)) + 1)))]
    # Names may repeat in the text; text always separates two placeholders.
    uses = names + draw(st.lists(st.sampled_from(names), max_size=3)) if names else []
    body = draw(TEXT) + "".join(f"{{{{{n}}}}}" + draw(TEXT) for n in uses)
    return body, list(dict.fromkeys(uses))


@given(bodies(), st.booleans())
def test_well_formed_templates_are_accepted(case: tuple[str, list[str]], header: bool) -> None:
    body, _ = case
    components = TemplateComponents(
        body=body,
        header_text="Order {{1}}" if header else None,
        footer="Reply STOP to opt out",
        buttons=(
            TemplateButton(type="QUICK_REPLY", text="Yes"),
            TemplateButton(type="URL", text="Track", url="https://example.com/t/{{1}}"),
            TemplateButton(type="PHONE_NUMBER", text="Call us", phone_number="+15550001111"),
        ),
    )
    validate_definition("order_update_2", TemplateCategory.UTILITY, components)


@given(st.one_of(bodies(), bodies(named=True)))
def test_placeholders_are_distinct_and_in_order_of_first_appearance(
    case: tuple[str, list[str]],
) -> None:
    body, names = case
    assert placeholders(body) == names


@given(bodies(), st.lists(VALUE, max_size=7))
def test_parameters_are_accepted_exactly_when_the_count_matches(
    case: tuple[str, list[str]], values: list[str]
) -> None:
    body, names = case
    components = TemplateComponents(body=body)
    if len(values) == len(names):
        validate_parameters(components, values)
        return
    with pytest.raises(InvalidInput) as info:
        validate_parameters(components, values)
    given_names = [str(i) for i in range(1, len(values) + 1)]
    assert info.value.details["field"] == "body_params"
    assert info.value.details["missing"] == ", ".join(n for n in names if n not in given_names)
    assert info.value.details["extra"] == ", ".join(n for n in given_names if n not in names)


@given(bodies(named=True), st.data())
def test_named_parameters_must_match_the_names(
    case: tuple[str, list[str]], data: st.DataObject
) -> None:
    body, names = case
    components = TemplateComponents(body=body)
    values = {n: data.draw(VALUE) for n in names}
    validate_parameters(components, values)
    if names:
        dropped = data.draw(st.sampled_from(names))
        with pytest.raises(InvalidInput) as info:
            validate_parameters(components, {n: v for n, v in values.items() if n != dropped})
        assert info.value.details["missing"] == dropped
    with pytest.raises(InvalidInput) as info:
        validate_parameters(components, {**values, "zz_not_in_body": "x"})
    assert info.value.details["extra"] == "zz_not_in_body"


@given(bodies(), st.data())
def test_a_rendered_template_has_no_placeholders_left(
    case: tuple[str, list[str]], data: st.DataObject
) -> None:
    body, names = case
    values = data.draw(st.lists(VALUE, min_size=len(names), max_size=len(names)))
    text = render(TemplateComponents(body=body), values)
    assert placeholders(text) == []
    for value in values:
        assert value in text
    tokens = re.findall(r"\{\{(\d+)\}\}", body)
    assert len(text) == len(re.sub(r"\{\{\d+\}\}", "", body)) + sum(
        len(values[int(t) - 1]) for t in tokens
    )


def test_render_fills_each_occurrence_and_never_expands_a_value() -> None:
    components = TemplateComponents(body="Hi {{1}}, order {{2}} is ready. Bye {{1}}!")
    assert render(components, ["{{2}}", "A-17"]) == "Hi {{2}}, order A-17 is ready. Bye {{2}}!"


def test_render_header_fills_the_header_placeholder() -> None:
    components = TemplateComponents(body="Body", header_text="Order {{1}} shipped")
    assert render_header(components, ["A-17"]) == "Order A-17 shipped"
    assert render_header(TemplateComponents(body="Body")) is None
    with pytest.raises(InvalidInput, match="header_params"):
        render_header(components)


@pytest.mark.parametrize(
    "value",
    ["", "   ", "two\nlines", "a\ttab", "five     spaces", "x" * 1025],
)
def test_body_parameter_values_meta_refuses_are_refused(value: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_parameters(TemplateComponents(body="Hello {{1}}!"), [value])
    assert info.value.details == {"field": "body_params", "parameter": "1"}


def test_four_spaces_and_the_longest_value_are_fine() -> None:
    validate_parameters(TemplateComponents(body="Hello {{1}}!"), ["four    spaces"])
    validate_parameters(TemplateComponents(body="Hello {{1}}!"), ["x" * 1024])


def test_header_parameters_are_checked_against_the_header() -> None:
    components = TemplateComponents(body="Hello {{1}}", header_text="Order {{1}}")
    validate_parameters(components, ["Ann"], ["A-17"])
    with pytest.raises(InvalidInput) as info:
        validate_parameters(components, ["Ann"])
    assert info.value.details["field"] == "header_params"
    with pytest.raises(InvalidInput, match="limit is 60"):
        validate_parameters(components, ["Ann"], ["x" * 61])


def test_a_string_is_not_a_parameter_list() -> None:
    with pytest.raises(InvalidInput, match="not a string"):
        validate_parameters(TemplateComponents(body="Hi {{1}} {{2}} {{3}}"), "abc")


@given(st.from_regex(r"[a-z0-9_]{1,512}", fullmatch=True))
def test_well_formed_names_are_accepted(name: str) -> None:
    validate_template_name(name)


@pytest.mark.parametrize("name", ["", "Order", "order-update", "order update", "é", "a" * 513])
def test_malformed_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_template_name(name)
    assert info.value.details == {"field": "name"}


def _button(type_: str = "QUICK_REPLY", **kw: str) -> TemplateButton:
    return TemplateButton(type=type_, text=kw.pop("text", "Go"), **kw)


@pytest.mark.parametrize(
    ("components", "field"),
    [
        (TemplateComponents(body=""), "body"),
        (TemplateComponents(body="   "), "body"),
        (TemplateComponents(body="x" * 1025), "body"),
        (TemplateComponents(body="Hi {{1}} and {{3}}"), "body"),
        (TemplateComponents(body="Hi {{2}}"), "body"),
        (TemplateComponents(body="Hi {{0}}"), "body"),
        (TemplateComponents(body="Hi {{01}}"), "body"),
        (TemplateComponents(body="Hi {{First}}"), "body"),
        (TemplateComponents(body="Hi {{ 1 }}"), "body"),
        (TemplateComponents(body="Hi {{}}"), "body"),
        (TemplateComponents(body="Hi {{1"), "body"),
        (TemplateComponents(body="Hi {{1}}{{2}}"), "body"),
        (TemplateComponents(body="Hi {{1}} {{name}}"), "body"),
        (TemplateComponents(body="Hi {{name}}", header_text="Order {{1}}"), "body"),
        (TemplateComponents(body="Hi", header_text="x" * 61), "header_text"),
        (TemplateComponents(body="Hi", header_text="{{1}} and {{2}}"), "header_text"),
        (TemplateComponents(body="Hi", header_text="Order {{2}}"), "header_text"),
        (TemplateComponents(body="Hi", footer="x" * 61), "footer"),
        (TemplateComponents(body="Hi", footer="Bye {{1}}"), "footer"),
        (TemplateComponents(body="Hi", buttons=(_button(),) * 11), "buttons"),
        (TemplateComponents(body="Hi", buttons=(_button("CALL_ME"),)), "buttons"),
        (TemplateComponents(body="Hi", buttons=(_button(text="x" * 26),)), "buttons"),
        (TemplateComponents(body="Hi", buttons=(_button("URL"),)), "buttons"),
        (TemplateComponents(body="Hi", buttons=(_button(url="https://a.b"),)), "buttons"),
        (TemplateComponents(body="Hi", buttons=(_button("URL", url="ftp://a.b"),)), "buttons"),
        (
            TemplateComponents(body="Hi", buttons=(_button("PHONE_NUMBER", phone_number="call"),)),
            "buttons",
        ),
        (
            TemplateComponents(body="Hi", buttons=(_button("URL", url="https://a.b"),) * 3),
            "buttons",
        ),
    ],
)
def test_malformed_definitions_are_refused_naming_the_field(
    components: TemplateComponents, field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_definition("ok_name", TemplateCategory.MARKETING, components)
    assert info.value.details["field"] == field


def test_unknown_category_and_bad_name_are_refused() -> None:
    components = TemplateComponents(body="Hi")
    validate_definition("ok", "AUTHENTICATION", components)
    with pytest.raises(InvalidInput) as info:
        validate_definition("ok", "PROMO", components)
    assert info.value.details == {"field": "category"}
    with pytest.raises(InvalidInput) as info:
        validate_definition("Not OK", TemplateCategory.UTILITY, components)
    assert info.value.details == {"field": "name"}
