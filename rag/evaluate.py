"""Retrieval quality over a question file: hit@k, MRR@k and latency, with the questions missed;
with generated answers (`through_chat`), their checks too (`answer_figures`).

A question is a hit when one of its gold sources is among the top k chunks; its reciprocal rank is
1/rank of the first chunk from a gold source (`reciprocal_rank`, pure). `evaluate` asks every
question through `Library.retrieve`, once per retrieval mode, over the same collection, so modes
are compared on equal terms.

Two file formats (see ../shared/eval/README.md): one question per line, or a conversation per line
(`turns`). A conversation's later turns are asked with the earlier turns as history, and are reported on their
own (`followup_*`), next to the same follow-ups searched on their own words (`followup_alone_*`)
and the first turns. By default only retrieval runs (`retrieval_only`: the assistant's turns stay
empty); `through_chat` asks each turn through the whole chat path instead, so the model's rewrite of
a follow-up (where it is on) takes part and each generated answer becomes the assistant's turn.
The follow-ups alone and the distracted questions are always searched by retrieval only: they are
comparisons of what the search finds.

`unrelated_history` puts another question of the file, with other gold sources, in front of every
first turn as an earlier turn: a self-contained question must not be dragged off by it
(`distracted_*` next to the plain figures).
"""

from __future__ import annotations

import asyncio
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import EvaluationError
from rag.generation.prompts import Message
from rag.retrieval.library import Library
from rag.retrieval.query import user_turns
from rag.types import (
    SHARED_OWNER,
    AnswerChecks,
    DeltaEvent,
    ErrorEvent,
    Hit,
    HitsEvent,
    ReviewEvent,
    StatsEvent,
)
from rag.workspace.owners import visible_owners

if TYPE_CHECKING:
    from rag.assistant import Assistant


@dataclass(frozen=True)
class Turn:
    question: str
    gold_sources: list[str]


@dataclass(frozen=True)
class Conversation:
    """One line of a question file: a single question is a conversation of one turn."""

    id: str
    turns: list[Turn]


@dataclass(frozen=True)
class Miss:
    id: str
    question: str
    gold_sources: list[str]
    retrieved: list[str]


@dataclass(frozen=True)
class ModeReport:
    """Figures for one retrieval mode; the optional ones only where the file has such turns."""

    n: int
    k: int
    hit_at_k: float
    mrr_at_k: float
    p50_ms: float
    p95_ms: float
    misses: list[Miss]
    first_turn_hit_at_k: float | None = None
    first_turn_mrr_at_k: float | None = None
    followup_n: int | None = None
    followup_hit_at_k: float | None = None
    followup_mrr_at_k: float | None = None
    followup_alone_hit_at_k: float | None = None
    followup_alone_mrr_at_k: float | None = None
    distracted_hit_at_k: float | None = None
    distracted_mrr_at_k: float | None = None
    answers_n: int | None = None  # the answer checks (`answer_figures`), where answers were generated
    answers_citing: float | None = None
    citations_n: int | None = None
    citations_valid: float | None = None
    sentences_n: int | None = None
    sentences_supported: float | None = None
    answers_passing: float | None = None

    def to_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}

    def describe(self, mode: str) -> str:
        """What `rag eval` prints for this mode: the figures, then each missed question."""
        k = self.k
        lines = [
            f"{mode:8} hit@{k} {self.hit_at_k:.3f}  MRR@{k} {self.mrr_at_k:.3f}  "
            f"p50 {self.p50_ms:.1f} ms  p95 {self.p95_ms:.1f} ms  ({self.n} turns)"
        ]
        if self.followup_n:
            lines.append(
                f"         first turns hit@{k} {self.first_turn_hit_at_k:.3f} MRR@{k} "
                f"{self.first_turn_mrr_at_k:.3f}; follow-ups ({self.followup_n}) hit@{k} "
                f"{self.followup_hit_at_k:.3f} MRR@{k} {self.followup_mrr_at_k:.3f}, searched alone "
                f"hit@{k} {self.followup_alone_hit_at_k:.3f} MRR@{k} {self.followup_alone_mrr_at_k:.3f}"
            )
        if self.distracted_hit_at_k is not None:
            lines.append(
                f"         after an unrelated question: hit@{k} {self.distracted_hit_at_k:.3f} "
                f"MRR@{k} {self.distracted_mrr_at_k:.3f}"
            )
        if self.answers_n:
            lines.append(f"         {self.answer_checks_line()}")
        for miss in self.misses:
            lines.append(f"  missed {miss.id}: {miss.question}")
            lines.append(f"    gold {miss.gold_sources}\n    got  {miss.retrieved}")
        return "\n".join(lines)

    def answer_checks_line(self) -> str:
        """`eval --answers`: the answer checks over the file, each share with what it counts."""
        parts = [f"answers ({self.answers_n}): citing {self.answers_citing:.3f}"]
        if self.citations_valid is not None:
            parts.append(f"citations valid {self.citations_valid:.3f} (of {self.citations_n})")
        if self.sentences_supported is not None:
            parts.append(f"sentences supported {self.sentences_supported:.3f} (of {self.sentences_n})")
        parts.append(f"all checks passed {self.answers_passing:.3f}")
        return "  ".join(parts)


