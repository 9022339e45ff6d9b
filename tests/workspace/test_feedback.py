"""👍/👎 on answers: one vote per turn kept beside it in SQLite (a new vote replaces it, clicking the
same thumb again takes it back), the turn named by its message (not by counting messages, which a
stopped answer throws off), deleted with its conversation or workspace, exported with an HMAC
pseudonym of the workspace; the log of earlier versions is still read."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3

import pytest

from rag.types import Chunk, Hit
from rag.web.handlers import WebApp
from rag.workspace.conversations import ConversationStore, Turn
from rag.workspace.feedback import (
    export_votes,
    feedback_entry,
    feedback_path,
    hash_workspace,
    read_feedback,
    summarize,
)
from rag.workspace.owners import key_owner, new_workspace_key

HITS = [Hit(1, 0.81234, Chunk("doc1", "guide.pdf", 2, 7, "Herons nest in trees."))]
KEY = b"k" * 32


class Vote:
    """Stands in for gr.LikeData: Gradio sends `liked` True (👍), False (👎) or "" (the same thumb
    clicked again: no vote)."""

    def __init__(self, index: int, liked: bool | str) -> None:
        self.index, self.liked, self.value = index, liked, None


class Session:
    """Stands in for gr.Request: a browser tab."""

    username = None

    def __init__(self, session_hash: str) -> None:
        self.session_hash = session_hash
        # an API client's workspace key, as the server sets it on /config (one per client here)
        self.cookies = {"rag_workspace": hashlib.md5(session_hash.encode()).hexdigest()}


def votes_in(store: ConversationStore) -> list[tuple]:
    with sqlite3.connect(store.path) as db:
        return db.execute("SELECT conversation, seq, vote FROM votes ORDER BY seq").fetchall()


def entry(
    vote: str = "up", question: str = "Where do herons nest?", problems: list[str] | None = None
) -> dict:
    return feedback_entry(
        question=question,
        query="heron nest",
        hits=HITS,
        answer="In trees [1].",
        model="smollm2",
        checks={"problems": problems or []},
        vote=vote,
        owner="hf:alice",
        key=KEY,
        now=0,
    )


# -- the store ------------------------------------------------------------------------------


def test_one_vote_per_turn_a_new_one_replaces_it_and_none_takes_it_back(tmp_path):
    store = ConversationStore(tmp_path / "c.db")
    conversation = store.append("anon:a", None, Turn("Where do herons nest?", "In trees [1].", HITS, ""))
    for _ in range(50):  # the same turn voted on over and over (raw HTTP): still one row
        assert store.vote("anon:a", conversation, 0, "up", "smollm2")
    assert store.vote("anon:a", conversation, 0, "down", "smollm2")
    assert votes_in(store) == [(conversation, 0, "down")]
    assert store.vote("anon:a", conversation, 0, None, "smollm2")
    assert votes_in(store) == []


def test_only_the_owner_can_vote_and_only_on_a_turn_that_exists(tmp_path):
    store = ConversationStore(tmp_path / "c.db")
    conversation = store.append("anon:a", None, Turn("q", "a", [], ""))
    assert not store.vote("anon:b", conversation, 0, "up", "m")
    assert not store.vote("anon:a", conversation, 1, "up", "m")
    assert not store.vote("anon:a", "f" * 32, 0, "up", "m")
    assert votes_in(store) == []
    with pytest.raises(ValueError, match="vote"):
        store.vote("anon:a", conversation, 0, "maybe", "m")
    store.vote("anon:a", conversation, 0, "up", "m" * 10_000)  # a model name can't make a row big
    assert len(store.votes()[0].model) == 200


def test_votes_go_with_their_conversation_and_their_workspace(tmp_path):
    store = ConversationStore(tmp_path / "c.db")
    kept = store.append("anon:a", None, Turn("q1", "a1", [], ""))
    dropped = store.append("anon:a", None, Turn("q2", "a2", [], ""))
    other = store.append("anon:b", None, Turn("q3", "a3", [], ""))
    for owner, conversation in (("anon:a", kept), ("anon:a", dropped), ("anon:b", other)):
        store.vote(owner, conversation, 0, "up", "m")
    store.delete("anon:a", dropped)
    assert {v.turn.question for v in store.votes()} == {"q1", "q3"}
    store.delete_owner("anon:a")
    assert [v.turn.question for v in store.votes()] == ["q3"]


def test_an_export_entry_has_what_is_needed_to_judge_the_answer_and_a_salted_pseudonym(tmp_path):
    store = ConversationStore(tmp_path / "c.db")
    conversation = store.append(
        "hf:alice", None, Turn("Where do herons nest?", "In trees [1].", HITS, "", "heron nest")
    )
    store.vote("hf:alice", conversation, 0, "up", "smollm2")
    (exported,) = export_votes(store)
    pseudonym = exported.pop("workspace")
    assert exported | {"time": "t"} == {
        "time": "t",
        "question": "Where do herons nest?",
        "query": "heron nest",
        "sources": [
            {"rank": 1, "citation": "[1] guide.pdf, page 2", "score": 0.8123, "doc_id": "doc1", "chunk": 7}
        ],
        "answer": "In trees [1].",
        "model": "smollm2",
        "checks": exported["checks"],
        "vote": "up",
    }
    assert exported["checks"]["problems"] == []
    # an HMAC under a random key of this database: not the plain hash anyone could recompute
    # from a user name, and another deployment's pseudonym of the same user differs
    assert len(pseudonym) == 16 and pseudonym != hashlib.sha256(b"hf:alice").hexdigest()[:16]
    assert pseudonym == hash_workspace("hf:alice", store.pseudonym_key())
    assert ConversationStore(tmp_path / "c.db").pseudonym_key() == store.pseudonym_key()  # kept
    assert ConversationStore(tmp_path / "other.db").pseudonym_key() != store.pseudonym_key()


def test_a_bad_vote_is_refused():
    with pytest.raises(ValueError, match="vote"):
        entry(vote="maybe")


def test_summary_counts_votes_per_model_and_lists_recent_down_votes_also_from_the_old_log(tmp_path):
    import json

    with feedback_path(tmp_path).open("w") as out:  # an earlier version's log
        for line in (
            entry("up"),
            entry("down", "Which port?", problems=["the answer cites no source"]),
            entry("down", "Who built it?"),
        ):
            out.write(json.dumps(line) + "\n")
        out.write('{"torn": ')  # a line cut short by a crash
    entries, bad = read_feedback(feedback_path(tmp_path))
    summary = summarize(entries, bad)
    assert (summary.total, summary.up, summary.down, summary.unreadable) == (3, 1, 2, 1)
    assert summary.by_model == {"smollm2": (1, 2)} and summary.down_with_failed_checks == 1
    assert summary.describe().splitlines() == [
        "3 votes: 1 up, 2 down (33% up)",
        "  smollm2: 1 up, 2 down",
        "1 of 2 down-votes had failed answer checks",
        "recent down-votes:",
        "  Who built it?",
        "  Which port?",
        "1 unreadable lines skipped",
    ]
    assert summarize([]).describe() == "no feedback yet"


# -- through the web handler, on a real store -----------------------------------------------


def chat(app: WebApp, question: str, history: list[dict], key: str, conversation: str = "") -> tuple:
    async def collect():
        steps = app.chat(question, history, None, False, key, conversation, Session(key), None)
        return [step async for step in steps]

    return asyncio.run(collect())[-1]


@pytest.fixture
def app(assistant, tmp_path) -> WebApp:
    web = WebApp(assistant)
    notes = tmp_path / "birds.md"
    notes.write_text("# Birds\n\nHerons nest in trees. Gulls nest on cliffs.")
    web.ingest([str(notes)], "", Session("setup"), None, progress=None)
    return web


def test_after_a_stopped_answer_a_vote_rates_the_turn_its_message_shows(app, assistant):
    key = new_workspace_key()
    messages, *_, conversation = chat(app, "Where do herons nest?", [], key)
    # a second answer stopped half-way: shown in the chat, never saved
    messages = [*messages, {"role": "user", "content": "And gulls?"}, {"role": "assistant", "content": "Gul"}]
    messages, *_, again = chat(app, "Where do gulls nest?", messages, key, conversation)
    assert again == conversation and len(assistant.conversation(key_owner(key), conversation).turns) == 2
    assert [m["role"] for m in messages] == ["user", "assistant"] * 3

    app.feedback(Vote(5, True), messages, key, Session(key), None)  # 👍 on the gulls answer
    (rated,) = assistant.conversations.votes()
    assert rated.turn.question == "Where do gulls nest?" and rated.vote == "up"
    app.feedback(Vote(3, False), messages, key, Session(key), None)  # 👎 on the stopped one: not saved
    app.feedback(Vote(1, False), messages, key, Session(key), None)  # 👎 on the herons answer
    assert {(v.turn.question, v.vote) for v in assistant.conversations.votes()} == {
        ("Where do gulls nest?", "up"),
        ("Where do herons nest?", "down"),
    }


def test_clicking_the_same_thumb_again_takes_the_vote_back_instead_of_a_down_vote(app, assistant):
    key = new_workspace_key()
    messages, *_ = chat(app, "Where do herons nest?", [], key)
    app.feedback(Vote(1, True), messages, key, Session(key), None)
    app.feedback(Vote(1, ""), messages, key, Session(key), None)  # what Gradio sends on the second click
    assert assistant.conversations.votes() == []


def test_a_reopened_conversation_can_still_be_rated_and_another_workspace_cannot_rate_it(app, assistant):
    key, intruder = new_workspace_key(), new_workspace_key()
    _, *_, conversation = chat(app, "Where do herons nest?", [], key)
    messages = app.open_conversation(conversation, key, Session(key), None).chatbot  # after a reload
    app.feedback(Vote(1, True), messages, intruder, Session(intruder), None)
    assert assistant.conversations.votes() == []
    app.feedback(Vote(1, True), messages, key, Session(key), None)
    assert [v.vote for v in assistant.conversations.votes()] == ["up"]


def test_deleting_the_workspace_deletes_its_votes(app, assistant):
    key = new_workspace_key()
    messages, *_ = chat(app, "Where do herons nest?", [], key)
    app.feedback(Vote(1, True), messages, key, Session(key), None)
    assert len(export_votes(assistant.conversations)) == 1
    app.delete_workspace(key, Session(key), None)
    assert export_votes(assistant.conversations) == [] and votes_in(assistant.conversations) == []
