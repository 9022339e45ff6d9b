"""👍/👎 on answers as JSON entries, and a summary of them.

The votes themselves are kept beside the turns they rate (`ConversationStore.vote`: one per turn,
deleted with it). An entry holds what is needed to see why an answer was good or bad without the
app: the question, the query that was searched, the sources with their scores, the answer, the
model, the answer checks and the vote. The workspace appears only as a pseudonym, an HMAC of its
owner id under a random key of the database, so entries can be grouped per workspace without
naming a user, and a user name can't be guessed back from it as it could from a plain hash.

Versions before kept votes as JSON lines in `<data dir>/feedback.jsonl`; `rag feedback` still
reads that file when it is there (`read_feedback`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rag.review.checks import check_citations
from rag.types import AnswerChecks, Hit
from rag.workspace.conversations import ConversationStore, Turn

FEEDBACK_FILE = "feedback.jsonl"  # the log of earlier versions, read if present
Vote = Literal["up", "down"]


def feedback_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / FEEDBACK_FILE


def hash_workspace(owner: str, key: bytes) -> str:
    """A stable pseudonym for a workspace id: 16 hex digits of its HMAC-SHA256 under `key`."""
    return hmac.new(key, owner.encode(), hashlib.sha256).hexdigest()[:16]


def feedback_entry(
    *,
    question: str,
    query: str,
    hits: Sequence[Hit],
    answer: str,
    model: str,
    checks: dict | None,
    vote: Vote,
    owner: str,
    key: bytes,
    now: float | None = None,
) -> dict:
    """The JSON object one vote becomes (see the module docstring for why each field is there)."""
    if vote not in ("up", "down"):
        raise ValueError(f"vote must be 'up' or 'down', not {vote!r}")
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now)),
        "workspace": hash_workspace(owner, key),
        "question": question,
        "query": query,
        "sources": [
            {
                "rank": hit.rank,
                "citation": hit.citation(),
                "score": round(hit.score, 4),
                "doc_id": hit.chunk.doc_id,
                "chunk": hit.chunk.index,
            }
            for hit in hits
        ],
        "answer": answer,
        "model": model,
        "checks": checks or {},
        "vote": vote,
    }


def export_votes(store: ConversationStore) -> list[dict]:
    """Every vote kept in `store` as an entry (`feedback_entry`), the oldest first."""
    key = store.pseudonym_key()
    return [
        feedback_entry(
            question=record.turn.question,
            query=record.turn.query or record.turn.question,
            hits=record.turn.hits,
            answer=record.turn.answer,
            model=record.model,
            checks=_checks(record.turn).to_dict(),
            vote=record.vote,  # type: ignore[arg-type]
            owner=record.owner,
            key=key,
            now=record.time,
        )
        for record in store.votes()
    ]


def read_feedback(path: str | Path) -> tuple[list[dict], int]:
    """The entries of an earlier version's feedback.jsonl and how many lines were unreadable."""
    entries, bad = [], 0
    file = Path(path)
    if not file.exists():
        return [], 0
    for line in file.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(entry, dict) and entry.get("vote") in ("up", "down"):
            entries.append(entry)
        else:
            bad += 1
    return entries, bad


@dataclass(frozen=True)
class FeedbackSummary:
    total: int
    up: int
    down: int
    unreadable: int = 0
    by_model: dict[str, tuple[int, int]] = field(default_factory=dict)  # model → (up, down)
    down_with_failed_checks: int = 0
    recent_down: list[str] = field(default_factory=list)  # the last few 👎 questions, newest first

    def describe(self) -> str:
        if not self.total:
            return "no feedback yet" + (f" ({self.unreadable} unreadable lines)" if self.unreadable else "")
        share = self.up / self.total
        lines = [f"{self.total} votes: {self.up} up, {self.down} down ({share:.0%} up)"]
        lines += [f"  {model}: {up} up, {down} down" for model, (up, down) in sorted(self.by_model.items())]
        if self.down:
            lines.append(f"{self.down_with_failed_checks} of {self.down} down-votes had failed answer checks")
            lines += ["recent down-votes:"] + [f"  {q}" for q in self.recent_down]
        if self.unreadable:
            lines.append(f"{self.unreadable} unreadable lines skipped")
        return "\n".join(lines)


def summarize(entries: Iterable[dict], unreadable: int = 0, recent: int = 5) -> FeedbackSummary:
    entries = list(entries)
    votes = Counter(e["vote"] for e in entries)
    per_model: dict[str, Counter] = {}
    for entry in entries:
        per_model.setdefault(str(entry.get("model", "")), Counter())[entry["vote"]] += 1
    downs = [e for e in entries if e["vote"] == "down"]
    failed = sum(1 for e in downs if (e.get("checks") or {}).get("problems"))
    return FeedbackSummary(
        total=len(entries),
        up=votes["up"],
        down=votes["down"],
        unreadable=unreadable,
        by_model={m: (c["up"], c["down"]) for m, c in per_model.items()},
        down_with_failed_checks=failed,
        recent_down=[str(e.get("question", "")) for e in reversed(downs)][:recent],
    )


def _checks(turn: Turn) -> AnswerChecks:
    """The answer's saved review; for a turn saved without one, the citation checks of its text."""
    return turn.checks or check_citations(turn.answer, turn.hits)
