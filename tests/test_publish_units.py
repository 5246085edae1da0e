"""Units of publish: platforms and versions from node objects, identity, agreement, actions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from modpack.rest import platforms
from modpack.rest.client import Api, ClusterError, Connection
from modpack.rest.publish import Bundle, differences, disagreements, follow_action
from tests.support.rest import module_json

CAPTURED = Path(__file__).resolve().parent.parent / "fixtures" / "expected" / "rs-node-object.json"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("8.2.0-25", (8, 2, 0)),
        ("7.22", (7, 22, 0)),
        ("100.0.21-16135", (100, 0, 21)),
        ("x", None),
        (None, None),
    ],
)
def test_software_versions_parse_to_tuples(text: Any, parsed: Any) -> None:
    assert platforms.version_tuple(text) == parsed


@pytest.mark.parametrize(
    ("name", "semantic", "family", "expected"),
    [
        ("ubuntu", "22.04", "ubuntu", "ubuntu22"),
        ("rhel", "9.4", "rhel", "rhel9"),
        ("rocky", "8.10", "rhel", "rhel8"),
        ("amzn", "2023", "amzn", "amzn2023"),
        ("plan9", "4", "plan9", None),
    ],
)
def test_node_os_is_named_as_modules_name_it(name: str, semantic: str, family: str, expected: Any) -> None:
    assert platforms.os_id(name, semantic, family) == expected


def test_the_captured_real_node_reads_as_ubuntu22_aarch64_with_its_redis_versions() -> None:
    facts = platforms.node_facts(json.loads(CAPTURED.read_text())["captured"])
    assert (facts.os, facts.architecture, facts.status) == ("ubuntu22", "aarch64", "active")
    assert facts.redis_versions == ("7.4", "7.2", "6.2", "8.0")  # memcached is not a Redis version


@pytest.mark.parametrize(
    ("module", "node_os", "arch", "why"),
    [
        ({"operating_systems": ["rhel9"], "architecture": "x86_64"}, "rhel9", "x86_64", None),
        ({"operating_systems": ["rocky9"]}, "rhel9", "aarch64", None),  # an alias; no architecture: any
        ({"operating_systems": ["ubuntu22"]}, "rhel9", "x86_64", "os"),
        ({"architecture": "aarch64"}, "rhel9", "x86_64", "architecture"),
        ({}, None, None, None),
    ],
)
def test_a_bundle_fits_a_node_by_os_and_architecture(
    module: dict[str, Any], node_os: Any, arch: Any, why: Any
) -> None:
    assert platforms.misfit(module, node_os, arch) == why


def bundle(**changes: Any) -> Bundle:
    return Bundle(Path(f"{changes.get('sha256', 'a')[:4]}.zip"), module_json(**changes))


def test_identity_ignores_what_the_server_adds_and_empty_defaults() -> None:
    sent = module_json()
    stored = {**sent, "uid": "u1", "is_bundled": False, "author": "", "crdb": {}, "platforms": {}}
    assert differences(stored, [Bundle(Path("a.zip"), sent)]) == []


def test_identity_names_each_differing_field() -> None:
    stored = {**module_json(), "uid": "u1", "capabilities": [], "sha256": "0" * 64, "extra": 1}
    assert differences(stored, [Bundle(Path("a.zip"), module_json())]) == ["capabilities", "extra", "sha256"]


def test_identity_accepts_the_stored_build_of_any_platform_given() -> None:
    ubuntu = bundle(sha256="1" * 64, operating_systems=["ubuntu22"])
    rhel = bundle(sha256="2" * 64, operating_systems=["rhel9"])
    assert differences({**rhel.module, "uid": "u"}, [ubuntu, rhel]) == []
    other = {**rhel.module, "uid": "u", "sha256": "3" * 64}
    assert differences(other, [ubuntu, rhel]) == ["sha256"]


def test_a_version_0_is_not_an_absent_version() -> None:
    assert differences({**module_json(), "version": 0}, [Bundle(Path("a.zip"), module_json())]) == ["version"]


def test_bundles_may_differ_only_per_platform() -> None:
    ubuntu = bundle(sha256="1" * 64, operating_systems=["ubuntu22"], module_file="a.so")
    assert disagreements([ubuntu, bundle(sha256="2" * 64, operating_systems=["rhel9"])]) == []
    changed = bundle(sha256="3" * 64, semantic_version="1.2.4", commands=[])
    assert disagreements([ubuntu, changed]) == [
        "3333.zip: commands differs from 1111.zip's",
        "3333.zip: semantic_version differs from 1111.zip's",
    ]


def _api(answers: list[dict[str, Any]]) -> tuple[Api, list[str]]:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=answers[min(len(seen), len(answers)) - 1])

    return Api(Connection(cluster="https://c:9443"), transport=httpx.MockTransport(handler)), seen


def test_an_action_is_followed_until_it_completes() -> None:
    api, seen = _api([{"status": "pending"}, {"status": "active"}, {"status": "completed"}])
    follow_action(api, "a-1", sleep=lambda _: None)
    assert seen == ["https://c:9443/v1/actions/a-1"] * 3


def test_a_failed_action_is_an_error_with_its_reason() -> None:
    api, _ = _api([{"status": "failed", "name": "module_upload", "error": "disk full"}])
    with pytest.raises(ClusterError, match="action a-2 \\(module_upload\\) failed: disk full"):
        follow_action(api, "a-2", sleep=lambda _: None)
