"""Numbers in declarations: module.json takes integers, and Redis keeps key positions and arity
in C ints (modpack.checks.commands.C_INT). Shared by both manifest readers and the build."""

from __future__ import annotations

from modpack import locate, schema
from modpack.checks.commands import C_INT
from modpack.findings import Sink


def as_integer(value: object) -> object:
    """A number in an integer field as the checks after the schema's should see it: 3.0 as 3, so
    one cause gives one finding; 2.5, 1e308 or 10**20 (each already reported) as its text, which
    no check takes for a number. Any other value is returned as it is."""
    if type(value) is int and C_INT[0] <= value <= C_INT[1]:
        return value  # the common case, first
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, float) and not value.is_integer():
        return repr(value)
    if not C_INT[0] <= value <= C_INT[1]:
        return repr(value)
    return int(value)


def report_floats(value: object, sink: Sink, path: str = "") -> None:
    """A float anywhere in what becomes module.json: modpack writes integers only (JSON readers
    such as Redis Enterprise's take 3.0 for 3, but a 2.5 or 1e308 has no integer to be)."""
    if isinstance(value, float):
        code = "CMD004" if path.endswith("command_arity") else "SCH002"
        message = f"`{path}` is a float ({value!r}); module.json takes an integer here"
        sink.add(code, path, message, schema.integer_hint(value, "integer"))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            report_floats(item, sink, locate.join(path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            report_floats(item, sink, locate.join(path, str(key)))
