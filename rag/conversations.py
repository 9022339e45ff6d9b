"""Saved conversations: each workspace's chats with their questions, answers, sources and stats.

Kept in SQLite in the data dir (the standard library, one file, safe across threads and the
processes of one machine). Every read and write names the owner, so one workspace can never open
another's conversation, and deleting a workspace deletes its conversations.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from rag.types import Chunk, Hit

TITLE_CHARS = 80
SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, title TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL);
CREATE INDEX IF NOT EXISTS conversations_owner ON conversations (owner, updated);
CREATE TABLE IF NOT EXISTS turns (
    conversation TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL,
    sources TEXT NOT NULL, stats TEXT NOT NULL, query TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (conversation, seq));
"""


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str
    hits: list[Hit]
    stats: str
    query: str = ""  # what was searched, when it differs from the question


@dataclass(frozen=True)
class ConversationSummary:
    id: str
    title: str
    updated: float


@dataclass(frozen=True)
class Conversation:
    id: str
    title: str
    turns: list[Turn]


class ConversationStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
        finally:
            db.close()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One short-lived connection per call (none is shared between threads), in one transaction
        that takes the write lock at once: two answers saved to one conversation at the same time
        must not both read the same next turn number."""
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def append(self, owner: str, conversation_id: str | None, turn: Turn) -> str:
        """Add a turn; starts a conversation (titled by its first question) when the id is None or
        not this owner's. Returns the conversation's id."""
        now = time.time()
        with self._connect() as db:
            if conversation_id is None or not _owned(db, owner, conversation_id):
                conversation_id = uuid.uuid4().hex
                title = " ".join(turn.question.split())[:TITLE_CHARS] or "(empty question)"
                db.execute(
                    "INSERT INTO conversations VALUES (?, ?, ?, ?, ?)",
                    (conversation_id, owner, title, now, now),
                )
            seq = db.execute(
                "SELECT COALESCE(MAX(seq), -1) + 1 FROM turns WHERE conversation = ?", (conversation_id,)
            ).fetchone()[0]
            db.execute(
                "INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    seq,
                    turn.question,
                    turn.answer,
                    json.dumps([_hit_record(h) for h in turn.hits]),
                    turn.stats,
                    turn.query,
                ),
            )
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
        return conversation_id

    def list(self, owner: str) -> list[ConversationSummary]:
        """This owner's conversations, the most recent first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, title, updated FROM conversations WHERE owner = ? ORDER BY updated DESC", (owner,)
            ).fetchall()
        return [ConversationSummary(*row) for row in rows]

    def load(self, owner: str, conversation_id: str) -> Conversation | None:
        with self._connect() as db:
            head = db.execute(
                "SELECT title FROM conversations WHERE id = ? AND owner = ?", (conversation_id, owner)
            ).fetchone()
            if head is None:
                return None
            rows = db.execute(
                "SELECT question, answer, sources, stats, query FROM turns "
                "WHERE conversation = ? ORDER BY seq",
                (conversation_id,),
            ).fetchall()
        turns = [Turn(q, a, [_hit(r) for r in json.loads(s)], st, qu) for q, a, s, st, qu in rows]
        return Conversation(conversation_id, head[0], turns)

    def delete(self, owner: str, conversation_id: str) -> bool:
        with self._connect() as db:
            return (
                db.execute(
                    "DELETE FROM conversations WHERE id = ? AND owner = ?", (conversation_id, owner)
                ).rowcount
                > 0
            )

    def delete_owner(self, owner: str) -> int:
        with self._connect() as db:
            return db.execute("DELETE FROM conversations WHERE owner = ?", (owner,)).rowcount


def _owned(db: sqlite3.Connection, owner: str, conversation_id: str) -> bool:
    row = db.execute("SELECT 1 FROM conversations WHERE id = ? AND owner = ?", (conversation_id, owner))
    return row.fetchone() is not None


def _hit_record(hit: Hit) -> dict:
    return {"rank": hit.rank, "score": hit.score, "chunk": asdict(hit.chunk)}


def _hit(record: dict) -> Hit:
    return Hit(record["rank"], record["score"], Chunk(**record["chunk"]))
