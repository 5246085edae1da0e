"""Module and Redis version strings, and the numeric module version encoding."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modpack.types import Module

# Components are bounded to 18 digits (a signed 64-bit value): Python refuses int() on more than
# 4300 digits, and no real version comes near either bound.
SEMVER = re.compile(r"(0|[1-9]\d{0,17})\.(0|[1-9]\d{0,17})\.(0|[1-9]\d{0,17})")
REDIS_VERSION = re.compile(r"(\d{1,18})\.(\d{1,18})(?:\.(\d{1,18}))?")
MAX_COMPONENT = 99
# RedisModule_Init takes the version as a C int. 214747 is the largest major whose every version
# fits (214747.99.99 = 2147479999 <= 2**31-1); from 214748.36.48 on the number overflows, so a
# major of 214748 could not take its next minor or patch releases.
MAX_MAJOR = 214747


def parse_semver(text: str) -> tuple[int, int, int] | None:
    match = SEMVER.fullmatch(text)
    if not match:
        return None
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def semver_problem(text: str) -> str | None:
    """Why `text` is not an X.Y.Z Redis Enterprise accepts, or None when it is."""
    if parse_semver(text) is not None:
        return None
    if re.fullmatch(r"\d+\.\d+\.\d+", text) and any(len(part) > 18 for part in text.split(".")):
        return f"{_short(text)} has a component of more than 18 digits"
    import semver

    try:
        parsed = semver.Version.parse(text)
    except ValueError:
        return f"{text!r} is not a semantic version X.Y.Z"
    extra = f"-{parsed.prerelease}" if parsed.prerelease else f"+{parsed.build}"
    return f"{text!r} is valid semver, but Redis Enterprise needs plain X.Y.Z without {extra!r}"


def encode(major: int, minor: int, patch: int) -> int:
    """The numeric module version: major*10000 + minor*100 + patch (redis-enterprise.md §2.1)."""
    return major * 10000 + minor * 100 + patch


def decode(number: int) -> tuple[int, int, int]:
    return number // 10000, number // 100 % 100, number % 100


def semantic(number: int) -> str:
    """10203 as `1.2.3`."""
    return ".".join(map(str, decode(number)))


def parse_redis_version(text: str) -> tuple[int, ...] | None:
    match = REDIS_VERSION.fullmatch(text)
    if not match:
        return None
    return tuple(int(g) for g in match.groups() if g is not None)


def _short(text: str) -> str:
    """`text` quoted, cut in the middle when long, so a message stays readable."""
    return repr(text) if len(text) <= 60 else repr(f"{text[:28]}...{text[-28:]}")


def integral_version(module: Module) -> Module:
    """module.json as Redis Enterprise reads it: RAMP writes version as a float (10203.0, VER011),
    which the unpacker reads as int(float(v)) (ramp.md §2.2) and the module object documents as an
    integer. A copy with that integer; any other version as it is."""
    version = module.get("version")
    if isinstance(version, float) and version.is_integer():
        return {**module, "version": int(version)}
    return module
