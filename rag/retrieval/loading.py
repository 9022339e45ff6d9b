"""The library (embedder + store) opened in a background thread, so the web app serves its page first.

Loading the embedder is most of an app's start: `import sentence_transformers` (with torch and
transformers) took ~8.5 s of CPU on the 2-core development machine, against ~4 s for importing
Gradio (docs/BENCHMARKS.md, "Cold start of the app"). The app starts this load and serves its page
and `/health` meanwhile; whatever needs the library waits for it (`wait`), and the header shows how
long it has been loading. The CLI and the tests load it in the caller's thread (`background=False`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from rag.retrieval.library import Library

log = logging.getLogger(__name__)
# what the page may show about a failed load: the exception text (paths, URLs) goes to the log only
PUBLIC_ERROR = (
    "could not load the embedding model or open the store: "
    "see the server log (RAG_EMBED_MODEL, RAG_MILVUS_URI)"
)


class LoadingLibrary:
    """A `Library` being opened by `open_library` in a daemon thread (or already opened).

    `status` is "loading", "ready" or "error"; `wait()` returns the library, or raises the load's
    own exception (an EmbeddingError or StoreError that names the setting) to every caller.
    """

    def __init__(
        self, open_library: Callable[[], Library], background: bool = True, begin: bool = True
    ) -> None:
        """`begin=False` (background only): the thread starts at `begin()`, which the web app calls
        once its server is about to listen, so the load doesn't compete with building the page."""
        self._open = open_library
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._library: Library | None = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[Library], None]] = []
        self._began = time.monotonic()
        self._background = background
        self._begun = False
        self.seconds = 0.0  # how long the load took, once done
        if background:
            if begin:
                self.begin()
        else:  # the CLI, the tests, the evaluation: opened here and now, its errors raised here
            self._load()
            if self._error is not None:
                raise self._error

    def begin(self) -> None:
        """Start the background load (once; later calls do nothing)."""
        with self._lock:
            if self._begun or not self._background:
                return
            self._begun = True
        self._began = time.monotonic()
        threading.Thread(target=self._load, name="library-loader", daemon=True).start()

    def _load(self) -> None:
        try:
            library = self._open()
        except Exception as exc:  # kept and raised to every waiter; the page shows PUBLIC_ERROR
            if self._background:  # else raised to the caller
                log.exception("loading the library failed")
            self._error = exc
            self.seconds = time.monotonic() - self._began
            self._done.set()
            return
        with self._lock:
            self._library, callbacks = library, list(self._callbacks)
        self.seconds = time.monotonic() - self._began
        self._done.set()  # before the callbacks, which may wait() themselves
        log.info("library ready: %s (%.1f s)", library.embedder.name, self.seconds)
        for callback in callbacks:
            callback(library)

    @property
    def status(self) -> str:
        if not self._done.is_set():
            return "loading"
        return "error" if self._error is not None else "ready"

    def describe(self) -> str:
        """What the header says: the model's name when ready, else how long it has been loading."""
        if self._library is not None:
            return self._library.embedder.name
        if self._error is not None:
            return PUBLIC_ERROR
        return f"loading · {time.monotonic() - self._began:.0f} s"

    def ready_library(self) -> Library | None:
        """The library if it is open, without waiting."""
        return self._library

    def wait(self, timeout: float | None = None) -> Library:
        """The library once it is open; the load's exception if it failed; TimeoutError after `timeout`."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"the embedding model is still loading after {timeout} s")
        if self._error is not None:
            raise self._error
        assert self._library is not None
        return self._library

    def when_ready(self, callback: Callable[[Library], None]) -> None:
        """Call `callback(library)` once it is open (now, when it already is); never if the load fails."""
        with self._lock:
            library = self._library
            if library is None:
                self._callbacks.append(callback)
        if library is not None:
            callback(library)
