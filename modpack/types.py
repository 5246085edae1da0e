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
