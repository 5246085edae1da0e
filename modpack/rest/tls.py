"""TLS for the local cluster: a self-signed certificate made on first start, TLS 1.2 or later.

Like a fresh Redis Enterprise cluster, `modpack serve` answers HTTPS with a self-signed
certificate. It is created once in `<data>/tls/` (valid for localhost, 127.0.0.1 and ::1) and
reused on every restart, so a client can trust it with `--ca-cert <data>/tls/cert.pem`.

`modpack serve` makes it in a short-lived child process (`python -m modpack.rest.tls FOLDER`):
the `cryptography` package then never stays resident in the long-running server (about 12 MB).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modpack.errors import ModpackError

if TYPE_CHECKING:
    from cryptography import x509

CERT_NAME = "cert.pem"
KEY_NAME = "key.pem"
HOSTS = ("localhost", "127.0.0.1", "::1")


def ensure_certificate(folder: Path, *, in_child: bool = False) -> tuple[Path, Path]:
    """(certificate, key) in `folder`, generated when missing (by a child process if asked)."""
    cert, key = folder / CERT_NAME, folder / KEY_NAME
    if cert.is_file() and key.is_file():
        return cert, key
    kept = [p.name for p in (cert, key) if p.exists()]  # half of a pair: made afresh, and said
    private_folder(folder)
    if in_child:
        import subprocess  # only for the server's first start: every client imports this module

        child = [sys.executable, "-m", "modpack.rest.tls", str(folder)]
        made = subprocess.run(child, capture_output=True, text=True, check=False)
        if made.returncode != 0:  # it says why on its last line (a traceback was an internal error)
            lines = made.stderr.strip().splitlines() or [f"exit status {made.returncode}"]
            from modpack.errors import ModpackError

            raise ModpackError(f"cannot make the TLS certificate in {folder}: {lines[-1]}")
    else:
        cert_pem, key_pem = self_signed(HOSTS)
        from modpack.atomic import write_private  # a link planted at its temporary name is never followed

        write_private(key, key_pem)
        write_private(cert, cert_pem, mode=0o644)
    if kept:
        # Clients holding the old certificate (--ca-cert) no longer trust this server.
        import logging

        logging.getLogger(__name__).warning(
            "%s had %s without its pair: a new certificate and key were made; clients must trust the new %s",
            folder,
            " and ".join(kept),
            cert,
        )
    return cert, key


def private_folder(folder: Path) -> None:
    """Create `folder` (parents as usual) readable by its owner only, whatever the umask; an
    existing folder is left as it is (it may be the user's own). A folder that cannot be made is
    a ModpackError naming it."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            if folder.is_dir():
                return
            raise
        folder.chmod(0o700)  # mkdir's mode passes through the umask; this does not
    except OSError as exc:
        raise ModpackError(
            f"cannot create the folder {folder}: {exc.strerror or exc}",
            "Give --data a folder that can be created and written.",
        ) from None


def self_signed(hosts: tuple[str, ...]) -> tuple[bytes, bytes]:
    """A PEM certificate and PEM key (ECDSA P-256) valid for `hosts` for ten years."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modpack local cluster")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([_general_name(h) for h in hosts]), critical=False)
        # A leaf, not a CA: trusting it (--ca-cert) trusts this one certificate for these hosts,
        # never another one its key could sign (issue 12). OpenSSL accepts a self-signed leaf
        # given as the trust anchor (tests/test_serve_secrets.py checks it with httpx).
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _key_usage() -> x509.KeyUsage:
    """Signs TLS handshakes only (no keyCertSign: it cannot vouch for other certificates)."""
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _general_name(host: str) -> x509.GeneralName:
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


@dataclass(frozen=True)
class CertificateFacts:
    """What a client meets in a served certificate: who signed it, and whether it is in date."""

    self_signed: bool
    not_before: datetime.datetime
    not_after: datetime.datetime

    def out_of_date(self, now: datetime.datetime | None = None) -> str:
        """'expired on ...' or 'valid only from ...', '' while in date."""
        now = now or datetime.datetime.now(datetime.UTC)
        if now > self.not_after:
            return f"expired on {self.not_after:%Y-%m-%d %H:%M} UTC"
        if now < self.not_before:
            return f"valid only from {self.not_before:%Y-%m-%d %H:%M} UTC"
        return ""


def certificate_facts(cert: Path) -> CertificateFacts | None:
    """The first certificate of a PEM file, or None when it cannot be read as one."""
    from cryptography import x509

    try:
        parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    except (OSError, ValueError):
        return None
    return CertificateFacts(
        parsed.issuer == parsed.subject, parsed.not_valid_before_utc, parsed.not_valid_after_utc
    )


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """OSError for a file that is not a regular one (OpenSSL's open of a FIFO blocks for ever),
    ssl.SSLError for one that holds no PEM certificate or key."""
    from modpack.regular import open_regular

    for path in (cert, key):
        open_regular(path).close()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def client_context(ca_cert: Path | None) -> ssl.SSLContext:
    """Verifying context: the system trust store, or only `ca_cert` when given.

    The file is read here (OpenSSL's own open of a FIFO blocked for ever): OSError when it is no
    regular file, ValueError when it holds no PEM certificate (OpenSSL said "[X509:
    NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl found (_ssl.c:4154)")."""
    from modpack.regular import MAX_TEXT_FILE, read_regular

    cadata = None
    if ca_cert is not None:
        raw = read_regular(ca_cert, MAX_TEXT_FILE)
        if len(raw) > MAX_TEXT_FILE:
            raise ValueError(f"it is larger than {MAX_TEXT_FILE // (1024 * 1024)} MiB")
        if b"-----BEGIN CERTIFICATE-----" not in raw:
            raise ValueError("it holds no PEM certificate (no -----BEGIN CERTIFICATE----- line)")
        cadata = raw.decode("ascii", "replace")
    context = ssl.create_default_context(cadata=cadata)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


if __name__ == "__main__":
    from modpack.errors import ModpackError

    try:
        ensure_certificate(Path(sys.argv[1]))
    except ModpackError as refused:  # one line for the parent to say: no traceback
        print(f"{refused.message} ({refused.hint})" if refused.hint else refused.message, file=sys.stderr)
        sys.exit(1)
