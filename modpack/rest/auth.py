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
import hashlib
import hmac
import json
import math
import os
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from modpack.errors import ModpackError

VIEW_CLUSTER_MODULES = "view_cluster_modules"
MANAGE_CLUSTER_MODULES = "manage_cluster_modules"
VIEW_ALL_NODES_INFO = "view_all_nodes_info"
VIEW_CLUSTER_INFO = "view_cluster_info"
UPDATE_CLUSTER = "update_cluster"
VIEW_STATUS_OF_CLUSTER_ACTION = "view_status_of_cluster_action"

ROLES = ("admin", "cluster_member", "cluster_viewer", "db_member", "db_viewer", "user_manager", "none")
_VIEWERS = frozenset(ROLES) - {"none"}
PERMISSION_ROLES: Mapping[str, frozenset[str]] = {
    VIEW_CLUSTER_MODULES: _VIEWERS,
    VIEW_ALL_NODES_INFO: _VIEWERS,
    VIEW_CLUSTER_INFO: _VIEWERS,
    VIEW_STATUS_OF_CLUSTER_ACTION: _VIEWERS,
    MANAGE_CLUSTER_MODULES: frozenset({"admin"}),
    UPDATE_CLUSTER: frozenset({"admin"}),
}

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def allowed(role: str, permission: str) -> bool:
    return role in PERMISSION_ROLES.get(permission, frozenset())


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


class Users:
    """The users of a cluster, read once from the users file."""

    def __init__(self, users: Iterable[User]) -> None:
        self._users = {u.name: u for u in users}
        self._key = secrets.token_bytes(32)
        self._verified: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def remembered(self, name: str, password: str) -> User | None:
        """The user when this exact name and password were verified before: one HMAC, no scrypt.

        Callers answer from here first, so an authorised client never waits behind the scrypt
        checks of others (issue 12)."""
        user = self._users.get(name)
        token = hmac.new(self._key, password.encode(), hashlib.sha256).digest()
        with self._lock:
            remembered = self._verified.get(name)
        if user is not None and remembered is not None and hmac.compare_digest(remembered, token):
            return user
        return None

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when name and password are right; scrypt runs even for unknown names."""
        known = self.remembered(name, password)
        if known is not None:
            return known
        user = self._users.get(name)
        token = hmac.new(self._key, password.encode(), hashlib.sha256).digest()
        if not verify_password(password, user.password_hash if user else _DUMMY_HASH) or user is None:
            return None
        with self._lock:
            self._verified[name] = token
        return user


class Guard:
    """What an unauthenticated client can make the server do: a bounded number of scrypt checks
    at once, and a per-client budget of failed checks.

    scrypt needs 16 MB and about 80 ms a check: `checkers` run at once, at most `queue` more
    wait, and past that a request is answered 429 at once. Each client address has a bucket of
    `burst` failures refilled at `refill` per second; an empty bucket answers 429 with the
    seconds until the next failure is allowed, before any scrypt runs (issue 12).
    """

    def __init__(self, checkers: int = 2, queue: int = 32, burst: float = 20.0, refill: float = 2.0) -> None:
        import concurrent.futures

        self.pool = concurrent.futures.ThreadPoolExecutor(checkers, thread_name_prefix="modpack-scrypt")
        self._limit = checkers + queue
        self._burst, self._refill = burst, refill
        self._pending = 0
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, when)
        self._lock = threading.Lock()

    def retry_after(self, client: str, now: float) -> int:
        """0 when `client` may try a password now, else the seconds to wait."""
        with self._lock:
            tokens = self._tokens(client, now)
        return 0 if tokens >= 1 else max(1, math.ceil((1 - tokens) / self._refill))

    def failed(self, client: str, now: float) -> None:
        with self._lock:
            self._buckets[client] = (self._tokens(client, now) - 1, now)
            if len(self._buckets) > 100_000:  # forget the full buckets of clients gone quiet
                self._buckets = {k: v for k, v in self._buckets.items() if v[0] < self._burst - 1}

    def _tokens(self, client: str, now: float) -> float:
        tokens, when = self._buckets.get(client, (self._burst, now))
        return min(self._burst, tokens + (now - when) * self._refill)

    def enter(self) -> bool:
        with self._lock:
            if self._pending >= self._limit:
                return False
            self._pending += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._pending -= 1

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def read_users(path: Path) -> Users:
    """Load a users file; a ModpackError says what is wrong with it."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModpackError(f"cannot read the users file {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ModpackError(f"the users file {path} is not valid JSON: {exc}") from exc
    return Users(_parse_user(item, path) for item in _entries(document, path))


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
    temp = path.with_name(f".{path.name}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=1)
        out.flush()
        os.fsync(out.fileno())
    temp.replace(path)


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
        secret = data / "admin-password"
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(password + "\n")
    write_users(users_file, {"admin": ("admin", password)})
    return users_file, False


def _set_admin_password(users_file: Path, password: str) -> bool:
    """Give `admin` this password (adding the user if missing); False when it already had it."""
    document = json.loads(users_file.read_text(encoding="utf-8"))
    entries = _entries(document, users_file)
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
