"""Reliability scenarios drive real processes: the app (`python app.py`) on the fake LLM backend
unless a scenario needs another engine, a Milvus Lite server, a stand-in LLM server. Figures go
to test-artifacts/reliability.json (docs/RELIABILITY.md records a run)."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import ARTIFACTS, start_app, stop_app

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
FIGURES = ARTIFACTS / "reliability.json"


def record(scenario: str, **figures: object) -> None:
    """Keep a scenario's measured figures for the reliability table. Locked: the test workers of a
    parallel run write to the one file."""
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / "reliability.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
        data[scenario] = figures
        FIGURES.write_text(json.dumps(data, indent=1))


def refusal(call) -> tuple[str, float]:
    """Run a call that must be refused; returns the error text and the seconds it took."""
    started = time.perf_counter()
    with pytest.raises(Exception) as info:
        call()
    return str(info.value), time.perf_counter() - started


def memory_mb(pid: int, field: str = "VmHWM") -> float:
    """A process's peak (VmHWM) or current (VmRSS) resident memory."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory):
    """The app with a slow fake model (so floods last), 4 chat slots and small workspaces."""
    process, url = start_app(
        tmp_path_factory.mktemp("hostile"),
        ARTIFACTS / "app-hostile.log",
        RAG_LLM_BACKEND="fake",
        RAG_FAKE_DELAY_S="0.4",
        RAG_CHAT_CONCURRENCY="4",
        RAG_MAX_WORKSPACE_DOCUMENTS="3",
    )
    yield process, url
    stop_app(process)
