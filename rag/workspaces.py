"""Who owns a document: the shared library, a login user, or an anonymous browser session.

Owners are plain strings stored on every chunk; retrieval and listing always filter on the owners
a caller may see, so one session never reads another's documents.
"""

from __future__ import annotations

import hashlib

from rag.types import SHARED_OWNER

ANON_PREFIX = "anon:"
USER_PREFIX = "user:"


def user_owner(username: str) -> str:
    return f"{USER_PREFIX}{username}"


def session_owner(session_hash: str) -> str:
    """An anonymous session's workspace; hashed so the stored id can't be replayed as a session."""
    return ANON_PREFIX + hashlib.sha256(session_hash.encode()).hexdigest()[:32]


def visible_owners(owner: str) -> list[str]:
    return [SHARED_OWNER] if owner == SHARED_OWNER else [SHARED_OWNER, owner]
