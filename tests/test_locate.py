"""The JSON line locator (modpack/locate.py) against the character-by-character scanner it replaced.

json_lines runs for every module.json that has findings, so it was rewritten as a token scan; the
scanner below is the former implementation, kept as the oracle: on any valid JSON text both must
give every path the same line. On arbitrary text the locator must never raise.
"""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modpack.locate import MAX_DEPTH, LineMap, join, json_lines, resolver, toml_lines
from tests.support.paths import CASES

STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
SCALAR = re.compile(r"[^\s,\]}]+")


class ReferenceScanner:
    """A tolerant recursive scanner: records where each value starts, never raises."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.lines: LineMap = {}

    def skip_space(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in " \t\r\n":
            if text[pos] == "\n":
                self.line += 1
            pos += 1
        self.pos = pos

    def value(self, path: str, depth: int = 0) -> None:
        self.skip_space()
        self.lines.setdefault(path, self.line)
        if self.pos >= len(self.text):
            return
        char = self.text[self.pos]
        if depth > 200 and char in "[{":
            self.skip_nested()
            return
        if char == "{":
            self.container(path, "}", depth, keyed=True)
        elif char == "[":
            self.container(path, "]", depth, keyed=False)
        else:
            match = (STRING if char == '"' else SCALAR).match(self.text, self.pos)
            self.pos = match.end() if match else self.pos + 1

    def skip_nested(self) -> None:
        """Past a container too deep to map: count brackets outside strings, never recurse."""
        level = 0
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == '"':
                match = STRING.match(self.text, self.pos)
                self.pos = match.end() if match else self.pos + 1
                continue
            if char == "\n":
                self.line += 1
            elif char in "[{":
                level += 1
            elif char in "]}":
                level -= 1
                if level == 0:
                    self.pos += 1
                    return
            self.pos += 1

    def container(self, path: str, close: str, depth: int, *, keyed: bool) -> None:
        self.pos += 1
        index = 0
        while True:
            self.skip_space()
            if self.pos >= len(self.text) or self.text[self.pos] == close:
                self.pos += 1
                return
            child: str | int = index
            if keyed:
                match = STRING.match(self.text, self.pos)
                if not match:
                    return
                child = unquote(match.group())
                self.pos = match.end()
                self.skip_space()
                if self.text[self.pos : self.pos + 1] != ":":
                    return
                self.pos += 1
            before = self.pos
            self.value(join(path, child), depth + 1)
            if self.pos == before:  # nothing consumed: malformed text, stop rather than spin
                return
            index += 1
            self.skip_space()
            if self.text[self.pos : self.pos + 1] == ",":
                self.pos += 1


def unquote(token: str) -> str:
    try:
        return str(json.loads(token))
    except ValueError:
        return token[1:-1]


def reference_json_lines(text: str) -> LineMap:
    scanner = ReferenceScanner(text)
    scanner.value("")
    return scanner.lines


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=60,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, st.sampled_from([None, 0, 1, 2, 4, "\t"]), st.booleans())
def test_every_value_gets_the_line_the_former_scanner_gave(value: Any, indent: Any, ascii_only: bool) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    assert json_lines(text) == reference_json_lines(text)


def test_every_case_file_maps_alike() -> None:
    checked = 0
    for path in sorted(CASES.rglob("*.json")):
        try:
            text = path.read_text(errors="replace")
            json.loads(text)
        except (OSError, ValueError):
            continue  # a dangling link or broken JSON: the bad cases have both
        assert json_lines(text) == reference_json_lines(text), path
        checked += 1
    assert checked > 50


def test_duplicate_keys_keep_the_first_line_and_escaped_keys_are_unquoted() -> None:
    text = (
        '{\n  "a": 1,\n  "a": 2,\n  "b\\u00e9": {\n    "c": [\n      true,\n      {"d": null}\n    ]\n  }\n}'
    )
    lines = json_lines(text)
    assert lines["a"] == 2 and lines["b\u00e9"] == 4 and lines["b\u00e9.c[1].d"] == 7
    assert resolver(lines)("b\u00e9.c[1].d.missing") == 7


def test_deep_nesting_is_skipped_not_recursed() -> None:
    text = "[" * 5000 + "]" * 5000
    lines = json_lines(text)
    assert lines[""] == 1 and len(lines) <= 202


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('{}[]:,"\\ \nab1-.e')), max_size=80))
def test_any_text_gets_lines_never_an_exception(text: str) -> None:
    lines = json_lines(text)
    assert all(1 <= line <= text.count("\n") + 1 for line in lines.values())


# --- TOML ---------------------------------------------------------------------------------------
#
# The oracle: documents written here line by line, so the line of every key, array item and
# inline table's key is known as it is written. Values that span lines (multi-line strings whose
# text looks like `[table]` and `key = 1`, arrays with an item a line) are where a line matcher
# went wrong: every key after such a string was placed in the wrong table, or on its header.

LOOKALIKES = [
    "[commands]",
    "[[targets]]",
    "name = 'x'",
    "  arity = 3",
    "# not a comment",
    '"',
    "'",
    "]",
    "a line-ending backslash \\",  # in a basic string it joins the lines; in a literal one, text
]
toml_keys = st.sampled_from(["name", "arity", "flags", "so", "a-b", '"quoted key"', "'literal'", "x.y"])


@st.composite
def toml_values(draw: st.DrawFn, key_path: str, first_line: int) -> tuple[list[str], dict[str, int]]:
    """A value's lines (the first follows `key = `) and the lines of the paths inside it."""
    kind = draw(st.sampled_from(["int", "string", "multiline", "literal", "array", "long_array", "inline"]))
    if kind == "int":
        return [str(draw(st.integers(-5, 5)))], {}
    if kind == "string":
        return ['"a \\" [b] = c"'], {}
    if kind in ("multiline", "literal"):
        quote = '"""' if kind == "multiline" else "'''"
        body = draw(st.lists(st.sampled_from(LOOKALIKES), max_size=3))
        return [quote, *body, f"text{quote}"], {}
    if kind == "array":
        size = draw(st.integers(0, 3))
        return ["[" + ", ".join(f'"{n}"' for n in range(size)) + "]"], {
            f"{key_path}[{n}]": first_line for n in range(size)
        }
    if kind == "long_array":
        size = draw(st.integers(1, 3))
        items = [f'  "item {n}",  # a comment, = and ]' for n in range(size)]
        return ["[", *items, "]"], {f"{key_path}[{n}]": first_line + 1 + n for n in range(size)}
    return ['{ name = "n", arity = 2, flags = ["a", "b"] }'], {
        f"{key_path}.{key}": first_line for key in ("name", "arity", "flags", "flags[0]", "flags[1]")
    }


