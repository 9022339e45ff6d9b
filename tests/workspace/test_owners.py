"""Workspaces through the web handlers: a browser key reopens its documents and conversations, Hugging
Face users keep theirs on every device, deleting a workspace removes everything, and the janitor
removes only workspaces nobody used within the TTL (also when two app processes share a store)."""

from __future__ import annotations

import asyncio
import hashlib

import gradio as gr
import pytest

from rag.web.handlers import WebApp
from rag.workspace.owners import WORKSPACE_COOKIE, WorkspaceJanitor, key_owner, new_workspace_key


class Session:
    """Stands in for gr.Request: a browser tab (a new one per page load)."""

    username = None

    def __init__(self, session_hash: str) -> None:
        self.session_hash = session_hash
        # an API client's workspace key, as the server sets it on /config (one per client here)
        self.cookies = {"rag_workspace": hashlib.md5(session_hash.encode()).hexdigest()}


def profile(username: str, sub: str | None = None) -> gr.OAuthProfile:
    """What Gradio injects for a user signed in with Hugging Face (the route reads it from the session):
    the OpenID userinfo claims, `sub` (the account's id) included."""
    claims = {"preferred_username": username, "name": username, "picture": "", "profile": ""}
    return gr.OAuthProfile(claims | {"sub": sub or f"id-of-{username}"})


def upload(app: WebApp, tmp_path, name: str, text: str, key: str, request, who=None) -> str:
    path = tmp_path / name
    path.write_text(text)
    report, *_ = app.ingest([str(path)], key, request, who, progress=None)
    return report


def names(app: WebApp, key: str, request, who=None) -> list[str]:
    return [record["name"] for record in app.list_documents(key, request, who)[0] if not record["shared"]]


def ask(app: WebApp, question: str, key: str, request, conversation: str = "", who=None) -> list[tuple]:
    async def collect():
        return [step async for step in app.chat(question, [], None, False, key, conversation, request, who)]

    return asyncio.run(collect())


def test_a_reload_reopens_the_workspace_and_its_conversation(assistant, tmp_path):
    app = WebApp(assistant)
    key, _, conversation, *_ = app.restore("", "", Session("tab-1"), None)
    assert key_owner(key) is not None and conversation == ""
    assert "kettles.md: added" in upload(
        app, tmp_path, "kettles.md", "The blue kettle boils fast.", key, Session("tab-1")
    )
    steps = ask(app, "How fast does the kettle boil?", key, Session("tab-1"))
    conversation = steps[-1][4]
    assert conversation

    # a reload: a new session hash, the same key and conversation from the browser's storage
    page = app.restore(key, conversation, Session("tab-2"), None)
    assert page.workspace == page.stored_key == key
    assert page.conversation == page.stored_conversation == conversation
    messages = page.chatbot
    assert [m["role"] for m in messages] == ["user", "assistant"] and "kettle" in messages[0]["content"]
    assert "kettles.md" in page.sources and page.stats.startswith("fake")
    assert page.conversations["choices"] == [("How fast does the kettle boil?", conversation)]
    assert [label for label, _ in page.docs["choices"]] == ["kettles.md (1 chunks)"]

    # another browser (another key) sees neither
    other, *_ = app.restore("", "", Session("tab-3"), None)
    assert other != key and names(app, other, Session("tab-3")) == []
    assert app.open_conversation(conversation, other, Session("tab-3"), None)[0] == ""


def test_a_forged_or_empty_key_gets_a_new_workspace(assistant):
    app = WebApp(assistant)
    forged, *_ = app.restore("../../anon:someone", "", Session("t"), None)
    assert key_owner(forged) is not None and forged != "../../anon:someone"


def test_hugging_face_user_has_one_workspace_everywhere_invisible_to_others(assistant, tmp_path):
    app = WebApp(assistant)
    upload(
        app,
        tmp_path,
        "ann.md",
        "Ann keeps the key under the flowerpot.",
        "",
        Session("laptop"),
        profile("ann"),
    )
    phone_key = new_workspace_key()  # another device: another browser key, same account
    assert names(app, phone_key, Session("phone"), profile("ann")) == ["ann.md"]
    assert names(app, phone_key, Session("phone")) == []  # the same browser, signed out
    assert names(app, "", Session("laptop"), profile("bob")) == []


