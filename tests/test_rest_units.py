"""The REST pieces one at a time: names, stores, passwords, multipart, TLS, the client's rules."""

from __future__ import annotations

import json
import logging
import ssl
import stat
from pathlib import Path
from typing import Any

import pytest

from modpack.errors import ModpackError, UsageError
from modpack.rest import auth, client, store, tls, upload
from modpack.rest.client import Api, ClusterError, Connection, Credentials, NodeRef
from modpack.rest.problems import ApiError
from modpack.rest.transport import ConnectError, Request, Response
from tests.support.rest import FakeTransport, json_reply, write_bundle

# --- names from requests ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hello", "ReJSON", "bf", "my-module_2.x", "a" * 128])
def test_safe_module_names_are_accepted(name: str) -> None:
    assert store.module_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "..", ".", "a/b", "/etc", "a\0b", ".hidden", "-dash", "a b", "é", "a" * 129, 7, None]
)
def test_unsafe_module_names_are_refused(name: Any) -> None:
    with pytest.raises(store.UnsafeNameError):
        store.module_name(name)


@pytest.mark.parametrize(("value", "number"), [(0, 0), (10203, 10203), ("10203", 10203), ("007", 7)])
def test_versions_are_non_negative_integers(value: Any, number: int) -> None:
    assert store.version(value) == number


@pytest.mark.parametrize("value", [-1, "-1", "1.5", 1.0, "abc", "", True, None, "1e3", 2**63, " 1"])
def test_other_versions_are_refused(value: Any) -> None:
    with pytest.raises(store.UnsafeNameError):
        store.version(value)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("99999999999999999999999", "'99999999999999999999999'"),
        ("9223372036854775808", "'9223372036854775808'"),
        (2**64, "18446744073709551616"),
        ("9" * 100, "'" + "9" * 40 + "... (100 digits)'"),
    ],
)
def test_a_version_too_large_is_called_too_large(value: Any, shown: str) -> None:
    """A DELETE of .../artifacts/hello/99999999999999999999999 was answered "is not a non-negative
    integer", which it is."""
    with pytest.raises(store.UnsafeNameError) as refused:
        store.version(value)
    assert str(refused.value) == f"version {shown} is larger than the largest version, {2**63 - 1}"


# --- configuration store ----------------------------------------------------------------------


def test_config_store_keeps_module_objects_across_reopening(tmp_path: Path) -> None:
    config = store.ConfigStore(tmp_path / "ccs.sqlite3")
    created = config.create_module({"module_name": "hello", "version": 1, "display_name": "H"})
    assert len(created["uid"]) == 32
    with pytest.raises(store.ModuleExistsError) as exists:
        config.create_module({"module_name": "hello", "version": 1})
    assert exists.value.existing["uid"] == created["uid"]
    config.set_setting("allow_modules_upload", False)
    config.close()

    reopened = store.ConfigStore(tmp_path / "ccs.sqlite3")
    assert reopened.modules() == [created]
    assert reopened.module(created["uid"]) == created
    assert reopened.find("hello", 1) == created
    assert reopened.setting("allow_modules_upload", True) is False
    assert reopened.delete_module(created["uid"])
    assert not reopened.delete_module(created["uid"])
    assert reopened.modules() == []
    reopened.close()


def test_artifacts_are_placed_listed_and_removed(tmp_path: Path) -> None:
    node = store.NodeArtifacts(tmp_path / "node-1")
    node.prepare()
    received = tmp_path / "node-1" / ".tmp" / "upload.zip"
    received.write_bytes(b"zip")
    node.place(received, {"module_name": "hello", "version": 3, "dependencies": {"dep": {}}})
    assert node.artifacts() == [store.Artifact("hello", 3, ["dep"])]
    assert (node.folder("hello", 3) / store.ARTIFACT_ZIP).read_bytes() == b"zip"
    assert not received.exists()
    assert list(node.temp.iterdir()) == []
    assert node.remove("hello", 3)
    assert not node.remove("hello", 3)
    assert node.artifacts() == []


