"""Past 16,384 documents (one Milvus query's limit): listing, clean-up and counting see every row.

Real Milvus Lite; the rows are written through the store's bulk path with cheap 4-dimensional
vectors instead of embedding 33,000 texts.
"""

import time
from pathlib import Path

import numpy as np
import pytest

from rag.settings import Settings
from rag.store.vector_store import NewDocument, VectorStore
from rag.types import Chunk
from rag.workspace.conversations import ConversationStore
from rag.workspace.owners import ANON_PREFIX, WorkspaceJanitor

BIG_OWNER = "user:alice"
N_BIG = 16_500  # one owner with more documents than a single query returns
N_ANON_OWNERS = 300
N_ANON_DOCS = 16_800  # 56 per anonymous workspace, more chunk-0 rows than a single query returns


def _docs(prefix: str, owners: list[str], n: int) -> list[NewDocument]:
    rng = np.random.default_rng(len(prefix))
    vectors = rng.standard_normal((n, 4)).astype(np.float32)
    return [
        NewDocument(
            [Chunk(f"{prefix}{i}", f"{prefix}{i}.txt", 0, 0, "t")],
            vectors[i : i + 1],
            owners[i % len(owners)],
            "h",
            1,
        )
        for i in range(n)
    ]


@pytest.mark.slow
def test_listing_cleanup_and_counts_page_past_the_query_limit(settings: Settings):
    store = VectorStore(settings, 4, "m")
    anon = [f"{ANON_PREFIX}{i:032x}" for i in range(N_ANON_OWNERS)]
    try:
        store.add_documents(_docs("big", [BIG_OWNER], N_BIG))
        store.add_documents(_docs("anon", anon, N_ANON_DOCS))
        assert store.count_documents() == store.count_chunks() == N_BIG + N_ANON_DOCS

        listed = store.list_documents([BIG_OWNER])
        assert len(listed) == N_BIG == len({d.doc_id for d in listed})
        assert store.find_document("big16499") is not None

        last_added = store.owners_last_added(ANON_PREFIX)
        assert sorted(last_added) == anon

        # half the workspaces are still in use; the sweep deletes exactly the other half
        conversations = ConversationStore(Path(settings.store.data_dir) / "conversations.db")
        janitor = WorkspaceJanitor(store, conversations, ttl_s=3600, clock=lambda: time.time() + 7200)
        for owner in anon[::2]:
            janitor.touch(owner)
        swept = janitor.sweep()
        assert sorted(swept) == sorted(anon[1::2])
        kept = N_ANON_DOCS // 2
        assert store.count_documents(anon) == kept
        assert store.count_documents() == N_BIG + kept
        assert sorted(store.owners_last_added(ANON_PREFIX)) == anon[::2]
        assert len(store.list_documents(anon[::2])) == kept
    finally:
        store.close()
