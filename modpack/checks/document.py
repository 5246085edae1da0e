"""The checks of one module.json document (or a REST module object): its schema, its metadata
and its commands."""

from __future__ import annotations

from modpack import schema
from modpack.checks import commands as command_checks
from modpack.checks import metadata
from modpack.findings import Sink
from modpack.sources import json_line_resolver, parse_json_text
from modpack.types import JSON


def check_module_document(document: JSON, sink: Sink, *, in_bundle: bool = False) -> None:
    """Schema and semantic checks of one module.json document (or module object)."""
    for violation in schema.check(document, "module"):
        sink.report(violation)
    if isinstance(document, dict):
        metadata.check_module(document, sink, in_bundle=in_bundle)
        # In a bundle, CMD013 waits for the binary (_bundle_binary).
        command_checks.check_commands(document, sink, binary_follows=in_bundle)


def check_module_json_text(text: str, sink: Sink, *, in_bundle: bool = False) -> JSON | None:
    """A module.json's text, parsed (IN002 when it is no JSON) and checked; the document, if any.

    A document that parses to null is still checked, so it gets its type finding (SCH002) like any
    other value that is not an object; only text that is no JSON at all stops at IN002."""
    parsed = parse_json_text(text, sink)
    sink.lines = json_line_resolver(text, parsed)  # lines are resolved later, when asked
    if parsed is None:
        return None
    check_module_document(parsed.document, sink, in_bundle=in_bundle)
    return parsed.document
