"""Saved conversations in SQLite: per-owner, ordered, restorable with their sources and answer
checks, deletable; files from before the checks were kept apart still open."""

import sqlite3

from rag.types import AnswerChecks, Chunk, Hit, Mark, SentenceSupport
from rag.workspace.conversations import ConversationStore, Turn

HIT = Hit(1, 0.81, Chunk("d1", "kettles.md", 0, 0, "The blue kettle boils in ninety seconds."))


def test_turns_are_kept_in_order_with_their_sources(tmp_path):
    store = ConversationStore(tmp_path / "c.db")
    first = store.append(
        "anon:a", None, Turn("How fast is the kettle?", "Ninety seconds [1].", [HIT], "stats 1")
    )
    again = store.append("anon:a", first, Turn("And the teapot?", "The documents don't say.", [], "stats 2"))
    assert again == first
    (summary,) = store.list("anon:a")
    assert summary.id == first and summary.title == "How fast is the kettle?"
    conversation = store.load("anon:a", first)
    assert [t.question for t in conversation.turns] == ["How fast is the kettle?", "And the teapot?"]
    assert conversation.turns[0].hits == [HIT] and conversation.turns[1].stats == "stats 2"


def test_another_owner_can_neither_read_nor_extend_a_conversation(tmp_path):
    store = ConversationStore(tmp_path / "c.db")
    mine = store.append("anon:a", None, Turn("secret question", "secret answer", [], ""))
    assert store.load("anon:b", mine) is None and store.list("anon:b") == []
    theirs = store.append("anon:b", mine, Turn("hijack?", "no", [], ""))
    assert theirs != mine and len(store.load("anon:a", mine).turns) == 1
    assert store.delete("anon:b", mine) is False and store.load("anon:a", mine) is not None


def test_newest_first_and_deleting_one_or_all(tmp_path):
    store = ConversationStore(tmp_path / "c.db")
    ids = [store.append("anon:a", None, Turn(f"question {i}", "answer", [], "")) for i in range(3)]
    store.append("anon:a", ids[0], Turn("follow-up", "answer", [], ""))  # the first becomes the newest
    assert [s.id for s in store.list("anon:a")] == [ids[0], ids[2], ids[1]]
    assert store.delete("anon:a", ids[2]) and store.load("anon:a", ids[2]) is None
    store.append("anon:b", None, Turn("other", "x", [], ""))
    assert store.delete_owner("anon:a") == 2 and store.list("anon:a") == []
    assert len(store.list("anon:b")) == 1
    reopened = ConversationStore(tmp_path / "c.db")  # it is on disk
    assert [s.title for s in reopened.list("anon:b")] == ["other"]


