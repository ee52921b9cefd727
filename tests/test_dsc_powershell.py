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


# -- incremental parsing (cmfw check parses a policy's scripts from the tree of the one before) --

_BASE = """Configuration Demo
{
    Node 'localhost'
    {
        Firewall 'CMFW-P0-A'
        {
            Name = 'CMFW-P0-A'
            LocalPort = @('80', '443')
            Description = 'one'
        }
    }
}
"""

#: Lines that keep a script valid, lines that break it, and lines that bring in code.
_LINES = st.one_of(
    st.builds(lambda v: f"            Description = {quote(v)}", hostile),
    st.sampled_from([
        "            Enabled = $true", "        }", "        {", "            Name = 'x", "            Name = \"$x\"",
        "            Port = @('1', '2'", "# a comment with ' and \"", "$(Remove-Item C:\\)", "",
        "            Script = @'\n'@", "            Text = @'\nline ' \"\n'@",
    ]),
)


def _shape(tree) -> list[tuple[str, int, int, bool]]:  # type: ignore[no-untyped-def]
    out, stack = [], [tree.root_node]
    while stack:
        node = stack.pop()
        out.append((node.type, node.start_byte, node.end_byte, node.is_missing))
        stack.extend(reversed(node.children))
    return out


@given(st.lists(st.lists(st.tuples(st.integers(0, 12), st.booleans(), _LINES), min_size=1, max_size=4), min_size=1, max_size=6))
def test_a_reparsed_script_has_the_tree_and_the_problems_of_a_fresh_parse(runs) -> None:  # type: ignore[no-untyped-def]
    """Each script of a run differs from the one before in a few lines (same line count,
    or lines added and removed): the incremental parse gives the tree a fresh parse gives."""
    from builder.syntax.powershell import Reparser, _parser

    reparser, checker, lines = Reparser(), Reparser(), _BASE.splitlines()
    scripts = [_BASE]
    for edits in runs:
        for row, insert, line in edits:
            row = min(row, len(lines))
            if insert or row == len(lines):
                lines.insert(row, line)
            else:
                lines[row] = line
        scripts.append("\r\n".join(lines) + "\r\n")
    for script in scripts:
        raw = script.encode("utf-8")
        again, fresh = reparser.parse(raw), _parser().parse(raw)
        assert _shape(again) == _shape(fresh)
        assert syntax_problems(script, ["$true"], checker) == syntax_problems(script, ["$true"])


def test_each_thread_has_its_own_reparsers() -> None:
    """A reparser edits its last tree before each parse: two threads checking builds at
    once must not share one."""
    import threading

    from builder.dsc.check import _reparser

    mine = _reparser("ps1")
    assert _reparser("ps1") is mine and _reparser("psd1") is not mine
    seen = []
    thread = threading.Thread(target=lambda: seen.append(_reparser("ps1")))
    thread.start()
    thread.join()
    assert seen and seen[0] is not mine
