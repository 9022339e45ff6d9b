import asyncio
import json
from pathlib import Path

import pytest

from rag.assistant import Assistant
from rag.errors import EvaluationError
from rag.evaluate import (
    answer_figures,
    evaluate,
    percentile,
    read_questions,
    reciprocal_rank,
    through_chat,
    unrelated_question,
)
from rag.generation.llm import LLM
from rag.types import SHARED_OWNER, AnswerChecks, Chunk, Hit, SentenceSupport
from rag.workspace.owners import user_owner


def hit(rank: int, source: str) -> Hit:
    return Hit(rank, 0.5, Chunk("d", source, 0, 0, "t"))


def test_reciprocal_rank_uses_first_gold_source():
    hits = [hit(1, "a.md"), hit(2, "b.md"), hit(3, "c.md")]
    assert reciprocal_rank(hits, ["b.md", "c.md"]) == pytest.approx(0.5)
    assert reciprocal_rank(hits, ["z.md"]) == 0.0


def test_percentiles():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile([3.0], 95) == 3.0


def test_read_questions_reports_bad_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "1", "question": "q", "gold_sources": ["a"]}\n{"id": 2}\n')
    with pytest.raises(ValueError, match=r"q\.jsonl:2"):
        read_questions(path)


def test_reads_single_and_multi_turn_lines(tmp_path):
    path = tmp_path / "mixed.jsonl"
    lines = [
        {"id": "s1", "question": "one?", "gold_sources": ["a.md"], "must_contain": ["x"]},
        {
            "id": "c1",
            "turns": [
                {"question": "first?", "gold_sources": ["b.md"]},
                {"question": "and?", "gold_sources": ["b.md", "c.md"]},
            ],
        },
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    single, conversation = read_questions(path)
    assert (single.id, len(single.turns), single.turns[0].question) == ("s1", 1, "one?")
    assert [t.gold_sources for t in conversation.turns] == [["b.md"], ["b.md", "c.md"]]


def test_unrelated_question_shares_no_gold_source():
    from rag.evaluate import Conversation, Turn

    conversations = [Conversation(str(i), [Turn(f"q{i}", [f"{i % 2}.md"])]) for i in range(4)]
    assert unrelated_question(conversations, 0) == "q3"  # q2 has the same gold source


TEA = {
    "tea.md": "# Green tea\n\nGreen tea is steeped at eighty degrees for two minutes.",
    "bread.md": "# Sourdough\n\nSourdough rests in the fridge overnight before baking.",
    "bikes.md": "# Tyres\n\nRoad bike tyres are pumped to seven bar.",
}


def test_multi_turn_and_multi_mode_report(library, ingestor, tmp_path):
    for name, text in TEA.items():
        ingestor.ingest_bytes(name, text.encode(), "shared")
    path = tmp_path / "fups.jsonl"
    conversations = [
        {"id": "c1", "turns": [
            {"question": "What temperature is right for green tea?", "gold_sources": ["tea.md"]},
            {"question": "And for how long?", "gold_sources": ["tea.md"]},
        ]},
        {"id": "c2", "turns": [{"question": "When does sourdough rest?", "gold_sources": ["bread.md"]}]},
    ]  # fmt: skip
    path.write_text("\n".join(json.dumps(c) for c in conversations))
    report = evaluate(library, read_questions(path), 1, modes=["dense", "hybrid"], unrelated_history=True)
    data = json.loads(report.to_json())
    for key in ("hit_at_k", "mrr_at_k", "n", "p50_ms", "p95_ms", "misses", "embed_model"):
        assert key in data
    assert data["mode"] == "dense" and set(data["modes"]) == {"dense", "hybrid"}
    assert data["n"] == 3 and data["modes"]["hybrid"]["n"] == 3
    for figures in data["modes"].values():
        assert figures["followup_n"] == 1 and figures["followup_hit_at_k"] == 1.0
        assert figures["first_turn_hit_at_k"] == 1.0 and "followup_alone_hit_at_k" in figures
        assert figures["distracted_hit_at_k"] == 1.0
    assert data["hit_at_k"] == data["modes"]["dense"]["hit_at_k"]


def test_single_turn_file_keeps_todays_keys_only(library, ingestor, tmp_path):
    ingestor.ingest_bytes("tea.md", TEA["tea.md"].encode(), "shared")
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"id": "1", "question": "green tea temperature", "gold_sources": ["tea.md"]}))
    data = json.loads(evaluate(library, read_questions(path), 5).to_json())
    assert data["hit_at_k"] == 1.0 and data["mode"] == library.settings.search.retrieval
    assert not any(key.startswith(("followup", "first_turn", "distracted")) for key in data)


def tea_conversations(tmp_path) -> Path:
    path = tmp_path / "fups.jsonl"
    turns = [
        {"question": "What temperature is right for green tea?", "gold_sources": ["tea.md"]},
        {"question": "And for how long?", "gold_sources": ["tea.md"]},
    ]
    path.write_text(json.dumps({"id": "c1", "turns": turns}))
    return path


@pytest.fixture
def no_rewrite(settings, embedder, fake_backend):
    """The scripted model, and no rewrite step (on a GPU machine it would be on by default)."""
    settings = settings.replace(query_rewrite_s=0)
    built = Assistant(settings, embedder, LLM(settings, fake_backend))
    for name, text in TEA.items():
        built.ingestor.ingest_bytes(name, text.encode(), "shared")
    yield built
    built.close()


