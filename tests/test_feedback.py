"""The feedback log: one JSON line per vote, concurrent appends intact, a summary."""

import json
import threading

import pytest

from rag.feedback import (
    feedback_entry,
    feedback_path,
    hash_workspace,
    read_feedback,
    record_feedback,
    summarize,
)
from rag.types import Chunk, Hit

HITS = [Hit(1, 0.81234, Chunk("doc1", "guide.pdf", 2, 7, "Herons nest in trees."))]


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
        owner="session:abc",
        now=0,
    )


def test_one_vote_is_one_line_with_everything_needed_to_judge_the_answer(tmp_path):
    path = record_feedback(tmp_path, entry())
    assert path == feedback_path(tmp_path) == tmp_path / "feedback.jsonl"
    (line,) = path.read_text().splitlines()
    assert json.loads(line) == {
        "time": "1970-01-01T00:00:00Z",
        "workspace": hash_workspace("session:abc"),
        "question": "Where do herons nest?",
        "query": "heron nest",
        "sources": [
            {"rank": 1, "citation": "[1] guide.pdf, page 2", "score": 0.8123, "doc_id": "doc1", "chunk": 7}
        ],
        "answer": "In trees [1].",
        "model": "smollm2",
        "checks": {"problems": []},
        "vote": "up",
    }
    assert "session:abc" not in line and len(hash_workspace("session:abc")) == 16


def test_a_bad_vote_is_refused():
    with pytest.raises(ValueError, match="vote"):
        entry(vote="maybe")


def test_concurrent_votes_never_interleave(tmp_path):
    long_answer = entry() | {"answer": "x" * 20000}
    threads = [threading.Thread(target=record_feedback, args=(tmp_path, long_answer)) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries, bad = read_feedback(feedback_path(tmp_path))
    assert len(entries) == 16 and bad == 0


def test_summary_counts_votes_per_model_and_lists_recent_down_votes(tmp_path):
    record_feedback(tmp_path, entry("up"))
    record_feedback(tmp_path, entry("down", "Which port?", problems=["the answer cites no source"]))
    record_feedback(tmp_path, entry("down", "Who built it?"))
    with feedback_path(tmp_path).open("a") as out:
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
