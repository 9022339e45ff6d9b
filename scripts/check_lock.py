"""Check that this environment is its lock: every locked package installed at the locked version.

    .venv/bin/python scripts/check_lock.py requirements-cpu.lock

`make setup` and `make test` run it. A fresh resolve of an unpinned dependency once broke every
remote-model test (openai's `httpx2` moved to 2.17.0 under a warm venv that still had 2.16.2), so a
venv that drifted from the lock must fail loudly, by package name, before any test runs.
Exit status 0 when the environment matches, 1 (with one line per package) when it doesn't.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name
from packaging.version import Version

# Installed without being locked on purpose: the installer itself is not pinned by uv.
UNLOCKED = {"pip"}
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)\s*(?:;\s*([^\\#]+))?")


def locked_versions(lock: Path) -> dict[str, str]:
    """`name -> version` for every lock entry whose environment marker holds here."""
    pins: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        match = REQUIREMENT.match(line)
        if not match:
            continue  # hashes, comments, `# via` lines
        name, version, marker = match.groups()
        if marker and not Marker(marker.strip()).evaluate():
            continue
        pins[canonicalize_name(name)] = version
    return pins


def installed_versions() -> dict[str, str]:
    """What pip installed into this environment's site-packages (not copies that libraries vendor:
    importing pkg_resources puts setuptools' own `_vendor` packages on sys.path)."""
    site = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    return {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions(path=list(site))}


def differences(lock: Path, installed: dict[str, str] | None = None) -> list[str]:
    """One line per package that differs from the lock: wrong version, missing, or not locked."""
    pins = locked_versions(lock)
    installed = installed_versions() if installed is None else installed
    problems = []
    for name, version in sorted(pins.items()):
        have = installed.get(name)
        if have is None:
            problems.append(f"{name}: missing (the lock has {version})")
        elif Version(have) != Version(version):
            problems.append(f"{name}: {have} installed, the lock has {version}")
    for name in sorted(set(installed) - set(pins) - UNLOCKED):
        problems.append(f"{name}: {installed[name]} installed, not in the lock")
    return problems


def main(argv: list[str]) -> int:
    lock = Path(argv[1] if len(argv) > 1 else "requirements-cpu.lock")
    problems = differences(lock)
    if not problems:
        print(f"environment matches {lock} ({len(locked_versions(lock))} packages)")
        return 0
    print(f"this environment is not {lock}: {len(problems)} package(s) differ", file=sys.stderr)
    for line in problems:
        print(f"  {line}", file=sys.stderr)
    print(
        "fix: rm -rf .venv && make setup (or, after editing requirements*.txt on purpose, make lock)",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