@dataclass(frozen=True)
class EvalReport:
    """The first mode's figures at the top (the keys earlier versions printed), every mode in `modes`."""

    embed_model: str
    modes: dict[str, ModeReport] = field(default_factory=dict)

    def to_dict(self) -> dict:
        first = next(iter(self.modes.values()))
        return {
            **first.to_dict(),
            "embed_model": self.embed_model,
            "mode": next(iter(self.modes)),
            "modes": {mode: report.to_dict() for mode, report in self.modes.items()},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=None)

    def describe(self, conversations: int) -> str:
        """What `rag eval` prints: the embedder and the size of the file, then every mode."""
        k = next(iter(self.modes.values())).k
        header = f"embedding model: {self.embed_model}; {conversations} conversations, k={k}"
        return "\n".join([header, *(report.describe(mode) for mode, report in self.modes.items())])


def read_questions(path: str | Path) -> list[Conversation]:
    """Single-turn lines (`question`, `gold_sources`) and multi-turn lines (`turns`) alike."""
    conversations = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            turns = raw.get("turns", [raw])
            parsed = [Turn(t["question"], list(t["gold_sources"])) for t in turns]
            if not parsed:
                raise ValueError("no turns")
            conversations.append(Conversation(str(raw["id"]), parsed))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}:{number}: not a question or conversation object ({exc})") from exc
    return conversations


