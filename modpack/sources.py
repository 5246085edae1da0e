"""Sources: what kind of file an input is, the files a folder holds, reading them, and where a
path inside one is (its line).

Kept apart from the checks: a new kind of input or a new way to read one changes this module
only. Line numbers are found lazily, only for files that have findings.
"""

from __future__ import annotations

import errno
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias

from modpack import locate
from modpack.findings import LineResolver, Sink
from modpack.locate import ParsedJson
from modpack.regular import MAX_TEXT_FILE, NotUtf8Text, decode_utf8, hint_for, is_dir, read_regular
from modpack.report import FileReport

if TYPE_CHECKING:
    from modpack.locate import LineMap
    from modpack.types import JSON

SourceKind: TypeAlias = Literal[
    "bundle", "module.json", "modpack.toml", "ramp.yml", "binary", "folder", "unknown"
]

SKIPPED_FOLDERS = {".git", ".hg", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".mypy_cache"}


def kind_of(path: Path) -> SourceKind | None:
    name = path.name.lower()
    if name.endswith(".zip"):
        return "bundle"
    if name.endswith(".json"):
        return "module.json"
    if name.endswith(".toml"):
        return "modpack.toml"
    if name.endswith((".yml", ".yaml")):
        return "ramp.yml"
    if name.endswith(".so") or ".so." in name:
        return "binary"
    return None


def folder_candidates(folder: Path, unreadable: list[OSError] | None = None) -> Iterator[Path]:
    """The files under `folder` validate looks at; a folder that cannot be read is added to
    `unreadable` (os.walk passes over it in silence, and validate passed a tree it had not read)."""
    for root, dirs, files in os.walk(folder, onerror=None if unreadable is None else unreadable.append):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_FOLDERS and not d.startswith("."))
        for name in sorted(files):
            lowered = name.lower()
            if (
                lowered in ("module.json", "modpack.toml")
                or (lowered.startswith("ramp") and lowered.endswith((".yml", ".yaml")))
                or lowered.endswith((".zip", ".so"))
            ):
                yield Path(root) / name


def expand(
    paths: Iterable[Path], found_in_folder: Callable[[list[Path]], list[Path]] = list
) -> tuple[list[Path], list[FileReport]]:
    """The files to validate, and findings for folders that hold nothing to validate;
    `found_in_folder` picks among what a folder holds."""
    files: list[Path] = []
    empty: list[FileReport] = []
    unread: set[str] = set()  # a folder named twice, or inside another named: reported once
    for path in paths:
        if is_dir(path):
            unreadable: list[OSError] = []
            found = found_in_folder(list(folder_candidates(path, unreadable)))
            for error in unreadable:  # what it holds is not known: never a pass
                where = str(error.filename or path)
                if os.path.realpath(where) in unread:
                    continue
                unread.add(os.path.realpath(where))
                sink = Sink(where)
                sink.add("IN001", "", f"the folder {where} cannot be read: {error.strerror or error}")
                empty.append(FileReport(where, "folder", sink.resolved()))
            if not found and not unreadable:
                sink = Sink(str(path))
                sink.add("IN007", "", f"{path} holds no bundle, module.json, modpack.toml, ramp.yml or .so")
                empty.append(FileReport(str(path), "folder", sink.resolved()))
            files.extend(found)
        else:
            files.append(path)
    return _once(files), empty


def _once(files: list[Path]) -> list[Path]:
    """Each file once, as first named: `a/module.json ./a/module.json`, or a folder and a file in
    it, checked it twice and printed (and annotated) every finding twice. A file is its name in
    its folder (links of folders followed), not its target: two folders linking one modpack.toml
    are two modules, whose relative [build] so each names from its own folder."""
    seen: set[tuple[str, str]] = set()
    folders: dict[str, str] = {}
    kept = []
    for path in files:
        given = os.path.dirname(os.path.abspath(path))  # noqa: PTH100, PTH120 -- strings: 1000 files
        if given not in folders:
            folders[given] = os.path.realpath(given)
        key = (folders[given], path.name)
        if key not in seen:
            seen.add(key)
            kept.append(path)
    return kept


# What Path.exists() takes for "no such file" (pathlib's _IGNORED_ERRNOS), and it says so for a
# path with a NUL byte (ValueError) too.
_NO_SUCH_FILE = frozenset([errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP])


