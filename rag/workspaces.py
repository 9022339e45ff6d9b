"""Who owns a document: the shared library, a login user, or an anonymous browser session.

Owners are plain strings stored on every chunk; retrieval and listing always filter on the owners
a caller may see, so one session never reads another's documents.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rag.types import SHARED_OWNER

if TYPE_CHECKING:
    from rag.store import VectorStore

log = logging.getLogger(__name__)

ANON_PREFIX = "anon:"
USER_PREFIX = "user:"


def user_owner(username: str) -> str:
    return f"{USER_PREFIX}{username}"


def session_owner(session_hash: str) -> str:
    """An anonymous session's workspace; hashed so the stored id can't be replayed as a session."""
    return ANON_PREFIX + hashlib.sha256(session_hash.encode()).hexdigest()[:32]


def visible_owners(owner: str) -> list[str]:
    return [SHARED_OWNER] if owner == SHARED_OWNER else [SHARED_OWNER, owner]


class WorkspaceJanitor:
    """Deletes anonymous workspaces nobody has used for `ttl_s` seconds.

    A workspace counts as used while its session makes requests (`touch`); after a restart only
    the stored `added_at` times are known, so old anonymous documents go after the same TTL.
    """

    def __init__(self, store: VectorStore, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.clock = clock
        self._last_seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def touch(self, owner: str) -> None:
        if owner.startswith(ANON_PREFIX):
            with self._lock:
                self._last_seen[owner] = self.clock()

    def sweep(self) -> list[str]:
        """Delete abandoned workspaces now; returns their owner ids."""
        now = self.clock()
        stored = self.store.owners_last_added(ANON_PREFIX)
        abandoned = []
        for owner, added in stored.items():
            with self._lock:  # checked owner by owner: a session may come back during the sweep
                if max(added, self._last_seen.get(owner, 0.0)) >= now - self.ttl_s:
                    continue
                self._last_seen.pop(owner, None)
                self.store.delete_owner(owner)
            abandoned.append(owner)
        return abandoned

    def start(self, every_s: float | None = None) -> None:
        """Sweep in a daemon thread, a few times per TTL (at most every 10 minutes)."""
        interval = every_s or min(max(self.ttl_s / 4, 5.0), 600.0)

        def loop() -> None:
            while True:
                try:
                    swept = self.sweep()
                    if swept:
                        log.info("deleted %d abandoned workspace(s)", len(swept))
                except Exception:  # a failed sweep must not kill the thread; the next one retries
                    log.exception("workspace sweep failed")
                time.sleep(interval)

        threading.Thread(target=loop, name="workspace-janitor", daemon=True).start()