def test_listing_ignores_what_is_not_an_artifact(tmp_path: Path) -> None:
    node = store.NodeArtifacts(tmp_path / "node-1")
    node.prepare()
    (node.root / "hello" / "not-a-version").mkdir(parents=True)
    (node.root / "hello" / "12").mkdir()  # no module.json: never completed
    (node.root / "stray-file").write_text("x")
    assert node.artifacts() == []


def test_prepare_drops_what_an_interrupted_upload_left(tmp_path: Path) -> None:
    node = store.NodeArtifacts(tmp_path / "node-1")
    node.prepare()
    (node.temp / "upload-123.zip").write_bytes(b"partial")
    (node.temp / "stage-1").mkdir()
    node.prepare()
    assert list(node.temp.iterdir()) == []


# --- passwords and roles ----------------------------------------------------------------------


def test_password_hashes_verify_only_the_password() -> None:
    encoded = auth.hash_password("correct horse")
    assert encoded.startswith("scrypt$16384$8$1$")
    assert "correct horse" not in encoded
    assert auth.verify_password("correct horse", encoded)
    assert not auth.verify_password("correct horsE", encoded)
    assert auth.hash_password("correct horse") != encoded  # salted


@pytest.mark.parametrize(
    "encoded", ["", "plain", "bcrypt$x$y$z$a$b", "scrypt$16384$8$1$!!$!!", "scrypt$a$b$c$d$e"]
)
def test_malformed_hashes_never_verify(encoded: str) -> None:
    assert not auth.verify_password("anything", encoded)


