"""Secrets of `modpack serve` (issue 12): the admin password from a file or the environment and
never silently ignored, private folders whatever the umask, a leaf certificate."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from modpack.rest import tls
from modpack.rest.cluster import LocalCluster, ServeOptions
from tests.support.cli import run_modpack


def _ports(data: Path) -> Path:
    return data.parent / "ports.json"


def _start(data: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], dict]:
    import json
    import time

    ports = _ports(data)
    ports.unlink(missing_ok=True)
    command = [sys.executable, "-m", "modpack", "serve", "--data", str(data), "--port", "0", "--nodes", "1"]
    command += ["--ports-file", str(ports), "--http", *extra]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    )
    deadline = time.monotonic() + 60
    while not ports.exists():
        if process.poll() is not None:
            raise AssertionError(process.communicate()[1])
        assert time.monotonic() < deadline, "serve did not start"
        time.sleep(0.05)
    return process, json.loads(ports.read_text())


def _stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    out, _ = process.communicate(timeout=30)
    return out


def _status(url: str, password: str) -> int:
    return httpx.get(url + "/v1/modules", auth=("admin", password), timeout=30).status_code


def test_password_from_env_then_file_replaces_the_stored_one(tmp_path: Path) -> None:
    data = tmp_path / "data"
    process, info = _start(data, env={"MODPACK_ADMIN_PASSWORD": "first-secret"})
    try:
        url = info["cluster"]
        assert _status(url, "first-secret") == 200
        assert "first-secret" not in " ".join(process.args)  # not on the command line
    finally:
        _stop(process)
    secret = tmp_path / "admin.txt"
    secret.write_text("second-secret\n")
    process, info = _start(data, "--admin-password-file", str(secret))
    try:
        assert _status(info["cluster"], "second-secret") == 200
        assert _status(info["cluster"], "first-secret") == 401
    finally:
        out = _stop(process)
    assert "replaced the one stored" in out


def test_admin_password_with_users_file_is_a_usage_error(tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    users.write_text('{"users": []}')
    result = run_modpack(
        "serve", "--data", str(tmp_path / "d"), "--users", str(users), env={"MODPACK_ADMIN_PASSWORD": "x"}
    )
    assert result.returncode == 2
    assert "would be ignored" in result.stderr


def test_folders_are_private_under_umask_000(tmp_path: Path) -> None:
    data = tmp_path / "new" / "data"
    old = os.umask(0)
    try:
        cluster = LocalCluster(ServeOptions(data=data, nodes=2, port=0, admin_password="pw-secret")).start()
        cluster.stop()
    finally:
        os.umask(old)
    for folder in (data, data / "node-1", data / "node-2", data / "node-1" / ".tmp", data / "tls"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_generated_certificate_is_a_leaf_that_clients_trust(tmp_path: Path) -> None:
    from cryptography import x509

    cert, _ = tls.ensure_certificate(tmp_path / "tls")
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    constraints = parsed.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca is False
    assert parsed.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is False
    names = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(n.value) for n in names} == {"localhost", "127.0.0.1", "::1"}
    # The leaf given to a client as --ca-cert is enough (a real TLS handshake with httpx/ssl).
    with LocalCluster(
        ServeOptions(data=tmp_path / "data", nodes=1, port=0, admin_password="pw-secret", cert=cert, key=_)
    ) as cluster:
        answer = httpx.get(cluster.urls[0] + "/v1/openapi.json", verify=tls.client_context(cert), timeout=30)
        assert answer.status_code == 200
        localhost = cluster.urls[0].replace("127.0.0.1", "localhost")
        assert (
            httpx.get(localhost + "/v1/openapi.json", verify=tls.client_context(cert), timeout=30).status_code
            == 200
        )


def test_leaf_key_cannot_vouch_for_another_host(tmp_path: Path) -> None:
    """A certificate for another name signed with the leaf's key is not trusted by a client
    that trusts the leaf (it would be with the old CA:TRUE certificate)."""
    import datetime
    import socket
    import ssl
    import threading

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = tls.ensure_certificate(tmp_path / "tls")
    leaf = x509.load_pem_x509_certificate(cert_path.read_bytes())
    leaf_key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    forged_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    forged = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bank.example")]))
        .issuer_name(leaf.subject)
        .public_key(forged_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(leaf_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    chain = tmp_path / "forged.pem"
    chain.write_bytes(forged.public_bytes(serialization.Encoding.PEM) + cert_path.read_bytes())
    forged_key_path = tmp_path / "forged-key.pem"
    forged_key_path.write_bytes(
        forged_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server_context = tls.server_context(chain, forged_key_path)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve_one() -> None:
        conn, _ = listener.accept()
        try:
            with server_context.wrap_socket(conn, server_side=True) as wrapped:
                wrapped.recv(1)
        except (ssl.SSLError, OSError):
            pass

    threading.Thread(target=serve_one, daemon=True).start()
    client_context = tls.client_context(cert_path)
    with socket.create_connection(listener.getsockname(), timeout=30) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            client_context.wrap_socket(raw, server_hostname="localhost")
    listener.close()


@pytest.mark.parametrize("variable", ["MODPACK_ADMIN_PASSWORD", "MODPACK_SERVE_ADMIN_PASSWORD"])
def test_a_password_from_the_environment_and_a_password_file_name_the_variable(
    tmp_path: Path, variable: str
) -> None:
    """With the password in the environment, --admin-password-file said '--admin-password and
    --admin-password-file go alone', naming an option the user never gave."""
    secret = tmp_path / "secret"
    secret.write_text("pw\n")
    done = run_modpack(
        "serve", "--data", tmp_path / "d", "--port", "0", "--admin-password-file", secret, env={variable: "x"}
    )
    assert done.returncode == 2, done.stdout + done.stderr
    said = (
        f"modpack: {variable} in the environment gives the admin password, and so does --admin-password-file"
    )
    assert said in done.stderr, done.stderr
    assert "--admin-password and" not in done.stderr


def test_the_tls_key_never_goes_through_a_planted_symlink(tmp_path: Path) -> None:
    """tls wrote key.pem by way of .key.pem.tmp opened without O_NOFOLLOW: a link planted at the
    temporary name sent the new private key into whatever file it pointed at. The temporary name
    is made anew now (O_EXCL, O_NOFOLLOW), and a link at key.pem is replaced, not followed."""
    import json
    import time

    victim = tmp_path / "victim"
    victim.write_text("someone's file\n")
    tls_folder = tmp_path / "d" / "tls"
    tls_folder.mkdir(parents=True)
    (tls_folder / ".key.pem.tmp").symlink_to(victim)
    (tls_folder / "key.pem").symlink_to(victim)
    done = run_modpack("serve", "--data", tmp_path / "d", "--port", "0", "--host", "")
    assert done.returncode == 2 and "is empty (an unset variable?)" in done.stderr, done.stderr
    ports = tmp_path / "ports.json"
    command = [sys.executable, "-m", "modpack", "serve", "--data", str(tmp_path / "d"), "--port", "0"]
    process = subprocess.Popen(
        [*command, "--nodes", "1", "--ports-file", str(ports)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not ports.exists():
            assert process.poll() is None, "serve ended before it listened"
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.05)
        assert json.loads(ports.read_text())["cluster"].startswith("https://")
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert victim.read_text() == "someone's file\n"
    key = tls_folder / "key.pem"
    assert not key.is_symlink() and stat.S_IMODE(key.stat().st_mode) == 0o600
