"""modpack.loadability: ELF facts against the platform policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from modpack import loadability, policy
from tests.elf_cases import builder
from tests.elf_cases.builder import Spec
from tests.support.elf import info_of, needing
from tests.support.platforms import supported_os_ids


def test_every_policy_os_parses() -> None:
    systems = loadability.platforms()
    assert [p.os_id for p in systems] == list(policy.operating_systems())
    rhel9 = loadability.platform("rocky9")
    assert rhel9 is not None
    assert rhel9.os_id == "rhel9"
    assert rhel9.limit("GCC", "aarch64") == (11, 0)
    assert loadability.platform("solaris11") is None


def test_a_status_the_policy_does_not_know_is_an_error_naming_the_os(monkeypatch: pytest.MonkeyPatch) -> None:
    systems = {os_id: dict(entry) for os_id, entry in policy.operating_systems().items()}
    systems["rhel9"]["status"] = "beta"
    monkeypatch.setattr(policy, "operating_systems", lambda: systems)
    loadability._all_platforms.cache_clear()
    try:
        with pytest.raises(ValueError) as refused:
            loadability.platforms()
    finally:
        loadability._all_platforms.cache_clear()  # the next caller reads the real policy again
    assert str(refused.value) == "modpack/data/platforms.json: rhel9 has status 'beta'"


def test_glibc_blocker_names_versions_and_symbols(tmp_path: Path) -> None:
    info = info_of(tmp_path, needing("GLIBC_2.2.5", "GLIBC_2.30", "GLIBC_2.34"))
    [blocker] = loadability.blockers(info, "rhel8")
    assert blocker.kind == "GLIBC"
    assert blocker.needed == "GLIBC_2.34"
    assert blocker.available == "2.28"
    assert blocker.symbols == ("f_GLIBC_2.34@GLIBC_2.34", "f_GLIBC_2.30@GLIBC_2.30")
    assert not loadability.blockers(info, "rhel9")
    assert loadability.loadable_systems(info) == ["rhel9", "ubuntu22", "amzn2023"]
    assert loadability.oldest_loadable(info) == "rhel9"


def test_dt_relr_counts_as_glibc_2_36(tmp_path: Path) -> None:
    spec = Spec(verneed={"libc.so.6": ("GLIBC_2.2.5", "GLIBC_ABI_DT_RELR")})
    info = info_of(tmp_path, spec)
    [blocker] = loadability.blockers(info, "ubuntu22")
    assert blocker.needed == "GLIBC_ABI_DT_RELR (glibc 2.36)"
    # a marker node: no symbol pulls it in, the packed relocations do (platforms.json marker_causes)
    assert blocker.symbols == (
        "the packed relative relocations of -z pack-relative-relocs, which -z nopack-relative-relocs leaves out",
    )
    assert loadability.loadable_systems(info) == []


@pytest.mark.parametrize(
    ("version", "library", "blocked_on", "loads_on"),
    [
        ("GLIBCXX_3.4.30", "libstdc++.so.6", "rhel9", "ubuntu22"),
        ("CXXABI_1.3.13", "libstdc++.so.6", "ubuntu20", "rhel9"),
        ("GCC_12.0.0", "libgcc_s.so.1", "rhel9", "ubuntu22"),
    ],
)
def test_cxx_runtime_limits(
    tmp_path: Path, version: str, library: str, blocked_on: str, loads_on: str
) -> None:
    info = info_of(tmp_path, needing(version, library=library))
    assert [b.kind for b in loadability.blockers(info, blocked_on)] == [version.split("_", maxsplit=1)[0]]
    assert not loadability.blockers(info, loads_on)


def test_gcc_limit_is_per_architecture(tmp_path: Path) -> None:
    # ubuntu22 ships libgcc_s with GCC_12.0.0 on x86_64 but only GCC_11.0 on aarch64 (elf.md §3).
    x86 = info_of(tmp_path, needing("GCC_12.0.0", library="libgcc_s.so.1"))
    arm = info_of(tmp_path, needing("GCC_12.0.0", library="libgcc_s.so.1", machine=builder.EM_AARCH64))
    assert not loadability.blockers(x86, "ubuntu22")
    assert [b.kind for b in loadability.blockers(arm, "ubuntu22")] == ["GCC"]


def test_equal_versions_with_trailing_zeros_load(tmp_path: Path) -> None:
    arm = info_of(tmp_path, needing("GCC_11.0.0", library="libgcc_s.so.1", machine=builder.EM_AARCH64))
    assert not loadability.blockers(arm, "rhel9")  # policy says "11.0"


def test_architecture_not_shipped(tmp_path: Path) -> None:
    arm = info_of(tmp_path, Spec(machine=builder.EM_AARCH64))
    [blocker] = loadability.blockers(arm, "rhel8")
    assert (blocker.kind, blocker.needed, blocker.available) == ("architecture", "aarch64", "x86_64")
    assert loadability.loadable_systems(arm) == ["rhel9", "ubuntu22", "amzn2023"]


def test_execstack_only_blocks_from_glibc_2_41(tmp_path: Path) -> None:
    info = info_of(tmp_path, Spec(stack_flags=7))
    assert loadability.execstack_refused_from() == (2, 41)
    assert all(
        not loadability.refuses_execstack(p) for p in loadability.platforms()
    )  # true of the policy today
    rhel9 = loadability.platform("rhel9")
    assert rhel9 is not None
    future = rhel9._replace(os_id="future", glibc=(2, 41))
    assert [b.kind for b in loadability.blockers(info, future)] == ["execstack"]
    assert not loadability.blockers(info, rhel9)


def test_musl_loads_nowhere(tmp_path: Path) -> None:
    info = info_of(tmp_path, Spec(needed=("libc.musl-x86_64.so.1",), verneed={}))
    assert [b.kind for b in loadability.blockers(info, "rhel9")] == ["libc"]
    assert loadability.loadable_systems(info) == []
    assert loadability.oldest_loadable(info) is None


def test_only_supported_systems_are_listed(tmp_path: Path) -> None:
    info = info_of(tmp_path, Spec())
    loadable = loadability.loadable_systems(info)
    assert loadable == supported_os_ids()  # every supported OS ships x86_64
    assert "rhel7" not in loadable
    assert loadability.oldest_loadable(info) == "rhel8"


def test_the_oldest_loadable_os_judges_each_supported_os_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """oldest_loadable judged every supported OS again for each OS of the policy (the set of
    loadable ones rebuilt inside its comprehension): 2 ms of every `modpack validate` of a
    modpack.toml whose .so is read."""
    info = info_of(tmp_path, Spec())
    judged: list[str] = []
    original = loadability.blockers
    monkeypatch.setattr(loadability, "blockers", lambda i, p: judged.append(p.os_id) or original(i, p))
    assert loadability.oldest_loadable(info) == "rhel8"
    assert judged == supported_os_ids()


def test_unknown_target_is_a_key_error(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        loadability.blockers(info_of(tmp_path, Spec()), "plan9")
