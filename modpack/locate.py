"""Line numbers for paths such as `commands[3].first_key`, in JSON, TOML and YAML text.

The standard parsers do not report positions, so these small scanners map each value's path to
the line where it starts. They run only for files that have findings, and a path they cannot
place falls back to its nearest parent: a line number helps, it never decides anything.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator
from json.scanner import make_scanner
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import yaml

    from modpack.types import JSON

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


def strings(value: object, path: str = "") -> Iterator[tuple[str, str]]:
    """Each string in parsed data (TOML, YAML, JSON), with its path (`path` is the value's own)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, join(path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(item, join(path, str(key)))


# --- JSON -------------------------------------------------------------------------------------

# One token at a time, by a regular expression: a string, a structural character, or a run of
# scalar characters (true, -1.5e3, ...). Whitespace between tokens is skipped by the search itself;
# a character no alternative takes (a stray quote) is a token of its own, so nothing ever stalls.
_JSON_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[{}\[\]:,]|[^\s,\]}\[{:"]+|\S')
MAX_DEPTH = 200  # containers nested deeper are skipped, not mapped
_OPEN, _CLOSE, _PUNCTUATION = ("{", "["), ("}", "]"), (":", ",")


class _Container:
    """An open object or array of the JSON scan."""

    __slots__ = ("expects_key", "index", "key", "keyed", "path")

    def __init__(self, path: str, keyed: bool) -> None:
        self.path = path
        self.keyed = keyed
        self.index = 0
        self.key: str | None = None  # the key read, until its ':' makes the value expected
        self.expects_key = True


def json_lines(text: str) -> LineMap:
    """The line where each value starts, by path; tolerant of any text, never raises.

    A scan over the text's parts with a stack of open containers (no recursion, no per-character
    Python loop): every value's start offset is noted the first time its path is seen, then the
    offsets become line numbers in one pass. Malformed text ends the scan where it goes wrong.
    """
    offsets: dict[str, int] = {}
    stack: list[_Container] = []
    wanted: str | None = ""  # the path of the value expected next, if one is
    parts = _JSON_TOKEN.finditer(text)
    for match in parts:
        part = match.group()
        if wanted is not None and part not in _CLOSE:
            offsets.setdefault(wanted, match.start())
            if part in _OPEN:
                if len(stack) > MAX_DEPTH:
                    _skip_nested(parts)
                else:
                    stack.append(_Container(wanted, part == "{"))
                    wanted = None if part == "{" else join(wanted, 0)
                    continue
            elif part in _PUNCTUATION:
                break
            wanted = None
            if not stack:
                break  # the document's one value is complete
            continue
        if not stack:
            break
        top = stack[-1]
        if part in _CLOSE:
            stack.pop()
            wanted = None
            if not stack:
                break
        elif part == ",":
            top.index += 1
            top.expects_key = top.keyed
            wanted = None if top.keyed else join(top.path, top.index)
        elif top.keyed and top.expects_key and top.key is None and part[0] == '"' and len(part) > 1:
            top.key, top.expects_key = _unquote(part), False
        elif top.keyed and part == ":" and top.key is not None:
            wanted, top.key = join(top.path, top.key), None
        else:
            break  # malformed: stop rather than guess
    if not offsets:
        offsets[""] = len(text)
    return _offsets_to_lines(text, offsets)


class ParsedJson:
    """What a parse of a JSON text learnt, handed to `json_resolver` so it need not parse again.

    The text is well-formed JSON whose value is `document`; `unique_keys` says no object in it
    repeats a key, so each dict's order is its text's order and it holds every key the text does.
    (A plain class: a dataclass costs validate 0.4 ms of start-up to build.)
    """

    __slots__ = ("document", "unique_keys")

    def __init__(self, document: JSON, *, unique_keys: bool) -> None:
        self.document = document
        self.unique_keys = unique_keys


def json_resolver(text: str, parsed: ParsedJson | None = None) -> Callable[[str], int | None]:
    """The line of a path in JSON text, exactly as `resolver(json_lines(text))` answers it.

    Built lazily (a file without findings never pays), and for well-formed text it walks only
    toward the paths asked for: a sibling's value is passed over by the json module's C scanner,
    so a finding costs a few dozen steps instead of a scan of the whole file (0.5 ms for a
    module.json). `parsed` is what the caller's parse of the text learnt: the text is then not
    parsed again, and with unique keys its document says which values exist, so a path that is
    not there (a missing key) costs no scan at all. Without `parsed`, the text is parsed once here
    to learn whether it is well-formed. Text the json module refuses is mapped whole by
    `json_lines`, tolerant of any text.
    """
    state: dict[str, Callable[[str], int | None]] = {}
    children: dict[int, list[tuple[str, int]]] = {}
    members: dict[int, _Members] = {}
    offsets: dict[str, int | None] = {}

    def offset_of(path: str) -> int | None:
        return _json_offset(text, path, children)

    def guided_offset_of(path: str) -> int | None:
        assert parsed is not None  # guided only with a document of unique keys
        if path not in offsets:
            cuts = (*(cut for cut, char in enumerate(path) if char in ".["), len(path))
            chain = _chain(parsed.document, "", path, cuts, 0)
            plain = "\\" not in text  # every '"' delimits a string, every key is written as it is
            offsets[path] = None if chain is None else _chain_offset(text, chain, members, plain=plain)
        return offsets[path]

    def line_of(path: str) -> int | None:
        if not state:
            if parsed is not None:
                state["lines"] = _targeted(text, guided_offset_of if parsed.unique_keys else offset_of)
            else:
                try:
                    json.loads(text)
                    state["lines"] = _targeted(text, offset_of)
                except (ValueError, RecursionError):
                    state["lines"] = resolver(json_lines(text))
        try:
            return state["lines"](path)
        except (ValueError, IndexError, StopIteration, RecursionError):  # never for text json reads
            state["lines"] = resolver(json_lines(text))
            return state["lines"](path)

    return line_of


def _targeted(text: str, offset_of: Callable[[str], int | None]) -> Callable[[str], int | None]:
    def line_of(path: str) -> int | None:
        while True:
            offset = offset_of(path)
            if offset is not None:
                return text.count("\n", 0, offset) + 1
            if not path:
                return None
            path = parent_path(path)

    return line_of


_Step = tuple[int, str | None]  # a child's ordinal in its container, and its key in an object


def _chain(value: object, path: str, target: str, cuts: tuple[int, ...], depth: int) -> list[_Step] | None:
    """The children leading from `value` (at `path`) to the first value at `target`: the walk
    `_walk` makes in the text, made in the parsed document (whose dicts keep text order).
    `cuts` are where the target has a '.' or '[', and its end: where a child's path may end."""
    if path == target:
        return []
    if depth > MAX_DEPTH or not isinstance(value, dict | list):
        return None  # a scalar, or a container json_lines does not map inside
    for ordinal, key, child, child_path in _candidates(value, path, target, cuts):
        found = _chain(child, child_path, target, cuts, depth + 1)
        if found is not None:
            found.insert(0, (ordinal, key))
            return found
    return None


def _candidates(
    value: dict[str, object] | list[object], path: str, target: str, cuts: tuple[int, ...]
) -> list[tuple[int, str | None, object, str]]:
    """The children of `value` whose paths are `target` or lead to it, in text order, as _walk
    takes them (a child with the empty path, an empty key at the top, is always taken)."""
    if isinstance(value, list):
        if not target.startswith(path + "[") or not value:
            return []
        close = target.find("]", len(path) + 1)
        digits = target[len(path) + 1 : close]
        written = digits.isascii() and digits.isdigit() and (digits == "0" or digits[0] != "0")
        if close < 0 or not written or int(digits) >= len(value):  # an index as join writes it
            return []
        index = int(digits)
        return [(index, None, value[index], f"{path}[{index}]")]
    keys = [] if path else [""]  # an empty key at the top has the empty path: always taken
    if not path or target.startswith(path + "."):
        # A key's path is a prefix of the target that ends where the target has '.', '[' or ends.
        start = len(path) + 1 if path else 0
        keys += [target[start:cut] for cut in cuts if cut >= start]
    found = [key for key in keys if key in value]
    if len(found) > 1:
        found = list(dict.fromkeys(found))
        order = {key: ordinal for ordinal, key in enumerate(value)}
        found.sort(key=order.__getitem__)
        return [(order[key], key, value[key], join(path, key)) for key in found]
    return [(list(value).index(key), key, value[key], join(path, key)) for key in found]


class _Members:
    """How far one container's members have been passed over: where each starts, so far."""

    __slots__ = ("first", "found", "keyed", "starts")

    def __init__(self, keyed: bool, first: int) -> None:
        self.keyed = keyed
        self.first = first  # where the first member starts
        self.starts: list[int] = []
        self.found: dict[int, int | None] = {}  # values of members found by _find_key, by ordinal


_SEARCH_FROM = 3  # a key this far into its object is searched for, not walked to


def _chain_offset(text: str, chain: list[_Step], cache: dict[int, _Members], *, plain: bool) -> int:
    """Where the value reached by `chain` (children from the top) starts in the text. In `plain`
    text (no backslash) a key far into its object is found by searching for it (_find_key)."""
    index = _skip(text, 0)
    for ordinal, key in chain:
        if key is not None and plain and ordinal >= _SEARCH_FROM:
            members = cache.get(index)
            if members is None:
                members = cache[index] = _Members(True, _skip(text, index + 1))
            if ordinal not in members.found and len(members.starts) <= ordinal:
                members.found[ordinal] = _find_key(text, index, key)
            found = members.found.get(ordinal)
            if found is not None:
                index = found
                continue
        index = _member_start(text, index, ordinal, cache)
    return index


def _find_key(text: str, index: int, key: str) -> int | None:
    """The start of the value of `key` in the object at `index` of text with no backslash, found
    by searching for the key as written, or None.

    Without a backslash every '"' opens or closes a string and a key is written exactly as it
    reads, so an occurrence of '"key"' followed by ':' is this object's member when the text
    between the object's '{' and it has an even number of quotes (it is not inside a string) and,
    outside strings, as many brackets opened as closed (it is not inside a nested value). The
    object holds `key` once (the parse found no repeated key), so the first such one is it; an
    occurrence before it lies inside the object, whose depth never drops below it on the way.
    """
    token = f'"{key}"'
    at = text.find(token, index + 1)
    # The quotes and the bracket depth outside strings of text[index + 1 : scanned], carried from
    # one occurrence to the next: each character is counted once, however many look-alikes there
    # are (recounting from the object's start made 200,000 of them take minutes).
    scanned, quotes, depth = index + 1, 0, 0
    while at >= 0:
        parts = text[scanned:at].split('"')
        outside = "".join(parts[quotes % 2 :: 2])  # the parts outside strings
        depth += outside.count("{") + outside.count("[") - outside.count("}") - outside.count("]")
        quotes += len(parts) - 1
        scanned = at
        if quotes % 2 == 0 and depth == 0:  # `at` opens a string, in this object itself
            found = _KEY.match(text, at)
            if found is not None:
                return found.end()
        at = text.find(token, at + 1)
    return None


def _member_start(text: str, index: int, ordinal: int, cache: dict[int, _Members]) -> int:
    """The start of the value of member `ordinal` of the container at `index`; the members before
    it are passed over once per file (`cache`), a scalar one with one regular expression, a
    container by the C scanner; the member itself is not read."""
    members = cache.get(index)
    if members is None:
        members = cache[index] = _Members(text[index] == "{", _skip(text, index + 1))
    starts, keyed = members.starts, members.keyed
    scalar_at = _scalar_member(keyed)
    while len(starts) <= ordinal:
        if not starts:
            starts.append(members.first)
            continue
        at = starts[-1]
        passed = scalar_at(text, at)  # a scalar and the ',' after it
        if passed is None:
            after = _NEXT.match(text, _SCAN_ONCE(text, _value_start(text, at, keyed))[1])
            if after is None or not after.group(1):
                raise IndexError(ordinal)  # never for a document parsed from this text
            passed = after
        starts.append(passed.end())
    return _value_start(text, starts[ordinal], keyed)


def _value_start(text: str, member: int, keyed: bool) -> int:
    """Where the value of the member starting at `member` starts (past its key, in an object)."""
    if not keyed:
        return member
    found = _KEY.match(text, member)
    if found is None:
        raise ValueError(f"no key at {member}")
    return found.end()


_SCAN_STRING: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_SPACE = re.compile(r"[ \t\n\r]*")
_SCAN_ONCE = make_scanner(json.JSONDecoder())  # type: ignore[arg-type]  # one value from an offset, in C


def _skip(text: str, index: int) -> int:
    """Past the whitespace at `index`."""
    space = _SPACE.match(text, index)
    return space.end() if space else index


def _json_offset(text: str, target: str, children: dict[int, list[tuple[str, int]]]) -> int | None:
    """Where the value at `target` first starts in well-formed JSON text, as json_lines notes it.

    `children` caches each container's children (path and start) across the lookups of one file.
    """
    return _walk(text, _skip(text, 0), "", target, 0, cache=children)


def _walk(
    text: str, index: int, path: str, target: str, depth: int, *, cache: dict[int, list[tuple[str, int]]]
) -> int | None:
    """The first value at `target` in the value at `index` (whose path is `path`), in text order."""
    if path == target:
        return index
    if text[index] not in "{[" or depth > MAX_DEPTH:
        return None  # a scalar, or a container json_lines does not map inside
    if index not in cache:
        cache[index] = _children(text, index, path)
    for child, start in cache[index]:
        # Under a path "" (an empty key at the top) the keys' paths are the bare keys again.
        if not child or child == target or target.startswith((child + ".", child + "[")):
            found = _walk(text, start, child, target, depth + 1, cache=cache)
            if found is not None:
                return found
    return None


# From a key's opening quote past the ':' after it; and from the end of a value past a ',' if any.
_KEY = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"[ \t\n\r]*:[ \t\n\r]*', re.DOTALL)
_NEXT = re.compile(r"[ \t\n\r]*(,?)[ \t\n\r]*")


@functools.cache
def _scalar_member(keyed: bool) -> Callable[[str, int], re.Match[str] | None]:
    """The match of a member whose value is a string, a number, true, false or null, with the ','
    after it (with its key in an object). Compiled when first needed: the object's pattern takes
    4 ms to compile, which `modpack validate` of a clean file must not pay at start-up."""
    string, scalar = r'"[^"\\]*(?:\\.[^"\\]*)*"', r'[^ \t\n\r,\]}\[{:"]+'
    item = rf"(?:{string}|{scalar})[ \t\n\r]*,[ \t\n\r]*"
    return re.compile(rf"{string}[ \t\n\r]*:[ \t\n\r]*{item}" if keyed else item, re.DOTALL).match


def _children(text: str, index: int, path: str) -> list[tuple[str, int]]:
    """The path and start of each value in the object or array at `index`, in text order."""
    keyed = text[index] == "{"
    children: list[tuple[str, int]] = []
    index = _skip(text, index + 1)
    if text[index] in "}]":
        return children
    key_at, next_at, scan = _KEY.match, _NEXT.match, _SCAN_ONCE
    while True:
        if keyed:
            found = key_at(text, index)
            if found is None:
                raise ValueError(f"no key at {index}")
            key = found.group(1)
            if "\\" in key:
                key = _SCAN_STRING(text, index + 1)[0]
            index = found.end()
            children.append((join(path, key), index))
        else:
            children.append((join(path, len(children)), index))
        after = next_at(text, scan(text, index)[1])
        if after is None or not after.group(1):
            return children  # the closing bracket
        index = after.end()


def _skip_nested(parts: Iterator[re.Match[str]]) -> None:
    """Past a container too deep to map: count brackets (strings are whole parts), never recurse."""
    level = 1
    for match in parts:
        part = match.group()
        if part in _OPEN:
            level += 1
        elif part in _CLOSE:
            level -= 1
            if level == 0:
                return


def _offsets_to_lines(text: str, offsets: dict[str, int]) -> LineMap:
    lines: LineMap = {}
    position, line = 0, 1
    for path, offset in sorted(offsets.items(), key=lambda item: item[1]):
        line += text.count("\n", position, offset)
        position = offset
        lines[path] = line
    return lines


def _unquote(token: str) -> str:
    if "\\" not in token:
        return token[1:-1]  # no escape: the text between the quotes is the key
    import json

    try:
        return str(json.loads(token))
    except ValueError:
        return token[1:-1]


# --- TOML -------------------------------------------------------------------------------------

# A scanner, not a line matcher: a `key =` or `[table]` inside a multi-line string is text, and
# the items of an array or inline table spanning lines get their own lines. Only offsets are
# recorded here; the document was parsed (tomllib) before any line is asked for, so the scanner
# is lenient: on text that is not TOML it still ends, and places what it can.
_TOML_BLANK = re.compile(r"(?:[ \t\r\n]+|#[^\n]*)*")  # whitespace, line ends and comments
_TOML_SPACE = re.compile(r"[ \t]*")
_TOML_KEY_PART = re.compile(r"""[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*'""")
_TOML_STRING = re.compile(
    # multi-line basic, then literal: up to two quotes may end their text; unclosed, they run to the end
    r'"""(?:[^"\\]|\\[\s\S]|"(?!""))*(?:"{3,5}|\Z)'  # an escape may be a line-ending backslash
    r"|'''(?:[^']|'(?!''))*(?:'{3,5}|\Z)"
    r'|"(?:[^"\\\n]|\\.)*"?'  # basic, or its unterminated rest of the line
    r"|'[^'\n]*'?"
)
_TOML_SCALAR = re.compile(r"[^,\]}\n#]+")  # a number, boolean or date: up to what ends a value
_TOML_OPENERS = re.compile(r"[\[{]+")
_TOML_CLOSERS = re.compile(r"[\]}]+")
_TOML_NESTED = re.compile(r"[^\[\]{}\"'#]+")  # what a skipped container holds between brackets and strings
_TOML_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))", re.DOTALL)
_TOML_ESCAPED = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}
_TOML_LINE_END = re.compile(r"[^\n]*\n?")


