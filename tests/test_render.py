from rag.render import sources_html
from rag.types import Chunk, Hit


def test_sources_show_the_section_path_above_the_chunk_escaped():
    chunk = Chunk("d", "index.md", 0, 4, "M limits the degree.", "HNSW › <b>Params</b>", "In-memory Index")
    panel = sources_html([Hit(1, 0.61, chunk)])
    assert '<div class="rag-section">In-memory Index › HNSW › &lt;b&gt;Params&lt;/b&gt;</div>' in panel
    assert panel.index("rag-section") < panel.index("M limits the degree.")
    plain = sources_html([Hit(1, 0.5, Chunk("d", "a.txt", 0, 0, "text"))])
    assert "rag-section" not in plain
