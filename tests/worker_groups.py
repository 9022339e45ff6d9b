"""Which tests share a pytest-xdist worker, and in what order the workers take them.

`make test` runs the suite on two workers: most tests wait on other processes (the app, servers,
the CLI) and leave a core idle. Tests run together on one worker when they share something
started once per process: the real engine and the vLLM server (`engine_llm`, `vllm_server_url`),
or the session's app (`app_url`, whose browser tests follow each other's steps). Any other module
is a group of its own, so its module fixtures are set up once.

pytest-xdist's own `--dist loadgroup` marks groups by renaming node ids, which pytest 9 ignores
(the groups silently split). So the workers, which see each test's fixtures, write the groups to a
file, and the controller's scheduler (`pytest_xdist_make_scheduler`) reads them from it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

GROUPS_FILE_ENV = "RAG_TEST_GROUPS_FILE"
SHARED_ENGINE_FIXTURES = {"engine_llm", "vllm_server_url"}
SLOW_MARKERS = {"engine", "browser", "slow"}


def module_of(nodeid: str) -> str:
    return nodeid.split("::")[0]


def group_of(item: pytest.Item, app_modules: set[str]) -> str:
    if set(getattr(item, "fixturenames", ())) & SHARED_ENGINE_FIXTURES:
        return "engine"
    module = module_of(item.nodeid)
    return "app" if module in app_modules else module


def group_and_order(items: list[pytest.Item]) -> dict[str, str]:
    """Each test's group; on a worker, the slow groups move to the front (a worker takes the groups
    in this order, and a slow one taken last would leave the other worker idle at the end)."""
    app_modules = {module_of(i.nodeid) for i in items if "app_url" in getattr(i, "fixturenames", ())}
    groups = {item.nodeid: group_of(item, app_modules) for item in items}
    slow = {
        groups[item.nodeid]
        for item in items
        if "reliability" in item.path.parts or SLOW_MARKERS & {m.name for m in item.iter_markers()}
    }
    if os.environ.get(GROUPS_FILE_ENV):  # in one process, keep each module's tests together
        items.sort(key=lambda item: groups[item.nodeid] not in slow)  # stable: groups keep their order
    return groups


def share_with_controller(groups: dict[str, str]) -> None:
    """On a worker: write the groups where the controller's scheduler reads them (every worker
    collects the same tests, so they write the same file)."""
    path = os.environ.get(GROUPS_FILE_ENV)
    if not path:
        return
    partial = f"{path}.{os.getpid()}"
    Path(partial).write_text(json.dumps(groups))
    os.replace(partial, path)


def prepare_controller(config: pytest.Config) -> None:
    """Before the workers start (they inherit the environment): where they write the groups."""
    if getattr(config, "workerinput", None) is None and config.getoption("numprocesses", None):
        handle, path = tempfile.mkstemp(prefix="rag-test-groups-", suffix=".json")
        os.close(handle)
        os.environ[GROUPS_FILE_ENV] = path
        config.add_cleanup(lambda: Path(path).unlink(missing_ok=True))


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    """A scheduler that sends each group whole to one worker, in collection order."""
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False  # the order above, not the largest group first

    class GroupScheduling(LoadScopeScheduling):
        _groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self._groups is None:  # the workers wrote it before reporting their collection
                self._groups = read_groups()
            return self._groups.get(nodeid) or module_of(nodeid)

    return GroupScheduling(config, log)


def read_groups() -> dict[str, str]:
    """The workers' groups; none (each module a group) if they wrote nothing, e.g. workers started
    with `--tx` and no `-n`."""
    path = Path(os.environ.get(GROUPS_FILE_ENV) or "/nonexistent")
    text = path.read_text() if path.is_file() else ""
    return json.loads(text) if text else {}
