"""The repetition guard on scripted streams from the fake backend (the real chat path's stream)."""

import asyncio
import re

import pytest

from rag.generation.backends import SamplingConfig
from rag.generation.backends.base import TokenizedPrompt
from rag.generation.backends.fake import FakeBackend
from rag.generation.repetition import RepetitionGuard
from rag.types import Usage

LOOP = "The quokka protocol uses port 7341 for telemetry [1]. " * 20
SAMPLING = SamplingConfig(temperature=0.0, top_p=1.0, max_tokens=400)


async def guarded(backend: FakeBackend, guard: RepetitionGuard) -> str:
    prompt = TokenizedPrompt([{"role": "user", "content": "Which port?"}], 3)
    text = ""
    async for delta in guard.watch(backend.stream(prompt, SAMPLING, Usage(), "req-1")):
        text += delta
    return text


def test_the_guard_stops_a_looping_stream_and_aborts_the_request():
    backend = FakeBackend(reply=LOOP, delay_s=0.0)
    guard = RepetitionGuard()
    text = asyncio.run(guarded(backend, guard))
    assert text == LOOP[: 2 * len(LOOP) // 20]  # stopped as the sentence came back the first time
    assert guard.tripped and guard.tripped.kind == "sentence" and guard.tripped.count == 2
    assert "repeating itself" in guard.tripped.message and "port 7341" in guard.tripped.message
    assert backend.aborted == ["req-1"] and backend.finished == []


def test_a_good_answer_streams_to_the_end():
    answer = (
        "The quokka protocol listens on port 7341 [1]. It carries telemetry from the hides to the "
        "observatory [2]. The port is fixed and cannot be changed in the settings [1]. Yes. Yes."
    )
    backend = FakeBackend(reply=answer, delay_s=0.0)
    guard = RepetitionGuard()
    assert asyncio.run(guarded(backend, guard)) == answer
    assert guard.tripped is None and backend.finished == ["req-1"]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("and then the model goes on and on " * 10, "ngram"),  # never ends a sentence
        ("Short one here. " * 3, "sentence"),  # a short sentence may come twice, not three times
        ("Answer: " + "=-" * 200, "characters"),  # a loop without words
        ("| a | b |\n" * 40, "ngram"),
    ],
)
def test_each_kind_of_loop_is_caught(text, kind):
    guard = RepetitionGuard()
    found = [guard.feed(delta) for delta in re.findall(r"\S+\s*", text)]
    assert found[-1] is not None and found[-1].kind == kind


def test_citations_and_case_do_not_hide_a_repeated_sentence():
    guard = RepetitionGuard()
    guard.feed("The nest is built high in tall trees by the heron [1]. ")
    assert guard.feed("the nest is built high in tall trees by the heron [2]. And") is not None


def test_real_prose_is_not_flagged():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    guard = RepetitionGuard()
    assert all(guard.feed(delta) is None for delta in re.findall(r"\S+\s*", text[:8000]))


def test_through_the_llm_holder_the_loop_is_aborted_in_the_backend(settings):
    """What rag.answer would do: `guard.watch(llm.stream(...))` closes the holder's stream, and the
    backend's request is aborted before the answer's end is generated."""
    from rag.generation.llm import LLM

    backend = FakeBackend(reply=LOOP, delay_s=0.0)
    llm = LLM(settings, backend)
    guard = RepetitionGuard()

    async def run() -> str:
        prompt = TokenizedPrompt([{"role": "user", "content": "Which port?"}], 3)
        text = "".join([delta async for delta in guard.watch(llm.stream(prompt, SAMPLING, Usage()))])
        await asyncio.sleep(0)  # let the event loop finalise the backend's generator
        return text

    text = asyncio.run(run())
    assert guard.tripped and len(text) < len(LOOP) // 5
    assert len(backend.aborted) == 1 and backend.finished == []
