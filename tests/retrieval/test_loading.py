"""LoadingLibrary: the library opened in a background thread (the app's page is served meanwhile).
The whole app is tested in tests/web/test_app_start.py; here the states, with a stand-in library."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from rag.errors import EmbeddingError
from rag.retrieval.loading import PUBLIC_ERROR, LoadingLibrary

LIBRARY = SimpleNamespace(embedder=SimpleNamespace(name="all-MiniLM-L6-v2 [onnx]"))


def test_waiters_and_callbacks_get_the_library_once_it_is_open():
    release = threading.Event()
    loading = LoadingLibrary(lambda: (release.wait(60), LIBRARY)[1])
    seen = []
    loading.when_ready(seen.append)
    assert loading.status == "loading" and loading.ready_library() is None
    assert loading.describe().startswith("loading · ") and not seen
    with pytest.raises(TimeoutError):
        loading.wait(timeout=0.05)
    release.set()
    assert loading.wait(timeout=60) is LIBRARY
    assert loading.status == "ready" and loading.describe() == "all-MiniLM-L6-v2 [onnx]"
    loading.when_ready(seen.append)  # already open: called at once
    assert seen == [LIBRARY, LIBRARY]


def test_a_failed_load_is_raised_to_every_waiter_and_shown_without_its_text():
    def fail():
        raise EmbeddingError("cannot load embedding model '/secret/path'")

    loading = LoadingLibrary(fail)
    for _ in range(2):
        with pytest.raises(EmbeddingError, match="secret"):
            loading.wait(timeout=60)
    called = []
    loading.when_ready(called.append)
    assert loading.status == "error" and loading.describe() == PUBLIC_ERROR and not called
    assert "secret" not in PUBLIC_ERROR


def test_loaded_in_the_callers_thread_its_error_is_raised_there():
    def fail():
        raise EmbeddingError("no such model")

    with pytest.raises(EmbeddingError, match="no such model"):
        LoadingLibrary(fail, background=False)
    assert LoadingLibrary(lambda: LIBRARY, background=False).status == "ready"


def test_a_deferred_load_begins_at_begin_and_only_once():
    """The web app builds its assistant with the load deferred and begins it as the server starts
    listening (rag/web/layout.py `start_as_it_listens`): nothing may load before, nor twice."""
    opened = []
    loading = LoadingLibrary(lambda: (opened.append(1), LIBRARY)[1], begin=False)
    with pytest.raises(TimeoutError):
        loading.wait(timeout=0.2)
    assert not opened and loading.status == "loading"
    loading.begin()
    loading.begin()
    assert loading.wait(timeout=60) is LIBRARY
    for thread in threading.enumerate():
        if thread.name == "library-loader":
            thread.join(60)
    assert opened == [1]