def test_a_hugging_face_workspace_follows_the_account_not_its_username(assistant, tmp_path):
    """Issue 19, point 12: Ann renames her account to "ann-b"; someone else then registers "ann".
    Ann keeps her documents; the new "ann" doesn't get them."""
    app = WebApp(assistant)
    upload(app, tmp_path, "ann.md", "Ann's private note.", "", Session("s1"), profile("ann", "64a0c1"))
    assert names(app, "", Session("s2"), profile("ann-b", "64a0c1")) == ["ann.md"]
    assert names(app, "", Session("s3"), profile("ann", "77ff02")) == []
    claims = {"preferred_username": "ann", "name": "", "picture": "", "profile": ""}  # no sub: refused
    with pytest.raises(gr.Error, match="account id"):
        app.owner("", Session("s4"), gr.OAuthProfile(claims))


class ApiClient:
    """Stands in for gr.Request of an API client: its session hash (which the client picks) and the
    workspace key the server set in its cookie on /config (or none, for a raw HTTP client)."""

    username = None

    def __init__(self, session_hash: str, key: str | None) -> None:
        self.session_hash = session_hash
        self.cookies = {WORKSPACE_COOKIE: key} if key else {}


def test_an_api_client_reusing_another_clients_session_hash_does_not_get_its_workspace(assistant, tmp_path):
    """Issue 19, point 9: the workspace follows the server-issued key, not the session hash."""
    app = WebApp(assistant)
    mine = ApiClient("uuid-of-client-1", new_workspace_key())
    upload(app, tmp_path, "private.md", "Client one's private note.", "", mine)
    assert names(app, "", mine) == ["private.md"]
    intruder = ApiClient("uuid-of-client-1", new_workspace_key())  # same hash, its own key
    assert names(app, "", intruder) == []
    with pytest.raises(gr.Error, match=WORKSPACE_COOKIE):  # a hash and no key: no workspace at all
        names(app, "", ApiClient("uuid-of-client-1", None))
    later = ApiClient("another-session", mine.cookies[WORKSPACE_COOKIE])  # the key reopens it
    assert names(app, "", later) == ["private.md"]


def test_require_login_refuses_anonymous_visitors(assistant):
    assistant.settings = assistant.settings.replace(require_login=True)
    app = WebApp(assistant)
    with pytest.raises(gr.Error, match="Sign in"):
        app.restore("", "", Session("t"), None)
    assert app.restore("", "", Session("t"), profile("ann"))[0]  # signed in: fine


def test_deleting_the_workspace_removes_documents_chunks_and_conversations(assistant, tmp_path):
    app = WebApp(assistant)
    key = new_workspace_key()
    upload(app, tmp_path, "a.md", "Alpha notes about owls.", key, Session("t"))
    conversation = ask(app, "What about owls?", key, Session("t"))[-1][4]
    owner = key_owner(key)
    assert assistant.library.store.count_chunks([owner]) == 1 and assistant.conversation_list(owner)

    new_key, *_, conversations, docs, _ = app.delete_workspace(key, Session("t"), None)
    assert new_key != key and docs["choices"] == [] and conversations["choices"] == []
    assert assistant.library.store.count_chunks([owner]) == 0
    assert assistant.conversation_list(owner) == [] and assistant.conversation(owner, conversation) is None


def test_janitor_deletes_an_abandoned_workspace_and_never_a_used_one(assistant, tmp_path):
    store, conversations = assistant.library.store, assistant.conversations
    app = WebApp(assistant)
    used, abandoned = new_workspace_key(), new_workspace_key()
    for key in (used, abandoned):
        upload(app, tmp_path, f"{key[:6]}.md", f"Notes of workspace {key[:6]}.", key, Session(key))
        ask(app, "What do my notes say?", key, Session(key))
    assistant.janitor.flush()
    start = max(store.uses.latest("anon:").values())
    now = [start + 50.0]
    replica_a = WorkspaceJanitor(store, conversations, ttl_s=100, clock=lambda: now[0])
    replica_b = WorkspaceJanitor(store, conversations, ttl_s=100, clock=lambda: now[0])
    assert replica_b.sweep() == []  # nothing is idle for the TTL yet
    now[0] += 90
    replica_a.touch(key_owner(used))  # the visitor comes back, served by replica A
    replica_a.flush()
    now[0] += 20
    assert replica_b.sweep() == [key_owner(abandoned)]  # B knows of A's use through the store
    assert store.count_chunks([key_owner(abandoned)]) == 0 and conversations.list(key_owner(abandoned)) == []
    assert store.count_chunks([key_owner(used)]) == 1 and conversations.list(key_owner(used))


