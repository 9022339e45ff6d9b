import re

import pytest

from rag.types import AnswerChecks, Chunk, Hit
from rag.web.render import chat_markdown, chat_text, stats_lines
from rag.web.sources import sources_html


def test_sources_show_the_section_path_above_the_chunk_escaped():
    chunk = Chunk("d", "index.md", 0, 4, "M limits the degree.", "HNSW › <b>Params</b>", "In-memory Index")
    panel = sources_html([Hit(1, 0.61, chunk)])
    assert '<div class="rag-section">In-memory Index › HNSW › &lt;b&gt;Params&lt;/b&gt;</div>' in panel
    assert panel.index("rag-section") < panel.index("M limits the degree.")
    plain = sources_html([Hit(1, 0.5, Chunk("d", "a.txt", 0, 0, "text"))])
    assert "rag-section" not in plain


# Where a diagram's fence can sit in a message; Gradio's Chatbot drew each one (tests/e2e/test_inert_chat.py)
FENCES = {
    "line start": "```mermaid\ngraph TD\n  A --> B\n```",
    "block quote": "Note:\n> ```mermaid\n> graph TD\n>   A --> B\n> ```",
    "nested block quote": "> > ```mermaid\n> > graph TD\n> > ```",
    "list item": "- first\n- ```mermaid\n  graph TD\n  ```",
    "ordered list item": "1) ```mermaid\n   graph TD\n   ```",
    "quote in a list": "* > ```mermaid\n  > graph TD\n  > ```",
    "indented": "   ```mermaid\n   graph TD\n   ```",
    "tildes": "~~~mermaid\ngraph TD\n~~~",
    "long fence": "`````mermaid\ngraph TD\n`````",
    "upper case": "```MERMAID\ngraph TD\n```",
    "mixed case, space, tab": "``` \tMerMaid\ngraph TD\n```",
    "one-character paragraph before it": "a```mermaid\ngraph TD\n```",
    "carriage returns": "x\r```mermaid\rgraph TD\r```",
    "info after the name": "```mermaid title\ngraph TD\n```",
}
OPENER = re.compile(r"(`{3,}|~{3,})\s*mermaid", re.IGNORECASE)  # wider than Gradio's own ```mermaid


@pytest.mark.parametrize("where", FENCES)
def test_chat_markdown_leaves_no_mermaid_fence_anywhere(where):
    text = FENCES[where]
    shown = chat_markdown(text)
    assert OPENER.search(shown) is None
    assert shown.replace("\u200b", "") == text  # the same text to read: only a zero-width space added
    assert chat_text(shown) == text  # and the model gets its own words back in the history
    assert chat_markdown(chat_text(shown)) == chat_markdown(shown) == shown  # history shown again


def test_chat_markdown_keeps_other_fences_and_the_word_mermaid():
    text = "```python\nprint(1)\n```\n~~~\nplain\n~~~\nA mermaid diagram, `mermaid` inline."
    assert chat_markdown(text) == text


def test_chat_markdown_neutralises_every_diagram_images_and_html_together():
    text = '> ```mermaid\n> A["<img src=\'http://x/a.png\'>"]\n> ```\n- ![i](http://x/b.png) <img src="http://x/c">'
    shown = chat_markdown(text)
    assert OPENER.search(shown) is None and "<" not in shown and "![" not in shown
    assert chat_text(shown) == text


def test_a_message_from_the_browser_keeps_only_a_valid_turn_id():
    from rag.web.render import kept_metadata, turn_metadata
    from rag.workspace.conversations import SavedTurn

    CONVERSATION = "0123456789abcdef" * 2  # a conversation id is 32 hex digits

    saved = {"role": "assistant", "content": "x", "metadata": turn_metadata(SavedTurn(CONVERSATION, 2))}
    assert kept_metadata(saved) == {"metadata": {"id": f"turn:{CONVERSATION}:2"}}
    forged = {
        "role": "assistant",
        "content": "x",
        "metadata": {"id": f"turn:{CONVERSATION}:2", "title": "<b>", "log": "x" * 10**5},
    }
    assert kept_metadata(forged) == {"metadata": {"id": f"turn:{CONVERSATION}:2"}}  # the extras are dropped
    assert kept_metadata({"role": "assistant", "content": "x", "metadata": {"title": "hi"}}) == {}
    assert kept_metadata({"role": "user", "content": "x", "metadata": {"id": f"turn:{CONVERSATION}:2"}}) == {}


def test_the_lines_under_an_answer_draw_the_saved_checks_and_keep_an_old_saved_line():
    checks = AnswerChecks((1, 3), (3,))
    assert stats_lines("fake · 9 tokens", checks) == (
        "fake · 9 tokens  \n⚠ Checks: cites [3] but there is no such source (cites [1])"
    )
    old = "fake · 9 tokens  \n✓ Checks: cites [1]"  # saved before the checks were kept as data
    assert stats_lines(old, None) == old and stats_lines("Error: see the answer") == "Error: see the answer"