def _end(pattern: re.Pattern[str], text: str, at: int) -> int:
    """Where `pattern`, which may match nothing, ends when matched at `at`."""
    found = pattern.match(text, at)
    return found.end() if found else at


def unclosed_string_line(text: str) -> int | None:
    """The line where a multi-line string opens that nothing closes (tomllib: "Unterminated string
    (at end of document)", no line), if there is one."""
    scanner = _TomlScanner(text)
    scanner.run()
    return None if scanner.unclosed is None else text.count("\n", 0, scanner.unclosed) + 1


def toml_lines(text: str) -> LineMap:
    """Tables, keys, array items and inline tables' keys; arrays of tables get their index
    (`commands[2]`), and a table under one (`[targets.build]`) belongs to its last element."""
    scanner = _TomlScanner(text)
    scanner.run()
    return _offsets_to_lines(text, scanner.offsets)


class _TomlScanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.offsets: dict[str, int] = {}
        self.arrays: dict[str, int] = {}  # each array of tables (its path): its last index
        self.unclosed: int | None = None  # where a multi-line string that is never closed opens

    def run(self) -> None:
        text = self.text
        table: str | None = ""  # None: a table nested too deep to map
        at = _end(_TOML_BLANK, text, 0)
        while at < len(text):
            start = at
            if text[at] == "[":
                double = text.startswith("[[", at)
                parts, at = self._key(at + (2 if double else 1))
                table = self._table(parts, double, start)
                at = _end(_TOML_LINE_END, text, at)
            else:
                parts, at = self._key(at)
                at = _end(_TOML_SPACE, text, at)
                if parts and text.startswith("=", at):
                    path = self._key_path(table, parts, start)
                    at = self._value(at + 1, path)
                else:  # not a statement: skip the line (always one character at least)
                    at = max(_end(_TOML_LINE_END, text, at), start + 1)
            at = _end(_TOML_BLANK, text, at)

    def _key(self, at: int) -> tuple[list[str], int]:
        """A dotted key's parts (unquoted) from `at`, and where it ends."""
        parts: list[str] = []
        while True:
            at = _end(_TOML_SPACE, self.text, at)
            part = _TOML_KEY_PART.match(self.text, at)
            if part is None:
                return parts, at
            token = part.group()
            parts.append(_toml_key_text(token))
            at = _end(_TOML_SPACE, self.text, part.end())
            if not self.text.startswith(".", at):
                return parts, at
            at += 1

    def _record(self, path: str | None, at: int) -> None:
        if path is not None:
            self.offsets.setdefault(path, at)

    def _key_path(self, prefix: str | None, parts: list[str], at: int) -> str | None:
        """The path of a dotted key under `prefix`, recorded at `at` with the tables it opens on
        the way (`module.name = ...` at the top is where `module` starts too), unless placed before."""
        if prefix is None or len(parts) > MAX_DEPTH:
            return None
        path = prefix
        for part in parts:
            path = join(path, part)
            self._record(path, at)
        return path

    def _table(self, parts: list[str], double: bool, at: int) -> str | None:
        """The path of a `[a.b]` (or `[[a.b]]`) header at `at`, recorded there with the tables
        it opens on the way (and an array of tables with its first element): a part naming an
        array of tables stands for its last element, and `[[...]]` itself adds an element. None
        past MAX_DEPTH parts: each part's path is built, so a header a thousand parts long cost a
        million steps."""
        if len(parts) > MAX_DEPTH:
            return None
        path = ""
        for number, part in enumerate(parts, start=1):
            path = join(path, part)
            self._record(path, at)
            if double and number == len(parts):
                self.arrays[path] = self.arrays.get(path, -1) + 1
                path = f"{path}[{self.arrays[path]}]"
            elif path in self.arrays:
                path = f"{path}[{self.arrays[path]}]"
        self._record(path, at)
        return path

    def _value(self, at: int, path: str | None) -> int:
        """Records what lies inside the value at `at` (array items, inline tables' keys); returns
        where the value ends. Iterative: an array nested a thousand deep is no recursion."""
        text = self.text
        containers: list[_TomlContainer] = []
        state, target = "value", path  # target None: inside what is mapped no deeper
        while True:
            at = _end(_TOML_BLANK if containers else _TOML_SPACE, text, at)
            if at >= len(text):
                return at
            char = text[at]
            if state == "value":
                if char in "[{" and len(containers) >= MAX_DEPTH:
                    at, state = self._skip_container(at), "after"  # mapped no deeper, as JSON
                    continue
                if char in "[{":
                    containers.append(_TomlContainer(char == "[", target))
                    state, at = "item", at + 1
                    continue
                at, state = self._scalar(at), "after"
                if not containers:
                    return at
                continue
            container = containers[-1]
            if char in "]}":  # this container's end (the other closer, out of place, ends it too)
                containers.pop()
                state, at = "after", at + 1
                if not containers:
                    return at
            elif state == "item" and container.array:
                target = None if container.path is None else join(container.path, container.index)
                self._record(target, at)
                state = "value"
            elif state == "item":
                parts, end = self._key(at)
                end = _end(_TOML_SPACE, text, end)
                if parts and text.startswith("=", end):
                    target = self._key_path(container.path, parts, at)
                    state, at = "value", end + 1
                else:
                    at = max(end, at + 1)  # not a key: skip it
            else:  # after an item: its separator is due
                if char == ",":
                    container.index += 1
                    state = "item"
                at += 1  # the comma, or a character that has no place here

    def _skip_container(self, at: int) -> int:
        """Past the array or inline table at `at`, however deep, recording nothing inside it."""
        text, depth = self.text, 0
        while at < len(text):
            char = text[at]
            if char in "[{":
                run = _end(_TOML_OPENERS, text, at) - at
                depth, at = depth + run, at + run
            elif char in "]}":
                run = min(_end(_TOML_CLOSERS, text, at) - at, depth)
                depth, at = depth - run, at + run
                if depth == 0:
                    return at
            elif char in "\"'":
                at = max(self._scalar(at), at + 1)
            elif char == "#":
                at = _end(_TOML_LINE_END, text, at)
            else:
                at = max(_end(_TOML_NESTED, text, at), at + 1)
        return at

    def _scalar(self, at: int) -> int:
        """Where the string, number, boolean or date at `at` ends (`at` itself if none starts there)."""
        if self.text[at] in "\"'":
            end = _end(_TOML_STRING, self.text, at)  # the quote at least
            opener = self.text[at : at + 3]
            if opener in ('"""', "'''") and end == len(self.text) and not self.text.endswith(opener, at + 3):
                self.unclosed = at  # runs to the end of the text: tomllib says no line of it
            return end
        scalar = _TOML_SCALAR.match(self.text, at)
        return scalar.end() if scalar else at


