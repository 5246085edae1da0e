"""Validation settings (`Settings`): [validate] in modpack.toml, then the command line on top."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from modpack.errors import UsageError


class Settings(NamedTuple):
    """Validation settings from [validate] and the command line (the command line wins)."""

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    strict: bool = False
    load: bool = False  # load the module into a real redis-server (--load, load = true)
    # --load-if-available, load = "if-available": no redis-server for the module is not a failure
    load_if_available: bool = False
    redis_server: str | None = None  # for --load; default: $MODPACK_REDIS_SERVER, then PATH
    redis_version: str | None = None  # for --load: the Redis to prove with (default: the target's)

    def reports(self, code: str) -> bool:
        """Whether a finding of rule `code` is kept: --select/select and --ignore/ignore."""
        from modpack.rules import matches

        # DECL009 says a select or ignore entry matches no rule: no select hides it (select =
        # ["ZIP,CMD"] selected nothing, DECL009 included, and build wrote an unchecked bundle);
        # an ignore that names it does.
        if self.select and not matches(code, self.select) and code != "DECL009":
            return False
        return not (self.ignore and matches(code, self.ignore))


def find_config(start: Path | str, seen: dict[str, Path | None] | None = None) -> Path | None:
    """The nearest modpack.toml in `start` (an absolute folder) or its parents, as ruff finds
    pyproject.toml. `seen` keeps each folder's answer across calls: a run over 1000 files in
    sibling folders looks at each parent once. On strings: Path objects cost more than the stat."""
    seen = {} if seen is None else seen
    passed: list[str] = []
    found: Path | None = None
    place = str(start)
    while True:
        if place in seen:
            found = seen[place]
            break
        passed.append(place)
        candidate = os.path.join(place, "modpack.toml")  # noqa: PTH118
        if os.path.isfile(candidate):  # noqa: PTH113 -- False for any OSError, a long name too
            found = Path(candidate)
            break
        parent = os.path.dirname(place)  # noqa: PTH120
        if parent == place:
            break
        place = parent
    for place in passed:
        seen[place] = found
    return found


def file_settings(path: Path, *, given: bool = False, config_option: bool = True) -> Settings:
    """[validate] of `path`: the --config file when `given`, else the modpack.toml found nearest.
    `config_option`: the command has --config (validate, publish), which a fix may then name."""
    import tomllib

    from modpack.regular import MAX_TEXT_FILE, NotUtf8Text, decode_utf8, hint_for, read_regular

    try:
        raw = read_regular(path, MAX_TEXT_FILE)  # a FIFO given as --config would block a plain read
        if len(raw) > MAX_TEXT_FILE:
            raise UsageError(
                f"{path} is larger than {MAX_TEXT_FILE // (1024 * 1024)} MiB", _fix(given, config_option)
            )
        data = tomllib.loads(decode_utf8(raw, str(path)))
    except NotUtf8Text as exc:
        raise UsageError(f"cannot read settings: {exc.message}", exc.hint) from None
    except OSError as exc:
        raise UsageError(
            f"cannot read settings from {path}: {exc.strerror or exc}",
            hint_for(exc) or _fix(given, config_option),
        ) from None
    except ValueError as exc:  # TOML syntax, a 4301-digit int
        raise UsageError(f"cannot read settings from {path}: {exc}", _fix(given, config_option)) from None
    except RecursionError:  # tomllib recurses per nesting level: an internal error before
        message = f"cannot read settings from {path}: a value is nested too deeply"
        raise UsageError(message, _fix(given, config_option)) from None
    table = _expanded(path, data.get("validate"))
    _check_types(path, table)
    settings = settings_from(table)
    for key in ("select", "ignore"):
        check_codes(getattr(settings, key), f"in [validate] {key} of {path}")
    return settings


def _expanded(path: Path, table: object) -> object:
    """[validate] with ${VAR} expanded, as `modpack build` reads it; an unset variable is a usage
    error here, where the settings are used."""
    if table is None or "$" not in repr(table):  # nothing to expand: envvars not imported
        return table
    from modpack.envvars import substitute_env
    from modpack.findings import Sink

    sink = Sink(str(path))
    expanded = substitute_env(table, sink, "validate")
    if sink.findings:
        first = sink.findings[0]
        message = f"{path} [{first.location.path}]: {first.message}"
        raise UsageError(message, "Set the variable or write the value.")
    return expanded


def check_codes(codes: tuple[str, ...], source: str) -> None:
    """Each code names a rule, a code prefix or a rule name; else a usage error saying where the
    code came from (`source`: "given to --ignore", "in [validate] ignore of PATH")."""
    if not codes:  # no rule table to read
        return
    from modpack.rules import selects_a_rule

    for code in codes:
        if not selects_a_rule(code):
            raise UsageError(f"no rule matches {code!r} {source}", "Run `modpack rules` to list the codes.")


def normalized_codes(items: Iterable[str]) -> tuple[str, ...]:
    """Rule codes as the rules name them: `ver006` and `Zip` are VER006 and ZIP; rule names
    (`zero-step`) stay as they are; blanks are dropped."""
    found = (item.strip() for item in items)
    return tuple(c.upper() if re.fullmatch(r"[A-Za-z]+\d*", c) else c for c in found if c)


def _check_types(path: Path, table: object) -> None:
    """A [validate] table modpack.schema.json refuses (a wrong type, an unknown key) is a usage
    error where the settings are used: dropped, the finding it meant to silence still fails."""
    if table is None:
        return
    from modpack import schema

    problems = [
        v
        for v in schema.check({"validate": table}, "modpack", exact_integers=True)
        if v.path == "validate" or v.path.startswith("validate.")
    ]
    if problems:
        first = problems[0]
        raise UsageError(f"{path} [{first.path}]: {first.message}"[:300], first.hint or _VALIDATE_KEYS)


_VALIDATE_KEYS = (
    '[validate] takes select and ignore (lists of rule codes: ["VER006", "CMD"]), strict (true or'
    ' false) and load (true, false or "if-available").'
)


def _fix(given: bool, config_option: bool = True) -> str:
    """The fix for a settings file that cannot be read: --config names one, so suggesting it to
    the user who gave it helps nobody; and build and ramp-pack have no --config (they refused
    it: No such option), so their fix does not name it."""
    if given:
        return "Fix the file given to --config."
    if not config_option:
        return "Fix the file: its [validate] settings apply to the files in its folder and below."
    return "Fix the file, or give --config another modpack.toml to take the [validate] settings from."


def settings_for(config: Path | None, given: Settings) -> Settings | NearestSettings:
    """What validate and publish check each file with, the command line `given` on top: --config's
    [validate] for every file, else each file's own (NearestSettings). Every rule code, a usage
    error unless it names a rule (check_codes says where it came from)."""
    check_codes(given.select, "given to --select")
    check_codes(given.ignore, "given to --ignore")
    if config is None:
        return NearestSettings(given)
    if not config.exists():
        raise UsageError(f"--config {config} does not exist")
    return merged(file_settings(config, given=True), given)


def merged(base: Settings, given: Settings) -> Settings:
    """`given` (the command line) on top of `base` ([validate] of a modpack.toml)."""
    return Settings(
        select=given.select or base.select,
        ignore=base.ignore + given.ignore,
        strict=given.strict or base.strict,
        # --load on the command line insists on loading, whatever [validate] load says
        load=given.load or given.load_if_available or base.load,
        load_if_available=given.load_if_available or (base.load_if_available and not given.load),
        redis_server=given.redis_server,
        redis_version=given.redis_version,
    )


class NearestSettings:
    """Each file's settings, as `modpack build` of it reads them, with the command line `given`
    on top: a modpack.toml's own [validate]; for any other file, [validate] of the modpack.toml
    nearest its folder (links of folders followed, as build's `decl.path.parent.resolve()`), as
    ruff finds pyproject.toml per file.

    Taken from the current folder, they made a run from a repository's root (pre-commit's hooks
    run there) pass what `modpack build` of the module refused under its own [validate] strict,
    and fail what its [validate] ignore accepted. A modpack.toml whose own table cannot be used is
    validated with the command line's alone (DECL009 says what is wrong with it); for the other
    files near it, that table is a usage error, whatever order they come in.
    """

    def __init__(self, given: Settings) -> None:
        self.given = given
        self.alone = merged(Settings(), given)  # no table: the command line's, as it reads them
        self._read: dict[Path, Settings | UsageError] = {}
        self._seen: dict[str, Path | None] = {}  # folder (links followed) -> its nearest modpack.toml
        self._real: dict[str, str] = {}  # folder as given -> with its links followed

    def __call__(self, path: Path) -> Settings:
        if path.name.lower().endswith(".toml"):  # declarations: validated as a modpack.toml (sources.kind_of)
            table = self._table(path)
            return merged(Settings() if isinstance(table, UsageError) else table, self.given)
        folder = os.path.dirname(os.path.abspath(path))  # noqa: PTH100, PTH120 -- strings: one look per folder
        found = self._nearest_to(folder)
        if found is None:
            return self.alone
        table = self._table(found)
        if isinstance(table, UsageError):
            raise table  # another file's settings: the usage error names it
        return merged(table, self.given)

    def _table(self, path: Path) -> Settings | UsageError:
        if path not in self._read:
            try:
                self._read[path] = file_settings(path)
            except UsageError as exc:
                self._read[path] = exc
        return self._read[path]

    def _nearest_to(self, folder: str) -> Path | None:
        """find_config of the folder with its links followed (as build's resolve()), once each."""
        if folder not in self._real:
            self._real[folder] = os.path.realpath(folder)
        return find_config(self._real[folder], self._seen)


def settings_from(table: object) -> Settings:
    """Settings from a parsed [validate] table (anything else: the defaults)."""
    if not isinstance(table, dict):
        return Settings()

    def strings(key: str) -> tuple[str, ...]:
        value = table.get(key)
        return normalized_codes(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()

    return Settings(
        select=strings("select"),
        ignore=strings("ignore"),
        strict=table.get("strict") is True,
        load=table.get("load") in (True, "if-available"),
        load_if_available=table.get("load") == "if-available",
    )


def settings_near(path: Path) -> Settings:
    """[validate] of the modpack.toml nearest the file `path` (itself, when it is one; else in its
    folder or above); none without one. One that cannot be read is a UsageError, as to build."""
    found = find_config(path.parent.resolve())
    # for build, ramp-pack and discover, none of which has --config
    return file_settings(found, config_option=False) if found is not None else Settings()
