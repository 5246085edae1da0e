"""Password checks cannot be used to wear the server down (issue 12): a client that keeps
failing gets 429 with Retry-After before any scrypt runs, and verified credentials are answered
without waiting behind anyone's scrypt."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import inspect
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modpack.rest import auth, server
from modpack.rest.auth import Rate
from modpack.rest.cluster import LocalCluster
from tests.support.rest import ADMIN, running_cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path / "data", https=False) as running:
        yield running


def test_failures_past_the_budget_get_429_and_verified_credentials_still_pass(cluster: LocalCluster) -> None:
    url = cluster.urls[0] + "/v1/modules"
    # Budgets that never refill within the test: a busy machine, where one scrypt check takes longer
    # than the default refill gives back (0.5 s), must not keep a sequential client under budget.
    _guard(cluster, client=Rate(5.0, 0.001), fresh=Rate(5.0, 0.001), suspects=Rate(20.0, 0.001))
    assert httpx.get(url, auth=(ADMIN.user, ADMIN.password), timeout=60).status_code == 200  # verified once
    statuses = []
    with httpx.Client(auth=("admin", "wrong"), timeout=60) as http:
        for _ in range(40):
            answer = http.get(url)
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                assert int(answer.headers["retry-after"]) >= 1
                assert answer.json()["error_code"] == "too_many_requests"
                break
    assert statuses[0] == 401
    assert statuses[-1] == 429
    # The same client address with the right (already verified) password is not held back.
    assert httpx.get(url, auth=(ADMIN.user, ADMIN.password), timeout=60).status_code == 200


def test_verified_credentials_do_not_wait_behind_a_scrypt_flood(
    cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the guard's defaults: 60 addresses with wrong passwords fill the scrypt pool and its
    queue, every hash held (gated) until the verified admin has been answered. Were the admin's
    request queued behind them, or refused for a place, it would fail here (it once could only be
    slower: the hashes ran and the admin was answered after them)."""
    url = cluster.urls[0] + "/v1/modules"
    assert httpx.get(url, auth=(ADMIN.user, ADMIN.password), timeout=60).status_code == 200  # verified
    guard = cluster.shared.guard
    hashes = _spy(monkeypatch, gated=True)

    def wrong(i: int) -> int:
        return _wrong(url, f"127.0.1.{i + 1}", f"wrong-{i}").status_code

    try:
        with concurrent.futures.ThreadPoolExecutor(60) as pool:
            flood = [pool.submit(wrong, i) for i in range(60)]
            # One hashing thread and four waiting (the defaults); the 55 others are refused.
            _wait_for(
                lambda: hashes.started == 1 and guard.pending == 5 and len(guard._refused) == 55,
                "a saturated scrypt pool and 55 refusals",
            )
            answers = [httpx.get(url, auth=(ADMIN.user, ADMIN.password), timeout=30) for _ in range(5)]
            assert hashes.running == 1 and guard.pending == 5  # the admin was answered meanwhile
            hashes.gate.set()
            results = [f.result() for f in flood]
    finally:
        hashes.gate.set()
    assert all(a.status_code == 200 for a in answers)
    assert set(results) == {401, 429}
    assert results.count(401) == 5  # only the admitted checks hashed; the rest were refused, not queued
    assert hashes.started == 5


# --- the guard's bounds, proved by ordering (a gate holds every scrypt until the test opens it) --


class Hashes:
    """A spy around the real scrypt: counts the calls and how many run at once; with a gate, each
    call waits for it to open before hashing (how the tests hold the pool saturated)."""

    def __init__(self, real: Callable[[str, list[str], int], bytes], *, gated: bool) -> None:
        self.real, self.gate = real, threading.Event()
        if not gated:
            self.gate.set()
        self.started = self.running = self.peak = 0
        self._lock = threading.Lock()

    def __call__(self, password: str, fields: list[str], length: int) -> bytes:
        with self._lock:
            self.started += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            assert self.gate.wait(HANG_GUARD), "the gate was never opened"
            return self.real(password, fields, length)
        finally:
            with self._lock:
                self.running -= 1


HANG_GUARD = 120.0


def _spy(monkeypatch: pytest.MonkeyPatch, *, gated: bool) -> Hashes:
    hashes = Hashes(auth._scrypt, gated=gated)
    monkeypatch.setattr(auth, "_scrypt", hashes)
    return hashes


