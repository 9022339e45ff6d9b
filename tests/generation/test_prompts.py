import pytest

from rag.errors import PromptTooLongError
from rag.generation.backends.base import TokenizedPrompt
from rag.generation.prompts import SYSTEM_PROMPT, PromptBudget, build_prompt, format_context
from rag.types import Chunk, Hit

CALLS: list[int] = []


def words(messages) -> TokenizedPrompt:
    """A stand-in tokenizer for the budget logic: one token per word."""
    CALLS.append(1)
    return TokenizedPrompt(messages, sum(len(m["content"].split()) for m in messages))


def budget(max_model_len: int, max_tokens: int, history_tokens: int) -> PromptBudget:
    return PromptBudget(max_model_len, max_tokens, history_tokens)


def hits(n: int, text: str = "alpha beta") -> list[Hit]:
    return [
        Hit(rank, 1.0 - rank / 10, Chunk("d", f"doc{rank}.md", rank % 2, rank, f"{text} {rank}"))
        for rank in range(1, n + 1)
    ]


def test_numbering_matches_ranks_and_best_context_is_last():
    context = format_context(hits(3))
    order = [context.index(f"[{n}] doc{n}.md") for n in (3, 2, 1)]
    assert order == sorted(order)  # [3] first, [1] (the best) last
    assert "[1] doc1.md, page 1\n" in context and "[2] doc2.md\n" in context


def test_prompt_has_system_rules_question_and_contexts():
    prompt = build_prompt("Why?", hits(2), [], words, budget(1000, 100, 200))
    system, user = prompt.messages
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert "don't say" in SYSTEM_PROMPT and "[1]" in SYSTEM_PROMPT
    assert "Answer in the question's language." in SYSTEM_PROMPT  # issue 23: Japanese in, Japanese out
    assert user["content"].rstrip().endswith("like [1].") and "Question: Why?" in user["content"]
    assert prompt.max_tokens == 100 and prompt.prompt_tokens == words(prompt.messages).n_tokens


def test_history_keeps_newest_pairs_within_budget():
    history = []
    for turn in range(5):
        history += [
            {"role": "user", "content": f"q{turn} " * 10},
            {"role": "assistant", "content": f"a{turn} " * 10},
        ]
    CALLS.clear()
    prompt = build_prompt("Now?", hits(1), history, words, budget(10_000, 100, 45))
    kept = prompt.messages[1:-1]
    assert [m["content"].split()[0] for m in kept] == ["q3", "a3", "q4", "a4"]  # oldest dropped first
    assert prompt.history_turns == 2
    assert len(CALLS) <= 4  # the question alone, the base prompt, then one per attempt (not one per pair)
    assert prompt.messages[-1]["content"].count("Question: Now?") == 1


def test_history_yields_to_the_context_window_not_the_question():
    history = [{"role": "user", "content": "old " * 50}, {"role": "assistant", "content": "reply " * 50}]
    prompt = build_prompt("Q?", hits(2), history, words, budget(200, 80, 1000))
    assert prompt.history_turns == 0 and len(prompt.hits) == 2
    assert prompt.prompt_tokens + prompt.max_tokens <= 200


def test_prompt_always_fits_by_dropping_worst_passages_then_shrinking_answer():
    many = hits(5, text="word " * 60)
    prompt = build_prompt("Q?", many, [], words, budget(300, 200, 100))
    assert [h.rank for h in prompt.hits] == list(range(1, len(prompt.hits) + 1))  # best kept
    assert len(prompt.hits) < 5
    assert prompt.prompt_tokens + prompt.max_tokens <= 300


def test_question_too_long_is_a_clear_error():
    with pytest.raises(PromptTooLongError, match="too long"):
        build_prompt("word " * 500, [], [], words, budget(300, 100, 100))


def test_unanswered_and_empty_turns_are_skipped():
    history = [
        {"role": "user", "content": "lost"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
    ]
    prompt = build_prompt("Q?", [], history, words, budget(1000, 10, 100))
    assert [m["content"] for m in prompt.messages[1:-1]] == ["q", "a"]


def test_passage_labels_carry_the_section_path():
    hit = Hit(1, 0.9, Chunk("d", "index.md", 0, 0, "M limits the degree.", "In-memory Index › HNSW"))
    assert "[1] index.md (section: In-memory Index › HNSW)" in format_context([hit])
