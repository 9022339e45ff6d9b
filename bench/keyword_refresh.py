"""How long bringing a store's keyword text up to the current analyzer takes
(rag/store/keyword_refresh.py), on a copy of a store made by `rag ingest`:

    RAG_DATA_DIR=/tmp/ja RAG_EMBED_MODEL=packaged HF_HUB_OFFLINE=1 \
        .venv/bin/python -m rag ingest ../shared/corpus/debian-reference-ja
    .venv/bin/python bench/keyword_refresh.py /tmp/ja

Three passes over the copy, timed: over the store as ingested (current: it only reads), after its
keyword text was set back to what stores before issue 23 hold (each chunk's `indexed_text` as it
is: the baseline, the same rewrite the other way), and the repair from there (what an upgraded
app does once at its start). Then, before the repair and after, how many of the top 10 keyword
hits for a word typed in the other katakana spelling hold it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from rag.settings import Settings
from rag.store.keyword_refresh import RefreshReport
from rag.store.vector_store import VectorStore, open_existing
from rag.text.keywords import ANALYZER_VERSION, keyword_text

# katakana typed without the final ー; the corpus writes ユーザー 161 times, ディレクトリー 140
PROBES = ["ユーザ", "ディレクトリ", "データ"]


def unchanged(text: str) -> str:
    """The keyword text of a store from before issue 23: the indexed text as it is."""
    return text


def timed(store: VectorStore, analyze, label: str) -> RefreshReport:
    report = store.keyword_refresh(analyze, ANALYZER_VERSION).rewrite()
    assert report is not None
    print(
        f"{label}: {report.scanned} chunks read, {report.rewritten} rewritten, {report.removed} extra "
        f"removed, {report.seconds:.1f} s"
    )
    return report


def found(store: VectorStore) -> str:
    """For each probe, how many of the top 10 keyword hits hold it as the corpus spells it (+ー)."""
    counts = []
    for word in PROBES:
        hits = store.search(None, keyword_text(word), 10, None, mode="keyword")
        counts.append(f"{word} {sum(word + 'ー' in hit.chunk.text for hit in hits)}/10")
    return ", ".join(counts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", help="RAG_DATA_DIR of a store made by `rag ingest` (it is copied)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as copy:
        shutil.copytree(args.data_dir, copy, dirs_exist_ok=True)
        Path(copy).chmod(0o700)  # the store's folder is private (rag/private_files.py)
        started = time.monotonic()
        store = open_existing(Settings.from_env(data_dir=copy))
        print(f"opened {store.count_chunks()} chunks in {time.monotonic() - started:.1f} s")
        try:
            timed(store, keyword_text, "pass over the current store")
            timed(store, unchanged, "set back to the old keyword text")
            print(f"top-10 keyword hits with the word before the repair: {found(store)}")
            timed(store, keyword_text, "repair")
            print(f"after the repair: {found(store)}")
            again = timed(store, keyword_text, "a second pass")
            assert again.rewritten == 0
        finally:
            store.close()


if __name__ == "__main__":
    main()
