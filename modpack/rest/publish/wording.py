"""How messages name several things: "a, b and c", and the verb that agrees with them."""

from __future__ import annotations

from collections.abc import Sequence


def joined(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def verb(subjects: Sequence[str], one: str, several: str) -> str:
    return one if len(subjects) == 1 else several
