"""PowerShell literals, escaped by construction, and the syntax check of generated scripts."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builder.syntax.powershell import Raw, literal, quote, syntax_problems
from builder.syntax.templating import environment


def test_every_single_quote_powershell_knows_is_doubled() -> None:
    assert quote("it's") == "'it''s'"
    assert quote("it\u2019s \u2018x\u2019 \u201aa\u201b") == "'it\u2019\u2019s \u2018\u2018x\u2019\u2019 \u201a\u201aa\u201b\u201b'"
    assert quote('"$(Remove-Item C:\\)" `whoami`') == "'\"$(Remove-Item C:\\)\" `whoami`'"


def test_literals() -> None:
    assert literal(True) == "$true" and literal(7) == "7"
    assert literal(("a", "b'c")) == "@('a', 'b''c')"
    assert literal(Raw("Firewall")) == "Firewall"
    with pytest.raises(ValueError):
        quote("a\x00b")


def test_templates_cannot_insert_raw_text() -> None:
    template = environment("dsc", literal).from_string("Name = {{ value }}")
    assert template.render(value="x'; Remove-Item C:\\ -Recurse; '") == "Name = 'x''; Remove-Item C:\\ -Recurse; '''"
    import jinja2

    with pytest.raises(jinja2.UndefinedError):
        template.render()


hostile = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


@given(hostile)
def test_any_text_stays_one_literal(value: str) -> None:
    source = f"$x = {quote(value)}\n"
    assert syntax_problems(source, ["$x"]) == []


@pytest.mark.parametrize(
    "source, fragment",
    [
        ("Name = 'a''\n", "syntax error"),
        ('Name = "x"\n', "expandable string literal"),
        ("Name = $(Get-Date)\n", "sub expression"),
        ("Name = $env:USERNAME\n", "variable $env:username"),
        ("Configuration X {\n", "syntax error"),
    ],
)
def test_code_is_flagged(source: str, fragment: str) -> None:
    problems = syntax_problems(source)
    assert problems and any(fragment in message for _, message in problems), problems