class _TomlContainer:
    """An array or inline table being scanned, and the index of its current item. A plain class:
    validating a bundle imports this module, and a dataclass costs its start-up."""

    __slots__ = ("array", "index", "path")

    def __init__(self, array: bool, path: str | None) -> None:
        self.array = array
        self.path = path
        self.index = 0


def _toml_key_text(token: str) -> str:
    """A key as TOML reads it: a bare key as written, a quoted one without its quotes, a basic
    one's escapes (\\t, \\", \\uXXXX, \\UXXXXXXXX, ...) decoded."""
    if token[0] not in "\"'":
        return token
    body = token[1:-1]
    if token[0] == "'" or "\\" not in body:
        return body

    def decoded(escape: re.Match[str]) -> str:
        code = escape.group(1) or escape.group(2)
        if code is None:
            return _TOML_ESCAPED.get(escape.group(3), escape.group())
        return chr(int(code, 16)) if int(code, 16) <= 0x10FFFF else escape.group()

    return _TOML_ESCAPE.sub(decoded, body)


# --- YAML -------------------------------------------------------------------------------------


def yaml_lines(node: yaml.Node, path: str = "", lines: LineMap | None = None) -> LineMap:
    """Walk a PyYAML node tree (yaml.compose) and record each value's start line."""
    import yaml

    lines = {} if lines is None else lines
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        # a repeated key: the loader keeps the last one's value, so that is where its path is
        last = {str(key_node.value): value_node for key_node, value_node in node.value}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if last[key] is not value_node:
                continue
            lines.setdefault(join(path, key), key_node.start_mark.line + 1)
            yaml_lines(value_node, join(path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yaml_lines(item, join(path, index), lines)
    return lines
