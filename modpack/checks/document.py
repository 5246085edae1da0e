"""The checks of one module.json document (or a REST module object): its schema, its metadata
and its commands."""

from __future__ import annotations

from modpack import schema
from modpack.checks import commands as command_checks
from modpack.checks import metadata
from modpack.findings import Sink
from modpack.types import JSON


def check_module_document(document: JSON, sink: Sink, *, in_bundle: bool = False) -> None:
    """Schema and semantic checks of one module.json document (or module object)."""
    for violation in schema.check(document, "module"):
        sink.report(violation)
    if isinstance(document, dict):
        metadata.check_module(document, sink, in_bundle=in_bundle)
        # In a bundle, CMD013 waits for the binary (_bundle_binary).
        command_checks.check_commands(document, sink, binary_follows=in_bundle)