def _key_path(key: str) -> str:
    return ".".join(part.strip("\"'") for part in key.split(".")) if key[0] not in "\"'" else key[1:-1]


@st.composite
def toml_documents(draw: st.DrawFn) -> tuple[str, dict[str, int]]:
    lines: list[str] = []
    expected: dict[str, int] = {}
    counts: dict[str, int] = {}
    for header in draw(
        st.lists(
            st.sampled_from(["", "[module]", "[[commands]]", "[[targets]]", "[targets.build]"]), max_size=6
        )
    ):
        if header == "[targets.build]" and "targets" not in counts:
            continue  # a table under an array of tables needs an element to belong to
        if header:
            name = header.strip("[]")
            if header.startswith("[["):
                counts[name] = counts.get(name, -1) + 1
                table = f"{name}[{counts[name]}]"
            else:
                table = f"targets[{counts['targets']}].build" if name == "targets.build" else name
            if table in expected:
                continue  # a table defined twice is not TOML
            lines.append(header)
            expected[table] = len(lines)
            expected.setdefault(table.partition("[")[0], len(lines))  # an array of tables, at its first
        else:
            if lines:
                continue  # keys before any table only at the top
            table = ""
        for key in dict.fromkeys(draw(st.lists(toml_keys, max_size=4))):
            path = f"{table}.{_key_path(key)}" if table else _key_path(key)
            if key == "x.y" and path in expected:
                continue
            value, inside = draw(toml_values(path, len(lines) + 1))
            lines.append(f"{key} = {value[0]}")
            lines.extend(value[1:])
            expected[path] = len(lines) - len(value) + 1
            if key == "x.y":  # a dotted key opens table x where it is written
                expected.setdefault(path.removesuffix(".y"), expected[path])
            expected.update(inside)
        lines.append(draw(st.sampled_from(["", "# a comment = 1", "   "])))
    return "\n".join(lines) + "\n", expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(toml_documents())
def test_every_toml_key_gets_the_line_it_was_written_on(document: tuple[str, dict[str, int]]) -> None:
    import tomllib

    text, expected = document
    tomllib.loads(text)  # the oracle writes TOML
    lines = toml_lines(text)
    assert {path: lines.get(path) for path in expected} == expected, text


