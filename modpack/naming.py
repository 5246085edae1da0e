"""The bundle's file name: build's [build] output / --name template, which validate judges too.

Its own module: validate (DECL011) and build (which writes the file) both read it, and build
imports validate.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING

from modpack.errors import UsageError

if TYPE_CHECKING:
    from modpack.types import Module

DEFAULT_NAME = "{module_name}.Linux-{os}-{architecture}.{semantic_version}.zip"
NAME_FIELDS = ("module_name", "os", "architecture", "semantic_version", "version", "target")
FIELDS_TEXT = ", ".join(f"{{{f}}}" for f in NAME_FIELDS)  # as fixes name them
MAX_NAME_BYTES = 200  # file names stop at 255 bytes, and the temporary name adds to it


def output_name(template: str, module: Module, target: str = "", *, bundle: bool = False) -> str:
    """The file name from a template; only plain named fields, and no path tricks. `bundle`: a
    name modpack itself will know as a bundle again (validate, inspect and publish go by .zip);
    ramp-pack's -o writes any name, as RAMP does."""
    systems = module.get("operating_systems") or ["any"]
    values = {
        "module_name": module.get("module_name", ""),
        # a value of another type is the schema's (SCH002): named as one entry, never iterated
        "os": "+".join(str(s) for s in (systems if isinstance(systems, list) else [systems])),
        "architecture": module.get("architecture", ""),
        "semantic_version": module.get("semantic_version", ""),
        "version": module.get("version", ""),
        "target": target,
    }
    for _, name, spec, conversion in template_fields(template, "output name template"):
        if name is None:
            continue
        if name not in NAME_FIELDS:
            raise UsageError(
                f"output name template {template!r} uses {{{name}}}",
                f"Use only {FIELDS_TEXT}.",
            )
        if spec or conversion:
            written = name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise UsageError(
                f"output name template {template!r} uses {{{written}}}:"
                " a field takes no conversion or format",
                f"Write {{{name}}}.",
            )
        if name == "target" and not target:
            raise UsageError(
                f"output name template {template!r} uses {{target}},"
                " which only a [[targets]] entry's build fills",
                "Leave {target} out, or add [[targets]] and build them with --all or --target.",
            )
    if not values["module_name"] and any(f[1] == "module_name" for f in template_fields(template, "")):
        # it was "the output name '.Linux-...zip' is not a plain file name", naming no cause
        raise UsageError(
            "the bundle is named after the module, which has no name",
            "Give the module its name: [module] name in modpack.toml, module_name in a ramp.yml.",
        )
    name = template.format(**values)
    if len(name.encode()) > MAX_NAME_BYTES:
        raise UsageError(
            f"the output name is {len(name.encode())} bytes long (the limit is {MAX_NAME_BYTES})",
            "Shorten the module name or the name template ([build] output, or --name).",
        )
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):  # a newline began a CI workflow command
        raise UsageError(
            f"the output name {name!r} holds a control character",
            "Use printable characters in the module's name, version and [[targets]] names.",
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
    if bundle and not name.endswith(".zip"):
        raise UsageError(
            f"the output name {name!r} does not end in .zip",
            "End the template with .zip: modpack validate, inspect and publish know a bundle by it.",
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
