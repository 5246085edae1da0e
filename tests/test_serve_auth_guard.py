"""Password checks cannot be used to wear the server down (issue 12): a client that keeps
failing gets 429 with Retry-After before any scrypt runs, and verified credentials are answered
without waiting behind anyone's scrypt."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modpack.rest.cluster import LocalCluster
from tests.support.rest import ADMIN, running_cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path / "data", https=False) as running:
        yield running


def test_failures_past_the_budget_get_429_and_verified_credentials_still_pass(cluster: LocalCluster) -> None:
    url = cluster.urls[0] + "/v1/modules"
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


def test_verified_credentials_do_not_wait_behind_a_scrypt_flood(cluster: LocalCluster) -> None:
    url = cluster.urls[0] + "/v1/modules"
    assert httpx.get(url, auth=(ADMIN.user, ADMIN.password), timeout=60).status_code == 200

    def wrong(i: int) -> int:
        transport = httpx.HTTPTransport(local_address=f"127.0.1.{i + 1}")
        with httpx.Client(transport=transport, auth=("admin", f"wrong-{i}"), timeout=120) as http:
            return http.get(url).status_code

    with concurrent.futures.ThreadPoolExecutor(60) as pool:
        flood = [pool.submit(wrong, i) for i in range(60)]
        answers = [httpx.get(url, auth=(ADMIN.user, ADMIN.password), timeout=60) for _ in range(5)]
        results = {f.result() for f in flood}
    assert all(a.status_code == 200 for a in answers)
    assert results <= {401, 429}
    assert 429 in results  # more than the pool and its queue take at once are refused, not queued
