"""Tiny Redis modules compiled at test time from a RedisModule_OnLoad body, and what a real
redis-server says about them: whether they load, COMMAND INFO, COMMAND GETKEYS.

The modules use the project's own minimal header (fixtures/include/redismodule_min.h). Helpers
the bodies may use: CC(name, flags, first, last, step) registers a command (OnLoad fails when
RedisModule_CreateCommand does), INFO(name, arity, specs) calls RedisModule_SetCommandInfo,
IDX(flags, pos, lastkey, keystep, limit) is an INDEX + RANGE key spec, KEY_RO / KEY_RW its usual
flags. Every command replies OK, and answers a getkeys-api request with every argument; one
registered with CC_PAST_END answers it with position 999, past the last argument.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from modpack.redis.harness import ErrorReply, HarnessError, RedisServer, Reply, ReplyError
from modpack.redis.spec import ServerSpec
from tests.support.paths import FIXTURES
from tests.support.tools import require, require_redis

PRELUDE = r"""
#include "redismodule_min.h"
static int (*KeyAtPos)(RedisModuleCtx *, int);
static int (*IsKeysPositionRequest)(RedisModuleCtx *);
static int reply_ok(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    REDISMODULE_NOT_USED(argv);
    if (IsKeysPositionRequest && IsKeysPositionRequest(ctx)) {
        for (int i = 1; i < argc; i++) KeyAtPos(ctx, i);
        return REDISMODULE_OK;
    }
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}
static int keys_past_end(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    REDISMODULE_NOT_USED(argv);
    if (IsKeysPositionRequest && IsKeysPositionRequest(ctx)) {
        KeyAtPos(ctx, 999);  /* no such argument, as keyposvalidate.c of redis/redis names */
        return REDISMODULE_OK;
    }
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}
static int set_info(RedisModuleCtx *ctx, const char *name, int arity, RedisModuleCommandKeySpec *specs) {
    RedisModuleCommandInfo info = {0};
    RedisModuleCommand *command = RedisModule_GetCommand(ctx, name);
    if (command == NULL) return REDISMODULE_ERR;
    info.version = REDISMODULE_COMMAND_INFO_VERSION;
    info.arity = arity;
    info.key_specs = specs;
    return RedisModule_SetCommandInfo(command, &info);
}
#define TRY(x) do { if ((x) != REDISMODULE_OK) return REDISMODULE_ERR; } while (0)
#define CC(name, flags, f, l, s) TRY(RedisModule_CreateCommand(ctx, name, reply_ok, flags, f, l, s))
#define CC_PAST_END(name, flags, f, l, s) \
    TRY(RedisModule_CreateCommand(ctx, name, keys_past_end, flags, f, l, s))
#define INFO(name, arity, specs) TRY(set_info(ctx, name, arity, specs))
#define IDX(fl, p, lk, st, lim) {.flags = (fl), .begin_search_type = REDISMODULE_KSPEC_BS_INDEX, \
    .bs.index.pos = (p), .find_keys_type = REDISMODULE_KSPEC_FK_RANGE, \
    .fk.range = {.lastkey = (lk), .keystep = (st), .limit = (lim)}}
#define KEY_RO (REDISMODULE_CMD_KEY_RO | REDISMODULE_CMD_KEY_ACCESS)
#define KEY_RW (REDISMODULE_CMD_KEY_RW | REDISMODULE_CMD_KEY_UPDATE)
int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    REDISMODULE_NOT_USED(argv);
    REDISMODULE_NOT_USED(argc);
    if (RedisModule_Init(ctx, "%(module)s", %(version)d, REDISMODULE_APIVER_1) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    RedisModule_GetApi("RedisModule_KeyAtPos", (void *)&KeyAtPos);
    RedisModule_GetApi("RedisModule_IsKeysPositionRequest", (void *)&IsKeysPositionRequest);
    %(body)s
    return REDISMODULE_OK;
}
"""


def compile_module(
    folder: Path, body: str, module: str = "ksx", link: tuple[str, ...] = (), version: int = 10000
) -> Path:
    """`folder/<module>.so`, mode 0755, whose RedisModule_OnLoad runs `body` (C statements) and
    passes `version` to RedisModule_Init, linked with `link` (libraries, as paths or -l options)
    after the source."""
    gcc = shutil.which("gcc")
    require(gcc is not None, "gcc (apt-get install gcc)")
    assert gcc is not None
    source = folder / f"{module}.c"
    source.write_text(PRELUDE % {"module": module, "body": body, "version": version}, "utf-8")
    so = folder / f"{module}.so"
    include = FIXTURES / "include"
    command = [gcc, "-O2", "-fPIC", "-shared", "-Wall", "-Wno-unused-function", "-I", str(include)]
    done = subprocess.run(
        [*command, "-o", str(so), str(source), *link], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    os.chmod(so, 0o755)
    return so


class Observed:
    """What one redis-server did with a module: loaded or not, and its commands' replies."""

    def __init__(self, version: str, loaded: bool, info: dict[str, Reply], getkeys: dict[str, Reply]) -> None:
        self.version = version
        self.loaded = loaded
        self.info = info  # name -> COMMAND INFO entry
        self.getkeys = getkeys  # name -> COMMAND GETKEYS reply, an ErrorReply, or "crashed"

    def triple(self, name: str) -> tuple[int, int, int]:
        entry = self.info[name]
        assert isinstance(entry, list)
        first, last, step = entry[3:6]
        assert isinstance(first, int) and isinstance(last, int) and isinstance(step, int)
        return first, last, step


def observe(
    so: Path,
    getkeys: dict[str, Sequence[str]] | None = None,
    *,
    spec: ServerSpec | None = None,
    timeout: float = 5.0,
) -> Observed:
    """Load `so` into this machine's redis-server (or the one `spec` names) and ask COMMAND INFO of
    every command it added, then COMMAND GETKEYS with the given arguments (after the command name)
    for each named one."""
    server_args = {"spec": spec} if spec is not None else {"binary": require_redis()}
    with RedisServer(timeout=timeout, **server_args) as server:
        before = set(_names(server.call("COMMAND", "LIST")))
        try:
            server.load_module(so)
        except HarnessError:
            return Observed(server.version, False, {}, {})
        added = sorted(set(_names(server.call("COMMAND", "LIST"))) - before)
        replies = server.call("COMMAND", "INFO", *added) if added else []
        assert isinstance(replies, list)
        info = dict(zip(added, replies, strict=True))
        keys: dict[str, Reply] = {}
        for name, args in (getkeys or {}).items():
            try:
                keys[name] = server.call("COMMAND", "GETKEYS", *name.split("|"), *args)
            except ReplyError as exc:
                keys[name] = ErrorReply(exc.message)
            except HarnessError:
                keys[name] = "crashed"
                break
        return Observed(server.version, True, info, keys)


def _names(reply: Reply) -> list[str]:
    assert isinstance(reply, list)
    return [name for name in reply if isinstance(name, str)]
