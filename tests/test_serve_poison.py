"""A module object the server could not serve back is refused before it is stored (issue 12).

NaN / Infinity in an unknown field, a lone surrogate in a text field, bytes that are not UTF-8,
integers past Python's 4300-digit limit and a 5000-digit semantic_version once made a 500 (the
client retried it) or, worse, a stored row that broke GET /v1/modules for every user. Each is now
a 406 before storing, and a store that already holds such a row still lists the rest on start.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modpack.rest.cluster import LocalCluster
from modpack.rest.paths import MODULES
from tests.support.rest import ADMIN, module_json, running_cluster, wait_until, write_bundle, write_role_users


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    folder = tmp_path_factory.mktemp("poison")
    with running_cluster(folder / "data", write_role_users(folder / "users.json"), https=False) as running:
        yield running


def _raw(name: str) -> str:
    return json.dumps({**module_json(), "module_name": name})


def _with_field(name: str, value: str) -> bytes:
    return (_raw(name)[:-1] + f', "x_unknown": {value}}}').encode()


def _in_text(name: str, inserted: str) -> bytes:
    return _raw(name).replace('"display_name": "', '"display_name": "' + inserted, 1).encode("utf-8")


def _replaced(name: str, old: str, new: str) -> bytes:
    raw = _raw(name)
    assert old in raw
    return raw.replace(old, new, 1).encode()


HOSTILE = {
    "nan": _with_field("p-nan", "NaN"),
    "infinity": _with_field("p-inf", "-Infinity"),
    "huge-float": _with_field("p-huge-float", "1e999"),
    "lone-surrogate": _in_text("p-surrogate", "\\ud800"),
    "not-utf8": _raw("p-latin").replace('"display_name": "', '"display_name": "\xe9', 1).encode("latin-1"),
    "int-4400-digits": _with_field("p-bigint", "9" * 4400),
    "step-4200-digits": _replaced("p-step", '"step": 1', '"step": ' + "9" * 4200),
    "last-key-4200-digits": _replaced("p-last", '"last_key": 1', '"last_key": ' + "9" * 4200),
    "semver-5000-digits": _replaced(
        "p-semver", '"semantic_version": "1.2.3"', '"semantic_version": "1.2.' + "9" * 5000 + '"'
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_unservable_module_object_is_refused_with_406_and_not_stored(
    cluster: LocalCluster, case: str
) -> None:
    with httpx.Client(auth=(ADMIN.user, ADMIN.password), timeout=60) as http:
        answer = http.post(
            cluster.urls[0] + MODULES, content=HOSTILE[case], headers={"content-type": "application/json"}
        )
        assert answer.status_code == 406, answer.text
        assert answer.json()["error_code"] == "invalid_module_object"
        listed = http.get(cluster.urls[1] + "/v1/modules")
    assert listed.status_code == 200
    assert not [m for m in listed.json() if str(m.get("module_name", "")).startswith("p-")]


def test_client_gets_the_406_without_retrying(cluster: LocalCluster) -> None:
    from modpack.rest import client

    seen: list[str] = []
    connection = client.Connection(
        cluster=cluster.urls[0], credentials=ADMIN, retries=3, backoff=0.01, allow_http=True
    )
    with client.Api(connection, sleep=lambda s: seen.append("retry")) as api:
        with pytest.raises(client.ClusterError) as caught:
            api.json(
                "POST",
                cluster.urls[0] + MODULES,
                {**module_json(), "module_name": "p-c", "semantic_version": "1.2." + "9" * 5000},
            )
    assert caught.value.status == 406
    assert seen == []


def test_store_holding_an_unservable_row_still_lists_the_others(tmp_path: Path) -> None:
    users = write_role_users(tmp_path / "users.json")
    data = tmp_path / "data"
    with running_cluster(data, users, https=False) as first:
        with httpx.Client(auth=(ADMIN.user, ADMIN.password), timeout=60) as http:
            good = http.post(first.urls[0] + MODULES, json=module_json())
            assert good.status_code == 200, good.text
    # A row an older server stored: NaN in an unknown field, as the probe of issue 12 left it.
    poisoned = {**module_json(), "module_name": "poisoned", "uid": "bad0", "x": float("nan")}
    with sqlite3.connect(data / "ccs.sqlite3") as db:
        db.execute(
            "INSERT INTO modules (uid, module_name, version, document) VALUES (?, ?, ?, ?)",
            ("bad0", "poisoned", 1, json.dumps(poisoned)),
        )
    with running_cluster(data, users, https=False) as second:
        assert [uid for uid, _ in second.skipped] == ["bad0"]
        with httpx.Client(auth=(ADMIN.user, ADMIN.password), timeout=60) as http:
            listed = http.get(second.urls[0] + "/v1/modules")
            assert listed.status_code == 200
            assert [m["module_name"] for m in listed.json()] == ["hello"]
            assert http.get(second.urls[0] + "/v1/modules/bad0").status_code == 404
            assert http.delete(second.urls[0] + MODULES + "/bad0").status_code == 200
        assert second.shared.store.unservable() == []


@pytest.mark.parametrize(("document", "setting"), [("{not json", "yes"), ("[1, 2]", '"true"')])
def test_a_damaged_row_under_a_name_and_version_is_named_not_a_500(
    tmp_path: Path, document: str, setting: str
) -> None:
    """A row edited by hand (not JSON, or not an object) under hello 10203: creating that module
    object answered '500 internal_error: JSONDecodeError' (or IntegrityError, from the row's
    UNIQUE name and version), and a bad settings value made serve exit with an internal error.
    Each now says which row it is and how to remove it; the setting falls back to its default."""
    users = write_role_users(tmp_path / "users.json")
    data = tmp_path / "data"
    with running_cluster(data, users, https=False):
        pass
    with sqlite3.connect(data / "ccs.sqlite3") as db:
        db.execute(
            "INSERT INTO modules (uid, module_name, version, document) VALUES (?, ?, ?, ?)",
            ("dead", "hello", 10203, document),
        )
        db.execute("UPDATE settings SET value = ? WHERE key = 'allow_modules_upload'", (setting,))
    with running_cluster(data, users, https=False, allow_modules_upload=None) as second:
        # 'yes' is no JSON: the default, with a warning; "true" is a string, not the switch's true
        assert second.shared.uploads_allowed is False
        second.shared.set_uploads_allowed(True)
        with httpx.Client(auth=(ADMIN.user, ADMIN.password), timeout=60) as http:
            made = http.post(second.urls[0] + MODULES, json=module_json())
            assert made.status_code == 406, made.text
            assert made.json()["error_code"] == "module_exists"
            assert made.json()["description"].startswith(
                "the configuration store holds a damaged module object for hello version 10203 (uid dead: "
            )
            assert made.json()["description"].endswith("DELETE /v2/modules/user-defined/dead removes it")
            assert http.delete(second.urls[0] + MODULES + "/dead").status_code == 200
            assert http.post(second.urls[0] + MODULES, json=module_json()).status_code == 200


# --- one definition of "servable": the request parser and the store agree ---------------------

ROWS = {
    "clean": '{"module_name": "ok", "x": 1.5}',
    "non-ascii": '{"module_name": "ok", "x": "\\u00e9\\u4e2d"}',
    "nan": '{"module_name": "p", "x": NaN}',
    "minus-infinity": '{"module_name": "p", "x": -Infinity}',
    "huge-float": '{"module_name": "p", "x": 1e999}',
    "lone-surrogate": '{"module_name": "p", "x": "\\ud800"}',
    "int-4400-digits": '{"module_name": "p", "x": ' + "9" * 4400 + "}",
    "too-deep": '{"module_name": "p", "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
}


@pytest.mark.parametrize("case", sorted(ROWS))
def test_the_server_accepts_exactly_what_its_store_can_serve_back(tmp_path: Path, case: str) -> None:
    """The request parser and the store's reader once had their own copies of the rules; a text is
    now refused by one exactly when the other could not serve it."""
    from modpack.rest import server, store
    from modpack.rest.problems import ApiError

    text = ROWS[case]
    try:
        server.parse_json(text.encode("utf-8"), "invalid_module_object")
        accepted = True
    except ApiError:
        accepted = False
    config = store.ConfigStore(tmp_path / "ccs.sqlite3")
    try:
        config._db.execute(
            "INSERT INTO modules (uid, module_name, version, document) VALUES ('u', 'p', 1, ?)", (text,)
        )
        assert (config.unservable() == []) is accepted
        assert accepted is (case in {"clean", "non-ascii"})
    finally:
        config.close()


def test_the_server_and_the_store_write_json_with_one_function(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modpack.rest import server, store

    written: list[object] = []
    real = store.dumps

    def counted(document: Any) -> str:
        written.append(document)
        return real(document)

    monkeypatch.setattr(store, "dumps", counted)
    body = json.dumps(module_json()).encode()
    document = server.parse_json(body, "invalid_module_object")
    assert written == [document]  # the check of the request body
    config = store.ConfigStore(tmp_path / "ccs.sqlite3")
    try:
        assert isinstance(document, dict)
        created = config.create_module(document)
        assert written[1] == created  # the stored text
        assert config.modules() == [created]
        assert written[2] == created  # the check of what is served back
    finally:
        config.close()


def test_a_damaged_row_on_rs_7x_is_named_with_the_7x_route_that_removes_it(tmp_path: Path) -> None:
    """On a 7.x cluster the refusal named DELETE /v2/modules/user-defined/<uid>, a route 7.x has
    not, and its own DELETE /v2/modules/<uid> answered 404 for a row it could not read: the name
    and version stayed taken for good."""
    users = write_role_users(tmp_path / "users.json")
    data = tmp_path / "data"
    with running_cluster(data, users, https=False, software_version="7.22"):
        pass
    with sqlite3.connect(data / "ccs.sqlite3") as db:
        db.execute(
            "INSERT INTO modules (uid, module_name, version, document) VALUES (?, ?, ?, ?)",
            ("dead", "hello", 10203, "{not json"),
        )
    bundle = write_bundle(tmp_path / "hello.zip")
    with running_cluster(data, users, https=False, software_version="7.22") as legacy:
        with httpx.Client(auth=(ADMIN.user, ADMIN.password), timeout=60) as http:
            with bundle.open("rb") as body:
                refused = http.post(legacy.urls[0] + "/v2/modules", files={"module": ("hello.zip", body)})
            assert refused.status_code == 400, refused.text
            assert refused.json()["message"].endswith("DELETE /v2/modules/dead removes it")
            assert http.delete(legacy.urls[0] + "/v2/modules/dead").status_code == 200
        wait_until(lambda: legacy.shared.store.unservable() == [])  # once its delete action ends