def read_text(
    path: Path, sink: Sink, *, missing: str | None = None, decode: Callable[[bytes, str], str] = decode_utf8
) -> str | None:
    """A small text file the user named (declarations, module.json), or None with IN001.

    With `missing`, a file that does not exist is IN001 with that message, decided by the open
    itself (no stat before it): what a caller that first asked Path.exists() would have said.
    Text that `decode` refuses is IN001 saying what it is and where (regular.decode_utf8, or the
    reading of a module.json or a ramp.yml as their readers take them)."""
    try:
        raw = read_regular(path, MAX_TEXT_FILE)
        if len(raw) > MAX_TEXT_FILE:
            sink.add(
                "IN001",
                "",
                f"{path} is larger than {MAX_TEXT_FILE // (1024 * 1024)} MiB",
                "Pass the declarations or module.json itself: these files are a few KiB.",
            )
            return None
        return decode(raw, str(path))
    except NotUtf8Text as exc:
        sink.add("IN001", "", exc.message, exc.hint, line=exc.line)
        return None
    except OSError as exc:
        if missing is not None and exc.errno in _NO_SUCH_FILE:
            sink.add("IN001", "", missing)
        else:
            sink.add("IN001", "", f"cannot read {path}: {exc.strerror}", hint_for(exc))
        return None
    except ValueError:  # a NUL in the path, which Path.exists() also calls no such file
        if missing is None:
            raise
        sink.add("IN001", "", missing)
        return None


# Python refuses to convert integers of more than 4300 digits (sys.get_int_max_str_digits(),
# https://docs.python.org/3/library/stdtypes.html#int-max-str-digits); no module.json field is a
# number anywhere near that long (Redis reads them as C ints), so a longer one is a finding.
MAX_NUMBER_DIGITS = 4300
_HUGE_NUMBER = re.compile(r'(?:"((?:[^"\\]|\\.)*)"\s*:\s*)?-?\d{' + str(MAX_NUMBER_DIGITS + 1) + "}")


class _HugeNumber(ValueError):
    pass


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise _HugeNumber(digits[:20])
    return int(digits)


def _huge_number_where(text: str) -> tuple[str, int | None]:
    """The message and line of the first over-long integer in a JSON text."""
    match = _HUGE_NUMBER.search(text)
    key = (match.group(1) or "") if match else ""
    line = text.count("\n", 0, match.start()) + 1 if match else None
    where = f" (key {key!r})" if key else ""
    return f"invalid JSON: a number{where} has more than {MAX_NUMBER_DIGITS} digits", line


class _DuplicateKey(ValueError):
    pass


def _unique_pairs(items: list[tuple[str, JSON]]) -> dict[str, JSON]:
    document = dict(items)
    if len(document) != len(items):
        raise _DuplicateKey
    return document


# One decoder for every file (building one costs about 5 us), with the C scanner's own int():
# parse_int and a hook that records duplicates cost a third of the parse. It holds no state, so
# threads may share it; any file it refuses is parsed again below, which says what is wrong.
class _NotJson(ValueError):
    """NaN, Infinity or -Infinity: Python's json reads them, JSON (RFC 8259) has no such values."""


def _no_constant(name: str) -> JSON:
    raise _NotJson(name)


_FAST_DECODER = json.JSONDecoder(object_pairs_hook=_unique_pairs, parse_constant=_no_constant)


def parse_json(text: str, sink: Sink) -> JSON | None:
    """JSON text as data, with syntax errors and duplicate keys reported; None on a syntax error."""
    parsed = parse_json_text(text, sink)
    return None if parsed is None else parsed.document


def parse_json_text(text: str, sink: Sink) -> ParsedJson | None:
    """JSON text parsed, with syntax errors and duplicate keys reported; None on a syntax error.

    The result says what the parse learnt (the document, and whether any key repeats), so the
    line resolver never parses the text again (json_line_resolver)."""
    # The C scanner's int() refuses more than sys.get_int_max_str_digits() digits with a
    # ValueError: with the default limit, a file it parses has no over-long number.
    if sys.get_int_max_str_digits() == MAX_NUMBER_DIGITS:
        try:
            fast = ParsedJson(_FAST_DECODER.decode(text), unique_keys=True)
        except (ValueError, RecursionError):
            pass  # a syntax error, a duplicate key, a BOM or a huge number: the full parse says which
        else:
            return None if _lone_surrogate(text, fast.document, sink) else fast
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, JSON]]) -> dict[str, JSON]:
        seen: dict[str, JSON] = {}
        for key, value in items:
            if key in seen:
                duplicates.append(key)
            seen[key] = value
        return seen

    try:
        document: JSON = json.loads(
            text, object_pairs_hook=pairs, parse_int=_bounded_int, parse_constant=_no_constant
        )
    except _NotJson as exc:
        # The REST server refuses such a document (406) and other readers fail on it.
        hint = "Write a number, or null; JSON has no NaN or Infinity."
        sink.add("IN002", "", f"invalid JSON: {exc} is not a JSON value (RFC 8259)", hint)
        return None
    except _HugeNumber:
        message, line = _huge_number_where(text)
        hint = "No module.json field takes a number this long; write the intended value."
        sink.add("IN002", "", message, hint, line=line)
        return None
    except json.JSONDecodeError as exc:
        sink.add(
            "IN002", "", f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", line=exc.lineno
        )
        return None
    except RecursionError:
        sink.add("IN002", "", "invalid JSON: nested too deeply")
        return None
    if _lone_surrogate(text, document, sink):
        return None
    for key in duplicates:
        sink.add("IN006", key, f"key {key!r} appears more than once; the last value wins")
    return ParsedJson(document, unique_keys=not duplicates)


