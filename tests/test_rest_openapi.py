"""Schemathesis against the served OpenAPI description: no 5xx, no response the description denies.

The cluster is real (3 nodes, HTTPS, generated certificate); schemathesis generates requests for
every operation from the description the server itself serves at /v1/openapi.json and checks
each answer: status code declared, content type declared, body valid against the schema, headers.
Both APIs are tested: RS 8.2's user-defined one and RS 7.22's (`serve --software-version 7.22`:
POST /v2/modules, DELETE /v2/modules/<uid>, GET /v1/actions/<uid>).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from modpack.rest.cluster import LocalCluster
from tests.support.rest import ADMIN, running_cluster

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def api_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path_factory.mktemp("openapi") / "data") as cluster:
        yield cluster


@pytest.fixture(scope="module")
def legacy_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    data = tmp_path_factory.mktemp("openapi-7") / "data"
    with running_cluster(data, software_version="7.22", node_os={3: "rhel9"}) as cluster:
        yield cluster


def served_description(cluster: LocalCluster) -> dict[str, Any]:
    context = ssl.create_default_context(cafile=str(cluster.ca_cert))
    response = httpx.get(cluster.urls[1] + "/v1/openapi.json", verify=context)
    response.raise_for_status()
    description: dict[str, Any] = response.json()
    return description


@pytest.fixture(scope="module")
def api_description(api_cluster: LocalCluster) -> dict[str, Any]:
    return served_description(api_cluster)


@pytest.fixture(scope="module")
def legacy_description(legacy_cluster: LocalCluster) -> dict[str, Any]:
    return served_description(legacy_cluster)


@pytest.fixture
def api_schema(api_description: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_dict(api_description)


@pytest.fixture
def legacy_api_schema(legacy_description: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_dict(legacy_description)


def admin_session(cluster: LocalCluster) -> requests.Session:
    http = requests.Session()
    http.auth = (ADMIN.user, ADMIN.password)
    http.verify = str(cluster.ca_cert)
    return http


@pytest.fixture(scope="module")
def session(api_cluster: LocalCluster) -> Iterator[requests.Session]:
    with admin_session(api_cluster) as http:
        yield http


@pytest.fixture(scope="module")
def legacy_session(legacy_cluster: LocalCluster) -> Iterator[requests.Session]:
    with admin_session(legacy_cluster) as http:
        yield http


schema = schemathesis.pytest.from_fixture("api_schema")
legacy_schema = schemathesis.pytest.from_fixture("legacy_api_schema")


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_description(
    case: Any, session: requests.Session, api_cluster: LocalCluster
) -> None:
    case.call_and_validate(
        base_url=api_cluster.urls[1], session=session, verify=str(api_cluster.ca_cert), checks=CHECKS
    )


@pytest.mark.slow
@legacy_schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_7_22_api_conforms_to_its_description(
    case: Any, legacy_session: requests.Session, legacy_cluster: LocalCluster
) -> None:
    case.call_and_validate(
        base_url=legacy_cluster.urls[1],
        session=legacy_session,
        verify=str(legacy_cluster.ca_cert),
        checks=CHECKS,
    )


def served_routes(*, legacy: bool) -> set[tuple[str, str]]:
    from modpack.rest.server import _routes

    return {(m.lower(), r.path) for r in _routes(legacy=legacy) for m in (r.methods or ()) if m != "HEAD"}


def described_routes(description: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m, p) for p, ops in description["paths"].items() for m in ops}


def test_description_names_every_route(api_description: dict[str, Any]) -> None:
    assert described_routes(api_description) == served_routes(legacy=False)


def test_the_7_22_description_names_every_route_it_serves_and_no_other(
    legacy_description: dict[str, Any],
) -> None:
    described = described_routes(legacy_description)
    assert described == served_routes(legacy=True)
    assert {
        ("post", "/v2/modules"),
        ("delete", "/v2/modules/{uid}"),
        ("get", "/v1/actions/{uid}"),
    } <= described
    assert not any("user-defined" in path for _, path in described)
    assert "allow_modules_upload" not in legacy_description["components"]["schemas"]["Cluster"]["required"]


def test_a_7_22_upload_answer_and_its_action_match_the_description(
    legacy_cluster: LocalCluster, legacy_description: dict[str, Any], tmp_path: Path
) -> None:
    """A real upload (valid bundle) and its action, checked against the served schemas: the
    generated cases above cannot build a valid bundle, so this one covers the 200 answers."""
    from jsonschema import Draft202012Validator

    from tests.support.rest import module_json, write_bundle

    def check(value: Any, name: str) -> None:
        components = legacy_description["components"]
        schema = {**components["schemas"][name], "components": components}  # for its $refs
        errors = list(Draft202012Validator(schema).iter_errors(value))
        assert not errors, [e.message for e in errors]

    bundle = write_bundle(tmp_path / "described.zip", module_json(module_name="described"))
    context = ssl.create_default_context(cafile=str(legacy_cluster.ca_cert))
    auth = (ADMIN.user, ADMIN.password)
    with httpx.Client(base_url=legacy_cluster.urls[0], verify=context, auth=auth, timeout=60) as http:
        answer = http.post("/v2/modules", files={"module": ("described.zip", bundle.read_bytes())})
        assert answer.status_code == 200, answer.text
        check(answer.json(), "LegacyUpload")
        action = http.get(f"/v1/actions/{answer.json()['action_uid']}").json()
        check(action, "Action")
        deleted = http.delete(f"/v2/modules/{answer.json()['uid']}")
        assert deleted.status_code == 200, deleted.text
        check(http.get(f"/v1/actions/{deleted.json()['action_uid']}").json(), "Action")
