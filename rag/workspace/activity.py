"""When an anonymous workspace was last used, as every app process sees it: the policy the janitor
(`rag.workspace.owners`) deletes abandoned workspaces by.

A workspace's last use is the newest of: a document added to it, a use recorded in the store's table
of uses (`rag.store.activity`, shared by every replica on one Milvus server), and a conversation
saved in this replica. Uses are first kept in memory (`touch` runs on the event loop for every
request, so it must not wait on the store) and written at each `flush`; a flush that fails keeps
them for the next one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.store.vector_store import VectorStore
    from rag.workspace.conversations import ConversationStore


class WorkspaceActivity:
    """Recorded uses of workspaces and their last-use times; the lock guards only the in-memory
    dict, never a store call."""

    def __init__(
        self,
        store: VectorStore,
        conversations: ConversationStore,
        clock: Callable[[], float],
        prefix: str,
    ) -> None:
        self.store = store
        self.conversations = conversations
        self.clock = clock
        self.prefix = prefix  # only these owners' uses are recorded: the workspaces that expire
        self._pending: dict[str, float] = {}  # uses since the last flush: bounded by active owners
        self._lock = threading.Lock()

    def touch(self, owner: str) -> None:
        if owner.startswith(self.prefix):
            with self._lock:
                self._pending[owner] = self.clock()

    def flush(self) -> None:
        """Write the recorded uses to the store (and forget them here)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        try:
            self.store.uses.record({owner: int(at) for owner, at in pending.items()})
        except Exception:
            with self._lock:  # keep them for the next flush
                for owner, at in pending.items():
                    self._pending[owner] = max(at, self._pending.get(owner, 0.0))
            raise

    def forget(self, owner: str) -> None:
        """A workspace deleted on purpose: no use of it is pending any more."""
        with self._lock:
            self._pending.pop(owner, None)

    def is_pending(self, owner: str) -> bool:
        """Used since the last flush (so in use now, whatever the store says)."""
        with self._lock:
            return owner in self._pending

    def last_used(self) -> dict[str, float]:
        """Owner → its last use, for every workspace of `prefix` this replica can see."""
        last_used: dict[str, float] = dict(self.store.owners_last_added(self.prefix))
        for owner, at in self.store.uses.latest(self.prefix).items():
            last_used[owner] = max(at, last_used.get(owner, 0))
        for owner, at in self.conversations.owners(self.prefix).items():  # this replica's alone
            last_used[owner] = max(at, last_used.get(owner, 0))
        return last_used

    def recorded_use(self, owner: str) -> int:
        """The owner's last use in the shared table now (0 if none): another replica may have
        recorded one since `last_used` read it."""
        return self.store.uses.latest(owners=[owner]).get(owner, 0)

    def erase(self, owner: str) -> None:
        """The shared record of a deleted workspace's uses."""
        self.store.uses.delete(owner)
