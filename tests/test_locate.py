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

from modpack.locate import LineMap, join, json_lines, resolver
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
