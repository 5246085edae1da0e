"""Schemathesis against the served OpenAPI description: no 5xx, no response the description denies.

The cluster is real (3 nodes, HTTPS, generated certificate); schemathesis generates requests for
every operation from the description the server itself serves at /v1/openapi.json and checks
each answer: status code declared, content type declared, body valid against the schema, headers.
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
def api_description(api_cluster: LocalCluster) -> dict[str, Any]:
    context = ssl.create_default_context(cafile=str(api_cluster.ca_cert))
    response = httpx.get(api_cluster.urls[1] + "/v1/openapi.json", verify=context)
    response.raise_for_status()
    description: dict[str, Any] = response.json()
    return description


@pytest.fixture
def api_schema(api_description: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_dict(api_description)


@pytest.fixture(scope="module")
def session(api_cluster: LocalCluster) -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.auth = (ADMIN.user, ADMIN.password)
        http.verify = str(api_cluster.ca_cert)
        yield http


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_description(
    case: Any, session: requests.Session, api_cluster: LocalCluster
) -> None:
    case.call_and_validate(
        base_url=api_cluster.urls[1], session=session, verify=str(api_cluster.ca_cert), checks=CHECKS
    )


def test_description_names_every_route(api_description: dict[str, Any]) -> None:
    from modpack.rest.server import _routes

    served = {(m.lower(), r.path) for r in _routes() for m in (r.methods or ()) if m != "HEAD"}
    described = {(m, p) for p, ops in api_description["paths"].items() for m in ops}
    assert described == served


def test_description_servers_point_at_the_serving_node(
    api_cluster: LocalCluster, api_description: dict[str, Any]
) -> None:
    assert api_description["servers"] == [{"url": api_cluster.urls[1]}]
    assert Path(str(api_cluster.ca_cert)).is_file()
