"""The ingest slots, shared fairly between workspaces, and the Stop of an upload.

`RAG_INGEST_CONCURRENCY` slots (1 by default: parsing and embedding use every core) do the CPU
work of every upload. A slot is held for one step at a time: parsing one document, embedding one
sub-batch of chunks (sized to take about a second: rag/ingest/streaming.py). Between steps the slot
goes to the workspace that was served longest ago among those waiting, so one visitor's 1,000-page
PDF no longer makes another visitor's one-page file wait for all of it: that file waits for one
step of the big one, then gets its own steps in turn.

Stop is cooperative (a thread can't be killed safely): `Ingestor.stop(owner)` trips the stop of
every upload of that workspace, which checks it before each step (so within about a second of
embedding) and, while a PDF is read, every 25 pages (`PROGRESS_EVERY_PAGES` in
rag/ingest/loaders.py; a 1,000-page PDF read in 1.9 s here). A document's chunks are stored in
batches as they are embedded, but its version only becomes visible after the last one
(rag/store/document_writer.py), so a stopped upload keeps the documents it had fully stored and
leaves no part of the one it was on.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rag.errors import RagError


class Stopped(RagError):
    """The workspace pressed Stop: the document being ingested is dropped, stored ones stay."""

    reason = "stopped (Stop was pressed) before it was stored"


class StopSignal:
    """One upload's stop: tripped by `Ingestor.stop` for its workspace."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def trip(self) -> None:
        self._event.set()

    @property
    def tripped(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Stopped()


NEVER_STOPPED = StopSignal()


class FairSlots:
    """`capacity` slots, handed out one step at a time, to the waiting workspace served longest
    ago (never served first; ties by arrival)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._lock = threading.Condition()
        self._busy = 0
        self._tickets = itertools.count()
        self._waiting: dict[int, str] = {}  # ticket → owner, in arrival order
        self._served: dict[str, int] = {}  # owner → ticket of its last turn

    @contextmanager
    def turn(self, owner: str, stop: StopSignal = NEVER_STOPPED) -> Iterator[None]:
        """Hold a slot for one step of `owner`'s work; raises Stopped if `stop` trips while waiting."""
        with self._lock:
            ticket = next(self._tickets)
            self._waiting[ticket] = owner
            try:
                while not (self._busy < self.capacity and self._next() == ticket):
                    stop.check()
                    self._lock.wait(0.25)  # a tripped stop is noticed within this
                stop.check()
            finally:
                del self._waiting[ticket]
                self._lock.notify_all()
            self._busy += 1
            self._served[owner] = ticket
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1
                self._lock.notify_all()

    def _next(self) -> int:
        """The waiting ticket whose workspace was served longest ago."""
        return min(self._waiting, key=lambda t: (self._served.get(self._waiting[t], -1), t))
