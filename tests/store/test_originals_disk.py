"""A visitor's originals never take the disk's last free space: Milvus Lite and the conversations
database live on the same data dir, and a store that can't write stops every workspace. A PDF of
one text line and a 49 MB image is parsed in a moment and one chunk, but kept whole: fresh
workspaces (a new key each) x RAG_MAX_WORKSPACE_ORIGINALS_MB would fill the disk without it."""

from __future__ import annotations

import shutil
from pathlib import Path

from rag.store.originals import Originals

DOC = "0123456789abcdef0123456789abcdef"


def test_a_visitors_original_is_not_kept_when_the_disk_is_nearly_full(tmp_path: Path):
    reserve = shutil.disk_usage(tmp_path).free + (1 << 30)  # more than is free: the disk is "full"
    originals = Originals(tmp_path, max_workspace_bytes=10 << 20, min_free_bytes=reserve)
    note = originals.keep("anon:a", DOC, "a.pdf", b"%PDF-bytes", "h1")
    assert "free" in note and "disk" in note and originals.read("anon:a", DOC) is None
    # the operator's shared library (unbounded, the CLI) is theirs to size
    assert originals.keep("shared", DOC, "a.pdf", b"%PDF-bytes", "h1", bounded=False) == ""


def test_kept_while_the_disk_has_room(tmp_path: Path):
    originals = Originals(tmp_path, max_workspace_bytes=10 << 20, min_free_bytes=1 << 20)
    assert originals.keep("anon:a", DOC, "a.pdf", b"%PDF-bytes", "h1") == ""
    assert originals.read("anon:a", DOC).data == b"%PDF-bytes"