def test_answers_saved_at_once_to_one_conversation_all_keep_their_turn(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    store = ConversationStore(tmp_path / "c.db")
    first = store.append("anon:a", None, Turn("q0", "a0", [], ""))
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(
            pool.map(lambda i: store.append("anon:a", first, Turn(f"q{i}", "a", [], "")), range(1, 33))
        )
    assert set(ids) == {first}
    assert sorted(t.question for t in store.load("anon:a", first).turns) == sorted(f"q{i}" for i in range(33))


def test_a_workspace_keeps_at_most_its_cap_and_loses_the_oldest_first(tmp_path):
    """`RAG_MAX_CONVERSATIONS` (issue 19, point 14): a new conversation beyond the cap deletes the one
    updated longest ago (with its votes); other workspaces and follow-ups are untouched."""
    store = ConversationStore(tmp_path / "c.db", max_per_owner=3)
    ids = [store.append("anon:a", None, Turn(f"question {i}", "answer", [], "")) for i in range(3)]
    store.append("anon:b", None, Turn("other workspace", "x", [], ""))
    assert store.vote("anon:a", ids[1], 0, "up", "m")
    store.append("anon:a", ids[0], Turn("follow-up", "answer", [], ""))  # ids[0] is now the newest
    assert len(store.list("anon:a")) == 3  # a follow-up starts nothing
    newest = store.append("anon:a", None, Turn("a fourth", "answer", [], ""))
    assert [s.id for s in store.list("anon:a")] == [newest, ids[0], ids[2]]
    assert store.load("anon:a", ids[1]) is None and store.votes() == []  # gone with its vote
    assert len(store.list("anon:b")) == 1


def test_reads_do_not_wait_for_a_writer(tmp_path):
    """Listing and opening conversations take no write lock (issue 19, point 14): while another
    connection holds the write lock, they still answer at once."""
    import sqlite3
    import threading

    store = ConversationStore(tmp_path / "c.db")
    mine = store.append("anon:a", None, Turn("question", "answer", [], ""))
    writer = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # e.g. a long save on another thread or process
    results: list[object] = []
    reader = threading.Thread(
        target=lambda: results.append((store.list("anon:a"), store.load("anon:a", mine))), daemon=True
    )
    try:
        reader.start()
        reader.join(timeout=5)
        assert results, "a read waited for the write lock"
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        reader.join(timeout=60)
    (summaries, conversation), *_ = results
    assert [s.id for s in summaries] == [mine] and conversation.turns[0].answer == "answer"


CHECKS = AnswerChecks(
    (1, 4), (4,), (SentenceSupport("Ninety seconds [1].", (1,), 1, 0.7312, True),), threshold=0.5
)


def test_the_answer_checks_are_kept_as_data(tmp_path):
    store = ConversationStore(tmp_path / "c.db")
    turn = Turn("How fast is the kettle?", "Ninety seconds [1]. See [4].", [HIT], "stats", "", CHECKS)
    conversation = store.append("anon:a", None, turn)
    again = ConversationStore(tmp_path / "c.db").load("anon:a", conversation).turns[0]
    assert again.checks == CHECKS and again.stats == "stats"  # the line under the answer is drawn from it
    assert again.checks.missing == (4,) and again.checks.sentences[0].score == 0.7312
    stopped = store.append("anon:a", conversation, Turn("And?", "⚠️ error", [], "Error: see the answer"))
    assert store.load("anon:a", stopped).turns[1].checks is None


OLD_TURNS = """CREATE TABLE turns (
    conversation TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL,
    sources TEXT NOT NULL, stats TEXT NOT NULL, query TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (conversation, seq));"""
OLD_STATS = "fake · retrieval 12 ms · first token 3 ms · 9 tokens · 80.0 tokens/s  \n✓ Checks: cites [1]"


def test_a_file_saved_before_the_checks_were_kept_apart_still_opens(tmp_path):
    """Its turns keep the checks' line inside `stats` (shown as saved) and get an empty column."""
    path = tmp_path / "c.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE conversations (id TEXT PRIMARY KEY, owner TEXT NOT NULL, title TEXT NOT NULL, "
        "created REAL NOT NULL, updated REAL NOT NULL)"
    )
    db.execute(OLD_TURNS)
    db.execute("INSERT INTO conversations VALUES ('c1', 'anon:a', 'old', 1.0, 1.0)")
    db.execute(
        "INSERT INTO turns VALUES ('c1', 0, 'old question', 'old answer [1].', '[]', ?, '')", (OLD_STATS,)
    )
    db.commit()
    db.close()
    store = ConversationStore(path)
    (old,) = store.load("anon:a", "c1").turns
    assert old.stats == OLD_STATS and old.checks is None
    store.append("anon:a", "c1", Turn("new question", "new answer [1].", [HIT], "stats", "", CHECKS))
    assert store.load("anon:a", "c1").turns[1].checks == CHECKS
    assert ConversationStore(path).load("anon:a", "c1").turns[0].stats == OLD_STATS  # opened again: no change


def test_each_sources_marked_sentences_come_back_with_the_turn(tmp_path):
    """The source viewer and a reopened answer's sources mark what was marked live (issue 21)."""
    store = ConversationStore(tmp_path / "c.db")
    marks = {1: [Mark(0, 16, 0.71, "answer")]}
    saved = store.append("anon:a", None, Turn("How fast?", "Ninety seconds [1].", [HIT], "", marks=marks))
    assert store.load("anon:a", saved).turns[0].marks == marks
    unmarked = store.append("anon:a", None, Turn("q", "a [1].", [HIT], ""))
    assert store.load("anon:a", unmarked).turns[0].marks == {}
