"""`WebApp.chat`, the web handler behind /chat, on a real store with the fake backend: what each
step shows, history, restriction to selected documents, errors, an empty question and Stop."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import re

import gradio as gr
import pytest

from rag.generation.backends.fake import FakeBackend
from rag.generation.llm import LLM
from rag.web.handlers import WebApp, conversation_view
from rag.web.sources import answer_key


class Session:
    """Stands in for gr.Request: an anonymous browser session."""

    username = None

    def __init__(self, session_hash: str) -> None:
        self.session_hash = session_hash
        # an API client's workspace key, as the server sets it on /config (one per client here)
        self.cookies = {"rag_workspace": hashlib.md5(session_hash.encode()).hexdigest()}


ALICE = Session("session-alice")


@pytest.fixture
def app(assistant, tmp_path) -> WebApp:
    web = WebApp(assistant)
    kettles = tmp_path / "kettles.md"
    kettles.write_text("# Kettles\n\nThe blue kettle boils a litre of water in ninety seconds.")
    teapots = tmp_path / "teapots.md"
    teapots.write_text("# Teapots\n\nThe red teapot keeps water hot for two hours.")
    report, *_ = web.ingest([str(kettles), str(teapots)], "", ALICE, None, progress=lambda *a, **k: None)
    assert report.startswith("2 of 2 file(s) in")
    return web


def run_chat(
    app: WebApp,
    question: str,
    history=None,
    selected=None,
    only_selected=False,
    request=ALICE,
    conversation="",
):
    async def collect():
        # copies: the handler updates its message list in place, as Gradio sends each step at once
        steps = app.chat(question, history, selected, only_selected, "", conversation, request, None)
        return [copy.deepcopy(out) async for out in steps]

    return asyncio.run(collect())


def ids_by_name(app: WebApp, request=ALICE) -> dict[str, str]:
    records, *_ = app.list_documents("", request, None)
    return {record["name"]: record["id"] for record in records}


def test_each_step_shows_the_question_sources_answer_and_stats(app, fake_backend):
    outputs = run_chat(app, "How fast does the kettle boil?")
    first, last = outputs[0], outputs[-1]
    assert first[0][-2] == {"role": "user", "content": "How fast does the kettle boil?"}
    assert first[2] == "Retrieving…" and first[1].count('class="rag-source"') == 0
    key = answer_key("How fast does the kettle boil?", fake_backend.reply)
    assert last[0][-1]["content"] == fake_backend.reply.replace("[1]", f"[\\[1\\]](#rag-source-{key}-1)")
    assert "kettles.md" in last[1] and last[2].startswith("fake · retrieval")
    assert "Checks:" in last[2]
    assert len({out[0][-1]["content"] for out in outputs}) > 3  # the answer grew step by step
    assert all(out[3] == "" for out in outputs)  # the question box is cleared


def test_history_from_the_chatbot_reaches_the_model_and_stays_on_screen(app, fake_backend):
    history = [
        {"role": "user", "content": [{"type": "text", "text": "Which kettle is blue?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "The blue kettle &lt;b> [1]."}]},
    ]
    outputs = run_chat(app, "And how fast is it?", history)
    sent = fake_backend.prompts[0].messages
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "Which kettle is blue?"
    assert sent[2]["content"] == "The blue kettle <b> [1]."  # shown escaped, sent as it was written
    shown = outputs[-1][0]
    assert [m["role"] for m in shown] == ["user", "assistant", "user", "assistant"]
    assert shown[1]["content"] == "The blue kettle &lt;b> [1]."


def test_only_the_selected_document_is_searched_when_asked(app):
    ids = ids_by_name(app)
    assert set(ids) == {"kettles.md", "teapots.md"}
    restricted = run_chat(app, "How fast does the kettle boil?", None, [ids["teapots.md"]], True)
    sources = restricted[-1][1]
    assert "teapots.md" in sources and "kettles.md" not in sources
    unrestricted = run_chat(app, "How fast does the kettle boil?", None, [ids["teapots.md"]], False)
    assert "teapots.md" in unrestricted[-1][1] and "kettles.md" in unrestricted[-1][1]


def test_another_session_can_neither_list_nor_search_these_documents(app):
    bob = Session("session-bob")
    assert ids_by_name(app, bob) == {}
    outputs = run_chat(app, "How fast does the kettle boil?", request=bob)
    assert "kettles.md" not in outputs[-1][1] and "No chunks retrieved" in outputs[-1][1]


def test_engine_error_mid_stream_ends_in_a_readable_message(app, fake_backend):
    fake_backend.fail_after = 2
    outputs = run_chat(app, "How fast does the kettle boil?")
    answer, sources, stats, _, _ = outputs[-1]
    assert answer[-1]["content"].startswith("⚠️ The model could not answer: generation failed")
    assert "RuntimeError" in answer[-1]["content"]
    assert "kettles.md" in sources and stats == "Error: see the answer"


def test_empty_question_is_refused_with_a_message(app, fake_backend):
    with pytest.raises(gr.Error, match="Type a question first"):
        run_chat(app, "   ")
    with pytest.raises(gr.Error):
        run_chat(app, [{"type": "text", "text": ""}])
    assert fake_backend.prompts == []


def test_stop_aborts_the_request_and_nothing_arrives_after_it(app):
    slow = FakeBackend(delay_s=0.05)
    app.assistant.llm = LLM(app.assistant.settings, slow)
    seen: list[tuple] = []

    async def ask_then_stop():
        async def consume():
            async for out in app.chat(
                "How fast does the kettle boil?", None, None, False, "", "", ALICE, None
            ):
                seen.append(copy.deepcopy(out))

        task = asyncio.create_task(consume())  # Gradio runs each event as a task; Stop cancels it
        while not any(out[2] == "Generating…" and out[0][-1]["content"] for out in seen):
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        count = len(seen)
        await asyncio.sleep(0.3)
        return count

    count_at_stop = asyncio.run(ask_then_stop())
    assert len(slow.aborted) == 1 and slow.finished == []
    assert len(seen) == count_at_stop
    assert seen[-1][0][-1]["content"] != slow.reply  # the answer never completed


def test_citations_link_to_their_source_a_missing_one_is_struck_and_evidence_is_marked(app, fake_backend):
    fake_backend.reply = "The blue kettle boils a litre in ninety seconds [1]. Teapots stay hot [9]."
    outputs = run_chat(app, "How fast does the blue kettle boil water?")
    answer, sources, stats, _, _ = outputs[-1]
    text = answer[-1]["content"]
    key = answer_key("How fast does the blue kettle boil water?", fake_backend.reply)
    assert f"[\\[1\\]](#rag-source-{key}-1)" in text and "~~\\[9\\]~~ _(no source 9)_" in text
    assert f'id="rag-source-{key}-1"' in sources and "rag-cited" in sources
    assert '<mark class="rag-mark' in sources and "ninety seconds" in sources
    assert "[9] but there is no such source" in stats


class Vote:
    """Stands in for gr.LikeData."""

    def __init__(self, index: int, liked: bool) -> None:
        self.index, self.liked = index, liked


def test_a_citation_in_any_answer_opens_that_answers_own_source_live_and_reopened(app):
    """Issue 19 point 13 and issue 21 point 2: [1] of an earlier answer pointed at the latest
    answer's source 1, then at nothing; now the panel holds every answer's sources in its own
    group (the latest shown) and each answer's links open only its own group's sources."""
    first = run_chat(app, "How fast does the kettle boil?")[-1]
    second = run_chat(app, "Which teapot keeps water hot?", first[0], conversation=first[4])[-1]
    reopened = app.assistant.conversation(app.owner("", ALICE, None), second[4])
    restored, restored_sources, _ = conversation_view(reopened)  # what opening it and a reload show
    for messages, sources in ((second[0], second[1]), (restored, restored_sources)):
        answers = [m["content"] for m in messages if m["role"] == "assistant"]
        links = [re.findall(r"\(#(rag-source-[\w-]+)\)", answer) for answer in answers]
        groups = sources.split('<section class="rag-answer-sources')[1:]
        assert len(groups) == 2 and groups[1].startswith(' rag-current"')  # the latest one shown
        assert not groups[0].startswith(" rag-current")
        earlier, latest = (set(re.findall(r'id="(rag-source-[\w-]+)"', g)) for g in groups)
        assert links[0] and set(links[0]) <= earlier and not set(links[0]) & latest
        assert links[1] and set(links[1]) <= latest and not set(links[1]) & earlier
        assert "Sources of answer 1: How fast does the kettle boil?" in groups[0]
        assert "kettles.md" in groups[0].split('data-rank="2"')[0]  # its own source 1, not the teapot's


SUPPORTING = r'<mark class="rag-mark rag-by-\w+"[^>]*>([^<]*)</mark>'  # the review's marks


def test_an_earlier_or_reopened_answers_sources_keep_their_marked_sentences(app):
    """What the review marked in an answer's sources is marked again in its group after the next
    question and after a reload, so the source viewer boxes those sentences too (issue 21)."""
    first = run_chat(app, "How fast does the kettle boil?")[-1]
    live_marks = re.findall(SUPPORTING, first[1])
    assert live_marks
    second = run_chat(app, "Which teapot keeps water hot?", first[0], conversation=first[4])[-1]
    reopened = app.assistant.conversation(app.owner("", ALICE, None), second[4])
    for sources in (second[1], conversation_view(reopened)[1]):
        earlier = sources.split('<section class="rag-answer-sources')[1]
        assert re.findall(SUPPORTING, earlier) == live_marks


def test_a_vote_is_kept_with_its_answer(app):
    import json

    from rag.workspace.feedback import export_votes

    messages = run_chat(app, "How fast does the kettle boil?")[-1][0]
    app.feedback(Vote(1, True), messages, "", ALICE, None)
    (entry,) = export_votes(app.assistant.conversations)
    assert entry["vote"] == "up" and entry["question"] == "How fast does the kettle boil?"
    assert entry["sources"][0]["citation"].startswith("[1] kettles.md") and "alice" not in json.dumps(entry)


def test_a_follow_up_is_searched_with_the_conversation(app, fake_backend):
    history = [
        {"role": "user", "content": [{"type": "text", "text": "Tell me about the red teapot."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "It keeps water hot [1]."}]},
    ]
    outputs = run_chat(app, "For how long?", history)
    sources = outputs[-1][1]
    searched = sources.split('<p class="rag-query">')[1].split("</p>")[0]
    assert searched.startswith("Searched for: For how long? (with earlier questions") and "teapot" in searched
    assert sources.index('data-rank="1"') < sources.index("teapots.md") < sources.index('data-rank="2"')
    alone = run_chat(app, "For how long?")[-1][1]
    assert "Searched for: For how long?</p>" in alone  # no conversation: the question as it is


def test_each_source_can_be_shown_in_context_with_its_neighbouring_chunks(app, tmp_path):
    guide = tmp_path / "garden.md"
    sections = ["Compost", "Pruning", "Watering"]
    guide.write_text(
        "\n\n".join(f"## {name}\n\n" + f"{name} advice for the allotment. " * 8 for name in sections)
    )
    report, *_ = app.ingest([str(guide)], "", ALICE, None, progress=lambda *a, **k: None)
    assert report.startswith("1 of 1 file(s) in")

    sources = run_chat(app, "What is the pruning advice for the allotment?")[-1][1]

    shown = sources.split('<div class="rag-source')[1:]
    pruning = next(s for s in shown if "Pruning advice" in s.split("<details")[0])
    context = pruning[pruning.index("<details") :]
    assert "Show in context" in context and "this chunk" in context
    assert "Compost advice" in context and "Watering advice" in context


def test_the_turn_is_saved_with_its_checks_as_data_and_reopens_with_the_same_lines(app, fake_backend):
    fake_backend.reply = "The blue kettle boils a litre in ninety seconds [1]. Teapots stay hot [9]."
    *_, (_, _, stats, _, conversation) = run_chat(app, "How fast does the blue kettle boil?")
    (turn,) = app.assistant.conversation(app.owner("", ALICE, None), conversation).turns
    assert turn.checks.missing == (9,) and turn.checks.valid == (1,)
    assert "Checks" not in turn.stats and stats == f"{turn.stats}  \n{turn.checks.describe()}"
    reopened = app.open_conversation(conversation, "", ALICE, None)
    restored_sources, restored_stats = reopened.sources, reopened.stats
    assert restored_stats == stats and 'class="rag-source rag-cited"' in restored_sources
