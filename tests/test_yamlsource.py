import pytest

from builder.errors import InputError
from builder.yamlsource import MAX_ALIAS_NODES, MAX_EXPANDED_BYTES, MAX_NODES, format_path, load_bytes, load_text


def problems(text: str) -> list[str]:
    with pytest.raises(InputError) as info:
        load_text(text, "f.yaml")
    return [str(p) for p in info.value.problems]


def test_positions_of_values_and_keys() -> None:
    doc = load_text("a:\n  b: [1, 2]\n  c: x\n", "f.yaml")
    assert doc.data == {"a": {"b": [1, 2], "c": "x"}}
    assert doc.where(("a", "b", 1)) == (2, 10)
    assert doc.where(("a", "c"), key=True) == (3, 3)
    # An unknown path falls back to the nearest ancestor that exists.
    assert doc.where(("a", "missing", 4)) == (2, 3)


def test_yaml_1_2_core_scalars() -> None:
    doc = load_text("a: no\nb: on\nc: 010\nd: true\ne: ~\nf: 1.5\ng: 2026-01-01\n", "f.yaml")
    assert doc.data == {"a": "no", "b": "on", "c": 10, "d": True, "e": None, "f": 1.5, "g": "2026-01-01"}


def test_duplicate_keys_are_refused_with_both_lines() -> None:
    assert problems("a: 1\nb: 2\na: 3\n") == ["f.yaml:3:1: a: duplicate key 'a' (first given on line 1)"]


def test_syntax_error_names_line_and_column() -> None:
    [message] = problems("policies:\n  - name: [x\n")
    assert message.startswith("f.yaml:3:1: YAML syntax error:")


def test_empty_file() -> None:
    assert problems("") == ["f.yaml:1:1: the file is empty"]
    assert problems("# only a comment\n") == ["f.yaml:1:1: the file is empty"]


def test_merge_keys_and_complex_keys_are_refused() -> None:
    assert "merge keys" in problems("<<: {a: 1}\n")[0]
    assert "a key must be plain text" in problems("? [1]\n: 2\n")[0]
    assert "must be text; quote it" in problems("80: http\n")[0]


def test_unsafe_tags_cannot_construct_objects() -> None:
    [message] = problems("a: !!python/object/apply:os.system ['true']\n")
    assert message == "f.yaml:1:4: a: the YAML tag '!!python/object/apply:os.system' is not supported here"
    assert "not supported" in problems("a: !!binary aGk=\n")[0]


def test_alias_expansion_is_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i-1}"] * 10) + "]")
    with pytest.raises(InputError) as info:
        load_text("\n".join(lines) + "\n", "bomb.yaml")
    assert f"repeat more than {MAX_ALIAS_NODES} values" in str(info.value)


def test_a_big_aliased_string_counts_once_per_use() -> None:
    """9 MiB once is a (large) file; a thousand uses of it are 9 GiB of text."""
    text = 'a: &a "' + "x" * (9 * 1024 * 1024) + '"\nb: [' + ", ".join(["*a"] * 1000) + "]\n"
    with pytest.raises(InputError) as info:
        load_text(text, "big.yaml")
    assert info.value.lines() == [f"big.yaml:1: error: b[1]: aliases (*name) expand the matrix beyond {MAX_EXPANDED_BYTES // 2**20} MiB of text"]


def test_ordinary_aliases_still_work() -> None:
    doc = load_text("consoles: &c [10.0.0.1, 10.0.0.2]\np: [{from: *c}, {from: *c}]\n", "f.yaml")
    assert doc.data["p"][1]["from"] == ["10.0.0.1", "10.0.0.2"]


def test_many_plain_values_stop_at_the_node_limit() -> None:
    with pytest.raises(InputError) as info:
        load_text("a: [" + ", ".join(["1"] * (MAX_NODES + 5)) + "]\n", "flat.yaml")
    assert f"more than {MAX_NODES} values" in str(info.value)


def test_recursive_alias_is_bounded() -> None:
    with pytest.raises(InputError) as info:
        load_text("a: &a [*a]\n", "f.yaml")
    assert "nested deeper than" in str(info.value)


def test_bytes_that_are_not_utf8_or_hold_nul() -> None:
    with pytest.raises(InputError) as info:
        load_bytes(b"a: 1\nb: \xff\n", "f.yaml")
    assert str(info.value) == "f.yaml:2: not UTF-8 text (invalid byte 0xFF at offset 8)"
    with pytest.raises(InputError) as info:
        load_bytes(b"a: 1\x00\n", "f.yaml")
    assert "NUL" in str(info.value)


def test_utf8_bom_is_accepted() -> None:
    assert load_bytes(b"\xef\xbb\xbfa: caf\xc3\xa9\n", "f.yaml").data == {"a": "café"}


def test_format_path() -> None:
    assert format_path(("policies", 0, "features", 2, "remote-control")) == "policies[0].features[2].remote-control"
    assert format_path(()) == ""


@pytest.mark.parametrize("text", ["a:\n\t- x\n", "a:\n  - b: 1\n\tc: 2\n"])
def test_a_tab_in_the_indentation_is_named(text: str) -> None:
    with pytest.raises(InputError) as info:
        load_text(text, "tab.yaml")
    [line] = info.value.lines()
    assert line.endswith("a tab character; YAML indents with spaces only (replace the tab with spaces)") and (":2:" in line or ":3:" in line)


@pytest.mark.parametrize("bom, codec", [(b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")])
def test_utf16_with_a_bom_is_read(bom: bytes, codec: str) -> None:
    """What Windows PowerShell 5.1's Out-File writes."""
    raw = bom + "version: 1\r\nname: Caf\u00e9\r\n".encode(codec)
    doc = load_bytes(raw, "ps.yaml")
    assert doc.data == {"version": 1, "name": "Caf\u00e9"}
    assert doc.where(("name",)) == (2, 7)


def test_utf16_without_a_bom_says_save_as_utf8() -> None:
    with pytest.raises(InputError) as info:
        load_bytes("version: 1\r\n".encode("utf-16-le"), "ps.yaml")
    assert "it looks like UTF-16 without a byte order mark: save it as UTF-8" in str(info.value)
