"""`${VAR}` in declarations, expanded from the environment; `$$` is a literal `$`.

Nothing is evaluated: an unset variable is a finding (DECL003) and the value stays as written.
"""

from __future__ import annotations

import os
import re
from typing import TypeVar, cast

from modpack import locate
from modpack.findings import Sink

# `$$`, a ${NAME}, or any other `${` (group 2): a shell form such as ${VAR:-default}, ${}, an
# unclosed ${VAR, which nothing expands and the value kept as written (it went into module.json).
_ENV = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|(\$\{[^}]{0,60}\}?)")
# A [[targets]] entry's so keeps its `$$`: Target.expand reads it with ${target}, ${os} and ${arch}
# in one pass, so that `$${target}` stays the literal `${target}` (it became the target's name).
TARGET_SO = re.compile(r"targets\[(\d+)\]\.so")
# RAMP's `{os.getenv('X')}` f-string field (ramp.md §3.4), which reads what `${X}` reads.
_GETENV = re.compile(r"""\{os\.getenv\(\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\)\}""")
_Parsed = TypeVar("_Parsed")


def substitute_env(value: _Parsed, sink: Sink, path: str) -> _Parsed:
    """Expand ${VAR} in every string (`$$` is a literal `$`); an unset variable is a finding.
    Parsed TOML/YAML of any shape, returned in the same shape (a new str, list or dict)."""
    return cast("_Parsed", _substitute(value, sink, path))


def _substitute(value: object, sink: Sink, path: str) -> object:
    if isinstance(value, str):
        return _expand(value, sink, path)
    if isinstance(value, list):
        return [_substitute(v, sink, locate.join(path, i)) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return _substitute_mapping(value, sink, path)
    return value


def _substitute_mapping(value: dict[object, object], sink: Sink, path: str) -> dict[object, object]:
    """A mapping's keys are strings too: a dependency named `${NAME_torch}` takes its name from the
    environment (it went into module.json as the text `${NAME_torch}`, its url and sha256
    expanded). Two keys that expand to one name keep the last value, as a key given twice does."""
    result: dict[object, object] = {}
    written: dict[object, object] = {}
    for key, item in value.items():
        child = locate.join(path, key) if isinstance(key, str | int) else path
        name = _expand(key, sink, child) if isinstance(key, str) else key
        if name in written:
            sink.add(
                "IN006",
                child,
                f"key {key!r} expands to {name!r}, as key {written[name]!r} does: the last value is kept",
                "Give each key a variable of its own value, or one key.",
                source_path=True,
            )
        written[name] = key
        result[name] = _substitute(item, sink, child)
    return result


def _expand(text: str, sink: Sink, path: str) -> str:
    if "$" not in text:
        return text
    dollar = "$$" if TARGET_SO.fullmatch(path) else "$"

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if match.group(2) is not None:
            sink.say_unexpanded(
                path,
                f"{match.group(2)!r} is no variable modpack expands: only ${{NAME}} is, with no default"
                " or other shell form",
                "Write ${NAME} and set NAME, or write $${ for a literal ${.",
            )
            return match.group(0)
        if name is None:
            return dollar
        if name in ("target", "os", "arch"):
            return match.group(0)  # expanded per build target
        if name not in os.environ:
            said = f"the environment variable {name} is not set"
            evaluated = sink.getenv.get((path, name))  # None: not written {os.getenv('NAME')}
            if evaluated:  # RAMP reads it too
                said += f" ({{os.getenv('{name}')}} reads it)"
                hint = f"Set {name} for modpack, as for `ramp pack`, which reads it too, or write the value."
            elif evaluated is not None:
                hint = (
                    f"Set {name} for modpack, or write the value: `ramp pack` packs"
                    f" {{os.getenv('{name}')}} as written."
                )
            elif sink.toml:  # the rule's fix names what a modpack.toml can do
                hint = ""
            else:  # in a ramp.yml the rule's fix ([[targets]]' ${target}) is no help
                hint = f"Set {name} for modpack, or write the value: `ramp pack` never expands ${{{name}}}."
            sink.say_unexpanded(path, said, hint)
            return match.group(0)
        return os.environ[name]

    return _ENV.sub(replace, text)


def literal(text: str) -> str:
    """`text` written so that expanding it gives `text` back: each `$` as `$$` (a value read from
    module.json is literal, and `${VAR}` in it is no variable)."""
    return text.replace("$", "$$")


def from_getenv(value: str) -> str:
    """`value` with each `{os.getenv('X')}` written as `${X}` (nothing else is touched)."""
    return _GETENV.sub(lambda m: "${" + m.group(1) + "}", value)


def getenv_fields(value: object) -> set[tuple[str, str]]:
    """(path, NAME) of each `{os.getenv('NAME')}` in a parsed manifest's strings, which modpack reads
    as ${NAME}: what DECL003 and DECL012 say of one depends on whether `ramp pack` evaluates it."""
    return {(path, m.group(1)) for path, text in locate.strings(value) for m in _GETENV.finditer(text)}


def getenv_as_variables(value: object) -> object:
    """`from_getenv` on every string of a parsed manifest, in a value of any shape."""
    if isinstance(value, str):
        return from_getenv(value)
    if isinstance(value, list):
        return [getenv_as_variables(item) for item in value]
    if isinstance(value, dict):
        return {key: getenv_as_variables(item) for key, item in value.items()}
    return value
