"""Multiprocessing children of a process that imported `rag` end when it dies (fork and spawn, as
vLLM starts its engine core), and live as long as it does. The app-level test with the real engine
is tests/reliability/test_shutdown.py; this one takes seconds."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engine_support import process_running, wait_until

ROOT = Path(__file__).resolve().parent.parent
PARENT = """
import multiprocessing
import sys
import time

import rag  # noqa: F401  (as app.py does: a spawn child re-imports this file, and so rag)


def sleep_long():
    time.sleep(600)


if __name__ == "__main__":
    child = multiprocessing.get_context(sys.argv[1]).Process(target=sleep_long)
    child.start()
    print(child.pid, flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_child_lives_with_its_parent_and_ends_after_it(tmp_path, method):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen(
        [sys.executable, str(script), method],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    child = int(parent.stdout.readline())
    try:
        time.sleep(1.5)  # the watcher is running by now: a child that wrongly thinks it is orphaned ends
        assert process_running(child), "the child ended while its parent was alive"
        parent.kill()
        parent.wait(timeout=10)
        assert wait_until(lambda: not process_running(child), 20) is not None, (
            f"{method} child {child} outlived its parent"
        )
    finally:
        for pid in (parent.pid, child):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


EXIT_AFTER_SHUTDOWN = """
import atexit, sys, time
from rag.lifecycle import exit_after_shutdown
atexit.register(lambda: (print("atexit ran", flush=True), time.sleep(float(sys.argv[2]))))
try:
    if sys.argv[1] == "sigterm":
        raise SystemExit(0)  # what exit_on_sigterm raises when uvicorn hands SIGTERM back
    raise RuntimeError("the server failed")
finally:
    print("stopped", flush=True)
    exit_after_shutdown()
"""


def test_after_the_shutdown_a_slow_interpreter_exit_is_skipped():
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", EXIT_AFTER_SHUTDOWN, "sigterm", "60"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (0, "stopped\n"), done.stderr
    assert time.monotonic() - began < 30  # not the 60 s atexit handler


def test_an_error_still_prints_its_traceback_and_runs_atexit():
    done = subprocess.run(
        [sys.executable, "-c", EXIT_AFTER_SHUTDOWN, "error", "0"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert done.stdout == "stopped\natexit ran\n"
    assert "RuntimeError: the server failed" in done.stderr