def test_users_authenticate_and_remember_without_storing_passwords(tmp_path: Path) -> None:
    auth.write_users(tmp_path / "users.json", {"ann": ("db_viewer", "pw-ann")})
    assert "pw-ann" not in (tmp_path / "users.json").read_text()
    assert stat.S_IMODE((tmp_path / "users.json").stat().st_mode) == 0o600
    users = auth.read_users(tmp_path / "users.json")
    for _ in range(2):  # the second time comes from the remembered HMAC
        user = users.authenticate("ann", "pw-ann")
        assert user is not None
        assert user.role == "db_viewer"
        assert "pw" not in repr(user)
    assert users.authenticate("ann", "wrong") is None
    assert users.authenticate("bob", "pw-ann") is None


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("not json", "not valid JSON"),
        ('{"people": []}', '"users" list'),
        ('{"users": [{"name": "a", "role": "root", "password_hash": "x"}]}', "unknown role 'root'"),
        ('{"users": [{"name": "a"}]}', "password_hash"),
    ],
)
def test_bad_users_files_are_explained(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "users.json"
    path.write_text(content)
    with pytest.raises(ModpackError) as caught:
        auth.read_users(path)
    assert says in caught.value.message


def test_first_start_creates_an_admin_with_a_private_random_password(tmp_path: Path) -> None:
    users_file, changed = auth.initial_admin(tmp_path, None)
    secret = (tmp_path / "admin-password").read_text().strip()
    assert stat.S_IMODE((tmp_path / "admin-password").stat().st_mode) == 0o600
    assert auth.read_users(users_file).authenticate("admin", secret) is not None
    assert not changed
    assert auth.initial_admin(tmp_path, None) == (users_file, False)  # kept without a password given


def test_the_first_password_never_goes_through_a_planted_symlink(tmp_path: Path) -> None:
    """admin-password was opened in place with O_TRUNC: a symlink at its name (or at the
    temporary name) sent the new password into whatever file it pointed at."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("someone's file\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "admin-password").symlink_to(elsewhere)
    users_file, _ = auth.initial_admin(data, None)
    secret_file = data / "admin-password"
    assert not secret_file.is_symlink() and stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert auth.read_users(users_file).authenticate("admin", secret_file.read_text().strip()) is not None
    assert elsewhere.read_text() == "someone's file\n"

    other = tmp_path / "other"
    other.mkdir()
    (other / ".admin-password.tmp").symlink_to(elsewhere)  # the old fixed temporary name: unused now
    auth.initial_admin(other, None)
    assert elsewhere.read_text() == "someone's file\n"
    assert not (other / "admin-password").is_symlink()


def test_a_different_admin_password_on_an_existing_folder_replaces_the_old(tmp_path: Path) -> None:
    users_file, _ = auth.initial_admin(tmp_path, None)
    old = (tmp_path / "admin-password").read_text().strip()
    assert auth.initial_admin(tmp_path, "other-secret") == (users_file, True)
    users = auth.read_users(users_file)
    assert users.authenticate("admin", "other-secret") is not None
    assert users.authenticate("admin", old) is None
    assert not (tmp_path / "admin-password").exists()  # it no longer held the password
    assert auth.initial_admin(tmp_path, "other-secret") == (users_file, False)


def test_permission_table_matches_the_reference() -> None:
    viewers = {"admin", "cluster_member", "cluster_viewer", "db_member", "db_viewer", "user_manager"}
    for role in auth.ROLES:
        assert auth.allowed(role, auth.VIEW_CLUSTER_MODULES) == (role in viewers)
        assert auth.allowed(role, auth.MANAGE_CLUSTER_MODULES) == (role == "admin")
        assert auth.allowed(role, auth.UPDATE_CLUSTER) == (role == "admin")
    assert not auth.allowed("admin", "no_such_permission")


# --- multipart, both sides --------------------------------------------------------------------


def _receive(tmp_path: Path, body: bytes, chunk: int, limit: int = 10**6, boundary: bytes = b"bnd") -> Path:
    node = store.NodeArtifacts(tmp_path / "node")
    node.prepare()
    received = upload.Upload(node, boundary, limit)
    try:
        for at in range(0, len(body), chunk):
            received.feed(body[at : at + chunk])
        return received.finish().rename(tmp_path / "got.zip")
    finally:
        received.discard()
        assert list(node.temp.iterdir()) == []


@pytest.mark.parametrize("chunk", [1, 7, 4096, 10**6])
def test_clients_multipart_body_is_what_the_server_receives(tmp_path: Path, chunk: int) -> None:
    bundle = write_bundle(tmp_path / "hello.zip")
    frame = client._multipart_frame("bnd", bundle.name)
    body = b"".join(client._body(bundle, bundle.stat().st_size, frame, lambda _: None))
    assert _receive(tmp_path, body, chunk).read_bytes() == bundle.read_bytes()


def _form(*parts: tuple[str, bytes]) -> bytes:
    body = b""
    for name, data in parts:
        body += f'--bnd\r\nContent-Disposition: form-data; name="{name}"; filename="f"\r\n\r\n'.encode()
        body += data + b"\r\n"
    return body + b"--bnd--\r\n"


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        (_form(("other", b"PK")), "no_module", "no file field named 'module'"),
        (_form(("module", b"PK"), ("module", b"PK")), "invalid_module", "more than one"),
        (_form(("module", b"")), "invalid_module", "empty"),
        (_form(("module", b"PK"))[:-10], "invalid_module", "closing boundary"),
        (_form(("module", b"x" * 5000)), "module_too_large", "1024 bytes"),
    ],
    ids=["other-field", "two-module-fields", "empty", "unterminated", "over-limit"],
)
def test_bad_multipart_bodies_are_refused(tmp_path: Path, body: bytes, code: str, says: str) -> None:
    with pytest.raises(ApiError) as refused:
        _receive(tmp_path, body, 100, limit=1024)
    assert refused.value.error_code == code
    assert says in refused.value.description


def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    upload.check_declared_length("100", 100)
    upload.check_declared_length(None, 100)
    with pytest.raises(ApiError) as refused:
        upload.check_declared_length(str(100 + upload.HEADER_SLACK + 1), 100)
    assert refused.value.status == 413


@pytest.mark.parametrize(
    "content_type", [None, "application/json", "multipart/form-data", "text/plain; boundary=x"]
)
def test_upload_needs_multipart_with_a_boundary(content_type: str | None) -> None:
    with pytest.raises(ApiError) as refused:
        upload.boundary_of(content_type)
    assert refused.value.error_code == "no_module"


def test_node_os_check_accepts_aliases_and_names_the_supported_list() -> None:
    upload.check_platform({"module_name": "m", "operating_systems": ["ubuntu22.04"]}, "ubuntu22", "x86_64")
    upload.check_platform({"module_name": "m", "operating_systems": ["rocky9"]}, "rhel9", "x86_64")
    upload.check_platform({"module_name": "m"}, "rhel9", "x86_64")  # no list: nothing to refuse on
    with pytest.raises(ApiError) as refused:
        upload.check_platform({"module_name": "m", "operating_systems": ["rhel8"]}, "rhel9", "x86_64")
    assert refused.value.description == (
        "Module 'm' is not compatible with this node's OS 'rhel9'. Supported operating systems: ['rhel8']"
    )


# --- TLS --------------------------------------------------------------------------------------


def test_certificate_is_made_once_and_kept_private(tmp_path: Path) -> None:
    cert, key = tls.ensure_certificate(tmp_path / "tls")
    first = cert.read_bytes()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert tls.ensure_certificate(tmp_path / "tls") == (cert, key)
    assert cert.read_bytes() == first
    context = tls.server_context(cert, key)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert tls.client_context(cert).minimum_version == ssl.TLSVersion.TLSv1_2


# --- the client's rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://admin:secret@host:9443", "must not carry credentials"),
        ("ftp://host", "http(s)://host[:port]"),
        ("https://host:9443/v1", "just scheme://host:port"),
        ("host:9443", "http(s)://host[:port]"),
    ],
)
def test_bad_cluster_urls_are_refused_without_echoing_secrets(url: str, says: str) -> None:
    with pytest.raises(UsageError) as refused:
        client.base_url(url)
    assert says in refused.value.message
    assert "secret" not in refused.value.message


def test_node_urls_come_from_external_addr_addr_and_port() -> None:
    cluster = "https://cluster.example:9443"
    assert client._node_ref(cluster, {"uid": 2, "addr": "10.0.0.2"}).url == "https://10.0.0.2:9443"
    assert (
        client._node_ref(cluster, {"uid": 2, "addr": "10.0.0.2", "port": 1234}).url == "https://10.0.0.2:1234"
    )
    external = {"uid": 3, "addr": "10.0.0.3", "external_addr": ["203.0.113.3"]}
    assert client._node_ref(cluster, external).url == "https://203.0.113.3:9443"
    assert client._node_ref(cluster, {"uid": 4, "addr": "::1"}).url == "https://[::1]:9443"


def test_credentials_repr_hides_the_password() -> None:
    assert "hunter2" not in repr(Credentials("ann", "hunter2"))
    assert "hunter2" not in repr(Connection(credentials=Credentials("ann", "hunter2")))


def _api(handler: Any, retries: int = 3) -> tuple[Api, list[float]]:
    slept: list[float] = []
    connection = Connection(
        cluster="https://c:9443", credentials=Credentials("ann", "hunter2"), retries=retries
    )
    return Api(connection, sleep=slept.append, transport=FakeTransport(handler)), slept


def test_5xx_is_retried_with_growing_backoff() -> None:
    answers = iter([503, 500, 200])
    api, slept = _api(lambda request: json_reply(next(answers), []))
    assert api.json("GET", "https://c:9443/v1/modules") == []
    assert len(slept) == 2
    assert slept[1] > slept[0]


def test_4xx_is_never_retried() -> None:
    calls: list[Request] = []

    def handler(request: Request) -> Response:
        calls.append(request)
        return json_reply(406, {"error_code": "invalid_module_object", "description": "no version"})

    api, slept = _api(handler)
    with pytest.raises(ClusterError) as refused:
        api.send("POST", "https://c:9443/v2/modules/user-defined")
    assert len(calls) == 1
    assert slept == []
    assert refused.value.status == 406
    assert "invalid_module_object: no version" in refused.value.message


def test_connection_errors_are_retried_then_reported(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: Request) -> Response:
        raise ConnectError("Connection refused")

    api, slept = _api(handler, retries=2)
    with caplog.at_level(logging.DEBUG), pytest.raises(ClusterError) as failed:
        api.send("GET", "https://c:9443/v1/nodes")
    assert len(slept) == 2
    assert "cannot reach https://c:9443/v1/nodes" in failed.value.message
    assert "hunter2" not in caplog.text + failed.value.message + failed.value.hint
    assert "aHVudGVyMg" not in caplog.text  # nor its base64


def test_redirects_are_refused_not_followed(tmp_path: Path) -> None:
    calls: list[str] = []

    def handler(request: Request) -> Response:
        calls.append(request.url)
        return Response(307, {"Location": "https://elsewhere:9443/v2/local/modules/user-defined/artifacts"})

    api, _ = _api(handler)
    with pytest.raises(ClusterError) as refused:
        client.upload(api, NodeRef("node 1", "https://c:9443"), write_bundle(tmp_path / "hello.zip"))
    assert calls == ["https://c:9443/v2/local/modules/user-defined/artifacts"]
    assert "redirect to https://elsewhere:9443" in refused.value.message


def test_upload_streams_with_content_length_and_basic_auth(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "hello.zip")
    seen: dict[str, Any] = {}

    def handler(request: Request) -> Response:
        seen["headers"] = {name.lower(): value for name, value in request.headers.items()}
        seen["body"] = request.body
        return Response(200)

    api, _ = _api(handler)
    progress: list[tuple[int, int]] = []
    client.upload(
        api,
        NodeRef("node 1", "https://c:9443"),
        bundle,
        lambda _, sent, total: progress.append((sent, total)),
    )
    headers = seen["headers"]
    assert int(headers["content-length"]) == len(seen["body"])
    assert "transfer-encoding" not in headers
    assert headers["authorization"].startswith("Basic ")
    assert bundle.read_bytes() in seen["body"]
    assert progress[-1][0] == progress[-1][1] == len(seen["body"])


def test_error_bodies_with_message_instead_of_description_are_read() -> None:
    api, _ = _api(lambda request: json_reply(400, {"error_code": "x", "message": "older shape"}))
    with pytest.raises(ClusterError) as refused:
        api.send("GET", "https://c:9443/v1/modules")
    assert "x: older shape" in refused.value.message


def test_openapi_error_codes_cover_the_problems_table() -> None:
    from modpack.rest.openapi import description
    from modpack.rest.problems import ERROR_CODES

    document = description("https://127.0.0.1:9443")
    assert document["components"]["schemas"]["Error"]["properties"]["error_code"]["enum"] == sorted(
        ERROR_CODES
    )
    json.dumps(document)  # serialisable as served


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_while_the_node_threads_start_is_raised_once_all_have(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl+C as the second of three threads started: it was raised between two starts, the third
    never ran, and waiting for the items hung (publish's uploads then ended without saying what
    each node held: `modpack: interrupted` alone). Now it is held back until every thread is
    started, then raised; no item more is begun, and the results can be waited for."""
    import signal
    import threading

    from modpack.rest.workers import Workers

    begun: list[int] = []
    stopped = threading.Event()

    def work(item: int) -> int:
        begun.append(item)
        stopped.wait(10)  # under way when the Ctrl+C comes
        return item

    workers = Workers([1, 2, 3, 4, 5, 6], work, 3, "test-start")
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        if thread.name == "test-start-1":
            signal.raise_signal(signal.SIGINT)  # Ctrl+C, as the second thread starts
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    with pytest.raises(KeyboardInterrupt):
        workers.start()
    monkeypatch.undo()
    stopped.set()
    waiting = threading.Thread(target=workers.wait, daemon=True)
    waiting.start()
    waiting.join(10)
    assert not waiting.is_alive(), "a thread counted was never started"
    assert sorted(begun) == [1, 2, 3]  # those under way ended; none more was begun after the stop
