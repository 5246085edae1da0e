"""Types that cross module boundaries: JSON values and module documents.

A module document (module.json, a module object of the REST API, or what modpack.toml declares)
is JSON whose shape is checked at run time, so its values are `JSON`, narrowed with isinstance
where they are used. Naming the type keeps a module document from being mixed up with the other
objects that pass between validate, bundle, elf, checks and the redis harness.
"""

from __future__ import annotations

from typing import TypeAlias, Union

JSONScalar: TypeAlias = str | int | float | bool | None
JSON: TypeAlias = Union[JSONScalar, list["JSON"], dict[str, "JSON"]]  # noqa: UP007 - recursive alias
Module: TypeAlias = dict[str, JSON]
"""One module document: module.json's top-level object."""


def iterated(value: JSON) -> list[JSON]:
    """What `for item in value` visits: a list's items, a string's characters, an object's keys;
    a number, a bool or None is not iterable (the loop's TypeError). For code that walked a value
    of a manifest without checking its type first, typed without changing what it does."""
    if isinstance(value, list):
        return value
    if isinstance(value, str | dict):
        return list(value)
    raise TypeError(f"{type(value).__name__!r} object is not iterable")