def test_janitor_spares_a_workspace_used_on_another_replica_while_it_sweeps(assistant, tmp_path, monkeypatch):
    """Deleting many workspaces takes a while; a use another replica records meanwhile counts."""
    store, conversations = assistant.library.store, assistant.conversations
    app = WebApp(assistant)
    key = new_workspace_key()
    upload(app, tmp_path, "tide.md", "High tide is at noon.", key, Session(key))
    assistant.janitor.flush()
    now = [max(store.uses.latest("anon:").values()) + 200.0]
    replica_a = WorkspaceJanitor(store, conversations, ttl_s=100, clock=lambda: now[0])
    replica_b = WorkspaceJanitor(store, conversations, ttl_s=100, clock=lambda: now[0])
    read_activity = store.uses.latest

    def a_use_lands_after_the_first_read(*args, **kwargs):
        seen = read_activity(*args, **kwargs)
        monkeypatch.setattr(store.uses, "latest", read_activity)
        replica_a.touch(key_owner(key))
        replica_a.flush()
        return seen

    monkeypatch.setattr(store.uses, "latest", a_use_lands_after_the_first_read)
    assert replica_b.sweep() == []
    assert store.count_chunks([key_owner(key)]) == 1


def test_each_replica_sweeps_its_own_conversations_of_a_workspace_another_replica_deleted(
    assistant, tmp_path
):
    """Conversations stay in each replica's data dir; the workspace's documents and last use are in
    the shared store. Replica A sweeps the workspace; replica B must not keep its conversations."""
    from rag.workspace.conversations import ConversationStore, Turn

    store = assistant.library.store
    app = WebApp(assistant)  # replica A: its own conversations (assistant.conversations)
    key = new_workspace_key()
    owner = key_owner(key)
    upload(app, tmp_path, "tide.md", "High tide is at noon.", key, Session(key))
    ask(app, "When is high tide?", key, Session(key))
    on_b = ConversationStore(tmp_path / "replica-b" / "conversations.db")  # replica B's data dir
    on_b.append(owner, None, Turn("And low tide?", "At six.", [], ""))
    on_b.vote(owner, on_b.list(owner)[0].id, 0, "up", "m")
    assistant.janitor.flush()
    now = [max(store.uses.latest("anon:").values()) + 200.0]
    replica_a = WorkspaceJanitor(store, assistant.conversations, ttl_s=100, clock=lambda: now[0])
    replica_b = WorkspaceJanitor(store, on_b, ttl_s=100, clock=lambda: now[0])
    assert replica_a.sweep() == [owner]
    assert store.count_chunks([owner]) == 0 and assistant.conversation_list(owner) == []

    assert replica_b.sweep() == [owner]  # gone from the store: B's conversations and votes go too
    assert on_b.list(owner) == [] and on_b.votes() == []


def test_a_replica_keeps_its_conversations_of_a_workspace_still_used_elsewhere(assistant, tmp_path):
    from rag.workspace.conversations import ConversationStore, Turn

    store = assistant.library.store
    key = new_workspace_key()
    owner = key_owner(key)
    on_b = ConversationStore(tmp_path / "replica-b" / "conversations.db")
    on_b.append(owner, None, Turn("Old question", "Old answer", [], ""))
    now = [on_b.owners("anon:")[owner] + 200.0]
    replica_a = WorkspaceJanitor(store, assistant.conversations, ttl_s=100, clock=lambda: now[0])
    replica_a.touch(owner)  # the visitor is on replica A now, with no documents
    replica_a.flush()
    replica_b = WorkspaceJanitor(store, on_b, ttl_s=100, clock=lambda: now[0])
    assert replica_b.sweep() == [] and len(on_b.list(owner)) == 1
