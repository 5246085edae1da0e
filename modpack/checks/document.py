"""The checks of one module.json document (or a REST module object): its schema, its metadata
and its commands."""

from __future__ import annotations

from collections.abc import Callable

from modpack import schema
from modpack.checks import commands as command_checks
from modpack.checks import metadata
from modpack.findings import Sink
from modpack.sources import json_line_resolver, parse_json_text
from modpack.types import JSON


def check_module_document(
    document: JSON, sink: Sink, *, in_bundle: bool = False, binary_follows: bool | None = None
) -> None:
    """Schema and semantic checks of one module.json document (or module object). `binary_follows`
    (in a bundle, unless said otherwise): the caller checks the binary next, which CMD013 awaits."""
    for violation in schema.check(document, "module"):
        sink.report(violation)
    if isinstance(document, dict):
        metadata.check_module(document, sink, in_bundle=in_bundle)
        follows = in_bundle if binary_follows is None else binary_follows
        command_checks.check_commands(document, sink, binary_follows=follows)


def check_module_json_text(
    text: str, sink: Sink, *, in_bundle: bool = False, binary_follows: Callable[[JSON], bool] | None = None
) -> JSON | None:
    """A module.json's text, parsed (IN002 when it is no JSON) and checked; the document, if any.
    `binary_follows` tells from the document whether the caller checks a binary with it next.

    A document that parses to null is still checked, so it gets its type finding (SCH002) like any
    other value that is not an object; only text that is no JSON at all stops at IN002."""
    parsed = parse_json_text(text, sink)
    sink.lines = json_line_resolver(text, parsed)  # lines are resolved later, when asked
    if parsed is None:
        return None
    follows = binary_follows(parsed.document) if binary_follows is not None else None
    check_module_document(parsed.document, sink, in_bundle=in_bundle, binary_follows=follows)
    return parsed.document
