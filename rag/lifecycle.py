"""Process lifecycle: children that end with their parent, and an exit that always comes.

vLLM runs its engine core in a child process (AsyncLLM always does, whatever
VLLM_ENABLE_V1_MULTIPROCESSING says). When the app died without shutting it down (SIGKILL, or an
exit stuck behind a thread), that child lived on with its parent gone: 2.7 GB and a busy core on
this machine, the whole card's memory on a GPU. Two guards:

- `end_with_parent` runs in every multiprocessing child of a process that imported `rag`: a fork
  child inherits the registration below, a spawn child imports `rag` again when it re-imports the
  parent's main module (`app.py`, `rag/__main__.py`). A daemon thread notices the parent is gone
  (its parent pid changes: the orphan is re-parented) and ends the child: SIGTERM first, which
  vLLM's engine core handles as a clean shutdown, then a hard exit after `CHILD_GRACE_S`.
- `exit_within` ends this process after a clean shutdown that did not finish in time, so SIGTERM
  always ends the app (and, through the first guard, its engine) within seconds.

This module imports only the standard library: it is imported by every child process.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.util
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)
PARENT_POLL_S = 1.0  # how often an orphan check runs: the engine is gone within ~1 s + its shutdown
CHILD_GRACE_S = 5.0  # an orphaned engine's clean shutdown (SIGTERM) gets this long before a hard exit
_watching = threading.Event()  # set while this process has a watcher thread (one per process)


def end_with_parent() -> None:
    """Start (once) a thread that ends this process soon after its parent process dies."""
    if _watching.is_set():
        return
    _watching.set()
    parent = os.getppid()
    if parent == 1:  # already orphaned before we looked
        _end_orphan(parent)
    threading.Thread(target=_watch_parent, args=(parent,), name="end-with-parent", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    _end_orphan(parent)


def _end_orphan(parent: int) -> None:
    print(f"[rag] parent process {parent} is gone; ending process {os.getpid()}", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(CHILD_GRACE_S)
    os._exit(1)


def _after_fork(_anchor: object) -> None:
    _watching.clear()  # the parent's watcher thread did not survive the fork
    end_with_parent()


def install_child_guard() -> None:
    """Make this process's multiprocessing children end with it (called when `rag` is imported)."""
    multiprocessing.util.register_after_fork(_AFTER_FORK_ANCHOR, _after_fork)
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        end_with_parent()  # a spawn child importing its parent's main module right now


class _Anchor:
    """register_after_fork keeps its callbacks only while their object lives: this one always does."""


_AFTER_FORK_ANCHOR = _Anchor()


def exit_within(seconds: float, status: int = 0) -> None:
    """Hard-exit this process if it is still alive `seconds` from now (a daemon timer).

    For the end of `launch`: the clean shutdown has run by then, but a non-daemon thread (a model
    still loading, a stuck worker) would keep the interpreter from exiting and atexit from running.
    """

    def expire() -> None:
        log.warning("still running %.0f s after shutdown; exiting now", seconds)
        logging.shutdown()
        os._exit(status)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
