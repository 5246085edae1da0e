"""Numbers in declarations: module.json takes integers, and Redis keeps key positions and arity
in C ints (C_INT below). Shared by both manifest readers and the build."""

from __future__ import annotations

from typing import TYPE_CHECKING, overload

from modpack import locate, schema
from modpack.findings import Sink

if TYPE_CHECKING:
    from modpack.types import JSON

# RedisModule_CreateCommand takes arity, first_key, last_key and step as C ints (module.c), so a
# value outside that range cannot be what the module registers: Redis Enterprise would read
# another number than the one written, or refuse the object.
C_INT = (-(2**31), 2**31 - 1)


def integer_value(value: object) -> int | None:
    """The integer a JSON/TOML number stands for: an int as it is (of any size: range checks are
    the caller's), a float that is integral (3.0) as its int; None for a bool, a fractional or
    non-finite float, and anything that is not a number."""
    if type(value) is int:
        return value  # the common case, first
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int):
        return value  # never through float(): an integer past 1e308 overflows it
    return int(value) if value.is_integer() else None


@overload
def as_integer(value: JSON) -> JSON: ...
@overload
def as_integer(value: object) -> object: ...
def as_integer(value: object) -> object:
    """A number in an integer field as the checks after the schema's should see it: 3.0 as 3, so
    one cause gives one finding; 2.5, 1e308 or 10**20 (each already reported) as its text, which
    no check takes for a number. Any other value is returned as it is."""
    number = integer_value(value)
    if number is None:
        return repr(value) if isinstance(value, float) else value
    return number if C_INT[0] <= number <= C_INT[1] else repr(value)


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