def _guard(cluster: LocalCluster, **settings: Any) -> auth.Guard:
    shared = cluster.shared
    assert shared is not None
    shared.guard.close()
    shared.guard = auth.Guard(**{"hold": 0.0, "suspect_hold": 0.0, **settings})
    return shared.guard


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


def _wrong(url: str, source: str, password: str = "wrong") -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, auth=("admin", password), timeout=HANG_GUARD) as http:
        return http.get(url)


@pytest.fixture
def one_node(tmp_path: Path) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path / "data", https=False, nodes=1) as running:
        yield running


def test_scrypt_work_in_flight_never_exceeds_the_bound_and_a_verified_admin_passes_it(
    one_node: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = one_node.urls[0] + "/v1/modules"
    assert httpx.get(url, auth=(ADMIN.user, ADMIN.password), timeout=60).status_code == 200  # verified
    guard = _guard(one_node, checkers=2, queue=3, fresh=Rate(1000.0, 2.0))
    hashes = _spy(monkeypatch, gated=True)
    with concurrent.futures.ThreadPoolExecutor(30) as pool:
        flood = [pool.submit(_wrong, url, f"127.0.2.{i + 1}") for i in range(30)]
        # Everyone past 2 hashing + 3 waiting is refused at once, without hashing.
        _wait_for(lambda: sum(f.done() for f in flood) == 25, "25 refusals")
        refused = [f.result() for f in flood if f.done()]
        held = [f for f in flood if not f.done()]
        assert {r.status_code for r in refused} == {429}
        assert all(r.headers["retry-after"] == "1" for r in refused)
        assert len(held) == 5 and hashes.started == 2 and guard.pending == 5
        # The pool is saturated and its queue full: the verified admin is answered all the same,
        # while not one of the admitted checks has ended.
        for _ in range(3):
            assert httpx.get(url, auth=(ADMIN.user, ADMIN.password), timeout=60).status_code == 200
        assert hashes.running == 2 and not any(f.done() for f in held)
        hashes.gate.set()
        answers = [f.result() for f in flood]
    assert sorted(a.status_code for a in answers) == [401] * 5 + [429] * 25
    assert hashes.started == 5 and hashes.peak == 2
    assert guard.pending == 0


def test_a_client_over_its_budget_gets_429_without_any_hashing(
    one_node: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = one_node.urls[0] + "/v1/modules"
    _guard(one_node, client=Rate(3.0, 0.001))
    hashes = _spy(monkeypatch, gated=False)
    answers = [_wrong(url, "127.0.3.1", f"wrong-{i}") for i in range(8)]
    assert [a.status_code for a in answers] == [401] * 3 + [429] * 5
    assert hashes.started == 3  # the five refusals hashed nothing
    assert all(int(a.headers["retry-after"]) >= 1 for a in answers[3:])
    assert "from 127.0.3.1" in answers[-1].json()["description"]
    # Even the right password is not checked from that address while its budget is spent ...
    assert _wrong(url, "127.0.3.1", ADMIN.password).status_code == 429
    assert hashes.started == 3
    # ... other addresses keep their own budget, and once verified (from there) the credentials
    # are answered from the spent address too: no check, no budget.
    assert _wrong(url, "127.0.3.2", ADMIN.password).status_code == 200
    assert _wrong(url, "127.0.3.1", ADMIN.password).status_code == 200
    assert hashes.started == 4


def test_concurrent_requests_cannot_overdraw_a_budget(
    one_node: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token is taken when the check is admitted, not when it has failed: ten requests at
    once from an address with three left start three hashes, not ten."""
    url = one_node.urls[0] + "/v1/modules"
    guard = _guard(one_node, checkers=1, queue=20, client=Rate(3.0, 0.001))
    hashes = _spy(monkeypatch, gated=True)
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        flood = [pool.submit(_wrong, url, "127.0.8.1", f"wrong-{i}") for i in range(10)]
        _wait_for(lambda: sum(f.done() for f in flood) == 7, "7 refusals")
        assert guard.pending == 3
        hashes.gate.set()
        answers = sorted(f.result().status_code for f in flood)
    assert answers == [401] * 3 + [429] * 7
    assert hashes.started == 3


def test_the_shared_budget_bounds_failed_checks_whatever_the_number_of_addresses(
    one_node: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = one_node.urls[0] + "/v1/modules"
    _guard(one_node, client=Rate(100.0, 2.0), fresh=Rate(4.0, 0.001))
    hashes = _spy(monkeypatch, gated=False)
    answers = [_wrong(url, f"127.0.4.{i + 1}") for i in range(12)]  # each address's first try
    assert [a.status_code for a in answers] == [401] * 4 + [429] * 8
    assert hashes.started == 4
    assert "on this server" in answers[-1].json()["description"]
    assert int(answers[-1].headers["retry-after"]) >= 1


def test_addresses_that_keep_failing_do_not_starve_a_newcomers_first_check(
    one_node: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failing addresses spend the suspects' shared bucket; an address that never failed draws
    from the fresh one, so an honest first check passes while the flood is refused."""
    url = one_node.urls[0] + "/v1/modules"
    _guard(one_node, client=Rate(100.0, 2.0), suspects=Rate(3.0, 0.001))
    hashes = _spy(monkeypatch, gated=False)
    assert [_wrong(url, f"127.0.9.{i + 1}").status_code for i in range(3)] == [401] * 3  # fresh
    flood = [_wrong(url, f"127.0.9.{i % 3 + 1}", f"wrong-{i}") for i in range(6)]  # now suspects
    assert [a.status_code for a in flood] == [401] * 3 + [429] * 3
    assert "on this server" in flood[-1].json()["description"]
    assert hashes.started == 6
    assert _wrong(url, "127.0.9.200", ADMIN.password).status_code == 200  # never verified before
    assert _wrong(url, "127.0.9.1", "wrong-again").status_code == 429  # the suspects still wait
    assert hashes.started == 7


def test_a_client_that_ignores_retry_after_becomes_a_suspect() -> None:
    """Decided on the guard's own clock (`now` given): no wall-clock dependence."""
    guard = auth.Guard(fresh=Rate(1.0, 1.0), suspects=Rate(1.0, 0.001), hold=1.0)
    try:
        assert guard.admit("192.0.2.1", 0.0) is True  # takes the only fresh token
        for client in ("192.0.2.2", "192.0.2.3", "192.0.2.4"):
            with pytest.raises(auth.Refused) as refused:
                guard.admit(client, 0.0)
            assert refused.value.seconds == 1  # answered at 1.0 (the hold), retry at 2.0
            assert refused.value.hold == 1.0
        with pytest.raises(auth.Refused):
            guard.admit("192.0.2.4", 0.5)  # sent before the first answer came: not a retry
        assert guard.admit("192.0.2.2", 1.0) is False  # back at once: a suspect's token
        with pytest.raises(auth.Refused) as refused:
            guard.admit("192.0.2.2", 1.1)
        assert refused.value.hold == 5.0  # a suspect's refusal is held longer
        assert guard.admit("192.0.2.4", 2.1) is True  # honoured Retry-After: still fresh
        assert guard.admit("192.0.2.3", 3.2) is True
    finally:
        guard.close()


def test_places_are_kept_for_clients_that_never_failed() -> None:
    guard = auth.Guard(checkers=1, queue=3, reserve=2, hold=0.0, suspect_hold=0.0)
    try:
        guard.admit("192.0.2.9", 0.0)
        guard.settle("192.0.2.9", True, ok=False, now=0.0)  # a failed check: now a suspect
        assert guard.admit("192.0.2.9", 0.1) is False
        assert guard.admit("192.0.2.9", 0.2) is False
        with pytest.raises(auth.Refused, match="waiting"):
            guard.admit("192.0.2.9", 0.3)  # 2 places of 4 for suspects
        assert guard.admit("192.0.2.10", 0.3) is True
        assert guard.admit("192.0.2.11", 0.3) is True
        with pytest.raises(auth.Refused, match="waiting"):
            guard.admit("192.0.2.12", 0.3)
        assert guard.pending == 4
    finally:
        guard.close()


def test_the_guard_tables_stay_bounded_whatever_the_number_of_addresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(auth, "MAX_CLIENTS", 8)
    guard = auth.Guard(fresh=Rate(1.0, 0.001), suspects=Rate(0.0, 2.0), hold=1.0)
    try:
        guard.admit("198.51.100.255", 0.0)  # the only fresh token: every other address is refused
        for i in range(200):  # each refused, then back at once: suspects, all of them
            for now in (float(i), i + 1.0):
                with pytest.raises(auth.Refused):
                    guard.admit(f"198.51.{i // 250}.{i % 250}", now)
            assert len(guard._failed) <= 8 and len(guard._refused) <= 8 and len(guard._buckets) <= 8
    finally:
        guard.close()


def test_a_success_gives_its_tokens_back(one_node: LocalCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only failures spend a budget: users verified one after another are never refused."""
    url = one_node.urls[0] + "/v1/modules"
    guard = _guard(one_node, client=Rate(2.0, 0.001), fresh=Rate(2.0, 0.001))
    hashes = _spy(monkeypatch, gated=False)
    users = one_node.shared.users if one_node.shared else None
    assert users is not None
    for _ in range(5):
        users._verified.clear()  # forget the admin: every request is a first check
        assert _wrong(url, "127.0.5.1", ADMIN.password).status_code == 200
    assert hashes.started == 5 and guard.pending == 0
    assert [_wrong(url, "127.0.5.1").status_code for _ in range(3)] == [401, 401, 429]


def test_a_cancelled_check_keeps_its_place_until_its_hash_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    """A request cancelled while its scrypt runs (shutdown, a timeout) does not free its place
    early: otherwise cancelled requests would let more hashes run than the bound."""
    users = auth.Users([auth.User("admin", "admin", auth.hash_password("right"))])
    guard = auth.Guard(checkers=1, queue=0, reserve=0, hold=0.0, suspect_hold=0.0)
    hashes = _spy(monkeypatch, gated=True)

    async def scenario() -> None:
        first = asyncio.create_task(guard.authenticate(users, "192.0.2.1", users.attempt("admin", "wrong")))
        while hashes.started == 0:
            await asyncio.sleep(0.01)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert guard.pending == 1  # its scrypt still runs
        with pytest.raises(auth.Refused, match="waiting"):
            await guard.authenticate(users, "192.0.2.2", users.attempt("admin", "wrong"))
        hashes.gate.set()
        while guard.pending:
            await asyncio.sleep(0.01)
        assert await guard.authenticate(users, "192.0.2.2", users.attempt("admin", "right")) is not None

    try:
        asyncio.run(asyncio.wait_for(scenario(), HANG_GUARD))
    finally:
        hashes.gate.set()
        guard.close()
    assert hashes.started == 2


def test_refusals_are_held_so_a_flood_keeps_connections_idle(one_node: LocalCluster) -> None:
    url = one_node.urls[0] + "/v1/modules"
    _guard(one_node, client=Rate(1.0, 0.001), hold=0.2, suspect_hold=0.5)
    assert _wrong(url, "127.0.7.1").status_code == 401
    started = time.monotonic()
    assert _wrong(url, "127.0.7.1").status_code == 429
    assert time.monotonic() - started >= 0.5  # a lower bound: a slow machine only adds to it


class CountedHmac:
    """Stands for the `hmac` module in modpack.rest.auth: counts the HMACs made (`new`)."""

    compare_digest = staticmethod(hmac.compare_digest)

    def __init__(self) -> None:
        self.made = 0

    def new(self, key: bytes, message: bytes, digest: Any) -> hmac.HMAC:
        self.made += 1
        return hmac.new(key, message, digest)


def test_authenticate_makes_one_hmac_of_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """It made three: one in `remembered`, then the same again twice (issue 15)."""
    users = auth.Users([auth.User("ann", "admin", auth.hash_password("right"))])
    counted = CountedHmac()
    monkeypatch.setattr(auth, "hmac", counted)
    for name, password, passes in [
        ("ann", "right", True),  # scrypt, then remembered
        ("ann", "right", True),  # remembered: no scrypt
        ("ann", "wrong", False),
        ("bob", "right", False),
    ]:
        before = counted.made
        assert (users.authenticate(name, password) is not None) is passes
        assert counted.made - before == 1, (name, password)


def test_a_request_makes_one_hmac_of_its_password(
    one_node: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server asks `remembered` on the loop, then the guard's check: one HMAC for both."""
    url = one_node.urls[0] + "/v1/modules"
    counted = CountedHmac()
    monkeypatch.setattr(auth, "hmac", counted)
    for password, status in [(ADMIN.password, 200), (ADMIN.password, 200), ("wrong", 401)]:
        before = counted.made
        assert _wrong(url, "127.0.10.1", password).status_code == status
        assert counted.made - before == 1, password


def test_error_answers_are_made_on_the_event_loop() -> None:
    """Starlette runs a plain-function exception handler on its thread pool: one thread hop per
    401 or 429, which under a flood kept the event loop busy (bench/load_auth.py profile)."""
    assert all(inspect.iscoroutinefunction(handler) for handler in server._handlers().values())


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("", ""),
    ],
)
def test_a_client_is_an_ipv4_address_or_an_ipv6_slash_64(host: str, key: str) -> None:
    assert auth.client_key(host) == key
