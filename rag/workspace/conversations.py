"""Saved conversations: each workspace's chats with their questions, answers, sources, stats and
answer checks (as data: the web app draws them, rag.web.render).

Kept in SQLite in the data dir (the standard library, one file, safe across threads and the
processes of one machine; created 0600). Every read and write names the owner, so one workspace can
never open another's conversation, and deleting a workspace deletes its conversations.

The 👍/👎 votes live here too: at most one per turn (a new vote replaces it, taking it back deletes
it), so a workspace can't hold more votes than answers, and each goes with its turn when the
conversation or the workspace is deleted. `votes()` is what `rag feedback` reads.

A workspace keeps at most `max_per_owner` conversations (`RAG_MAX_CONVERSATIONS`): starting one
more deletes the one updated longest ago, with its turns and votes. Reads run in plain (deferred)
transactions, which WAL lets run beside a writer; writes take the write lock at once.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

from rag.private_files import private_file
from rag.types import AnswerChecks, Chunk, Hit, Mark, Marks

CONVERSATIONS_FILE = "conversations.db"
TITLE_CHARS = 80
MODEL_CHARS = 200  # a vote keeps the model's name, cut to this
SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, title TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL);
CREATE INDEX IF NOT EXISTS conversations_owner ON conversations (owner, updated);
CREATE TABLE IF NOT EXISTS turns (
    conversation TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL,
    sources TEXT NOT NULL, stats TEXT NOT NULL, query TEXT NOT NULL DEFAULT '',
    checks TEXT NOT NULL DEFAULT '', PRIMARY KEY (conversation, seq));
CREATE TABLE IF NOT EXISTS votes (
    conversation TEXT NOT NULL, seq INTEGER NOT NULL,
    vote TEXT NOT NULL CHECK (vote IN ('up', 'down')), model TEXT NOT NULL, time REAL NOT NULL,
    PRIMARY KEY (conversation, seq),
    FOREIGN KEY (conversation, seq) REFERENCES turns (conversation, seq) ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def conversations_path(data_dir: str | Path) -> Path:
    return Path(data_dir) / CONVERSATIONS_FILE


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str
    hits: list[Hit]
    stats: str  # the generation's stats line (turns saved before `checks` have the checks' line in it)
    query: str = ""  # what was searched, when it differs from the question
    checks: AnswerChecks | None = None  # the answer's review; None: stopped by an error, or saved before
    seq: int = field(default=-1, compare=False)  # its place in the conversation, once saved
    # each source's marked sentences (the review's), so a reopened answer's sources and the source
    # viewer mark the same passages as live; kept in each hit's record (none in turns saved before)
    marks: Marks = field(default_factory=dict, compare=False)


class SavedTurn(NamedTuple):
    conversation: str
    seq: int


@dataclass(frozen=True)
class VoteRecord:
    owner: str
    conversation: str
    time: float
    vote: str  # "up" or "down"
    model: str
    turn: Turn


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
    def __init__(self, path: str | Path, max_per_owner: int = 0) -> None:
        """`max_per_owner`: most conversations one owner keeps (0: no limit, for tools that only read)."""
        self.max_per_owner = max_per_owner
        self.path = private_file(path)  # before SQLite makes it (and its -wal, -shm) with the umask's mode
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            _add_checks_column(db)
            with db:  # the first process to get here sets it; every later one keeps it
                db.execute("INSERT OR IGNORE INTO meta VALUES ('pseudonym_key', ?)", (secrets.token_hex(32),))
        finally:
            db.close()

    @contextmanager
    def _connect(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One short-lived connection per call (none is shared between threads), in one transaction.
        A write takes the write lock at once (two answers saved to one conversation at the same time
        must not both read the same next turn number); a read (`write=False`) takes none, so it
        neither waits for a writer nor holds one up."""
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
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
        return self.save(owner, conversation_id, turn).conversation

    def save(self, owner: str, conversation_id: str | None, turn: Turn) -> SavedTurn:
        """`append`, returning where the turn went: the conversation and the turn's number."""
        now = time.time()
        with self._connect() as db:
            if conversation_id is None or not _owned(db, owner, conversation_id):
                conversation_id = uuid.uuid4().hex
                title = " ".join(turn.question.split())[:TITLE_CHARS] or "(empty question)"
                db.execute(
                    "INSERT INTO conversations VALUES (?, ?, ?, ?, ?)",
                    (conversation_id, owner, title, now, now),
                )
                if self.max_per_owner > 0:  # the new one counts: the oldest beyond the cap go
                    db.execute(
                        "DELETE FROM conversations WHERE id IN (SELECT id FROM conversations WHERE owner = ? "
                        "ORDER BY id = ? DESC, updated DESC, rowid DESC LIMIT -1 OFFSET ?)",
                        (owner, conversation_id, self.max_per_owner),
                    )
            seq = db.execute(
                "SELECT COALESCE(MAX(seq), -1) + 1 FROM turns WHERE conversation = ?", (conversation_id,)
            ).fetchone()[0]
            db.execute(
                "INSERT INTO turns (conversation, seq, question, answer, sources, stats, query, checks) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    seq,
                    turn.question,
                    turn.answer,
                    json.dumps([_hit_record(h, turn.marks.get(h.rank, [])) for h in turn.hits]),
                    turn.stats,
                    turn.query,
                    json.dumps(turn.checks.to_dict()) if turn.checks else "",
                ),
            )
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
        return SavedTurn(conversation_id, seq)

    def list(self, owner: str) -> list[ConversationSummary]:
        """This owner's conversations, the most recent first."""
        with self._connect(write=False) as db:
            rows = db.execute(
                "SELECT id, title, updated FROM conversations WHERE owner = ? ORDER BY updated DESC", (owner,)
            ).fetchall()
        return [ConversationSummary(*row) for row in rows]

    def load(self, owner: str, conversation_id: str) -> Conversation | None:
        with self._connect(write=False) as db:
            head = db.execute(
                "SELECT title FROM conversations WHERE id = ? AND owner = ?", (conversation_id, owner)
            ).fetchone()
            if head is None:
                return None
            rows = db.execute(
                "SELECT question, answer, sources, stats, query, checks, seq FROM turns "
                "WHERE conversation = ? ORDER BY seq",
                (conversation_id,),
            ).fetchall()
        turns = [_turn(*row) for row in rows]
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

    def owners(self, prefix: str) -> dict[str, float]:
        """Every owner starting with `prefix` that has conversations here, with its latest update."""
        with self._connect(write=False) as db:
            rows = db.execute(
                "SELECT owner, MAX(updated) FROM conversations WHERE substr(owner, 1, ?) = ? GROUP BY owner",
                (len(prefix), prefix),
            ).fetchall()
        return dict(rows)

    # -- votes -------------------------------------------------------------------------------

    def vote(self, owner: str, conversation_id: str, seq: int, vote: str | None, model: str) -> bool:
        """Set the owner's vote on one of their turns ("up"/"down"), or take it back (None).
        False when the owner has no such turn."""
        if vote not in ("up", "down", None):
            raise ValueError(f"vote must be 'up', 'down' or None, not {vote!r}")
        with self._connect() as db:
            found = db.execute(
                "SELECT 1 FROM turns JOIN conversations ON conversations.id = turns.conversation "
                "WHERE turns.conversation = ? AND turns.seq = ? AND conversations.owner = ?",
                (conversation_id, seq, owner),
            ).fetchone()
            if found is None:
                return False
            if vote is None:
                db.execute("DELETE FROM votes WHERE conversation = ? AND seq = ?", (conversation_id, seq))
            else:
                db.execute(
                    "INSERT INTO votes VALUES (?, ?, ?, ?, ?) ON CONFLICT (conversation, seq) DO UPDATE "
                    "SET vote = excluded.vote, model = excluded.model, time = excluded.time",
                    (conversation_id, seq, vote, model[:MODEL_CHARS], time.time()),
                )
        return True

    def votes(self) -> list[VoteRecord]:
        """Every vote with its turn, the oldest first."""
        with self._connect(write=False) as db:
            rows = db.execute(
                "SELECT conversations.owner, votes.conversation, votes.time, votes.vote, votes.model, "
                "question, answer, sources, stats, query, checks, turns.seq FROM votes "
                "JOIN turns USING (conversation, seq) "
                "JOIN conversations ON conversations.id = votes.conversation ORDER BY votes.time"
            ).fetchall()
        return [VoteRecord(*row[:5], _turn(*row[5:])) for row in rows]

    def pseudonym_key(self) -> bytes:
        """A random key of this database, for pseudonyms of owners in what is exported (HMAC)."""
        with self._connect(write=False) as db:
            return db.execute("SELECT value FROM meta WHERE name = 'pseudonym_key'").fetchone()[0].encode()


