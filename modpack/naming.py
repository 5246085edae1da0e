"""The bundle's file name: build's [build] output / --name template, which validate judges too.

Its own module: validate (DECL011) and build (which writes the file) both read it, and build
imports validate.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING

from modpack.errors import UsageError
from modpack.types import iterated

if TYPE_CHECKING:
    from modpack.types import Module

DEFAULT_NAME = "{module_name}.Linux-{os}-{architecture}.{semantic_version}.zip"
NAME_FIELDS = ("module_name", "os", "architecture", "semantic_version", "version", "target")
MAX_NAME_BYTES = 200  # file names stop at 255 bytes, and the temporary name adds to it


def output_name(template: str, module: Module, target: str = "") -> str:
    """The bundle's file name from a template; only plain named fields, and no path tricks."""
    systems = module.get("operating_systems") or ["any"]
    values = {
        "module_name": module.get("module_name", ""),
        "os": "+".join(str(s) for s in iterated(systems)),
        "architecture": module.get("architecture", ""),
        "semantic_version": module.get("semantic_version", ""),
        "version": module.get("version", ""),
        "target": target,
    }
    for _, name, spec, conversion in template_fields(template, "output name template"):
        if name is None:
            continue
        if name not in NAME_FIELDS or spec or conversion:
            raise UsageError(
                f"output name template {template!r} uses {{{name}}}",
                "Use only " + ", ".join(f"{{{f}}}" for f in NAME_FIELDS) + ".",
            )
    name = template.format(**values)
    if len(name.encode()) > MAX_NAME_BYTES:
        raise UsageError(
            f"the output name is {len(name.encode())} bytes long (the limit is {MAX_NAME_BYTES})",
            "Shorten the module name or the --name template.",
        )
    if (
        not name
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or name in (".", "..")
        or name.startswith(".")
    ):
        raise UsageError(
            f"the output name {name!r} is not a plain file name",
            "The template and the module's name and version must not contain '/', '..' or NUL.",
        )
    return name


def template_fields(template: str, what: str) -> list[tuple[str, str | None, str | None, str | None]]:
    """`string.Formatter().parse(template)` as a list; a lone brace is a UsageError naming the
    template (it was an internal error: "ValueError: Single '{' encountered in format string")."""
    try:
        return list(string.Formatter().parse(template))
    except ValueError as exc:
        raise UsageError(
            f"{what} {template!r}: {exc}",
            "A field is a name in one pair of braces, such as {module_name}:"
            " remove the brace without its pair.",
        ) from None
