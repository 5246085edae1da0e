"""allow_modules_upload turned off while a publish uploads: another run's --allow-upload ending.

Run A turns the cluster-wide switch on, run B starts, sees it on and so leaves it alone, A ends
and turns it off, and B's uploads got '403 modules_upload_disabled' on every node it had not
reached yet, though B was given --allow-upload (the sweep's two `publish --allow-upload` runs).
Here the switch is turned off, over HTTPS as A does, just before B's first upload, for real.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

import pytest

from modpack.rest import client
from modpack.rest import publish as publishing
from modpack.rest.cluster import LocalCluster
from modpack.rest.publish import user_defined
from modpack.rest.publish.interruption import PublishInterrupted
from tests.support.rest import connection, http, module_json, rebuilt, running_cluster, write_bundle


@pytest.fixture
def cluster(tmp_path: Path) -> Any:
    with running_cluster(tmp_path / "data", allow_modules_upload=True) as running:
        yield running


def _switch(cluster: LocalCluster) -> bool:
    with http(cluster) as session:
        value: bool = session.get("/v1/cluster").json()["allow_modules_upload"]
        return value


def _turned_off_by_another_run(
    cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch, before: tuple[int, ...] = (1,)
) -> None:
    """The switch turned off (another run's end) before the upload calls numbered `before`,
    counted from 1, retries included, one call at a time."""
    real, lock, calls = client.post_bundle, threading.Lock(), []

    def after_the_other_run_ended(*args: Any, **kwargs: Any) -> Any:
        with lock:  # every node's upload waits for it: the switch is off before any is sent
            calls.append(True)
            if len(calls) in before:
                with http(cluster) as session:
                    assert session.put("/v1/cluster", json={"allow_modules_upload": False}).status_code == 200
        return real(*args, **kwargs)

    monkeypatch.setattr(client, "post_bundle", after_the_other_run_ended)


def _bundle(tmp_path: Path, name: str, size: int) -> Path:
    so = rebuilt(tmp_path / name, random.Random(name).randbytes(size))
    return write_bundle(tmp_path / f"{name}.zip", module_json(so, module_name=name), so)


@pytest.mark.parametrize("size", [16, 9 * 1024 * 1024])  # in order, and streamed while validated
def test_with_allow_upload_the_switch_is_turned_on_again_and_off_at_the_end(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    bundle = _bundle(tmp_path, f"again{size}", size)
    assert _switch(cluster) is True
    _turned_off_by_another_run(cluster, monkeypatch)
    result = publishing.publish(bundle, connection(cluster), allow_upload=True)
    assert [n.status for n in result.nodes] == ["uploaded"] * 3, [n.detail for n in result.nodes]
    assert (
        "allow_modules_upload was turned off while this run was uploading (by another run's --allow-upload"
        " ending, or by an operator): it was turned on again for the uploads it had stopped"
    ) in result.notes
    assert "allow_modules_upload was turned on for this run and off again after" in result.notes
    assert _switch(cluster) is False  # as the other run had left it


def test_without_allow_upload_the_nodes_fail_and_the_run_says_why(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = _bundle(tmp_path, "closed", 16)
    _turned_off_by_another_run(cluster, monkeypatch)
    result = publishing.publish(bundle, connection(cluster))
    assert [n.status for n in result.nodes] == ["failed"] * 3
    assert all("403 modules_upload_disabled" in n.detail for n in result.nodes)
    assert (
        "allow_modules_upload was turned off while this run was uploading (by another run's --allow-upload"
        " ending, or by an operator)"
    ) in result.notes
    assert _switch(cluster) is False


def test_a_rollback_puts_back_what_replace_deleted_while_the_switch_is_still_on(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A streamed --replace run that no node took rolls back: it deletes its object and makes the
    one --replace deleted again, a POST the switch guards. The switch this run had turned on
    again was already off by then, so that POST got 403 and the deleted object was lost."""
    import shutil

    small = _bundle(tmp_path, "swap", 16)
    first = publishing.publish(small, connection(cluster))
    assert first.module_object == "created"
    big = _bundle(tmp_path / "big", "swap", 9 * 1024 * 1024)  # another build: --replace deletes the first
    for node in cluster.nodes:  # no node can store a file: every upload fails
        shutil.rmtree(node.artifacts.temp)
        node.artifacts.temp.write_text("not a folder")
    _turned_off_by_another_run(cluster, monkeypatch)
    result = publishing.publish(big, connection(cluster), allow_upload=True, replace=True)
    assert [n.status for n in result.nodes] == ["failed"] * 3
    assert result.module_object == "rolled back"
    assert result.restored, result.notes
    with http(cluster) as session:
        [back] = [m for m in session.get("/v1/modules").json() if m["module_name"] == "swap"]
    assert back["uid"] == result.restored
    assert _switch(cluster) is False  # turned on again by this run, and off at its end


@pytest.mark.parametrize("size", [17, 9 * 1024 * 1024])  # in order, and streamed while validated
def test_the_post_putting_back_what_replace_deleted_turns_the_switch_on_again(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """The switch went off (another run ending) after the uploads failed and before the rollback:
    the POST putting back the module object --replace deleted got 403, was not retried as the
    run's own POSTs are, and the cluster was left with no module object for the build its nodes
    hold."""
    import shutil

    first = publishing.publish(_bundle(tmp_path, "lost", 16), connection(cluster))
    assert first.module_object == "created"
    other = _bundle(tmp_path / "other", "lost", size)  # another build (16 bytes were the first's)
    for node in cluster.nodes:  # no node can store a file: every upload fails
        shutil.rmtree(node.artifacts.temp)
        node.artifacts.temp.write_text("not a folder")
    real = user_defined.roll_back

    def after_the_other_run_ended(*args: Any, **kwargs: Any) -> Any:
        with http(cluster) as session:
            assert session.put("/v1/cluster", json={"allow_modules_upload": False}).status_code == 200
        return real(*args, **kwargs)

    monkeypatch.setattr(user_defined, "roll_back", after_the_other_run_ended)
    result = publishing.publish(other, connection(cluster), allow_upload=True, replace=True)
    assert [n.status for n in result.nodes] == ["failed"] * 3
    assert result.restored, result.notes
    with http(cluster) as session:
        [back] = [m for m in session.get("/v1/modules").json() if m["module_name"] == "lost"]
    assert back["uid"] == result.restored and back["sha256"] == first_sha(tmp_path)
    assert _switch(cluster) is False  # turned on again by this run, and off at its end


def first_sha(tmp_path: Path) -> str:
    import hashlib

    return hashlib.sha256((tmp_path / "lost" / "hello.so").read_bytes()).hexdigest()


def test_a_switch_turned_off_twice_is_turned_on_twice(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The switch went off again after this run had turned it on again: the second refused upload
    was retried without a PUT, got 403 once more and failed its node."""
    bundle = _bundle(tmp_path, "twice", 16)
    # One node after the other (jobs=1): off before node 1's first call, and before node 2's
    # first (call 3: node 1's retry was call 2)
    _turned_off_by_another_run(cluster, monkeypatch, before=(1, 3))
    result = publishing.publish(bundle, connection(cluster, jobs=1), allow_upload=True)
    assert [n.status for n in result.nodes] == ["uploaded"] * 3, [n.detail for n in result.nodes]
    assert sum(call.endswith("(again)") for call in result.calls) >= 2
    assert _switch(cluster) is False


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_during_the_put_turning_uploads_on_turns_them_off_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl+C while `--allow-upload`'s PUT waited for its answer: the cluster had turned uploads
    on, and the run printed only 'interrupted', leaving allow_modules_upload on for everyone.
    (Only the in-order way starts with this PUT: a run takes the pipelined way only when uploads
    are on already; a "pipelined" case here ran in order all the same.)"""
    real = client.Api.json

    def answer_never_read(api: client.Api, method: str, url: str, body: Any = None) -> Any:
        answer = real(api, method, url, body)
        if method == "PUT" and body == {"allow_modules_upload": True}:
            raise KeyboardInterrupt  # the cluster did it; the answer is never read
        return answer

    monkeypatch.setattr(client.Api, "json", answer_never_read)
    bundle = write_bundle(tmp_path / "put.zip", module_json(module_name="put"))
    with running_cluster(tmp_path / "data", allow_modules_upload=False) as closed:
        with pytest.raises(PublishInterrupted) as stopped:
            publishing.publish(bundle, connection(closed), allow_upload=True)
        assert not _switch(closed)
        assert stopped.value.message == "interrupted: put 10203 was not uploaded"
        assert "allow_modules_upload was turned on for this run and off again after" in stopped.value.details


def test_a_put_turning_uploads_on_that_got_no_answer_turns_them_off_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PUT reached the cluster but its answer did not come back (a timeout): the run failed
    and left allow_modules_upload on without a word."""
    real = client.Api.json

    def timed_out(api: client.Api, method: str, url: str, body: Any = None) -> Any:
        answer = real(api, method, url, body)
        if method == "PUT" and body == {"allow_modules_upload": True}:
            raise client.ClusterError(f"PUT {url}: no answer within 30 s")
        return answer

    monkeypatch.setattr(client.Api, "json", timed_out)
    bundle = write_bundle(tmp_path / "lost.zip", module_json(module_name="lost"))
    with running_cluster(tmp_path / "data", allow_modules_upload=False) as closed:
        with pytest.raises(client.ClusterError) as failed:
            publishing.publish(bundle, connection(closed), allow_upload=True)
        assert not _switch(closed)
        assert (
            failed.value.details[-1] == "allow_modules_upload was turned on for this run and off again after"
        )
