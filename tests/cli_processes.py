"""The CLI (and short scripts over `rag`) in processes of their own, without paying the imports each time.

`python -m rag` spends ~5 s of every start importing torch, sentence-transformers and pymilvus
before it does anything; the CLI, crash and scale-out tests start about 30 such processes. Here a
server process (multiprocessing's forkserver) imports those modules once, and every command runs in
a fresh process forked from it, with its own arguments, working folder, environment, standard
output and error and exit status, killable with SIGKILL like any process. It ends the way the
interpreter would: non-daemon threads joined, `atexit` handlers run, its Milvus Lite servers
stopped (a real process stops them when the interpreter tears down).

What is shared: the interpreter's start, and whatever the preloaded modules read from the
environment at import time (Hugging Face's offline flag, torch's thread settings). Callers pass
`os.environ | {…}`, so those agree. `tests/test_cli.py` still runs `python -m rag` itself once, for
the entry point.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRELOAD = ["rag.cli", "rag.assistant", "rag.evaluate", "sentence_transformers"]
_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(PRELOAD)
_running: set[ForkedProcess] = set()


class ForkedProcess:
    """One running process; `wait` gives what `subprocess.run` would."""

    def __init__(self, code: str, argv: Sequence[str], env: dict[str, str], cli: bool) -> None:
        self.args = list(argv)
        self._folder = tempfile.TemporaryDirectory(prefix="rag-process-")
        self.stdout_path = Path(self._folder.name) / "stdout"
        self.stderr_path = Path(self._folder.name) / "stderr"
        streams = (str(self.stdout_path), str(self.stderr_path))
        arguments = (code, self.args, cli, dict(env), str(ROOT), streams)
        self.process = _context.Process(target=_become, args=arguments)
        self.process.start()
        _running.add(self)

    def stderr_so_far(self) -> str:
        """What the process has written to standard error until now (it may still be running)."""
        return _read(self.stderr_path)

    def wait_for_stderr(self, text: str, timeout: float = 300) -> bool:
        """Until `text` appears on standard error (True) or the process ends first (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.stderr_so_far():
                return True
            if not self.process.is_alive():
                return text in self.stderr_so_far()
            time.sleep(0.02)
        raise TimeoutError(f"{self.args}: no {text!r} on stderr within {timeout} s")

    def kill(self) -> None:
        """SIGKILL, unless it has ended already (its pid may belong to another process by then)."""
        if self.process.is_alive():
            self.process.kill()

    def wait(self, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Its exit status and output; kills it and raises TimeoutExpired after `timeout`."""
        try:
            self.process.join(timeout)
            if self.process.exitcode is None:
                self.kill()
                self.process.join()
                raise subprocess.TimeoutExpired(self.args, timeout)
            return subprocess.CompletedProcess(
                self.args, self.process.exitcode, _read(self.stdout_path), _read(self.stderr_path)
            )
        finally:
            _running.discard(self)
            self._folder.cleanup()


def start_rag(args: Sequence[str], env: dict[str, str]) -> ForkedProcess:
    """`python -m rag ARGS` with `env` as its whole environment."""
    return ForkedProcess("", args, env, cli=True)


def run_rag(
    args: Sequence[str], env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`python -m rag ARGS` to its end, like `subprocess.run(…, capture_output=True, text=True)`."""
    return start_rag(args, env).wait(timeout)


def start_python(code: str, argv: Sequence[str], env: dict[str, str]) -> ForkedProcess:
    """`python -c CODE ARGV…` with `env` as its whole environment."""
    return ForkedProcess(code, argv, env, cli=False)


def run_python(
    code: str, argv: Sequence[str], env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`python -c CODE ARGV…` to its end, like `subprocess.run(…, capture_output=True, text=True)`."""
    return start_python(code, argv, env).wait(timeout)


@atexit.register  # registered after multiprocessing's own handler, so it runs first
def _kill_leftovers() -> None:
    """A process a failed test never waited for must not hold up the end of the run (multiprocessing
    joins its non-daemon children at exit)."""
    for process in list(_running):
        process.kill()


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _become(
    code: str, argv: list[str], cli: bool, env: dict[str, str], cwd: str, streams: tuple[str, str]
) -> None:
    """In the forked process: become the process `python -m rag` (or `python -c`) would have been,
    then end as the interpreter would."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    import rag  # its import (in the forkserver) set environment defaults that `clear` just removed

    rag.set_environment_defaults()
    sys.stdout.flush()  # nothing of the forkserver's may come out in this process's output
    for fd, path in zip((1, 2), streams, strict=True):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stderr = sys.__stderr__ = open(  # noqa: SIM115 - fd 2 outlives it
        2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1
    )
    sys.argv = ["python -m rag" if cli else "-c", *argv]
    status: object = 0
    try:
        if code:
            exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
        if cli:
            from rag.cli import main

            status = main(argv)
    except SystemExit as exc:
        status = exc.code
    except BaseException:
        traceback.print_exc()
        status = 1
    finally:
        _end_like_the_interpreter()
    sys.exit(status)


def _end_like_the_interpreter() -> None:
    """Non-daemon threads, then atexit handlers, then (as the interpreter's teardown would) the
    Milvus Lite servers this process started; forkserver children otherwise skip all three."""
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    if "milvus_lite.server_manager" in sys.modules:
        sys.modules["milvus_lite.server_manager"].server_manager_instance.release_all()
    sys.stdout.flush()
    sys.stderr.flush()
