"""bench/bench_publish.py installs modpack into a virtual environment: a first install that
failed (pip needs an index for the dependencies) must not leave a venv that later runs only
refresh modpack in, without its dependencies, so every publish failed on an import."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.cli import CHECKOUT


def _bench(monkeypatch: pytest.MonkeyPatch, folder: Path) -> ModuleType:
    monkeypatch.setenv("MODPACK_BENCH_DIR", str(folder))
    spec = importlib.util.spec_from_file_location(
        "bench_publish_under_test", Path(CHECKOUT) / "bench" / "bench_publish.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def test_a_failed_first_install_is_done_again_with_the_dependencies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = _bench(monkeypatch, tmp_path)
    real, installs, offline = subprocess.run, [], [True]

    def run(args: list[str], **options: Any) -> Any:
        if args[0] == "git":
            return real(args, **options)
        if args[1:3] == ["-m", "venv"]:  # what venv makes first: the interpreter
            python = Path(args[-1]) / "bin" / "python"
            python.parent.mkdir(parents=True, exist_ok=True)
            python.write_text("")
            return subprocess.CompletedProcess(args, 0)
        installs.append(args)
        if offline[0]:
            raise subprocess.CalledProcessError(1, args)  # no index: the dependencies are not there
        return subprocess.CompletedProcess(args, 0)

    monkeypatch.setattr(bench.subprocess, "run", run)
    with pytest.raises(subprocess.CalledProcessError):
        bench.installed_python()
    offline[0] = False
    bench.installed_python()
    assert "--no-deps" not in installs[-1]  # the dependencies are installed this time
    bench.installed_python()
    assert "--no-deps" in installs[-1]  # and only modpack is refreshed once they are
