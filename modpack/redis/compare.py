"""Declared versus registered: a module.json dict against what a redis-server says the module did.

Redis reports some declarations differently from how they were written, so the declared side is
normalised to what that Redis version would report before comparing (keyspecs.md):
- flags are compared in COMMAND INFO spelling (§1.8); the implicit `module` flag (7.0+) is left
  out; `may_replicate` is hidden from 7.0.1 on and `random` ignored from 7.0 on (§1.6, §1.7);
  `no-cluster` and `getchannels-api` are never shown;
- 6.x reports arity -1 for every module command (§2), so arity is compared on 7.0+ only, and
  shows movablekeys of a module command only with getkeys-api (§3.6), so a declaration for 6.x
  without it is not told off where 7.0+ derives it from key specs alone;
- 7.0+ rebuilds the key triple from a key spec (§1.2): first_key 0 drops the other two, and a
  last_key below first_key becomes a from-the-end index;
- a negative declared step is a Redis Enterprise routing policy (ramp.md §3.2): compared as
  declared, so the key positions are not compared at all, nor movablekeys, which says only that
  the keys are not at fixed positions.
Command names are compared case-insensitively, like Redis's command table (§1.3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from modpack import policy, versions
from modpack.findings import Problem, Sink
from modpack.records import excluded_by, recorded, unmatched_exclusion, unregistered_exclusions
from modpack.redis.model import CommandInfo, Discovery, KeySpec
from modpack.types import JSON

HIDDEN_MAY_REPLICATE = (7, 0, 1)
IMPLICIT_MODULE_FLAG = (7, 0, 0)
KEY_FIELDS = ("first_key", "last_key", "step")

Version = tuple[int, ...]
Entry = Mapping[str, JSON]


Difference = Problem
"""A difference between the declarations and what Redis registered: a Problem with a LOAD rule."""


# The static rules --load leaves a difference to when it is said already: what a declared
# first/last/step shows when it is the registered one (key_spec_hazards), and a command entry
# without flags (CMD006). One a run does not report (--ignore) is said by --load after all.
STATIC_RULES = frozenset({"KEY001", "KEY002", "KEY009", "CMD006"})


def compare(
    module: Mapping[str, JSON],
    discovery: Discovery,
    *,
    toml: bool = False,
    getkeys_api: bool | None = None,
    reported: frozenset[str] = STATIC_RULES,
    write: str = "",
) -> list[Difference]:
    """Every difference between the declarations in `module` and what Redis registered; `toml`:
    they were written as a modpack.toml, whose syntax a fix then uses (else module.json's).
    `write`: the `modpack discover ... --write` that adds an undeclared command to that file.
    `getkeys_api`: whether the binary registers a command with the getkeys-api flag (None: not
    known), which decides whether cluster routing may ask the module for keys (§3.4).
    `reported`: the STATIC_RULES this run reports; --load says what the others would have."""
    from modpack.checks.commands import target_redis

    found = identity(module, discovery, toml=toml)
    declared_for = target_redis(module)
    # An internal command (8.0+) is registered though COMMAND hides it: declared, it is compared;
    # undeclared, it is not named (RAMP never lists it, and no client but an internal one calls it).
    registered = {c.name.lower(): c for c in (*discovery.commands, *discovery.internal)}
    declared = declared_commands(module)
    # RAMP records its command edits in module.json (ramp.md §3.3): add_command declares what the
    # module does not register when it is loaded (RedisGears' rg.jexecute comes with a plugin),
    # and exclude_commands leaves out on purpose what it registers.
    added, excluded = recorded(module, "add_command"), recorded(module, "exclude_commands")
    # and overide_command replaces what the module registers with the manifest's entry, on purpose
    # (ramp.md §1 step 7): RediSearch routes FT.SUGADD by a policy, RedisGears rg.trigger by its key.
    overridden = recorded(module, "overide_command")
    undescribed = {name.lower() for name in discovery.undescribed}
    for index, entry, name in declared:
        info = registered.get(name.lower())
        path = f"commands[{index}]"
        if info is None and name.lower() in undescribed:
            found.append(_undescribed(path, name))
        elif info is None:
            if name.casefold() not in added:
                found.append(_not_registered(path, name, toml))
        else:
            differences = compare_command(
                path,
                entry,
                info,
                discovery.redis_version_tuple,
                getkeys_api=getkeys_api,
                reported=reported,
                declared_for=declared_for,
            )
            found += _as_overridden(path, info, differences) if name.casefold() in overridden else differences
    found += _unmatched_exclusions(module, registered)
    names = {name.lower() for _, _, name in declared}
    found += [_undescribed("commands", name) for name in discovery.undescribed if name.lower() not in names]
    for info in discovery.commands:
        if info.name.lower() not in names and not excluded_by(info.name, excluded):
            # Undeclared, it is still registered: its keys are extracted all the same.
            found += [
                _not_declared(info, toml, write),
                *_hazards("commands", {}, info, discovery.redis_version_tuple, getkeys_api=getkeys_api),
            ]
    return found


def registered_defects(discovery: Discovery, *, getkeys_api: bool | None = None) -> list[Difference]:
    """What is wrong with the commands a module registered, with nothing declared to compare (a
    .so validated alone): key specs Redis accepts and cannot use (LOAD027: hellodict.c of
    redis/redis registers 1, 1, 0, and COMMAND GETKEYS then crashes the server) and movable keys
    the legacy triple misses (LOAD022). A module.json made from what it registers has them too."""
    found = [_undescribed("", name) for name in discovery.undescribed]
    for info in discovery.commands:
        found += _hazards("", {}, info, discovery.redis_version_tuple, getkeys_api=getkeys_api)
        found += _coverage("", info, getkeys_api)
    return found


def declared_commands(module: Mapping[str, JSON]) -> list[tuple[int, dict[str, JSON], str]]:
    """(index, entry, name) of every commands[] entry that has a name."""
    entries = module.get("commands")
    if not isinstance(entries, list):
        return []
    found = []
    for index, entry in enumerate(entries):
        name = entry.get("command_name") if isinstance(entry, dict) else None
        if isinstance(entry, dict) and isinstance(name, str) and name:
            found.append((index, entry, name))
    return found


def compare_command(
    path: str,
    entry: Entry,
    info: CommandInfo,
    redis: Version,
    *,
    getkeys_api: bool | None = None,
    reported: frozenset[str] = STATIC_RULES,
    declared_for: Version | None = None,
) -> list[Difference]:
    """`declared_for`: the Redis version the declarations are for (compatible_redis_version),
    when it is not the one that registered the commands (`redis`)."""
    step = as_int(entry.get("step", 0))
    # The module may register this negative step itself: no policy written for the proxy, but key
    # positions Redis walks backwards, which LOAD027 names (from its key spec: Redis 7+).
    # (2,1,-2 as registered, which Redis 7 shows as 2,-1,-2, too: no policy either)
    registered_step = bool(info.key_specs) and not triple_differs(entry, info, redis)
    policy_step = step if step is not None and step < 0 and not registered_step else None
    found = (
        _arity(path, entry, info, redis, declared_for)
        + _flags(
            path,
            entry,
            info,
            redis,
            routing_policy=policy_step is not None,
            reported=reported,
            movable_on_6=_movable_on_6(info, getkeys_api),
            declared_for=declared_for,
        )
        + _hazards(path, entry, info, redis, getkeys_api=getkeys_api, reported=reported)
    )
    if policy_step is not None:
        movable = "movablekeys" in info.flags or "movablekeys" in declared_flags(entry.get("flags"), redis)
        return [*found, _routing_policy(path, policy_step, info, movable=movable)]
    if step is not None and step < 0:
        return found
    return found + _keys(path, entry, info, redis) + _coverage(path, info, getkeys_api)


# What an overide_command entry says instead of what Redis registers: its arity, flags and key
# positions, which RAMP packs whole in place of the registered entry (ramp.md §1 step 7, §3.3), so
# Redis Enterprise routes the command as the override says. (A routing policy in its step is
# LOAD023's, information already.)
OVERRIDDEN_RULES = frozenset({"LOAD019", "LOAD020", "LOAD021"})


def _as_overridden(path: str, info: CommandInfo, differences: list[Difference]) -> list[Difference]:
    """The differences of an entry overide_command gives, as one LOAD032 (information): what the
    override says against what Redis registers, so it is still seen. The rest are kept as they are:
    key specs Redis cannot use (LOAD027) are the module's own, whatever the entry says."""
    replaced = [d for d in differences if d.code in OVERRIDDEN_RULES]
    if not replaced:
        return differences
    said = "; ".join(d.message.removeprefix(f"{info.name}: ") for d in replaced)
    kept = [d for d in differences if d.code not in OVERRIDDEN_RULES]
    return [
        *kept,
        Difference(
            "LOAD032",
            path,
            f"{info.name}: overide_command replaces the entry Redis registers, and differs from it: {said}",
            "Nothing to fix if the override is meant: Redis Enterprise routes the command by it. To"
            " declare what Redis registers, remove the command from overide_command.",
        ),
    ]


# --- module name and version ------------------------------------------------------------------


def identity(module: Mapping[str, JSON], discovery: Discovery, *, toml: bool = False) -> list[Difference]:
    """LOAD014/LOAD015: the declared module_name and version against what the module passed to
    RedisModule_Init (MODULE LIST); `toml`: named as modpack.toml's [module] spells them."""
    found = []
    name = module.get("module_name")
    if isinstance(name, str) and name and name != discovery.module_name:
        said = f"[module] name is {name!r}" if toml else f"module_name is {name!r}"
        use = (
            f"Set name = {discovery.module_name!r} under [module]"
            if toml
            else f"Use {discovery.module_name!r}"
        )
        found.append(
            Difference(
                "LOAD014",
                "module_name",
                f"{said}, the module registers itself as {discovery.module_name!r}",
                f"{use}, the name the module passes to RedisModule_Init.",
            )
        )
    key, version = declared_version(module)
    if version is not None and version != discovery.module_version:
        semantic = toml or key == "semantic_version"  # the file gives the version as semantic_version
        said = (
            f"semantic_version is {versions.semantic(version)} (version {version})"
            if semantic
            else f"version is {version} ({versions.semantic(version)})"
        )
        found.append(
            Difference(
                "LOAD015",
                key,
                f"{said}, the module registers {discovery.module_version} ({discovery.semantic_version})",
                (
                    f"Declare semantic_version {discovery.semantic_version}"
                    if semantic
                    else f"Declare version {discovery.module_version} and semantic_version"
                    f" {discovery.semantic_version}"
                )
                + ", or pass the declared version to RedisModule_Init and rebuild.",
            )
        )
    return found


def declared_version(module: Mapping[str, JSON]) -> tuple[str, int | None]:
    """The key that declares the module's version, and the version number: `version`, or where
    only semantic_version is given (a ramp.yml: `modpack build` packs the version it encodes,
    ramp.edits.prepare_build), semantic_version and that number. None: neither gives one."""
    semantic = module.get("semantic_version")
    if "version" not in module and isinstance(semantic, str):
        parsed = versions.parse_semver(semantic)
        return "semantic_version", versions.encode(*parsed) if parsed is not None else None
    return "version", as_int(module.get("version"))


# --- commands declared on one side only -------------------------------------------------------


def _unmatched_exclusions(
    module: Mapping[str, JSON], registered: Mapping[str, CommandInfo]
) -> list[Difference]:
    """LOAD028 for each exclude_commands name no registered command has
    (compared as Redis compares names: a manifest listing both tconfig_set and TCONFIG_SET, for
    RAMP's exact match, is not told off for either)."""
    names = {key.casefold() for key in registered}
    return [
        Difference("LOAD028", f"exclude_commands[{index}]", unmatched_exclusion(name))
        for index, name in unregistered_exclusions(module, names)
    ]


def undescribed_names(discovery: Discovery) -> str:
    """`"" and "e.pipe|x", which COMMAND INFO does not describe`: Discovery.undescribed, for
    people (an empty name is seen only quoted)."""
    import json

    names = [json.dumps(name) for name in discovery.undescribed]
    shown = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
    return f"{shown}, which COMMAND INFO does not describe"


def _undescribed(path: str, name: str) -> Difference:
    """LOAD030: a command COMMAND LIST names (and a client can call) that COMMAND INFO answers nil
    for, measured on redis-server 7.0.15: RedisModule_CreateCommand accepts an empty name (8.0.2
    too) and one with `|`, which COMMAND INFO looks up as container|subcommand (src/server.c
    lookupCommandBySds() splits the name at `|`, and finds nothing of an empty one). Discovery
    dropped them in silence: `validate --load` said "registered 1 command" of a module with three."""
    import json

    return Difference(
        "LOAD030",
        path,
        f"{json.dumps(name)} is registered (COMMAND LIST names it, and a client can call it), but COMMAND"
        " INFO answers nil for it: Redis Enterprise, which learns a module's commands from COMMAND INFO"
        " (as RAMP does), cannot know its arity, flags or keys, so the cluster proxy cannot route it",
        "Give the command a name that is not empty and has no '|' (a subcommand is registered with"
        " RedisModule_CreateSubcommand): Redis 7.2 and later refuse a name with '|', and the module then"
        " does not load.",
    )


def _not_registered(path: str, name: str, toml: bool) -> Difference:
    where = "[module] add_command" if toml else "add_command"
    return Difference(
        "LOAD016",
        path,
        f"{name} is declared, but the module does not register it",
        "Remove the entry, or fix its name; names are compared case-insensitively. A command a plugin"
        f" or a later call registers is named in {where}, as RAMP records it.",
    )


def _not_declared(info: CommandInfo, toml: bool, write: str = "") -> Difference:
    """`write`: the command that adds it to the modpack.toml (the fix said "modpack discover
    --write adds it", which refuses to run without the .so and the file: Missing argument 'SO')."""
    if info.is_subcommand:
        parent = info.name.split("|", 1)[0]
        return Difference(
            "LOAD018",
            "commands",
            f"subcommand {info.name} is registered but not declared; the proxy routes it by {parent}'s entry",
            "Declare it only if your Redis Enterprise version routes subcommands.",
        )
    if toml:
        values = ", ".join(f"{k} = {_toml_value(v)}" for k, v in info.as_table().items())
        fix = (
            f"Declare it: [[commands]] {values} ({f'`{write}`' if write else 'modpack discover --write'}"
            " adds it); left out on"
            " purpose, name it in [module] exclude_commands."
        )
    else:
        import json

        fix = (
            f"Declare it: add {json.dumps(info.as_module_json())} to commands; left out on purpose,"
            " name it in exclude_commands."
        )
    return Difference(
        "LOAD017",
        "commands",
        f"{info.name} is registered, but not declared: the cluster proxy will not route it",
        fix,
    )


def _toml_value(value: JSON) -> str:
    import json

    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    # A JSON string is a TOML basic string, but for DEL, which TOML forbids unescaped: a name
    # holding ", \\ or a control character (each valid in Redis) stays one.
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    return str(value)


# --- arity ------------------------------------------------------------------------------------


def arity_differs(declared: JSON, info: CommandInfo, redis: Version) -> bool:
    """True when a declared arity disagrees with Redis; 6.x reports -1 for every module command."""
    if redis < IMPLICIT_MODULE_FLAG:
        return False
    return as_int(declared) != info.arity


def _arity(
    path: str, entry: Entry, info: CommandInfo, redis: Version, declared_for: Version | None = None
) -> list[Difference]:
    declared = entry.get("command_arity")
    if declared is None or not arity_differs(declared, info, redis):
        return []
    # by major: "7.0" is (7, 0), which Python orders below (7, 0, 0), and a 7.0 module.json was
    # taken for one for Redis 6
    if declared_for is not None and declared_for[:1] < IMPLICIT_MODULE_FLAG[:1] and as_int(declared) == -1:
        # Redis 6.x reports -1 for every module command (keyspecs.md §2: RM_CreateCommand hard-codes
        # it), so -1 is what a module.json for 6.x declares, whichever Redis proves it (LOAD026).
        return []
    return [
        Difference(
            "LOAD019",
            f"{path}.command_arity",
            f"{info.name}: arity is {declared}, Redis registers {info.arity}",
            f"Use {info.arity}, or set the arity with RedisModule_SetCommandInfo.",
        )
    ]


# --- flags ------------------------------------------------------------------------------------


def declared_flags(flags: JSON, redis: Version) -> frozenset[str]:
    """Declared flags as the COMMAND INFO names this Redis version would show."""
    if not isinstance(flags, list):
        return frozenset()
    spelled = policy.module_flag_spellings()
    invisible = policy.load("flags").get("module_only_invisible", {})
    lowered = (f.lower() for f in flags if isinstance(f, str))
    names = {spelled.get(f, f) for f in lowered if f not in invisible}
    names.discard("module")
    if redis >= HIDDEN_MAY_REPLICATE:
        names.discard("may_replicate")
    if redis >= IMPLICIT_MODULE_FLAG:
        names.discard("random")
    return frozenset(names)


def registered_flags(info: CommandInfo) -> frozenset[str]:
    return frozenset(info.flags) - {"module"}


def flag_differences(flags: JSON, info: CommandInfo, redis: Version) -> tuple[list[str], list[str]]:
    """(declared but not registered, registered but not declared), each in a stable order."""
    declared, registered = declared_flags(flags, redis), registered_flags(info)
    return sorted(declared - registered), [f for f in info.flags if f in registered - declared]


def _flags(
    path: str,
    entry: Entry,
    info: CommandInfo,
    redis: Version,
    *,
    routing_policy: bool = False,
    reported: frozenset[str] = STATIC_RULES,
    movable_on_6: bool = True,
    declared_for: Version | None = None,
) -> list[Difference]:
    """`movable_on_6`: whether Redis 6.x would show the command movablekeys too (_movable_on_6);
    `declared_for`: the Redis version the declarations are for, when known."""
    if "flags" not in entry and "CMD006" in reported:
        return []  # an entry without flags is a CMD006 finding already
    missing, extra = flag_differences(entry.get("flags", []), info, redis)  # none: routed with none
    if not movable_on_6 and declared_for is not None and declared_for[:1] < IMPLICIT_MODULE_FLAG[:1]:
        # A module.json for 6.x declares the flags 6.x reports, which shows movablekeys of a module
        # command only with getkeys-api (keyspecs.md §3.6: 6.2 src/server.c addReplyCommand());
        # 7.0+ derives it from key specs as well (populateCommandMovableKeys), which RedisBloom's
        # cms.merge registers when SetCommandInfo is there. Forgiven as arity is (_arity).
        extra = [f for f in extra if f != "movablekeys"]
    if routing_policy:
        # movablekeys says only that the keys are not at fixed positions (keyspecs.md §3.6), and
        # a negative step replaces key routing with a proxy policy (a random shard, or the shard
        # of a cursor: ramp.md §3.2), as it replaces first/last/step, which are not compared
        # either (LOAD023). Write, readonly and the rest still matter (replicas, OOM): compared.
        missing = [f for f in missing if f != "movablekeys"]
        extra = [f for f in extra if f != "movablekeys"]
    if not missing and not extra:
        return []
    parts = []
    if missing:
        parts.append(f"declared but not registered: {', '.join(missing)}")
    if extra:
        parts.append(f"registered but not declared: {', '.join(extra)}")
    return [
        Difference(
            "LOAD020",
            f"{path}.flags",
            f"{info.name}: flags differ ({'; '.join(parts)})",
            f"Declare the flags Redis reports: {', '.join(info.flags) or '(none)'}; or fix the flags string "
            "given to RedisModule_CreateCommand.",
        )
    ]


def _movable_on_6(info: CommandInfo, getkeys_api: bool | None) -> bool:
    """Whether Redis 6.x would show this movablekeys command so too: unless the binary registers no
    command with getkeys-api, the flag 6.x derives it from alone, it may (COMMAND INFO does not
    say which command has the flag). True for a command 7.0+ does not show movablekeys either."""
    return not (info.movable and getkeys_api is False)


# --- key positions ----------------------------------------------------------------------------


def expected_triple(first: int, last: int, step: int, redis: Version) -> tuple[int, int, int]:
    """What COMMAND INFO shows for a CreateCommand (first, last, step) on this Redis (§1.2)."""
    if redis < IMPLICIT_MODULE_FLAG:
        return first, last, step
    if first == 0:
        return 0, 0, 0  # no key spec is created; last and step are discarded
    relative = last if last < 0 else last - first
    return first, (relative + first if relative >= 0 else relative), step


def declared_triple(entry: Entry) -> tuple[int, int, int] | None:
    values = [as_int(entry.get(key, 0)) for key in KEY_FIELDS]
    if any(v is None for v in values):
        return None
    first, last, step = (v or 0 for v in values)
    return first, last, step


def triple_differs(entry: Entry, info: CommandInfo, redis: Version) -> bool:
    declared = declared_triple(entry)
    if declared is None:
        return True
    return expected_triple(*declared, redis) != (info.first_key, info.last_key, info.step)


def _keys(path: str, entry: Entry, info: CommandInfo, redis: Version) -> list[Difference]:
    declared = declared_triple(entry)
    if declared is None:
        return []  # a wrong type is a schema finding already
    expected = expected_triple(*declared, redis)
    registered = (info.first_key, info.last_key, info.step)
    if declared == registered:
        return []  # declared as Redis shows it: 0,0,1 is a key spec at index 0, which no triple gives
    found = []
    if info.first_key > 0 and info.step <= 0:
        # What Redis registers is itself the defect (LOAD027, KEY002): declaring it would not help.
        fix = (
            f"Fix the key positions the module registers: step {info.step} with first key "
            f"{info.first_key} is no layout Redis can walk (a single key is {info.first_key}, "
            f"{info.first_key}, 1); then declare what it registers."
        )
    else:
        fix = (
            f"Declare first_key/last_key/step as {registered[0]}, {registered[1]}, {registered[2]}, or "
            "fix the key positions the module registers."
        )
    for key, said, shown, actual in zip(KEY_FIELDS, declared, expected, registered, strict=True):
        if shown == actual:
            continue
        reread = f" (Redis {'.'.join(map(str, redis))} shows it as {shown})" if shown != said else ""
        found.append(
            Difference(
                "LOAD021",
                f"{path}.{key}",
                f"{info.name}: {key} is {said}{reread}, Redis registers {actual}",
                fix,
            )
        )
    return found


def _routing_policy(path: str, step: int, info: CommandInfo, *, movable: bool) -> Difference:
    return Difference(
        "LOAD023",
        f"{path}.step",
        f"{info.name}: step {step} is a Redis Enterprise routing policy, so its key positions"
        f"{' and movablekeys' if movable else ''} were not compared (Redis registers "
        f"{info.first_key}, {info.last_key}, {info.step})",
    )


# --- key specs the legacy triple does not cover -----------------------------------------------


def uncovered_key_specs(info: CommandInfo) -> list[KeySpec]:
    """Key specs of a movablekeys command whose keys the legacy (first, last, step) misses (§3.4)."""
    if not info.movable:
        return []
    return [spec for spec in info.key_specs if not _covered(info, spec)]


def _covered(info: CommandInfo, spec: KeySpec) -> bool:
    flags = {f.lower() for f in spec.flags}
    if "not_key" in flags:
        return True
    if _takes_the_rest(info) and _lowest_key(spec) >= info.first_key:
        # every argument from first_key on is a key to routing, so is every key the spec finds
        # (a 1, -1, 1 command with a keyword spec answers CROSSSLOT in cluster mode for keys of two
        # slots, measured on 7.0.15), and every key an incomplete spec may not point out
        return True
    if "incomplete" in flags or spec.begin_search != "index" or spec.find_keys != "range":
        return False
    first, last, step = info.first_key, info.last_key, info.step
    position, lastkey, keystep = spec.begin_int("index"), spec.find_int("lastkey"), spec.find_int("keystep")
    if first <= 0 or step <= 0 or position < first or (position - first) % step:
        return False
    if lastkey != 0 and (keystep <= 0 or keystep % step):
        return False
    return _reaches(last, position + lastkey if lastkey >= 0 else lastkey)


def _takes_the_rest(info: CommandInfo) -> bool:
    """first/last/step take every argument from first_key to the last (src/db.c
    getKeysUsingLegacyRangeSpec() reads last_key -1 as argc - 1)."""
    return info.first_key > 0 and info.last_key == -1 and info.step == 1


def _lowest_key(spec: KeySpec) -> int:
    """The lowest argument index a key of `spec` can be at (7.0 src/db.c getKeysUsingKeySpecs():
    a RANGE takes keys from where the search began on, a KEYNUM from there plus firstkey, and a
    keyword is searched for from startfrom on, or from the end back to index 2, the keys following
    it). A spec that does not say where its keys are (unknown, or flagged incomplete: it may not
    point out every key) has them among the arguments, from index 1 on."""
    flags = {f.lower() for f in spec.flags}
    if spec.begin_search == "index":
        start = spec.begin_int("index")
    elif spec.begin_search == "keyword":
        start = max(spec.begin_int("startfrom"), 1) + 1
    else:
        return 1
    if spec.find_keys == "keynum":
        start += spec.find_int("firstkey")
    elif spec.find_keys != "range":
        return min(start, 1)
    return min(start, 1) if "incomplete" in flags else start


def _reaches(last: int, spec_last: int) -> bool:
    """Does a triple ending at `last` reach a spec ending at `spec_last` (negative: from the end)?"""
    if last < 0:
        return spec_last >= 0 or spec_last <= last
    return 0 <= spec_last <= last


def _coverage(path: str, info: CommandInfo, getkeys_api: bool | None = None) -> list[Difference]:
    """LOAD022: key specs the legacy triple misses, which cluster routing then never reads, unless
    the command has getkeys-api: routing asks its callback then (keyspecs.md §3.4; measured on
    redis-server 7.0.15 in cluster mode, such a command answers CROSSSLOT for keys of two slots).
    COMMAND INFO does not say which command has the flag, so where the binary registers it for
    some command, the finding says that it may be this one."""
    missed = uncovered_key_specs(info)
    if not missed:
        return []
    incomplete = [spec for spec in missed if "incomplete" in {f.lower() for f in spec.flags}]
    parts = []
    if rest := [spec for spec in missed if spec not in incomplete]:
        described = "; ".join(f"[{spec.describe()}]" for spec in rest)
        parts.append(f"miss the keys of {len(rest)} key spec(s): {described}")
    if incomplete:
        # INCOMPLETE: the spec may not point out every key (src/redismodule.h), so no triple can
        # say where the rest are (keyspecs.md §3.5 step 4-5: it sets movablekeys).
        described = "; ".join(f"[{spec.describe()}]" for spec in incomplete)
        parts.append(
            f"cannot cover {len(incomplete)} key spec(s) flagged incomplete, which may not point out "
            f"every key: {described}"
        )
    return [
        Difference(
            "LOAD022",
            path,
            f"{info.name}: Redis marks it movablekeys, and first/last/step "
            f"{info.first_key}, {info.last_key}, {info.step} {'; and '.join(parts)}"
            + (
                " (the binary registers getkeys-api for a command: if this is one, cluster routing asks"
                " its callback, and nothing is wrong)"
                if getkeys_api
                else ""
            ),
        )
    ]


# --- key specs Redis accepts and cannot use ----------------------------------------------------


def key_spec_hazards(
    info: CommandInfo, *, said: frozenset[str] = frozenset(), getkeys_api: bool | None = None
) -> list[str]:
    """What is wrong with each registered key spec that RedisModule_SetCommandInfo (or the spec
    RedisModule_CreateCommand derives from first/last/step) accepts without a check, and key
    extraction then trips over (keyspecs.md §3.2, §3.4). Each was measured with COMMAND GETKEYS on
    redis-server 7.0.15 and 8.0.2: keystep 0 crashes both (SIGSEGV), keystep -1 never answers on
    8.0.2, a limit with lastkey below -1 aborts both (an assertion), index 0 returns the command
    name as the key, and a keyword searched from 0 or variable_flags without getkeys-api make
    COMMAND GETKEYS answer that the arguments are invalid: ACL checks find no key, so no ACL key
    pattern applies to the command (cluster routing reads first/last/step instead); a
    subcommand's index 1 is its own name, by which COMMAND GETKEYS then routes it. `said`: the
    STATIC_RULES that name what first/last/step show, declared as registered: a step of 0
    (KEY002), a negative first key (KEY001) or a subcommand's first key 1 (KEY009) is left to
    them. One the run does not report (--ignore KEY002) is said here: a crash stays said."""
    found = []
    sources = legacy_sources(info.key_specs)
    limited = {n for n in sources if _limited(info.key_specs[n])}
    for number, spec in enumerate(info.key_specs):
        flags = {f.lower() for f in spec.flags}
        if "not_key" in flags:
            continue
        what = []
        index = spec.begin_int("index")
        keystep = spec.find_int("keystep")
        if (
            spec.find_keys in ("range", "keynum")
            and keystep <= 0
            # step 0 declared as registered is KEY002's, but only from a spec copied into it: a
            # KEYNUM spec never is, and its keystep 0 crashes the server all the same
            and not ("KEY002" in said and number in sources and keystep == info.step == 0)
        ):
            what.append(
                f"keystep {keystep} never moves forward through the keys: key extraction "
                + ("crashes the server" if keystep == 0 else "never ends on Redis 8.0")
            )
        if spec.find_keys == "range" and spec.find_int("limit") != 0 and spec.find_int("lastkey") < -1:
            what.append(
                f"limit {spec.find_int('limit')} with lastkey {spec.find_int('lastkey')} (below -1) fails "
                "an assertion of key extraction, which aborts the server"
            )
        elif number in limited and (not info.movable or getkeys_api is False):
            # movablekeys comes from getkeys-api or from other key specs (§3.6): only without the
            # flag anywhere in the binary is routing sure to read first/last/step alone.
            what.append(
                f"first/last/step {info.first_key}, {info.last_key}, {info.step} are this spec without its "
                f"limit {spec.find_int('limit')}, and cluster routing reads only them: every argument from "
                f"index {index} on is taken for a key, so a call whose other arguments hash to other "
                "slots fails with CROSSSLOT or goes to the wrong shard (add getkeys-api, which routing "
                "asks instead)"
            )
        if (
            spec.begin_search == "index"
            and index <= 0
            and not ("KEY001" in said and index == info.first_key < 0)
        ):
            place = "the command name (argv[0])" if index == 0 else "memory before the arguments"
            what.append(f"index {index} takes {place} for a key")
        if spec.begin_search == "index" and index == 1 and info.is_subcommand and "KEY009" not in said:
            what.append("index 1 takes the subcommand's own name for a key")
        if spec.begin_search == "keyword" and spec.begin_int("startfrom") == 0:
            what.append("a keyword searched from 0 is never found, so its keys are never found")
        if "variable_flags" in flags and not info.movable:
            # §3.4: ACL checks and COMMAND GETKEYS take no key; cluster routing reads first/last/step
            what.append(
                "variable_flags without getkeys-api: ACL key checks and COMMAND GETKEYS find no key, so"
                " no ACL key pattern ever applies to the command"
            )
        found += [f"key spec {number + 1} [{spec.describe()}]: {w}" for w in what]
    return found


def legacy_sources(specs: Sequence[KeySpec]) -> list[int]:
    """The key specs Redis copies into the legacy (first, last, step), by their index (keyspecs.md
    §3.5, src/server.c populateCommandLegacyRangeSpec()): a single INDEX + RANGE spec whole;
    otherwise each INDEX + RANGE spec of keystep 1 that follows on from the one kept before it.
    Neither way reads a spec's limit, or its NOT_KEY flag (routed as a key, as documented)."""
    ranges = [n for n, s in enumerate(specs) if s.begin_search == "index" and s.find_keys == "range"]
    if len(specs) == 1:
        return ranges
    kept, previous_last = [], 0
    for number in ranges:
        spec = specs[number]
        position, lastkey = spec.begin_int("index"), spec.find_int("lastkey")
        if spec.find_int("keystep") != 1 or (previous_last and previous_last != position - 1):
            continue
        kept.append(number)
        absolute = lastkey + position if lastkey >= 0 else lastkey
        # Redis keeps the larger as unsigned ints: a last counted from the end (negative) wins.
        previous_last = max(previous_last, absolute, key=lambda v: v % 2**32)
    return kept


def _given_whole(entry: Entry) -> bool:
    """first_key, last_key and step each given as a number, as the static key check needs them."""
    from modpack.checks.numbers import integer_value

    return all(integer_value(entry.get(key)) is not None for key in KEY_FIELDS)


def _limited(spec: KeySpec) -> bool:
    """A RANGE spec whose limit takes only part of the arguments to the end (§3.3: limit counts
    only with lastkey -1, and a limit of 1 takes all of them)."""
    return spec.find_keys == "range" and spec.find_int("lastkey") == -1 and spec.find_int("limit") >= 2


def _hazards(
    path: str,
    entry: Entry,
    info: CommandInfo,
    redis: Version,
    *,
    getkeys_api: bool | None = None,
    reported: frozenset[str] = STATIC_RULES,
) -> list[Difference]:
    said: frozenset[str] = frozenset()
    # What the static check says of the triple, if it runs: only of one given whole, as numbers
    # (a missing step counts as 0 here, and the static check says nothing of it but CMD006).
    if not triple_differs(entry, info, redis) and _given_whole(entry):
        from modpack.checks.commands import key_range_rule

        rule = key_range_rule(info.first_key, info.last_key, info.step, info.name)
        said = reported & {rule} if rule is not None else frozenset()
    hazards = key_spec_hazards(info, said=said, getkeys_api=getkeys_api)
    found = (
        [
            Difference(
                "LOAD027",
                path,
                f"{info.name}: Redis accepted key specs it cannot use: {'; '.join(hazards)}",
                "Fix the key positions given to RedisModule_CreateCommand or the key specs given to "
                "RedisModule_SetCommandInfo; Redis checks neither.",
            )
        ]
        if hazards
        else []
    )
    return found + _limited_if_not_routed_by_callback(path, info, getkeys_api)


def _limited_if_not_routed_by_callback(
    path: str, info: CommandInfo, getkeys_api: bool | None
) -> list[Difference]:
    """A limited range spec (LOAD027's "this spec without its limit") of a movable command where the
    binary registers getkeys-api for some command: routing asks the callback if this command has
    the flag, and reads the limit-less first/last/step if not (it was dropped: a module with one
    getkeys-api command hid the hazard of every other). COMMAND INFO does not say which: a warning
    saying so (LOAD022's, key specs routing may not read)."""
    if not (getkeys_api and info.movable):
        return []
    limited = [n for n in legacy_sources(info.key_specs) if _limited(info.key_specs[n])]
    if not limited:
        return []
    spec = info.key_specs[limited[0]]
    return [
        Difference(
            "LOAD022",
            path,
            f"{info.name}: key spec {limited[0] + 1} [{spec.describe()}]: first/last/step {info.first_key},"
            f" {info.last_key}, {info.step} are this spec without its limit {spec.find_int('limit')}, and"
            " cluster routing reads only them unless the command has getkeys-api (the binary registers"
            " getkeys-api for a command: if this is one, routing asks its callback, and nothing is wrong)",
            "If the command has no getkeys-api callback, add one (routing asks it instead), or register"
            " key positions the legacy triple describes.",
        )
    ]


# --- values -----------------------------------------------------------------------------------


def as_int(value: object) -> int | None:
    """An integral number (RAMP writes some as floats), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def report_registered_defects(sink: Sink, discovery: Discovery, so: Path) -> None:
    """What the module at `so` registers and Redis cannot use (LOAD027, LOAD022), said of the file
    a command that loaded it builds from (build --discover, ramp-pack), as `validate --load` says
    it of the bundle they write: such a bundle was written in silence."""
    from modpack.elf import getkeys_flag_of

    for defect in registered_defects(discovery, getkeys_api=getkeys_flag_of(so)):
        sink.report(defect)
