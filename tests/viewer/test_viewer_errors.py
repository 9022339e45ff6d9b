"""What the viewer tells a visitor when a page can't be drawn names no server path: the data dir's
layout is the operator's (docs/SECURITY.md: paths go to the server log only). An original deleted
between the viewer's look-up and the worker's read (a race with Delete, or the janitor) is the
way a visitor meets it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.viewer.render_worker import RenderWorkers, ViewerError


def test_a_missing_original_is_refused_without_its_path(tmp_path: Path):
    gone = tmp_path / "originals" / "0123abcd" / ("f" * 32)
    workers = RenderWorkers(workers=1)
    try:
        with pytest.raises(ViewerError) as refused:
            workers.render(gone, 1, 900, ())
    finally:
        workers.close()
    message = str(refused.value)
    assert "page 1 could not be shown" in message
    assert str(tmp_path) not in message and "originals" not in message and "f" * 32 not in message
