"""Several processes on one store through a real Milvus server (milvus-lite 2.5 serving on 127.0.0.1).
The processes are forked from a server that has imported `rag` once (tests/cli_processes.py)."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from tests.cli_processes import run_python, run_rag, start_python


def env_for(uri: str, tmp_path: Path) -> dict:
    return os.environ | {
        "RAG_MILVUS_URI": uri,
        "RAG_EMBED_MODEL": "packaged",
        "HF_HUB_OFFLINE": "1",
        "RAG_DATA_DIR": str(tmp_path / "unused"),
    }


SEARCHER = textwrap.dedent("""
    import sys, time
    from rag.retrieval.library import Library
    from rag.settings import Settings
    from rag.types import SHARED_OWNER
    from rag.ingest.pipeline import collect_files
    from rag.ingest.pipeline import Ingestor
    lib = Library.open(Settings.from_env())
    searches = 0
    ingestor = Ingestor(lib.settings, lib.embedder, lib.store)
    results = ingestor.ingest_files(collect_files([sys.argv[1]]), SHARED_OWNER)
    assert all(r.status == "added" for r in results), results
    deadline = time.monotonic() + 300
    while searches < 20 or (not open(sys.argv[2]).read() and time.monotonic() < deadline):
        hits = lib.retrieve("Which machine runs the pump?", [SHARED_OWNER], k=3).hits
        searches += 1
    print("SEARCHES", searches, "DOCS", len(lib.store.list_documents([SHARED_OWNER])))
""")


def make_files(folder: Path, prefix: str, n: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"{prefix}-{i:02d}.md").write_text(
            f"# {prefix} note {i}\n\n" + f"Machine {prefix}{i} runs pump number {i} every day. " * (3 + i % 5)
        )
    return folder


def test_two_processes_ingest_and_search_one_server_store(milvus_uri, tmp_path):
    env = env_for(milvus_uri, tmp_path)
    set_a = make_files(tmp_path / "a", "alpha", 16)
    set_b = make_files(tmp_path / "b", "beta", 8)
    done_flag = tmp_path / "a-done"
    done_flag.write_text("")
    searcher = start_python(SEARCHER, [str(set_b), str(done_flag)], env)
    ingest = run_rag(["ingest", str(set_a)], env)
    done_flag.write_text("done")
    searched = searcher.wait()
    assert ingest.returncode == 0, ingest.stderr
    assert searched.returncode == 0, searched.stderr
    assert ingest.stdout.count(": added (") == 16
    assert "SEARCHES" in searched.stdout and int(searched.stdout.split()[1]) >= 20

    docs = run_rag(["docs"], env)
    listed = docs.stdout.splitlines()
    assert len(listed) == 24  # every document of both processes, none lost or doubled
    expected_chunks = sum(int(line.split("\t")[1].split()[0]) for line in listed)
    count = run_python(
        "from rag.retrieval.library import Library; from rag.settings import Settings;"
        "print(Library.open(Settings.from_env()).store.count_chunks())",
        [],
        env,
    )
    assert int(count.stdout.strip()) == expected_chunks
