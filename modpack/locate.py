"""Line numbers for paths such as `commands[3].first_key`, in JSON, TOML and YAML text.

The standard parsers do not report positions, so these small scanners map each value's path to
the line where it starts. They run only for files that have findings, and a path they cannot
place falls back to its nearest parent: a line number helps, it never decides anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

LineMap = dict[str, int]


def resolver(lines: LineMap) -> Callable[[str], int | None]:
    """A resolver that answers the line of a path, or of its nearest placed parent."""

    def line_of(path: str) -> int | None:
        while True:
            if path in lines:
                return lines[path]
            if not path:
                return None
            path = parent_path(path)

    return line_of


def parent_path(path: str) -> str:
    cut = max(path.rfind("."), path.rfind("["))
    return path[: max(cut, 0)]


def join(prefix: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else key


# --- JSON -------------------------------------------------------------------------------------

_JSON_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_JSON_SCALAR = re.compile(r"[^\s,\]}]+")


class _JsonScanner:
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
            match = (_JSON_STRING if char == '"' else _JSON_SCALAR).match(self.text, self.pos)
            self.pos = match.end() if match else self.pos + 1

    def skip_nested(self) -> None:
        """Past a container too deep to map: count brackets outside strings, never recurse."""
        level = 0
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == '"':
                match = _JSON_STRING.match(self.text, self.pos)
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
                match = _JSON_STRING.match(self.text, self.pos)
                if not match:
                    return
                child = _unquote(match.group())
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


def _unquote(token: str) -> str:
    import json

    try:
        return str(json.loads(token))
    except ValueError:
        return token[1:-1]


def json_lines(text: str) -> LineMap:
    scanner = _JsonScanner(text)
    scanner.value("")
    return scanner.lines


# --- TOML -------------------------------------------------------------------------------------

_TOML_TABLE = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
_TOML_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.\-]+)\s*=""")


def toml_lines(text: str) -> LineMap:
    """Table headers and `key =` lines; array-of-tables get their index (`commands[2]`)."""
    lines: LineMap = {}
    counts: dict[str, int] = {}
    table = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _TOML_TABLE.match(raw)
        if header:
            name = _toml_key_path(header.group(2))
            if header.group(1) == "[[":
                counts[name] = counts.get(name, -1) + 1
                table = f"{name}[{counts[name]}]"
            else:
                table = name
            lines.setdefault(table, number)
            continue
        key = _TOML_KEY.match(raw)
        if key:
            lines.setdefault(join(table, _toml_key_path(key.group(1))), number)
    return lines


def _toml_key_path(key: str) -> str:
    parts = [p.strip().strip("\"'") for p in key.split(".")]
    return ".".join(parts)


# --- YAML -------------------------------------------------------------------------------------


def yaml_lines(node: Any, path: str = "", lines: LineMap | None = None) -> LineMap:
    """Walk a PyYAML node tree (yaml.compose) and record each value's start line."""
    import yaml

    lines = {} if lines is None else lines
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            lines.setdefault(join(path, key), key_node.start_mark.line + 1)
            yaml_lines(value_node, join(path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yaml_lines(item, join(path, index), lines)
    return lines