def _lone_surrogate_escape(text: str) -> bool:
    """Whether `text` has a \\u escape of a lone surrogate: a high half (D800-DBFF) not followed by
    a low one, or a low half (DC00-DFFF) not after a high one. Only an escape makes a surrogate (the
    text was decoded from UTF-8), and a pair, as json.dump writes an emoji, is one character: the
    document is walked only for a lone one. A `\\u` after an odd number of backslashes is an
    escaped backslash and the letter u, which is no escape (it hid a lone half that followed)."""
    at = _escape_at(text, 0)
    while at != -1:
        digits = text[at + 2 : at + 6]
        if len(digits) == 4 and digits[0] in "dD":
            if digits[1] in "89abAB":
                low = text[at + 6 : at + 12]  # its pair's low half: \\uDC00 to \\uDFFF
                if len(low) < 6 or low[:2] != "\\u" or low[2] not in "dD" or low[3] not in "cdefCDEF":
                    return True
                at = _escape_at(text, at + 12)
                continue
            if digits[1] in "cdefCDEF":
                return True
        at = _escape_at(text, at + 2)
    return False


def _escape_at(text: str, start: int) -> int:
    """Where the next \\u escape starts at or after `start` (a `\\u` preceded by an even number
    of backslashes), or -1."""
    at = text.find("\\u", start)
    while at != -1:
        before = at
        while before > 0 and text[before - 1] == "\\":
            before -= 1
        if (at - before) % 2 == 0:
            return at
        at = text.find("\\u", at + 2)
    return -1


def _lone_surrogate(text: str, document: JSON, sink: Sink) -> bool:
    """IN002 for a string holding a lone surrogate (a "\\ud800" escape without its pair): no
    UTF-8 text can hold it, I-JSON (RFC 7493 §2.1) forbids it, and publishing such a module.json
    ended in an internal error (the request body could not be encoded)."""
    if "\\u" not in text or not _lone_surrogate_escape(text):
        return False
    found = _surrogate_at(document, "")
    if found is None:
        return False  # only pairs, which decode to one character
    path, value = found
    shown = value.encode("utf-8", "backslashreplace").decode("utf-8")
    where = f"`{path}`" if path else "a key"
    sink.add(
        "IN002",
        "",
        f"invalid JSON: {where} holds a lone surrogate ({shown[:60]}), which no UTF-8 text can hold"
        " (RFC 7493 §2.1)",
        "Write the character itself, or both halves of its \\u escape pair.",
    )
    return True


def _surrogate_at(value: JSON, path: str) -> tuple[str, str] | None:
    """(path, string) of the first string, key or value, holding a surrogate code point."""
    if isinstance(value, str):
        return (path, value) if any("\ud800" <= c <= "\udfff" for c in value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else key
            if any("\ud800" <= c <= "\udfff" for c in key):
                return (path, key)
            if (found := _surrogate_at(item, inner)) is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _surrogate_at(item, f"{path}[{index}]")) is not None:
                return found
    return None


def lazy_lines(text: str, scan: Callable[[str], LineMap]) -> LineResolver:
    """A line resolver for `text` that scans it (locate.json_lines, toml_lines) only when a
    finding asks for a line: the clean path never pays for the scan."""
    cache: dict[str, LineResolver] = {}

    def line_of(path: str) -> int | None:
        if "resolve" not in cache:
            cache["resolve"] = locate.resolver(scan(text))
        return cache["resolve"](path)

    return line_of


def json_line_resolver(text: str, parsed: ParsedJson | None) -> LineResolver:
    """Lines of paths in JSON text (module.json) that `parse_json_text` parsed as `parsed` (None:
    it is no JSON). locate.json_resolver walks only toward the paths findings ask for, guided by
    the parsed document, so a clean file is never scanned and no text is parsed twice; text that
    is no JSON is mapped whole by locate.json_lines, when a finding asks."""
    if parsed is None:
        return lazy_lines(text, locate.json_lines)
    return locate.json_resolver(text, parsed)
