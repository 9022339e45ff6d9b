"""Who owns a document: the shared library, a signed-in user, or an anonymous browser.

Owners are plain strings stored on every chunk; retrieval and listing always filter on the owners
a caller may see, so one workspace never reads another's documents. An anonymous browser's
workspace is named by a random 128-bit key kept in the browser (so a reload or a new tab finds it
again); an API client's by one the server gives it in the `rag_workspace` cookie. Only a hash of a
key is stored, so the stored id can't be replayed as a key. A session hash names no workspace: the
client picks it, and it travels in URLs.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from rag.types import SHARED_OWNER
from rag.workspace.activity import WorkspaceActivity

if TYPE_CHECKING:
    from rag.store.originals import Originals
    from rag.store.vector_store import VectorStore
    from rag.workspace.conversations import ConversationStore

log = logging.getLogger(__name__)

ANON_PREFIX = "anon:"
USER_PREFIX = "user:"
HF_PREFIX = "hf:"
KEY_PATTERN = re.compile(r"[0-9a-f]{32}")
WORKSPACE_COOKIE = "rag_workspace"  # an API client's workspace key (set on /config, rag/web/guard.py)


def user_owner(username: str) -> str:
    """A login user's workspace (`RAG_AUTH`, or `--user` in the CLI)."""
    return f"{USER_PREFIX}{username}"


def hf_owner(profile: Mapping[str, object]) -> str:
    """A user signed in with Hugging Face: the same workspace on every device, keyed by the
    account's id (the OpenID `sub` claim), never by the username, which its owner can change and
    someone else can then take. (`hf:id:` can't collide with the `hf:<username>` owners of earlier
    versions: usernames have no colon.)"""
    sub = str(profile.get("sub") or "").strip()
    if not sub:
        raise ValueError("the Hugging Face sign-in carries no account id (sub)")
    return f"{HF_PREFIX}id:{sub}"


def new_workspace_key() -> str:
    return secrets.token_hex(16)


def key_owner(key: str) -> str | None:
    """The anonymous workspace a browser's key opens; None for anything that isn't a key."""
    if not KEY_PATTERN.fullmatch(key or ""):
        return None
    return ANON_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:32]


def visible_owners(owner: str) -> list[str]:
    return [SHARED_OWNER] if owner == SHARED_OWNER else [SHARED_OWNER, owner]


class WorkspaceJanitor:
    """Deletes anonymous workspaces (documents, chunks, conversations) idle for `ttl_s` seconds.

    When a workspace was last used is `rag.workspace.activity`'s to say: uses are recorded in
    memory (`touch`, cheap enough for the event loop) and written to the store's table of uses at
    each sweep, so every app process on one Milvus server sees the same last-use times.
    Conversations (and their votes) are kept per replica, so each replica's sweep also looks at the
    owners of its own conversations: a workspace another replica deleted is gone from the store,
    and its conversations here go once they too are idle for the TTL.
    """

    def __init__(
        self,
        store: VectorStore,
        conversations: ConversationStore,
        ttl_s: float,
        clock: Callable[[], float] = time.time,
        originals: Originals | None = None,
    ) -> None:
        """`originals`: the workspaces' kept files (rag/store/originals.py), removed with them."""
        self.store = store
        self.originals = originals
        self.conversations = conversations
        self.ttl_s = ttl_s
        self.clock = clock
        self.activity = WorkspaceActivity(store, conversations, clock, ANON_PREFIX)
        self._stopped = threading.Event()

    def touch(self, owner: str) -> None:
        self.activity.touch(owner)

    def flush(self) -> None:
        """Write the recorded uses to the store (and forget them here)."""
        self.activity.flush()

    def sweep(self) -> list[str]:
        """Delete abandoned workspaces now, and originals no document owns; returns the owner ids
        of the workspaces."""
        self.activity.flush()
        now = self.clock()
        abandoned = []
        for owner, at in self.activity.last_used().items():
            if at >= now - self.ttl_s or self.activity.is_pending(owner):  # pending: used during this sweep
                continue
            if self.activity.recorded_use(owner) >= now - self.ttl_s:
                continue  # used on another replica since the read above (deletes take a while)
            self.delete_workspace(owner)
            abandoned.append(owner)
        if self.originals is not None:  # what killed processes left (rag/store/originals.py)
            self.originals.remove_unowned(self.store.live_documents)
        self.store.forget_deletions(now)  # marks of deletes over a day old (rag/store/deletions.py)
        return abandoned

    def delete_workspace(self, owner: str) -> None:
        """Documents and chunks, conversations (with their votes), and the record of its use."""
        self.activity.forget(owner)
        self.store.delete_owner(owner)
        if self.originals is not None:
            self.originals.remove_owner(owner)
        self.conversations.delete_owner(owner)
        self.activity.erase(owner)

    def start(self, every_s: float | None = None) -> None:
        """Sweep in a daemon thread, a few times per TTL (at most every 10 minutes)."""
        interval = every_s or min(max(self.ttl_s / 4, 5.0), 600.0)

        def loop() -> None:
            while not self._stopped.is_set():
                try:
                    swept = self.sweep()
                    if swept:
                        log.info("deleted %d abandoned workspace(s)", len(swept))
                except Exception:  # a failed sweep must not kill the thread; the next one retries
                    log.exception("workspace sweep failed")
                self._stopped.wait(interval)

        self._stopped.clear()
        threading.Thread(target=loop, name="workspace-janitor", daemon=True).start()

    def stop(self) -> None:
        """No more sweeps; the uses recorded since the last flush are written, so a restart within the
        TTL doesn't see a workspace in use a minute ago as abandoned."""
        self._stopped.set()
        try:
            self.flush()
        except Exception:  # the store may already be unreachable at exit: the next start sweeps anyway
            log.exception("could not record the last workspace uses")
