"""Process lifecycle: children that end with their parent, and an exit that always comes.

vLLM runs its engine core in a child process (AsyncLLM always does, whatever
VLLM_ENABLE_V1_MULTIPROCESSING says). When the app died without shutting it down (SIGKILL, or an
exit stuck behind a thread), that child lived on with its parent gone: 2.7 GB and a busy core on
this machine, the whole card's memory on a GPU. Two guards:

- `install_child_guard` (run when `rag` is imported) makes every multiprocessing child of this
  process watch its parent: a fork child through the after-fork hook it inherits, a spawn child
  when it re-imports the parent's main module (`app.py`, `rag/__main__.py`, which import `rag`).
  A daemon thread blocks on the parent's sentinel, a pipe that reads as closed once the parent is gone, and
  then ends the child: SIGTERM first, which vLLM's engine core handles as a clean shutdown, then a
  hard exit after `CHILD_GRACE_S`. (Not the parent pid: in a container the app is pid 1, the
  value an orphan's parent pid takes.)
- `exit_within` ends this process after a clean shutdown that did not finish in time, so SIGTERM
  always ends the app (and, through the first guard, its engine) within seconds.

This module imports only the standard library: it is imported by every child process.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.util
import os
import signal
import sys
import threading
import time

log = logging.getLogger(__name__)
CHILD_GRACE_S = 5.0  # an orphaned engine's clean shutdown (SIGTERM) gets this long before a hard exit


def _watch_parent() -> None:
    # a spawn child runs this from its import of `rag`, before multiprocessing has set its parent
    while (parent := multiprocessing.parent_process()) is None:
        time.sleep(0.05)
    if parent.sentinel is None:
        return
    multiprocessing.connection.wait([parent.sentinel])  # returns when the parent's end of the pipe closes
    print(
        f"[rag] parent process {parent.pid} is gone; ending process {os.getpid()}",
        file=sys.stderr,
        flush=True,
    )
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(CHILD_GRACE_S)
    os._exit(1)


def _start_watcher(_anchor: object = None) -> None:
    threading.Thread(target=_watch_parent, name="end-with-parent", daemon=True).start()


class _Anchor:
    """register_after_fork keeps its callbacks only while their object lives: this one always does."""


_AFTER_FORK_ANCHOR = _Anchor()


def install_child_guard() -> None:
    """Make this process's multiprocessing children end with it (called when `rag` is imported).

    A fork child runs the inherited after-fork hook; a spawn child runs no after-fork hooks
    (`SpawnProcess._after_fork` does nothing), but imports `rag` while it re-imports its parent's
    main module, with `_inheriting` set: the watcher starts there.
    """
    multiprocessing.util.register_after_fork(_AFTER_FORK_ANCHOR, _start_watcher)
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        _start_watcher()


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


def exit_after_shutdown() -> None:
    """Leave now, from the `finally` that shut the app down, unless an error is propagating (its
    traceback must print).

    After the engine and the store are closed nothing is left to do, but the interpreter's own exit
    (atexit handlers of multiprocessing, torch, vLLM and Gradio, joining their children) took over
    9 s on a machine at load 15 (seen in CI), and `exit_within`'s daemon timer can't cut that short
    once finalisation has frozen daemon threads.
    """
    error = sys.exc_info()[1]
    if error is not None and not isinstance(error, SystemExit):
        return
    status = error.code if isinstance(error, SystemExit) and isinstance(error.code, int) else 0
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(status)


def exit_on_sigterm() -> None:
    """SIGTERM raises SystemExit, so `finally` blocks run (the app's shutdown).

    uvicorn captures SIGTERM while it serves, then restores the handler it found and raises the
    signal again; with Python's default (terminate at once) the process died inside `uvicorn.run`
    and the engine and the store were never shut down.
    """
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
