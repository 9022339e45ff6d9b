import asyncio

import numpy as np
import pytest

from rag.retrieval import query as q
from rag.retrieval.query import build_query, history_gate, order_hits, rewrite_messages, rewrite_query
from rag.types import Chunk, Hit


def test_no_history_searches_the_question_alone():
    query = build_query("  What is   mmap? ")
    assert query.texts == ["What is mmap?"] and query.keyword_text(1.0) == "What is mmap?"
    assert query.describe(0.0) == "Searched for: What is mmap?"


def test_the_last_turns_are_joined_to_the_question_in_order():
    history = ["first", "second", "third", "fourth", "fourth"]
    query = build_query("new question", history)
    assert query.earlier == ("second", "third", "fourth")  # the last HISTORY_TURNS distinct turns
    assert query.texts == ["new question", "second third fourth new question"]
    assert query.keyword_text(q.KEYWORD_GATE) == "second third fourth new question"
    assert query.keyword_text(q.KEYWORD_GATE - 0.01) == "new question"
    assert query.describe(0.5).startswith("Searched for: new question (with earlier questions, weight 50%")


def test_gate_opens_for_vague_questions():
    assert history_gate(q.CONFIDENT + 0.1) == 0.0 and history_gate(q.VAGUE - 0.1) == 1.0
    assert history_gate((q.VAGUE + q.CONFIDENT) / 2) == pytest.approx(0.5)
    query = build_query("What pressure for road bike tyres?", ["Green tea?"])
    assert query.keyword_text(0.0) == "What pressure for road bike tyres?"  # closed: question alone
    assert "not used" in query.describe(0.0)


def test_gate_opens_when_the_conversation_finds_much_closer_matches():
    confident = q.CONFIDENT + 0.1  # a question that looks self-contained on its own similarity
    assert history_gate(confident, confident + q.GAIN_FULL + 0.01) == 1.0
    assert history_gate(confident, confident + (q.GAIN_NONE + q.GAIN_FULL) / 2) == pytest.approx(0.5)
    assert history_gate(confident, confident + q.GAIN_NONE - 0.01) == 0.0
    assert history_gate(confident, confident - 0.2) == 0.0  # the earlier topic finds nothing closer
    assert history_gate(q.VAGUE - 0.1, q.VAGUE - 0.3) == 1.0  # vague stays open whatever the gain


def test_repeating_the_question_is_not_history():
    assert build_query("same", ["same", ""]).earlier == ()


def test_vector_moves_from_the_question_to_the_joined_text_at_unit_length():
    query = build_query("now", ["before"])
    rows = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    assert query.vector(rows, 0.5) == pytest.approx(np.array([1.0, 1.0]) / np.sqrt(2.0))
    assert query.vector(rows, 0.0) == pytest.approx(np.array([1.0, 0.0]))  # closed gate: the question alone
    assert query.vector(rows, 1.0) == pytest.approx(np.array([0.0, 1.0]))  # open: the conversation
    assert query.vector(rows[:1] * 3, 0.7) == pytest.approx(np.array([1.0, 0.0]))  # no history


def test_building_is_deterministic():
    assert build_query("a", ["b", "c"]) == build_query("a", ["b", "c"])


def test_rewrite_messages_carry_history_and_question():
    messages = rewrite_messages("And for one of them?", ["What is mmap?"])
    assert messages[0]["role"] == "system" and "standalone" in messages[0]["content"]
    assert "What is mmap?" in messages[1]["content"] and "And for one of them?" in messages[1]["content"]


def run(coro):
    return asyncio.run(coro)


def test_rewrite_returns_the_models_standalone_question():
    async def complete(messages):
        return 'Query: "How do I enable mmap for one collection?"\nBecause...'

    assert run(rewrite_query("one of them?", ["What is mmap?"], complete, 1.0)) == (
        "How do I enable mmap for one collection?"
    )


@pytest.mark.parametrize("outcome", ["slow", "error", "empty"])
def test_rewrite_falls_back_to_none(outcome):
    async def complete(messages):
        if outcome == "slow":
            await asyncio.sleep(5)
        if outcome == "error":
            raise ConnectionError("server down")
        return "  "

    assert run(rewrite_query("one of them?", ["What is mmap?"], complete, 0.05)) is None


def test_no_history_needs_no_rewrite():
    async def complete(messages):
        raise AssertionError("not called")

    assert run(rewrite_query("What is mmap?", [], complete, 1.0)) is None


def scored(rank: int, score: float, doc: str, index: int) -> Hit:
    return Hit(rank, score, Chunk(doc, f"{doc}.md", 0, index, f"{doc} {index}"))


def test_a_conversation_orders_the_top_hits_by_document():
    hub = scored(1, 0.9, "glossary", 0)  # one chunk of a page that matches a bit of everything
    page = [scored(2, 0.8, "mmap", 4), scored(4, 0.6, "mmap", 1)]
    other = scored(3, 0.7, "index", 2)
    hits = [hub, page[0], other, page[1]]
    ordered = order_hits(hits, gate=0.5)
    assert [(h.chunk.doc_id, h.chunk.index, h.rank) for h in ordered] == [
        ("mmap", 4, 1),  # 0.8 + 0.6 beat the hub's 0.9
        ("glossary", 0, 2),  # each document's best hit before any document's second
        ("index", 2, 3),
        ("mmap", 1, 4),
    ]
    assert [h.score for h in ordered] == [0.8, 0.9, 0.7, 0.6]  # scores kept, only the order changes
    assert order_hits(hits, gate=0.0) == hits  # a question that stands alone keeps the search's order


def test_a_page_with_many_hits_leaves_the_next_page_second():
    """The dev follow-up "Can I do that from any of the SDKs?" (about roles): four hits of
    users_and_roles.md and one of rbac.md, the page asked about. Kept in whole groups, the page was
    5th (3rd in the search's order); each document's best hit first, it is 2nd."""
    roles = [scored(rank, 0.034 - rank / 1000, "roles", rank) for rank in (1, 2, 4, 5)]
    hits = [*roles[:2], scored(3, 0.031, "rbac", 0), *roles[2:]]
    assert [h.chunk.doc_id for h in order_hits(hits, gate=1.0)] == [
        "roles",
        "rbac",
        "roles",
        "roles",
        "roles",
    ]


def test_whole_groups_are_the_old_order(monkeypatch):
    """bench/followup_cv.py sweeps BEST_HITS_FIRST: off, each document's hits stay together."""
    monkeypatch.setattr(q, "BEST_HITS_FIRST", False)
    hits = [
        scored(1, 0.9, "glossary", 0),
        scored(2, 0.8, "mmap", 4),
        scored(3, 0.7, "index", 2),
        scored(4, 0.6, "mmap", 1),
    ]
    assert [h.chunk.index for h in order_hits(hits, gate=0.5)] == [4, 1, 0, 2]


def test_ordering_by_document_can_be_switched_off(monkeypatch):
    """bench/followup_cv.py sweeps BY_DOCUMENT: off, even a fully open gate keeps the search's order."""
    hits = [scored(1, 0.9, "glossary", 0), scored(2, 0.8, "mmap", 4), scored(3, 0.6, "mmap", 1)]
    assert order_hits(hits, gate=1.0) != hits
    monkeypatch.setattr(q, "BY_DOCUMENT", False)
    assert order_hits(hits, gate=1.0) == hits
