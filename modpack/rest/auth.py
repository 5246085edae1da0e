"""Users, roles and permissions of a local cluster.

Roles and the permissions this server checks are copied from the reference's tables
(re-docs/operate__rs__references__rest-api__permissions.md, "Roles list per permission").
Passwords are stored as scrypt hashes (hashlib.scrypt, RFC 7914; n=2**14, r=8, p=1, 16-byte salt)
in a JSON users file:

    {"users": [{"name": "ci@example.com", "role": "admin",
                "password_hash": "scrypt$16384$8$1$<salt>$<hash>"}]}

Comparisons are constant-time. A successful check is remembered in memory as an HMAC of the
password under a per-process random key, so a client making many requests pays for scrypt once.
"""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
import contextlib
import hashlib
import hmac
import json
import math
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TypeVar

from modpack.atomic import write_private
from modpack.errors import ModpackError

VIEW_CLUSTER_MODULES = "view_cluster_modules"
MANAGE_CLUSTER_MODULES = "manage_cluster_modules"
VIEW_ALL_NODES_INFO = "view_all_nodes_info"
VIEW_CLUSTER_INFO = "view_cluster_info"
UPDATE_CLUSTER = "update_cluster"
VIEW_STATUS_OF_CLUSTER_ACTION = "view_status_of_cluster_action"
VIEW_ROLE_INFO = "view_role_info"

ROLES = ("admin", "cluster_member", "cluster_viewer", "db_member", "db_viewer", "user_manager", "none")
_VIEWERS = frozenset(ROLES) - {"none"}
PERMISSION_ROLES: Mapping[str, frozenset[str]] = {
    VIEW_CLUSTER_MODULES: _VIEWERS,
    VIEW_ALL_NODES_INFO: _VIEWERS,
    VIEW_CLUSTER_INFO: _VIEWERS,
    VIEW_STATUS_OF_CLUSTER_ACTION: _VIEWERS,
    VIEW_ROLE_INFO: _VIEWERS,
    MANAGE_CLUSTER_MODULES: frozenset({"admin"}),
    UPDATE_CLUSTER: frozenset({"admin"}),
}

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def allowed(role: str, permission: str) -> bool:
    return role in PERMISSION_ROLES.get(permission, frozenset())