def test_a_table_under_an_array_of_tables_belongs_to_its_last_element() -> None:
    text = '[[targets]]\nname = "a"\n[targets.build]\nso = "a.so"\n[[targets]]\nname = "b"\n[targets.build]\nso = "b.so"\n'
    lines = toml_lines(text)
    assert lines["targets[0].build.so"] == 4 and lines["targets[1].build.so"] == 8
    assert "targets.build.so" not in lines


def test_unterminated_and_deep_toml_ends() -> None:
    assert toml_lines('a = """never closed\n[b]\nc = 1\n')["a"] == 1
    assert "b" not in toml_lines('a = """never closed\n[b]\nc = 1\n')


def test_deep_toml_is_mapped_no_deeper_than_json() -> None:
    """Every nested item's path was kept, each one longer than the last: 16,000 deep took 394 MB
    and 40,000 deep made `modpack validate` of a 200 KB file need gigabytes. Past MAX_DEPTH
    containers (or dotted parts), nothing is mapped."""
    deep = toml_lines("a = " + "[" * 3000 + "]" * 3000 + "\nb = 1\n")
    assert deep["a"] == 1 and deep["b"] == 2 and len(deep) <= MAX_DEPTH + 2
    tables = toml_lines("".join(f"[[{'.'.join(['a'] * n)}]]\n" for n in range(1, 1000)) + "[c]\nd = 1\n")
    assert len(tables) <= 2 * MAX_DEPTH + 2 and tables["c.d"] == 1001
    inline = toml_lines("a = " + "[{b = " * 2000 + "1" + "}]" * 2000 + "\nc = 2\n")
    assert inline["c"] == 2 and len(inline) <= 2 * MAX_DEPTH + 2


def test_a_line_ending_backslash_keeps_the_string_whole() -> None:
    """`\\` at the end of a line in a basic multi-line string joins the lines; the scanner read
    the string as `""` and what followed as statements: `[[commands]]` in a description shifted
    every command by one, and keys after it went to the wrong table."""
    text = '[module]\ndescription = """Counts. \\\n[[commands]]\nname = 1\n"""\nname = "n"\n[[commands]]\nname = "a"\n'
    assert toml_lines(text) == {
        "module": 1,
        "module.description": 2,
        "module.name": 6,
        "commands": 7,
        "commands[0]": 7,
        "commands[0].name": 8,
    }


def test_quoted_keys_are_read_as_toml_reads_them() -> None:
    text = '[t]\n"\\U0001F600" = 1\n"a\\tb\\"c" = 2\n\'C:\\x\' = 3\n"a.b" = 4\n'
    import tomllib

    assert set(tomllib.loads(text)["t"]) == {"\U0001f600", 'a\tb"c', "C:\\x", "a.b"}
    lines = toml_lines(text)
    assert (lines["t.\U0001f600"], lines['t.a\tb"c'], lines["t.C:\\x"], lines["t.a.b"]) == (2, 3, 4, 5)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("[]{}=,.\"'#\\ \nab1")), max_size=80))
def test_any_text_gets_toml_lines_never_an_exception(text: str) -> None:
    lines = toml_lines(text)
    assert all(1 <= line <= text.count("\n") + 1 for line in lines.values())


def test_dotted_keys_place_the_tables_they_open() -> None:
    """`module.name = ...` at the top opens table `module`: a finding about the module as a whole
    (a missing field) or about `module.dependencies.dep1` had no line to fall back to."""
    text = (
        'module.name = "hello"\nmodule.dependencies.dep1.url = "u"\nbuild.so = "x"\n'
        '[[commands]]\nname = "a"\nextra.sub = 1\n[[commands]]\nname = "b"\n'
    )
    assert toml_lines(text) == {
        "module": 1,
        "module.name": 1,
        "module.dependencies": 2,
        "module.dependencies.dep1": 2,
        "module.dependencies.dep1.url": 2,
        "build": 3,
        "build.so": 3,
        "commands": 4,
        "commands[0]": 4,
        "commands[0].name": 5,
        "commands[0].extra": 6,
        "commands[0].extra.sub": 6,
        "commands[1]": 7,
        "commands[1].name": 8,
    }


def test_the_line_of_a_multi_line_string_nothing_closes() -> None:
    from modpack.locate import unclosed_string_line

    assert unclosed_string_line('a = 1\nb = """x\ny\n') == 2
    assert unclosed_string_line("a = 1\nb = '''x\n") == 2
    assert unclosed_string_line('a = """x"""') is None
    assert unclosed_string_line('a = """') == 1
    assert unclosed_string_line('a = "x"\n') is None
