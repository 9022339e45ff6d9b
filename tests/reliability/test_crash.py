"""`kill -9` while documents are written: after a restart the store holds only listed documents,
every listed document has exactly its chunks, search never returns a half-written or superseded
version, and ingesting again completes.

Two ways in: random kills of `python -m rag ingest` over a 30-file folder, and kills at the two
narrow windows (a version half written; a new version complete but the old one not yet deleted),
placed exactly by a process that patches the store to kill itself there. The processes are forked
from a server that has imported the CLI's modules once (tests/cli_processes.py)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import textwrap
import time
from pathlib import Path

from milvus_lite.server_manager import server_manager_instance

from rag.embedding.embedder import Embedder
from rag.retrieval.library import Library
from rag.settings import Settings
from rag.store.vector_store import VectorStore
from rag.types import SHARED_OWNER
from tests.cli_processes import run_python, run_rag, start_rag
from tests.reliability.conftest import record

KILL_AT = textwrap.dedent("""
    import os, signal, sys
    import rag.store.versions as store
    point, calls = sys.argv[1], {"n": 0}
    def dying(original, after):
        def wrapper(self, *args, **kwargs):
            result = original(self, *args, **kwargs)
            calls["n"] += 1
            if calls["n"] >= after:
                os.kill(os.getpid(), signal.SIGKILL)
            return result
        return wrapper
    if point == "mid-write":    # after the first batch of chunks of a new version
        store.INSERT_BATCH = 5
        store.DocumentVersions._insert_batch = dying(store.DocumentVersions._insert_batch, 1)
    else:                       # the new version is live, the old one not yet deleted
        store.DocumentVersions._commit_version = dying(store.DocumentVersions._commit_version, 1)
    from rag.cli import main
    sys.exit(main(["ingest", *sys.argv[2:]]))
""")


def env_for(data: Path) -> dict:
    return os.environ | {"RAG_DATA_DIR": str(data), "RAG_EMBED_MODEL": "packaged", "HF_HUB_OFFLINE": "1"}


def wait_released(db: str, timeout: float = 120) -> None:
    """Until no Milvus Lite server has `db` open. The server of a process that closed the file (or
    was killed) stops only once it notices its lock was released: seconds on a busy machine, and a
    process opening the file meanwhile failed ("Open local milvus failed")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        serving = False
        for entry in Path("/proc").iterdir():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0") if entry.name.isdigit() else []
            except OSError:
                continue
            serving = serving or (bool(argv) and argv[0].endswith(b"/milvus") and db.encode() in argv)
        if not serving:
            return
        time.sleep(0.2)
    raise TimeoutError(f"a Milvus Lite server still has {db} open after {timeout:.0f} s")


def check(data: Path, embedder: Embedder, *probes: str) -> dict:
    """The store as the next process finds it (opening it repairs interrupted writes): listed
    documents, whether each has exactly its chunks, stray chunks, and for each probe word how many
    of the top 10 chunks for "<word> bridge" contain it. Opened here, not in a new process: the
    test process has the model loaded already (a process costs ~6 s of imports), and it lets the
    file go again before the next process opens it."""
    settings = Settings.from_env(env_for(data))  # the store the processes wrote
    wait_released(settings.store.milvus_target)  # a killed process's server may still be stopping
    library = None
    try:
        library = Library(settings, embedder, VectorStore(settings, embedder.dim, embedder.name))
        store = library.store
        docs = store.list_documents([SHARED_OWNER])
        exact = all(store.count_version(d.doc_id, d.content_hash) == d.chunks for d in docs)
        extra = store.count_chunks() - sum(d.chunks for d in docs)
        found = {}
        for word in probes:
            hits = library.retrieve(f"{word} bridge", [SHARED_OWNER], k=10).hits
            found[word] = sum(word in h.chunk.text for h in hits)
        return {"docs": {d.source: d.chunks for d in docs}, "exact": exact, "extra": extra, "found": found}
    finally:
        if library is not None:
            library.close()
        server_manager_instance.release_server(settings.store.milvus_target)
        wait_released(settings.store.milvus_target)  # before the next process opens the file


def ingest(data: Path, *paths: Path) -> subprocess.CompletedProcess:
    return run_rag(["ingest", *map(str, paths)], env_for(data))


def make_folder(folder: Path, n: int = 30) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        body = f"Note {i} about the harbour. " * (20 + 15 * (i % 4))  # 1 to 5 chunks each
        (folder / f"note-{i:02d}.md").write_text(f"# Note {i}\n\n{body}")
    return folder


def test_random_kill_9_during_a_multi_file_ingest_leaves_a_consistent_store(tmp_path, embedder):
    folder = make_folder(tmp_path / "notes")
    data = tmp_path / "data"
    rng = random.Random(7)
    kills = []
    for attempt in range(3):
        process = start_rag(["ingest", str(folder)], env_for(data))
        assert process.wait_for_stderr("storing"), process.stderr_so_far()  # documents are being written
        time.sleep(rng.uniform(0.0, 3.0))
        process.kill()
        process.wait()
        state = check(data, embedder)
        kills.append(len(state["docs"]))
        assert state["exact"] and state["extra"] == 0, (attempt, state)
    again = ingest(data, folder)
    assert again.returncode == 0, again.stdout + again.stderr
    assert sum(": added (" in line or ": unchanged" in line for line in again.stdout.splitlines()) == 30
    final = check(data, embedder)
    assert len(final["docs"]) == 30 and final["exact"] and final["extra"] == 0, final
    record(
        "kill -9 during a 30-file ingest (3 tries)",
        documents_after_each_kill=kills,
        chunks_lost=0,
        extra_chunks=0,
    )


def test_kill_9_at_the_two_narrow_windows(tmp_path, embedder):
    data = tmp_path / "data"
    old, new = tmp_path / "v1", tmp_path / "v2"
    old.mkdir()
    new.mkdir()
    (old / "bridge.md").write_text("# Bridge\n\n" + "Oldtext the bridge opens at dawn. " * 60)
    (new / "bridge.md").write_text("# Bridge\n\n" + "Newtext the bridge opens at noon. " * 300)  # 20+ chunks
    figures = {}
    for point in ("mid-write", "after-commit"):
        assert ingest(data, old / "bridge.md").returncode == 0  # the old version is the document
        before = check(data, embedder, "Oldtext", "Newtext")
        assert before["found"]["Oldtext"] and not before["found"]["Newtext"], before
        killed = run_python(KILL_AT, [point, str(new / "bridge.md")], env_for(data))
        assert killed.returncode == -signal.SIGKILL, (point, killed.returncode, killed.stderr[-2000:])
        state = check(data, embedder, "Oldtext", "Newtext")
        assert state["exact"] and state["extra"] == 0, (point, state)
        found = state["found"]
        assert not (found["Oldtext"] and found["Newtext"]), (point, state)  # never side by side
        if point == "mid-write":
            assert state == before, state  # the half-written version is gone; the old one stands
        else:
            assert found["Newtext"] and not found["Oldtext"], state  # the complete new version won
        figures[point] = {"listed": state["docs"], "search": found}
        # and the file goes in (or is found unchanged) when it is ingested again
        again = ingest(data, new / "bridge.md")
        assert again.returncode == 0 and ("replaced" in again.stdout or "unchanged" in again.stdout), (
            again.stdout
        )
    record("kill -9 at the two windows", **figures)