def test_through_the_chat_path_each_answer_becomes_the_assistants_turn(no_rewrite, fake_backend, tmp_path):
    assistant = no_rewrite
    fake_backend.reply = lambda messages: f"Answer {len(fake_backend.prompts)}."
    conversations = read_questions(tea_conversations(tmp_path))
    loop = asyncio.new_event_loop()
    try:
        ask = through_chat(assistant, SHARED_OWNER, 1, loop)
        report = evaluate(assistant.library, conversations, 1, modes=["dense", "keyword"], ask=ask)
    finally:
        loop.close()
    # one generation per turn and mode; the second turn's prompt carries the first turn's answer
    assert len(fake_backend.prompts) == 4
    second = fake_backend.prompts[1].messages
    assert {"role": "assistant", "content": "Answer 1."} in second
    assert {"role": "user", "content": "What temperature is right for green tea?"} in second
    plain = evaluate(assistant.library, conversations, 1, modes=["dense", "keyword"])
    for mode in ("dense", "keyword"):  # without a rewrite the chat path searches what retrieval does
        chat, search = report.modes[mode], plain.modes[mode]
        assert (chat.hit_at_k, chat.mrr_at_k, chat.followup_hit_at_k) == (
            search.hit_at_k,
            search.mrr_at_k,
            search.followup_hit_at_k,
        )
        assert chat.p50_ms > 0


def test_the_answers_checks_are_reported_over_the_file(no_rewrite, fake_backend, tmp_path):
    replies = iter(
        [
            "Green tea is steeped at eighty degrees for two minutes [1].",
            "Sourdough rests in the fridge overnight before baking [2].",  # k=1: there is no [2]
        ]
    )
    fake_backend.reply = lambda messages: next(replies)
    loop = asyncio.new_event_loop()
    try:
        ask = through_chat(no_rewrite, SHARED_OWNER, 1, loop)
        report = evaluate(no_rewrite.library, read_questions(tea_conversations(tmp_path)), 1, ask=ask)
    finally:
        loop.close()
    figures = report.to_dict()
    assert (figures["answers_n"], figures["answers_citing"]) == (2, 1.0)
    assert (figures["citations_n"], figures["citations_valid"]) == (2, 0.5)
    # the sourdough sentence is held against the tea chunk, the only one retrieved
    assert (figures["sentences_n"], figures["sentences_supported"], figures["answers_passing"]) == (
        2,
        0.5,
        0.5,
    )
    plain = evaluate(no_rewrite.library, read_questions(tea_conversations(tmp_path)), 1).to_dict()
    assert "answers_n" not in plain  # retrieval alone: no answers to check


def test_answer_figures_count_answers_citations_and_sentences():
    supported = SentenceSupport("Tea is steeped at eighty degrees.", (1,), 1, 0.8, True)
    weak = SentenceSupport("Bread is baked at noon.", (1,), 1, 0.2, False)
    checks = [
        AnswerChecks((1, 1), (), (supported,)),
        AnswerChecks((1, 3), (3,), (supported, weak)),
        AnswerChecks((), (), ()),  # "The documents don't say.": cites nothing, claims nothing
    ]
    assert answer_figures(checks) == {
        "answers_n": 3,
        "answers_citing": round(2 / 3, 4),
        "citations_n": 4,
        "citations_valid": 0.75,
        "sentences_n": 3,
        "sentences_supported": round(2 / 3, 4),
        "answers_passing": round(1 / 3, 4),
    }
    silent = answer_figures([AnswerChecks((), (), ())])
    assert silent == {
        "answers_n": 1,
        "answers_citing": 0.0,
        "citations_n": 0,
        "sentences_n": 0,
        "answers_passing": 0.0,
    }


def test_a_turn_the_chat_path_cannot_answer_stops_the_evaluation(no_rewrite, fake_backend, tmp_path):
    fake_backend.fail_after = 1  # the model dies after one word
    loop = asyncio.new_event_loop()
    try:
        ask = through_chat(no_rewrite, SHARED_OWNER, 1, loop)
        with pytest.raises(EvaluationError, match="green tea"):
            evaluate(no_rewrite.library, read_questions(tea_conversations(tmp_path)), 1, ask=ask)
    finally:
        loop.close()


@pytest.mark.engine
def test_through_the_chat_path_on_the_real_engine(settings, embedder, engine_llm, loop, tmp_path):
    assistant = Assistant(settings.replace(query_rewrite_s=0), embedder, engine_llm)
    try:
        for name, text in TEA.items():
            assistant.ingestor.ingest_bytes(name, text.encode(), "shared")
        asked = []
        chat = through_chat(assistant, SHARED_OWNER, 1, loop)

        def ask(question, history, mode):
            asked.append((question, list(history)))
            return chat(question, history, mode)

        report = evaluate(assistant.library, read_questions(tea_conversations(tmp_path)), 1, ask=ask)
    finally:
        assistant.library.close()  # the engine is shared with other tests: don't shut it down
    (_, first_history), (_, second_history) = asked
    assert first_history == [] and second_history[0]["content"] == "What temperature is right for green tea?"
    assert second_history[1]["role"] == "assistant" and second_history[1]["content"].strip()  # generated
    figures = report.modes[assistant.settings.search.retrieval]
    assert figures.n == 2 and figures.followup_n == 1 and figures.first_turn_hit_at_k == 1.0


def test_a_workspace_is_scored_on_what_it_may_see_shared_library_included(library, ingestor, tmp_path):
    ingestor.ingest_bytes("tea.md", TEA["tea.md"].encode(), "shared")
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"id": "1", "question": "green tea temperature", "gold_sources": ["tea.md"]}))
    report = evaluate(library, read_questions(path), 5, owner=user_owner("alice"))
    assert report.modes[library.settings.search.retrieval].hit_at_k == 1.0  # as in her chat
