"""The keyword text a caller gives is what a chunk row indexes; without one, `indexed_text` as before."""

import numpy as np
import pytest

from rag.store.rows import NewDocument, chunk_rows
from rag.types import Chunk

CHUNKS = [
    Chunk("d", "ja.md", 0, 0, "メモリを削減", "効率", "記事"),
    Chunk("d", "ja.md", 0, 1, "English text"),
]
VECTORS = np.zeros((2, 4), dtype=np.float32)


def test_without_keyword_texts_rows_index_the_indexed_text():
    rows = chunk_rows(NewDocument(CHUNKS, VECTORS, "o", "h", 1), now=0)
    assert [r["search_text"] for r in rows] == [c.indexed_text for c in CHUNKS]
    assert [r["text"] for r in rows] == ["メモリを削減", "English text"]


def test_given_keyword_texts_are_indexed_and_the_shown_text_is_unchanged():
    rows = chunk_rows(NewDocument(CHUNKS, VECTORS, "o", "h", 1, ["メモリ 削減", "English text"]), now=0)
    assert [r["search_text"] for r in rows] == ["メモリ 削減", "English text"]
    assert rows[0]["text"] == "メモリを削減"


def test_a_keyword_text_per_chunk_is_required():
    with pytest.raises(ValueError, match="1 keyword texts for 2 chunks"):
        chunk_rows(NewDocument(CHUNKS, VECTORS, "o", "h", 1, ["one"]), now=0)