def reciprocal_rank(hits: list[Hit], gold: list[str]) -> float:
    for hit in hits:
        if hit.chunk.source in gold:
            return 1.0 / hit.rank
    return 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def unrelated_question(conversations: Sequence[Conversation], index: int) -> str | None:
    """A first question from half the file away whose gold sources share nothing with `index`'s."""
    gold = set(conversations[index].turns[0].gold_sources)
    n = len(conversations)
    for step in range(n // 2, n // 2 + n):
        other = conversations[(index + step) % n].turns[0]
        if (index + step) % n != index and not gold & set(other.gold_sources):
            return other.question
    return None


@dataclass(frozen=True)
class Asked:
    """What one turn gave: the ranked chunks, the retrieval time, the answer (empty if none) and
    its checks (None without an answer, or when its review failed)."""

    hits: list[Hit]
    elapsed_ms: float
    answer: str = ""
    checks: AnswerChecks | None = None


Ask = Callable[[str, list[Message], str], Asked]  # question, the conversation so far, retrieval mode


def retrieval_only(library: Library, owner: str, k: int) -> Ask:
    """Search each turn with the earlier user questions, as the chat path does without a rewrite,
    over what `owner` may see (as in a chat)."""

    owners = visible_owners(owner)

    def ask(question: str, history: list[Message], mode: str) -> Asked:
        retrieval = library.retrieve(question, owners, k=k, history=user_turns(history), mode=mode)
        return Asked(retrieval.hits, retrieval.elapsed_ms)

    return ask


def through_chat(assistant: Assistant, owner: str, k: int, loop: asyncio.AbstractEventLoop) -> Ask:
    """Ask each turn through `Assistant.answer` on `loop` (an in-process engine keeps to the loop
    that first used it): the rewrite step, retrieval and generation, as a user's chat runs them."""

    async def turn(question: str, history: list[Message], mode: str) -> Asked:
        hits, parts, elapsed, checks = [], [], 0.0, None
        async for event in assistant.answer(question, owner, history, k=k, mode=mode):
            if isinstance(event, HitsEvent):
                hits = event.hits
            elif isinstance(event, DeltaEvent):
                parts.append(event.text)
            elif isinstance(event, StatsEvent):
                elapsed = event.stats.retrieval_ms
            elif isinstance(event, ReviewEvent):
                checks = event.checks
            elif isinstance(event, ErrorEvent):
                raise EvaluationError(f"{question!r} could not be answered: {event.message}")
        return Asked(hits, elapsed, "".join(parts), checks)

    return lambda question, history, mode: loop.run_until_complete(turn(question, history, mode))


def evaluate(
    library: Library,
    conversations: list[Conversation],
    k: int,
    owner: str = SHARED_OWNER,
    modes: Sequence[str] = (),
    unrelated_history: bool = False,
    ask: Ask | None = None,
) -> EvalReport:
    """Ask every turn in every mode (default: the configured one) and score the ranked sources;
    `ask` is how a turn is asked (default `retrieval_only`)."""
    modes = list(modes) or [library.settings.search.retrieval]
    report = EvalReport(library.embedder.name)
    search = retrieval_only(library, owner, k)
    for mode in modes:
        report.modes[mode] = _evaluate_mode(ask or search, search, conversations, k, mode, unrelated_history)
    return report


def _evaluate_mode(
    ask: Ask, search: Ask, conversations: list[Conversation], k: int, mode: str, unrelated: bool
) -> ModeReport:
    every, first, followup, alone, distracted = [], [], [], [], []
    latencies, misses, reviews = [], [], []
    for index, conversation in enumerate(conversations):
        history: list[Message] = []
        for number, turn in enumerate(conversation.turns):
            retrieval = ask(turn.question, history, mode)
            latencies.append(retrieval.elapsed_ms)
            rr = reciprocal_rank(retrieval.hits, turn.gold_sources)
            every.append(rr)
            if retrieval.checks is not None:
                reviews.append(retrieval.checks)
            (followup if number else first).append(rr)
            if rr == 0.0:
                multi = len(conversation.turns) > 1
                turn_id = f"{conversation.id}#{number + 1}" if multi else conversation.id
                sources = [hit.chunk.source for hit in retrieval.hits]
                misses.append(Miss(turn_id, turn.question, turn.gold_sources, sources))
            if number:
                solo = search(turn.question, [], mode)
                alone.append(reciprocal_rank(solo.hits, turn.gold_sources))
            elif unrelated and (earlier := unrelated_question(conversations, index)):
                dragged = search(turn.question, [{"role": "user", "content": earlier}], mode)
                distracted.append(reciprocal_rank(dragged.hits, turn.gold_sources))
            history += [
                {"role": "user", "content": turn.question},
                {"role": "assistant", "content": retrieval.answer},
            ]
    hit, mrr = _rates(every)
    report = ModeReport(
        n=len(every),
        k=k,
        hit_at_k=hit,
        mrr_at_k=mrr,
        p50_ms=round(percentile(latencies, 50), 2),
        p95_ms=round(percentile(latencies, 95), 2),
        misses=misses,
    )
    extra: dict = {}
    if followup:
        extra["first_turn_hit_at_k"], extra["first_turn_mrr_at_k"] = _rates(first)
        extra["followup_n"] = len(followup)
        extra["followup_hit_at_k"], extra["followup_mrr_at_k"] = _rates(followup)
        extra["followup_alone_hit_at_k"], extra["followup_alone_mrr_at_k"] = _rates(alone)
    if distracted:
        extra["distracted_hit_at_k"], extra["distracted_mrr_at_k"] = _rates(distracted)
    if reviews:
        extra.update(answer_figures(reviews))
    return ModeReport(**{**asdict(report), "misses": misses, **extra})


def _rates(ranks: list[float]) -> tuple[float, float]:
    """(hit rate, mean reciprocal rank), rounded to 4 places."""
    if not ranks:
        return 0.0, 0.0
    return round(sum(1 for r in ranks if r > 0) / len(ranks), 4), round(sum(ranks) / len(ranks), 4)


def answer_figures(checks: Sequence[AnswerChecks]) -> dict:
    """The answer checks over every reviewed answer: the share of answers citing a source, of
    citations naming a retrieved source, of checked sentences supported by what they cite, and of
    answers passing every check (`AnswerChecks.ok`). A share with nothing to count is left out."""
    citations = sum(len(c.cited) for c in checks)
    sentences = [s for c in checks for s in c.sentences]
    figures = {
        "answers_n": len(checks),
        "answers_citing": _share(sum(c.cites_anything for c in checks), len(checks)),
        "citations_n": citations,
        "citations_valid": _share(sum(len(c.valid) for c in checks), citations),
        "sentences_n": len(sentences),
        "sentences_supported": _share(sum(s.supported for s in sentences), len(sentences)),
        "answers_passing": _share(sum(c.ok for c in checks), len(checks)),
    }
    return {key: value for key, value in figures.items() if value is not None}


def _share(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None
