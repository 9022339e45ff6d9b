import asyncio

import numpy as np
import pytest

from rag import query as q
from rag.query import build_query, rewrite_messages, rewrite_query


def test_no_history_searches_the_question_alone():
    query = build_query("  What is   mmap? ")
    assert query.texts == ["What is mmap?"] and query.keyword_text == "What is mmap?"
    assert query.describe() == "Searched for: What is mmap?"


def test_earlier_turns_weigh_less_and_less_the_older_they_are():
    history = ["first", "second", "third", "fourth", "fourth"]
    query = build_query("new question", history)
    assert query.earlier == ("second", "third", "fourth")  # the last HISTORY_TURNS distinct turns
    assert query.weights == pytest.approx((0.125, 0.25, 0.5))
    assert query.texts == ["new question", "second", "third", "fourth"]
    assert query.keyword_text == "second third fourth new question new question"
    assert query.describe().startswith("Searched for: new question (with earlier questions")


def test_repeating_the_question_is_not_history():
    assert build_query("same", ["same", ""]).earlier == ()


def test_vector_is_the_weighted_sum_at_unit_length():
    query = build_query("now", ["before"])
    vector = query.vector(np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32))
    assert vector == pytest.approx(np.array([1.0, q.HISTORY_WEIGHT]) / np.hypot(1.0, q.HISTORY_WEIGHT))
    assert np.linalg.norm(vector) == pytest.approx(1.0)


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
