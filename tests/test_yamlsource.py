import pytest

from builder.errors import InputError
from builder.yamlsource import MAX_NODES, format_path, load_bytes, load_text


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
