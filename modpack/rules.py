"""The rule catalogue: every check's code, name, severity, reason and fix, kept as data.

Each family of rules lives in its own JSON file under `modpack/data/rules/`, so the rules can be
listed (`modpack rules`), documented (the README table is generated from them) and selected by
code without running any check.

The records here and in the other modules every `modpack validate` imports (findings, report,
config, loadability, reporters) are NamedTuples or plain classes, not dataclasses: a dataclass
compiles its methods when its module is imported, about 0.6 ms each, and nineteen of them were a
tenth of what validating a bundle costs beyond inflating it (issue 16).
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Iterable
from typing import NamedTuple, NotRequired, TypedDict

from modpack import packaged


class Severity(enum.IntEnum):
    INFO = 0
    WARNING = 1
    ERROR = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class Source(NamedTuple):
    """A public page that backs a rule's "why": a Redis doc page, a Redis source file, an RE API page."""

    url: str
    title: str = ""


class Example(NamedTuple):
    """What triggers a rule, or what fixes it.

    With `file` (module.json, modpack.toml, ramp.yml) `text` is that whole file, and a test
    validates it; without, `text` is an illustration (a shell command, a zip listing).
    """

    text: str
    file: str = ""


class Rule(NamedTuple):
    """One check, documented: `modpack rules` and the README table are generated from these."""

    code: str
    name: str
    severity: Severity
    why: str
    fix: str
    sources: tuple[Source, ...] = ()
    example_bad: Example | None = None
    example_good: Example | None = None

    @property
    def family(self) -> str:
        """ZIP for ZIP001: what --select ZIP picks."""
        return self.code.rstrip("0123456789")

    @property
    def summary(self) -> str:
        """The name as a phrase: "unknown-capability" -> "Unknown capability"."""
        phrase = self.name.replace("-", " ")
        return phrase[:1].upper() + phrase[1:]


class SourceEntry(TypedDict):
    url: str
    title: NotRequired[str]


class ExampleEntry(TypedDict):
    text: str
    file: NotRequired[str]


class RuleEntry(TypedDict):
    """One rule as modpack/data/rules/*.json writes it and `modpack rules --format json` prints it."""

    code: str
    name: str
    severity: str
    why: str
    fix: str
    sources: NotRequired[list[str | SourceEntry]]
    example_bad: NotRequired[str | ExampleEntry]
    example_good: NotRequired[str | ExampleEntry]


_SEVERITIES = {s.label: s for s in Severity}
# The keys a rule entry may have; tests/test_rule_docs.py holds every entry to them.
RULE_KEYS = frozenset({"code", "name", "severity", "why", "fix", "sources", "example_bad", "example_good"})


@functools.cache
def all_rules() -> dict[str, Rule]:
    """Every rule, keyed by code, in catalogue order."""
    folder = packaged("data", "rules")
    return load_rules(
        json.loads(entry.read_text(encoding="utf-8"))
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".json")
    )


def load_rules(families: Iterable[list[RuleEntry]]) -> dict[str, Rule]:
    """Rules from the parsed JSON of each family file, keyed by code, in catalogue order."""
    rules = {item["code"]: rule_from_json(item) for family in families for item in family}
    return dict(sorted(rules.items(), key=lambda kv: _sort_key(kv[0])))


def rule_from_json(item: RuleEntry) -> Rule:
    return Rule(
        code=item["code"],
        name=item["name"],
        severity=_SEVERITIES[item["severity"]],
        why=item["why"],
        fix=item["fix"],
        sources=tuple(_source(s) for s in item.get("sources", ())),
        example_bad=_example(item.get("example_bad")),
        example_good=_example(item.get("example_good")),
    )


def _source(value: str | SourceEntry) -> Source:
    """A URL, or {"url": ..., "title": ...}."""
    if isinstance(value, str):
        return Source(value)
    return Source(value["url"], value.get("title", ""))


def _example(value: str | ExampleEntry | None) -> Example | None:
    """An illustration (a string), or {"file": "module.json", "text": <the whole file>}."""
    if value is None:
        return None
    if isinstance(value, str):
        return Example(value)
    return Example(value["text"], value.get("file", ""))


def _sort_key(code: str) -> tuple[str, int]:
    prefix = code.rstrip("0123456789")
    return prefix, int(code[len(prefix) :] or 0)


def rule(code: str) -> Rule:
    try:
        return all_rules()[code]
    except KeyError:
        raise KeyError(f"no rule {code!r} in the catalogue") from None


def selects_a_rule(selector: str) -> bool:
    """Whether a select/ignore entry matches some rule: by code, code prefix (ZIP, ZIP0) or name."""
    name = selector.lower()  # `textrel` was upper-cased as if it were a code family
    return any(code.startswith(selector) or found.name == name for code, found in all_rules().items())


def matches(code: str, selectors: tuple[str, ...]) -> bool:
    """True when a selector names the code, its family prefix (ZIP) or a code prefix (ZIP0)."""
    found = rule(code)
    return any(code.startswith(s) or s.lower() == found.name for s in selectors)
