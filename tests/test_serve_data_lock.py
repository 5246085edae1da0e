"""One `modpack serve` per data folder, and what it says of the folder's certificate.

A second serve on a --data folder in use started without a word, cleared every node's `.tmp/`
under the first one's uploads (which then failed: "400 invalid_module: IN001: cannot read
.../.tmp/upload-....zip"), and shared its store with two caches of it. It is now refused, naming
the process that holds the folder; the lock goes with that process, however it ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.rest import ADMIN, serve_processes


def _second_serve(data: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "modpack", "serve", "--data", str(data), "--port", "0"]
    return subprocess.run(
        [*command, "--admin-password", ADMIN.password],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_second_serve_on_a_data_folder_in_use_is_refused_and_touches_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serve_processes(data) as start:
        first = start()
        arriving = data / "node-1" / ".tmp" / "upload-arriving.zip"
        assert arriving.parent.is_dir()
        arriving.write_bytes(b"PK\x03\x04 half an upload")  # as an upload under way leaves it

        done = _second_serve(data)
        assert done.returncode == 1, done.stdout + done.stderr
        pid = first["process"].pid
        assert (
            f"modpack: the data folder {data} is in use by another modpack serve (pid {pid})" in done.stderr
        )
        assert "hint: Stop that one first, or give this one another --data folder." in done.stderr
        assert "Traceback" not in done.stderr
        assert arriving.exists()  # the first server's upload is left alone
        assert first["process"].poll() is None

        first["process"].kill()  # however it ends, the lock goes with it
        first["process"].wait(timeout=10)
        assert (data / "serve.lock").exists()  # a stale file holds nothing
        again = start()
        assert again["process"].poll() is None
        assert (data / "serve.lock").read_text().strip() == str(again["process"].pid)
        assert not arriving.exists()  # the new server clears what the killed one left
        assert os.stat(data / "serve.lock").st_mode & 0o077 == 0


def test_a_certificate_made_afresh_in_place_of_a_half_pair_is_said(tmp_path: Path) -> None:
    """With data/tls/key.pem gone, serve made a new certificate and key without a word, and every
    client holding the old --ca-cert then failed its TLS handshake."""
    data = tmp_path / "data"
    with serve_processes(data) as start:
        first = start()
        old = (data / "tls" / "cert.pem").read_bytes()
        first["process"].kill()
        first["process"].wait(timeout=10)
        (data / "tls" / "key.pem").unlink()
        start()
        log = (tmp_path / "data-serve.log").read_text()
    assert (data / "tls" / "cert.pem").read_bytes() != old
    assert (
        f"{data / 'tls'} had cert.pem without its pair: a new certificate and key were made; clients must"
        f" trust the new {data / 'tls' / 'cert.pem'}"
    ) in log


def test_the_lock_holds_when_its_pid_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a full disk the pid write after the lock raised: serve ended in an internal error, and
    in-process the locked descriptor stayed open, so the next start on the folder was refused."""
    import errno

    from modpack.errors import ModpackError
    from modpack.rest.cluster import LocalCluster, ServeOptions
    from tests.support.rest import running_cluster

    def full(*_: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    data = tmp_path / "data"
    with monkeypatch.context() as patched:
        patched.setattr(os, "pwrite", full)
        with running_cluster(data):
            with pytest.raises(ModpackError, match=r"is in use by another modpack serve$"):
                LocalCluster(ServeOptions(data=data, port=0, admin_password=ADMIN.password)).start()
    with running_cluster(data):  # let go at stop
        pass
