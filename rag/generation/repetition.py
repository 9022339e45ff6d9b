"""Stop an answer that loops. Small models (SmolLM2 on CPU) repeat a sentence or a phrase again
and again however the sampling is set; the guard watches the growing answer and says when.

Three signals, each cheap per delta (the answer is scanned incrementally, not from the start):
- the same sentence again (normalised: case, white space and [n] markers ignored);
- the same run of `ngram` words again and again (loops that never end a sentence);
- the tail of the text repeating itself character by character ("=====", "| | | |", CJK).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from rag.text.sentences import sentence_spans, strip_citations, words

STOP_NOTE = "(Stopped: the model began repeating itself.)"


@dataclass(frozen=True)
class Repetition:
    kind: str  # "sentence", "ngram" or "characters"
    repeated: str  # what came back, shortened for display
    count: int

    @property
    def message(self) -> str:
        """The note shown (and logged) where the answer stops."""
        return f"(Stopped: the model began repeating itself: {self.repeated!r} {self.count} times.)"


@dataclass
class RepetitionGuard:
    """Feed it every delta; `feed` returns a `Repetition` once the answer loops (and keeps
    returning it). Thresholds: a sentence of at least `long_sentence_words` words may appear once,
    a shorter one (of at least 3 words) twice; any `ngram` words may appear `max_ngram` times."""

    ngram: int = 8
    max_ngram: int = 3
    long_sentence_words: int = 8
    min_period_chars: int = 160
    text: str = ""
    tripped: Repetition | None = None
    _sentences: Counter[str] = field(default_factory=Counter)
    _ngrams: Counter[tuple[str, ...]] = field(default_factory=Counter)
    _done_chars: int = 0  # text before this offset is in complete sentences already counted
    _words: list[str] = field(default_factory=list)
    _word_chars: int = 0  # text before this offset is already split into `_words`

    def feed(self, delta: str) -> Repetition | None:
        if self.tripped is None and delta:
            self.text += delta
            self.tripped = self._check_sentences() or self._check_ngrams() or self._check_period()
        return self.tripped

    async def watch(self, deltas: AsyncIterator[str]) -> AsyncIterator[str]:
        """Pass `deltas` through until the answer loops, then close the stream (which aborts the
        request in the engine) and stop; `tripped` then says why. The looping delta is yielded."""
        try:
            async for delta in deltas:
                yield delta
                if self.feed(delta):
                    break
        finally:
            closer = getattr(deltas, "aclose", None)
            if closer is not None:
                await closer()

    def _check_sentences(self) -> Repetition | None:
        spans = sentence_spans(self.text[self._done_chars :])
        ended = self.text[-1:].isspace() and self.text.rstrip()[-1:] in {".", "!", "?", '"', "'", ")", "|"}
        complete = spans if ended else spans[:-1]  # the last one may still grow
        for start, end in complete:
            sentence = self.text[self._done_chars + start : self._done_chars + end]
            key = " ".join(words(strip_citations(sentence)))
            n_words = key.count(" ") + 1
            if n_words < 3:
                continue
            self._sentences[key] += 1
            allowed = 1 if n_words >= self.long_sentence_words else 2
            if self._sentences[key] > allowed:
                return Repetition("sentence", _short(sentence), self._sentences[key])
        if complete:
            self._done_chars += complete[-1][1] if ended else spans[-1][0]
        return None

    def _check_ngrams(self) -> Repetition | None:
        cut = max(self.text.rfind(" "), self.text.rfind("\n"))
        if cut <= self._word_chars:
            return None
        new = words(self.text[self._word_chars : cut])  # only words followed by white space are whole
        self._word_chars = cut
        for word in new:
            self._words.append(word)
            if len(self._words) >= self.ngram:
                gram = tuple(self._words[-self.ngram :])
                self._ngrams[gram] += 1
                if self._ngrams[gram] > self.max_ngram:
                    return Repetition("ngram", _short(" ".join(gram)), self._ngrams[gram])
        return None

    def _check_period(self) -> Repetition | None:
        tail = self.text[-2 * self.min_period_chars :]
        if len(tail) < self.min_period_chars:
            return None
        for period in range(1, 41):
            window = tail[-max(self.min_period_chars, 4 * period) :]
            unit = window[-period:]
            if unit.strip() and window[:-period] == window[period:]:  # the window has this period
                return Repetition("characters", _short(unit), len(window) // period)
        return None


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