def _owned(db: sqlite3.Connection, owner: str, conversation_id: str) -> bool:
    row = db.execute("SELECT 1 FROM conversations WHERE id = ? AND owner = ?", (conversation_id, owner))
    return row.fetchone() is not None


def _add_checks_column(db: sqlite3.Connection) -> None:
    """Databases made before the answer checks were kept get their column (empty for old turns).
    Under the write lock, so two processes opening an old file at once don't both add it."""
    db.execute("BEGIN IMMEDIATE")
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(turns)")}
        if "checks" not in columns:
            db.execute("ALTER TABLE turns ADD COLUMN checks TEXT NOT NULL DEFAULT ''")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _turn(question: str, answer: str, sources: str, stats: str, query: str, checks: str, seq: int) -> Turn:
    records = json.loads(sources)
    hits = [_hit(r) for r in records]
    review = AnswerChecks.from_dict(json.loads(checks)) if checks else None
    marks = {r["rank"]: [Mark(**m) for m in r["marks"]] for r in records if r.get("marks")}
    return Turn(question, answer, hits, stats, query, review, seq, marks)


def _hit_record(hit: Hit, marks: list[Mark]) -> dict:
    record = {"rank": hit.rank, "score": hit.score, "chunk": asdict(hit.chunk)}
    return record | ({"marks": [asdict(m) for m in marks]} if marks else {})


def _hit(record: dict) -> Hit:
    return Hit(record["rank"], record["score"], Chunk(**record["chunk"]))