def permissions_of(role: str) -> list[str]:
    """The permissions of PERMISSION_ROLES that `role` has, sorted: what `modpack serve` enforces
    (a real cluster's role has many more, re-docs permissions.md)."""
    return sorted(permission for permission, roles in PERMISSION_ROLES.items() if role in roles)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, maxmem=64 * 1024 * 1024, **_SCRYPT)
    parts = ("scrypt", str(_SCRYPT["n"]), str(_SCRYPT["r"]), str(_SCRYPT["p"]), _b64(salt), _b64(digest))
    return "$".join(parts)


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` matches `encoded` (a `hash_password` string); never raises."""
    try:
        fields = encoded.split("$")
        if len(fields) != 6 or fields[0] != "scrypt":
            return False
        expected = base64.b64decode(fields[5])
        digest = _scrypt(password, fields, len(expected))
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(digest, expected)


def _scrypt(password: str, fields: list[str], length: int) -> bytes:
    _, n, r, p, salt, _ = fields
    return hashlib.scrypt(
        password.encode(),
        salt=base64.b64decode(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        dklen=length,
        maxmem=64 * 1024 * 1024,
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str = field(repr=False)


@dataclass(frozen=True)
class Attempt:
    """One request's credentials, with the HMAC of the password (`Users.attempt`) made once."""

    name: str
    password: str = field(repr=False)
    token: bytes = field(repr=False)


class Users:
    """The users of a cluster, read once from the users file."""

    def __init__(self, users: Iterable[User]) -> None:
        self._users = {u.name: u for u in users}
        self._key = secrets.token_bytes(32)
        # name -> HMAC of the password verified last. Read on the event loop without a lock: one
        # dict lookup or store is atomic, and a lock a hashing thread held would make the loop wait.
        self._verified: dict[str, bytes] = {}

    def attempt(self, name: str, password: str) -> Attempt:
        """The credentials with their HMAC: the one HMAC a request's check makes."""
        return Attempt(name, password, hmac.new(self._key, password.encode(), hashlib.sha256).digest())

    def remembered(self, attempt: Attempt) -> User | None:
        """The user when this exact name and password were verified before: no scrypt.

        Callers answer from here first, so an authorised client never waits behind the scrypt
        checks of others (issue 12)."""
        user = self._users.get(attempt.name)
        remembered = self._verified.get(attempt.name)
        if user is not None and remembered is not None and hmac.compare_digest(remembered, attempt.token):
            return user
        return None

    def verify(self, attempt: Attempt) -> User | None:
        """The user when name and password are right; scrypt runs even for unknown names."""
        known = self.remembered(attempt)
        if known is not None:
            return known
        user = self._users.get(attempt.name)
        if not verify_password(attempt.password, user.password_hash if user else _DUMMY_HASH) or user is None:
            return None
        self._verified[attempt.name] = attempt.token
        return user

    def authenticate(self, name: str, password: str) -> User | None:
        """`verify` for a name and password: one HMAC, and scrypt unless verified before."""
        return self.verify(self.attempt(name, password))


MAX_CLIENTS = 100_000  # per table of the guard: a few MB at most

_Entry = TypeVar("_Entry")


def _bounded(table: dict[str, _Entry], live: Callable[[_Entry], bool]) -> dict[str, _Entry]:
    """`table`, or past MAX_CLIENTS entries only its `live` ones, or none if most are live.

    Each table of the guard is bounded so whatever the number of addresses: forgetting a client
    only makes it fresh again, still bound by the shared buckets."""
    if len(table) < MAX_CLIENTS:
        return table
    kept = {key: entry for key, entry in table.items() if live(entry)}
    return kept if len(kept) <= MAX_CLIENTS // 2 else {}


class Rate(NamedTuple):
    """A token bucket's shape: at most `burst` tokens, `refill` tokens back a second."""

    burst: float
    refill: float


# The defaults of Guard: each client's own budget, and the buckets its suspects and its fresh
# clients share (bench/load_auth.py measured them; see Guard).
CLIENT_RATE = Rate(20.0, 2.0)
SUSPECTS_RATE = Rate(20.0, 2.0)
FRESH_RATE = Rate(10.0, 2.0)


@dataclass
class _Bucket:
    """A token bucket: `tokens` (at most the burst) as of `when`, refilled continuously."""

    tokens: float
    when: float


class Guard:
    """What unauthenticated clients can make the server do (issue 12). The design, measured with
    bench/load_auth.py (200 wrong-password clients, admin p99 under 200 ms; README, serve):

    - Credentials verified before never come here: `Users.remembered` answers them on the event
      loop with one HMAC and no lock wait, so an admin is never queued behind anyone's scrypt.
    - Every other request takes, *before* any hashing, a token from its client's bucket (`client`:
      `burst` checks, refilled at `refill` a second) and one from a bucket shared by all clients; a
      success gives both back, so only failed checks spend a budget. An empty bucket is answered
      429 with Retry-After (the seconds until a token is back) without hashing.
    - The shared buckets bound the scrypt work of failed checks whatever the number of client
      addresses. There are two: clients with a failed check in the last `memory` seconds
      ("suspects") draw from a bucket shaped by `suspects`, the others from one shaped by
      `fresh`. A flood from any number of addresses spends the suspects'
      bucket and leaves the fresh one to clients that never failed, so an honest user's first
      check is not starved by addresses that keep failing; an attacker who keeps minting new
      addresses can spend the fresh bucket too, but never more than both rates together (at the
      defaults 2 + 2 checks a second, about 0.3 s of CPU a second however many addresses). A
      client that asks again before the Retry-After of its last 429 is a suspect too, so a
      flood's addresses leave the fresh bucket after their first refusal. A
      client is an IPv4 address or an IPv6 /64 (one host commonly holds a whole /64), so an
      IPv6 attacker cannot mint budgets out of one network.
    - At most `checkers + queue` checks are admitted at once (429, Retry-After: 1 past that),
      and suspects get all but the last `reserve` places, kept for fresh clients' checks;
      `checkers` threads hash. One by default: on two cores a second hashing thread took the core
      the event loop needed (admin p99 368 ms against 184 ms). The threads run at a lower CPU
      priority (nice + `nice`, Linux) so a loaded machine gives the event loop, which answers
      the verified clients, the CPU first (p99 184 ms at nice 0, 74 ms at +10).
    - A refusal is answered after `hold` seconds, a suspect's after `suspect_hold` (a tarpit): a
      client that ignores Retry-After and asks again at once keeps its connection idle, which
      costs the loop nothing, instead of keeping the loop busy with 429s (without it the loop
      answered about 550 a second and the admin's p99 was 639 ms), and one that opens a new
      connection per request makes a TLS handshake every 5 s, not every second (admin p99 344 ms
      with 1 s).
    - hashlib.scrypt releases the GIL while it hashes (CPython's _hashopenssl.c wraps
      EVP_PBE_scrypt in Py_BEGIN_ALLOW_THREADS), so a hash blocks neither the loop nor other threads.

    The price: while a shared bucket is spent, a client whose password was never verified
    before gets 429 until a token is back, however right its password; clients verified before
    the flood are not affected.
    """

    def __init__(
        self,
        *,
        checkers: int = 1,
        queue: int = 4,
        client: Rate = CLIENT_RATE,
        suspects: Rate = SUSPECTS_RATE,
        fresh: Rate = FRESH_RATE,
        memory: float = 600.0,
        reserve: int = 2,
        nice: int = 10,
        hold: float = 1.0,
        suspect_hold: float = 5.0,
    ) -> None:
        self.pool = concurrent.futures.ThreadPoolExecutor(
            checkers, thread_name_prefix="modpack-scrypt", initializer=_lower_priority, initargs=(nice,)
        )
        self._limit = checkers + queue
        self._client = client
        self._rates = {False: suspects, True: fresh}
        self._memory, self._reserve = memory, reserve
        self._holds = {True: hold, False: suspect_hold}
        self._pending = 0
        self._buckets: dict[str, _Bucket] = {}
        self._failed: dict[str, float] = {}  # client -> when its last check failed
        self._refused: dict[str, tuple[float, float]] = {}  # client -> (429 answered, retry from)
        self._shared = {new: _Bucket(rate.burst, -math.inf) for new, rate in self._rates.items()}
        self._lock = threading.Lock()  # held for arithmetic only, never while hashing

    async def authenticate(self, users: Users, client: str, attempt: Attempt) -> User | None:
        """The user, or None for wrong credentials; `Refused` (429) when over a budget or full."""
        import asyncio

        key = client_key(client)
        try:
            fresh = self.admit(key, _now())
        except Refused as refused:
            await asyncio.sleep(refused.hold)  # the tarpit: an idle connection costs the loop nothing
            raise
        check = self.pool.submit(users.verify, attempt)
        # Settled when the hash is done, not when the request ends: a request cancelled while
        # its scrypt runs does not free its place early.
        check.add_done_callback(lambda done: self.settle(key, fresh, ok=_not_a_failure(done), now=_now()))
        return await asyncio.wrap_future(check)

    def admit(self, key: str, now: float) -> bool:
        """Reserve a check for client `key` (its token, a shared token, a place) or raise Refused;
        True when the shared token is from the fresh clients' bucket."""
        with self._lock:
            answered, retry = self._refused.get(key, (math.inf, math.inf))
            if answered <= now < retry:  # asked again after its 429, before its Retry-After
                self._suspect(key, now)
            failed = self._failed.get(key)
            fresh = failed is None or now - failed > self._memory
            rate = self._rates[fresh]
            bucket = self._refilled(self._buckets.get(key), self._client, now)
            shared = self._refilled(self._shared[fresh], rate, now)
            if bucket.tokens < 1:
                wait = _seconds(bucket.tokens, self._client.refill)
                raise self._refuse(key, now, wait, fresh, f"too many failed password checks from {key}")
            if shared.tokens < 1:
                wait = _seconds(shared.tokens, rate.refill)
                raise self._refuse(key, now, wait, fresh, "too many failed password checks on this server")
            if self._pending >= self._limit - (0 if fresh else self._reserve):
                raise self._refuse(key, now, 1, fresh, "too many password checks are waiting")
            self._pending += 1
            bucket.tokens -= 1
            shared.tokens -= 1
            self._buckets[key], self._shared[fresh] = bucket, shared
            return fresh

    def _refuse(self, key: str, now: float, wait: int, fresh: bool, why: str) -> Refused:
        """The refusal, remembering when the client may ask again. The answer leaves after the
        hold and says Retry-After `wait`: a client back after the answer and more than half a
        second before `now + hold + wait` ignored it, and is a suspect. An honest client (one that
        honours Retry-After, RFC 9110 section 10.2.3) stays fresh, and so do requests it sent at
        once on several connections: before the answer left, and the first refusal's window is
        kept until it ends."""
        self._refused = _bounded(self._refused, lambda window: window[1] > now)  # live a few seconds
        hold = self._holds[fresh]
        if now >= self._refused.get(key, (0.0, -math.inf))[1]:
            self._refused[key] = (now + hold, now + hold + wait - 0.5)
        return Refused(f"{why}: retry in {wait} s", wait, hold)

    def settle(self, key: str, fresh: bool, *, ok: bool, now: float) -> None:
        """A check admitted for `key` ended: a success (or no verdict) gives the tokens back; a
        failure makes the client a suspect for `memory` seconds."""
        with self._lock:
            self._pending -= 1
            if ok:
                bucket = self._buckets.get(key)
                if bucket is not None:
                    bucket.tokens = min(self._client.burst, bucket.tokens + 1)
                shared = self._shared[fresh]
                shared.tokens = min(self._rates[fresh].burst, shared.tokens + 1)
                return
            self._suspect(key, now)
            # Grows only by admitted checks; a full bucket is what a forgotten client gets anyway.
            self._buckets = _bounded(
                self._buckets, lambda b: self._refilled(b, self._client, now).tokens < self._client.burst
            )

    def _suspect(self, key: str, now: float) -> None:
        """Mark `key` a suspect. The table is bounded whatever the number of addresses: past
        MAX_CLIENTS, old marks go, and if most are recent, all go (the clients are then fresh
        again, still bound by the fresh clients' shared bucket)."""
        self._failed = _bounded(self._failed, lambda failed: now - failed <= self._memory)
        self._failed[key] = now

    @property
    def pending(self) -> int:
        """Checks admitted and not yet settled (hashing or waiting for a hashing thread)."""
        return self._pending

    @staticmethod
    def _refilled(bucket: _Bucket | None, rate: Rate, now: float) -> _Bucket:
        if bucket is None:
            return _Bucket(rate.burst, now)
        return _Bucket(min(rate.burst, bucket.tokens + (now - bucket.when) * rate.refill), now)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


class Refused(Exception):
    """A password check not started: answered 429 with Retry-After `seconds`."""

    def __init__(self, description: str, seconds: int, hold: float = 0.0) -> None:
        super().__init__(description)
        self.description, self.seconds, self.hold = description, seconds, hold


def client_key(host: str) -> str:
    """Whose budget a request spends: the IPv4 address, or the /64 of an IPv6 one (an IPv4-mapped
    IPv6 address is its IPv4 address). Anything else (a Unix socket, no peer) is taken as given."""
    import ipaddress

    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _not_a_failure(check: concurrent.futures.Future[User | None]) -> bool:
    """A check ended in a success or in no verdict (cancelled before it ran, an error)."""
    return check.cancelled() or check.exception() is not None or check.result() is not None


def _seconds(tokens: float, rate: float) -> int:
    return max(1, math.ceil((1 - tokens) / rate))


def _now() -> float:
    return time.monotonic()


def _lower_priority(nice: int) -> None:
    """Lower the calling thread's CPU priority (on Linux `setpriority` on a thread id is per thread)."""
    if sys.platform != "linux":  # elsewhere the priority is the whole process's, or the id a pid
        return
    thread = threading.get_native_id()
    with contextlib.suppress(OSError):  # not allowed (a seccomp profile): the priority stays
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + nice))


def read_users(path: Path) -> Users:
    """Load a users file; a ModpackError says what is wrong with it."""
    return Users(_parse_user(item, path) for item in _entries(_users_document(path), path))


def _users_document(path: Path) -> object:
    """The users file parsed; a ModpackError for a FIFO (which blocked), text that is not UTF-8
    (Python's codec message before) or JSON syntax."""
    from modpack.regular import MAX_TEXT_FILE, NotUtf8Text, decode_utf8, hint_for, read_regular

    try:
        raw = read_regular(path, MAX_TEXT_FILE)
        if len(raw) > MAX_TEXT_FILE:
            raise ModpackError(f"the users file {path} is larger than {MAX_TEXT_FILE // (1024 * 1024)} MiB")
        return json.loads(decode_utf8(raw, f"the users file {path}"))
    except OSError as exc:
        raise ModpackError(f"cannot read the users file {path}: {exc.strerror}", hint_for(exc)) from None
    except NotUtf8Text as exc:
        raise ModpackError(exc.message, exc.hint) from None
    except ValueError as exc:
        raise ModpackError(f"the users file {path} is not valid JSON: {exc}") from None
    except RecursionError:  # an internal error before
        raise ModpackError(f"the users file {path} is not valid JSON: a value is nested too deeply") from None


def _entries(document: object, path: Path) -> list[object]:
    entries = document.get("users") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ModpackError(f'the users file {path} has no "users" list', _USERS_HINT)
    return entries


def _parse_user(item: object, path: Path) -> User:
    if not isinstance(item, dict) or not all(
        isinstance(item.get(k), str) for k in ("name", "role", "password_hash")
    ):
        raise ModpackError(f"{path}: every user needs name, role and password_hash strings", _USERS_HINT)
    if item["role"] not in ROLES:
        raise ModpackError(f"{path}: user {item['name']!r} has unknown role {item['role']!r}", _USERS_HINT)
    return User(item["name"], item["role"], item["password_hash"])


_USERS_HINT = f'{{"users": [{{"name": ..., "role": one of {", ".join(ROLES)}, "password_hash": ...}}]}}'


def write_users(path: Path, users: Mapping[str, tuple[str, str]]) -> None:
    """Write a users file from {name: (role, password)}; only the hashes are stored."""
    entries = [
        {"name": name, "role": role, "password_hash": hash_password(password)}
        for name, (role, password) in users.items()
    ]
    _write_json_private(path, {"users": entries})


def _write_json_private(path: Path, document: object) -> None:
    write_private(path, json.dumps(document, indent=1).encode())


def initial_admin(data: Path, password: str | None) -> tuple[Path, bool]:
    """(`<data>/users.json`, changed): the file is created on first start with one admin user.

    Without a password, a random one is written to `<data>/admin-password` (mode 0600): it is
    never printed or logged. With a password on a data folder that has users, the password
    given wins: the `admin` user's hash is replaced when it does not match (changed = True),
    never silently ignored (issue 12); the other users stay as they are.
    """
    users_file = data / "users.json"
    if users_file.exists():
        return users_file, password is not None and _set_admin_password(users_file, password)
    if password is None:
        password = secrets.token_urlsafe(18)
        write_private(data / "admin-password", (password + "\n").encode())
    write_users(users_file, {"admin": ("admin", password)})
    return users_file, False


def _set_admin_password(users_file: Path, password: str) -> bool:
    """Give `admin` this password (adding the user if missing); False when it already had it."""
    entries = _entries(_users_document(users_file), users_file)
    admin = next((e for e in entries if isinstance(e, dict) and e.get("name") == "admin"), None)
    if admin is not None and verify_password(password, str(admin.get("password_hash", ""))):
        return False
    if admin is None:
        admin = {"name": "admin", "role": "admin"}
        entries.append(admin)
    admin["password_hash"] = hash_password(password)
    _write_json_private(users_file, {"users": entries})
    (users_file.parent / "admin-password").unlink(missing_ok=True)  # no longer the password
    return True
